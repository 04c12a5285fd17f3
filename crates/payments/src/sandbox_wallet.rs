//! The sandbox wallets: WeChat Pay, Alipay and UnionPay QR users with balances (a ledger account
//! each that cannot go below zero, like the sandbox issuer's cards), payment codes in each scheme's
//! shape that expire after a minute and pay once, a "user paying" state (the app asks for a
//! password, which the user enters after a delay, or never), refunds, cancellation, an outage to
//! inject, and each wallet's daily bill file. It implements [`WalletNetwork`] as a real wallet's
//! adapter would.
//!
//! Customer scans merchant (C扫B): an order made with [`WalletNetwork::precreate`] gets a code URL
//! (`xtsandbox://<scheme>/<token>`, what the QR code holds); a wallet user "scans and pays" it with
//! [`SandboxWallets::pay_code_url`]. The wallet then sends a payment notification signed with
//! HMAC-SHA256 under its signing key (a real wallet signs with RSA or its platform key; the shape
//! of the check is the same), on the channel [`SandboxWallets::take_notifications`] hands out, and
//! keeps it on the order so that a test or a demo can send it again
//! ([`SandboxWallets::notifications_of`]).
//!
//! Time: a code's minute is measured on the engine's [`Clock`] (a test moves it to expire codes);
//! a user's confirmation delay is real time, since the cashier really waits for it.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, Stored, insert, list, load};
use xingtong_merchants::{Class, Error, Result};
use xingtong_store::{Change, RecordQuery, Rejection, Store, StoreError, now_ns};

use crate::chart;
use crate::clock::Clock;
use crate::network::{Funding, NetworkError};
use crate::qr::{Decline, Scheme};
use crate::wallet::{Answering, CodePayment, Notice, OrderRequest, OrderState, Paid, WalletNetwork};

/// How long a payment code is good for.
pub const CODE_LIFETIME_S: u64 = 60;

/// The tag in the top bits of a sandbox wallet's ledger account id.
const WALLET_ACCOUNT_TAG: u128 = 0x5857 << 112;

/// A sandbox wallet user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxWallet {
    /// `wechat-48213077`.
    pub id: String,
    /// Which wallet.
    pub scheme: Scheme,
    /// The user's name, for demos.
    pub name: String,
    /// The balance's ledger account.
    pub account_id: String,
    /// The app asks for a password, which the user enters after this many ms (`None`: no password).
    pub confirm_after_ms: Option<u64>,
    /// The app asks for a password the user never enters.
    pub never_confirms: bool,
    /// Asked for the password, the user cancels in the app instead (after `confirm_after_ms`).
    #[serde(default)]
    pub cancels: bool,
    /// The wallet does not answer at all (an outage).
    pub unavailable: bool,
}

impl Entity for SandboxWallet {
    const KIND: &'static str = "sandbox_wallet";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        "sandbox".into()
    }
    fn status(&self) -> String {
        if self.unavailable { "unavailable" } else { "active" }.into()
    }
}

/// What a new sandbox wallet user should be.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWallet {
    /// `wechat`, `alipay` or `unionpay_qr`.
    pub scheme: Scheme,
    /// Balance, minor units.
    pub balance_minor: i64,
    /// Default 测试用户.
    #[serde(default)]
    pub name: Option<String>,
    /// The app asks for a password, entered after this many ms.
    #[serde(default)]
    pub confirm_after_ms: Option<u64>,
    /// The app asks for a password that is never entered.
    #[serde(default)]
    pub never_confirms: bool,
    /// The app asks for a password and the user cancels instead (after `confirm_after_ms`).
    #[serde(default)]
    pub cancels: bool,
    /// The wallet does not answer.
    #[serde(default)]
    pub unavailable: bool,
}

/// A payment code a user's app shows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxCode {
    /// The digits.
    pub code: String,
    /// Whose.
    pub wallet_id: String,
    /// Until when it pays (ns, the engine's clock).
    pub expires_at: u64,
    /// The order it paid, once used.
    pub used_by: Option<String>,
}

impl Entity for SandboxCode {
    const KIND: &'static str = "sandbox_wallet_code";
    const LISTED: bool = false;
    fn id(&self) -> String {
        self.code.clone()
    }
    fn owner(&self) -> String {
        self.wallet_id.clone()
    }
    fn status(&self) -> String {
        if self.used_by.is_some() { "used" } else { "new" }.into()
    }
}

/// Where a sandbox order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for the user's password.
    UserPaying,
    /// Paid.
    Paid,
    /// Not paid.
    Failed,
    /// Cancelled by the merchant (closed, or reversed).
    Cancelled,
    /// A customer-scans order waiting for the customer to scan and pay (NOTPAY).
    NotPaid,
}

/// An order at the sandbox wallet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxOrder {
    /// Our id for it (`out_trade_no`).
    pub id: String,
    /// Which wallet.
    pub scheme: Scheme,
    /// The payer.
    pub wallet_id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Where it stands.
    pub status: OrderStatus,
    /// Why it failed.
    pub decline: Option<Decline>,
    /// When the user confirms (ns, the machine's clock), while paying; `None` with
    /// `UserPaying`: never.
    pub confirm_at: Option<u64>,
    /// The wallet's payment id.
    pub wallet_txn_id: String,
    /// Refunded so far.
    pub refunded_minor: i64,
    /// Refund ids seen, with their amounts.
    pub refunds: Vec<(String, i64)>,
    /// `YYYYMMDD`.
    pub business_day: String,
    /// Customer-scans orders: the code's URL.
    #[serde(default)]
    pub code_url: Option<String>,
    /// Customer-scans orders: until when it can be paid (ns, the engine's clock).
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Static-code orders: the only payer who may pay it.
    #[serde(default)]
    pub payer_bound: Option<String>,
    /// The payment notifications sent of it, in order.
    #[serde(default)]
    pub notices: Vec<Notification>,
}

/// A payment notification as the wallet sends it: the body, and its signature (hex
/// HMAC-SHA256 of the body under the wallet's signing key; the `X-Wallet-Signature` header over
/// HTTP, docs/qr.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Which wallet sent it.
    pub scheme: Scheme,
    /// The body (JSON).
    pub body: String,
    /// Its signature.
    pub signature: String,
}

/// A code URL's token, naming its order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SandboxQrCode {
    token: String,
    order_id: String,
}

impl Entity for SandboxQrCode {
    const KIND: &'static str = "sandbox_wallet_qr";
    const LISTED: bool = false;
    fn id(&self) -> String {
        self.token.clone()
    }
    fn owner(&self) -> String {
        "sandbox".into()
    }
    fn status(&self) -> String {
        "issued".into()
    }
}

/// What a wallet user's scan of a code URL came to.
#[derive(Debug, Clone, Serialize)]
pub struct Scanned {
    /// The order (our transaction's id).
    pub order_id: String,
    /// Which wallet.
    pub scheme: Scheme,
    /// What was paid, minor units.
    pub amount_minor: i64,
    /// The wallet's payment id.
    pub wallet_txn_id: String,
    /// Whether the notification was sent (always, unless the wallets lose them:
    /// [`SandboxWallets::lose_notifications`]).
    pub notified: bool,
}

impl Entity for SandboxOrder {
    const KIND: &'static str = "sandbox_wallet_order";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.wallet_id.clone()
    }
    fn status(&self) -> String {
        serde_json::to_value(self.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

/// The sandbox wallets.
pub struct SandboxWallets {
    store: Store,
    clock: Clock,
    /// The longest a wallet is waited for before the answer is "no answer".
    pub answer_within: Duration,
    signing_key: zeroize::Zeroizing<[u8; 32]>,
    sender: mpsc::UnboundedSender<Notification>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Notification>>>,
    /// Schemes whose wallet is down: every call answers "unreachable" at once.
    outages: Mutex<Vec<Scheme>>,
    /// Notifications are lost on the way (kept on the order, never sent).
    losing_notifications: std::sync::atomic::AtomicBool,
}

/// How a code URL of the sandbox begins (`xtsandbox://wechat/…`).
const CODE_URL_PREFIX: &str = "xtsandbox://";

impl std::fmt::Debug for SandboxWallets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxWallets").finish_non_exhaustive()
    }
}

fn digits(n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + (rand::random::<u8>() % 10))).collect()
}

/// A fresh payment code in the scheme's shape.
pub fn new_code(scheme: Scheme) -> String {
    match scheme {
        Scheme::Wechat => format!("1{}{}", rand::random::<u8>() % 6, digits(16)),
        Scheme::Alipay => format!("28{}", digits(16)),
        Scheme::UnionpayQr => format!("62{}", digits(17)),
    }
}

/// A wallet id as a merchant may see it.
fn mask_payer(wallet_id: &str) -> String {
    match wallet_id.rsplit_once('-') {
        Some((scheme, tail)) if tail.len() > 4 => format!("{scheme}-****{}", &tail[tail.len() - 4..]),
        _ => "****".into(),
    }
}

fn order_state(order: &SandboxOrder, account: u128) -> OrderState {
    match order.status {
        OrderStatus::Paid => OrderState::Paid(Paid {
            wallet_txn_id: order.wallet_txn_id.clone(),
            payer: mask_payer(&order.wallet_id),
            funding: Funding::Ledger(account),
        }),
        OrderStatus::UserPaying => OrderState::UserPaying,
        OrderStatus::Failed => OrderState::Failed(order.decline.unwrap_or(Decline::WalletUnavailable)),
        OrderStatus::Cancelled => OrderState::Failed(Decline::OrderClosed),
        OrderStatus::NotPaid => OrderState::NotPaid,
    }
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    xingtong_crypto::derive::hmac_sha256_hex(key, body)
}

/// A notification's body.
#[derive(Debug, Serialize, Deserialize)]
struct NoticeBody {
    id: String,
    event: String,
    order_id: String,
    wallet_txn_id: String,
    amount_minor: i64,
    at: u64,
}

impl SandboxWallets {
    /// The sandbox wallets over `store`, with codes timed on `clock`.
    pub fn new(store: Store, clock: Clock) -> SandboxWallets {
        let (sender, receiver) = mpsc::unbounded_channel();
        SandboxWallets {
            store,
            clock,
            answer_within: Duration::from_secs(10),
            signing_key: zeroize::Zeroizing::new(rand::random()),
            sender,
            receiver: Mutex::new(Some(receiver)),
            outages: Mutex::new(Vec::new()),
            losing_notifications: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Loses every notification from now on (`true`), or sends them again: the host must learn
    /// of payments by asking.
    pub fn lose_notifications(&self, lose: bool) {
        self.losing_notifications.store(lose, std::sync::atomic::Ordering::Relaxed);
    }

    /// Signs notifications with `key` (a random key otherwise, good for this process only; `serve`
    /// derives one from the host master key so that a notification outlives a restart).
    pub fn with_signing_key(mut self, key: [u8; 32]) -> SandboxWallets {
        self.signing_key = zeroize::Zeroizing::new(key);
        self
    }

    /// The notifications the wallets send, for the host to take (once; `None` after).
    pub fn take_notifications(&self) -> Option<mpsc::UnboundedReceiver<Notification>> {
        self.receiver.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// Takes a scheme's wallet down (`true`) or brings it back: while down, every call of the
    /// scheme answers "unreachable" at once.
    pub fn set_outage(&self, scheme: Scheme, down: bool) {
        let mut outages = self.outages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        outages.retain(|s| *s != scheme);
        if down {
            outages.push(scheme);
        }
    }

    /// Whether a scheme's wallet is down.
    pub fn is_down(&self, scheme: Scheme) -> bool {
        self.outages.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&scheme)
    }

    /// The notifications sent of an order, oldest first.
    pub async fn notifications_of(&self, order_id: &str) -> Result<Vec<Notification>> {
        Ok(self.order(order_id).await?.map(|o| o.value.notices).unwrap_or_default())
    }

    /// Signs a notification body as the wallet does (tests forge with another key).
    pub fn sign(&self, body: &[u8]) -> String {
        hmac_hex(&self.signing_key[..], body)
    }

    async fn decide_precreate(&self, request: &OrderRequest) -> Result<String> {
        if let Some(order) = self.order(&request.order_id).await?
            && let Some(url) = order.value.code_url
        {
            return Ok(url);
        }
        let token: String = (0..16)
            .map(|_| {
                char::from(
                    b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"[usize::from(rand::random::<u8>()) % 56],
                )
            })
            .collect();
        let url = format!("{CODE_URL_PREFIX}{}/{token}", request.scheme.as_str());
        let order = SandboxOrder {
            id: request.order_id.clone(),
            scheme: request.scheme,
            wallet_id: String::new(),
            amount_minor: request.amount_minor,
            status: OrderStatus::NotPaid,
            decline: None,
            confirm_at: None,
            wallet_txn_id: String::new(),
            refunded_minor: 0,
            refunds: Vec::new(),
            business_day: self.clock.business_day(),
            code_url: Some(url.clone()),
            expires_at: Some(request.expires_at),
            payer_bound: request.payer.clone(),
            notices: Vec::new(),
        };
        let code = SandboxQrCode { token, order_id: order.id.clone() };
        match self.store.apply(Change { puts: vec![insert(&order)?, insert(&code)?], ..Change::default() }).await {
            Ok(()) => Ok(url),
            // Made by a racing call (or a token drawn twice): ask again.
            Err(StoreError::Rejected(Rejection::Conflict { .. })) => Box::pin(self.decide_precreate(request)).await,
            Err(e) => Err(e.into()),
        }
    }

    /// A wallet user scans a code URL in the app and pays it: the order is paid when it is still
    /// open, not expired, of the user's wallet and (static codes) bound to this user, and the
    /// balance covers it; the wallet then sends its signed notification. Errors say why not
    /// (`order_closed`, `order_expired`, `wrong_wallet`, `insufficient_balance`,
    /// `wallet_unavailable`, `unknown_code`), and leave the order as it was.
    pub async fn pay_code_url(&self, wallet_id: &str, code_url: &str) -> Result<Scanned> {
        let refuse = |code: &'static str, message: &str| Error::new(Class::Unprocessable, code, message);
        let token = code_url
            .trim()
            .strip_prefix(CODE_URL_PREFIX)
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, token)| token.to_owned())
            .ok_or_else(|| refuse("unknown_code", "not a sandbox wallet's code URL (xtsandbox://…)"))?;
        let wallet = self.wallet(wallet_id).await?.ok_or_else(|| Error::not_found("wallet"))?;
        if wallet.unavailable || self.is_down(wallet.scheme) {
            return Err(Error::new(Class::Unavailable, "wallet_unavailable", "the wallet does not answer"));
        }
        let code = load::<SandboxQrCode>(&self.store, &token)
            .await?
            .ok_or_else(|| refuse("unknown_code", "the wallet knows no such code"))?;
        let mut order = self.order(&code.value.order_id).await?.ok_or_else(|| Error::not_found("order"))?;
        let o = &mut order.value;
        if o.scheme != wallet.scheme {
            let (en, _) = o.scheme.names();
            return Err(refuse("wrong_wallet", &format!("this is a {en} code: scan it with that app")));
        }
        if o.status != OrderStatus::NotPaid {
            return Err(refuse("order_closed", "the order is paid or closed already"));
        }
        if o.expires_at.is_some_and(|at| self.clock.now_ns() >= at) {
            return Err(refuse("order_expired", "the order has expired"));
        }
        if o.payer_bound.as_deref().is_some_and(|p| p != wallet.id) {
            return Err(refuse("order_closed", "the order is another payer's"));
        }
        if self.balance(&wallet).await? < o.amount_minor {
            return Err(refuse("insufficient_balance", "the wallet's balance does not cover the amount"));
        }
        o.status = OrderStatus::Paid;
        o.wallet_id = wallet.id.clone();
        o.wallet_txn_id = format!("{}{}", self.clock.business_day(), digits(12));
        o.business_day = self.clock.business_day();
        let body = NoticeBody {
            id: format!("N{}{}", o.wallet_txn_id, o.notices.len()),
            event: "TRANSACTION.SUCCESS".into(),
            order_id: o.id.clone(),
            wallet_txn_id: o.wallet_txn_id.clone(),
            amount_minor: o.amount_minor,
            at: self.clock.now_ns(),
        };
        let body = serde_json::to_string(&body).map_err(|e| Error::new(Class::Internal, "internal", e.to_string()))?;
        let notice = Notification { scheme: o.scheme, signature: self.sign(body.as_bytes()), body };
        o.notices.push(notice.clone());
        let scanned = Scanned {
            order_id: o.id.clone(),
            scheme: o.scheme,
            amount_minor: o.amount_minor,
            wallet_txn_id: o.wallet_txn_id.clone(),
            notified: !self.losing_notifications.load(std::sync::atomic::Ordering::Relaxed),
        };
        match self.store.apply(Change { puts: vec![order.update()?], ..Change::default() }).await {
            Ok(()) => {}
            Err(StoreError::Rejected(Rejection::Conflict { .. })) => {
                return Err(refuse("order_closed", "the order changed meanwhile (closed, or paid by another scan)"));
            }
            Err(e) => return Err(e.into()),
        }
        if scanned.notified {
            // No one listening (a tool without a host) is no error: the host learns by asking.
            let _ = self.sender.send(notice);
        }
        Ok(scanned)
    }

    /// Creates a wallet user: its ledger account, funded with its balance.
    pub async fn create_wallet(&self, actor: &str, spec: NewWallet) -> Result<SandboxWallet> {
        if spec.balance_minor < 0 {
            return Err(Error::new(Class::Unprocessable, "invalid_amount", "balance_minor is at least 0"));
        }
        if spec.confirm_after_ms.is_some_and(|ms| ms > 3_600_000) {
            return Err(Error::new(
                Class::Unprocessable,
                "invalid_delay",
                "confirm_after_ms is at most 3600000 (an hour)",
            ));
        }
        let name = spec.name.unwrap_or_else(|| "测试用户".into());
        if name.trim().is_empty() || name.chars().count() > 40 {
            return Err(Error::new(Class::Unprocessable, "invalid_name", "name: 1 to 40 characters"));
        }
        let account = WALLET_ACCOUNT_TAG | u128::from(rand::random::<u64>());
        let wallet = SandboxWallet {
            id: format!("{}-{}", spec.scheme.as_str(), digits(8)),
            scheme: spec.scheme,
            name,
            account_id: account.to_string(),
            confirm_after_ms: spec.confirm_after_ms,
            never_confirms: spec.never_confirms,
            cancels: spec.cancels,
            unavailable: spec.unavailable,
        };
        self.store.apply(Change { accounts: vec![chart::cardholder_account(account)], ..Change::default() }).await?;
        let transfers = crate::sandbox::funding(account, spec.balance_minor);
        let audit =
            xingtong_merchants::identity::audit(actor, "sandbox_wallet.created", SandboxWallet::KIND, &wallet.id, "{}");
        self.store
            .apply(Change { puts: vec![insert(&wallet)?], transfers, audit: vec![audit], ..Change::default() })
            .await?;
        Ok(wallet)
    }

    /// A wallet user.
    pub async fn wallet(&self, id: &str) -> Result<Option<SandboxWallet>> {
        Ok(load::<SandboxWallet>(&self.store, id).await?.map(|w| w.value))
    }

    /// Changes a wallet's injected behaviour (tests and demos).
    pub async fn update_wallet(&self, id: &str, change: impl Fn(&mut SandboxWallet)) -> Result<SandboxWallet> {
        xingtong_merchants::entity::retrying(|| async {
            let mut wallet = load::<SandboxWallet>(&self.store, id).await?.ok_or_else(|| Error::not_found("wallet"))?;
            change(&mut wallet.value);
            self.store.apply(Change { puts: vec![wallet.update()?], ..Change::default() }).await?;
            Ok(wallet.value)
        })
        .await
    }

    /// The wallet's balance, from the ledger.
    pub async fn balance(&self, wallet: &SandboxWallet) -> Result<i64> {
        crate::sandbox::available(&self.store, &wallet.account_id).await
    }

    /// A fresh payment code of the wallet, good for [`CODE_LIFETIME_S`] on the clock.
    pub async fn new_payment_code(&self, wallet_id: &str) -> Result<SandboxCode> {
        let wallet = self.wallet(wallet_id).await?.ok_or_else(|| Error::not_found("wallet"))?;
        loop {
            let code = SandboxCode {
                code: new_code(wallet.scheme),
                wallet_id: wallet.id.clone(),
                expires_at: self.clock.now_ns() + CODE_LIFETIME_S * 1_000_000_000,
                used_by: None,
            };
            match self.store.apply(Change { puts: vec![insert(&code)?], ..Change::default() }).await {
                Ok(()) => return Ok(code),
                // Another code has these digits: draw again.
                Err(StoreError::Rejected(Rejection::Conflict { .. })) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `count` fresh payment codes of the wallet (1–1,000), made in one commit: a sheet of codes
    /// for a demo, or a load generator's supply.
    pub async fn new_payment_codes(&self, wallet_id: &str, count: usize) -> Result<Vec<SandboxCode>> {
        if !(1..=1_000).contains(&count) {
            return Err(Error::new(Class::Unprocessable, "invalid_count", "count is 1 to 1000"));
        }
        let wallet = self.wallet(wallet_id).await?.ok_or_else(|| Error::not_found("wallet"))?;
        loop {
            let expires_at = self.clock.now_ns() + CODE_LIFETIME_S * 1_000_000_000;
            let mut codes: Vec<SandboxCode> = Vec::with_capacity(count);
            while codes.len() < count {
                let code = new_code(wallet.scheme);
                if !codes.iter().any(|c| c.code == code) {
                    codes.push(SandboxCode { code, wallet_id: wallet.id.clone(), expires_at, used_by: None });
                }
            }
            let puts = codes.iter().map(insert).collect::<Result<Vec<_>>>()?;
            match self.store.apply(Change { puts, ..Change::default() }).await {
                Ok(()) => return Ok(codes),
                // One of them has the digits of an earlier code: draw them all again.
                Err(StoreError::Rejected(Rejection::Conflict { .. })) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// An order.
    pub async fn order(&self, id: &str) -> Result<Option<Stored<SandboxOrder>>> {
        load::<SandboxOrder>(&self.store, id).await
    }

    async fn account_of(&self, wallet_id: &str) -> Result<(SandboxWallet, u128)> {
        let wallet = self.wallet(wallet_id).await?.ok_or_else(|| Error::not_found("wallet"))?;
        let account = wallet.account_id.parse().unwrap_or(0);
        Ok((wallet, account))
    }

    async fn decide_pay(&self, payment: &CodePayment) -> Result<OrderState> {
        if let Some(order) = self.order(&payment.order_id).await? {
            let (_, account) = self.account_of(&order.value.wallet_id).await?;
            return Ok(order_state(&order.value, account));
        }
        let Some(mut code) = load::<SandboxCode>(&self.store, &payment.code).await? else {
            return Ok(OrderState::Failed(Decline::CodeUnknown));
        };
        let (wallet, account) = self.account_of(&code.value.wallet_id).await?;
        if wallet.scheme != payment.scheme {
            return Ok(OrderState::Failed(Decline::CodeUnknown));
        }
        if wallet.unavailable {
            std::future::pending::<()>().await;
        }
        if code.value.used_by.is_some() {
            return Ok(OrderState::Failed(Decline::CodeUsed));
        }
        if self.clock.now_ns() >= code.value.expires_at {
            return Ok(OrderState::Failed(Decline::CodeExpired));
        }
        let mut order = SandboxOrder {
            id: payment.order_id.clone(),
            scheme: payment.scheme,
            wallet_id: wallet.id.clone(),
            amount_minor: payment.amount_minor,
            status: OrderStatus::UserPaying,
            decline: None,
            confirm_at: None,
            wallet_txn_id: format!("{}{}", self.clock.business_day(), digits(12)),
            refunded_minor: 0,
            refunds: Vec::new(),
            business_day: self.clock.business_day(),
            code_url: None,
            expires_at: None,
            payer_bound: None,
            notices: Vec::new(),
        };
        if wallet.never_confirms {
        } else if wallet.cancels || wallet.confirm_after_ms.is_some() {
            let ms = wallet.confirm_after_ms.unwrap_or(0);
            order.confirm_at = Some(now_ns().saturating_add(ms.saturating_mul(1_000_000)));
        } else {
            self.settle_order(&mut order, &wallet).await?;
        }
        code.value.used_by = Some(order.id.clone());
        // The code's version makes it pay once: a racing use of it finds it changed.
        match self.store.apply(Change { puts: vec![code.update()?, insert(&order)?], ..Change::default() }).await {
            Ok(()) => Ok(order_state(&order, account)),
            Err(StoreError::Rejected(Rejection::Conflict { kind, .. })) if kind == SandboxCode::KIND => {
                Ok(OrderState::Failed(Decline::CodeUsed))
            }
            Err(StoreError::Rejected(Rejection::Conflict { .. })) => {
                // The same order, paid by a racing call: answer it.
                let order = self.order(&payment.order_id).await?.ok_or_else(|| Error::not_found("order"))?;
                Ok(order_state(&order.value, account))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Decides a payment the user has confirmed: paid when the balance covers it.
    async fn settle_order(&self, order: &mut SandboxOrder, wallet: &SandboxWallet) -> Result<()> {
        if wallet.cancels {
            order.status = OrderStatus::Failed;
            order.decline = Some(Decline::UserCancelled);
        } else if self.balance(wallet).await? >= order.amount_minor {
            order.status = OrderStatus::Paid;
        } else {
            order.status = OrderStatus::Failed;
            order.decline = Some(Decline::InsufficientBalance);
        }
        order.confirm_at = None;
        Ok(())
    }

    async fn decide_query(&self, order_id: &str) -> Result<OrderState> {
        let Some(mut order) = self.order(order_id).await? else { return Ok(OrderState::Failed(Decline::OrderClosed)) };
        if order.value.status == OrderStatus::NotPaid {
            // Nobody has paid it: closed once its time is up, as the wallet closes it.
            let expired = order.value.expires_at.is_some_and(|at| self.clock.now_ns() >= at);
            return Ok(if expired { OrderState::Failed(Decline::OrderClosed) } else { OrderState::NotPaid });
        }
        let (wallet, account) = self.account_of(&order.value.wallet_id).await?;
        if wallet.unavailable {
            std::future::pending::<()>().await;
        }
        if order.value.status == OrderStatus::UserPaying && order.value.confirm_at.is_some_and(|at| now_ns() >= at) {
            self.settle_order(&mut order.value, &wallet).await?;
            match self.store.apply(Change { puts: vec![order.update()?], ..Change::default() }).await {
                Ok(()) => {}
                // Cancelled or settled meanwhile: answer what is stored.
                Err(StoreError::Rejected(Rejection::Conflict { .. })) => {
                    return Box::pin(self.decide_query(order_id)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(order_state(&order.value, account))
    }

    async fn decide_cancel(&self, order_id: &str) -> Result<()> {
        xingtong_merchants::entity::retrying(|| async {
            let Some(mut order) = self.order(order_id).await? else { return Ok(()) };
            if !order.value.wallet_id.is_empty()
                && self.wallet(&order.value.wallet_id).await?.is_some_and(|w| w.unavailable)
            {
                std::future::pending::<()>().await;
            }
            if order.value.status == OrderStatus::Cancelled {
                return Ok(());
            }
            order.value.status = OrderStatus::Cancelled;
            order.value.confirm_at = None;
            self.store.apply(Change { puts: vec![order.update()?], ..Change::default() }).await?;
            Ok(())
        })
        .await
    }

    async fn decide_refund(
        &self,
        order_id: &str,
        refund_id: &str,
        amount: i64,
    ) -> Result<std::result::Result<(), Decline>> {
        xingtong_merchants::entity::retrying(|| async {
            let Some(mut order) = self.order(order_id).await? else { return Ok(Err(Decline::OrderClosed)) };
            if order.value.refunds.iter().any(|(id, _)| id == refund_id) {
                return Ok(Ok(()));
            }
            if order.value.status != OrderStatus::Paid {
                return Ok(Err(Decline::OrderClosed));
            }
            if amount <= 0 || amount > order.value.amount_minor - order.value.refunded_minor {
                return Ok(Err(Decline::RefundExceedsPayment));
            }
            order.value.refunded_minor += amount;
            order.value.refunds.push((refund_id.to_owned(), amount));
            self.store.apply(Change { puts: vec![order.update()?], ..Change::default() }).await?;
            Ok(Ok(()))
        })
        .await
    }

    /// A wallet's orders (its bill, for tests and demos).
    pub async fn orders_of(&self, wallet_id: &str) -> Result<Vec<SandboxOrder>> {
        let stored: Vec<Stored<SandboxOrder>> =
            list(&self.store, RecordQuery::kind(SandboxOrder::KIND).owner(wallet_id)).await?;
        Ok(stored.into_iter().map(|o| o.value).collect())
    }

    async fn within<T>(
        &self,
        scheme: Scheme,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> std::result::Result<T, NetworkError> {
        if self.is_down(scheme) {
            return Err(NetworkError::Unreachable);
        }
        match tokio::time::timeout(self.answer_within, work).await {
            Err(_) => Err(NetworkError::Timeout),
            Ok(Err(error)) => {
                tracing::error!(%error, "sandbox wallet failed");
                Err(NetworkError::Unreachable)
            }
            Ok(Ok(answer)) => Ok(answer),
        }
    }
}

impl WalletNetwork for SandboxWallets {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn pay<'a>(&'a self, payment: &'a CodePayment) -> Answering<'a, OrderState> {
        Box::pin(self.within(payment.scheme, self.decide_pay(payment)))
    }

    fn precreate<'a>(&'a self, order: &'a OrderRequest) -> Answering<'a, String> {
        Box::pin(self.within(order.scheme, self.decide_precreate(order)))
    }

    fn verify_notification(&self, _scheme: Scheme, body: &[u8], signature: &str) -> Option<Notice> {
        let expected = hmac_hex(&self.signing_key[..], body);
        if !xingtong_crypto::constant_time_eq(expected.as_bytes(), signature.trim().to_ascii_lowercase().as_bytes()) {
            return None;
        }
        let body: NoticeBody = serde_json::from_slice(body).ok()?;
        Some(Notice { id: body.id, order_id: body.order_id })
    }

    fn query<'a>(&'a self, scheme: Scheme, order_id: &'a str) -> Answering<'a, OrderState> {
        Box::pin(self.within(scheme, self.decide_query(order_id)))
    }

    fn cancel<'a>(&'a self, scheme: Scheme, order_id: &'a str) -> Answering<'a, ()> {
        Box::pin(self.within(scheme, self.decide_cancel(order_id)))
    }

    fn refund<'a>(
        &'a self,
        scheme: Scheme,
        order_id: &'a str,
        refund_id: &'a str,
        amount_minor: i64,
    ) -> Answering<'a, std::result::Result<(), Decline>> {
        Box::pin(self.within(scheme, self.decide_refund(order_id, refund_id, amount_minor)))
    }

    /// The sandbox makes a day's bill at any time once the day has begun, the open day's included
    /// (so that a demo reconciles at once); a day to come has none. Its lines are the payments
    /// of this wallet as a wallet that saw every message would list them, with the faults
    /// injected for tests (`xingtong admin sandbox clearing-fault`).
    fn bill_file<'a>(&'a self, scheme: Scheme, day: &'a str) -> crate::wallet::BillFetching<'a> {
        Box::pin(async move {
            if day > self.clock.business_day().as_str() {
                return Ok(None);
            }
            crate::recon::sandbox_file_of(&self.store, day, crate::recon::Source::Wallet(scheme)).await.map(Some)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_codes_have_their_scheme_s_shape() {
        for scheme in Scheme::ALL {
            for _ in 0..200 {
                let code = new_code(scheme);
                assert_eq!(crate::qr::recognise(&code).map(|r| r.0), Ok(scheme), "{code}");
            }
        }
        assert_eq!(mask_payer("wechat-48213077"), "wechat-****3077");
    }
}

//! Customer scans merchant (C扫B): an order the customer pays by scanning a code with the wallet
//! app. docs/qr.md draws the flows.
//!
//! - **Dynamic code (动态码)**: the cashier enters the amount and picks the wallet; the order is
//!   recorded `pending` with its marker ([`QrOpen`], with the order's expiry), then the wallet
//!   makes it ([`crate::wallet::WalletNetwork::precreate`]) and answers the code's URL, which the
//!   terminal draws as a QR code. It can be paid until it expires (two hours unless asked
//!   otherwise) or is closed.
//! - **Static code (台卡)**: the terminal's printed code. The payer scans it, enters the amount in
//!   the app, and the host makes an order for that payer and amount, refused beyond ¥500 per payer
//!   per day ([`crate::qr::STATIC_CODE_DAILY_MINOR`]).
//!
//! The wallet says an order was paid in a signed notification. The host checks the signature
//! (a forged one changes nothing) and then asks the wallet where the order stands: what the
//! notification says is never taken on trust, so a notification repeated or arriving out of order
//! changes nothing either. One step, [`Engine::follow_qr_order`], moves an order on from what the
//! wallet answers; notifications, the terminal's polling and the sweep `serve` runs every minute
//! all take it:
//!
//! | ours | the wallet says | then |
//! |---|---|---|
//! | pending | paid | approved: fee and postings as for any sale |
//! | pending | not paid, still in time | nothing |
//! | pending | closed, or time is up, or closing was asked | closed at the wallet, declined `order_closed` |
//! | declined, marker still there (the wallet was not reached to close it) | paid | cancelled at the wallet (the money goes back to the payer), marked `returned` |
//! | declined, marker still there | not paid | closed at the wallet, marker removed |
//! | anything else | — | nothing |

use std::time::Duration;

use xingtong_merchants::entity::{Entity, insert, load};
use xingtong_store::{Change, Rejection, StoreError, now_ns};

use crate::engine::{Answer, Engine, Origin, Result};
use crate::methods::Method;
use crate::outcome::Reason;
use crate::qr::{Decline, OrderMode, QrOrder, QrPart, STATIC_CODE_DAILY_MINOR, Scheme};
use crate::scan::QrOpen;
use crate::txn::{BusinessType, CardTransaction, Kind, Status};
use crate::wallet::{OrderRequest, OrderState};

/// How long a dynamic code can be paid unless asked otherwise (two hours, Alipay's precreate).
pub const DEFAULT_ORDER_LIFETIME: Duration = Duration::from_secs(2 * 3_600);
/// The shortest and longest lifetime a dynamic order may ask for.
pub const ORDER_LIFETIME_RANGE: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(24 * 3_600));
/// How long a static code's order can be paid: the payer is paying as it is made.
pub const STATIC_ORDER_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// What a customer-scans order is to be.
#[derive(Debug, Clone)]
pub struct OrderSpec {
    /// The wallet whose code is shown.
    pub scheme: Scheme,
    /// Minor units.
    pub amount_minor: i64,
    /// How long it can be paid ([`DEFAULT_ORDER_LIFETIME`] unless set; within
    /// [`ORDER_LIFETIME_RANGE`]).
    pub lifetime: Option<Duration>,
    /// The sale's business type.
    pub business_type: BusinessType,
    /// Customer phone and email for the notice.
    pub customer: (Option<String>, Option<String>),
}

/// What a wallet's notification came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeOutcome {
    /// The order (our transaction's id).
    pub order_id: String,
    /// Its status after.
    pub status: Status,
    /// Whether anything changed here.
    pub changed: bool,
}

/// The key of a payer's static-code total of a day.
fn static_key(scheme: Scheme, payer: &str, day: &str) -> String {
    format!("static_qr:{}:{payer}:{day}", scheme.as_str())
}

fn invalid(code: &'static str, message: &str) -> xingtong_merchants::Error {
    xingtong_merchants::Error::new(xingtong_merchants::Class::Unprocessable, code, message)
}

impl Engine {
    /// A dynamic code (动态码): an order for `spec.amount_minor` the customer pays by scanning
    /// the code's URL in the answer's transaction (`qr.order.code_url`), `pending` until paid,
    /// closed or expired. Refusals (amount, merchant, terminal, method, limit) are recorded
    /// declined, as for every sale.
    pub async fn qr_order(&self, origin: &Origin, spec: OrderSpec) -> Result<Answer> {
        let lifetime = spec.lifetime.unwrap_or(DEFAULT_ORDER_LIFETIME);
        if lifetime < ORDER_LIFETIME_RANGE.0 || lifetime > ORDER_LIFETIME_RANGE.1 {
            return Err(invalid("invalid_lifetime", "an order can be paid for 60 s to 24 h (86400 s)"));
        }
        self.open_order(origin, spec, OrderMode::Dynamic, lifetime, None).await
    }

    /// A static code's order (台卡): the payer `payer` scanned terminal `origin.tid`'s printed
    /// code and entered `amount` in the app. Declined `static_code_limit` when it would take the
    /// payer's static-code payments of the day past ¥500.
    pub async fn static_qr_order(&self, origin: &Origin, scheme: Scheme, payer: &str, amount: i64) -> Result<Answer> {
        let spec = OrderSpec {
            scheme,
            amount_minor: amount,
            lifetime: None,
            business_type: BusinessType::Sale,
            customer: (None, None),
        };
        self.open_order(origin, spec, OrderMode::Static, STATIC_ORDER_LIFETIME, Some(payer.to_owned())).await
    }

    async fn open_order(
        &self,
        origin: &Origin,
        spec: OrderSpec,
        mode: OrderMode,
        lifetime: Duration,
        payer: Option<String>,
    ) -> Result<Answer> {
        let amount = spec.amount_minor;
        let mut txn = self.new_txn(origin, Kind::Sale, amount, None);
        txn.business_type = spec.business_type;
        (txn.customer_phone, txn.customer_email) = spec.customer;
        let expires_at = txn.at.saturating_add(u64::try_from(lifetime.as_nanos()).unwrap_or(u64::MAX));
        txn.qr = Some(QrPart {
            scheme: spec.scheme,
            code_masked: String::new(),
            wallet_txn_id: None,
            payer: None,
            order: Some(QrOrder { mode, code_url: None, expires_at, payer_key: payer.clone(), returned: false }),
        });
        if !origin.fresh && self.is_duplicate(origin).await? {
            return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
        }
        let merchant = match self.admit(origin, amount, Method::Qr).await? {
            Ok(merchant) => merchant,
            Err(reason) => return self.decline(txn, reason).await,
        };
        drop(merchant);
        if let Some(payer) = &payer {
            let so_far = self.store().counter(&static_key(spec.scheme, payer, &txn.business_day)).await?;
            if so_far.saturating_add(amount) > STATIC_CODE_DAILY_MINOR {
                return self.decline(txn, Reason::Wallet(Decline::StaticCodeLimit)).await;
            }
        }
        txn.status = Status::Pending;
        let open = QrOpen {
            id: txn.id.clone(),
            scheme: spec.scheme,
            mid: txn.mid.clone(),
            at: now_ns(),
            expires_at: Some(expires_at),
        };
        match self.record(&txn, Change { puts: vec![insert(&txn)?, insert(&open)?], ..Change::default() }).await? {
            Ok(()) => {}
            Err(StoreError::Rejected(Rejection::Conflict { kind, .. })) if kind == CardTransaction::KIND => {
                return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
            }
            Err(e) => return Err(e.into()),
        }
        let request = OrderRequest {
            scheme: spec.scheme,
            order_id: txn.id.clone(),
            amount_minor: amount,
            mid: txn.mid.clone(),
            tid: txn.tid.clone(),
            expires_at,
            payer,
        };
        let made = self.wallets().precreate(&request).await;
        let mut stored = self.pending(&txn.id).await?;
        match made {
            Ok(url) => {
                if let Some(order) = stored.value.qr.as_mut().and_then(|qr| qr.order.as_mut()) {
                    order.code_url = Some(url);
                }
                self.store().apply(Change { puts: vec![stored.update()?], ..Change::default() }).await?;
                Ok(Answer::of(stored.value))
            }
            Err(error) => {
                tracing::warn!(%error, order = %txn.id, "a wallet could not make an order");
                let done = self.cancel_at_wallet(spec.scheme, &txn.id).await;
                self.end_declined(stored, Reason::Wallet(Decline::WalletUnavailable), done).await
            }
        }
    }

    /// A customer-scans order as it stands now, asking its wallet first while it is pending (how
    /// a terminal that polls learns the outcome even when no notification came). `None` when
    /// there is no such transaction.
    pub async fn qr_order_state(&self, id: &str) -> Result<Option<CardTransaction>> {
        self.follow_qr_order(id, false).await
    }

    /// Closes a customer-scans order (关单): closed at the wallet and declined `order_closed`. One
    /// the customer has paid meanwhile is approved instead (the payment came first). An order
    /// already ended is answered as it is. `None` when there is no such transaction.
    pub async fn close_qr_order(&self, id: &str) -> Result<Option<CardTransaction>> {
        self.follow_qr_order(id, true).await
    }

    /// A payment notification from a wallet: `body` as it came and its `signature`. A signature
    /// that is not the wallet's is the error `bad_signature` and changes nothing; a notification
    /// of an order we do not have is `not_found`. Otherwise the order is followed at its wallet
    /// ([`Engine::follow_qr_order`]), so a repeated or late notification changes nothing.
    pub async fn wallet_notification(&self, scheme: Scheme, body: &[u8], signature: &str) -> Result<NoticeOutcome> {
        let Some(notice) = self.wallets().verify_notification(scheme, body, signature) else {
            tracing::warn!(wallet = scheme.as_str(), "a wallet notification with a bad signature was refused");
            return Err(xingtong_merchants::Error::new(
                xingtong_merchants::Class::Unauthenticated,
                "bad_signature",
                "the notification's signature is not the wallet's",
            ));
        };
        let before = self.transaction_by_id(&notice.order_id).await?;
        let Some(before) = before.filter(|t| t.value.qr.as_ref().is_some_and(|qr| qr.scheme == scheme)) else {
            return Err(xingtong_merchants::Error::not_found("order"));
        };
        let after = self.follow_qr_order(&notice.order_id, false).await?.unwrap_or_else(|| before.value.clone());
        let changed = moved(&before.value, &after);
        tracing::info!(order = %notice.order_id, notice = %notice.id, changed, "a wallet notification");
        Ok(NoticeOutcome { order_id: notice.order_id, status: after.status, changed })
    }

    /// Moves a customer-scans order on from where its wallet says it stands (the table in this
    /// module's documentation); `close` asks for it to be closed unless paid. A payment-code sale,
    /// or an order that has ended, is answered as it is.
    pub async fn follow_qr_order(&self, id: &str, close: bool) -> Result<Option<CardTransaction>> {
        let Some(stored) = self.transaction_by_id(id).await? else { return Ok(None) };
        let Some((scheme, order)) = stored.value.qr.as_ref().and_then(|qr| Some((qr.scheme, qr.order.clone()?))) else {
            return Ok(Some(stored.value));
        };
        match stored.value.status {
            Status::Pending => {
                let state = self.wallets().query(scheme, id).await;
                let due = close || self.clock().now_ns() >= order.expires_at;
                let answer = match state {
                    Ok(OrderState::Paid(paid)) => {
                        let merchant = self.merchant(&stored.value.mid).await?;
                        self.approve_qr(stored, &merchant, paid).await
                    }
                    Ok(OrderState::NotPaid | OrderState::UserPaying) | Err(_) if !due => return Ok(Some(stored.value)),
                    Ok(OrderState::Failed(_) | OrderState::NotPaid | OrderState::UserPaying) | Err(_) => {
                        let done = self.cancel_at_wallet(scheme, id).await;
                        self.end_declined(stored, Reason::Wallet(Decline::OrderClosed), done).await
                    }
                };
                match answer {
                    Ok(answer) => Ok(answer.transaction),
                    // Followed by another caller meanwhile (a notification and a poll at once):
                    // theirs stands.
                    Err(e) if e.code == "concurrent_update" => Ok(self.transaction_by_id(id).await?.map(|t| t.value)),
                    Err(e) => Err(e),
                }
            }
            Status::Declined if load::<QrOpen>(self.store(), id).await?.is_some() => {
                let paid = matches!(self.wallets().query(scheme, id).await, Ok(OrderState::Paid(_)));
                if !self.cancel_at_wallet(scheme, id).await {
                    return Ok(Some(stored.value));
                }
                let mut stored = stored;
                if paid {
                    tracing::warn!(
                        order = id,
                        "an order was paid after it was closed: the money went back to the payer"
                    );
                    if let Some(order) = stored.value.qr.as_mut().and_then(|qr| qr.order.as_mut()) {
                        order.returned = true;
                    }
                }
                let change = Change {
                    puts: vec![stored.update()?],
                    remove_records: vec![(QrOpen::KIND.into(), id.to_owned())],
                    ..Change::default()
                };
                match self.store().apply(change).await {
                    Ok(()) => Ok(Some(stored.value)),
                    // Followed by another caller meanwhile: theirs stands.
                    Err(StoreError::Rejected(Rejection::Conflict { .. })) => {
                        Ok(self.transaction_by_id(id).await?.map(|t| t.value))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            _ => Ok(Some(stored.value)),
        }
    }
}

/// Whether following an order changed it (its status, or its wallet side).
pub(crate) fn moved(before: &CardTransaction, after: &CardTransaction) -> bool {
    before.status != after.status || before.qr != after.qr
}

/// The static-code total a payment adds to, with its limit (empty for other payments).
pub(crate) fn static_total(txn: &CardTransaction) -> Vec<xingtong_store::CounterAdd> {
    let Some(qr) = &txn.qr else { return Vec::new() };
    let Some(payer) = qr.order.as_ref().and_then(|o| o.payer_key.as_deref()) else { return Vec::new() };
    vec![xingtong_store::CounterAdd {
        key: static_key(qr.scheme, payer, &txn.business_day),
        delta: txn.amount_minor,
        max: Some(STATIC_CODE_DAILY_MINOR),
    }]
}

/// Whether a counter key is a static-code total's.
pub(crate) fn is_static_total(key: &str) -> bool {
    key.starts_with("static_qr:")
}

impl Engine {
    /// Takes the notifications a wallet connector hands over in-process (the sandbox wallets',
    /// [`crate::sandbox_wallet::SandboxWallets::take_notifications`]) until the channel closes,
    /// each as [`Engine::wallet_notification`] takes one that came over HTTP. The task holds the
    /// engine only while it takes one: the channel's sender lives in the wallets the engine owns,
    /// so holding it throughout would keep both (and the store's writer) alive forever.
    pub fn receive_notifications(
        &self,
        mut notifications: tokio::sync::mpsc::UnboundedReceiver<crate::sandbox_wallet::Notification>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let engine = std::sync::Arc::downgrade(&self.inner);
        async move {
            while let Some(n) = notifications.recv().await {
                let Some(inner) = engine.upgrade() else { return };
                let engine = Engine { inner };
                if let Err(error) = engine.wallet_notification(n.scheme, n.body.as_bytes(), &n.signature).await {
                    tracing::warn!(%error, "a wallet notification was not taken");
                }
            }
        }
    }
}

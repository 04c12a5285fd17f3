//! The core of card payments, the same for every channel (ISO 8583 terminals and the JSON API):
//! limits, the issuer's decision, the fee, the ledger postings and the transaction record, made
//! durable in one commit before anyone is told "approved".

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use xingtong_ledger::{CreateTransferResult, Transfer};
use xingtong_merchants::devices::{Device, DeviceStatus};
use xingtong_merchants::entity::{Stored, get, insert, load};
use xingtong_merchants::merchant::Merchant;
use xingtong_merchants::{Error, Merchants};
use xingtong_money::Rate;
use xingtong_store::{Change, CounterAdd, Put, Rejection, Store, StoreError, UniqueKey, now_ns};

use crate::card::{self, CardType};
use crate::chart;
use crate::network::{AuthKind, AuthRequest, CardNetwork, Funding, NetworkError};
use crate::outcome::{Outcome, Reason};
use crate::postings;
use crate::recent::Recent;
use crate::txn::{BusinessType, CardTransaction, Kind, Status};

/// Settings of the payments core.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a pre-authorization holds the money, seconds (30 days).
    pub pre_authorization_hold_s: u32,
    /// At most this many card transactions of one card at one merchant …
    pub frequency_max: usize,
    /// … within this window (ns). More are declined `frequency_limit`.
    pub frequency_window_ns: u64,
    /// How old a transaction must be before the runs `serve` makes on its own settle it, seconds
    /// ([`crate::clearing::REVERSAL_GRACE_S`]).
    pub reversal_grace_s: u64,
    /// Where business time comes from (the machine's clock unless a test sets one).
    pub clock: crate::clock::Clock,
    /// How long a QR payment waits for a customer who is confirming in the app before the order
    /// is cancelled (well inside the API's 30 s request limit).
    pub qr_user_paying_timeout: std::time::Duration,
    /// How often the wallet is asked meanwhile.
    pub qr_poll_interval: std::time::Duration,
    /// How old a QR order left open must be before [`Engine::finish_open_qr_orders`] takes it
    /// (longer than any flow still running: the wait, the wallet's answers, the cancel's tries).
    pub qr_open_grace: std::time::Duration,
    /// The pause before a cancel at a wallet is tried again (once, then twice as long).
    pub qr_cancel_pause: std::time::Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            pre_authorization_hold_s: 30 * 24 * 3_600,
            frequency_max: 20,
            frequency_window_ns: 60_000_000_000,
            reversal_grace_s: crate::clearing::REVERSAL_GRACE_S,
            clock: crate::clock::Clock::system(),
            qr_user_paying_timeout: std::time::Duration::from_secs(20),
            qr_poll_interval: std::time::Duration::from_millis(1_000),
            qr_open_grace: std::time::Duration::from_secs(120),
            qr_cancel_pause: std::time::Duration::from_millis(200),
        }
    }
}

/// Where a request comes from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// Terminal.
    pub tid: String,
    /// Merchant.
    pub mid: String,
    /// The terminal's batch.
    pub batch: u32,
    /// The request's STAN.
    pub stan: u32,
    /// Operator number.
    pub operator: String,
    /// `iso8583` or `api`.
    pub channel: &'static str,
    /// The caller knows this STAN is new (a terminal's STANs only grow within a batch, and this
    /// process saw a lower one last), so the duplicate check before the issuer is skipped. The
    /// commit refuses a duplicate all the same (`duplicate`); only the issuer may then see it twice.
    pub fresh: bool,
    /// What the caller needs committed with this request's transaction record, or not at all.
    pub binding: Option<Arc<Binding>>,
    /// The version of the terminal's session this request was decided under (its keys, its
    /// batch); on PostgreSQL the commit is refused when another process replaced or ended that
    /// session meanwhile ([`SESSION_CHANGED`]). `None` when the terminal has no session.
    pub session_version: Option<u64>,
}

/// Records and keys that commit with a transaction's record, or not at all: the JSON API binds
/// its Idempotency-Key to the transaction this way, in the transaction's own commit. When another
/// request bound them first, the engine answers [`BINDING_TAKEN`] and records nothing.
#[derive(Debug, Clone, Default)]
pub struct Binding {
    /// Records to insert or update.
    pub puts: Vec<Put>,
    /// Unique keys to claim.
    pub claim_keys: Vec<UniqueKey>,
}

/// The error code when a [`Binding`] was refused.
pub const BINDING_TAKEN: &str = "binding_taken";

/// The error code when a terminal's request was made under a session that another request (in
/// this process or another) has since replaced or ended: nothing was recorded, and the copy of the
/// session this process kept is dropped, so that the request can be decided again from the
/// stored session (see [`crate::session`]).
pub const SESSION_CHANGED: &str = "terminal_session_changed";

fn session_changed() -> Error {
    Error::new(
        xingtong_merchants::Class::Conflict,
        SESSION_CHANGED,
        "the terminal's session changed while this request was made (a sign-in, sign-off or settlement through another process); nothing was recorded: send it again",
    )
}

/// The original a void, refund or completion names: its batch and STAN (field 61) and, when the
/// terminal gives them, its RRN (field 37), its date (61.3: `MMDD` of the business day in China
/// the host recorded it on) and its authorization code (field 38). What is given must match, or
/// the original is not found (`original_not_found`); a different authorization code is
/// `auth_code_mismatch`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Original {
    /// Its batch.
    pub batch: u32,
    /// Its STAN.
    pub stan: u32,
    /// Its RRN, when given.
    pub rrn: Option<String>,
    /// Its date `MMDD`, when given.
    pub date_mmdd: Option<String>,
    /// Its authorization code, when given.
    pub auth_code: Option<String>,
}

impl From<(u32, u32)> for Original {
    fn from((batch, stan): (u32, u32)) -> Original {
        Original { batch, stan, ..Original::default() }
    }
}

impl Original {
    /// True when what the terminal gave agrees with the recorded original (the authorization code
    /// is judged by the caller).
    fn matches(&self, recorded: &CardTransaction) -> bool {
        self.rrn.as_deref().is_none_or(|rrn| rrn == recorded.rrn)
            && self.date_mmdd.as_deref().is_none_or(|date| date == recorded.date_mmdd())
    }
}

/// The counter of a card's approved sales and pre-authorizations at a merchant in one clock minute
/// (UTC minutes, which are China's too), checked by the writer so that the limit holds across
/// processes sharing a database. The minute comes first, zero-padded, so that the counters of past
/// minutes are one key range ([`Engine::purge_frequency_counters`]).
fn frequency_key(mid: &str, pan_token: &str, at_ns: u64) -> String {
    format!("{FREQUENCY_PREFIX}{:012}:{mid}:{pan_token}", at_ns / NS_PER_MINUTE)
}

const FREQUENCY_PREFIX: &str = "card_freq:";
const NS_PER_MINUTE: u64 = 60_000_000_000;

impl Binding {
    fn add_to(&self, change: &mut Change) {
        change.puts.extend(self.puts.iter().cloned());
        change.claim_keys.extend(self.claim_keys.iter().cloned());
    }

    /// The store refused the change because of this binding.
    fn refused(&self, error: &StoreError) -> bool {
        match error {
            StoreError::Rejected(Rejection::Conflict { kind, id }) => {
                self.puts.iter().any(|p| p.record.kind == *kind && p.record.id == *id)
            }
            StoreError::Rejected(Rejection::KeyTaken { kind, key }) => {
                self.claim_keys.iter().any(|k| k.kind == *kind && k.key == *key)
            }
            _ => false,
        }
    }
}

/// A card as presented, with its PIN block already under the network's zone key.
#[derive(Clone)]
pub struct Card {
    /// Number.
    pub pan: String,
    /// YYMM, if read.
    pub expiry: Option<String>,
    /// Under the zone key.
    pub pin_block: Option<[u8; 8]>,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card").field("pan", &card::mask(&self.pan)).finish_non_exhaustive()
    }
}

/// The answer to a request.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Approved, declined and why, or pending.
    pub outcome: Outcome,
    /// The retrieval reference number (printed on the receipt; field 37 on the wire).
    pub rrn: String,
    /// The approval's authorization code (field 38 on the wire).
    pub auth_code: Option<String>,
    /// For a balance inquiry.
    pub balance_minor: Option<i64>,
    /// The recorded transaction, when one was recorded.
    pub transaction: Option<CardTransaction>,
}

impl Answer {
    /// A decline with nothing recorded (a duplicate: the trace number's record is another's).
    pub(crate) fn bare(reason: Reason, stan: u32, at_ns: u64) -> Answer {
        Answer {
            outcome: Outcome::Declined(reason),
            rrn: crate::ids::rrn(stan, at_ns),
            auth_code: None,
            balance_minor: None,
            transaction: None,
        }
    }

    pub(crate) fn of(txn: CardTransaction) -> Answer {
        Answer {
            outcome: txn.outcome(),
            rrn: txn.rrn.clone(),
            auth_code: txn.auth_code.clone(),
            balance_minor: txn.balance_minor,
            transaction: Some(txn),
        }
    }
}

/// The payments core; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Store,
    pub merchants: Merchants,
    pub network: Arc<dyn CardNetwork>,
    pub wallets: Arc<dyn crate::wallet::WalletNetwork>,
    pub pan_secret: zeroize::Zeroizing<[u8; 32]>,
    pub config: Config,
    frequency: Mutex<HashMap<String, VecDeque<u64>>>,
    sessions: crate::session::Sessions,
    merchant_cache: Recent<Arc<Merchant>>,
    /// Each terminal's device state, for "does this terminal take payments".
    device_cache: Recent<DeviceStatus>,
    /// Whether a merchant's operator (`mid:op`) exists and is not disabled.
    operator_cache: Recent<bool>,
    /// Each terminal's payment methods.
    pub(crate) methods_cache: Recent<Arc<crate::methods::PaymentMethods>>,
    /// Each terminal's block of host trace numbers: the next value and the block's last.
    host_stans: Mutex<HashMap<String, (i64, i64)>>,
}

/// The first trace number (STAN) of transactions the host originates for a terminal (the JSON
/// API's payments, a static code's orders); the terminal's own are 000001–899999
/// (`xingtong_iso8583::cup::TERMINAL_STAN_MAX`), so the two never collide.
pub const HOST_STAN_FIRST: u32 = 900_001;

/// Host trace numbers a process takes from a terminal's counter at a time, so that most
/// payments need no commit for theirs (a block left unused at a restart is skipped; the unique
/// key an API request binds makes a number that comes round again after 99,999 be refused and
/// another taken).
pub const HOST_STAN_BLOCK: i64 = 64;

/// How long a cached merchant is trusted: one second.
pub const MERCHANT_CACHE_NS: u64 = 1_000_000_000;

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("network", &self.inner.network.name()).finish_non_exhaustive()
    }
}

/// What went wrong inside (storage); a terminal is answered 96 (system malfunction).
pub type Result<T> = std::result::Result<T, Error>;

/// A boxed future of a rare path (see [`Engine::decline`]).
type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'a>>;

/// Ties a void, refund or completion to its original: the original's id, card and funding.
fn link(txn: &mut CardTransaction, original: &CardTransaction) {
    txn.original_id = Some(original.id.clone());
    txn.pan_masked = original.pan_masked.clone();
    txn.pan_token = original.pan_token.clone();
    txn.brand = original.brand;
    txn.card_type = original.card_type;
    txn.funding = original.funding;
    txn.qr = original.qr.clone().map(|qr| crate::qr::QrPart { order: None, ..qr });
}

/// The error when an original kept changing under every retry.
fn kept_changing() -> Error {
    Error::new(xingtong_merchants::Class::Conflict, "concurrent_update", "the original kept changing")
}

/// A transaction as declined: nothing it would have moved.
fn declined(mut txn: CardTransaction) -> CardTransaction {
    txn.movements.clear();
    txn.pending_transfer = None;
    txn.funding = None;
    txn.auth_code = None;
    txn.fee_minor = 0;
    txn
}

/// The counters of a merchant's card receipts that `counted` moves, with the limits as maximums
/// (none when `limits` is `None`: reversals and voids only ever lower them).
pub(crate) fn totals(
    mid: &str,
    business_day: &str,
    counted: i64,
    card_type: CardType,
    limits: Option<&xingtong_onboarding::terms::Limits>,
) -> Vec<CounterAdd> {
    if counted == 0 {
        return Vec::new();
    }
    let mut adds = vec![CounterAdd {
        key: format!("card_day:{mid}:{business_day}"),
        delta: counted,
        max: limits.map(|l| l.daily_minor),
    }];
    if card_type == CardType::Credit {
        adds.push(CounterAdd {
            key: format!("credit_day:{mid}:{business_day}"),
            delta: counted,
            max: limits.and_then(|l| l.credit_daily_minor),
        });
        adds.push(CounterAdd {
            key: format!("credit_month:{mid}:{}", &business_day[..6]),
            delta: counted,
            max: limits.and_then(|l| l.credit_monthly_minor),
        });
    }
    adds
}

/// The fee of `amount` for a card type under the merchant's schedule: round half up, capped for
/// debit cards, never above the amount.
pub fn fee(merchant: &Merchant, card_type: CardType, amount: i64, business_day: &str) -> i64 {
    let fees = &merchant.fees_on(business_day);
    let (ppm, cap) = match card_type {
        CardType::Debit => (fees.debit_ppm, Some(fees.debit_cap_minor)),
        CardType::Credit => (fees.credit_ppm, None),
    };
    let fee = Rate::from_ppm(ppm).map(|r| r.apply_minor(amount)).unwrap_or(0);
    let fee = cap.map_or(fee, |cap| fee.min(cap));
    fee.clamp(0, amount)
}

impl Engine {
    /// The core over the onboarding service, a card network and the QR wallets.
    pub fn new(
        merchants: Merchants,
        network: Arc<dyn CardNetwork>,
        wallets: Arc<dyn crate::wallet::WalletNetwork>,
        config: Config,
    ) -> Engine {
        let pan_secret = merchants.host_secret("PAN tokens");
        Engine {
            inner: Arc::new(Inner {
                store: merchants.store().clone(),
                merchants,
                network,
                wallets,
                pan_secret,
                config,
                frequency: Mutex::new(HashMap::new()),
                sessions: crate::session::Sessions::default(),
                merchant_cache: Recent::new(MERCHANT_CACHE_NS),
                device_cache: Recent::new(MERCHANT_CACHE_NS),
                operator_cache: Recent::new(MERCHANT_CACHE_NS),
                methods_cache: Recent::new(MERCHANT_CACHE_NS),
                host_stans: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The next trace number of the host's range for `tid` ([`HOST_STAN_FIRST`] to 999999), for a
    /// payment a channel other than the terminal itself originates: from this process's block, or
    /// a new block from the terminal's counter (one commit every [`HOST_STAN_BLOCK`] payments).
    pub async fn host_stan(&self, tid: &str) -> Result<u32> {
        let as_stan = |value: i64| HOST_STAN_FIRST + u32::try_from((value - 1).rem_euclid(99_999)).unwrap_or(0);
        {
            let mut blocks = self.inner.host_stans.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((next, end)) = blocks.get_mut(tid)
                && *next <= *end
            {
                let value = *next;
                *next += 1;
                return Ok(as_stan(value));
            }
        }
        // The counter keeps its name from when only the JSON API took host numbers.
        let values = self
            .inner
            .store
            .apply_counting(Change {
                counters: vec![CounterAdd { key: format!("api_stan:{tid}"), delta: HOST_STAN_BLOCK, max: None }],
                ..Change::default()
            })
            .await?;
        let end = values[0];
        let first = end - HOST_STAN_BLOCK + 1;
        self.inner.host_stans.lock().unwrap_or_else(|p| p.into_inner()).insert(tid.to_owned(), (first + 1, end));
        Ok(as_stan(first))
    }

    /// Creates the platform's ledger accounts if they are missing, and moves what earlier
    /// releases kept as records (card transactions, batches, settlements, payouts) into the
    /// typed tables.
    pub async fn bootstrap(&self) -> Result<()> {
        let ids: Vec<u128> = chart::platform_accounts().iter().map(|a| a.id).collect();
        let existing = self.inner.store.lookup_accounts(ids).await?;
        let missing: Vec<_> =
            chart::platform_accounts().into_iter().filter(|a| !existing.iter().any(|e| e.id == a.id)).collect();
        if !missing.is_empty() {
            self.inner.store.apply(Change { accounts: missing, ..Change::default() }).await?;
        }
        let [transactions, batches, settlements, payouts] = crate::txn::move_legacy(&self.inner.store).await?;
        if transactions + batches + settlements + payouts > 0 {
            tracing::info!(transactions, batches, settlements, payouts, "records moved into the typed tables");
        }
        Ok(())
    }

    pub(crate) fn sessions(&self) -> &crate::session::Sessions {
        &self.inner.sessions
    }

    /// The onboarding service.
    pub fn merchants(&self) -> &Merchants {
        &self.inner.merchants
    }

    /// The card network.
    pub fn network(&self) -> &Arc<dyn CardNetwork> {
        &self.inner.network
    }

    /// The QR wallets.
    pub fn wallets(&self) -> &Arc<dyn crate::wallet::WalletNetwork> {
        &self.inner.wallets
    }

    /// A transaction by terminal, batch and STAN.
    pub async fn transaction(&self, tid: &str, batch: u32, stan: u32) -> Result<Option<Stored<CardTransaction>>> {
        load::<CardTransaction>(&self.inner.store, &CardTransaction::key(tid, batch, stan)).await
    }

    /// A transaction by id.
    pub async fn transaction_by_id(&self, id: &str) -> Result<Option<Stored<CardTransaction>>> {
        load::<CardTransaction>(&self.inner.store, id).await
    }

    pub(crate) fn new_txn(&self, origin: &Origin, kind: Kind, amount: i64, card_pan: Option<&str>) -> CardTransaction {
        // One instant for the record, its business day and its reference number.
        let now = self.clock().now_ns();
        CardTransaction {
            id: CardTransaction::key(&origin.tid, origin.batch, origin.stan),
            kind,
            status: Status::Declined,
            decline: None,
            mid: origin.mid.clone(),
            tid: origin.tid.clone(),
            batch: origin.batch,
            stan: origin.stan,
            operator: origin.operator.clone(),
            amount_minor: amount,
            fee_minor: 0,
            pan_masked: card_pan.map(card::mask).unwrap_or_default(),
            pan_token: card_pan.map(|p| card::token(&self.inner.pan_secret[..], p)).unwrap_or_default(),
            brand: card_pan.and_then(card::Brand::of),
            card_type: None,
            rrn: crate::ids::rrn(origin.stan, now),
            auth_code: None,
            business_type: BusinessType::Sale,
            original_id: None,
            refunded_minor: 0,
            fee_refunded_minor: 0,
            funding: None,
            pending_transfer: None,
            movements: Vec::new(),
            channel: origin.channel.into(),
            business_day: crate::clock::day_at(now),
            at: now,
            reason: None,
            balance_minor: None,
            customer_phone: None,
            customer_email: None,
            qr: None,
            binding: origin.binding.clone(),
            session_guard: self.session_guard(origin),
        }
    }

    /// Applies a change that records `txn`, with the request's binding. A refused binding is an
    /// error of its own ([`BINDING_TAKEN`]); anything else is the store's answer to the change.
    pub(crate) async fn record(
        &self,
        txn: &CardTransaction,
        mut change: Change,
    ) -> Result<std::result::Result<(), StoreError>> {
        if let Some(binding) = &txn.binding {
            binding.add_to(&mut change);
        }
        match self.apply_guarded(&txn.tid, txn.session_guard.as_ref(), change).await? {
            Err(error) if txn.binding.as_ref().is_some_and(|b| b.refused(&error)) => Err(Error::new(
                xingtong_merchants::Class::Conflict,
                BINDING_TAKEN,
                "another request bound this Idempotency-Key first",
            )),
            other => Ok(other),
        }
    }

    /// Applies a change made under a terminal session's `guard`, if any: when the session was
    /// replaced or ended meanwhile, nothing is applied, this process's copy of it is dropped and
    /// the answer is [`SESSION_CHANGED`].
    async fn apply_guarded(
        &self,
        tid: &str,
        guard: Option<&CounterAdd>,
        mut change: Change,
    ) -> Result<std::result::Result<(), StoreError>> {
        if let Some(guard) = guard {
            change.counters.push(guard.clone());
        }
        match self.inner.store.apply(change).await {
            Err(StoreError::Rejected(Rejection::CounterLimit { key })) if guard.is_some_and(|g| g.key == key) => {
                let version = key.rsplit(':').next().and_then(|v| v.parse().ok()).unwrap_or(0);
                self.sessions().forget(tid, version);
                Err(session_changed())
            }
            other => Ok(other),
        }
    }

    /// Records a declined request (so that its STAN is used, and reports see it); a duplicate of an
    /// existing record is declined `duplicate`, with nothing recorded.
    ///
    /// Boxed, as are the other rare paths a sale may take: an async fn's state holds every future
    /// it may await, and that state is copied into every request's task (the gateway's whole
    /// answer was 6.9 KB, 4.2 KB with these paths boxed).
    pub(crate) fn decline(&self, mut txn: CardTransaction, reason: Reason) -> Boxed<'_, Answer> {
        Box::pin(async move {
            txn.status = Status::Declined;
            txn.decline = Some(reason);
            match self.record(&txn, Change { puts: vec![insert(&txn)?], ..Change::default() }).await? {
                Ok(()) => Ok(Answer::of(txn)),
                Err(StoreError::Rejected(Rejection::Conflict { .. })) => {
                    Ok(Answer::bare(Reason::Duplicate, txn.stan, self.clock().now_ns()))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    pub(crate) fn is_duplicate<'a>(&'a self, origin: &'a Origin) -> Boxed<'a, bool> {
        Box::pin(async move { Ok(self.transaction(&origin.tid, origin.batch, origin.stan).await?.is_some()) })
    }

    /// The merchant, from a cache at most [`MERCHANT_CACHE_NS`] old (terms and status change at
    /// human speed; every sale need not read them).
    pub(crate) async fn merchant(&self, mid: &str) -> Result<Arc<Merchant>> {
        let now = now_ns();
        if let Some(merchant) = self.inner.merchant_cache.get(mid, now) {
            return Ok(merchant);
        }
        let merchant = Arc::new(Box::pin(get::<Merchant>(&self.inner.store, mid, "merchant")).await?.value);
        self.inner.merchant_cache.put(mid, Arc::clone(&merchant), now);
        Ok(merchant)
    }

    /// The state of a terminal's device, at most [`MERCHANT_CACHE_NS`] old; `None` when there is
    /// no such terminal.
    pub async fn device_status(&self, tid: &str) -> Result<Option<DeviceStatus>> {
        let now = now_ns();
        if let Some(status) = self.inner.device_cache.get(tid, now) {
            return Ok(Some(status));
        }
        let Some(device) = Box::pin(load::<Device>(&self.inner.store, tid)).await? else { return Ok(None) };
        self.inner.device_cache.put(tid, device.value.status, now);
        Ok(Some(device.value.status))
    }

    /// Whether the terminal takes payments: its device is bound or activated, on every channel
    /// (a suspended terminal, or one never shipped and bound, takes none).
    pub async fn terminal_takes_payments(&self, tid: &str) -> Result<bool> {
        Ok(matches!(self.device_status(tid).await?, Some(DeviceStatus::Bound | DeviceStatus::Activated)))
    }

    /// Whether `operator` is one of the merchant's operators and not disabled, at most
    /// [`MERCHANT_CACHE_NS`] old: a payment must name someone who may take it.
    pub async fn operator_may_pay(&self, mid: &str, operator: &str) -> Result<bool> {
        let now = now_ns();
        let key = format!("{mid}:{operator}");
        if let Some(known) = self.inner.operator_cache.get(&key, now) {
            return Ok(known);
        }
        let known = Box::pin(self.inner.merchants.operator_enabled(mid, operator)).await?;
        self.inner.operator_cache.put(&key, known, now);
        Ok(known)
    }

    /// Counts a card use at a merchant; false when it goes over the frequency limit.
    fn frequency_ok(&self, mid: &str, pan_token: &str) -> bool {
        let key = format!("{mid}:{pan_token}");
        let now = now_ns();
        let window = self.inner.config.frequency_window_ns;
        let mut map = self.inner.frequency.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, uses| uses.back().is_some_and(|last| now.saturating_sub(*last) < window));
        }
        let uses = map.entry(key).or_default();
        while uses.front().is_some_and(|first| now.saturating_sub(*first) >= window) {
            uses.pop_front();
        }
        if uses.len() >= self.inner.config.frequency_max {
            return false;
        }
        uses.push_back(now);
        true
    }

    async fn authorize(
        &self,
        origin: &Origin,
        card: &Card,
        amount: i64,
        kind: AuthKind,
    ) -> crate::network::Authorization {
        let request = AuthRequest {
            pan: card.pan.clone(),
            expiry: card.expiry.clone(),
            pin_block: card.pin_block,
            amount_minor: amount,
            kind,
            mid: origin.mid.clone(),
            tid: origin.tid.clone(),
        };
        self.inner.network.authorize(&request).await
    }

    /// Balance inquiry (查余).
    pub async fn balance(&self, origin: &Origin, card: &Card) -> Result<Answer> {
        let txn = self.new_txn(origin, Kind::BalanceInquiry, 0, Some(&card.pan));
        if !origin.fresh && self.is_duplicate(origin).await? {
            return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
        }
        if !self.terminal_takes_payments(&origin.tid).await?
            || !self.terminal_takes(&origin.tid, &origin.mid, crate::methods::Method::Card).await?
        {
            return self.decline(txn, Reason::TerminalNotPermitted).await;
        }
        match self.authorize(origin, card, 0, AuthKind::Balance).await {
            Err(_) => self.decline(txn, Reason::IssuerTimeout).await,
            Ok(Err(code)) => self.decline(txn, code).await,
            Ok(Ok(approved)) => {
                let mut txn = txn;
                txn.status = Status::Approved;
                txn.decline = None;
                txn.card_type = Some(approved.card_type);
                txn.auth_code = Some(approved.auth_code);
                txn.balance_minor = approved.balance_minor;
                match self.record(&txn, Change { puts: vec![insert(&txn)?], ..Change::default() }).await? {
                    Ok(()) => Ok(Answer::of(txn)),
                    Err(StoreError::Rejected(Rejection::Conflict { .. })) => {
                        Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Sale (消费) or pre-authorization (预授权): limits, issuer, fee, postings, record.
    pub async fn pay(
        &self,
        origin: &Origin,
        card: &Card,
        amount: i64,
        kind: Kind,
        business_type: BusinessType,
        customer: (Option<String>, Option<String>),
    ) -> Result<Answer> {
        assert!(matches!(kind, Kind::Sale | Kind::PreAuthorization));
        let mut txn = self.new_txn(origin, kind, amount, Some(&card.pan));
        txn.business_type = business_type;
        (txn.customer_phone, txn.customer_email) = customer;
        if !origin.fresh && self.is_duplicate(origin).await? {
            return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
        }
        let merchant = match self.admit(origin, amount, crate::methods::Method::Card).await? {
            Ok(merchant) => merchant,
            Err(reason) => return self.decline(txn, reason).await,
        };
        let limits = merchant.terms.limits;
        if !self.frequency_ok(&origin.mid, &txn.pan_token) {
            return self.decline(txn, Reason::FrequencyLimit).await;
        }
        let auth_kind = if kind == Kind::Sale { AuthKind::Sale } else { AuthKind::PreAuthorization };
        let approved = match self.authorize(origin, card, amount, auth_kind).await {
            Err(NetworkError::Timeout) => return self.decline(txn, Reason::IssuerTimeout).await,
            Err(NetworkError::Unreachable) => return self.decline(txn, Reason::IssuerUnavailable).await,
            Ok(Err(code)) => return self.decline(txn, code).await,
            Ok(Ok(approved)) => approved,
        };
        txn.card_type = Some(approved.card_type);
        txn.brand = Some(approved.brand);
        txn.auth_code = Some(approved.auth_code.clone());
        txn.funding = Some(approved.funding);
        txn.status = Status::Approved;
        txn.decline = None;
        let accounts = postings::Accounts::of(&origin.mid);
        let payer = match approved.funding {
            Funding::Ledger(account) => Some(account),
            Funding::Network => None,
        };
        let mut transfers = Vec::new();
        match kind {
            Kind::Sale => {
                txn.fee_minor = fee(&merchant, approved.card_type, amount, &txn.business_day);
                let (posted, recorded) = postings::sale(&accounts, payer, amount, txn.fee_minor);
                txn.movements = recorded;
                transfers = posted;
            }
            _ => {
                if let Some(payer) = payer {
                    let timeout = self.inner.config.pre_authorization_hold_s;
                    let (hold, recorded) = postings::hold(&accounts, payer, amount, timeout);
                    txn.pending_transfer = Some(hold.id.to_string());
                    txn.movements.push(recorded);
                    transfers.push(hold);
                }
            }
        }
        let counted = if kind == Kind::Sale { amount } else { 0 };
        let notices = self.customer_notice(&txn, &merchant)?;
        let answer = self.commit_payment(txn, transfers, counted, approved.card_type, &limits, notices).await?;
        if kind == Kind::Sale && answer.outcome.is_approved() {
            self.activate_if_due(&origin.tid, amount).await?;
        }
        Ok(answer)
    }

    /// The checks every payment (card or QR) passes before its network or wallet hears of it: a
    /// positive amount, an active merchant, a terminal that takes payments and this method, the
    /// per-transaction limit. The merchant when it passes.
    pub(crate) async fn admit(
        &self,
        origin: &Origin,
        amount: i64,
        method: crate::methods::Method,
    ) -> Result<std::result::Result<Arc<Merchant>, Reason>> {
        if amount <= 0 {
            return Ok(Err(Reason::InvalidAmount));
        }
        let merchant = self.merchant(&origin.mid).await?;
        if merchant.status != "active" {
            return Ok(Err(Reason::MerchantNotActive));
        }
        if !self.terminal_takes_payments(&origin.tid).await? {
            return Ok(Err(Reason::TerminalNotPermitted));
        }
        if !self.terminal_takes(&origin.tid, &origin.mid, method).await? {
            return Ok(Err(Reason::MethodDisabled));
        }
        if amount > merchant.terms.limits.per_transaction_minor {
            return Ok(Err(Reason::AmountLimit));
        }
        Ok(Ok(merchant))
    }

    /// Marks the device activated when an approved sale reaches its activation amount. A terminal
    /// signed in here answers from memory (already activated, or a sale below the amount) without
    /// reading the device.
    pub(crate) async fn activate_if_due(&self, tid: &str, amount: i64) -> Result<()> {
        let live = self.sessions().cached(tid);
        if let Some(live) = &live
            && (live.activated.load(std::sync::atomic::Ordering::Relaxed) || amount < live.activation_amount_minor)
        {
            return Ok(());
        }
        if Box::pin(self.inner.merchants.mark_activated(tid, amount)).await?
            && let Some(live) = live
        {
            live.activated.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// The notice to the customer, when the request gave a phone number or email.
    pub(crate) fn customer_notice(&self, txn: &CardTransaction, merchant: &Merchant) -> Result<Vec<Put>> {
        if txn.customer_phone.is_none() && txn.customer_email.is_none() {
            return Ok(Vec::new());
        }
        let (y, m, d, hh, mm, _) = self.clock().china();
        let time = format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}");
        let amount =
            xingtong_money::Amount::from_minor(txn.amount_minor, xingtong_money::Currency::CNY).to_decimal_string();
        let last4 = txn.pan_masked.get(txn.pan_masked.len().saturating_sub(4)..).unwrap_or("").to_owned();
        let (kind_en, kind_zh) = txn.kind.receipt_name();
        xingtong_merchants::notify::notification_to_customer(
            txn.customer_phone.as_deref(),
            txn.customer_email.as_deref(),
            "zh-CN",
            xingtong_merchants::notify::Template::PaymentNotice,
            &[
                ("time", &time),
                ("merchant", &merchant.name),
                ("last4", &last4),
                ("kind", kind_zh),
                ("kind_en", kind_en),
                ("amount", &amount),
                ("rrn", &txn.rrn),
            ],
        )
    }

    /// Commits an approved payment with the merchant's running totals, which the store's writer
    /// checks against the limits (daily; credit cards daily and monthly), so that concurrent
    /// sales never conflict and never together exceed a limit.
    async fn commit_payment(
        &self,
        txn: CardTransaction,
        transfers: Vec<Transfer>,
        counted: i64,
        card_type: CardType,
        limits: &xingtong_onboarding::terms::Limits,
        extra: Vec<Put>,
    ) -> Result<Answer> {
        let mut puts = vec![insert(&txn)?];
        puts.extend(extra);
        let mut counters = totals(&txn.mid, &txn.business_day, counted, card_type, Some(limits));
        // The frequency limit across processes: in this one `frequency_ok` already counted the
        // card before the issuer; with several sharing the database, the writer counts its
        // approvals per clock minute too. One counter row per card and minute, so SQLite (one
        // process, where `frequency_ok` is exact) is spared it.
        let frequency = (matches!(txn.kind, Kind::Sale | Kind::PreAuthorization) && self.shared_database())
            .then(|| frequency_key(&txn.mid, &txn.pan_token, txn.at));
        if let Some(key) = &frequency {
            let max = i64::try_from(self.inner.config.frequency_max).unwrap_or(i64::MAX);
            counters.push(CounterAdd { key: key.clone(), delta: 1, max: Some(max) });
        }
        let change = Change { puts, transfers, counters, ..Change::default() };
        match self.record(&txn, change).await? {
            Ok(()) => Ok(Answer::of(txn)),
            Err(StoreError::Rejected(Rejection::CounterLimit { key })) if frequency.as_ref() == Some(&key) => {
                self.decline(declined(txn), Reason::FrequencyLimit).await
            }
            Err(StoreError::Rejected(Rejection::CounterLimit { .. })) => {
                self.decline(declined(txn), Reason::TotalLimit).await
            }
            Err(StoreError::Rejected(Rejection::Conflict { kind, id })) if kind == "card_txn" && id == txn.id => {
                Ok(Answer::bare(Reason::Duplicate, txn.stan, self.clock().now_ns()))
            }
            // The original changed under us (a racing refund or void): the caller decides again.
            Err(StoreError::Rejected(Rejection::Conflict { .. })) => {
                Err(Error::new(xingtong_merchants::Class::Conflict, "concurrent_update", "retry"))
            }
            Err(StoreError::Rejected(Rejection::Transfers(results))) => {
                let code = if results
                    .iter()
                    .any(|r| matches!(r, CreateTransferResult::ExceedsCredits | CreateTransferResult::ExceedsDebits))
                {
                    Reason::InsufficientFunds
                } else {
                    tracing::error!(?results, "payment postings refused");
                    Reason::SystemError
                };
                self.decline(declined(txn), code).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The original a request names, if it exists and agrees with what the terminal says of it.
    async fn original(&self, origin: &Origin, original: &Original) -> Result<Option<Stored<CardTransaction>>> {
        Ok(self.transaction(&origin.tid, original.batch, original.stan).await?.filter(|o| original.matches(&o.value)))
    }

    /// Void (撤销) of a sale, or of a completion, in the open batch: the full amount back.
    pub async fn void(
        &self,
        origin: &Origin,
        original: impl Into<Original>,
        amount: i64,
        kind: Kind,
    ) -> Result<Answer> {
        assert!(matches!(kind, Kind::Void | Kind::CompletionVoid));
        let original = original.into();
        let target = if kind == Kind::Void { Kind::Sale } else { Kind::Completion };
        for _ in 0..8 {
            let mut txn = self.new_txn(origin, kind, amount, None);
            if self.is_duplicate(origin).await? {
                return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
            }
            if !self.terminal_takes_payments(&origin.tid).await? {
                return self.decline(txn, Reason::TerminalNotPermitted).await;
            }
            let Some(mut orig) = self.original(origin, &original).await? else {
                return self.decline(txn, Reason::OriginalNotFound).await;
            };
            link(&mut txn, &orig.value);
            let o = &orig.value;
            if o.kind != target || o.status != Status::Approved || o.refunded_minor != 0 || o.batch != origin.batch {
                return self.decline(txn, Reason::OriginalNotEligible).await;
            }
            if o.amount_minor != amount {
                return self.decline(txn, Reason::AmountMismatch).await;
            }
            let (transfers, made) = postings::undo(&o.movements);
            txn.movements = made;
            txn.status = Status::Approved;
            txn.decline = None;
            txn.auth_code = o.auth_code.clone();
            txn.funding = o.funding;
            let card_type = o.card_type.unwrap_or(CardType::Debit);
            let first = o.clone();
            orig.value.status = Status::Voided;
            let merchant = self.merchant(&origin.mid).await?;
            // A QR sale's wallet is owed the money back: written down in the same commit.
            let mut extra = vec![orig.update()?];
            extra.extend(crate::scan::refund_due(&first, &txn)?);
            match self.commit_payment(txn, transfers, -amount, card_type, &merchant.terms.limits, extra).await {
                Err(e) if e.is_conflict() => continue,
                Ok(answer) => {
                    if let Some(void) = answer.transaction.as_ref().filter(|t| t.status == Status::Approved) {
                        self.refund_at_wallet(&first, void).await;
                    }
                    return Ok(answer);
                }
                other => return other,
            }
        }
        Err(kept_changing())
    }

    /// Refund (退货) of an earlier sale or completion, in part or whole, never above what remains;
    /// the proportional fee goes back too. Racing refunds are serialised on the original.
    pub async fn refund(
        &self,
        origin: &Origin,
        original: impl Into<Original>,
        amount: i64,
        reason: Option<String>,
    ) -> Result<Answer> {
        let original = original.into();
        for _ in 0..16 {
            let mut txn = self.new_txn(origin, Kind::Refund, amount, None);
            txn.reason = reason.clone();
            if self.is_duplicate(origin).await? {
                return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
            }
            if !self.terminal_takes_payments(&origin.tid).await? {
                return self.decline(txn, Reason::TerminalNotPermitted).await;
            }
            let Some(mut orig) = self.original(origin, &original).await? else {
                return self.decline(txn, Reason::OriginalNotFound).await;
            };
            link(&mut txn, &orig.value);
            let o = &orig.value;
            if !matches!(o.kind, Kind::Sale | Kind::Completion) || o.status != Status::Approved {
                return self.decline(txn, Reason::OriginalNotEligible).await;
            }
            if amount <= 0 || amount > o.refundable_minor() {
                return self.decline(txn, Reason::InvalidAmount).await;
            }
            let fee_back =
                postings::fee_returned(o.amount_minor, o.fee_minor, o.fee_refunded_minor, amount, o.refundable_minor());
            let payer = match o.funding {
                Some(Funding::Ledger(account)) => Some(account),
                _ => None,
            };
            let (transfers, recorded) = postings::refund(&postings::Accounts::of(&origin.mid), payer, amount, fee_back);
            txn.movements = recorded;
            txn.fee_minor = -fee_back;
            txn.status = Status::Approved;
            txn.decline = None;
            let first = orig.value.clone();
            orig.value.refunded_minor += amount;
            orig.value.fee_refunded_minor += fee_back;
            // A QR sale's wallet is owed the money back: written down in the same commit.
            let mut puts = vec![orig.update()?];
            puts.extend(crate::scan::refund_due(&first, &txn)?);
            if let Some(answer) = self.commit_against_original(txn, puts, transfers).await? {
                if let Some(refund) = answer.transaction.as_ref().filter(|t| t.status == Status::Approved) {
                    self.refund_at_wallet(&first, refund).await;
                }
                return Ok(answer);
            }
        }
        Err(kept_changing())
    }

    /// Commits a transaction together with the change it makes to its original; `None` when the
    /// original changed meanwhile (a racing refund or void), so that the caller decides again.
    async fn commit_against_original(
        &self,
        txn: CardTransaction,
        with: Vec<Put>,
        transfers: Vec<Transfer>,
    ) -> Result<Option<Answer>> {
        let mut puts = vec![insert(&txn)?];
        puts.extend(with);
        let change = Change { puts, transfers, ..Change::default() };
        match self.record(&txn, change).await? {
            Ok(()) => Ok(Some(Answer::of(txn))),
            Err(StoreError::Rejected(Rejection::Conflict { kind, id })) if kind == "card_txn" && id == txn.id => {
                Ok(Some(Answer::bare(Reason::Duplicate, txn.stan, self.clock().now_ns())))
            }
            Err(StoreError::Rejected(Rejection::Conflict { .. })) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Pre-authorization void: the hold is released.
    pub async fn pre_authorization_void(
        &self,
        origin: &Origin,
        original: impl Into<Original>,
        amount: i64,
    ) -> Result<Answer> {
        let original = original.into();
        for _ in 0..8 {
            let mut txn = self.new_txn(origin, Kind::PreAuthorizationVoid, amount, None);
            if self.is_duplicate(origin).await? {
                return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
            }
            if !self.terminal_takes_payments(&origin.tid).await? {
                return self.decline(txn, Reason::TerminalNotPermitted).await;
            }
            let Some(mut orig) = self.original(origin, &original).await? else {
                return self.decline(txn, Reason::OriginalNotFound).await;
            };
            link(&mut txn, &orig.value);
            if orig.value.kind != Kind::PreAuthorization || orig.value.status != Status::Approved {
                return self.decline(txn, Reason::OriginalNotEligible).await;
            }
            if original.auth_code.as_deref().is_some_and(|code| Some(code) != orig.value.auth_code.as_deref()) {
                return self.decline(txn, Reason::AuthCodeMismatch).await;
            }
            if orig.value.amount_minor != amount {
                return self.decline(txn, Reason::AmountMismatch).await;
            }
            let (transfers, made) = postings::undo(&orig.value.movements);
            txn.movements = made;
            txn.status = Status::Approved;
            txn.decline = None;
            orig.value.status = Status::Voided;
            if let Some(answer) = self.commit_against_original(txn, vec![orig.update()?], transfers).await? {
                return Ok(answer);
            }
        }
        Err(kept_changing())
    }

    /// Completion (预授权完成): at most the authorised amount is taken; the rest of the hold is released.
    pub async fn complete(
        &self,
        origin: &Origin,
        original: impl Into<Original>,
        amount: i64,
        auth_code: Option<&str>,
    ) -> Result<Answer> {
        let original = original.into();
        let auth_code = auth_code.or(original.auth_code.as_deref());
        for _ in 0..8 {
            let mut txn = self.new_txn(origin, Kind::Completion, amount, None);
            if self.is_duplicate(origin).await? {
                return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
            }
            if !self.terminal_takes_payments(&origin.tid).await? {
                return self.decline(txn, Reason::TerminalNotPermitted).await;
            }
            let Some(mut orig) = self.original(origin, &original).await? else {
                return self.decline(txn, Reason::OriginalNotFound).await;
            };
            let o = orig.value.clone();
            link(&mut txn, &o);
            if o.kind != Kind::PreAuthorization || o.status != Status::Approved {
                return self.decline(txn, Reason::OriginalNotEligible).await;
            }
            if auth_code.is_some_and(|code| Some(code) != o.auth_code.as_deref()) {
                return self.decline(txn, Reason::AuthCodeMismatch).await;
            }
            if amount <= 0 || amount > o.amount_minor {
                return self.decline(txn, Reason::InvalidAmount).await;
            }
            let merchant = self.merchant(&origin.mid).await?;
            let card_type = o.card_type.unwrap_or(CardType::Debit);
            txn.fee_minor = fee(&merchant, card_type, amount, &txn.business_day);
            txn.auth_code = o.auth_code.clone();
            let held = match (&o.pending_transfer, o.funding) {
                (Some(pending), Some(Funding::Ledger(account))) => Some((pending.parse().unwrap_or(0), account)),
                _ => None,
            };
            let (transfers, recorded) =
                postings::completion(&postings::Accounts::of(&origin.mid), held, amount, txn.fee_minor);
            txn.movements = recorded;
            txn.status = Status::Approved;
            txn.decline = None;
            orig.value.status = Status::Completed;
            match self
                .commit_payment(txn, transfers, amount, card_type, &merchant.terms.limits, vec![orig.update()?])
                .await
            {
                Err(e) if e.is_conflict() => continue,
                other => return other,
            }
        }
        Err(kept_changing())
    }

    /// Reversal (冲正) of the request with this terminal, batch and STAN: undone if it was applied,
    /// remembered if it never arrived (so that a late original is refused), idempotent. Approved
    /// when undone (or nothing was applied); declined `original_not_found` when no such request
    /// arrived (or its amount differs), `original_not_eligible` when it can no longer be undone
    /// (voided, refunded, settled).
    pub async fn reverse(&self, origin: &Origin, amount: i64) -> Result<Outcome> {
        let guard = self.session_guard(origin);
        for _ in 0..8 {
            let Some(mut orig) = self.transaction(&origin.tid, origin.batch, origin.stan).await? else {
                let mut mark = self.new_txn(origin, Kind::ReversalMark, amount, None);
                mark.status = Status::Reversed;
                mark.decline = Some(Reason::OriginalNotFound);
                match self.record(&mark, Change { puts: vec![insert(&mark)?], ..Change::default() }).await? {
                    Ok(()) => return Ok(Outcome::Declined(Reason::OriginalNotFound)),
                    // The original arrived meanwhile: reverse it.
                    Err(StoreError::Rejected(Rejection::Conflict { .. })) => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            let o = orig.value.clone();
            if o.kind == Kind::ReversalMark {
                return Ok(Outcome::Declined(Reason::OriginalNotFound));
            }
            if o.amount_minor != amount {
                return Ok(Outcome::Declined(Reason::OriginalNotFound));
            }
            match o.status {
                Status::Declined | Status::Reversed => return Ok(Outcome::Approved),
                // A QR payment still waiting for its wallet: its flow ends it first (bounded by
                // the user-paying wait and the cancel), then it is reversed as it ended.
                // A customer-scans order is closed (or found paid) at once, then reversed as it
                // ended.
                Status::Pending if o.qr.as_ref().is_some_and(|q| q.order.is_some()) => {
                    self.close_qr_order(&o.id).await?;
                    continue;
                }
                Status::Pending => {
                    self.wait_while_pending(&o.id).await?;
                    continue;
                }
                Status::Voided | Status::Completed => return Ok(Outcome::Declined(Reason::OriginalNotEligible)),
                Status::Approved => {}
            }
            if o.refunded_minor != 0 {
                return Ok(Outcome::Declined(Reason::OriginalNotEligible));
            }
            // A settled batch is closed: what it counted stays (docs/iso8583.md §7.1). So is a
            // cleared transaction: its money has gone to the merchant's settlement.
            if self.batch(&o.tid, o.batch).await?.is_some() {
                return Ok(Outcome::Declined(Reason::OriginalNotEligible));
            }
            let changes_key = crate::clearing::changes_key(&o.mid);
            let changes = self.store().counter(&changes_key).await?;
            if self.settled_ids(&o.mid, &o.business_day).await?.contains(&o.id) {
                return Ok(Outcome::Declined(Reason::OriginalNotEligible));
            }
            let (transfers, _) = postings::undo(&o.movements);
            orig.value.status = Status::Reversed;
            let mut puts = vec![orig.update()?];
            // A QR payment is reversed at its wallet too (撤销), after this commit; the marker
            // makes sure it is, should the wallet not answer now.
            let open = o.qr.as_ref().map(|qr| crate::scan::QrOpen {
                id: o.id.clone(),
                scheme: qr.scheme,
                mid: o.mid.clone(),
                at: now_ns(),
                expires_at: None,
            });
            if let Some(open) = &open {
                puts.push(insert(open)?);
            }
            // Undoing a void or completion puts its original back as it was.
            if let Some(original_id) = &o.original_id
                && matches!(
                    o.kind,
                    Kind::Void | Kind::CompletionVoid | Kind::Refund | Kind::PreAuthorizationVoid | Kind::Completion
                )
                && let Some(mut first) = self.transaction_by_id(original_id).await?
            {
                match o.kind {
                    Kind::Refund => {
                        first.value.refunded_minor -= o.amount_minor;
                        first.value.fee_refunded_minor += o.fee_minor; // fee_minor is the negative fee returned
                    }
                    // The hold was used up by the completion: the pre-authorization cannot be completed again.
                    Kind::Completion => first.value.status = Status::Voided,
                    _ => first.value.status = Status::Approved,
                }
                puts.push(first.update()?);
            }
            // Totals follow sales, completions and voids.
            let counted = match o.kind {
                Kind::Sale | Kind::Completion => -o.amount_minor,
                Kind::Void | Kind::CompletionVoid => o.amount_minor,
                _ => 0,
            };
            let mut counters = totals(&o.mid, &o.business_day, counted, o.card_type.unwrap_or(CardType::Debit), None);
            // Only while no clearing of the day committed since the check above; and a clearing
            // that read the day before this reversal must read it again (clearing::changes_key).
            counters.push(CounterAdd { key: changes_key.clone(), delta: 1, max: Some(changes + 1) });
            let change = Change { puts, transfers, counters, ..Change::default() };
            match self.apply_guarded(&origin.tid, guard.as_ref(), change).await? {
                Ok(()) => {
                    if let Some(open) = open {
                        self.cancel_and_close(open.scheme, &open.id).await?;
                    }
                    return Ok(Outcome::Approved);
                }
                Err(StoreError::Rejected(Rejection::Conflict { .. })) => continue,
                Err(StoreError::Rejected(Rejection::CounterLimit { key })) if key == changes_key => continue,
                Err(StoreError::Rejected(Rejection::Transfers(results))) => {
                    tracing::warn!(?results, txn = %o.id, "a reversal could not be posted");
                    return Ok(Outcome::Declined(Reason::OriginalNotEligible));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::new(xingtong_merchants::Class::Conflict, "concurrent_update", "the transaction kept changing"))
    }

    /// Deletes the frequency counters of minutes before the last two (nothing reads them any
    /// more); returns how many. `xingtong serve` runs it hourly.
    pub async fn purge_frequency_counters(&self) -> Result<usize> {
        let below = now_ns() / NS_PER_MINUTE - 2;
        let mut total = 0;
        loop {
            let n = self
                .inner
                .store
                .purge_counters(FREQUENCY_PREFIX.into(), format!("{FREQUENCY_PREFIX}{below:012}"))
                .await?;
            total += n;
            if n < xingtong_store::committer::COUNTER_PURGE_MAX {
                return Ok(total);
            }
        }
    }

    /// The settings it runs with.
    /// Where business time comes from.
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.inner.config.clock
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequency_counters_of_a_minute_sort_below_the_next_minutes_purge_bound() {
        let minute = 29_500_000u64;
        let key = frequency_key("898310053990001", "ffffffffffffffffffffffffffffffff", minute * NS_PER_MINUTE);
        let bound = |m: u64| format!("{FREQUENCY_PREFIX}{m:012}");
        assert!(key.starts_with(FREQUENCY_PREFIX));
        assert!(key.as_str() < bound(minute + 1).as_str(), "purged once its minute has passed");
        assert!(key.as_str() >= bound(minute).as_str(), "kept while its minute is current");
        // Byte order holds for minutes of different digit counts too (zero-padded).
        assert!(frequency_key("m", "t", 9 * NS_PER_MINUTE) < bound(10));
    }
}

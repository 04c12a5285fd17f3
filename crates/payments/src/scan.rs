//! Merchant scans customer (B扫C, 付款码支付): the cashier scans the payment code the customer's
//! wallet app shows, and the outcome is exactly one of paid or not paid. docs/qr.md draws the flow.
//!
//! 1. The code is recognised by its shape ([`crate::qr::recognise`]); anything else is refused
//!    before anything is recorded or sent.
//! 2. The transaction is recorded as `pending`, with a marker ([`QrOpen`]) saying "this order
//!    must be cancelled at the wallet unless it ends paid", in one commit with the request's
//!    Idempotency-Key: from here on, nothing is lost even if the process stops.
//! 3. The wallet is asked to pay. While the customer is confirming in the app (USERPAYING), it is
//!    asked again every [`crate::Config::qr_poll_interval`] until a final answer or
//!    [`crate::Config::qr_user_paying_timeout`]; still unknown then (or no answer at all), the
//!    order is cancelled (撤销) at the wallet, so that no money is left in limbo.
//! 4. Paid: the fee (the merchant's QR rate, 0.38 % by default) and the same postings as a card
//!    sale ([`crate::postings::sale`]), with the transaction approved and the marker removed, in
//!    one commit. Not paid: the transaction declined with the reason ([`Decline`]).
//!
//! The flow runs in a task of its own, so that a caller who goes away (an HTTP timeout, a
//! dropped connection) cannot stop it between the wallet and the ledger. A marker left behind
//! (the process stopped mid-flow, or the wallet could not be reached to cancel) is finished by
//! [`Engine::finish_open_qr_orders`], which `xingtong serve` runs at start and every minute.

use crate::outcome::Reason;
use serde::{Deserialize, Serialize};
use xingtong_ledger::CreateTransferResult;
use xingtong_merchants::entity::{Entity, Stored, insert, list};
use xingtong_merchants::merchant::Merchant;
use xingtong_money::Rate;
use xingtong_store::{Change, RecordQuery, Rejection, StoreError, now_ns};

use crate::card::CardType;
use crate::engine::{Answer, Engine, Origin, Result, totals};
use crate::network::{Funding, NetworkError};
use crate::postings;
use crate::qr::{Decline, NotRecognised, QrPart, Scheme};
use crate::txn::{BusinessType, CardTransaction, Kind, Status};
use crate::wallet::{CodePayment, OrderState, mask_code};

/// An order at a wallet that must be cancelled there unless its transaction ends approved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QrOpen {
    /// The transaction (and the wallet order) id.
    pub id: String,
    /// The wallet.
    pub scheme: Scheme,
    /// Merchant.
    pub mid: String,
    /// When the flow began (ns, the machine's clock).
    pub at: u64,
    /// A customer-scans order (C扫B): until when it can be paid (ns, the engine's clock). Such
    /// markers are followed at their wallet ([`Engine::follow_qr_order`]) rather than cancelled
    /// after a grace.
    #[serde(default)]
    pub expires_at: Option<u64>,
}

impl Entity for QrOpen {
    const KIND: &'static str = "qr_open_order";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        "open".into()
    }
}

/// A refund (or void) of a QR payment committed here that its wallet has not answered yet: written
/// in the refund's own commit, crossed off once the wallet answers, so that the money owed back to
/// the payer is never forgotten (an outbox).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WalletRefundDue {
    /// The refund's (or void's) transaction id, which makes a repeat at the wallet harmless.
    pub id: String,
    /// The paid order (the original transaction's id).
    pub order_id: String,
    /// Its wallet.
    pub scheme: Scheme,
    /// Minor units.
    pub amount_minor: i64,
    /// Merchant.
    pub mid: String,
}

impl Entity for WalletRefundDue {
    const KIND: &'static str = "qr_refund_due";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        "due".into()
    }
}

/// What a QR payment's wallet is owed back for `refund` (nothing for a card payment).
fn due_of(original: &CardTransaction, refund: &CardTransaction) -> Option<WalletRefundDue> {
    let qr = original.qr.as_ref()?;
    Some(WalletRefundDue {
        id: refund.id.clone(),
        order_id: original.id.clone(),
        scheme: qr.scheme,
        amount_minor: refund.amount_minor,
        mid: original.mid.clone(),
    })
}

/// The record that a QR payment's wallet is owed `refund` back, to commit with it.
pub(crate) fn refund_due(original: &CardTransaction, refund: &CardTransaction) -> Result<Option<xingtong_store::Put>> {
    due_of(original, refund).map(|due| insert(&due)).transpose()
}

/// The QR fee of `amount` under the merchant's schedule (round half up, never above the amount).
pub fn qr_fee(merchant: &Merchant, amount: i64, business_day: &str) -> i64 {
    let ppm = merchant.fees_on(business_day).qr_ppm;
    Rate::from_ppm(ppm).map(|r| r.apply_minor(amount)).unwrap_or(0).clamp(0, amount)
}

/// The error for a scanned code that is no wallet's payment code.
pub fn not_recognised() -> xingtong_merchants::Error {
    xingtong_merchants::Error::new(
        xingtong_merchants::Class::Unprocessable,
        NotRecognised::CODE,
        NotRecognised::MESSAGE_EN,
    )
}

impl Engine {
    /// A sale paid with a wallet's payment code (B扫C). `scanned` is what the scanner typed; a code
    /// of no wallet's shape is the error [`NotRecognised::CODE`] and records nothing.
    pub async fn qr_pay(
        &self,
        origin: &Origin,
        scanned: &str,
        amount: i64,
        business_type: BusinessType,
        customer: (Option<String>, Option<String>),
    ) -> Result<Answer> {
        let (scheme, code) = crate::qr::recognise(scanned).map_err(|_| not_recognised())?;
        let engine = self.clone();
        let origin = origin.clone();
        // A task of its own: the flow between the wallet and the ledger is never cut short.
        tokio::spawn(async move { engine.qr_flow(&origin, scheme, code, amount, business_type, customer).await })
            .await
            .map_err(|error| {
                tracing::error!(%error, "a QR payment's task failed");
                xingtong_merchants::Error::new(xingtong_merchants::Class::Internal, "internal", "internal error")
            })?
    }

    async fn qr_flow(
        &self,
        origin: &Origin,
        scheme: Scheme,
        code: String,
        amount: i64,
        business_type: BusinessType,
        customer: (Option<String>, Option<String>),
    ) -> Result<Answer> {
        let mut txn = self.new_txn(origin, Kind::Sale, amount, None);
        txn.business_type = business_type;
        (txn.customer_phone, txn.customer_email) = customer;
        txn.qr = Some(QrPart { scheme, code_masked: mask_code(&code), wallet_txn_id: None, payer: None, order: None });
        if !origin.fresh && self.is_duplicate(origin).await? {
            return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
        }
        let merchant = match self.admit(origin, amount, crate::methods::Method::Qr).await? {
            Ok(merchant) => merchant,
            Err(reason) => return self.decline(txn, reason).await,
        };
        // Recorded as pending with its marker before the wallet hears of it.
        txn.status = Status::Pending;
        let open = QrOpen { id: txn.id.clone(), scheme, mid: txn.mid.clone(), at: now_ns(), expires_at: None };
        match self.record(&txn, Change { puts: vec![insert(&txn)?, insert(&open)?], ..Change::default() }).await? {
            Ok(()) => {}
            Err(StoreError::Rejected(Rejection::Conflict { kind, .. })) if kind == CardTransaction::KIND => {
                return Ok(Answer::bare(Reason::Duplicate, origin.stan, self.clock().now_ns()));
            }
            Err(e) => return Err(e.into()),
        }
        txn.binding = None;
        let payment = CodePayment {
            scheme,
            code,
            order_id: txn.id.clone(),
            amount_minor: amount,
            mid: txn.mid.clone(),
            tid: txn.tid.clone(),
        };
        let (state, cancelled) = self.wallet_outcome(&payment).await;
        let stored = self.pending(&txn.id).await?;
        match state {
            OrderState::Paid(paid) => self.approve_qr(stored, &merchant, paid).await,
            OrderState::Failed(decline) => self.decline_qr(stored, decline, cancelled).await,
            OrderState::UserPaying | OrderState::NotPaid => {
                self.decline_qr(stored, Decline::UserPayingTimeout, cancelled).await
            }
        }
    }

    /// The wallet's final answer: paid, or failed (after a cancel when it stayed unknown). The
    /// flag says whether the order no longer needs cancelling at the wallet.
    async fn wallet_outcome(&self, payment: &CodePayment) -> (OrderState, bool) {
        let wallets = self.wallets();
        let config = self.config();
        let deadline = tokio::time::Instant::now() + config.qr_user_paying_timeout;
        let mut state = wallets.pay(payment).await;
        loop {
            match state {
                Ok(OrderState::UserPaying | OrderState::NotPaid) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(config.qr_poll_interval).await;
                    state = wallets.query(payment.scheme, &payment.order_id).await;
                }
                Ok(OrderState::UserPaying | OrderState::NotPaid) => {
                    let cancelled = self.cancel_at_wallet(payment.scheme, &payment.order_id).await;
                    return (OrderState::Failed(Decline::UserPayingTimeout), cancelled);
                }
                Err(NetworkError::Timeout | NetworkError::Unreachable) => {
                    let cancelled = self.cancel_at_wallet(payment.scheme, &payment.order_id).await;
                    return (OrderState::Failed(Decline::WalletUnavailable), cancelled);
                }
                Ok(OrderState::Failed(decline)) => return (OrderState::Failed(decline), true),
                Ok(paid) => return (paid, true),
            }
        }
    }

    /// Cancels an order at its wallet, three tries; false when it could not be reached (the
    /// order's marker stays for [`Engine::finish_open_qr_orders`]).
    pub(crate) async fn cancel_at_wallet(&self, scheme: Scheme, order_id: &str) -> bool {
        for attempt in 0..3u32 {
            match self.wallets().cancel(scheme, order_id).await {
                Ok(()) => return true,
                Err(error) => {
                    tracing::warn!(%error, order = order_id, attempt, "a QR order could not be cancelled at its wallet");
                    tokio::time::sleep(self.config().qr_cancel_pause * (attempt + 1)).await;
                }
            }
        }
        false
    }

    pub(crate) async fn pending(&self, id: &str) -> Result<Stored<CardTransaction>> {
        self.transaction_by_id(id).await?.ok_or_else(|| xingtong_merchants::Error::not_found("transaction"))
    }

    /// Approves a paid QR transaction: fee, postings, totals, marker removed, in one commit.
    pub(crate) async fn approve_qr(
        &self,
        mut stored: Stored<CardTransaction>,
        merchant: &Merchant,
        paid: crate::wallet::Paid,
    ) -> Result<Answer> {
        let txn = &mut stored.value;
        let amount = txn.amount_minor;
        let paid_scheme = txn.qr.as_ref().map_or(Scheme::Wechat, |qr| qr.scheme);
        txn.status = Status::Approved;
        txn.decline = None;
        txn.auth_code = Some(paid.wallet_txn_id.chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect());
        txn.funding = Some(paid.funding);
        if let Some(qr) = &mut txn.qr {
            qr.wallet_txn_id = Some(paid.wallet_txn_id.clone());
            qr.payer = Some(paid.payer.clone());
        }
        txn.fee_minor = qr_fee(merchant, amount, &txn.business_day);
        let payer = match paid.funding {
            Funding::Ledger(account) => Some(account),
            Funding::Network => None,
        };
        let (transfers, recorded) = postings::sale(&postings::Accounts::of(&txn.mid), payer, amount, txn.fee_minor);
        txn.movements = recorded;
        let limits = merchant.terms.limits;
        let mut counters = totals(&txn.mid, &txn.business_day, amount, CardType::Debit, Some(&limits));
        counters.extend(crate::order::static_total(txn));
        let mut puts = vec![stored.update()?];
        puts.extend(self.customer_notice(&stored.value, merchant)?);
        let change = Change {
            puts,
            transfers,
            counters,
            remove_records: vec![(QrOpen::KIND.into(), stored.value.id.clone())],
            ..Change::default()
        };
        match self.store().apply(change).await {
            Ok(()) => {
                self.activate_if_due(&stored.value.tid, amount).await?;
                Ok(Answer::of(stored.value))
            }
            // Refused here after the wallet paid (a limit reached, or the balance went
            // meanwhile): the order is reversed at the wallet.
            Err(StoreError::Rejected(Rejection::CounterLimit { key })) => {
                let done = self.cancel_at_wallet(paid_scheme, &stored.value.id).await;
                let reason = if crate::order::is_static_total(&key) {
                    Reason::Wallet(Decline::StaticCodeLimit)
                } else {
                    Reason::TotalLimit
                };
                self.end_declined(stored, reason, done).await
            }
            Err(StoreError::Rejected(Rejection::Transfers(results))) => {
                let short = results
                    .iter()
                    .any(|r| matches!(r, CreateTransferResult::ExceedsCredits | CreateTransferResult::ExceedsDebits));
                if !short {
                    tracing::error!(?results, "QR payment postings refused");
                }
                let reason = if short { Reason::Wallet(Decline::InsufficientBalance) } else { Reason::SystemError };
                let done = self.cancel_at_wallet(paid_scheme, &stored.value.id).await;
                self.end_declined(stored, reason, done).await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn decline_qr(&self, stored: Stored<CardTransaction>, decline: Decline, cancelled: bool) -> Result<Answer> {
        self.end_declined(stored, Reason::from(decline), cancelled).await
    }

    /// Ends a pending QR transaction declined; the marker goes with it when the wallet's order
    /// needs nothing more.
    pub(crate) async fn end_declined(
        &self,
        mut stored: Stored<CardTransaction>,
        reason: Reason,
        done_at_wallet: bool,
    ) -> Result<Answer> {
        let txn = &mut stored.value;
        txn.status = Status::Declined;
        txn.decline = Some(reason);
        txn.movements.clear();
        txn.funding = None;
        txn.auth_code = None;
        txn.fee_minor = 0;
        let remove_records =
            if done_at_wallet { vec![(QrOpen::KIND.into(), stored.value.id.clone())] } else { Vec::new() };
        self.store().apply(Change { puts: vec![stored.update()?], remove_records, ..Change::default() }).await?;
        Ok(Answer::of(stored.value))
    }

    /// Finishes the QR orders left open longer than [`crate::Config::qr_open_grace`] (a process that
    /// stopped mid-flow, a wallet that could not be reached to cancel): each is cancelled at its
    /// wallet, and a transaction still pending is declined (`wallet_unavailable`); nothing was
    /// taken on our side. Customer-scans orders are followed at their wallet instead
    /// ([`Engine::follow_qr_order`]): approved when paid, closed once their time is up. Refunds
    /// their wallets have not answered are asked again ([`Engine::retry_wallet_refunds`]).
    /// Returns how many changed.
    pub async fn finish_open_qr_orders(&self) -> Result<usize> {
        let grace = u64::try_from(self.config().qr_open_grace.as_nanos()).unwrap_or(u64::MAX);
        let stale_before = now_ns().saturating_sub(grace);
        let open: Vec<Stored<QrOpen>> = list(self.store(), RecordQuery::kind(QrOpen::KIND)).await?;
        let mut finished = 0;
        for order in &open {
            // A customer-scans order: followed at its wallet (paid, or closed once its time is up).
            if order.value.expires_at.is_some() {
                let before = self.transaction_by_id(&order.value.id).await?.map(|t| t.value);
                let after = self.follow_qr_order(&order.value.id, false).await?;
                if let (Some(before), Some(after)) = (before, after) {
                    finished += usize::from(crate::order::moved(&before, &after));
                }
            }
        }
        // Refunds a wallet has not answered yet.
        finished += self.retry_wallet_refunds().await?;
        for order in open.into_iter().filter(|o| o.value.expires_at.is_none() && o.value.at <= stale_before) {
            if !self.cancel_at_wallet(order.value.scheme, &order.value.id).await {
                continue;
            }
            let remove = vec![(QrOpen::KIND.into(), order.value.id.clone())];
            match self.transaction_by_id(&order.value.id).await? {
                Some(mut txn) if txn.value.status == Status::Pending => {
                    txn.value.status = Status::Declined;
                    txn.value.decline = Some(Reason::Wallet(Decline::WalletUnavailable));
                    let change = Change { puts: vec![txn.update()?], remove_records: remove, ..Change::default() };
                    match self.store().apply(change).await {
                        Ok(()) | Err(StoreError::Rejected(Rejection::Conflict { .. })) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                _ => self.store().apply(Change { remove_records: remove, ..Change::default() }).await?,
            }
            finished += 1;
        }
        Ok(finished)
    }

    /// Waits while a QR transaction is pending (its flow is talking to the wallet), at most the
    /// user-paying wait and the grace after it.
    pub(crate) async fn wait_while_pending(&self, id: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + self.config().qr_user_paying_timeout + self.config().qr_open_grace;
        while tokio::time::Instant::now() < deadline {
            match self.transaction_by_id(id).await? {
                Some(t) if t.value.status == Status::Pending => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                _ => return Ok(()),
            }
        }
        Err(xingtong_merchants::Error::new(
            xingtong_merchants::Class::Conflict,
            "concurrent_update",
            "the QR payment is still waiting for its wallet",
        ))
    }

    /// Cancels an order at its wallet and, once it is, removes its marker (left for
    /// [`Engine::finish_open_qr_orders`] otherwise).
    pub(crate) async fn cancel_and_close(&self, scheme: Scheme, id: &str) -> Result<()> {
        if self.cancel_at_wallet(scheme, id).await {
            self.store()
                .apply(Change { remove_records: vec![(QrOpen::KIND.into(), id.to_owned())], ..Change::default() })
                .await?;
        }
        Ok(())
    }

    /// Tells the wallet of a refund (or a void) of a QR payment that has been committed here, and
    /// crosses it off ([`WalletRefundDue`]) once the wallet has answered. A wallet that cannot be
    /// reached is asked again by [`Engine::finish_open_qr_orders`] every minute until it answers;
    /// one that refuses is logged (the day's reconciliation shows the refund as ours only).
    pub(crate) async fn refund_at_wallet(&self, original: &CardTransaction, refund: &CardTransaction) {
        let Some(due) = due_of(original, refund) else { return };
        if let Err(error) = self.tell_wallet(&due).await {
            tracing::error!(%error, refund = %due.id, "a wallet refund could not be crossed off; it is asked again");
        }
    }

    /// Asks the wallet for one refund; `Ok(true)` once it answered (and the record is gone).
    async fn tell_wallet(&self, due: &WalletRefundDue) -> Result<bool> {
        match self.wallets().refund(due.scheme, &due.order_id, &due.id, due.amount_minor).await {
            Ok(Ok(())) => {}
            Ok(Err(decline)) => {
                tracing::error!(order = %due.order_id, refund = %due.id, code = decline.code(), "the wallet refused a refund we made")
            }
            Err(error) => {
                tracing::warn!(%error, order = %due.order_id, refund = %due.id, "the wallet could not be told of a refund yet");
                return Ok(false);
            }
        }
        let change =
            Change { remove_records: vec![(WalletRefundDue::KIND.into(), due.id.clone())], ..Change::default() };
        self.store().apply(change).await?;
        Ok(true)
    }

    /// Asks the wallets again for the refunds they have not answered yet; how many now did.
    pub async fn retry_wallet_refunds(&self) -> Result<usize> {
        let due: Vec<Stored<WalletRefundDue>> = list(self.store(), RecordQuery::kind(WalletRefundDue::KIND)).await?;
        let mut told = 0;
        for due in due {
            told += usize::from(self.tell_wallet(&due.value).await?);
        }
        Ok(told)
    }
}

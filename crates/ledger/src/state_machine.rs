//! The state machine: apply a batch of account or transfer events to a [`Snapshot`].
//!
//! A batch is applied in three steps, and only the middle one lives here:
//! 1. the caller loads into a [`Snapshot`] every row the batch names ([`Keys::for_transfers`], then
//!    [`Keys::for_pending_accounts`] once the pending transfers are in);
//! 2. [`Snapshot::create_accounts`] or [`Snapshot::create_transfers`] applies the events in order,
//!    returning one result per event and recording what changed in [`Changes`];
//! 3. the caller writes the changes in one database transaction and only then answers.
//!
//! Events succeed or fail one by one, except a `linked` chain, which applies all-or-nothing: the
//! snapshot keeps an undo log while a chain is open and rolls it back if any event fails, so a
//! rejected event leaves the state exactly as it was.

use std::collections::{HashMap, HashSet};

use crate::account::{Account, AccountFlags};
use crate::results::{CreateAccountResult, CreateTransferResult};
use crate::transfer::{AMOUNT_MAX, Transfer, TransferFlags};
use crate::{BATCH_EVENTS_MAX, NS_PER_S};

/// Where a pending transfer stands. Stored by the id of the pending transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingState {
    /// Reserved, not yet resolved.
    Pending,
    /// Resolved by a post.
    Posted,
    /// Resolved by a void.
    Voided,
    /// Resolved by its timeout running out.
    Expired,
}

impl PendingState {
    /// A small stable number for storage.
    pub const fn code(self) -> u8 {
        match self {
            PendingState::Pending => 1,
            PendingState::Posted => 2,
            PendingState::Voided => 3,
            PendingState::Expired => 4,
        }
    }

    /// Reads [`PendingState::code`] back.
    pub const fn from_code(code: u8) -> Option<PendingState> {
        match code {
            1 => Some(PendingState::Pending),
            2 => Some(PendingState::Posted),
            3 => Some(PendingState::Voided),
            4 => Some(PendingState::Expired),
            _ => None,
        }
    }
}

/// A pending transfer's state and deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingStatus {
    /// Where it stands.
    pub state: PendingState,
    /// When it expires, nanoseconds since the epoch; 0 when it never does.
    pub expires_at: u64,
}

/// A batch of one kind of event.
#[derive(Debug, Clone, Copy)]
pub enum Batch<'a> {
    /// Accounts to create.
    Accounts(&'a [Account]),
    /// Transfers to create.
    Transfers(&'a [Transfer]),
}

/// The rows a batch needs in its snapshot.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Account ids.
    pub accounts: Vec<u128>,
    /// Transfer ids: their transfer rows, pending statuses and failure records.
    pub transfers: Vec<u128>,
}

impl Keys {
    /// Round one: every id the events name directly.
    pub fn for_batch(batch: Batch<'_>) -> Keys {
        match batch {
            Batch::Accounts(events) => Keys { accounts: events.iter().map(|a| a.id).collect(), transfers: vec![] },
            Batch::Transfers(events) => Keys::for_transfers(events),
        }
    }

    /// Round one for transfers: ids, pending ids, and both accounts.
    pub fn for_transfers(events: &[Transfer]) -> Keys {
        let mut keys = Keys::default();
        for t in events {
            keys.transfers.push(t.id);
            if t.pending_id != 0 {
                keys.transfers.push(t.pending_id);
            }
            keys.accounts.extend([t.debit_account_id, t.credit_account_id].into_iter().filter(|&id| id != 0));
        }
        keys.dedup();
        keys
    }

    /// Round two: the accounts of pending transfers that round one loaded, which post and void
    /// events need but need not name.
    pub fn for_pending_accounts(snapshot: &Snapshot, events: &[Transfer]) -> Keys {
        let mut keys = Keys::default();
        for t in events.iter().filter(|t| t.pending_id != 0) {
            if let Some(p) = snapshot.transfers.get(&t.pending_id) {
                for id in [p.debit_account_id, p.credit_account_id] {
                    if !snapshot.accounts.contains_key(&id) {
                        keys.accounts.push(id);
                    }
                }
            }
        }
        keys.dedup();
        keys
    }

    /// True when nothing is needed.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.transfers.is_empty()
    }

    fn dedup(&mut self) {
        self.accounts.sort_unstable();
        self.accounts.dedup();
        self.transfers.sort_unstable();
        self.transfers.dedup();
    }
}

/// What a batch changed, for the caller to persist. Account balances are read from the snapshot
/// at write time, so an account touched many times is written once.
#[derive(Debug, Default)]
pub struct Changes {
    /// Accounts created (write their final snapshot value).
    pub accounts_created: Vec<u128>,
    /// Existing accounts whose balances changed (may repeat; dedupe when writing).
    pub accounts_touched: Vec<u128>,
    /// Transfers created, in timestamp order.
    pub transfers: Vec<Transfer>,
    /// Pending statuses created or changed, in order; the last one for an id wins.
    pub pending: Vec<(u128, PendingStatus)>,
    /// Transfer ids that failed transiently, to be remembered.
    pub failed: Vec<(u128, CreateTransferResult)>,
}

impl Changes {
    /// True when nothing needs writing.
    pub fn is_empty(&self) -> bool {
        self.accounts_created.is_empty()
            && self.accounts_touched.is_empty()
            && self.transfers.is_empty()
            && self.pending.is_empty()
            && self.failed.is_empty()
    }

    /// The distinct ids of existing accounts to update, excluding those created in this batch.
    pub fn accounts_to_update(&self) -> Vec<u128> {
        let created: HashSet<u128> = self.accounts_created.iter().copied().collect();
        let mut ids: Vec<u128> = self.accounts_touched.iter().copied().filter(|id| !created.contains(id)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Final pending statuses, one per id.
    pub fn pending_final(&self) -> Vec<(u128, PendingStatus)> {
        let mut last: HashMap<u128, PendingStatus> = HashMap::with_capacity(self.pending.len());
        for (id, status) in &self.pending {
            last.insert(*id, *status);
        }
        let mut out: Vec<_> = last.into_iter().collect();
        out.sort_unstable_by_key(|(id, _)| *id);
        out
    }

    fn lengths(&self) -> [usize; 5] {
        [
            self.accounts_created.len(),
            self.accounts_touched.len(),
            self.transfers.len(),
            self.pending.len(),
            self.failed.len(),
        ]
    }

    fn truncate(&mut self, lengths: [usize; 5]) {
        self.accounts_created.truncate(lengths[0]);
        self.accounts_touched.truncate(lengths[1]);
        self.transfers.truncate(lengths[2]);
        self.pending.truncate(lengths[3]);
        self.failed.truncate(lengths[4]);
    }
}

/// What must be restored if an open linked chain fails.
#[derive(Debug, Default)]
struct Undo {
    accounts: Vec<(u128, Option<Account>)>,
    transfers: Vec<u128>,
    pending: Vec<(u128, Option<PendingStatus>)>,
    change_lengths: [usize; 5],
    sums: Sums,
}

/// Running sums of every balance change; debits and credits must always agree. Kept modulo 2^128
/// (wrapping), which still catches any imbalance smaller than 2^128 and never overflows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sums {
    debits_pending: u128,
    credits_pending: u128,
    debits_posted: u128,
    credits_posted: u128,
}

/// The part of the ledger a batch touches, or all of it.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Accounts by id.
    pub accounts: HashMap<u128, Account>,
    /// Transfers by id (created, or loaded as the keys of a batch).
    pub transfers: HashMap<u128, Transfer>,
    /// Pending statuses by the pending transfer's id.
    pub pending: HashMap<u128, PendingStatus>,
    /// Ids whose creation failed transiently, with the failure.
    pub failed: HashMap<u128, CreateTransferResult>,
    /// The last timestamp handed out; every new one is greater.
    pub last_timestamp: u64,
    undo: Option<Undo>,
    sums: Sums,
}

impl Snapshot {
    /// An empty snapshot whose timestamps continue after `last_timestamp`.
    pub fn new(last_timestamp: u64) -> Snapshot {
        Snapshot { last_timestamp, ..Snapshot::default() }
    }

    /// Forgets transfers, statuses and failures (keeps accounts and the clock), so that a long-lived
    /// snapshot stays as small as the accounts.
    pub fn clear_transfers(&mut self) {
        assert!(self.undo.is_none());
        self.transfers.clear();
        self.pending.clear();
        self.failed.clear();
    }

    /// Reserves `count` timestamps after `now_ns` and after every earlier one; returns the first.
    fn reserve_timestamps(&mut self, now_ns: u64, count: usize) -> u64 {
        let count = count as u64;
        let base = now_ns.max(self.last_timestamp + 1);
        self.last_timestamp = base + count.saturating_sub(1);
        assert!(self.last_timestamp >= base);
        base
    }

    /// Creates accounts; one result per event.
    pub fn create_accounts(
        &mut self,
        events: &[Account],
        now_ns: u64,
        changes: &mut Changes,
    ) -> Vec<CreateAccountResult> {
        assert!(events.len() <= BATCH_EVENTS_MAX);
        let base = self.reserve_timestamps(now_ns, events.len());
        let results = self.run_chains(
            events.len(),
            |i| AccountFlags(events[i].flags.0).has(AccountFlags::LINKED),
            |snapshot, i, changes| snapshot.create_account(&events[i], base + i as u64, changes),
            |_, _, _, _| {},
            changes,
            [
                CreateAccountResult::Ok,
                CreateAccountResult::LinkedEventFailed,
                CreateAccountResult::LinkedEventChainOpen,
            ],
        );
        assert_eq!(results.len(), events.len());
        results
    }

    /// Creates transfers; one result per event.
    pub fn create_transfers(
        &mut self,
        events: &[Transfer],
        now_ns: u64,
        changes: &mut Changes,
    ) -> Vec<CreateTransferResult> {
        assert!(events.len() <= BATCH_EVENTS_MAX);
        let base = self.reserve_timestamps(now_ns, events.len());
        // Reservations past their deadline are released before any event can see them, so that the
        // events themselves stay all-or-nothing.
        let due: Vec<u128> = events
            .iter()
            .filter(|t| t.pending_id != 0)
            .map(|t| t.pending_id)
            .filter(|id| {
                self.pending
                    .get(id)
                    .is_some_and(|s| s.state == PendingState::Pending && s.expires_at != 0 && s.expires_at <= base)
            })
            .collect();
        self.expire(&due, changes);
        let results = self.run_chains(
            events.len(),
            |i| events[i].flags.has(TransferFlags::LINKED),
            |snapshot, i, changes| snapshot.create_transfer(&events[i], base + i as u64, changes),
            // Remembered as soon as its chain settles, so that the same id later in this very batch
            // is refused too.
            |snapshot, i, result, changes| {
                let id = events[i].id;
                if result.is_transient() && !snapshot.failed.contains_key(&id) {
                    snapshot.failed.insert(id, result);
                    changes.failed.push((id, result));
                }
            },
            changes,
            [
                CreateTransferResult::Ok,
                CreateTransferResult::LinkedEventFailed,
                CreateTransferResult::LinkedEventChainOpen,
            ],
        );
        assert_eq!(results.len(), events.len());
        results
    }

    /// Releases the reservations of these pending transfers, which the caller found past their
    /// deadline; ids that are not pending are skipped. Returns how many expired.
    pub fn expire(&mut self, ids: &[u128], changes: &mut Changes) -> usize {
        let mut expired = 0;
        for &id in ids {
            let Some(status) = self.pending.get(&id).copied() else {
                continue;
            };
            if status.state != PendingState::Pending {
                continue;
            }
            let p = *self.transfers.get(&id).expect("a pending status has its transfer loaded");
            let mut dr = *self.accounts.get(&p.debit_account_id).expect("pending transfer's debit account is loaded");
            let mut cr = *self.accounts.get(&p.credit_account_id).expect("pending transfer's credit account is loaded");
            dr.debits_pending -= p.amount;
            cr.credits_pending -= p.amount;
            self.sums.debits_pending = self.sums.debits_pending.wrapping_sub(p.amount);
            self.sums.credits_pending = self.sums.credits_pending.wrapping_sub(p.amount);
            self.put_account(dr, changes, false);
            self.put_account(cr, changes, false);
            self.put_pending(id, PendingStatus { state: PendingState::Expired, ..status }, changes);
            expired += 1;
        }
        self.assert_sums();
        expired
    }

    /// Applies events one chain at a time. `outcomes` is `[ok, linked_event_failed, chain_open]`.
    fn run_chains<R: Copy + PartialEq>(
        &mut self,
        count: usize,
        linked: impl Fn(usize) -> bool,
        mut apply: impl FnMut(&mut Snapshot, usize, &mut Changes) -> R,
        mut settled: impl FnMut(&mut Snapshot, usize, R, &mut Changes),
        changes: &mut Changes,
        outcomes: [R; 3],
    ) -> Vec<R> {
        let [ok, failed, open] = outcomes;
        let mut results = Vec::with_capacity(count);
        let mut start = 0;
        while start < count {
            let mut end = start;
            while end < count && linked(end) {
                end += 1;
            }
            if end == count {
                // The batch ends inside a chain: nothing of it applies.
                results.extend(std::iter::repeat_n(failed, count - 1 - start));
                results.push(open);
                break;
            }
            if start == end {
                // A lone event validates everything before it mutates anything.
                let result = apply(self, start, changes);
                settled(self, start, result, changes);
                results.push(result);
            } else {
                self.begin_chain(changes);
                let mut chain = Vec::with_capacity(end - start + 1);
                for i in start..=end {
                    let result = apply(self, i, changes);
                    chain.push(result);
                    if result != ok {
                        break;
                    }
                }
                if chain.last() == Some(&ok) {
                    self.undo = None;
                } else {
                    self.rollback_chain(changes);
                    let failure = *chain.last().expect("a chain has at least one event");
                    let failed_at = start + chain.len() - 1;
                    chain = (start..=end).map(|i| if i == failed_at { failure } else { failed }).collect();
                    settled(self, failed_at, failure, changes);
                }
                results.extend(chain);
            }
            start = end + 1;
        }
        self.assert_sums();
        results
    }

    fn begin_chain(&mut self, changes: &Changes) {
        assert!(self.undo.is_none());
        self.undo = Some(Undo { change_lengths: changes.lengths(), sums: self.sums, ..Undo::default() });
    }

    fn rollback_chain(&mut self, changes: &mut Changes) {
        let undo = self.undo.take().expect("a chain is open");
        for (id, old) in undo.accounts.into_iter().rev() {
            match old {
                Some(account) => self.accounts.insert(id, account),
                None => self.accounts.remove(&id),
            };
        }
        for id in undo.transfers {
            self.transfers.remove(&id);
        }
        for (id, old) in undo.pending.into_iter().rev() {
            match old {
                Some(status) => self.pending.insert(id, status),
                None => self.pending.remove(&id),
            };
        }
        changes.truncate(undo.change_lengths);
        self.sums = undo.sums;
    }

    fn put_account(&mut self, account: Account, changes: &mut Changes, created: bool) {
        let old = self.accounts.insert(account.id, account);
        if let Some(undo) = &mut self.undo {
            undo.accounts.push((account.id, old));
        }
        if created {
            changes.accounts_created.push(account.id);
        } else {
            changes.accounts_touched.push(account.id);
        }
        // Limits hold after every write (invariant 2), in release builds too.
        let flags = account.flags;
        if flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) {
            assert!(account.debits_pending + account.debits_posted <= account.credits_posted);
        }
        if flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) {
            assert!(account.credits_pending + account.credits_posted <= account.debits_posted);
        }
    }

    fn put_transfer(&mut self, transfer: Transfer, changes: &mut Changes) {
        let old = self.transfers.insert(transfer.id, transfer);
        assert!(old.is_none(), "transfers are immutable");
        if let Some(undo) = &mut self.undo {
            undo.transfers.push(transfer.id);
        }
        changes.transfers.push(transfer);
    }

    fn put_pending(&mut self, id: u128, status: PendingStatus, changes: &mut Changes) {
        let old = self.pending.insert(id, status);
        if let Some(undo) = &mut self.undo {
            undo.pending.push((id, old));
        }
        changes.pending.push((id, status));
    }

    fn assert_sums(&self) {
        // Invariant 1 for the batch: every change moved as much on the debit side as on the credit side.
        assert_eq!(self.sums.debits_pending, self.sums.credits_pending);
        assert_eq!(self.sums.debits_posted, self.sums.credits_posted);
    }

    fn create_account(&mut self, a: &Account, timestamp: u64, changes: &mut Changes) -> CreateAccountResult {
        use CreateAccountResult as R;
        if a.timestamp != 0 {
            return R::TimestampMustBeZero;
        }
        if a.flags.0 & !AccountFlags::ALL != 0 {
            return R::ReservedFlag;
        }
        if a.id == 0 {
            return R::IdMustNotBeZero;
        }
        if a.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if let Some(e) = self.accounts.get(&a.id) {
            return account_exists(a, e);
        }
        if a.flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && a.flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        {
            return R::FlagsAreMutuallyExclusive;
        }
        if !a.balances_are_zero() {
            return R::BalancesMustBeZero;
        }
        if a.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if a.code == 0 {
            return R::CodeMustNotBeZero;
        }
        let account = Account { flags: a.flags.without_linked(), timestamp, ..*a };
        self.put_account(account, changes, true);
        R::Ok
    }

    fn create_transfer(&mut self, t: &Transfer, timestamp: u64, changes: &mut Changes) -> CreateTransferResult {
        use CreateTransferResult as R;
        if t.timestamp != 0 {
            return R::TimestampMustBeZero;
        }
        if t.flags.0 & !TransferFlags::ALL != 0 {
            return R::ReservedFlag;
        }
        if t.id == 0 {
            return R::IdMustNotBeZero;
        }
        if t.id == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if self.failed.contains_key(&t.id) {
            return R::IdAlreadyFailed;
        }
        let flags = t.flags;
        let post = flags.has(TransferFlags::POST_PENDING_TRANSFER);
        let void = flags.has(TransferFlags::VOID_PENDING_TRANSFER);
        if (post && void)
            || (flags.has(TransferFlags::PENDING) && (post || void))
            || (flags.balancing() && (post || void))
        {
            return R::FlagsAreMutuallyExclusive;
        }
        if let Some(e) = self.transfers.get(&t.id) {
            return if flags.resolves_pending() { resolution_exists(t, e) } else { transfer_exists(t, e) };
        }
        if flags.resolves_pending() {
            return self.resolve_pending(t, timestamp, changes);
        }
        if t.debit_account_id == 0 {
            return R::DebitAccountIdMustNotBeZero;
        }
        if t.debit_account_id == u128::MAX {
            return R::DebitAccountIdMustNotBeIntMax;
        }
        if t.credit_account_id == 0 {
            return R::CreditAccountIdMustNotBeZero;
        }
        if t.credit_account_id == u128::MAX {
            return R::CreditAccountIdMustNotBeIntMax;
        }
        if t.debit_account_id == t.credit_account_id {
            return R::AccountsMustBeDifferent;
        }
        if t.pending_id != 0 {
            return R::PendingIdMustBeZero;
        }
        let pending = flags.has(TransferFlags::PENDING);
        if t.timeout != 0 && !pending {
            return R::TimeoutReservedForPendingTransfer;
        }
        if t.ledger == 0 {
            return R::LedgerMustNotBeZero;
        }
        if t.code == 0 {
            return R::CodeMustNotBeZero;
        }
        let Some(mut dr) = self.accounts.get(&t.debit_account_id).copied() else {
            return R::DebitAccountNotFound;
        };
        let Some(mut cr) = self.accounts.get(&t.credit_account_id).copied() else {
            return R::CreditAccountNotFound;
        };
        if dr.ledger != cr.ledger {
            return R::AccountsMustHaveTheSameLedger;
        }
        if t.ledger != dr.ledger {
            return R::TransferMustHaveTheSameLedgerAsAccounts;
        }
        let mut amount = t.amount;
        if flags.has(TransferFlags::BALANCING_DEBIT) {
            let used = dr.debits_pending.saturating_add(dr.debits_posted);
            amount = amount.min(dr.credits_posted.saturating_sub(used));
        }
        if flags.has(TransferFlags::BALANCING_CREDIT) {
            let used = cr.credits_pending.saturating_add(cr.credits_posted);
            amount = amount.min(cr.debits_posted.saturating_sub(used));
        }
        if pending {
            if dr.debits_pending.checked_add(amount).is_none() {
                return R::OverflowsDebitsPending;
            }
            if cr.credits_pending.checked_add(amount).is_none() {
                return R::OverflowsCreditsPending;
            }
        } else {
            if dr.debits_posted.checked_add(amount).is_none() {
                return R::OverflowsDebitsPosted;
            }
            if cr.credits_posted.checked_add(amount).is_none() {
                return R::OverflowsCreditsPosted;
            }
        }
        let Some(dr_debits) = dr.debits_pending.checked_add(dr.debits_posted).and_then(|d| d.checked_add(amount))
        else {
            return R::OverflowsDebits;
        };
        let Some(cr_credits) = cr.credits_pending.checked_add(cr.credits_posted).and_then(|c| c.checked_add(amount))
        else {
            return R::OverflowsCredits;
        };
        let expires_at = if pending && t.timeout != 0 {
            match u64::from(t.timeout).checked_mul(NS_PER_S).and_then(|ns| ns.checked_add(timestamp)) {
                Some(at) => at,
                None => return R::OverflowsTimeout,
            }
        } else {
            0
        };
        if dr.flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS) && dr_debits > dr.credits_posted {
            return R::ExceedsCredits;
        }
        if cr.flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS) && cr_credits > cr.debits_posted {
            return R::ExceedsDebits;
        }

        // Every check passed: mutate.
        if pending {
            dr.debits_pending += amount;
            cr.credits_pending += amount;
            self.sums.debits_pending = self.sums.debits_pending.wrapping_add(amount);
            self.sums.credits_pending = self.sums.credits_pending.wrapping_add(amount);
        } else {
            dr.debits_posted += amount;
            cr.credits_posted += amount;
            self.sums.debits_posted = self.sums.debits_posted.wrapping_add(amount);
            self.sums.credits_posted = self.sums.credits_posted.wrapping_add(amount);
        }
        self.put_account(dr, changes, false);
        self.put_account(cr, changes, false);
        let stored = Transfer { amount, flags: TransferFlags(flags.0 & !TransferFlags::LINKED), timestamp, ..*t };
        self.put_transfer(stored, changes);
        if pending {
            self.put_pending(t.id, PendingStatus { state: PendingState::Pending, expires_at }, changes);
        }
        R::Ok
    }

    fn resolve_pending(&mut self, t: &Transfer, timestamp: u64, changes: &mut Changes) -> CreateTransferResult {
        use CreateTransferResult as R;
        let post = t.flags.has(TransferFlags::POST_PENDING_TRANSFER);
        if t.pending_id == 0 {
            return R::PendingIdMustNotBeZero;
        }
        if t.pending_id == u128::MAX {
            return R::PendingIdMustNotBeIntMax;
        }
        if t.pending_id == t.id {
            return R::PendingIdMustBeDifferent;
        }
        if t.timeout != 0 {
            return R::TimeoutReservedForPendingTransfer;
        }
        let Some(p) = self.transfers.get(&t.pending_id).copied() else {
            return R::PendingTransferNotFound;
        };
        if !p.flags.has(TransferFlags::PENDING) {
            return R::PendingTransferNotPending;
        }
        if t.debit_account_id != 0 && t.debit_account_id != p.debit_account_id {
            return R::PendingTransferHasDifferentDebitAccountId;
        }
        if t.credit_account_id != 0 && t.credit_account_id != p.credit_account_id {
            return R::PendingTransferHasDifferentCreditAccountId;
        }
        if t.ledger != 0 && t.ledger != p.ledger {
            return R::PendingTransferHasDifferentLedger;
        }
        if t.code != 0 && t.code != p.code {
            return R::PendingTransferHasDifferentCode;
        }
        let amount = if post {
            if t.amount == AMOUNT_MAX {
                p.amount
            } else if t.amount > p.amount {
                return R::ExceedsPendingTransferAmount;
            } else {
                t.amount
            }
        } else {
            if t.amount != 0 && t.amount != AMOUNT_MAX && t.amount != p.amount {
                return R::PendingTransferHasDifferentAmount;
            }
            p.amount
        };
        let status = *self.pending.get(&p.id).expect("a pending transfer has a status");
        match status.state {
            PendingState::Pending => {}
            PendingState::Posted => return R::PendingTransferAlreadyPosted,
            PendingState::Voided => return R::PendingTransferAlreadyVoided,
            PendingState::Expired => return R::PendingTransferExpired,
        }
        let mut dr = *self.accounts.get(&p.debit_account_id).expect("pending transfer's debit account is loaded");
        let mut cr = *self.accounts.get(&p.credit_account_id).expect("pending transfer's credit account is loaded");
        assert!(dr.debits_pending >= p.amount && cr.credits_pending >= p.amount);
        if post {
            if dr.debits_posted.checked_add(amount).is_none() {
                return R::OverflowsDebitsPosted;
            }
            if cr.credits_posted.checked_add(amount).is_none() {
                return R::OverflowsCreditsPosted;
            }
        }

        // Every check passed: release the reservation and, for a post, move the posted amount.
        dr.debits_pending -= p.amount;
        cr.credits_pending -= p.amount;
        self.sums.debits_pending = self.sums.debits_pending.wrapping_sub(p.amount);
        self.sums.credits_pending = self.sums.credits_pending.wrapping_sub(p.amount);
        if post {
            dr.debits_posted += amount;
            cr.credits_posted += amount;
            self.sums.debits_posted = self.sums.debits_posted.wrapping_add(amount);
            self.sums.credits_posted = self.sums.credits_posted.wrapping_add(amount);
        }
        self.put_account(dr, changes, false);
        self.put_account(cr, changes, false);
        let inherit = |own: u128, pending: u128| if own == 0 { pending } else { own };
        let stored = Transfer {
            id: t.id,
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            pending_id: p.id,
            user_data_128: inherit(t.user_data_128, p.user_data_128),
            user_data_64: if t.user_data_64 == 0 { p.user_data_64 } else { t.user_data_64 },
            user_data_32: if t.user_data_32 == 0 { p.user_data_32 } else { t.user_data_32 },
            timeout: 0,
            ledger: p.ledger,
            code: p.code,
            flags: TransferFlags(t.flags.0 & !TransferFlags::LINKED),
            timestamp,
        };
        self.put_transfer(stored, changes);
        let state = if post { PendingState::Posted } else { PendingState::Voided };
        self.put_pending(p.id, PendingStatus { state, ..status }, changes);
        R::Ok
    }
}

fn account_exists(a: &Account, e: &Account) -> CreateAccountResult {
    use CreateAccountResult as R;
    if a.flags.without_linked() != e.flags.without_linked() {
        R::ExistsWithDifferentFlags
    } else if a.user_data_128 != e.user_data_128 {
        R::ExistsWithDifferentUserData128
    } else if a.user_data_64 != e.user_data_64 {
        R::ExistsWithDifferentUserData64
    } else if a.user_data_32 != e.user_data_32 {
        R::ExistsWithDifferentUserData32
    } else if a.ledger != e.ledger {
        R::ExistsWithDifferentLedger
    } else if a.code != e.code {
        R::ExistsWithDifferentCode
    } else {
        R::Exists
    }
}

fn without_linked(flags: TransferFlags) -> TransferFlags {
    TransferFlags(flags.0 & !TransferFlags::LINKED)
}

fn transfer_exists(t: &Transfer, e: &Transfer) -> CreateTransferResult {
    use CreateTransferResult as R;
    let amount_differs = if t.flags.balancing() { t.amount < e.amount } else { t.amount != e.amount };
    if without_linked(t.flags) != without_linked(e.flags) {
        R::ExistsWithDifferentFlags
    } else if t.pending_id != e.pending_id {
        R::ExistsWithDifferentPendingId
    } else if t.timeout != e.timeout {
        R::ExistsWithDifferentTimeout
    } else if t.debit_account_id != e.debit_account_id {
        R::ExistsWithDifferentDebitAccountId
    } else if t.credit_account_id != e.credit_account_id {
        R::ExistsWithDifferentCreditAccountId
    } else if amount_differs {
        R::ExistsWithDifferentAmount
    } else {
        user_data_ledger_code_exists(t, e, false)
    }
}

/// Like [`transfer_exists`] for post and void, whose zero fields were filled in from the pending transfer.
fn resolution_exists(t: &Transfer, e: &Transfer) -> CreateTransferResult {
    use CreateTransferResult as R;
    let post = t.flags.has(TransferFlags::POST_PENDING_TRANSFER);
    let amount_differs = if post {
        t.amount != AMOUNT_MAX && t.amount != e.amount
    } else {
        t.amount != 0 && t.amount != AMOUNT_MAX && t.amount != e.amount
    };
    if without_linked(t.flags) != without_linked(e.flags) {
        R::ExistsWithDifferentFlags
    } else if t.pending_id != e.pending_id {
        R::ExistsWithDifferentPendingId
    } else if t.timeout != e.timeout {
        R::ExistsWithDifferentTimeout
    } else if t.debit_account_id != 0 && t.debit_account_id != e.debit_account_id {
        R::ExistsWithDifferentDebitAccountId
    } else if t.credit_account_id != 0 && t.credit_account_id != e.credit_account_id {
        R::ExistsWithDifferentCreditAccountId
    } else if amount_differs {
        R::ExistsWithDifferentAmount
    } else {
        user_data_ledger_code_exists(t, e, true)
    }
}

fn user_data_ledger_code_exists(t: &Transfer, e: &Transfer, zero_inherits: bool) -> CreateTransferResult {
    use CreateTransferResult as R;
    let differs_128 = t.user_data_128 != e.user_data_128 && !(zero_inherits && t.user_data_128 == 0);
    let differs_64 = t.user_data_64 != e.user_data_64 && !(zero_inherits && t.user_data_64 == 0);
    let differs_32 = t.user_data_32 != e.user_data_32 && !(zero_inherits && t.user_data_32 == 0);
    if differs_128 {
        R::ExistsWithDifferentUserData128
    } else if differs_64 {
        R::ExistsWithDifferentUserData64
    } else if differs_32 {
        R::ExistsWithDifferentUserData32
    } else if t.ledger != e.ledger && !(zero_inherits && t.ledger == 0) {
        R::ExistsWithDifferentLedger
    } else if t.code != e.code && !(zero_inherits && t.code == 0) {
        R::ExistsWithDifferentCode
    } else {
        R::Exists
    }
}

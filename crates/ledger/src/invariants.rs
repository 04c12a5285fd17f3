//! The ledger's invariants, checked over a whole state (ledger.md §5). The state machine asserts
//! the cheap ones on every write; this module checks all of them over everything, for property
//! tests and for the storage audit at start-up and in the conformance suite.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::account::{Account, AccountFlags};
use crate::state_machine::{PendingState, PendingStatus};
use crate::transfer::{Transfer, TransferFlags};

/// A broken invariant, described for a human.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ledger invariant broken: {0}")]
pub struct Violation(pub String);

/// Totals of one ledger (currency), modulo 2^128.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LedgerTotals {
    /// Σ debits_pending.
    pub debits_pending: u128,
    /// Σ credits_pending.
    pub credits_pending: u128,
    /// Σ debits_posted.
    pub debits_posted: u128,
    /// Σ credits_posted.
    pub credits_posted: u128,
}

/// Invariants 1 and 2 over accounts alone: per ledger, Σ debits = Σ credits (pending and posted),
/// and every flagged account within its limit. Returns the per-ledger totals.
pub fn check_accounts<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
) -> Result<BTreeMap<u32, LedgerTotals>, Violation> {
    let mut totals: BTreeMap<u32, LedgerTotals> = BTreeMap::new();
    for a in accounts {
        let t = totals.entry(a.ledger).or_default();
        // Modulo 2^128: many accounts near u128::MAX may legitimately sum past it, and equality
        // modulo 2^128 still exposes any imbalance a single transfer could cause.
        t.debits_pending = t.debits_pending.wrapping_add(a.debits_pending);
        t.credits_pending = t.credits_pending.wrapping_add(a.credits_pending);
        t.debits_posted = t.debits_posted.wrapping_add(a.debits_posted);
        t.credits_posted = t.credits_posted.wrapping_add(a.credits_posted);
        if a.flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && a.debits_pending.saturating_add(a.debits_posted) > a.credits_posted
        {
            return Err(Violation(format!("account {:x} debits exceed its credits", a.id)));
        }
        if a.flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            && a.credits_pending.saturating_add(a.credits_posted) > a.debits_posted
        {
            return Err(Violation(format!("account {:x} credits exceed its debits", a.id)));
        }
    }
    for (ledger, t) in &totals {
        if t.debits_pending != t.credits_pending {
            return Err(Violation(format!(
                "ledger {ledger}: pending debits {} ≠ pending credits {}",
                t.debits_pending, t.credits_pending
            )));
        }
        if t.debits_posted != t.credits_posted {
            return Err(Violation(format!(
                "ledger {ledger}: posted debits {} ≠ posted credits {}",
                t.debits_posted, t.credits_posted
            )));
        }
    }
    Ok(totals)
}

/// Every invariant over a complete state: 1 and 2 as [`check_accounts`]; 3 and 6, balances equal a
/// replay of the transfer log with pending balances equal to the open reservations; 7, timestamps
/// unique and no transfer crossing ledgers.
pub fn check_full(
    accounts: &HashMap<u128, Account>,
    transfers: &HashMap<u128, Transfer>,
    pending: &HashMap<u128, PendingStatus>,
) -> Result<(), Violation> {
    check_accounts(accounts.values())?;
    let mut replay: HashMap<u128, Account> = accounts
        .values()
        .map(|a| (a.id, Account { debits_pending: 0, debits_posted: 0, credits_pending: 0, credits_posted: 0, ..*a }))
        .collect();
    let mut timestamps = HashSet::with_capacity(transfers.len() + accounts.len());
    for a in accounts.values() {
        if !timestamps.insert(a.timestamp) {
            return Err(Violation(format!("timestamp {} used twice", a.timestamp)));
        }
    }
    for t in transfers.values() {
        if !timestamps.insert(t.timestamp) {
            return Err(Violation(format!("timestamp {} used twice", t.timestamp)));
        }
        let (dr, cr) = (accounts.get(&t.debit_account_id), accounts.get(&t.credit_account_id));
        let (Some(dr), Some(cr)) = (dr, cr) else {
            return Err(Violation(format!("transfer {:x} names a missing account", t.id)));
        };
        if dr.ledger != t.ledger || cr.ledger != t.ledger {
            return Err(Violation(format!("transfer {:x} crosses ledgers", t.id)));
        }
        if dr.timestamp >= t.timestamp || cr.timestamp >= t.timestamp {
            return Err(Violation(format!("transfer {:x} is older than its accounts", t.id)));
        }
        let posts = if t.flags.has(TransferFlags::PENDING) {
            let status =
                pending.get(&t.id).ok_or_else(|| Violation(format!("pending transfer {:x} has no status", t.id)))?;
            if status.state == PendingState::Pending {
                replay.get_mut(&t.debit_account_id).expect("checked above").debits_pending += t.amount;
                replay.get_mut(&t.credit_account_id).expect("checked above").credits_pending += t.amount;
            }
            false
        } else {
            !t.flags.has(TransferFlags::VOID_PENDING_TRANSFER)
        };
        if posts {
            replay.get_mut(&t.debit_account_id).expect("checked above").debits_posted += t.amount;
            replay.get_mut(&t.credit_account_id).expect("checked above").credits_posted += t.amount;
        }
        if t.flags.has(TransferFlags::POST_PENDING_TRANSFER) {
            let p = transfers
                .get(&t.pending_id)
                .ok_or_else(|| Violation(format!("post {:x} of a missing pending transfer", t.id)))?;
            if t.amount > p.amount {
                return Err(Violation(format!("post {:x} exceeds its pending transfer", t.id)));
            }
        }
    }
    for a in accounts.values() {
        let r = &replay[&a.id];
        if (r.debits_pending, r.debits_posted, r.credits_pending, r.credits_posted)
            != (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
        {
            return Err(Violation(format!("account {:x} balances differ from a replay of its transfers", a.id)));
        }
    }
    Ok(())
}

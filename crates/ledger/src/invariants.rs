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

impl LedgerTotals {
    /// Adds an account's balances. Modulo 2^128: many accounts near u128::MAX may legitimately
    /// sum past it, and equality modulo 2^128 still exposes any imbalance a single transfer could
    /// cause.
    fn add(&mut self, a: &Account) {
        self.debits_pending = self.debits_pending.wrapping_add(a.debits_pending);
        self.credits_pending = self.credits_pending.wrapping_add(a.credits_pending);
        self.debits_posted = self.debits_posted.wrapping_add(a.debits_posted);
        self.credits_posted = self.credits_posted.wrapping_add(a.credits_posted);
    }
}

/// Invariants 1 and 2 over accounts alone: per ledger, Σ debits = Σ credits (pending and posted),
/// and every flagged account within its limit. Returns the per-ledger totals.
pub fn check_accounts<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
) -> Result<BTreeMap<u32, LedgerTotals>, Violation> {
    let mut totals: BTreeMap<u32, LedgerTotals> = BTreeMap::new();
    for a in accounts {
        totals.entry(a.ledger).or_default().add(a);
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

/// The four balances of an account.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Balances {
    /// Pending debits.
    pub debits_pending: u128,
    /// Posted debits.
    pub debits_posted: u128,
    /// Pending credits.
    pub credits_pending: u128,
    /// Posted credits.
    pub credits_posted: u128,
}

impl Balances {
    /// An account's stored balances.
    pub fn of(a: &Account) -> Balances {
        Balances {
            debits_pending: a.debits_pending,
            debits_posted: a.debits_posted,
            credits_pending: a.credits_pending,
            credits_posted: a.credits_posted,
        }
    }
}

/// An account whose stored balances are not what its transfers add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDifference {
    /// The account.
    pub id: u128,
    /// Its ledger.
    pub ledger: u32,
    /// Its code in the chart of accounts.
    pub code: u16,
    /// What the account row says.
    pub stored: Balances,
    /// What a replay of the transfer log says.
    pub replayed: Balances,
    /// How many transfers touch it.
    pub transfers: usize,
    /// The last of them (at most [`EXPLAIN_TRANSFERS_MAX`], newest last): the likeliest culprits.
    pub last_transfers: Vec<u128>,
}

/// What an explanation lists of each account's transfers.
pub const EXPLAIN_TRANSFERS_MAX: usize = 10;

/// Everything that disagrees in a ledger, for a person to act on; nothing is repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// Accounts read.
    pub accounts: u64,
    /// Transfers read.
    pub transfers: u64,
    /// Per-ledger totals of the stored balances; a ledger whose debits and credits differ is
    /// listed in `unbalanced_ledgers`.
    pub ledgers: Vec<(u32, LedgerTotals)>,
    /// Ledgers whose stored debits and credits (pending or posted) differ.
    pub unbalanced_ledgers: Vec<u32>,
    /// Accounts whose stored balances differ from their transfers.
    pub accounts_differing: Vec<AccountDifference>,
    /// Accounts over the limit their flags set.
    pub accounts_over_limit: Vec<u128>,
    /// Transfers that cannot be replayed: a missing account, a post or void of a missing pending
    /// transfer, a pending transfer with no status; each with the reason.
    pub transfers_unreplayable: Vec<(u128, String)>,
}

impl Explanation {
    /// True when nothing disagrees.
    pub fn is_consistent(&self) -> bool {
        self.unbalanced_ledgers.is_empty()
            && self.accounts_differing.is_empty()
            && self.accounts_over_limit.is_empty()
            && self.transfers_unreplayable.is_empty()
    }
}

/// Explains a stored ledger: replays every transfer (in timestamp order) over the accounts and
/// compares each account's stored balances with the replay, and checks each ledger's totals and
/// each account's limit. Unlike [`check_full`] it does not stop at the first problem: it is what
/// an operator reads when the start-up audit fails (`xingtong admin audit --explain`).
pub fn explain(accounts: &[Account], transfers: &[Transfer], pending: &HashMap<u128, PendingStatus>) -> Explanation {
    let mut out =
        Explanation { accounts: accounts.len() as u64, transfers: transfers.len() as u64, ..Default::default() };
    let mut totals: BTreeMap<u32, LedgerTotals> = BTreeMap::new();
    for a in accounts {
        totals.entry(a.ledger).or_default().add(a);
        let over = (a.flags.has(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && a.debits_pending.saturating_add(a.debits_posted) > a.credits_posted)
            || (a.flags.has(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
                && a.credits_pending.saturating_add(a.credits_posted) > a.debits_posted);
        if over {
            out.accounts_over_limit.push(a.id);
        }
    }
    out.unbalanced_ledgers = totals
        .iter()
        .filter(|(_, t)| t.debits_pending != t.credits_pending || t.debits_posted != t.credits_posted)
        .map(|(ledger, _)| *ledger)
        .collect();
    out.ledgers = totals.into_iter().collect();

    let mut replay: HashMap<u128, (Balances, usize, Vec<u128>)> =
        accounts.iter().map(|a| (a.id, (Balances::default(), 0, Vec::new()))).collect();
    // Wrapping: the stored data may be corrupt, and an explanation must never panic.
    let add = |replay: &mut HashMap<u128, (Balances, usize, Vec<u128>)>, t: &Transfer, pending: bool| {
        let debit = &mut replay.get_mut(&t.debit_account_id).expect("checked before").0;
        if pending {
            debit.debits_pending = debit.debits_pending.wrapping_add(t.amount);
        } else {
            debit.debits_posted = debit.debits_posted.wrapping_add(t.amount);
        }
        let credit = &mut replay.get_mut(&t.credit_account_id).expect("checked before").0;
        if pending {
            credit.credits_pending = credit.credits_pending.wrapping_add(t.amount);
        } else {
            credit.credits_posted = credit.credits_posted.wrapping_add(t.amount);
        }
    };
    let by_id: HashMap<u128, &Transfer> = transfers.iter().map(|t| (t.id, t)).collect();
    let mut ordered: Vec<&Transfer> = transfers.iter().collect();
    ordered.sort_by_key(|t| t.timestamp);
    for t in ordered {
        if !replay.contains_key(&t.debit_account_id) || !replay.contains_key(&t.credit_account_id) {
            out.transfers_unreplayable.push((t.id, "names an account that does not exist".into()));
            continue;
        }
        for side in [t.debit_account_id, t.credit_account_id] {
            let (_, count, last) = replay.get_mut(&side).expect("checked above");
            *count += 1;
            if last.len() == EXPLAIN_TRANSFERS_MAX {
                last.remove(0);
            }
            last.push(t.id);
        }
        let resolving =
            t.flags.has(TransferFlags::POST_PENDING_TRANSFER) || t.flags.has(TransferFlags::VOID_PENDING_TRANSFER);
        if t.flags.has(TransferFlags::PENDING) {
            match pending.get(&t.id) {
                None => out.transfers_unreplayable.push((t.id, "a pending transfer with no status".into())),
                // Still reserved: it counts as pending. Posted, voided or expired: its resolution
                // (or the expiry, which leaves no transfer) took it out of the pending balances.
                Some(status) if status.state == PendingState::Pending => {
                    add(&mut replay, t, true);
                }
                Some(_) => {}
            }
        } else if resolving {
            if !by_id.get(&t.pending_id).is_some_and(|p| p.flags.has(TransferFlags::PENDING)) {
                out.transfers_unreplayable
                    .push((t.id, format!("resolves {:x}, which is not a pending transfer", t.pending_id)));
                continue;
            }
            if t.flags.has(TransferFlags::POST_PENDING_TRANSFER) {
                add(&mut replay, t, false);
            }
        } else {
            add(&mut replay, t, false);
        }
    }
    for a in accounts {
        let (replayed, count, last) = &replay[&a.id];
        if Balances::of(a) != *replayed {
            out.accounts_differing.push(AccountDifference {
                id: a.id,
                ledger: a.ledger,
                code: a.code,
                stored: Balances::of(a),
                replayed: *replayed,
                transfers: *count,
                last_transfers: last.clone(),
            });
        }
    }
    out
}

//! Model-based property test, after TigerBeetle's auditor: random batches run through the real state
//! machine while a naive model, written separately and as plainly as possible, judges every result.
//!
//! The model does not re-derive the exact result code (that would be a second copy of the state
//! machine); it checks that every accepted event was valid and that every rejection names a reason
//! that truly holds in the model's state, that chains are all-or-nothing, and that after every batch
//! each account's balances equal the model's and every invariant holds.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use xingtong_ledger::invariants::{check_full, explain};
use xingtong_ledger::{
    AMOUNT_MAX, Account, AccountFlags, Changes, CreateAccountResult, CreateTransferResult, NS_PER_S, PendingState,
    Snapshot, Transfer, TransferFlags,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Pending,
    Posted,
    Voided,
    Expired,
}

#[derive(Debug, Clone, Default)]
struct Model {
    /// id → (ledger, flags, [debits_pending, debits_posted, credits_pending, credits_posted])
    accounts: BTreeMap<u128, (u32, u16, [u128; 4])>,
    /// id → stored transfer as the core reported it, plus the pending state for pending ones.
    transfers: BTreeMap<u128, (Transfer, Option<(State, u64)>)>,
    failed: BTreeSet<u128>,
}

const DP: usize = 0;
const DPO: usize = 1;
const CP: usize = 2;
const CPO: usize = 3;

impl Model {
    fn flag(&self, id: u128, flag: u16) -> bool {
        self.accounts.get(&id).is_some_and(|a| a.1 & flag != 0)
    }

    fn within_limits(&self, id: u128) -> bool {
        let (_, flags, b) = self.accounts[&id];
        let debit_ok = flags & AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS == 0
            || b[DP].checked_add(b[DPO]).is_some_and(|d| d <= b[CPO]);
        let credit_ok = flags & AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS == 0
            || b[CP].checked_add(b[CPO]).is_some_and(|c| c <= b[DPO]);
        debit_ok && credit_ok
    }

    /// Applies a transfer the core accepted (as the core stored it), asserting it was valid.
    fn accept(&mut self, request: &Transfer, stored: &Transfer) {
        let f = request.flags;
        assert!(!self.transfers.contains_key(&request.id), "accepted a duplicate id");
        assert!(!self.failed.contains(&request.id), "accepted a failed id");
        assert!(request.id != 0 && request.id != u128::MAX && request.timestamp == 0);
        assert_eq!(f.0 & !TransferFlags::ALL, 0);
        assert_eq!(stored.amount, scratch_stored(self, request).amount, "the model computes another amount");
        let (dr, cr) = (stored.debit_account_id, stored.credit_account_id);
        assert!(
            dr != cr && self.accounts.contains_key(&dr) && self.accounts.contains_key(&cr),
            "accepted without accounts"
        );
        assert!(
            self.accounts[&dr].0 == stored.ledger && self.accounts[&cr].0 == stored.ledger,
            "accepted across ledgers"
        );
        let add = |v: &mut u128, x: u128| *v = v.checked_add(x).expect("accepted an overflow");
        let sub = |v: &mut u128, x: u128| *v = v.checked_sub(x).expect("released more than reserved");
        if f.resolves_pending() {
            let (p, state) = *self.transfers.get(&request.pending_id).expect("resolved a missing pending transfer");
            let (state, _) = state.expect("resolved a transfer that was not pending");
            assert_eq!(state, State::Pending, "resolved twice");
            assert!(
                stored.amount <= p.amount
                    && (request.amount == AMOUNT_MAX
                        || request.amount == stored.amount
                        || f.has(TransferFlags::VOID_PENDING_TRANSFER))
            );
            sub(&mut self.accounts.get_mut(&dr).unwrap().2[DP], p.amount);
            sub(&mut self.accounts.get_mut(&cr).unwrap().2[CP], p.amount);
            let post = f.has(TransferFlags::POST_PENDING_TRANSFER);
            if post {
                add(&mut self.accounts.get_mut(&dr).unwrap().2[DPO], stored.amount);
                add(&mut self.accounts.get_mut(&cr).unwrap().2[CPO], stored.amount);
            }
            self.transfers.get_mut(&p.id).unwrap().1.as_mut().unwrap().0 =
                if post { State::Posted } else { State::Voided };
            self.transfers.insert(request.id, (*stored, None));
        } else {
            assert!(request.pending_id == 0 && request.ledger != 0 && request.code != 0);
            if f.balancing() {
                assert!(stored.amount <= request.amount);
            } else {
                assert_eq!(stored.amount, request.amount);
            }
            let pending = f.has(TransferFlags::PENDING);
            let (d, c) = if pending { (DP, CP) } else { (DPO, CPO) };
            add(&mut self.accounts.get_mut(&dr).unwrap().2[d], stored.amount);
            add(&mut self.accounts.get_mut(&cr).unwrap().2[c], stored.amount);
            let expires_at =
                if request.timeout == 0 { 0 } else { stored.timestamp + u64::from(request.timeout) * NS_PER_S };
            self.transfers.insert(request.id, (*stored, pending.then_some((State::Pending, expires_at))));
        }
        assert!(self.within_limits(dr) && self.within_limits(cr), "accepted past an account limit");
    }

    /// True when `result` is a sound reason to reject `t` in this state.
    fn justifies(&self, t: &Transfer, result: CreateTransferResult, now: u64) -> bool {
        use CreateTransferResult as R;
        let f = t.flags;
        let existing = self.transfers.get(&t.id).map(|e| e.0);
        let pending = self.transfers.get(&t.pending_id);
        let dr = self.accounts.get(&t.debit_account_id);
        let cr = self.accounts.get(&t.credit_account_id);
        let overflow = |a: u128, b: u128| a.checked_add(b).is_none();
        match result {
            R::Ok | R::LinkedEventFailed | R::LinkedEventChainOpen => false,
            R::TimestampMustBeZero => t.timestamp != 0,
            R::ReservedFlag => f.0 & !TransferFlags::ALL != 0,
            R::IdMustNotBeZero => t.id == 0,
            R::IdMustNotBeIntMax => t.id == u128::MAX,
            R::IdAlreadyFailed => self.failed.contains(&t.id),
            R::Exists => existing.is_some_and(|e| same_body(t, &e)),
            R::ExistsWithDifferentFlags => existing.is_some_and(|e| (e.flags.0 | 1) != (f.0 | 1)),
            R::ExistsWithDifferentPendingId => existing.is_some_and(|e| e.pending_id != t.pending_id),
            R::ExistsWithDifferentTimeout => existing.is_some_and(|e| e.timeout != t.timeout),
            R::ExistsWithDifferentDebitAccountId => existing.is_some_and(|e| e.debit_account_id != t.debit_account_id),
            R::ExistsWithDifferentCreditAccountId => {
                existing.is_some_and(|e| e.credit_account_id != t.credit_account_id)
            }
            R::ExistsWithDifferentAmount => existing.is_some_and(|e| e.amount != t.amount),
            R::ExistsWithDifferentUserData128 => existing.is_some_and(|e| e.user_data_128 != t.user_data_128),
            R::ExistsWithDifferentUserData64 => existing.is_some_and(|e| e.user_data_64 != t.user_data_64),
            R::ExistsWithDifferentUserData32 => existing.is_some_and(|e| e.user_data_32 != t.user_data_32),
            R::ExistsWithDifferentLedger => existing.is_some_and(|e| e.ledger != t.ledger),
            R::ExistsWithDifferentCode => existing.is_some_and(|e| e.code != t.code),
            R::FlagsAreMutuallyExclusive => {
                let post = f.has(TransferFlags::POST_PENDING_TRANSFER);
                let void = f.has(TransferFlags::VOID_PENDING_TRANSFER);
                (post && void) || ((post || void) && (f.has(TransferFlags::PENDING) || f.balancing()))
            }
            R::DebitAccountIdMustNotBeZero => t.debit_account_id == 0,
            R::DebitAccountIdMustNotBeIntMax => t.debit_account_id == u128::MAX,
            R::CreditAccountIdMustNotBeZero => t.credit_account_id == 0,
            R::CreditAccountIdMustNotBeIntMax => t.credit_account_id == u128::MAX,
            R::AccountsMustBeDifferent => t.debit_account_id == t.credit_account_id,
            R::PendingIdMustBeZero => t.pending_id != 0 && !f.resolves_pending(),
            R::PendingIdMustNotBeZero => t.pending_id == 0 && f.resolves_pending(),
            R::PendingIdMustNotBeIntMax => t.pending_id == u128::MAX,
            R::PendingIdMustBeDifferent => t.pending_id == t.id,
            R::TimeoutReservedForPendingTransfer => t.timeout != 0 && !f.has(TransferFlags::PENDING),
            R::LedgerMustNotBeZero => t.ledger == 0,
            R::CodeMustNotBeZero => t.code == 0,
            R::DebitAccountNotFound => dr.is_none(),
            R::CreditAccountNotFound => cr.is_none(),
            R::AccountsMustHaveTheSameLedger => dr.zip(cr).is_some_and(|(d, c)| d.0 != c.0),
            R::TransferMustHaveTheSameLedgerAsAccounts => dr.is_some_and(|d| d.0 != t.ledger),
            R::PendingTransferNotFound => pending.is_none(),
            R::PendingTransferNotPending => pending.is_some_and(|p| p.1.is_none()),
            R::PendingTransferHasDifferentDebitAccountId => {
                pending.is_some_and(|p| p.0.debit_account_id != t.debit_account_id)
            }
            R::PendingTransferHasDifferentCreditAccountId => {
                pending.is_some_and(|p| p.0.credit_account_id != t.credit_account_id)
            }
            R::PendingTransferHasDifferentLedger => pending.is_some_and(|p| p.0.ledger != t.ledger),
            R::PendingTransferHasDifferentCode => pending.is_some_and(|p| p.0.code != t.code),
            R::ExceedsPendingTransferAmount => pending.is_some_and(|p| t.amount > p.0.amount && t.amount != AMOUNT_MAX),
            R::PendingTransferHasDifferentAmount => pending.is_some_and(|p| t.amount != p.0.amount),
            R::PendingTransferAlreadyPosted => pending.is_some_and(|p| matches!(p.1, Some((State::Posted, _)))),
            R::PendingTransferAlreadyVoided => pending.is_some_and(|p| matches!(p.1, Some((State::Voided, _)))),
            R::PendingTransferExpired => pending.is_some_and(|p| match p.1 {
                Some((State::Expired, _)) => true,
                Some((State::Pending, at)) => at != 0 && at <= now,
                _ => false,
            }),
            R::OverflowsDebitsPending => dr.is_some_and(|d| overflow(d.2[DP], t.amount)),
            R::OverflowsCreditsPending => cr.is_some_and(|c| overflow(c.2[CP], t.amount)),
            R::OverflowsDebitsPosted => dr
                .or(pending.and_then(|p| self.accounts.get(&p.0.debit_account_id)))
                .is_some_and(|d| overflow(d.2[DPO], t.amount.min(pending.map_or(u128::MAX, |p| p.0.amount)))),
            R::OverflowsCreditsPosted => cr
                .or(pending.and_then(|p| self.accounts.get(&p.0.credit_account_id)))
                .is_some_and(|c| overflow(c.2[CPO], t.amount.min(pending.map_or(u128::MAX, |p| p.0.amount)))),
            R::OverflowsDebits => {
                dr.is_some_and(|d| overflow(d.2[DP], d.2[DPO]) || overflow(d.2[DP] + d.2[DPO], t.amount))
            }
            R::OverflowsCredits => {
                cr.is_some_and(|c| overflow(c.2[CP], c.2[CPO]) || overflow(c.2[CP] + c.2[CPO], t.amount))
            }
            R::OverflowsTimeout => false,
            R::ExceedsCredits => {
                self.flag(t.debit_account_id, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
                    && dr.is_some_and(|d| d.2[DP].saturating_add(d.2[DPO]).saturating_add(t.amount) > d.2[CPO])
            }
            R::ExceedsDebits => {
                self.flag(t.credit_account_id, AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
                    && cr.is_some_and(|c| c.2[CP].saturating_add(c.2[CPO]).saturating_add(t.amount) > c.2[DPO])
            }
        }
    }

    fn expire_due(&mut self, now: u64) -> Vec<u128> {
        let due: Vec<u128> = self
            .transfers
            .iter()
            .filter(|(_, (_, s))| matches!(s, Some((State::Pending, at)) if *at != 0 && *at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in &due {
            let (p, _) = self.transfers[id];
            self.accounts.get_mut(&p.debit_account_id).unwrap().2[DP] -= p.amount;
            self.accounts.get_mut(&p.credit_account_id).unwrap().2[CP] -= p.amount;
            self.transfers.get_mut(id).unwrap().1.as_mut().unwrap().0 = State::Expired;
        }
        due
    }
}

#[derive(Debug, Clone)]
enum Op {
    Accounts(Vec<Account>),
    Transfers(Vec<Transfer>),
    /// Re-submit the n-th transfer ever submitted, alone.
    Replay(usize),
    /// Re-submit the n-th transfer ever submitted with one field changed (amount, user data, code).
    Tamper(usize, u8),
    /// Let time pass and sweep expired reservations.
    Sweep(u64),
}

fn account_strategy() -> impl Strategy<Value = Account> {
    (0u128..8, 1u32..3, prop::sample::select(vec![0u16, 0, 0, 1, 2, 4, 6, 8]), 0u16..3).prop_map(
        |(id, ledger, flags, code)| Account { id, ledger, code, flags: AccountFlags(flags), ..Account::default() },
    )
}

fn amount_strategy() -> impl Strategy<Value = u128> {
    prop_oneof![8 => 0u128..200, 1 => Just(AMOUNT_MAX), 1 => Just(u128::MAX / 2)]
}

fn transfer_strategy() -> impl Strategy<Value = Transfer> {
    let flags =
        prop::sample::select(vec![0u16, 0, 0, 1, 1, 2, 2, 2, 3, 4, 4, 4, 5, 8, 8, 8, 9, 16, 32, 48, 2 | 16, 4 | 8, 64]);
    let resolution_amount = prop_oneof![Just(0u128), Just(AMOUNT_MAX), 0u128..200];
    let account = prop_oneof![1 => Just(0u128), 12 => 1u128..8, 1 => 8u128..10];
    let code = prop_oneof![1 => Just(0u16), 8 => Just(1u16), 1 => Just(2u16)];
    let ledger = prop_oneof![1 => Just(0u32), 12 => Just(1u32), 1 => Just(2u32)];
    (
        1u128..400,
        account.clone(),
        account,
        amount_strategy(),
        resolution_amount,
        0u128..24,
        flags,
        0u32..3,
        ledger,
        code,
        0u64..2,
    )
        .prop_map(|(id, debit, credit, amount, resolution_amount, pending, flags, timeout, ledger, code, ud)| {
            let resolves = flags & (TransferFlags::POST_PENDING_TRANSFER | TransferFlags::VOID_PENDING_TRANSFER) != 0;
            Transfer {
                id,
                debit_account_id: if resolves && debit % 4 != 1 { 0 } else { debit },
                credit_account_id: if resolves && credit % 4 != 1 { 0 } else { credit },
                amount: if resolves { resolution_amount } else { amount },
                // For post and void, a reference to an earlier pending transfer, resolved at run time.
                pending_id: if resolves || pending == 0 { pending } else { 0 },
                timeout: if flags & TransferFlags::PENDING != 0 { timeout } else { 0 },
                ledger: if resolves { ledger * u32::from(debit % 3 == 0) } else { ledger },
                code: if resolves { code * u16::from(credit % 3 == 0) } else { code },
                flags: TransferFlags(flags),
                user_data_64: ud,
                ..Transfer::default()
            }
        })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => prop::collection::vec(account_strategy(), 1..5).prop_map(Op::Accounts),
        8 => prop::collection::vec(transfer_strategy(), 1..8).prop_map(Op::Transfers),
        2 => (0usize..64).prop_map(Op::Replay),
        2 => (0usize..64, 0u8..3).prop_map(|(n, field)| Op::Tamper(n, field)),
        1 => (0u64..3).prop_map(Op::Sweep),
    ]
}

/// Splits `0..n` into chains as the state machine does; the last one may be open.
fn chains(linked: &[bool]) -> Vec<std::ops::Range<usize>> {
    let mut out = vec![];
    let mut start = 0;
    while start < linked.len() {
        let mut end = start;
        while end < linked.len() && linked[end] {
            end += 1;
        }
        let stop = (end + 1).min(linked.len());
        out.push(start..stop);
        start = stop;
    }
    out
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut core = Snapshot::new(0);
    let mut model = Model::default();
    let mut now = 1_000 * NS_PER_S;
    let mut submitted: Vec<(Transfer, CreateTransferResult)> = vec![];
    // A chart of accounts to start from: plain ones, limited ones both ways, and one in another ledger.
    let opening: Vec<Account> = [(1, 0), (2, 0), (3, 2), (4, 2), (5, 4), (6, 0), (7, 0)]
        .into_iter()
        .map(|(id, flags)| Account {
            id,
            ledger: if id == 7 { 2 } else { 1 },
            code: 1,
            flags: AccountFlags(flags),
            ..Account::default()
        })
        .collect();
    let mut ops = ops;
    ops.insert(0, Op::Accounts(opening));
    for op in ops {
        now += NS_PER_S / 2;
        let mut changes = Changes::default();
        match op {
            Op::Sweep(seconds) => {
                now += seconds * NS_PER_S;
                let due = model.expire_due(now);
                let expired = core.expire(&due, &mut changes);
                prop_assert_eq!(expired, due.len());
            }
            Op::Accounts(events) => {
                let results = core.create_accounts(&events, now, &mut changes);
                let linked: Vec<bool> = events.iter().map(|a| a.flags.has(AccountFlags::LINKED)).collect();
                for chain in chains(&linked) {
                    let ok = chain.clone().all(|i| results[i] == CreateAccountResult::Ok);
                    if ok {
                        for i in chain {
                            let a = &events[i];
                            prop_assert!(
                                !model.accounts.contains_key(&a.id) && a.id != 0 && a.ledger != 0 && a.code != 0
                            );
                            model.accounts.insert(a.id, (a.ledger, a.flags.0 & !AccountFlags::LINKED, [0; 4]));
                        }
                    } else {
                        let failures =
                            chain.clone().filter(|&i| results[i] != CreateAccountResult::LinkedEventFailed).count();
                        prop_assert_eq!(failures, 1, "one reason per failed chain: {:?}", &results[chain.clone()]);
                    }
                }
            }
            Op::Transfers(mut events) => {
                // Post and void name a pending transfer submitted earlier, most of the time.
                let pendings: Vec<u128> = submitted
                    .iter()
                    .filter(|(t, r)| t.flags.has(TransferFlags::PENDING) && *r == CreateTransferResult::Ok)
                    .map(|(t, _)| t.id)
                    .collect();
                for t in events.iter_mut().filter(|t| t.flags.resolves_pending() && t.pending_id > 2) {
                    if !pendings.is_empty() {
                        t.pending_id = pendings[(t.pending_id as usize * 7) % pendings.len()];
                    }
                }
                apply_transfers(&mut core, &mut model, &events, now, &mut submitted)?;
            }
            Op::Tamper(n, field) => {
                let Some(&(first, first_result)) = submitted.get(n) else {
                    continue;
                };
                let first = Transfer { flags: TransferFlags(first.flags.0 & !TransferFlags::LINKED), ..first };
                let (event, expect) = match field {
                    0 => (
                        Transfer { amount: first.amount ^ 1, ..first },
                        CreateTransferResult::ExistsWithDifferentAmount,
                    ),
                    1 => (
                        Transfer { user_data_64: first.user_data_64 + 1, ..first },
                        CreateTransferResult::ExistsWithDifferentUserData64,
                    ),
                    _ => (Transfer { code: first.code + 1, ..first }, CreateTransferResult::ExistsWithDifferentCode),
                };
                let results = apply_transfers(&mut core, &mut model, &[event], now, &mut submitted)?;
                let plain = !first.flags.balancing() && !first.flags.resolves_pending();
                if first_result == CreateTransferResult::Ok && plain {
                    prop_assert_eq!(results[0], expect);
                }
            }
            Op::Replay(n) => {
                let Some(&(first, first_result)) = submitted.get(n) else {
                    continue;
                };
                let event = Transfer { flags: TransferFlags(first.flags.0 & !TransferFlags::LINKED), ..first };
                let results = apply_transfers(&mut core, &mut model, &[event], now, &mut submitted)?;
                if first_result == CreateTransferResult::Ok {
                    prop_assert_eq!(results[0], CreateTransferResult::Exists);
                }
                if first_result.is_transient() {
                    prop_assert_eq!(results[0], CreateTransferResult::IdAlreadyFailed);
                }
            }
        }
        // After every operation: balances agree with the model and every invariant holds.
        for (id, (_, _, b)) in &model.accounts {
            let a = core.accounts[id];
            prop_assert_eq!(
                [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted],
                *b,
                "account {}",
                id
            );
        }
        prop_assert_eq!(core.accounts.len(), model.accounts.len());
        check_full(&core.accounts, &core.transfers, &core.pending).map_err(|v| TestCaseError::fail(v.to_string()))?;
    }
    // The explanation an operator reads agrees: nothing to explain in a sound ledger, and one
    // account's balance changed behind the ledger's back is found, and only that one.
    let accounts: Vec<_> = core.accounts.values().copied().collect();
    let transfers: Vec<_> = core.transfers.values().copied().collect();
    let explained = explain(&accounts, &transfers, &core.pending);
    prop_assert!(explained.is_consistent(), "{:?}", explained);
    if let Some(first) = accounts.first() {
        let mut tampered = accounts.clone();
        tampered[0].credits_posted = tampered[0].credits_posted.wrapping_add(1);
        let explained = explain(&tampered, &transfers, &core.pending);
        prop_assert_eq!(explained.accounts_differing.len(), 1);
        prop_assert_eq!(explained.accounts_differing[0].id, first.id);
        prop_assert_eq!(explained.accounts_differing[0].stored.credits_posted, first.credits_posted.wrapping_add(1));
        prop_assert_eq!(explained.accounts_differing[0].replayed.credits_posted, first.credits_posted);
        prop_assert_eq!(explained.unbalanced_ledgers.clone(), vec![first.ledger]);
        prop_assert!(!explained.is_consistent());
    }
    Ok(())
}

fn apply_transfers(
    core: &mut Snapshot,
    model: &mut Model,
    events: &[Transfer],
    now: u64,
    submitted: &mut Vec<(Transfer, CreateTransferResult)>,
) -> Result<Vec<CreateTransferResult>, TestCaseError> {
    use CreateTransferResult as R;
    let before = core.last_timestamp;
    let mut changes = Changes::default();
    let results = core.create_transfers(events, now, &mut changes);
    // The core releases due reservations before the batch; so does the model.
    let base = now.max(before + 1);
    let referenced: BTreeSet<u128> = events.iter().map(|t| t.pending_id).collect();
    let due: Vec<u128> = model
        .transfers
        .iter()
        .filter(|(id, (_, s))| {
            referenced.contains(id) && matches!(s, Some((State::Pending, at)) if *at != 0 && *at <= base)
        })
        .map(|(id, _)| *id)
        .collect();
    for id in due {
        let (p, _) = model.transfers[&id];
        model.accounts.get_mut(&p.debit_account_id).unwrap().2[DP] -= p.amount;
        model.accounts.get_mut(&p.credit_account_id).unwrap().2[CP] -= p.amount;
        model.transfers.get_mut(&id).unwrap().1.as_mut().unwrap().0 = State::Expired;
    }
    let linked: Vec<bool> = events.iter().map(|t| t.flags.has(TransferFlags::LINKED)).collect();
    for chain in chains(&linked) {
        let all_ok = chain.clone().all(|i| results[i] == R::Ok);
        if all_ok {
            for i in chain {
                let stored = core.transfers[&events[i].id];
                prop_assert!(stored.timestamp > before, "timestamps increase");
                model.accept(&events[i], &stored);
            }
            continue;
        }
        // A failed chain: exactly one reason, justified in the state the chain had reached there.
        let reasons: Vec<usize> = chain.clone().filter(|&i| results[i] != R::LinkedEventFailed).collect();
        prop_assert_eq!(reasons.len(), 1, "one reason per failed chain: {:?}", &results[chain.clone()]);
        let failed_at = reasons[0];
        if results[failed_at] == R::LinkedEventChainOpen {
            prop_assert_eq!(failed_at, events.len() - 1);
            continue;
        }
        let mut scratch = model.clone();
        for (i, event) in events.iter().enumerate().take(failed_at).skip(chain.start) {
            // Events before the failure were valid; the core never stored them, so replay them in the
            // scratch model with the amounts they would have had.
            let stored = Transfer { timestamp: base + i as u64, ..scratch_stored(&scratch, event) };
            scratch.accept(event, &stored);
        }
        let t = &events[failed_at];
        prop_assert!(scratch.justifies(t, results[failed_at], base), "unjustified {} for {:?}", results[failed_at], t);
        if results[failed_at].is_transient() {
            model.failed.insert(t.id);
        }
    }
    for (t, r) in events.iter().zip(&results) {
        submitted.push((*t, *r));
    }
    Ok(results)
}

/// True when a retry `t` describes the transfer `e` that exists: every field equal, except that post
/// and void may leave zero what they inherit, and a balancing transfer may ask for more than it got.
fn same_body(t: &Transfer, e: &Transfer) -> bool {
    let inherits = t.flags.resolves_pending();
    let field = |mine: u128, theirs: u128| mine == theirs || (inherits && mine == 0);
    let amount = if inherits {
        t.amount == e.amount
            || t.amount == AMOUNT_MAX
            || (t.flags.has(TransferFlags::VOID_PENDING_TRANSFER) && t.amount == 0)
    } else if t.flags.balancing() {
        t.amount >= e.amount
    } else {
        t.amount == e.amount
    };
    (t.flags.0 | 1) == (e.flags.0 | 1)
        && t.pending_id == e.pending_id
        && t.timeout == e.timeout
        && field(t.debit_account_id, e.debit_account_id)
        && field(t.credit_account_id, e.credit_account_id)
        && amount
        && field(t.user_data_128, e.user_data_128)
        && field(u128::from(t.user_data_64), u128::from(e.user_data_64))
        && field(u128::from(t.user_data_32), u128::from(e.user_data_32))
        && field(u128::from(t.ledger), u128::from(e.ledger))
        && field(u128::from(t.code), u128::from(e.code))
}

/// What the core would have stored for an event that succeeded inside a chain that later failed.
fn scratch_stored(model: &Model, t: &Transfer) -> Transfer {
    if t.flags.resolves_pending() {
        let p = model.transfers[&t.pending_id].0;
        let amount = if t.flags.has(TransferFlags::VOID_PENDING_TRANSFER) || t.amount == AMOUNT_MAX {
            p.amount
        } else {
            t.amount
        };
        Transfer {
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            ledger: p.ledger,
            code: p.code,
            ..*t
        }
    } else if t.flags.balancing() {
        let mut amount = t.amount;
        if t.flags.has(TransferFlags::BALANCING_DEBIT) {
            let b = model.accounts[&t.debit_account_id].2;
            amount = amount.min(b[CPO].saturating_sub(b[DP].saturating_add(b[DPO])));
        }
        if t.flags.has(TransferFlags::BALANCING_CREDIT) {
            let b = model.accounts[&t.credit_account_id].2;
            amount = amount.min(b[DPO].saturating_sub(b[CP].saturating_add(b[CPO])));
        }
        Transfer { amount, ..*t }
    } else {
        *t
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// 64 cases × up to 120 operations × up to 8 events: several thousand events a run.
    #[test]
    fn the_core_agrees_with_the_model(ops in prop::collection::vec(op_strategy(), 1..120)) {
        run(ops)?;
    }
}

#[test]
fn pending_state_codes_round_trip() {
    for s in [PendingState::Pending, PendingState::Posted, PendingState::Voided, PendingState::Expired] {
        assert_eq!(PendingState::from_code(s.code()), Some(s));
    }
    assert_eq!(PendingState::from_code(0), None);
}

//! Scenarios written out by hand, each through one data-driven `check` helper: a list of batches
//! and the result names expected for each event, then balances.

use xingtong_ledger::invariants::check_full;
use xingtong_ledger::{AMOUNT_MAX, Account, AccountFlags, Changes, NS_PER_S, Snapshot, Transfer, TransferFlags};

const CNY: u32 = 156;
const T0: u64 = 1_700_000_000 * NS_PER_S;

fn account(id: u128, flags: u16) -> Account {
    Account { id, ledger: CNY, code: 1, flags: AccountFlags(flags), ..Account::default() }
}

fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> Transfer {
    Transfer {
        id,
        debit_account_id: debit,
        credit_account_id: credit,
        amount,
        ledger: CNY,
        code: 1,
        ..Transfer::default()
    }
}

fn flagged(t: Transfer, flags: u16) -> Transfer {
    Transfer { flags: TransferFlags(flags), ..t }
}

/// A ledger with accounts 1 and 2 (plain) and 3 (may not be overdrawn), created at T0.
fn ledger() -> Snapshot {
    let mut s = Snapshot::new(0);
    let mut changes = Changes::default();
    let r = s.create_accounts(
        &[account(1, 0), account(2, 0), account(3, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)],
        T0,
        &mut changes,
    );
    assert!(r.iter().all(|r| r.as_str() == "ok"));
    s
}

/// Applies each batch at one second after the last, checks the result names, then every invariant.
fn check(s: &mut Snapshot, batches: &[(&[Transfer], &[&str])]) {
    for (n, (events, expect)) in batches.iter().enumerate() {
        let mut changes = Changes::default();
        let now = T0 + (n as u64 + 1) * NS_PER_S;
        let got: Vec<&str> = s.create_transfers(events, now, &mut changes).iter().map(|r| r.as_str()).collect();
        assert_eq!(&got, expect, "batch {n}");
        check_full(&s.accounts, &s.transfers, &s.pending).expect("invariants hold");
    }
}

/// (debits_pending, debits_posted, credits_pending, credits_posted)
fn balances(s: &Snapshot, id: u128) -> (u128, u128, u128, u128) {
    let a = s.accounts[&id];
    (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
}

#[test]
fn simple_transfer_and_idempotent_retries() {
    let mut s = ledger();
    let t = transfer(10, 1, 2, 500);
    check(
        &mut s,
        &[
            (&[t], &["ok"]),
            (&[t], &["exists"]),
            (&[transfer(10, 1, 2, 501)], &["exists_with_different_amount"]),
            (&[transfer(10, 2, 1, 500)], &["exists_with_different_debit_account_id"]),
            (&[Transfer { user_data_64: 7, ..t }], &["exists_with_different_user_data_64"]),
            (&[flagged(t, TransferFlags::PENDING)], &["exists_with_different_flags"]),
        ],
    );
    assert_eq!(balances(&s, 1), (0, 500, 0, 0));
    assert_eq!(balances(&s, 2), (0, 0, 0, 500));
}

#[test]
fn validation_errors_change_nothing() {
    let mut s = ledger();
    check(
        &mut s,
        &[(
            &[
                transfer(0, 1, 2, 1),
                transfer(u128::MAX, 1, 2, 1),
                transfer(11, 0, 2, 1),
                transfer(12, 1, 1, 1),
                transfer(13, 1, 99, 1),
                Transfer { ledger: 840, ..transfer(14, 1, 2, 1) },
                Transfer { code: 0, ..transfer(15, 1, 2, 1) },
                Transfer { timeout: 5, ..transfer(16, 1, 2, 1) },
                Transfer { timestamp: 1, ..transfer(17, 1, 2, 1) },
                flagged(transfer(18, 1, 2, 1), 1 << 15),
                flagged(transfer(19, 1, 2, 1), TransferFlags::PENDING | TransferFlags::POST_PENDING_TRANSFER),
            ],
            &[
                "id_must_not_be_zero",
                "id_must_not_be_int_max",
                "debit_account_id_must_not_be_zero",
                "accounts_must_be_different",
                "credit_account_not_found",
                "transfer_must_have_the_same_ledger_as_accounts",
                "code_must_not_be_zero",
                "timeout_reserved_for_pending_transfer",
                "timestamp_must_be_zero",
                "reserved_flag",
                "flags_are_mutually_exclusive",
            ],
        )],
    );
    assert_eq!(balances(&s, 1), (0, 0, 0, 0));
    assert!(s.transfers.is_empty());
}

#[test]
fn an_account_that_may_not_be_overdrawn_and_sticky_failures() {
    let mut s = ledger();
    check(
        &mut s,
        &[
            (&[transfer(20, 3, 1, 1)], &["exceeds_credits"]),
            (&[transfer(21, 1, 3, 100)], &["ok"]),
            // The retry of a transiently failed id fails the same way even though it would now fit.
            (&[transfer(20, 3, 1, 1)], &["id_already_failed"]),
            (&[transfer(22, 3, 1, 100), transfer(23, 3, 1, 1)], &["ok", "exceeds_credits"]),
        ],
    );
    assert_eq!(balances(&s, 3), (0, 100, 0, 100));
}

#[test]
fn two_phase_post_partial_void_and_double_resolution() {
    let mut s = ledger();
    let hold = |id, amount| flagged(transfer(id, 1, 2, amount), TransferFlags::PENDING);
    let post = |id, pending_id, amount| Transfer {
        id,
        pending_id,
        amount,
        flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
        ..Transfer::default()
    };
    let void = |id, pending_id| Transfer {
        id,
        pending_id,
        flags: TransferFlags(TransferFlags::VOID_PENDING_TRANSFER),
        ..Transfer::default()
    };
    check(
        &mut s,
        &[
            (&[hold(30, 1000), hold(31, 400)], &["ok", "ok"]),
            (&[post(32, 30, 1001)], &["exceeds_pending_transfer_amount"]),
            (&[post(32, 30, 700)], &["ok"]),
            (&[post(32, 30, AMOUNT_MAX)], &["exists"]),
            (&[post(33, 30, 1)], &["pending_transfer_already_posted"]),
            (&[void(34, 31)], &["ok"]),
            (&[void(35, 31), post(36, 31, 1)], &["pending_transfer_already_voided", "pending_transfer_already_voided"]),
            (&[post(37, 99, 1), void(38, 32)], &["pending_transfer_not_found", "pending_transfer_not_pending"]),
        ],
    );
    assert_eq!(balances(&s, 1), (0, 700, 0, 0));
    assert_eq!(balances(&s, 2), (0, 0, 0, 700));
}

#[test]
fn pending_transfers_expire() {
    let mut s = ledger();
    let hold = Transfer { timeout: 1, ..flagged(transfer(40, 1, 2, 50), TransferFlags::PENDING) };
    let post = Transfer {
        id: 41,
        pending_id: 40,
        amount: AMOUNT_MAX,
        flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
        ..Transfer::default()
    };
    // Batch 0 holds at T0+1s with a 1 s timeout; batch 1 runs at T0+2s, when it is due.
    check(&mut s, &[(&[hold], &["ok"]), (&[post], &["pending_transfer_expired"])]);
    assert_eq!(balances(&s, 1), (0, 0, 0, 0));
    assert_eq!(balances(&s, 2), (0, 0, 0, 0));
}

#[test]
fn linked_chains_are_all_or_nothing() {
    let mut s = ledger();
    let linked = |t| flagged(t, TransferFlags::LINKED);
    check(
        &mut s,
        &[
            (
                &[
                    linked(transfer(50, 1, 2, 10)),
                    linked(transfer(51, 2, 1, 3)),
                    transfer(52, 3, 1, 1),
                    transfer(53, 1, 2, 5),
                ],
                &["linked_event_failed", "linked_event_failed", "exceeds_credits", "ok"],
            ),
            (&[linked(transfer(54, 1, 2, 10)), transfer(55, 2, 1, 3)], &["ok", "ok"]),
            (&[transfer(56, 1, 2, 1), linked(transfer(57, 1, 2, 1))], &["ok", "linked_event_chain_open"]),
            // The ids of a rolled-back chain are free again, except the one that failed transiently.
            (&[transfer(50, 1, 2, 10), transfer(52, 3, 1, 1)], &["ok", "id_already_failed"]),
        ],
    );
    assert_eq!(balances(&s, 1), (0, 5 + 10 + 1 + 10, 0, 3));
}

#[test]
fn balancing_debit_sweeps_what_is_there() {
    let mut s = ledger();
    check(
        &mut s,
        &[
            (&[transfer(60, 1, 3, 120)], &["ok"]),
            (&[flagged(transfer(61, 3, 2, AMOUNT_MAX), TransferFlags::BALANCING_DEBIT)], &["ok"]),
            (&[flagged(transfer(62, 3, 2, AMOUNT_MAX), TransferFlags::BALANCING_DEBIT)], &["ok"]),
        ],
    );
    assert_eq!(s.transfers[&61].amount, 120);
    assert_eq!(s.transfers[&62].amount, 0);
    assert_eq!(balances(&s, 3), (0, 120, 0, 120));
}

#[test]
fn overflow_is_rejected_not_wrapped() {
    let mut s = ledger();
    check(
        &mut s,
        &[
            (&[transfer(70, 1, 2, u128::MAX - 1)], &["ok"]),
            (&[transfer(71, 1, 2, 2)], &["overflows_debits_posted"]),
            (&[flagged(transfer(72, 1, 2, 2), TransferFlags::PENDING)], &["overflows_debits"]),
        ],
    );
}

#[test]
fn accounts_are_idempotent_and_validated() {
    let mut s = ledger();
    let mut changes = Changes::default();
    let got: Vec<&str> = s
        .create_accounts(
            &[
                account(1, 0),
                Account { code: 2, ..account(1, 0) },
                account(0, 0),
                Account { ledger: 0, ..account(4, 0) },
                account(5, AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS),
                Account { credits_posted: 1, ..account(6, 0) },
                account(7, AccountFlags::LINKED),
                Account { ledger: 0, ..account(8, 0) },
            ],
            T0 + NS_PER_S,
            &mut changes,
        )
        .iter()
        .map(|r| r.as_str())
        .collect();
    assert_eq!(
        got,
        [
            "exists",
            "exists_with_different_code",
            "id_must_not_be_zero",
            "ledger_must_not_be_zero",
            "flags_are_mutually_exclusive",
            "balances_must_be_zero",
            "linked_event_failed",
            "ledger_must_not_be_zero",
        ]
    );
    assert!(!s.accounts.contains_key(&7));
}

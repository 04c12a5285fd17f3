//! The conformance tests themselves: each takes a fresh database and must pass on every backend.

use anyhow::{Context, ensure};
use sha2::{Digest, Sha256};
use xingtong_ledger::{
    Account, AccountFlags, CreateAccountResult as A, CreateTransferResult as T, NS_PER_S, Transfer, TransferFlags,
};
use xingtong_store::{Claim, Outcome, Store, StoredResponse, parse_api_key};

use crate::harness::Harness;

const CNY: u32 = 156;

fn account(id: u128) -> Account {
    Account { id, ledger: CNY, code: 1, ..Account::default() }
}

pub fn transfer(id: u128, debit: u128, credit: u128, amount: u128) -> Transfer {
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

pub async fn accounts(store: &Store, ids: &[u128]) -> anyhow::Result<Vec<A>> {
    let events = ids.iter().map(|id| account(*id)).collect();
    match store.create_accounts(events, None).await? {
        Outcome::Applied(results) => Ok(results),
        other => anyhow::bail!("unexpected {other:?}"),
    }
}

pub async fn transfers(store: &Store, events: Vec<Transfer>) -> anyhow::Result<Vec<T>> {
    match store.create_transfers(events, None).await? {
        Outcome::Applied(results) => Ok(results),
        other => anyhow::bail!("unexpected {other:?}"),
    }
}

async fn balance(store: &Store, id: u128) -> anyhow::Result<(u128, u128, u128, u128)> {
    let found = store.lookup_accounts(vec![id]).await?;
    let a = found.first().context("account exists")?;
    Ok((a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted))
}

/// The audit passes: every ledger balances.
/// The audit passes, and the replay an operator reads with `audit --explain` finds every
/// account equal to its transfers (pending, posted, voided and expired ones alike).
async fn audited(store: &Store) -> anyhow::Result<xingtong_store::AuditReport> {
    let report = store.audit().await?;
    let explained = store.explain().await?;
    ensure!(explained.is_consistent(), "{explained:?}");
    ensure!(explained.accounts == report.accounts && explained.transfers == report.transfers);
    Ok(report)
}

pub async fn accounts_and_transfers_are_stored_and_read_back(h: &Harness) -> anyhow::Result<()> {
    let opened = h.open().await?;
    ensure!(opened.admin_key.is_some(), "a fresh database makes an admin key");
    let store = opened.store;
    ensure!(accounts(&store, &[1, 2, 3]).await? == [A::Ok, A::Ok, A::Ok]);
    ensure!(accounts(&store, &[1]).await? == [A::Exists]);
    let results =
        transfers(&store, vec![transfer(10, 1, 2, 700), transfer(11, 2, 3, 200), transfer(12, 1, 9, 1)]).await?;
    ensure!(results == [T::Ok, T::Ok, T::CreditAccountNotFound], "{results:?}");
    ensure!(balance(&store, 1).await? == (0, 700, 0, 0));
    ensure!(balance(&store, 2).await? == (0, 200, 0, 700));
    ensure!(balance(&store, 3).await? == (0, 0, 0, 200));
    let found = store.lookup_transfers(vec![10, 11, 12]).await?;
    ensure!(found.len() == 2 && found[0].amount == 700 && found[0].timestamp < found[1].timestamp);
    // u128 values survive storage exactly.
    ensure!(accounts(&store, &[u128::MAX - 1, 4]).await? == [A::Ok, A::Ok]);
    ensure!(transfers(&store, vec![transfer(u128::MAX - 1, u128::MAX - 1, 4, u128::MAX - 2)]).await? == [T::Ok]);
    ensure!(balance(&store, 4).await? == (0, 0, 0, u128::MAX - 2));
    let report = audited(&store).await?;
    ensure!(report.accounts == 5 && report.transfers == 3, "{report:?}");
    store.close().await;
    Ok(())
}

pub async fn account_transfers_page_by_cursor(h: &Harness) -> anyhow::Result<()> {
    let store = h.open().await?.store;
    accounts(&store, &[1, 2, 3]).await?;
    let events: Vec<_> =
        (0..25u128).map(|i| if i % 2 == 0 { transfer(100 + i, 1, 2, 1) } else { transfer(100 + i, 3, 1, 1) }).collect();
    ensure!(transfers(&store, events).await?.iter().all(|r| *r == T::Ok));
    let mut seen = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store.account_transfers(1, cursor, 10).await?;
        if page.is_empty() {
            break;
        }
        ensure!(page.len() <= 10);
        cursor = page.last().map(|t| t.timestamp).unwrap_or(cursor);
        seen.extend(page.iter().map(|t| t.id));
    }
    ensure!(seen == (100..125).collect::<Vec<u128>>(), "all 25 in order: {seen:?}");
    ensure!(store.account_transfers(2, 0, 1000).await?.len() == 13);
    store.close().await;
    Ok(())
}

pub async fn restart_restores_exactly_the_committed_state(h: &Harness) -> anyhow::Result<()> {
    let store = h.open().await?.store;
    accounts(&store, &[1, 2]).await?;
    transfers(&store, vec![transfer(10, 1, 2, 5), flagged(transfer(11, 1, 2, 7), TransferFlags::PENDING)]).await?;
    let before = (balance(&store, 1).await?, balance(&store, 2).await?, store.account_transfers(1, 0, 100).await?);
    store.close().await;

    let reopened = h.open().await?;
    ensure!(reopened.admin_key.is_none(), "the admin key is made once");
    let store = reopened.store;
    let after = (balance(&store, 1).await?, balance(&store, 2).await?, store.account_transfers(1, 0, 100).await?);
    ensure!(before == after, "{before:?} != {after:?}");
    // Ids already stored are still known after a restart (the SQLite writer skips lookups only for
    // ids above the highest stored), and a new id below the highest is still new.
    ensure!(transfers(&store, vec![transfer(10, 1, 2, 5)]).await? == [T::Exists]);
    ensure!(transfers(&store, vec![transfer(3, 1, 2, 1)]).await? == [T::Ok]);
    ensure!(transfers(&store, vec![transfer(3, 1, 2, 1)]).await? == [T::Exists]);
    ensure!(balance(&store, 1).await? == (7, 6, 0, 0), "{:?}", balance(&store, 1).await?);
    // Timestamps keep increasing after a restart, and the pending transfer can still be posted.
    let post = Transfer {
        id: 12,
        pending_id: 11,
        amount: xingtong_ledger::AMOUNT_MAX,
        flags: TransferFlags(TransferFlags::POST_PENDING_TRANSFER),
        ..Transfer::default()
    };
    ensure!(transfers(&store, vec![post]).await? == [T::Ok]);
    let all = store.account_transfers(1, 0, 100).await?;
    ensure!(all.windows(2).all(|w| w[0].timestamp < w[1].timestamp) && all.len() == 4);
    ensure!(balance(&store, 1).await? == (0, 13, 0, 0));
    audited(&store).await?;
    store.close().await;
    Ok(())
}

fn flagged(t: Transfer, flags: u16) -> Transfer {
    Transfer { flags: TransferFlags(flags), ..t }
}

fn claim(key: &str, body: &str) -> Claim<T> {
    Claim {
        scope: "scope-a".into(),
        key: key.into(),
        request_sha256: Sha256::digest(body.as_bytes()).into(),
        render: Box::new(|results: &[T]| StoredResponse {
            status: 200,
            body: results.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",").into_bytes(),
        }),
    }
}

pub async fn idempotency_keys_replay_and_refuse_reuse(h: &Harness) -> anyhow::Result<()> {
    let store = h.open().await?.store;
    accounts(&store, &[1, 2]).await?;
    let first = store.create_transfers(vec![transfer(10, 1, 2, 5)], Some(claim("k1", "body-1"))).await?;
    ensure!(first == Outcome::Applied(vec![T::Ok]), "{first:?}");
    let again = store.create_transfers(vec![transfer(10, 1, 2, 5)], Some(claim("k1", "body-1"))).await?;
    ensure!(again == Outcome::Replayed(StoredResponse { status: 200, body: b"ok".to_vec() }), "{again:?}");
    let reused = store.create_transfers(vec![transfer(11, 1, 2, 6)], Some(claim("k1", "body-2"))).await?;
    ensure!(reused == Outcome::KeyReused, "{reused:?}");
    ensure!(store.lookup_transfers(vec![11]).await?.is_empty(), "a refused reuse writes nothing");
    // The same key in another scope is another key.
    let other = Claim { scope: "scope-b".into(), ..claim("k1", "body-2") };
    ensure!(store.create_transfers(vec![transfer(11, 1, 2, 6)], Some(other)).await? == Outcome::Applied(vec![T::Ok]));
    // Two uses of one key inside one commit group: one applies, the other replays it.
    let (a, b) = tokio::join!(
        store.create_transfers(vec![transfer(20, 1, 2, 1)], Some(claim("k2", "same"))),
        store.create_transfers(vec![transfer(20, 1, 2, 1)], Some(claim("k2", "same"))),
    );
    let outcomes = [a?, b?];
    ensure!(outcomes.iter().filter(|o| matches!(o, Outcome::Applied(_))).count() == 1, "{outcomes:?}");
    ensure!(balance(&store, 2).await? == (0, 0, 0, 12));
    store.close().await;
    // Keys survive a restart.
    let store = h.open().await?.store;
    let after = store.create_transfers(vec![transfer(10, 1, 2, 5)], Some(claim("k1", "body-1"))).await?;
    ensure!(matches!(after, Outcome::Replayed(_)), "{after:?}");
    store.close().await;
    Ok(())
}

pub async fn concurrent_single_transfers_share_commits(h: &Harness) -> anyhow::Result<()> {
    let store = h.open().await?.store;
    accounts(&store, &[1, 2]).await?;
    let clients = 64u128;
    let per_client = 20u128;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..per_client {
                let id = 1_000 + client * per_client + n;
                let results = transfers(&store, vec![transfer(id, 1, 2, 1)]).await?;
                ensure!(results == [T::Ok], "{results:?}");
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    ensure!(balance(&store, 2).await? == (0, 0, 0, clients * per_client));
    let report = audited(&store).await?;
    ensure!(report.transfers == (clients * per_client) as u64);
    store.close().await;
    Ok(())
}

pub async fn two_phase_transfers_expire_and_release(h: &Harness) -> anyhow::Result<()> {
    let store = h.open().await?.store;
    accounts(&store, &[1, 2]).await?;
    let hold = Transfer { timeout: 1, ..flagged(transfer(10, 1, 2, 40), TransferFlags::PENDING) };
    ensure!(transfers(&store, vec![hold]).await? == [T::Ok]);
    ensure!(balance(&store, 1).await? == (40, 0, 0, 0));
    ensure!(store.expire_due().await? == 0, "not due yet");
    tokio::time::sleep(std::time::Duration::from_nanos(NS_PER_S + NS_PER_S / 5)).await;
    ensure!(store.expire_due().await? == 1);
    ensure!(balance(&store, 1).await? == (0, 0, 0, 0));
    let void = Transfer {
        id: 11,
        pending_id: 10,
        flags: TransferFlags(TransferFlags::VOID_PENDING_TRANSFER),
        ..Transfer::default()
    };
    ensure!(transfers(&store, vec![void]).await? == [T::PendingTransferExpired]);
    audited(&store).await?;
    store.close().await;
    Ok(())
}

pub async fn transient_failures_stay_failed_across_restart(h: &Harness) -> anyhow::Result<()> {
    let store = h.open().await?.store;
    accounts(&store, &[1]).await?;
    ensure!(transfers(&store, vec![transfer(10, 1, 2, 5)]).await? == [T::CreditAccountNotFound]);
    accounts(&store, &[2]).await?;
    store.close().await;
    let store = h.open().await?.store;
    ensure!(transfers(&store, vec![transfer(10, 1, 2, 5)]).await? == [T::IdAlreadyFailed]);
    ensure!(balance(&store, 2).await? == (0, 0, 0, 0));
    store.close().await;
    Ok(())
}

pub async fn linked_chains_write_all_or_nothing(h: &Harness) -> anyhow::Result<()> {
    let store = h.open().await?.store;
    let limited = Account { flags: AccountFlags(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS), ..account(3) };
    store.create_accounts(vec![account(1), account(2), limited], None).await?;
    let chain = vec![flagged(transfer(10, 1, 2, 5), TransferFlags::LINKED), transfer(11, 3, 1, 1)];
    ensure!(transfers(&store, chain).await? == [T::LinkedEventFailed, T::ExceedsCredits]);
    ensure!(store.lookup_transfers(vec![10, 11]).await?.is_empty());
    ensure!(balance(&store, 1).await? == (0, 0, 0, 0));
    store.close().await;
    Ok(())
}

pub async fn api_keys_are_stored_hashed(h: &Harness) -> anyhow::Result<()> {
    let opened = h.open().await?;
    let admin = opened.admin_key.context("fresh database")?;
    let store = opened.store;
    let (id, secret) = parse_api_key(&admin.token).context("well-formed token")?;
    let record = store.api_key(id.to_owned()).await?.context("stored")?;
    ensure!(record.role == "admin" && record.verifies(secret));
    ensure!(record.secret_sha256 != secret.as_bytes(), "only a hash is stored");
    let made = store.create_api_key("finance", "reports").await?;
    let (made_id, made_secret) = parse_api_key(&made.token).context("well-formed token")?;
    let found = store.api_key(made_id.to_owned()).await?.context("stored")?;
    ensure!(found.role == "finance" && found.verifies(made_secret) && !found.verifies(secret));
    ensure!(store.api_key("0000000000000000".into()).await?.is_none());
    store.close().await;
    Ok(())
}

pub async fn two_stores_on_one_database_stay_consistent(h: &Harness) -> anyhow::Result<()> {
    // On PostgreSQL these are two processes' worth of stores on one database; on SQLite a second
    // process would be refused by the writer lock's busy timeout, so this runs the first alone.
    let first = h.open().await?.store;
    accounts(&first, &[1, 2]).await?;
    let second = if first.backend() == "postgres" { Some(h.open().await?.store) } else { None };
    let mut tasks = Vec::new();
    for (n, store) in [Some(first.clone()), second.clone()].into_iter().flatten().enumerate() {
        for client in 0..8u128 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..25u128 {
                    let id = 10_000 * (n as u128 + 1) + client * 100 + i;
                    ensure!(transfers(&store, vec![transfer(id, 1, 2, 1)]).await? == [T::Ok]);
                }
                anyhow::Ok(())
            }));
        }
    }
    let expected = tasks.len() as u128 * 25;
    for task in tasks {
        task.await??;
    }
    ensure!(balance(&first, 2).await? == (0, 0, 0, expected));
    let all = first.account_transfers(2, 0, 1000).await?;
    ensure!(all.len() as u128 == expected && all.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    audited(&first).await?;
    if let Some(second) = second {
        second.close().await;
    }
    first.close().await;
    Ok(())
}

/// Each account's history, read in pages of four, is exactly its transfers of `sent`, in order.
pub async fn history_reads_back(store: &Store, sent: &[Transfer], accounts: &[u128]) -> anyhow::Result<()> {
    for &account in accounts {
        let expected: Vec<u128> = sent
            .iter()
            .filter(|t| t.debit_account_id == account || t.credit_account_id == account)
            .map(|t| t.id)
            .collect();
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let page = store.account_transfers(account, cursor, 4).await?;
            let Some(last) = page.last() else { break };
            cursor = last.timestamp;
            seen.extend(page.iter().map(|t| t.id));
        }
        ensure!(seen == expected, "account {account}: {seen:?} != {expected:?}");
    }
    Ok(())
}

pub async fn account_history_spans_index_flushes(h: &Harness) -> anyhow::Result<()> {
    // SQLite indexes account history in bulk, at least every second: history written before and
    // after a flush, and across a restart, must read back complete and in order, page by page.
    let store = h.open().await?.store;
    accounts(&store, &[1, 2, 3]).await?;
    let mut sent: Vec<Transfer> = Vec::new();
    let mut post = |count: u128| {
        let first = 500 + sent.len() as u128;
        let events: Vec<_> = (0..count).map(|i| transfer(first + i, 1 + (i % 2), 3, 1)).collect();
        sent.extend(events.iter().copied());
        events
    };
    transfers(&store, post(7)).await?;
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    transfers(&store, post(5)).await?; // this commit flushes the index, itself included
    transfers(&store, post(4)).await?; // these stay in the unindexed tail
    store.close().await;
    let store = h.open().await?.store;
    transfers(&store, post(3)).await?;
    history_reads_back(&store, &sent, &[1, 2, 3]).await?;
    ensure!(sent.len() == 19);
    store.close().await;
    Ok(())
}

pub async fn idempotency_keys_are_purged_by_age(h: &Harness) -> anyhow::Result<()> {
    let store = h.open().await?.store;
    accounts(&store, &[1, 2]).await?;
    store.create_transfers(vec![transfer(10, 1, 2, 5)], Some(claim("old", "body-1"))).await?;
    let cutoff = xingtong_store::now_ns();
    store.create_transfers(vec![transfer(11, 1, 2, 5)], Some(claim("new", "body-2"))).await?;
    ensure!(store.purge_idempotency_keys(cutoff).await? == 1, "only the key older than the cutoff goes");
    ensure!(store.purge_idempotency_keys(cutoff).await? == 0);
    // The purged key is free again: a new body under it is applied, not refused as a reuse.
    let again = store.create_transfers(vec![transfer(12, 1, 2, 5)], Some(claim("old", "body-3"))).await?;
    ensure!(again == Outcome::Applied(vec![T::Ok]), "{again:?}");
    // The kept key still replays.
    let kept = store.create_transfers(vec![transfer(11, 1, 2, 5)], Some(claim("new", "body-2"))).await?;
    ensure!(matches!(kept, Outcome::Replayed(_)), "{kept:?}");
    store.close().await;
    Ok(())
}

fn record(kind: &str, id: &str, owner: &str, status: &str, body: &str) -> xingtong_store::Record {
    xingtong_store::Record {
        kind: kind.into(),
        id: id.into(),
        owner: owner.into(),
        status: status.into(),
        version: 0,
        created_at: 0,
        updated_at: 0,
        due_at: None,
        body: body.as_bytes().to_vec(),
    }
}

fn put(record: xingtong_store::Record, expected: Option<u64>) -> xingtong_store::Put {
    xingtong_store::Put { record, expected, listed: true, txn: None, typed: None }
}

pub async fn records_are_versioned_and_refuse_stale_writes(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, Rejection, StoreError};
    let store = h.open().await?.store;
    let first = Change { puts: vec![put(record("application", "a1", "u1", "draft", "{}"), None)], ..Change::default() };
    store.apply(first.clone()).await?;
    let read = store.record("application", "a1").await?.context("stored")?;
    ensure!(read.version == 1 && read.status == "draft" && read.owner == "u1" && read.created_at > 0);
    // Creating it again, or updating from a stale version, is refused and changes nothing.
    let again = store.apply(first).await;
    ensure!(matches!(again, Err(StoreError::Rejected(Rejection::Conflict { .. }))), "{again:?}");
    let update = |status: &str, expected| Change {
        puts: vec![put(record("application", "a1", "u1", status, "{\"v\":2}"), Some(expected))],
        audit: vec![xingtong_store::AuditEntry {
            seq: 0,
            at: 0,
            actor: "user:u1".into(),
            action: format!("application.{status}"),
            subject_kind: "application".into(),
            subject_id: "a1".into(),
            detail: "{}".into(),
        }],
        ..Change::default()
    };
    store.apply(update("submitted", 1)).await?;
    let stale = store.apply(update("withdrawn", 1)).await;
    ensure!(matches!(stale, Err(StoreError::Rejected(Rejection::Conflict { .. }))), "{stale:?}");
    let read = store.record("application", "a1").await?.context("stored")?;
    ensure!(read.version == 2 && read.status == "submitted" && read.body == b"{\"v\":2}");
    let log = store.audit_log(Some(("application".into(), "a1".into())), 0, 10).await?;
    ensure!(log.len() == 1 && log[0].action == "application.submitted" && log[0].at > 0, "{log:?}");

    // Concurrent writers from the same version: exactly one wins.
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        async move { store.apply(update(&format!("s{i}"), 2)).await }
    });
    let results = futures_join_all(attempts).await;
    ensure!(results.iter().filter(|r| r.is_ok()).count() == 1, "{results:?}");
    ensure!(store.audit_log(None, 0, 100).await?.len() == 2);
    Ok(())
}

pub async fn the_audit_log_is_searched_by_actor_action_and_subject_newest_first(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{AuditEntry, AuditQuery, Change};
    let store = h.open().await?.store;
    // 30 entries: three actors, two actions, ten subjects.
    for i in 0..30u32 {
        let entry = AuditEntry {
            seq: 0,
            at: 0,
            actor: format!("staff:s{}", i % 3),
            action: if i % 2 == 0 { "device.shipped" } else { "device.suspended" }.into(),
            subject_kind: "device".into(),
            subject_id: format!("1000000{}", i % 10),
            detail: format!("{{\"i\":{i}}}"),
        };
        store.apply(Change { audit: vec![entry], ..Change::default() }).await?;
    }
    let search = |query: AuditQuery| {
        let store = store.clone();
        async move { store.audit_search(query).await }
    };
    let numbers = |entries: &[AuditEntry]| -> Vec<u32> {
        entries
            .iter()
            .map(|e| e.detail.trim_start_matches("{\"i\":").trim_end_matches('}').parse().unwrap_or(999))
            .collect()
    };
    // Newest first, in pages by `before_seq`.
    let page = search(AuditQuery { newest_first: true, limit: 4, ..AuditQuery::default() }).await?;
    ensure!(numbers(&page) == [29, 28, 27, 26], "{:?}", numbers(&page));
    let next = search(AuditQuery { before_seq: Some(page[3].seq), limit: 2, ..AuditQuery::default() }).await?;
    ensure!(numbers(&next) == [25, 24], "{:?}", numbers(&next));
    // Each filter, and filters together (all must hold).
    let by_actor =
        search(AuditQuery { actor: Some("staff:s1".into()), newest_first: true, limit: 100, ..AuditQuery::default() })
            .await?;
    ensure!(numbers(&by_actor) == [28, 25, 22, 19, 16, 13, 10, 7, 4, 1], "{:?}", numbers(&by_actor));
    let both = search(AuditQuery {
        actor: Some("staff:s1".into()),
        action: Some("device.suspended".into()),
        newest_first: true,
        limit: 100,
        ..AuditQuery::default()
    })
    .await?;
    ensure!(numbers(&both) == [25, 19, 13, 7, 1], "{:?}", numbers(&both));
    let subject =
        search(AuditQuery { subject_id: Some("10000003".into()), limit: 100, ..AuditQuery::default() }).await?;
    ensure!(numbers(&subject) == [3, 13, 23], "oldest first without newest_first: {:?}", numbers(&subject));
    let none = search(AuditQuery { actor: Some("staff:nobody".into()), limit: 100, ..AuditQuery::default() }).await?;
    ensure!(none.is_empty());
    Ok(())
}

pub async fn records_list_newest_first_in_pages(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, RecordQuery};
    let store = h.open().await?.store;
    for i in 0..7 {
        let owner = if i % 2 == 0 { "u1" } else { "u2" };
        let change = Change {
            puts: vec![put(record("note", &format!("n{i}"), owner, "queued", "{}"), None)],
            ..Change::default()
        };
        store.apply(change).await?;
    }
    let ids = |records: &[xingtong_store::Record]| records.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    let mut query = RecordQuery::kind("note").descending();
    query.limit = 3;
    let first = store.records(query.clone()).await?;
    ensure!(ids(&first) == ["n6", "n5", "n4"], "{:?}", ids(&first));
    query.after = first.last().map(|r| (r.created_at, r.id.clone()));
    let second = store.records(query.clone()).await?;
    ensure!(ids(&second) == ["n3", "n2", "n1"], "{:?}", ids(&second));
    let mine = store.records(RecordQuery::kind("note").owner("u2").descending()).await?;
    ensure!(ids(&mine) == ["n5", "n3", "n1"], "{:?}", ids(&mine));
    let oldest = store.records(RecordQuery::kind("note").owner("u2")).await?;
    ensure!(ids(&oldest) == ["n1", "n3", "n5"], "{:?}", ids(&oldest));
    Ok(())
}

pub async fn approved_sales_are_kept_by_hour_of_day_in_the_same_commit(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, HourRow, TotalsQuery};
    let store = h.open().await?.store;
    // Half past `hour` o'clock China time (UTC+8): 1_764_172_800 is a midnight there.
    let at = |hour: u64| (1_764_172_800 + hour * 3_600 + 1_800) * 1_000_000_000;
    let row = |id: &str, hour: u64, txn_type: &str, status: &str, amount: i64| -> anyhow::Result<xingtong_store::Put> {
        let mut p = txn("m1", id, "T1", 1, 1, "20261127", amount);
        p.record.status = status.into();
        let columns = p.txn.as_mut().context("columns")?;
        columns.at = at(hour);
        columns.txn_type = txn_type.into();
        Ok(p)
    };
    store
        .apply(Change {
            puts: vec![
                row("T1-000001-000001", 9, "sale", "approved", 1_000)?,
                row("T1-000001-000002", 9, "sale", "approved", 2_000)?,
                row("T1-000001-000003", 14, "completion", "approved", 500)?,
                row("T1-000001-000004", 14, "refund", "approved", 300)?,
                row("T1-000001-000005", 14, "sale", "declined", 700)?,
                row("T1-000001-000006", 23, "sale", "approved", 50)?,
            ],
            ..Change::default()
        })
        .await?;
    let hours = |merchant: &str| {
        let store = store.clone();
        let query = TotalsQuery { merchant: merchant.into(), day_from: "20261127".into(), day_to: "20261127".into() };
        async move { store.txn_hours(query).await }
    };
    let hour = |hour: u8, count: i64, amount_minor: i64| HourRow { hour, count, amount_minor };
    let found = hours("m1").await?;
    ensure!(found == [hour(9, 2, 3_000), hour(14, 1, 500), hour(23, 1, 50)], "{found:?}");
    // A sale voided leaves its hour, in the commit that voids it; another merchant sees none.
    let mut voided = row("T1-000001-000002", 9, "sale", "voided", 2_000)?;
    voided.expected = Some(1);
    store.apply(Change { puts: vec![voided], ..Change::default() }).await?;
    let found = hours("m1").await?;
    ensure!(found == [hour(9, 1, 1_000), hour(14, 1, 500), hour(23, 1, 50)], "{found:?}");
    ensure!(hours("m2").await?.is_empty());
    Ok(())
}

/// Runs futures concurrently on the runtime and collects their outputs in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("task"));
    }
    out
}

pub async fn unique_keys_queries_and_blobs(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Blob, Change, RecordQuery, Rejection, StoreError, UniqueKey};
    let store = h.open().await?.store;
    let key = |id: &str| UniqueKey { kind: "user".into(), key: "phone:13800138000".into(), id: id.into() };
    store
        .apply(Change {
            puts: vec![put(record("user", "u1", "u1", "active", "{}"), None)],
            claim_keys: vec![key("u1")],
            ..Change::default()
        })
        .await?;
    let taken = store
        .apply(Change {
            puts: vec![put(record("user", "u2", "u2", "active", "{}"), None)],
            claim_keys: vec![key("u2")],
            ..Change::default()
        })
        .await;
    ensure!(matches!(taken, Err(StoreError::Rejected(Rejection::KeyTaken { .. }))), "{taken:?}");
    ensure!(store.record("user", "u2").await?.is_none(), "a refused change leaves nothing behind");
    ensure!(store.record_by_key("user", "phone:13800138000").await?.context("by key")?.id == "u1");

    // Queries by owner and status, paged.
    for i in 0..5 {
        let owner = if i % 2 == 0 { "m1" } else { "m2" };
        let status = if i < 3 { "submitted" } else { "approved" };
        store
            .apply(Change {
                puts: vec![put(record("application", &format!("a{i}"), owner, status, "{}"), None)],
                ..Change::default()
            })
            .await?;
    }
    let m1 = store.records(RecordQuery::kind("application").owner("m1")).await?;
    ensure!(m1.iter().map(|r| r.id.as_str()).collect::<Vec<_>>() == ["a0", "a2", "a4"], "{m1:?}");
    let queue = store.records(RecordQuery::kind("application").statuses(&["submitted"])).await?;
    ensure!(queue.len() == 3);
    let mut page = RecordQuery::kind("application");
    page.limit = 2;
    let first = store.records(page.clone()).await?;
    page.after = Some((first[1].created_at, first[1].id.clone()));
    let second = store.records(page).await?;
    ensure!(first.len() == 2 && second.len() == 2 && second[0].id == "a2", "{second:?}");

    // Unlisted records (one per payment) are found by id, never by the listing queries, and an
    // update that keeps them unlisted keeps them out.
    let mut unlisted = put(record("card_txn", "t1", "m1", "approved", "{}"), None);
    unlisted.listed = false;
    store.apply(Change { puts: vec![unlisted], ..Change::default() }).await?;
    let stored = store.record("card_txn", "t1").await?.context("found by id")?;
    ensure!(store.records(RecordQuery::kind("card_txn").owner("m1")).await?.is_empty());
    ensure!(store.records(RecordQuery::kind("card_txn").statuses(&["approved"])).await?.is_empty());
    let mut update = put(record("card_txn", "t1", "m1", "voided", "{\"v\":2}"), Some(stored.version));
    update.listed = false;
    store.apply(Change { puts: vec![update], ..Change::default() }).await?;
    ensure!(store.record("card_txn", "t1").await?.context("still found")?.status == "voided");
    ensure!(store.records(RecordQuery::kind("card_txn")).await?.is_empty());

    // Due records.
    let mut due = record("notification", "n1", "m1", "queued", "{}");
    due.due_at = Some(1);
    store.apply(Change { puts: vec![put(due, None)], ..Change::default() }).await?;
    ensure!(store.due_records("notification", "queued", now(), 10).await?.len() == 1);
    ensure!(store.due_records("notification", "queued", 0, 10).await?.is_empty());

    // Blobs are content-addressed: the same bytes twice are stored once and read back whole.
    let bytes = b"%PDF-1.4 test".to_vec();
    let sha256: [u8; 32] = Sha256::digest(&bytes).into();
    let blob = Blob { sha256, content_type: "application/pdf".into(), bytes: bytes.clone() };
    store.apply(Change { blobs: vec![blob.clone()], ..Change::default() }).await?;
    store.apply(Change { blobs: vec![blob.clone()], ..Change::default() }).await?;
    ensure!(store.blob(sha256).await?.context("blob")? == blob);
    ensure!(store.blob([0; 32]).await?.is_none());
    Ok(())
}

fn now() -> u64 {
    xingtong_store::now_ns()
}

pub async fn changes_carry_ledger_events_all_or_nothing(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, NewApiKey, Rejection, StoreError};
    let store = h.open().await?.store;
    let merchant = |id: &str| put(record("merchant", id, id, "active", "{}"), None);
    store
        .apply(Change { puts: vec![merchant("m1")], accounts: vec![account(10), account(11)], ..Change::default() })
        .await?;
    ensure!(store.lookup_accounts(vec![10, 11]).await?.len() == 2);
    // Account 11 exists: the whole change is refused, account 12 and merchant m2 included.
    let refused = store
        .apply(Change { puts: vec![merchant("m2")], accounts: vec![account(12), account(11)], ..Change::default() })
        .await;
    ensure!(matches!(refused, Err(StoreError::Rejected(Rejection::Accounts(_)))), "{refused:?}");
    ensure!(store.lookup_accounts(vec![12]).await?.is_empty());
    ensure!(store.record("merchant", "m2").await?.is_none());

    // Transfers too; and merchant API keys are created, listed by owner and revoked by owner only.
    let key = NewApiKey::generate_for("merchant", "till", Some("m1"), now());
    store
        .apply(Change {
            transfers: vec![transfer(100, 10, 11, 5)],
            api_keys: vec![key.record.clone()],
            ..Change::default()
        })
        .await?;
    ensure!(balance(&store, 11).await? == (0, 0, 0, 5));
    let keys = store.api_keys_of("m1").await?;
    ensure!(keys.len() == 1 && keys[0].owner.as_deref() == Some("m1"));
    store.apply(Change { revoke_api_keys: vec![(key.record.id.clone(), "m2".into())], ..Change::default() }).await?;
    ensure!(store.api_key(key.record.id.clone()).await?.context("key")?.revoked_at.is_none(), "not m2's key");
    store.apply(Change { revoke_api_keys: vec![(key.record.id.clone(), "m1".into())], ..Change::default() }).await?;
    ensure!(store.api_key(key.record.id.clone()).await?.context("key")?.revoked_at.is_some());
    audited(&store).await?;
    Ok(())
}

pub async fn counters_add_inside_the_writer_and_hold_their_maximum(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, CounterAdd, Rejection, StoreError};
    let store = h.open().await?.store;
    let add = |delta: i64, max: Option<i64>| Change {
        counters: vec![CounterAdd { key: "day:m1".into(), delta, max }],
        ..Change::default()
    };
    // 40 concurrent additions of 10 under a maximum of 300: exactly 30 fit, none conflicts.
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.apply_counting(add(10, Some(300))).await })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await? {
            Ok(values) => {
                ensure!(values.len() == 1 && values[0] <= 300);
                ok += 1;
            }
            Err(StoreError::Rejected(Rejection::CounterLimit { key })) => ensure!(key == "day:m1"),
            Err(e) => anyhow::bail!("{e}"),
        }
    }
    ensure!(ok == 30, "{ok}");
    ensure!(store.counter("day:m1").await? == 300);
    // Subtractions are never refused; a refused change moves no counter and writes nothing else.
    ensure!(store.apply_counting(add(-50, Some(300))).await? == [250]);
    let refused = store
        .apply(Change {
            puts: vec![put(record("t", "1", "o", "s", "{}"), None)],
            counters: vec![
                CounterAdd { key: "other".into(), delta: 5, max: None },
                CounterAdd { key: "day:m1".into(), delta: 51, max: Some(300) },
            ],
            ..Change::default()
        })
        .await;
    ensure!(matches!(refused, Err(StoreError::Rejected(Rejection::CounterLimit { .. }))), "{refused:?}");
    ensure!(store.counter("other").await? == 0 && store.record("t", "1").await?.is_none());
    ensure!(store.counter("never").await? == 0);
    // A zero delta with a maximum checks: it holds at or below, and is refused above.
    ensure!(store.apply_counting(add(0, Some(250))).await? == [250]);
    let checked = store.apply(add(0, Some(249))).await;
    ensure!(matches!(checked, Err(StoreError::Rejected(Rejection::CounterLimit { .. }))), "{checked:?}");
    Ok(())
}

/// Counters of windows that have passed are purged by key range, and only those.
pub async fn counters_of_past_windows_are_purged_by_key_range(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, CounterAdd};
    let store = h.open().await?.store;
    let keys = ["freq:0001:a", "freq:0001:b", "freq:0002:a", "freq:0003:a", "freq:", "fre", "freq;", "other:0001"];
    let counters = keys.iter().map(|k| CounterAdd { key: (*k).into(), delta: 1, max: None }).collect();
    store.apply(Change { counters, ..Change::default() }).await?;
    let purged = store.purge_counters("freq:".into(), "freq:0003".into()).await?;
    ensure!(purged == 4, "freq:, freq:0001:a, freq:0001:b and freq:0002:a: {purged}");
    for (key, left) in
        [("freq:0001:a", 0), ("freq:0002:a", 0), ("freq:0003:a", 1), ("fre", 1), ("freq;", 1), ("other:0001", 1)]
    {
        ensure!(store.counter(key).await? == left, "{key}");
    }
    ensure!(store.purge_counters("freq:".into(), "freq:0003".into()).await? == 0, "nothing left in range");
    store.close().await;
    Ok(())
}

/// A payment transaction as the store sees it: typed columns and a body.
fn txn(merchant: &str, id: &str, terminal: &str, batch: u32, stan: u32, day: &str, amount: i64) -> xingtong_store::Put {
    let columns = xingtong_store::TxnColumns {
        method: "card".into(),
        txn_type: "sale".into(),
        terminal_id: terminal.into(),
        batch,
        stan,
        business_day: day.into(),
        amount_minor: amount,
        fee_minor: amount / 100,
        response_code: "00".into(),
        channel: "iso8583".into(),
        at: 7,
        ..Default::default()
    };
    let mut put = put(record("card_txn", id, merchant, "approved", "body"), None);
    put.listed = false;
    put.txn = Some(columns);
    put
}

pub async fn transactions_live_in_a_typed_table_queried_by_merchant_day_and_batch(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, Rejection, StoreError, TxnQuery};
    let store = h.open().await?.store;
    let rows = [
        txn("m1", "T1-000001-000001", "T1", 1, 1, "20261126", 1_000),
        txn("m1", "T1-000001-000002", "T1", 1, 2, "20261127", 2_000),
        txn("m1", "T1-000002-000001", "T1", 2, 1, "20261127", 3_000),
        txn("m2", "T2-000001-000001", "T2", 1, 1, "20261127", 4_000),
    ];
    store.apply(Change { puts: rows.to_vec(), ..Change::default() }).await?;
    // Found by id, in its own table: the records table never sees it.
    let stored = store.transaction("card_txn", "T1-000001-000002").await?.context("found by id")?;
    ensure!(stored.owner == "m1" && stored.version == 1 && stored.body == b"body" && stored.status == "approved");
    ensure!(store.record("card_txn", "T1-000001-000002").await?.is_none());
    // Creating it again is refused; an update from its version goes through and moves the columns.
    let again = store.apply(Change { puts: vec![rows[1].clone()], ..Change::default() }).await;
    ensure!(matches!(again, Err(StoreError::Rejected(Rejection::Conflict { .. }))), "{again:?}");
    let mut voided = rows[1].clone();
    voided.expected = Some(1);
    voided.record.status = "voided".into();
    voided.txn.as_mut().context("columns")?.refunded_minor = 500;
    store.apply(Change { puts: vec![voided.clone()], ..Change::default() }).await?;
    let stale = store.apply(Change { puts: vec![voided], ..Change::default() }).await;
    ensure!(matches!(stale, Err(StoreError::Rejected(Rejection::Conflict { .. }))), "{stale:?}");

    // By merchant and business day, in (day, id) order, with a cursor.
    let day = |merchant: &str, from: &str, to: &str| TxnQuery {
        merchant: Some(merchant.into()),
        day_from: Some(from.into()),
        day_to: Some(to.into()),
        limit: 100,
        ..TxnQuery::default()
    };
    let m1 = store.transactions(day("m1", "20261127", "20261127")).await?;
    let ids: Vec<&str> = m1.iter().map(|t| t.record.id.as_str()).collect();
    ensure!(ids == ["T1-000001-000002", "T1-000002-000001"], "{ids:?}");
    ensure!(m1[0].record.status == "voided" && m1[0].record.version == 2 && m1[0].columns.refunded_minor == 500);
    ensure!(m1[1].columns.amount_minor == 3_000 && m1[1].columns.fee_minor == 30 && m1[1].columns.batch == 2);
    let mut page = day("m1", "20261101", "20261130");
    page.limit = 2;
    let first = store.transactions(page.clone()).await?;
    let last = first.last().context("a page")?;
    page.after = Some((last.columns.business_day.clone(), last.record.id.clone()));
    let second = store.transactions(page).await?;
    ensure!(first.len() == 2 && second.len() == 1 && second[0].record.id == "T1-000002-000001", "{second:?}");
    // By terminal and batch; by status.
    let batch = TxnQuery { terminal: Some("T1".into()), batch: Some(1), limit: 100, ..TxnQuery::default() };
    ensure!(store.transactions(batch).await?.len() == 2);
    let approved = TxnQuery { statuses: vec!["approved".into()], limit: 100, ..TxnQuery::default() };
    ensure!(store.transactions(approved).await?.len() == 3);
    // By payment method.
    let mut wallet = txn("m1", "T1-000002-000002", "T1", 2, 2, "20261127", 600);
    let columns = wallet.txn.as_mut().context("columns")?;
    columns.method = "wechat".into();
    columns.operator = "02".into();
    columns.business_type = "collection".into();
    store.apply(Change { puts: vec![wallet], ..Change::default() }).await?;
    let by = |methods: &[&str]| TxnQuery {
        merchant: Some("m1".into()),
        methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        limit: 100,
        ..TxnQuery::default()
    };
    // Twice: the first read may find them past a merchant index (SQLite's, kept off the commit
    // path), the second through it.
    for _ in 0..2 {
        let wechat = store.transactions(by(&["wechat"])).await?;
        ensure!(wechat.len() == 1 && wechat[0].record.id == "T1-000002-000002", "{wechat:?}");
        ensure!(store.transactions(by(&["card"])).await?.len() == 3);
        ensure!(store.transactions(by(&["card", "wechat"])).await?.len() == 4);
        ensure!(store.transactions(by(&["alipay"])).await?.is_empty());
        // By cashier and by business type, alone and with a method.
        let of = |operators: &[&str], types: &[&str], methods: &[&str]| TxnQuery {
            operators: operators.iter().map(|m| (*m).to_owned()).collect(),
            business_types: types.iter().map(|m| (*m).to_owned()).collect(),
            ..by(methods)
        };
        let cashier = store.transactions(of(&["02"], &[], &[])).await?;
        ensure!(cashier.len() == 1 && cashier[0].record.id == "T1-000002-000002", "{cashier:?}");
        ensure!(store.transactions(of(&["01"], &[], &[])).await?.is_empty());
        ensure!(store.transactions(of(&[], &["collection"], &["wechat"])).await?.len() == 1);
        ensure!(store.transactions(of(&[], &["collection"], &["card"])).await?.is_empty());
        ensure!(store.transactions(of(&["02", ""], &[], &[])).await?.len() == 4, "rows without a cashier match ''");
        let typed = |types: &[&str]| TxnQuery { types: types.iter().map(|t| (*t).to_owned()).collect(), ..by(&[]) };
        ensure!(store.transactions(typed(&["sale"])).await?.len() == 4);
        ensure!(store.transactions(typed(&["refund", "void"])).await?.is_empty());
    }

    // Moving a record into the table: put and remove in one change, all or nothing.
    let mut legacy = put(record("card_txn", "T3-000001-000001", "m3", "approved", "old"), None);
    legacy.listed = false;
    store.apply(Change { puts: vec![legacy], ..Change::default() }).await?;
    let found = store.unlisted_records("card_txn", 10).await?;
    ensure!(found.len() == 1 && found[0].id == "T3-000001-000001", "{found:?}");
    let moved = Change {
        puts: vec![txn("m3", "T3-000001-000001", "T3", 1, 1, "20261127", 5_000)],
        remove_records: vec![("card_txn".into(), "T3-000001-000001".into())],
        ..Change::default()
    };
    store.apply(moved).await?;
    ensure!(store.unlisted_records("card_txn", 10).await?.is_empty());
    ensure!(store.record("card_txn", "T3-000001-000001").await?.is_none());
    ensure!(store.transaction("card_txn", "T3-000001-000001").await?.is_some());

    // Settlement lines: written with their settlement's record, read back in order, by page.
    let line = |seq: u32, net: i64| xingtong_store::SettlementLine {
        merchant_id: "m1".into(),
        settlement_id: "stl-m1-20261127".into(),
        seq,
        txn_id: format!("T1-000001-{seq:06}"),
        txn_type: "sale".into(),
        business_day: "20261127".into(),
        amount_minor: net + 6,
        fee_minor: 6,
        surcharge_minor: 0,
        net_minor: net,
    };
    let settlement = put(record("settlement", "stl-m1-20261127", "m1", "cleared", "{}"), None);
    let lines: Vec<_> = (1..=5).map(|seq| line(seq, i64::from(seq) * 100)).collect();
    store.apply(Change { puts: vec![settlement], settlement_lines: lines.clone(), ..Change::default() }).await?;
    let first = store.settlement_lines("m1", "stl-m1-20261127", 0, 3).await?;
    let rest = store.settlement_lines("m1", "stl-m1-20261127", 3, 10).await?;
    ensure!(first == lines[..3] && rest == lines[3..], "{first:?} {rest:?}");
    ensure!(store.settlement_lines("m2", "stl-m1-20261127", 0, 10).await?.is_empty(), "another merchant's: none");
    Ok(())
}

pub async fn transaction_totals_follow_every_write_of_a_transaction(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, TotalsQuery, TotalsRow};
    let store = h.open().await?.store;
    let sale = |id: &str, stan: u32, day: &str, amount: i64, operator: &str| {
        let mut put = txn("m1", id, "T1", 1, stan, day, amount);
        let columns = put.txn.as_mut().expect("columns");
        columns.operator = operator.into();
        columns.business_type = "sale".into();
        put
    };
    // Three sales over two days and two cashiers, one of them in a change with another merchant's.
    let (a, b, c) = (
        sale("T1-000001-000001", 1, "20261127", 1_000, "01"),
        sale("T1-000001-000002", 2, "20261127", 2_000, "01"),
        sale("T1-000001-000003", 3, "20261128", 4_000, "02"),
    );
    store.apply(Change { puts: vec![a.clone(), b.clone()], ..Change::default() }).await?;
    store
        .apply(Change {
            puts: vec![c.clone(), txn("m2", "T2-000001-000001", "T2", 1, 1, "20261127", 9)],
            ..Change::default()
        })
        .await?;
    let totals = |from: &str, to: &str| {
        let query = TotalsQuery { merchant: "m1".into(), day_from: from.into(), day_to: to.into() };
        let store = store.clone();
        async move { store.txn_totals(query).await }
    };
    let bucket = |day: &str, operator: &str, status: &str, count: i64, amount: i64| TotalsRow {
        business_day: day.into(),
        terminal_id: "T1".into(),
        operator: operator.into(),
        method: "card".into(),
        business_type: "sale".into(),
        txn_type: "sale".into(),
        status: status.into(),
        count,
        amount_minor: amount,
        fee_minor: amount / 100,
    };
    let all = totals("20261101", "20261130").await?;
    ensure!(
        all == [bucket("20261127", "01", "approved", 2, 3_000), bucket("20261128", "02", "approved", 1, 4_000)],
        "{all:?}"
    );
    ensure!(totals("20261128", "20261128").await? == [bucket("20261128", "02", "approved", 1, 4_000)]);
    // Voided: the sale moves from its `approved` bucket to a `voided` one; an emptied bucket is
    // not listed.
    let mut voided = b.clone();
    voided.expected = Some(1);
    voided.record.status = "voided".into();
    store.apply(Change { puts: vec![voided], ..Change::default() }).await?;
    let mut refunded = c.clone();
    refunded.expected = Some(1);
    refunded.record.status = "reversed".into();
    store.apply(Change { puts: vec![refunded.clone()], ..Change::default() }).await?;
    let all = totals("20261101", "20261130").await?;
    ensure!(
        all == [
            bucket("20261127", "01", "approved", 1, 1_000),
            bucket("20261127", "01", "voided", 1, 2_000),
            bucket("20261128", "02", "reversed", 1, 4_000),
        ],
        "{all:?}"
    );
    // Written twice in one change (a pending payment approved at once): counted once, as it ended.
    let mut pending = sale("T1-000001-000004", 4, "20261128", 500, "02");
    pending.record.status = "pending".into();
    let mut approved = pending.clone();
    approved.expected = Some(1);
    approved.record.status = "approved".into();
    store.apply(Change { puts: vec![pending], ..Change::default() }).await?;
    store.apply(Change { puts: vec![approved], ..Change::default() }).await?;
    let day = totals("20261128", "20261128").await?;
    ensure!(
        day == [bucket("20261128", "02", "approved", 1, 500), bucket("20261128", "02", "reversed", 1, 4_000)],
        "{day:?}"
    );
    // The other merchant's are its own.
    let other = store
        .txn_totals(TotalsQuery { merchant: "m2".into(), day_from: "20261127".into(), day_to: "20261127".into() })
        .await?;
    ensure!(other.len() == 1 && other[0].count == 1 && other[0].amount_minor == 9, "{other:?}");
    // A refused write adds nothing: a second insert of an existing transaction.
    let again = store.apply(Change { puts: vec![a], ..Change::default() }).await;
    ensure!(again.is_err());
    ensure!(totals("20261127", "20261127").await?[0].count == 1);
    Ok(())
}

/// A row of a typed domain table: a payout of `merchant`, due `date`.
fn payout(merchant: &str, id: &str, status: &str, date: &str, amount: i64) -> xingtong_store::Put {
    let mut put = put(record("payout", id, merchant, status, "payout body"), None);
    put.typed = Some(
        xingtong_store::PayoutColumns {
            settlement_id: format!("stl_{id}"),
            business_day: "20261127".into(),
            purpose: "settlement".into(),
            amount_minor: amount,
            payout_date: date.into(),
            attempts: 0,
        }
        .into(),
    );
    put
}

pub async fn domain_tables_are_typed_versioned_and_queried_by_their_columns(h: &Harness) -> anyhow::Result<()> {
    use xingtong_store::{Change, Cmp, Rejection, StoreError, Table, TableQuery};
    let store = h.open().await?.store;
    let rows = [
        payout("m1", "po_a", "scheduled", "20261128", 1_000),
        payout("m1", "po_b", "scheduled", "20261129", 2_000),
        payout("m1", "po_c", "paid", "20261127", 3_000),
        payout("m2", "po_d", "scheduled", "20261127", 4_000),
    ];
    store.apply(Change { puts: rows.to_vec(), ..Change::default() }).await?;
    // Found by id in its own table: `records` never sees it.
    let stored = store.table_record(Table::Payouts, "payout", "po_b").await?.context("found by id")?;
    ensure!(
        stored.owner == "m1" && stored.version == 1 && stored.status == "scheduled" && stored.body == b"payout body"
    );
    ensure!(stored.created_at > 0 && stored.due_at.is_none());
    ensure!(store.record("payout", "po_b").await?.is_none());
    ensure!(store.table_record(Table::Settlements, "payout", "po_b").await?.is_none(), "another table");
    ensure!(store.records(xingtong_store::RecordQuery::kind("payout")).await?.is_empty());
    // Versioned like records: created once, updated from the version read, a stale write refused.
    let again = store.apply(Change { puts: vec![rows[1].clone()], ..Change::default() }).await;
    ensure!(matches!(again, Err(StoreError::Rejected(Rejection::Conflict { .. }))), "{again:?}");
    let mut paid = rows[1].clone();
    paid.expected = Some(1);
    paid.record.status = "paid".into();
    paid.record.created_at = stored.created_at;
    store.apply(Change { puts: vec![paid.clone()], ..Change::default() }).await?;
    let stale = store.apply(Change { puts: vec![paid], ..Change::default() }).await;
    ensure!(matches!(stale, Err(StoreError::Rejected(Rejection::Conflict { .. }))), "{stale:?}");
    let updated = store.table_record(Table::Payouts, "payout", "po_b").await?.context("updated")?;
    ensure!(updated.version == 2 && updated.status == "paid" && updated.created_at == stored.created_at);
    // A refused change leaves nothing: its new row is not there either.
    let mixed =
        Change { puts: vec![payout("m1", "po_e", "scheduled", "20261127", 5), rows[0].clone()], ..Change::default() };
    ensure!(store.apply(mixed).await.is_err());
    ensure!(store.table_record(Table::Payouts, "payout", "po_e").await?.is_none());

    // The payout queue: by status, due first, with a column filter and a cursor.
    let due = |limit: u32| {
        TableQuery::new(Table::Payouts)
            .statuses(&["scheduled"])
            .filter("payout_date", Cmp::AtMost, "20261128")
            .order_by("payout_date")
            .limit(limit)
    };
    let ids = |rows: &[xingtong_store::Record]| rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    ensure!(ids(&store.table_records(due(10)).await?) == ["po_d", "po_a"]);
    let mut page = due(1);
    page.after = Some(("20261127".into(), "po_d".into()));
    ensure!(ids(&store.table_records(page).await?) == ["po_a"]);
    // A merchant's, as created, and by amount range.
    let m1 = TableQuery::new(Table::Payouts).merchant("m1");
    ensure!(ids(&store.table_records(m1.clone()).await?) == ["po_a", "po_b", "po_c"]);
    let big = m1.filter("amount_minor", Cmp::AtLeast, 2_000i64);
    ensure!(ids(&store.table_records(big).await?) == ["po_b", "po_c"]);
    // A column the table does not have is refused, not passed to SQL.
    let bad = TableQuery::new(Table::Payouts).filter("terminal_id", Cmp::Eq, "T1");
    ensure!(matches!(store.table_records(bad).await, Err(StoreError::Query(_))));

    // Moving a record into its table, keeping its creation time: put and remove in one change.
    store
        .apply(Change { puts: vec![put(record("payout", "po_old", "m3", "paid", "old"), None)], ..Change::default() })
        .await?;
    let old = store.record("payout", "po_old").await?.context("legacy record")?;
    let mut moved = payout("m3", "po_old", "paid", "20261101", 7);
    moved.record.created_at = old.created_at;
    let change =
        Change { puts: vec![moved], remove_records: vec![("payout".into(), "po_old".into())], ..Change::default() };
    store.apply(change).await?;
    ensure!(store.record("payout", "po_old").await?.is_none());
    let row = store.table_record(Table::Payouts, "payout", "po_old").await?.context("moved")?;
    ensure!(row.created_at == old.created_at && row.version == 1);

    // Every table takes its own columns: a settlement and a batch, found and listed by theirs.
    let mut settlement = put(record("settlement", "stl_m1_20261127", "m1", "cleared", "{}"), None);
    settlement.typed = Some(
        xingtong_store::SettlementColumns {
            business_day: "20261127".into(),
            seq: 1,
            cycle: "t1".into(),
            captured_minor: 10_000,
            net_minor: 9_940,
            fees_minor: 60,
            payout_minor: 9_940,
            payout_date: "20261128".into(),
            ..Default::default()
        }
        .into(),
    );
    let mut batch = put(record("card_batch", "T1-000001", "m1", "balanced", "{}"), None);
    batch.typed = Some(
        xingtong_store::BatchColumns { terminal_id: "T1".into(), batch: 1, business_day: "20261127".into() }.into(),
    );
    store.apply(Change { puts: vec![settlement, batch], ..Change::default() }).await?;
    let of_day = TableQuery::new(Table::Settlements).merchant("m1").filter("business_day", Cmp::Eq, "20261127");
    ensure!(ids(&store.table_records(of_day.order_by("seq")).await?) == ["stl_m1_20261127"]);
    let of_terminal = TableQuery::new(Table::Batches).merchant("m1").filter("terminal_id", Cmp::Eq, "T1");
    ensure!(ids(&store.table_records(of_terminal.order_by("batch")).await?) == ["T1-000001"]);
    ensure!(store.table_record(Table::Batches, "card_batch", "T1-000001").await?.is_some());
    Ok(())
}

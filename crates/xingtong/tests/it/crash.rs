//! Kill the server with SIGKILL while clients post transfers, restart it, and check that every
//! acknowledged transfer is there, no batch is half-applied, and the ledger balances.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::server::{Backend, Server, request};

const ACCOUNTS: u64 = 4;
const CLIENTS: u64 = 8;

/// One request a client sent: its key, its transfers (id, debit, credit, amount), and whether
/// the server acknowledged it (201) or the outcome is unknown (the connection broke).
#[derive(Debug, Clone)]
struct Sent {
    key: String,
    transfers: Vec<(u64, u64, u64, u64)>,
    acknowledged: bool,
}

fn body(transfers: &[(u64, u64, u64, u64)]) -> Value {
    let transfers: Vec<Value> = transfers
        .iter()
        .map(|(id, debit, credit, amount)| {
            json!({"id": id.to_string(), "debit_account_id": debit.to_string(), "credit_account_id": credit.to_string(), "amount": amount, "ledger": 156, "code": 1})
        })
        .collect();
    json!({ "transfers": transfers })
}

fn run(backend: Backend) -> anyhow::Result<()> {
    let mut server = Server::start(&backend)?;
    let token = server.admin_key.clone().expect("a fresh database prints the admin key");
    let accounts: Vec<Value> =
        (1..=ACCOUNTS).map(|id| json!({"id": id.to_string(), "ledger": 156, "code": 1})).collect();
    let created =
        request(server.address, "POST", "/v1/ledger/accounts", &token, None, Some(&json!({ "accounts": accounts })))?;
    anyhow::ensure!(created.status == 201, "accounts: {:?}", created);

    // Clients post batches of 1–3 transfers until the server dies under them.
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let address = server.address;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (sent, stop, acknowledged, token) =
                (Arc::clone(&sent), Arc::clone(&stop), Arc::clone(&acknowledged), token.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let size = 1 + (n % 3);
                    let transfers: Vec<_> = (0..size)
                        .map(|i| {
                            let id = client * 1_000_000 + n * 10 + i;
                            let debit = 1 + (id % ACCOUNTS);
                            let credit = 1 + ((id + 1 + i) % ACCOUNTS);
                            let credit = if credit == debit { 1 + (debit % ACCOUNTS) } else { credit };
                            (id, debit, credit, 1 + id % 1_000)
                        })
                        .collect();
                    let key = format!("c{client}-n{n}");
                    let reply =
                        request(address, "POST", "/v1/ledger/transfers", &token, Some(&key), Some(&body(&transfers)));
                    let ok = matches!(&reply, Ok(r) if r.status == 201);
                    if let Ok(r) = &reply {
                        assert!(r.status == 201, "a live server refused a valid batch: {r:?}");
                    }
                    if ok {
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                    }
                    sent.lock().unwrap().push(Sent { key, transfers, acknowledged: ok });
                    if reply.is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    // Let real load build up, then kill mid-flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acknowledged.load(Ordering::Relaxed) < 300 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill()?;
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("client thread");
    }
    let sent = sent.lock().unwrap().clone();
    let acked = sent.iter().filter(|s| s.acknowledged).count();
    anyhow::ensure!(acked >= 100, "only {acked} batches were acknowledged before the kill");
    eprintln!("crash test: {acked} batches acknowledged, {} in doubt when killed", sent.len() - acked);

    // Restart on the same data. The server audits the ledger before it listens.
    let server = Server::start(&backend)?;
    anyhow::ensure!(server.admin_key.is_none(), "a restart must not make a new admin key");
    let present = |id: u64| -> anyhow::Result<Option<u64>> {
        let reply = request(server.address, "GET", &format!("/v1/ledger/transfers/{id}"), &token, None, None)?;
        match reply.status {
            200 => Ok(reply.body["amount"].as_u64()),
            404 => Ok(None),
            other => anyhow::bail!("GET transfer {id}: {other}"),
        }
    };
    let mut in_doubt = Vec::new();
    for s in &sent {
        let found: Vec<Option<u64>> = s.transfers.iter().map(|t| present(t.0)).collect::<anyhow::Result<_>>()?;
        let all = found.iter().zip(&s.transfers).all(|(f, t)| *f == Some(t.3));
        let none = found.iter().all(Option::is_none);
        anyhow::ensure!(all || none, "batch {} is half-applied: {found:?}", s.key);
        if s.acknowledged {
            anyhow::ensure!(all, "acknowledged batch {} was lost", s.key);
        } else {
            in_doubt.push((s.clone(), all));
        }
    }
    // Retrying an in-doubt request with its key is safe: it replays or applies, exactly once.
    for (s, was_applied) in &in_doubt {
        let reply =
            request(server.address, "POST", "/v1/ledger/transfers", &token, Some(&s.key), Some(&body(&s.transfers)))?;
        anyhow::ensure!(reply.status == 201, "retry of {} (applied before: {was_applied}): {:?}", s.key, reply);
    }
    // Every account's balances equal a replay of everything sent, and the ledger balances.
    let mut expected: BTreeMap<u64, (u64, u64)> = (1..=ACCOUNTS).map(|id| (id, (0, 0))).collect();
    for s in &sent {
        for (_, debit, credit, amount) in &s.transfers {
            expected.get_mut(debit).unwrap().0 += amount;
            expected.get_mut(credit).unwrap().1 += amount;
        }
    }
    let (mut debits, mut credits) = (0, 0);
    for (id, (debit, credit)) in &expected {
        let account = request(server.address, "GET", &format!("/v1/ledger/accounts/{id}"), &token, None, None)?;
        let got = (
            account.body["debits_posted"].as_u64().unwrap_or(u64::MAX),
            account.body["credits_posted"].as_u64().unwrap_or(u64::MAX),
        );
        anyhow::ensure!(got == (*debit, *credit), "account {id}: {got:?} != {:?}", (debit, credit));
        debits += got.0;
        credits += got.1;
    }
    anyhow::ensure!(debits == credits, "Σ debits {debits} ≠ Σ credits {credits}");
    drop(server);
    Ok(())
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged_on_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    run(Backend::Sqlite(dir.path().to_path_buf()))
}

#[test]
fn sigkill_under_load_loses_nothing_acknowledged_on_postgres() -> anyhow::Result<()> {
    let Some(backend) = Backend::postgres() else { return Ok(()) };
    let result = run(backend.clone());
    backend.cleanup();
    result
}

/// SIGKILL in the middle of a clearing run, then the run again: every merchant-day cleared exactly
/// once (one settlement each, the ledger's payouts in transit equal to the settlements' payouts),
/// the ledger balanced, and a third run changes nothing.
#[test]
fn a_clearing_run_killed_midway_and_run_again_clears_every_merchant_once() -> anyhow::Result<()> {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let binary = env!("CARGO_BIN_EXE_xingtong");
    let (merchants, transactions) = (2_000u64, 100_000u64);
    let wrote = Command::new(binary)
        .args(["bench", "clearing", "--write-only", "--merchants", &merchants.to_string()])
        .args(["--transactions", &transactions.to_string(), "--data-dir"])
        .arg(&data)
        .env_remove("XINGTONG_BENCH_POSTGRES_URL")
        .output()?;
    anyhow::ensure!(wrote.status.success(), "{}", String::from_utf8_lossy(&wrote.stderr));
    let clearing = || {
        let mut command = Command::new(binary);
        command.args(["admin", "clearing", "run", "--date", "2026-11-26", "--json", "--data-dir"]).arg(&data);
        command.env_remove("XINGTONG_CONFIG").stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    };
    // Killed once some merchants are cleared and others not (the audit log says how far it got).
    let mut run = clearing().spawn()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let cleared = settlements_so_far(&data)?;
        if cleared >= 50 || std::time::Instant::now() > deadline {
            break;
        }
        anyhow::ensure!(run.try_wait()?.is_none(), "the run ended before it could be killed");
    }
    run.kill()?;
    run.wait()?;
    let before = settlements_so_far(&data)?;
    anyhow::ensure!(before > 0 && before < merchants, "killed midway: {before} of {merchants} cleared");
    let again = clearing().output()?;
    anyhow::ensure!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let report: Value = serde_json::from_slice(&again.stdout)?;
    anyhow::ensure!(
        report["cleared"].as_u64().unwrap_or(0) + report["already_cleared"].as_u64().unwrap_or(0) == merchants
            && report["already_cleared"].as_u64() >= Some(before)
            && report["ledger_balanced"] == true,
        "{report}"
    );
    let third: Value = serde_json::from_slice(&clearing().output()?.stdout)?;
    anyhow::ensure!(third["cleared"] == 0 && third["already_cleared"] == merchants, "{third}");
    // Exactly once, to the fen: what the ledger moved to payouts in transit is what the
    // settlements say they paid, and every merchant's payable is empty.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let store = xingtong_store::Store::open(xingtong_store::StoreOptions::new(xingtong_store::Database::Sqlite {
            data_dir: data.clone(),
        }))
        .await?
        .store;
        let mut query = xingtong_store::TableQuery::new(xingtong_store::Table::Settlements).limit(1_000);
        let (mut count, mut payouts) = (0u64, 0i128);
        loop {
            let page = store.table_records(query.clone()).await?;
            for record in &page {
                let s: Value = serde_json::from_slice(&record.body)?;
                payouts += i128::from(s["payout_minor"].as_i64().unwrap_or(0));
                count += 1;
            }
            if page.len() < 1_000 {
                break;
            }
            query.after = page.last().map(|r| ((r.created_at as i64).into(), r.id.clone()));
        }
        let in_transit =
            xingtong_payments::chart::platform_account_id(xingtong_payments::chart::ACCOUNT_PAYOUTS_IN_TRANSIT);
        let account = store.lookup_accounts(vec![in_transit]).await?;
        let balance = account.first().map(|a| a.credits_posted as i128 - a.debits_posted as i128).unwrap_or(0);
        anyhow::ensure!(
            count == merchants && balance == payouts && payouts > 0,
            "{count} settlements, {payouts} vs {balance}"
        );
        store.audit().await?;
        store.close().await;
        anyhow::Ok(())
    })
}

/// How many settlements the audit log records so far (read beside the writer, like any reader).
fn settlements_so_far(data: &std::path::Path) -> anyhow::Result<u64> {
    let db = data.join("xingtong.sqlite3");
    if !db.exists() {
        return Ok(0);
    }
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    let n: i64 = conn
        .query_row("SELECT count(*) FROM audit_log WHERE action = 'settlement.cleared'", [], |r| r.get(0))
        .unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

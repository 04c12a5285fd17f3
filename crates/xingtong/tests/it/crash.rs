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

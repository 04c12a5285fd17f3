//! `xingtong bench ledger`: durable ledger transfers per second through the store's group commit.
//!
//! For each backend it opens a fresh database, creates the accounts, then runs four scenarios:
//! one client committing batches of 1, 100 and 8,000 transfers, and 64 concurrent clients each
//! committing single transfers (which group commit gathers). Every transfer is durable before its
//! call returns, exactly as in the server. Latency is per call, from submit to durable reply.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use xingtong_ledger::{Account, CreateTransferResult, Transfer};
use xingtong_store::{Database, Outcome, Store, StoreOptions};

use crate::{Latencies, Percentiles};

/// What to run.
#[derive(Debug, Clone)]
pub struct LedgerBenchOptions {
    /// PostgreSQL URL; `None` skips PostgreSQL (the report says so).
    pub postgres_url: Option<String>,
    /// Accounts transfers are spread over.
    pub accounts: u32,
    /// Upper bound on each scenario's wall time.
    pub scenario_seconds_max: f64,
    /// Upper bound on transfers per scenario.
    pub scenario_transfers_max: u64,
}

impl Default for LedgerBenchOptions {
    fn default() -> Self {
        LedgerBenchOptions {
            postgres_url: None,
            accounts: 10_000,
            scenario_seconds_max: 5.0,
            scenario_transfers_max: 400_000,
        }
    }
}

/// One scenario's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// e.g. `batch_8000` or `concurrent_64x1`.
    pub scenario: String,
    /// Events per call.
    pub batch_size: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// Transfers committed.
    pub transfers: u64,
    /// Wall time.
    pub seconds: f64,
    /// Transfers committed per second.
    pub transfers_per_second: f64,
    /// Per-call latency until durable.
    pub commit_latency: Percentiles,
}

/// One backend's figures, or why it was skipped.
#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Set when the backend did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Scenario results.
    pub scenarios: Vec<ScenarioReport>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerReport {
    /// Always `ledger`.
    pub bench: &'static str,
    /// Cores the machine has.
    pub cores: usize,
    /// Accounts transfers were spread over.
    pub accounts: u32,
    /// Per backend.
    pub backends: Vec<BackendReport>,
}

/// Runs the benchmark; `progress` receives a line per finished scenario.
pub async fn run(options: &LedgerBenchOptions, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<LedgerReport> {
    let mut backends = Vec::new();
    let dir = tempfile::tempdir()?;
    backends
        .push(run_backend("sqlite", Database::Sqlite { data_dir: dir.path().to_path_buf() }, options, progress).await?);
    match &options.postgres_url {
        Some(url) => {
            let schema = format!("xt_bench_{}", std::process::id());
            let report = run_backend(
                "postgres",
                Database::Postgres { url: url.clone(), schema: Some(schema.clone()) },
                options,
                progress,
            )
            .await;
            drop_schema(url, &schema).await;
            backends.push(report?);
        }
        None => backends.push(BackendReport {
            backend: "postgres".into(),
            skipped: Some("no PostgreSQL URL given (--postgres or XINGTONG_BENCH_POSTGRES_URL)".into()),
            scenarios: vec![],
        }),
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    Ok(LedgerReport { bench: "ledger", cores, accounts: options.accounts, backends })
}

/// Drops the run's schema, best effort: a leftover schema only costs disk.
pub(crate) async fn drop_schema(url: &str, schema: &str) {
    let (url, schema) = (url.to_owned(), schema.to_owned());
    let _ = tokio::task::spawn_blocking(move || xingtong_store::postgres::drop_schema(&url, &schema)).await;
}

async fn run_backend(
    name: &str,
    database: Database,
    options: &LedgerBenchOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<BackendReport> {
    let store = Store::open(StoreOptions::new(database)).await?.store;
    let accounts: Vec<Account> = (1..=u128::from(options.accounts))
        .map(|id| Account { id, ledger: 156, code: 1, ..Account::default() })
        .collect();
    for chunk in accounts.chunks(xingtong_ledger::BATCH_EVENTS_MAX) {
        store.create_accounts(chunk.to_vec(), None).await?;
    }
    let mut next_id: u128 = 1 << 64;
    let mut scenarios = Vec::new();
    for (batch_size, clients) in [(1usize, 1usize), (100, 1), (8_000, 1), (1, 64)] {
        let report = scenario(&store, options, batch_size, clients, &mut next_id).await?;
        progress(&format!(
            "{name:>8} {:<18} {:>10.0} transfers/s  p50 {:>9.1} µs  p99 {:>9.1} µs",
            report.scenario, report.transfers_per_second, report.commit_latency.p50_us, report.commit_latency.p99_us
        ));
        scenarios.push(report);
    }
    let audit = store.audit().await?;
    anyhow::ensure!(!audit.ledgers.is_empty(), "the audit saw the ledger");
    store.close().await;
    Ok(BackendReport { backend: name.into(), skipped: None, scenarios })
}

async fn scenario(
    store: &Store,
    options: &LedgerBenchOptions,
    batch_size: usize,
    clients: usize,
    next_id: &mut u128,
) -> anyhow::Result<ScenarioReport> {
    let deadline = Duration::from_secs_f64(options.scenario_seconds_max);
    let per_client_max = options.scenario_transfers_max / clients as u64;
    let accounts = u128::from(options.accounts);
    let started = Instant::now();
    let mut tasks = Vec::new();
    // Ids are time-ordered across all clients, as docs/api.md recommends (UUIDv7-like): one shared
    // counter. Accounts are drawn uniformly at random, the costly case for storage.
    let ids = Arc::new(AtomicU64::new(0));
    let base_id = *next_id;
    for client in 0..clients {
        let store = store.clone();
        let ids = Arc::clone(&ids);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let mut done: u64 = 0;
            let mut seed = (base_id as u64) ^ (client as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            while started.elapsed() < deadline && done < per_client_max {
                let first = ids.fetch_add(batch_size as u64, Ordering::Relaxed);
                let batch: Vec<Transfer> = (0..batch_size)
                    .map(|i| {
                        let id = base_id + u128::from(first) + i as u128 + 1;
                        let (debit, credit) = random_pair(&mut seed, accounts);
                        Transfer {
                            id,
                            debit_account_id: debit,
                            credit_account_id: credit,
                            amount: 1 + (seed % 10_000) as u128,
                            ledger: 156,
                            code: 1,
                            ..Transfer::default()
                        }
                    })
                    .collect();
                let call = Instant::now();
                let outcome = store.create_transfers(batch, None).await?;
                latencies.record(call.elapsed());
                let Outcome::Applied(results) = outcome else { anyhow::bail!("no idempotency key was given") };
                anyhow::ensure!(results.iter().all(|r| *r == CreateTransferResult::Ok), "a benchmark transfer failed");
                done += batch_size as u64;
            }
            anyhow::Ok((done, latencies))
        }));
    }
    let mut transfers = 0;
    let mut latencies = Latencies::default();
    for task in tasks {
        let (done, l) = task.await??;
        transfers += done;
        latencies.extend(l);
    }
    let seconds = started.elapsed().as_secs_f64();
    *next_id += 1 << 48;
    let scenario =
        if clients == 1 { format!("batch_{batch_size}") } else { format!("concurrent_{clients}x{batch_size}") };
    Ok(ScenarioReport {
        scenario,
        batch_size,
        clients,
        transfers,
        seconds,
        transfers_per_second: transfers as f64 / seconds,
        commit_latency: latencies.percentiles(),
    })
}

/// Two different accounts in `1..=accounts`, from a xorshift generator (deterministic per client).
fn random_pair(seed: &mut u64, accounts: u128) -> (u128, u128) {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        u128::from(*seed) % accounts + 1
    };
    let debit = next();
    let mut credit = next();
    if credit == debit {
        credit = debit % accounts + 1;
    }
    (debit, credit)
}

//! `xingtong bench clearing`: a business day of card transactions for many merchants, cleared.
//!
//! Setup (not part of the measure): merchants with their ledger accounts, and their day's card
//! transactions written as the engine writes them (a typed row with a compact body, and the ledger
//! transfers of each sale: clearing to the merchant net of the fee, clearing to fee revenue), a
//! tenth of them refunded in part. Then the measure: `Engine::clear_day`, which makes every
//! settlement with its lines, ledger transfers and payout durable. Then checks: Σ payouts equals
//! the money that reached the merchants, and the ledger audits balanced.

use std::time::Instant;

use serde::Serialize;
use xingtong_ledger::Account;
use xingtong_merchants::merchant::{BankCard, Merchant, SettlementCycle};
use xingtong_onboarding::application::BusinessType;
use xingtong_payments::card::{Brand, CardType};
use xingtong_payments::chart;
use xingtong_payments::txn::{BusinessType as Business, CardTransaction, Kind, Status};
use xingtong_store::{Change, Database, Store, StoreOptions};

/// What to run.
#[derive(Debug, Clone)]
pub struct ClearingBenchOptions {
    /// Merchants.
    pub merchants: u32,
    /// Card transactions in all (sales and refunds), spread evenly.
    pub transactions: u32,
    /// PostgreSQL to measure as well.
    pub postgres_url: Option<String>,
    /// Write the day into this SQLite data directory (kept) instead of a temporary one.
    pub data_dir: Option<std::path::PathBuf>,
    /// Only write the day; clear nothing (to clear it with `xingtong admin clearing run`).
    pub write_only: bool,
}

/// One backend's figures.
#[derive(Debug, Serialize)]
pub struct BackendReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Why it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Seconds to write the day (not measured).
    pub setup_s: f64,
    /// Seconds of the whole clearing run: every settlement, line, transfer and payout durable.
    pub clearing_s: f64,
    /// Settlements made.
    pub settlements: u64,
    /// Lines written.
    pub lines: u64,
    /// Lines per second of clearing.
    pub lines_per_s: f64,
    /// Seconds of the audit after it.
    pub audit_s: f64,
    /// Σ payouts equals what reached the merchants, and the ledger balances.
    pub checked: bool,
}

/// The report.
#[derive(Debug, Serialize)]
pub struct ClearingReport {
    /// `clearing`.
    pub bench: &'static str,
    /// Cores of this machine.
    pub cores: usize,
    /// Merchants.
    pub merchants: u32,
    /// Transactions.
    pub transactions: u32,
    /// The target on SQLite, seconds of clearing.
    pub target_sqlite_s: f64,
    /// Each backend.
    pub backends: Vec<BackendReport>,
}

/// Runs the benchmark; `progress` hears what is going on.
pub async fn run(options: &ClearingBenchOptions, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<ClearingReport> {
    let mut backends = Vec::new();
    let dir = tempfile::tempdir()?;
    let data_dir = options.data_dir.clone().unwrap_or_else(|| dir.path().to_path_buf());
    backends.push(run_backend("sqlite", Database::Sqlite { data_dir }, options, progress).await?);
    match &options.postgres_url {
        Some(url) => {
            let schema = format!("xt_bench_clearing_{}", std::process::id());
            let report = run_backend(
                "postgres",
                Database::Postgres { url: url.clone(), schema: Some(schema.clone()) },
                options,
                progress,
            )
            .await;
            crate::ledger::drop_schema(url, &schema).await;
            backends.push(report?);
        }
        None => backends.push(BackendReport {
            backend: "postgres".into(),
            skipped: Some("no PostgreSQL URL given (--postgres or XINGTONG_BENCH_POSTGRES_URL)".into()),
            setup_s: 0.0,
            clearing_s: 0.0,
            settlements: 0,
            lines: 0,
            lines_per_s: 0.0,
            audit_s: 0.0,
            checked: false,
        }),
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    Ok(ClearingReport {
        bench: "clearing",
        cores,
        merchants: options.merchants,
        transactions: options.transactions,
        target_sqlite_s: 10.0,
        backends,
    })
}

/// The business day the bench clears.
pub const DAY: &str = "20261126";

fn mid_of(n: u32) -> String {
    format!("8983100539{n:05}")
}

fn merchant(n: u32) -> Merchant {
    let mid = mid_of(n);
    Merchant {
        mid: mid.clone(),
        name: format!("商户{n}"),
        business_type: BusinessType::Individual,
        mcc: "5399".into(),
        owner_user_id: format!("usr_bench{n}"),
        legal_name: "王芳".into(),
        phone: "13900000000".into(),
        email: None,
        application_id: format!("app_bench{n}"),
        terms: xingtong_onboarding::terms::Terms::for_business_type(BusinessType::Individual),
        settlement_card: BankCard {
            card_number: "6222021234567890128".into(),
            bank_name: "中国银行".into(),
            account_holder: "王芳".into(),
            verified_at: 1,
        },
        settlement_account_id: chart::merchant_account_id(&mid, chart::ACCOUNT_MERCHANT_SETTLEMENT)
            .unwrap_or(0)
            .to_string(),
        deposit_account_id: chart::merchant_account_id(&mid, chart::ACCOUNT_MERCHANT_DEPOSIT).unwrap_or(0).to_string(),
        status: "active".into(),
        settlement_cycle: if n.is_multiple_of(10) { SettlementCycle::D0 } else { SettlementCycle::T1 },
        fee_changes: Vec::new(),
    }
}

/// One merchant's day: `count` transactions (every tenth a partial refund of the sale before it),
/// as one change, and what reached the merchant (Σ net).
fn merchant_day(n: u32, count: u32) -> (Change, i64) {
    let mid = mid_of(n);
    let tid = format!("{:08}", 20_000_000 + n);
    let accounts = xingtong_payments::postings::Accounts::of(&mid);
    let mut change = Change::default();
    let mut net = 0i64;
    let mut last_sale: Option<(u32, i64, i64)> = None;
    for stan in 1..=count {
        // The engine's posting rules, with the network paying clearing (no payer leg).
        let (kind, amount, fee, (transfers, movements)) = match last_sale.take() {
            Some((_, sale_amount, sale_fee)) if stan % 10 == 0 => {
                let amount = sale_amount / 2;
                let fee_back = sale_fee / 2;
                net -= amount - fee_back;
                (
                    Kind::Refund,
                    amount,
                    -fee_back,
                    xingtong_payments::postings::refund(&accounts, None, amount, fee_back),
                )
            }
            _ => {
                let amount = 1_000 + i64::from((stan * 7_919 + n * 104_729) % 200_000);
                let fee = (amount * 5 / 1_000).min(2_000);
                net += amount - fee;
                last_sale = Some((stan, amount, fee));
                (Kind::Sale, amount, fee, xingtong_payments::postings::sale(&accounts, None, amount, fee))
            }
        };
        let txn = CardTransaction {
            id: CardTransaction::key(&tid, 1, stan),
            kind,
            status: Status::Approved,
            decline: None,
            mid: mid.clone(),
            tid: tid.clone(),
            batch: 1,
            stan,
            operator: "01".into(),
            amount_minor: amount,
            fee_minor: fee,
            pan_masked: "622202*********0128".into(),
            pan_token: "bench".into(),
            brand: Some(Brand::Unionpay),
            card_type: Some(CardType::Debit),
            rrn: format!("{stan:012}"),
            auth_code: Some("123456".into()),
            business_type: Business::Sale,
            original_id: None,
            refunded_minor: 0,
            fee_refunded_minor: 0,
            funding: Some(xingtong_payments::network::Funding::Network),
            pending_transfer: None,
            movements,
            channel: "iso8583".into(),
            business_day: DAY.into(),
            at: 1,
            reason: None,
            balance_minor: None,
            customer_phone: None,
            customer_email: None,
            qr: None,
            binding: None,
            session_guard: None,
        };
        match xingtong_merchants::entity::insert(&txn) {
            Ok(put) => change.puts.push(put),
            Err(error) => unreachable!("a bench transaction always encodes: {error}"),
        }
        change.transfers.extend(transfers);
    }
    (change, net)
}

async fn run_backend(
    name: &str,
    database: Database,
    options: &ClearingBenchOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<BackendReport> {
    let key_dir = tempfile::tempdir()?;
    let store = Store::open(StoreOptions::new(database)).await?.store;
    let merchants = xingtong_merchants::Merchants::new(
        store.clone(),
        xingtong_merchants::load_or_create_master_key(&key_dir.path().join("master.key"))?,
        xingtong_merchants::Config::default(),
    );
    let sandbox = std::sync::Arc::new(xingtong_payments::sandbox::SandboxNetwork::new(store.clone(), &merchants));
    let engine = xingtong_payments::Engine::new(
        merchants,
        sandbox as std::sync::Arc<dyn xingtong_payments::network::CardNetwork>,
        std::sync::Arc::new(xingtong_payments::sandbox_wallet::SandboxWallets::new(store.clone(), Default::default())),
        xingtong_payments::Config::default(),
    );
    engine.bootstrap().await?;

    // The day: merchants and their accounts, then their transactions, many changes in flight.
    let started = Instant::now();
    let n = options.merchants.max(1);
    let per_merchant = (options.transactions / n).max(1);
    for chunk in (1..=n).collect::<Vec<_>>().chunks(500) {
        let mut accounts = Change::default();
        let mut records = Change::default();
        for &i in chunk {
            let m = merchant(i);
            for code in [chart::ACCOUNT_MERCHANT_SETTLEMENT, chart::ACCOUNT_MERCHANT_DEPOSIT] {
                accounts.accounts.push(Account {
                    id: chart::merchant_account_id(&m.mid, code).unwrap_or(0),
                    ledger: chart::LEDGER_CNY,
                    code,
                    ..Account::default()
                });
            }
            records.puts.push(xingtong_merchants::entity::insert(&m)?);
        }
        store.apply(accounts).await?;
        store.apply(records).await?;
    }
    let mut expected_net = 0i64;
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 1..=n {
        let (change, net) = merchant_day(i, per_merchant);
        expected_net += net;
        let store = store.clone();
        in_flight.spawn(async move { store.apply(change).await });
        while in_flight.len() >= 64 {
            if let Some(done) = in_flight.join_next().await {
                done??;
            }
        }
        if i % 1_000 == 0 {
            progress(&format!("clearing bench ({name}): {i}/{n} merchants' days written"));
        }
    }
    while let Some(done) = in_flight.join_next().await {
        done??;
    }
    let setup_s = started.elapsed().as_secs_f64();
    if options.write_only {
        progress(&format!("clearing bench ({name}): the day {DAY} written in {setup_s:.1} s; not cleared"));
        store.close().await;
        return Ok(BackendReport {
            backend: name.into(),
            skipped: Some("--write-only: the day was written, not cleared".into()),
            setup_s,
            clearing_s: 0.0,
            settlements: 0,
            lines: 0,
            lines_per_s: 0.0,
            audit_s: 0.0,
            checked: false,
        });
    }
    progress(&format!("clearing bench ({name}): the day written in {setup_s:.1} s; clearing"));

    // The measure.
    let started = Instant::now();
    let report = engine.clear_day(DAY, &|_, _| {}).await?;
    let clearing_s = started.elapsed().as_secs_f64();
    progress(&format!(
        "clearing bench ({name}): {} settlements, {} lines in {clearing_s:.2} s",
        report.cleared, report.lines
    ));
    let audited = Instant::now();
    let balanced = store.audit().await.is_ok();
    let audit_s = audited.elapsed().as_secs_f64();
    let surcharge = report.surcharge_minor;
    let checked = balanced && report.payout_minor + surcharge == expected_net && report.cleared == u64::from(n);
    store.close().await;
    Ok(BackendReport {
        backend: name.into(),
        skipped: None,
        setup_s,
        clearing_s,
        settlements: report.cleared,
        lines: report.lines,
        lines_per_s: report.lines as f64 / clearing_s.max(1e-9),
        audit_s,
        checked,
    })
}

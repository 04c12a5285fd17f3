//! `xingtong bench console`: the merchant console's pages for a merchant with a million
//! transactions, timed as a browser asks for them (the whole HTTP application, middleware and
//! all, in process: no network in the figure).
//!
//! Setup (not measured): one merchant, its owner signed in, and `--transactions` card and QR
//! transactions written as the engine writes them (typed rows, compact bodies; the writer keeps the
//! report totals) spread over `--days` business days ending on the bench's last day, across 10
//! terminals and 3 cashiers, a tenth refunds, a twentieth voids with their voided sales, a tenth
//! paid by WeChat Pay; and a settlement per day. Then each page is asked for once to warm it,
//! then `--rounds` times, timed: the transaction list (first page, and filtered by method), the
//! month's sales report (by day, and by method), the settlement list.

use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use tower::ServiceExt;
use xingtong_merchants::merchant::{BankCard, Merchant, SettlementCycle};
use xingtong_onboarding::application::BusinessType;
use xingtong_payments::card::{Brand, CardType};
use xingtong_payments::chart;
use xingtong_payments::clearing::{Settlement, SettlementStatus};
use xingtong_payments::txn::{BusinessType as Business, CardTransaction, Kind, Status};
use xingtong_store::{Change, Database, Store, StoreOptions};

/// What to run.
#[derive(Debug, Clone)]
pub struct ConsoleBenchOptions {
    /// Transactions of the merchant.
    pub transactions: u32,
    /// Business days they spread over.
    pub days: u32,
    /// Timed requests of each page.
    pub rounds: u32,
}

/// One page's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PageFigures {
    /// What was asked for.
    pub page: String,
    /// Median, milliseconds.
    pub median_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// The slowest, milliseconds.
    pub max_ms: f64,
    /// The first request (before anything was warm), milliseconds.
    pub first_ms: f64,
    /// The answer's size, bytes.
    pub bytes: usize,
    /// Median at or under the target.
    pub within_target: bool,
}

/// What `bench console` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleReport {
    /// `console`.
    pub bench: &'static str,
    /// CPU cores.
    pub cores: usize,
    /// The backend.
    pub backend: &'static str,
    /// Transactions of the merchant.
    pub transactions: u32,
    /// Days they spread over.
    pub days: u32,
    /// Writing them (not measured), seconds.
    pub setup_s: f64,
    /// The target per page, milliseconds (issue #16: ≤ 100 ms on this machine).
    pub target_ms: f64,
    /// Each page.
    pub pages: Vec<PageFigures>,
}

/// The bench's last business day.
pub const LAST_DAY: &str = "20261126";
const MID: &str = "898310053900001";
const TARGET_MS: f64 = 100.0;

fn day_before(day: &str, back: u32) -> String {
    // Walk back `back` days from LAST_DAY by the civil calendar.
    let (mut y, mut m, mut d) = (
        day[..4].parse::<i32>().unwrap_or(2026),
        day[4..6].parse::<u32>().unwrap_or(1),
        day[6..].parse::<u32>().unwrap_or(1),
    );
    for _ in 0..back {
        if d > 1 {
            d -= 1;
        } else {
            if m > 1 {
                m -= 1;
            } else {
                m = 12;
                y -= 1;
            }
            d = match m {
                1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
                4 | 6 | 9 | 11 => 30,
                _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
                _ => 28,
            };
        }
    }
    format!("{y:04}{m:02}{d:02}")
}

fn merchant(owner: &str) -> Merchant {
    Merchant {
        mid: MID.into(),
        name: "百万交易测试商户".into(),
        business_type: BusinessType::Enterprise,
        mcc: "5399".into(),
        owner_user_id: owner.into(),
        legal_name: "王芳".into(),
        phone: "13900000000".into(),
        email: None,
        application_id: "app_bench_console".into(),
        terms: xingtong_onboarding::terms::Terms::for_business_type(BusinessType::Enterprise),
        settlement_card: BankCard {
            card_number: "6222021234567890128".into(),
            bank_name: "中国银行".into(),
            account_holder: "王芳".into(),
            verified_at: 1,
        },
        settlement_account_id: chart::merchant_account_id(MID, chart::ACCOUNT_MERCHANT_SETTLEMENT)
            .unwrap_or(0)
            .to_string(),
        deposit_account_id: chart::merchant_account_id(MID, chart::ACCOUNT_MERCHANT_DEPOSIT).unwrap_or(0).to_string(),
        status: "active".into(),
        settlement_cycle: SettlementCycle::T1,
        fee_changes: Vec::new(),
    }
}

/// The `n`th transaction (0-based) of `day`, the `batch`th, on one of ten terminals.
fn transaction(day: &str, batch: u32, n: u32) -> CardTransaction {
    let terminal = n % 10;
    let tid = format!("{:08}", 30_000_000 + terminal);
    let stan = n / 10 + 1;
    let amount = 1_000 + i64::from((n * 7_919) % 100_000);
    let (kind, status) = match n % 20 {
        9 | 19 => (Kind::Refund, Status::Approved),
        13 => (Kind::Void, Status::Approved),
        12 => (Kind::Sale, Status::Voided),
        17 => (Kind::Sale, Status::Declined),
        _ => (Kind::Sale, Status::Approved),
    };
    let wechat = n % 10 == 3;
    CardTransaction {
        id: CardTransaction::key(&tid, batch, stan),
        kind,
        status,
        decline: (status == Status::Declined).then_some(xingtong_payments::Reason::InsufficientFunds),
        mid: MID.into(),
        tid,
        batch,
        stan,
        operator: format!("{:02}", 1 + n % 3),
        amount_minor: amount,
        fee_minor: if kind == Kind::Sale && status != Status::Declined { amount * 5 / 1_000 } else { 0 },
        pan_masked: if wechat { String::new() } else { "622202*********0128".into() },
        pan_token: "bench".into(),
        brand: (!wechat).then_some(Brand::Unionpay),
        card_type: Some(CardType::Debit),
        rrn: format!("{:012}", n),
        auth_code: Some("123456".into()),
        business_type: if n.is_multiple_of(7) { Business::Collection } else { Business::Sale },
        original_id: None,
        refunded_minor: 0,
        fee_refunded_minor: 0,
        funding: Some(xingtong_payments::network::Funding::Network),
        pending_transfer: None,
        movements: Vec::new(),
        channel: "iso8583".into(),
        business_day: day.into(),
        at: xingtong_payments::clock::at_china(day, 9 + (n % 12), n % 60).unwrap_or(0),
        reason: None,
        balance_minor: None,
        customer_phone: None,
        customer_email: None,
        qr: wechat.then(|| xingtong_payments::qr::QrPart {
            scheme: xingtong_payments::qr::Scheme::Wechat,
            code_masked: "13************6789".into(),
            wallet_txn_id: Some(format!("42000{n:015}")),
            payer: Some("wechat-****3077".into()),
            order: None,
        }),
        binding: None,
        session_guard: None,
    }
}

fn settlement(day: &str, n: u32) -> Settlement {
    Settlement {
        id: Settlement::key(MID, day),
        mid: MID.into(),
        business_day: day.into(),
        seq: 1,
        cycle: SettlementCycle::T1,
        status: SettlementStatus::Cleared,
        lines: n,
        captured_minor: i64::from(n) * 50_000,
        captured_count: n,
        returned_minor: 0,
        returned_count: 0,
        fees_minor: i64::from(n) * 250,
        surcharge_minor: 0,
        net_minor: i64::from(n) * 49_750,
        carried_in_minor: 0,
        payout_minor: i64::from(n) * 49_750,
        carried_out_minor: 0,
        payout_date: day.into(),
        cleared_at: 1,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the bench on SQLite in a temporary directory.
pub async fn run(options: &ConsoleBenchOptions, progress: &(dyn Fn(&str) + Sync)) -> anyhow::Result<ConsoleReport> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreOptions::new(Database::Sqlite { data_dir: dir.path().to_path_buf() })).await?.store;
    let merchants = xingtong_merchants::Merchants::new(
        store.clone(),
        xingtong_merchants::load_or_create_master_key(&dir.path().join("master.key"))?,
        xingtong_merchants::Config::default(),
    );
    let sandbox = std::sync::Arc::new(xingtong_payments::sandbox::SandboxNetwork::new(store.clone(), &merchants));
    let wallets =
        std::sync::Arc::new(xingtong_payments::sandbox_wallet::SandboxWallets::new(store.clone(), Default::default()));
    let engine = xingtong_payments::Engine::new(
        merchants.clone(),
        sandbox.clone() as std::sync::Arc<dyn xingtong_payments::network::CardNetwork>,
        wallets.clone(),
        xingtong_payments::Config::default(),
    );
    engine.bootstrap().await?;

    // The owner and the merchant.
    let started = Instant::now();
    let (user, _) = merchants
        .register_owner(xingtong_merchants::identity::Registration {
            name: "王芳".into(),
            phone: "13900000000".into(),
            email: None,
            password: "bench owner password".to_owned().into(),
            language: None,
        })
        .await?;
    let mut stored =
        xingtong_merchants::entity::get::<xingtong_merchants::identity::User>(&store, &user.id, "user").await?;
    stored.value.merchant_ids = vec![MID.into()];
    let mut change = Change {
        puts: vec![stored.update()?, xingtong_merchants::entity::insert(&merchant(&user.id))?],
        ..Change::default()
    };
    let days = options.days.max(1);
    for back in 0..days {
        let day = day_before(LAST_DAY, back);
        change.puts.push(xingtong_merchants::entity::insert(&settlement(&day, options.transactions / days))?);
    }
    store.apply(change).await?;
    let token = merchants.login_owner("13900000000", "bench owner password").await?.0;

    // The transactions, a day at a time, a few thousand per change.
    let per_day = (options.transactions / days).max(1);
    let mut written = 0u64;
    for back in (0..days).rev() {
        let day = day_before(LAST_DAY, back);
        let mut pending = Vec::new();
        for chunk in (0..per_day).collect::<Vec<_>>().chunks(2_000) {
            let mut change = Change::default();
            for &n in chunk {
                change.puts.push(xingtong_merchants::entity::insert(&transaction(&day, days - back, n))?);
            }
            written += chunk.len() as u64;
            let store = store.clone();
            pending.push(tokio::spawn(async move { store.apply(change).await }));
            if pending.len() >= 8 {
                for task in pending.drain(..) {
                    task.await??;
                }
            }
        }
        for task in pending.drain(..) {
            task.await??;
        }
        if back % 10 == 0 {
            progress(&format!("{written} transactions written, up to {day}"));
        }
    }
    let setup_s = started.elapsed().as_secs_f64();

    let state = xingtong_api::AppState::new(merchants).with_payments(engine, sandbox).with_sandbox_wallets(wallets);
    let app = xingtong_api::router_with(state, xingtong_console::router());
    let cookie = format!("xt_session={token}; xt_lang=zh-CN");
    let month_from = format!("{}-{}-01", &LAST_DAY[..4], &LAST_DAY[4..6]);
    let month_to = format!("{}-{}-{}", &LAST_DAY[..4], &LAST_DAY[4..6], &LAST_DAY[6..]);
    let pages = [
        "/console/transactions".to_owned(),
        "/console/transactions?method=wechat".to_owned(),
        // A filter nothing matches: the list must look through everything to say so.
        "/console/transactions?method=alipay".to_owned(),
        format!("/console/transactions?from={month_from}&to={month_to}&status=declined"),
        format!("/console/reports?from={month_from}&to={month_to}&period=day&by=total"),
        format!("/console/reports?from={month_from}&to={month_to}&period=month&by=method"),
        "/console/settlements".to_owned(),
        // The whole range's settlement report, by week; one settlement with its lines.
        format!("/console/reports/settlements?from=2026-08-19&to={month_to}&period=week"),
        format!("/console/settlements/stl_{MID}_{LAST_DAY}"),
        // A type few transactions have, over the month.
        format!("/console/transactions?from={month_from}&to={month_to}&kind=refund"),
    ];
    let mut figures = Vec::new();
    for page in &pages {
        let ask = || async {
            let request = Request::get(page.as_str()).header("cookie", &cookie).body(Body::empty())?;
            let t = Instant::now();
            let response = app.clone().oneshot(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            let ms = t.elapsed().as_secs_f64() * 1_000.0;
            anyhow::ensure!(status == StatusCode::OK, "{page}: {status}");
            Ok::<_, anyhow::Error>((ms, body.len()))
        };
        let (first_ms, bytes) = ask().await?;
        let mut times = Vec::with_capacity(options.rounds as usize);
        for _ in 0..options.rounds.max(1) {
            times.push(ask().await?.0);
        }
        times.sort_by(f64::total_cmp);
        let median = percentile(&times, 0.5);
        progress(&format!("{page}: median {median:.1} ms"));
        figures.push(PageFigures {
            page: page.clone(),
            median_ms: median,
            p95_ms: percentile(&times, 0.95),
            max_ms: times.last().copied().unwrap_or(0.0),
            first_ms,
            bytes,
            within_target: median <= TARGET_MS,
        });
    }
    store.close().await;
    Ok(ConsoleReport {
        bench: "console",
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        backend: "sqlite",
        transactions: per_day * days,
        days,
        setup_s,
        target_ms: TARGET_MS,
        pages: figures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_walk_back_across_months_and_years() {
        assert_eq!(day_before("20261126", 0), "20261126");
        assert_eq!(day_before("20261126", 26), "20261031");
        assert_eq!(day_before("20260301", 1), "20260228");
        assert_eq!(day_before("20240301", 1), "20240229");
        assert_eq!(day_before("20260101", 1), "20251231");
    }
}

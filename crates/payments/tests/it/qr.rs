//! QR payments, merchant scans customer (B扫C), through the core and the sandbox wallets: every
//! path ends exactly paid or not paid, and the ledger balances after each.

use std::time::Duration;

use anyhow::{Context, ensure};
use xingtong_iso8583::ResponseCode;
use xingtong_payments::clock::Clock;
use xingtong_payments::qr::{Decline, Scheme};
use xingtong_payments::sandbox_wallet::{NewWallet, OrderStatus, SandboxWallet};
use xingtong_payments::scan::QrOpen;
use xingtong_payments::txn::{BusinessType, CardTransaction, Status};
use xingtong_payments::{Answer, Config, Origin};
use xingtong_store::{Database, now_ns};

use crate::{World, world_on};

pub(crate) async fn qr_world() -> anyhow::Result<World> {
    let dir = tempfile::tempdir()?;
    let database = Database::Sqlite { data_dir: dir.path().into() };
    world_on(dir, database, qr_config()).await
}

pub(crate) fn qr_config() -> Config {
    Config {
        clock: Clock::manual(now_ns()),
        qr_user_paying_timeout: Duration::from_millis(800),
        qr_poll_interval: Duration::from_millis(100),
        qr_open_grace: Duration::ZERO,
        qr_cancel_pause: Duration::from_millis(5),
        ..Config::default()
    }
}

pub(crate) fn origin(w: &World, stan: u32) -> Origin {
    Origin {
        tid: w.tid.clone(),
        mid: w.mid.clone(),
        batch: 1,
        stan,
        operator: "01".into(),
        channel: "api",
        fresh: false,
        binding: None,
        session_version: None,
    }
}

pub(crate) async fn wallet(
    w: &World,
    scheme: Scheme,
    balance: i64,
    tweak: impl Fn(&mut NewWallet),
) -> anyhow::Result<SandboxWallet> {
    let mut spec = NewWallet {
        scheme,
        balance_minor: balance,
        name: None,
        confirm_after_ms: None,
        never_confirms: false,
        cancels: false,
        unavailable: false,
    };
    tweak(&mut spec);
    Ok(w.wallets.create_wallet("test", spec).await?)
}

async fn code(w: &World, wallet: &SandboxWallet) -> anyhow::Result<String> {
    Ok(w.wallets.new_payment_code(&wallet.id).await?.code)
}

async fn pay(w: &World, stan: u32, code: &str, amount: i64) -> anyhow::Result<Answer> {
    let answer = w.engine.qr_pay(&origin(w, stan), code, amount, BusinessType::Sale, (None, None)).await?;
    w.balanced().await?;
    Ok(answer)
}

pub(crate) fn declined_with(answer: &Answer, decline: Decline) -> anyhow::Result<()> {
    let t = answer.transaction.as_ref().context("recorded")?;
    let reason = xingtong_payments::Reason::from(decline);
    ensure!(answer.outcome == xingtong_payments::Outcome::Declined(reason), "{:?} for {decline:?}", answer.outcome);
    ensure!(t.status == Status::Declined && t.movements.is_empty() && t.fee_minor == 0, "{t:?}");
    ensure!(t.qr_decline() == Some(decline), "{:?}", t.decline);
    Ok(())
}

pub(crate) async fn open_orders(w: &World) -> anyhow::Result<usize> {
    let open: Vec<xingtong_merchants::entity::Stored<QrOpen>> = xingtong_merchants::entity::list(
        w.engine.store(),
        xingtong_store::RecordQuery::kind(<QrOpen as xingtong_merchants::entity::Entity>::KIND),
    )
    .await?;
    Ok(open.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_merchant_scans_customer_path_ends_paid_or_not_paid_with_the_ledger_balanced() -> anyhow::Result<()> {
    every_path(&qr_world().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_merchant_scans_customer_path_ends_paid_or_not_paid_on_postgres() -> anyhow::Result<()> {
    let Some((url, schema)) = crate::processes::postgres() else {
        eprintln!("XINGTONG_TEST_POSTGRES_URL is not set: the PostgreSQL QR paths are skipped");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let database = Database::Postgres { url: url.clone(), schema: Some(schema.clone()) };
    let result = async { every_path(&world_on(dir, database, qr_config()).await?).await }.await;
    tokio::task::spawn_blocking(move || xingtong_store::postgres::drop_schema(&url, &schema)).await??;
    result
}

async fn every_path(w: &World) -> anyhow::Result<()> {
    let merchant_before = w.merchant_balance().await?;
    let wechat = wallet(w, Scheme::Wechat, 10_000, |_| {}).await?;

    // Paid at once: the QR fee (0.38 %, half up: 1234 × 0.0038 = 4.69 → 5) and the card postings.
    let first = code(w, &wechat).await?;
    let paid = pay(w, 900_001, &format!(" {first}\r\n"), 12_34).await?;
    ensure!(paid.outcome.is_approved(), "{:?}", paid.outcome);
    let t = paid.transaction.clone().context("recorded")?;
    ensure!(t.method() == "wechat" && t.status == Status::Approved && t.fee_minor == 5, "{t:?}");
    let qr = t.qr.clone().context("qr part")?;
    ensure!(qr.payer.is_some() && qr.wallet_txn_id.is_some() && !qr.code_masked.contains(&first[2..14]), "{qr:?}");
    ensure!(w.wallets.balance(&wechat).await? == 10_000 - 12_34);
    ensure!(w.merchant_balance().await? - merchant_before == 12_34 - 5);
    let stored = w.engine.transaction_by_id(&t.id).await?.context("stored")?.value;
    ensure!(stored.qr == t.qr && stored.status == Status::Approved, "read back as recorded");
    ensure!(open_orders(w).await? == 0, "the marker went with the approval");

    // The same code again: used. A code of the right shape the wallet never issued: unknown.
    declined_with(&pay(w, 900_002, &first, 1_00).await?, Decline::CodeUsed)?;
    declined_with(&pay(w, 900_003, "134567890123456789", 1_00).await?, Decline::CodeUnknown)?;
    // A code older than a minute: expired.
    let late = code(w, &wechat).await?;
    w.engine.clock().advance(61);
    declined_with(&pay(w, 900_004, &late, 1_00).await?, Decline::CodeExpired)?;
    // Not a payment code at all: refused before anything is recorded.
    let refused =
        w.engine.qr_pay(&origin(w, 900_005), "https://qr.alipay.com/x", 1_00, BusinessType::Sale, (None, None)).await;
    ensure!(refused.as_ref().err().map(|e| e.code) == Some("qr_not_recognised"), "{:?}", refused.map(|a| a.outcome));
    ensure!(w.engine.transaction(&w.tid, 1, 900_005).await?.is_none(), "nothing recorded");
    // The same STAN again: a duplicate, nothing moves.
    let again = pay(w, 900_001, &code(w, &wechat).await?, 1_00).await?;
    ensure!(
        xingtong_payments::cup::response_code(again.outcome) == ResponseCode::DUPLICATE && again.transaction.is_none()
    );

    // Not enough in the wallet.
    let alipay = wallet(w, Scheme::Alipay, 5_00, |_| {}).await?;
    declined_with(&pay(w, 900_006, &code(w, &alipay).await?, 10_00).await?, Decline::InsufficientBalance)?;
    ensure!(w.wallets.balance(&alipay).await? == 5_00);

    // The customer confirms in the app after 300 ms: polled until paid.
    let slow = wallet(w, Scheme::UnionpayQr, 50_00, |s| s.confirm_after_ms = Some(300)).await?;
    let confirmed = pay(w, 900_007, &code(w, &slow).await?, 20_00).await?;
    ensure!(confirmed.outcome.is_approved(), "{:?}", confirmed.transaction);
    ensure!(confirmed.transaction.as_ref().map(|t| t.method()) == Some("unionpay_qr"));
    ensure!(w.wallets.balance(&slow).await? == 30_00);

    // The customer never confirms: cancelled at the wallet after the wait, nothing taken.
    let never = wallet(w, Scheme::Wechat, 50_00, |s| s.never_confirms = true).await?;
    let timed_out = pay(w, 900_008, &code(w, &never).await?, 20_00).await?;
    declined_with(&timed_out, Decline::UserPayingTimeout)?;
    let order = w.wallets.order(&timed_out.transaction.as_ref().context("t")?.id).await?.context("order")?;
    ensure!(order.value.status == OrderStatus::Cancelled, "{:?}", order.value.status);
    ensure!(w.wallets.balance(&never).await? == 50_00 && open_orders(w).await? == 0);

    // The customer cancels in the app: declined, nothing taken, nothing left to cancel.
    let quits = wallet(w, Scheme::Alipay, 50_00, |s| s.cancels = true).await?;
    declined_with(&pay(w, 900_014, &code(w, &quits).await?, 20_00).await?, Decline::UserCancelled)?;
    ensure!(w.wallets.balance(&quits).await? == 50_00 && open_orders(w).await? == 0);

    // The wallet does not answer: cancelled, nothing taken.
    let down = wallet(w, Scheme::Alipay, 50_00, |s| s.unavailable = true).await?;
    declined_with(&pay(w, 900_009, &code(w, &down).await?, 20_00).await?, Decline::WalletUnavailable)?;
    ensure!(w.wallets.balance(&down).await? == 50_00 && open_orders(w).await? == 0);

    // Refunds of the first sale: partial, the rest, then over; the proportional fee comes back.
    let refund = |stan: u32, amount: i64| {
        let origin = origin(w, stan);
        let id = t.id.clone();
        let engine = w.engine.clone();
        async move {
            let o = engine.transaction_by_id(&id).await?.context("original")?.value;
            anyhow::Ok(engine.refund(&origin, (o.batch, o.stan), amount, Some("01".into())).await?)
        }
    };
    let part = refund(900_010, 4_00).await?;
    w.balanced().await?;
    ensure!(part.outcome.is_approved(), "{:?}", part.outcome);
    ensure!(
        part.transaction.as_ref().map(|r| (r.fee_minor, r.method())) == Some((-2, "wechat")),
        "{:?}",
        part.transaction
    );
    let rest = refund(900_011, 8_34).await?;
    w.balanced().await?;
    ensure!(rest.outcome.is_approved() && rest.transaction.as_ref().map(|r| r.fee_minor) == Some(-3));
    let over = refund(900_012, 1).await?;
    ensure!(xingtong_payments::cup::response_code(over.outcome) == ResponseCode::INVALID_AMOUNT, "{:?}", over.outcome);
    ensure!(w.wallets.balance(&wechat).await? == 10_000, "every fen back in the wallet");
    ensure!(w.merchant_balance().await? - merchant_before == 20_00 - 8, "only the confirmed sale's net stays");
    let order = w.wallets.order(&t.id).await?.context("order")?.value;
    ensure!(order.refunded_minor == 12_34 && order.refunds.len() == 2, "the wallet was told of each refund");

    // A void in the open batch gives everything back, at the wallet too.
    let voided = w.engine.void(&origin(w, 900_013), (1, 900_007), 20_00, xingtong_payments::txn::Kind::Void).await?;
    w.balanced().await?;
    ensure!(voided.outcome.is_approved(), "{:?}", voided.outcome);
    ensure!(w.wallets.balance(&slow).await? == 50_00);
    ensure!(w.merchant_balance().await? == merchant_before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_the_wallet_could_not_cancel_is_finished_later_and_nothing_is_taken() -> anyhow::Result<()> {
    let w = qr_world().await?;
    let user = wallet(&w, Scheme::Wechat, 50_00, |s| s.never_confirms = true).await?;
    let code = code(&w, &user).await?;
    // The wallet goes down while the customer is confirming: the poll, then the cancel, fail.
    let payment = {
        let (engine, origin) = (w.engine.clone(), origin(&w, 900_001));
        tokio::spawn(async move { engine.qr_pay(&origin, &code, 30_00, BusinessType::Sale, (None, None)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.wallets.update_wallet(&user.id, |u| u.unavailable = true).await?;
    let answer = payment.await??;
    w.balanced().await?;
    let t: CardTransaction = answer.transaction.clone().context("recorded")?;
    ensure!(t.status == Status::Declined, "{:?}", t.status);
    ensure!(open_orders(&w).await? == 1, "the order stays to be cancelled");
    ensure!(w.engine.finish_open_qr_orders().await? == 0, "not while the wallet is down");
    // Back up: the order is cancelled at the wallet and the marker goes.
    w.wallets.update_wallet(&user.id, |u| u.unavailable = false).await?;
    ensure!(w.engine.finish_open_qr_orders().await? == 1);
    ensure!(open_orders(&w).await? == 0);
    let order = w.wallets.order(&t.id).await?.context("order")?.value;
    ensure!(order.status == OrderStatus::Cancelled && w.wallets.balance(&user).await? == 50_00);
    w.balanced().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qr_sale_and_refund_clear_with_the_qr_fee_and_reconcile_against_the_wallet_s_bill() -> anyhow::Result<()> {
    use xingtong_payments::recon::{FaultKind, ItemClass, Source};
    let w = qr_world().await?;
    let day = w.engine.clock().business_day();
    let user = wallet(&w, Scheme::Wechat, 50_000, |_| {}).await?;
    // ¥100.00 at 0.38 % is ¥0.38; a ¥30.00 refund gives back 30 % of it, ¥0.11 (half up).
    let sale = pay(&w, 900_001, &code(&w, &user).await?, 10_000).await?;
    let sale = sale.transaction.context("sale")?;
    ensure!(sale.fee_minor == 38);
    let refund = w.engine.refund(&origin(&w, 900_002), (1, 900_001), 30_00, Some("01".into())).await?;
    ensure!(refund.outcome.is_approved() && refund.transaction.as_ref().map(|r| r.fee_minor) == Some(-11));
    declined_with(&pay(&w, 900_003, &code(&w, &user).await?, 90_000).await?, Decline::InsufficientBalance)?;
    w.balanced().await?;

    // Clearing takes them with the cards: captured, returned, the QR fee net of what came back.
    let run = w.engine.clear_day(&day, &|_, _| {}).await?;
    w.balanced().await?;
    ensure!(run.cleared >= 1, "{run:?}");
    let settlement = w.engine.settlement(&w.mid, &day).await?.context("settled")?;
    ensure!(
        (settlement.captured_minor, settlement.returned_minor, settlement.fees_minor) == (10_000, 30_00, 27),
        "{settlement:?}"
    );
    ensure!(settlement.net_minor == 70_00 - 27, "{settlement:?}");

    // The wallet's bill has the sale and the refund, not the decline; the card network's file
    // has none of them.
    let report = w.engine.reconcile_source(Source::Wallet(Scheme::Wechat), &day, None, "test").await?;
    ensure!(report.status == "balanced" && report.matched == 2 && report.network_lines == 2, "{report:?}");
    ensure!(report.id.contains("wechat"), "{}", report.id);
    let bill = w.engine.source_file(Source::Wallet(Scheme::Wechat), &day).await?.context("bill")?;
    ensure!(bill.text.starts_with("000 WXP ") && bill.text.contains("wechat-****"), "{}", bill.text);
    let cards = w.engine.reconcile_day(&day, None, "test").await?;
    ensure!(cards.host_lines == 0 && cards.network_lines == 0 && cards.status == "balanced", "{cards:?}");
    let alipay = w.engine.reconcile_source(Source::Wallet(Scheme::Alipay), &day, None, "test").await?;
    ensure!(alipay.network_lines == 0 && alipay.status == "balanced");

    // A mismatch injected into the wallet's bill is reported, with what to do.
    xingtong_payments::recon::inject_fault(w.engine.store(), &sale.id, FaultKind::Amount, 1_00, "test").await?;
    let report = w.engine.reconcile_source(Source::Wallet(Scheme::Wechat), &day, None, "test").await?;
    ensure!(report.status == "discrepancies" && report.amount_mismatches == 1 && report.version == 2, "{report:?}");
    let item = report.items.first().context("item")?;
    ensure!(item.class == ItemClass::AmountMismatch && item.txn_id == sale.id && item.difference_minor == 1_00);
    ensure!(w.engine.reconciliation(&day).await?.is_some_and(|r| r.status == "balanced"), "the card report stays");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_takes_qr_sales_over_iso8583_voids_them_and_reversals_reach_the_wallet() -> anyhow::Result<()> {
    use xingtong_pos::Request;
    let w = qr_world().await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, crate::CASHIER_PIN).await?.approved());
    let user = wallet(&w, Scheme::Wechat, 10_000, |_| {}).await?;

    // Paid at once: field 57 says the wallet and its payment id, field 63 the wallet's tag.
    let sale = t.send(&Request::QrSale(code(&w, &user).await?, 25_00, 2)).await?;
    w.balanced().await?;
    ensure!(sale.approved() && sale.rrn().is_some(), "{sale:?}");
    let qr = sale.qr().context("field 57")?;
    ensure!(qr.wallet == "WXP" && qr.paid && qr.reason == "00" && !qr.wallet_txn_id.is_empty(), "{qr:?}");
    ensure!(sale.message.get_str(63) == Some("WXP"));
    let recorded = w.engine.transaction(&w.tid, sale.batch, sale.stan).await?.context("recorded")?.value;
    ensure!(recorded.qr.as_ref().and_then(|q| q.wallet_txn_id.as_deref()) == Some(qr.wallet_txn_id.as_str()));
    ensure!(recorded.business_type == BusinessType::Collection && recorded.channel == "iso8583");
    ensure!(w.wallets.balance(&user).await? == 75_00);

    // The same code again: 14, reason 03 (used); not a payment code: 14, QRX, reason 12.
    let first_code = recorded.qr.as_ref().map(|q| q.code_masked.clone()).unwrap_or_default();
    ensure!(first_code.contains('*'), "stored masked: {first_code}");
    let expired = code(&w, &user).await?;
    w.engine.clock().advance(61);
    let late = t.send(&Request::QrSale(expired, 1_00, 1)).await?;
    ensure!(late.code == "54" && late.qr().is_some_and(|q| !q.paid && q.reason == "02"), "{late:?}");
    let junk = t.send(&Request::QrSale("not-a-code".into(), 1_00, 1)).await?;
    ensure!(junk.code == "14" && junk.qr().is_some_and(|q| q.wallet == "QRX" && q.reason == "12"), "{junk:?}");
    ensure!(w.engine.transaction(&w.tid, junk.batch, junk.stan).await?.is_none(), "nothing recorded");

    // Voided at the terminal with the supervisor's PIN: the money is back in the wallet.
    let void = t
        .send(&Request::Void {
            original: (sale.batch, sale.stan),
            amount: 25_00,
            supervisor_pin: crate::SUPERVISOR_PIN.into(),
        })
        .await?;
    w.balanced().await?;
    ensure!(void.approved(), "{void:?}");
    ensure!(w.wallets.balance(&user).await? == 10_000);

    // A reversal of a QR sale (the terminal never saw its reply) undoes it and cancels the order
    // at the wallet; one that arrives while the customer is still confirming waits for the end.
    let slow = wallet(&w, Scheme::Alipay, 10_000, |s| s.confirm_after_ms = Some(400)).await?;
    let origin = crate::reversal_origin(&w.tid, &w.mid, 1, 4_242);
    let payment = {
        let (engine, origin, code) = (w.engine.clone(), origin.clone(), code(&w, &slow).await?);
        tokio::spawn(async move { engine.qr_pay(&origin, &code, 30_00, BusinessType::Sale, (None, None)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let pending = w.engine.transaction(&w.tid, 1, 4_242).await?.context("recorded pending")?.value;
    ensure!(pending.status == Status::Pending, "{:?}", pending.status);
    let reversed = w.engine.reverse(&origin, 30_00).await?;
    w.balanced().await?;
    ensure!(xingtong_payments::cup::response_code(reversed) == ResponseCode::APPROVED, "{reversed:?}");
    let paid = payment.await??;
    ensure!(paid.outcome.is_approved(), "the customer did confirm: {:?}", paid.outcome);
    let after = w.engine.transaction(&w.tid, 1, 4_242).await?.context("t")?.value;
    ensure!(after.status == Status::Reversed, "{:?}", after.status);
    ensure!(w.wallets.balance(&slow).await? == 10_000, "every fen back");
    let order = w.wallets.order(&after.id).await?.context("order")?.value;
    ensure!(order.status == OrderStatus::Cancelled && open_orders(&w).await? == 0, "{:?}", order.status);
    ensure!(
        xingtong_payments::cup::response_code(w.engine.reverse(&origin, 30_00).await?) == ResponseCode::APPROVED,
        "idempotent"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_the_terminal_does_not_take_is_declined_on_every_channel() -> anyhow::Result<()> {
    use xingtong_payments::methods::{Method, MethodsChange};
    use xingtong_pos::Request;
    let w = qr_world().await?;
    let methods = w.engine.payment_methods(&w.tid, &w.mid).await?;
    ensure!(methods.card && methods.qr && methods.default_method == Method::Card, "{methods:?}");
    let user = wallet(&w, Scheme::Alipay, 10_000, |_| {}).await?;
    let off = MethodsChange { qr: Some(false), ..MethodsChange::default() };
    let set = w.engine.set_payment_methods("test", &w.tid, &w.mid, off).await?;
    ensure!(!set.qr && set.card && set.updated_at > 0);
    // Over JSON's core and over ISO 8583: declined, method_disabled (58, reason 08), nothing taken.
    declined_with(&pay(&w, 900_001, &code(&w, &user).await?, 5_00).await?, Decline::MethodDisabled)?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, crate::CASHIER_PIN).await?.approved());
    let refused = t.send(&Request::QrSale(code(&w, &user).await?, 5_00, 1)).await?;
    ensure!(refused.code == "58" && refused.qr().is_some_and(|q| !q.paid && q.reason == "08"), "{refused:?}");
    ensure!(w.wallets.balance(&user).await? == 10_000);
    // Cards off, QR back on as the default: a card sale is declined 58, a QR sale paid.
    let change = MethodsChange { card: Some(false), qr: Some(true), default_method: Some(Method::Qr) };
    w.engine.set_payment_methods("test", &w.tid, &w.mid, change).await?;
    let card = w
        .card(xingtong_payments::card::Brand::Unionpay, xingtong_payments::card::CardType::Credit, 10_000, |_| {})
        .await?;
    let declined = t.send(&Request::Sale(crate::read(&card, None), 1_00, 1)).await?;
    ensure!(declined.code == "58", "{declined:?}");
    let paid = t.send(&Request::QrSale(code(&w, &user).await?, 5_00, 1)).await?;
    ensure!(paid.approved(), "{paid:?}");
    // Never none on, never a default that is off; switching the default's method off moves it.
    let none = MethodsChange { qr: Some(false), ..MethodsChange::default() };
    let refused = w.engine.set_payment_methods("test", &w.tid, &w.mid, none).await;
    ensure!(refused.as_ref().err().map(|e| e.code) == Some("invalid_payment_methods"), "{refused:?}");
    let bad_default = MethodsChange { default_method: Some(Method::Card), ..MethodsChange::default() };
    let refused = w.engine.set_payment_methods("test", &w.tid, &w.mid, bad_default).await;
    ensure!(refused.as_ref().err().map(|e| e.code) == Some("invalid_payment_methods"), "{refused:?}");
    let both = MethodsChange { card: Some(true), ..MethodsChange::default() };
    w.engine.set_payment_methods("test", &w.tid, &w.mid, both).await?;
    let moved = w
        .engine
        .set_payment_methods("test", &w.tid, &w.mid, MethodsChange { qr: Some(false), ..MethodsChange::default() })
        .await?;
    ensure!(moved.default_method == Method::Card && moved.card && !moved.qr, "{moved:?}");
    w.balanced().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_its_wallet_could_not_hear_of_is_told_once_the_wallet_is_back() -> anyhow::Result<()> {
    use xingtong_payments::scan::WalletRefundDue;
    let w = qr_world().await?;
    let user = wallet(&w, Scheme::Alipay, 10_000, |_| {}).await?;
    let paid = pay(&w, 900_001, &code(&w, &user).await?, 50_00).await?;
    ensure!(paid.outcome.is_approved(), "{:?}", paid.outcome);
    let order_id = paid.transaction.as_ref().map(|t| t.id.clone()).context("recorded")?;
    let dues = || async {
        let due: Vec<xingtong_merchants::entity::Stored<WalletRefundDue>> = xingtong_merchants::entity::list(
            w.engine.store(),
            xingtong_store::RecordQuery::kind(<WalletRefundDue as xingtong_merchants::entity::Entity>::KIND),
        )
        .await?;
        anyhow::Ok(due.len())
    };
    let refunded_at_wallet = || async {
        let order = w.wallets.order(&order_id).await?.context("the wallet's order")?;
        anyhow::Ok(order.value.refunded_minor)
    };
    // The wallet is down: the refund is made here (the money is back on the payer's side of our
    // ledger) and written down as owed to the wallet, in the same commit.
    w.wallets.set_outage(Scheme::Alipay, true);
    let refund = w.engine.refund(&origin(&w, 900_002), (1, 900_001), 20_00, Some("01".into())).await?;
    ensure!(refund.outcome.is_approved(), "{:?}", refund.outcome);
    w.balanced().await?;
    ensure!(dues().await? == 1 && w.wallets.balance(&user).await? == 70_00);
    w.engine.finish_open_qr_orders().await?;
    ensure!(dues().await? == 1, "still owed while the wallet is down");
    // Back: the minute's sweep tells it, once (a repeat is harmless: the refund's id).
    w.wallets.set_outage(Scheme::Alipay, false);
    ensure!(refunded_at_wallet().await? == 0);
    ensure!(w.engine.finish_open_qr_orders().await? == 1);
    ensure!(dues().await? == 0 && refunded_at_wallet().await? == 20_00);
    ensure!(w.engine.retry_wallet_refunds().await? == 0);
    // Told at once when the wallet answers: nothing left owed.
    let rest = w.engine.refund(&origin(&w, 900_003), (1, 900_001), 30_00, Some("01".into())).await?;
    ensure!(rest.outcome.is_approved() && dues().await? == 0 && refunded_at_wallet().await? == 50_00);
    w.balanced().await?;
    Ok(())
}

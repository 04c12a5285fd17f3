//! Customer scans merchant (C扫B) through the core and the sandbox wallets: dynamic codes paid,
//! expired, closed, and paid after close (the money goes back); static codes and their ¥500 a
//! day; the wallet's signed notifications repeated, late and forged. The ledger balances after
//! each.

use std::time::Duration;

use anyhow::{Context, ensure};
use xingtong_payments::order::OrderSpec;
use xingtong_payments::qr::{Decline, OrderMode, Scheme};
use xingtong_payments::sandbox_wallet::SandboxWallet;
use xingtong_payments::txn::{BusinessType, CardTransaction, Status};
use xingtong_store::Database;

use crate::World;
use crate::qr::{declined_with, open_orders, origin, qr_config, qr_world, wallet};

fn spec(scheme: Scheme, amount: i64, lifetime: Option<Duration>) -> OrderSpec {
    OrderSpec { scheme, amount_minor: amount, lifetime, business_type: BusinessType::Sale, customer: (None, None) }
}

/// A dynamic order: pending, with its code's URL.
async fn order(w: &World, stan: u32, scheme: Scheme, amount: i64) -> anyhow::Result<CardTransaction> {
    let answer = w.engine.qr_order(&origin(w, stan), spec(scheme, amount, None)).await?;
    let t = answer.transaction.context("recorded")?;
    ensure!(t.status == Status::Pending, "{t:?}");
    w.balanced().await?;
    Ok(t)
}

fn url(t: &CardTransaction) -> anyhow::Result<String> {
    t.qr.as_ref().and_then(|q| q.order.as_ref()).and_then(|o| o.code_url.clone()).context("a code URL")
}

/// Waits (at most 10 s) for the transaction to satisfy `done`: a notification is taken in a task
/// of its own.
async fn until(w: &World, id: &str, done: impl Fn(&CardTransaction) -> bool) -> anyhow::Result<CardTransaction> {
    for _ in 0..200 {
        let t = w.engine.transaction_by_id(id).await?.context("stored")?.value;
        if done(&t) {
            return Ok(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{id} did not get there")
}

async fn scan(w: &World, payer: &SandboxWallet, t: &CardTransaction) -> Result<(), &'static str> {
    let url = url(t).map_err(|_| "no url")?;
    w.wallets.pay_code_url(&payer.id, &url).await.map(|_| ()).map_err(|e| e.code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_customer_scans_merchant_path_ends_paid_or_not_paid_with_the_ledger_balanced() -> anyhow::Result<()> {
    dynamic_paths(&qr_world().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_customer_scans_merchant_path_on_postgres() -> anyhow::Result<()> {
    let Some((url, schema)) = crate::processes::postgres() else {
        eprintln!("XINGTONG_TEST_POSTGRES_URL is not set: the PostgreSQL C扫B paths are skipped");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let database = Database::Postgres { url: url.clone(), schema: Some(schema.clone()) };
    let result = async { dynamic_paths(&crate::world_on(dir, database, qr_config()).await?).await }.await;
    tokio::task::spawn_blocking(move || xingtong_store::postgres::drop_schema(&url, &schema)).await??;
    result
}

async fn dynamic_paths(w: &World) -> anyhow::Result<()> {
    let merchant_before = w.merchant_balance().await?;
    let payer = wallet(w, Scheme::Alipay, 10_000, |_| {}).await?;

    // Made: pending, a code URL of the wallet, expiring in two hours, its marker open.
    let t = order(w, 900_001, Scheme::Alipay, 8_800).await?;
    ensure!(url(&t)?.starts_with("xtsandbox://alipay/"), "{:?}", t.qr);
    let o = t.qr.as_ref().and_then(|q| q.order.clone()).context("order")?;
    ensure!(o.mode == OrderMode::Dynamic && o.expires_at == t.at + 7_200_000_000_000, "{o:?}");
    ensure!(open_orders(w).await? == 1);
    // Polled before anyone paid: still pending; a code of another wallet's app: refused.
    let polled = w.engine.qr_order_state(&t.id).await?.context("there")?;
    ensure!(polled.status == Status::Pending);
    let wechat = wallet(w, Scheme::Wechat, 10_000, |_| {}).await?;
    ensure!(scan(w, &wechat, &t).await == Err("wrong_wallet"));
    // A payer whose balance is short is refused by the app; the order stays open.
    let poor = wallet(w, Scheme::Alipay, 100, |_| {}).await?;
    ensure!(scan(w, &poor, &t).await == Err("insufficient_balance"));

    // Paid: the notification approves it, with the QR fee (8800 × 0.38 % = 33.44 → 33).
    scan(w, &payer, &t).await.map_err(anyhow::Error::msg)?;
    let paid = until(w, &t.id, |t| t.status == Status::Approved).await?;
    ensure!(paid.fee_minor == 33 && paid.qr.as_ref().is_some_and(|q| q.payer.is_some() && q.wallet_txn_id.is_some()));
    ensure!(w.wallets.balance(&payer).await? == 1_200);
    ensure!(w.merchant_balance().await? - merchant_before == 8_800 - 33);
    ensure!(open_orders(w).await? == 0);
    w.balanced().await?;
    // Paid once: a second scan of the code is refused.
    ensure!(scan(w, &payer, &t).await == Err("order_closed"));

    // The notification again (a wallet repeats until answered): nothing changes.
    let sent = w.wallets.notifications_of(&t.id).await?;
    ensure!(sent.len() == 1, "{sent:?}");
    let again = w.engine.wallet_notification(Scheme::Alipay, sent[0].body.as_bytes(), &sent[0].signature).await?;
    ensure!(!again.changed && again.status == Status::Approved, "{again:?}");
    // Late, after a partial refund: nothing changes either (the wallet is asked, not believed).
    let refund = w.engine.refund(&origin(w, 900_002), (1, 900_001), 800, Some("01".into())).await?;
    ensure!(refund.outcome.is_approved(), "{:?}", refund.outcome);
    let late = w.engine.wallet_notification(Scheme::Alipay, sent[0].body.as_bytes(), &sent[0].signature).await?;
    ensure!(!late.changed, "{late:?}");
    let after = w.engine.transaction_by_id(&t.id).await?.context("there")?.value;
    ensure!(after.status == Status::Approved && after.refunded_minor == 800, "{after:?}");
    ensure!(w.wallets.balance(&payer).await? == 2_000);
    // Forged: another key's signature, a changed body, a notification of another wallet, of no order.
    let forged = xingtong_crypto::derive::hmac_sha256_hex(b"not the wallet's key", sent[0].body.as_bytes());
    let refused = w.engine.wallet_notification(Scheme::Alipay, sent[0].body.as_bytes(), &forged).await;
    ensure!(refused.as_ref().err().map(|e| e.code) == Some("bad_signature"), "{refused:?}");
    let tampered = sent[0].body.replace("8800", "1");
    let refused = w.engine.wallet_notification(Scheme::Alipay, tampered.as_bytes(), &sent[0].signature).await;
    ensure!(refused.as_ref().err().map(|e| e.code) == Some("bad_signature"), "{refused:?}");
    let refused = w.engine.wallet_notification(Scheme::Wechat, sent[0].body.as_bytes(), &sent[0].signature).await;
    ensure!(refused.as_ref().err().map(|e| e.code) == Some("not_found"), "another wallet's order: {refused:?}");
    let unknown = sent[0].body.replace(&t.id, "99999999-000001-000001");
    let refused =
        w.engine.wallet_notification(Scheme::Alipay, unknown.as_bytes(), &w.wallets.sign(unknown.as_bytes())).await;
    ensure!(refused.as_ref().err().map(|e| e.code) == Some("not_found"), "{refused:?}");
    w.balanced().await?;

    // Expired: its time passes unpaid; the next poll closes it, and the app refuses it.
    let short =
        w.engine.qr_order(&origin(w, 900_003), spec(Scheme::Alipay, 500, Some(Duration::from_secs(60)))).await?;
    let short = short.transaction.context("recorded")?;
    w.engine.clock().advance(61);
    ensure!(scan(w, &payer, &short).await == Err("order_expired"));
    let closed = w.engine.qr_order_state(&short.id).await?.context("there")?;
    ensure!(closed.status == Status::Declined && closed.qr_decline() == Some(Decline::OrderClosed));
    // A lifetime out of range is refused before anything is recorded.
    let refused =
        w.engine.qr_order(&origin(w, 900_004), spec(Scheme::Alipay, 500, Some(Duration::from_secs(59)))).await;
    ensure!(refused.as_ref().err().map(|e| e.code) == Some("invalid_lifetime"));
    ensure!(w.engine.transaction_by_id("10000001-000001-900004").await?.is_none());

    // Closed by the cashier: declined, and the app refuses it.
    let t = order(w, 900_005, Scheme::Alipay, 600).await?;
    let closed = w.engine.close_qr_order(&t.id).await?.context("there")?;
    ensure!(
        closed.status == Status::Declined && xingtong_payments::cup::response_code(closed.outcome()).code == "12",
        "{closed:?}"
    );
    ensure!(scan(w, &payer, &t).await == Err("order_closed"));
    ensure!(open_orders(w).await? == 0);

    // Paid after close: the wallet was down when the cashier closed it, so the close did not
    // reach it; the customer pays once it is back; the host gives the money back at once.
    let t = order(w, 900_006, Scheme::Alipay, 700).await?;
    w.wallets.set_outage(Scheme::Alipay, true);
    let closed = w.engine.close_qr_order(&t.id).await?.context("there")?;
    ensure!(closed.status == Status::Declined && open_orders(w).await? == 1, "the marker stays: {closed:?}");
    w.wallets.set_outage(Scheme::Alipay, false);
    let before = w.wallets.balance(&payer).await?;
    scan(w, &payer, &t).await.map_err(anyhow::Error::msg)?;
    let returned =
        until(w, &t.id, |t| t.qr.as_ref().and_then(|q| q.order.as_ref()).is_some_and(|o| o.returned)).await?;
    ensure!(returned.status == Status::Declined && returned.movements.is_empty(), "{returned:?}");
    ensure!(w.wallets.balance(&payer).await? == before && open_orders(w).await? == 0);
    let at_wallet = w.wallets.order(&t.id).await?.context("at the wallet")?.value;
    ensure!(at_wallet.status == xingtong_payments::sandbox_wallet::OrderStatus::Cancelled, "{at_wallet:?}");

    // The wallet down when the order is made: declined, nothing open.
    w.wallets.set_outage(Scheme::Wechat, true);
    let answer = w.engine.qr_order(&origin(w, 900_007), spec(Scheme::Wechat, 500, None)).await?;
    w.wallets.set_outage(Scheme::Wechat, false);
    declined_with(&answer, Decline::WalletUnavailable)?;

    // Notifications lost: the sweep `serve` runs every minute asks the wallet, and approves.
    w.wallets.lose_notifications(true);
    let t = order(w, 900_008, Scheme::Wechat, 300).await?;
    ensure!(!w.wallets.pay_code_url(&wechat.id, &url(&t)?).await?.notified);
    tokio::time::sleep(Duration::from_millis(200)).await;
    ensure!(w.engine.transaction_by_id(&t.id).await?.context("there")?.value.status == Status::Pending);
    ensure!(w.engine.finish_open_qr_orders().await? == 1);
    ensure!(w.engine.transaction_by_id(&t.id).await?.context("there")?.value.status == Status::Approved);
    w.wallets.lose_notifications(false);
    w.balanced().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_code_takes_at_most_500_yuan_a_day_from_each_payer() -> anyhow::Result<()> {
    static_code(qr_world().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_code_takes_at_most_500_yuan_a_day_from_each_payer_on_postgres() -> anyhow::Result<()> {
    let Some((url, schema)) = crate::processes::postgres() else {
        eprintln!("XINGTONG_TEST_POSTGRES_URL is not set: the PostgreSQL static-code test is skipped");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let database = Database::Postgres { url: url.clone(), schema: Some(schema.clone()) };
    let result = async { static_code(crate::world_on(dir, database, qr_config()).await?).await }.await;
    tokio::task::spawn_blocking(move || xingtong_store::postgres::drop_schema(&url, &schema)).await??;
    result
}

async fn static_code(w: World) -> anyhow::Result<()> {
    let payer = wallet(&w, Scheme::Wechat, 200_000, |_| {}).await?;
    let other = wallet(&w, Scheme::Wechat, 200_000, |_| {}).await?;
    let pay = |stan: u32, who: &SandboxWallet, amount: i64| {
        let (w, who) = (&w, who.clone());
        async move {
            let answer = w.engine.static_qr_order(&origin(w, stan), Scheme::Wechat, &who.id, amount).await?;
            let t = answer.transaction.context("recorded")?;
            if t.status == Status::Pending {
                w.wallets.pay_code_url(&who.id, &url(&t)?).await?;
                return until(w, &t.id, |t| t.status != Status::Pending).await;
            }
            anyhow::Ok(t)
        }
    };
    let first = pay(900_001, &payer, 30_000).await?;
    ensure!(first.status == Status::Approved, "{first:?}");
    ensure!(first.qr.as_ref().and_then(|q| q.order.as_ref()).is_some_and(|o| o.mode == OrderMode::Static));
    // ¥300 + ¥250 passes ¥500: refused before the wallet hears of it.
    let over = pay(900_002, &payer, 25_000).await?;
    ensure!(
        over.status == Status::Declined && xingtong_payments::cup::response_code(over.outcome()).code == "61",
        "{over:?}"
    );
    ensure!(over.qr_decline() == Some(Decline::StaticCodeLimit));
    // ¥200 more is exactly ¥500: taken. Another payer has a ¥500 of their own.
    ensure!(pay(900_003, &payer, 20_000).await?.status == Status::Approved);
    ensure!(pay(900_004, &other, 30_000).await?.status == Status::Approved);
    ensure!(pay(900_005, &payer, 1).await?.status == Status::Declined);
    // A static order is the payer's: another payer cannot pay it.
    let answer = w.engine.static_qr_order(&origin(&w, 900_006), Scheme::Wechat, &other.id, 100).await?;
    let t = answer.transaction.context("recorded")?;
    ensure!(w.wallets.pay_code_url(&payer.id, &url(&t)?).await.err().map(|e| e.code) == Some("order_closed"));
    // Two orders made under the limit and paid together: the second is refused at approval and
    // given back at the wallet (the total is counted when the money moves).
    let a = w.engine.static_qr_order(&origin(&w, 900_007), Scheme::Wechat, &other.id, 15_000).await?;
    let b = w.engine.static_qr_order(&origin(&w, 900_008), Scheme::Wechat, &other.id, 15_000).await?;
    let (a, b) = (a.transaction.context("a")?, b.transaction.context("b")?);
    w.wallets.pay_code_url(&other.id, &url(&a)?).await?;
    w.wallets.pay_code_url(&other.id, &url(&b)?).await?;
    let a = until(&w, &a.id, |t| t.status != Status::Pending).await?;
    let b = until(&w, &b.id, |t| t.status != Status::Pending).await?;
    let approved = [&a, &b].iter().filter(|t| t.status == Status::Approved).count();
    ensure!(approved == 1, "{a:?} {b:?}");
    let refused = if a.status == Status::Approved { &b } else { &a };
    ensure!(refused.qr_decline() == Some(Decline::StaticCodeLimit), "{refused:?}");
    ensure!(w.wallets.balance(&other).await? == 200_000 - 30_000 - 15_000);
    w.balanced().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_shows_a_dynamic_code_over_iso8583_polls_it_and_closes_another() -> anyhow::Result<()> {
    use xingtong_pos::Request;
    let w = qr_world().await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, crate::CASHIER_PIN).await?.approved());
    let payer = wallet(&w, Scheme::Alipay, 10_000, |_| {}).await?;

    // Made: 00, field 57 `ALPW00` and the code's URL; nothing taken yet.
    let made = t.send(&Request::QrOrder("ALP".into(), 42_00, None, 1)).await?;
    ensure!(made.approved() && made.auth_code().is_none(), "{made:?}");
    let qr = made.qr().context("field 57")?;
    let url = qr.code_url.clone().context("a code URL")?;
    ensure!(qr.wallet == "ALP" && !qr.paid && qr.reason == "00" && url.starts_with("xtsandbox://alipay/"), "{qr:?}");
    let recorded = w.engine.transaction(&w.tid, made.batch, made.stan).await?.context("recorded")?.value;
    ensure!(recorded.status == Status::Pending && recorded.rrn == made.rrn().unwrap_or_default());
    // Asked after before it is paid: still waiting.
    let asked = t.send(&Request::QrQuery(made.stan, 42_00)).await?;
    ensure!(asked.approved() && asked.qr().is_some_and(|q| q.code_url.as_deref() == Some(url.as_str())), "{asked:?}");
    ensure!(asked.stan != made.stan && asked.rrn() == made.rrn(), "its own STAN, the order's RRN");
    // Paid in the app; the next question finds it paid, with the wallet's payment id.
    w.wallets.pay_code_url(&payer.id, &url).await?;
    let paid = t.send(&Request::QrQuery(made.stan, 42_00)).await?;
    let qr = paid.qr().context("field 57")?;
    ensure!(paid.approved() && qr.paid && !qr.wallet_txn_id.is_empty() && paid.auth_code().is_some(), "{paid:?}");
    ensure!(w.wallets.balance(&payer).await? == 58_00);
    ensure!(paid.message.get_str(12) == made.message.get_str(12), "field 12 is the order's time");
    ensure!(paid.message.get_str(13) == made.message.get_str(13) && paid.message.get_str(4) == Some("000000004200"));
    w.balanced().await?;

    // Another, closed at the till: 12, reason 10; asked again, the same.
    let other = t.send(&Request::QrOrder("WXP".into(), 5_00, Some(30), 1)).await?;
    let recorded = w.engine.transaction(&w.tid, other.batch, other.stan).await?.context("recorded")?.value;
    let minutes =
        recorded.qr.as_ref().and_then(|q| q.order.as_ref()).map(|o| (o.expires_at - recorded.at) / 60_000_000_000);
    ensure!(minutes == Some(30), "{minutes:?}");
    let closed = t.send(&Request::QrClose(other.stan, 5_00)).await?;
    ensure!(closed.code == "12" && closed.qr().is_some_and(|q| !q.paid && q.reason == "10"), "{closed:?}");
    let again = t.send(&Request::QrQuery(other.stan, 5_00)).await?;
    ensure!(again.code == "12", "{again:?}");
    // An order that is not there (or a card sale's STAN): 25.
    let missing = t.send(&Request::QrQuery(999, 1_00)).await?;
    ensure!(missing.code == "25" && missing.qr().is_none() && !missing.message.has(63), "{missing:?}");

    // A batch settles with no order still waiting: one left open is closed first, and the
    // customer can no longer pay it into a settled batch.
    let open = t.send(&Request::QrOrder("ALP".into(), 6_00, None, 1)).await?;
    let open_url = open.qr().and_then(|q| q.code_url).context("a code URL")?;
    let settled = w.engine.settle(&w.mid, &w.tid, 1, xingtong_payments::settle::BatchTotals::default()).await?;
    ensure!(!settled.replayed);
    let closed = w.engine.transaction(&w.tid, open.batch, open.stan).await?.context("recorded")?.value;
    ensure!(closed.status == Status::Declined, "{closed:?}");
    ensure!(w.wallets.pay_code_url(&payer.id, &open_url).await.err().map(|e| e.code) == Some("order_closed"));

    // An order whose reply never came is reversed: closed at the wallet.
    let origin = crate::reversal_origin(&w.tid, &w.mid, 2, 4_343);
    let answer = w.engine.qr_order(&origin, spec(Scheme::Wechat, 7_00, None)).await?;
    let lost = answer.transaction.context("recorded")?;
    ensure!(w.engine.reverse(&origin, 7_00).await?.is_approved());
    let after = w.engine.transaction_by_id(&lost.id).await?.context("there")?.value;
    ensure!(after.status == Status::Declined, "{after:?}");
    w.balanced().await?;
    Ok(())
}

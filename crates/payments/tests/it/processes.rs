//! Two processes on one PostgreSQL database, as `xingtong serve` runs them: each here a store, an
//! engine and a gateway of its own (so each its own session cache), sharing the database and the
//! host master key. A terminal moves between them; what one process changes holds on the other.

use std::time::Duration;

use anyhow::{Context, ensure};
use xingtong_payments::Config;
use xingtong_payments::card::{Brand, CardType};
use xingtong_pos::Request;
use xingtong_store::Database;

use crate::{CASHIER_PIN, process, read, world_on};

/// A fresh schema on the PostgreSQL of `XINGTONG_TEST_POSTGRES_URL`, if set.
pub(crate) fn postgres() -> Option<(String, String)> {
    let url = std::env::var("XINGTONG_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
    Some((url, format!("xt_pay_{}", hex::encode(rand::random::<[u8; 6]>()))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_batches_and_the_frequency_limit_hold_across_processes() -> anyhow::Result<()> {
    let Some((url, schema)) = postgres() else {
        eprintln!("XINGTONG_TEST_POSTGRES_URL is not set: the two-process test is skipped");
        return Ok(());
    };
    let result = two_processes(&url, &schema).await;
    let (u, s) = (url.clone(), schema.clone());
    tokio::task::spawn_blocking(move || xingtong_store::postgres::drop_schema(&u, &s)).await??;
    result
}

async fn two_processes(url: &str, schema: &str) -> anyhow::Result<()> {
    let database = || Database::Postgres { url: url.to_owned(), schema: Some(schema.to_owned()) };
    // At most 3 sales of a card a minute at a merchant, so that two processes each under it
    // together go over.
    let config = Config { frequency_max: 3, ..Config::default() };
    let w = world_on(tempfile::tempdir()?, database(), config.clone()).await?;
    let b = process(w.dir.path(), database(), config).await?;
    let (a, b_address) = (w.address, b.address);
    let mut t = w.terminal(5_000).await?;
    let debit = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let sale = |amount: i64| Request::Sale(read(&debit, Some("147258")), amount, 1);
    // Another card after the first three uses of this one: each process also counts a card's
    // attempts itself (here, at most 3 a minute).
    let other = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let other_sale = |amount: i64| Request::Sale(read(&other, Some("147258")), amount, 1);

    // Signed in through A, a sale through B: B reads the session A stored.
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    t.connect_to(b_address).await?;
    let r = t.send(&sale(1_000)).await?;
    ensure!(r.approved() && t.reply_mac_ok(&r.message), "{r:?}");

    // Signed in again through A: B's copy has the old keys, and looks at the stored session
    // before it would answer A0.
    t.connect_to(a).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    t.connect_to(b_address).await?;
    let r = t.send(&sale(1_000)).await?;
    ensure!(r.approved() && t.reply_mac_ok(&r.message), "new keys through another process: {r:?}");

    // A new batch opened through A (as settlement will): B's copy still says batch 1, but a
    // batch 1 sale through B is refused (12) and recorded nowhere.
    w.engine.open_batch(&w.tid, 2).await?;
    let stale = t.send(&sale(1_000)).await?;
    ensure!(stale.code == "12" && t.reply_mac_ok(&stale.message), "{stale:?}");
    ensure!(w.engine.transaction(&w.tid, 1, stale.stan).await?.is_none(), "nothing recorded");
    // The terminal learns batch 2 at its next sign-in (60.2 of the reply) and sells in it.
    t.connect_to(a).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved() && t.batch() == 2);
    t.connect_to(b_address).await?;
    let r = t.send(&other_sale(1_000)).await?;
    ensure!(r.approved() && r.batch == 2, "{r:?}");

    // The frequency limit counts a card's approvals per clock minute in the database: three
    // sales alternating between the processes pass, the fourth is 65 although neither process
    // saw more than two. (Started early in a minute, so that the four share one.)
    let second = xingtong_store::now_ns() / 1_000_000_000 % 60;
    if second > 45 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
    let credit = w.card(Brand::Visa, CardType::Credit, 1_000_000, |_| {}).await?;
    let mut codes = Vec::new();
    for i in 0..4 {
        t.connect_to(if i % 2 == 0 { a } else { b_address }).await?;
        let r = t.send(&Request::Sale(read(&credit, None), 100, 1)).await?;
        ensure!(t.reply_mac_ok(&r.message), "{r:?}");
        codes.push(r.code);
    }
    ensure!(codes == ["00", "00", "00", "65"], "{codes:?}");

    // Signed off through A: B's copy of the session commits nothing more; the next sale through
    // B is C1 (the terminal keeps its keys to try).
    t.connect_to(a).await?;
    let keys = t.working_keys().cloned().context("keys")?;
    ensure!(t.sign_off().await?.approved());
    t.set_working_keys(Some(keys));
    t.connect_to(b_address).await?;
    let after = t.send(&other_sale(1_000)).await?;
    ensure!(after.code == "C1" && !after.message.has(64), "{after:?}");
    ensure!(w.engine.transaction(&w.tid, 2, after.stan).await?.is_none(), "nothing recorded");
    ensure!(w.balance_of(&debit).await? == 1_000_000 - 2_000, "two sales, not the refused one");
    ensure!(w.balance_of(&other).await? == 1_000_000 - 1_000, "one sale, not the one after sign-off");

    // A JSON payment takes the batch from the process's copy of the session without reading it,
    // and names the version it came from: when another process moved the batch meanwhile, the
    // commit is refused (nothing recorded), and the next try reads the stored session.
    t.connect_to(a).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let (batch, version) = b.engine.current_batch(&w.tid).await?;
    ensure!(batch == 2 && version.is_some(), "{batch} {version:?}");
    w.engine.open_batch(&w.tid, 3).await?;
    let credit = w.card(Brand::Unionpay, CardType::Credit, 1_000_000, |_| {}).await?;
    let card = xingtong_payments::Card { pan: credit.pan.expose().to_owned(), expiry: None, pin_block: None };
    let json = |stan: u32, batch: u32, session_version: Option<u64>| xingtong_payments::Origin {
        tid: w.tid.clone(),
        mid: w.mid.clone(),
        batch,
        stan,
        operator: "01".into(),
        channel: "api",
        fresh: true,
        binding: None,
        session_version,
    };
    let (sale_kind, business) = (xingtong_payments::txn::Kind::Sale, xingtong_payments::txn::BusinessType::Sale);
    let refused = b.engine.pay(&json(900_001, batch, version), &card, 500, sale_kind, business, (None, None)).await;
    ensure!(refused.as_ref().is_err_and(|e| e.code == xingtong_payments::SESSION_CHANGED), "{refused:?}");
    ensure!(w.engine.transaction(&w.tid, 2, 900_001).await?.is_none(), "nothing recorded");
    let (batch, version) = b.engine.current_batch(&w.tid).await?;
    ensure!(batch == 3, "the stored session, read again: {batch}");
    let paid = b.engine.pay(&json(900_002, batch, version), &card, 500, sale_kind, business, (None, None)).await?;
    ensure!(paid.outcome.is_approved(), "{paid:?}");
    ensure!(w.balance_of(&credit).await? == 1_000_000 - 500, "one sale, not the refused one");
    drop(b.stop);
    w.balanced().await
}

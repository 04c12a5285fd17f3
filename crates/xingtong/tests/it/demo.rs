//! The demo tenant `serve` makes on a new database: a merchant, a terminal ready to activate,
//! operators with PINs and cards in every state, printed and written to a cards file.

use std::process::Command;

use anyhow::{Context, ensure};
use serde_json::Value;

use crate::server::{Backend, Server, request, request_raw};

#[test]
fn a_new_database_gets_a_demo_tenant_ready_to_use() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, printed) = crate::terminal::serve(dir.path(), "127.0.0.1:0", "127.0.0.1:0")?;
    let address = printed
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .context("address")?
        .parse::<std::net::SocketAddr>()?;
    let key = printed.split_whitespace().find(|w| w.starts_with("xtk_")).context("admin key")?.to_owned();
    ensure!(printed.contains("demo tenant made") && printed.contains("DEMO"), "{printed}");
    let field = |after: &str| -> anyhow::Result<String> {
        let rest = printed.split(after).nth(1).with_context(|| format!("{after:?} in {printed}"))?;
        Ok(rest.split(|c: char| c == ',' || c.is_whitespace()).next().unwrap_or_default().to_owned())
    };
    let (mid, serial, code) = (field("merchant ")?, field("serial ")?, field("activation code ")?);

    // The cards file: seven cards, one of each state, with track 2 for swiping.
    let cards: Value = serde_json::from_slice(&std::fs::read(dir.path().join("demo-cards.json"))?)?;
    let cards = cards.as_array().context("a list")?;
    let labels: Vec<&str> = cards.iter().filter_map(|c| c["label"].as_str()).collect();
    ensure!(
        labels == ["good debit", "good credit", "low balance", "blocked", "lost", "stolen", "expired"],
        "{labels:?}"
    );
    for card in cards {
        let number = card["number"].as_str().context("number")?;
        ensure!(card["track2"].as_str().is_some_and(|t| t.starts_with(&format!("{number}="))), "{card}");
        let state = request(address, "GET", &format!("/v1/sandbox/cards/{number}"), &key, None, None)?;
        ensure!(state.status == 200, "{state:?}");
        let expected = match card["label"].as_str() {
            Some("blocked") => "blocked",
            Some("lost") => "lost",
            Some("stolen") => "stolen",
            _ => "active",
        };
        ensure!(state.body["status"] == expected, "{card} → {:?}", state.body);
    }

    // The owner signs in and sees the merchant, its supervisor and two cashiers.
    let cookie = crate::server::demo_owner_cookie(address)?;
    let cashiers = request_raw(address, "GET", &format!("/v1/merchants/{mid}/cashiers"), &[("Cookie", &cookie)], b"")?;
    let body = cashiers.json();
    let mut operators: Vec<&str> =
        body["cashiers"].as_array().into_iter().flatten().filter_map(|c| c["operator"].as_str()).collect();
    operators.sort_unstable();
    ensure!(operators == ["00", "01", "02"], "{body}");
    // The terminal was shipped: it activates with what was printed (the terminal's side:
    // crates/pos), signs in as cashier 01 and sells to the good debit card, swiped, with its PIN.
    let terminals = printed
        .split("ISO 8583 terminals on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .context("the terminals' address")?
        .parse::<std::net::SocketAddr>()?;
    let good_debit = cards.iter().find(|c| c["label"] == "good debit").context("good debit")?.clone();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let activated = xingtong_pos::activation::activate(address, &mid, &serial, &code).await?;
        ensure!(printed.contains(&activated.tid), "the printed terminal: {activated:?}");
        let wrong = xingtong_pos::activation::activate(address, &mid, &serial, &code).await;
        ensure!(
            matches!(&wrong, Err(xingtong_pos::PosError::Refused { code, .. }) if code == "device_already_bound"),
            "a code works once: {wrong:?}"
        );
        let config = xingtong_pos::TerminalConfig {
            tid: activated.tid.clone(),
            mid: mid.clone(),
            tmk: activated.tmk,
            state_dir: None,
            reply_timeout: std::time::Duration::from_secs(10),
            fsync: false,
        };
        let mut terminal = xingtong_pos::Terminal::open(config, terminals).await?;
        ensure!(terminal.sign_in(1, "135790").await?.approved(), "cashier 01 signs in");
        let card = xingtong_pos::CardRead {
            pan: good_debit["number"].as_str().context("number")?.to_owned(),
            expiry: good_debit["expiry"].as_str().context("expiry")?.to_owned(),
            pin: Some(good_debit["pin"].as_str().context("pin")?.to_owned()),
        };
        let sale = terminal.send(&xingtong_pos::Request::Sale(card, 29_900, 1)).await?;
        ensure!(sale.approved(), "the first sale: {sale:?}");
        anyhow::Ok(())
    })?;
    let audit = request(address, "GET", "/readyz", "", None, None)?;
    ensure!(audit.status == 200, "{audit:?}");
    let _ = child.kill();
    let _ = child.wait();

    // Started again on the same data: no second demo.
    let again = Server::start(&Backend::Sqlite(dir.path().to_path_buf()))?;
    let merchants = request(again.address, "GET", "/v1/merchants", &key, None, None)?;
    ensure!(merchants.body["merchants"].as_array().map(Vec::len) == Some(1), "{merchants:?}");

    // A day of transactions on the demo tenant, run beside the server (through it), over ISO 8583.
    let day = Command::new(env!("CARGO_BIN_EXE_xingtong"))
        .args(["demo", "day", "--terminals", "2", "--json", "--data-dir"])
        .arg(dir.path())
        .env_remove("XINGTONG_CONFIG")
        .output()?;
    ensure!(day.status.success(), "{}", String::from_utf8_lossy(&day.stderr));
    let report: Value = serde_json::from_slice(&day.stdout)?;
    ensure!(report["merchant"] == mid.as_str() && report["terminals"].as_array().map(Vec::len) == Some(2), "{report}");
    for (what, at_least) in [("sales", 20), ("voids", 1), ("refunds", 1), ("inquiries", 2), ("reversals", 1)] {
        ensure!(report[what].as_u64() >= Some(at_least), "{what}: {report}");
    }
    ensure!(report["declined_codes"]["62"] == 2 && report["balanced"] == true, "the blocked card, twice: {report}");
    // The day to clear them on, as the clearing command takes it (China's date, or the day before
    // when the day turned over during the run).
    let today = xingtong_payments::clock::business_day();
    let dashed = format!("{}-{}-{}", &today[..4], &today[4..6], &today[6..]);
    let yesterday = xingtong_payments::clock::yesterday();
    let before = format!("{}-{}-{}", &yesterday[..4], &yesterday[4..6], &yesterday[6..]);
    ensure!(report["business_day"] == dashed.as_str() || report["business_day"] == before.as_str(), "{report}");
    let audit = Command::new(env!("CARGO_BIN_EXE_xingtong"))
        .args(["admin", "audit", "--json", "--data-dir"])
        .arg(dir.path())
        .env_remove("XINGTONG_CONFIG")
        .output()?;
    let audit: Value = serde_json::from_slice(&audit.stdout)?;
    ensure!(audit["balanced"] == true, "{audit}");
    Ok(())
}

//! Two `xingtong serve` processes on one PostgreSQL database, as the README allows, and one
//! terminal that moves between them: what it did through one holds on the other (its keys, its
//! sign-off), every reply the host could authenticate is MACed and verifies, the edge refuses what
//! docs/iso8583.md says it refuses, and the ledger audits balanced at the end.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use xingtong_iso8583::{Message, Mti, cup};
use xingtong_onboarding::documents::fixtures;
use xingtong_pos::{CardRead, Request, Terminal, TerminalConfig};

use crate::server::{Backend, Server, request_raw};

/// The database arguments of `backend`, with the host master key every process shares.
fn database_args(backend: &Backend, master_key: &Path) -> anyhow::Result<Vec<String>> {
    let Backend::Postgres { url, schema } = backend else { anyhow::bail!("PostgreSQL only") };
    Ok(vec![
        "--database".into(),
        url.clone(),
        "--database-schema".into(),
        schema.clone(),
        "--master-key-file".into(),
        master_key.display().to_string(),
    ])
}

/// `xingtong serve` with its own data directory on the shared database; waits until it listens.
fn serve(backend: &Backend, data_dir: &Path, master_key: &Path) -> anyhow::Result<Server> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xingtong"));
    command.args(["serve", "--http", "127.0.0.1:0", "--iso8583", "127.0.0.1:0", "--log-format", "json"]);
    command.arg("--data-dir").arg(data_dir).args(database_args(backend, master_key)?);
    command.env_remove("XINGTONG_CONFIG").stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
    let mut child = command.spawn().context("starting xingtong serve")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let (mut admin_key, mut terminals) = (None, None);
    let address = loop {
        let line = lines.next().context("the server exited before listening")??;
        if let Some(key) = line.split_whitespace().find(|w| w.starts_with("xtk_")) {
            admin_key = Some(key.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_').to_owned());
        }
        if let Some(rest) = line.split("ISO 8583 terminals on ").nth(1) {
            terminals = Some(rest.split_whitespace().next().context("address")?.parse()?);
        }
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().context("address")?.parse()?;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let terminals = terminals.context("the server did not say where terminals connect")?;
    Ok(Server { child, address, terminals, admin_key })
}

/// `xingtong ARGS --json` on the shared database; its output as JSON.
fn cli(backend: &Backend, data_dir: &Path, master_key: &Path, args: &[&str]) -> anyhow::Result<Value> {
    let output = Command::new(env!("CARGO_BIN_EXE_xingtong"))
        .args(args)
        .arg("--json")
        .arg("--data-dir")
        .arg(data_dir)
        .args(database_args(backend, master_key)?)
        .env_remove("XINGTONG_CONFIG")
        .stdin(Stdio::null())
        .output()?;
    ensure!(output.status.success(), "xingtong {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// An HTTP call with JSON in and out; `auth` is a header (`Authorization` or `Cookie`) and its value.
fn call(
    server: &Server,
    method: &str,
    path: &str,
    auth: (&str, &str),
    key: Option<&str>,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut headers = vec![auth, ("Content-Type", "application/json")];
    if let Some(key) = key {
        headers.push(("Idempotency-Key", key));
    }
    let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(body)? };
    let reply = request_raw(server.address, method, path, &headers, &body)?;
    Ok((reply.status, reply.json()))
}

/// A merchant onboarded over HTTP and approved on the command line; its supervisor and cashier
/// PINs; a merchant API key. Returns (MID, API key).
fn onboard(server: &Server, approve: impl Fn(&str) -> anyhow::Result<Value>) -> anyhow::Result<(String, String)> {
    let owner = json!({ "name": "林涛", "phone": "13500000001", "password": "a long enough password" });
    let reply = request_raw(
        server.address,
        "POST",
        "/v1/owners",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&owner)?,
    )?;
    let cookie = format!("xt_session={}", reply.session_cookie().context("cookie")?);
    let form = json!({
        "applicant": { "legal_name": "林涛", "resident_id": "11010519491231002X", "phone": "13500000001", "email": "lt@example.cn", "address": "广州" },
        "business": { "name": "林涛面馆", "business_type": "individual" },
        "settlement_account": { "card_number": "6222021234567890128", "bank_name": "工商银行", "account_holder": "林涛" },
        "delivery_address": "广州",
    });
    let (status, application) = call(server, "POST", "/v1/applications", ("Cookie", &cookie), None, &form)?;
    ensure!(status == 201, "{application}");
    let id = application["id"].as_str().context("id")?.to_owned();
    for kind in ["id_card_front", "id_card_back", "storefront_photo"] {
        let mut body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
        body.extend(fixtures::png(100, 100));
        body.extend(b"\r\n--b--\r\n");
        let path = format!("/v1/applications/{id}/documents/{kind}");
        let headers = [("Content-Type", "multipart/form-data; boundary=b"), ("Cookie", cookie.as_str())];
        let reply = request_raw(server.address, "POST", &path, &headers, &body)?;
        ensure!(reply.status == 201, "{:?}", reply.json());
    }
    let (status, _) =
        call(server, "POST", &format!("/v1/applications/{id}/submit"), ("Cookie", &cookie), None, &Value::Null)?;
    ensure!(status == 200);
    let mid = approve(&id)?["mid"].as_str().context("mid")?.to_owned();
    // A fresh sign-in carries the merchant.
    let login = json!({ "login": "13500000001", "password": "a long enough password" });
    let reply = request_raw(
        server.address,
        "POST",
        "/v1/sessions",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&login)?,
    )?;
    let cookie = format!("xt_session={}", reply.session_cookie().context("cookie")?);
    let auth = ("Cookie", cookie.as_str());
    let (status, _) =
        call(server, "PUT", &format!("/v1/merchants/{mid}/cashiers/00/pin"), auth, None, &json!({ "pin": "246810" }))?;
    ensure!(status == 200);
    let cashier = json!({ "operator": "01", "name": "小林", "pin": "135790" });
    let (status, _) = call(server, "POST", &format!("/v1/merchants/{mid}/cashiers"), auth, None, &cashier)?;
    ensure!(status == 201);
    let (_, key) = call(server, "POST", "/v1/api-keys", auth, None, &json!({ "label": "till" }))?;
    Ok((mid, key["token"].as_str().context("token")?.to_owned()))
}

/// Sends `m` MACed as it is; returns the reply, whose MAC must verify.
async fn exchange_maced(t: &mut Terminal, m: &mut Message) -> anyhow::Result<Message> {
    let packed = t.mac(m)?;
    let reply = t.exchange_raw(packed).await?;
    ensure!(t.reply_mac_ok(&reply), "the reply's MAC verifies: {reply:?} {:?}", reply.get_str(39));
    Ok(reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_serve_one_terminal() -> anyhow::Result<()> {
    let Some(backend) = Backend::postgres() else {
        eprintln!("XINGTONG_TEST_POSTGRES_URL is not set: the two-process protocol test is skipped");
        return Ok(());
    };
    let result = two_processes(&backend).await;
    // The synchronous client cannot start its runtime inside the test's.
    let dropping = backend.clone();
    tokio::task::spawn_blocking(move || dropping.cleanup()).await?;
    result
}

async fn two_processes(backend: &Backend) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let master_key = dir.path().join("master.key");
    let (dir_a, dir_b, dir_cli) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("cli"));
    for d in [&dir_a, &dir_b, &dir_cli] {
        std::fs::create_dir_all(d)?;
    }
    let a = serve(backend, &dir_a, &master_key)?;
    let b = serve(backend, &dir_b, &master_key)?;
    let admin = a.admin_key.clone().context("the first process prints the admin key")?;
    let admin_auth = format!("Bearer {admin}");
    let admin_cli = |args: &[&str]| cli(backend, &dir_cli, &master_key, args);
    let (mid, key) = onboard(&a, |id| admin_cli(&["admin", "application", "approve", id]))?;
    let provisioned = admin_cli(&["admin", "terminal", "provision", "--mid", &mid])?;
    let tid = provisioned["tid"].as_str().context("tid")?.to_owned();
    let tmk = xingtong_crypto::Key::from_hex(provisioned["tmk"].as_str().context("tmk")?)?;
    let new_card = |n: u32, card_type: &str| -> anyhow::Result<CardRead> {
        let spec = json!({ "brand": "unionpay", "card_type": card_type, "pin": "147258", "balance_minor": 1_000_000 });
        let (status, card) =
            call(&b, "POST", "/v1/sandbox/cards", ("Authorization", &admin_auth), Some(&format!("card-{n}")), &spec)?;
        ensure!(status == 201, "{card}");
        Ok(CardRead {
            pan: card["number"].as_str().context("number")?.into(),
            expiry: card["expiry"].as_str().context("expiry")?.into(),
            pin: (card_type == "debit").then(|| "147258".into()),
        })
    };
    let debit = new_card(1, "debit")?;
    let config = TerminalConfig {
        tid: tid.clone(),
        mid: mid.clone(),
        tmk,
        state_dir: Some(dir.path().join("pos")),
        reply_timeout: Duration::from_secs(10),
        fsync: false,
    };
    let mut t = Terminal::open(config, a.terminals).await?;

    // Signed in on A, a sale on B: B serves it with the keys and batch A stored.
    let signed = t.sign_in(1, "135790").await?;
    ensure!(signed.approved(), "{signed:?}");
    t.connect_to(b.terminals).await?;
    let sale = t.send(&Request::Sale(debit.clone(), 20_000, 1)).await?;
    ensure!(sale.approved() && t.reply_mac_ok(&sale.message), "{sale:?}");

    // Terminal STANs in the host's range, or 000000, are refused at the edge (30, MACed); the
    // JSON sale that later takes 900001 is not a duplicate of anything.
    for stan in ["900001", "900009", "000000"] {
        let mut m = t.build(&Request::Sale(debit.clone(), 100, 1))?;
        m.set(11, stan);
        let reply = exchange_maced(&mut t, &mut m).await?;
        ensure!(reply.get_str(39) == Some("30"), "STAN {stan}: {reply:?}");
    }
    let credit = new_card(2, "credit")?;
    let body = json!({ "tid": tid, "amount_minor": 5_000, "card": { "number": credit.pan, "expiry": credit.expiry } });
    let bearer = format!("Bearer {key}");
    let (status, paid) = call(&a, "POST", "/v1/payments", ("Authorization", &bearer), Some("json-1"), &body)?;
    ensure!(status == 201 && paid["approved"] == true && paid["stan"] == 900_001, "{paid}");

    // Field 49 840 at a CNY merchant: 58, MACed.
    let mut m = t.build(&Request::Sale(debit.clone(), 100, 1))?;
    m.set(49, "840");
    let reply = exchange_maced(&mut t, &mut m).await?;
    ensure!(reply.get_str(39) == Some("58"), "{reply:?}");
    // Settlement of a batch that is neither open nor settled before: 12, MACed.
    let mut settlement = Message::new(Mti::new("0500")?);
    settlement.set(11, "000500").set(41, tid.clone()).set(42, mid.clone()).set(48, "0".repeat(62));
    settlement.set(49, "156").set(60, format!("00{:06}201", t.batch() + 500)).set(63, cup::operator_field(1));
    let reply = exchange_maced(&mut t, &mut settlement).await?;
    ensure!(reply.mti.as_str() == "0510" && reply.get_str(39) == Some("12") && t.reply_mac_ok(&reply), "{reply:?}");
    // A refund names its original by RRN (37) and date (61.3, field 13 of the sale's reply).
    let date = sale.message.get_str(13).context("date")?.to_owned();
    let refund = |rrn: &str, date: &str| Request::Refund {
        original: (sale.batch, sale.stan, date.to_owned()),
        amount: 2_000,
        rrn: rrn.to_owned(),
        supervisor_pin: "246810".into(),
        reason: "02".into(),
    };
    let rrn = sale.rrn().context("rrn")?.to_owned();
    let wrong = t.send(&refund("000000000000", &date)).await?;
    ensure!(wrong.code == "25" && t.reply_mac_ok(&wrong.message), "{wrong:?}");
    let wrong = t.send(&refund(&rrn, if date == "1231" { "1230" } else { "1231" })).await?;
    ensure!(wrong.code == "25" && t.reply_mac_ok(&wrong.message), "{wrong:?}");
    let right = t.send(&refund(&rrn, &date)).await?;
    ensure!(right.approved() && t.reply_mac_ok(&right.message), "{right:?}");

    // Signed off on A: B's copy of the session commits nothing more; the next sale on B is C1.
    t.connect_to(a.terminals).await?;
    let keys = t.working_keys().cloned().context("keys")?;
    ensure!(t.sign_off().await?.approved());
    t.set_working_keys(Some(keys));
    t.connect_to(b.terminals).await?;
    let after = t.send(&Request::Sale(debit.clone(), 100, 1)).await?;
    ensure!(after.code == "C1" && !after.message.has(64), "{after:?}");

    let audit = admin_cli(&["admin", "audit"])?;
    ensure!(audit["balanced"] == true, "{audit}");
    Ok(())
}

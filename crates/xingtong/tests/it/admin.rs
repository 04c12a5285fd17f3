//! Onboarding through the real binary: an applicant over HTTP, staff on the command line
//! (`admin staff create`, `admin application list|approve`, `admin terminal provision --json`),
//! activation over HTTP, notifications written to the data directory by the running server.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use xingtong_onboarding::documents::fixtures;

use crate::server::{Backend, Server, request_raw};

pub fn cli(dir: &std::path::Path, args: &[&str], stdin: &str) -> anyhow::Result<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xingtong"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("XINGTONG_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(stdin.as_bytes())?;
    let output = child.wait_with_output()?;
    ensure!(output.status.success(), "xingtong {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8(output.stdout)?)
}

pub fn json_call(
    server: &Server,
    method: &str,
    path: &str,
    cookie: &str,
    body: &Value,
) -> anyhow::Result<crate::server::RawResponse> {
    let cookie = format!("xt_session={cookie}");
    let body = serde_json::to_vec(body)?;
    request_raw(server.address, method, path, &[("Content-Type", "application/json"), ("Cookie", &cookie)], &body)
}

#[test]
fn staff_approve_and_provision_from_the_command_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&Backend::Sqlite(dir.path().to_path_buf()))?;
    let admin = server.admin_key.clone().context("admin key")?;
    let key_file = dir.path().join("master.key");
    ensure!(key_file.exists(), "the host master key is made at first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        ensure!(std::fs::metadata(&key_file)?.permissions().mode() & 0o077 == 0, "readable by the owner only");
    }

    // An applicant registers, applies and uploads over HTTP.
    let reply = request_raw(
        server.address,
        "POST",
        "/v1/owners",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&json!({ "name": "陈静", "phone": "13700000001", "password": "a long enough password" }))?,
    )?;
    ensure!(reply.status == 201, "{reply:?}");
    let cookie = reply.session_cookie().context("session cookie")?;
    let form = json!({
        "applicant": { "legal_name": "陈静", "resident_id": "11010519491231002X", "phone": "13700000001", "email": "chenjing@example.cn", "address": "杭州市西湖区文三路1号" },
        "business": { "name": "陈静水果店", "business_type": "individual" },
        "settlement_account": { "card_number": "6222021234567890128", "bank_name": "中国建设银行", "account_holder": "陈静" },
        "delivery_address": "杭州市西湖区文三路1号",
    });
    let reply = json_call(&server, "POST", "/v1/applications", &cookie, &form)?;
    ensure!(reply.status == 201, "{:?}", reply.json());
    let id = reply.json()["id"].as_str().context("id")?.to_owned();
    for kind in ["id_card_front", "id_card_back", "storefront_photo"] {
        let boundary = "b0undary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{kind}.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .into_bytes();
        body.extend(fixtures::png(800, 600));
        body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let cookie_header = format!("xt_session={cookie}");
        let reply = request_raw(
            server.address,
            "POST",
            &format!("/v1/applications/{id}/documents/{kind}"),
            &[("Content-Type", &content_type), ("Cookie", &cookie_header)],
            &body,
        )?;
        ensure!(reply.status == 201, "{kind}: {:?}", reply.json());
    }
    let reply = json_call(&server, "POST", &format!("/v1/applications/{id}/submit"), &cookie, &Value::Null)?;
    ensure!(reply.status == 200, "{:?}", reply.json());

    // Staff on the command line, beside the running server.
    let created = cli(
        dir.path(),
        &["admin", "staff", "create", "--username", "ops.chen", "--name", "陈", "--role", "reviewer,risk", "--json"],
        "staff password 9\n",
    )?;
    ensure!(serde_json::from_str::<Value>(created.trim())?["roles"] == json!(["reviewer", "risk"]), "{created}");
    let login = request_raw(
        server.address,
        "POST",
        "/v1/staff/sessions",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&json!({ "login": "ops.chen", "password": "staff password 9" }))?,
    )?;
    ensure!(login.status == 201, "the new staff member signs in: {:?}", login.json());
    let queue = cli(dir.path(), &["admin", "application", "list", "--json"], "")?;
    ensure!(queue.contains(&id) && queue.contains("陈静水果店"), "{queue}");
    let approved: Value =
        serde_json::from_str(cli(dir.path(), &["admin", "application", "approve", &id, "--json"], "")?.trim())?;
    let mid = approved["mid"].as_str().context("mid")?.to_owned();
    ensure!(mid.len() == 15, "{approved}");
    let code = approved["activation_code"].as_str().context("code")?;
    let serial = approved["serial_number"].as_str().context("serial")?;

    // Shipped by staff (the admin key), then the terminal activates against the running server.
    let tid = approved["tid"].as_str().context("tid")?;
    let bearer = format!("Bearer {admin}");
    // Not before the deposit is paid: the owner pays it with a card, over the API.
    let refused = request_raw(
        server.address,
        "POST",
        &format!("/v1/devices/{tid}/ship"),
        &[("Content-Type", "application/json"), ("Authorization", &bearer)],
        b"{}",
    )?;
    ensure!(refused.status == 409 && refused.json()["error"]["code"] == "deposit_unpaid", "{:?}", refused.json());
    let card: Value = serde_json::from_str(
        cli(dir.path(), &["admin", "sandbox", "card", "create", "--pin", "147258", "--balance", "1000", "--json"], "")?
            .trim(),
    )?;
    let payment = serde_json::to_vec(&json!({
        "card_number": card["number"], "expiry": card["expiry"], "pin": "147258" }))?;
    let owner_cookie = format!("xt_session={cookie}");
    let pay = |key: &str| {
        request_raw(
            server.address,
            "POST",
            &format!("/v1/devices/{tid}/deposit/payment"),
            &[("Content-Type", "application/json"), ("Cookie", &owner_cookie), ("Idempotency-Key", key)],
            &payment,
        )
    };
    let paid = pay("deposit-1")?;
    ensure!(paid.status == 200 && paid.json()["status"] == "held", "{:?}", paid.json());
    ensure!(pay("deposit-1")?.json() == paid.json(), "a retry answers the same payment");
    ensure!(pay("deposit-2")?.json()["error"]["code"] == "deposit_not_due");
    let shown: Value =
        serde_json::from_str(cli(dir.path(), &["admin", "deposit", "show", "--tid", tid, "--json"], "")?.trim())?;
    ensure!(shown["status"] == "held" && shown["remaining_minor"] == 10_000_000, "{shown}");
    let shipped = request_raw(
        server.address,
        "POST",
        &format!("/v1/devices/{tid}/ship"),
        &[("Content-Type", "application/json"), ("Authorization", &bearer)],
        br#"{"tracking_number":"SF1234567890"}"#,
    )?;
    ensure!(shipped.status == 200, "{:?}", shipped.json());
    let reply = request_raw(
        server.address,
        "POST",
        "/v1/activations",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&json!({ "mid": mid, "serial_number": serial, "activation_code": code }))?,
    )?;
    ensure!(reply.status == 201, "{:?}", reply.json());

    // A second terminal, provisioned for key loading.
    let provisioned: Value = serde_json::from_str(
        cli(dir.path(), &["admin", "terminal", "provision", "--mid", &mid, "--json"], "")?.trim(),
    )?;
    let tmk = provisioned["tmk"].as_str().context("tmk")?;
    ensure!(tmk.len() == 32 && tmk.bytes().all(|b| b.is_ascii_hexdigit()), "{provisioned}");
    let kcv = hex::encode_upper(xingtong_crypto::Key::from_hex(tmk)?.check_value());
    ensure!(provisioned["tmk_check_value"] == kcv.as_str());
    let tid = provisioned["tid"].as_str().context("tid")?;
    let bearer = format!("Bearer {admin}");
    let device = request_raw(server.address, "GET", &format!("/v1/devices/{tid}"), &[("Authorization", &bearer)], b"")?;
    ensure!(
        device.json()["status"] == "bound" && device.json()["tmk_check_value"] == kcv.as_str(),
        "{:?}",
        device.json()
    );
    ensure!(!String::from_utf8_lossy(&device.body).contains(tmk), "the clear TMK is never served");

    // The server delivers the outbox into the data directory.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sms = std::fs::read_to_string(dir.path().join("outbox/sms.log")).unwrap_or_default();
        if sms.contains("13700000001") && sms.contains(&mid) {
            break;
        }
        ensure!(Instant::now() < deadline, "submitted and approved SMS in outbox/sms.log: {sms}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn an_api_key_with_an_unknown_role_is_refused_and_nothing_is_made() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let refused = Command::new(env!("CARGO_BIN_EXE_xingtong"))
        .args(["admin", "api-key", "create", "--role", "superuser", "--data-dir"])
        .arg(dir.path())
        .env_remove("XINGTONG_CONFIG")
        .output()?;
    ensure!(!refused.status.success(), "an unknown role must be refused");
    let message = String::from_utf8(refused.stderr)?;
    ensure!(message.contains("unknown role \"superuser\""), "{message}");
    ensure!(!dir.path().join("xingtong.sqlite3").exists(), "refused before anything was made");
    let made: Value = serde_json::from_str(cli(dir.path(), &["admin", "api-key", "create", "--json"], "")?.trim())?;
    ensure!(made["role"] == "admin" && made["api_key"].as_str().is_some_and(|k| k.starts_with("xtk_")), "{made}");
    Ok(())
}

//! QR payments through the real binary: a sandbox wallet and its payment code made on the command
//! line, paid over JSON, refunded, shown on the receipt and reconciled against the wallet's bill.

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::admin::cli;
use crate::server::{request, request_raw};

/// A demo server, its address, the admin key, the demo owner's session cookie, a till's API key
/// and a terminal provisioned for it.
struct Till {
    child: std::process::Child,
    address: std::net::SocketAddr,
    admin: String,
    cookie: String,
    key: String,
    tid: String,
}

impl Drop for Till {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn till(dir: &std::path::Path) -> anyhow::Result<Till> {
    let (child, printed) = crate::terminal::serve(dir, "127.0.0.1:0", "127.0.0.1:0")?;
    let address: std::net::SocketAddr = crate::terminal::addresses(&printed)?.1.parse()?;
    let admin = printed.split_whitespace().find(|w| w.starts_with("xtk_")).context("admin key")?.to_owned();
    let mid = printed.split("merchant ").nth(1).and_then(|r| r.split([',', ' ']).next()).context("mid")?.to_owned();
    let mut till = Till { child, address, admin, cookie: String::new(), key: String::new(), tid: String::new() };
    // The demo owner makes a key for the till; staff provision a terminal for it.
    till.cookie = crate::server::demo_owner_cookie(address)?;
    till.key = request_raw(
        address,
        "POST",
        "/v1/api-keys",
        &[("Content-Type", "application/json"), ("Cookie", &till.cookie)],
        &serde_json::to_vec(&json!({ "label": "till" }))?,
    )?
    .json()["token"]
        .as_str()
        .context("token")?
        .to_owned();
    let provisioned: Value =
        serde_json::from_str(cli(dir, &["admin", "terminal", "provision", "--mid", &mid, "--json"], "")?.trim())?;
    till.tid = provisioned["tid"].as_str().context("tid")?.to_owned();
    Ok(till)
}

#[test]
fn a_wallet_pays_over_json_is_refunded_and_reconciles_against_its_bill() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let till = till(dir.path())?;
    let Till { address, admin, cookie, key, tid, .. } = &till;
    let (address, admin, cookie, key, tid) = (*address, admin.clone(), cookie.clone(), key.clone(), tid.clone());
    let result = (|| {
        // A wallet user with ¥200.00 and a payment code, from the command line.
        let wallet: Value = serde_json::from_str(
            cli(
                dir.path(),
                &["admin", "sandbox", "wallet", "create", "--scheme", "alipay", "--balance", "200.00", "--json"],
                "",
            )?
            .trim(),
        )?;
        let wallet_id = wallet["id"].as_str().context("wallet id")?.to_owned();
        ensure!(wallet["balance_minor"] == 20_000 && wallet["scheme"] == "alipay", "{wallet}");
        let code = |dir: &std::path::Path| -> anyhow::Result<String> {
            let code: Value = serde_json::from_str(
                cli(dir, &["admin", "sandbox", "wallet", "code", &wallet_id, "--json"], "")?.trim(),
            )?;
            Ok(code["code"].as_str().context("code")?.to_owned())
        };
        let first = code(dir.path())?;
        ensure!(first.starts_with("28") && first.len() == 18, "{first}");

        // Paid over JSON; the same Idempotency-Key again answers the same payment.
        let sale = json!({ "tid": tid, "amount_minor": 8_800, "method": "qr", "payment_code": first });
        let paid = request(address, "POST", "/v1/payments", &key, Some("qr-1"), Some(&sale))?;
        ensure!(paid.status == 201 && paid.body["approved"] == true, "{paid:?}");
        ensure!(paid.body["method"] == "alipay" && paid.body["card"].is_null(), "{:?}", paid.body);
        ensure!(paid.body["fee_minor"] == 33, "0.38 % of ¥88.00 is ¥0.3344: {:?}", paid.body["fee_minor"]);
        ensure!(paid.body["wallet"]["payer"].as_str().is_some_and(|p| p.contains("****")), "{:?}", paid.body);
        ensure!(!paid.body.to_string().contains(&first[2..14]), "the code is never shown whole");
        let id = paid.body["id"].as_str().context("id")?.to_owned();
        let again = request(address, "POST", "/v1/payments", &key, Some("qr-1"), Some(&sale))?;
        ensure!(again.status == 201 && again.body["id"] == id.as_str(), "{again:?}");

        // The same code with another key: recorded, declined, with what to do.
        let reused = request(address, "POST", "/v1/payments", &key, Some("qr-2"), Some(&sale))?;
        ensure!(reused.status == 201 && reused.body["approved"] == false, "{reused:?}");
        ensure!(reused.body["wallet"]["decline"]["code"] == "qr_code_used", "{:?}", reused.body);
        ensure!(reused.body["response_code"] == "14", "{:?}", reused.body);
        ensure!(reused.body["decline_reason"] == "qr_code_used", "{:?}", reused.body);
        // Not a payment code: 422 before anything is recorded; a card with method qr: 422.
        let junk = json!({ "tid": tid, "amount_minor": 100, "method": "qr", "payment_code": "hello" });
        let refused = request(address, "POST", "/v1/payments", &key, Some("qr-3"), Some(&junk))?;
        ensure!(refused.status == 422 && refused.body["error"]["code"] == "qr_not_recognised", "{refused:?}");
        ensure!(refused.body["error"]["details"]["message_zh"].as_str().is_some_and(|m| m.contains("付款码")));
        let mixed = json!({ "tid": tid, "amount_minor": 100, "method": "qr", "payment_code": code(dir.path())?,
            "card": { "number": "6222021234567890128" } });
        let refused = request(address, "POST", "/v1/payments", &key, Some("qr-4"), Some(&mixed))?;
        ensure!(refused.status == 422 && refused.body["error"]["code"] == "invalid_request", "{refused:?}");

        // The receipt names the wallet and its order number.
        let receipt = request(address, "GET", &format!("/v1/payments/{id}/receipt"), &key, None, None)?;
        ensure!(receipt.body["method"]["zh"] == "支付宝", "{:?}", receipt.body);
        ensure!(receipt.body["wallet_txn_id"] == paid.body["wallet"]["wallet_txn_id"], "{:?}", receipt.body);

        // A refund of ¥20.00 with the supervisor's PIN; more than what remains is declined.
        let refund = json!({ "payment_id": id, "amount_minor": 2_000, "reason": "01", "supervisor_pin": "246810" });
        let refunded = request(address, "POST", "/v1/refunds", &key, Some("qr-r1"), Some(&refund))?;
        ensure!(refunded.status == 201 && refunded.body["approved"] == true, "{refunded:?}");
        ensure!(refunded.body["method"] == "alipay" && refunded.body["fee_minor"] == -8, "{:?}", refunded.body);
        let over = json!({ "payment_id": id, "amount_minor": 6_801, "reason": "01", "supervisor_pin": "246810" });
        let over = request(address, "POST", "/v1/refunds", &key, Some("qr-r2"), Some(&over))?;
        ensure!(over.body["approved"] == false && over.body["response_code"] == "13", "{over:?}");
        let shown = request(address, "GET", &format!("/v1/sandbox/wallets/{wallet_id}"), &admin, None, None)?;
        ensure!(shown.body["balance_minor"] == 20_000 - 8_800 + 2_000, "{:?}", shown.body);

        // Reconciled against the wallet's bill: the sale and the refund match.
        let today = xingtong_payments::clock::business_day();
        let date = format!("{}-{}-{}", &today[..4], &today[4..6], &today[6..]);
        let run = json!({ "date": date, "source": "alipay" });
        let report = request(address, "POST", "/v1/reconciliation-runs", &admin, None, Some(&run))?;
        ensure!(report.status == 200 && report.body["status"] == "balanced", "{report:?}");
        ensure!(report.body["source"] == "alipay" && report.body["matched"] == 2, "{:?}", report.body);
        let stored = request(address, "GET", &format!("/v1/reconciliations/{date}?source=alipay"), &admin, None, None)?;
        ensure!(stored.body["id"] == report.body["id"], "{stored:?}");
        let bad = request(address, "GET", &format!("/v1/reconciliations/{date}?source=paypal"), &admin, None, None)?;
        ensure!(bad.status == 400 && bad.body["error"]["code"] == "invalid_parameter", "{bad:?}");
        let bill = cli(dir.path(), &["admin", "sandbox", "clearing-file", "--date", &date, "--source", "alipay"], "")?;
        ensure!(bill.starts_with("000 ALP ") && bill.contains(&tid), "{bill}");
        // The owner turns QR off on the terminal: a QR sale is then declined, method_disabled.
        let methods = format!("/v1/devices/{tid}/payment-methods");
        let shown = request_raw(address, "GET", &methods, &[("Cookie", &cookie)], b"")?;
        ensure!(shown.status == 200 && shown.json()["qr"] == true && shown.json()["default_method"] == "card");
        let set = request_raw(
            address,
            "PUT",
            &methods,
            &[("Content-Type", "application/json"), ("Cookie", &cookie)],
            &serde_json::to_vec(&json!({ "qr": false }))?,
        )?;
        ensure!(set.status == 200 && set.json()["qr"] == false, "{:?}", set.json());
        let off = json!({ "tid": tid, "amount_minor": 100, "method": "qr", "payment_code": code(dir.path())? });
        let refused = request(address, "POST", "/v1/payments", &key, Some("qr-off"), Some(&off))?;
        ensure!(refused.body["wallet"]["decline"]["code"] == "method_disabled", "{refused:?}");
        ensure!(refused.body["response_code"] == "58", "{refused:?}");
        // One reason for a disabled method, whichever the method.
        ensure!(refused.body["decline_reason"] == "method_disabled", "{refused:?}");
        let none = request_raw(
            address,
            "PUT",
            &methods,
            &[("Content-Type", "application/json"), ("Cookie", &cookie)],
            &serde_json::to_vec(&json!({ "card": false }))?,
        )?;
        ensure!(none.status == 422 && none.json()["error"]["code"] == "invalid_payment_methods", "{:?}", none.json());
        let cli_shown: Value = serde_json::from_str(
            cli(dir.path(), &["admin", "terminal", "payment-methods", "--tid", &tid, "--qr", "on", "--json"], "")?
                .trim(),
        )?;
        ensure!(cli_shown["qr"] == true && cli_shown["card"] == true, "{cli_shown}");
        let elsewhere = request(address, "GET", "/v1/devices/99999999/payment-methods", &key, None, None)?;
        ensure!(elsewhere.status == 404, "{elsewhere:?}");
        let audit: Value = serde_json::from_str(cli(dir.path(), &["admin", "audit", "--json"], "")?.trim())?;
        ensure!(audit["balanced"] == true, "{audit}");
        Ok(())
    })();
    drop(till);
    result
}

#[test]
fn a_customer_scans_the_terminal_s_codes_over_json_and_only_the_wallet_s_signed_word_counts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let till = till(dir.path())?;
    let (address, admin, key, tid) = (till.address, till.admin.as_str(), till.key.as_str(), till.tid.as_str());
    let wallet = request(
        address,
        "POST",
        "/v1/sandbox/wallets",
        admin,
        None,
        Some(&json!({ "scheme": "wechat", "balance_minor": 100_000 })),
    )?;
    let wallet_id = wallet.body["id"].as_str().context("wallet")?.to_owned();
    let scan = |body: Value| {
        request(address, "POST", &format!("/v1/sandbox/wallets/{wallet_id}/scans"), admin, None, Some(&body))
    };
    let order = |idem: &str, amount: i64| -> anyhow::Result<Value> {
        let made = request(
            address,
            "POST",
            "/v1/qr-orders",
            key,
            Some(idem),
            Some(&json!({ "tid": tid, "amount_minor": amount, "scheme": "wechat" })),
        )?;
        ensure!(made.status == 201 && made.body["status"] == "pending", "{made:?}");
        Ok(made.body)
    };
    let until = |id: &str, done: &dyn Fn(&Value) -> bool| -> anyhow::Result<Value> {
        for _ in 0..100 {
            let now = request(address, "GET", &format!("/v1/qr-orders/{id}"), key, None, None)?;
            if done(&now.body) {
                return Ok(now.body);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        anyhow::bail!("{id} did not get there")
    };

    // A dynamic code: pending with its URL; the same Idempotency-Key answers the same order.
    let made = order("o-1", 5_000)?;
    let id = made["id"].as_str().context("id")?.to_owned();
    let url = made["wallet"]["order"]["code_url"].as_str().context("code_url")?.to_owned();
    ensure!(url.starts_with("xtsandbox://wechat/") && made["wallet"]["order"]["mode"] == "dynamic", "{made}");
    ensure!(order("o-1", 5_000)?["id"] == id.as_str());
    // Listed among the merchant's pending transactions of this terminal until it ends.
    let mid = made["mid"].as_str().context("mid")?.to_owned();
    let pending = format!("/v1/merchants/{mid}/transactions?status=pending&tid={tid}");
    let listed = request(address, "GET", &pending, key, None, None)?;
    ensure!(
        listed.body["transactions"].as_array().is_some_and(|l| l.len() == 1 && l[0]["id"] == id.as_str()),
        "{listed:?}"
    );
    let elsewhere = request(address, "GET", &format!("{pending}0"), key, None, None)?;
    ensure!(elsewhere.body["transactions"].as_array().is_some_and(Vec::is_empty), "{elsewhere:?}");
    // By payment method: a WeChat order, no card one; an unknown method is refused.
    let by = |method: &str| request(address, "GET", &format!("{pending}&method={method}"), key, None, None);
    ensure!(by("wechat,alipay")?.body["transactions"].as_array().is_some_and(|l| l.len() == 1));
    ensure!(by("card")?.body["transactions"].as_array().is_some_and(Vec::is_empty));
    let unknown = by("cash")?;
    ensure!(unknown.status == 400 && unknown.body["error"]["code"] == "invalid_parameter", "{unknown:?}");
    // By cashier (01 by default) and business type (sale by default), alone and together.
    let of = |filter: &str| request(address, "GET", &format!("{pending}&{filter}"), key, None, None);
    let count = |filter: &str| -> anyhow::Result<usize> {
        Ok(of(filter)?.body["transactions"].as_array().map_or(usize::MAX, Vec::len))
    };
    ensure!(count("operator=01")? == 1 && count("operator=02,03")? == 0);
    ensure!(count("business_type=sale")? == 1 && count("business_type=purchase,collection")? == 0);
    ensure!(count("operator=01&business_type=sale&method=wechat")? == 1);
    let bad = of("operator=1")?;
    ensure!(bad.status == 400 && bad.body["error"]["code"] == "invalid_parameter", "{bad:?}");
    let bad = of("business_type=gift")?;
    ensure!(bad.status == 400 && bad.body["error"]["code"] == "invalid_parameter", "{bad:?}");
    // Scanned and paid: the notification approves it; polling sees it.
    let paid = scan(json!({ "code_url": url }))?;
    ensure!(paid.status == 201 && paid.body["notified"] == true && paid.body["order_id"] == id.as_str(), "{paid:?}");
    let approved = until(&id, &|t| t["status"] == "approved")?;
    ensure!(approved["fee_minor"] == 19 && approved["method"] == "wechat", "0.38 % of ¥50.00 is ¥0.19: {approved}");
    ensure!(scan(json!({ "code_url": url }))?.body["error"]["code"] == "order_closed");
    let listed = request(address, "GET", &pending, key, None, None)?;
    ensure!(listed.body["transactions"].as_array().is_some_and(Vec::is_empty), "no longer pending: {listed:?}");

    // The notification again: taken, nothing changes. Forged or altered: 401, nothing changes.
    let sent = request(address, "GET", &format!("/v1/sandbox/wallet-orders/{id}/notifications"), admin, None, None)?;
    let notice = &sent.body["notifications"][0];
    let (body, signature) = (notice["body"].as_str().context("body")?, notice["signature"].as_str().context("sig")?);
    let post = |body: &str, signature: &str| {
        request_raw(
            address,
            "POST",
            "/v1/wallet-notifications/wechat",
            &[("Content-Type", "application/json"), ("X-Wallet-Signature", signature)],
            body.as_bytes(),
        )
    };
    let again = post(body, signature)?;
    ensure!(again.status == 200 && again.json()["changed"] == false && again.json()["status"] == "approved");
    let forged = post(body, &"0".repeat(64))?;
    ensure!(forged.status == 401 && forged.json()["error"]["code"] == "bad_signature", "{:?}", forged.json());
    let altered = post(&body.replace("5000", "1"), signature)?;
    ensure!(altered.status == 401, "{:?}", altered.json());

    // Closed by the cashier: declined order_closed, and the app refuses the code.
    let closing = order("o-2", 2_000)?;
    let closing_id = closing["id"].as_str().context("id")?;
    let closed = request(address, "POST", &format!("/v1/qr-orders/{closing_id}/close"), key, None, None)?;
    ensure!(closed.status == 200 && closed.body["status"] == "declined", "{closed:?}");
    ensure!(closed.body["wallet"]["decline"]["code"] == "order_closed" && closed.body["response_code"] == "12");
    let url = closing["wallet"]["order"]["code_url"].as_str().context("url")?;
    ensure!(scan(json!({ "code_url": url }))?.body["error"]["code"] == "order_closed");

    // Paid after close: the wallet was down when the close was sent; the payer pays once it is
    // back, and the money goes straight back.
    let late = order("o-3", 3_000)?;
    let late_id = late["id"].as_str().context("id")?;
    let outage = |down: bool| {
        request(address, "PUT", "/v1/sandbox/wallet-schemes/wechat", admin, None, Some(&json!({ "unavailable": down })))
    };
    ensure!(outage(true)?.body["unavailable"] == true);
    let closed = request(address, "POST", &format!("/v1/qr-orders/{late_id}/close"), key, None, None)?;
    ensure!(closed.body["status"] == "declined", "{closed:?}");
    outage(false)?;
    let url = late["wallet"]["order"]["code_url"].as_str().context("url")?;
    ensure!(scan(json!({ "code_url": url }))?.status == 201);
    until(late_id, &|t| t["wallet"]["order"]["returned"] == true)?;
    let shown = request(address, "GET", &format!("/v1/sandbox/wallets/{wallet_id}"), admin, None, None)?;
    ensure!(shown.body["balance_minor"] == 100_000 - 5_000, "only the first order was taken: {:?}", shown.body);

    // The static code: ¥300 taken; ¥250 more would pass ¥500 in the day.
    let code = request(address, "GET", &format!("/v1/devices/{tid}/static-code"), key, None, None)?;
    let static_url = code.body["code_url"].as_str().context("static")?.to_owned();
    ensure!(static_url == format!("xingtong://static/{tid}") && code.body["daily_limit_per_payer_minor"] == 50_000);
    let first = scan(json!({ "code_url": static_url, "amount_minor": 30_000 }))?;
    ensure!(first.status == 201, "{first:?}");
    until(first.body["order_id"].as_str().context("order")?, &|t| t["status"] == "approved")?;
    let over = scan(json!({ "code_url": static_url, "amount_minor": 25_000 }))?;
    ensure!(over.status == 422 && over.body["error"]["code"] == "static_code_limit", "{over:?}");
    let no_amount = scan(json!({ "code_url": static_url }))?;
    ensure!(no_amount.status == 422 && no_amount.body["error"]["code"] == "invalid_request", "{no_amount:?}");

    // Scanned from the command line: paid, and the order approved.
    let by_cli = order("o-6", 1_000)?;
    let url = by_cli["wallet"]["order"]["code_url"].as_str().context("url")?;
    let out: Value = serde_json::from_str(
        cli(dir.path(), &["admin", "sandbox", "wallet", "scan", &wallet_id, url, "--json"], "")?.trim(),
    )?;
    ensure!(out["status"] == "approved" && out["order_id"] == by_cli["id"], "{out}");

    // Bad input: a lifetime out of range, an unknown wallet.
    let bad = json!({ "tid": tid, "amount_minor": 100, "scheme": "wechat", "expires_in_s": 59 });
    let refused = request(address, "POST", "/v1/qr-orders", key, Some("o-4"), Some(&bad))?;
    ensure!(refused.status == 422 && refused.body["error"]["code"] == "invalid_lifetime", "{refused:?}");
    let bad = json!({ "tid": tid, "amount_minor": 100, "scheme": "paypal" });
    let refused = request(address, "POST", "/v1/qr-orders", key, Some("o-5"), Some(&bad))?;
    ensure!(refused.status == 422 && refused.body["error"]["code"] == "invalid_request", "{refused:?}");
    let audit: Value = serde_json::from_str(cli(dir.path(), &["admin", "audit", "--json"], "")?.trim())?;
    ensure!(audit["balanced"] == true, "{audit}");
    Ok(())
}

//! QR payments through the real binary: a sandbox wallet and its payment code made on the command
//! line, paid over JSON, refunded, shown on the receipt and reconciled against the wallet's bill.

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::admin::cli;
use crate::server::{request, request_raw};

#[test]
fn a_wallet_pays_over_json_is_refunded_and_reconciles_against_its_bill() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut child, printed) = crate::terminal::serve(dir.path(), "127.0.0.1:0", "127.0.0.1:0")?;
    let address: std::net::SocketAddr = crate::terminal::addresses(&printed)?.1.parse()?;
    let admin = printed.split_whitespace().find(|w| w.starts_with("xtk_")).context("admin key")?.to_owned();
    let mid = printed.split("merchant ").nth(1).and_then(|r| r.split([',', ' ']).next()).context("mid")?.to_owned();
    let result = (|| {
        // The demo owner makes a key for the till; staff provision a terminal for it.
        let login = request_raw(
            address,
            "POST",
            "/v1/sessions",
            &[("Content-Type", "application/json")],
            &serde_json::to_vec(&json!({ "login": "13888888888", "password": "demo owner password" }))?,
        )?;
        let cookie = format!("xt_session={}", login.session_cookie().context("cookie")?);
        let key = request_raw(
            address,
            "POST",
            "/v1/api-keys",
            &[("Content-Type", "application/json"), ("Cookie", &cookie)],
            &serde_json::to_vec(&json!({ "label": "till" }))?,
        )?
        .json()["token"]
            .as_str()
            .context("token")?
            .to_owned();
        let provisioned: Value = serde_json::from_str(
            cli(dir.path(), &["admin", "terminal", "provision", "--mid", &mid, "--json"], "")?.trim(),
        )?;
        let tid = provisioned["tid"].as_str().context("tid")?.to_owned();

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
    let _ = child.kill();
    let _ = child.wait();
    result
}

//! The merchant console's account pages and the operations console's money and platform pages,
//! through the real binary as a browser talks to them: a merchant's cashiers, fees, API keys and
//! settlement card (changed with the code the SMS brought); a clearing run and a payout that fails
//! on a closed account, what the merchant is told to do, and the payout sent again to the new
//! card; reconciliation, the outbox, the audit log searched, the node's health; and every page of
//! both consoles in both languages.

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::admin::cli;
use crate::console::{Client, merchant_with_a_sale, text};
use crate::server::{Backend, Server, request_raw};

/// The form token of `path`'s page, for a form posted from it.
fn token(client: &mut Client, path: &str) -> anyhow::Result<String> {
    let page = client.get(path)?;
    ensure!(page.status == 200, "{path}: {}", page.status);
    Client::token(&page)
}

/// The one-time code of the newest card-change SMS in the data directory's outbox (the phone),
/// waiting for the server to deliver it.
pub fn sms_code(dir: &std::path::Path, seen: usize) -> anyhow::Result<String> {
    let started = std::time::Instant::now();
    loop {
        let log = std::fs::read_to_string(dir.join("outbox/sms.log")).unwrap_or_default();
        let codes: Vec<String> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .filter(|t| t.contains("验证码") || t.contains("code to change"))
            .filter_map(|t| {
                let digits: Vec<char> = t.chars().collect();
                digits.windows(6).find(|w| w.iter().all(char::is_ascii_digit)).map(|w| w.iter().collect())
            })
            .collect();
        if codes.len() > seen {
            return codes.last().cloned().context("a code");
        }
        ensure!(started.elapsed().as_secs() < 15, "the code's SMS was delivered");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn admin_json(server: &Server, method: &str, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
    let key = server.admin_key.clone().context("admin key")?;
    let reply = request_raw(
        server.address,
        method,
        path,
        &[("Authorization", &format!("Bearer {key}")), ("Content-Type", "application/json")],
        &serde_json::to_vec(body)?,
    )?;
    Ok((reply.status, if reply.body.is_empty() { Value::Null } else { reply.json() }))
}

#[test]
fn a_merchant_runs_its_account_and_staff_run_clearing_payouts_and_the_platform_in_the_consoles() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&Backend::Sqlite(dir.path().to_path_buf()))?;
    let (mid, sale) = merchant_with_a_sale(&server, dir.path(), "13600000021", "丙超市")?;
    cli(
        dir.path(),
        &["admin", "staff", "create", "--username", "fin.li", "--name", "李", "--role", "finance,reviewer", "--json"],
        "staff password 55\n",
    )?;
    let mut m = Client::new(server.address);
    ensure!(m.sign_in("/console", "13600000021", "a long enough password")?.status == 303);

    // Cashiers: a bad PIN is refused with the form kept; 02 is added, disabled (it can no longer
    // sign in), enabled again and given a PIN; the supervisor cannot be disabled.
    let page = text(&m.get("/console/cashiers")?);
    ensure!(page.contains("cashier-00") && page.contains("cashier-01"), "{page}");
    let t = token(&mut m, "/console/cashiers")?;
    let refused = m.post_form(
        "/console/cashiers",
        &[("_csrf", &t), ("mid", &mid), ("operator", "02"), ("name", "小王"), ("pin", "12345")],
    )?;
    ensure!(refused.status == 422 && text(&refused).contains("invalid_pin"), "{}", refused.status);
    ensure!(text(&refused).contains("value=\"02\"") && !text(&refused).contains("12345"), "kept, but not the PIN");
    let added = m.post_form(
        "/console/cashiers",
        &[("_csrf", &t), ("mid", &mid), ("operator", "02"), ("name", "小王"), ("pin", "246810")],
    )?;
    ensure!(added.status == 200 && text(&added).contains("cashier-02"), "{}", added.status);
    let row = |page: &str, op: &str| -> String {
        let at = page.find(&format!("id=\"cashier-{op}\"")).unwrap_or(0);
        page[at..].split("</tr>").next().unwrap_or("").to_owned()
    };
    let disabled = m.post_form("/console/cashiers/02/disable", &[("_csrf", &t), ("mid", &mid)])?;
    ensure!(disabled.status == 200 && row(&text(&disabled), "02").contains("已停用"), "{}", text(&disabled));
    let supervisor = m.post_form("/console/cashiers/00/disable", &[("_csrf", &t), ("mid", &mid)])?;
    ensure!(supervisor.status == 409 && text(&supervisor).contains("supervisor_required"), "{}", supervisor.status);
    let enabled = m.post_form("/console/cashiers/02/enable", &[("_csrf", &t), ("mid", &mid)])?;
    ensure!(row(&text(&enabled), "02").contains("待设置密码"), "{}", text(&enabled));
    let pin = m.post_form("/console/cashiers/02/pin", &[("_csrf", &t), ("mid", &mid), ("pin", "135791")])?;
    ensure!(pin.status == 200 && row(&text(&pin), "02").contains("正常"), "{}", text(&pin));
    let unsigned = m.post_form("/console/cashiers/02/disable", &[("mid", &mid)])?;
    ensure!(unsigned.status == 403, "a form without its token: {}", unsigned.status);

    // The list filtered by cashier and by business type (the sale was cashier 01's, a sale).
    let mut list =
        |filter: &str| -> anyhow::Result<String> { Ok(text(&m.get(&format!("/console/transactions?{filter}"))?)) };
    ensure!(list("cashier=01&business=sale")?.contains(&sale));
    ensure!(list("cashier=02")?.contains("id=\"nothing\""), "cashier 02 took nothing");
    ensure!(list("business=purchase")?.contains("id=\"nothing\""));
    ensure!(list("cashier=01")?.contains("value=\"01\""), "the filter is kept in the form");

    // Fees in force, and the settlement cycle set to D0 and back.
    let fees = text(&m.get("/console/fees")?);
    ensure!(fees.contains("0.60%") && fees.contains("0.38%") && fees.contains("¥20.00"), "{fees}");
    ensure!(fees.contains("no-fee-changes"), "nothing announced yet");
    let t = token(&mut m, "/console/fees")?;
    let d0 = m.post_form("/console/fees/cycle", &[("_csrf", &t), ("mid", &mid), ("cycle", "d0")])?;
    ensure!(d0.status == 200 && text(&d0).contains("value=\"d0\" checked"), "{}", d0.status);
    let t1 = m.post_form("/console/fees/cycle", &[("_csrf", &t), ("mid", &mid), ("cycle", "t1")])?;
    ensure!(t1.status == 200 && text(&t1).contains("value=\"t1\" checked"));

    // An API key: shown once, it works; revoked, it does not.
    let t = token(&mut m, "/console/api-keys")?;
    let made =
        m.post_form("/console/api-keys", &[("_csrf", &t), ("mid", &mid), ("label", "收银系统"), ("payments", "on")])?;
    let page = text(&made);
    ensure!(made.status == 201, "{}", made.status);
    let marker = "id=\"new-key\">";
    let at = page.find(marker).context("the new key")? + marker.len();
    let key: String = page[at..].chars().take_while(|c| *c != '<').collect();
    ensure!(key.starts_with("xtk_"), "{key}");
    let with_key = |key: &str| {
        request_raw(
            server.address,
            "GET",
            &format!("/v1/merchants/{mid}"),
            &[("Authorization", &format!("Bearer {key}"))],
            b"",
        )
        .map(|r| r.status)
    };
    ensure!(with_key(&key)? == 200);
    let listed = text(&m.get("/console/api-keys")?);
    ensure!(listed.contains("收银系统") && !listed.contains(&key), "listed, the secret not shown again");
    let id_at = listed.find("/console/api-keys/").context("a revoke form")? + 18;
    let key_id: String = listed[id_at..].chars().take_while(|c| *c != '/').collect();
    let revoked = m.post_form(&format!("/console/api-keys/{key_id}/revoke"), &[("_csrf", &t)])?;
    ensure!(revoked.status == 200 && with_key(&key)? == 401, "{}", revoked.status);

    // Clearing today (finance staff, in the operations console), with the merchant's card's
    // account closed at the bank: the payout fails.
    let (status, _) = admin_json(
        &server,
        "POST",
        "/v1/sandbox/bank-accounts",
        &json!({ "card_number": "6222021234567890128", "state": "closed" }),
    )?;
    ensure!(status == 200);
    let mut f = Client::new(server.address);
    ensure!(f.sign_in("/ops", "fin.li", "staff password 55")?.status == 303);
    let today = xingtong_payments::clock::business_day();
    let dashed = format!("{}-{}-{}", &today[..4], &today[4..6], &today[6..]);
    let t = token(&mut f, "/ops/clearing")?;
    let bad_day = f.post_form("/ops/clearing/run", &[("_csrf", &t), ("day", "2026-02-30")])?;
    ensure!(bad_day.status == 422, "{}", bad_day.status);
    let cleared = f.post_form("/ops/clearing/run", &[("_csrf", &t), ("day", &dashed)])?;
    ensure!(cleared.status == 200 && text(&cleared).contains("<dt>本次新结算单</dt><dd>1</dd>"), "{}", text(&cleared));
    let (_, payouts) = admin_json(&server, "GET", &format!("/v1/merchants/{mid}/payouts"), &Value::Null)?;
    let payout_day = payouts["payouts"][0]["payout_date"].as_str().context("a payout")?.to_owned();
    let paid = f.post_form("/ops/payouts/run", &[("_csrf", &t), ("day", &payout_day)])?;
    ensure!(paid.status == 200 && text(&paid).contains("<dt>失败</dt><dd>1</dd>"), "{}", text(&paid));
    let attention = text(&f.get("/ops/clearing")?);
    ensure!(attention.contains("account_closed") && attention.contains(&mid), "the failure is listed: {attention}");

    // The merchant sees the settlement, its lines, the failed payout and what to do.
    let settlements = text(&m.get("/console/settlements")?);
    let settlement_id = format!("stl_{mid}_{today}");
    ensure!(settlements.contains(&format!("/console/settlements/{settlement_id}")), "{settlements}");
    ensure!(settlements.contains("划款失败") && settlements.contains("to-bank-card"), "{settlements}");
    let detail = m.get(&format!("/console/settlements/{settlement_id}"))?;
    let detail = text(&detail);
    ensure!(detail.contains(&sale) && detail.contains("¥123.45") && detail.contains("what-to-do"), "{detail}");
    ensure!(detail.contains("account_closed"), "the bank's answer is shown");

    // The card changed with the code the SMS brought: a wrong holder is said beside its field;
    // a wrong code keeps the change open; the right one changes the card.
    let card_page = text(&m.get("/console/bank-card")?);
    ensure!(card_page.contains("failed-payouts") && card_page.contains("0128"), "{card_page}");
    let t = token(&mut m, "/console/bank-card")?;
    let card = [("card_number", "6217001234567890122"), ("bank_name", "建设银行")];
    let wrong_holder = m.post_form(
        "/console/bank-card",
        &[("_csrf", &t), ("mid", &mid), card[0], card[1], ("account_holder", "别人")],
    )?;
    ensure!(wrong_holder.status == 422, "{}", wrong_holder.status);
    let page = text(&wrong_holder);
    ensure!(page.contains("id=\"e-account_holder\"") && page.contains("户名须与商户一致"), "{page}");
    ensure!(page.contains("value=\"6217001234567890122\""), "the form is kept");
    let sent = m.post_form(
        "/console/bank-card",
        &[("_csrf", &t), ("mid", &mid), card[0], card[1], ("account_holder", "周杰")],
    )?;
    let page = text(&sent);
    ensure!(sent.status == 200 && page.contains("code-sent") && page.contains("*******0021"), "{page}");
    let marker = "name=\"change\" value=\"";
    let change_at = page.find(marker).context("the change")? + marker.len();
    let change: String = page[change_at..].chars().take_while(|c| *c != '"').collect();
    let code = sms_code(dir.path(), 0)?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let wrong_code = m.post_form(
        "/console/bank-card/confirm",
        &[("_csrf", &t), ("mid", &mid), ("change", &change), ("code", wrong)],
    )?;
    ensure!(wrong_code.status == 422 && text(&wrong_code).contains("验证码错误"), "{}", wrong_code.status);
    ensure!(text(&wrong_code).contains("confirm-form"), "the code is asked again");
    let changed = m.post_form(
        "/console/bank-card/confirm",
        &[("_csrf", &t), ("mid", &mid), ("change", &change), ("code", &code)],
    )?;
    let page = text(&changed);
    ensure!(changed.status == 200 && page.contains("结算卡已修改") && page.contains("0122"), "{page}");
    // The notifications page lists the code's SMS, never the code.
    let notes = text(&m.get("/console/notifications")?);
    ensure!(notes.contains("【星通】验证码") && !notes.contains(&code), "{notes}");

    // The next payout run sends the failed payout again, to the new card: paid.
    let retried = f.post_form("/ops/payouts/run", &[("_csrf", &t), ("day", &payout_day)])?;
    ensure!(retried.status == 403, "a token from another client's cookie is refused");
    let t = token(&mut f, "/ops/clearing")?;
    let retried = f.post_form("/ops/payouts/run", &[("_csrf", &t), ("day", &payout_day)])?;
    ensure!(retried.status == 200 && text(&retried).contains("<dt>改卡后重发</dt><dd>1</dd>"), "{}", text(&retried));
    let detail = text(&m.get(&format!("/console/settlements/{settlement_id}"))?);
    let marker = "id=\"payout-status\">";
    let status_at = detail.find(marker).context("the payout")? + marker.len();
    ensure!(detail[status_at..].starts_with("已到账"), "{detail}");
    ensure!(detail.contains("0122") && !detail.contains("what-to-do"), "paid to the new card");

    // The settlement report: on the page, as CSV, over JSON and on the command line, each the
    // settlement's payout (¥123.45 less ¥0.74); refunds one by one are the list of type refund.
    let range = format!("from={dashed}&to={dashed}");
    let report = text(&m.get(&format!("/console/reports/settlements?{range}"))?);
    ensure!(report.contains("id=\"settlement-payout\">¥122.71<"), "{report}");
    let csv = text(&m.get(&format!("/console/reports/settlements.csv?{range}"))?);
    let total = csv.lines().last().context("a totals line")?;
    ensure!(total.starts_with("合计,1,1,123.45,0.00,0.74,122.71,122.71,"), "{csv}");
    let (status, json) =
        admin_json(&server, "GET", &format!("/v1/merchants/{mid}/reports/settlements?{range}"), &Value::Null)?;
    ensure!(
        status == 200 && json["totals"]["payout_minor"] == 12_271 && json["lines"][0]["period"] == dashed.as_str(),
        "{json}"
    );
    let (status, bad) = admin_json(
        &server,
        "GET",
        &format!("/v1/merchants/{mid}/reports/settlements?from={dashed}&to=2020-01-01"),
        &Value::Null,
    )?;
    ensure!(status == 400 && bad["error"]["code"] == "invalid_parameter", "{bad}");
    let printed: Value = serde_json::from_str(
        cli(
            dir.path(),
            &["admin", "report", "settlements", "--mid", &mid, "--from", &dashed, "--to", &dashed, "--json"],
            "",
        )?
        .trim(),
    )?;
    ensure!(printed["totals"]["payout_minor"] == 12_271, "{printed}");
    ensure!(report.contains("kind=refund"), "the refunds' link");
    // The collection report: the card collected the sale, net of its fee, as the sales report says.
    let collections = text(&m.get(&format!("/console/reports/collections?{range}"))?);
    ensure!(collections.contains("id=\"collected-total\">¥123.45<"), "{collections}");
    ensure!(collections.contains("id=\"collection-net\">¥122.71<") && collections.contains("银行卡"), "{collections}");
    let csv = text(&m.get(&format!("/console/reports/collections.csv?{range}"))?);
    ensure!(csv.lines().last().is_some_and(|l| l.starts_with("合计,,1,123.45,0,0.00,0.74,122.71")), "{csv}");
    let (status, json) = admin_json(
        &server,
        "GET",
        &format!("/v1/merchants/{mid}/reports/collections?{range}&period=month"),
        &Value::Null,
    )?;
    ensure!(status == 200 && json["methods"][0]["method"] == "card" && json["totals"]["net_minor"] == 12_271, "{json}");
    let printed: Value = serde_json::from_str(
        cli(
            dir.path(),
            &["admin", "report", "collections", "--mid", &mid, "--from", &dashed, "--to", &dashed, "--json"],
            "",
        )?
        .trim(),
    )?;
    ensure!(printed["totals"]["collected_minor"] == 12_345, "{printed}");
    ensure!(text(&m.get(&format!("/console/transactions?{range}&kind=refund"))?).contains("id=\"nothing\""));
    ensure!(text(&m.get(&format!("/console/transactions?{range}&kind=sale"))?).contains(&sale));
    let (status, sales) =
        admin_json(&server, "GET", &format!("/v1/merchants/{mid}/transactions?type=sale,refund"), &Value::Null)?;
    ensure!(status == 200 && sales["transactions"].as_array().map(Vec::len) == Some(1), "{sales}");

    // Reconciliation of today against the sandbox network's file: balanced.
    let recon = f.get(&format!("/ops/reconciliation?date={dashed}"))?;
    ensure!(recon.status == 200 && text(&recon).contains("not-reconciled"));
    let t = token(&mut f, "/ops/reconciliation")?;
    let run = f.post_form("/ops/reconciliation", &[("_csrf", &t), ("day", &dashed), ("source", "card")])?;
    ensure!(run.status == 200 && text(&run).contains("recon-summary"), "{}", text(&run));
    ensure!(text(&run).contains("balanced"), "one sale, matched: {}", text(&run));

    // The audit log, searched by action; the outbox withholds codes; the node answers.
    let audit = text(&f.get("/ops/audit?action=cashier.disabled")?);
    ensure!(audit.contains(&format!("{mid}:02")) && !audit.contains("cashier.enabled"), "{audit}");
    let audit = text(&f.get(&format!("/ops/audit?subject_id={mid}"))?);
    ensure!(audit.contains("merchant.settlement_card_changed"), "{audit}");
    let outbox = text(&f.get("/ops/outbox?status=sent")?);
    ensure!(outbox.contains("13600000021") && !outbox.contains(&code), "{outbox}");
    let health = f.get("/ops/health")?;
    ensure!(health.status == 200 && text(&health).contains("sqlite"), "{}", text(&health));

    // The report's day pattern: 24 hours, the one sale in its hour, on the page and over JSON.
    let (status, report) = admin_json(
        &server,
        "GET",
        &format!("/v1/merchants/{mid}/reports/sales?from={dashed}&to={dashed}"),
        &Value::Null,
    )?;
    let hours = report["hours"].as_array().context("hours")?;
    ensure!(status == 200 && hours.len() == 24, "{report}");
    let busy: Vec<&Value> = hours.iter().filter(|h| h["count"] != 0).collect();
    ensure!(busy.len() == 1 && busy[0]["amount_minor"] == 12_345, "{report}");
    let hour = busy[0]["hour"].as_u64().context("hour")?;
    let page = text(&m.get("/console/reports")?);
    ensure!(page.contains("id=\"hours\"") && page.contains(&format!("<title>{hour:02}: ¥123.45")), "{page}");

    // A device's deposit waived by finance staff on the merchant's page; the owner sees the
    // device's activation code on the overview while it is ordered.
    let page = text(&f.get(&format!("/ops/merchants/{mid}"))?);
    let waive_at = page.find("/deposit-waiver").context("a device whose deposit is due")?;
    let tid: String = page[..waive_at].rsplit('/').next().unwrap_or("").to_owned();
    let t = token(&mut f, &format!("/ops/merchants/{mid}"))?;
    let waived =
        f.post_form(&format!("/ops/devices/{tid}/deposit-waiver"), &[("_csrf", &t), ("reason", "开业优惠")])?;
    let page = text(&waived);
    ensure!(
        waived.status == 200
            && page.contains("已免除")
            && !page.contains(&format!("action=\"/ops/devices/{tid}/deposit-waiver\"")),
        "{page}"
    );
    let overview = text(&m.get("/console")?);
    ensure!(overview.contains("class=\"mono activation-code\""), "{overview}");
    // Staff without the finance role are refused on the page, and land on the merchants.
    cli(
        dir.path(),
        &["admin", "staff", "create", "--username", "risk.wu", "--name", "吴", "--role", "risk", "--json"],
        "staff password 66\n",
    )?;
    let mut r = Client::new(server.address);
    let landed = r.sign_in("/ops", "risk.wu", "staff password 66")?;
    ensure!(landed.status == 303);
    let start = r.get("/ops")?;
    ensure!(start.status == 303 && start.head.contains("/ops/merchants"), "{}", start.head);
    let t = token(&mut r, "/ops/clearing")?;
    let refused = r.post_form("/ops/clearing/run", &[("_csrf", &t), ("day", &dashed)])?;
    ensure!(refused.status == 403 && text(&refused).contains("需要财务角色"), "{}", refused.status);
    let t = token(&mut r, &format!("/ops/merchants/{mid}"))?;
    let refused = r.post_form(&format!("/ops/devices/{tid}/deposit-waiver"), &[("_csrf", &t), ("reason", "x")])?;
    ensure!(refused.status == 403, "a waiver is finance's: {}", refused.status);

    // Limits: set by risk staff on the merchant's page (a day's below a transaction's is refused,
    // nothing changes), over JSON too; finance staff may not.
    let t = token(&mut r, &format!("/ops/merchants/{mid}"))?;
    let limits = |per: &'static str, daily: &'static str| {
        vec![
            ("_csrf", t.clone()),
            ("per_transaction", per.to_owned()),
            ("daily", daily.to_owned()),
            ("credit_daily", String::new()),
            ("credit_monthly", String::new()),
            ("static_qr", "500.00".to_owned()),
        ]
    };
    let post = |client: &mut Client, fields: Vec<(&str, String)>| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        client.post_form(&format!("/ops/merchants/{mid}/limits"), &fields)
    };
    let refused = post(&mut r, limits("5000.00", "100.00"))?;
    ensure!(refused.status == 422 && text(&refused).contains("invalid_limits"), "{}", refused.status);
    let set = post(&mut r, limits("5000.00", "80000.00"))?;
    ensure!(set.status == 200 && text(&set).contains("value=\"5000.00\""), "{}", text(&set));
    let (_, merchant) = admin_json(&server, "GET", &format!("/v1/merchants/{mid}"), &Value::Null)?;
    let l = &merchant["terms"]["limits"];
    ensure!(
        l["per_transaction_minor"] == 500_000 && l["daily_minor"] == 8_000_000 && l["credit_daily_minor"].is_null(),
        "{merchant}"
    );
    let t = token(&mut f, &format!("/ops/merchants/{mid}"))?;
    let fields = [("_csrf", t.as_str()), ("per_transaction", "1.00"), ("daily", "2.00"), ("static_qr", "1.00")];
    ensure!(f.post_form(&format!("/ops/merchants/{mid}/limits"), &fields)?.status == 403, "limits are risk's");
    let body = json!({ "per_transaction_minor": 100, "daily_minor": 50, "credit_daily_minor": null,
                       "credit_monthly_minor": null, "static_qr_per_payer_daily_minor": 10 });
    let (status, bad) = admin_json(&server, "PUT", &format!("/v1/merchants/{mid}/limits"), &body)?;
    ensure!(status == 422 && bad["error"]["code"] == "invalid_limits", "{bad}");
    let body = json!({ "per_transaction_minor": 2_000_000, "daily_minor": 5_000_000, "credit_daily_minor": 100_000,
                       "credit_monthly_minor": 1_000_000, "static_qr_per_payer_daily_minor": 50_000 });
    let (status, set) = admin_json(&server, "PUT", &format!("/v1/merchants/{mid}/limits"), &body)?;
    ensure!(status == 200 && set == body, "{set}");
    let audit = text(&f.get("/ops/audit?action=merchant.limits_set")?);
    ensure!(audit.matches(">merchant.limits_set</a>").count() == 2, "each change audited once: {audit}");

    // New fees announced for this merchant by finance staff: too soon is refused with the form
    // kept; 30 days ahead is announced, and the merchant sees it on its fees page.
    let t = token(&mut f, &format!("/ops/merchants/{mid}"))?;
    let later = |days: i64| {
        let day = xingtong_payments::deposit::add_days(&today, days);
        format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..])
    };
    let announce = |client: &mut Client, token: &str, day: &str| {
        client.post_form(
            &format!("/ops/merchants/{mid}/fee-changes"),
            &[
                ("_csrf", token),
                ("effective_date", day),
                ("debit", "0.45"),
                ("debit_cap", "18.00"),
                ("credit", "0.55"),
                ("qr", "0.30"),
                ("d0", "0.05"),
            ],
        )
    };
    let soon = announce(&mut f, &t, &later(10))?;
    ensure!(
        soon.status == 422 && text(&soon).contains("fee_change_too_soon") && text(&soon).contains("value=\"0.45\""),
        "{}",
        soon.status
    );
    let announced = announce(&mut f, &t, &later(30))?;
    ensure!(announced.status == 200 && text(&announced).contains("0.55%"), "{}", text(&announced));
    let t_risk = token(&mut r, &format!("/ops/merchants/{mid}"))?;
    ensure!(announce(&mut r, &t_risk, &later(40))?.status == 403, "announcing fees is finance's");
    let fees = text(&m.get("/console/fees")?);
    ensure!(fees.contains(&later(30)) && fees.contains("0.55%") && !fees.contains("no-fee-changes"), "{fees}");

    // A refund (the supervisor's PIN set in the console first), then refunds one by one: in the
    // console's list of type refund and on the command line.
    let t = token(&mut m, "/console/cashiers")?;
    ensure!(m.post_form("/console/cashiers/00/pin", &[("_csrf", &t), ("mid", &mid), ("pin", "246810")])?.status == 200);
    let t = token(&mut m, "/console/api-keys")?;
    let made = text(&m.post_form(
        "/console/api-keys",
        &[("_csrf", &t), ("mid", &mid), ("label", "退货"), ("payments", "on"), ("refunds", "on")],
    )?);
    let marker = "id=\"new-key\">";
    let at = made.find(marker).context("the new key")? + marker.len();
    let key: String = made[at..].chars().take_while(|c| *c != '<').collect();
    let refund = json!({ "payment_id": sale, "amount_minor": 2_345, "reason": "01", "supervisor_pin": "246810" });
    let refunded = request_raw(
        server.address,
        "POST",
        "/v1/refunds",
        &[
            ("Authorization", &format!("Bearer {key}")),
            ("Content-Type", "application/json"),
            ("Idempotency-Key", "refund-1"),
        ],
        &serde_json::to_vec(&refund)?,
    )?;
    ensure!(refunded.status == 201 && refunded.json()["approved"] == true, "{:?}", refunded.json());
    let refund_id = refunded.json()["id"].as_str().context("refund id")?.to_owned();
    let list = text(&m.get(&format!("/console/transactions?from={dashed}&to={dashed}&kind=refund"))?);
    ensure!(list.contains(&refund_id) && !list.contains(&format!("/console/transactions/{sale}\"")), "{list}");
    let printed: Value = serde_json::from_str(
        cli(
            dir.path(),
            &["admin", "report", "refunds", "--mid", &mid, "--from", &dashed, "--to", &dashed, "--json"],
            "",
        )?
        .trim(),
    )?;
    let refunds = printed["refunds"].as_array().context("refunds")?;
    ensure!(
        refunds.len() == 1 && refunds[0]["id"] == refund_id.as_str() && refunds[0]["original_id"] == sale.as_str(),
        "{printed}"
    );
    ensure!(refunds[0]["amount_minor"] == 2_345, "{printed}");

    // A merchant's session does not open the operations console, nor staff the merchant's.
    ensure!(m.get("/ops/clearing")?.status == 303 && f.get("/console/fees")?.status == 303);

    // Every page of both consoles, in both languages.
    let merchant_pages = [
        "/console".to_owned(),
        "/console/application".to_owned(),
        "/console/transactions".to_owned(),
        format!("/console/transactions/{sale}"),
        "/console/reports".to_owned(),
        format!("/console/reports/settlements?from={dashed}&to={dashed}"),
        format!("/console/reports/collections?from={dashed}&to={dashed}"),
        "/console/settlements".to_owned(),
        format!("/console/settlements/{settlement_id}"),
        "/console/bank-card".to_owned(),
        "/console/cashiers".to_owned(),
        "/console/fees".to_owned(),
        "/console/api-keys".to_owned(),
        "/console/notifications".to_owned(),
    ];
    let ops_pages = [
        "/ops".to_owned(),
        "/ops/merchants".to_owned(),
        format!("/ops/merchants/{mid}"),
        "/ops/clearing".to_owned(),
        format!("/ops/reconciliation?date={dashed}"),
        "/ops/fees".to_owned(),
        "/ops/outbox".to_owned(),
        "/ops/audit".to_owned(),
        "/ops/health".to_owned(),
    ];
    for (lang, attribute, word) in [("en", "lang=\"en\"", "Sign out"), ("zh", "lang=\"zh-CN\"", "退出")] {
        for (client, pages) in [(&mut m, &merchant_pages[..]), (&mut f, &ops_pages[..])] {
            ensure!(client.get(&format!("/console/language/{lang}?back=/console"))?.status == 303);
            for path in pages.iter() {
                let reply = client.get(path)?;
                let page = text(&reply);
                ensure!(reply.status == 200, "{path} in {lang}: {}", reply.status);
                ensure!(page.contains(attribute) && page.contains(word), "{path} in {lang}");
            }
        }
    }
    Ok(())
}

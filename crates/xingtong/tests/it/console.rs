//! The web consoles through the real binary, as a browser talks to them: cookies, forms with
//! their tokens, redirects. Two merchants and a reviewer; what one merchant may not see, what a
//! form without its token does, what a script typed into a business name becomes. The same flows
//! in a real headless Chromium are in `browser.rs`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::{Context, ensure};
use serde_json::{Value, json};
use xingtong_onboarding::documents::fixtures;

use crate::admin::{cli, json_call};
use crate::server::{Backend, RawResponse, Server, request_raw};

/// A client that keeps cookies, as a browser does.
pub struct Client {
    address: SocketAddr,
    cookies: BTreeMap<String, String>,
}

impl Client {
    pub fn new(address: SocketAddr) -> Client {
        Client { address, cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, reply: &RawResponse) {
        for line in reply.head.lines() {
            let Some((name, value)) = line.split_once(':') else { continue };
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.trim().split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
    }

    pub fn get(&mut self, path: &str) -> anyhow::Result<RawResponse> {
        let cookie = self.cookie_header();
        let reply = request_raw(self.address, "GET", path, &[("Cookie", &cookie)], b"")?;
        self.keep_cookies(&reply);
        Ok(reply)
    }

    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<RawResponse> {
        let body = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        let cookie = self.cookie_header();
        let reply = request_raw(
            self.address,
            "POST",
            path,
            &[("Cookie", &cookie), ("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )?;
        self.keep_cookies(&reply);
        Ok(reply)
    }

    /// The form token of a page.
    pub fn token(page: &RawResponse) -> anyhow::Result<String> {
        let html = String::from_utf8_lossy(&page.body);
        let at = html.find("name=\"_csrf\" value=\"").context("a form token on the page")?;
        Ok(html[at + 20..].chars().take_while(|c| c.is_ascii_hexdigit()).collect())
    }

    /// Signs in on `console` (`/console` or `/ops`); the answer to the form.
    pub fn sign_in(&mut self, console: &str, login: &str, password: &str) -> anyhow::Result<RawResponse> {
        let page = self.get(&format!("{console}/sign-in"))?;
        ensure!(page.status == 200, "the sign-in page: {}", page.status);
        let token = Client::token(&page)?;
        self.post_form(
            &format!("{console}/sign-in"),
            &[("_csrf", &token), ("login", login), ("password", password), ("next", console)],
        )
    }

    pub fn has(&self, name: &str) -> bool {
        self.cookies.contains_key(name)
    }
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn text(reply: &RawResponse) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// HTML's character references back to characters (the few a page escapes).
fn unescape(html: &str) -> String {
    [
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&#34;", "\""),
        ("&quot;", "\""),
    ]
    .iter()
    .fold(html.to_owned(), |s, (from, to)| s.replace(from, to))
    .replace("&amp;", "&")
}

fn location(reply: &RawResponse) -> Option<String> {
    reply.head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("location").then(|| value.trim().to_owned())
    })
}

fn header(reply: &RawResponse, wanted: &str) -> Option<String> {
    reply.head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case(wanted).then(|| value.trim().to_owned())
    })
}

/// An applicant registered over JSON, with an application and its documents, submitted; the
/// application's id and the owner's session.
pub fn applied(server: &Server, phone: &str, business: &str) -> anyhow::Result<(String, String)> {
    applied_with(server, phone, business, &fixtures::png(120, 80))
}

/// [`applied`], with `png` as each document.
pub fn applied_with(server: &Server, phone: &str, business: &str, png: &[u8]) -> anyhow::Result<(String, String)> {
    let reply = request_raw(
        server.address,
        "POST",
        "/v1/owners",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&json!({ "name": "周杰", "phone": phone, "password": "a long enough password" }))?,
    )?;
    let cookie = reply.session_cookie().context("cookie")?;
    let form = json!({
        "applicant": { "legal_name": "周杰", "resident_id": "11010519491231002X", "phone": phone, "email": "zj@example.cn", "address": "深圳" },
        "business": { "name": business, "business_type": "individual" },
        "settlement_account": { "card_number": "6222021234567890128", "bank_name": "招商银行", "account_holder": "周杰" },
        "delivery_address": "深圳",
    });
    let id =
        json_call(server, "POST", "/v1/applications", &cookie, &form)?.json()["id"].as_str().context("id")?.to_owned();
    for kind in ["id_card_front", "id_card_back", "storefront_photo"] {
        let mut body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n".to_vec();
        body.extend_from_slice(png);
        body.extend(b"\r\n--b--\r\n");
        let cookie_header = format!("xt_session={cookie}");
        let r = request_raw(
            server.address,
            "POST",
            &format!("/v1/applications/{id}/documents/{kind}"),
            &[("Content-Type", "multipart/form-data; boundary=b"), ("Cookie", &cookie_header)],
            &body,
        )?;
        ensure!(r.status == 201, "{:?}", r.json());
    }
    ensure!(json_call(server, "POST", &format!("/v1/applications/{id}/submit"), &cookie, &Value::Null)?.status == 200);
    Ok((id, cookie))
}

/// A merchant approved on the command line, with a sale over JSON; its MID and the sale's id.
pub fn merchant_with_a_sale(
    server: &Server,
    dir: &std::path::Path,
    phone: &str,
    business: &str,
) -> anyhow::Result<(String, String)> {
    let (id, _) = applied(server, phone, business)?;
    let approved: Value =
        serde_json::from_str(cli(dir, &["admin", "application", "approve", &id, "--json"], "")?.trim())?;
    let mid = approved["mid"].as_str().context("mid")?.to_owned();
    let login = request_raw(
        server.address,
        "POST",
        "/v1/sessions",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&json!({ "login": phone, "password": "a long enough password" }))?,
    )?;
    let cookie = login.session_cookie().context("cookie")?;
    let cashier = json!({ "operator": "01", "name": "A", "pin": "135790" });
    ensure!(json_call(server, "POST", &format!("/v1/merchants/{mid}/cashiers"), &cookie, &cashier)?.status == 201);
    let key = json_call(server, "POST", "/v1/api-keys", &cookie, &json!({ "label": "till", "scopes": ["payments"] }))?
        .json()["token"]
        .as_str()
        .context("token")?
        .to_owned();
    let provisioned: Value =
        serde_json::from_str(cli(dir, &["admin", "terminal", "provision", "--mid", &mid, "--json"], "")?.trim())?;
    let tid = provisioned["tid"].as_str().context("tid")?.to_owned();
    let card: Value = serde_json::from_str(
        cli(
            dir,
            &[
                "admin",
                "sandbox",
                "card",
                "create",
                "--type",
                "credit",
                "--pin",
                "147258",
                "--balance",
                "5000.00",
                "--json",
            ],
            "",
        )?
        .trim(),
    )?;
    let bearer = format!("Bearer {key}");
    let sale = json!({
        "tid": tid, "amount_minor": 12_345,
        // A credit card, signed for rather than a PIN.
        "card": { "number": card["number"], "expiry": card["expiry"] },
    });
    let paid = request_raw(
        server.address,
        "POST",
        "/v1/payments",
        &[("Authorization", &bearer), ("Content-Type", "application/json"), ("Idempotency-Key", &format!("s-{phone}"))],
        &serde_json::to_vec(&sale)?,
    )?;
    ensure!(paid.status == 201 && paid.json()["approved"] == true, "{:?}", paid.json());
    Ok((mid, paid.json()["id"].as_str().context("id")?.to_owned()))
}

#[test]
fn the_consoles_guard_their_forms_escape_what_they_show_and_keep_merchants_apart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(&Backend::Sqlite(dir.path().to_path_buf()))?;
    let script = "<script>alert('x')</script>茶";
    let (mid_a, sale_a) = merchant_with_a_sale(&server, dir.path(), "13600000001", script)?;
    let (mid_b, sale_b) = merchant_with_a_sale(&server, dir.path(), "13600000002", "乙商店")?;

    // Not signed in: to the sign-in page, which says where to come back to.
    let mut a = Client::new(server.address);
    let bounced = a.get("/console/transactions")?;
    ensure!(bounced.status == 303, "{}", bounced.status);
    ensure!(location(&bounced).as_deref() == Some("/console/sign-in?next=/console/transactions"));
    // Every console answer carries the policy.
    let csp = header(&bounced, "content-security-policy").context("a CSP")?;
    ensure!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");

    // A form without its token (or with another's) changes nothing: no session.
    let page = a.get("/console/sign-in")?;
    ensure!(a.has("xt_csrf"), "the page sets the token's cookie");
    let forged = a.post_form(
        "/console/sign-in",
        &[("_csrf", &"0".repeat(64)), ("login", "13600000001"), ("password", "a long enough password")],
    )?;
    ensure!(forged.status == 403 && !a.has("xt_session"), "{} {}", forged.status, text(&forged));
    let mut stranger = Client::new(server.address);
    let no_cookie = stranger.post_form(
        "/console/sign-in",
        &[("_csrf", &Client::token(&page)?), ("login", "13600000001"), ("password", "a long enough password")],
    )?;
    ensure!(no_cookie.status == 403 && !stranger.has("xt_session"), "a token without its cookie: {}", no_cookie.status);
    // Signing up needs the token too: no owner is made without it.
    let forged_sign_up = a.post_form(
        "/console/sign-up",
        &[("name", "假"), ("phone", "13600000099"), ("password", "a long enough password")],
    )?;
    ensure!(forged_sign_up.status == 403 && !a.has("xt_session"), "{}", forged_sign_up.status);
    let taken = Client::token(&a.get("/console/sign-up")?)?;
    let twice = a.post_form(
        "/console/sign-up",
        &[("_csrf", &taken), ("name", "周杰"), ("phone", "13600000001"), ("password", "a long enough password")],
    )?;
    ensure!(twice.status == 422 && !a.has("xt_session"), "a phone already registered: {}", twice.status);
    // A wrong password: said so, on the page, with the login kept.
    let wrong = a.sign_in("/console", "13600000001", "not the password")?;
    ensure!(wrong.status == 401 && text(&wrong).contains("账号或密码错误") && text(&wrong).contains("13600000001"));
    // Signed in: HttpOnly, SameSite session.
    let signed = a.sign_in("/console", "13600000001", "a long enough password")?;
    ensure!(signed.status == 303 && a.has("xt_session"), "{} {}", signed.status, text(&signed));
    let set = signed.head.lines().find(|l| l.to_ascii_lowercase().contains("xt_session=xts_")).context("set-cookie")?;
    ensure!(set.contains("HttpOnly") && set.contains("SameSite="), "{set}");

    // A script typed into a business name is shown as text.
    let overview = text(&a.get("/console")?);
    ensure!(unescape(&overview).contains(script), "the name is shown: {overview}");
    ensure!(!overview.contains("<script"), "no script element reaches the page");
    ensure!(overview.contains(&mid_a) && !overview.contains(&mid_b));

    // Its own transaction, list and export; the export's total is the sale's.
    let list = text(&a.get("/console/transactions")?);
    ensure!(list.contains(&sale_a) && list.contains("¥123.45"), "{list}");
    let own = a.get(&format!("/console/transactions/{sale_a}"))?;
    ensure!(own.status == 200 && text(&own).contains("¥123.45"));
    let csv = a.get("/console/transactions.csv")?;
    ensure!(csv.status == 200 && header(&csv, "content-type").is_some_and(|c| c.starts_with("text/csv")));
    let csv = text(&csv);
    ensure!(csv.lines().count() == 2 && csv.contains(&sale_a) && csv.contains(",123.45,"), "{csv}");

    // The sales report, on the page, as CSV and XLSX, over JSON and on the command line: each
    // net is what the ledger owes the merchant.
    let account =
        xingtong_payments::chart::merchant_account_id(&mid_a, xingtong_payments::chart::ACCOUNT_MERCHANT_SETTLEMENT)
            .context("the merchant's account")?;
    let admin_key = server.admin_key.clone().context("admin key")?;
    let ledger = request_raw(
        server.address,
        "GET",
        &format!("/v1/ledger/accounts/{account}"),
        &[("Authorization", &format!("Bearer {admin_key}"))],
        b"",
    )?
    .json();
    let as_u128 = |v: &Value| v.as_str().and_then(|s| s.parse::<u128>().ok()).or_else(|| v.as_u64().map(u128::from));
    let owed =
        as_u128(&ledger["credits_posted"]).context("credits")? - as_u128(&ledger["debits_posted"]).context("debits")?;
    ensure!(owed == 12_345 - 74, "0.60 % of ¥123.45 is ¥0.74: {ledger}");
    let owed_yuan = format!("{}.{:02}", owed / 100, owed % 100);
    let report = a.get("/console/reports?period=month&by=method")?;
    ensure!(report.status == 200, "{}", report.status);
    let page = text(&report);
    ensure!(page.contains(&format!("id=\"report-net\">¥{owed_yuan}<")), "{page}");
    ensure!(page.contains("<svg class=\"chart\"") && page.contains("银行卡"), "charts, and the method in words");
    let from_to =
        page.split("/console/reports.csv?").nth(1).and_then(|r| r.split('"').next()).context("the CSV link")?;
    let csv = text(&a.get(&format!("/console/reports.csv?{}", from_to.replace("&amp;", "&")))?);
    let total = csv.lines().last().context("a totals line")?;
    ensure!(total.starts_with("合计,") && total.split(',').nth(9) == Some(owed_yuan.as_str()), "{csv}");
    let xlsx = a.get(&format!("/console/reports.xlsx?{}", from_to.replace("&amp;", "&")))?;
    ensure!(xlsx.status == 200 && xlsx.body.starts_with(b"PK"), "{}", xlsx.status);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx.body.clone()))?;
    let mut sheet = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/worksheets/sheet1.xml")?, &mut sheet)?;
    // The totals row's net cell (column J) holds the amount as a number.
    let net_cell =
        sheet.split("<c r=\"J3\"").nth(1).and_then(|c| c.split("<v>").nth(1)).and_then(|v| v.split('<').next());
    ensure!(net_cell.and_then(|v| v.parse::<f64>().ok()) == Some(owed as f64 / 100.0), "{sheet}");
    let xlsx_transactions = a.get("/console/transactions.xlsx")?;
    ensure!(xlsx_transactions.status == 200 && xlsx_transactions.body.starts_with(b"PK"));
    let day = page.split("name=\"from\" value=\"").nth(1).and_then(|v| v.get(..10)).context("from")?.to_owned();
    let to = page.split("name=\"to\" value=\"").nth(1).and_then(|v| v.get(..10)).context("to")?.to_owned();
    let api = request_raw(
        server.address,
        "GET",
        &format!("/v1/merchants/{mid_a}/reports/sales?from={day}&to={to}&by=cashier"),
        &[("Authorization", &format!("Bearer {admin_key}"))],
        b"",
    )?;
    let api = api.json();
    ensure!(api["totals"]["net_minor"] == json!(owed as u64) && api["lines"][0]["key"] == "01", "{api}");
    let printed: Value = serde_json::from_str(
        cli(dir.path(), &["admin", "report", "sales", "--mid", &mid_a, "--from", &day, "--to", &to, "--json"], "")?
            .trim(),
    )?;
    ensure!(printed["totals"]["net_minor"] == json!(owed as u64), "{printed}");
    let backwards = request_raw(
        server.address,
        "GET",
        &format!("/v1/merchants/{mid_a}/reports/sales?from={to}&to=2000-01-01"),
        &[("Authorization", &format!("Bearer {admin_key}"))],
        b"",
    )?;
    ensure!(backwards.status == 400 && backwards.json()["error"]["code"] == "invalid_parameter");

    // The other merchant's transaction, list and export: not found, as if they did not exist.
    for path in [
        format!("/console/transactions/{sale_b}"),
        format!("/console/transactions?mid={mid_b}"),
        format!("/console/transactions.csv?mid={mid_b}"),
        format!("/console/settlements?mid={mid_b}"),
        format!("/console/reports?mid={mid_b}"),
        format!("/console/reports.csv?mid={mid_b}"),
        format!("/console/reports.xlsx?mid={mid_b}"),
        format!("/console/transactions.xlsx?mid={mid_b}"),
        "/console/transactions/99999999-000001-000001".to_owned(),
    ] {
        let reply = a.get(&path)?;
        ensure!(reply.status == 404, "{path}: {}", reply.status);
        // The page names only what was asked (the language switch returns to it), nothing of it.
        let page = text(&reply);
        ensure!(page.contains("未找到") && !page.contains("乙商店") && !page.contains('¥'), "{path}: {page}");
    }

    // Signing out needs the token too, and ends the session.
    let kept = a.post_form("/console/sign-out", &[("_csrf", "nope")])?;
    ensure!(kept.status == 403 && a.get("/console")?.status == 200, "a forged sign-out changes nothing");
    let token = Client::token(&a.get("/console")?)?;
    let out = a.post_form("/console/sign-out", &[("_csrf", &token)])?;
    ensure!(out.status == 303 && !a.has("xt_session"));
    ensure!(a.get("/console")?.status == 303, "signed out");

    // The reviewer's console: a staff member, an application with a script in its name.
    let admin = server.admin_key.clone().context("admin key")?;
    cli(
        dir.path(),
        &["admin", "staff", "create", "--username", "ops.li", "--name", "李", "--role", "reviewer", "--json"],
        "staff password 99\n",
    )?;
    let _ = admin;
    let (pending, _) = applied(&server, "13600000003", "<img src=x onerror=alert(1)>丙")?;
    let mut ops = Client::new(server.address);
    ensure!(ops.get("/ops")?.status == 303, "staff sign in first");
    // An owner's session is not a staff one.
    let mut owner = Client::new(server.address);
    owner.sign_in("/console", "13600000002", "a long enough password")?;
    ensure!(owner.get("/ops")?.status == 303, "an owner is sent to the staff sign-in");
    ensure!(ops.sign_in("/ops", "ops.li", "staff password 99")?.status == 303);
    let queue = text(&ops.get("/ops")?);
    ensure!(queue.contains(&pending) && unescape(&queue).contains("<img src=x onerror=alert(1)>丙"));
    ensure!(!queue.contains("<img"), "no image element from a name: {queue}");
    let application = text(&ops.get(&format!("/ops/applications/{pending}"))?);
    ensure!(application.contains(&format!("/ops/applications/{pending}/documents/id_card_front")), "documents inline");
    let image = ops.get(&format!("/ops/applications/{pending}/documents/id_card_front"))?;
    ensure!(image.status == 200 && header(&image, "content-type").as_deref() == Some("image/png"));
    // An owner cannot read a document through the reviewers' console.
    ensure!(owner.get(&format!("/ops/applications/{pending}/documents/id_card_front"))?.status == 303);
    // Take it, then reject without a reason (said beside the form), then with one.
    let token = Client::token(&ops.get(&format!("/ops/applications/{pending}"))?)?;
    ensure!(ops.post_form(&format!("/ops/applications/{pending}/review"), &[("_csrf", &token)])?.status == 303);
    ensure!(
        ops.post_form(&format!("/ops/applications/{pending}/reject"), &[("_csrf", "x"), ("reason", "r")])?.status
            == 403
    );
    let empty = ops.post_form(&format!("/ops/applications/{pending}/reject"), &[("_csrf", &token), ("reason", " ")])?;
    ensure!(empty.status == 422 && text(&empty).contains("驳回原因"), "{}", empty.status);
    let rejected = ops.post_form(
        &format!("/ops/applications/{pending}/reject"),
        &[("_csrf", &token), ("reason", "身份证照片不清晰")],
    )?;
    ensure!(rejected.status == 303, "{}", rejected.status);
    let after = text(&ops.get(&format!("/ops/applications/{pending}"))?);
    ensure!(after.contains("已驳回") && after.contains("身份证照片不清晰"));
    // The decision is in the audit log, by this staff member.
    let audit = request_raw(
        server.address,
        "GET",
        &format!("/v1/audit?subject_kind=application&subject_id={pending}"),
        &[("Authorization", &format!("Bearer {}", server.admin_key.clone().context("admin key")?))],
        b"",
    )?;
    ensure!(audit.status == 200 && audit.json().to_string().contains("reject"), "{:?}", audit.json());

    // Merchants and devices: a reviewer may look but not suspend; risk staff suspend, resume,
    // reset a cashier's PIN; an admin reissues an activation code (shown once).
    let merchants_page = text(&ops.get("/ops/merchants")?);
    ensure!(merchants_page.contains(&mid_a) && merchants_page.contains(&mid_b), "{merchants_page}");
    let page = text(&ops.get(&format!("/ops/merchants/{mid_a}"))?);
    let tids: Vec<String> =
        page.split("id=\"device-").skip(1).filter_map(|rest| rest.get(..8).map(str::to_owned)).collect();
    ensure!(tids.len() == 2, "the ordered device and the provisioned terminal: {tids:?}");
    let token = Client::token(&ops.get(&format!("/ops/merchants/{mid_a}"))?)?;
    let bound = tids
        .iter()
        .find(|t| page.contains(&format!("/ops/devices/{t}/suspend")))
        .context("a device to suspend")?
        .clone();
    let refused = ops.post_form(&format!("/ops/devices/{bound}/suspend"), &[("_csrf", &token)])?;
    ensure!(refused.status == 403 && text(&refused).contains("操作未完成"), "{}", refused.status);
    cli(
        dir.path(),
        &["admin", "staff", "create", "--username", "ops.zhao", "--name", "赵", "--role", "risk,admin", "--json"],
        "staff password 77\n",
    )?;
    let mut risk = Client::new(server.address);
    ensure!(risk.sign_in("/ops", "ops.zhao", "staff password 77")?.status == 303);
    let token = Client::token(&risk.get(&format!("/ops/merchants/{mid_a}"))?)?;
    let suspended = risk.post_form(&format!("/ops/devices/{bound}/suspend"), &[("_csrf", &token)])?;
    ensure!(suspended.status == 200 && text(&suspended).contains("已停用"), "{}", text(&suspended));
    ensure!(risk.post_form(&format!("/ops/devices/{bound}/suspend"), &[("_csrf", "x")])?.status == 403);
    let resumed = risk.post_form(&format!("/ops/devices/{bound}/resume"), &[("_csrf", &token)])?;
    ensure!(resumed.status == 200 && !text(&resumed).contains("tag bad\">已停用"), "resumed");
    let reset = risk.post_form(&format!("/ops/merchants/{mid_a}/cashiers/01/pin-reset"), &[("_csrf", &token)])?;
    ensure!(reset.status == 200 && text(&reset).contains("待设置密码"), "{}", text(&reset));
    let ordered =
        tids.iter().find(|t| page.contains(&format!("/ops/devices/{t}/activation-code"))).context("ordered")?;
    let reissued = risk.post_form(&format!("/ops/devices/{ordered}/activation-code"), &[("_csrf", &token)])?;
    let notice = text(&reissued);
    ensure!(reissued.status == 200 && notice.contains("新的激活码"), "{notice}");
    // Every step is in the audit log under the staff member.
    let audit = request_raw(
        server.address,
        "GET",
        &format!("/v1/audit?subject_kind=device&subject_id={bound}"),
        &[("Authorization", &format!("Bearer {admin_key}"))],
        b"",
    )?
    .json()
    .to_string();
    ensure!(audit.contains("device.suspended") && audit.contains("device.resumed"), "{audit}");
    // Owners never reach these pages.
    ensure!(owner.get(&format!("/ops/merchants/{mid_a}"))?.status == 303);

    // Both languages: the switch keeps the page.
    let switched = a.get("/console/language/en?back=/console/sign-in")?;
    ensure!(location(&switched).as_deref() == Some("/console/sign-in") && a.has("xt_lang"));
    let english = text(&a.get("/console/sign-in")?);
    ensure!(english.contains("lang=\"en\"") && english.contains("Phone or email") && !english.contains("手机号或邮箱"));
    let offsite = a.get("/console/language/zh?back=https://evil.example/")?;
    ensure!(location(&offsite).as_deref() == Some("/console"), "never to another site");
    Ok(())
}

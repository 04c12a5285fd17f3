//! The consoles in a real browser: Debian's headless Chromium driven over WebDriver (W3C, JSON
//! over HTTP to `chromedriver`) by the small client below. A merchant signs in by typing into the
//! form, finds a sale and its receipt, exports the sales report as CSV and XLSX (their totals are
//! the ledger's), switches to English; a reviewer signs in, opens an application whose documents
//! the browser loads inline, takes it and approves it, then runs the day's clearing; the merchant
//! finds the settlement with the sale on it and changes the settlement card with the code the
//! SMS brought; the new merchant then sees its device. `.ci/run` installs `chromium` and `chromium-driver` when the
//! machine lacks them; outside CI, a machine without them skips this test and says so.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::{Value, json};

use crate::admin::cli;
use crate::console::merchant_with_a_sale;
use crate::server::{Backend, Server};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// `chromedriver` on a free port, killed on drop.
struct Driver {
    child: Child,
    address: SocketAddr,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(names: &[&str]) -> Option<String> {
    let path = std::env::var("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()).map(|p| p.display().to_string())
    })
}

impl Driver {
    fn start(chromedriver: &str) -> anyhow::Result<Driver> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let driver = Driver { child, address: SocketAddr::from(([127, 0, 0, 1], port)) };
        let started = Instant::now();
        loop {
            if let Ok(status) = driver.call("GET", "/status", &Value::Null)
                && status["ready"] == true
            {
                return Ok(driver);
            }
            ensure!(started.elapsed() < Duration::from_secs(20), "chromedriver did not get ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One WebDriver command; its `value`. (chromedriver keeps the connection open whatever
    /// the request says, so the answer is read to its Content-Length.)
    fn call(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(body)? };
        let mut stream = TcpStream::connect_timeout(&self.address, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.address,
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(&body)?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 8192];
        let (status, value) = loop {
            let n = stream.read(&mut chunk)?;
            ensure!(n > 0, "chromedriver closed the connection mid-answer");
            raw.extend_from_slice(&chunk[..n]);
            let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
                .and_then(|(_, v)| v.trim().parse().ok())
                .context("a Content-Length")?;
            if raw.len() >= end + 4 + length {
                let status: u16 = head.split_whitespace().nth(1).context("a status")?.parse()?;
                break (status, serde_json::from_slice::<Value>(&raw[end + 4..end + 4 + length])?);
            }
        };
        if status != 200 {
            bail!("WebDriver {method} {path}: {status} {}", value["value"]["message"]);
        }
        Ok(value["value"].clone())
    }
}

/// A browser session.
struct Browser<'a> {
    driver: &'a Driver,
    session: String,
    base: String,
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self.driver.call("DELETE", &format!("/session/{}", self.session), &Value::Null);
    }
}

impl<'a> Browser<'a> {
    fn open(
        driver: &'a Driver,
        chromium: &str,
        server: SocketAddr,
        downloads: &std::path::Path,
    ) -> anyhow::Result<Browser<'a>> {
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=zh-CN"],
                // A Chinese browser: the consoles answer in the language it asks for.
                // Exports clicked are saved here, as a person's browser saves them.
                "prefs": {
                    "intl.accept_languages": "zh-CN,zh",
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        } } });
        let created = driver.call("POST", "/session", &capabilities)?;
        let session = created["sessionId"].as_str().context("a session id")?.to_owned();
        Ok(Browser { driver, session, base: format!("http://{server}") })
    }

    fn cmd(&self, method: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.driver.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn go(&self, path: &str) -> anyhow::Result<()> {
        self.cmd("POST", "/url", &json!({ "url": format!("{}{path}", self.base) }))?;
        Ok(())
    }

    fn path(&self) -> anyhow::Result<String> {
        let url = self.cmd("GET", "/url", &Value::Null)?;
        let url = url.as_str().context("a url")?;
        Ok(url.strip_prefix(&self.base).unwrap_or(url).to_owned())
    }

    fn find(&self, css: &str) -> anyhow::Result<String> {
        let found = self.cmd("POST", "/element", &json!({ "using": "css selector", "value": css }))?;
        Ok(found[ELEMENT].as_str().with_context(|| format!("no element {css}"))?.to_owned())
    }

    fn count(&self, css: &str) -> anyhow::Result<usize> {
        let found = self.cmd("POST", "/elements", &json!({ "using": "css selector", "value": css }))?;
        Ok(found.as_array().map_or(0, Vec::len))
    }

    fn text(&self, css: &str) -> anyhow::Result<String> {
        let id = self.find(css)?;
        Ok(self.cmd("GET", &format!("/element/{id}/text"), &Value::Null)?.as_str().unwrap_or("").to_owned())
    }

    fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.find(css)?;
        self.cmd("POST", &format!("/element/{id}/value"), &json!({ "text": text }))?;
        Ok(())
    }

    fn clear(&self, css: &str) -> anyhow::Result<()> {
        let id = self.find(css)?;
        self.cmd("POST", &format!("/element/{id}/clear"), &json!({}))?;
        Ok(())
    }

    fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.find(css)?;
        self.cmd("POST", &format!("/element/{id}/click"), &json!({}))?;
        Ok(())
    }

    fn script(&self, source: &str) -> anyhow::Result<Value> {
        self.cmd("POST", "/execute/sync", &json!({ "script": source, "args": [] }))
    }

    /// Saves a screenshot of the page as `<name>.png` in `$XINGTONG_SCREENSHOTS`, when set (how
    /// the README's pictures are made); nothing otherwise.
    fn keep_screenshot(&self, name: &str) -> anyhow::Result<()> {
        if let Some(dir) = std::env::var_os("XINGTONG_SCREENSHOTS") {
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), self.screenshot_png()?)?;
        }
        Ok(())
    }

    fn screenshot_png(&self) -> anyhow::Result<Vec<u8>> {
        let encoded = self.cmd("GET", "/screenshot", &Value::Null)?;
        base64_decode(encoded.as_str().context("base64")?)
    }

    /// Waits until the page's path is `path` (a form's redirect, followed by the browser) and
    /// its document has loaded (the address changes before the new page's elements exist).
    fn wait_for_path(&self, path: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let now = self.path()?;
            if now == path && self.script("return document.readyState")? == "complete" {
                return Ok(());
            }
            ensure!(started.elapsed() < Duration::from_secs(10), "still at {now}, not {path}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until an element matching `css` is on the page.
    fn wait_for(&self, css: &str) -> anyhow::Result<()> {
        let started = Instant::now();
        while self.count(css)? == 0 {
            ensure!(started.elapsed() < Duration::from_secs(10), "no {css} on {}", self.path()?);
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn sign_in(&self, console: &str, login: &str, password: &str) -> anyhow::Result<()> {
        self.go(console)?;
        self.wait_for_path(&format!("{console}/sign-in?next={console}"))?;
        self.type_into("#login", login)?;
        self.type_into("#password", password)?;
        self.click("#submit")?;
        self.wait_for_path(console)
    }
}

/// A PNG a browser decodes (the validators' fixture is only headers): grey pixels, stored in
/// uncompressed deflate blocks, with real CRCs and checksum.
fn decodable_png(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut raw = Vec::new();
    for _ in 0..height {
        raw.push(0); // no filter
        raw.extend(std::iter::repeat_n(0x99u8, width as usize * 3));
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &header);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn base64_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64"),
        };
        buffer = (buffer << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Ok(out)
}

/// The file of `suffix` the browser saved into `dir`, once it is whole (Chromium writes a
/// `.crdownload` first and renames it when done).
fn downloaded(dir: &std::path::Path, suffix: &str) -> anyhow::Result<Vec<u8>> {
    let started = Instant::now();
    loop {
        let done = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(suffix));
        if let Some(path) = done {
            return Ok(std::fs::read(path)?);
        }
        ensure!(started.elapsed() < Duration::from_secs(15), "no {suffix} downloaded into {}", dir.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What the ledger owes merchant `mid` (its settlement account's credits less debits), in fen.
fn ledger_owed(server: &Server, mid: &str) -> anyhow::Result<u128> {
    let account =
        xingtong_payments::chart::merchant_account_id(mid, xingtong_payments::chart::ACCOUNT_MERCHANT_SETTLEMENT)
            .context("the merchant's account")?;
    let key = server.admin_key.clone().context("admin key")?;
    let ledger = crate::server::request_raw(
        server.address,
        "GET",
        &format!("/v1/ledger/accounts/{account}"),
        &[("Authorization", &format!("Bearer {key}"))],
        b"",
    )?
    .json();
    let as_u128 = |v: &Value| v.as_str().and_then(|s| s.parse::<u128>().ok()).or_else(|| v.as_u64().map(u128::from));
    let owed =
        as_u128(&ledger["credits_posted"]).context("credits")? - as_u128(&ledger["debits_posted"]).context("debits")?;
    ensure!(owed > 0, "{ledger}");
    Ok(owed)
}

#[test]
fn a_merchant_and_a_reviewer_use_the_consoles_in_headless_chromium() -> anyhow::Result<()> {
    let (Some(chromium), Some(chromedriver)) =
        (find_program(&["chromium", "chromium-browser"]), find_program(&["chromedriver"]))
    else {
        ensure!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs chromium and chromium-driver (.ci/run installs them): neither may be missing there"
        );
        eprintln!("SKIPPED: no chromium and chromedriver on this machine (apt-get install chromium chromium-driver)");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let server = Server::start(&Backend::Sqlite(dir.path().to_path_buf()))?;
    let (mid, sale) = merchant_with_a_sale(&server, dir.path(), "13600000011", "甲便利店")?;
    cli(
        dir.path(),
        &["admin", "staff", "create", "--username", "ops.wang", "--name", "王", "--role", "reviewer,finance", "--json"],
        "staff password 42\n",
    )?;
    let driver = Driver::start(&chromedriver)?;
    let downloads = tempfile::tempdir()?;
    let browser = Browser::open(&driver, &chromium, server.address, downloads.path())?;

    // A new applicant: signs up, fills in the application with a wrong ID number (said beside
    // the field), fixes it, uploads the documents (previewed), submits.
    browser.go("/console/sign-in")?;
    browser.click("#sign-up")?;
    browser.wait_for_path("/console/sign-up")?;
    browser.type_into("#name", "钱七")?;
    browser.type_into("#phone", "13600000012")?;
    browser.type_into("#password", "a long enough password")?;
    browser.click("#submit")?;
    browser.wait_for_path("/console/application")?;
    for (field, value) in [
        ("legal_name", "钱七"),
        ("resident_id", "110105194912310021"),
        ("phone", "13600000012"),
        ("email", "qq@example.cn"),
        ("address", "杭州市西湖区"),
        ("business_name", "乙水果店"),
        ("card_number", "6222021234567890128"),
        ("bank_name", "招商银行"),
        ("account_holder", "钱七"),
        ("delivery_address", "杭州市西湖区"),
    ] {
        browser.type_into(&format!("#f-{field}"), value)?;
    }
    browser.click("#save")?;
    browser.wait_for("#e-resident_id")?;
    let said = browser.text("#e-resident_id")?;
    ensure!(said.contains("校验"), "the check character is wrong, beside the field: {said}");
    ensure!(browser.count("[aria-invalid='true']")? == 1, "only the ID number is marked");
    browser.clear("#f-resident_id")?;
    browser.type_into("#f-resident_id", "11010519491231002X")?;
    browser.click("#save")?;
    browser.wait_for("#notice")?;
    ensure!(browser.count("#e-resident_id")? == 0, "fixed: {}", browser.text("main")?);
    // Submitting without the documents is refused, saying which are missing.
    browser.click("#submit-application")?;
    browser.wait_for("section .field-error")?;
    let pictures = tempfile::tempdir()?;
    for kind in ["id_card_front", "id_card_back", "storefront_photo"] {
        let path = pictures.path().join(format!("{kind}.png"));
        std::fs::write(&path, decodable_png(120, 80))?;
        browser.type_into(&format!("#file-{kind}"), &path.display().to_string())?;
        browser.click(&format!("#doc-{kind} button"))?;
        browser.wait_for(&format!("#doc-{kind} .uploaded"))?;
    }
    let previews = browser.script(
        "return Array.from(document.querySelectorAll('.document img')).map(i => i.complete && i.naturalWidth)",
    )?;
    ensure!(previews == json!([120, 120, 120]), "each document previewed: {previews}");
    browser.click("#submit-application")?;
    browser.wait_for("#status")?;
    ensure!(browser.text("#status")? == "已提交", "{}", browser.text("main")?);
    browser.click("#sign-out")?;
    browser.wait_for_path("/console/sign-in")?;

    // The merchant: signs in by typing, sees the device and the sale, opens its receipt.
    browser.sign_in("/console", "13600000011", "a long enough password")?;
    ensure!(browser.text("h1")? == "概览");
    ensure!(browser.text("main")?.contains(&mid) && browser.text("main")?.contains("甲便利店"));
    browser.click("nav a[href='/console/transactions']")?;
    browser.wait_for_path("/console/transactions")?;
    ensure!(browser.count("#transactions tbody tr")? == 1);
    ensure!(browser.text("#transactions tbody tr")?.contains("¥123.45"));
    // The stylesheet is this origin's and applies (the header's bottom border).
    let border = browser.script("return getComputedStyle(document.querySelector('.top')).borderBottomWidth")?;
    ensure!(border == "3px", "the stylesheet loaded: {border}");
    // The sales report: the month so far, with its charts drawn (SVG in the page).
    browser.click("nav a[href='/console/reports']")?;
    browser.wait_for_path("/console/reports")?;
    ensure!(browser.count("svg.chart rect")? >= 2, "a column and a share");
    ensure!(browser.text("#report-total")?.contains("¥123.45"), "{}", browser.text("#report-total")?);
    ensure!(browser.count("#hours svg.chart rect")? >= 24, "an hour chart of every hour");
    browser.keep_screenshot("console-report")?;
    browser.go("/console/transactions")?;
    browser.click("#transactions tbody tr a")?;
    browser.wait_for_path(&format!("/console/transactions/{sale}"))?;
    ensure!(browser.text("#status")? == "成功" && browser.text("#txn-id")? == sale);
    // In English, on the same page.
    browser.click("#language")?;
    browser.wait_for("html[lang='en']")?;
    ensure!(browser.path()? == format!("/console/transactions/{sale}"), "the switch came back to the page");
    ensure!(browser.text("#status")? == "Approved", "{}", browser.text("main")?);
    ensure!(browser.script("return document.documentElement.lang")? == "en");
    let png = browser.screenshot_png()?;
    ensure!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "a real screenshot of the page");
    // A filter that matches nothing says so.
    browser.go(&format!("/console/transactions?mid={mid}&method=alipay"))?;
    ensure!(browser.count("#nothing")? == 1, "{}: {}", browser.path()?, browser.text("main")?);
    // The report exported as CSV and XLSX by the browser, with its session: the files' nets are
    // what the ledger owes the merchant.
    let owed = ledger_owed(&server, &mid)?;
    browser.go("/console/reports")?;
    browser.click("a[href^='/console/reports.csv']")?;
    let csv = String::from_utf8(downloaded(downloads.path(), ".csv")?)?;
    let total = csv.lines().last().context("a totals line")?;
    ensure!(total.split(',').nth(9) == Some(format!("{}.{:02}", owed / 100, owed % 100).as_str()), "{csv}");
    browser.click("a[href^='/console/reports.xlsx']")?;
    let xlsx = downloaded(downloads.path(), ".xlsx")?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(xlsx))?;
    let mut sheet = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("xl/worksheets/sheet1.xml")?, &mut sheet)?;
    let net_cell =
        sheet.split("<c r=\"J3\"").nth(1).and_then(|c| c.split("<v>").nth(1)).and_then(|v| v.split('<').next());
    ensure!(net_cell.and_then(|v| v.parse::<f64>().ok()) == Some(owed as f64 / 100.0), "{sheet}");
    browser.click("#sign-out")?;
    browser.wait_for_path("/console/sign-in")?;

    // The reviewer: the queue, the application with its documents loaded, take, approve.
    browser.sign_in("/ops", "ops.wang", "staff password 42")?;
    ensure!(browser.text("#queue")?.contains("乙水果店"), "the application made in the browser is queued");
    browser.click("#queue tbody a")?;
    browser.wait_for("#take")?;
    let started = Instant::now();
    loop {
        let loaded = browser.script(
            "return Array.from(document.querySelectorAll('.documents img')).map(i => i.complete && i.naturalWidth)",
        )?;
        if loaded == json!([120, 120, 120]) {
            break;
        }
        ensure!(started.elapsed() < Duration::from_secs(10), "every document image loads: {loaded}");
        std::thread::sleep(Duration::from_millis(100));
    }
    browser.click("#take")?;
    browser.wait_for("#approve")?;
    // Still in English: the language chosen on the merchant console is the browser's.
    ensure!(browser.text("#status")? == "Under review");
    browser.click("#approve")?;
    browser.wait_for_path("/ops")?;
    ensure!(browser.count("#queue-empty")? == 1, "the queue is empty");
    // The same staff member (finance too) clears today in the operations console.
    let today = xingtong_payments::clock::business_day();
    let dashed = format!("{}-{}-{}", &today[..4], &today[4..6], &today[6..]);
    browser.click("nav a[href='/ops/clearing']")?;
    browser.wait_for_path("/ops/clearing")?;
    browser.script(&format!("document.querySelector('#clearing-day').value = '{dashed}'"))?;
    browser.click("#run-clearing")?;
    browser.wait_for("#notice")?;
    ensure!(browser.text("#notice")?.starts_with("Cleared"), "{}", browser.text("#notice")?);
    browser.keep_screenshot("ops-clearing")?;
    browser.click("#sign-out")?;
    browser.wait_for_path("/ops/sign-in")?;

    // The merchant: the settlement after the clearing run, with the sale on it; then the
    // settlement card changed with the code the SMS brought to the phone.
    browser.sign_in("/console", "13600000011", "a long enough password")?;
    browser.click("nav a[href='/console/settlements']")?;
    browser.wait_for_path("/console/settlements")?;
    browser.click("#settlements tbody a")?;
    browser.wait_for("#lines")?;
    browser.keep_screenshot("console-settlement")?;
    ensure!(browser.text("#lines")?.contains("¥123.45"), "{}", browser.text("main")?);
    browser.click(&format!("#lines a[href='/console/transactions/{sale}']"))?;
    browser.wait_for_path(&format!("/console/transactions/{sale}"))?;
    browser.click("nav a[href='/console/bank-card']")?;
    browser.wait_for_path("/console/bank-card")?;
    browser.type_into("#f-card_number", "6217001234567890122")?;
    browser.type_into("#f-bank_name", "建设银行")?;
    browser.type_into("#f-account_holder", "周杰")?;
    browser.click("#send-code")?;
    browser.wait_for("#code-sent")?;
    browser.keep_screenshot("console-bank-card")?;
    let code = crate::console_account::sms_code(dir.path(), 0)?;
    browser.type_into("#code", &code)?;
    browser.click("#confirm")?;
    browser.wait_for("#notice")?;
    ensure!(browser.text("#current-card")?.contains("0122"), "{}", browser.text("main")?);
    // The page a form answered switches language back to the page the form was on.
    let lang = browser.script("return document.documentElement.lang")?;
    browser.click("#language")?;
    browser.wait_for_path("/console/bank-card")?;
    ensure!(browser.script("return document.documentElement.lang")? != lang, "switched from {lang}");
    browser.click("#language")?;
    browser.wait_for_path("/console/bank-card")?;
    ensure!(browser.script("return document.documentElement.lang")? == lang, "and back to {lang}");
    browser.click("#sign-out")?;
    browser.wait_for_path("/console/sign-in")?;

    // The approved applicant sees the new merchant and its device (in English: the choice stays).
    browser.sign_in("/console", "13600000012", "a long enough password")?;
    let main = browser.text("main")?;
    ensure!(main.contains("乙水果店") && main.contains("Ordered"), "{main}");
    browser.click("#sign-out")?;
    browser.wait_for_path("/console/sign-in")?;

    // Every page of both consoles, in both languages, as the browser shows them: the page's
    // language, its title, no error page.
    let day = format!("from={dashed}&to={dashed}");
    let merchant_pages = [
        "/console".to_owned(),
        "/console/application".to_owned(),
        "/console/transactions".to_owned(),
        format!("/console/transactions/{sale}"),
        "/console/reports".to_owned(),
        format!("/console/reports/collections?{day}"),
        format!("/console/reports/settlements?{day}"),
        "/console/settlements".to_owned(),
        format!("/console/settlements/stl_{mid}_{today}"),
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
    for (console, login, password, pages) in [
        ("/console", "13600000011", "a long enough password", &merchant_pages[..]),
        ("/ops", "ops.wang", "staff password 42", &ops_pages[..]),
    ] {
        browser.sign_in(console, login, password)?;
        for (lang, word) in [("en", "Sign out"), ("zh-CN", "退出")] {
            browser.go(&format!("/console/language/{lang}?back={console}"))?;
            for path in pages {
                browser.go(path)?;
                browser.wait_for_path(path)?;
                let shown = browser.script("return [document.documentElement.lang, document.title]")?;
                ensure!(shown[0] == lang, "{path} in {lang}: {shown}");
                ensure!(browser.text("#sign-out")? == word, "{path} in {lang}");
                let title = shown[1].as_str().unwrap_or("");
                ensure!(
                    !["Not found", "未找到", "Refused", "已拒绝", "Something went wrong", "出错了"]
                        .iter()
                        .any(|e| title.starts_with(e)),
                    "{path} in {lang}: {title}"
                );
            }
        }
        browser.click("#sign-out")?;
        browser.wait_for_path(&format!("{console}/sign-in"))?;
    }
    Ok(())
}

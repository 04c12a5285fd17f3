//! `xingtong terminal` as a cashier uses it: the real binary in tmux (keys sent, the screen read)
//! against a real server with its demo tenant: first power-on and activation, a refused sign-in
//! then the right PIN, a sale with its receipt, a partial refund and a void by the supervisor, a
//! declined card explained, a balance inquiry, the terminal's report and a reprint, settings
//! refused to a cashier and open to the supervisor (the language switched and back), and a restart
//! that remembers the activation.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};

/// Red foreground, as tmux writes it (`31` or the 256-colour `38;5;1`).
fn is_red(styled: &str) -> bool {
    styled.contains("\x1b[31m") || styled.contains("\x1b[38;5;1m")
}

/// A tmux session running one program.
struct Tmux {
    session: String,
}

impl Tmux {
    fn start(session: &str, command: &str) -> anyhow::Result<Tmux> {
        let status = Command::new("tmux")
            .args(["new-session", "-d", "-s", session, "-x", "80", "-y", "24", command])
            .status()?;
        ensure!(status.success(), "tmux new-session");
        Ok(Tmux { session: session.to_owned() })
    }

    fn keys(&self, keys: &[&str]) -> anyhow::Result<()> {
        for key in keys {
            let status = Command::new("tmux").args(["send-keys", "-t", &self.session, key]).status()?;
            ensure!(status.success(), "tmux send-keys {key}");
            std::thread::sleep(Duration::from_millis(60));
        }
        Ok(())
    }

    fn screen(&self) -> anyhow::Result<String> {
        let output = Command::new("tmux").args(["capture-pane", "-p", "-t", &self.session]).output()?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The screen with its colours and attributes as escape sequences.
    fn screen_styled(&self) -> anyhow::Result<String> {
        let output = Command::new("tmux").args(["capture-pane", "-p", "-e", "-t", &self.session]).output()?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Waits until the screen shows every one of `texts`.
    fn wait_for(&self, texts: &[&str]) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen()?;
            if texts.iter().all(|t| screen.contains(t)) {
                return Ok(screen);
            }
            ensure!(Instant::now() < deadline, "the screen never showed {texts:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.session]).status();
    }
}

/// Starts `xingtong serve` on `data` (making the demo on a new one) and returns it with what it
/// printed up to the line that says it listens.
pub(crate) fn serve(data: &std::path::Path, http: &str, iso: &str) -> anyhow::Result<(std::process::Child, String)> {
    let mut server = Command::new(env!("CARGO_BIN_EXE_xingtong"))
        .args(["serve", "--http", http, "--iso8583", iso, "--data-dir"])
        .arg(data)
        .env_remove("XINGTONG_CONFIG")
        .env_remove("XINGTONG_NO_DEMO")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut printed = String::new();
    let mut lines = BufReader::new(server.stdout.take().context("stdout")?).lines();
    loop {
        let line = lines.next().context("the server ended before listening")??;
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("HTTP API on") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Ok((server, printed))
}

/// The ISO 8583 and HTTP addresses a server printed.
pub(crate) fn addresses(printed: &str) -> anyhow::Result<(String, String)> {
    let after = |marker: &str| -> anyhow::Result<String> {
        Ok(printed
            .split(marker)
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .context(marker.to_owned())?
            .to_owned())
    };
    Ok((after("ISO 8583 terminals on ")?, after("http://")?))
}

/// True when tmux is here; in CI it must be.
fn tmux_available() -> anyhow::Result<bool> {
    if Command::new("tmux").arg("-V").stdout(Stdio::null()).status().is_ok() {
        return Ok(true);
    }
    ensure!(std::env::var_os("CI").is_none(), "CI must run the terminal tests, but tmux is missing");
    eprintln!("the terminal test was skipped: tmux is not installed");
    Ok(false)
}

/// The demo terminal's command line the server printed, for the binary under test.
fn terminal_command(
    printed: &str,
    host: &str,
    api: &str,
    dir: &std::path::Path,
    cards: Option<&std::path::Path>,
) -> anyhow::Result<String> {
    let line = printed.lines().find(|l| l.contains("xingtong terminal --cards")).context("the demo's terminal line")?;
    let mut arguments = line.split("xingtong terminal").nth(1).context("arguments")?.trim().to_owned();
    // The server names its addresses when they are not the terminal's defaults; they must be the
    // ones given here.
    for (flag, value) in [("--host", host), ("--api", api)] {
        if let Some(printed) = arguments.split_whitespace().skip_while(|w| *w != flag).nth(1) {
            anyhow::ensure!(printed == value, "the server printed {flag} {printed}, not {value}");
            arguments = arguments.replace(&format!(" {flag} {value}"), "");
        }
    }
    if let Some(cards) = cards {
        let printed_cards = arguments.split_whitespace().nth(1).context("--cards FILE")?.to_owned();
        arguments = arguments.replacen(&printed_cards, &cards.display().to_string(), 1);
    }
    Ok(format!(
        "{} terminal --host {host} --api {api} --dir {} {arguments}",
        env!("CARGO_BIN_EXE_xingtong"),
        dir.display()
    ))
}

/// Power-on in English with amounts shown as `¥12.34`, activation with the pre-filled values,
/// and cashier 01 signed in.
fn activate_and_sign_in(pos: &Tmux) -> anyhow::Result<()> {
    pos.wait_for(&["First power-on", "English"])?;
    pos.keys(&["2"])?;
    pos.wait_for(&["First power-on: currency", "CNY (156)", "2  ¥12.34"])?;
    pos.keys(&["2"])?;
    pos.wait_for(&["Network check"])?;
    pos.keys(&["Enter"])?;
    pos.wait_for(&["OK ", "activation"])?;
    pos.keys(&["Enter"])?;
    pos.wait_for(&["Terminal activation", "Activation code"])?;
    pos.keys(&["Enter", "Enter", "Enter"])?;
    pos.wait_for(&["Activated", "TMK check value"])?;
    pos.keys(&["Enter"])?;
    pos.wait_for(&["Sign-in", "Operator"])?;
    pos.keys(&["0", "1", "1", "3", "5", "7", "9", "0", "Enter"])?;
    pos.wait_for(&["Main menu"])?;
    Ok(())
}

/// A demo server over `<dir>/data`, its data directory, and the command that
/// runs a terminal against it with its device in `<dir>/pos`.
fn served_terminal(dir: &std::path::Path) -> anyhow::Result<(std::process::Child, std::path::PathBuf, String)> {
    let data = dir.join("data");
    let (server, printed) = serve(&data, "127.0.0.1:0", "127.0.0.1:0")?;
    let (host, api) = addresses(&printed)?;
    let command = terminal_command(&printed, &host, &api, &dir.join("pos"), None)?;
    Ok((server, data, command))
}

#[test]
fn a_cashier_activates_signs_in_and_sells_on_the_terminal() -> anyhow::Result<()> {
    if !tmux_available()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (mut server, data, command) = served_terminal(dir.path())?;
    let session = format!("xt-{}", std::process::id());

    let result = (|| -> anyhow::Result<()> {
        let pos = Tmux::start(&session, &command)?;
        pos.wait_for(&["First power-on", "English"])?;
        pos.keys(&["2"])?;
        // The display currency: Enter keeps the default, RMB as on the slip.
        pos.wait_for(&["First power-on: currency", "1  RMB 12.34  (default, as on the slip)", "3  CNY 12.34"])?;
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Network check"])?;
        pos.keys(&["Enter"])?;
        pos.wait_for(&["OK ", "activation"])?;
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Terminal activation", "Activation code"])?;
        pos.keys(&["Enter", "Enter", "Enter"])?;
        let activated = pos.wait_for(&["Activated", "TMK check value"])?;
        ensure!(activated.contains("10000001"), "{activated}");
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Sign-in", "Operator"])?;
        // A wrong PIN: refused, with the meaning of the code.
        pos.keys(&["0", "1", "0", "0", "0", "0", "0", "0", "Enter"])?;
        pos.wait_for(&["Response 55: wrong operator PIN", "5 wrong PINs lock it"])?;
        // In colour: the refusal is red.
        let styled = pos.screen_styled()?;
        ensure!(is_red(&styled), "the refusal in red: {styled:?}");
        pos.keys(&["0", "1", "1", "3", "5", "7", "9", "0", "Enter"])?;
        pos.wait_for(&["Main menu", "Signed in, batch 000001"])?;
        // A sale of ¥299.00 on the good debit card (card 1), with its PIN: approved, receipt shown.
        pos.keys(&["1", "2", "9", "9", "0", "0", "Enter"])?;
        pos.wait_for(&["Business type:", "Collection"])?;
        pos.keys(&["2"])?;
        pos.wait_for(&["Swipe a card", "good debit"])?;
        pos.keys(&["1"])?;
        pos.wait_for(&["Cardholder, enter the PIN"])?;
        pos.keys(&["1", "4", "7", "2", "5", "8", "Enter"])?;
        let receipt = pos.wait_for(&["Approved", "POS SALES SLIP", "RMB 299.00", "Receipt saved", "星通演示商户"])?;
        ensure!(receipt.contains("898310053990001") && receipt.contains("AUTH NO."), "{receipt}");
        let voucher = |screen: &str| -> anyhow::Result<String> {
            let rest = screen.split("VOUCHER NO.: ").nth(1).context("a voucher number")?;
            Ok(rest.chars().take(6).collect())
        };
        let sale_a = voucher(&receipt)?;
        pos.keys(&["Enter"])?;
        // A partial refund of that sale, ¥100.00, by the supervisor.
        pos.keys(&["4"])?;
        pos.wait_for(&["Refund", "Original voucher no."])?;
        for d in sale_a.chars() {
            pos.keys(&[&d.to_string()])?;
        }
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Amount to refund"])?;
        pos.keys(&["1", "0", "0", "0", "0", "Enter"])?;
        // The reason travels in field 63: 2, a wrong amount.
        pos.wait_for(&["Reason:", "Customer return", "Wrong amount", "Duplicate charge"])?;
        pos.keys(&["2"])?;
        pos.wait_for(&["Supervisor PIN"])?;
        pos.keys(&["2", "4", "6", "8", "1", "0", "Enter"])?;
        pos.wait_for(&["Approved", "Reason: 02 Wrong amount", "退货 REFUND", "RMB 100.00"])?;
        pos.keys(&["Enter"])?;
        // Another sale, on the credit card without a PIN, voided by the supervisor.
        pos.keys(&["1", "5", "0", "0", "0", "Enter", "1"])?;
        pos.wait_for(&["Swipe a card"])?;
        pos.keys(&["2", "Enter"])?;
        let sale_b = voucher(&pos.wait_for(&["Approved", "RMB 50.00"])?)?;
        pos.keys(&["Enter", "3"])?;
        pos.wait_for(&["Void", "Original voucher no."])?;
        for d in sale_b.chars() {
            pos.keys(&[&d.to_string()])?;
        }
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Supervisor PIN", "RMB 50.00"])?;
        pos.keys(&["2", "4", "6", "8", "1", "0", "Enter"])?;
        pos.wait_for(&["Approved", "撤销 VOID"])?;
        pos.keys(&["Enter"])?;
        // A pre-authorization of ¥200.00 on the credit card, completed for ¥150.00.
        pos.keys(&["7", "2", "0", "0", "0", "0", "Enter"])?;
        pos.wait_for(&["Pre-authorization", "Swipe a card"])?;
        pos.keys(&["2", "Enter"])?;
        let held = voucher(&pos.wait_for(&["Approved", "预授权 PRE-AUTH", "RMB 200.00"])?)?;
        pos.keys(&["Enter", "0"])?;
        pos.wait_for(&["Completion", "Original voucher no."])?;
        for d in held.chars() {
            pos.keys(&[&d.to_string()])?;
        }
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Amount to complete"])?;
        pos.keys(&["1", "5", "0", "0", "0", "Enter"])?;
        let completed = voucher(&pos.wait_for(&["Approved", "预授权完成 AUTH COMPLETE", "RMB 150.00"])?)?;
        pos.keys(&["Enter"])?;
        // The completion voided by the supervisor (3 voids whatever the voucher is).
        pos.keys(&["3"])?;
        for d in completed.chars() {
            pos.keys(&[&d.to_string()])?;
        }
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Completion void RMB 150.00", "Supervisor PIN"])?;
        pos.keys(&["2", "4", "6", "8", "1", "0", "Enter"])?;
        pos.wait_for(&["Approved", "预授权完成撤销 COMPLETE VOID", "RMB 150.00"])?;
        pos.keys(&["Enter"])?;
        // A pre-authorization of ¥80.00, released by its void (no supervisor: the code is the proof).
        pos.keys(&["7", "8", "0", "0", "0", "Enter"])?;
        pos.wait_for(&["Pre-authorization", "Swipe a card"])?;
        pos.keys(&["2", "Enter"])?;
        let released = voucher(&pos.wait_for(&["Approved", "预授权 PRE-AUTH", "RMB 80.00"])?)?;
        pos.keys(&["Enter", "3"])?;
        for d in released.chars() {
            pos.keys(&[&d.to_string()])?;
        }
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Pre-authorization void", "RMB 80.00", "Authorization code", "Enter releases the hold"])?;
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Approved", "预授权撤销 AUTH VOID", "RMB 80.00"])?;
        pos.keys(&["Enter"])?;
        // Settlement with the batch's totals from the journal: the host's agree, the batch
        // closes, the next opens, and the settlement slip is saved.
        pos.keys(&["S"])?;
        pos.wait_for(&[
            "Domestic cards: debits 3 RMB 499.00 · credits 3 RMB 300.00",
            "Foreign cards: debits 0",
            "Balanced: the host's totals agree",
            "New batch: 000002",
            "Settlement slip saved",
        ])?;
        pos.keys(&["Enter"])?;
        // The blocked card (card 4): declined, and the screen says why and what to do.
        pos.keys(&["1", "1", "0", "0", "Enter", "1"])?;
        pos.wait_for(&["Swipe a card"])?;
        pos.keys(&["4", "Enter"])?;
        pos.wait_for(&["Declined", "Response 62"])?;
        pos.keys(&["Enter"])?;
        // A balance inquiry on the good debit card.
        pos.keys(&["2"])?;
        pos.wait_for(&["Swipe a card"])?;
        pos.keys(&["1", "1", "4", "7", "2", "5", "8", "Enter"])?;
        pos.wait_for(&["Approved", "Available: RMB"])?;
        pos.keys(&["Enter"])?;
        // The terminal's own report, and a reprint marked as a duplicate.
        // The query: one transaction by its voucher number, then the list and totals.
        pos.keys(&["5"])?;
        pos.wait_for(&["Transaction query", "Enter alone: the list and totals"])?;
        for d in sale_a.chars() {
            pos.keys(&[&d.to_string()])?;
        }
        pos.keys(&["Enter"])?;
        pos.wait_for(&[
            &format!("Transaction, voucher no. {sale_a}"),
            "Type: sale",
            "Amount: RMB 299.00",
            "Response: 00",
        ])?;
        pos.keys(&["Enter", "5", "Enter"])?;
        pos.wait_for(&["Transactions on this terminal", "Totals (approved):", "sale", "refund", "void"])?;
        pos.keys(&["Enter", "6"])?;
        pos.wait_for(&["Reprint", "Voucher no.", "Enter alone: the last receipt"])?;
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Reprint (DUPLICATE)", "POS SALES SLIP", "MERCHANT COPY"])?;
        pos.keys(&["Enter"])?;
        // Any receipt, by its voucher number: the first sale's; an unknown number is refused.
        pos.keys(&["6", "9", "9", "9", "9", "9", "9", "Enter"])?;
        pos.wait_for(&["No receipt with that voucher number"])?;
        pos.keys(&["Escape", "6"])?;
        pos.wait_for(&["Voucher no."])?;
        for d in sale_a.chars() {
            pos.keys(&[&d.to_string()])?;
        }
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Reprint (DUPLICATE)", "RMB 299.00", &format!("VOUCHER NO.: {sale_a}")])?;
        pos.keys(&["Enter"])?;
        // Settings are the supervisor's: refused to cashier 01, open to 00, where the language
        // switches to Chinese and back.
        pos.keys(&["8"])?;
        pos.wait_for(&["Settings are for the supervisor"])?;
        pos.keys(&["9"])?;
        pos.wait_for(&["Signed off", "Operator"])?;
        pos.keys(&["0", "0", "2", "4", "6", "8", "1", "0", "Enter"])?;
        pos.wait_for(&["Main menu", "operator 00"])?;
        pos.keys(&["8"])?;
        pos.wait_for(&["Settings", "Language"])?;
        pos.keys(&["1"])?;
        pos.wait_for(&["管理", "语言"])?;
        pos.keys(&["1"])?;
        pos.wait_for(&[
            "Settings",
            "Language",
            "Payment methods: bank card on, QR off",
            "Currency shown as: RMB 12.34 · CNY 156",
        ])?;
        pos.keys(&["5"])?;
        pos.wait_for(&["Currency shown as: ¥12.34 · CNY 156"])?;
        pos.keys(&["5", "5"])?;
        pos.wait_for(&["Currency shown as: RMB 12.34 · CNY 156"])?;
        // Payment methods: QR enabled and made the default; off again, the default falls back to
        // the card; on again as the default, kept.
        pos.keys(&["3"])?;
        pos.wait_for(&["QR on"])?;
        pos.keys(&["4"])?;
        pos.wait_for(&["Default payment method: QR"])?;
        pos.keys(&["3"])?;
        pos.wait_for(&["QR off", "Default payment method: bank card"])?;
        pos.keys(&["3", "4"])?;
        pos.wait_for(&["QR on", "Default payment method: QR"])?;
        // Diagnostics: the device log, exported to a file.
        pos.keys(&["2"])?;
        pos.wait_for(&["Diagnostics", "Last error", "Device log (latest):", "task Settle"])?;
        pos.keys(&["N"])?;
        pos.wait_for(&["Echo test OK:", " ms)"])?;
        pos.keys(&["E"])?;
        pos.wait_for(&["Exported to"])?;
        pos.keys(&["Escape", "Escape"])?;
        pos.wait_for(&["Main menu"])?;
        pos.keys(&["Escape"])?;
        drop(pos);
        // Restarted, the device remembers its activation and asks only for sign-in.
        std::thread::sleep(Duration::from_millis(300));
        // This time on a plain terminal (NO_COLOR): alerts are bold, never coloured.
        let pos = Tmux::start(&session, &format!("env NO_COLOR=1 {command}"))?;
        pos.wait_for(&["Sign-in", "10000001"])?;
        pos.keys(&["0", "1", "0", "0", "0", "0", "0", "0", "Enter"])?;
        pos.wait_for(&["Response 55"])?;
        let plain = pos.screen_styled()?;
        ensure!(!is_red(&plain) && plain.contains("\x1b[1mResponse 55"), "bold, not red: {plain:?}");
        // Odd keys and resizes, smaller and larger than 80×24: no panic, the screen redrawn.
        pos.keys(&["F5", "Tab", "C-x", "PageUp", "Home", "F12", "BTab"])?;
        for (x, y) in [("50", "12"), ("120", "40"), ("80", "24")] {
            let status = Command::new("tmux").args(["resize-window", "-t", &session, "-x", x, "-y", y]).status()?;
            ensure!(status.success(), "tmux resize-window {x}×{y}");
            std::thread::sleep(Duration::from_millis(400));
        }
        pos.wait_for(&["Sign-in", "10000001"])?;
        pos.keys(&["C-c"])?;
        Ok(())
    })();
    let _ = server.kill();
    let _ = server.wait();
    result?;
    let device: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("pos/device.json"))?)?;
    ensure!(
        device["default_method"] == "qr" && device["extra_methods"] == serde_json::json!(["qr"]),
        "the payment-method settings kept: {device}"
    );
    let receipts: Vec<std::path::PathBuf> =
        std::fs::read_dir(dir.path().join("pos/receipts"))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    for path in &receipts {
        let slip = std::fs::read_to_string(path)?;
        ensure!(
            slip.matches("TEAR HERE").count() == 2
                && ["MERCHANT COPY", "CARDHOLDER COPY", "BANK COPY"].iter().all(|copy| slip.contains(copy)),
            "three copies in {}: {slip}",
            path.display()
        );
    }
    let receipts = receipts.len();
    ensure!(
        receipts == 9,
        "receipts for two sales, a refund, a void, two pre-authorizations, a completion and the two \
         voids of pre-authorization and completion: {receipts}"
    );
    let slip = std::fs::read_to_string(dir.path().join("pos/settlements/000001.txt"))?;
    ensure!(
        slip.contains("结算总计单")
            && slip.contains("内卡 DOMESTIC: 对账平 BALANCED")
            && slip.contains("BATCH NO.: 000001")
            && slip.lines().any(|l| l.starts_with("消费 SALE") && l.contains(" 2 ") && l.ends_with("349.00")),
        "the settlement slip: {slip}"
    );
    // The rows line up on a slip printer, where a Chinese character takes two columns.
    let columns = |l: &str| l.chars().map(|c| if c >= '\u{1100}' { 2 } else { 1 }).sum::<usize>();
    let rows: std::collections::BTreeSet<usize> = slip
        .lines()
        .filter(|l| ["消费 SALE", "消费撤销", "退货", "预授权完成", "完成撤销"].iter().any(|p| l.starts_with(p)))
        .map(columns)
        .collect();
    ensure!(rows.len() == 1, "the type rows line up: {slip}");
    let audit =
        Command::new(env!("CARGO_BIN_EXE_xingtong")).args(["admin", "audit", "--data-dir"]).arg(&data).output()?;
    ensure!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stderr));
    Ok(())
}

#[test]
fn a_sale_cut_off_by_a_server_crash_is_reversed_first_thing_after_the_restart() -> anyhow::Result<()> {
    if !tmux_available()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    // Fixed ports, so that the server comes back where the terminal looks for it.
    let free =
        || -> anyhow::Result<String> { Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.to_string()) };
    let (http, iso) = (free()?, free()?);
    let (mut server, printed) = serve(&data, &http, &iso)?;
    // A card whose issuer takes 8 s: the server dies while the sale waits for it.
    let slow = Command::new(env!("CARGO_BIN_EXE_xingtong"))
        .args([
            "admin",
            "sandbox",
            "card",
            "create",
            "--type",
            "credit",
            "--pin",
            "147258",
            "--delay-ms",
            "8000",
            "--json",
            "--data-dir",
        ])
        .arg(&data)
        .output()?;
    ensure!(slow.status.success(), "{}", String::from_utf8_lossy(&slow.stderr));
    let slow: serde_json::Value = serde_json::from_slice(&slow.stdout)?;
    let demo: serde_json::Value = serde_json::from_slice(&std::fs::read(data.join("demo-cards.json"))?)?;
    let good = demo.as_array().and_then(|c| c.first()).context("the good debit card")?;
    let cards = serde_json::json!([
        { "label": "slow issuer", "number": slow["number"], "expiry": slow["expiry"] },
        { "label": "good debit", "number": good["number"], "expiry": good["expiry"], "pin": "147258" },
    ]);
    let cards_file = dir.path().join("cards.json");
    std::fs::write(&cards_file, serde_json::to_vec(&cards)?)?;
    let command = terminal_command(&printed, &iso, &http, &dir.path().join("pos"), Some(&cards_file))?;
    let session = format!("xt-crash-{}", std::process::id());

    let result = (|| -> anyhow::Result<()> {
        let pos = Tmux::start(&session, &command)?;
        activate_and_sign_in(&pos)?;
        pos.keys(&["1", "1", "0", "0", "0", "Enter", "1"])?;
        pos.wait_for(&["Swipe a card", "slow issuer", "Sale ¥10.00"])?;
        pos.keys(&["1", "Enter"])?;
        pos.wait_for(&["Processing"])?;
        std::thread::sleep(Duration::from_millis(500));
        server.kill()?;
        server.wait()?;
        pos.wait_for(&["No answer from the host", "A reversal is pending"])?;
        // The server comes back; the next sale sends the reversal first, then is approved.
        let (restarted, _) = serve(&data, &http, &iso)?;
        server = restarted;
        pos.keys(&["Enter", "1", "2", "0", "0", "0", "Enter", "1"])?;
        pos.wait_for(&["Swipe a card"])?;
        pos.keys(&["2", "1", "4", "7", "2", "5", "8", "Enter"])?;
        let screen = pos.wait_for(&["Reversal sent first", "Approved", "RMB 20.00"])?;
        ensure!(!screen.contains("A reversal is pending"), "{screen}");
        Ok(())
    })();
    let _ = server.kill();
    let _ = server.wait();
    result?;
    let audit =
        Command::new(env!("CARGO_BIN_EXE_xingtong")).args(["admin", "audit", "--data-dir"]).arg(&data).output()?;
    ensure!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stderr));
    Ok(())
}

#[test]
fn demo_day_beside_a_running_server_draws_its_progress_bar_on_the_callers_terminal() -> anyhow::Result<()> {
    if !tmux_available()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let (mut server, _) = serve(&data, "127.0.0.1:0", "127.0.0.1:0")?;
    let session = format!("xt-day-{}", std::process::id());
    let result = (|| -> anyhow::Result<()> {
        // The server holds the data directory: the command hands the work to it over the admin
        // socket, and the server streams its progress back to this terminal.
        let command = format!(
            "env -u XINGTONG_CONFIG {} demo day --terminals 2 --data-dir {}; sleep 60",
            env!("CARGO_BIN_EXE_xingtong"),
            data.display()
        );
        let shell = Tmux::start(&session, &command)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let screen = loop {
            let screen = shell.screen()?;
            if screen.contains("ledger ") || Instant::now() > deadline {
                break screen;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let full = format!("demo day [{}] 2/2  terminal ", "#".repeat(30));
        ensure!(screen.contains(&full) && screen.contains("ledger balanced"), "{screen}");
        Ok(())
    })();
    let _ = server.kill();
    let _ = server.wait();
    result
}

#[test]
fn the_supervisor_turns_qr_on_and_a_payment_code_is_scanned_at_the_till() -> anyhow::Result<()> {
    if !tmux_available()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let (mut server, data, command) = served_terminal(dir.path())?;
    let session = format!("xt-qr-{}", std::process::id());
    let wallet: serde_json::Value = serde_json::from_str(
        crate::admin::cli(
            &data,
            &["admin", "sandbox", "wallet", "create", "--scheme", "wechat", "--balance", "50.00", "--json"],
            "",
        )?
        .trim(),
    )?;
    let wallet_id = wallet["id"].as_str().context("wallet id")?.to_owned();
    let code = || -> anyhow::Result<String> {
        let code: serde_json::Value = serde_json::from_str(
            crate::admin::cli(&data, &["admin", "sandbox", "wallet", "code", &wallet_id, "--json"], "")?.trim(),
        )?;
        Ok(code["code"].as_str().context("code")?.to_owned())
    };
    let result = (|| -> anyhow::Result<()> {
        let pos = Tmux::start(&session, &command)?;
        activate_and_sign_in(&pos)?;
        // QR is off: the card screen offers no scan.
        pos.keys(&["1", "1", "8", "5", "0", "Enter", "Enter"])?;
        let cards = pos.wait_for(&["Swipe a card", "Key the card number"])?;
        ensure!(!cards.contains("Scan a payment code"), "{cards}");
        pos.keys(&["Escape"])?;
        // The supervisor turns QR on.
        pos.keys(&["9"])?;
        pos.wait_for(&["Signed off", "Operator"])?;
        pos.keys(&["0", "0", "2", "4", "6", "8", "1", "0", "Enter"])?;
        pos.wait_for(&["Main menu", "operator 00"])?;
        pos.keys(&["8", "3"])?;
        pos.wait_for(&["QR on", "Default payment method: bank card", "6  Static code (台卡)"])?;
        // The static code to print, drawn with what it holds.
        pos.keys(&["6"])?;
        let printed = pos.wait_for(&["Static code (台卡)", "xingtong://static/", "¥500 a payer a day"])?;
        ensure!(printed.lines().filter(|l| l.contains("█")).count() >= 10, "{printed}");
        pos.keys(&["Escape"])?;
        pos.wait_for(&["Default payment method: bank card"])?;
        pos.keys(&["Escape"])?;
        // A sale of ¥18.50: Q, then the scanner types the code and Enter.
        pos.keys(&["1", "1", "8", "5", "0", "Enter", "Enter"])?;
        pos.wait_for(&["Swipe a card", "Q  Scan a payment code (QR)"])?;
        pos.keys(&["q"])?;
        pos.wait_for(&["QR payment ¥18.50", "Scan the customer's payment code", "Esc cancels"])?;
        let first = code()?;
        pos.keys(&[first.as_str(), "Enter"])?;
        let slip =
            pos.wait_for(&["Approved", "扫码消费 QR SALE", "PAY BY: 微信支付 WeChat Pay", "ORDER NO.:", "RMB 18.50"])?;
        ensure!(!slip.contains("CARD NO."), "{slip}");
        let voucher: String = slip.split("VOUCHER NO.: ").nth(1).context("voucher")?.chars().take(6).collect();
        pos.keys(&["Enter"])?;
        // The same code again: declined, with what to do.
        pos.keys(&["1", "1", "0", "0", "Enter", "Enter", "q", first.as_str(), "Enter"])?;
        pos.wait_for(&["Declined", "The payment code was used: ask the customer to refresh it"])?;
        pos.keys(&["Enter"])?;
        // Something that is no payment code: not recognised, nothing recorded.
        pos.keys(&["1", "1", "0", "0", "Enter", "Enter", "q", "hello", "Enter"])?;
        pos.wait_for(&["Declined", "QR not recognised: scan the customer's payment code"])?;
        pos.keys(&["Enter"])?;
        // Cancelled on the scan screen before anything is sent: back to the card choice.
        pos.keys(&["1", "1", "0", "0", "Enter", "Enter", "q"])?;
        pos.wait_for(&["Scan the customer's payment code"])?;
        pos.keys(&["Escape"])?;
        pos.wait_for(&["Swipe a card"])?;
        pos.keys(&["Escape"])?;
        // QR as the default method: a sale goes straight to the scan screen.
        pos.keys(&["8", "4"])?;
        pos.wait_for(&["Default payment method: QR"])?;
        pos.keys(&["Escape", "1", "2", "0", "0", "Enter", "Enter"])?;
        pos.wait_for(&["QR payment ¥2.00"])?;
        pos.keys(&[code()?.as_str(), "Enter"])?;
        pos.wait_for(&["Approved", "扫码消费 QR SALE", "RMB 2.00"])?;
        pos.keys(&["Enter"])?;
        // The first QR sale voided by the supervisor: the money goes back to the wallet.
        pos.keys(&["3"])?;
        pos.wait_for(&["Void", "Original voucher no."])?;
        for d in voucher.chars() {
            pos.keys(&[&d.to_string()])?;
        }
        pos.keys(&["Enter"])?;
        pos.wait_for(&["Supervisor PIN", "¥18.50"])?;
        pos.keys(&["2", "4", "6", "8", "1", "0", "Enter"])?;
        pos.wait_for(&["Approved", "撤销 VOID"])?;
        pos.keys(&["Enter"])?;
        // The customer scans instead: Tab on the scan screen, WeChat Pay; the code is drawn, and
        // the terminal asks after the order until the customer (here the command line) pays.
        pos.keys(&["1", "3", "0", "0", "Enter", "Enter"])?;
        pos.wait_for(&["QR payment ¥3.00", "Tab shows a code"])?;
        pos.keys(&["Tab"])?;
        pos.wait_for(&["Customer scans ¥3.00", "1  WeChat Pay"])?;
        pos.keys(&["1"])?;
        let shown =
            pos.wait_for(&["Customer: scan to pay ¥3.00 · WeChat Pay", "xtsandbox://wechat/", "Esc closes the order"])?;
        ensure!(
            shown.lines().filter(|l| l.contains("█") && l.contains("▀")).count() >= 10,
            "a QR code is drawn: {shown}"
        );
        let url: String = shown
            .split("xtsandbox://wechat/")
            .nth(1)
            .map(|rest| {
                format!(
                    "xtsandbox://wechat/{}",
                    rest.split(|c: char| c.is_whitespace() || c == '│').next().unwrap_or("")
                )
            })
            .context("the code's URL")?;
        crate::admin::cli(&data, &["admin", "sandbox", "wallet", "scan", &wallet_id, &url], "")?;
        pos.wait_for(&["Approved", "扫码消费 QR SALE", "PAY BY: 微信支付 WeChat Pay", "RMB 3.00"])?;
        pos.keys(&["Enter"])?;
        // Another, which the customer walks away from: Esc closes it, nothing taken.
        pos.keys(&["1", "4", "0", "0", "Enter", "Enter", "Tab", "2"])?;
        pos.wait_for(&["Customer: scan to pay ¥4.00 · Alipay", "xtsandbox://alipay/"])?;
        pos.keys(&["Escape"])?;
        pos.wait_for(&["Declined", "The order is closed: nothing was taken"])?;
        pos.keys(&["Enter"])?;
        // Settlement: the QR sales count with the domestic cards and the host agrees.
        pos.keys(&["S"])?;
        pos.wait_for(&["Domestic cards: debits 3 ¥23.50 · credits 1 ¥18.50", "Balanced: the host's totals agree"])?;
        pos.keys(&["Enter", "Escape"])?;
        Ok(())
    })();
    let balance = (|| -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_str(
            crate::admin::cli(&data, &["admin", "sandbox", "wallet", "show", &wallet_id, "--json"], "")?.trim(),
        )?)
    })();
    let _ = server.kill();
    let _ = server.wait();
    result?;
    let balance = balance?;
    ensure!(balance["balance_minor"] == 5_000 - 200 - 300, "the ¥2.00 and ¥3.00 sales stay paid: {balance}");
    Ok(())
}

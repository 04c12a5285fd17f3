//! What the device keeps across restarts, in its directory (`--dir`): its language, identity and
//! master key (`device.json`, readable by its owner only), the terminal library's counters and
//! pending reversal (`pos/`), its journal of transactions (`journal.jsonl`) and its receipts
//! (`receipts/`). A real terminal keeps the same in its secure memory and flash.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The device's own settings and identity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceState {
    /// `zh` or `en`.
    pub language: String,
    /// Merchant number, once activated.
    pub mid: Option<String>,
    /// Terminal id, once activated.
    pub tid: Option<String>,
    /// The merchant's name, for receipts.
    pub merchant_name: Option<String>,
    /// The TMK in hex, once activated (the file is the owner's only).
    pub tmk_hex: Option<String>,
    /// The TMK's check value.
    pub tmk_check_value: Option<String>,
    /// The payment methods the supervisor enabled besides the bank card (always on): `qr` once
    /// enabled. The host takes bank cards only until QR payments land; the setting is kept.
    #[serde(default)]
    pub extra_methods: Vec<String>,
    /// The method a sale starts with: `card` (empty means card) or an enabled one. Until QR
    /// payments land every sale is by card; the choice is kept for then.
    #[serde(default)]
    pub default_method: String,
    /// How amounts are shown on screen: `RMB` (the default, as on the slip), `¥` or `CNY`. The
    /// currency itself is always the yuan (CNY, 156): the host takes nothing else.
    #[serde(default)]
    pub currency_label: String,
}

impl DeviceState {
    /// The default payment method: `card` unless the supervisor chose an enabled other.
    pub fn default_method(&self) -> &str {
        if self.default_method.is_empty() || !self.extra_methods.contains(&self.default_method) {
            "card"
        } else {
            &self.default_method
        }
    }

    /// True when the supervisor enabled QR payments.
    pub fn qr_enabled(&self) -> bool {
        self.extra_methods.iter().any(|m| m == "qr")
    }

    /// Turns QR payments on or off; the default falls back to the card when QR goes off.
    pub fn toggle_qr(&mut self) {
        if self.extra_methods.iter().any(|m| m == "qr") {
            self.extra_methods.retain(|m| m != "qr");
            if self.default_method == "qr" {
                self.default_method = "card".into();
            }
        } else {
            self.extra_methods.push("qr".into());
        }
    }

    /// The next enabled method as the default (card, then QR when enabled).
    pub fn cycle_default_method(&mut self) {
        self.default_method =
            if self.default_method() == "card" && self.extra_methods.iter().any(|m| m == "qr") { "qr" } else { "card" }
                .into();
    }

    /// The labels amounts can be shown with, in the order the setup screen offers them.
    pub const CURRENCY_LABELS: [&'static str; 3] = ["RMB", "¥", "CNY"];

    /// An amount as the screen shows it: `RMB 12.34`, `¥12.34` or `CNY 12.34`.
    pub fn money(&self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        let amount = format!("{sign}{}.{:02}", minor.unsigned_abs() / 100, minor.unsigned_abs() % 100);
        match self.currency_label.as_str() {
            "¥" => format!("¥{amount}"),
            "CNY" => format!("CNY {amount}"),
            _ => format!("RMB {amount}"),
        }
    }

    /// The next display label (settings menu).
    pub fn cycle_currency_label(&mut self) {
        let at = Self::CURRENCY_LABELS.iter().position(|l| *l == self.currency_label).unwrap_or(0);
        self.currency_label = Self::CURRENCY_LABELS[(at + 1) % Self::CURRENCY_LABELS.len()].into();
    }

    /// Activated: it has an identity and a master key.
    pub fn activated(&self) -> bool {
        self.tid.is_some() && self.tmk_hex.is_some() && self.mid.is_some()
    }
}

/// The device's directory.
#[derive(Debug, Clone)]
pub struct DeviceDir {
    dir: PathBuf,
}

/// One line of the journal: a transaction as the terminal saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    /// `sale`, `balance`, …
    pub kind: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Batch.
    pub batch: u32,
    /// Trace number.
    pub stan: u32,
    /// The host's answer.
    pub response_code: String,
    /// Retrieval reference number.
    pub rrn: Option<String>,
    /// Authorization code.
    pub auth_code: Option<String>,
    /// Masked card.
    pub card: String,
    /// Operator.
    pub operator: String,
    /// Host date and time (MMDD hhmmss).
    pub at: String,
    /// A sale's business type: 1 销售 sale, 2 收款 collection, 3 进货 purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business: Option<u8>,
    /// A QR sale's wallet (`WXP`, `ALP`, `UPQ`) and its payment id, from field 57 of the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<(String, String)>,
}

impl DeviceDir {
    /// The directory (made if missing, owner-only).
    pub fn open(dir: &Path) -> anyhow::Result<DeviceDir> {
        std::fs::create_dir_all(dir.join("receipts"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(DeviceDir { dir: dir.to_path_buf() })
    }

    /// Where the terminal library keeps its counters and pending reversal.
    pub fn pos_dir(&self) -> PathBuf {
        self.dir.join("pos")
    }

    /// The saved state, or a new device's.
    pub fn load(&self) -> DeviceState {
        std::fs::read(self.dir.join("device.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Saves the state (written whole, then renamed, so a crash leaves the old or the new).
    pub fn save(&self, state: &DeviceState) -> anyhow::Result<()> {
        let temp = self.dir.join("device.json.new");
        {
            let mut file = std::fs::File::create(&temp)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            file.write_all(&serde_json::to_vec_pretty(state)?)?;
            file.sync_all()?;
        }
        std::fs::rename(temp, self.dir.join("device.json"))?;
        Ok(())
    }

    /// Appends to the journal.
    pub fn journal(&self, entry: &JournalEntry) -> anyhow::Result<()> {
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("journal.jsonl"))?;
        writeln!(file, "{}", serde_json::to_string(entry)?)?;
        file.sync_data()?;
        Ok(())
    }

    /// The approved transaction of `kind` (`sale`, `preauth`) with this trace number in the
    /// journal, the latest if several batches used it: what a void, refund or completion names.
    pub fn find(&self, kind: &str, stan: u32) -> Option<JournalEntry> {
        let text = std::fs::read_to_string(self.dir.join("journal.jsonl")).ok()?;
        text.lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<JournalEntry>(line).ok())
            .find(|e| e.kind == kind && e.response_code == "00" && e.stan == stan)
    }

    /// Appends a line to the device log (`device.log`): what happened, never a PIN, key or whole
    /// card number.
    pub fn log(&self, line: &str) {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("device.log")) {
            let _ = writeln!(file, "{since} {line}");
        }
    }

    /// The device log's last `n` lines.
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        let text = std::fs::read_to_string(self.dir.join("device.log")).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }

    /// Copies the device log to `exports/device-log-<seconds>.txt`; returns the path.
    pub fn export_log(&self) -> anyhow::Result<PathBuf> {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        std::fs::create_dir_all(self.dir.join("exports"))?;
        let path = self.dir.join("exports").join(format!("device-log-{since}.txt"));
        std::fs::copy(self.dir.join("device.log"), &path)?;
        Ok(path)
    }

    /// The journal, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        let text = std::fs::read_to_string(self.dir.join("journal.jsonl")).unwrap_or_default();
        text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }

    /// The latest receipt written, if any.
    pub fn last_receipt(&self) -> Option<String> {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(self.dir.join("receipts")).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        std::fs::read_to_string(files.last()?).ok()
    }

    /// The receipt of voucher (trace) number `stan`, in the latest batch that has one.
    pub fn receipt_for(&self, stan: u32) -> Option<String> {
        let suffix = format!("-{stan:06}.txt");
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.join("receipts"))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(&suffix)))
            .collect();
        files.sort();
        std::fs::read_to_string(files.last()?).ok()
    }

    /// Writes a batch's settlement slip (结算单); returns its path.
    pub fn settlement_slip(&self, batch: u32, text: &str) -> anyhow::Result<PathBuf> {
        let dir = self.dir.join("settlements");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{batch:06}.txt"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Writes a receipt; returns its path.
    pub fn receipt(&self, batch: u32, stan: u32, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join("receipts").join(format!("{batch:06}-{stan:06}.txt"));
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

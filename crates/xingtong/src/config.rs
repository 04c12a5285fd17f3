//! Layered configuration: command-line flags, then `XINGTONG_*` environment variables, then the
//! TOML file named by `--config`, then the defaults below. Raw layers are parsed first and then
//! resolved into one [`ServeConfig`] that the rest of the program uses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Where the data lives by default: `./data`, beside wherever `xingtong serve` is run.
pub const DATA_DIR_DEFAULT: &str = "data";
/// The HTTP API listens here by default: loopback only, so nothing is open to the world until
/// an operator says so.
pub const HTTP_LISTEN_DEFAULT: &str = "127.0.0.1:8080";
/// Responses stored under an Idempotency-Key are kept this long (7 days) by default.
pub const IDEMPOTENCY_RETENTION_HOURS_DEFAULT: u64 = 7 * 24;
/// Terminals connect here by default (ISO 8583 over TCP); loopback until an operator opens it.
pub const ISO8583_LISTEN_DEFAULT: &str = "127.0.0.1:8583";

/// The file layer. Every key is optional; see `docs/configuration.md`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory (SQLite database, uploaded files).
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite.
    pub database: Option<String>,
    /// PostgreSQL schema to use (created if missing).
    pub database_schema: Option<String>,
    /// HTTP listen address.
    pub http_listen: Option<String>,
    /// ISO 8583 listen address for terminals.
    pub iso8583_listen: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// A tracing filter such as `info` or `xingtong=debug,info`.
    pub log_level: Option<String>,
    /// SQLite: fsync every commit (true, the default) or not.
    pub sqlite_fsync: Option<bool>,
    /// Read connections.
    pub readers: Option<usize>,
    /// How long responses stored under an Idempotency-Key are kept, in hours.
    pub idempotency_retention_hours: Option<u64>,
    /// The host master key file (terminal master keys rest encrypted under it).
    pub master_key_file: Option<PathBuf>,
    /// `host:port` of an SMTP relay for email notifications; without it they go to `<data_dir>/outbox`.
    pub smtp: Option<String>,
    /// The sender address of email notifications.
    pub smtp_from: Option<String>,
    /// The 4-digit region code inside new merchant numbers.
    pub mid_region_code: Option<String>,
    /// Card transactions one card may make at one merchant per minute (more answer 65).
    pub card_frequency_max: Option<usize>,
    /// Make the demo tenant when `serve` creates a database (default true).
    pub demo: Option<bool>,
    /// Seconds between scheduled runs (yesterday's clearing, due payouts); 0 turns them off.
    pub schedule_interval_s: Option<u64>,
    /// `HH:MM`, China time: batches no terminal settled are closed after it.
    pub batch_cut_off: Option<String>,
}

impl FileConfig {
    /// Reads the file; a missing file named explicitly is an error.
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Data directory.
    pub data_dir: PathBuf,
    /// PostgreSQL URL, if any.
    pub database: Option<String>,
    /// PostgreSQL schema, if any.
    pub database_schema: Option<String>,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// ISO 8583 listen address.
    pub iso8583_listen: SocketAddr,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// SQLite fsync.
    pub sqlite_fsync: bool,
    /// Read connections.
    pub readers: usize,
    /// Idempotency-Key retention.
    pub idempotency_retention: std::time::Duration,
    /// Host master key file.
    pub master_key_file: PathBuf,
    /// SMTP relay, if any.
    pub smtp: Option<String>,
    /// Email sender.
    pub smtp_from: String,
    /// Region code in MIDs.
    pub mid_region_code: String,
    /// Card frequency limit per minute.
    pub card_frequency_max: usize,
    /// Make the demo tenant when `serve` creates a database.
    pub demo: bool,
    /// Seconds between scheduled runs; 0: none.
    pub schedule_interval_s: u64,
    /// The batch cut-off, (hour, minute) China time.
    pub batch_cut_off: (u32, u32),
}

/// The flag-and-environment layer (clap fills it from both).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "XINGTONG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./data].
    #[arg(long, env = "XINGTONG_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://user@host/db` to use PostgreSQL; omit for the embedded SQLite.
    #[arg(long, env = "XINGTONG_DATABASE")]
    pub database: Option<String>,
    /// PostgreSQL schema to use instead of `public` (created if missing).
    #[arg(long, env = "XINGTONG_DATABASE_SCHEMA")]
    pub database_schema: Option<String>,
    /// HTTP listen address [default: 127.0.0.1:8080]; port 0 picks a free port.
    #[arg(long = "http", env = "XINGTONG_HTTP")]
    pub http_listen: Option<String>,
    /// ISO 8583 listen address for terminals [default: 127.0.0.1:8583]; port 0 picks a free port.
    #[arg(long = "iso8583", env = "XINGTONG_ISO8583")]
    pub iso8583_listen: Option<String>,
    /// `text` or `json` [default: text].
    #[arg(long, env = "XINGTONG_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Log filter [default: info].
    #[arg(long, env = "XINGTONG_LOG")]
    pub log_level: Option<String>,
    /// SQLite: fsync every commit [default: true].
    #[arg(long, env = "XINGTONG_SQLITE_FSYNC")]
    pub sqlite_fsync: Option<bool>,
    /// Host master key file [default: <data-dir>/master.key, made at first start]. Every process
    /// sharing one PostgreSQL database needs the same key.
    #[arg(long, env = "XINGTONG_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// SMTP relay `host:port` for email notifications [default: none: written to <data-dir>/outbox].
    #[arg(long, env = "XINGTONG_SMTP")]
    pub smtp: Option<String>,
    /// Card transactions one card may make at one merchant per minute; more answer 65 [default: 20].
    #[arg(long, env = "XINGTONG_CARD_FREQUENCY_MAX")]
    pub card_frequency_max: Option<usize>,
    /// `serve` on a new database: do not make the demo tenant.
    #[arg(long, env = "XINGTONG_NO_DEMO")]
    pub no_demo: bool,
    /// Seconds between scheduled runs inside `serve`: clearing of yesterday once it is over, then
    /// the payouts due; 0 turns them off [default: 60].
    #[arg(long, env = "XINGTONG_SCHEDULE_INTERVAL_S")]
    pub schedule_interval_s: Option<u64>,
    /// `HH:MM`, China time: each day after it, `serve` closes the batches no terminal settled
    /// [default: 23:00].
    #[arg(long, env = "XINGTONG_BATCH_CUT_OFF")]
    pub batch_cut_off: Option<String>,
}

impl ServeArgs {
    /// Resolves the layers.
    pub fn resolve(&self) -> anyhow::Result<ServeConfig> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let http = self.http_listen.clone().or(file.http_listen).unwrap_or_else(|| HTTP_LISTEN_DEFAULT.into());
        let http_listen =
            http.parse().with_context(|| format!("--http {http:?} is not an address like 127.0.0.1:8080"))?;
        let iso = self.iso8583_listen.clone().or(file.iso8583_listen).unwrap_or_else(|| ISO8583_LISTEN_DEFAULT.into());
        let iso8583_listen =
            iso.parse().with_context(|| format!("--iso8583 {iso:?} is not an address like 127.0.0.1:8583"))?;
        let log_format = match self.log_format.clone().or(file.log_format).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => anyhow::bail!("log format {other:?}: use text or json"),
        };
        let data_dir: PathBuf = self.data_dir.clone().or(file.data_dir).unwrap_or_else(|| DATA_DIR_DEFAULT.into());
        let mid_region_code = file.mid_region_code.unwrap_or_else(|| "3100".into());
        anyhow::ensure!(
            mid_region_code.len() == 4 && mid_region_code.bytes().all(|b| b.is_ascii_digit()),
            "mid_region_code {mid_region_code:?}: four digits"
        );
        Ok(ServeConfig {
            master_key_file: self
                .master_key_file
                .clone()
                .or(file.master_key_file)
                .unwrap_or_else(|| data_dir.join("master.key")),
            smtp: self.smtp.clone().or(file.smtp).filter(|s| !s.is_empty()),
            smtp_from: file.smtp_from.unwrap_or_else(|| "noreply@xingtong.invalid".into()),
            mid_region_code,
            card_frequency_max: self.card_frequency_max.or(file.card_frequency_max).unwrap_or(20).max(1),
            demo: !self.no_demo && file.demo.unwrap_or(true),
            schedule_interval_s: self.schedule_interval_s.or(file.schedule_interval_s).unwrap_or(60),
            batch_cut_off: parse_cut_off(
                self.batch_cut_off.as_deref().or(file.batch_cut_off.as_deref()).unwrap_or("23:00"),
            )?,
            data_dir,
            database: self.database.clone().or(file.database).filter(|d| !d.is_empty()),
            database_schema: self.database_schema.clone().or(file.database_schema).filter(|d| !d.is_empty()),
            http_listen,
            iso8583_listen,
            log_format,
            log_level: self.log_level.clone().or(file.log_level).unwrap_or_else(|| "info".into()),
            sqlite_fsync: self.sqlite_fsync.or(file.sqlite_fsync).unwrap_or(true),
            readers: file.readers.unwrap_or(4).max(1),
            idempotency_retention: std::time::Duration::from_secs(
                3_600 * file.idempotency_retention_hours.unwrap_or(IDEMPOTENCY_RETENTION_HOURS_DEFAULT).max(1),
            ),
        })
    }
}

/// `HH:MM` (00:00–23:59) as (hour, minute).
fn parse_cut_off(value: &str) -> anyhow::Result<(u32, u32)> {
    let parsed = value.split_once(':').and_then(|(h, m)| {
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60 && value.len() == 5).then_some((h, m))
    });
    parsed.ok_or_else(|| anyhow::anyhow!("batch cut-off {value:?} is not a time like 23:00"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_cut_off_is_a_time_of_day() {
        assert_eq!(super::parse_cut_off("23:00").unwrap(), (23, 0));
        assert_eq!(super::parse_cut_off("07:05").unwrap(), (7, 5));
        for bad in ["24:00", "23:60", "7:05", "2300", "23:0a", ""] {
            assert!(super::parse_cut_off(bad).is_err(), "{bad}");
        }
    }

    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.toml");
        std::fs::write(&path, "data_dir = \"/srv/xt\"\nhttp_listen = \"0.0.0.0:9000\"\nlog_format = \"json\"\n")
            .unwrap();
        let args =
            ServeArgs { config: Some(path.clone()), http_listen: Some("127.0.0.1:0".into()), ..ServeArgs::default() };
        let config = args.resolve().unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/xt"));
        assert_eq!(config.http_listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.log_format, LogFormat::Json);
        let defaults = ServeArgs::default().resolve().unwrap();
        assert_eq!(defaults.data_dir, PathBuf::from(DATA_DIR_DEFAULT));
        assert_eq!(defaults.http_listen, HTTP_LISTEN_DEFAULT.parse().unwrap());
        assert!(defaults.sqlite_fsync);
        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        assert!(ServeArgs { config: Some(path), ..ServeArgs::default() }.resolve().is_err());
        assert!(ServeArgs { http_listen: Some("nonsense".into()), ..ServeArgs::default() }.resolve().is_err());
    }
}

//! `xingtong`: the one binary. It parses the command line and hands off to the crates that do the
//! work; nothing here knows SQL, JSON wire formats or ledger rules.
//!
//! - `serve`: HTTP API and the ISO 8583 gateway for terminals (web consoles to come).
//! - `admin`: operator tasks: run here, or by the running server that holds the data directory
//!   (`admin.rs`).
//! - `bench`: benchmarks that print figures (`--json` for machines).

mod admin;
mod config;
mod demo;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xingtong_store::{Database, Store, StoreOptions};

use crate::config::{LogFormat, ServeArgs, ServeConfig};

/// XingTong (星通): an open-source POS acquiring platform.
#[derive(Debug, Parser)]
#[command(name = "xingtong", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform: HTTP API on an embedded database (or PostgreSQL with --database).
    Serve(ServeArgs),
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// A POS terminal in this shell: activation, sign-in, sales, voids, refunds, pre-authorizations,
    /// balance inquiries and settlement over ISO 8583, with receipts (keyboard only; 80×24 or
    /// larger; NO_COLOR=1 or TERM=dumb for a plain terminal).
    Terminal {
        /// The host's ISO 8583 address.
        #[arg(long, default_value = "127.0.0.1:8583")]
        host: String,
        /// The host's HTTP address (for activation).
        #[arg(long, default_value = "127.0.0.1:8080")]
        api: String,
        /// The device's directory: its keys, counters, journal and receipts.
        #[arg(long, default_value = "terminal")]
        dir: std::path::PathBuf,
        /// zh or en (asked at first power-on otherwise).
        #[arg(long)]
        lang: Option<String>,
        /// Cards to swipe: a JSON list such as the demo's `data/demo-cards.json`.
        #[arg(long)]
        cards: Option<std::path::PathBuf>,
        /// Pre-fill activation: merchant number.
        #[arg(long)]
        mid: Option<String>,
        /// Pre-fill activation: serial number.
        #[arg(long)]
        serial: Option<String>,
        /// Pre-fill activation: activation code.
        #[arg(long)]
        code: Option<String>,
    },
    /// The demo tenant (`serve` makes it on a new database).
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// Benchmarks; they print figures and never judge them.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// API keys.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Operations staff accounts.
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
    /// Merchant applications: the review queue and decisions.
    Application {
        #[command(subcommand)]
        command: ApplicationCommand,
    },
    /// Terminals.
    Terminal {
        #[command(subcommand)]
        command: TerminalCommand,
    },
    /// The sandbox card issuer.
    Sandbox {
        #[command(subcommand)]
        command: SandboxCommand,
    },
    /// Payouts: settlements' money to merchants' bank cards.
    Payouts {
        #[command(subcommand)]
        command: PayoutsCommand,
    },
    /// Reconciliation (对账): a business day against the card network's clearing file.
    Reconciliation {
        #[command(subcommand)]
        command: ReconciliationCommand,
    },
    /// Device deposits (押金): show, pay with a card, waive.
    Deposit {
        #[command(subcommand)]
        command: DepositCommand,
    },
    /// Reports (报表): the same as the merchant console's and `GET /v1/merchants/{mid}/reports/…`.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Clearing (清算): a business day's settlements.
    Clearing {
        #[command(subcommand)]
        command: ClearingCommand,
    },
    /// Check that every ledger balances; exits non-zero if not.
    Audit {
        /// List every account whose balances differ from its transfers, every unbalanced ledger and
        /// every transfer that cannot be replayed (reads the whole ledger; changes nothing).
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PayoutsCommand {
    /// Pay what is due, ask the bank about unanswered payouts, send again failed ones whose card
    /// changed (what `serve` does every minute on its own).
    Run {
        /// Pay what is due on this day, YYYY-MM-DD; default: today.
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A merchant's payouts (settlements' and deposit refunds'), oldest first, with their last
    /// attempt; and what its settlement payable holds (a failed payout's money waits there).
    List {
        /// Merchant number.
        #[arg(long)]
        mid: String,
        /// Only these statuses, comma-separated: scheduled, sending, paid, failed.
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ReconciliationCommand {
    /// Match a business day's transactions against the network's clearing file (or --file) and
    /// store the report; the same file again gives the same report.
    Run {
        /// The business day, YYYY-MM-DD (China time); default: yesterday.
        #[arg(long)]
        date: Option<String>,
        /// A clearing file to use instead of the network's own (docs/settlement.md §6).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// Whose payments: card (the card network's clearing file), or a wallet's bill file:
        /// wechat, alipay, unionpay_qr.
        #[arg(long, default_value = "card")]
        source: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A business day's stored report.
    Show {
        /// The business day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Whose payments: card (the card network's clearing file), or a wallet's bill file:
        /// wechat, alipay, unionpay_qr.
        #[arg(long, default_value = "card")]
        source: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Whose report, over which business days.
#[derive(Debug, clap::Args)]
struct ReportDays {
    /// Merchant number.
    #[arg(long)]
    mid: String,
    /// First business day, YYYY-MM-DD.
    #[arg(long)]
    from: String,
    /// Last business day, YYYY-MM-DD (at most 366 days after --from).
    #[arg(long)]
    to: String,
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// The sales report (销售报表): sales, voids, refunds, fees and net.
    Sales {
        #[command(flatten)]
        days: ReportDays,
        /// A line per `day`, `week` (ISO) or `month`.
        #[arg(long, default_value = "day")]
        period: String,
        /// Split each period by `total` (not at all), `terminal`, `cashier`, `method` or `business_type`.
        #[arg(long, default_value = "total")]
        by: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The collection report (收款报表): by payment method, what was collected, refunded and charged.
    Collections {
        #[command(flatten)]
        days: ReportDays,
        /// A line per `day`, `week` (ISO) or `month`, and method.
        #[arg(long, default_value = "day")]
        period: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refunds one by one (退货明细): every refund made over the days, with its original.
    Refunds {
        #[command(flatten)]
        days: ReportDays,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The settlement report (结算报表): settlements by the business day each cleared.
    Settlements {
        #[command(flatten)]
        days: ReportDays,
        /// A line per `day`, `week` (ISO) or `month`.
        #[arg(long, default_value = "day")]
        period: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DepositCommand {
    /// A device's deposit and its progress toward the refund.
    Show {
        /// Terminal id.
        #[arg(long)]
        tid: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pay a device's deposit with a (sandbox) card, as the merchant would.
    Pay {
        /// Terminal id.
        #[arg(long)]
        tid: String,
        /// Card number.
        #[arg(long)]
        card: String,
        /// YYMM.
        #[arg(long)]
        expiry: Option<String>,
        /// The card's PIN.
        #[arg(long)]
        pin: xingtong_crypto::SecretString,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Waive a device's deposit (nothing paid, nothing refunded), with a reason the merchant reads.
    Waive {
        /// Terminal id.
        #[arg(long)]
        tid: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClearingCommand {
    /// Clear a business day for every merchant: one settlement per merchant-day, its lines and
    /// its ledger transfers. Run again, it changes nothing.
    Run {
        /// The business day, YYYY-MM-DD (China time); default: yesterday.
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A merchant's settlement of a day, with its lines.
    Show {
        /// The merchant number.
        #[arg(long)]
        mid: String,
        /// The business day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DemoCommand {
    /// Fill the demo tenant with a day of card transactions on new terminals (sales, voids,
    /// refunds, a declined card, a reversal), over ISO 8583 like real terminals.
    Day {
        /// How many terminals.
        #[arg(long, default_value_t = 3)]
        terminals: usize,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Make a new API key and print it once.
    Create {
        /// What the key may do: admin (operations staff).
        #[arg(long, default_value = "admin")]
        role: String,
        /// A label to recognise it by.
        #[arg(long, default_value = "created from the command line")]
        label: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum StaffCommand {
    /// Make a staff account; the password is read from standard input (one line).
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Roles, comma-separated: admin, reviewer, risk, finance.
        #[arg(long, value_delimiter = ',', required = true)]
        role: Vec<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ApplicationCommand {
    /// List applications, by default the review queue (submitted and under review).
    List {
        /// Statuses, comma-separated [default: submitted,under_review].
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take an application for review, then approve it: merchant, accounts and device order.
    Approve {
        /// Application id.
        id: String,
        /// Merchant category code [default: 5399].
        #[arg(long)]
        mcc: Option<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take an application for review, then reject it with a reason.
    Reject {
        /// Application id.
        id: String,
        /// Why; the applicant reads it.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        database: ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TerminalCommand {
    /// Which payment methods a terminal takes (card, QR) and its default; with no option, shows them.
    PaymentMethods {
        /// Terminal id.
        #[arg(long)]
        tid: String,
        /// on or off.
        #[arg(long)]
        card: Option<String>,
        /// on or off.
        #[arg(long)]
        qr: Option<String>,
        /// card or qr.
        #[arg(long = "default")]
        default_method: Option<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A terminal's settled batches (批结算), by batch number: the host's totals and how each ended.
    Batches {
        /// Terminal id.
        #[arg(long)]
        tid: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON (one batch per line).
        #[arg(long)]
        json: bool,
    },
    /// Make a terminal for a merchant, bound at once, and print its TMK for key loading.
    Provision {
        /// Merchant number.
        #[arg(long)]
        mid: String,
        /// Serial number [default: a new XT… number].
        #[arg(long)]
        serial: Option<String>,
        /// Model [default: XT-P1].
        #[arg(long)]
        model: Option<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SandboxCommand {
    /// Test cards.
    Card {
        #[command(subcommand)]
        command: SandboxCardCommand,
    },
    /// Wallet users (WeChat Pay, Alipay, UnionPay QR) and their payment codes (docs/qr.md).
    Wallet {
        #[command(subcommand)]
        command: SandboxWalletCommand,
    },
    /// Print the sandbox card network's clearing file of a business day.
    ClearingFile {
        /// The business day, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Whose payments: card (the card network's clearing file), or a wallet's bill file:
        /// wechat, alipay, unionpay_qr.
        #[arg(long, default_value = "card")]
        source: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON ({"name", "text"}).
        #[arg(long)]
        json: bool,
    },
    /// Make the sandbox network's clearing file disagree with the host on one transaction:
    /// omit (it never saw it), late_approval (it approved a sale the host reversed), amount (its
    /// amount differs by --delta).
    ClearingFault {
        /// The transaction, <TID>-<batch>-<STAN>.
        #[arg(long)]
        txn: String,
        /// omit, late_approval or amount.
        #[arg(long)]
        kind: String,
        /// For amount: what the network adds, in yuan (e.g. 1.00 or -0.50).
        #[arg(long, allow_hyphen_values = true)]
        delta: Option<String>,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// How the sandbox settlement bank treats payouts to a card: open (paid), closed (fails
    /// account_closed), a holder name it insists on (else name_mismatch), answers it loses.
    BankAccount {
        /// The merchant's settlement card number.
        #[arg(long)]
        card: String,
        /// open or closed.
        #[arg(long, default_value = "open")]
        state: String,
        /// Fail payouts to any other holder name.
        #[arg(long)]
        holder: Option<String>,
        /// Execute the next N payouts but lose their answers (the outcome unknown until asked).
        #[arg(long, default_value_t = 0)]
        lose_answers: u32,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SandboxCardCommand {
    /// Make a test card with a balance (debit) or credit limit (credit), and print its number.
    Create {
        /// unionpay, visa or mastercard.
        #[arg(long, default_value = "unionpay")]
        brand: String,
        /// debit or credit.
        #[arg(long = "type", default_value = "debit")]
        card_type: String,
        /// The PIN (4–12 digits).
        #[arg(long)]
        pin: xingtong_crypto::SecretString,
        /// Balance or credit limit, in yuan (e.g. 1000.00).
        #[arg(long, default_value = "10000.00")]
        balance: String,
        /// Expiry YYMM [default: five years from now].
        #[arg(long)]
        expiry: Option<String>,
        /// active, blocked, lost or stolen.
        #[arg(long, default_value = "active")]
        status: String,
        /// The issuer answers this many ms late.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// The issuer never answers.
        #[arg(long)]
        timeout: bool,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SandboxWalletCommand {
    /// Make a wallet user with a balance, and print its id.
    Create {
        /// wechat, alipay or unionpay_qr.
        #[arg(long, default_value = "wechat")]
        scheme: String,
        /// Balance, in yuan (e.g. 500.00).
        #[arg(long, default_value = "1000.00")]
        balance: String,
        /// The user's name.
        #[arg(long)]
        name: Option<String>,
        /// The app asks for a password, which the user enters after this many ms ("user paying").
        #[arg(long)]
        confirm_after_ms: Option<u64>,
        /// The app asks for a password that is never entered.
        #[arg(long)]
        never_confirms: bool,
        /// Asked for the password, the user cancels in the app instead.
        #[arg(long)]
        cancels: bool,
        /// The wallet does not answer at all.
        #[arg(long)]
        unavailable: bool,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A wallet user and its balance.
    Show {
        /// The wallet's id, e.g. wechat-48213077.
        id: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A fresh payment code (付款码) of the wallet: scan it (or type it) at the till within a minute.
    Code {
        /// The wallet's id.
        id: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The wallet's user scans a dynamic code (a QR order's code_url, xtsandbox://…) and pays it.
    /// A terminal's static code is paid over the API (POST /v1/sandbox/wallets/{id}/scans).
    Scan {
        /// The wallet's id.
        id: String,
        /// What the QR code holds (the order's code_url).
        code_url: String,
        #[command(flatten)]
        database: ServeArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The merchant console's pages for a merchant with a million transactions: the transaction
    /// list, the month's sales report, the settlement list (docs/performance.md).
    Console {
        /// Transactions of the merchant.
        #[arg(long, default_value_t = 1_000_000)]
        transactions: u32,
        /// Business days they spread over, ending 2026-11-26.
        #[arg(long, default_value_t = 100)]
        days: u32,
        /// Timed requests of each page (after one to warm it).
        #[arg(long, default_value_t = 20)]
        rounds: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clearing of a business day: 1,000,000 card transactions of 10,000 merchants by default;
    /// every settlement, line, ledger transfer and payout durable (docs/performance.md).
    Clearing {
        /// PostgreSQL to measure as well (a schema of its own is made and dropped).
        #[arg(long, env = "XINGTONG_BENCH_POSTGRES_URL")]
        postgres: Option<String>,
        /// Merchants.
        #[arg(long, default_value_t = 10_000)]
        merchants: u32,
        /// Card transactions in all.
        #[arg(long, default_value_t = 1_000_000)]
        transactions: u32,
        /// Write the day (business day 2026-11-26) into this SQLite data directory, kept, instead
        /// of a temporary one.
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Only write the day, clear nothing: then `xingtong admin clearing run --date 2026-11-26`.
        #[arg(long, requires = "data_dir")]
        write_only: bool,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// ISO 8583 packs and unpacks per second of a typical CUP sale, on one core.
    Codec {
        /// Rounds to take the median of.
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Seconds per round.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Card sales per second over ISO 8583 and JSON against a server started for the run.
    Auth {
        /// PostgreSQL to measure as well (a schema of its own is made and dropped).
        #[arg(long, env = "XINGTONG_BENCH_POSTGRES_URL")]
        postgres: Option<String>,
        /// Terminals, each of its own merchant (JSON: four clients per merchant).
        #[arg(long, default_value_t = 8)]
        terminals: usize,
        /// Sales each terminal keeps in flight at the peak.
        #[arg(long, default_value_t = 16)]
        depth: usize,
        /// Seconds per measured phase.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Skip the JSON API.
        #[arg(long)]
        skip_json: bool,
        /// QR sales (B扫C: the cashier scans the customer's payment code) against sandbox wallets,
        /// instead of card sales; payment codes come from the sandbox API, 256 per request.
        #[arg(long)]
        qr: bool,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Durable ledger transfers per second and commit latency, per backend.
    Ledger {
        /// PostgreSQL to measure as well (a schema of its own is made and dropped).
        #[arg(long, env = "XINGTONG_BENCH_POSTGRES_URL")]
        postgres: Option<String>,
        /// Accounts the transfers are spread over, uniformly.
        #[arg(long, default_value_t = 10_000)]
        accounts: u32,
        /// Longest time per scenario, seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Print the report as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Every request allocates (messages, records, replies) on a few threads: with mimalloc the server
/// spends 68-72 µs of CPU per card sale against 83-88 with glibc's allocator (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Prints a line of a command's output (an error, not a panic, when stdout is gone).
fn emit(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("xingtong: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xingtong: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args.resolve()?).await,
        Command::Admin { command } => {
            let (database, json, request) = admin_request(command)?;
            admin(&database, json, request).await
        }
        Command::Terminal { host, api, dir, lang, cards, mid, serial, code } => {
            let resolve = |what: &str, address: &str| -> anyhow::Result<std::net::SocketAddr> {
                use std::net::ToSocketAddrs;
                address
                    .to_socket_addrs()
                    .with_context(|| format!("--{what} {address:?} is not an address like 127.0.0.1:8583"))?
                    .next()
                    .with_context(|| format!("--{what} {address:?} resolves to nothing"))
            };
            if lang.as_deref().is_some_and(|l| l != "zh" && l != "en") {
                anyhow::bail!("--lang is zh or en");
            }
            let options = xingtong_terminal::Options {
                host: resolve("host", &host)?,
                api: resolve("api", &api)?,
                dir,
                language: lang,
                cards,
                prefill: [mid, serial, code],
            };
            xingtong_terminal::run(options).await
        }
        Command::Demo { command: DemoCommand::Day { terminals, database, json } } => {
            admin(&database, json, admin::AdminRequest::DemoDay { terminals: terminals.clamp(1, 20) }).await
        }
        Command::Bench { command: BenchCommand::Codec { rounds, seconds, json } } => {
            let report =
                xingtong_bench::codec::run(rounds.max(1), std::time::Duration::from_secs_f64(seconds.max(0.01)))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} ({} bytes, {} fields): pack {:.0}/s ({:.1}× jPOS 2010), unpack {:.0}/s ({:.1}× jPOS 2010)",
                    report.message,
                    report.message_bytes,
                    report.fields,
                    report.pack.per_second_median,
                    report.pack.ratio_to_jpos_2010,
                    report.unpack.per_second_median,
                    report.unpack.ratio_to_jpos_2010
                );
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Auth { postgres, terminals, depth, seconds, skip_json, qr, json } } => {
            let options = xingtong_bench::auth::AuthBenchOptions {
                server_binary: std::env::current_exe().context("finding this binary")?,
                postgres_url: postgres.filter(|p| !p.is_empty()),
                terminals: terminals.max(1),
                depth: depth.max(1),
                seconds: seconds.max(0.2),
                skip_json,
                qr,
            };
            let report = xingtong_bench::auth::run(&options, &|line| eprintln!("{line}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Console { transactions, days, rounds, json } } => {
            let options = xingtong_bench::console::ConsoleBenchOptions { transactions, days, rounds };
            let report = xingtong_bench::console::run(&options, &|line| eprintln!("{line}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "console pages, a merchant with {} transactions over {} days (sqlite; written in {:.1} s):",
                    report.transactions, report.days, report.setup_s
                );
                for p in &report.pages {
                    println!(
                        "  {:<70} median {:>6.1} ms  p95 {:>6.1} ms  first {:>7.1} ms  {}",
                        p.page,
                        p.median_ms,
                        p.p95_ms,
                        p.first_ms,
                        if p.within_target { "within 100 ms" } else { "OVER 100 ms" }
                    );
                }
            }
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Clearing { postgres, merchants, transactions, data_dir, write_only, json },
        } => {
            anyhow::ensure!(merchants <= 99_999, "--merchants: at most 99,999");
            let options = xingtong_bench::clearing::ClearingBenchOptions {
                merchants: merchants.max(1),
                transactions: transactions.max(1),
                postgres_url: if write_only { None } else { postgres.filter(|p| !p.is_empty()) },
                data_dir,
                write_only,
            };
            let report = xingtong_bench::clearing::run(&options, &|line| eprintln!("{line}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for b in &report.backends {
                    match &b.skipped {
                        Some(why) => println!("{}: skipped ({why})", b.backend),
                        None => println!(
                            "{}: {} settlements, {} lines cleared in {:.2} s ({:.0} lines/s; target on SQLite {} s); checked: {}",
                            b.backend,
                            b.settlements,
                            b.lines,
                            b.clearing_s,
                            b.lines_per_s,
                            report.target_sqlite_s,
                            b.checked
                        ),
                    }
                }
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Ledger { postgres, accounts, seconds, json } } => {
            let options = xingtong_bench::ledger::LedgerBenchOptions {
                postgres_url: postgres.filter(|p| !p.is_empty()),
                accounts: accounts.max(2),
                scenario_seconds_max: seconds.max(0.1),
                ..Default::default()
            };
            let report = xingtong_bench::ledger::run(&options, &|line| eprintln!("{line}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(())
        }
    }
}

/// The request an `admin` command line makes, with where and how to print.
/// `YYYY-MM-DD` (or `YYYYMMDD`) as a business day `YYYYMMDD`, refused unless a real date.
fn business_day_arg(date: &str) -> anyhow::Result<String> {
    let day: String = date.chars().filter(|c| *c != '-').collect();
    anyhow::ensure!(
        xingtong_payments::clearing::valid_day(&day) && (date.len() == 10 || date.len() == 8),
        "--date {date:?} is not a date like 2026-11-27"
    );
    Ok(day)
}

fn admin_request(command: AdminCommand) -> anyhow::Result<(ServeArgs, bool, admin::AdminRequest)> {
    use admin::AdminRequest as R;
    Ok(match command {
        AdminCommand::ApiKey { command: ApiKeyCommand::Create { role, label, database, json } } => {
            // Refused before anything is opened (or made).
            admin::check_api_key_role(&role)?;
            (database, json, R::ApiKeyCreate { role, label })
        }
        AdminCommand::Staff { command: StaffCommand::Create { username, name, role, database, json } } => {
            for r in &role {
                xingtong_merchants::Role::parse(r.trim())
                    .with_context(|| format!("unknown role {r:?}: use admin, reviewer, risk or finance"))?;
            }
            let mut password_line = String::new();
            std::io::stdin().read_line(&mut password_line).context("reading the password from standard input")?;
            let password = xingtong_crypto::SecretString::new(password_line.trim_end_matches(['\r', '\n']));
            drop(zeroize::Zeroizing::new(password_line));
            (database, json, R::StaffCreate { username, name, roles: role, password })
        }
        AdminCommand::Application { command } => match command {
            ApplicationCommand::List { status, database, json } => {
                (database, json, R::ApplicationList { statuses: status })
            }
            ApplicationCommand::Approve { id, mcc, database, json } => {
                (database, json, R::ApplicationApprove { id, mcc })
            }
            ApplicationCommand::Reject { id, reason, database } => {
                (database, false, R::ApplicationReject { id, reason })
            }
        },
        AdminCommand::Terminal {
            command: TerminalCommand::PaymentMethods { tid, card, qr, default_method, database, json },
        } => {
            let on_off = |flag: &str, value: Option<String>| -> anyhow::Result<Option<bool>> {
                match value.as_deref() {
                    None => Ok(None),
                    Some("on") => Ok(Some(true)),
                    Some("off") => Ok(Some(false)),
                    Some(other) => anyhow::bail!("--{flag} {other:?}: on or off"),
                }
            };
            let default_method = match default_method.as_deref() {
                None => None,
                Some(m @ ("card" | "qr")) => Some(m.to_owned()),
                Some(other) => anyhow::bail!("--default {other:?}: card or qr"),
            };
            let (card, qr) = (on_off("card", card)?, on_off("qr", qr)?);
            (database, json, R::TerminalPaymentMethods { tid, card, qr, default_method })
        }
        AdminCommand::Terminal { command: TerminalCommand::Batches { tid, database, json } } => {
            (database, json, R::TerminalBatches { tid })
        }
        AdminCommand::Terminal { command: TerminalCommand::Provision { mid, serial, model, database, json } } => {
            (database, json, R::TerminalProvision { mid, serial, model })
        }
        AdminCommand::Sandbox {
            command:
                SandboxCommand::Card {
                    command:
                        SandboxCardCommand::Create {
                            brand,
                            card_type,
                            pin,
                            balance,
                            expiry,
                            status,
                            delay_ms,
                            timeout,
                            database,
                            json,
                        },
                },
        } => {
            let balance_minor = yuan_arg("balance", &balance)?;
            let spec = serde_json::json!({
                "brand": brand, "card_type": card_type, "pin": pin.expose(), "balance_minor": balance_minor,
                "expiry": expiry, "status": status, "delay_ms": delay_ms, "timeout": timeout,
            });
            (database, json, R::SandboxCardCreate { spec })
        }
        AdminCommand::Sandbox {
            command:
                SandboxCommand::Wallet {
                    command:
                        SandboxWalletCommand::Create {
                            scheme,
                            balance,
                            name,
                            confirm_after_ms,
                            never_confirms,
                            cancels,
                            unavailable,
                            database,
                            json,
                        },
                },
        } => {
            let balance_minor = yuan_arg("balance", &balance)?;
            let spec = serde_json::json!({
                "scheme": scheme, "balance_minor": balance_minor, "name": name,
                "confirm_after_ms": confirm_after_ms, "never_confirms": never_confirms, "cancels": cancels,
                "unavailable": unavailable,
            });
            (database, json, R::SandboxWalletCreate { spec })
        }
        AdminCommand::Sandbox {
            command: SandboxCommand::Wallet { command: SandboxWalletCommand::Show { id, database, json } },
        } => (database, json, R::SandboxWalletShow { id }),
        AdminCommand::Sandbox {
            command: SandboxCommand::Wallet { command: SandboxWalletCommand::Code { id, database, json } },
        } => (database, json, R::SandboxWalletCode { id }),
        AdminCommand::Sandbox {
            command: SandboxCommand::Wallet { command: SandboxWalletCommand::Scan { id, code_url, database, json } },
        } => (database, json, R::SandboxWalletScan { id, code_url }),
        AdminCommand::Audit { database, json, explain } => (database, json, R::Audit { explain }),
        AdminCommand::Clearing { command: ClearingCommand::Run { date, database, json } } => {
            let day = match date {
                Some(date) => business_day_arg(&date)?,
                None => xingtong_payments::clock::yesterday(),
            };
            (database, json, R::ClearingRun { day })
        }
        AdminCommand::Payouts { command: PayoutsCommand::List { mid, status, database, json } } => {
            for s in &status {
                anyhow::ensure!(
                    matches!(s.as_str(), "scheduled" | "sending" | "paid" | "failed"),
                    "--status takes scheduled, sending, paid, failed"
                );
            }
            (database, json, R::PayoutsList { mid, statuses: status })
        }
        AdminCommand::Payouts { command: PayoutsCommand::Run { date, database, json } } => {
            let day = match date {
                Some(date) => business_day_arg(&date)?,
                None => xingtong_payments::clock::business_day(),
            };
            (database, json, R::PayoutsRun { day })
        }
        AdminCommand::Sandbox {
            command: SandboxCommand::BankAccount { card, state, holder, lose_answers, database, json },
        } => {
            anyhow::ensure!(state == "open" || state == "closed", "--state is open or closed");
            (database, json, R::SandboxBankAccount { card, state, holder, lose_answers })
        }
        AdminCommand::Reconciliation { command: ReconciliationCommand::Run { date, file, source, database, json } } => {
            let day = match date {
                Some(date) => business_day_arg(&date)?,
                None => xingtong_payments::clock::yesterday(),
            };
            let file = match file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    Some((name, text))
                }
                None => None,
            };
            (database, json, R::ReconciliationRun { day, file, source: source_arg(&source)? })
        }
        AdminCommand::Reconciliation { command: ReconciliationCommand::Show { date, source, database, json } } => {
            (database, json, R::ReconciliationShow { day: business_day_arg(&date)?, source: source_arg(&source)? })
        }
        AdminCommand::Sandbox { command: SandboxCommand::ClearingFile { date, source, database, json } } => {
            (database, json, R::SandboxClearingFile { day: business_day_arg(&date)?, source: source_arg(&source)? })
        }
        AdminCommand::Sandbox { command: SandboxCommand::ClearingFault { txn, kind, delta, database, json } } => {
            anyhow::ensure!(
                matches!(kind.as_str(), "omit" | "late_approval" | "amount"),
                "--kind is omit, late_approval or amount"
            );
            let delta_minor = match delta {
                Some(delta) => {
                    let (negative, digits) = match delta.strip_prefix('-') {
                        Some(rest) => (true, rest),
                        None => (false, delta.as_str()),
                    };
                    let minor = xingtong_money::Amount::parse(digits, xingtong_money::Currency::CNY)
                        .map_err(|e| anyhow::anyhow!("--delta {delta:?}: {e}"))?
                        .minor();
                    if negative { -minor } else { minor }
                }
                None => 0,
            };
            (database, json, R::SandboxClearingFault { txn, kind, delta_minor })
        }
        AdminCommand::Deposit { command: DepositCommand::Show { tid, database, json } } => {
            (database, json, R::DepositShow { tid })
        }
        AdminCommand::Report {
            command: ReportCommand::Sales { days: ReportDays { mid, from, to }, period, by, database, json },
        } => (database, json, R::ReportSales { mid, from, to, period, by }),
        AdminCommand::Report {
            command: ReportCommand::Settlements { days: ReportDays { mid, from, to }, period, database, json },
        } => (database, json, R::ReportSettlements { mid, from, to, period }),
        AdminCommand::Report {
            command: ReportCommand::Collections { days: ReportDays { mid, from, to }, period, database, json },
        } => (database, json, R::ReportCollections { mid, from, to, period }),
        AdminCommand::Report {
            command: ReportCommand::Refunds { days: ReportDays { mid, from, to }, database, json },
        } => (database, json, R::ReportRefunds { mid, from, to }),
        AdminCommand::Deposit { command: DepositCommand::Pay { tid, card, expiry, pin, database, json } } => {
            (database, json, R::DepositPay { tid, card, expiry, pin })
        }
        AdminCommand::Deposit { command: DepositCommand::Waive { tid, reason, database, json } } => {
            (database, json, R::DepositWaive { tid, reason })
        }
        AdminCommand::Clearing { command: ClearingCommand::Show { mid, date, database, json } } => {
            (database, json, R::SettlementShow { mid, day: business_day_arg(&date)? })
        }
    })
}

/// Runs an admin command: by itself when the data is free (SQLite, under the data directory's
/// lock) or shared by design (PostgreSQL); through the running server when a server holds the
/// SQLite data directory (admin.rs says why).
async fn admin(database: &ServeArgs, json: bool, request: admin::AdminRequest) -> anyhow::Result<()> {
    let config = database.resolve()?;
    init_logging(&config, true);
    let progress = admin::progress_bar(request.name());
    let output = match open_store_raw(&config).await {
        Err(xingtong_store::StoreError::Locked { dir, pid }) => admin::forward(&dir, pid, &request, &progress).await?,
        Err(other) => return Err(anyhow::Error::new(other).context(format!("opening {}", where_(&config)))),
        Ok(opened) => {
            let store = opened.store;
            if let Some(key) = opened.admin_key {
                // This command made the database: the key would otherwise never be seen. On
                // standard error, so that a `--json` answer on standard output stays one document.
                eprintln!(
                    "xingtong: new database; operations admin API key (shown once, keep it secret):\n  {}",
                    key.token
                );
            }
            let output = if matches!(request, admin::AdminRequest::Audit { .. }) {
                admin::execute(request, &store, None, &progress).await
            } else {
                match services(&config, store.clone()).await {
                    Ok(services) => {
                        let output = admin::execute(request, &store, Some(&services), &progress).await;
                        drop(services);
                        output
                    }
                    Err(error) => Err(error),
                }
            };
            store.close().await;
            output?
        }
    };
    let printed = if json {
        output.json.iter().try_for_each(|value| emit(&value.to_string()))
    } else if !output.text.is_empty() {
        emit(output.text.trim_end())
    } else {
        Ok(())
    };
    match printed {
        // The reader stopped reading (`| head`): what it wanted was printed.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    match output.failure {
        Some(failure) => Err(anyhow::anyhow!(failure)),
        None => Ok(()),
    }
}

/// The platform's services over an open store, as `serve` wires them.
async fn services(config: &ServeConfig, store: Store) -> anyhow::Result<admin::Services> {
    let merchants = merchants_service(config, store.clone())?;
    let (engine, sandbox, wallets) = payments_engine(&merchants, config.card_frequency_max).await?;
    Ok(admin::Services { store, merchants, engine, sandbox, wallets, data_dir: config.data_dir.clone() })
}

fn init_logging(config: &ServeConfig, quiet: bool) {
    let filter = if quiet { "warn".to_owned() } else { config.log_level.clone() };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    // Colour only for a person at a terminal, never into log files or pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn open_store_raw(config: &ServeConfig) -> Result<xingtong_store::Opened, xingtong_store::StoreError> {
    let database =
        Database::from_url_or_dir(config.database.as_deref(), config.data_dir.clone(), config.database_schema.clone())?;
    let mut options = StoreOptions::new(database);
    options.sqlite_fsync = config.sqlite_fsync;
    options.readers = config.readers;
    Store::open(options).await
}

/// Where the data is, for messages.
fn where_(config: &ServeConfig) -> String {
    match &config.database {
        None => format!("the data directory {}", config.data_dir.display()),
        Some(_) => "PostgreSQL".to_owned(),
    }
}

/// The arguments that name this configuration's data, for the commands a message suggests.
fn data_args(config: &ServeConfig) -> String {
    match (&config.database, &config.database_schema) {
        (None, _) => format!("--data-dir {}", config.data_dir.display()),
        (Some(url), None) => format!("--database {url}"),
        (Some(url), Some(schema)) => format!("--database {url} --database-schema {schema}"),
    }
}

/// How often reservations past their timeout are released.
const EXPIRY_INTERVAL_MS: u64 = 1_000;
/// Idempotency keys past their retention are purged once an hour (in ticks of the expiry timer).
const PURGE_EVERY_TICKS: u64 = 3_600;
/// QR orders left open (a flow cut short by a stop, a wallet unreachable to cancel) are looked
/// for at start and every minute.
const QR_FINISH_EVERY_TICKS: u64 = 60;

/// Purges expired idempotency keys in bounded chunks until none are left.
async fn purge_idempotency_keys(store: &Store, retention_ns: u64) {
    let before = xingtong_store::now_ns().saturating_sub(retention_ns);
    let mut total = 0;
    loop {
        match store.purge_idempotency_keys(before).await {
            Ok(n) => {
                total += n;
                if n < xingtong_store::committer::IDEMPOTENCY_PURGE_MAX {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "purging idempotency keys failed");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(purged = total, "idempotency keys past their retention purged");
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    init_logging(&config, false);
    let opened = match open_store_raw(&config).await {
        Ok(opened) => opened,
        // One line, naming the directory and the holder.
        Err(locked @ xingtong_store::StoreError::Locked { .. }) => {
            anyhow::bail!("{locked}; one server per data directory: stop it first (admin commands work beside it)")
        }
        Err(other) => return Err(anyhow::Error::new(other).context(format!("opening {}", where_(&config)))),
    };
    let store = opened.store;
    let new_database = opened.admin_key.is_some();
    if let Some(key) = opened.admin_key {
        // Printed on stdout, never logged: logs are shipped and kept; this is shown once.
        println!(
            "xingtong: new database; operations admin API key (shown once, keep it secret):\n  {}\n  \
             use it as: Authorization: Bearer <key>; more keys: xingtong admin api-key create",
            key.token
        );
    }
    let report = match store.audit().await {
        Ok(report) => report,
        Err(xingtong_store::StoreError::Invariant(violation)) => {
            store.close().await;
            anyhow::bail!(
                "the ledger does not balance ({}); refusing to start. `xingtong admin audit --explain {}` lists the \
                 accounts and transfers that disagree; nothing is repaired automatically",
                violation.0,
                data_args(&config)
            );
        }
        Err(other) => return Err(anyhow::Error::new(other).context("auditing the ledger")),
    };
    tracing::info!(
        backend = store.backend(),
        accounts = report.accounts,
        transfers = report.transfers,
        "ledger audited: balanced"
    );

    let merchants = merchants_service(&config, store.clone())?;
    let (engine, sandbox, wallets) = payments_engine(&merchants, config.card_frequency_max).await?;
    if new_database && config.demo {
        let services = admin::Services {
            store: store.clone(),
            merchants: merchants.clone(),
            engine: engine.clone(),
            sandbox: sandbox.clone(),
            wallets: wallets.clone(),
            data_dir: config.data_dir.clone(),
        };
        let made = demo::create(&services, &config.data_dir).await.context("making the demo tenant")?;
        println!("{}", demo::summary(&made, &config.data_dir, (config.iso8583_listen, config.http_listen)));
    }

    // SQLite: admin commands run beside this server come to it (admin.rs); bound before the
    // "listening" lines, so that a command run once they are printed finds it.
    let admin_socket = match config.database {
        None => Some(admin::AdminSocket::bind(&config.data_dir)?),
        Some(_) => None,
    };

    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("binding the HTTP listener to {}", config.http_listen))?;
    let address = listener.local_addr()?;

    let terminals = tokio::net::TcpListener::bind(config.iso8583_listen)
        .await
        .with_context(|| format!("binding the ISO 8583 listener to {}", config.iso8583_listen))?;
    let terminals_address = terminals.local_addr()?;
    println!("xingtong: ISO 8583 terminals on {terminals_address}  (CUP POS frames; see docs/iso8583.md)");
    tracing::info!(address = %terminals_address, "ISO 8583 gateway listening");
    // Printed last: scripts and tests wait for this line to know the server is up.
    println!("xingtong: HTTP API on http://{address}  (health: /healthz, API description: /openapi.json)");
    tracing::info!(%address, "HTTP API listening");

    // One signal stops both servers.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let stopped = |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };
    let gateway = tokio::spawn(xingtong_gateway::serve(
        terminals,
        xingtong_payments::iso::dispatcher(engine.clone()),
        xingtong_gateway::GatewayConfig::default(),
        stopped(stopping.clone()),
    ));

    let expiry = tokio::spawn({
        let store = store.clone();
        let engine = engine.clone();
        let retention_ns = u64::try_from(config.idempotency_retention.as_nanos()).unwrap_or(u64::MAX);
        async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(EXPIRY_INTERVAL_MS));
            let mut ticks: u64 = 0;
            loop {
                tick.tick().await;
                match store.expire_due().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "pending transfers expired"),
                    Err(error) => tracing::warn!(%error, "expiring pending transfers failed"),
                }
                if ticks.is_multiple_of(QR_FINISH_EVERY_TICKS) {
                    match engine.finish_open_qr_orders().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(finished = n, "QR orders left open were cancelled at their wallets"),
                        Err(error) => tracing::warn!(%error, "finishing open QR orders failed"),
                    }
                }
                if ticks.is_multiple_of(PURGE_EVERY_TICKS) {
                    purge_idempotency_keys(&store, retention_ns).await;
                    match engine.purge_frequency_counters().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(purged = n, "card frequency counters of past minutes purged"),
                        Err(error) => tracing::warn!(%error, "purging card frequency counters failed"),
                    }
                }
                ticks += 1;
            }
        }
    });
    let outbox = tokio::spawn(deliver_notifications(merchants.clone(), transport(&config)));
    let schedule = (config.schedule_interval_s > 0).then(|| {
        let interval = std::time::Duration::from_secs(config.schedule_interval_s);
        let stop = stopped(stopping.clone());
        let runs = scheduled_runs(engine.clone(), interval, config.batch_cut_off);
        // A run cut off by the stop is safe at any point (see below); the task ends at once.
        tokio::spawn(async move {
            tokio::select! {
                () = stop => {}
                () = runs => {}
            }
        })
    });
    let admin_task = admin_socket.map(|socket| {
        // Made here and owned by the socket's task, never held by `serve` itself: the store's
        // writer stops only when every handle is gone, so a copy kept here hangs the shutdown.
        let services = admin::Services {
            store: store.clone(),
            merchants: merchants.clone(),
            engine: engine.clone(),
            sandbox: sandbox.clone(),
            wallets: wallets.clone(),
            data_dir: config.data_dir.clone(),
        };
        tokio::spawn(socket.serve(services, stopped(stopping.clone())))
    });
    let state = xingtong_api::AppState::new(merchants).with_payments(engine, sandbox).with_sandbox_wallets(wallets);
    xingtong_api::serve(listener, state, xingtong_console::router(), stopped(stopping))
        .await
        .context("serving HTTP")?;
    let _ = gateway.await;
    if let Some(task) = admin_task {
        let _ = task.await;
    }
    expiry.abort();
    outbox.abort();
    // Safe at any point: a settlement is one commit, and a payout is written down as sent before
    // the bank is asked. Waited for, so that its handles on the store are gone before it closes.
    if let Some(task) = schedule {
        let _ = task.await;
    }
    tracing::info!("HTTP stopped; closing the store");
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The runs the server makes on its own (docs/settlement.md): after the day's batch cut-off, the
/// batches no terminal settled closed; yesterday's clearing once; then the payouts due, every
/// `interval`.
async fn scheduled_runs(engine: xingtong_payments::Engine, interval: std::time::Duration, cut_off: (u32, u32)) {
    let bank = xingtong_payments::bank::SandboxBank::new(engine.store().clone());
    // The first run one interval after start, not during it.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        tick.tick().await;
        // Yesterday once it has been over for the reversal grace (00:10 China time): a reversal of
        // one of its last sales may still be on its way before.
        let grace = engine.config().reversal_grace_s;
        let (closed_day, today) =
            (xingtong_payments::clock::closed_day(grace), xingtong_payments::clock::business_day());
        let (_, _, _, hour, minute, _) = xingtong_payments::clock::china(xingtong_payments::clock::unix_seconds());
        match engine.d0_sweep(&today, hour).await {
            Ok(Some(report)) if report.cleared > 0 => {
                tracing::info!(day = %today, settlements = report.cleared, payout_minor = report.payout_minor, "D0 sweep");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the D0 sweep failed; the next tick tries again"),
        }
        match engine.scheduled_tick(&bank, &closed_day, &today, (hour, minute) >= cut_off).await {
            Ok(done) => {
                if let Some(closed) = done.batches_closed {
                    tracing::info!(closed, "batches no terminal settled closed at the cut-off");
                }
                if let Some(report) = done.cleared {
                    tracing::info!(day = %closed_day, settlements = report.cleared, payout_minor = report.payout_minor, "clearing run");
                }
                if let Some(r) = done.reconciled {
                    tracing::info!(day = %closed_day, status = %r.status, matched = r.matched, host_only = r.host_only,
                        network_only = r.network_only, amount_mismatches = r.amount_mismatches, "reconciliation run");
                }
                for r in done.wallets_reconciled {
                    tracing::info!(day = %closed_day, source = r.source.as_str(), status = %r.status, matched = r.matched,
                        host_only = r.host_only, network_only = r.network_only, amount_mismatches = r.amount_mismatches,
                        "wallet reconciliation run");
                }
                let p = done.payouts;
                if p.paid + p.failed + p.retried + p.unknown > 0 {
                    tracing::info!(
                        paid = p.paid,
                        failed = p.failed,
                        retried = p.retried,
                        unknown = p.unknown,
                        "payout run"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "a scheduled run failed; the next tick tries again"),
        }
    }
}

/// An amount in yuan as the command line takes it (`1000.00`), in fen.
fn yuan_arg(flag: &str, text: &str) -> anyhow::Result<i64> {
    Ok(xingtong_money::Amount::parse(text, xingtong_money::Currency::CNY)
        .map_err(|e| anyhow::anyhow!("--{flag} {text:?}: {e}"))?
        .minor())
}

/// A reconciliation source as the command line names it.
fn source_arg(text: &str) -> anyhow::Result<xingtong_payments::recon::Source> {
    xingtong_payments::recon::Source::parse(text)
        .with_context(|| format!("--source {text:?}: card, wechat, alipay or unionpay_qr"))
}

/// The onboarding service, with the host master key (made at first start).
fn merchants_service(config: &ServeConfig, store: Store) -> anyhow::Result<xingtong_merchants::Merchants> {
    let master_key = xingtong_merchants::load_or_create_master_key(&config.master_key_file)
        .with_context(|| format!("the host master key {}", config.master_key_file.display()))?;
    let settings = xingtong_merchants::Config { region_code: config.mid_region_code.clone(), ..Default::default() };
    Ok(xingtong_merchants::Merchants::new(store, master_key, settings))
}

/// The card payments core over the sandbox issuer, with the platform's ledger accounts in place.
async fn payments_engine(
    merchants: &xingtong_merchants::Merchants,
    frequency_max: usize,
) -> anyhow::Result<(
    xingtong_payments::Engine,
    std::sync::Arc<xingtong_payments::sandbox::SandboxNetwork>,
    std::sync::Arc<xingtong_payments::sandbox_wallet::SandboxWallets>,
)> {
    let sandbox =
        std::sync::Arc::new(xingtong_payments::sandbox::SandboxNetwork::new(merchants.store().clone(), merchants));
    let network: std::sync::Arc<dyn xingtong_payments::network::CardNetwork> = sandbox.clone();
    let settings = xingtong_payments::Config { frequency_max, ..Default::default() };
    // Signed under a key of the host master key's, so that a notification outlives a restart.
    let wallets = std::sync::Arc::new(
        xingtong_payments::sandbox_wallet::SandboxWallets::new(merchants.store().clone(), settings.clock.clone())
            .with_signing_key(*merchants.host_secret("sandbox-wallet-notifications")),
    );
    let engine = xingtong_payments::Engine::new(merchants.clone(), network, wallets.clone(), settings);
    // The sandbox wallets' payment notifications reach the host in-process; a real wallet's come
    // over HTTP (POST /v1/wallet-notifications/{scheme}) to the same check.
    if let Some(notifications) = wallets.take_notifications() {
        tokio::spawn(engine.receive_notifications(notifications));
    }
    engine.bootstrap().await.map_err(admin::service_error).context("creating the platform's ledger accounts")?;
    Ok((engine, sandbox, wallets))
}

/// Where notifications go: SMTP for email when configured; files in `<data_dir>/outbox` otherwise.
fn transport(config: &ServeConfig) -> Box<dyn xingtong_merchants::notify::Transport> {
    let files = xingtong_merchants::notify::FileTransport { dir: config.data_dir.join("outbox") };
    match &config.smtp {
        Some(address) => Box::new(xingtong_merchants::notify::SmtpTransport {
            address: address.clone(),
            from: config.smtp_from.clone(),
            files,
        }),
        None => Box::new(files),
    }
}

/// How often the outbox is looked at.
const OUTBOX_INTERVAL_MS: u64 = 500;

/// Delivers due notifications until the task is stopped.
async fn deliver_notifications(
    merchants: xingtong_merchants::Merchants,
    transport: Box<dyn xingtong_merchants::notify::Transport>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(OUTBOX_INTERVAL_MS));
    loop {
        tick.tick().await;
        match merchants.deliver_due(transport.as_ref(), 100).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sent = n, "notifications delivered"),
            Err(error) => tracing::warn!(%error, "delivering notifications failed"),
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

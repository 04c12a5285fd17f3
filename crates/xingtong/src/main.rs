//! `xingtong`: the one binary. It parses the command line and hands off to the crates that do the
//! work; nothing here knows SQL, JSON wire formats or ledger rules.
//!
//! - `serve`: HTTP API and the ISO 8583 gateway for terminals (web consoles to come).
//! - `admin`: operator tasks against the database directly.
//! - `bench`: benchmarks that print figures (`--json` for machines).

mod config;

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
    /// Check that every ledger balances; exits non-zero if not.
    Audit {
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
        pin: String,
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
enum BenchCommand {
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
        Command::Admin {
            command: AdminCommand::ApiKey { command: ApiKeyCommand::Create { role, label, database, json } },
        } => {
            let config = database.resolve()?;
            init_logging(&config, true);
            let store = open_store(&config).await?.store;
            let key = store.create_api_key(&role, &label).await?;
            store.close().await;
            if json {
                let value = serde_json::json!({ "id": key.record.id, "role": key.record.role, "api_key": key.token });
                println!("{value}");
            } else {
                println!("New {role} API key (shown once; keep it secret):\n  {}", key.token);
            }
            Ok(())
        }
        Command::Admin { command: AdminCommand::Staff { command } } => admin_staff(command).await,
        Command::Admin { command: AdminCommand::Application { command } } => admin_application(command).await,
        Command::Admin { command: AdminCommand::Terminal { command } } => admin_terminal(command).await,
        Command::Admin { command: AdminCommand::Sandbox { command } } => admin_sandbox(command).await,
        Command::Admin { command: AdminCommand::Audit { database, json } } => {
            let config = database.resolve()?;
            init_logging(&config, true);
            let store = open_store(&config).await?.store;
            let report = store.audit().await;
            store.close().await;
            let report = report.context("the ledger does not balance")?;
            if json {
                let ledgers: Vec<_> = report
                    .ledgers
                    .iter()
                    .map(|(ledger, t)| serde_json::json!({ "ledger": ledger, "debits_posted": t.debits_posted, "credits_posted": t.credits_posted, "debits_pending": t.debits_pending, "credits_pending": t.credits_pending }))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({ "balanced": true, "accounts": report.accounts, "transfers": report.transfers, "ledgers": ledgers })
                );
            } else {
                println!(
                    "balanced: {} accounts, {} transfers, {} ledgers",
                    report.accounts,
                    report.transfers,
                    report.ledgers.len()
                );
            }
            Ok(())
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
        Command::Bench { command: BenchCommand::Auth { postgres, terminals, depth, seconds, skip_json, json } } => {
            let options = xingtong_bench::auth::AuthBenchOptions {
                server_binary: std::env::current_exe().context("finding this binary")?,
                postgres_url: postgres.filter(|p| !p.is_empty()),
                terminals: terminals.max(1),
                depth: depth.max(1),
                seconds: seconds.max(0.2),
                skip_json,
            };
            let report = xingtong_bench::auth::run(&options, &|line| eprintln!("{line}")).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
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

/// The command line acts as operations staff with every role; the audit log names it `staff:cli`.
fn cli_staff() -> xingtong_merchants::Principal {
    xingtong_merchants::Principal::Staff { id: "cli".into(), roles: xingtong_merchants::Role::ALL.to_vec() }
}

async fn open_merchants(database: &ServeArgs) -> anyhow::Result<xingtong_merchants::Merchants> {
    let config = database.resolve()?;
    init_logging(&config, true);
    let store = open_store(&config).await?.store;
    merchants_service(&config, store)
}

/// Closes the service's store, waiting for its last writes (the service holds a handle too).
async fn close(merchants: xingtong_merchants::Merchants) {
    let store = merchants.store().clone();
    drop(merchants);
    store.close().await;
}

fn service_error(error: xingtong_merchants::Error) -> anyhow::Error {
    match &error.details {
        Some(details) => anyhow::anyhow!("{} ({}): {details}", error.message, error.code),
        None => anyhow::anyhow!("{} ({})", error.message, error.code),
    }
}

async fn admin_staff(command: StaffCommand) -> anyhow::Result<()> {
    let StaffCommand::Create { username, name, role, database, json } = command;
    let roles = role
        .iter()
        .map(|r| xingtong_merchants::Role::parse(r.trim()).with_context(|| format!("unknown role {r:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut password = String::new();
    std::io::stdin().read_line(&mut password).context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let merchants = open_merchants(&database).await?;
    let staff = merchants.create_staff("staff:cli", &username, &name, roles, password).await.map_err(service_error)?;
    close(merchants).await;
    if json {
        println!("{}", serde_json::json!({ "id": staff.id, "username": staff.username, "roles": staff.roles }));
    } else {
        println!("staff {} ({}) created with roles {:?}", staff.username, staff.id, staff.roles);
    }
    Ok(())
}

async fn admin_application(command: ApplicationCommand) -> anyhow::Result<()> {
    let staff = cli_staff();
    match command {
        ApplicationCommand::List { status, database, json } => {
            let merchants = open_merchants(&database).await?;
            let statuses: Vec<&str> = if status.is_empty() {
                vec!["submitted", "under_review"]
            } else {
                status.iter().map(String::as_str).collect()
            };
            let list = merchants.applications(&staff, &statuses).await.map_err(service_error)?;
            for a in &list {
                let v = &a.value;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "id": v.id, "status": v.status, "business": v.form.business.name, "applicant": v.form.applicant.legal_name, "warnings": v.warnings.len(), "submissions": v.submissions })
                    );
                } else {
                    println!(
                        "{}  {:<12}  {}  ({}), {} warning(s)",
                        v.id,
                        v.status.as_str(),
                        v.form.business.name,
                        v.form.applicant.legal_name,
                        v.warnings.len()
                    );
                }
            }
            close(merchants).await;
            Ok(())
        }
        ApplicationCommand::Approve { id, mcc, database, json } => {
            let merchants = open_merchants(&database).await?;
            let current = merchants.application(&staff, &id).await.map_err(service_error)?;
            if current.value.status == xingtong_onboarding::status::Status::Submitted {
                merchants.start_review(&staff, &id).await.map_err(service_error)?;
            }
            let approval = xingtong_merchants::applications::Approval { mcc, ..Default::default() };
            let (_, merchant, device) =
                merchants.approve_application(&staff, &id, approval).await.map_err(service_error)?;
            close(merchants).await;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "application": id, "mid": merchant.mid, "tid": device.tid, "serial_number": device.serial_number, "activation_code": device.activation_code })
                );
            } else {
                println!(
                    "approved {id}: merchant {} ({}), terminal {} (serial {}), activation code {}",
                    merchant.mid,
                    merchant.name,
                    device.tid,
                    device.serial_number,
                    device.activation_code.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        ApplicationCommand::Reject { id, reason, database } => {
            let merchants = open_merchants(&database).await?;
            let current = merchants.application(&staff, &id).await.map_err(service_error)?;
            if current.value.status == xingtong_onboarding::status::Status::Submitted {
                merchants.start_review(&staff, &id).await.map_err(service_error)?;
            }
            merchants.reject_application(&staff, &id, &reason).await.map_err(service_error)?;
            close(merchants).await;
            println!("rejected {id}");
            Ok(())
        }
    }
}

async fn admin_terminal(command: TerminalCommand) -> anyhow::Result<()> {
    let TerminalCommand::Provision { mid, serial, model, database, json } = command;
    let merchants = open_merchants(&database).await?;
    let provisioned = merchants
        .provision_terminal("staff:cli", &mid, serial.as_deref(), model.as_deref())
        .await
        .map_err(service_error)?;
    close(merchants).await;
    let tmk = provisioned.tmk.expose_hex();
    let kcv = hex::encode_upper(provisioned.tmk.check_value());
    if json {
        println!(
            "{}",
            serde_json::json!({ "mid": provisioned.mid, "tid": provisioned.tid, "serial_number": provisioned.serial_number, "tmk": tmk.as_str(), "tmk_check_value": kcv })
        );
    } else {
        println!(
            "terminal {} for merchant {} (serial {}); TMK {} (check value {}): load it into the terminal, then discard this output",
            provisioned.tid,
            provisioned.mid,
            provisioned.serial_number,
            tmk.as_str(),
            kcv
        );
    }
    Ok(())
}

async fn admin_sandbox(command: SandboxCommand) -> anyhow::Result<()> {
    let SandboxCommand::Card {
        command:
            SandboxCardCommand::Create { brand, card_type, pin, balance, expiry, status, delay_ms, timeout, database, json },
    } = command;
    let quoted = |s: &str| serde_json::Value::String(s.to_owned());
    let spec: xingtong_payments::sandbox::NewCard = serde_json::from_value(serde_json::json!({
        "brand": quoted(&brand), "card_type": quoted(&card_type), "pin": pin,
        "balance_minor": xingtong_money::Amount::parse(&balance, xingtong_money::Currency::CNY)
            .map_err(|e| anyhow::anyhow!("--balance {balance:?}: {e}"))?.minor(),
        "expiry": expiry, "status": quoted(&status), "delay_ms": delay_ms, "timeout": timeout,
    }))
    .context(
        "--brand is unionpay, visa or mastercard; --type debit or credit; --status active, blocked, lost or stolen",
    )?;
    let merchants = open_merchants(&database).await?;
    let (engine, sandbox) = payments_engine(&merchants, 20).await?;
    let card = sandbox.create_card("staff:cli", spec).await.map_err(service_error)?;
    drop(engine);
    drop(sandbox);
    close(merchants).await;
    if json {
        println!(
            "{}",
            serde_json::json!({ "number": card.pan, "brand": card.brand, "type": card.card_type, "expiry": card.expiry, "status": card.status })
        );
    } else {
        println!(
            "test card {} ({:?} {:?}), expiry {}, status {:?}",
            card.pan, card.brand, card.card_type, card.expiry, card.status
        );
    }
    Ok(())
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

async fn open_store(config: &ServeConfig) -> anyhow::Result<xingtong_store::Opened> {
    let database =
        Database::from_url_or_dir(config.database.as_deref(), config.data_dir.clone(), config.database_schema.clone())?;
    let mut options = StoreOptions::new(database);
    options.sqlite_fsync = config.sqlite_fsync;
    options.readers = config.readers;
    let where_ = match &options.database {
        Database::Sqlite { data_dir } => format!("the data directory {}", data_dir.display()),
        Database::Postgres { .. } => "PostgreSQL".to_owned(),
    };
    Store::open(options).await.with_context(|| format!("opening {where_}"))
}

/// How often reservations past their timeout are released.
const EXPIRY_INTERVAL_MS: u64 = 1_000;
/// Idempotency keys past their retention are purged once an hour (in ticks of the expiry timer).
const PURGE_EVERY_TICKS: u64 = 3_600;

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
    let opened = open_store(&config).await?;
    let store = opened.store;
    if let Some(key) = opened.admin_key {
        // Printed on stdout, never logged: logs are shipped and kept; this is shown once.
        println!(
            "xingtong: new database; operations admin API key (shown once, keep it secret):\n  {}\n  \
             use it as: Authorization: Bearer <key>; more keys: xingtong admin api-key create",
            key.token
        );
    }
    let report = store.audit().await.context("the ledger does not balance; refusing to start")?;
    tracing::info!(
        backend = store.backend(),
        accounts = report.accounts,
        transfers = report.transfers,
        "ledger audited: balanced"
    );

    let merchants = merchants_service(&config, store.clone())?;
    let (engine, sandbox) = payments_engine(&merchants, config.card_frequency_max).await?;

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
                if ticks.is_multiple_of(PURGE_EVERY_TICKS) {
                    purge_idempotency_keys(&store, retention_ns).await;
                }
                ticks += 1;
            }
        }
    });
    let outbox = tokio::spawn(deliver_notifications(merchants.clone(), transport(&config)));
    let state = xingtong_api::AppState::new(merchants).with_payments(engine, sandbox);
    xingtong_api::serve(listener, state, stopped(stopping)).await.context("serving HTTP")?;
    let _ = gateway.await;
    expiry.abort();
    outbox.abort();
    tracing::info!("HTTP stopped; closing the store");
    store.close().await;
    tracing::info!("stopped");
    Ok(())
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
) -> anyhow::Result<(xingtong_payments::Engine, std::sync::Arc<xingtong_payments::sandbox::SandboxNetwork>)> {
    let sandbox =
        std::sync::Arc::new(xingtong_payments::sandbox::SandboxNetwork::new(merchants.store().clone(), merchants));
    let network: std::sync::Arc<dyn xingtong_payments::network::CardNetwork> = sandbox.clone();
    let settings = xingtong_payments::Config { frequency_max, ..Default::default() };
    let engine = xingtong_payments::Engine::new(merchants.clone(), network, settings);
    engine.bootstrap().await.map_err(service_error).context("creating the platform's ledger accounts")?;
    Ok((engine, sandbox))
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

//! `xingtong bench auth`: durable, fully ledgered card sales per second against a separately started
//! `xingtong serve`, over ISO 8583 (N terminals signed in, each pipelining sales with a PIN block and
//! a MAC) and over the JSON API (concurrent clients with keep-alive connections).
//!
//! For each backend: a fresh data directory (and PostgreSQL schema) is prepared in-process (N
//! enterprise merchants, one terminal and cashier each, test cards), then the server is started as
//! a child process of this very binary, and loaded from here. Each channel is run at its peak
//! (every terminal keeps `depth` requests in flight) and then at half that rate (requests sent on
//! a fixed schedule, latency measured from the scheduled time). The server's peak memory is read
//! from `/proc/<pid>/status` (VmHWM). Every reply is counted by its response code; only `00`
//! counts as a sale. The ledger is audited after the server stops.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xingtong_iso8583::{Frame, Message, TPDU_ID, Tpdu, cup};
use xingtong_merchants::applications::Approval;
use xingtong_merchants::identity::Registration;
use xingtong_merchants::{Merchants, Principal, Role};
use xingtong_onboarding::application::{Applicant, Application, Business, BusinessType, SettlementAccount};
use xingtong_onboarding::documents::{DocumentKind, fixtures};
use xingtong_payments::card::{Brand, CardType};
use xingtong_payments::network::CardNetwork;
use xingtong_payments::sandbox::{NewCard, SandboxNetwork};
use xingtong_pos::{CardRead, Request, Terminal, TerminalConfig};
use xingtong_store::{Database, Store, StoreOptions};

use crate::{Latencies, Percentiles};

/// What to run.
#[derive(Debug, Clone)]
pub struct AuthBenchOptions {
    /// The `xingtong` binary to start as the server.
    pub server_binary: std::path::PathBuf,
    /// PostgreSQL URL; `None` runs SQLite only.
    pub postgres_url: Option<String>,
    /// Terminals (each its own merchant), and JSON clients.
    pub terminals: usize,
    /// Requests each terminal keeps in flight at the peak.
    pub depth: usize,
    /// Seconds per measured phase.
    pub seconds: f64,
    /// Skip the JSON channel.
    pub skip_json: bool,
    /// QR sales (the cashier scans the customer's payment code) instead of card sales, against
    /// sandbox wallets; the codes come from the sandbox API in batches of 256, made ahead.
    pub qr: bool,
}

/// One phase's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Approved sales per second.
    pub sales_per_second: f64,
    /// Requests answered other than 00 (they are not counted as sales).
    pub not_approved: u64,
    /// Answers by response code.
    pub response_codes: HashMap<String, u64>,
    /// Latency from send (or scheduled send) to reply.
    pub latency: Percentiles,
    /// CPU time the server process used per approved sale in the measured window (user + system,
    /// all threads; a PostgreSQL server's own processes are not in it), microseconds.
    pub server_cpu_us_per_sale: Option<f64>,
    /// How busy the whole machine was in the window (0 to 1): near 1, the two cores are the limit.
    pub machine_cpu_busy: Option<f64>,
    /// The part of the window the hypervisor gave this machine's CPUs to others (0 to 1; counted in
    /// busy). A run far below the others with steal well above zero was measured on a shared host.
    pub machine_cpu_steal: Option<f64>,
    /// The part of the window CPUs sat idle waiting for the disk (0 to 1; not counted in busy).
    pub machine_cpu_iowait: Option<f64>,
}

/// CPU seconds a process has used, all threads (`/proc/<pid>/stat`, in USER_HZ ticks of 1/100 s).
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The machine's CPU time by kind, in jiffies (`/proc/stat`'s first line).
#[derive(Debug, Clone, Copy)]
struct Jiffies {
    total: f64,
    /// Everything but idle and iowait (steal included).
    busy: f64,
    iowait: f64,
    steal: f64,
}

fn machine_jiffies() -> Option<Jiffies> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in
    // user and nice, so it is left out of the total.
    let values: Vec<f64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: f64 = values.iter().take(8).sum();
    let (idle, iowait) = (*values.get(3)?, values.get(4).copied().unwrap_or(0.0));
    Some(Jiffies { total, busy: total - idle - iowait, iowait, steal: values.get(7).copied().unwrap_or(0.0) })
}

/// What a phase's measured window cost: the server's CPU seconds, and the machine's busy, iowait
/// and steal fractions.
#[derive(Debug, Clone, Copy)]
struct Usage {
    server_seconds: f64,
    busy: f64,
    iowait: f64,
    steal: f64,
}

/// Measures [`Usage`] over the window of a phase after its warm-up.
struct CpuWindow(tokio::task::JoinHandle<Option<Usage>>);

impl CpuWindow {
    fn start(pid: u32, warmup: Duration, measure: Duration) -> CpuWindow {
        CpuWindow(tokio::spawn(async move {
            tokio::time::sleep(warmup).await;
            let (cpu0, m0) = (process_cpu_seconds(pid)?, machine_jiffies()?);
            tokio::time::sleep(measure).await;
            let (cpu1, m1) = (process_cpu_seconds(pid)?, machine_jiffies()?);
            let total = (m1.total - m0.total).max(1.0);
            Some(Usage {
                server_seconds: cpu1 - cpu0,
                busy: (m1.busy - m0.busy) / total,
                iowait: (m1.iowait - m0.iowait) / total,
                steal: (m1.steal - m0.steal) / total,
            })
        }))
    }

    async fn finish(self) -> Option<Usage> {
        self.0.await.ok().flatten()
    }
}

/// One channel at its peak and at half of it.
#[derive(Debug, Clone, Serialize)]
pub struct Channel {
    /// As fast as it goes.
    pub peak: Phase,
    /// At half the peak rate.
    pub half_peak: Phase,
}

/// One backend's figures.
#[derive(Debug, Clone, Serialize)]
pub struct BackendReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// ISO 8583 terminals.
    pub iso8583: Channel,
    /// JSON API clients.
    pub json: Option<Channel>,
    /// The server's resident set at its largest, MiB.
    pub server_peak_rss_mib: f64,
    /// Commits the server made during the whole run, and the mean events (records, transfers,
    /// counters) and seconds per commit, from its `/metrics`.
    pub commits: Option<CommitStats>,
    /// Terminals and JSON clients.
    pub terminals: usize,
    /// In flight per terminal at the peak.
    pub depth: usize,
    /// True when the ledger audit after the run found every ledger balanced.
    pub ledger_balanced: bool,
}

/// What the server's writer did.
#[derive(Debug, Clone, Serialize)]
pub struct CommitStats {
    /// Commits.
    pub commits: f64,
    /// Mean events per commit.
    pub events_per_commit: f64,
    /// Mean milliseconds per commit (the writer's busy time, fsync included).
    pub ms_per_commit: f64,
}

/// Reads the writer's figures from the server's Prometheus text.
async fn commit_stats(http: SocketAddr) -> Option<CommitStats> {
    let mut stream = TcpStream::connect(http).await.ok()?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n").await.ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.ok()?;
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let commits = value("xingtong_commit_seconds_count")?;
    Some(CommitStats {
        commits,
        events_per_commit: value("xingtong_commit_group_events_sum")? / commits.max(1.0),
        ms_per_commit: value("xingtong_commit_seconds_sum")? * 1_000.0 / commits.max(1.0),
    })
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct AuthReport {
    /// `card` or `qr`.
    pub method: &'static str,
    /// Per backend.
    pub backends: Vec<BackendReport>,
    /// Why PostgreSQL is missing, if it is.
    pub postgres_skipped: Option<String>,
}

struct Setup {
    /// A sandbox wallet per merchant (QR mode), and an operations key to make their codes with.
    wallets: Vec<String>,
    admin_key: String,
    mids: Vec<String>,
    tids: Vec<String>,
    tmks: Vec<xingtong_crypto::Key>,
    keys: Vec<String>,
    debit_cards: Vec<CardRead>,
    credit_cards: Vec<CardRead>,
}

const CASHIER_PIN: &str = "135790";
const CARD_PIN: &str = "147258";

/// Makes N merchants with a terminal, cashier, API key, and test cards, in the database directly.
async fn prepare(database: Database, dir: &std::path::Path, n: usize) -> anyhow::Result<Setup> {
    let store = Store::open(StoreOptions::new(database)).await?.store;
    let key = xingtong_merchants::load_or_create_master_key(&dir.join("master.key"))?;
    let merchants = Merchants::new(store.clone(), key, xingtong_merchants::Config::default());
    let staff = Principal::Staff { id: "bench".into(), roles: Role::ALL.to_vec() };
    let mut setup = Setup {
        wallets: vec![],
        admin_key: String::new(),
        mids: vec![],
        tids: vec![],
        tmks: vec![],
        keys: vec![],
        debit_cards: vec![],
        credit_cards: vec![],
    };
    for i in 0..n {
        let phone = format!("1390{:07}", i);
        let (user, _) = merchants
            .register_owner(Registration {
                name: format!("商户{i}"),
                phone: phone.clone(),
                email: None,
                password: "bench password 1".into(),
                language: None,
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let owner = Principal::Owner { user_id: user.id.clone(), merchant_ids: Vec::new() };
        let form = Application {
            applicant: Applicant {
                legal_name: "测试".into(),
                resident_id: "11010519491231002X".into(),
                phone,
                email: "bench@example.cn".into(),
                address: "上海".into(),
            },
            business: Business {
                name: format!("压测企业{i}"),
                business_type: BusinessType::Enterprise,
                unified_social_credit_code: Some("91310110666007217T".into()),
            },
            settlement_account: SettlementAccount {
                card_number: "6222021234567890128".into(),
                bank_name: "中国银行".into(),
                account_holder: format!("压测企业{i}"),
            },
            delivery_address: "上海".into(),
        };
        let e = |e: xingtong_merchants::Error| anyhow::anyhow!("{e}");
        let id = merchants.create_application(&owner, form).await.map_err(e)?.value.id;
        for kind in DocumentKind::ALL {
            merchants.upload_document(&owner, &id, kind, "a.png", None, fixtures::png(64, 64)).await.map_err(e)?;
        }
        merchants.submit_application(&owner, &id).await.map_err(e)?;
        merchants.start_review(&staff, &id).await.map_err(e)?;
        let (_, merchant, _) = merchants.approve_application(&staff, &id, Approval::default()).await.map_err(e)?;
        let owner = Principal::Owner { user_id: user.id, merchant_ids: vec![merchant.mid.clone()] };
        merchants.set_cashier_pin(&owner, &merchant.mid, "00", "246810".into()).await.map_err(e)?;
        merchants.create_cashier(&owner, &merchant.mid, "01", "压测", CASHIER_PIN.into()).await.map_err(e)?;
        let terminal = merchants.provision_terminal("bench", &merchant.mid, None, None).await.map_err(e)?;
        let api_key = merchants
            .create_merchant_key(&owner, None, "bench", &xingtong_merchants::identity::Scope::ALL)
            .await
            .map_err(e)?;
        setup.mids.push(merchant.mid);
        setup.tids.push(terminal.tid);
        setup.tmks.push(terminal.tmk);
        setup.keys.push(api_key.token);
    }
    let sandbox = Arc::new(SandboxNetwork::new(store.clone(), &merchants));
    let wallets = Arc::new(xingtong_payments::sandbox_wallet::SandboxWallets::new(store.clone(), Default::default()));
    // Platform accounts, as the server makes them at start.
    let engine = xingtong_payments::Engine::new(
        merchants.clone(),
        Arc::clone(&sandbox) as Arc<dyn CardNetwork>,
        Arc::clone(&wallets) as Arc<dyn xingtong_payments::wallet::WalletNetwork>,
        xingtong_payments::Config::default(),
    );
    engine.bootstrap().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for i in 0..n {
        let scheme = xingtong_payments::qr::Scheme::ALL[i % 3];
        let spec = xingtong_payments::sandbox_wallet::NewWallet {
            scheme,
            balance_minor: 1_000_000_000_000,
            name: None,
            confirm_after_ms: None,
            never_confirms: false,
            cancels: false,
            unavailable: false,
        };
        setup.wallets.push(wallets.create_wallet("bench", spec).await.map_err(|e| anyhow::anyhow!("{e}"))?.id);
    }
    setup.admin_key = store.create_api_key("admin", "bench").await?.token;
    drop(wallets);
    for (card_type, out) in [(CardType::Debit, &mut setup.debit_cards), (CardType::Credit, &mut setup.credit_cards)] {
        for _ in 0..n.max(4) {
            let card = sandbox
                .create_card(
                    "bench",
                    NewCard {
                        brand: Brand::Unionpay,
                        card_type,
                        pan: None,
                        expiry: None,
                        pin: CARD_PIN.into(),
                        balance_minor: 1_000_000_000_000,
                        status: None,
                        delay_ms: 0,
                        timeout: false,
                    },
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            out.push(CardRead { pan: card.pan.expose().to_owned(), expiry: card.expiry, pin: Some(CARD_PIN.into()) });
        }
    }
    drop(engine);
    drop(sandbox);
    drop(merchants);
    store.close().await;
    Ok(setup)
}

struct Server {
    child: Child,
    http: SocketAddr,
    iso: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(
    binary: &std::path::Path,
    dir: &std::path::Path,
    postgres: Option<(&str, &str)>,
) -> anyhow::Result<Server> {
    let mut command = Command::new(binary);
    command.args(["serve", "--http", "127.0.0.1:0", "--iso8583", "127.0.0.1:0", "--log-level", "warn", "--data-dir"]);
    command.arg(dir);
    if let Some((url, schema)) = postgres {
        command.args(["--database", url, "--database-schema", schema]);
    }
    // The frequency limit (20 uses of a card a minute) would stop a benchmark that reuses its cards.
    command.env("XINGTONG_CARD_FREQUENCY_MAX", "1000000000").env_remove("XINGTONG_CONFIG");
    command.stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
    let mut child = command.spawn().context("starting the server")?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut iso = None;
    let http = loop {
        let line = lines.next().context("the server exited before listening")??;
        if let Some(rest) = line.split("ISO 8583 terminals on ").nth(1) {
            iso = Some(rest.split_whitespace().next().context("address")?.parse()?);
        }
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.split_whitespace().next().context("address")?.parse()?;
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, http, iso: iso.context("ISO address")? })
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

const TPDU: Tpdu = Tpdu { id: TPDU_ID, destination: [0x00, 0x06], source: [0x00, 0x00] };
const HEADER: [u8; 6] = [0x60, 0x22, 0x00, 0x00, 0x00, 0x00];

#[derive(Default)]
struct Tally {
    latencies: Latencies,
    codes: HashMap<String, u64>,
    approved: u64,
}

/// When a load generator sends: on a fixed schedule of `rate` per second (latency then counts from
/// the scheduled time, so a stalled server cannot hide behind a stalled sender), or at once.
struct Pacer {
    interval: Option<Duration>,
    next: Instant,
}

impl Pacer {
    fn new(rate: Option<f64>, start: Instant) -> Pacer {
        Pacer { interval: rate.map(|r| Duration::from_secs_f64(1.0 / r.max(0.001))), next: start }
    }

    fn scheduled(&self) -> bool {
        self.interval.is_some()
    }

    /// Waits for the next send and returns the time it counts from.
    async fn next(&mut self) -> Instant {
        let Some(interval) = self.interval else { return Instant::now() };
        tokio::time::sleep_until(self.next.into()).await;
        let scheduled = self.next;
        self.next += interval;
        scheduled
    }
}

/// One terminal's load: `rate` None keeps `depth` in flight; Some(r) sends r per second on schedule.
/// Payment codes of one wallet, made through the sandbox API 256 at a time, a batch ahead of use
/// (a code is good for a minute, and one batch lasts well under that at the peak).
fn code_feed(http: SocketAddr, admin_key: String, wallet: String) -> tokio::sync::mpsc::Receiver<String> {
    let (send, receive) = tokio::sync::mpsc::channel(512);
    tokio::spawn(async move {
        let Ok(mut connection) = Http::connect(http).await else { return };
        let path = format!("/v1/sandbox/wallets/{wallet}/code-batches");
        loop {
            let key = format!("codes-{}", KEY_SEQUENCE.fetch_add(1, Ordering::Relaxed));
            let Ok((201, body)) = connection.post(&path, &admin_key, &key, br#"{"count":256}"#).await else { return };
            let Ok(batch) = serde_json::from_slice::<serde_json::Value>(&body) else { return };
            for code in batch["codes"].as_array().into_iter().flatten() {
                if send.send(code["code"].as_str().unwrap_or_default().to_owned()).await.is_err() {
                    return;
                }
            }
        }
    });
    receive
}

/// What a load generator sells with: cards in turn, or a wallet's fresh codes.
enum Payer {
    Cards(Vec<CardRead>),
    Codes(tokio::sync::mpsc::Receiver<String>),
}

async fn terminal_load(
    mut terminal: Terminal,
    iso: SocketAddr,
    mut payer: Payer,
    depth: usize,
    rate: Option<f64>,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<(Terminal, Tally)> {
    let stream = TcpStream::connect(iso).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = tokio::io::BufReader::with_capacity(16 * 1024, read);
    let sent: Arc<std::sync::Mutex<HashMap<u32, Instant>>> = Arc::default();
    let in_flight = Arc::new(tokio::sync::Semaphore::new(depth));
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let tally = Arc::new(std::sync::Mutex::new(Tally::default()));
    let reader = {
        let sent = Arc::clone(&sent);
        let in_flight = Arc::clone(&in_flight);
        let tally = Arc::clone(&tally);
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 2];
                if read.read_exact(&mut len).await.is_err() {
                    break;
                }
                let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if read.read_exact(&mut payload).await.is_err() {
                    break;
                }
                let now = Instant::now();
                let Ok(frame) = Frame::decode(&payload) else { break };
                let Ok(reply) = Message::unpack(cup::spec(), &frame.message) else { break };
                let stan: u32 = reply.get_str(11).and_then(|s| s.parse().ok()).unwrap_or(0);
                let began = sent.lock().unwrap_or_else(|p| p.into_inner()).get(&stan).copied();
                if let Some(began) = began
                    && began >= measure_from
                    && began < end
                {
                    let code = reply.get_str(39).unwrap_or("??").to_owned();
                    let mut tally = tally.lock().unwrap_or_else(|p| p.into_inner());
                    if code == "00" {
                        tally.approved += 1;
                    }
                    *tally.codes.entry(code).or_default() += 1;
                    tally.latencies.record(now.duration_since(began));
                }
                // Counted first, then let go: once `sent` is empty, every reply is in the tally.
                sent.lock().unwrap_or_else(|p| p.into_inner()).remove(&stan);
                in_flight.add_permits(1);
            }
        })
    };
    let mut i = 0usize;
    let mut pacer = Pacer::new(rate, start);
    while Instant::now() < end {
        let began = pacer.next().await;
        let permit = in_flight.acquire().await?;
        permit.forget();
        // At the peak, every slot that came free goes out in one write, as a busy terminal's
        // network stack would send them; on a schedule, one at a time.
        let mut count = 1;
        while !pacer.scheduled()
            && let Ok(permit) = in_flight.try_acquire()
        {
            permit.forget();
            count += 1;
        }
        let mut out = Vec::with_capacity(count * 160);
        for _ in 0..count {
            let request = match &mut payer {
                Payer::Cards(cards) => Request::Sale(cards[i % cards.len()].clone(), 100, 1),
                Payer::Codes(codes) => Request::QrSale(codes.recv().await.context("the code feed stopped")?, 100, 1),
            };
            i += 1;
            let mut m = terminal.build(&request).map_err(|e| anyhow::anyhow!("{e}"))?;
            let packed = terminal.mac(&mut m).map_err(|e| anyhow::anyhow!("{e}"))?;
            let stan: u32 = m.get_str(11).and_then(|s| s.parse().ok()).unwrap_or(0);
            sent.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(stan, if pacer.scheduled() { began } else { Instant::now() });
            out.extend_from_slice(&Frame { tpdu: TPDU, header: HEADER, message: packed }.encode());
        }
        write.write_all(&out).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sent.lock().unwrap_or_else(|p| p.into_inner()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(write);
    reader.abort();
    anyhow::ensure!(sent.lock().unwrap_or_else(|p| p.into_inner()).is_empty(), "replies stopped coming");
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    Ok((terminal, tally))
}

fn phase(tallies: Vec<Tally>, seconds: f64, cpu: Option<Usage>) -> Phase {
    let mut latencies = Latencies::default();
    let mut codes: HashMap<String, u64> = HashMap::new();
    let mut approved = 0;
    for t in tallies {
        latencies.extend(t.latencies);
        for (c, n) in t.codes {
            *codes.entry(c).or_default() += n;
        }
        approved += t.approved;
    }
    let answered: u64 = codes.values().sum();
    Phase {
        sales_per_second: approved as f64 / seconds,
        not_approved: answered - approved,
        response_codes: codes,
        latency: latencies.percentiles(),
        server_cpu_us_per_sale: cpu.filter(|_| approved > 0).map(|u| u.server_seconds * 1e6 / approved as f64),
        machine_cpu_busy: cpu.map(|u| u.busy),
        machine_cpu_steal: cpu.map(|u| u.steal),
        machine_cpu_iowait: cpu.map(|u| u.iowait),
    }
}

/// Signs the terminals in (counters in memory: a terminal object lives through every phase, so
/// its STANs go on; the load generator's own durability is not what is measured).
async fn sign_in_all(setup: &Setup, iso: SocketAddr) -> anyhow::Result<Vec<Terminal>> {
    let mut terminals = Vec::new();
    for (i, tid) in setup.tids.iter().enumerate() {
        let config = TerminalConfig {
            tid: tid.clone(),
            mid: setup.mids[i].clone(),
            tmk: setup.tmks[i].clone(),
            state_dir: None,
            reply_timeout: Duration::from_secs(30),
            fsync: false,
        };
        let mut terminal = Terminal::open(config, iso).await?;
        let signed = terminal.sign_in(1, CASHIER_PIN).await?;
        anyhow::ensure!(signed.approved(), "sign-in of {tid}: {}", signed.code);
        terminals.push(terminal);
    }
    Ok(terminals)
}

#[allow(clippy::too_many_arguments)] // the phase's knobs, each used once
async fn iso_phase(
    setup: &Setup,
    terminals: Vec<Terminal>,
    iso: SocketAddr,
    // QR mode: where the sandbox API is, to take payment codes from.
    http: Option<SocketAddr>,
    depth: usize,
    rate_per_terminal: Option<f64>,
    seconds: f64,
    server_pid: u32,
) -> anyhow::Result<(Vec<Terminal>, Phase)> {
    let cpu = CpuWindow::start(server_pid, Duration::from_secs(1), Duration::from_secs_f64(seconds));
    let mut tasks = Vec::new();
    for (i, terminal) in terminals.into_iter().enumerate() {
        let payer = match http {
            Some(http) => Payer::Codes(code_feed(http, setup.admin_key.clone(), setup.wallets[i].clone())),
            None => Payer::Cards(setup.debit_cards.iter().cycle().skip(i).take(4).cloned().collect()),
        };
        tasks.push(tokio::spawn(terminal_load(
            terminal,
            iso,
            payer,
            depth,
            rate_per_terminal,
            Duration::from_secs(1),
            Duration::from_secs_f64(seconds),
        )));
    }
    let mut tallies = Vec::new();
    let mut terminals = Vec::new();
    for task in tasks {
        let (terminal, tally) = task.await??;
        terminals.push(terminal);
        tallies.push(tally);
    }
    Ok((terminals, phase(tallies, seconds, cpu.finish().await)))
}

/// A keep-alive HTTP/1.1 connection.
struct Http {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Http {
    async fn connect(address: SocketAddr) -> anyhow::Result<Http> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Http { stream, buffer: Vec::with_capacity(4096) })
    }

    async fn post(&mut self, path: &str, token: &str, key: &str, body: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.write_all(body).await?;
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).to_string();
                let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while self.buffer.len() < end + 4 + length {
                    let mut chunk = [0u8; 4096];
                    let n = self.stream.read(&mut chunk).await?;
                    anyhow::ensure!(n > 0, "connection closed");
                    self.buffer.extend_from_slice(&chunk[..n]);
                }
                let body = self.buffer[end + 4..end + 4 + length].to_vec();
                self.buffer.drain(..end + 4 + length);
                return Ok((status, body));
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            anyhow::ensure!(n > 0, "connection closed");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

static KEY_SEQUENCE: AtomicU64 = AtomicU64::new(0);

async fn json_client(
    http: SocketAddr,
    token: String,
    tid: String,
    mut payer: Payer,
    rate: Option<f64>,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Tally> {
    let mut connection = Http::connect(http).await?;
    let mut tally = Tally::default();
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let mut pacer = Pacer::new(rate, start);
    let mut i = 0usize;
    while Instant::now() < end {
        let began = pacer.next().await;
        let body = match &mut payer {
            Payer::Cards(cards) => {
                let card = &cards[i % cards.len()];
                serde_json::to_vec(&serde_json::json!({
                    "tid": tid, "amount_minor": 100, "card": { "number": card.pan, "expiry": card.expiry },
                }))?
            }
            Payer::Codes(codes) => serde_json::to_vec(&serde_json::json!({
                "tid": tid, "amount_minor": 100, "method": "qr",
                "payment_code": codes.recv().await.context("the code feed stopped")?,
            }))?,
        };
        i += 1;
        let key = format!("bench-{}-{}", std::process::id(), KEY_SEQUENCE.fetch_add(1, Ordering::Relaxed));
        let (status, reply) = connection.post("/v1/payments", &token, &key, &body).await?;
        let now = Instant::now();
        if began >= measure_from && began < end {
            let code = if status == 201 {
                serde_json::from_slice::<serde_json::Value>(&reply)
                    .ok()
                    .and_then(|v| v["response_code"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "??".into())
            } else {
                format!("http_{status}")
            };
            if code == "00" {
                tally.approved += 1;
            }
            *tally.codes.entry(code).or_default() += 1;
            tally.latencies.record(now.duration_since(began));
        }
    }
    Ok(tally)
}

async fn json_phase(
    setup: &Setup,
    http: SocketAddr,
    qr: bool,
    clients_per_merchant: usize,
    rate: Option<f64>,
    seconds: f64,
    server_pid: u32,
) -> anyhow::Result<Phase> {
    let cpu = CpuWindow::start(server_pid, Duration::from_secs(1), Duration::from_secs_f64(seconds));
    let mut tasks = Vec::new();
    for (i, tid) in setup.tids.iter().enumerate() {
        for c in 0..clients_per_merchant {
            let payer = if qr {
                Payer::Codes(code_feed(http, setup.admin_key.clone(), setup.wallets[i].clone()))
            } else {
                Payer::Cards(setup.credit_cards.iter().cycle().skip(i + c).take(4).cloned().collect())
            };
            tasks.push(tokio::spawn(json_client(
                http,
                setup.keys[i].clone(),
                tid.clone(),
                payer,
                rate,
                Duration::from_secs(1),
                Duration::from_secs_f64(seconds),
            )));
        }
    }
    let mut tallies = Vec::new();
    for task in tasks {
        tallies.push(task.await??);
    }
    Ok(phase(tallies, seconds, cpu.finish().await))
}

async fn run_backend(
    options: &AuthBenchOptions,
    postgres: Option<&str>,
    progress: &dyn Fn(&str),
) -> anyhow::Result<BackendReport> {
    let dir = tempfile::tempdir()?;
    let schema = format!("xt_bench_auth_{}", std::process::id());
    let database = match postgres {
        None => Database::Sqlite { data_dir: dir.path().into() },
        Some(url) => Database::Postgres { url: url.into(), schema: Some(schema.clone()) },
    };
    let backend = if postgres.is_some() { "postgres" } else { "sqlite" };
    progress(&format!("{backend}: preparing {} merchants, terminals and cards", options.terminals));
    let setup = prepare(database.clone(), dir.path(), options.terminals).await?;
    let server = start_server(&options.server_binary, dir.path(), postgres.map(|url| (url, schema.as_str())))?;
    let pid = server.child.id();
    progress(&format!("{backend}: ISO 8583 peak, {} terminals × {} in flight", options.terminals, options.depth));
    let terminals = sign_in_all(&setup, server.iso).await?;
    let codes = options.qr.then_some(server.http);
    let (terminals, peak) =
        iso_phase(&setup, terminals, server.iso, codes, options.depth, None, options.seconds, pid).await?;
    progress(&format!("{backend}: ISO 8583 peak {:.0} sales/s; now at half", peak.sales_per_second));
    let per_terminal = peak.sales_per_second / 2.0 / options.terminals as f64;
    let (_, half) = iso_phase(
        &setup,
        terminals,
        server.iso,
        codes,
        options.depth.max(64),
        Some(per_terminal),
        options.seconds,
        pid,
    )
    .await?;
    let json = if options.skip_json {
        None
    } else {
        progress(&format!("{backend}: JSON peak, {} clients", options.terminals * 4));
        let peak = json_phase(&setup, server.http, options.qr, 4, None, options.seconds, pid).await?;
        progress(&format!("{backend}: JSON peak {:.0} sales/s; now at half", peak.sales_per_second));
        let per_client = peak.sales_per_second / 2.0 / (options.terminals * 4) as f64;
        let half = json_phase(&setup, server.http, options.qr, 4, Some(per_client), options.seconds, pid).await?;
        Some(Channel { peak, half_peak: half })
    };
    let rss = peak_rss_mib(pid);
    let commits = commit_stats(server.http).await;
    drop(server);
    let store = Store::open(StoreOptions::new(database)).await?.store;
    let balanced = store.audit().await.is_ok();
    store.close().await;
    if let Some(url) = postgres {
        crate::ledger::drop_schema(url, &schema).await;
    }
    Ok(BackendReport {
        backend: backend.into(),
        iso8583: Channel { peak, half_peak: half },
        json,
        server_peak_rss_mib: rss,
        commits,
        terminals: options.terminals,
        depth: options.depth,
        ledger_balanced: balanced,
    })
}

/// Runs the benchmark.
pub async fn run(options: &AuthBenchOptions, progress: &dyn Fn(&str)) -> anyhow::Result<AuthReport> {
    let mut backends = vec![run_backend(options, None, progress).await?];
    let postgres_skipped = match &options.postgres_url {
        Some(url) => {
            backends.push(run_backend(options, Some(url), progress).await?);
            None
        }
        None => Some("no --postgres URL given".to_owned()),
    };
    for b in &backends {
        let j = b.json.as_ref();
        progress(&format!(
            "{:<8} ISO 8583 {:>8.0} sales/s (p99 {:.1} ms; server CPU {:.0} µs/sale; machine busy {:.0} %, steal {:.0} %; at half: p50 {:.2} ms p99 {:.2} ms p999 {:.2} ms)  JSON {:>7.0} sales/s (server CPU {:.0} µs/sale; at half: p99 {:.2} ms)  peak RSS {:.0} MiB",
            b.backend,
            b.iso8583.peak.sales_per_second,
            b.iso8583.peak.latency.p99_us / 1000.0,
            b.iso8583.peak.server_cpu_us_per_sale.unwrap_or(f64::NAN),
            b.iso8583.peak.machine_cpu_busy.unwrap_or(f64::NAN) * 100.0,
            b.iso8583.peak.machine_cpu_steal.unwrap_or(f64::NAN) * 100.0,
            b.iso8583.half_peak.latency.p50_us / 1000.0,
            b.iso8583.half_peak.latency.p99_us / 1000.0,
            b.iso8583.half_peak.latency.p999_us / 1000.0,
            j.map_or(0.0, |j| j.peak.sales_per_second),
            j.and_then(|j| j.peak.server_cpu_us_per_sale).unwrap_or(f64::NAN),
            j.map_or(0.0, |j| j.half_peak.latency.p99_us / 1000.0),
            b.server_peak_rss_mib
        ));
    }
    Ok(AuthReport { method: if options.qr { "qr" } else { "card" }, backends, postgres_skipped })
}

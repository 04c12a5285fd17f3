//! Card payments end to end: a real gateway on a TCP port, the terminal library on the other side,
//! the sandbox issuer behind; every transaction type and every failure the issue names; the
//! ledger balances at the end of every test.

mod clearing;
mod deposit;
mod processes;
mod protocol;
mod qr;
mod qr_order;
mod qr_simulation;
mod recon;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use xingtong_merchants::applications::Approval;
use xingtong_merchants::identity::Registration;
use xingtong_merchants::{Merchants, Principal, Role};
use xingtong_onboarding::application::{Applicant, Application, Business, BusinessType, SettlementAccount};
use xingtong_onboarding::documents::{DocumentKind, fixtures};
use xingtong_payments::card::{Brand, CardType};
use xingtong_payments::chart;
use xingtong_payments::network::CardNetwork;
use xingtong_payments::sandbox::{CardStatus, NewCard, SandboxCard, SandboxNetwork};
use xingtong_payments::sandbox_wallet::SandboxWallets;
use xingtong_payments::wallet::WalletNetwork;
use xingtong_payments::{Config, Engine};
use xingtong_pos::{CardRead, Request, Terminal, TerminalConfig};
use xingtong_store::{Database, Store, StoreOptions};

const SUPERVISOR_PIN: &str = "246810";
const CASHIER_PIN: &str = "135790";

struct World {
    engine: Engine,
    sandbox: Arc<SandboxNetwork>,
    wallets: Arc<SandboxWallets>,
    merchants: Merchants,
    address: SocketAddr,
    tid: String,
    mid: String,
    tmk: xingtong_crypto::Key,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn world() -> anyhow::Result<World> {
    let dir = tempfile::tempdir()?;
    let database = Database::Sqlite { data_dir: dir.path().into() };
    world_on(dir, database, Config::default()).await
}

/// One process of the platform: a store, the services and a gateway on a TCP port.
struct Process {
    merchants: Merchants,
    sandbox: Arc<SandboxNetwork>,
    wallets: Arc<SandboxWallets>,
    engine: Engine,
    address: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts a process on `database`, with the host master key kept in `dir`.
async fn process(dir: &std::path::Path, database: Database, config: Config) -> anyhow::Result<Process> {
    let store = Store::open(StoreOptions::new(database)).await?.store;
    let key = xingtong_merchants::load_or_create_master_key(&dir.join("master.key"))?;
    let merchants = Merchants::new(
        store.clone(),
        key,
        xingtong_merchants::Config { activation_kdf_iterations: 1_000, ..Default::default() },
    );
    let mut sandbox = SandboxNetwork::new(store.clone(), &merchants);
    sandbox.answer_within = Duration::from_millis(1_500);
    let sandbox = Arc::new(sandbox);
    let mut wallets = SandboxWallets::new(store.clone(), config.clock.clone());
    wallets.answer_within = Duration::from_millis(1_000);
    let wallets = Arc::new(wallets);
    let engine = Engine::new(
        merchants.clone(),
        Arc::clone(&sandbox) as Arc<dyn CardNetwork>,
        Arc::clone(&wallets) as Arc<dyn WalletNetwork>,
        config,
    );
    engine.bootstrap().await?;
    // The wallets' payment notifications reach the host as they would over HTTP.
    if let Some(notifications) = wallets.take_notifications() {
        tokio::spawn(engine.receive_notifications(notifications));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(xingtong_gateway::serve(
        listener,
        xingtong_payments::iso::dispatcher(engine.clone()),
        xingtong_gateway::GatewayConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(Process { merchants, sandbox, wallets, engine, address, stop })
}

/// A merchant with a supervisor, a cashier and a terminal, served by one process on `database`.
async fn world_on(dir: tempfile::TempDir, database: Database, config: Config) -> anyhow::Result<World> {
    let Process { merchants, sandbox, wallets, engine, address, stop } = process(dir.path(), database, config).await?;
    let (mid, tid, tmk) = onboard(&merchants, 1).await?;
    Ok(World { engine, sandbox, wallets, merchants, address, tid, mid, tmk, dir, _stop: stop })
}

/// Onboards merchant number `n` (its owner's phone and the rest made from `n`): approved, with
/// supervisor 00, cashier 01 and a terminal ready to sign in. Returns its MID, TID and TMK.
async fn onboard(merchants: &Merchants, n: u32) -> anyhow::Result<(String, String, xingtong_crypto::Key)> {
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    let phone = format!("1390000{n:04}");
    let (user, _) = merchants
        .register_owner(Registration {
            name: "王芳".into(),
            phone: phone.clone(),
            email: None,
            password: "a long enough password".into(),
            language: None,
        })
        .await?;
    let owner = Principal::Owner { user_id: user.id.clone(), merchant_ids: Vec::new() };
    let form = Application {
        applicant: Applicant {
            legal_name: "王芳".into(),
            resident_id: "11010519491231002X".into(),
            phone,
            email: format!("wf{n}@example.cn"),
            address: "上海".into(),
        },
        business: Business {
            name: format!("王芳小吃{n}"),
            business_type: BusinessType::Individual,
            unified_social_credit_code: None,
        },
        settlement_account: SettlementAccount {
            card_number: "6222021234567890128".into(),
            bank_name: "中国银行".into(),
            account_holder: "王芳".into(),
        },
        delivery_address: "上海".into(),
    };
    let application = merchants.create_application(&owner, form).await?;
    let id = application.value.id;
    for kind in DocumentKind::required_for(BusinessType::Individual) {
        merchants.upload_document(&owner, &id, kind, "a.png", None, fixtures::png(100, 100)).await?;
    }
    merchants.submit_application(&owner, &id).await?;
    merchants.start_review(&staff, &id).await?;
    let (_, merchant, _) = merchants.approve_application(&staff, &id, Approval::default()).await?;
    let mid = merchant.mid.clone();
    let owner = Principal::Owner { user_id: user.id, merchant_ids: vec![mid.clone()] };
    merchants.set_cashier_pin(&owner, &mid, "00", SUPERVISOR_PIN.into()).await?;
    merchants.create_cashier(&owner, &mid, "01", "小李", CASHIER_PIN.into()).await?;
    let provisioned = merchants.provision_terminal("staff:test", &mid, None, None).await?;
    Ok((mid, provisioned.tid, provisioned.tmk))
}

impl World {
    async fn terminal(&self, timeout_ms: u64) -> anyhow::Result<Terminal> {
        let config = TerminalConfig {
            tid: self.tid.clone(),
            mid: self.mid.clone(),
            tmk: self.tmk.clone(),
            state_dir: Some(self.dir.path().join("terminal")),
            reply_timeout: Duration::from_millis(timeout_ms),
            fsync: false,
        };
        Ok(Terminal::open(config, self.address).await?)
    }

    async fn card(
        &self,
        brand: Brand,
        card_type: CardType,
        balance: i64,
        tweak: impl Fn(&mut NewCard),
    ) -> anyhow::Result<SandboxCard> {
        let mut spec = NewCard {
            brand,
            card_type,
            pan: None,
            expiry: None,
            pin: "147258".into(),
            balance_minor: balance,
            status: None,
            delay_ms: 0,
            timeout: false,
        };
        tweak(&mut spec);
        Ok(self.sandbox.create_card("test", spec).await?)
    }

    async fn balance_of(&self, card: &SandboxCard) -> anyhow::Result<i64> {
        Ok(self.sandbox.balance(card).await?)
    }

    async fn account(&self, id: u128) -> anyhow::Result<i128> {
        let a = self.engine.store().lookup_accounts(vec![id]).await?;
        let a = a.first().context("account")?;
        Ok(a.credits_posted as i128 - a.debits_posted as i128)
    }

    async fn merchant_balance(&self) -> anyhow::Result<i128> {
        self.account(chart::merchant_account_id(&self.mid, chart::ACCOUNT_MERCHANT_SETTLEMENT).context("id")?).await
    }

    async fn balanced(&self) -> anyhow::Result<()> {
        self.engine.store().audit().await?;
        Ok(())
    }
}

/// The owner of merchant `mid` changes its settlement card to `number`, with the one-time code
/// the SMS brought (the onboarding card-change flow).
async fn change_card(w: &World, mid: &str, number: &str) -> anyhow::Result<()> {
    use xingtong_merchants::bank_card::NewCard;
    use xingtong_merchants::notify::Template;
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    let m = w.merchants.merchant(&staff, mid).await?.value;
    let owner = Principal::Owner { user_id: m.owner_user_id, merchant_ids: vec![mid.to_owned()] };
    let card =
        NewCard { card_number: number.into(), bank_name: "招商银行".into(), account_holder: "王芳".into() };
    let change = w.merchants.request_card_change(&owner, mid, card).await?;
    let outbox = w.merchants.notifications(&staff, &[]).await?;
    let text = outbox
        .iter()
        .rev()
        .find(|n| n.value.template == Template::CardChangeCode && n.value.channel == "sms")
        .map(|n| n.value.text.clone())
        .context("the code's SMS")?;
    let code: String = text.split("验证码 ").nth(1).context("code")?.chars().take(6).collect();
    w.merchants.confirm_card_change(&owner, mid, &change.id, &code).await?;
    Ok(())
}

/// The origin of a terminal's reversal (operator 01, as the gateway hands it to the engine).
fn reversal_origin(tid: &str, mid: &str, batch: u32, stan: u32) -> xingtong_payments::Origin {
    xingtong_payments::Origin {
        tid: tid.to_owned(),
        mid: mid.to_owned(),
        batch,
        stan,
        operator: "01".into(),
        channel: "iso8583",
        fresh: false,
        binding: None,
        session_version: None,
    }
}

fn read(card: &SandboxCard, pin: Option<&str>) -> CardRead {
    CardRead { pan: card.pan.expose().to_owned(), expiry: card.expiry.clone(), pin: pin.map(str::to_owned) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transaction_type_over_tcp_with_its_postings() -> anyhow::Result<()> {
    let w = world().await?;
    let mut t = w.terminal(5_000).await?;
    // Sign-in: a wrong operator PIN is 55; the right one gives keys whose check values verify.
    let wrong = t.sign_in(1, "000000").await?;
    ensure!(wrong.code == "55", "{wrong:?}");
    let signed = t.sign_in(1, CASHIER_PIN).await?;
    ensure!(signed.approved() && t.working_keys().is_some(), "{signed:?}");

    let debit = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let pin = Some("147258");
    // Balance inquiry.
    let balance = t.send(&Request::Balance(read(&debit, pin))).await?;
    ensure!(balance.approved() && balance.balance_minor() == Some(1_000_000), "{balance:?}");

    // Sale of ¥500.00: the merchant gets it net of 0.50 %, the fee goes to revenue.
    let sale = t.send(&Request::Sale(read(&debit, pin), 50_000, 1)).await?;
    ensure!(sale.approved() && sale.auth_code().is_some() && sale.rrn().is_some(), "{sale:?}");
    ensure!(w.balance_of(&debit).await? == 950_000);
    ensure!(w.merchant_balance().await? == 50_000 - 250);
    ensure!(w.account(chart::platform_account_id(chart::ACCOUNT_FEE_REVENUE)).await? == 250);
    let recorded = w.engine.transaction(&w.tid, sale.batch, sale.stan).await?.context("recorded")?;
    ensure!(recorded.value.pan_masked.contains('*') && recorded.value.fee_minor == 250);

    // Void it (supervisor PIN): everything back.
    let void = t
        .send(&Request::Void {
            original: (sale.batch, sale.stan),
            amount: 50_000,
            supervisor_pin: SUPERVISOR_PIN.into(),
        })
        .await?;
    ensure!(void.approved(), "{void:?}");
    ensure!(w.balance_of(&debit).await? == 1_000_000 && w.merchant_balance().await? == 0);
    let again = t
        .send(&Request::Void {
            original: (sale.batch, sale.stan),
            amount: 50_000,
            supervisor_pin: SUPERVISOR_PIN.into(),
        })
        .await?;
    ensure!(again.code == "12", "a voided sale is not voided twice: {again:?}");
    let wrong_supervisor = t
        .send(&Request::Void { original: (sale.batch, sale.stan), amount: 50_000, supervisor_pin: "111111".into() })
        .await?;
    ensure!(wrong_supervisor.code == "55", "{wrong_supervisor:?}");

    // A sale refunded in two parts, then refused beyond what remains; the fee comes back pro rata.
    let sale = t.send(&Request::Sale(read(&debit, pin), 10_000, 2)).await?;
    ensure!(sale.approved());
    let date = sale.message.get_str(13).unwrap_or("0101").to_owned();
    let refund = |amount: i64| Request::Refund {
        original: (sale.batch, sale.stan, date.clone()),
        amount,
        rrn: sale.rrn().unwrap_or_default().to_owned(),
        supervisor_pin: SUPERVISOR_PIN.into(),
        reason: "01".into(),
    };
    ensure!(t.send(&refund(4_000)).await?.approved());
    ensure!(t.send(&refund(6_000)).await?.approved());
    let over = t.send(&refund(1)).await?;
    ensure!(over.code == "13", "nothing left to refund: {over:?}");
    ensure!(w.balance_of(&debit).await? == 1_000_000, "the card got everything back");
    ensure!(w.merchant_balance().await? == 0, "the merchant gave back the net: {}", w.merchant_balance().await?);
    ensure!(w.account(chart::platform_account_id(chart::ACCOUNT_FEE_REVENUE)).await? == 0, "the fee went back");

    // Pre-authorization, completion for less, completion void; another pre-authorization voided.
    let pre = t.send(&Request::PreAuthorization(read(&debit, pin), 30_000)).await?;
    ensure!(pre.approved(), "{pre:?}");
    ensure!(w.balance_of(&debit).await? == 970_000, "the hold reduces what is available");
    let auth_code = pre.auth_code().unwrap_or_default().to_owned();
    // The original's date (61.3) is field 13 of its reply.
    let pre_date = pre.message.get_str(13).context("date")?.to_owned();
    let too_much = t
        .send(&Request::Completion {
            original: (pre.batch, pre.stan, pre_date.clone()),
            amount: 30_001,
            auth_code: auth_code.clone(),
        })
        .await?;
    ensure!(too_much.code == "13", "{too_much:?}");
    let completion =
        t.send(&Request::Completion { original: (pre.batch, pre.stan, pre_date), amount: 25_000, auth_code }).await?;
    ensure!(completion.approved(), "{completion:?}");
    ensure!(w.balance_of(&debit).await? == 975_000, "only the completed amount is taken");
    let cv = t
        .send(&Request::CompletionVoid {
            original: (completion.batch, completion.stan),
            amount: 25_000,
            supervisor_pin: SUPERVISOR_PIN.into(),
        })
        .await?;
    ensure!(cv.approved(), "{cv:?}");
    ensure!(w.balance_of(&debit).await? == 1_000_000);
    let pre = t.send(&Request::PreAuthorization(read(&debit, pin), 5_000)).await?;
    let pv = t
        .send(&Request::PreAuthorizationVoid {
            original: (pre.batch, pre.stan),
            amount: 5_000,
            auth_code: pre.auth_code().unwrap_or_default().into(),
        })
        .await?;
    ensure!(pv.approved() && w.balance_of(&debit).await? == 1_000_000, "{pv:?}");

    // The first sale at or above the deposit activated the device.
    let device = w.merchants.device(&Principal::Staff { id: "t".into(), roles: vec![Role::Admin] }, &w.tid).await?;
    ensure!(device.value.status == xingtong_merchants::devices::DeviceStatus::Activated);
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_gets_its_response_code() -> anyhow::Result<()> {
    let w = world().await?;
    let mut t = w.terminal(5_000).await?;
    // Not signed in: the host answers C1 (the terminal library refuses to build without keys, so forge one).
    let mut other = w.terminal(5_000).await?;
    ensure!(other.sign_in(1, CASHIER_PIN).await?.approved());
    let keys = other.working_keys().cloned().context("keys")?;
    ensure!(other.sign_off().await?.approved());
    other.set_working_keys(Some(keys));
    let card = w.card(Brand::Unionpay, CardType::Debit, 100_000, |_| {}).await?;
    let r = other.send(&Request::Sale(read(&card, Some("147258")), 100, 1)).await?;
    ensure!(r.code == "C1", "{r:?}");
    drop(other);

    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let sale = |card: &SandboxCard, pin: &str, amount: i64| Request::Sale(read(card, Some(pin)), amount, 1);
    // Wrong PIN 55, three wrong 75 (and then even the right PIN).
    let r = t.send(&sale(&card, "000000", 100)).await?;
    ensure!(r.code == "55", "{r:?}");
    ensure!(t.send(&sale(&card, "000000", 100)).await?.code == "55");
    ensure!(t.send(&sale(&card, "000000", 100)).await?.code == "75");
    ensure!(t.send(&sale(&card, "147258", 100)).await?.code == "75");
    // Insufficient funds 51; nothing moved.
    let poor = w.card(Brand::Visa, CardType::Debit, 1_000, |_| {}).await?;
    let r = t.send(&sale(&poor, "147258", 1_001)).await?;
    ensure!(r.code == "51", "{r:?}");
    ensure!(w.balance_of(&poor).await? == 1_000 && w.merchant_balance().await? == 0);
    // Expired 54; lost 41; stolen 43; blocked 62.
    let expired = w.card(Brand::Mastercard, CardType::Credit, 100_000, |c| c.expiry = Some("2001".into())).await?;
    ensure!(t.send(&sale(&expired, "147258", 100)).await?.code == "54");
    let lost = w.card(Brand::Unionpay, CardType::Credit, 100_000, |c| c.status = Some(CardStatus::Lost)).await?;
    ensure!(t.send(&sale(&lost, "147258", 100)).await?.code == "41");
    let stolen = w.card(Brand::Unionpay, CardType::Credit, 100_000, |c| c.status = Some(CardStatus::Stolen)).await?;
    ensure!(t.send(&sale(&stolen, "147258", 100)).await?.code == "43");
    // Limit 61: an individual merchant takes at most ¥20,000 a transaction.
    let rich = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    ensure!(t.send(&sale(&rich, "147258", 2_000_001)).await?.code == "61");
    // Credit cards: at most ¥1,000 a day at an individual merchant.
    let credit = w.card(Brand::Visa, CardType::Credit, 10_000_000, |_| {}).await?;
    ensure!(t.send(&sale(&credit, "147258", 90_000)).await?.approved());
    ensure!(t.send(&sale(&credit, "147258", 10_001)).await?.code == "61");
    // Bad MAC A0: a tampered amount after the MAC was computed.
    let mut m = t.build(&sale(&rich, "147258", 100))?;
    t.mac(&mut m)?;
    m.set(4, "000000000200");
    let packed = m.pack(xingtong_iso8583::cup::spec()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let reply = t.exchange_raw(packed).await?;
    ensure!(reply.get_str(39) == Some("A0") && !reply.has(64), "{reply:?}");
    // Duplicate 94: the same STAN again.
    let mut m = t.build(&sale(&rich, "147258", 100))?;
    ensure!(t.send_built(&mut m.clone()).await?.approved());
    let dup = t.send_built(&mut m).await?;
    ensure!(dup.code == "94", "{dup:?}");
    // Original not found 25.
    let r =
        t.send(&Request::Void { original: (1, 999_000), amount: 100, supervisor_pin: SUPERVISOR_PIN.into() }).await?;
    ensure!(r.code == "25", "{r:?}");
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_timeout_is_reversed_by_the_terminal() -> anyhow::Result<()> {
    let w = world().await?;
    let card = w.card(Brand::Unionpay, CardType::Debit, 100_000, |c| c.delay_ms = 1_000).await?;
    {
        let mut t = w.terminal(300).await?;
        ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
        let r = t.send(&Request::Sale(read(&card, Some("147258")), 10_000, 1)).await;
        ensure!(matches!(r, Err(xingtong_pos::PosError::Timeout)), "{r:?}");
        ensure!(t.has_pending_reversal(), "the reversal was written before the sale left");
    }
    // The host finishes the sale after the terminal gave up.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    ensure!(w.balance_of(&card).await? == 90_000, "the late sale went through");
    // The terminal restarts (the reversal is on disk) and sends it first.
    let mut t = w.terminal(5_000).await?;
    ensure!(t.has_pending_reversal());
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    ensure!(!t.has_pending_reversal(), "acknowledged");
    ensure!(w.balance_of(&card).await? == 100_000, "reversed: the card has its money back");
    ensure!(w.merchant_balance().await? == 0);
    // Reversals are idempotent; one without an original is 25, and keeps a late original out.
    let origin = xingtong_payments::Origin {
        tid: w.tid.clone(),
        mid: w.mid.clone(),
        batch: 1,
        stan: 777_777,
        operator: "01".into(),
        channel: "iso8583",
        fresh: false,
        binding: None,
        session_version: None,
    };
    ensure!(
        xingtong_payments::cup::response_code(w.engine.reverse(&origin, 500).await?)
            == xingtong_iso8583::ResponseCode::ORIGINAL_NOT_FOUND
    );
    let late = w
        .engine
        .pay(
            &origin,
            &xingtong_payments::Card { pan: card.pan.expose().to_owned(), expiry: None, pin_block: None },
            500,
            xingtong_payments::txn::Kind::Sale,
            Default::default(),
            (None, None),
        )
        .await?;
    ensure!(
        xingtong_payments::cup::response_code(late.outcome).code == "94",
        "a late original after its reversal is refused: {late:?}"
    );
    // An issuer that never answers: 68.
    let silent = w.card(Brand::Unionpay, CardType::Debit, 100_000, |c| c.timeout = true).await?;
    let r = t.send(&Request::Sale(read(&silent, Some("147258")), 100, 1)).await?;
    ensure!(r.code == "68", "{r:?}");
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_refunds_never_exceed_the_sale() -> anyhow::Result<()> {
    let w = world().await?;
    let mut t = w.terminal(5_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let card = w.card(Brand::Unionpay, CardType::Debit, 100_000, |_| {}).await?;
    let sale = t.send(&Request::Sale(read(&card, Some("147258")), 1_000, 1)).await?;
    ensure!(sale.approved());
    // 24 refunds of ¥1.00 race for a ¥10.00 sale.
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let engine = w.engine.clone();
            let origin = xingtong_payments::Origin {
                tid: w.tid.clone(),
                mid: w.mid.clone(),
                batch: sale.batch,
                stan: 500_000 + i,
                operator: "00".into(),
                channel: "api",
                fresh: false,
                binding: None,
                session_version: None,
            };
            let original = (sale.batch, sale.stan);
            tokio::spawn(async move { engine.refund(&origin, original, 100, Some("01".into())).await })
        })
        .collect();
    let mut approved = 0;
    for task in tasks {
        let answer = task.await??;
        if answer.outcome.is_approved() {
            approved += 1;
        } else {
            ensure!(xingtong_payments::cup::response_code(answer.outcome).code == "13", "{answer:?}");
        }
    }
    ensure!(approved == 10, "exactly the sale's worth: {approved}");
    let original = w.engine.transaction(&w.tid, sale.batch, sale.stan).await?.context("sale")?;
    ensure!(original.value.refunded_minor == 1_000 && original.value.fee_refunded_minor == original.value.fee_minor);
    ensure!(w.balance_of(&card).await? == 100_000);
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refuses_unknown_suspended_and_locked() -> anyhow::Result<()> {
    let w = world().await?;
    let staff = Principal::Staff { id: "t".into(), roles: Role::ALL.to_vec() };
    // An unknown terminal: 97.
    let mut stranger = Terminal::open(
        TerminalConfig {
            tid: "99999999".into(),
            mid: w.mid.clone(),
            tmk: w.tmk.clone(),
            state_dir: None,
            reply_timeout: Duration::from_secs(5),
            fsync: false,
        },
        w.address,
    )
    .await?;
    ensure!(stranger.sign_in(1, CASHIER_PIN).await?.code == "97");
    // Another merchant's number: 03.
    let mut wrong_mid = Terminal::open(
        TerminalConfig {
            tid: w.tid.clone(),
            mid: "898310053999999".into(),
            tmk: w.tmk.clone(),
            state_dir: None,
            reply_timeout: Duration::from_secs(5),
            fsync: false,
        },
        w.address,
    )
    .await?;
    ensure!(wrong_mid.sign_in(1, CASHIER_PIN).await?.code == "03");
    // An unknown operator: 05; five wrong PINs lock the operator: 75, even with the right PIN.
    let mut t = w.terminal(5_000).await?;
    ensure!(t.sign_in(7, CASHIER_PIN).await?.code == "05");
    for _ in 0..4 {
        ensure!(t.sign_in(1, "000000").await?.code == "55");
    }
    ensure!(t.sign_in(1, "000000").await?.code == "75");
    ensure!(t.sign_in(1, CASHIER_PIN).await?.code == "75");
    // The supervisor can still sign in; a suspended terminal cannot: 58.
    ensure!(t.sign_in(0, SUPERVISOR_PIN).await?.approved());
    w.merchants.suspend_device(&staff, &w.tid).await?;
    ensure!(t.sign_in(0, SUPERVISOR_PIN).await?.code == "58");
    w.merchants.resume_device(&staff, &w.tid).await?;
    ensure!(t.sign_in(0, SUPERVISOR_PIN).await?.approved());
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reversed_void_restores_the_sale() -> anyhow::Result<()> {
    let w = world().await?;
    let mut t = w.terminal(5_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let card = w.card(Brand::Unionpay, CardType::Debit, 100_000, |_| {}).await?;
    let sale = t.send(&Request::Sale(read(&card, Some("147258")), 20_000, 1)).await?;
    ensure!(sale.approved());
    let void = t
        .send(&Request::Void {
            original: (sale.batch, sale.stan),
            amount: 20_000,
            supervisor_pin: SUPERVISOR_PIN.into(),
        })
        .await?;
    ensure!(void.approved() && w.balance_of(&card).await? == 100_000);
    // The terminal never saw the void's reply and reverses it: the sale stands again.
    let origin = xingtong_payments::Origin {
        tid: w.tid.clone(),
        mid: w.mid.clone(),
        batch: void.batch,
        stan: void.stan,
        operator: "01".into(),
        channel: "iso8583",
        fresh: false,
        binding: None,
        session_version: None,
    };
    ensure!(w.engine.reverse(&origin, 20_000).await?.is_approved());
    ensure!(w.engine.reverse(&origin, 20_000).await?.is_approved(), "idempotent");
    let restored = w.engine.transaction(&w.tid, sale.batch, sale.stan).await?.context("sale")?;
    ensure!(restored.value.status == xingtong_payments::txn::Status::Approved);
    ensure!(w.balance_of(&card).await? == 80_000 && w.merchant_balance().await? == 20_000 - 100);
    // A reversal of the sale itself, with the wrong amount, matches nothing (25); with the right one it undoes it.
    let sale_origin = xingtong_payments::Origin { stan: sale.stan, ..origin };
    ensure!(
        xingtong_payments::cup::response_code(w.engine.reverse(&sale_origin, 19_999).await?)
            == xingtong_iso8583::ResponseCode::ORIGINAL_NOT_FOUND
    );
    ensure!(w.engine.reverse(&sale_origin, 20_000).await?.is_approved());
    ensure!(w.balance_of(&card).await? == 100_000 && w.merchant_balance().await? == 0);
    w.balanced().await
}

/// Card transactions written by a release before the typed table (records of kind `card_txn`)
/// are moved into it when the engine starts, and read back the same.
#[tokio::test]
async fn card_transactions_of_earlier_releases_move_into_the_typed_table() -> anyhow::Result<()> {
    use xingtong_merchants::entity::Entity;
    use xingtong_payments::txn::{BusinessType as Business, CardTransaction, Kind, Status};
    let dir = tempfile::tempdir()?;
    let database = Database::Sqlite { data_dir: dir.path().into() };
    let legacy = |stan: u32| CardTransaction {
        id: CardTransaction::key("10000001", 1, stan),
        kind: Kind::Sale,
        status: Status::Approved,
        decline: None,
        mid: "898310053990001".into(),
        tid: "10000001".into(),
        batch: 1,
        stan,
        operator: "01".into(),
        amount_minor: 1_000 * i64::from(stan),
        fee_minor: 6,
        pan_masked: "622202*********0128".into(),
        pan_token: "t".into(),
        brand: None,
        card_type: None,
        rrn: format!("{stan:012}"),
        auth_code: Some("123456".into()),
        business_type: Business::Sale,
        original_id: None,
        refunded_minor: 0,
        fee_refunded_minor: 0,
        funding: None,
        pending_transfer: None,
        movements: Vec::new(),
        channel: "iso8583".into(),
        business_day: "20261127".into(),
        at: 1,
        reason: None,
        balance_minor: None,
        customer_phone: None,
        customer_email: None,
        qr: None,
        binding: None,
        session_guard: None,
    };
    {
        // As the earlier release wrote them: unlisted records, one compact and one JSON body.
        let store = Store::open(StoreOptions::new(database.clone())).await?.store;
        let mut change = xingtong_store::Change::default();
        for (stan, body) in [(1, legacy(1).to_body()?), (2, serde_json::to_vec(&legacy(2))?)] {
            let mut put = xingtong_merchants::entity::insert(&legacy(stan))?;
            put.txn = None;
            put.record.body = body;
            change.puts.push(put);
        }
        store.apply(change).await?;
        ensure!(store.unlisted_records("card_txn", 10).await?.len() == 2);
        store.close().await;
    }
    let process = process(dir.path(), database, Config::default()).await?;
    let store = process.merchants.store().clone();
    ensure!(store.unlisted_records("card_txn", 10).await?.is_empty(), "nothing left behind");
    for stan in [1, 2] {
        let moved = process.engine.transaction("10000001", 1, stan).await?.context("moved")?;
        ensure!(moved.value.amount_minor == 1_000 * i64::from(stan) && moved.value.rrn == format!("{stan:012}"));
    }
    let day = xingtong_store::TxnQuery {
        merchant: Some("898310053990001".into()),
        day_from: Some("20261127".into()),
        day_to: Some("20261127".into()),
        limit: 10,
        ..Default::default()
    };
    let rows = store.transactions(day).await?;
    ensure!(rows.len() == 2 && rows.iter().map(|r| r.columns.amount_minor).sum::<i64>() == 3_000, "{rows:?}");
    ensure!(rows.iter().all(|r| r.columns.txn_type == "sale" && r.columns.terminal_id == "10000001"));
    let _ = process.stop.send(());
    Ok(())
}

/// Batches, settlements and payouts written by a release before their typed tables (records of
/// kinds `card_batch`, `settlement`, `payout`) are moved into them when the engine starts, keeping
/// their creation times, and are found by id and by their columns afterwards.
#[tokio::test]
async fn batches_settlements_and_payouts_of_earlier_releases_move_into_their_tables() -> anyhow::Result<()> {
    use xingtong_merchants::entity::insert;
    use xingtong_merchants::merchant::SettlementCycle;
    use xingtong_payments::clearing::{Settlement, SettlementStatus};
    use xingtong_payments::payouts::{Payout, PayoutPurpose, PayoutStatus};
    use xingtong_payments::settle::{Batch, BatchStatus, BatchTotals};
    use xingtong_store::{Table, TableQuery};
    let dir = tempfile::tempdir()?;
    let database = Database::Sqlite { data_dir: dir.path().into() };
    let mid = "898310053990001";
    let batch = Batch {
        id: Batch::key("10000001", 1),
        mid: mid.into(),
        tid: "10000001".into(),
        batch: 1,
        status: BatchStatus::Balanced,
        business_day: "20261127".into(),
        settled_at: 1,
        terminal: Some(BatchTotals::default()),
        host: BatchTotals::default(),
        domestic_balanced: true,
        foreign_balanced: true,
        uploaded: Vec::new(),
        upload_end_count: None,
        differences: Vec::new(),
    };
    let settlement = Settlement {
        id: Settlement::key(mid, "20261127"),
        mid: mid.into(),
        business_day: "20261127".into(),
        seq: 1,
        cycle: SettlementCycle::T1,
        status: SettlementStatus::Cleared,
        lines: 1,
        captured_minor: 10_000,
        captured_count: 1,
        returned_minor: 0,
        returned_count: 0,
        fees_minor: 60,
        surcharge_minor: 0,
        net_minor: 9_940,
        carried_in_minor: 0,
        payout_minor: 9_940,
        carried_out_minor: 0,
        payout_date: "20261128".into(),
        cleared_at: 1,
    };
    let payout = Payout {
        id: Payout::key(&settlement.id),
        mid: mid.into(),
        settlement_id: settlement.id.clone(),
        business_day: "20261127".into(),
        amount_minor: 9_940,
        payout_date: "20261128".into(),
        status: PayoutStatus::Paid,
        attempts: Vec::new(),
        purpose: PayoutPurpose::Settlement,
    };
    let created = {
        // As the earlier release wrote them: listed records with JSON bodies.
        let store = Store::open(StoreOptions::new(database.clone())).await?.store;
        let mut change = xingtong_store::Change::default();
        for mut put in [insert(&batch)?, insert(&settlement)?, insert(&payout)?] {
            put.typed = None;
            change.puts.push(put);
        }
        store.apply(change).await?;
        let created = store.record("payout", &payout.id).await?.context("written as a record")?.created_at;
        store.close().await;
        created
    };
    let process = process(dir.path(), database, Config::default()).await?;
    let store = process.merchants.store().clone();
    for kind in ["card_batch", "settlement", "payout"] {
        ensure!(
            store.records(xingtong_store::RecordQuery::kind(kind)).await?.is_empty(),
            "{kind}: nothing left behind"
        );
    }
    ensure!(process.engine.batch("10000001", 1).await?.context("batch moved")?.value == batch);
    ensure!(process.engine.settlements_of_day(mid, "20261127").await? == std::slice::from_ref(&settlement));
    let moved = process.engine.payout(&payout.id).await?.context("payout moved")?;
    ensure!(moved.value == payout && moved.created_at == created && moved.version == 1);
    let by_date =
        TableQuery::new(Table::Payouts).merchant(mid).filter("payout_date", xingtong_store::Cmp::Eq, "20261128");
    ensure!(store.table_records(by_date).await?.len() == 1);
    let _ = process.stop.send(());
    Ok(())
}

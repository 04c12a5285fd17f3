//! The demo tenant: made by `serve` when it creates a database (unless `--no-demo`), so that a
//! newcomer has a merchant, a terminal to activate, cashiers and test cards in every state at once.
//! Everything it makes is labelled DEMO; it goes through the same services as any merchant's
//! journey (register, apply, review, approve, ship), so it is a real tenant, not fixtures.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use xingtong_merchants::identity::{Principal, Registration, Role};
use xingtong_onboarding::application::{Applicant, Application, Business, BusinessType, SettlementAccount};
use xingtong_onboarding::documents::{DocumentKind, fixtures};
use xingtong_payments::card::{Brand, CardType};
use xingtong_payments::sandbox::{CardStatus, NewCard};

use crate::admin::{Services, service_error};

/// The demo owner's login and password (a demo: they are printed).
const OWNER_PHONE: &str = "13888888888";
const OWNER_PASSWORD: &str = "demo owner password";
/// PINs of the demo's operators and cards.
const SUPERVISOR_PIN: &str = "246810";
const CASHIER_PINS: [(&str, &str, &str); 2] =
    [("01", "演示收银员一 Demo cashier 1", "135790"), ("02", "演示收银员二 Demo cashier 2", "135791")];
const CARD_PIN: &str = "147258";
/// The file the demo's test cards are written to, in the data directory.
pub const CARDS_FILE: &str = "demo-cards.json";

/// One demo test card, as the cards file lists it.
#[derive(Debug, Serialize)]
pub struct DemoCard {
    /// What it is for: `good debit`, `low balance`, `lost`, …
    pub label: &'static str,
    /// The whole number (a sandbox card).
    pub number: String,
    /// YYMM.
    pub expiry: String,
    /// Track 2 as a swipe reads it: number, `=`, expiry, service code 101.
    pub track2: String,
    /// The cardholder's PIN.
    pub pin: &'static str,
    /// `debit` or `credit`.
    pub card_type: &'static str,
    /// Balance or credit limit, minor units.
    pub balance_minor: i64,
}

/// A demo card to make: label, type, balance, status, expiry.
type CardSpec = (&'static str, CardType, i64, Option<CardStatus>, Option<&'static str>);

/// What the demo made: what a terminal needs, and the cards.
#[derive(Debug)]
pub struct DemoTenant {
    pub mid: String,
    pub name: String,
    pub tid: String,
    pub serial_number: String,
    pub activation_code: String,
    pub cards: Vec<DemoCard>,
}

/// Makes the demo tenant and writes its cards file into `data_dir`.
pub async fn create(services: &Services, data_dir: &Path) -> anyhow::Result<DemoTenant> {
    let merchants = &services.merchants;
    let e = service_error;
    let staff = Principal::Staff { id: "demo".into(), roles: Role::ALL.to_vec() };
    let name = "星通演示商户 DEMO".to_owned();
    let (user, _) = merchants
        .register_owner(Registration {
            name: "演示店主 Demo owner".into(),
            phone: OWNER_PHONE.into(),
            email: Some("demo@xingtong.invalid".into()),
            password: OWNER_PASSWORD.into(),
            language: None,
        })
        .await
        .map_err(e)?;
    let owner = Principal::Owner { user_id: user.id.clone(), merchant_ids: Vec::new() };
    let form = Application {
        applicant: Applicant {
            legal_name: "演示店主".into(),
            resident_id: "11010519491231002X".into(),
            phone: OWNER_PHONE.into(),
            email: "demo@xingtong.invalid".into(),
            address: "上海市浦东新区世纪大道100号 (DEMO)".into(),
        },
        business: Business {
            name: name.clone(),
            business_type: BusinessType::Individual,
            unified_social_credit_code: None,
        },
        settlement_account: SettlementAccount {
            card_number: "6222021234567890128".into(),
            bank_name: "演示银行 Demo Bank".into(),
            account_holder: "演示店主".into(),
        },
        delivery_address: "上海市浦东新区世纪大道100号 (DEMO)".into(),
    };
    let id = merchants.create_application(&owner, form).await.map_err(e)?.value.id;
    for kind in [DocumentKind::IdCardFront, DocumentKind::IdCardBack, DocumentKind::StorefrontPhoto] {
        let image = fixtures::png(640, 400);
        merchants.upload_document(&owner, &id, kind, "demo.png", Some("image/png"), image).await.map_err(e)?;
    }
    merchants.submit_application(&owner, &id).await.map_err(e)?;
    merchants.start_review(&staff, &id).await.map_err(e)?;
    let approval = xingtong_merchants::applications::Approval::default();
    let (_, merchant, device) = merchants.approve_application(&staff, &id, approval).await.map_err(e)?;
    let owner = Principal::Owner { user_id: user.id, merchant_ids: vec![merchant.mid.clone()] };
    merchants.set_cashier_pin(&owner, &merchant.mid, "00", SUPERVISOR_PIN.into()).await.map_err(e)?;
    for (operator, cashier, pin) in CASHIER_PINS {
        merchants.create_cashier(&owner, &merchant.mid, operator, cashier, pin.into()).await.map_err(e)?;
    }

    let mut cards = Vec::new();
    let specs: [CardSpec; 7] = [
        ("good debit", CardType::Debit, 1_000_000, None, None),
        ("good credit", CardType::Credit, 2_000_000, None, None),
        ("low balance", CardType::Debit, 1_000, None, None),
        ("blocked", CardType::Debit, 1_000_000, Some(CardStatus::Blocked), None),
        ("lost", CardType::Credit, 1_000_000, Some(CardStatus::Lost), None),
        ("stolen", CardType::Credit, 1_000_000, Some(CardStatus::Stolen), None),
        ("expired", CardType::Debit, 1_000_000, None, Some("2001")),
    ];
    for (label, card_type, balance_minor, status, expiry) in specs {
        let spec = NewCard {
            brand: Brand::Unionpay,
            card_type,
            pan: None,
            expiry: expiry.map(str::to_owned),
            pin: CARD_PIN.into(),
            balance_minor,
            status,
            delay_ms: 0,
            timeout: false,
        };
        let card = services.sandbox.create_card("demo", spec).await.map_err(e)?;
        let number = card.pan.expose().to_owned();
        cards.push(DemoCard {
            label,
            track2: format!("{number}={}101", card.expiry),
            number,
            expiry: card.expiry,
            pin: CARD_PIN,
            card_type: if card_type == CardType::Debit { "debit" } else { "credit" },
            balance_minor,
        });
    }
    // The owner pays the device's deposit with a card of their own (not one of the test cards the
    // demo hands out), as a new merchant does, and staff ship the device once it is paid.
    let card = owners_card(services, 100_000).await?;
    services.engine.pay_deposit(&device.tid, &card, &owner.actor(), None).await.map_err(e)?;
    merchants.ship_device(&staff, &device.tid, Some("DEMO")).await.map_err(e)?;
    let path = data_dir.join(CARDS_FILE);
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, serde_json::to_vec_pretty(&cards)?).with_context(|| format!("writing {}", path.display()))?;
    Ok(DemoTenant {
        mid: merchant.mid,
        name,
        tid: device.tid,
        serial_number: device.serial_number,
        activation_code: device.activation_code.unwrap_or_default(),
        cards,
    })
}

/// A debit card of the demo owner's own (not one the demo hands out) holding `balance_minor`, ready
/// to pay deposits with (its PIN as a block under the network's zone key).
async fn owners_card(services: &Services, balance_minor: i64) -> anyhow::Result<xingtong_payments::Card> {
    let spec = NewCard {
        brand: Brand::Unionpay,
        card_type: CardType::Debit,
        pan: None,
        expiry: None,
        pin: CARD_PIN.into(),
        balance_minor,
        status: None,
        delay_ms: 0,
        timeout: false,
    };
    let made = services.sandbox.create_card("demo", spec).await.map_err(service_error)?;
    xingtong_payments::deposit::card_with_pin(&services.engine, made.pan.expose(), Some(&made.expiry), CARD_PIN)
        .map_err(service_error)
}

/// What `serve` prints about the demo.
/// `addresses` are where the server listens (ISO 8583, HTTP): named on the terminal's command
/// line when they are not the terminal's defaults.
pub fn summary(demo: &DemoTenant, data_dir: &Path, addresses: (SocketAddr, SocketAddr)) -> String {
    let cards: Vec<String> = demo.cards.iter().map(|c| format!("{} {}", c.label, c.number)).collect();
    let mut elsewhere = String::new();
    // (A port 0 is chosen at bind time, after this is printed: the listening lines say it.)
    if addresses.0.port() != 0 && addresses.0.to_string() != "127.0.0.1:8583" {
        elsewhere.push_str(&format!(" --host {}", addresses.0));
    }
    if addresses.1.port() != 0 && addresses.1.to_string() != "127.0.0.1:8080" {
        elsewhere.push_str(&format!(" --api {}", addresses.1));
    }
    format!(
        "xingtong: demo tenant made (labelled DEMO; `serve --no-demo` on a new data directory skips it):\n  \
         merchant {} {}; owner login {OWNER_PHONE}, password \"{OWNER_PASSWORD}\"\n  \
         terminal {} to activate: serial {}, activation code {}\n  \
         cashiers 01 PIN {}, 02 PIN {}; supervisor 00 PIN {SUPERVISOR_PIN}\n  \
         test cards, PIN {CARD_PIN}: {}\n  \
         (all in {})\n  \
         a terminal for it, in another shell: xingtong terminal --cards {} --mid {} --serial {} --code {}{elsewhere}",
        demo.mid,
        demo.name,
        demo.tid,
        demo.serial_number,
        demo.activation_code,
        CASHIER_PINS[0].2,
        CASHIER_PINS[1].2,
        cards.join(", "),
        data_dir.join(CARDS_FILE).display(),
        data_dir.join(CARDS_FILE).display(),
        demo.mid,
        demo.serial_number,
        demo.activation_code,
    )
}

/// What `xingtong demo day` made.
#[derive(Debug, Default, Serialize)]
pub struct DayReport {
    /// The demo merchant.
    pub merchant: String,
    /// The business day of the sales, `YYYY-MM-DD` (China time): the day to clear.
    pub business_day: String,
    /// The terminals it used (provisioned for the day).
    pub terminals: Vec<String>,
    /// Sales approved.
    pub sales: usize,
    /// Their total, minor units.
    pub sales_minor: i64,
    /// Requests declined (a blocked card, a limit).
    pub declined: usize,
    /// … by response code.
    pub declined_codes: std::collections::BTreeMap<String, usize>,
    /// Sales voided by the supervisor.
    pub voids: usize,
    /// Partial refunds.
    pub refunds: usize,
    /// Balance inquiries.
    pub inquiries: usize,
    /// Sales whose reply came too late, reversed by the terminal.
    pub reversals: usize,
    /// The ledger audited balanced afterwards.
    pub balanced: bool,
}

/// Sales each terminal makes in a demo day.
const DAY_SALES_PER_TERMINAL: u64 = 12;

/// Fills the demo tenant with a day of card transactions on `terminals` new terminals: sales on
/// eight customers' cards made for the day (debit with PIN), every fifth voided, every seventh partly refunded, a balance
/// inquiry, a declined blocked card, and on the first terminal a sale whose reply comes too late,
/// which the terminal reverses. The terminals speak ISO 8583 over TCP, to a gateway this command
/// runs on the same core, exactly as real ones do. `progress` hears after each terminal.
pub async fn day(
    services: &Services,
    data_dir: &Path,
    terminals: usize,
    progress: &(dyn Fn(crate::admin::Progress) + Sync),
) -> anyhow::Result<DayReport> {
    use xingtong_pos::{CardRead, Request, Terminal, TerminalConfig};
    let e = service_error;
    let staff = Principal::Staff { id: "demo".into(), roles: Role::ALL.to_vec() };
    let merchant = services
        .merchants
        .merchants(&staff)
        .await
        .map_err(e)?
        .into_iter()
        .find(|m| m.value.name.ends_with("DEMO"))
        .context("there is no demo tenant here: `serve` makes one when it creates a database (without --no-demo)")?
        .value;
    let cards: Vec<serde_json::Value> = serde_json::from_slice(
        &std::fs::read(data_dir.join(CARDS_FILE))
            .with_context(|| format!("reading {}", data_dir.join(CARDS_FILE).display()))?,
    )?;
    let card = |label: &str| -> anyhow::Result<CardRead> {
        let c = cards.iter().find(|c| c["label"] == label).with_context(|| format!("the demo's {label} card"))?;
        Ok(CardRead {
            pan: c["number"].as_str().unwrap_or_default().to_owned(),
            expiry: c["expiry"].as_str().unwrap_or_default().to_owned(),
            pin: (c["card_type"] == "debit").then(|| CARD_PIN.to_owned()),
        })
    };
    let (debit, blocked) = (card("good debit")?, card("blocked")?);
    // The day's customers: a card each, so that no card comes back more often than people do
    // (the same card twenty times a minute at one shop is declined 65).
    let mut customers = Vec::new();
    for i in 0..8 {
        // Mostly debit cards, as in China; an individual merchant takes at most ¥1,000 a day on
        // credit cards (docs/payments.md), so credit sales are kept small below.
        let card_type = if i < 6 { CardType::Debit } else { CardType::Credit };
        let spec = NewCard {
            brand: Brand::Unionpay,
            card_type,
            pan: None,
            expiry: None,
            pin: CARD_PIN.into(),
            balance_minor: 5_000_000,
            status: None,
            delay_ms: 0,
            timeout: false,
        };
        let made = services.sandbox.create_card("demo", spec).await.map_err(e)?;
        let pin = (card_type == CardType::Debit).then(|| CARD_PIN.to_owned());
        customers.push(CardRead { pan: made.pan.expose().to_owned(), expiry: made.expiry, pin });
    }
    // A card whose issuer answers after the terminal has given up: the day's reversal.
    let slow = services
        .sandbox
        .create_card(
            "demo",
            NewCard {
                brand: Brand::Unionpay,
                card_type: CardType::Credit,
                pan: None,
                expiry: None,
                pin: CARD_PIN.into(),
                balance_minor: 1_000_000,
                status: None,
                delay_ms: 3_000,
                timeout: false,
            },
        )
        .await
        .map_err(e)?;
    let slow = CardRead { pan: slow.pan.expose().to_owned(), expiry: slow.expiry, pin: None };

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let gateway = tokio::spawn(xingtong_gateway::serve(
        listener,
        xingtong_payments::iso::dispatcher(services.engine.clone()),
        xingtong_gateway::GatewayConfig::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    // The owner pays each new terminal's deposit with a card of theirs, as for the first device, so
    // that the terminals' deposits count their volume (docs/settlement.md §5).
    let deposit_card = owners_card(services, i64::try_from(terminals).unwrap_or(0) * 29_900 + 100_000).await?;
    let business_day = crate::admin::dashed(&services.engine.clock().business_day());
    let mut report = DayReport { merchant: merchant.mid.clone(), business_day, ..DayReport::default() };
    // A small deterministic generator: the same day every time.
    let mut seed: u64 = 0x5eed_da7a;
    let mut next = move |range: u64| {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % range
    };
    for n in 0..terminals {
        let provisioned = services.merchants.provision_terminal("demo", &merchant.mid, None, None).await.map_err(e)?;
        services.engine.pay_deposit(&provisioned.tid, &deposit_card, "demo", None).await.map_err(e)?;
        let config = TerminalConfig {
            tid: provisioned.tid.clone(),
            mid: merchant.mid.clone(),
            tmk: provisioned.tmk,
            state_dir: None,
            reply_timeout: std::time::Duration::from_secs(2),
            fsync: false,
        };
        let mut terminal = Terminal::open(config, address).await?;
        let (operator, pin) = if n % 2 == 0 { (1, CASHIER_PINS[0].2) } else { (2, CASHIER_PINS[1].2) };
        anyhow::ensure!(
            terminal.sign_in(operator, pin).await?.approved(),
            "terminal {} did not sign in",
            provisioned.tid
        );
        for i in 0..DAY_SALES_PER_TERMINAL {
            let card = customers[usize::try_from(next(8)).unwrap_or(0)].clone();
            let range = if card.pin.is_some() { 49_500 } else { 4_500 };
            let amount = i64::try_from(500 + next(range)).unwrap_or(500);
            let business = u8::try_from(1 + next(3)).unwrap_or(1);
            let sale = terminal.send(&Request::Sale(card, amount, business)).await?;
            if !sale.approved() {
                report.declined += 1;
                *report.declined_codes.entry(sale.code.clone()).or_default() += 1;
                continue;
            }
            report.sales += 1;
            report.sales_minor += amount;
            if i % 5 == 4 {
                let void =
                    Request::Void { original: (sale.batch, sale.stan), amount, supervisor_pin: SUPERVISOR_PIN.into() };
                if terminal.send(&void).await?.approved() {
                    report.voids += 1;
                }
            } else if i % 7 == 6 {
                let refund = Request::Refund {
                    original: (sale.batch, sale.stan, sale.message.get_str(13).unwrap_or_default().to_owned()),
                    amount: amount / 2,
                    rrn: sale.rrn().unwrap_or_default().to_owned(),
                    supervisor_pin: SUPERVISOR_PIN.into(),
                    reason: "01".into(),
                };
                if terminal.send(&refund).await?.approved() {
                    report.refunds += 1;
                }
            }
        }
        if terminal.send(&Request::Balance(debit.clone())).await?.approved() {
            report.inquiries += 1;
        }
        let refused = terminal.send(&Request::Sale(blocked.clone(), 1_000, 1)).await?;
        if !refused.approved() {
            report.declined += 1;
            *report.declined_codes.entry(refused.code.clone()).or_default() += 1;
        }
        if n == 0 {
            // The reply comes after the terminal stopped waiting: it reverses the sale, first thing.
            if terminal.send(&Request::Sale(slow.clone(), 2_500, 1)).await.is_err() {
                // Usually the sale is recorded by then and the reversal undoes it (00); if the
                // reversal overtakes it, the host marks the sale refused before it lands (25).
                // Either way no money moves.
                tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
                if terminal.send_pending_reversal().await?.is_some_and(|r| r.approved() || r.code == "25") {
                    report.reversals += 1;
                }
            }
        }
        report.terminals.push(provisioned.tid);
        progress(crate::admin::Progress {
            done: u64::try_from(n + 1)?,
            total: u64::try_from(terminals)?,
            what: format!("terminal {} done", report.terminals.last().map_or("", String::as_str)),
        });
    }
    let _ = stop.send(());
    let _ = gateway.await;
    report.balanced = services.store.audit().await.is_ok();
    Ok(report)
}

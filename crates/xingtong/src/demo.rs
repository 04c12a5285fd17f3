//! The demo tenant: made by `serve` when it creates a database (unless `--no-demo`), so that a
//! newcomer has a merchant, a terminal to activate, cashiers and test cards in every state at once.
//! Everything it makes is labelled DEMO; it goes through the same services as any merchant's
//! journey (register, apply, review, approve, ship), so it is a real tenant, not fixtures.

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
    merchants.ship_device(&staff, &device.tid, Some("DEMO")).await.map_err(e)?;
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

/// What `serve` prints about the demo.
pub fn summary(demo: &DemoTenant, data_dir: &Path) -> String {
    let cards: Vec<String> = demo.cards.iter().map(|c| format!("{} {}", c.label, c.number)).collect();
    format!(
        "xingtong: demo tenant made (labelled DEMO; `serve --no-demo` on a new data directory skips it):\n  \
         merchant {} {}; owner login {OWNER_PHONE}, password \"{OWNER_PASSWORD}\"\n  \
         terminal {} to activate: serial {}, activation code {}\n  \
         cashiers 01 PIN {}, 02 PIN {}; supervisor 00 PIN {SUPERVISOR_PIN}\n  \
         test cards, PIN {CARD_PIN}: {}\n  \
         (all in {})",
        demo.mid,
        demo.name,
        demo.tid,
        demo.serial_number,
        demo.activation_code,
        CASHIER_PINS[0].2,
        CASHIER_PINS[1].2,
        cards.join(", "),
        data_dir.join(CARDS_FILE).display()
    )
}

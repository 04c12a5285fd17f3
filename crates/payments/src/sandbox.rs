//! The sandbox issuer: test cards with BINs of UnionPay (debit and credit), Visa and Mastercard, an
//! expiry, a PIN (kept as a verification value, never in clear), a balance or credit limit (a
//! ledger account that cannot go below zero), a status (active, blocked, lost, stolen) and
//! injectable delays and timeouts. It implements [`CardNetwork`] like a real network would.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::outcome::Reason;
use serde::{Deserialize, Serialize};
use xingtong_crypto::{Key, Pan, SecretString};
use xingtong_ledger::Transfer;
use xingtong_merchants::entity::{Entity, Stored, insert, load};
use xingtong_merchants::{Class, Error, Result};
use xingtong_store::{Change, Store};

use crate::card::{Brand, CardType};
use crate::chart::{self, LEDGER_CNY};
use crate::network::{Approved, AuthKind, AuthRequest, Authorizing, CardNetwork, Funding, NetworkError};

/// Wrong PINs before a card's PIN is locked (75).
pub const SANDBOX_PIN_TRIES_MAX: u32 = 3;

/// A card's state at its issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    /// Usable.
    Active,
    /// Blocked by the issuer (62).
    Blocked,
    /// Reported lost (41).
    Lost,
    /// Reported stolen (43).
    Stolen,
}

/// A test card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxCard {
    /// The card number (its `Debug` shows it masked).
    pub pan: Pan,
    /// Scheme.
    pub brand: Brand,
    /// Debit or credit.
    pub card_type: CardType,
    /// YYMM.
    pub expiry: String,
    /// PIN verification value (HMAC of PAN and PIN under the issuer's secret).
    pub pin_verification_value: String,
    /// Status.
    pub status: CardStatus,
    /// The cardholder's ledger account.
    pub account_id: String,
    /// Wrong PINs in a row.
    pub pin_tries: u32,
    /// The issuer takes this long to answer (ms).
    pub delay_ms: u64,
    /// The issuer never answers.
    pub timeout: bool,
}

impl Entity for SandboxCard {
    const KIND: &'static str = "sandbox_card";
    fn id(&self) -> String {
        self.pan.expose().to_owned()
    }
    fn owner(&self) -> String {
        "sandbox".into()
    }
    fn status(&self) -> String {
        serde_json::to_value(self.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

/// What a new test card should be.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCard {
    /// `unionpay`, `visa` or `mastercard`.
    pub brand: Brand,
    /// `debit` or `credit`.
    pub card_type: CardType,
    /// A card number of your own (its brand must match); default a fresh one with a valid Luhn digit.
    #[serde(default)]
    pub pan: Option<Pan>,
    /// YYMM; default five years from now.
    #[serde(default)]
    pub expiry: Option<String>,
    /// 4 to 12 digits.
    pub pin: SecretString,
    /// Balance (debit) or credit limit (credit), minor units.
    pub balance_minor: i64,
    /// Default active.
    #[serde(default)]
    pub status: Option<CardStatus>,
    /// Issuer delay, ms.
    #[serde(default)]
    pub delay_ms: u64,
    /// The issuer never answers.
    #[serde(default)]
    pub timeout: bool,
}

/// The transfer that gives a sandbox account (a test card's, a wallet user's) its starting
/// balance, from sandbox funding; none for a zero balance.
pub(crate) fn funding(account: u128, balance_minor: i64) -> Vec<Transfer> {
    if balance_minor <= 0 {
        return Vec::new();
    }
    vec![Transfer {
        id: crate::ids::transfer_id(),
        debit_account_id: chart::platform_account_id(chart::ACCOUNT_SANDBOX_FUNDING),
        credit_account_id: account,
        amount: balance_minor as u128,
        ledger: LEDGER_CNY,
        code: chart::code::SANDBOX_FUNDING,
        ..Transfer::default()
    }]
}

/// What a sandbox account (decimal id) can still spend: credits less debits, posted and held.
pub(crate) async fn available(store: &Store, account_id: &str) -> Result<i64> {
    let id: u128 = account_id.parse().unwrap_or(0);
    let accounts = store.lookup_accounts(vec![id]).await?;
    let a = accounts.first().ok_or_else(|| Error::not_found("sandbox account"))?;
    let available = a.credits_posted as i128 - a.debits_posted as i128 - a.debits_pending as i128;
    Ok(i64::try_from(available).unwrap_or(i64::MAX))
}

/// The sandbox issuer.
pub struct SandboxNetwork {
    store: Store,
    zone_key: Key,
    pvv_secret: zeroize::Zeroizing<[u8; 32]>,
    cards: Mutex<HashMap<String, SandboxCard>>,
    /// The longest the issuer is waited for before the answer is "timeout".
    pub answer_within: std::time::Duration,
}

impl std::fmt::Debug for SandboxNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxNetwork").field("zone_key", &self.zone_key).finish_non_exhaustive()
    }
}

fn luhn_digit(body: &str) -> u8 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    b'0' + ((10 - sum % 10) % 10) as u8
}

/// A fresh card number of the brand and type, with a valid Luhn digit.
pub fn new_pan(brand: Brand, card_type: CardType) -> String {
    let bin = match (brand, card_type) {
        (Brand::Unionpay, CardType::Debit) => "622202",
        (Brand::Unionpay, CardType::Credit) => "625807",
        (Brand::Visa, _) => "476173",
        (Brand::Mastercard, _) => "522000",
    };
    let len = if brand == Brand::Unionpay { 19 } else { 16 };
    let mut body = bin.to_owned();
    while body.len() < len - 1 {
        body.push(char::from(b'0' + rand::random::<u8>() % 10));
    }
    let check = luhn_digit(&body);
    body.push(char::from(check));
    body
}

fn account_id_for(pan: &str) -> u128 {
    // A cardholder account id: the sandbox tag, then the PAN's digits.
    (0x5853u128 << 112) | pan.parse::<u128>().unwrap_or(0)
}

impl SandboxNetwork {
    /// The sandbox issuer over `store`, with keys derived from the host's secrets.
    pub fn new(store: Store, merchants: &xingtong_merchants::Merchants) -> SandboxNetwork {
        let zone = merchants.host_secret("sandbox issuer zone key");
        let zone_key = Key::from_bytes(&zone[..16]).expect("16 bytes is a key length");
        SandboxNetwork {
            store,
            zone_key,
            pvv_secret: merchants.host_secret("sandbox issuer PIN verification"),
            cards: Mutex::new(HashMap::new()),
            answer_within: std::time::Duration::from_secs(10),
        }
    }

    async fn card(&self, pan: &str) -> Result<Option<Stored<SandboxCard>>> {
        load::<SandboxCard>(&self.store, pan).await
    }

    /// Creates a test card: its ledger account, funded with its balance or credit limit.
    pub async fn create_card(&self, actor: &str, spec: NewCard) -> Result<SandboxCard> {
        let pin = xingtong_crypto::Pin::new(spec.pin.expose().trim())
            .map_err(|_| Error::new(Class::Unprocessable, "invalid_pin", "a card PIN is 4 to 12 digits"))?;
        if spec.balance_minor < 0 {
            return Err(Error::new(Class::Unprocessable, "invalid_amount", "balance_minor is at least 0"));
        }
        let pan = match spec.pan {
            Some(pan) => {
                let pan = pan.expose().trim().to_owned();
                if !crate::card::valid_pan(&pan) || Brand::of(&pan) != Some(spec.brand) {
                    return Err(Error::new(
                        Class::Unprocessable,
                        "invalid_card_number",
                        "13 to 19 digits of the chosen brand",
                    ));
                }
                pan
            }
            None => new_pan(spec.brand, spec.card_type),
        };
        let expiry = match spec.expiry {
            Some(e)
                if e.len() == 4
                    && e.bytes().all(|b| b.is_ascii_digit())
                    && (1..=12).contains(&e[2..].parse::<u32>().unwrap_or(0)) =>
            {
                e
            }
            Some(_) => return Err(Error::new(Class::Unprocessable, "invalid_expiry", "expiry is YYMM")),
            None => {
                let today = crate::clock::today_yymm();
                let year: u32 = today[..2].parse().unwrap_or(26);
                format!("{:02}{}", (year + 5) % 100, &today[2..])
            }
        };
        let account = account_id_for(&pan);
        let card = SandboxCard {
            pan: Pan::new(pan.clone()),
            brand: spec.brand,
            card_type: spec.card_type,
            expiry,
            pin_verification_value: xingtong_crypto::pin::pin_verification_value(&self.pvv_secret[..], &pan, &pin),
            status: spec.status.unwrap_or(CardStatus::Active),
            account_id: account.to_string(),
            pin_tries: 0,
            delay_ms: spec.delay_ms,
            timeout: spec.timeout,
        };
        self.store.apply(Change { accounts: vec![chart::cardholder_account(account)], ..Change::default() }).await?;
        let transfers = funding(account, spec.balance_minor);
        self.store
            .apply(Change {
                puts: vec![insert(&card)?],
                transfers,
                audit: vec![xingtong_merchants::identity::audit(
                    actor,
                    "sandbox_card.created",
                    SandboxCard::KIND,
                    &crate::card::mask(&pan),
                    "{}",
                )],
                ..Change::default()
            })
            .await?;
        self.cards.lock().unwrap_or_else(|p| p.into_inner()).insert(pan, card.clone());
        Ok(card)
    }

    /// The card's available balance (or credit), from the ledger.
    pub async fn balance(&self, card: &SandboxCard) -> Result<i64> {
        available(&self.store, &card.account_id).await
    }

    async fn decide(&self, request: &AuthRequest) -> xingtong_merchants::Result<std::result::Result<Approved, Reason>> {
        let cached = self.cards.lock().unwrap_or_else(|p| p.into_inner()).get(&request.pan).cloned();
        let card = match cached {
            Some(card) => card,
            None => match self.card(&request.pan).await? {
                Some(stored) => {
                    self.cards
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(request.pan.clone(), stored.value.clone());
                    stored.value
                }
                None => {
                    return Ok(Err(if Brand::of(&request.pan).is_some() {
                        Reason::InvalidCard
                    } else {
                        Reason::NoSuchIssuer
                    }));
                }
            },
        };
        if card.timeout {
            // The issuer never answers; the caller's time limit decides.
            std::future::pending::<()>().await;
        }
        if card.delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(card.delay_ms)).await;
        }
        match card.status {
            CardStatus::Active => {}
            CardStatus::Blocked => return Ok(Err(Reason::RestrictedCard)),
            CardStatus::Lost => return Ok(Err(Reason::LostCard)),
            CardStatus::Stolen => return Ok(Err(Reason::StolenCard)),
        }
        if crate::card::expired(&card.expiry, &crate::clock::today_yymm())
            || request.expiry.as_deref().is_some_and(|e| e != card.expiry)
        {
            return Ok(Err(Reason::ExpiredCard));
        }
        if card.pin_tries >= SANDBOX_PIN_TRIES_MAX {
            return Ok(Err(Reason::PinTriesExceeded));
        }
        // Debit cards need a PIN; credit cards may sign instead.
        match request.pin_block {
            None if card.card_type == CardType::Debit => return Ok(Err(Reason::WrongPin)),
            None => {}
            Some(block) => {
                let ok = xingtong_crypto::pin::verify_pin_block(
                    &block,
                    &request.pan,
                    &self.zone_key,
                    &self.pvv_secret[..],
                    &card.pin_verification_value,
                );
                match ok {
                    Err(_) => return Ok(Err(Reason::PinFormatError)),
                    Ok(true) => {
                        if card.pin_tries != 0 {
                            self.set_pin_tries(card.pan.expose(), 0).await?;
                        }
                    }
                    Ok(false) => {
                        let tries = self.set_pin_tries(card.pan.expose(), card.pin_tries + 1).await?;
                        return Ok(Err(if tries >= SANDBOX_PIN_TRIES_MAX {
                            Reason::PinTriesExceeded
                        } else {
                            Reason::WrongPin
                        }));
                    }
                }
            }
        }
        let account: u128 = card.account_id.parse().unwrap_or(0);
        let balance_minor = if request.kind == AuthKind::Balance { Some(self.balance(&card).await?) } else { None };
        Ok(Ok(Approved {
            auth_code: format!("{:06}", rand::random::<u32>() % 1_000_000),
            brand: card.brand,
            card_type: card.card_type,
            funding: Funding::Ledger(account),
            balance_minor,
        }))
    }

    async fn set_pin_tries(&self, pan: &str, tries: u32) -> Result<u32> {
        xingtong_merchants::entity::retrying(|| async {
            let mut card = self.card(pan).await?.ok_or_else(|| Error::not_found("card"))?;
            card.value.pin_tries = tries;
            self.store.apply(Change { puts: vec![card.update()?], ..Change::default() }).await?;
            self.cards.lock().unwrap_or_else(|p| p.into_inner()).insert(pan.to_owned(), card.value.clone());
            Ok(tries)
        })
        .await
    }

    /// Changes a card's status or injected behaviour (tests and demos).
    pub async fn update_card(&self, pan: &str, change: impl Fn(&mut SandboxCard)) -> Result<SandboxCard> {
        xingtong_merchants::entity::retrying(|| async {
            let mut card = self.card(pan).await?.ok_or_else(|| Error::not_found("card"))?;
            change(&mut card.value);
            self.store.apply(Change { puts: vec![card.update()?], ..Change::default() }).await?;
            self.cards.lock().unwrap_or_else(|p| p.into_inner()).insert(pan.to_owned(), card.value.clone());
            Ok(card.value)
        })
        .await
    }
}

impl CardNetwork for SandboxNetwork {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn zone_key(&self) -> &Key {
        &self.zone_key
    }

    /// The sandbox hands out a day's file at any time once the day has begun, the open day's
    /// included (so that a demo reconciles without waiting for the morning); a day to come has none.
    fn clearing_file<'a>(&'a self, day: &'a str) -> crate::network::FileFetching<'a> {
        Box::pin(async move {
            if day > crate::clock::business_day().as_str() {
                return Ok(None);
            }
            crate::recon::sandbox_file(&self.store, day).await.map(Some)
        })
    }

    fn authorize<'a>(&'a self, request: &'a AuthRequest) -> Authorizing<'a> {
        Box::pin(async move {
            match tokio::time::timeout(self.answer_within, self.decide(request)).await {
                Err(_) => Err(NetworkError::Timeout),
                Ok(Err(error)) => {
                    tracing::error!(%error, "sandbox issuer failed");
                    Err(NetworkError::Unreachable)
                }
                Ok(Ok(decision)) => Ok(decision),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_card_and_its_spec_never_print_the_number_or_pin() {
        let spec: NewCard = serde_json::from_value(serde_json::json!({
            "brand": "unionpay", "card_type": "debit", "pan": "6222021234567890128", "pin": "147258", "balance_minor": 1
        }))
        .unwrap();
        let card = SandboxCard {
            pan: Pan::new("6222021234567890128"),
            brand: Brand::Unionpay,
            card_type: CardType::Debit,
            expiry: "3012".into(),
            pin_verification_value: String::new(),
            status: CardStatus::Active,
            account_id: "1".into(),
            pin_tries: 0,
            delay_ms: 0,
            timeout: false,
        };
        let shown = format!("{spec:?} {card:?}");
        assert!(!shown.contains("1234567890") && !shown.contains("147258"), "{shown}");
        // Stored and served whole.
        assert!(serde_json::to_string(&card).unwrap().contains("6222021234567890128"));
    }

    #[test]
    fn new_card_numbers_pass_luhn_and_carry_their_brand() {
        for (brand, card_type) in [
            (Brand::Unionpay, CardType::Debit),
            (Brand::Unionpay, CardType::Credit),
            (Brand::Visa, CardType::Credit),
            (Brand::Mastercard, CardType::Debit),
        ] {
            let pan = new_pan(brand, card_type);
            assert_eq!(Brand::of(&pan), Some(brand), "{pan}");
            assert!(xingtong_onboarding::validate::luhn(pan.as_bytes()), "{pan}");
        }
    }
}

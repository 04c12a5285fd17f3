//! The device deposit (押金), as the rules require: a 2021 PBOC notice and a UnionPay notice forbid
//! deducting a deposit from settlement funds, so the deposit is a payment of its own and its
//! refund a payout of its own.
//!
//! - **Due** until the merchant pays it with a card (`pay_deposit`), or staff waive it
//!   (`waive_deposit`). The money goes from the card, through card clearing (201), to the
//!   merchant's deposit account (102), where it stays apart from the settlement payable.
//! - **Held**: the device's card volume is counted by clearing, in the same commit as each
//!   merchant-day's settlement (so a day is counted exactly once): what its sales and completions
//!   captured less what voids and refunds returned, on business days from the activation day to
//!   the deadline (activation day + 179, so 180 days in all).
//! - **Refunding**: the volume reached the threshold (¥100,000) by the deadline. In that same
//!   commit the amount moves from the deposit account to payouts in transit (203), and a payout of
//!   its own (`po_dep_<TID>`) is scheduled for the next day to the merchant's bound card, with all
//!   the care of a settlement's payout (query on a lost answer, retry after a card change; a
//!   failure returns the money to the deposit account, not to the payable).
//! - **Refunded** when that payout is paid.
//! - **Kept**: the deadline's business day was cleared with the volume short. The merchant is told
//!   the figures, the money moves to the platform's deposits-kept account (302), and the record
//!   says when and why: never silently.

use crate::outcome::Reason;
use serde::{Deserialize, Serialize};
use xingtong_ledger::Transfer;
use xingtong_merchants::devices::{Device, DeviceStatus};
use xingtong_merchants::entity::{Entity, Stored, get, insert, list, load};
use xingtong_merchants::identity::User;
use xingtong_merchants::merchant::{Merchant, days_since_epoch};
use xingtong_merchants::notify::{Template, notification_to_user};
use xingtong_merchants::{Class, Error};
use xingtong_store::{Change, Put, RecordQuery, StoreError};

use crate::chart;
use crate::engine::{Card, Engine, Result};
use crate::network::{AuthKind, AuthRequest, Funding, NetworkError};
use crate::payouts::{Payout, PayoutPurpose, PayoutStatus, last4, yuan};
use crate::postings::transfer;

/// Where a deposit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositStatus {
    /// Not paid yet.
    Due,
    /// Paid and held on the merchant's deposit account.
    Held,
    /// Waived by staff: nothing was paid, nothing is refunded.
    Waived,
    /// The threshold was met: its refund payout is on its way.
    Refunding,
    /// Refunded to the merchant's card.
    Refunded,
    /// The deadline passed below the threshold: kept against the device, as agreed.
    Kept,
}

impl DepositStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DepositStatus::Due => "due",
            DepositStatus::Held => "held",
            DepositStatus::Waived => "waived",
            DepositStatus::Refunding => "refunding",
            DepositStatus::Refunded => "refunded",
            DepositStatus::Kept => "kept",
        }
    }
}

/// How the deposit was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositPayment {
    /// When, ns since the epoch.
    pub at: u64,
    /// The card, masked.
    pub card_masked: String,
    /// The issuer's authorization code.
    pub auth_code: String,
    /// The ledger transfer that put the money on the deposit account.
    pub transfer_id: String,
    /// The caller's idempotency key: the same request again is answered with this payment.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// A keyed hash of the request's card, expiry and (encrypted) PIN: the same key with another
    /// card is refused, not answered with this payment.
    #[serde(default)]
    pub request_fingerprint: String,
}

/// A staff member's waiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositWaiver {
    /// When, ns.
    pub at: u64,
    /// Who (`staff:<id>`).
    pub by: String,
    /// Why.
    pub reason: String,
}

/// One step of a deposit's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositStep {
    /// When, ns.
    pub at: u64,
    /// Entered.
    pub status: DepositStatus,
    /// Who or what.
    pub actor: String,
}

/// A device's deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposit {
    /// `dep_<TID>`.
    pub id: String,
    /// The device.
    pub tid: String,
    /// Its merchant.
    pub mid: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Where it stands.
    pub status: DepositStatus,
    /// Card volume that earns the refund, minor units.
    pub threshold_minor: i64,
    /// … within this many days of activation (the activation day is the first).
    pub days: u32,
    /// The device's activation day, `YYYYMMDD`, once known.
    pub activation_day: Option<String>,
    /// The last business day whose volume counts, `YYYYMMDD`.
    pub deadline_day: Option<String>,
    /// Card volume counted so far, minor units.
    pub volume_minor: i64,
    /// The last business day counted (cleared) into the volume.
    pub counted_through: Option<String>,
    /// The payment, when paid.
    pub payment: Option<DepositPayment>,
    /// The waiver, when waived.
    pub waiver: Option<DepositWaiver>,
    /// The refund payout, once due.
    pub payout_id: Option<String>,
    /// Every status it went through.
    pub history: Vec<DepositStep>,
}

impl Entity for Deposit {
    const KIND: &'static str = "deposit";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
}

impl Deposit {
    /// The id of a device's deposit.
    pub fn key(tid: &str) -> String {
        format!("dep_{tid}")
    }

    /// A device's deposit before anything was paid.
    pub fn due(device: &Device) -> Deposit {
        Deposit {
            id: Deposit::key(&device.tid),
            tid: device.tid.clone(),
            mid: device.mid.clone(),
            amount_minor: device.deposit_minor,
            status: DepositStatus::Due,
            threshold_minor: device.deposit_refund_volume_minor,
            days: device.deposit_refund_days,
            activation_day: None,
            deadline_day: None,
            volume_minor: 0,
            counted_through: None,
            payment: None,
            waiver: None,
            payout_id: None,
            history: Vec::new(),
        }
    }

    /// What is still missing of the threshold (0 once met).
    pub fn remaining_minor(&self) -> i64 {
        (self.threshold_minor - self.volume_minor).max(0)
    }

    fn step(&mut self, status: DepositStatus, actor: &str, at: u64) {
        self.status = status;
        self.history.push(DepositStep { at, status, actor: actor.to_owned() });
    }

    /// Learns the activation day from the device (once), and the deadline with it.
    fn learn_activation(&mut self, device: &Device) {
        if self.activation_day.is_some() {
            return;
        }
        let Some(step) = device.history.iter().find(|s| s.status == DeviceStatus::Activated) else { return };
        let day = crate::clock::day_at(step.at);
        self.deadline_day = Some(add_days(&day, i64::from(self.days) - 1));
        self.activation_day = Some(day);
    }
}

/// `day` (`YYYYMMDD`) plus `n` calendar days.
pub fn add_days(day: &str, n: i64) -> String {
    let days = days_since_epoch(day).unwrap_or(0) + n;
    xingtong_onboarding::date::Date::from_days_since_epoch(days)
        .map(|d| d.to_string().replace('-', ""))
        .unwrap_or_else(|| day.to_owned())
}

/// A deposit's figures as template parameters.
fn params(d: &Deposit) -> [(&'static str, String); 6] {
    [
        ("tid", d.tid.clone()),
        ("amount", yuan(d.amount_minor)),
        ("threshold", yuan(d.threshold_minor)),
        ("volume", yuan(d.volume_minor)),
        ("days", d.days.to_string()),
        ("mid", d.mid.clone()),
    ]
}

fn refused(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(Class::Conflict, code, message)
}

impl Engine {
    /// A device's deposit (a due one when nothing was paid or waived yet).
    pub async fn deposit(&self, tid: &str) -> Result<Deposit> {
        if let Some(stored) = load::<Deposit>(self.store(), &Deposit::key(tid)).await? {
            return Ok(stored.value);
        }
        let device = get::<Device>(self.store(), tid, "device").await?.value;
        let mut deposit = Deposit::due(&device);
        deposit.learn_activation(&device);
        Ok(deposit)
    }

    /// The merchant pays a device's deposit with a card: authorized by the card network like a
    /// sale, the money put on the merchant's deposit account, never on the settlement payable.
    /// `key` (the caller's idempotency key) makes a retry answer the payment it made.
    pub async fn pay_deposit(&self, tid: &str, card: &Card, actor: &str, key: Option<&str>) -> Result<Deposit> {
        let mut deposit = self.deposit(tid).await?;
        let fingerprint = crate::card::token(
            &self.inner.pan_secret[..],
            &format!(
                "deposit|{}|{}|{}",
                card.pan,
                card.expiry.as_deref().unwrap_or(""),
                card.pin_block.map(hex::encode).unwrap_or_default()
            ),
        );
        let replay = |d: &Deposit| -> Result<bool> {
            let Some(payment) = d.payment.as_ref().filter(|p| key.is_some() && p.idempotency_key.as_deref() == key)
            else {
                return Ok(false);
            };
            if payment.request_fingerprint != fingerprint {
                return Err(Error::new(
                    Class::Unprocessable,
                    "idempotency_key_reused",
                    "this Idempotency-Key paid the deposit with another card; use a new key for a new request",
                ));
            }
            Ok(true)
        };
        if replay(&deposit)? {
            return Ok(deposit);
        }
        if deposit.status != DepositStatus::Due {
            return Err(refused(
                "deposit_not_due",
                format!("the deposit of terminal {tid} is {}, not due", deposit.status.as_str()),
            ));
        }
        let request = AuthRequest {
            pan: card.pan.clone(),
            expiry: card.expiry.clone(),
            pin_block: card.pin_block,
            amount_minor: deposit.amount_minor,
            kind: AuthKind::Sale,
            mid: deposit.mid.clone(),
            tid: tid.to_owned(),
        };
        let approved = match self.network().authorize(&request).await {
            Err(NetworkError::Timeout | NetworkError::Unreachable) => {
                return Err(Error::new(
                    Class::Unavailable,
                    "issuer_unavailable",
                    "the card's issuer did not answer; nothing was charged, try again",
                ));
            }
            Ok(Err(reason)) => return Err(declined(reason)),
            Ok(Ok(approved)) => approved,
        };
        let clearing = chart::platform_account_id(chart::ACCOUNT_CARD_CLEARING);
        let held = chart::merchant_account_id(&deposit.mid, chart::ACCOUNT_MERCHANT_DEPOSIT).unwrap_or(0);
        let mut transfers = Vec::new();
        if let Funding::Ledger(account) = approved.funding {
            transfers.push(transfer(account, clearing, deposit.amount_minor, chart::code::CARDHOLDER_PAYS));
        }
        let taken = transfer(clearing, held, deposit.amount_minor, chart::code::DEPOSIT_TAKEN);
        deposit.payment = Some(DepositPayment {
            at: self.clock().now_ns(),
            card_masked: crate::card::mask(&card.pan),
            auth_code: approved.auth_code.clone(),
            transfer_id: taken.id.to_string(),
            idempotency_key: key.map(str::to_owned),
            request_fingerprint: fingerprint.clone(),
        });
        transfers.push(taken);
        deposit.step(DepositStatus::Held, actor, self.clock().now_ns());
        let mut puts = vec![insert(&deposit)?];
        puts.extend(self.deposit_notice(&deposit, Template::DepositPaid, &[], "").await?);
        let audit = xingtong_merchants::identity::audit(
            actor,
            "deposit.paid",
            Deposit::KIND,
            &deposit.id,
            &serde_json::json!({ "amount_minor": deposit.amount_minor, "card": crate::card::mask(&card.pan) })
                .to_string(),
        );
        match self.store().apply(Change { puts, transfers, audit: vec![audit], ..Change::default() }).await {
            Ok(()) => Ok(deposit),
            Err(StoreError::Rejected(xingtong_store::Rejection::Conflict { .. })) => {
                let now = self.deposit(tid).await?;
                if replay(&now)? {
                    return Ok(now);
                }
                Err(refused("deposit_not_due", format!("the deposit of terminal {tid} was paid or waived meanwhile")))
            }
            Err(StoreError::Rejected(xingtong_store::Rejection::Transfers(_))) => {
                Err(declined(Reason::InsufficientFunds))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A notice about a deposit to its merchant's owner; `extra` adds parameters (as given for an
    /// owner who reads Chinese, `extra_en` in their place for one who reads English).
    async fn deposit_notice(
        &self,
        deposit: &Deposit,
        template: Template,
        extra: &[(&str, String)],
        extra_en: &str,
    ) -> Result<Vec<Put>> {
        let merchant = get::<Merchant>(self.store(), &deposit.mid, "merchant").await?.value;
        let owner = get::<User>(self.store(), &merchant.owner_user_id, "user").await?.value;
        let mut owned: Vec<(&str, String)> = params(deposit).into_iter().collect();
        let english = owner.language.starts_with("en");
        for (name, zh) in extra {
            owned.push((name, if english { extra_en.to_owned() } else { zh.clone() }));
        }
        owned.push(("last4", last4(&merchant.settlement_card.masked()).to_owned()));
        let borrowed: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
        notification_to_user(&owner, template, &borrowed)
    }

    /// Staff waive a device's deposit (with a reason): nothing is paid and nothing refunded.
    pub async fn waive_deposit(&self, tid: &str, actor: &str, reason: &str) -> Result<Deposit> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(Error::new(Class::Unprocessable, "invalid_reason", "reason: 1 to 200 characters"));
        }
        let mut deposit = self.deposit(tid).await?;
        if deposit.status != DepositStatus::Due {
            return Err(refused(
                "deposit_not_due",
                format!("the deposit of terminal {tid} is {}, not due", deposit.status.as_str()),
            ));
        }
        deposit.waiver =
            Some(DepositWaiver { at: self.clock().now_ns(), by: actor.to_owned(), reason: reason.to_owned() });
        deposit.step(DepositStatus::Waived, actor, self.clock().now_ns());
        let why = [("reason", reason.to_owned())];
        let mut puts = vec![insert(&deposit)?];
        puts.extend(self.deposit_notice(&deposit, Template::DepositWaived, &why, reason).await?);
        let audit = xingtong_merchants::identity::audit(
            actor,
            "deposit.waived",
            Deposit::KIND,
            &deposit.id,
            &serde_json::json!({ "reason": reason }).to_string(),
        );
        match self.store().apply(Change { puts, audit: vec![audit], ..Change::default() }).await {
            Ok(()) => Ok(deposit),
            Err(StoreError::Rejected(xingtong_store::Rejection::Conflict { .. })) => {
                Err(refused("deposit_not_due", format!("the deposit of terminal {tid} was paid or waived meanwhile")))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Clearing's part: counts a merchant-day's card volume per terminal (`volume` by TID) into
    /// each held deposit, and when one reaches its threshold by its deadline, schedules its refund.
    /// Returns what to add to the settlement's commit.
    pub(crate) async fn count_deposit_volume(
        &self,
        day: &str,
        volume: &std::collections::BTreeMap<String, i64>,
    ) -> Result<(Vec<Put>, Vec<Transfer>)> {
        let (mut puts, mut transfers) = (Vec::new(), Vec::new());
        for (tid, amount) in volume {
            let Some(mut stored) = load::<Deposit>(self.store(), &Deposit::key(tid)).await? else { continue };
            if stored.value.status != DepositStatus::Held {
                continue;
            }
            if stored.value.activation_day.is_none() {
                let Some(device) = load::<Device>(self.store(), tid).await? else { continue };
                stored.value.learn_activation(&device.value);
            }
            let deposit = &mut stored.value;
            let (Some(from), Some(to)) = (deposit.activation_day.clone(), deposit.deadline_day.clone()) else {
                continue;
            };
            if day < from.as_str() || day > to.as_str() {
                continue;
            }
            deposit.volume_minor += amount;
            deposit.counted_through = Some(day.to_owned());
            if deposit.volume_minor >= deposit.threshold_minor {
                let payout = Payout {
                    id: format!("po_{}", deposit.id),
                    mid: deposit.mid.clone(),
                    settlement_id: deposit.id.clone(),
                    business_day: day.to_owned(),
                    amount_minor: deposit.amount_minor,
                    payout_date: crate::clearing::next_day(day),
                    status: PayoutStatus::Scheduled,
                    attempts: Vec::new(),
                    purpose: PayoutPurpose::DepositRefund,
                };
                deposit.payout_id = Some(payout.id.clone());
                deposit.step(DepositStatus::Refunding, "system:clearing", self.clock().now_ns());
                let held = chart::merchant_account_id(&deposit.mid, chart::ACCOUNT_MERCHANT_DEPOSIT).unwrap_or(0);
                let in_transit = chart::platform_account_id(chart::ACCOUNT_PAYOUTS_IN_TRANSIT);
                transfers.push(transfer(held, in_transit, deposit.amount_minor, chart::code::DEPOSIT_REFUND));
                let date = [("date", payout.payout_date.clone())];
                puts.extend(
                    self.deposit_notice(deposit, Template::DepositRefundDue, &date, &payout.payout_date).await?,
                );
                puts.push(insert(&payout)?);
            }
            puts.push(stored.update()?);
        }
        Ok((puts, transfers))
    }

    /// After a business day is cleared: every deposit still held whose deadline is that day or
    /// earlier is kept (recorded, the merchant told, the money moved to deposits kept). Returns
    /// how many.
    pub async fn keep_deposits_past_deadline(&self, cleared_day: &str) -> Result<u64> {
        let mut query = RecordQuery::kind(Deposit::KIND).statuses(&[DepositStatus::Held.as_str()]);
        query.limit = xingtong_store::PAGE_LIMIT_MAX;
        let mut kept = 0;
        loop {
            let page: Vec<Stored<Deposit>> = list(self.store(), query.clone()).await?;
            let full = page.len() == query.limit as usize;
            query.after = page.last().map(|d| (d.created_at, d.value.id.clone()));
            for mut stored in page {
                if stored.value.activation_day.is_none() {
                    let Some(device) = load::<Device>(self.store(), &stored.value.tid).await? else { continue };
                    stored.value.learn_activation(&device.value);
                }
                if stored.value.deadline_day.as_deref().is_none_or(|d| d > cleared_day) {
                    continue;
                }
                stored.value.step(DepositStatus::Kept, "system:clearing", self.clock().now_ns());
                let deposit = stored.value.clone();
                let held = chart::merchant_account_id(&deposit.mid, chart::ACCOUNT_MERCHANT_DEPOSIT).unwrap_or(0);
                let kept_account = chart::platform_account_id(chart::ACCOUNT_DEPOSITS_KEPT);
                let mut puts = vec![stored.update()?];
                puts.extend(self.deposit_notice(&deposit, Template::DepositKept, &[], "").await?);
                let audit = xingtong_merchants::identity::audit(
                    "system:clearing",
                    "deposit.kept",
                    Deposit::KIND,
                    &deposit.id,
                    &serde_json::json!({ "volume_minor": deposit.volume_minor,
                        "threshold_minor": deposit.threshold_minor, "deadline_day": deposit.deadline_day })
                    .to_string(),
                );
                let transfers = vec![transfer(held, kept_account, deposit.amount_minor, chart::code::DEPOSIT_KEPT)];
                match self.store().apply(Change { puts, transfers, audit: vec![audit], ..Change::default() }).await {
                    Ok(()) => kept += 1,
                    // Changed meanwhile (a refund by a late clearing of an earlier day): that stands.
                    Err(StoreError::Rejected(xingtong_store::Rejection::Conflict { .. })) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            if !full {
                return Ok(kept);
            }
        }
    }

    /// A merchant's deposits, one per device (due ones included).
    pub async fn merchant_deposits(&self, mid: &str) -> Result<Vec<Deposit>> {
        let devices: Vec<Stored<Device>> = list(self.store(), RecordQuery::kind(Device::KIND).owner(mid)).await?;
        let mut all = Vec::with_capacity(devices.len());
        for device in devices {
            all.push(self.deposit(&device.value.tid).await?);
        }
        Ok(all)
    }

    /// The paid deposit refund of `payout`: the deposit becomes refunded (a put for the payout's commit).
    pub(crate) async fn deposit_refunded(&self, payout: &Payout) -> Result<Option<Put>> {
        let Some(mut stored) = load::<Deposit>(self.store(), &payout.settlement_id).await? else { return Ok(None) };
        stored.value.step(DepositStatus::Refunded, "system:payouts", self.clock().now_ns());
        Ok(Some(stored.update()?))
    }
}

/// A card-not-present card for a deposit payment: number, expiry and PIN as the merchant typed
/// them. The PIN leaves this function only as a format 0 block under the network's zone key.
pub fn card_with_pin(engine: &Engine, pan: &str, expiry: Option<&str>, pin: &str) -> Result<Card> {
    let pan: String = pan.chars().filter(|c| !c.is_whitespace()).collect();
    if !(13..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::new(Class::Unprocessable, "invalid_card_number", "card_number: 13 to 19 digits"));
    }
    if let Some(expiry) = expiry
        && (expiry.len() != 4
            || !expiry.bytes().all(|b| b.is_ascii_digit())
            || !(1..=12).contains(&expiry[2..].parse::<u32>().unwrap_or(0)))
    {
        return Err(Error::new(Class::Unprocessable, "invalid_expiry", "expiry: YYMM, a month from 01 to 12"));
    }
    let invalid_pin = || Error::new(Class::Unprocessable, "invalid_pin", "pin: 4 to 12 digits");
    let pin = xingtong_crypto::pin::Pin::new(pin).map_err(|_| invalid_pin())?;
    let clear =
        zeroize::Zeroizing::new(xingtong_crypto::pin::pin_block_format0(&pin, &pan).map_err(|_| invalid_pin())?);
    let pin_block = engine.network().zone_key().encrypt_block(*clear);
    Ok(Card { pan, expiry: expiry.map(str::to_owned), pin_block: Some(pin_block) })
}

fn declined(reason: Reason) -> Error {
    let code = crate::cup::declined(reason);
    Error::new(
        Class::Unprocessable,
        "card_declined",
        format!("the card was declined ({}: {})", code.code, code.meaning_en),
    )
    .with_details(serde_json::json!({ "reason": reason.code(), "response_code": code.code }))
}

//! Merchants: made by approval, with a 15-digit merchant number (MID), ledger accounts, terms
//! (fees and limits by merchant type), the verified settlement bank card, and operator 00.

use serde::{Deserialize, Serialize};
use xingtong_ledger::Account;
use xingtong_onboarding::application::BusinessType;
use xingtong_onboarding::status::Status;
use xingtong_onboarding::terms::Terms;
use xingtong_store::{Change, RecordQuery, now_ns};

use crate::Merchants;
use crate::applications::{Application, Approval, Step};
use crate::cashiers::Cashier;
use crate::devices::{Device, DeviceStatus, new_activation_code};
use crate::entity::{Entity, Stored, get, insert, list, load};
use crate::error::{Class, Error, Result};
use crate::identity::{Principal, User, audit};
use crate::notify::{Template, notification_to_user};

/// The ledger of CNY (its ISO 4217 numeric code).
pub const LEDGER_CNY: u32 = 156;
/// Chart of accounts: what the platform owes the merchant for its sales, net of fees (a liability).
pub const ACCOUNT_MERCHANT_SETTLEMENT: u16 = 101;
/// Chart of accounts: device deposits held for the merchant (a liability).
pub const ACCOUNT_MERCHANT_DEPOSIT: u16 = 102;

/// The ledger account id of a merchant's account of `code`: the MID's digits, then the code.
pub fn merchant_account_id(mid: &str, code: u16) -> Option<u128> {
    let number: u128 = mid.parse().ok()?;
    Some((number << 16) | u128::from(code))
}

/// The settlement bank card, verified (validated and the holder matched) before it is bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankCard {
    /// Card or account number.
    pub card_number: String,
    /// Bank.
    pub bank_name: String,
    /// Holder: the merchant itself (一清).
    pub account_holder: String,
    /// When it was verified and bound (ns).
    pub verified_at: u64,
}

impl BankCard {
    /// The card number with all but the first 6 and last 4 digits hidden.
    pub fn masked(&self) -> String {
        mask_card(&self.card_number)
    }
}

/// `622202******0128`.
pub fn mask_card(number: &str) -> String {
    xingtong_crypto::mask_pan(number)
}

/// A merchant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Merchant {
    /// 15 digits: `898` (acquirer), 4 digits of region, 4 of MCC, 4 of sequence.
    pub mid: String,
    /// Trading name.
    pub name: String,
    /// Type.
    pub business_type: BusinessType,
    /// Merchant category code.
    pub mcc: String,
    /// The owner (applicant).
    pub owner_user_id: String,
    /// Legal name of the owner.
    pub legal_name: String,
    /// Registered phone (one-time codes go here).
    pub phone: String,
    /// Registered email.
    pub email: Option<String>,
    /// The application it came from.
    pub application_id: String,
    /// Fees and limits.
    pub terms: Terms,
    /// Where settlements go.
    pub settlement_card: BankCard,
    /// Ledger accounts: settlement and deposit.
    pub settlement_account_id: String,
    /// Ledger account of deposits held.
    pub deposit_account_id: String,
    /// `active` or `suspended`.
    pub status: String,
    /// When the merchant is paid: T+1 (the default) or D0 (same day, for a surcharge).
    #[serde(default)]
    pub settlement_cycle: SettlementCycle,
    /// Fee schedules announced for later, oldest first (a merchant's fees never change silently).
    #[serde(default)]
    pub fee_changes: Vec<FeeChange>,
}

/// A fee schedule announced for a merchant, in force from its day on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeChange {
    /// The first business day it applies to, `YYYYMMDD` (China time).
    pub effective_day: String,
    /// The schedule from that day.
    pub fees: xingtong_onboarding::terms::FeeSchedule,
    /// When it was announced, ns.
    pub announced_at: u64,
    /// Who announced it.
    pub announced_by: String,
}

/// The least notice of a fee change, in days: announced today, in force 30 days later at the earliest.
pub const FEE_NOTICE_DAYS: i64 = 30;

/// Refuses a fee change that takes effect less than [`FEE_NOTICE_DAYS`] after `today`, or whose
/// rates are out of range.
fn check_fee_change(effective_day: &str, fees: &xingtong_onboarding::terms::FeeSchedule, today: &str) -> Result<()> {
    let (Some(effective), Some(now)) = (days_since_epoch(effective_day), days_since_epoch(today)) else {
        return Err(Error::new(Class::Unprocessable, "invalid_date", "effective_date: not a date like 2027-01-01"));
    };
    if effective - now < FEE_NOTICE_DAYS {
        return Err(Error::new(
            Class::Unprocessable,
            "fee_change_too_soon",
            format!("a fee change takes effect {FEE_NOTICE_DAYS} days after it is announced at the earliest"),
        ));
    }
    let sane = |ppm: u32| ppm <= 100_000;
    if !(sane(fees.debit_ppm) && sane(fees.credit_ppm) && sane(fees.qr_ppm) && sane(fees.d0_extra_ppm))
        || fees.debit_cap_minor < 0
    {
        return Err(Error::new(
            Class::Unprocessable,
            "invalid_fees",
            "rates are parts per million from 0 to 100,000 (10 %), the debit cap 0 or more",
        ));
    }
    Ok(())
}

/// Days since 1970-01-01 of a `YYYYMMDD` that names a real date.
pub fn days_since_epoch(day: &str) -> Option<i64> {
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (day[..4].parse().ok()?, day[4..6].parse().ok()?, day[6..].parse().ok()?);
    let date = xingtong_onboarding::date::Date::new(y as i32, m as u32, d as u32)?;
    // Civil date to days (Howard Hinnant's algorithm), checked against the date type's own inverse.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (xingtong_onboarding::date::Date::from_days_since_epoch(days) == Some(date)).then_some(days)
}

impl Merchant {
    /// Checks limits: every amount positive, a day's at least a transaction's, a month's of credit at
    /// least a day's.
    pub fn check_limits(l: &xingtong_onboarding::terms::Limits) -> Result<()> {
        let invalid = |why: &str| Err(Error::new(Class::Unprocessable, "invalid_limits", why.to_owned()));
        let positive =
            [Some(l.per_transaction_minor), Some(l.daily_minor), l.credit_daily_minor, l.credit_monthly_minor]
                .into_iter()
                .flatten()
                .chain([l.static_qr_per_payer_daily_minor])
                .all(|v| v > 0);
        if !positive {
            return invalid("every limit is a positive amount (leave a credit limit out for none)");
        }
        if l.daily_minor < l.per_transaction_minor {
            return invalid("the daily limit is below the per-transaction limit");
        }
        if let (Some(day), Some(month)) = (l.credit_daily_minor, l.credit_monthly_minor)
            && month < day
        {
            return invalid("the monthly credit-card limit is below the daily one");
        }
        Ok(())
    }

    /// The fee schedule in force on business day `day` (`YYYYMMDD`): the latest change announced
    /// for it or before, else the one given at approval.
    pub fn fees_on(&self, day: &str) -> xingtong_onboarding::terms::FeeSchedule {
        self.fee_changes
            .iter()
            .filter(|c| c.effective_day.as_str() <= day)
            .max_by(|a, b| a.effective_day.cmp(&b.effective_day))
            .map_or(self.terms.fees, |c| c.fees)
    }
}

/// When a merchant's business day is paid out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementCycle {
    /// The next calendar day (T+1).
    #[default]
    T1,
    /// The same day (D0), for the surcharge of the fee schedule (`d0_extra_ppm`).
    D0,
}

impl SettlementCycle {
    /// As shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SettlementCycle::T1 => "t1",
            SettlementCycle::D0 => "d0",
        }
    }
}

impl Entity for Merchant {
    const KIND: &'static str = "merchant";
    fn id(&self) -> String {
        self.mid.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
}

/// A counter handed out under optimistic concurrency (MIDs per prefix, TIDs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sequence {
    /// The counter's name.
    pub name: String,
    /// The next value.
    pub next: u64,
}

impl Entity for Sequence {
    const KIND: &'static str = "sequence";
    fn id(&self) -> String {
        self.name.clone()
    }
    fn owner(&self) -> String {
        "platform".into()
    }
    fn status(&self) -> String {
        "active".into()
    }
}

impl Merchants {
    /// Takes the next value of a counter: returns it and the put that advances the counter
    /// (the caller's change must carry the put, so that the value is taken only if it commits).
    pub(crate) async fn take(&self, name: &str, first: u64) -> Result<(u64, xingtong_store::Put)> {
        match load::<Sequence>(&self.store, name).await? {
            Some(mut sequence) => {
                let value = sequence.value.next;
                sequence.value.next += 1;
                Ok((value, sequence.update()?))
            }
            None => Ok((first, insert(&Sequence { name: name.into(), next: first + 1 })?)),
        }
    }

    pub(crate) async fn create_merchant(
        &self,
        principal: &Principal,
        mut application: Stored<Application>,
        approval: &Approval,
    ) -> Result<(Merchant, Device)> {
        let mcc = approval.mcc.clone().unwrap_or_else(|| "5399".into());
        if mcc.len() != 4 || !mcc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::new(Class::Unprocessable, "invalid_mcc", "an MCC is 4 digits"));
        }
        let prefix = format!("898{}{mcc}", self.config.region_code);
        let (sequence, mid_put) = self.take(&format!("mid:{prefix}"), 1).await?;
        if sequence > 9_999 {
            return Err(Error::new(
                Class::Conflict,
                "mid_space_exhausted",
                format!("no merchant numbers left under {prefix}"),
            ));
        }
        let mid = format!("{prefix}{sequence:04}");
        let (tid_number, tid_put) = self.take("tid", 10_000_001).await?;
        let tid = format!("{tid_number:08}");
        let form = &application.value.form;
        let user = get::<User>(&self.store, &application.value.user_id, "user").await?;
        let settlement_id = merchant_account_id(&mid, ACCOUNT_MERCHANT_SETTLEMENT).expect("a MID is digits");
        let deposit_id = merchant_account_id(&mid, ACCOUNT_MERCHANT_DEPOSIT).expect("a MID is digits");
        let now = now_ns();
        let merchant = Merchant {
            mid: mid.clone(),
            name: form.business.name.trim().into(),
            business_type: form.business.business_type,
            mcc,
            owner_user_id: user.value.id.clone(),
            legal_name: form.applicant.legal_name.trim().into(),
            phone: form.applicant.phone.trim().into(),
            email: Some(form.applicant.email.trim().to_owned()).filter(|e| !e.is_empty()),
            application_id: application.value.id.clone(),
            terms: Terms::for_business_type(form.business.business_type),
            settlement_card: BankCard {
                card_number: form.settlement_account.card_number.trim().into(),
                bank_name: form.settlement_account.bank_name.trim().into(),
                account_holder: form.settlement_account.account_holder.trim().into(),
                verified_at: now,
            },
            settlement_account_id: settlement_id.to_string(),
            deposit_account_id: deposit_id.to_string(),
            status: "active".into(),
            settlement_cycle: SettlementCycle::default(),
            fee_changes: Vec::new(),
        };
        let serial_number = match &approval.serial_number {
            Some(serial) => crate::devices::check_serial(serial)?,
            None => format!("XT{:010}", rand::random::<u64>() % 10_000_000_000),
        };
        let device = Device {
            tid: tid.clone(),
            mid: mid.clone(),
            model: match &approval.device_model {
                Some(model) => crate::text::checked("device_model", "invalid_device_model", model, 32)?,
                None => "XT-P1".into(),
            },
            serial_number,
            status: DeviceStatus::Ordered,
            activation_code: Some(new_activation_code()),
            activation_failures: 0,
            tmk_under_lmk: None,
            tmk_check_value: None,
            shipping_address: form.delivery_address.trim().into(),
            deposit_minor: xingtong_onboarding::terms::DEVICE_DEPOSIT_MINOR,
            activation_amount_minor: xingtong_onboarding::terms::DEVICE_DEPOSIT_MINOR,
            deposit_refund_volume_minor: xingtong_onboarding::terms::DEPOSIT_REFUND_VOLUME_MINOR,
            deposit_refund_days: xingtong_onboarding::terms::DEPOSIT_REFUND_DAYS,
            tracking_number: None,
            history: vec![crate::devices::DeviceStep {
                at: now,
                status: DeviceStatus::Ordered,
                actor: principal.actor(),
            }],
            suspended_from: None,
        };
        let supervisor = Cashier::supervisor(&mid);
        let mut owner = user.clone();
        // A second approval adds a merchant: the first stays the owner's, with its keys and payments.
        owner.value.merchant_ids = owner.value.merchants();
        owner.value.merchant_ids.push(mid.clone());
        owner.value.merchant_id.get_or_insert_with(|| mid.clone());
        application.value.status = Status::Approved;
        application.value.merchant_id = Some(mid.clone());
        application.value.history.push(Step {
            at: now,
            status: Status::Approved,
            actor: principal.actor(),
            reason: None,
        });
        let account = |id: u128, code: u16| Account {
            id,
            ledger: LEDGER_CNY,
            code,
            user_data_128: mid.parse().expect("a MID is digits"),
            ..Account::default()
        };
        let notices = notification_to_user(
            &owner.value,
            Template::ApplicationApproved,
            &[("application", &application.value.id), ("mid", &mid), ("tid", &tid)],
        )?;
        let detail = serde_json::json!({ "mid": mid, "tid": tid, "terms": merchant.terms });
        self.store
            .apply(Change {
                puts: [
                    vec![
                        application.update()?,
                        insert(&merchant)?,
                        insert(&device)?,
                        insert(&supervisor)?,
                        owner.update()?,
                        mid_put,
                        tid_put,
                    ],
                    notices,
                ]
                .concat(),
                claim_keys: vec![device.serial_key()],
                accounts: vec![
                    account(settlement_id, ACCOUNT_MERCHANT_SETTLEMENT),
                    account(deposit_id, ACCOUNT_MERCHANT_DEPOSIT),
                ],
                audit: vec![
                    audit(
                        &principal.actor(),
                        "application.approved",
                        Application::KIND,
                        &application.value.id,
                        &detail.to_string(),
                    ),
                    audit(&principal.actor(), "merchant.created", Merchant::KIND, &mid, &detail.to_string()),
                    audit(&principal.actor(), "device.ordered", Device::KIND, &tid, "{}"),
                ],
                ..Change::default()
            })
            .await?;
        Ok((merchant, device))
    }

    /// A merchant, for itself or for staff.
    pub async fn merchant(&self, principal: &Principal, mid: &str) -> Result<Stored<Merchant>> {
        principal.may_see_merchant(mid)?;
        get(&self.store, mid, "merchant").await
    }

    /// Sets when the merchant is paid (T+1 or D0): its owner (or a key with the manage scope), or
    /// staff. Takes effect from the next clearing run.
    pub async fn set_settlement_cycle(
        &self,
        principal: &Principal,
        mid: &str,
        cycle: SettlementCycle,
    ) -> Result<Stored<Merchant>> {
        if !principal.is_staff() {
            principal.require_merchant(mid)?;
            principal.require_scope(crate::identity::Scope::Manage)?;
        }
        crate::entity::retrying(|| async {
            let mut merchant = get::<Merchant>(&self.store, mid, "merchant").await?;
            if merchant.value.settlement_cycle == cycle {
                return Ok(merchant);
            }
            merchant.value.settlement_cycle = cycle;
            let detail = serde_json::json!({ "settlement_cycle": cycle.as_str() }).to_string();
            self.store
                .apply(Change {
                    puts: vec![merchant.update()?],
                    audit: vec![audit(&principal.actor(), "merchant.settlement_cycle", Merchant::KIND, mid, &detail)],
                    ..Change::default()
                })
                .await?;
            merchant.version += 1;
            Ok(merchant)
        })
        .await
    }

    /// Sets a merchant's limits (staff, risk role): in force for its next transaction (the
    /// payments engine trusts a merchant it read for at most a second). Audited, old and new.
    pub async fn set_limits(
        &self,
        principal: &Principal,
        mid: &str,
        limits: xingtong_onboarding::terms::Limits,
    ) -> Result<Stored<Merchant>> {
        principal.require(crate::identity::Role::Risk)?;
        Merchant::check_limits(&limits)?;
        crate::entity::retrying(|| async {
            let mut merchant = get::<Merchant>(&self.store, mid, "merchant").await?;
            if merchant.value.terms.limits == limits {
                return Ok(merchant);
            }
            let detail = serde_json::json!({ "from": merchant.value.terms.limits, "to": limits }).to_string();
            merchant.value.terms.limits = limits;
            self.store
                .apply(Change {
                    puts: vec![merchant.update()?],
                    audit: vec![audit(&principal.actor(), "merchant.limits_set", Merchant::KIND, mid, &detail)],
                    ..Change::default()
                })
                .await?;
            merchant.version += 1;
            Ok(merchant)
        })
        .await
    }

    /// Announces a merchant's new fee schedule (staff, finance role), in force from
    /// `effective_day` (`YYYYMMDD`), which must be at least [`FEE_NOTICE_DAYS`] after `today`.
    /// The owner is told by SMS (and email); the old schedule applies until that day.
    pub async fn announce_fee_change(
        &self,
        principal: &Principal,
        mid: &str,
        effective_day: &str,
        fees: xingtong_onboarding::terms::FeeSchedule,
        today: &str,
    ) -> Result<Stored<Merchant>> {
        principal.require(crate::identity::Role::Finance)?;
        check_fee_change(effective_day, &fees, today)?;
        crate::entity::retrying(|| async {
            let mut merchant = get::<Merchant>(&self.store, mid, "merchant").await?;
            // The same change announced again (a retry, a type's announcement sent twice): the
            // merchant was told already; nothing more to do.
            if merchant.value.fee_changes.iter().any(|c| c.effective_day == effective_day && c.fees == fees) {
                return Ok(merchant);
            }
            let before = merchant.value.fees_on(effective_day);
            merchant.value.fee_changes.retain(|c| c.effective_day != effective_day);
            merchant.value.fee_changes.push(FeeChange {
                effective_day: effective_day.to_owned(),
                fees,
                announced_at: now_ns(),
                announced_by: principal.actor(),
            });
            merchant.value.fee_changes.sort_by(|a, b| a.effective_day.cmp(&b.effective_day));
            let owner = get::<User>(&self.store, &merchant.value.owner_user_id, "user").await?;
            let percent = |ppm: u32| format!("{}.{:02}%", ppm / 10_000, ppm % 10_000 / 100);
            let date = format!("{}-{}-{}", &effective_day[..4], &effective_day[4..6], &effective_day[6..]);
            let mut puts = vec![merchant.update()?];
            puts.extend(notification_to_user(
                &owner.value,
                Template::FeeChangeAnnounced,
                &[
                    ("mid", mid),
                    ("date", &date),
                    ("debit", &percent(fees.debit_ppm)),
                    ("cap", &format!("{}.{:02}", fees.debit_cap_minor / 100, fees.debit_cap_minor % 100)),
                    ("credit", &percent(fees.credit_ppm)),
                    ("qr", &percent(fees.qr_ppm)),
                    ("d0", &percent(fees.d0_extra_ppm)),
                ],
            )?);
            let detail =
                serde_json::json!({ "effective_day": effective_day, "before": before, "after": fees }).to_string();
            self.store
                .apply(Change {
                    puts,
                    audit: vec![audit(
                        &principal.actor(),
                        "merchant.fee_change_announced",
                        Merchant::KIND,
                        mid,
                        &detail,
                    )],
                    ..Change::default()
                })
                .await?;
            merchant.version += 1;
            Ok(merchant)
        })
        .await
    }

    /// Announces a new fee schedule to every merchant of a business type (staff, finance role):
    /// each merchant's change is announced, told and audited as by [`Merchants::announce_fee_change`],
    /// and the whole announcement is audited once more under the type. Running it again with the
    /// same day and fees tells nobody twice and audits nothing more (an announcement of other fees
    /// for the same day replaces that day's). Merchants approved later start on the type's
    /// standard terms. Returns (merchants of the type, merchants newly told).
    pub async fn announce_fee_change_for_type(
        &self,
        principal: &Principal,
        business_type: xingtong_onboarding::application::BusinessType,
        effective_day: &str,
        fees: xingtong_onboarding::terms::FeeSchedule,
        today: &str,
    ) -> Result<(u64, u64)> {
        principal.require(crate::identity::Role::Finance)?;
        check_fee_change(effective_day, &fees, today)?;
        let mut query = RecordQuery::kind(Merchant::KIND);
        query.limit = xingtong_store::PAGE_LIMIT_MAX;
        let (mut of_type, mut told) = (0, 0);
        loop {
            let page: Vec<Stored<Merchant>> = crate::entity::list(&self.store, query.clone()).await?;
            let full = page.len() == query.limit as usize;
            query.after = page.last().map(|m| (m.created_at, m.value.mid.clone()));
            for merchant in page.iter().filter(|m| m.value.business_type == business_type) {
                of_type += 1;
                let after =
                    self.announce_fee_change(principal, &merchant.value.mid, effective_day, fees, today).await?;
                told += u64::from(after.version != merchant.version);
            }
            if !full {
                break;
            }
        }
        let kind = serde_json::to_value(business_type).ok().and_then(|v| v.as_str().map(str::to_owned));
        let kind = kind.unwrap_or_default();
        if told > 0 {
            let detail =
                serde_json::json!({ "effective_day": effective_day, "fees": fees, "merchants": told }).to_string();
            self.store
                .apply(Change {
                    audit: vec![audit(
                        &principal.actor(),
                        "merchant_type.fee_change_announced",
                        "business_type",
                        &kind,
                        &detail,
                    )],
                    ..Change::default()
                })
                .await?;
        }
        Ok((of_type, told))
    }

    /// Every merchant (staff only).
    pub async fn merchants(&self, principal: &Principal) -> Result<Vec<Stored<Merchant>>> {
        if !principal.is_staff() {
            return Err(Error::forbidden("only staff list merchants"));
        }
        list(&self.store, RecordQuery::kind(Merchant::KIND)).await
    }
}

#[cfg(test)]
mod tests {
    use super::{FeeChange, days_since_epoch};

    #[test]
    fn days_count_from_the_epoch_and_refuse_what_is_not_a_date() {
        assert_eq!(days_since_epoch("19700101"), Some(0));
        assert_eq!(days_since_epoch("19700201"), Some(31));
        assert_eq!(days_since_epoch("20000301").zip(days_since_epoch("20000228")).map(|(a, b)| a - b), Some(2));
        assert_eq!(days_since_epoch("20261227").zip(days_since_epoch("20261127")).map(|(a, b)| a - b), Some(30));
        for bad in ["20261131", "20270229", "2026112", "2026-11-2", "abcdefgh"] {
            assert_eq!(days_since_epoch(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_fees_in_force_change_on_the_announced_day_and_not_before() {
        use xingtong_onboarding::application::BusinessType;
        let mut merchant = super::Merchant {
            mid: "898310053990001".into(),
            name: "王芳小吃".into(),
            business_type: BusinessType::Individual,
            mcc: "5399".into(),
            owner_user_id: "usr_1".into(),
            legal_name: "王芳".into(),
            phone: "13900000001".into(),
            email: None,
            application_id: "app_1".into(),
            terms: xingtong_onboarding::terms::Terms::for_business_type(BusinessType::Individual),
            settlement_card: super::BankCard {
                card_number: "6222021234567890128".into(),
                bank_name: "中国银行".into(),
                account_holder: "王芳".into(),
                verified_at: 1,
            },
            settlement_account_id: "1".into(),
            deposit_account_id: "2".into(),
            status: "active".into(),
            settlement_cycle: super::SettlementCycle::T1,
            fee_changes: Vec::new(),
        };
        let initial = merchant.terms.fees;
        let raised = xingtong_onboarding::terms::FeeSchedule { debit_ppm: 5_500, ..initial };
        let later = xingtong_onboarding::terms::FeeSchedule { debit_ppm: 6_000, ..initial };
        for (day, fees) in [("20270101", raised), ("20270301", later)] {
            merchant.fee_changes.push(FeeChange {
                effective_day: day.into(),
                fees,
                announced_at: 0,
                announced_by: "staff:test".into(),
            });
        }
        assert_eq!(merchant.fees_on("20261231"), initial);
        assert_eq!(merchant.fees_on("20270101"), raised);
        assert_eq!(merchant.fees_on("20270228"), raised);
        assert_eq!(merchant.fees_on("20270301"), later);
    }
}

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

    /// Every merchant (staff only).
    pub async fn merchants(&self, principal: &Principal) -> Result<Vec<Stored<Merchant>>> {
        if !principal.is_staff() {
            return Err(Error::forbidden("only staff list merchants"));
        }
        list(&self.store, RecordQuery::kind(Merchant::KIND)).await
    }
}

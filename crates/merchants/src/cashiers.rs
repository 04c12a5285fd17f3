//! Cashiers (操作员): operator numbers 01–99 per merchant and 00, the supervisor, who authorises voids
//! and refunds. PINs are 6 digits kept as Argon2id hashes; 5 wrong PINs lock the operator, and only
//! staff can reset a locked PIN (the merchant may ask for it); after a reset the owner sets a new one.

use serde::{Deserialize, Serialize};
use xingtong_store::{Change, RecordQuery, now_ns};

use crate::Merchants;
use crate::entity::{Entity, Stored, get, insert, list, retrying};
use crate::error::{Class, Error, Result};
use crate::identity::{Principal, Role, SecretString, User, audit, hash, verify};
use crate::merchant::Merchant;
use crate::notify::{Template, notification_to_user};

/// Wrong PINs in a row before the operator is locked.
pub const PIN_TRIES_MAX: u32 = 5;

/// Where a cashier stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CashierStatus {
    /// Has no PIN yet (new, or reset by staff): the owner must set one.
    PinRequired,
    /// Can sign in.
    Active,
    /// Locked after too many wrong PINs; staff must reset.
    Locked,
    /// Removed by the owner.
    Disabled,
}

/// An operator of a merchant's terminals.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cashier {
    /// Merchant.
    pub mid: String,
    /// `00` (supervisor) or `01`–`99`.
    pub operator: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: CashierStatus,
    /// Argon2id hash of the PIN.
    pub pin_hash: Option<String>,
    /// Wrong PINs in a row.
    pub failed_tries: u32,
    /// The merchant asked staff for a reset (ns).
    pub reset_requested_at: Option<u64>,
}

impl Entity for Cashier {
    const KIND: &'static str = "cashier";
    fn id(&self) -> String {
        format!("{}:{}", self.mid, self.operator)
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        serde_json::to_value(self.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

impl Cashier {
    /// Operator 00, made with the merchant; the owner sets its PIN.
    pub fn supervisor(mid: &str) -> Cashier {
        Cashier {
            mid: mid.into(),
            operator: "00".into(),
            name: "主管 Supervisor".into(),
            status: CashierStatus::PinRequired,
            pin_hash: None,
            failed_tries: 0,
            reset_requested_at: None,
        }
    }

    /// True for operator 00.
    pub fn is_supervisor(&self) -> bool {
        self.operator == "00"
    }
}

/// Why a PIN was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinRefusal {
    /// No such operator (or disabled).
    UnknownOperator,
    /// Wrong PIN; this many tries remain.
    Wrong {
        /// Tries left before the lock.
        remaining: u32,
    },
    /// Locked (now or already): staff must reset it.
    Locked,
    /// No PIN set yet (new, or reset by staff): the owner sets one.
    NotSet,
}

/// Checks an operator number: two digits.
pub fn check_operator(operator: &str) -> Result<()> {
    if operator.len() == 2 && operator.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::new(Class::Unprocessable, "invalid_operator", "an operator number is two digits, 00 to 99"))
    }
}

/// Checks a PIN: six digits.
pub fn check_pin(pin: &str) -> Result<()> {
    if pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::new(Class::Unprocessable, "invalid_pin", "a cashier PIN is six digits"))
    }
}

fn cashier_id(mid: &str, operator: &str) -> String {
    format!("{mid}:{operator}")
}

impl Merchants {
    /// A merchant's cashiers.
    pub async fn cashiers(&self, principal: &Principal, mid: &str) -> Result<Vec<Stored<Cashier>>> {
        principal.may_see_merchant(mid)?;
        list(&self.store, RecordQuery::kind(Cashier::KIND).owner(mid)).await
    }

    /// The owner adds a cashier (01–99) with a PIN.
    pub async fn create_cashier(
        &self,
        principal: &Principal,
        mid: &str,
        operator: &str,
        name: &str,
        pin: SecretString,
    ) -> Result<Stored<Cashier>> {
        principal.require_merchant(mid)?;
        principal.require_scope(crate::identity::Scope::Manage)?;
        check_operator(operator)?;
        if operator == "00" {
            return Err(Error::new(
                Class::Conflict,
                "already_exists",
                "operator 00 is the supervisor; set its PIN instead",
            ));
        }
        check_pin(pin.expose())?;
        let name = &crate::text::checked("name", "invalid_name", name, 50)?;
        let cashier = Cashier {
            mid: mid.into(),
            operator: operator.into(),
            name: name.into(),
            status: CashierStatus::Active,
            pin_hash: Some(hash(pin).await?),
            failed_tries: 0,
            reset_requested_at: None,
        };
        let id = cashier.id();
        self.store
            .apply(Change {
                puts: vec![insert(&cashier)?],
                audit: vec![audit(&principal.actor(), "cashier.created", Cashier::KIND, &id, "{}")],
                ..Change::default()
            })
            .await
            .map_err(|e| match Error::from(e) {
                e if e.is_conflict() => Error::new(Class::Conflict, "already_exists", "this operator number is taken"),
                e => e,
            })?;
        get(&self.store, &id, "cashier").await
    }

    /// The owner sets an operator's PIN (a new one after a staff reset, or a change); not while locked.
    pub async fn set_cashier_pin(
        &self,
        principal: &Principal,
        mid: &str,
        operator: &str,
        pin: SecretString,
    ) -> Result<Stored<Cashier>> {
        principal.require_merchant(mid)?;
        principal.require_scope(crate::identity::Scope::Manage)?;
        check_pin(pin.expose())?;
        let pin_hash = hash(pin).await?;
        let id = cashier_id(mid, operator);
        retrying(|| async {
            let mut cashier = get::<Cashier>(&self.store, &id, "cashier").await?;
            match cashier.value.status {
                CashierStatus::Locked => {
                    return Err(Error::new(
                        Class::Locked,
                        "pin_locked",
                        "the PIN is locked; only staff can reset it (request a reset)",
                    ));
                }
                CashierStatus::Disabled => return Err(Error::invalid_state("the cashier is disabled")),
                CashierStatus::PinRequired | CashierStatus::Active => {}
            }
            cashier.value.pin_hash = Some(pin_hash.clone());
            cashier.value.status = CashierStatus::Active;
            cashier.value.failed_tries = 0;
            self.store
                .apply(Change {
                    puts: vec![cashier.update()?],
                    audit: vec![audit(&principal.actor(), "cashier.pin_set", Cashier::KIND, &id, "{}")],
                    ..Change::default()
                })
                .await?;
            get(&self.store, &id, "cashier").await
        })
        .await
    }

    /// The owner asks staff to reset a locked PIN.
    pub async fn request_pin_reset(&self, principal: &Principal, mid: &str, operator: &str) -> Result<Stored<Cashier>> {
        principal.require_merchant(mid)?;
        principal.require_scope(crate::identity::Scope::Manage)?;
        let id = cashier_id(mid, operator);
        retrying(|| async {
            let mut cashier = get::<Cashier>(&self.store, &id, "cashier").await?;
            cashier.value.reset_requested_at = Some(now_ns());
            self.store
                .apply(Change {
                    puts: vec![cashier.update()?],
                    audit: vec![audit(&principal.actor(), "cashier.pin_reset_requested", Cashier::KIND, &id, "{}")],
                    ..Change::default()
                })
                .await?;
            get(&self.store, &id, "cashier").await
        })
        .await
    }

    /// The owner disables an operator (it can no longer sign in on any terminal; its PIN is
    /// forgotten and its transactions stay), or enables a disabled one again (it then needs a
    /// new PIN). The supervisor, 00, cannot be disabled: voids and refunds need it.
    pub async fn set_cashier_enabled(
        &self,
        principal: &Principal,
        mid: &str,
        operator: &str,
        enabled: bool,
    ) -> Result<Stored<Cashier>> {
        principal.require_merchant(mid)?;
        principal.require_scope(crate::identity::Scope::Manage)?;
        check_operator(operator)?;
        if operator == "00" && !enabled {
            return Err(Error::new(
                Class::Conflict,
                "supervisor_required",
                "operator 00, the supervisor, authorises voids and refunds and cannot be disabled",
            ));
        }
        let id = cashier_id(mid, operator);
        retrying(|| async {
            let mut cashier = get::<Cashier>(&self.store, &id, "cashier").await?;
            let disabled = cashier.value.status == CashierStatus::Disabled;
            if disabled != enabled {
                // Already so: nothing to do, nothing audited.
                return Ok(cashier);
            }
            cashier.value.status = if enabled { CashierStatus::PinRequired } else { CashierStatus::Disabled };
            cashier.value.pin_hash = None;
            cashier.value.failed_tries = 0;
            cashier.value.reset_requested_at = None;
            let action = if enabled { "cashier.enabled" } else { "cashier.disabled" };
            self.store
                .apply(Change {
                    puts: vec![cashier.update()?],
                    audit: vec![audit(&principal.actor(), action, Cashier::KIND, &id, "{}")],
                    ..Change::default()
                })
                .await?;
            get(&self.store, &id, "cashier").await
        })
        .await
    }

    /// Staff (risk) reset a PIN: the lock and the old PIN are cleared; the owner then sets a new one.
    pub async fn reset_cashier_pin(&self, principal: &Principal, mid: &str, operator: &str) -> Result<Stored<Cashier>> {
        principal.require(Role::Risk)?;
        let id = cashier_id(mid, operator);
        retrying(|| async {
            let mut cashier = get::<Cashier>(&self.store, &id, "cashier").await?;
            cashier.value.pin_hash = None;
            cashier.value.status = CashierStatus::PinRequired;
            cashier.value.failed_tries = 0;
            cashier.value.reset_requested_at = None;
            let merchant = get::<Merchant>(&self.store, mid, "merchant").await?;
            let owner = get::<User>(&self.store, &merchant.value.owner_user_id, "user").await?;
            let notices =
                notification_to_user(&owner.value, Template::PinReset, &[("operator", operator), ("mid", mid)])?;
            self.store
                .apply(Change {
                    puts: [vec![cashier.update()?], notices].concat(),
                    audit: vec![audit(&principal.actor(), "cashier.pin_reset", Cashier::KIND, &id, "{}")],
                    ..Change::default()
                })
                .await?;
            get(&self.store, &id, "cashier").await
        })
        .await
    }

    /// Whether `operator` is one of the merchant's operators and not disabled (a payment names
    /// the operator who took it; locked or PIN-less operators still exist).
    pub async fn operator_enabled(&self, mid: &str, operator: &str) -> Result<bool> {
        let cashier = crate::entity::load::<Cashier>(&self.store, &cashier_id(mid, operator)).await?;
        Ok(cashier.is_some_and(|c| c.value.status != CashierStatus::Disabled))
    }

    /// Verifies an operator's PIN (terminal sign-in, supervisor authorisation). Wrong PINs count;
    /// the fifth locks the operator and the owner is told.
    pub async fn verify_cashier_pin(
        &self,
        mid: &str,
        operator: &str,
        pin: &str,
    ) -> Result<std::result::Result<Cashier, PinRefusal>> {
        let id = cashier_id(mid, operator);
        let pin = SecretString::new(pin);
        retrying(|| async {
            let Some(mut cashier) = crate::entity::load::<Cashier>(&self.store, &id).await? else {
                return Ok(Err(PinRefusal::UnknownOperator));
            };
            match cashier.value.status {
                CashierStatus::Disabled => return Ok(Err(PinRefusal::UnknownOperator)),
                CashierStatus::Locked => return Ok(Err(PinRefusal::Locked)),
                CashierStatus::PinRequired => return Ok(Err(PinRefusal::NotSet)),
                CashierStatus::Active => {}
            }
            let stored = cashier.value.pin_hash.clone().unwrap_or_default();
            if verify(pin.clone(), stored).await {
                if cashier.value.failed_tries != 0 {
                    cashier.value.failed_tries = 0;
                    self.store.apply(Change { puts: vec![cashier.update()?], ..Change::default() }).await?;
                }
                return Ok(Ok(cashier.value));
            }
            cashier.value.failed_tries += 1;
            let locked = cashier.value.failed_tries >= PIN_TRIES_MAX;
            let mut puts = Vec::new();
            let mut entries = Vec::new();
            if locked {
                cashier.value.status = CashierStatus::Locked;
                let merchant = get::<Merchant>(&self.store, mid, "merchant").await?;
                let owner = get::<User>(&self.store, &merchant.value.owner_user_id, "user").await?;
                puts.extend(notification_to_user(
                    &owner.value,
                    Template::PinLocked,
                    &[("operator", operator), ("mid", mid)],
                )?);
                entries.push(audit(&format!("operator:{id}"), "cashier.pin_locked", Cashier::KIND, &id, "{}"));
            }
            puts.insert(0, cashier.update()?);
            self.store.apply(Change { puts, audit: entries, ..Change::default() }).await?;
            Ok(Err(if locked {
                PinRefusal::Locked
            } else {
                PinRefusal::Wrong { remaining: PIN_TRIES_MAX - cashier.value.failed_tries }
            }))
        })
        .await
    }
}

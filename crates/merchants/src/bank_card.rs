//! Changing the settlement bank card (修改绑定银行卡): the owner asks, a one-time code goes to the
//! registered phone, the owner confirms with it; the new card is validated and its holder must be
//! the merchant (一清). It applies from the next settlement, and is audited and notified.

use serde::{Deserialize, Serialize};
use xingtong_onboarding::application::BusinessType;
use xingtong_onboarding::validate::Severity;
use xingtong_store::{Change, now_ns};

use crate::Merchants;
use crate::entity::{Entity, Stored, get, insert, new_id, retrying};
use crate::error::{Class, Error, Result};
use crate::identity::{Principal, SecretString, User, audit, hash, verify};
use crate::merchant::{BankCard, Merchant, mask_card};
use crate::notify::{Template, notification_to};

/// A code is valid for ten minutes.
pub const CODE_TTL_NS: u64 = 10 * 60 * 1_000_000_000;
/// Wrong codes before the request is cancelled.
pub const CODE_TRIES_MAX: u32 = 5;

/// The new card, as the owner gives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCard {
    /// Card number.
    pub card_number: String,
    /// Bank.
    pub bank_name: String,
    /// Holder.
    pub account_holder: String,
}

/// A requested change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardChange {
    /// `chg_…`.
    pub id: String,
    /// Merchant.
    pub mid: String,
    /// The new card.
    pub card: BankCard,
    /// Argon2id hash of the one-time code.
    pub code_hash: String,
    /// Code valid until (ns).
    pub expires_at: u64,
    /// Wrong codes so far.
    pub tries: u32,
    /// `pending`, `applied` or `cancelled`.
    pub status: String,
}

impl Entity for CardChange {
    const KIND: &'static str = "card_change";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
}

/// What the owner sees of a change (never the code).
#[derive(Debug, Clone, Serialize)]
pub struct CardChangeView {
    /// Id.
    pub id: String,
    /// Status.
    pub status: String,
    /// Masked new card.
    pub card_number: String,
    /// Bank.
    pub bank_name: String,
    /// Code valid until (ns).
    pub expires_at: u64,
}

impl From<&CardChange> for CardChangeView {
    fn from(c: &CardChange) -> CardChangeView {
        CardChangeView {
            id: c.id.clone(),
            status: c.status.clone(),
            card_number: mask_card(&c.card.card_number),
            bank_name: c.card.bank_name.clone(),
            expires_at: c.expires_at,
        }
    }
}

fn new_code() -> String {
    let mut code = String::new();
    while code.len() < 6 {
        let byte: u8 = rand::random();
        if byte < 250 {
            code.push(char::from(b'0' + byte % 10));
        }
    }
    code
}

impl Merchants {
    /// Starts a card change: validates the card and holder, and texts a one-time code to the
    /// merchant's registered phone.
    pub async fn request_card_change(&self, principal: &Principal, mid: &str, card: NewCard) -> Result<CardChangeView> {
        principal.require_merchant(mid)?;
        if !matches!(principal, Principal::Owner { .. }) {
            return Err(Error::forbidden("the settlement card is changed by the owner, signed in"));
        }
        let merchant = get::<Merchant>(&self.store, mid, "merchant").await?;
        let number = card.card_number.trim().to_owned();
        let mut findings = xingtong_onboarding::validate::bank_card("card_number", &number);
        let holder = card.account_holder.trim();
        let expected = if merchant.value.business_type == BusinessType::Enterprise {
            merchant.value.name.as_str()
        } else {
            merchant.value.legal_name.as_str()
        };
        if holder != expected {
            findings.push(xingtong_onboarding::validate::Finding {
                field: "account_holder".into(),
                code: "account_holder_mismatch",
                severity: Severity::Error,
                message_en: "settlement is paid only to the merchant's own account: the holder must be the merchant",
                message_zh: "结算款只付至商户本人账户：户名须与商户一致",
            });
        }
        if card.bank_name.trim().is_empty() {
            findings.push(xingtong_onboarding::validate::Finding {
                field: "bank_name".into(),
                code: "required",
                severity: Severity::Error,
                message_en: "this field is required",
                message_zh: "此项为必填项",
            });
        }
        if findings.iter().any(|f| f.severity == Severity::Error) {
            return Err(crate::applications::validation_failed(&findings));
        }
        let code = new_code();
        let change = CardChange {
            id: new_id("chg"),
            mid: mid.into(),
            card: BankCard {
                card_number: number,
                bank_name: card.bank_name.trim().into(),
                account_holder: holder.into(),
                verified_at: 0,
            },
            code_hash: hash(SecretString::new(code.clone())).await?,
            expires_at: now_ns() + CODE_TTL_NS,
            tries: 0,
            status: "pending".into(),
        };
        let owner = get::<User>(&self.store, &merchant.value.owner_user_id, "user").await?;
        // The code goes to the merchant's registered phone only, never by email.
        let notices =
            notification_to(&owner.value, &merchant.value.phone, None, Template::CardChangeCode, &[("code", &code)])?;
        let detail = serde_json::json!({ "card": mask_card(&change.card.card_number) });
        self.store
            .apply(Change {
                puts: [vec![insert(&change)?], notices].concat(),
                audit: vec![audit(
                    &principal.actor(),
                    "card_change.requested",
                    CardChange::KIND,
                    &change.id,
                    &detail.to_string(),
                )],
                ..Change::default()
            })
            .await?;
        Ok(CardChangeView::from(&change))
    }

    /// Confirms a card change with its one-time code; the merchant's card is replaced.
    pub async fn confirm_card_change(
        &self,
        principal: &Principal,
        mid: &str,
        id: &str,
        code: &str,
    ) -> Result<CardChangeView> {
        principal.require_merchant(mid)?;
        // The owner's one-time code: no API key may spend its tries.
        if !matches!(principal, Principal::Owner { .. }) {
            return Err(Error::forbidden("the settlement card is changed by the owner, signed in"));
        }
        let code = SecretString::new(code.trim());
        retrying(|| async {
            let mut change: Stored<CardChange> = get(&self.store, id, "card change").await?;
            if change.value.mid != mid {
                return Err(Error::not_found("card change"));
            }
            if change.value.status != "pending" {
                return Err(Error::invalid_state(format!("this card change is {}", change.value.status)));
            }
            if change.value.expires_at <= now_ns() {
                return Err(Error::new(Class::Conflict, "code_expired", "the code has expired; request a new one"));
            }
            if !verify(code.clone(), change.value.code_hash.clone()).await {
                change.value.tries += 1;
                if change.value.tries >= CODE_TRIES_MAX {
                    change.value.status = "cancelled".into();
                }
                self.store.apply(Change { puts: vec![change.update()?], ..Change::default() }).await?;
                return Err(Error::new(Class::Unprocessable, "wrong_code", "the code is wrong"));
            }
            let mut merchant = get::<Merchant>(&self.store, mid, "merchant").await?;
            let owner = get::<User>(&self.store, &merchant.value.owner_user_id, "user").await?;
            let previous = merchant.value.settlement_card.masked();
            change.value.status = "applied".into();
            change.value.card.verified_at = now_ns();
            merchant.value.settlement_card = change.value.card.clone();
            let masked = mask_card(&change.value.card.card_number);
            let notices = crate::notify::notification_to_user(
                &owner.value,
                Template::CardChanged,
                &[("mid", mid), ("card", &masked)],
            )?;
            let detail = serde_json::json!({ "from": previous, "to": masked, "change": id });
            self.store
                .apply(Change {
                    puts: [vec![change.update()?, merchant.update()?], notices].concat(),
                    audit: vec![audit(
                        &principal.actor(),
                        "merchant.settlement_card_changed",
                        Merchant::KIND,
                        mid,
                        &detail.to_string(),
                    )],
                    ..Change::default()
                })
                .await?;
            Ok(CardChangeView::from(&change.value))
        })
        .await
    }
}

//! What the onboarding endpoints answer, as typed views: each is the JSON wire format of one thing
//! (never the storage type itself), with its schema in the OpenAPI document. Times are RFC 3339.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use xingtong_merchants::applications::Application;
use xingtong_merchants::cashiers::Cashier;
use xingtong_merchants::devices::{Device, DeviceStatus};
use xingtong_merchants::entity::Stored;
use xingtong_merchants::identity::Principal;
use xingtong_merchants::merchant::Merchant;

use crate::time::{rfc3339, rfc3339_opt};

/// A value's JSON string form (an enum's wire name), as serde writes it everywhere else.
fn wire<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Who the caller is (`GET /v1/me`, and the answer to a sign-in).
#[derive(Debug, Serialize, ToSchema)]
pub struct PrincipalView {
    /// `staff`, `owner` or `merchant_key`.
    pub kind: &'static str,
    /// Staff: their id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Staff: their roles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Owner: their user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Key: its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Owner: the first merchant (null before approval); key: its merchant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<Option<String>>,
    /// Owner: every merchant, in the order approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_ids: Option<Vec<String>>,
    /// Key: what it may change besides reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<&'static str>>,
}

impl PrincipalView {
    /// The caller.
    pub fn of(principal: &Principal) -> PrincipalView {
        let none = PrincipalView {
            kind: "",
            id: None,
            roles: None,
            user_id: None,
            key_id: None,
            merchant_id: None,
            merchant_ids: None,
            scopes: None,
        };
        match principal {
            Principal::Staff { id, roles } => PrincipalView {
                kind: "staff",
                id: Some(id.clone()),
                roles: Some(roles.iter().map(wire).collect()),
                ..none
            },
            Principal::Owner { user_id, merchant_ids } => PrincipalView {
                kind: "owner",
                user_id: Some(user_id.clone()),
                merchant_id: Some(merchant_ids.first().cloned()),
                merchant_ids: Some(merchant_ids.clone()),
                ..none
            },
            Principal::MerchantKey { key_id, merchant_id, scopes } => PrincipalView {
                kind: "merchant_key",
                key_id: Some(key_id.clone()),
                merchant_id: Some(Some(merchant_id.clone())),
                scopes: Some(scopes.iter().map(|s| s.as_str()).collect()),
                ..none
            },
        }
    }
}

/// A step in a history.
#[derive(Debug, Serialize, ToSchema)]
pub struct StepView {
    /// When, RFC 3339.
    pub at: String,
    /// The status entered.
    pub status: String,
    /// Who.
    pub actor: String,
    /// Why (rejections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Option<String>>,
}

/// An uploaded document, as an application refers to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentView {
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// By content: `image/jpeg`, `image/png` or `application/pdf`.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// As uploaded (metadata only).
    pub file_name: String,
    /// When, RFC 3339.
    pub uploaded_at: String,
}

/// Record stamps: its version (for optimistic concurrency) and times.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stamps {
    /// Increases with every change.
    pub version: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl Stamps {
    /// A stored record's stamps.
    pub fn of<T>(stored: &Stored<T>) -> Stamps {
        Stamps {
            version: stored.version,
            created_at: rfc3339(stored.created_at),
            updated_at: rfc3339(stored.updated_at),
        }
    }
}

/// A merchant application.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    /// `app_…`.
    pub id: String,
    /// `draft`, `submitted`, `under_review`, `approved` or `rejected`.
    #[schema(value_type = String)]
    pub status: xingtong_onboarding::status::Status,
    /// The form as filled in (the request body of `POST /v1/applications`).
    #[schema(value_type = Object)]
    pub form: xingtong_onboarding::application::Application,
    /// Uploaded documents by kind (`id_card_front`, …).
    pub documents: BTreeMap<String, DocumentView>,
    /// Warnings for the reviewer (each with field, code, severity and messages).
    #[schema(value_type = Vec<Object>)]
    pub warnings: Vec<xingtong_merchants::applications::FindingView>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// The reviewer.
    pub reviewer: Option<String>,
    /// The merchant, once approved.
    pub merchant_id: Option<String>,
    /// How many times it was submitted.
    pub submissions: u32,
    /// Every status it went through.
    pub history: Vec<StepView>,
    /// Stamps.
    #[serde(flatten)]
    pub stamps: Stamps,
}

impl ApplicationView {
    /// A stored application.
    pub fn of(a: &Stored<Application>) -> ApplicationView {
        let v = &a.value;
        ApplicationView {
            id: v.id.clone(),
            status: v.status,
            form: v.form.clone(),
            documents: v
                .documents
                .iter()
                .map(|(kind, d)| {
                    (
                        kind.as_str().to_owned(),
                        DocumentView {
                            sha256: d.sha256.clone(),
                            content_type: d.content_type.clone(),
                            size: d.size,
                            file_name: d.file_name.clone(),
                            uploaded_at: rfc3339(d.uploaded_at),
                        },
                    )
                })
                .collect(),
            warnings: v.warnings.clone(),
            rejection_reason: v.rejection_reason.clone(),
            reviewer: v.reviewer.clone(),
            merchant_id: v.merchant_id.clone(),
            submissions: v.submissions,
            history: v
                .history
                .iter()
                .map(|h| StepView {
                    at: rfc3339(h.at),
                    status: wire(&h.status),
                    actor: h.actor.clone(),
                    reason: Some(h.reason.clone()),
                })
                .collect(),
            stamps: Stamps::of(a),
        }
    }
}

/// A merchant's settlement card, masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementCardView {
    /// First six and last four digits.
    pub card_number: String,
    /// Bank.
    pub bank_name: String,
    /// Account holder.
    pub account_holder: String,
    /// When it was verified, RFC 3339.
    pub verified_at: String,
}

/// A merchant's two ledger accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerAccountsView {
    /// What the merchant is owed (payable).
    pub settlement: String,
    /// The terminal deposit held.
    pub deposit: String,
}

/// A merchant.
#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantView {
    /// Merchant number, 15 digits.
    #[schema(pattern = "^[0-9]{15}$")]
    pub mid: String,
    /// Trading name.
    pub name: String,
    /// `individual`, `individual_business` or `enterprise`.
    #[schema(value_type = String)]
    pub business_type: xingtong_onboarding::application::BusinessType,
    /// Merchant category code.
    pub mcc: String,
    /// Legal name.
    pub legal_name: String,
    /// Phone.
    pub phone: String,
    /// Email.
    pub email: Option<String>,
    /// `active` or `suspended`.
    pub status: String,
    /// Fees, limits and deposit terms.
    #[schema(value_type = Object)]
    pub terms: xingtong_onboarding::terms::Terms,
    /// The application it came from.
    pub application_id: String,
    /// Where its money goes.
    pub settlement_card: SettlementCardView,
    /// Its ledger accounts.
    pub ledger_accounts: LedgerAccountsView,
}

impl MerchantView {
    /// A merchant.
    pub fn of(m: &Merchant) -> MerchantView {
        MerchantView {
            mid: m.mid.clone(),
            name: m.name.clone(),
            business_type: m.business_type,
            mcc: m.mcc.clone(),
            legal_name: m.legal_name.clone(),
            phone: m.phone.clone(),
            email: m.email.clone(),
            status: m.status.clone(),
            terms: m.terms,
            application_id: m.application_id.clone(),
            settlement_card: SettlementCardView {
                card_number: m.settlement_card.masked(),
                bank_name: m.settlement_card.bank_name.clone(),
                account_holder: m.settlement_card.account_holder.clone(),
                verified_at: rfc3339(m.settlement_card.verified_at),
            },
            ledger_accounts: LedgerAccountsView {
                settlement: m.settlement_account_id.clone(),
                deposit: m.deposit_account_id.clone(),
            },
        }
    }
}

/// The merchant console's words for a device state.
fn device_status_zh(status: DeviceStatus) -> &'static str {
    match status {
        DeviceStatus::Ordered => "已下单",
        DeviceStatus::Shipped => "已发货",
        DeviceStatus::Bound => "已绑定",
        DeviceStatus::Activated => "已激活",
        DeviceStatus::Suspended => "已停用",
    }
}

/// A device's deposit terms.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepositTermsView {
    /// The deposit, minor units.
    pub amount_minor: i64,
    /// The first sale at or above this activates the device.
    pub activation_amount_minor: i64,
    /// The deposit is refunded after this much volume …
    pub refund_volume_minor: i64,
    /// … within this many days.
    pub refund_within_days: u32,
}

/// A POS device.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// Terminal id, 8 digits.
    #[schema(pattern = "^[0-9]{8}$")]
    pub tid: String,
    /// Its merchant.
    pub mid: String,
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial_number: String,
    /// `ordered`, `shipped`, `bound`, `activated` or `suspended`.
    #[schema(value_type = String)]
    pub status: DeviceStatus,
    /// The status in Chinese (已激活 …).
    pub status_zh: &'static str,
    /// Shown to the owner and staff until the device is bound.
    pub activation_code: Option<String>,
    /// Wrong activation codes so far.
    pub activation_failures: u32,
    /// The TMK's check value, once delivered.
    pub tmk_check_value: Option<String>,
    /// Where it is sent.
    pub shipping_address: String,
    /// The courier's tracking number.
    pub tracking_number: Option<String>,
    /// Deposit terms.
    pub deposit: DepositTermsView,
    /// Every state it went through.
    pub history: Vec<StepView>,
    /// Stamps.
    #[serde(flatten)]
    pub stamps: Stamps,
}

impl DeviceView {
    /// A device as `principal` may see it.
    pub fn of(d: &Stored<Device>, principal: &Principal) -> DeviceView {
        let v = &d.value;
        // The activation code is shown to the merchant's owner and to staff, until the device is bound.
        let show_code = matches!(principal, Principal::Owner { .. } | Principal::Staff { .. });
        DeviceView {
            tid: v.tid.clone(),
            mid: v.mid.clone(),
            model: v.model.clone(),
            serial_number: v.serial_number.clone(),
            status: v.status,
            status_zh: device_status_zh(v.status),
            activation_code: if show_code { v.activation_code.clone() } else { None },
            activation_failures: v.activation_failures,
            tmk_check_value: v.tmk_check_value.clone(),
            shipping_address: v.shipping_address.clone(),
            tracking_number: v.tracking_number.clone(),
            deposit: DepositTermsView {
                amount_minor: v.deposit_minor,
                activation_amount_minor: v.activation_amount_minor,
                refund_volume_minor: v.deposit_refund_volume_minor,
                refund_within_days: v.deposit_refund_days,
            },
            history: v
                .history
                .iter()
                .map(|h| StepView { at: rfc3339(h.at), status: wire(&h.status), actor: h.actor.clone(), reason: None })
                .collect(),
            stamps: Stamps::of(d),
        }
    }
}

/// An operator of a merchant's terminals.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashierView {
    /// Merchant.
    pub mid: String,
    /// `00` (the supervisor) to `99`.
    #[schema(pattern = "^[0-9]{2}$")]
    pub operator: String,
    /// Name.
    pub name: String,
    /// `pin_required`, `active`, `locked` or `disabled`.
    #[schema(value_type = String)]
    pub status: xingtong_merchants::cashiers::CashierStatus,
    /// True for operator 00.
    pub supervisor: bool,
    /// Wrong PINs in a row.
    pub failed_tries: u32,
    /// When the owner asked staff for a reset, RFC 3339.
    pub reset_requested_at: Option<String>,
    /// Stamps.
    #[serde(flatten)]
    pub stamps: Stamps,
}

impl CashierView {
    /// A stored cashier.
    pub fn of(c: &Stored<Cashier>) -> CashierView {
        let v = &c.value;
        CashierView {
            mid: v.mid.clone(),
            operator: v.operator.clone(),
            name: v.name.clone(),
            status: v.status,
            supervisor: v.is_supervisor(),
            failed_tries: v.failed_tries,
            reset_requested_at: rfc3339_opt(v.reset_requested_at),
            stamps: Stamps::of(c),
        }
    }
}

/// A merchant API key (never its secret, but once: `token`, when it is made).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Its public id.
    pub id: String,
    /// Its merchant.
    pub mid: Option<String>,
    /// What it is for.
    pub label: String,
    /// What it may change besides reading: `payments`, `refunds`, `manage`.
    pub scopes: Vec<&'static str>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once revoked.
    pub revoked_at: Option<String>,
    /// The whole key, `xtk_…`: in the answer that made it, and never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl KeyView {
    /// A stored key.
    pub fn of(k: &xingtong_store::ApiKeyRecord) -> KeyView {
        KeyView {
            id: k.id.clone(),
            mid: k.owner.clone(),
            label: k.label.clone(),
            scopes: xingtong_merchants::identity::Scope::from_role(&k.role)
                .unwrap_or_default()
                .into_iter()
                .map(xingtong_merchants::identity::Scope::as_str)
                .collect(),
            created_at: rfc3339(k.created_at),
            revoked_at: rfc3339_opt(k.revoked_at),
            token: None,
        }
    }
}

/// An entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    /// Increasing.
    pub seq: u64,
    /// RFC 3339.
    pub at: String,
    /// Who (`staff:…`, `user:…`, `key:…`, `terminal:…`).
    pub actor: String,
    /// What, e.g. `application.approved`.
    pub action: String,
    /// The kind of record acted on.
    pub subject_kind: String,
    /// Its id.
    pub subject_id: String,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// A notification in the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    /// Id.
    pub id: String,
    /// To whom.
    pub user_id: String,
    /// `sms` or `email`.
    pub channel: String,
    /// Address or number.
    pub to: String,
    /// `zh-CN` or `en`.
    pub language: String,
    /// Which template.
    #[schema(value_type = String)]
    pub template: xingtong_merchants::notify::Template,
    /// Subject.
    pub subject: String,
    /// Text.
    pub text: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Tries so far.
    pub attempts: u32,
    /// RFC 3339.
    pub next_attempt_at: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// RFC 3339.
    pub sent_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// A newly registered owner.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// `usr_…`.
    pub id: String,
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: String,
    /// Email.
    pub email: Option<String>,
    /// `zh-CN` or `en`.
    pub language: String,
}

/// The answer to a registration.
#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    /// The new owner.
    pub user: UserView,
}

/// A staff account.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffView {
    /// `stf_…`.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Roles.
    pub roles: Vec<String>,
}

impl StaffView {
    /// A staff account.
    pub fn of(staff: &xingtong_merchants::identity::Staff) -> StaffView {
        StaffView {
            id: staff.id.clone(),
            username: staff.username.clone(),
            name: staff.name.clone(),
            roles: staff.roles.iter().map(wire).collect(),
        }
    }
}

/// Applications.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationList {
    /// Newest first.
    pub applications: Vec<ApplicationView>,
}

/// A document just uploaded.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentUploaded {
    /// Which document (`id_card_front`, …).
    pub kind: &'static str,
    /// What the application now refers to.
    pub document: DocumentView,
}

impl DocumentUploaded {
    /// A document of `kind`.
    pub fn of(
        kind: xingtong_onboarding::documents::DocumentKind,
        d: &xingtong_merchants::applications::DocumentRef,
    ) -> Self {
        DocumentUploaded {
            kind: kind.as_str(),
            document: DocumentView {
                sha256: d.sha256.clone(),
                content_type: d.content_type.clone(),
                size: d.size,
                file_name: d.file_name.clone(),
                uploaded_at: rfc3339(d.uploaded_at),
            },
        }
    }
}

/// An approval: the application, the merchant it made and its device order.
#[derive(Debug, Serialize, ToSchema)]
pub struct Approved {
    /// The application, approved.
    pub application: ApplicationView,
    /// The new merchant.
    pub merchant: MerchantView,
    /// Its devices (the one ordered).
    pub devices: Vec<DeviceView>,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditLogView {
    /// Oldest first.
    pub entries: Vec<AuditEntryView>,
}

/// Merchants.
#[derive(Debug, Serialize, ToSchema)]
pub struct MerchantList {
    /// Merchants.
    pub merchants: Vec<MerchantView>,
}

/// Devices.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    /// Devices.
    pub devices: Vec<DeviceView>,
}

/// Cashiers.
#[derive(Debug, Serialize, ToSchema)]
pub struct CashierList {
    /// Operator 00 first.
    pub cashiers: Vec<CashierView>,
}

/// API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Never with their secrets.
    pub api_keys: Vec<KeyView>,
}

/// Notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationList {
    /// Notifications.
    pub notifications: Vec<NotificationView>,
}

/// A settlement-card change (never its code).
#[derive(Debug, Serialize, ToSchema)]
pub struct CardChangeView {
    /// Id.
    pub id: String,
    /// `pending`, `confirmed`, `expired` or `failed`.
    pub status: String,
    /// The new card, masked.
    pub card_number: String,
    /// Bank.
    pub bank_name: String,
    /// The code is valid until, RFC 3339.
    pub expires_at: String,
}

impl CardChangeView {
    /// A change as the owner sees it.
    pub fn of(v: &xingtong_merchants::bank_card::CardChangeView) -> CardChangeView {
        CardChangeView {
            id: v.id.clone(),
            status: v.status.clone(),
            card_number: v.card_number.clone(),
            bank_name: v.bank_name.clone(),
            expires_at: rfc3339(v.expires_at),
        }
    }
}

/// A terminal's activation: its TMK under the activation key (docs/activation.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationView {
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// The merchant's trading name, for slips.
    pub merchant_name: String,
    /// 32 hex digits.
    pub tmk_under_activation_key: String,
    /// 8 hex digits.
    pub tmk_check_value: String,
    /// How to derive the activation key.
    #[schema(value_type = Object)]
    pub kdf: Value,
}

impl ActivationView {
    /// An activation.
    pub fn of(a: &xingtong_merchants::devices::Activation) -> ActivationView {
        ActivationView {
            mid: a.mid.clone(),
            tid: a.tid.clone(),
            merchant_name: a.merchant_name.clone(),
            tmk_under_activation_key: a.tmk_under_activation_key.clone(),
            tmk_check_value: a.tmk_check_value.clone(),
            kdf: serde_json::to_value(&a.kdf).unwrap_or(Value::Null),
        }
    }
}

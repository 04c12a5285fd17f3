//! The OpenAPI document, generated from the handlers' annotations and the wire types.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The error shape, for the document.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `invalid_request`, `transfers_rejected`.
    pub code: String,
    /// For a person.
    pub message: String,
    /// Structured detail, e.g. the per-event results of a refused batch.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

// Request bodies whose Rust types live in the domain crates, described here for the document (the
// domain crates know no OpenAPI). Each mirrors the type named in its doc comment field for field;
// CI's schemathesis run sends bodies made from these, so a mirror that drifted shows as refusals.

/// `POST /v1/owners` (`xingtong_merchants::identity::Registration`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RegistrationBody {
    /// 1 to 100 characters.
    name: String,
    /// Mainland mobile number, 11 digits.
    #[schema(pattern = "^1[3-9][0-9]{9}$")]
    phone: String,
    /// Email.
    email: Option<String>,
    /// 8 to 128 characters.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    /// `zh-CN` (default) or `en`.
    language: Option<String>,
}

/// `POST /v1/applications/{id}/approve` (`xingtong_merchants::applications::Approval`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ApprovalBody {
    /// Merchant category code, 4 digits [default 5399].
    #[schema(pattern = "^[0-9]{4}$")]
    mcc: Option<String>,
    /// Device model.
    device_model: Option<String>,
    /// Device serial number.
    serial_number: Option<String>,
}

/// `POST /v1/activations` (`xingtong_merchants::devices::ActivationRequest`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ActivationBody {
    /// Merchant number, 15 digits.
    #[schema(pattern = "^[0-9]{15}$")]
    mid: String,
    /// The device's serial number.
    serial_number: String,
    /// The 16-digit activation code.
    #[schema(pattern = "^[0-9]{16}$")]
    activation_code: String,
}

/// An applicant (`xingtong_onboarding::application::Applicant`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ApplicantBody {
    /// Legal name.
    legal_name: String,
    /// Resident identity card number, 18 characters (GB 11643).
    #[schema(pattern = "^[0-9]{17}[0-9X]$")]
    resident_id: String,
    /// Mainland mobile number.
    #[schema(pattern = "^1[3-9][0-9]{9}$")]
    phone: String,
    /// Email.
    email: String,
    /// Address.
    address: String,
}

/// A business (`xingtong_onboarding::application::Business`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BusinessBody {
    /// Trading name.
    name: String,
    /// `individual`, `individual_business` or `enterprise`.
    #[schema(pattern = "^(individual|individual_business|enterprise)$")]
    business_type: String,
    /// Unified social credit code, 18 characters (licensed businesses).
    unified_social_credit_code: Option<String>,
}

/// A settlement account: in an application (`xingtong_onboarding::application::SettlementAccount`)
/// and as the new card of a settlement-card change (`xingtong_merchants::bank_card::NewCard`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SettlementAccountBody {
    /// Card number (Luhn-valid).
    #[schema(pattern = "^[0-9]{13,19}$")]
    card_number: String,
    /// Bank.
    bank_name: String,
    /// The account holder: the applicant's or merchant's legal name (the business, for enterprises).
    account_holder: String,
}

/// An application form (`xingtong_onboarding::application::Application`); every field may be
/// left out while it is a draft, and submitting reports every problem at once.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ApplicationBody {
    /// The applicant.
    applicant: Option<ApplicantBody>,
    /// The business.
    business: Option<BusinessBody>,
    /// Where the money goes.
    settlement_account: Option<SettlementAccountBody>,
    /// Where the terminal is sent.
    delivery_address: Option<String>,
}

/// `POST /v1/sandbox/cards` (`xingtong_payments::sandbox::NewCard`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct SandboxCardBody {
    /// `unionpay`, `visa` or `mastercard`.
    #[schema(pattern = "^(unionpay|visa|mastercard)$")]
    brand: String,
    /// `debit` or `credit`.
    #[schema(pattern = "^(debit|credit)$")]
    card_type: String,
    /// A number of your own (its brand must match); default a fresh one.
    pan: Option<String>,
    /// YYMM.
    #[schema(pattern = "^[0-9]{2}(0[1-9]|1[0-2])$")]
    expiry: Option<String>,
    /// 4 to 12 digits.
    #[schema(pattern = "^[0-9]{4,12}$")]
    pin: String,
    /// Balance or credit limit, minor units.
    #[schema(minimum = 0)]
    balance_minor: i64,
    /// `active`, `blocked`, `lost` or `stolen`.
    status: Option<String>,
    /// The issuer answers this many ms late.
    delay_ms: Option<u64>,
    /// The issuer never answers.
    timeout: Option<bool>,
}

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API key, `xtk_<id>_<secret>`, from first start or `xingtong admin api-key create`"))
            .build();
        components.add_security_scheme("api_key", SecurityScheme::Http(scheme));
    }
}

/// Makes the document say what every operation really takes and answers, whatever each
/// handler's annotation forgot: every `{name}` of a path as a required path parameter (with the
/// shape of the ids it takes), the error responses every operation may give (all in the one
/// error shape), and the two ways to authenticate (an API key or the session cookie).
struct Completeness;

/// The shape of a path parameter, by name.
fn path_parameter_pattern(name: &str) -> Option<&'static str> {
    match name {
        "mid" => Some("^[0-9]{15}$"),
        "tid" => Some("^[0-9]{8}$"),
        "operator" => Some("^[0-9]{2}$"),
        "number" => Some("^[0-9]{13,19}$"),
        _ => None,
    }
}

/// The error statuses an operation under `/v1` may answer, with when.
const V1_ERRORS: [(&str, &str); 11] = [
    ("400", "Malformed: a query string, path parameter, JSON syntax or header"),
    ("401", "No credentials, or unknown, revoked or expired ones"),
    ("403", "Known, but not allowed (role, scope)"),
    ("404", "Not found, or not the caller's"),
    ("409", "Conflicts with the current state"),
    ("413", "The body is too large"),
    ("415", "The body is not of the accepted media type"),
    ("422", "Well-formed but refused: the code and message say why"),
    ("423", "Locked after too many wrong tries"),
    ("500", "A bug; the log has the request id"),
    ("503", "Shutting down, or the database did not answer: retry"),
];

impl Modify for Completeness {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement};
        use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};

        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "xt_session",
                "The session cookie set by POST /v1/sessions or /v1/staff/sessions",
            ))),
        );
        openapi.security = Some(vec![
            SecurityRequirement::new("api_key", Vec::<String>::new()),
            SecurityRequirement::new("session", Vec::<String>::new()),
        ]);
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names: Vec<&str> =
                path.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}')).collect();
            let operations =
                [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten();
            for operation in operations {
                let parameters = operation.parameters.get_or_insert_with(Vec::new);
                for name in &names {
                    let declared = parameters.iter().any(|p| match p {
                        utoipa::openapi::RefOr::T(p) => p.name == *name && p.parameter_in == ParameterIn::Path,
                        utoipa::openapi::RefOr::Ref(_) => false,
                    });
                    if !declared {
                        let schema = ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(path_parameter_pattern(name))
                            .min_length(Some(1));
                        parameters.push(utoipa::openapi::RefOr::T(
                            ParameterBuilder::new()
                                .name(*name)
                                .parameter_in(ParameterIn::Path)
                                .required(Required::True)
                                .schema(Some(schema))
                                .build(),
                        ));
                    }
                }
                if !path.starts_with("/v1/") {
                    continue;
                }
                let error_content = || ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
                for (status, when) in V1_ERRORS {
                    operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
                        utoipa::openapi::RefOr::T(
                            ResponseBuilder::new()
                                .description(when)
                                .content("application/json", error_content())
                                .build(),
                        )
                    });
                }
                // Errors a handler's annotation named without a body have the one error shape too.
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let utoipa::openapi::RefOr::T(response) = response
                        && status.starts_with(['4', '5'])
                        && response.content.is_empty()
                    {
                        response
                            .content
                            .insert("application/json".to_owned(), utoipa::openapi::RefOr::T(error_content()));
                    }
                }
            }
        }
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "XingTong API",
        description = "POS acquiring platform. Amounts are integer minor units (fen for CNY). 128-bit ids are decimal strings. \
                       Every error is {\"error\":{\"code\",\"message\"}} with a stable code.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::ledger::create_accounts,
        crate::ledger::get_account,
        crate::ledger::list_account_transfers,
        crate::ledger::create_transfers,
        crate::ledger::get_transfer,
        crate::onboarding::register_owner,
        crate::onboarding::login_owner,
        crate::onboarding::login_staff,
        crate::onboarding::logout,
        crate::onboarding::me,
        crate::onboarding::create_staff,
        crate::onboarding::create_application,
        crate::onboarding::list_applications,
        crate::onboarding::get_application,
        crate::onboarding::update_application,
        crate::onboarding::submit_application,
        crate::onboarding::upload_document,
        crate::onboarding::get_document,
        crate::onboarding::review_queue,
        crate::onboarding::start_review,
        crate::onboarding::reject_application,
        crate::onboarding::approve_application,
        crate::onboarding::audit_log,
        crate::onboarding::list_merchants,
        crate::onboarding::get_merchant,
        crate::onboarding::list_devices,
        crate::onboarding::get_device,
        crate::onboarding::ship_device,
        crate::onboarding::suspend_device,
        crate::onboarding::resume_device,
        crate::onboarding::reissue_activation_code,
        crate::onboarding::activate,
        crate::onboarding::list_cashiers,
        crate::onboarding::create_cashier,
        crate::onboarding::set_cashier_pin,
        crate::onboarding::request_pin_reset,
        crate::onboarding::disable_cashier,
        crate::onboarding::enable_cashier,
        crate::onboarding::reset_pin,
        crate::onboarding::request_card_change,
        crate::onboarding::confirm_card_change,
        crate::onboarding::create_api_key,
        crate::onboarding::list_api_keys,
        crate::onboarding::revoke_api_key,
        crate::onboarding::list_notifications,
        crate::payments::create_payment,
        crate::payments::get_payment,
        crate::payments::get_receipt,
        crate::payments::void_payment,
        crate::payments::create_refund,
        crate::payments::create_pre_authorization,
        crate::payments::complete_pre_authorization,
        crate::payments::void_pre_authorization,
        crate::payments::create_balance_inquiry,
        crate::payments::create_sandbox_card,
        crate::payments::get_sandbox_card,
        crate::qr::get_payment_methods,
        crate::qr::set_payment_methods,
        crate::qr::create_sandbox_wallet,
        crate::qr::get_sandbox_wallet,
        crate::qr::create_payment_code,
        crate::qr::create_payment_codes,
        crate::qr_orders::create_qr_order,
        crate::qr_orders::get_qr_order,
        crate::qr_orders::close_qr_order,
        crate::qr_orders::get_static_code,
        crate::qr_orders::take_wallet_notification,
        crate::qr_orders::scan_code,
        crate::qr_orders::set_wallet_scheme,
        crate::qr_orders::list_wallet_notifications,
        crate::settlements::settle_batch,
        crate::settlements::get_batch,
        crate::settlements::list_batches,
        crate::settlements::list_settlements,
        crate::settlements::get_settlement,
        crate::settlements::set_settlement_cycle,
        crate::settlements::run_clearing,
        crate::settlements::list_payouts,
        crate::settlements::get_fee_schedule,
        crate::settlements::announce_fee_change,
        crate::settlements::set_limits,
        crate::settlements::announce_type_fee_change,
        crate::settlements::list_transactions,
        crate::reports::sales_report,
        crate::reports::settlement_report,
        crate::reports::collection_report,
        crate::settlements::get_payout,
        crate::settlements::run_payouts,
        crate::settlements::set_sandbox_bank_account,
        crate::deposits::get_deposit,
        crate::deposits::list_deposits,
        crate::deposits::pay_deposit,
        crate::deposits::waive_deposit,
        crate::reconciliation::run_reconciliation,
        crate::reconciliation::get_reconciliation,
        crate::reconciliation::get_clearing_file,
        crate::reconciliation::inject_clearing_fault,
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
        crate::ops::openapi_json,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        crate::ledger::AccountInput,
        crate::ledger::CreateAccountsRequest,
        crate::ledger::TransferInput,
        crate::ledger::CreateTransfersRequest,
        crate::ledger::EventResult,
        crate::ledger::BatchResponse,
        crate::ledger::AccountView,
        crate::ledger::TransferView,
        crate::ledger::TransferPage,
    )),
    modifiers(&BearerKeys, &Completeness),
    tags((name = "ledger", description = "Double-entry ledger for operators"), (name = "payments", description = "Card payments over JSON: the same core as ISO 8583 terminals"), (name = "onboarding", description = "Owners, staff, applications, documents, review, merchants, devices, activation, cashiers"), (name = "settlement", description = "Terminal batch settlement, clearing and settlements"), (name = "operations", description = "Health, metrics, this document"))
)]
#[derive(Debug)]
pub struct ApiDoc;

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
    modifiers(&BearerKeys),
    tags((name = "ledger", description = "Double-entry ledger for operators"), (name = "payments", description = "Card payments over JSON: the same core as ISO 8583 terminals"), (name = "onboarding", description = "Owners, staff, applications, documents, review, merchants, devices, activation, cashiers"), (name = "operations", description = "Health, metrics, this document"))
)]
#[derive(Debug)]
pub struct ApiDoc;

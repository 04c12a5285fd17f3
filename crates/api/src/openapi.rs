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
    modifiers(&BearerKeys, &Completeness),
    tags((name = "ledger", description = "Double-entry ledger for operators"), (name = "payments", description = "Card payments over JSON: the same core as ISO 8583 terminals"), (name = "onboarding", description = "Owners, staff, applications, documents, review, merchants, devices, activation, cashiers"), (name = "operations", description = "Health, metrics, this document"))
)]
#[derive(Debug)]
pub struct ApiDoc;

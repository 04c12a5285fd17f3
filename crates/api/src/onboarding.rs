//! Onboarding over JSON (journey steps 1–3): owners and staff sign in, applicants apply and upload
//! documents, reviewers decide, merchants see their devices, manage cashiers, API keys and their
//! settlement card, terminals activate. Every handler passes the caller to the service, which
//! decides; another merchant's data answers 404, as if it did not exist.

use axum::Json;
use axum::extract::{FromRequestParts, Multipart, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use xingtong_crypto::SecretString;
use xingtong_merchants::applications::Approval;
use xingtong_merchants::identity::{Principal, Registration, Role, SESSION_PREFIX, Scope};
use xingtong_onboarding::documents::{DOCUMENT_BYTES_MAX, DocumentKind};
use xingtong_store::{API_KEY_PREFIX, parse_api_key};

use crate::AppState;
use crate::error::{ApiError, codes};
use crate::extract::{JsonBody, Path, Query};
use crate::time::{rfc3339, rfc3339_opt};
use crate::views::{
    ActivationView, ApplicationList, ApplicationView, Approved, AuditEntryView, AuditLogView, CardChangeView,
    CashierList, CashierView, DeviceList, DeviceView, DocumentUploaded, KeyList, KeyView, MerchantList, MerchantView,
    NotificationList, NotificationView, PrincipalView, Registered, StaffView, UserView,
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "xt_session";

impl From<xingtong_merchants::Error> for ApiError {
    fn from(error: xingtong_merchants::Error) -> ApiError {
        use xingtong_merchants::Class;
        let status = match error.class {
            Class::BadRequest => StatusCode::BAD_REQUEST,
            Class::Unauthenticated => StatusCode::UNAUTHORIZED,
            Class::Forbidden => StatusCode::FORBIDDEN,
            Class::NotFound => StatusCode::NOT_FOUND,
            Class::Conflict => StatusCode::CONFLICT,
            Class::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Class::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Class::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Class::Locked => StatusCode::LOCKED,
            Class::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Class::Internal => return ApiError::internal(&error.message),
        };
        let mut api = ApiError::new(status, error.code, error.message);
        api.details = error.details;
        api
    }
}

/// The caller: an API key (`Authorization: Bearer xtk_…`), or a session (the `xt_session` cookie,
/// or `Authorization: Bearer xts_…`).
#[derive(Debug, Clone)]
pub struct Auth(pub Principal);

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE).then(|| value.to_owned())
    })
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message);
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_owned());
        let token = bearer.or_else(|| session_cookie(&parts.headers)).ok_or_else(|| {
            unauthorized("sign in (the xt_session cookie) or send an API key: Authorization: Bearer xtk_…")
        })?;
        if token.starts_with(API_KEY_PREFIX) {
            let (id, secret) = parse_api_key(&token).ok_or_else(|| unauthorized("that is not an XingTong API key"))?;
            let key = state.api_key(id).await?;
            return match key {
                Some(key) if key.verifies(secret) => state
                    .merchants
                    .principal_for_key(&key)
                    .map(Auth)
                    .ok_or_else(|| unauthorized("this key cannot be used here")),
                _ => Err(unauthorized("unknown or revoked API key")),
            };
        }
        if token.starts_with(SESSION_PREFIX) {
            return match state.merchants.session(&token).await? {
                Some(principal) => Ok(Auth(principal)),
                None => Err(unauthorized("the session has ended or expired; sign in again")),
            };
        }
        Err(unauthorized("unknown credentials"))
    }
}

fn with_session_cookie(mut response: Response, token: &str, max_age_s: u64) -> Response {
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_s}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn created(body: impl serde::Serialize) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

fn ok(body: impl serde::Serialize) -> Response {
    Json(body).into_response()
}

// ---- identities ----

/// Registers a merchant owner (applicant) and signs them in.
#[utoipa::path(post, path = "/v1/owners", request_body = crate::openapi::RegistrationBody, tag = "onboarding", responses((status = 201, description = "Registered and signed in (Set-Cookie: xt_session)", body = crate::views::Registered)))]
pub async fn register_owner(State(state): State<AppState>, body: JsonBody<Registration>) -> Result<Response, ApiError> {
    let (user, token) = state.merchants.register_owner(body.value).await?;
    let body = Registered {
        user: UserView { id: user.id, name: user.name, phone: user.phone, email: user.email, language: user.language },
    };
    Ok(with_session_cookie(created(body), &token.0, xingtong_merchants::identity::OWNER_SESSION_NS / 1_000_000_000))
}

/// A sign-in.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Phone or email (owners), username (staff).
    pub login: String,
    /// Password.
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub password: SecretString,
}

/// Signs an owner in by phone or email.
#[utoipa::path(post, path = "/v1/sessions", request_body = Login, tag = "onboarding", responses((status = 201, description = "Signed in (Set-Cookie: xt_session)", body = crate::views::PrincipalView), (status = 401, description = "Wrong login or password")))]
pub async fn login_owner(State(state): State<AppState>, body: JsonBody<Login>) -> Result<Response, ApiError> {
    let token = state.merchants.login_owner(&body.value.login, body.value.password.expose()).await?;
    let principal =
        state.merchants.session(&token.0).await?.ok_or_else(|| ApiError::internal(&"new session not found"))?;
    Ok(with_session_cookie(
        created(PrincipalView::of(&principal)),
        &token.0,
        xingtong_merchants::identity::OWNER_SESSION_NS / 1_000_000_000,
    ))
}

/// Signs a staff member in.
#[utoipa::path(post, path = "/v1/staff/sessions", request_body = Login, tag = "onboarding", responses((status = 201, description = "Signed in (Set-Cookie: xt_session)", body = crate::views::PrincipalView)))]
pub async fn login_staff(State(state): State<AppState>, body: JsonBody<Login>) -> Result<Response, ApiError> {
    let token = state.merchants.login_staff(&body.value.login, body.value.password.expose()).await?;
    let principal =
        state.merchants.session(&token.0).await?.ok_or_else(|| ApiError::internal(&"new session not found"))?;
    Ok(with_session_cookie(
        created(PrincipalView::of(&principal)),
        &token.0,
        xingtong_merchants::identity::STAFF_SESSION_NS / 1_000_000_000,
    ))
}

/// Signs out.
#[utoipa::path(delete, path = "/v1/sessions/current", tag = "onboarding", responses((status = 204, description = "Signed out")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    // However the session was presented: the cookie, or `Authorization: Bearer xts_…` (both, if
    // a client sent both).
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned())
        .filter(|token| token.starts_with(SESSION_PREFIX));
    for token in session_cookie(&headers).into_iter().chain(bearer) {
        state.merchants.logout(&token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static("xt_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"));
    Ok(response)
}

/// Who am I.
#[utoipa::path(get, path = "/v1/me", tag = "onboarding", responses((status = 200, description = "The caller", body = crate::views::PrincipalView)))]
pub async fn me(Auth(principal): Auth) -> Response {
    ok(PrincipalView::of(&principal))
}

/// A new staff account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Roles: admin, reviewer, risk, finance.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    /// Password.
    #[schema(value_type = String, min_length = 8, max_length = 128)]
    pub password: SecretString,
}

/// Creates a staff account (admins).
#[utoipa::path(post, path = "/v1/staff", request_body = NewStaff, tag = "onboarding", responses((status = 201, description = "Created", body = crate::views::StaffView)))]
pub async fn create_staff(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<NewStaff>,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let b = body.value;
    let staff = state.merchants.create_staff(&principal.actor(), &b.username, &b.name, b.roles, b.password).await?;
    Ok(created(StaffView::of(&staff)))
}

// ---- applications ----

/// Filters lists by status.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatusFilter {
    /// Comma-separated statuses.
    pub status: Option<String>,
}

impl StatusFilter {
    fn statuses(&self) -> Vec<&str> {
        self.status
            .as_deref()
            .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default()
    }
}

/// Starts an application (a draft; fields may be missing until submission).
#[utoipa::path(post, path = "/v1/applications", request_body = crate::openapi::ApplicationBody, tag = "onboarding", responses((status = 201, description = "Draft created", body = crate::views::ApplicationView)))]
pub async fn create_application(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<xingtong_onboarding::application::Application>,
) -> Result<Response, ApiError> {
    let application = state.merchants.create_application(&principal, body.value).await?;
    Ok(created(ApplicationView::of(&application)))
}

/// Lists applications: an owner's own, or (staff) all, by status.
#[utoipa::path(get, path = "/v1/applications", tag = "onboarding", params(StatusFilter), responses((status = 200, description = "Applications", body = crate::views::ApplicationList)))]
pub async fn list_applications(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(filter): Query<StatusFilter>,
) -> Result<Response, ApiError> {
    let list = state.merchants.applications(&principal, &filter.statuses()).await?;
    Ok(ok(ApplicationList { applications: list.iter().map(ApplicationView::of).collect() }))
}

/// One application.
#[utoipa::path(get, path = "/v1/applications/{id}", tag = "onboarding", responses((status = 200, description = "The application", body = crate::views::ApplicationView), (status = 404, description = "Not found (or not yours)")))]
pub async fn get_application(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(ApplicationView::of(&state.merchants.application(&principal, &id).await?)))
}

/// Replaces a draft's or a rejected application's fields.
#[utoipa::path(put, path = "/v1/applications/{id}", request_body = crate::openapi::ApplicationBody, tag = "onboarding", responses((status = 200, description = "Updated", body = crate::views::ApplicationView), (status = 409, description = "Not editable in its state")))]
pub async fn update_application(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    body: JsonBody<xingtong_onboarding::application::Application>,
) -> Result<Response, ApiError> {
    Ok(ok(ApplicationView::of(&state.merchants.update_application(&principal, &id, body.value).await?)))
}

/// Submits (or resubmits): every problem is reported at once in `details.findings`.
#[utoipa::path(post, path = "/v1/applications/{id}/submit", tag = "onboarding", responses((status = 200, description = "Submitted", body = crate::views::ApplicationView), (status = 422, description = "validation_failed: all findings in details")))]
pub async fn submit_application(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(ApplicationView::of(&state.merchants.submit_application(&principal, &id).await?)))
}

fn document_kind(kind: &str) -> Result<DocumentKind, ApiError> {
    DocumentKind::parse(kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "unknown document kind: id_card_front, id_card_back, business_licence, tax_registration, bank_account_permit, storefront_photo",
        )
    })
}

/// Uploads a document as `multipart/form-data` with one part named `file`.
#[utoipa::path(post, path = "/v1/applications/{id}/documents/{kind}", tag = "onboarding", responses(
    (status = 201, description = "Stored", body = crate::views::DocumentUploaded), (status = 413, description = "Larger than 5 MiB"),
    (status = 415, description = "Not JPEG, PNG or PDF by content, or not what was declared"),
    (status = 422, description = "Refused: image too large in pixels, unreadable, active PDF, bad file name")))]
pub async fn upload_document(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, kind)): Path<(String, String)>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let kind = document_kind(&kind)?;
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::UNSUPPORTED_MEDIA_TYPE,
            "send the document as multipart/form-data with a part named file",
        )
    })?;
    let unreadable =
        |_| ApiError::new(StatusCode::BAD_REQUEST, "malformed_multipart", "the multipart body could not be read");
    let mut upload = None;
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() != Some("file") {
            continue;
        }
        let file_name = field.file_name().unwrap_or("").to_owned();
        let content_type = field.content_type().map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "document_too_large", "the file is larger than 5 MiB")
            } else {
                unreadable(e)
            }
        })? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > DOCUMENT_BYTES_MAX {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "document_too_large",
                    "the file is larger than 5 MiB",
                ));
            }
        }
        upload = Some((file_name, content_type, bytes));
        break;
    }
    let (file_name, content_type, bytes) = upload.ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "file_required", "send the document in a part named file")
    })?;
    let reference =
        state.merchants.upload_document(&principal, &id, kind, &file_name, content_type.as_deref(), bytes).await?;
    Ok(created(DocumentUploaded::of(kind, &reference)))
}

/// Downloads a document: the applicant, or staff with the reviewer role.
#[utoipa::path(get, path = "/v1/applications/{id}/documents/{kind}", tag = "onboarding", responses((status = 200, description = "The document's bytes"), (status = 403, description = "Staff without the reviewer role")))]
pub async fn get_document(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = document_kind(&kind)?;
    let (reference, bytes) = state.merchants.document(&principal, &id, kind).await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&reference.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

/// The review queue: submitted and under review, oldest first (reviewers).
#[utoipa::path(get, path = "/v1/review/queue", tag = "onboarding", responses((status = 200, description = "The queue", body = crate::views::ApplicationList)))]
pub async fn review_queue(State(state): State<AppState>, Auth(principal): Auth) -> Result<Response, ApiError> {
    let list = state.merchants.review_queue(&principal).await?;
    Ok(ok(ApplicationList { applications: list.iter().map(ApplicationView::of).collect() }))
}

/// A reviewer takes an application.
#[utoipa::path(post, path = "/v1/applications/{id}/review", tag = "onboarding", responses((status = 200, description = "Under review", body = crate::views::ApplicationView)))]
pub async fn start_review(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(ApplicationView::of(&state.merchants.start_review(&principal, &id).await?)))
}

/// A rejection.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why; the applicant reads it.
    pub reason: String,
}

/// Rejects with a reason.
#[utoipa::path(post, path = "/v1/applications/{id}/reject", request_body = Rejection, tag = "onboarding", responses((status = 200, description = "Rejected", body = crate::views::ApplicationView)))]
pub async fn reject_application(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    body: JsonBody<Rejection>,
) -> Result<Response, ApiError> {
    Ok(ok(ApplicationView::of(&state.merchants.reject_application(&principal, &id, &body.value.reason).await?)))
}

/// Approves: creates the merchant, its accounts and terms, and the device order.
#[utoipa::path(post, path = "/v1/applications/{id}/approve", request_body = crate::openapi::ApprovalBody, tag = "onboarding", responses((status = 200, description = "Approved: application, merchant and device", body = crate::views::Approved)))]
pub async fn approve_application(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    body: JsonBody<Approval>,
) -> Result<Response, ApiError> {
    let (application, merchant, _) = state.merchants.approve_application(&principal, &id, body.value).await?;
    let devices = state.merchants.devices(&principal, &merchant.mid).await?;
    Ok(ok(Approved {
        application: ApplicationView::of(&application),
        merchant: MerchantView::of(&merchant),
        devices: devices.iter().map(|d| DeviceView::of(d, &principal)).collect(),
    }))
}

/// Audit filter: every filter given must hold.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Record kind (`application`, `device`, `cashier`, `merchant` …).
    pub subject_kind: Option<String>,
    /// Record id (of any kind when `subject_kind` is not given).
    pub subject_id: Option<String>,
    /// Who: `staff:<id>`, `user:<id>`, `key:<id>`, `terminal:<tid>`, `system`.
    pub actor: Option<String>,
    /// What: a dotted action name (`device.suspended` …).
    pub action: Option<String>,
    /// Oldest first, entries after this sequence number.
    pub after: Option<u64>,
    /// Newest first, entries before this sequence number (give `order=desc` to start at the end).
    pub before: Option<u64>,
    /// `asc` (the default; with `after`) or `desc` (newest first; with `before`).
    pub order: Option<String>,
    /// Page size (≤ 1000).
    pub limit: Option<u32>,
}

/// The audit log (staff), searchable by subject, actor and action.
#[utoipa::path(get, path = "/v1/audit", tag = "onboarding", params(AuditFilter), responses((status = 200, description = "Who did what, when", body = crate::views::AuditLogView), (status = 400, description = "invalid_parameter")))]
pub async fn audit_log(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, ApiError> {
    if !principal.is_staff() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, "the audit log is for staff"));
    }
    let invalid = |message: &str| ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_PARAMETER, message);
    let newest_first = match filter.order.as_deref() {
        None | Some("asc") => filter.before.is_some(),
        Some("desc") => true,
        Some(_) => return Err(invalid("order is asc or desc")),
    };
    if filter.after.is_some() && (newest_first || filter.before.is_some()) {
        return Err(invalid("after pages oldest first; before pages newest first: give one"));
    }
    let blank = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let entries = state
        .store
        .audit_search(xingtong_store::AuditQuery {
            subject_kind: blank(filter.subject_kind),
            subject_id: blank(filter.subject_id),
            actor: blank(filter.actor),
            action: blank(filter.action),
            after_seq: filter.after.unwrap_or(0),
            before_seq: filter.before,
            newest_first,
            limit: filter.limit.unwrap_or(100),
        })
        .await?;
    let entries = entries
        .iter()
        .map(|e| AuditEntryView {
            seq: e.seq,
            at: rfc3339(e.at),
            actor: e.actor.clone(),
            action: e.action.clone(),
            subject_kind: e.subject_kind.clone(),
            subject_id: e.subject_id.clone(),
            detail: serde_json::from_str(&e.detail).unwrap_or(Value::Null),
        })
        .collect();
    Ok(ok(AuditLogView { entries }))
}

// ---- merchants, devices, cashiers ----

/// Merchants (staff).
#[utoipa::path(get, path = "/v1/merchants", tag = "onboarding", responses((status = 200, description = "Merchants", body = crate::views::MerchantList)))]
pub async fn list_merchants(State(state): State<AppState>, Auth(principal): Auth) -> Result<Response, ApiError> {
    let list = state.merchants.merchants(&principal).await?;
    Ok(ok(MerchantList { merchants: list.iter().map(|m| MerchantView::of(&m.value)).collect() }))
}

/// One merchant: itself, or staff.
#[utoipa::path(get, path = "/v1/merchants/{mid}", tag = "onboarding", responses((status = 200, description = "The merchant", body = crate::views::MerchantView)))]
pub async fn get_merchant(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(MerchantView::of(&state.merchants.merchant(&principal, &mid).await?.value)))
}

/// A merchant's devices and their states.
#[utoipa::path(get, path = "/v1/merchants/{mid}/devices", tag = "onboarding", responses((status = 200, description = "Devices", body = crate::views::DeviceList)))]
pub async fn list_devices(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
) -> Result<Response, ApiError> {
    let list = state.merchants.devices(&principal, &mid).await?;
    Ok(ok(DeviceList { devices: list.iter().map(|d| DeviceView::of(d, &principal)).collect() }))
}

/// One device.
#[utoipa::path(get, path = "/v1/devices/{tid}", tag = "onboarding", responses((status = 200, description = "The device", body = crate::views::DeviceView)))]
pub async fn get_device(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(DeviceView::of(&state.merchants.device(&principal, &tid).await?, &principal)))
}

/// Shipping details.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Shipment {
    /// Courier tracking number.
    pub tracking_number: Option<String>,
}

/// Marks a device shipped (staff), once its deposit is paid or waived.
#[utoipa::path(post, path = "/v1/devices/{tid}/ship", request_body = Shipment, tag = "onboarding", responses((status = 200, description = "Shipped", body = crate::views::DeviceView), (status = 409, description = "Not ordered, or its deposit neither paid nor waived (deposit_unpaid)")))]
pub async fn ship_device(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
    body: JsonBody<Shipment>,
) -> Result<Response, ApiError> {
    if principal.is_staff() {
        crate::deposits::require_deposit_settled(&state, &tid).await?;
    }
    let device = state.merchants.ship_device(&principal, &tid, body.value.tracking_number.as_deref()).await?;
    Ok(ok(DeviceView::of(&device, &principal)))
}

/// Suspends a device (risk).
#[utoipa::path(post, path = "/v1/devices/{tid}/suspend", tag = "onboarding", responses((status = 200, description = "Suspended", body = crate::views::DeviceView)))]
pub async fn suspend_device(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(DeviceView::of(&state.merchants.suspend_device(&principal, &tid).await?, &principal)))
}

/// Lifts a suspension (risk).
#[utoipa::path(post, path = "/v1/devices/{tid}/resume", tag = "onboarding", responses((status = 200, description = "Resumed", body = crate::views::DeviceView)))]
pub async fn resume_device(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(DeviceView::of(&state.merchants.resume_device(&principal, &tid).await?, &principal)))
}

/// Issues a new activation code (staff), e.g. after the lock.
#[utoipa::path(post, path = "/v1/devices/{tid}/activation-code", tag = "onboarding", responses((status = 200, description = "New code", body = crate::views::DeviceView)))]
pub async fn reissue_activation_code(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(DeviceView::of(&state.merchants.reissue_activation_code(&principal, &tid).await?, &principal)))
}

/// A terminal activates: MID, serial number and activation code in; TID and TMK (under the
/// activation key) out. No API key: the code is the credential, and it works once.
#[utoipa::path(post, path = "/v1/activations", request_body = crate::openapi::ActivationBody, tag = "onboarding", responses(
    (status = 201, description = "Bound: the TMK under the activation key", body = crate::views::ActivationView), (status = 403, description = "activation_refused"),
    (status = 409, description = "device_already_bound"), (status = 423, description = "activation_locked")))]
pub async fn activate(
    State(state): State<AppState>,
    body: JsonBody<xingtong_merchants::devices::ActivationRequest>,
) -> Result<Response, ApiError> {
    let activation = state.merchants.activate(body.value).await?;
    Ok(created(ActivationView::of(&activation)))
}

/// A merchant's cashiers.
#[utoipa::path(get, path = "/v1/merchants/{mid}/cashiers", tag = "onboarding", responses((status = 200, description = "Cashiers", body = crate::views::CashierList)))]
pub async fn list_cashiers(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
) -> Result<Response, ApiError> {
    let list = state.merchants.cashiers(&principal, &mid).await?;
    Ok(ok(CashierList { cashiers: list.iter().map(CashierView::of).collect() }))
}

/// A new cashier.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCashier {
    /// `01`–`99`.
    pub operator: String,
    /// Name.
    pub name: String,
    /// Six digits.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub pin: SecretString,
}

/// Adds a cashier (the merchant).
#[utoipa::path(post, path = "/v1/merchants/{mid}/cashiers", request_body = NewCashier, tag = "onboarding", responses((status = 201, description = "Created", body = crate::views::CashierView)))]
pub async fn create_cashier(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    body: JsonBody<NewCashier>,
) -> Result<Response, ApiError> {
    let b = body.value;
    Ok(created(CashierView::of(&state.merchants.create_cashier(&principal, &mid, &b.operator, &b.name, b.pin).await?)))
}

/// A PIN.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinBody {
    /// Six digits.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub pin: SecretString,
}

/// Sets an operator's PIN (the merchant; not while locked).
#[utoipa::path(put, path = "/v1/merchants/{mid}/cashiers/{operator}/pin", request_body = PinBody, tag = "onboarding", responses((status = 200, description = "Set", body = crate::views::CashierView), (status = 423, description = "Locked: staff must reset")))]
pub async fn set_cashier_pin(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((mid, operator)): Path<(String, String)>,
    body: JsonBody<PinBody>,
) -> Result<Response, ApiError> {
    Ok(ok(CashierView::of(&state.merchants.set_cashier_pin(&principal, &mid, &operator, body.value.pin).await?)))
}

/// Asks staff to reset a locked PIN (the merchant).
#[utoipa::path(post, path = "/v1/merchants/{mid}/cashiers/{operator}/pin-reset-request", tag = "onboarding", responses((status = 200, description = "Requested", body = crate::views::CashierView)))]
pub async fn request_pin_reset(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((mid, operator)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(ok(CashierView::of(&state.merchants.request_pin_reset(&principal, &mid, &operator).await?)))
}

/// Disables an operator (the merchant): it can no longer sign in; its PIN is forgotten. Operator
/// 00, the supervisor, cannot be disabled (409 `supervisor_required`).
#[utoipa::path(post, path = "/v1/merchants/{mid}/cashiers/{operator}/disable", tag = "onboarding", responses((status = 200, description = "Disabled (or already so)", body = crate::views::CashierView), (status = 409, description = "supervisor_required")))]
pub async fn disable_cashier(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((mid, operator)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(ok(CashierView::of(&state.merchants.set_cashier_enabled(&principal, &mid, &operator, false).await?)))
}

/// Enables a disabled operator again (the merchant): its status becomes `pin_required` until
/// the owner sets a PIN.
#[utoipa::path(post, path = "/v1/merchants/{mid}/cashiers/{operator}/enable", tag = "onboarding", responses((status = 200, description = "Enabled (or already so)", body = crate::views::CashierView)))]
pub async fn enable_cashier(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((mid, operator)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(ok(CashierView::of(&state.merchants.set_cashier_enabled(&principal, &mid, &operator, true).await?)))
}

/// Resets a PIN (staff, risk role): the owner then sets a new one.
#[utoipa::path(post, path = "/v1/merchants/{mid}/cashiers/{operator}/pin-reset", tag = "onboarding", responses((status = 200, description = "Reset", body = crate::views::CashierView)))]
pub async fn reset_pin(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((mid, operator)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    Ok(ok(CashierView::of(&state.merchants.reset_cashier_pin(&principal, &mid, &operator).await?)))
}

/// Requests a settlement card change; a code goes to the registered phone.
#[utoipa::path(post, path = "/v1/merchants/{mid}/settlement-card-changes", request_body = crate::openapi::SettlementAccountBody, tag = "onboarding", responses((status = 201, description = "Code sent", body = crate::views::CardChangeView), (status = 422, description = "validation_failed")))]
pub async fn request_card_change(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    body: JsonBody<xingtong_merchants::bank_card::NewCard>,
) -> Result<Response, ApiError> {
    let view = state.merchants.request_card_change(&principal, &mid, body.value).await?;
    Ok(created(CardChangeView::of(&view)))
}

/// A one-time code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// Six digits.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub code: SecretString,
}

/// Confirms a settlement card change with its code.
#[utoipa::path(post, path = "/v1/merchants/{mid}/settlement-card-changes/{id}/confirm", request_body = CodeBody, tag = "onboarding", responses((status = 200, description = "Applied from the next settlement", body = crate::views::CardChangeView)))]
pub async fn confirm_card_change(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((mid, id)): Path<(String, String)>,
    body: JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let view = state.merchants.confirm_card_change(&principal, &mid, &id, body.value.code.expose()).await?;
    Ok(ok(CardChangeView::of(&view)))
}

// ---- API keys, notifications ----

/// A label for a new key.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What it is for.
    pub label: String,
    /// Which of the owner's merchants; needed only by an owner of several.
    #[serde(default)]
    pub mid: Option<String>,
    /// What the key may change besides reading: `payments`, `refunds`, `manage` (cashiers);
    /// `["read"]` or `[]` for a read-only key. Default: all three.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// Makes an API key for the caller's merchant; the token is shown once.
#[utoipa::path(post, path = "/v1/api-keys", request_body = NewKey, tag = "onboarding", responses((status = 201, description = "The key, with its token shown this once", body = crate::views::KeyView)))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<NewKey>,
) -> Result<Response, ApiError> {
    let scopes = match &body.value.scopes {
        None => Scope::ALL.to_vec(),
        Some(names) => names
            .iter()
            .filter(|name| name.as_str() != "read")
            .map(|name| {
                Scope::parse(name).ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_scope",
                        format!("scopes: unknown scope {name:?}; known: read, payments, refunds, manage"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let key =
        state.merchants.create_merchant_key(&principal, body.value.mid.as_deref(), &body.value.label, &scopes).await?;
    Ok(created(KeyView { token: Some(key.token), ..KeyView::of(&key.record) }))
}

/// The caller's merchant's keys.
#[utoipa::path(get, path = "/v1/api-keys", tag = "onboarding", responses((status = 200, description = "Keys (never their secrets)", body = crate::views::KeyList)))]
pub async fn list_api_keys(State(state): State<AppState>, Auth(principal): Auth) -> Result<Response, ApiError> {
    let keys = state.merchants.merchant_keys(&principal).await?;
    Ok(ok(KeyList { api_keys: keys.iter().map(KeyView::of).collect() }))
}

/// Revokes a key.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "onboarding", responses((status = 204, description = "Revoked")))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.merchants.revoke_merchant_key(&principal, &id).await?;
    state.forget_api_key(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The outbox: staff see all, owners their own.
#[utoipa::path(get, path = "/v1/notifications", tag = "onboarding", params(StatusFilter), responses((status = 200, description = "Notifications", body = crate::views::NotificationList)))]
pub async fn list_notifications(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(filter): Query<StatusFilter>,
) -> Result<Response, ApiError> {
    let list = state.merchants.notifications(&principal, &filter.statuses()).await?;
    let notifications = list
        .iter()
        .map(|n| {
            let v = &n.value;
            NotificationView {
                id: v.id.clone(),
                user_id: v.user_id.clone(),
                channel: v.channel.clone(),
                to: v.to.clone(),
                language: v.language.clone(),
                template: v.template,
                subject: v.subject.clone(),
                text: v.text.clone(),
                status: v.status.clone(),
                attempts: v.attempts,
                next_attempt_at: rfc3339_opt(v.next_attempt_at),
                last_error: v.last_error.clone(),
                sent_at: rfc3339_opt(v.sent_at),
                created_at: rfc3339(n.created_at),
            }
        })
        .collect();
    Ok(ok(NotificationList { notifications }))
}

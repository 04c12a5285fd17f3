//! The JSON HTTP API of XingTong. This is the only crate that knows the JSON wire format.
//!
//! # Layout
//! - [`error`]: the one error shape and every stable error code.
//! - [`extract`]: strict JSON bodies, API-key callers, the `Idempotency-Key` header.
//! - [`ledger`]: `/v1/ledger/…`, the operators' ledger endpoints.
//! - [`onboarding`]: owners, staff, sessions, applications, documents, review, merchants, devices,
//!   activation, cashiers, settlement-card changes, merchant API keys, notifications, audit.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.
//! - [`openapi`]: the OpenAPI document, generated from the handlers and types.
//! - [`time`]: times as the API shows them (RFC 3339, never a nanosecond number).
//! - [`views`]: the typed answers of the onboarding endpoints.
//!
//! # Architecture invariant
//! Every response a client sees, success or failure, is shaped here. Nothing from storage or a
//! panic reaches a client: it is logged with the request id and answered as `internal`.

pub mod deposits;
pub mod error;
pub mod extract;
pub mod ledger;
pub mod onboarding;
pub mod openapi;
pub mod ops;
pub mod payments;
pub mod qr;
pub mod qr_orders;
pub mod reconciliation;
pub mod reports;
pub mod settlements;
pub mod time;
pub mod views;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use xingtong_store::Store;

use crate::error::{ApiError, codes};

/// API keys by id, with when they were read (`None`: there is no such key).
pub type ApiKeyCache = std::collections::HashMap<String, (Instant, Option<xingtong_store::ApiKeyRecord>)>;

/// How long a read API key is trusted without reading it again.
pub const API_KEY_CACHE_MS: u64 = 1_000;
/// The longest any request may take before it is answered `timeout`.
pub const REQUEST_TIMEOUT_MS: u64 = 30_000;
/// The header carrying the request id, set by us unless the client sent one.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Onboarding: identities, applications, merchants, devices.
    pub merchants: xingtong_merchants::Merchants,
    /// Card payments and the sandbox issuer, when the server runs them.
    pub payments: Option<(xingtong_payments::Engine, std::sync::Arc<xingtong_payments::sandbox::SandboxNetwork>)>,
    /// The sandbox wallets, when the server runs payments.
    pub sandbox_wallets: Option<std::sync::Arc<xingtong_payments::sandbox_wallet::SandboxWallets>>,
    /// API keys read in the last second, by id (see [`AppState::api_key`]).
    pub api_keys: Arc<std::sync::Mutex<ApiKeyCache>>,
    /// The merchant of each terminal a payment named (a device never changes merchant).
    pub terminal_merchants: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    /// Renders `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Process start, for `/healthz`.
    pub started: Instant,
}

impl AppState {
    /// State over the onboarding service (and its store), with the process-wide metrics recorder.
    pub fn new(merchants: xingtong_merchants::Merchants) -> AppState {
        AppState {
            store: merchants.store().clone(),
            merchants,
            payments: None,
            sandbox_wallets: None,
            terminal_merchants: Arc::default(),
            api_keys: Arc::default(),
            metrics: ops::metrics_handle(),
            started: Instant::now(),
        }
    }

    /// The API key with this id, read at most [`API_KEY_CACHE_MS`] ago: every request carries one,
    /// and reading it from the database each time cost a read per request. A revocation made in this
    /// process takes effect at once ([`AppState::forget_api_key`]); one made in another process within
    /// that time.
    pub async fn api_key(&self, id: &str) -> Result<Option<xingtong_store::ApiKeyRecord>, xingtong_store::StoreError> {
        if let Some((at, key)) = self.api_keys.lock().unwrap_or_else(|p| p.into_inner()).get(id)
            && at.elapsed() < Duration::from_millis(API_KEY_CACHE_MS)
        {
            return Ok(key.clone());
        }
        let key = self.store.api_key(id.to_owned()).await?;
        let mut cache = self.api_keys.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(id.to_owned(), (Instant::now(), key.clone()));
        Ok(key)
    }

    /// Drops a key from the cache (after revoking it).
    pub fn forget_api_key(&self, id: &str) {
        self.api_keys.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// With card payments (the JSON payment endpoints and the sandbox answer 503 without them).
    pub fn with_payments(
        mut self,
        engine: xingtong_payments::Engine,
        sandbox: std::sync::Arc<xingtong_payments::sandbox::SandboxNetwork>,
    ) -> AppState {
        self.payments = Some((engine, sandbox));
        self
    }

    /// With the sandbox wallets (their endpoints answer 503 without them).
    pub fn with_sandbox_wallets(
        mut self,
        wallets: std::sync::Arc<xingtong_payments::sandbox_wallet::SandboxWallets>,
    ) -> AppState {
        self.sandbox_wallets = Some(wallets);
        self
    }
}

/// Request ids: a per-process random prefix and a counter, cheap and unique enough to grep logs by.
#[derive(Clone, Debug)]
struct RequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:08x}", self.prefix)).ok().map(RequestId::new)
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The HTTP application with `pages` beside the API (the web consoles), under the same
/// middleware: request ids, tracing, the time limit, metrics.
pub fn router_with(state: AppState, pages: Router<AppState>) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let ids = RequestIds { prefix: hex::encode(rand_prefix()).into(), next: Arc::new(AtomicU64::new(1)) };
    let v1 = Router::new()
        .route("/v1/ledger/accounts", post(ledger::create_accounts))
        .route("/v1/ledger/accounts/{id}", get(ledger::get_account))
        .route("/v1/ledger/accounts/{id}/transfers", get(ledger::list_account_transfers))
        .route("/v1/ledger/transfers", post(ledger::create_transfers))
        .route("/v1/ledger/transfers/{id}", get(ledger::get_transfer))
        .route("/v1/owners", post(onboarding::register_owner))
        .route("/v1/sessions", post(onboarding::login_owner))
        .route("/v1/sessions/current", delete(onboarding::logout))
        .route("/v1/staff/sessions", post(onboarding::login_staff))
        .route("/v1/staff", post(onboarding::create_staff))
        .route("/v1/me", get(onboarding::me))
        .route("/v1/applications", post(onboarding::create_application).get(onboarding::list_applications))
        .route("/v1/applications/{id}", get(onboarding::get_application).put(onboarding::update_application))
        .route("/v1/applications/{id}/submit", post(onboarding::submit_application))
        .route(
            "/v1/applications/{id}/documents/{kind}",
            post(onboarding::upload_document).get(onboarding::get_document),
        )
        .route("/v1/applications/{id}/review", post(onboarding::start_review))
        .route("/v1/applications/{id}/approve", post(onboarding::approve_application))
        .route("/v1/applications/{id}/reject", post(onboarding::reject_application))
        .route("/v1/review/queue", get(onboarding::review_queue))
        .route("/v1/audit", get(onboarding::audit_log))
        .route("/v1/merchants", get(onboarding::list_merchants))
        .route("/v1/merchants/{mid}", get(onboarding::get_merchant))
        .route("/v1/merchants/{mid}/devices", get(onboarding::list_devices))
        .route("/v1/merchants/{mid}/cashiers", get(onboarding::list_cashiers).post(onboarding::create_cashier))
        .route("/v1/merchants/{mid}/cashiers/{operator}/pin", put(onboarding::set_cashier_pin))
        .route("/v1/merchants/{mid}/cashiers/{operator}/pin-reset-request", post(onboarding::request_pin_reset))
        .route("/v1/merchants/{mid}/cashiers/{operator}/pin-reset", post(onboarding::reset_pin))
        .route("/v1/merchants/{mid}/cashiers/{operator}/disable", post(onboarding::disable_cashier))
        .route("/v1/merchants/{mid}/cashiers/{operator}/enable", post(onboarding::enable_cashier))
        .route("/v1/merchants/{mid}/settlement-card-changes", post(onboarding::request_card_change))
        .route("/v1/merchants/{mid}/settlement-card-changes/{id}/confirm", post(onboarding::confirm_card_change))
        .route("/v1/devices/{tid}", get(onboarding::get_device))
        .route("/v1/devices/{tid}/ship", post(onboarding::ship_device))
        .route("/v1/devices/{tid}/suspend", post(onboarding::suspend_device))
        .route("/v1/devices/{tid}/resume", post(onboarding::resume_device))
        .route("/v1/devices/{tid}/activation-code", post(onboarding::reissue_activation_code))
        .route("/v1/activations", post(onboarding::activate))
        .route("/v1/api-keys", post(onboarding::create_api_key).get(onboarding::list_api_keys))
        .route("/v1/api-keys/{id}", delete(onboarding::revoke_api_key))
        .route("/v1/notifications", get(onboarding::list_notifications))
        .route("/v1/payments", post(payments::create_payment))
        .route("/v1/payments/{id}", get(payments::get_payment))
        .route("/v1/payments/{id}/receipt", get(payments::get_receipt))
        .route("/v1/payments/{id}/void", post(payments::void_payment))
        .route("/v1/refunds", post(payments::create_refund))
        .route("/v1/pre-authorizations", post(payments::create_pre_authorization))
        .route("/v1/pre-authorizations/{id}/complete", post(payments::complete_pre_authorization))
        .route("/v1/pre-authorizations/{id}/void", post(payments::void_pre_authorization))
        .route("/v1/balance-inquiries", post(payments::create_balance_inquiry))
        .route("/v1/sandbox/cards", post(payments::create_sandbox_card))
        .route("/v1/sandbox/cards/{number}", get(payments::get_sandbox_card))
        .route("/v1/devices/{tid}/payment-methods", get(qr::get_payment_methods).put(qr::set_payment_methods))
        .route("/v1/sandbox/wallets", post(qr::create_sandbox_wallet))
        .route("/v1/sandbox/wallets/{id}", get(qr::get_sandbox_wallet))
        .route("/v1/sandbox/wallets/{id}/codes", post(qr::create_payment_code))
        .route("/v1/sandbox/wallets/{id}/code-batches", post(qr::create_payment_codes))
        .route("/v1/sandbox/wallets/{id}/scans", post(qr_orders::scan_code))
        .route("/v1/sandbox/wallet-schemes/{scheme}", put(qr_orders::set_wallet_scheme))
        .route("/v1/sandbox/wallet-orders/{id}/notifications", get(qr_orders::list_wallet_notifications))
        .route("/v1/qr-orders", post(qr_orders::create_qr_order))
        .route("/v1/qr-orders/{id}", get(qr_orders::get_qr_order))
        .route("/v1/qr-orders/{id}/close", post(qr_orders::close_qr_order))
        .route("/v1/devices/{tid}/static-code", get(qr_orders::get_static_code))
        .route("/v1/wallet-notifications/{scheme}", post(qr_orders::take_wallet_notification))
        .route("/v1/devices/{tid}/settlement", post(settlements::settle_batch))
        .route("/v1/devices/{tid}/batches", get(settlements::list_batches))
        .route("/v1/devices/{tid}/batches/{batch}", get(settlements::get_batch))
        .route("/v1/merchants/{mid}/settlements", get(settlements::list_settlements))
        .route("/v1/merchants/{mid}/settlement-cycle", put(settlements::set_settlement_cycle))
        .route("/v1/settlements/{id}", get(settlements::get_settlement))
        .route("/v1/clearing-runs", post(settlements::run_clearing))
        .route("/v1/merchants/{mid}/payouts", get(settlements::list_payouts))
        .route("/v1/merchants/{mid}/fee-schedule", get(settlements::get_fee_schedule))
        .route("/v1/merchants/{mid}/fee-changes", post(settlements::announce_fee_change))
        .route("/v1/merchants/{mid}/limits", put(settlements::set_limits))
        .route("/v1/fee-changes", post(settlements::announce_type_fee_change))
        .route("/v1/merchants/{mid}/transactions", get(settlements::list_transactions))
        .route("/v1/merchants/{mid}/reports/sales", get(reports::sales_report))
        .route("/v1/merchants/{mid}/reports/settlements", get(reports::settlement_report))
        .route("/v1/merchants/{mid}/reports/collections", get(reports::collection_report))
        .route("/v1/payouts/{id}", get(settlements::get_payout))
        .route("/v1/payout-runs", post(settlements::run_payouts))
        .route("/v1/sandbox/bank-accounts", post(settlements::set_sandbox_bank_account))
        .route("/v1/devices/{tid}/deposit", get(deposits::get_deposit))
        .route("/v1/devices/{tid}/deposit/payment", post(deposits::pay_deposit))
        .route("/v1/devices/{tid}/deposit/waiver", post(deposits::waive_deposit))
        .route("/v1/merchants/{mid}/deposits", get(deposits::list_deposits))
        .route("/v1/reconciliation-runs", post(reconciliation::run_reconciliation))
        .route("/v1/reconciliations/{date}", get(reconciliation::get_reconciliation))
        .route("/v1/sandbox/clearing-files/{date}", get(reconciliation::get_clearing_file))
        .route("/v1/sandbox/clearing-faults", post(reconciliation::inject_clearing_fault));
    let ops = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi_json));
    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION, axum::http::header::COOKIE]))
        .layer(SetRequestIdLayer::new(request_id.clone(), ids))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id = request.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal(&"a handler panicked").into_response()
        }))
        .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::TIMEOUT,
                "the request took too long; retry with the same Idempotency-Key",
            )
        }))
        .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS));
    v1.merge(ops)
        .merge(pages)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::BODY_BYTES_MAX))
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(middleware)
        .with_state(state)
}

fn rand_prefix() -> [u8; 4] {
    let nanos = xingtong_store::now_ns();
    let pid = std::process::id();
    ((nanos as u32) ^ pid.rotate_left(16)).to_be_bytes()
}

/// Counts requests by route and status, and times them.
async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("xingtong_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("xingtong_http_request_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Serves the API (and `pages`) on `listener` until `shutdown` completes, then finishes in-flight
/// requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    pages: Router<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router_with(state, pages)).with_graceful_shutdown(shutdown).await
}

//! Customer scans merchant (C扫B) over JSON: dynamic orders (made, polled, closed), the
//! terminal's static code, the wallets' signed payment notifications, and the sandbox wallet
//! user who scans a code and pays (docs/qr.md §2).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use xingtong_merchants::identity::Scope;
use xingtong_payments::order::OrderSpec;
use xingtong_payments::qr::{STATIC_CODE_DAILY_MINOR, Scheme};
use xingtong_payments::txn::{BusinessType, CardTransaction, Status};

use crate::AppState;
use crate::error::{ApiError, codes};
use crate::extract::{IdempotencyKey, JsonBody, Path};
use crate::onboarding::Auth;
use crate::payments::{Customer, TransactionView, engine, own_transaction, transaction_view};

/// How a static code's URL begins: `xingtong://static/<TID>` (what the printed 台卡 holds).
pub const STATIC_CODE_PREFIX: &str = "xingtong://static/";

fn scheme_of(name: &str) -> Result<Scheme, ApiError> {
    Scheme::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| ApiError::invalid("scheme: wechat, alipay or unionpay_qr"))
}

/// A dynamic code (动态码) to show the customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QrOrderInput {
    /// The merchant's terminal it is made on (and shown on).
    pub tid: String,
    /// Minor units (fen), positive.
    pub amount_minor: i64,
    /// Whose code: `wechat`, `alipay` or `unionpay_qr`.
    pub scheme: String,
    /// How long it can be paid, seconds: 60 to 86400 (default 7200, two hours).
    pub expires_in_s: Option<u64>,
    /// `CNY`, the only currency.
    pub currency: Option<String>,
    /// The cashier (two digits, default `01`).
    pub operator: Option<String>,
    /// `sale` (销售, default), `collection` (收款) or `purchase` (进货).
    #[schema(value_type = Option<String>)]
    pub business_type: Option<BusinessType>,
    /// Whom to notify once paid.
    pub customer: Option<Customer>,
}

/// Makes a dynamic code: an order the customer pays by scanning `wallet.order.code_url` (draw it
/// as a QR code). Answered `pending`; it ends `approved` when the wallet says it was paid, or
/// `declined` (`order_closed`) when it expires or is closed. Refusals (amount, merchant, terminal,
/// method, limits) are recorded declined, as for a sale.
#[utoipa::path(post, path = "/v1/qr-orders", request_body = QrOrderInput, tag = "payments", params(("Idempotency-Key" = String, Header, description = "Required")),
    responses((status = 201, description = "The order's transaction: pending with its code URL, or declined", body = TransactionView),
        (status = 422, description = "invalid_request, invalid_lifetime, unknown_operator")))]
pub async fn create_qr_order(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    body: JsonBody<QrOrderInput>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Payments)?;
    let input = body.value;
    if input.currency.as_deref().is_some_and(|c| c != "CNY") {
        return Err(ApiError::invalid("currency: QR payments are taken in CNY"));
    }
    if input.amount_minor <= 0 {
        return Err(ApiError::invalid("amount_minor: a positive number of fen"));
    }
    let scheme = scheme_of(&input.scheme)?;
    let op = crate::payments::operator(input.operator.as_deref())?;
    crate::payments::check_customer(input.customer.as_ref())?;
    crate::payments::check_operator(&state, &principal, &input.tid, &op).await?;
    let lifetime = input.expires_in_s.map(std::time::Duration::from_secs);
    let (min, max) = xingtong_payments::order::ORDER_LIFETIME_RANGE;
    if lifetime.is_some_and(|l| l < min || l > max) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_lifetime",
            "expires_in_s: 60 to 86400 seconds",
        ));
    }
    let (origin, _, _, replayed) =
        crate::payments::start(&state, &principal, key, &input.tid, "POST /v1/qr-orders", &body.raw, &op).await?;
    if let Some(response) = replayed {
        return Ok(response);
    }
    let customer = input.customer.unwrap_or_default();
    let spec = OrderSpec {
        scheme,
        amount_minor: input.amount_minor,
        lifetime,
        business_type: input.business_type.unwrap_or_default(),
        customer: (customer.phone, customer.email),
    };
    let answer = engine(&state)?.qr_order(&origin, spec).await?;
    crate::payments::answer_response(answer)
}

async fn own_order(state: &AppState, principal: &xingtong_merchants::Principal, id: &str) -> Result<(), ApiError> {
    let t = own_transaction(state, principal, id).await?;
    if t.value.qr.as_ref().is_none_or(|qr| qr.order.is_none()) {
        return Err(ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such QR order"));
    }
    Ok(())
}

fn order_answer(t: Option<CardTransaction>) -> Result<Response, ApiError> {
    let t = t.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such QR order"))?;
    Ok(Json(transaction_view(&t)).into_response())
}

/// A customer-scans order as it stands: while it is pending its wallet is asked first, so a
/// terminal that polls this learns the outcome even when no notification came (poll every 2–3 s).
#[utoipa::path(get, path = "/v1/qr-orders/{id}", tag = "payments",
    responses((status = 200, description = "The order's transaction", body = TransactionView), (status = 404, description = "No such order, or not yours")))]
pub async fn get_qr_order(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    own_order(&state, &principal, &id).await?;
    order_answer(engine(&state)?.qr_order_state(&id).await?)
}

/// Closes a customer-scans order (关单: the customer walked away, or the amount was wrong):
/// declined `order_closed`, and the code no longer pays. One paid meanwhile is answered
/// `approved` instead; one already ended is answered as it is.
#[utoipa::path(post, path = "/v1/qr-orders/{id}/close", tag = "payments",
    responses((status = 200, description = "The order's transaction", body = TransactionView), (status = 404, description = "No such order, or not yours")))]
pub async fn close_qr_order(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Payments)?;
    own_order(&state, &principal, &id).await?;
    order_answer(engine(&state)?.close_qr_order(&id).await?)
}

/// A terminal's static code (台卡).
#[derive(Debug, Serialize, ToSchema)]
pub struct StaticCodeView {
    /// Terminal.
    pub tid: String,
    /// What the printed code holds (`xingtong://static/<TID>`); any of the three wallets' apps
    /// pays it, the payer entering the amount.
    pub code_url: String,
    /// The most one payer may pay through static codes in a day, minor units (¥500).
    pub daily_limit_per_payer_minor: i64,
}

/// The terminal's static code, to print and stand by the till (the merchant's, or staff).
#[utoipa::path(get, path = "/v1/devices/{tid}/static-code", tag = "payments",
    responses((status = 200, description = "The static code", body = StaticCodeView), (status = 404, description = "No such terminal, or not yours")))]
pub async fn get_static_code(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    crate::qr::terminal_merchant(&state, &principal, &tid).await?;
    Ok(Json(StaticCodeView {
        code_url: format!("{STATIC_CODE_PREFIX}{tid}"),
        tid,
        daily_limit_per_payer_minor: STATIC_CODE_DAILY_MINOR,
    })
    .into_response())
}

/// What a notification came to.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationOutcomeView {
    /// The order (our transaction's id).
    pub order_id: String,
    /// Its status after: `pending`, `approved`, `declined`, …
    pub status: &'static str,
    /// Whether the notification changed anything (a repeat, or a late one, changes nothing).
    pub changed: bool,
}

/// A wallet's payment notification (回调): the body as the wallet sent it, signed in the
/// `X-Wallet-Signature` header (hex HMAC-SHA256 of the body, for the sandbox wallets). No API
/// key: the signature is the credential. The order it names is then asked of the wallet; what
/// the body says is not trusted beyond which order it is.
#[utoipa::path(post, path = "/v1/wallet-notifications/{scheme}", tag = "payments",
    responses((status = 200, description = "Taken", body = NotificationOutcomeView),
        (status = 401, description = "bad_signature: nothing changed"),
        (status = 404, description = "not_found: no such order of this wallet")))]
pub async fn take_wallet_notification(
    State(state): State<AppState>,
    Path(scheme): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let scheme =
        scheme_of(&scheme).map_err(|_| ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such wallet"))?;
    let signature = headers.get("x-wallet-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let outcome = engine(&state)?.wallet_notification(scheme, &body, signature).await?;
    Ok(Json(NotificationOutcomeView {
        order_id: outcome.order_id,
        status: outcome.status.as_str(),
        changed: outcome.changed,
    })
    .into_response())
}

/// A sandbox wallet user scans a code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanInput {
    /// What the QR code holds: a dynamic order's `code_url`, or a terminal's static code.
    pub code_url: String,
    /// What the payer enters, minor units: required for a static code, not taken otherwise.
    pub amount_minor: Option<i64>,
}

/// What a scan came to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanView {
    /// The order paid (our transaction's id).
    pub order_id: String,
    /// Which wallet.
    pub scheme: &'static str,
    /// Paid, minor units.
    pub amount_minor: i64,
    /// The wallet's payment id.
    pub wallet_txn_id: String,
    /// Whether the wallet sent its notification.
    pub notified: bool,
}

/// A sandbox wallet user scans a code in the app and pays it (staff): a dynamic order's code as
/// it is, or a terminal's static code with the amount the payer enters (an order is made for
/// this payer, refused `static_code_limit` past ¥500 a day). The wallet then notifies the host.
#[utoipa::path(post, path = "/v1/sandbox/wallets/{id}/scans", request_body = ScanInput, tag = "payments",
    responses((status = 201, description = "Paid", body = ScanView),
        (status = 422, description = "unknown_code, wrong_wallet, order_closed, order_expired, insufficient_balance, static_code_limit, invalid_request"),
        (status = 503, description = "wallet_unavailable")))]
pub async fn scan_code(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    key: IdempotencyKey,
    body: JsonBody<ScanInput>,
) -> Result<Response, ApiError> {
    let wallets = crate::qr::wallets(&state, &principal)?;
    let wallet = crate::qr::sandbox_wallet(wallets, &id).await?;
    let input = body.value;
    let code_url = match input.code_url.trim().strip_prefix(STATIC_CODE_PREFIX) {
        Some(tid) => {
            let Some(amount) = input.amount_minor.filter(|a| *a > 0) else {
                return Err(ApiError::invalid("amount_minor: a static code is paid with the amount the payer enters"));
            };
            // The acquirer's page the app opens makes the order for this payer and amount.
            let key = IdempotencyKey(Some(
                key.0.unwrap_or_else(|| format!("scan-{}-{:016x}", wallet.id, rand::random::<u64>())),
            ));
            let endpoint = "POST /v1/sandbox/wallets/{id}/scans";
            // The acquirer's page acts for the terminal's merchant, as the till's own key would.
            let mid = crate::qr::terminal_merchant(&state, &principal, tid).await?;
            let page = xingtong_merchants::Principal::MerchantKey {
                key_id: "static-code".into(),
                merchant_id: mid,
                scopes: vec![Scope::Payments],
            };
            let (origin, _, _, replayed) =
                crate::payments::start(&state, &page, key, tid, endpoint, &body.raw, "01").await?;
            if replayed.is_some() {
                return Err(ApiError::new(StatusCode::CONFLICT, "already_scanned", "this scan was made already"));
            }
            let answer = engine(&state)?.static_qr_order(&origin, wallet.scheme, &wallet.id, amount).await?;
            let t = answer
                .transaction
                .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "duplicate_transaction", "a duplicate"))?;
            let order = t.qr.as_ref().and_then(|qr| qr.order.as_ref()).and_then(|o| o.code_url.clone());
            match (t.status, order) {
                (Status::Pending, Some(url)) => url,
                _ => {
                    let decline = t.qr_decline();
                    let (code, message) =
                        decline.map_or(("declined", "the order was declined"), |d| (d.code(), d.messages().0));
                    return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_details(
                        serde_json::json!({ "order_id": t.id, "response_code": xingtong_payments::cup::recorded(&t) }),
                    ));
                }
            }
        }
        None => {
            if input.amount_minor.is_some() {
                return Err(ApiError::invalid("amount_minor: a dynamic code's amount is the order's"));
            }
            input.code_url
        }
    };
    let scanned = wallets.pay_code_url(&wallet.id, &code_url).await?;
    Ok((
        StatusCode::CREATED,
        Json(ScanView {
            order_id: scanned.order_id,
            scheme: scanned.scheme.as_str(),
            amount_minor: scanned.amount_minor,
            wallet_txn_id: scanned.wallet_txn_id,
            notified: scanned.notified,
        }),
    )
        .into_response())
}

/// A sandbox wallet taken down or brought back.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalletSchemeInput {
    /// Down: every call to this wallet answers "unreachable" at once.
    pub unavailable: bool,
}

/// A sandbox wallet's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletSchemeView {
    /// `wechat`, `alipay` or `unionpay_qr`.
    pub scheme: &'static str,
    /// Down.
    pub unavailable: bool,
}

/// Takes a whole sandbox wallet down or brings it back (staff; this process only, until it
/// restarts): to see a close that cannot reach the wallet, an order paid after it was closed, a
/// wallet outage at the till.
#[utoipa::path(put, path = "/v1/sandbox/wallet-schemes/{scheme}", request_body = WalletSchemeInput, tag = "payments",
    responses((status = 200, description = "The wallet's state", body = WalletSchemeView)))]
pub async fn set_wallet_scheme(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(scheme): Path<String>,
    body: JsonBody<WalletSchemeInput>,
) -> Result<Response, ApiError> {
    let wallets = crate::qr::wallets(&state, &principal)?;
    let scheme = scheme_of(&scheme)?;
    wallets.set_outage(scheme, body.value.unavailable);
    Ok(Json(WalletSchemeView { scheme: scheme.as_str(), unavailable: wallets.is_down(scheme) }).into_response())
}

/// A notification as a sandbox wallet sent it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletNotificationView {
    /// `wechat`, `alipay` or `unionpay_qr`: POST it to `/v1/wallet-notifications/{scheme}`.
    pub scheme: &'static str,
    /// The body, exactly.
    pub body: String,
    /// The `X-Wallet-Signature` header.
    pub signature: String,
}

/// The notifications.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletNotificationsView {
    /// Oldest first.
    pub notifications: Vec<WalletNotificationView>,
}

/// The notifications a sandbox wallet sent of an order (staff): to send one again, as a wallet
/// does until it is answered.
#[utoipa::path(get, path = "/v1/sandbox/wallet-orders/{id}/notifications", tag = "payments",
    responses((status = 200, description = "The notifications", body = WalletNotificationsView)))]
pub async fn list_wallet_notifications(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wallets = crate::qr::wallets(&state, &principal)?;
    let notifications = wallets
        .notifications_of(&id)
        .await?
        .into_iter()
        .map(|n| WalletNotificationView { scheme: n.scheme.as_str(), body: n.body, signature: n.signature })
        .collect();
    Ok(Json(WalletNotificationsView { notifications }).into_response())
}

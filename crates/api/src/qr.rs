//! QR payments over JSON: the wallet side of a transaction, and the sandbox wallets (users with
//! balances, and the payment codes their apps show) that staff make for tests and demos.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use xingtong_merchants::Principal;
use xingtong_payments::qr::{Decline, NotRecognised, QrPart, Scheme};
use xingtong_payments::sandbox_wallet::{NewWallet, SandboxCode, SandboxWallet, SandboxWallets};

use crate::AppState;
use crate::error::{ApiError, codes};
use crate::extract::{JsonBody, Path};
use crate::onboarding::Auth;
use crate::time::rfc3339;

/// 422 `qr_not_recognised`, with what to do.
pub fn not_recognised() -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, NotRecognised::CODE, NotRecognised::MESSAGE_EN)
        .with_details(serde_json::json!({ "message_zh": NotRecognised::MESSAGE_ZH }))
}

/// Why a QR payment was not made, and what to do.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeclineView {
    /// Stable: `qr_code_unknown`, `qr_code_expired`, `qr_code_used`, `insufficient_balance`,
    /// `user_cancelled`, `user_paying_timeout`, `wallet_unavailable`, `method_disabled`,
    /// `static_code_limit`, `order_closed`, `refund_exceeds_payment`.
    pub code: &'static str,
    /// What happened and what to do.
    pub message_en: &'static str,
    /// 说明与处理.
    pub message_zh: &'static str,
}

/// The wallet side of a QR transaction.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletSideView {
    /// `wechat`, `alipay` or `unionpay_qr`.
    pub scheme: &'static str,
    /// 微信支付, 支付宝 or 云闪付.
    pub scheme_name_zh: &'static str,
    /// The payment code, masked (first two and last four digits).
    pub code: String,
    /// The wallet's id of the payment, once paid.
    pub wallet_txn_id: Option<String>,
    /// The payer as the wallet shows them, masked.
    pub payer: Option<String>,
    /// Why it was not paid.
    pub decline: Option<DeclineView>,
    /// A customer-scans order (C扫B): the code to show and until when it pays; `null` for a
    /// payment code the cashier scanned.
    pub order: Option<QrOrderView>,
}

/// A customer-scans order's side of a QR transaction.
#[derive(Debug, Serialize, ToSchema)]
pub struct QrOrderView {
    /// `dynamic` (a code made for this order, shown on the terminal) or `static` (the
    /// terminal's printed code; the payer entered the amount).
    pub mode: &'static str,
    /// What the QR code holds: draw it for the customer to scan (`null` until the wallet made it,
    /// or when it could not).
    pub code_url: Option<String>,
    /// Until when it can be paid, RFC 3339.
    pub expires_at: String,
    /// Paid at the wallet after it was closed here: the money was given back to the payer.
    pub returned: bool,
}

/// How a decline looks over JSON.
pub fn decline_view(decline: Decline) -> DeclineView {
    let (message_en, message_zh) = decline.messages();
    DeclineView { code: decline.code(), message_en, message_zh }
}

/// How the wallet side of a transaction looks over JSON.
pub fn wallet_side_view(qr: &QrPart, decline: Option<Decline>) -> WalletSideView {
    WalletSideView {
        scheme: qr.scheme.as_str(),
        scheme_name_zh: qr.scheme.names().1,
        code: qr.code_masked.clone(),
        wallet_txn_id: qr.wallet_txn_id.clone(),
        payer: qr.payer.clone(),
        decline: decline.map(decline_view),
        order: qr.order.as_ref().map(|o| QrOrderView {
            mode: match o.mode {
                xingtong_payments::qr::OrderMode::Dynamic => "dynamic",
                xingtong_payments::qr::OrderMode::Static => "static",
            },
            code_url: o.code_url.clone(),
            expires_at: rfc3339(o.expires_at),
            returned: o.returned,
        }),
    }
}

/// A new sandbox wallet user.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct NewWalletBody {
    /// `wechat`, `alipay` or `unionpay_qr`.
    pub scheme: String,
    /// Balance, minor units (fen), at least 0.
    pub balance_minor: i64,
    /// The user's name (default 测试用户).
    pub name: Option<String>,
    /// The app asks for a password, which the user enters after this many ms ("user paying").
    pub confirm_after_ms: Option<u64>,
    /// The app asks for a password that is never entered.
    pub never_confirms: Option<bool>,
    /// The app asks for a password and the user cancels instead (after `confirm_after_ms`).
    pub cancels: Option<bool>,
    /// The wallet does not answer at all (an outage).
    pub unavailable: Option<bool>,
}

/// A sandbox wallet user.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxWalletView {
    /// e.g. `wechat-48213077`.
    pub id: String,
    /// `wechat`, `alipay` or `unionpay_qr`.
    pub scheme: &'static str,
    /// The user's name.
    pub name: String,
    /// What the wallet can still pay, minor units.
    pub balance_minor: i64,
    /// The password is entered after this many ms.
    pub confirm_after_ms: Option<u64>,
    /// The password is never entered.
    pub never_confirms: bool,
    /// The user cancels when asked for the password.
    pub cancels: bool,
    /// The wallet does not answer.
    pub unavailable: bool,
}

fn wallet_view(wallet: &SandboxWallet, balance_minor: i64) -> SandboxWalletView {
    SandboxWalletView {
        id: wallet.id.clone(),
        scheme: wallet.scheme.as_str(),
        name: wallet.name.clone(),
        balance_minor,
        confirm_after_ms: wallet.confirm_after_ms,
        never_confirms: wallet.never_confirms,
        cancels: wallet.cancels,
        unavailable: wallet.unavailable,
    }
}

/// A payment code as the user's app shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentCodeView {
    /// The digits to scan (or type).
    pub code: String,
    /// `wechat`, `alipay` or `unionpay_qr`.
    pub scheme: &'static str,
    /// Whose.
    pub wallet_id: String,
    /// Until when it pays (a minute), RFC 3339.
    pub expires_at: String,
}

fn code_view(code: &SandboxCode, scheme: Scheme) -> PaymentCodeView {
    PaymentCodeView {
        code: code.code.clone(),
        scheme: scheme.as_str(),
        wallet_id: code.wallet_id.clone(),
        expires_at: rfc3339(code.expires_at),
    }
}

pub(crate) fn wallets<'a>(state: &'a AppState, principal: &Principal) -> Result<&'a SandboxWallets, ApiError> {
    if !principal.is_staff() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, "sandbox wallets are for staff"));
    }
    state
        .sandbox_wallets
        .as_deref()
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, "payments are not running"))
}

pub(crate) async fn sandbox_wallet(wallets: &SandboxWallets, id: &str) -> Result<SandboxWallet, ApiError> {
    wallets
        .wallet(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such sandbox wallet"))
}

/// Makes a sandbox wallet user with a balance (staff).
#[utoipa::path(post, path = "/v1/sandbox/wallets", request_body = NewWalletBody, tag = "payments",
    responses((status = 201, description = "The wallet user", body = SandboxWalletView)))]
pub async fn create_sandbox_wallet(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<NewWallet>,
) -> Result<Response, ApiError> {
    let wallets = wallets(&state, &principal)?;
    let wallet = wallets.create_wallet(&principal.actor(), body.value).await?;
    let balance = wallets.balance(&wallet).await?;
    Ok((StatusCode::CREATED, Json(wallet_view(&wallet, balance))).into_response())
}

/// A sandbox wallet user and its balance (staff).
#[utoipa::path(get, path = "/v1/sandbox/wallets/{id}", tag = "payments",
    responses((status = 200, description = "The wallet user", body = SandboxWalletView)))]
pub async fn get_sandbox_wallet(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wallets = wallets(&state, &principal)?;
    let wallet = sandbox_wallet(wallets, &id).await?;
    let balance = wallets.balance(&wallet).await?;
    Ok(Json(wallet_view(&wallet, balance)).into_response())
}

/// A fresh payment code of a sandbox wallet, good for one payment within a minute (staff).
#[utoipa::path(post, path = "/v1/sandbox/wallets/{id}/codes", tag = "payments",
    responses((status = 201, description = "The payment code", body = PaymentCodeView)))]
pub async fn create_payment_code(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let wallets = wallets(&state, &principal)?;
    let wallet = sandbox_wallet(wallets, &id).await?;
    let code = wallets.new_payment_code(&wallet.id).await?;
    Ok((StatusCode::CREATED, Json(code_view(&code, wallet.scheme))).into_response())
}

/// A terminal's payment methods.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethodsView {
    /// Terminal.
    pub tid: String,
    /// Takes bank cards.
    pub card: bool,
    /// Takes QR payments.
    pub qr: bool,
    /// `card` or `qr`: what a sale starts with at the till.
    pub default_method: &'static str,
    /// When last set, RFC 3339 (none when never set: the default, both on, card first).
    pub updated_at: Option<String>,
}

fn methods_view(m: &xingtong_payments::methods::PaymentMethods) -> PaymentMethodsView {
    PaymentMethodsView {
        tid: m.tid.clone(),
        card: m.card,
        qr: m.qr,
        default_method: m.default_method.as_str(),
        updated_at: (m.updated_at > 0).then(|| rfc3339(m.updated_at)),
    }
}

/// A change to a terminal's payment methods; what is left out stays.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PaymentMethodsBody {
    /// Take bank cards.
    pub card: Option<bool>,
    /// Take QR payments.
    pub qr: Option<bool>,
    /// `card` or `qr`.
    pub default_method: Option<String>,
}

pub(crate) async fn terminal_merchant(state: &AppState, principal: &Principal, tid: &str) -> Result<String, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "terminal not found");
    let device = xingtong_merchants::entity::load::<xingtong_merchants::devices::Device>(&state.store, tid)
        .await?
        .ok_or_else(not_found)?;
    principal.may_see_merchant(&device.value.mid).map_err(|_| not_found())?;
    Ok(device.value.mid)
}

fn payments_engine(state: &AppState) -> Result<&xingtong_payments::Engine, ApiError> {
    state
        .payments
        .as_ref()
        .map(|(engine, _)| engine)
        .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, "payments are not running"))
}

/// Which payment methods a terminal takes, and its default (the merchant's, or staff).
#[utoipa::path(get, path = "/v1/devices/{tid}/payment-methods", tag = "payments",
    responses((status = 200, description = "The terminal's payment methods", body = PaymentMethodsView), (status = 404, description = "No such terminal, or not yours")))]
pub async fn get_payment_methods(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    let mid = terminal_merchant(&state, &principal, &tid).await?;
    let methods = payments_engine(&state)?.payment_methods(&tid, &mid).await?;
    Ok(Json(methods_view(&methods)).into_response())
}

/// Sets which payment methods a terminal takes and its default (the owner, a merchant key with
/// the `manage` scope, or staff). A payment by a method the terminal does not take is declined.
#[utoipa::path(put, path = "/v1/devices/{tid}/payment-methods", request_body = PaymentMethodsBody, tag = "payments",
    responses((status = 200, description = "The terminal's payment methods", body = PaymentMethodsView), (status = 404, description = "No such terminal, or not yours"), (status = 422, description = "None left on, or a default that is off (invalid_payment_methods)")))]
pub async fn set_payment_methods(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
    body: JsonBody<xingtong_payments::methods::MethodsChange>,
) -> Result<Response, ApiError> {
    let mid = terminal_merchant(&state, &principal, &tid).await?;
    if !principal.is_staff() {
        principal.require_scope(xingtong_merchants::identity::Scope::Manage)?;
    }
    let methods = payments_engine(&state)?.set_payment_methods(&principal.actor(), &tid, &mid, body.value).await?;
    Ok(Json(methods_view(&methods)).into_response())
}

/// How many codes to make.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeBatchBody {
    /// 1 to 1,000.
    pub count: usize,
}

/// Payment codes made together.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeBatchView {
    /// Each good for one payment within a minute.
    pub codes: Vec<PaymentCodeView>,
}

/// Up to 1,000 fresh payment codes of a sandbox wallet at once (staff): a sheet for a demo, or a
/// load generator's supply.
#[utoipa::path(post, path = "/v1/sandbox/wallets/{id}/code-batches", request_body = CodeBatchBody, tag = "payments",
    responses((status = 201, description = "The payment codes", body = CodeBatchView), (status = 422, description = "count outside 1–1000 (invalid_count)")))]
pub async fn create_payment_codes(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    body: JsonBody<CodeBatchBody>,
) -> Result<Response, ApiError> {
    let wallets = wallets(&state, &principal)?;
    let wallet = sandbox_wallet(wallets, &id).await?;
    let made = wallets.new_payment_codes(&wallet.id, body.value.count).await?;
    let codes = made.iter().map(|c| code_view(c, wallet.scheme)).collect();
    Ok((StatusCode::CREATED, Json(CodeBatchView { codes })).into_response())
}

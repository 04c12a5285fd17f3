//! Card payments over JSON: the same core as the terminals' ISO 8583, so a sale made here can be
//! voided at the terminal and the other way round. Every POST that moves money needs an
//! `Idempotency-Key`: the key is bound to the transaction's (terminal, batch, STAN) before anything
//! happens, so a retry finds the transaction instead of making a second one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use xingtong_iso8583::ResponseCode;
use xingtong_merchants::Principal;
use xingtong_merchants::devices::{Device, DeviceStatus};
use xingtong_merchants::entity::{Entity, Stored, get, insert, load};
use xingtong_merchants::identity::Scope;
use xingtong_payments::txn::{BusinessType, CardTransaction, Kind};
use xingtong_payments::{Answer, Binding, Card, Engine, Origin};
use xingtong_store::UniqueKey;

use crate::AppState;
use crate::error::{ApiError, codes};
use crate::extract::{IdempotencyKey, JsonBody, Path};
use crate::onboarding::Auth;
use crate::time::rfc3339;

pub(crate) fn engine(state: &AppState) -> Result<&Engine, ApiError> {
    state.payments.as_ref().map(|(engine, _)| engine).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            "card payments are not running on this server",
        )
    })
}

/// A card as the JSON API takes it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardInput {
    /// Card number.
    pub number: String,
    /// YYMM.
    pub expiry: Option<String>,
    /// A format 0 PIN block under the terminal's current PIN key, 16 hex digits (debit cards).
    pub pin_block: Option<String>,
}

/// A customer to notify.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Mainland mobile number.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
}

/// A sale, pre-authorization or balance inquiry.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    /// The merchant's terminal it is made on.
    pub tid: String,
    /// Minor units (fen); not for balance inquiries.
    #[serde(default)]
    pub amount_minor: i64,
    /// `CNY`, the only currency cards are taken in.
    #[serde(default)]
    pub currency: Option<String>,
    /// `sale` (销售, default), `collection` (收款) or `purchase` (进货).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub business_type: Option<BusinessType>,
    /// How the customer pays: `card` (default) with `card`, or `qr` with `payment_code` (sales
    /// only; docs/qr.md).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub method: Option<Method>,
    /// The card (method `card`).
    #[serde(default)]
    pub card: Option<CardInput>,
    /// The payment code (付款码) the customer's wallet app shows, as scanned (method `qr`):
    /// WeChat Pay, Alipay or UnionPay QR, known by its shape.
    #[serde(default)]
    pub payment_code: Option<String>,
    /// Who to notify.
    #[serde(default)]
    pub customer: Option<Customer>,
    /// Operator number; default `01`.
    #[serde(default)]
    pub operator: Option<String>,
}

/// How a customer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A bank card.
    Card,
    /// A wallet's payment code (B扫C).
    Qr,
}

/// An Idempotency-Key bound to a transaction slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeySlot {
    id: String,
    owner: String,
    request_sha256: String,
    tid: String,
    batch: u32,
    stan: u32,
}

impl Entity for KeySlot {
    const KIND: &'static str = "api_payment_key";
    // Found by id only (a retry's key), never listed: one slot is put with every JSON payment, and
    // kept out of the owner and status indexes it costs the commit two index insertions fewer.
    const LISTED: bool = false;
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
    fn status(&self) -> String {
        "bound".into()
    }
}

/// The first STAN of API transactions; terminals use lower ones (the core's host range).
pub const API_STAN_FIRST: u32 = xingtong_payments::engine::HOST_STAN_FIRST;

/// The slot `key` was bound to, or a new one with the binding that commits it together with the
/// transaction it records (one commit per request). A retry finds its slot here and is answered
/// without reaching the issuer again; two requests racing with one new key both get a binding, and
/// the commit of the second is refused ([`xingtong_payments::BINDING_TAKEN`], 409: retry).
async fn slot(
    state: &AppState,
    principal: &Principal,
    key: &str,
    tid: &str,
    endpoint: &str,
    request: &[u8],
) -> Result<(KeySlot, Option<(Binding, Option<u64>)>), ApiError> {
    let scope = principal.actor();
    let id = format!("{scope}:{key}");
    // The endpoint is part of what a key is bound to: the same key and body sent to another
    // endpoint is another request (422), never answered with the first endpoint's response.
    let hash = hex::encode(Sha256::new().chain_update(endpoint).chain_update([0]).chain_update(request).finalize());
    if let Some(existing) = load::<KeySlot>(&state.store, &id).await? {
        if existing.value.request_sha256 != hash {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::IDEMPOTENCY_KEY_REUSED,
                "this Idempotency-Key was used for a different request",
            ));
        }
        return Ok((existing.value, None));
    }
    let engine = engine(state)?;
    // A new request: refused before a trace number is taken when the terminal takes no payments
    // (a retry above still gets the answer its request had).
    if !engine.terminal_takes_payments(tid).await? {
        let message = match engine.device_status(tid).await? {
            Some(DeviceStatus::Suspended) => {
                "this terminal is suspended: staff must resume it before it takes payments"
            }
            _ => "this terminal has not been shipped and bound yet: it takes payments once it is activated",
        };
        return Err(ApiError::new(StatusCode::CONFLICT, "terminal_not_active", message));
    }
    let (batch, session_version) = engine.current_batch(tid).await?;
    let stan = engine.host_stan(tid).await?;
    let slot = KeySlot { id: id.clone(), owner: scope, request_sha256: hash, tid: tid.into(), batch, stan };
    let binding = Binding {
        puts: vec![insert(&slot)?],
        // A STAN that came round again (after 99,999) and is still bound refuses the commit.
        claim_keys: vec![UniqueKey { kind: KeySlot::KIND.into(), key: format!("{tid}:{batch}:{stan}"), id }],
    };
    Ok((slot, Some((binding, session_version))))
}

/// The merchant of a terminal the caller may use (404 otherwise, as for a terminal that does not
/// exist), remembered after the first read.
async fn terminal_of(state: &AppState, principal: &Principal, tid: &str) -> Result<String, ApiError> {
    let known = state.terminal_merchants.lock().unwrap_or_else(|p| p.into_inner()).get(tid).cloned();
    let mid = match known {
        Some(mid) => mid,
        None => {
            let mid = get::<Device>(&state.store, tid, "terminal").await?.value.mid;
            state.terminal_merchants.lock().unwrap_or_else(|p| p.into_inner()).insert(tid.to_owned(), mid.clone());
            mid
        }
    };
    principal
        .require_merchant(&mid)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "terminal not found"))?;
    Ok(mid)
}

fn card_of(
    engine: &Engine,
    input: &CardInput,
    tid: &str,
    live: Option<&xingtong_payments::session::Live>,
) -> Result<Card, ApiError> {
    let pan = input.number.trim().to_owned();
    if !xingtong_payments::card::valid_pan(&pan) {
        return Err(ApiError::invalid("card.number: 13 to 19 digits"));
    }
    let pin_block = match &input.pin_block {
        None => None,
        Some(hex_block) => {
            let block =
                hex::decode(hex_block.trim()).map_err(|_| ApiError::invalid("card.pin_block: 16 hex digits"))?;
            let live = live.ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "terminal_not_signed_in",
                    format!("terminal {tid} is not signed in: PIN blocks need its PIN key"),
                )
            })?;
            let translated =
                xingtong_crypto::pin::translate_pin_block(&block, &pan, &live.pin_key, engine.network().zone_key())
                    .map_err(|_| {
                        ApiError::invalid(
                            "card.pin_block: not a format 0 PIN block for this card under the terminal's PIN key",
                        )
                    })?;
            Some(translated)
        }
    };
    Ok(Card { pan, expiry: input.expiry.clone(), pin_block })
}

/// What a response code means, in English and Chinese, and what to do about it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseMeaning {
    /// Meaning.
    pub meaning_en: &'static str,
    /// 含义.
    pub meaning_zh: &'static str,
    /// What to do.
    pub action_en: &'static str,
    /// 处理.
    pub action_zh: &'static str,
}

/// The card of a transaction, as a receipt shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardView {
    /// First six and last four digits.
    pub number: String,
    /// `unionpay`, `visa` or `mastercard`.
    #[schema(value_type = Option<String>)]
    pub brand: Option<xingtong_payments::card::Brand>,
    /// `debit` or `credit`, once the issuer said.
    #[schema(value_type = Option<String>)]
    pub r#type: Option<xingtong_payments::card::CardType>,
}

/// A card transaction over JSON: a sale, pre-authorization, completion, void, refund, reversal
/// or balance inquiry, approved or declined.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionView {
    /// `TID-batch-STAN`, e.g. `10000001-000001-900001`.
    #[schema(pattern = "^[0-9]{8}-[0-9]{6}-[0-9]{6}$")]
    pub id: String,
    /// `sale`, `pre_authorization`, `completion`, `void`, `refund`, …
    #[schema(value_type = String)]
    pub kind: Kind,
    /// `approved`, `declined`, `voided`, `reversed`, `completed`.
    #[schema(value_type = String)]
    pub status: xingtong_payments::txn::Status,
    /// True when `response_code` is `00`.
    pub approved: bool,
    /// The CUP response code (docs/iso8583.md §8); empty while `pending`.
    #[schema(pattern = "^([0-9A-Z]{2})?$")]
    pub response_code: String,
    /// Why it was declined: a stable code (docs/api.md, "Decline reasons"); the response code
    /// is the CUP code it maps to.
    #[schema(example = "insufficient_funds")]
    pub decline_reason: Option<&'static str>,
    /// What the code means.
    pub response: Option<ResponseMeaning>,
    /// Merchant.
    #[schema(pattern = "^[0-9]{15}$")]
    pub mid: String,
    /// Terminal.
    #[schema(pattern = "^[0-9]{8}$")]
    pub tid: String,
    /// Batch.
    pub batch: u32,
    /// Trace number.
    pub stan: u32,
    /// Operator.
    pub operator: String,
    /// Minor units (fen).
    pub amount_minor: i64,
    /// Always `CNY`.
    pub currency: &'static str,
    /// The merchant's fee, minor units (negative: a fee given back by a refund).
    pub fee_minor: i64,
    /// `card`, `wechat`, `alipay` or `unionpay_qr`.
    pub method: &'static str,
    /// The card (card payments).
    pub card: Option<CardView>,
    /// The wallet side (QR payments).
    pub wallet: Option<crate::qr::WalletSideView>,
    /// Retrieval reference number.
    pub rrn: String,
    /// Authorization code, on approval.
    pub auth_code: Option<String>,
    /// `sale`, `collection` or `purchase`.
    #[schema(value_type = String)]
    pub business_type: xingtong_payments::txn::BusinessType,
    /// The transaction this one acts on (a void's sale, a refund's sale, …).
    pub original_id: Option<String>,
    /// Refunded so far (sales and completions).
    pub refunded_minor: i64,
    /// A refund's reason code.
    pub reason: Option<String>,
    /// A balance inquiry's answer, minor units.
    pub balance_minor: Option<i64>,
    /// `iso8583` or `api`.
    pub channel: String,
    /// The business day it counts in, `YYYYMMDD` (China).
    pub business_day: String,
    /// When it was recorded, RFC 3339.
    pub at: String,
}

/// How a transaction looks over JSON.
pub fn transaction_view(t: &CardTransaction) -> TransactionView {
    TransactionView {
        id: t.id.clone(),
        kind: t.kind,
        status: t.status,
        approved: t.outcome().is_approved(),
        response_code: xingtong_payments::cup::recorded(t).into(),
        decline_reason: t.decline.map(|r| r.code()),
        response: ResponseCode::lookup(xingtong_payments::cup::recorded(t)).map(|c| ResponseMeaning {
            meaning_en: c.meaning_en,
            meaning_zh: c.meaning_zh,
            action_en: c.action_en,
            action_zh: c.action_zh,
        }),
        mid: t.mid.clone(),
        tid: t.tid.clone(),
        batch: t.batch,
        stan: t.stan,
        operator: t.operator.clone(),
        amount_minor: t.amount_minor,
        currency: "CNY",
        fee_minor: t.fee_minor,
        method: t.method(),
        card: t.qr.is_none().then(|| CardView { number: t.pan_masked.clone(), brand: t.brand, r#type: t.card_type }),
        wallet: t.qr.as_ref().map(|qr| crate::qr::wallet_side_view(qr, t.qr_decline())),
        rrn: t.rrn.clone(),
        auth_code: t.auth_code.clone(),
        business_type: t.business_type,
        original_id: t.original_id.clone(),
        refunded_minor: t.refunded_minor,
        reason: t.reason.clone(),
        balance_minor: t.balance_minor,
        channel: t.channel.clone(),
        business_day: t.business_day.clone(),
        at: rfc3339(t.at),
    }
}

pub(crate) fn answer_response(answer: Answer) -> Result<Response, ApiError> {
    match answer.transaction {
        Some(t) => Ok((StatusCode::CREATED, Json(transaction_view(&t))).into_response()),
        // No record: a duplicate of a slot used by another request (94).
        None => Err(ApiError::new(StatusCode::CONFLICT, "duplicate_transaction", {
            let code = xingtong_payments::cup::response_code(answer.outcome);
            format!("response code {}: {}", code.code, code.meaning_en)
        })),
    }
}

async fn replay(engine: &Engine, slot: &KeySlot) -> Result<Option<Response>, ApiError> {
    Ok(match engine.transaction(&slot.tid, slot.batch, slot.stan).await? {
        Some(t) => Some((StatusCode::CREATED, Json(transaction_view(&t.value))).into_response()),
        None => None,
    })
}

/// Contact details are checked like an applicant's, before anything is taken or recorded.
pub(crate) fn check_customer(customer: Option<&Customer>) -> Result<(), ApiError> {
    let Some(customer) = customer else { return Ok(()) };
    let mut findings = Vec::new();
    if let Some(phone) = &customer.phone {
        findings.extend(xingtong_onboarding::validate::mobile("customer.phone", phone));
    }
    if let Some(email) = &customer.email {
        findings.extend(xingtong_onboarding::validate::email("customer.email", email));
    }
    match findings.first() {
        Some(first) => Err(ApiError::invalid(format!("{}: {}", first.field, first.message_en))),
        None => Ok(()),
    }
}

/// 422 `unknown_operator` unless `op` is one of the terminal's merchant's cashiers.
pub(crate) async fn check_operator(
    state: &AppState,
    principal: &Principal,
    tid: &str,
    op: &str,
) -> Result<(), ApiError> {
    let mid = terminal_of(state, principal, tid).await?;
    if !engine(state)?.operator_may_pay(&mid, op).await? {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_operator",
            format!(
                "operator {op} is not one of this merchant's cashiers (or is disabled): name one with \"operator\""
            ),
        ));
    }
    Ok(())
}

pub(crate) fn operator(input: Option<&str>) -> Result<String, ApiError> {
    let op = input.unwrap_or("01");
    if op.len() == 2 && op.bytes().all(|b| b.is_ascii_digit()) {
        Ok(op.into())
    } else {
        Err(ApiError::invalid("operator: two digits"))
    }
}

pub(crate) async fn start(
    state: &AppState,
    principal: &Principal,
    key: IdempotencyKey,
    tid: &str,
    endpoint: &str,
    raw: &[u8],
    op: &str,
) -> Result<(Origin, KeySlot, Option<std::sync::Arc<xingtong_payments::session::Live>>, Option<Response>), ApiError> {
    let key = key.required()?;
    let mid = terminal_of(state, principal, tid).await?;
    let engine = engine(state)?;
    let (slot, new) = slot(state, principal, &key, tid, endpoint, raw).await?;
    let (binding, session_version) = new.map_or((None, None), |(binding, version)| (Some(binding), version));
    // A new slot has no transaction yet; one found bound may (a retry).
    let replayed = if binding.is_some() { None } else { replay(engine, &slot).await? };
    let origin = Origin {
        tid: tid.into(),
        mid,
        batch: slot.batch,
        stan: slot.stan,
        operator: op.into(),
        channel: "api",
        // A new slot's STAN is new; a found slot without a transaction was checked (`replay`).
        fresh: replayed.is_none(),
        binding: binding.map(std::sync::Arc::new),
        // The session the batch was read from: a change of it elsewhere refuses the commit.
        session_version,
    };
    let live = engine.live_session(tid).await?;
    Ok((origin, slot, live, replayed))
}

/// A sale (消费) with a card.
#[utoipa::path(post, path = "/v1/payments", request_body = PaymentInput, tag = "payments", params(("Idempotency-Key" = String, Header, description = "Required")),
    responses((status = 201, description = "The recorded transaction, approved or declined (see response_code)", body = TransactionView)))]
pub async fn create_payment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    body: JsonBody<PaymentInput>,
) -> Result<Response, ApiError> {
    pay(state, principal, key, body, Kind::Sale).await
}

/// A pre-authorization (预授权): the amount is held on the card.
#[utoipa::path(post, path = "/v1/pre-authorizations", request_body = PaymentInput, tag = "payments", params(("Idempotency-Key" = String, Header, description = "Required")),
    responses((status = 201, description = "The recorded pre-authorization", body = TransactionView)))]
pub async fn create_pre_authorization(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    body: JsonBody<PaymentInput>,
) -> Result<Response, ApiError> {
    pay(state, principal, key, body, Kind::PreAuthorization).await
}

/// A balance inquiry (查余).
#[utoipa::path(post, path = "/v1/balance-inquiries", request_body = PaymentInput, tag = "payments", params(("Idempotency-Key" = String, Header, description = "Required")),
    responses((status = 201, description = "The inquiry, with balance_minor when approved", body = TransactionView)))]
pub async fn create_balance_inquiry(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    body: JsonBody<PaymentInput>,
) -> Result<Response, ApiError> {
    pay(state, principal, key, body, Kind::BalanceInquiry).await
}

async fn pay(
    state: AppState,
    principal: Principal,
    key: IdempotencyKey,
    body: JsonBody<PaymentInput>,
    kind: Kind,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Payments)?;
    let input = body.value;
    if input.currency.as_deref().is_some_and(|c| c != "CNY") {
        return Err(ApiError::invalid("currency: cards are taken in CNY"));
    }
    if kind != Kind::BalanceInquiry && input.amount_minor <= 0 {
        return Err(ApiError::invalid("amount_minor: a positive number of fen"));
    }
    let method = input.method.unwrap_or(Method::Card);
    match (method, &input.card, &input.payment_code) {
        (Method::Card, Some(_), None) => {}
        (Method::Card, None, _) => return Err(ApiError::invalid("card: required for method card")),
        (Method::Card, Some(_), Some(_)) => {
            return Err(ApiError::invalid("payment_code: only with method qr"));
        }
        (Method::Qr, _, _) if kind != Kind::Sale => {
            return Err(ApiError::invalid("method: qr is for sales (POST /v1/payments)"));
        }
        (Method::Qr, Some(_), _) => return Err(ApiError::invalid("card: not with method qr")),
        (Method::Qr, None, None) => return Err(ApiError::invalid("payment_code: required for method qr")),
        (Method::Qr, None, Some(code)) => {
            // Known by its shape before anything is recorded or sent.
            if xingtong_payments::qr::recognise(code).is_err() {
                return Err(crate::qr::not_recognised());
            }
        }
    }
    let op = operator(input.operator.as_deref())?;
    check_customer(input.customer.as_ref())?;
    check_operator(&state, &principal, &input.tid, &op).await?;
    let endpoint = match kind {
        Kind::Sale => "POST /v1/payments",
        Kind::PreAuthorization => "POST /v1/pre-authorizations",
        _ => "POST /v1/balance-inquiries",
    };
    let (origin, _, live, replayed) = start(&state, &principal, key, &input.tid, endpoint, &body.raw, &op).await?;
    if let Some(response) = replayed {
        return Ok(response);
    }
    let engine = engine(&state)?;
    let customer = input.customer.unwrap_or_default();
    if let Some(code) = &input.payment_code {
        let answer = engine
            .qr_pay(
                &origin,
                code,
                input.amount_minor,
                input.business_type.unwrap_or_default(),
                (customer.phone, customer.email),
            )
            .await?;
        return answer_response(answer);
    }
    let Some(card_input) = &input.card else { return Err(ApiError::invalid("card: required for method card")) };
    let card = card_of(engine, card_input, &input.tid, live.as_deref())?;
    let answer = match kind {
        Kind::BalanceInquiry => engine.balance(&origin, &card).await?,
        _ => {
            engine
                .pay(
                    &origin,
                    &card,
                    input.amount_minor,
                    kind,
                    input.business_type.unwrap_or_default(),
                    (customer.phone, customer.email),
                )
                .await?
        }
    };
    answer_response(answer)
}

pub(crate) async fn own_transaction(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<Stored<CardTransaction>, ApiError> {
    let engine = engine(state)?;
    let t = engine
        .transaction_by_id(id)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "transaction not found"))?;
    principal
        .may_see_merchant(&t.value.mid)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "transaction not found"))?;
    Ok(t)
}

/// A transaction, by id (`<TID>-<batch>-<STAN>`): the merchant's own, or staff.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments", responses((status = 200, description = "The transaction", body = TransactionView)))]
pub async fn get_payment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = own_transaction(&state, &principal, &id).await?;
    Ok(Json(transaction_view(&t.value)).into_response())
}

/// The data of the receipt (签购单).
#[utoipa::path(get, path = "/v1/payments/{id}/receipt", tag = "payments", responses((status = 200, description = "Everything a 签购单 prints", body = ReceiptView)))]
pub async fn get_receipt(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let t = own_transaction(&state, &principal, &id).await?.value;
    let merchant = get::<xingtong_merchants::merchant::Merchant>(&state.store, &t.mid, "merchant").await?;
    let (en, zh) = t.kind.receipt_name();
    let (y, m, d, hh, mi, ss) = xingtong_payments::clock::china(i64::try_from(t.at / 1_000_000_000).unwrap_or(0));
    let amount = xingtong_money::Amount::from_minor(t.amount_minor, xingtong_money::Currency::CNY).to_decimal_string();
    let method = match &t.qr {
        Some(qr) => {
            let (en, zh) = qr.scheme.names();
            Names { en, zh }
        }
        None => Names { en: "Bank card", zh: "银行卡" },
    };
    let wallet_txn_id = t.qr.as_ref().and_then(|qr| qr.wallet_txn_id.clone());
    let payer = t.qr.as_ref().and_then(|qr| qr.payer.clone());
    let (approved, response_code) = (t.outcome().is_approved(), xingtong_payments::cup::recorded(&t).into());
    Ok(Json(ReceiptView {
        method,
        wallet_txn_id,
        payer,
        title: "签购单 / POS SALES SLIP",
        merchant_name: merchant.value.name,
        mid: t.mid,
        tid: t.tid,
        operator: t.operator,
        card_number: t.pan_masked,
        card_organisation: t.brand.map(|b| b.organisation()),
        card_type: t.card_type,
        transaction_type: Names { en, zh },
        batch: format!("{:06}", t.batch),
        stan: format!("{:06}", t.stan),
        rrn: t.rrn,
        auth_code: t.auth_code,
        date_time: format!("{y:04}-{m:02}-{d:02} {hh:02}:{mi:02}:{ss:02}"),
        amount: format!("CNY {amount}"),
        amount_minor: t.amount_minor,
        approved,
        response_code,
        reference: t.original_id,
        business_type: t.business_type,
    })
    .into_response())
}

/// A name in English and Chinese.
#[derive(Debug, Serialize, ToSchema)]
pub struct Names {
    /// English.
    pub en: &'static str,
    /// 中文.
    pub zh: &'static str,
}

/// A receipt (签购单), as a terminal prints it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptView {
    /// `签购单 / POS SALES SLIP`.
    pub title: &'static str,
    /// The merchant's trading name.
    pub merchant_name: String,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// Operator.
    pub operator: String,
    /// How it was paid: 银行卡 / Bank card, 微信支付 / WeChat Pay, 支付宝 / Alipay, 云闪付 / UnionPay QR.
    pub method: Names,
    /// A QR payment's order number at the wallet (交易单号).
    pub wallet_txn_id: Option<String>,
    /// A QR payment's payer as the wallet shows them, masked.
    pub payer: Option<String>,
    /// First six and last four digits (empty for QR payments).
    pub card_number: String,
    /// `CUP`, `VIS` or `MCC`.
    pub card_organisation: Option<&'static str>,
    /// `debit` or `credit`.
    #[schema(value_type = Option<String>)]
    pub card_type: Option<xingtong_payments::card::CardType>,
    /// What the slip is for.
    pub transaction_type: Names,
    /// Six digits.
    pub batch: String,
    /// Six digits.
    pub stan: String,
    /// Retrieval reference number.
    pub rrn: String,
    /// Authorization code.
    pub auth_code: Option<String>,
    /// China time, `YYYY-MM-DD hh:mm:ss`.
    pub date_time: String,
    /// `CNY 123.45`.
    pub amount: String,
    /// Minor units.
    pub amount_minor: i64,
    /// The original transaction (voids, refunds, completions).
    pub reference: Option<String>,
    /// `sale`, `collection` or `purchase`.
    #[schema(value_type = String)]
    pub business_type: xingtong_payments::txn::BusinessType,
    /// The CUP response code.
    pub response_code: String,
    /// True when `response_code` is `00`.
    pub approved: bool,
}

/// A supervisor's authorisation.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidInput {
    /// Operator 00's PIN (6 digits): checked, never kept.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub supervisor_pin: xingtong_crypto::SecretString,
}

async fn supervisor(state: &AppState, mid: &str, pin: &str) -> Result<(), ApiError> {
    use xingtong_merchants::cashiers::PinRefusal;
    match state.merchants.verify_cashier_pin(mid, "00", pin).await? {
        Ok(_) => Ok(()),
        Err(PinRefusal::Locked) => {
            Err(ApiError::new(StatusCode::LOCKED, "pin_locked", "the supervisor's PIN is locked; staff must reset it"))
        }
        Err(PinRefusal::NotSet) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "supervisor_pin_not_set",
            format!(
                "the supervisor's PIN (operator 00) is not set yet: the owner sets it with PUT /v1/merchants/{mid}/cashiers/00/pin"
            ),
        )),
        Err(_) => Err(ApiError::new(StatusCode::FORBIDDEN, "supervisor_pin_wrong", "the supervisor's PIN is wrong")),
    }
}

/// Voids (撤销) a sale or a completion of the open batch; the supervisor's PIN is required.
#[utoipa::path(post, path = "/v1/payments/{id}/void", request_body = VoidInput, tag = "payments", params(("Idempotency-Key" = String, Header, description = "Required")),
    responses((status = 201, description = "The void, approved or declined", body = TransactionView)))]
pub async fn void_payment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    Path(id): Path<String>,
    body: JsonBody<VoidInput>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Refunds)?;
    let original = own_transaction(&state, &principal, &id).await?.value;
    let (origin, _, _, replayed) = start(
        &state,
        &principal,
        key,
        &original.tid,
        "POST /v1/payments/{id}/void",
        &[id.as_bytes(), &body.raw].concat(),
        "00",
    )
    .await?;
    if let Some(response) = replayed {
        return Ok(response);
    }
    supervisor(&state, &original.mid, body.value.supervisor_pin.expose()).await?;
    let engine = engine(&state)?;
    let kind = if original.kind == Kind::Completion { Kind::CompletionVoid } else { Kind::Void };
    let answer = engine.void(&origin, (original.batch, original.stan), original.amount_minor, kind).await?;
    answer_response(answer)
}

/// A refund.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// The sale (or completion) to refund.
    pub payment_id: String,
    /// Minor units; at most what remains refundable.
    pub amount_minor: i64,
    /// `01` customer return, `02` wrong amount, `03` duplicate charge, `04` other.
    pub reason: String,
    /// Operator 00's PIN.
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    pub supervisor_pin: xingtong_crypto::SecretString,
}

/// Refunds (退货) part or all of a sale, to the original card; the supervisor's PIN and a reason are required.
#[utoipa::path(post, path = "/v1/refunds", request_body = RefundInput, tag = "payments", params(("Idempotency-Key" = String, Header, description = "Required")),
    responses((status = 201, description = "The refund, approved or declined", body = TransactionView)))]
pub async fn create_refund(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    body: JsonBody<RefundInput>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Refunds)?;
    let input = &body.value;
    if !["01", "02", "03", "04"].contains(&input.reason.as_str()) {
        return Err(ApiError::invalid("reason: 01 customer return, 02 wrong amount, 03 duplicate charge, 04 other"));
    }
    // Refused before a trace number is taken or anything is recorded.
    if input.amount_minor <= 0 {
        return Err(ApiError::invalid("amount_minor: a positive number of fen"));
    }
    let original = own_transaction(&state, &principal, &input.payment_id).await?.value;
    let (origin, _, _, replayed) =
        start(&state, &principal, key, &original.tid, "POST /v1/refunds", &body.raw, "00").await?;
    if let Some(response) = replayed {
        return Ok(response);
    }
    supervisor(&state, &original.mid, input.supervisor_pin.expose()).await?;
    let engine = engine(&state)?;
    let answer =
        engine.refund(&origin, (original.batch, original.stan), input.amount_minor, Some(input.reason.clone())).await?;
    answer_response(answer)
}

/// A completion.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionInput {
    /// Minor units; at most the authorised amount.
    pub amount_minor: i64,
}

/// Completes (预授权完成) a pre-authorization for at most its amount.
#[utoipa::path(post, path = "/v1/pre-authorizations/{id}/complete", request_body = CompletionInput, tag = "payments", params(("Idempotency-Key" = String, Header, description = "Required")),
    responses((status = 201, description = "The completion", body = TransactionView)))]
pub async fn complete_pre_authorization(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    Path(id): Path<String>,
    body: JsonBody<CompletionInput>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Payments)?;
    if body.value.amount_minor <= 0 {
        return Err(ApiError::invalid("amount_minor: a positive number of fen"));
    }
    let original = own_transaction(&state, &principal, &id).await?.value;
    let (origin, _, _, replayed) = start(
        &state,
        &principal,
        key,
        &original.tid,
        "POST /v1/pre-authorizations/{id}/complete",
        &[id.as_bytes(), &body.raw].concat(),
        "01",
    )
    .await?;
    if let Some(response) = replayed {
        return Ok(response);
    }
    let engine = engine(&state)?;
    let answer = engine.complete(&origin, (original.batch, original.stan), body.value.amount_minor, None).await?;
    answer_response(answer)
}

/// Voids a pre-authorization: the hold is released.
#[utoipa::path(post, path = "/v1/pre-authorizations/{id}/void", tag = "payments", params(("Idempotency-Key" = String, Header, description = "Required")),
    responses((status = 201, description = "The void", body = TransactionView)))]
pub async fn void_pre_authorization(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Refunds)?;
    let original = own_transaction(&state, &principal, &id).await?.value;
    let (origin, _, _, replayed) =
        start(&state, &principal, key, &original.tid, "POST /v1/pre-authorizations/{id}/void", id.as_bytes(), "01")
            .await?;
    if let Some(response) = replayed {
        return Ok(response);
    }
    let engine = engine(&state)?;
    let answer = engine.pre_authorization_void(&origin, (original.batch, original.stan), original.amount_minor).await?;
    answer_response(answer)
}

/// Creates a sandbox test card (staff).
#[utoipa::path(post, path = "/v1/sandbox/cards", request_body = crate::openapi::SandboxCardBody, tag = "payments", responses((status = 201, description = "The test card, with its number", body = SandboxCardView)))]
pub async fn create_sandbox_card(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<xingtong_payments::sandbox::NewCard>,
) -> Result<Response, ApiError> {
    if !principal.is_staff() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, "test cards are made by staff"));
    }
    let (_, sandbox) = state.payments.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, "card payments are not running")
    })?;
    let card = sandbox.create_card(&principal.actor(), body.value).await?;
    let balance = sandbox.balance(&card).await?;
    Ok((StatusCode::CREATED, Json(sandbox_view(&card, balance))).into_response())
}

/// A sandbox test card.
#[derive(Debug, Serialize, ToSchema)]
pub struct SandboxCardView {
    /// The whole number (test cards only).
    pub number: String,
    /// `unionpay`, `visa` or `mastercard`.
    #[schema(value_type = String)]
    pub brand: xingtong_payments::card::Brand,
    /// `debit` or `credit`.
    #[schema(value_type = String)]
    pub r#type: xingtong_payments::card::CardType,
    /// YYMM.
    pub expiry: String,
    /// `active`, `blocked`, `lost` or `stolen`.
    #[schema(value_type = String)]
    pub status: xingtong_payments::sandbox::CardStatus,
    /// What the card can still spend, minor units.
    pub available_minor: i64,
    /// Wrong PINs in a row.
    pub pin_tries: u32,
    /// The issuer answers this many ms late.
    pub delay_ms: u64,
    /// The issuer never answers.
    pub timeout: bool,
}

fn sandbox_view(card: &xingtong_payments::sandbox::SandboxCard, balance: i64) -> SandboxCardView {
    SandboxCardView {
        number: card.pan.expose().to_owned(),
        brand: card.brand,
        r#type: card.card_type,
        expiry: card.expiry.clone(),
        status: card.status,
        available_minor: balance,
        pin_tries: card.pin_tries,
        delay_ms: card.delay_ms,
        timeout: card.timeout,
    }
}

/// A sandbox test card and its available balance (staff).
#[utoipa::path(get, path = "/v1/sandbox/cards/{number}", tag = "payments", responses((status = 200, description = "The test card", body = SandboxCardView)))]
pub async fn get_sandbox_card(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    if !principal.is_staff() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, "test cards are for staff"));
    }
    let (_, sandbox) = state.payments.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, "card payments are not running")
    })?;
    let card = load::<xingtong_payments::sandbox::SandboxCard>(&state.store, &number)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such test card"))?;
    let balance = sandbox.balance(&card.value).await?;
    Ok(Json(sandbox_view(&card.value, balance)).into_response())
}

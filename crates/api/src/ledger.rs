//! `/v1/ledger/…`: operators create accounts, post batches of transfers and read balances and
//! history. This module is the JSON wire format of the ledger; the ledger crate knows nothing of it.
//!
//! Batches are atomic by default: every event is linked to the next, so the batch applies whole or
//! not at all and a refused batch answers 422 with each event's result and changes nothing.
//! `"atomic": false` gives TigerBeetle's semantics instead: events succeed or fail one by one
//! (honouring their own `linked` flags) and the answer is 200 with each event's result.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use xingtong_ledger::{
    AMOUNT_MAX, Account, AccountFlags, BATCH_EVENTS_MAX, CreateAccountResult, CreateTransferResult, Transfer,
    TransferFlags,
};
use xingtong_store::{Claim, Outcome, StoredResponse};

use crate::AppState;
use crate::error::{ApiError, codes};
use crate::extract::{Caller, IdempotencyKey, JsonBody, Path, Query, request_sha256};

/// The role that may use the ledger API.
pub const LEDGER_ROLE: &str = "admin";
/// Transfers listed per page unless `limit` says otherwise.
pub const PAGE_LIMIT_DEFAULT: u32 = 100;

/// A 128-bit id: a decimal string (or a JSON integer) on input, always a decimal string on output,
/// because JavaScript numbers lose integers above 2^53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Id(pub u128);

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

const ID_EXPECTED: &str = "an id: a decimal string of up to 39 digits (or a JSON integer below 2^64)";

struct IdVisitor;

impl serde::de::Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(ID_EXPECTED)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Id, E> {
        Ok(Id(u128::from(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
        let digits_only = !v.is_empty() && v.len() <= 39 && v.bytes().all(|b| b.is_ascii_digit());
        if !digits_only {
            return Err(E::custom(format!("expected {ID_EXPECTED}")));
        }
        v.parse().map(Id).map_err(|_| E::custom("the id is larger than 2^128 − 1"))
    }
}

/// An amount in minor units: a non-negative JSON integer, or `"max"` (post the whole pending
/// amount; or, for balancing transfers, no bound but the balance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Amount(pub u128);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AmountVisitor)
    }
}

const AMOUNT_EXPECTED: &str = "a non-negative integer number of minor units (fen for CNY) below 2^64, or \"max\"";

struct AmountVisitor;

impl serde::de::Visitor<'_> for AmountVisitor {
    type Value = Amount;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(AMOUNT_EXPECTED)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
        Ok(Amount(u128::from(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Amount, E> {
        Err(E::custom("an amount cannot be negative; a refund or correction is a transfer the other way"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Amount, E> {
        Err(E::custom(format!(
            "expected {AMOUNT_EXPECTED}; amounts are whole minor units, never fractions or huge numbers"
        )))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Amount, E> {
        if v == "max" { Ok(Amount(AMOUNT_MAX)) } else { Err(E::custom(format!("expected {AMOUNT_EXPECTED}"))) }
    }
}

/// An account to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// Chosen by you; a decimal string.
    #[schema(value_type = String, example = "1001")]
    pub id: Id,
    /// The ledger: the currency's ISO 4217 numeric code (156 for CNY).
    pub ledger: u32,
    /// Your account type; not 0.
    pub code: u16,
    /// Any of `debits_must_not_exceed_credits`, `credits_must_not_exceed_debits`, `linked`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Yours (e.g. a merchant id); a decimal string.
    #[serde(default)]
    #[schema(value_type = String)]
    pub user_data_128: Id,
    /// Yours.
    #[serde(default)]
    pub user_data_64: u64,
    /// Yours.
    #[serde(default)]
    pub user_data_32: u32,
}

/// A batch of accounts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountsRequest {
    /// 1 to 8,189 accounts.
    pub accounts: Vec<AccountInput>,
    /// All or nothing (default), or each on its own.
    #[serde(default = "yes")]
    pub atomic: bool,
}

/// A transfer to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    /// Chosen by you and kept before sending, so that a retry is recognised.
    #[schema(value_type = String, example = "900001")]
    pub id: Id,
    /// The account debited (0 or absent for post and void: taken from the pending transfer).
    #[serde(default)]
    #[schema(value_type = String)]
    pub debit_account_id: Id,
    /// The account credited.
    #[serde(default)]
    #[schema(value_type = String)]
    pub credit_account_id: Id,
    /// Minor units, or `"max"`.
    #[serde(default)]
    #[schema(value_type = u64)]
    pub amount: Amount,
    /// For post and void: the pending transfer.
    #[serde(default)]
    #[schema(value_type = String)]
    pub pending_id: Id,
    /// The ledger (currency); 0 for post and void.
    #[serde(default)]
    pub ledger: u32,
    /// Why the money moves; 0 for post and void.
    #[serde(default)]
    pub code: u16,
    /// Seconds until a pending transfer expires; 0 never.
    #[serde(default)]
    pub timeout: u32,
    /// Any of `linked`, `pending`, `post_pending_transfer`, `void_pending_transfer`, `balancing_debit`,
    /// `balancing_credit`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Yours (e.g. a payment id).
    #[serde(default)]
    #[schema(value_type = String)]
    pub user_data_128: Id,
    /// Yours.
    #[serde(default)]
    pub user_data_64: u64,
    /// Yours.
    #[serde(default)]
    pub user_data_32: u32,
}

/// A batch of transfers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfersRequest {
    /// 1 to 8,189 transfers.
    pub transfers: Vec<TransferInput>,
    /// All or nothing (default), or each on its own.
    #[serde(default = "yes")]
    pub atomic: bool,
}

fn yes() -> bool {
    true
}

/// One event's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResult {
    /// Position in the batch.
    pub index: usize,
    /// The event's id.
    #[schema(value_type = String)]
    pub id: Id,
    /// `ok`, `exists`, or why it failed (`exceeds_credits`, `debit_account_not_found`, …).
    pub result: &'static str,
}

/// The outcome of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// One per event, in order.
    pub results: Vec<EventResult>,
}

/// An account with its balances.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// Id.
    #[schema(value_type = String)]
    pub id: Id,
    /// Ledger (ISO 4217 numeric currency code).
    pub ledger: u32,
    /// The currency's alphabetic code, when the ledger is a known currency.
    pub currency: Option<&'static str>,
    /// Account type.
    pub code: u16,
    /// Flags by name.
    pub flags: Vec<&'static str>,
    /// Reserved debits, minor units.
    #[schema(value_type = u64)]
    pub debits_pending: u128,
    /// Posted debits.
    #[schema(value_type = u64)]
    pub debits_posted: u128,
    /// Reserved credits.
    #[schema(value_type = u64)]
    pub credits_pending: u128,
    /// Posted credits.
    #[schema(value_type = u64)]
    pub credits_posted: u128,
    /// Yours.
    #[schema(value_type = String)]
    pub user_data_128: Id,
    /// Yours.
    pub user_data_64: u64,
    /// Yours.
    pub user_data_32: u32,
    /// Created: RFC 3339, UTC, to the nanosecond (unique in the ledger).
    pub timestamp: String,
}

/// A transfer as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    /// Id.
    #[schema(value_type = String)]
    pub id: Id,
    /// Debited account.
    #[schema(value_type = String)]
    pub debit_account_id: Id,
    /// Credited account.
    #[schema(value_type = String)]
    pub credit_account_id: Id,
    /// Minor units moved (or reserved, for a pending transfer).
    #[schema(value_type = u64)]
    pub amount: u128,
    /// The pending transfer it resolves, or "0".
    #[schema(value_type = String)]
    pub pending_id: Id,
    /// Ledger.
    pub ledger: u32,
    /// Reason code.
    pub code: u16,
    /// Timeout in seconds (pending transfers).
    pub timeout: u32,
    /// Flags by name.
    pub flags: Vec<&'static str>,
    /// Yours.
    #[schema(value_type = String)]
    pub user_data_128: Id,
    /// Yours.
    pub user_data_64: u64,
    /// Yours.
    pub user_data_32: u32,
    /// Created: RFC 3339, UTC, to the nanosecond; unique, and the order of the ledger.
    pub timestamp: String,
}

/// A page of transfers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferPage {
    /// Oldest first.
    pub data: Vec<TransferView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Paging of an account's transfers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1 to 1,000; default 100.
    pub limit: Option<u32>,
    /// From the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn flag_bits(names: &[String], table: &[(&'static str, u16)], index: usize, batch: &str) -> Result<u16, ApiError> {
    let mut bits = 0;
    for name in names {
        let bit = table.iter().find(|(n, _)| n == name).map(|(_, b)| *b).ok_or_else(|| {
            let known: Vec<_> = table.iter().map(|(n, _)| *n).collect();
            ApiError::invalid(format!("{batch}[{index}].flags: unknown flag {name:?}; known: {}", known.join(", ")))
        })?;
        bits |= bit;
    }
    Ok(bits)
}

fn flag_names(bits: u16, table: &[(&'static str, u16)]) -> Vec<&'static str> {
    table.iter().filter(|(_, b)| bits & b != 0).map(|(n, _)| *n).collect()
}

fn check_batch_size(len: usize, what: &str) -> Result<(), ApiError> {
    if len == 0 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::EMPTY_BATCH,
            format!("send at least one of {what}"),
        ));
    }
    if len > BATCH_EVENTS_MAX {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::BATCH_TOO_LARGE,
            format!("a batch holds at most {BATCH_EVENTS_MAX} {what}; this one has {len}"),
        ));
    }
    Ok(())
}

/// Links every event to the next so the batch is all-or-nothing.
fn link_all(flags: &mut [u16], linked: u16) {
    let last = flags.len().saturating_sub(1);
    for (i, f) in flags.iter_mut().enumerate() {
        if i < last { *f |= linked } else { *f &= !linked }
    }
}

/// Renders a batch's response: 201 when every event was created; in an atomic batch any other
/// outcome is 422 with the per-event results; otherwise 200 with them.
fn render_batch<R: Copy>(
    ids: &[u128],
    results: &[R],
    atomic: bool,
    name: impl Fn(R) -> &'static str,
    rejected_code: &'static str,
    what: &str,
) -> StoredResponse {
    let events: Vec<EventResult> = ids
        .iter()
        .zip(results)
        .enumerate()
        .map(|(index, (id, r))| EventResult { index, id: Id(*id), result: name(*r) })
        .collect();
    let all_ok = events.iter().all(|e| e.result == "ok");
    let response = BatchResponse { results: events };
    if atomic && !all_ok {
        let first = response.results.iter().find(|e| e.result != "linked_event_failed").unwrap_or(&response.results[0]);
        let message = format!(
            "{what}[{}] (id {}) was refused: {}; nothing in the batch was applied",
            first.index, first.id.0, first.result
        );
        let details = serde_json::to_value(&response).unwrap_or_default();
        let error = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, rejected_code, message).with_details(details);
        return StoredResponse { status: 422, body: error.body_bytes() };
    }
    let status = if all_ok { 201 } else { 200 };
    StoredResponse { status, body: serde_json::to_vec(&response).unwrap_or_default() }
}

fn stored_into_response(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], stored.body).into_response()
}

fn key_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        codes::IDEMPOTENCY_KEY_REUSED,
        "this Idempotency-Key was used for a different request; use a new key for a new request",
    )
}

/// Creates accounts.
#[utoipa::path(
    post, path = "/v1/ledger/accounts", tag = "ledger",
    request_body = CreateAccountsRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses(
        (status = 201, description = "All created", body = BatchResponse),
        (status = 200, description = "Non-atomic batch: per-event results", body = BatchResponse),
        (status = 422, description = "Refused; nothing created", body = crate::openapi::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_accounts(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody<CreateAccountsRequest>,
) -> Result<Response, ApiError> {
    caller.require_role(LEDGER_ROLE)?;
    let request = body.value;
    check_batch_size(request.accounts.len(), "accounts")?;
    let mut events = Vec::with_capacity(request.accounts.len());
    for (index, a) in request.accounts.iter().enumerate() {
        let flags = flag_bits(&a.flags, &AccountFlags::NAMES, index, "accounts")?;
        events.push(Account {
            id: a.id.0,
            ledger: a.ledger,
            code: a.code,
            flags: AccountFlags(flags),
            user_data_128: a.user_data_128.0,
            user_data_64: a.user_data_64,
            user_data_32: a.user_data_32,
            ..Account::default()
        });
    }
    let atomic = request.atomic;
    if atomic {
        let mut flags: Vec<u16> = events.iter().map(|e| e.flags.0).collect();
        link_all(&mut flags, AccountFlags::LINKED);
        events.iter_mut().zip(flags).for_each(|(e, f)| e.flags = AccountFlags(f));
    }
    let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
    let render = move |ids: &[u128], results: &[CreateAccountResult]| {
        render_batch(ids, results, atomic, CreateAccountResult::as_str, codes::ACCOUNTS_REJECTED, "accounts")
    };
    let claim = key.0.map(|key| {
        let ids = ids.clone();
        Claim {
            scope: caller.key.id.clone(),
            key,
            request_sha256: request_sha256("POST", "/v1/ledger/accounts", &body.raw),
            render: Box::new(move |results: &[CreateAccountResult]| render(&ids, results)) as xingtong_store::Render<_>,
        }
    });
    match state.store.create_accounts(events, claim).await? {
        Outcome::Applied(results) => Ok(stored_into_response(render(&ids, &results))),
        Outcome::Replayed(stored) => Ok(stored_into_response(stored)),
        Outcome::KeyReused => Err(key_reused()),
    }
}

/// Posts transfers.
#[utoipa::path(
    post, path = "/v1/ledger/transfers", tag = "ledger",
    request_body = CreateTransfersRequest,
    params(("Idempotency-Key" = String, Header, description = "Required: makes retries safe")),
    responses(
        (status = 201, description = "All created", body = BatchResponse),
        (status = 200, description = "Non-atomic batch: per-event results", body = BatchResponse),
        (status = 400, description = "Missing Idempotency-Key or malformed JSON", body = crate::openapi::ErrorBody),
        (status = 422, description = "Refused; nothing moved", body = crate::openapi::ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_transfers(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    body: JsonBody<CreateTransfersRequest>,
) -> Result<Response, ApiError> {
    caller.require_role(LEDGER_ROLE)?;
    let key = key.required()?;
    let request = body.value;
    check_batch_size(request.transfers.len(), "transfers")?;
    let mut events = Vec::with_capacity(request.transfers.len());
    for (index, t) in request.transfers.iter().enumerate() {
        let flags = flag_bits(&t.flags, &TransferFlags::NAMES, index, "transfers")?;
        events.push(Transfer {
            id: t.id.0,
            debit_account_id: t.debit_account_id.0,
            credit_account_id: t.credit_account_id.0,
            amount: t.amount.0,
            pending_id: t.pending_id.0,
            user_data_128: t.user_data_128.0,
            user_data_64: t.user_data_64,
            user_data_32: t.user_data_32,
            timeout: t.timeout,
            ledger: t.ledger,
            code: t.code,
            flags: TransferFlags(flags),
            timestamp: 0,
        });
    }
    let atomic = request.atomic;
    if atomic {
        let mut flags: Vec<u16> = events.iter().map(|e| e.flags.0).collect();
        link_all(&mut flags, TransferFlags::LINKED);
        events.iter_mut().zip(flags).for_each(|(e, f)| e.flags = TransferFlags(f));
    }
    let ids: Vec<u128> = events.iter().map(|e| e.id).collect();
    let render = move |ids: &[u128], results: &[CreateTransferResult]| {
        render_batch(ids, results, atomic, CreateTransferResult::as_str, codes::TRANSFERS_REJECTED, "transfers")
    };
    let claim_ids = ids.clone();
    let claim = Claim {
        scope: caller.key.id.clone(),
        key,
        request_sha256: request_sha256("POST", "/v1/ledger/transfers", &body.raw),
        render: Box::new(move |results: &[CreateTransferResult]| render(&claim_ids, results))
            as xingtong_store::Render<_>,
    };
    match state.store.create_transfers(events, Some(claim)).await? {
        Outcome::Applied(results) => Ok(stored_into_response(render(&ids, &results))),
        Outcome::Replayed(stored) => Ok(stored_into_response(stored)),
        Outcome::KeyReused => Err(key_reused()),
    }
}

fn parse_path_id(text: &str) -> Result<u128, ApiError> {
    let valid = !text.is_empty() && text.len() <= 39 && text.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| text.parse().ok()).flatten().ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAMETER,
            "the id in the path must be a decimal number below 2^128",
        )
    })
}

fn account_view(a: &Account) -> AccountView {
    AccountView {
        id: Id(a.id),
        ledger: a.ledger,
        currency: u16::try_from(a.ledger)
            .ok()
            .and_then(|n| xingtong_money::Currency::from_numeric(n).ok())
            .map(|c| c.code()),
        code: a.code,
        flags: flag_names(a.flags.0, &AccountFlags::NAMES),
        debits_pending: a.debits_pending,
        debits_posted: a.debits_posted,
        credits_pending: a.credits_pending,
        credits_posted: a.credits_posted,
        user_data_128: Id(a.user_data_128),
        user_data_64: a.user_data_64,
        user_data_32: a.user_data_32,
        timestamp: crate::time::rfc3339(a.timestamp),
    }
}

fn transfer_view(t: &Transfer) -> TransferView {
    TransferView {
        id: Id(t.id),
        debit_account_id: Id(t.debit_account_id),
        credit_account_id: Id(t.credit_account_id),
        amount: t.amount,
        pending_id: Id(t.pending_id),
        ledger: t.ledger,
        code: t.code,
        timeout: t.timeout,
        flags: flag_names(t.flags.0, &TransferFlags::NAMES),
        user_data_128: Id(t.user_data_128),
        user_data_64: t.user_data_64,
        user_data_32: t.user_data_32,
        timestamp: crate::time::rfc3339(t.timestamp),
    }
}

/// Reads an account and its balances.
#[utoipa::path(
    get, path = "/v1/ledger/accounts/{id}", tag = "ledger",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = AccountView), (status = 404, body = crate::openapi::ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    caller.require_role(LEDGER_ROLE)?;
    let id = parse_path_id(&id)?;
    let found = state.store.lookup_accounts(vec![id]).await?;
    let account = found
        .first()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, codes::ACCOUNT_NOT_FOUND, format!("no account {id}")))?;
    Ok(Json(account_view(account)))
}

/// Reads a transfer.
#[utoipa::path(
    get, path = "/v1/ledger/transfers/{id}", tag = "ledger",
    params(("id" = String, Path, description = "Transfer id")),
    responses((status = 200, body = TransferView), (status = 404, body = crate::openapi::ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_transfer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TransferView>, ApiError> {
    caller.require_role(LEDGER_ROLE)?;
    let id = parse_path_id(&id)?;
    let found = state.store.lookup_transfers(vec![id]).await?;
    let transfer = found
        .first()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, codes::TRANSFER_NOT_FOUND, format!("no transfer {id}")))?;
    Ok(Json(transfer_view(transfer)))
}

const CURSOR_PREFIX: &str = "ts_";

/// Lists an account's transfers, oldest first, a page at a time.
#[utoipa::path(
    get, path = "/v1/ledger/accounts/{id}/transfers", tag = "ledger",
    params(("id" = String, Path, description = "Account id"), PageQuery),
    responses((status = 200, body = TransferPage), (status = 404, body = crate::openapi::ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_account_transfers(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<TransferPage>, ApiError> {
    caller.require_role(LEDGER_ROLE)?;
    let id = parse_path_id(&id)?;
    let limit = query.limit.unwrap_or(PAGE_LIMIT_DEFAULT);
    if !(1..=xingtong_store::PAGE_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAMETER,
            format!("limit must be 1 to {}", xingtong_store::PAGE_LIMIT_MAX),
        ));
    }
    let after = match query.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor.strip_prefix(CURSOR_PREFIX).and_then(|t| t.parse::<u64>().ok()).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_CURSOR, "pass back a next_cursor exactly as received")
        })?,
    };
    if state.store.lookup_accounts(vec![id]).await?.is_empty() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, codes::ACCOUNT_NOT_FOUND, format!("no account {id}")));
    }
    let transfers = state.store.account_transfers(id, after, limit).await?;
    let next_cursor = (transfers.len() == limit as usize)
        .then(|| transfers.last().map(|t| format!("{CURSOR_PREFIX}{}", t.timestamp)))
        .flatten();
    Ok(Json(TransferPage { data: transfers.iter().map(transfer_view).collect(), next_cursor }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_amounts_parse_strictly() {
        let id = |s: &str| serde_json::from_str::<Id>(s).map(|i| i.0).ok();
        assert_eq!(id(r#""42""#), Some(42));
        assert_eq!(id("42"), Some(42));
        assert_eq!(id(r#""340282366920938463463374607431768211455""#), Some(u128::MAX));
        assert_eq!(id("340282366920938463463374607431768211455"), None, "numbers above 2^64 lose precision");
        assert_eq!(id(r#""340282366920938463463374607431768211456""#), None);
        for bad in [r#""-1""#, "-1", r#""1e3""#, r#""""#, "1.5", r#"" 1""#, "null", "true"] {
            assert_eq!(id(bad), None, "{bad}");
        }
        let amount = |s: &str| serde_json::from_str::<Amount>(s).map(|a| a.0).ok();
        assert_eq!(amount("100"), Some(100));
        assert_eq!(amount("18446744073709551615"), Some(u128::from(u64::MAX)));
        assert_eq!(amount(r#""max""#), Some(AMOUNT_MAX));
        for bad in ["-1", "1.5", r#""100""#, "1e2", "18446744073709551616", "null", "[]", "{}"] {
            assert_eq!(amount(bad), None, "{bad}");
        }
        assert_eq!(serde_json::to_string(&Id(7)).unwrap(), r#""7""#);
    }

    #[test]
    fn atomic_batches_link_all_but_the_last() {
        let mut flags = vec![0, TransferFlags::LINKED, 0, TransferFlags::LINKED];
        link_all(&mut flags, TransferFlags::LINKED);
        assert_eq!(flags, vec![1, 1, 1, 0]);
    }
}

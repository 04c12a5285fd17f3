//! Money out over JSON: terminal batches and their settlement, clearing runs, and each merchant's
//! settlements with their lines. A merchant sees only its own (another's is "not found"); staff
//! see every merchant's, and run clearing (finance role).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use xingtong_merchants::Principal;
use xingtong_merchants::devices::Device;
use xingtong_merchants::entity::{Entity, Stored, list, load, select};
use xingtong_merchants::identity::{Role, Scope};
use xingtong_merchants::merchant::SettlementCycle;
use xingtong_payments::Engine;
use xingtong_payments::clearing::Settlement;
use xingtong_payments::settle::{Batch, BatchTotals, Side};
use xingtong_store::{Cmp, RecordQuery, Table, TableQuery};

use crate::AppState;
use crate::error::{ApiError, codes};
use crate::extract::{JsonBody, Path, Query};
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

pub(crate) fn not_found(what: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, format!("{what} not found"))
}

/// Refuses (not found) unless the caller may see merchant `mid`.
pub(crate) fn may_see(principal: &Principal, mid: &str, what: &str) -> Result<(), ApiError> {
    principal.may_see_merchant(mid).map_err(|_| not_found(what))
}

/// For a merchant's lists: the caller may see the merchant, and it exists (staff asking for a
/// merchant that does not exist get `404`, as its owner would, not an empty list).
pub(crate) async fn seen_merchant(state: &AppState, principal: &Principal, mid: &str) -> Result<(), ApiError> {
    may_see(principal, mid, "merchant")?;
    load::<xingtong_merchants::merchant::Merchant>(&state.store, mid).await?.ok_or_else(|| not_found("merchant"))?;
    Ok(())
}

/// `YYYY-MM-DD` as `YYYYMMDD`, or a 422 naming the field.
pub(crate) fn day_of(field: &str, date: &str) -> Result<String, ApiError> {
    parse_day(date).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::INVALID_REQUEST,
            format!("{field}: {date:?} is not a date like 2026-11-27"),
        )
    })
}

/// A date given as a path or query parameter, `YYYY-MM-DD`, as `YYYYMMDD`; a malformed one is
/// `400 invalid_parameter`, as every malformed parameter is (docs/api.md).
pub(crate) fn day_param(field: &str, date: &str) -> Result<String, ApiError> {
    parse_day(date).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAMETER,
            format!("{field}: {date:?} is not a date like 2026-11-27"),
        )
    })
}

/// A comma-separated `status` query parameter: each one of `allowed` (`400 invalid_parameter`
/// otherwise); none given, none to filter by.
fn statuses_param(value: Option<&str>, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
    list_param("status", value, allowed)
}

/// A comma-separated parameter whose every value is one of `allowed`.
/// Comma-separated operator numbers, each two digits.
fn operators_param(value: Option<&str>) -> Result<Vec<String>, ApiError> {
    let values: Vec<String> = value
        .map(|s| s.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    match values.iter().find(|o| xingtong_merchants::cashiers::check_operator(o).is_err()) {
        Some(bad) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAMETER,
            format!("operator: {bad} is not an operator number (two digits, 00 to 99)"),
        )),
        None => Ok(values),
    }
}

fn list_param(name: &str, value: Option<&str>, allowed: &[&str]) -> Result<Vec<String>, ApiError> {
    let values: Vec<String> = value
        .map(|s| s.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    match values.iter().find(|s| !allowed.contains(&s.as_str())) {
        Some(bad) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAMETER,
            format!("{name}: {bad} is not one of {}", allowed.join(", ")),
        )),
        None => Ok(values),
    }
}

fn parse_day(date: &str) -> Option<String> {
    let day: String = date.chars().filter(|c| *c != '-').collect();
    (date.len() == 10 && xingtong_payments::clearing::valid_day(&day)).then_some(day)
}

/// `YYYYMMDD` as `YYYY-MM-DD`.
pub(crate) fn dashed(day: &str) -> String {
    match (day.get(..4), day.get(4..6), day.get(6..8)) {
        (Some(y), Some(m), Some(d)) => format!("{y}-{m}-{d}"),
        _ => day.to_owned(),
    }
}

/// One card class's totals in a settlement (CNY minor units).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SideView {
    /// Σ debits (sales and completions, voided ones included).
    pub debit_minor: u64,
    /// How many debits.
    pub debit_count: u32,
    /// Σ credits (voids, completion voids, refunds).
    pub credit_minor: u64,
    /// How many credits.
    pub credit_count: u32,
}

impl From<Side> for SideView {
    fn from(s: Side) -> SideView {
        SideView {
            debit_minor: s.debit_minor,
            debit_count: s.debit_count,
            credit_minor: s.credit_minor,
            credit_count: s.credit_count,
        }
    }
}

impl From<SideView> for Side {
    fn from(s: SideView) -> Side {
        Side {
            debit_minor: s.debit_minor,
            debit_count: s.debit_count,
            credit_minor: s.credit_minor,
            credit_count: s.credit_count,
        }
    }
}

/// A batch's totals: domestic cards (内卡) and foreign ones (外卡: Visa, Mastercard).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotalsView {
    /// Domestic cards.
    pub domestic: SideView,
    /// Foreign cards.
    pub foreign: SideView,
}

impl From<BatchTotals> for TotalsView {
    fn from(t: BatchTotals) -> TotalsView {
        TotalsView { domestic: t.domestic.into(), foreign: t.foreign.into() }
    }
}

/// A transaction on which the terminal and the host disagree.
#[derive(Debug, Serialize, ToSchema)]
pub struct DifferenceView {
    /// STAN.
    pub stan: u32,
    /// `terminal_only`, `host_only` or `amount`.
    pub kind: String,
    /// The terminal's amount.
    pub terminal_minor: Option<u64>,
    /// The host's amount.
    pub host_minor: Option<u64>,
}

/// A terminal's settled batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// `<TID>-<batch>`.
    pub id: String,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// Batch number.
    pub batch: u32,
    /// `balanced`, `unbalanced` (upload awaited), `reconciled` or `closed_at_cut_off`.
    pub status: String,
    /// Domestic cards balanced.
    pub domestic_balanced: bool,
    /// Foreign cards balanced.
    pub foreign_balanced: bool,
    /// The business day it was settled on, `YYYY-MM-DD`.
    pub business_day: String,
    /// When, RFC 3339.
    pub settled_at: String,
    /// What the terminal said.
    pub terminal: Option<TotalsView>,
    /// What the host summed.
    pub host: TotalsView,
    /// How many items the terminal uploaded.
    pub uploaded: usize,
    /// Where the terminal and the host disagree (after the upload ended).
    pub differences: Vec<DifferenceView>,
}

impl BatchView {
    fn of(b: &Batch) -> BatchView {
        BatchView {
            id: b.id.clone(),
            mid: b.mid.clone(),
            tid: b.tid.clone(),
            batch: b.batch,
            status: b.status.as_str().into(),
            domestic_balanced: b.domestic_balanced,
            foreign_balanced: b.foreign_balanced,
            business_day: dashed(&b.business_day),
            settled_at: rfc3339(b.settled_at),
            terminal: b.terminal.map(Into::into),
            host: b.host.into(),
            uploaded: b.uploaded.len(),
            differences: b
                .differences
                .iter()
                .map(|d| DifferenceView {
                    stan: d.stan,
                    kind: d.kind.clone(),
                    terminal_minor: d.terminal_minor,
                    host_minor: d.host_minor,
                })
                .collect(),
        }
    }
}

/// A terminal's batch totals, to settle it over JSON as a terminal does over ISO 8583.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleBody {
    /// The open batch (or one settled before: answered as then).
    pub batch: u32,
    /// The terminal's totals.
    pub totals: TotalsView,
}

pub(crate) async fn own_device(state: &AppState, principal: &Principal, tid: &str) -> Result<Device, ApiError> {
    let device = load::<Device>(&state.store, tid).await?.ok_or_else(|| not_found("device"))?;
    may_see(principal, &device.value.mid, "device")?;
    Ok(device.value)
}

/// Settles a terminal's batch (批结算) over JSON: the host sums the batch, compares each card
/// class with the totals given, records the batch and opens the next batch number.
#[utoipa::path(post, path = "/v1/devices/{tid}/settlement", request_body = SettleBody, tag = "settlement", responses((status = 200, description = "The settled batch and the host's verdict", body = BatchView), (status = 409, description = "Not the open batch, nor one settled before")))]
pub async fn settle_batch(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
    body: JsonBody<SettleBody>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Payments)?;
    let device = own_device(&state, &principal, &tid).await?;
    let engine = engine(&state)?;
    let (open, _) = engine.current_batch(&tid).await?;
    let batch = body.value.batch;
    if batch != open && engine.batch(&tid, batch).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_open_batch",
            format!("batch {batch:06} is neither the open batch ({open:06}) nor one settled before"),
        ));
    }
    let totals = BatchTotals { domestic: body.value.totals.domestic.into(), foreign: body.value.totals.foreign.into() };
    let settled = engine.settle(&device.mid, &tid, batch, totals).await?;
    Ok(Json(BatchView::of(&settled.batch)).into_response())
}

/// A terminal's settled batch.
#[utoipa::path(get, path = "/v1/devices/{tid}/batches/{batch}", tag = "settlement", responses((status = 200, description = "The batch", body = BatchView), (status = 404, description = "Not settled, or not yours")))]
pub async fn get_batch(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((tid, batch)): Path<(String, u32)>,
) -> Result<Response, ApiError> {
    own_device(&state, &principal, &tid).await?;
    let batch = engine(&state)?.batch(&tid, batch).await?.ok_or_else(|| not_found("batch"))?;
    Ok(Json(BatchView::of(&batch.value)).into_response())
}

/// Paging of a terminal's batches.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BatchPage {
    /// The last batch number of the previous page.
    pub after: Option<u32>,
    /// At most this many (1–100, default 50).
    pub limit: Option<u32>,
}

/// A page of a terminal's batches.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchList {
    /// By batch number (a number reused after 999999 comes again in its place).
    pub batches: Vec<BatchView>,
    /// More follow: ask again with `after` = this.
    pub next_after: Option<u32>,
}

/// A terminal's settled and cut-off-closed batches, by batch number.
#[utoipa::path(get, path = "/v1/devices/{tid}/batches", tag = "settlement", params(BatchPage), responses((status = 200, description = "Batches", body = BatchList), (status = 404, description = "Not your device")))]
pub async fn list_batches(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
    Query(page): Query<BatchPage>,
) -> Result<Response, ApiError> {
    let device = own_device(&state, &principal, &tid).await?;
    let limit = page.limit.unwrap_or(50).clamp(1, 100);
    let mut query = Batch::of_terminal(&device.mid, &tid, limit);
    if let Some(after) = page.after {
        query.after = Some((after.into(), Batch::key(&tid, after)));
    }
    let found: Vec<Stored<Batch>> = select(&state.store, query).await?;
    let next_after = (found.len() == limit as usize).then(|| found.last().map(|b| b.value.batch)).flatten();
    Ok(Json(BatchList { batches: found.iter().map(|b| BatchView::of(&b.value)).collect(), next_after }).into_response())
}

/// One line of a settlement.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementLineView {
    /// Its place, from 1.
    pub seq: u32,
    /// The transaction (`GET /v1/payments/{id}`).
    pub transaction_id: String,
    /// `sale`, `completion`, `void`, `completion_void`, `refund`.
    #[serde(rename = "type")]
    pub txn_type: String,
    /// The transaction's amount.
    pub amount_minor: i64,
    /// Fee charged (positive) or returned (negative).
    pub fee_minor: i64,
    /// D0 surcharge charged or returned.
    pub surcharge_minor: i64,
    /// What it adds to the payout (negative for voids and refunds).
    pub net_minor: i64,
}

/// A merchant's cleared business day.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementView {
    /// `stl_<MID>_<YYYYMMDD>`, then `…_2`, `…_3` for a day cleared again after a run while it
    /// was open (a D0 merchant's hourly sweeps).
    pub id: String,
    /// Merchant.
    pub mid: String,
    /// The business day cleared, `YYYY-MM-DD`.
    pub business_day: String,
    /// Its number within the day (1 for most days).
    pub seq: u32,
    /// `t1` or `d0`.
    pub cycle: String,
    /// `cleared` (payout in transit) or `nothing_to_pay`.
    pub status: String,
    /// Σ sales and completions.
    pub captured_minor: i64,
    /// How many.
    pub captured_count: u32,
    /// Σ voids, completion voids and refunds.
    pub returned_minor: i64,
    /// How many.
    pub returned_count: u32,
    /// Fees charged less returned.
    pub fees_minor: i64,
    /// D0 surcharge charged less returned.
    pub surcharge_minor: i64,
    /// captured − returned − fees − surcharge.
    pub net_minor: i64,
    /// A negative balance carried in from earlier days.
    pub carried_in_minor: i64,
    /// Paid to the bound bank card: max(net + carried in, 0).
    pub payout_minor: i64,
    /// Carried to the next settlement: min(net + carried in, 0).
    pub carried_out_minor: i64,
    /// When the payout is due, `YYYY-MM-DD`.
    pub payout_date: String,
    /// When it was cleared, RFC 3339.
    pub cleared_at: String,
    /// How many lines.
    pub line_count: u32,
    /// Lines (a page of them, on `GET /v1/settlements/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<SettlementLineView>>,
    /// More lines follow: ask again with `after_seq` = this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after_seq: Option<u32>,
}

impl SettlementView {
    fn of(s: &Settlement) -> SettlementView {
        SettlementView {
            id: s.id.clone(),
            mid: s.mid.clone(),
            business_day: dashed(&s.business_day),
            seq: s.seq,
            cycle: s.cycle.as_str().into(),
            status: s.status.as_str().into(),
            captured_minor: s.captured_minor,
            captured_count: s.captured_count,
            returned_minor: s.returned_minor,
            returned_count: s.returned_count,
            fees_minor: s.fees_minor,
            surcharge_minor: s.surcharge_minor,
            net_minor: s.net_minor,
            carried_in_minor: s.carried_in_minor,
            payout_minor: s.payout_minor,
            carried_out_minor: s.carried_out_minor,
            payout_date: dashed(&s.payout_date),
            cleared_at: rfc3339(s.cleared_at),
            line_count: s.lines,
            lines: None,
            next_after_seq: None,
        }
    }
}

/// A page of settlements.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementList {
    /// Oldest first.
    pub settlements: Vec<SettlementView>,
    /// More follow: ask again with `after` = this.
    pub next_after: Option<String>,
}

/// Paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// The last id of the previous page.
    pub after: Option<String>,
    /// At most this many (1–100, default 50).
    pub limit: Option<u32>,
}

/// A page of a merchant's entities of kind `T`, oldest first, and the cursor of the next page.
async fn merchants_page<T: Entity>(
    state: &AppState,
    mid: &str,
    page: &Page,
    statuses: &[String],
) -> Result<(Vec<Stored<T>>, Option<String>), ApiError> {
    let limit = page.limit.unwrap_or(50).clamp(1, 100);
    let mut query = RecordQuery::kind(T::KIND).owner(mid);
    query.statuses = statuses.to_vec();
    query.limit = limit;
    if let Some(after) = &page.after {
        let last = load::<T>(&state.store, after).await?.filter(|s| s.value.owner() == mid).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_CURSOR, "after: not one of this list")
        })?;
        query.after = Some((last.created_at, after.clone()));
    }
    let found: Vec<Stored<T>> = list(&state.store, query).await?;
    let next_after = (found.len() == limit as usize).then(|| found.last().map(|s| s.value.id())).flatten();
    Ok((found, next_after))
}

/// Which of a merchant's settlements to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SettlementFilter {
    /// Business days from, `YYYY-MM-DD` (China time).
    pub from: Option<String>,
    /// Business days to (inclusive), `YYYY-MM-DD`.
    pub to: Option<String>,
    /// The last id of the previous page.
    pub after: Option<String>,
    /// At most this many (1–100, default 50).
    pub limit: Option<u32>,
}

/// A merchant's settlements by business day (and number within the day), oldest first.
#[utoipa::path(get, path = "/v1/merchants/{mid}/settlements", tag = "settlement", params(SettlementFilter), responses((status = 200, description = "Settlements", body = SettlementList), (status = 404, description = "Not your merchant")))]
pub async fn list_settlements(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    Query(filter): Query<SettlementFilter>,
) -> Result<Response, ApiError> {
    seen_merchant(&state, &principal, &mid).await?;
    let limit = filter.limit.unwrap_or(50).clamp(1, 100);
    let mut query = TableQuery::new(Table::Settlements).merchant(&mid).order_by("business_day").limit(limit);
    if let Some(from) = &filter.from {
        query = query.filter("business_day", Cmp::AtLeast, day_param("from", from)?);
    }
    if let Some(to) = &filter.to {
        query = query.filter("business_day", Cmp::AtMost, day_param("to", to)?);
    }
    if let Some(after) = &filter.after {
        let last = load::<Settlement>(&state.store, after).await?.filter(|s| s.value.mid == mid).ok_or_else(|| {
            ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_CURSOR, "after: not one of this list")
        })?;
        query.after = Some((last.value.business_day.into(), after.clone()));
    }
    let found: Vec<Stored<Settlement>> = select(&state.store, query).await?;
    let next_after = (found.len() == limit as usize).then(|| found.last().map(|s| s.value.id.clone())).flatten();
    Ok(Json(SettlementList { settlements: found.iter().map(|s| SettlementView::of(&s.value)).collect(), next_after })
        .into_response())
}

/// Paging of lines.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LinePage {
    /// The last `seq` of the previous page.
    pub after_seq: Option<u32>,
    /// At most this many lines (1–1000, default 1000).
    pub limit: Option<u32>,
}

/// A settlement with a page of its lines.
#[utoipa::path(get, path = "/v1/settlements/{id}", tag = "settlement", params(LinePage), responses((status = 200, description = "The settlement and its lines", body = SettlementView), (status = 404, description = "Not found, or not yours")))]
pub async fn get_settlement(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    Query(page): Query<LinePage>,
) -> Result<Response, ApiError> {
    let settlement = load::<Settlement>(&state.store, &id).await?.ok_or_else(|| not_found("settlement"))?.value;
    may_see(&principal, &settlement.mid, "settlement")?;
    let limit = page.limit.unwrap_or(1_000).clamp(1, 1_000);
    let lines =
        state.store.settlement_lines(&settlement.mid, &settlement.id, page.after_seq.unwrap_or(0), limit).await?;
    let mut view = SettlementView::of(&settlement);
    view.next_after_seq = (lines.len() == limit as usize).then(|| lines.last().map(|l| l.seq)).flatten();
    view.lines = Some(
        lines
            .into_iter()
            .map(|l| SettlementLineView {
                seq: l.seq,
                transaction_id: l.txn_id,
                txn_type: l.txn_type,
                amount_minor: l.amount_minor,
                fee_minor: l.fee_minor,
                surcharge_minor: l.surcharge_minor,
                net_minor: l.net_minor,
            })
            .collect(),
    );
    Ok(Json(view).into_response())
}

/// When a merchant is paid.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementCycleBody {
    /// `t1` (next day, the default) or `d0` (same day, +0.05 % of each transaction).
    pub settlement_cycle: String,
}

/// Sets when the merchant is paid: T+1 or D0 (its owner, a key with the manage scope, or staff).
#[utoipa::path(put, path = "/v1/merchants/{mid}/settlement-cycle", request_body = SettlementCycleBody, tag = "settlement", responses((status = 200, description = "Set; the next clearing run uses it", body = SettlementCycleBody)))]
pub async fn set_settlement_cycle(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    body: JsonBody<SettlementCycleBody>,
) -> Result<Response, ApiError> {
    let cycle = match body.value.settlement_cycle.as_str() {
        "t1" => SettlementCycle::T1,
        "d0" => SettlementCycle::D0,
        other => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::INVALID_REQUEST,
                format!("settlement_cycle: {other:?} is not t1 or d0"),
            ));
        }
    };
    may_see(&principal, &mid, "merchant")?;
    let merchant = state.merchants.set_settlement_cycle(&principal, &mid, cycle).await?;
    Ok(Json(SettlementCycleBody { settlement_cycle: merchant.value.settlement_cycle.as_str().into() }).into_response())
}

/// A clearing run to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearingRunBody {
    /// The business day to clear, `YYYY-MM-DD` (China time).
    pub business_day: String,
}

/// What a clearing run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClearingRunView {
    /// The business day, `YYYY-MM-DD`.
    pub business_day: String,
    /// Merchants looked at.
    pub merchants: u64,
    /// Settlements this run made.
    pub cleared: u64,
    /// Settlements made before (a run again changes nothing).
    pub already_cleared: u64,
    /// Lines written.
    pub lines: u64,
    /// Σ payouts made by this run.
    pub payout_minor: i64,
    /// Σ fees of its settlements.
    pub fees_minor: i64,
    /// Σ D0 surcharges of its settlements.
    pub surcharge_minor: i64,
}

/// Clears a business day for every merchant (staff with the finance role). Running it again
/// changes nothing.
#[utoipa::path(post, path = "/v1/clearing-runs", request_body = ClearingRunBody, tag = "settlement", responses((status = 200, description = "The run's summary", body = ClearingRunView), (status = 403, description = "Not finance staff")))]
pub async fn run_clearing(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<ClearingRunBody>,
) -> Result<Response, ApiError> {
    principal.require(Role::Finance)?;
    let day = day_of("business_day", &body.value.business_day)?;
    let report = engine(&state)?.clear_day(&day, &|_, _| {}).await?;
    Ok(Json(ClearingRunView {
        business_day: dashed(&report.business_day),
        merchants: report.merchants,
        cleared: report.cleared,
        already_cleared: report.already_cleared,
        lines: report.lines,
        payout_minor: report.payout_minor,
        fees_minor: report.fees_minor,
        surcharge_minor: report.surcharge_minor,
    })
    .into_response())
}

/// One attempt to pay.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// `<payout id>-<n>`: the order id the bank executes once.
    pub id: String,
    /// The card it went to, masked.
    pub card_number: String,
    /// When it was sent, RFC 3339.
    pub at: String,
    /// `sending`, `paid` or `failed`.
    pub outcome: String,
    /// The bank's reference (paid) or refusal code (failed): `account_closed`, `name_mismatch`.
    pub detail: Option<String>,
}

/// A settlement's payout to the merchant's bank card.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutView {
    /// `po_<settlement id>`, or `po_dep_<TID>` for a deposit refund.
    pub id: String,
    /// Merchant.
    pub mid: String,
    /// `settlement` (a cleared day's net) or `deposit_refund` (a device deposit paid back).
    pub purpose: String,
    /// The settlement it pays (or `dep_<TID>`, the deposit it refunds).
    pub settlement_id: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Due on, `YYYY-MM-DD`.
    pub payout_date: String,
    /// `scheduled`, `sending` (the bank's answer awaited), `paid`, or `failed` (the money is back
    /// on the merchant's balance; change the settlement card and it is paid again).
    pub status: String,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptView>,
}

impl PayoutView {
    fn of(p: &xingtong_payments::payouts::Payout) -> PayoutView {
        PayoutView {
            id: p.id.clone(),
            mid: p.mid.clone(),
            purpose: p.purpose.as_str().into(),
            settlement_id: p.settlement_id.clone(),
            amount_minor: p.amount_minor,
            payout_date: dashed(&p.payout_date),
            status: p.status.as_str().into(),
            attempts: p
                .attempts
                .iter()
                .map(|a| AttemptView {
                    id: a.id.clone(),
                    card_number: a.card_masked.clone(),
                    at: rfc3339(a.at),
                    outcome: a.outcome.clone(),
                    detail: a.detail.clone(),
                })
                .collect(),
        }
    }
}

/// A page of payouts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutList {
    /// Oldest first.
    pub payouts: Vec<PayoutView>,
    /// More follow: ask again with `after` = this.
    pub next_after: Option<String>,
}

/// Which of a merchant's payouts to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PayoutFilter {
    /// Comma-separated statuses: `scheduled`, `sending`, `paid`, `failed`.
    pub status: Option<String>,
    /// The last id of the previous page.
    pub after: Option<String>,
    /// At most this many (1–100, default 50).
    pub limit: Option<u32>,
}

/// A merchant's payouts, oldest first.
#[utoipa::path(get, path = "/v1/merchants/{mid}/payouts", tag = "settlement", params(PayoutFilter), responses((status = 200, description = "Payouts", body = PayoutList), (status = 404, description = "Not your merchant")))]
pub async fn list_payouts(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    Query(filter): Query<PayoutFilter>,
) -> Result<Response, ApiError> {
    seen_merchant(&state, &principal, &mid).await?;
    let statuses = statuses_param(filter.status.as_deref(), &["scheduled", "sending", "paid", "failed"])?;
    let page = Page { after: filter.after, limit: filter.limit };
    let (found, next_after) =
        merchants_page::<xingtong_payments::payouts::Payout>(&state, &mid, &page, &statuses).await?;
    Ok(Json(PayoutList { payouts: found.iter().map(|p| PayoutView::of(&p.value)).collect(), next_after })
        .into_response())
}

/// One payout.
#[utoipa::path(get, path = "/v1/payouts/{id}", tag = "settlement", responses((status = 200, description = "The payout", body = PayoutView), (status = 404, description = "Not found, or not yours")))]
pub async fn get_payout(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let payout = engine(&state)?.payout(&id).await?.ok_or_else(|| not_found("payout"))?.value;
    may_see(&principal, &payout.mid, "payout")?;
    Ok(Json(PayoutView::of(&payout)).into_response())
}

/// A payout run to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutRunBody {
    /// Pay what is due on this day, `YYYY-MM-DD`; default: today (China time).
    pub date: Option<String>,
}

/// What a payout run did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutRunView {
    /// Payouts looked at.
    pub looked_at: u64,
    /// Paid by this run.
    pub paid: u64,
    /// Σ paid, minor units.
    pub paid_minor: i64,
    /// Failed in this run.
    pub failed: u64,
    /// Sent again after the merchant changed a failed card.
    pub retried: u64,
    /// Still without the bank's answer.
    pub unknown: u64,
}

/// Pays what is due (staff with the finance role); what `serve` also does every minute.
#[utoipa::path(post, path = "/v1/payout-runs", request_body = PayoutRunBody, tag = "settlement", responses((status = 200, description = "The run's summary", body = PayoutRunView), (status = 403, description = "Not finance staff")))]
pub async fn run_payouts(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<PayoutRunBody>,
) -> Result<Response, ApiError> {
    principal.require(Role::Finance)?;
    let engine = engine(&state)?;
    let day = match &body.value.date {
        Some(date) => day_of("date", date)?,
        None => engine.clock().business_day(),
    };
    let bank = xingtong_payments::bank::SandboxBank::new(state.store.clone());
    let r = engine.run_payouts(&bank, &day).await?;
    Ok(Json(PayoutRunView {
        looked_at: r.looked_at,
        paid: r.paid,
        paid_minor: r.paid_minor,
        failed: r.failed,
        retried: r.retried,
        unknown: r.unknown,
    })
    .into_response())
}

/// How the sandbox settlement bank treats payouts to a card.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxBankAccountBody {
    /// The card or account number payouts go to.
    pub card_number: String,
    /// `open` (paid) or `closed` (fails `account_closed`).
    pub state: String,
    /// When set, payouts to another holder name fail `name_mismatch`.
    pub holder: Option<String>,
    /// The next this-many payouts are executed with their answer lost (outcome unknown until asked).
    #[serde(default)]
    pub lose_answers: u32,
}

/// Sets a sandbox bank account's behaviour (staff): to test failed, mismatched and unanswered payouts.
#[utoipa::path(post, path = "/v1/sandbox/bank-accounts", request_body = SandboxBankAccountBody, tag = "settlement", responses((status = 200, description = "Set", body = SandboxBankAccountBody), (status = 403, description = "Not staff")))]
pub async fn set_sandbox_bank_account(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<SandboxBankAccountBody>,
) -> Result<Response, ApiError> {
    if !principal.is_staff() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, "sandbox bank accounts are set by staff"));
    }
    let b = body.value;
    if b.state != "open" && b.state != "closed" {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, codes::INVALID_REQUEST, "state: open or closed"));
    }
    if b.card_number.len() < 12 || b.card_number.len() > 19 || !b.card_number.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::INVALID_REQUEST,
            "card_number: 12 to 19 digits",
        ));
    }
    let account = xingtong_payments::bank::SandboxAccount {
        card_number: b.card_number.clone(),
        state: b.state.clone(),
        holder: b.holder.clone(),
        lose_answers: b.lose_answers,
    };
    xingtong_payments::bank::SandboxBank::new(state.store.clone()).set_account(account).await?;
    Ok(Json(SandboxBankAccountBody {
        card_number: xingtong_crypto::mask_pan(&b.card_number),
        state: b.state,
        holder: b.holder,
        lose_answers: b.lose_answers,
    })
    .into_response())
}

/// Which of a merchant's transactions to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TransactionFilter {
    /// Business days from, `YYYY-MM-DD` (China time).
    pub from: Option<String>,
    /// Business days to (inclusive), `YYYY-MM-DD`.
    pub to: Option<String>,
    /// Comma-separated statuses: `approved`, `declined`, `voided`, `reversed`, `completed`,
    /// `pending` (a QR payment still waiting for its wallet or its customer).
    pub status: Option<String>,
    /// Only this terminal's.
    pub tid: Option<String>,
    /// Comma-separated payment methods: `card`, `wechat`, `alipay`, `unionpay_qr`.
    pub method: Option<String>,
    /// Comma-separated cashiers (operator numbers, `00`–`99`).
    pub operator: Option<String>,
    /// Comma-separated business types the cashier chose: `sale`, `collection`, `purchase`.
    pub business_type: Option<String>,
    /// Comma-separated transaction types: `sale`, `void`, `refund`, `pre_authorization`,
    /// `pre_authorization_void`, `completion`, `completion_void`, `balance_inquiry`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub txn_type: Option<String>,
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<u32>,
}

/// A page of transactions.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionList {
    /// In (business day, id) order.
    pub transactions: Vec<crate::payments::TransactionView>,
    /// More follow: ask again with `after` = this.
    pub next_after: Option<String>,
}

/// A merchant's card transactions by business day, from the typed table (the merchant's own, or
/// staff).
#[utoipa::path(get, path = "/v1/merchants/{mid}/transactions", tag = "settlement", params(TransactionFilter), responses((status = 200, description = "Transactions", body = TransactionList), (status = 404, description = "Not your merchant")))]
pub async fn list_transactions(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    Query(filter): Query<TransactionFilter>,
) -> Result<Response, ApiError> {
    seen_merchant(&state, &principal, &mid).await?;
    let day = |field: &str, value: &Option<String>| value.as_deref().map(|d| day_param(field, d)).transpose();
    let after = match &filter.after {
        None => None,
        Some(cursor) => Some(
            cursor
                .split_once('_')
                .filter(|(day, id)| xingtong_payments::clearing::valid_day(day) && !id.is_empty())
                .map(|(day, id)| (day.to_owned(), id.to_owned()))
                .ok_or_else(|| {
                    ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_CURSOR, "after: not a cursor of this list")
                })?,
        ),
    };
    let query = xingtong_store::TxnQuery {
        merchant: Some(mid.clone()),
        day_from: day("from", &filter.from)?,
        day_to: day("to", &filter.to)?,
        statuses: statuses_param(
            filter.status.as_deref(),
            &["approved", "declined", "voided", "reversed", "completed", "pending"],
        )?,
        terminal: filter.tid.clone(),
        methods: list_param("method", filter.method.as_deref(), &["card", "wechat", "alipay", "unionpay_qr"])?,
        operators: operators_param(filter.operator.as_deref())?,
        business_types: list_param(
            "business_type",
            filter.business_type.as_deref(),
            &["sale", "collection", "purchase"],
        )?,
        types: list_param(
            "type",
            filter.txn_type.as_deref(),
            &[
                "sale",
                "void",
                "refund",
                "pre_authorization",
                "pre_authorization_void",
                "completion",
                "completion_void",
                "balance_inquiry",
            ],
        )?,
        after,
        limit: filter.limit.unwrap_or(100).clamp(1, 1_000),
        ..xingtong_store::TxnQuery::default()
    };
    let limit = query.limit as usize;
    let rows = state.store.transactions(query).await?;
    let next_after = (rows.len() == limit)
        .then(|| rows.last().map(|r| format!("{}_{}", r.columns.business_day, r.record.id)))
        .flatten();
    let mut transactions = Vec::with_capacity(rows.len());
    for row in rows {
        let txn = Stored::<xingtong_payments::txn::CardTransaction>::decode(row.record)?.value;
        transactions.push(crate::payments::transaction_view(&txn));
    }
    Ok(Json(TransactionList { transactions, next_after }).into_response())
}

/// A fee schedule (merchant discount rates, parts per million: 5,000 = 0.50 %).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeesView {
    /// Debit cards.
    pub debit_ppm: u32,
    /// Debit cards: at most this per transaction, minor units.
    pub debit_cap_minor: i64,
    /// Credit cards.
    pub credit_ppm: u32,
    /// QR payments.
    pub qr_ppm: u32,
    /// Added for D0 settlement.
    pub d0_extra_ppm: u32,
}

impl From<xingtong_onboarding::terms::FeeSchedule> for FeesView {
    fn from(f: xingtong_onboarding::terms::FeeSchedule) -> FeesView {
        FeesView {
            debit_ppm: f.debit_ppm,
            debit_cap_minor: f.debit_cap_minor,
            credit_ppm: f.credit_ppm,
            qr_ppm: f.qr_ppm,
            d0_extra_ppm: f.d0_extra_ppm,
        }
    }
}

/// A fee schedule announced for a day.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeChangeView {
    /// In force from, `YYYY-MM-DD`.
    pub effective_date: String,
    /// The schedule from that day.
    pub fees: FeesView,
    /// When it was announced, RFC 3339.
    pub announced_at: String,
}

/// A merchant's fees: in force today, as given at approval, and every change announced.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeScheduleView {
    /// Merchant.
    pub mid: String,
    /// In force today (China time).
    pub current: FeesView,
    /// As given at approval.
    pub initial: FeesView,
    /// Every change announced, past and coming, oldest first.
    pub changes: Vec<FeeChangeView>,
}

fn fee_schedule_view(m: &xingtong_merchants::merchant::Merchant) -> FeeScheduleView {
    FeeScheduleView {
        mid: m.mid.clone(),
        current: m.fees_on(&xingtong_payments::clock::business_day()).into(),
        initial: m.terms.fees.into(),
        changes: m
            .fee_changes
            .iter()
            .map(|c| FeeChangeView {
                effective_date: dashed(&c.effective_day),
                fees: c.fees.into(),
                announced_at: rfc3339(c.announced_at),
            })
            .collect(),
    }
}

/// A merchant's fee schedule and its announced changes (the merchant's own, or staff).
#[utoipa::path(get, path = "/v1/merchants/{mid}/fee-schedule", tag = "settlement", responses((status = 200, description = "Fees in force and announced", body = FeeScheduleView), (status = 404, description = "Not your merchant")))]
pub async fn get_fee_schedule(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
) -> Result<Response, ApiError> {
    may_see(&principal, &mid, "merchant")?;
    let merchant = state.merchants.merchant(&principal, &mid).await?;
    Ok(Json(fee_schedule_view(&merchant.value)).into_response())
}

/// A merchant's limits, minor units. Exceeding one declines the transaction (CUP `61`; `65`
/// for frequency).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsBody {
    /// Per transaction.
    pub per_transaction_minor: i64,
    /// Per day, every payment method.
    pub daily_minor: i64,
    /// Credit-card receipts per day; `null` for none.
    pub credit_daily_minor: Option<i64>,
    /// Credit-card receipts per month; `null` for none.
    pub credit_monthly_minor: Option<i64>,
    /// Static QR: per payer per day.
    pub static_qr_per_payer_daily_minor: i64,
}

/// Sets a merchant's limits (staff, risk role): in force within a second, audited with the old
/// and new limits. Answers the limits now in force.
#[utoipa::path(put, path = "/v1/merchants/{mid}/limits", request_body = LimitsBody, tag = "settlement", responses((status = 200, description = "Set", body = LimitsBody), (status = 403, description = "Not risk staff"), (status = 422, description = "invalid_limits: not positive, or a day's below a transaction's, a month's below a day's")))]
pub async fn set_limits(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    body: JsonBody<LimitsBody>,
) -> Result<Response, ApiError> {
    let b = body.value;
    let limits = xingtong_onboarding::terms::Limits {
        per_transaction_minor: b.per_transaction_minor,
        daily_minor: b.daily_minor,
        credit_daily_minor: b.credit_daily_minor,
        credit_monthly_minor: b.credit_monthly_minor,
        static_qr_per_payer_daily_minor: b.static_qr_per_payer_daily_minor,
    };
    let merchant = state.merchants.set_limits(&principal, &mid, limits).await?.value;
    let l = merchant.terms.limits;
    Ok(Json(LimitsBody {
        per_transaction_minor: l.per_transaction_minor,
        daily_minor: l.daily_minor,
        credit_daily_minor: l.credit_daily_minor,
        credit_monthly_minor: l.credit_monthly_minor,
        static_qr_per_payer_daily_minor: l.static_qr_per_payer_daily_minor,
    })
    .into_response())
}

/// A new fee schedule to announce.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeChangeBody {
    /// In force from this day, `YYYY-MM-DD`: at least 30 days after today (China time).
    pub effective_date: String,
    /// The schedule from that day.
    pub fees: FeesView,
}

/// A new fee schedule for every merchant of a business type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeFeeChangeBody {
    /// `individual`, `individual_business` or `enterprise`.
    #[schema(value_type = String)]
    pub business_type: xingtong_onboarding::application::BusinessType,
    /// In force from this day, `YYYY-MM-DD`: at least 30 days after today (China time).
    pub effective_date: String,
    /// The schedule from that day.
    pub fees: FeesView,
}

/// What an announcement to a business type reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct TypeFeeChangeView {
    /// The business type.
    pub business_type: String,
    /// `YYYY-MM-DD`.
    pub effective_date: String,
    /// Merchants of that type.
    pub merchants: u64,
    /// Of them, those told by this request (0 when the same change was announced before).
    pub newly_told: u64,
}

fn fee_schedule_of(f: FeesView) -> xingtong_onboarding::terms::FeeSchedule {
    xingtong_onboarding::terms::FeeSchedule {
        debit_ppm: f.debit_ppm,
        debit_cap_minor: f.debit_cap_minor,
        credit_ppm: f.credit_ppm,
        qr_ppm: f.qr_ppm,
        d0_extra_ppm: f.d0_extra_ppm,
    }
}

/// Announces new fees to every merchant of a business type (staff, finance role): the same rules
/// as for one merchant (at least 30 days ahead, each merchant told, the old fees until the day),
/// audited per merchant and for the type. Sent again, it tells nobody twice (`newly_told` 0).
#[utoipa::path(post, path = "/v1/fee-changes", request_body = TypeFeeChangeBody, tag = "settlement", responses((status = 201, description = "Announced", body = TypeFeeChangeView), (status = 422, description = "Too soon (fee_change_too_soon), or rates out of range")))]
pub async fn announce_type_fee_change(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<TypeFeeChangeBody>,
) -> Result<Response, ApiError> {
    let day = day_of("effective_date", &body.value.effective_date)?;
    let b = body.value;
    let (merchants, newly_told) = state
        .merchants
        .announce_fee_change_for_type(
            &principal,
            b.business_type,
            &day,
            fee_schedule_of(b.fees),
            &xingtong_payments::clock::business_day(),
        )
        .await?;
    let business_type =
        serde_json::to_value(b.business_type).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(TypeFeeChangeView { business_type, effective_date: dashed(&day), merchants, newly_told }),
    )
        .into_response())
}

/// Announces a merchant's new fees (staff, finance role): in force no earlier than 30 days later;
/// the merchant is told at once; the old fees apply until that day. Audited.
#[utoipa::path(post, path = "/v1/merchants/{mid}/fee-changes", request_body = FeeChangeBody, tag = "settlement", responses((status = 201, description = "Announced", body = FeeScheduleView), (status = 422, description = "Too soon (fee_change_too_soon), or rates out of range")))]
pub async fn announce_fee_change(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    body: JsonBody<FeeChangeBody>,
) -> Result<Response, ApiError> {
    let day = day_of("effective_date", &body.value.effective_date)?;
    let fees = fee_schedule_of(body.value.fees);
    let merchant = state
        .merchants
        .announce_fee_change(&principal, &mid, &day, fees, &xingtong_payments::clock::business_day())
        .await?;
    Ok((StatusCode::CREATED, Json(fee_schedule_view(&merchant.value))).into_response())
}

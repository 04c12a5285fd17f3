//! Reconciliation (对账) over JSON, for staff: run a business day against the network's clearing
//! file (or a file given in the request), read the report; and, in the sandbox, read the
//! network's file and inject discrepancies into it.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use xingtong_merchants::identity::Role;
use xingtong_payments::recon::{ClearingFile, FaultKind, Reconciliation, Source};

use crate::AppState;
use crate::error::{ApiError, codes};
use crate::extract::{JsonBody, Path, Query};
use crate::onboarding::Auth;
use crate::settlements::{dashed, day_of, day_param, engine, not_found};
use crate::time::rfc3339;

/// A discrepancy between the host and the network, with what to do.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconItemView {
    /// `host_only` (短款: the network's file lacks it), `network_only` (长款: the host lacks it or
    /// reversed it) or `amount_mismatch` (金额不符).
    pub class: String,
    /// The transaction, `<TID>-<batch>-<STAN>`.
    pub transaction_id: String,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// `sale`, `completion`, `void`, `completion_void` or `refund`.
    #[serde(rename = "type")]
    pub txn_type: String,
    /// The host's status of it (`approved`, `voided`, `reversed` …), or `none`.
    pub host_status: String,
    /// The host's amount, when the host settles it.
    pub host_minor: Option<i64>,
    /// The network's amount, when its file has it.
    pub network_minor: Option<i64>,
    /// network − host.
    pub difference_minor: i64,
    /// Retrieval reference number.
    pub rrn: String,
    /// What to do, in English.
    pub action_en: String,
    /// What to do, in Chinese.
    pub action_zh: String,
}

/// A business day's reconciliation report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReconciliationView {
    /// `rec_<YYYYMMDD>` (cards), `rec_<wallet>_<YYYYMMDD>` (a wallet).
    pub id: String,
    /// Whose file: `card`, `wechat`, `alipay` or `unionpay_qr`.
    pub source: &'static str,
    /// `YYYY-MM-DD`.
    pub business_day: String,
    /// `balanced` or `discrepancies`.
    pub status: String,
    /// The clearing file's name.
    pub file_name: String,
    /// SHA-256 of the file (hex).
    pub file_sha256: String,
    /// Detail lines in the file.
    pub network_lines: u64,
    /// Host transactions the network should settle.
    pub host_lines: u64,
    /// Matched.
    pub matched: u64,
    /// Σ matched, minor units.
    pub matched_minor: i64,
    /// How many `host_only`.
    pub host_only: u64,
    /// How many `network_only`.
    pub network_only: u64,
    /// How many `amount_mismatch`.
    pub amount_mismatches: u64,
    /// Every discrepancy, by transaction id.
    pub items: Vec<ReconItemView>,
    /// 1, then one more each time a run of the day found a different result (a corrected file, or
    /// new faults in the sandbox); each version is in the audit log (`reconciliation.run`).
    pub version: u32,
    /// When it was computed, RFC 3339.
    pub run_at: String,
}

impl ReconciliationView {
    fn of(r: &Reconciliation) -> ReconciliationView {
        ReconciliationView {
            id: r.id.clone(),
            source: r.source.as_str(),
            business_day: dashed(&r.business_day),
            status: r.status.clone(),
            file_name: r.file_name.clone(),
            file_sha256: r.file_sha256.clone(),
            network_lines: r.network_lines,
            host_lines: r.host_lines,
            matched: r.matched,
            matched_minor: r.matched_minor,
            host_only: r.host_only,
            network_only: r.network_only,
            amount_mismatches: r.amount_mismatches,
            items: r
                .items
                .iter()
                .map(|i| ReconItemView {
                    class: serde_json::to_value(i.class)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    transaction_id: i.txn_id.clone(),
                    mid: i.mid.clone(),
                    tid: i.tid.clone(),
                    txn_type: i.txn_type.clone(),
                    host_status: i.host_status.clone(),
                    host_minor: i.host_minor,
                    network_minor: i.network_minor,
                    difference_minor: i.difference_minor,
                    rrn: i.rrn.clone(),
                    action_en: i.action_en.clone(),
                    action_zh: i.action_zh.clone(),
                })
                .collect(),
            version: r.version.max(1),
            run_at: rfc3339(r.run_at),
        }
    }
}

fn staff_only(principal: &xingtong_merchants::Principal) -> Result<(), ApiError> {
    if principal.is_staff() {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, codes::FORBIDDEN, "reconciliation is for operations staff"))
    }
}

/// Which day to reconcile, and optionally the file.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationRunBody {
    /// `YYYY-MM-DD`; default yesterday (China time).
    pub date: Option<String>,
    /// A clearing file's text (docs/settlement.md §6); default: the network's own file of the day.
    pub file: Option<String>,
    /// The file's name, with `file`.
    pub file_name: Option<String>,
    /// Whose payments: `card` (default: the card network's clearing file), or a wallet's
    /// (`wechat`, `alipay`, `unionpay_qr`: its daily bill file).
    pub source: Option<String>,
}

/// Which source a report or file is of.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SourceParam {
    /// `card` (default), `wechat`, `alipay` or `unionpay_qr`.
    pub source: Option<String>,
}

fn source_of(value: Option<&str>, status: StatusCode, code: &'static str) -> Result<Source, ApiError> {
    match value {
        None => Ok(Source::Card),
        Some(text) => Source::parse(text)
            .ok_or_else(|| ApiError::new(status, code, "source: card, wechat, alipay or unionpay_qr")),
    }
}

/// Reconciles a business day (staff, finance role): the report is stored once; the same file
/// again answers the same report.
#[utoipa::path(post, path = "/v1/reconciliation-runs", request_body = ReconciliationRunBody, tag = "settlement", responses((status = 200, description = "The report", body = ReconciliationView), (status = 403, description = "Not finance staff"), (status = 409, description = "The network's file is not there yet (no_clearing_file)"), (status = 422, description = "A malformed file (invalid_clearing_file)")))]
pub async fn run_reconciliation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<ReconciliationRunBody>,
) -> Result<Response, ApiError> {
    principal.require(Role::Finance)?;
    let engine = engine(&state)?;
    let day = match &body.value.date {
        Some(date) => day_of("date", date)?,
        None => engine.clock().yesterday(),
    };
    let file = body.value.file.clone().map(|text| ClearingFile {
        name: body.value.file_name.clone().unwrap_or_else(|| format!("upload_{day}.txt")),
        text,
    });
    let source = source_of(body.value.source.as_deref(), StatusCode::UNPROCESSABLE_ENTITY, codes::INVALID_REQUEST)?;
    let report = engine.reconcile_source(source, &day, file, &principal.actor()).await?;
    Ok(Json(ReconciliationView::of(&report)).into_response())
}

/// A business day's reconciliation report (staff).
#[utoipa::path(get, path = "/v1/reconciliations/{date}", tag = "settlement", params(SourceParam), responses((status = 200, description = "The report", body = ReconciliationView), (status = 404, description = "Not reconciled yet")))]
pub async fn get_reconciliation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(date): Path<String>,
    Query(param): Query<SourceParam>,
) -> Result<Response, ApiError> {
    staff_only(&principal)?;
    let day = day_param("date", &date)?;
    let source = source_of(param.source.as_deref(), StatusCode::BAD_REQUEST, codes::INVALID_PARAMETER)?;
    let report = engine(&state)?.reconciliation_of(source, &day).await?.ok_or_else(|| not_found("reconciliation"))?;
    Ok(Json(ReconciliationView::of(&report)).into_response())
}

/// The sandbox network's clearing file of a business day, as text (staff).
#[utoipa::path(get, path = "/v1/sandbox/clearing-files/{date}", tag = "settlement", params(SourceParam), responses((status = 200, description = "The file", body = String, content_type = "text/plain"), (status = 403, description = "Not staff")))]
pub async fn get_clearing_file(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(date): Path<String>,
    Query(param): Query<SourceParam>,
) -> Result<Response, ApiError> {
    staff_only(&principal)?;
    let day = day_param("date", &date)?;
    let source = source_of(param.source.as_deref(), StatusCode::BAD_REQUEST, codes::INVALID_PARAMETER)?;
    let file = engine(&state)?.source_file(source, &day).await?.ok_or_else(|| not_found("clearing file"))?;
    let disposition = format!("inline; filename=\"{}\"", file.name);
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        file.text,
    )
        .into_response())
}

/// A discrepancy to inject into the sandbox network's clearing file.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearingFaultBody {
    /// The host transaction, `<TID>-<batch>-<STAN>`.
    pub transaction_id: String,
    /// `omit` (the network never saw it: host only), `late_approval` (the network approved a sale
    /// the host reversed: network only) or `amount` (the network's amount differs by `delta_minor`).
    pub kind: String,
    /// For `amount`: added to the network's amount (minor units, non-zero).
    #[serde(default)]
    pub delta_minor: i64,
}

/// Injects a discrepancy into the sandbox network's clearing file of the transaction's day (staff).
#[utoipa::path(post, path = "/v1/sandbox/clearing-faults", request_body = ClearingFaultBody, tag = "settlement", responses((status = 200, description = "Injected", body = ClearingFaultBody), (status = 422, description = "It cannot apply to that transaction (fault_does_not_apply)")))]
pub async fn inject_clearing_fault(
    State(state): State<AppState>,
    Auth(principal): Auth,
    body: JsonBody<ClearingFaultBody>,
) -> Result<Response, ApiError> {
    staff_only(&principal)?;
    let kind = match body.value.kind.as_str() {
        "omit" => FaultKind::Omit,
        "late_approval" => FaultKind::LateApproval,
        "amount" => FaultKind::Amount,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                codes::INVALID_REQUEST,
                "kind: omit, late_approval or amount",
            ));
        }
    };
    let engine = engine(&state)?;
    let b = &body.value;
    xingtong_payments::recon::inject_fault(engine.store(), &b.transaction_id, kind, b.delta_minor, &principal.actor())
        .await?;
    Ok(Json(ClearingFaultBody {
        transaction_id: b.transaction_id.clone(),
        kind: b.kind.clone(),
        delta_minor: b.delta_minor,
    })
    .into_response())
}

//! `/v1/merchants/{mid}/reports/sales`, `/reports/collections` and `/reports/settlements`: the
//! sales report (销售报表), the collection report (收款报表) and the settlement report (结算报表) a
//! merchant, its keys and staff read, the same ones the merchant console shows and `xingtong admin
//! report sales|collections|settlements` prints.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use xingtong_payments::reports::{By, Line, Period, Report};

use crate::AppState;
use crate::error::{ApiError, codes};
use crate::extract::{Path, Query};
use crate::onboarding::Auth;
use crate::settlements::{day_param, seen_merchant};

/// The longest report: a year and a day of business days.
pub const REPORT_DAYS_MAX: i64 = 366;

/// Which report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// First business day, `YYYY-MM-DD` (China time).
    pub from: String,
    /// Last business day (inclusive), `YYYY-MM-DD`; at most 366 days after `from`.
    pub to: String,
    /// `day` (default), `week` (ISO weeks, Monday to Sunday) or `month`.
    pub period: Option<String>,
    /// `total` (default), `terminal`, `cashier`, `method` or `business_type`.
    pub by: Option<String>,
}

/// One line of a report: a period (and a key when split) and its sums. Amounts are minor units.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportLineView {
    /// `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`; empty on the totals line.
    pub period: String,
    /// The terminal, cashier, method or business type the line is of; empty when not split (and
    /// for a cashier or business type that transactions of earlier releases did not keep).
    pub key: String,
    /// Sales and completions that were approved (voided ones included).
    pub sales_count: i64,
    /// Their amount.
    pub sales_minor: i64,
    /// Voids.
    pub voids_count: i64,
    /// Their amount.
    pub voids_minor: i64,
    /// Refunds.
    pub refunds_count: i64,
    /// Their amount.
    pub refunds_minor: i64,
    /// Fees: of the sales still approved, less what refunds gave back.
    pub fees_minor: i64,
    /// `sales − voids − refunds − fees`: what the merchant is owed for them.
    pub net_minor: i64,
    /// Declined requests.
    pub declined_count: i64,
}

impl ReportLineView {
    fn of(line: &Line) -> ReportLineView {
        ReportLineView {
            period: line.period.clone(),
            key: line.key.clone(),
            sales_count: line.sales_count,
            sales_minor: line.sales_minor,
            voids_count: line.voids_count,
            voids_minor: line.voids_minor,
            refunds_count: line.refunds_count,
            refunds_minor: line.refunds_minor,
            fees_minor: line.fees_minor,
            net_minor: line.net_minor,
            declined_count: line.declined_count,
        }
    }
}

/// A sales report.
#[derive(Debug, Serialize, ToSchema)]
pub struct SalesReportView {
    /// The merchant.
    pub mid: String,
    /// First business day.
    pub from: String,
    /// Last business day.
    pub to: String,
    /// `day`, `week` or `month`.
    pub period: &'static str,
    /// `total`, `terminal`, `cashier`, `method` or `business_type`.
    pub by: &'static str,
    /// Always `CNY`.
    pub currency: &'static str,
    /// In (period, key) order; periods with nothing are left out.
    pub lines: Vec<ReportLineView>,
    /// The sums of every line.
    pub totals: ReportLineView,
    /// Approved sales and completions by hour of the day (China time): 24 entries, 0 to 23.
    pub hours: Vec<HourView>,
}

/// An hour of the day's approved sales and completions over the report's range.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourView {
    /// 0 to 23, China time.
    pub hour: u8,
    /// How many.
    pub count: i64,
    /// Their amount, minor units.
    pub amount_minor: i64,
}

impl SalesReportView {
    /// How a report looks over JSON.
    pub fn of(report: &Report) -> SalesReportView {
        SalesReportView {
            mid: report.mid.clone(),
            from: report.from.clone(),
            to: report.to.clone(),
            period: report.period.as_str(),
            by: report.by.as_str(),
            currency: "CNY",
            lines: report.lines.iter().map(ReportLineView::of).collect(),
            totals: ReportLineView::of(&report.totals),
            hours: report
                .hours
                .iter()
                .map(|h| HourView { hour: h.hour, count: h.count, amount_minor: h.amount_minor })
                .collect(),
        }
    }
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_PARAMETER, message)
}

/// The report's parameters checked: days as `YYYYMMDD`, the period and the split.
pub fn parse_query(query: &ReportQuery) -> Result<(String, String, Period, By), ApiError> {
    let from = day_param("from", &query.from)?;
    let to = day_param("to", &query.to)?;
    let span = xingtong_payments::reports::days_between(&from, &to);
    if span < 0 {
        return Err(bad("to: before from".into()));
    }
    if span >= REPORT_DAYS_MAX {
        return Err(bad(format!("to: at most {REPORT_DAYS_MAX} days of business in one report")));
    }
    let period = match query.period.as_deref() {
        None => Period::Day,
        Some(p) => Period::parse(p).ok_or_else(|| bad(format!("period: {p:?} is not day, week or month")))?,
    };
    let by = match query.by.as_deref() {
        None => By::Total,
        Some(b) => By::parse(b)
            .ok_or_else(|| bad(format!("by: {b:?} is not total, terminal, cashier, method or business_type")))?,
    };
    Ok((from, to, period, by))
}

/// A merchant's sales report: sales, voids, refunds, fees and net by day, week or month,
/// overall or by terminal, cashier, method or business type.
#[utoipa::path(get, path = "/v1/merchants/{mid}/reports/sales", tag = "settlement", params(ReportQuery), responses((status = 200, description = "The report", body = SalesReportView), (status = 404, description = "No such merchant, or not yours")))]
pub async fn sales_report(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, ApiError> {
    seen_merchant(&state, &principal, &mid).await?;
    let (from, to, period, by) = parse_query(&query)?;
    let report = xingtong_payments::reports::sales_report(&state.store, &mid, &from, &to, period, by).await?;
    Ok(Json(SalesReportView::of(&report)).into_response())
}

/// Which collection or settlement report.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// First business day, `YYYY-MM-DD` (China time).
    pub from: String,
    /// Last business day (inclusive), `YYYY-MM-DD`; at most 366 days after `from`.
    pub to: String,
    /// `day` (default), `week` (ISO weeks, Monday to Sunday) or `month`.
    pub period: Option<String>,
}

/// One line of the settlement report: a period's settlements added up. Amounts are minor units.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementReportLineView {
    /// `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`; empty on the totals line.
    pub period: String,
    /// Settlements (one a business day; a D0 merchant's sweeps add more).
    pub settlements: i64,
    /// Transactions cleared.
    pub lines: i64,
    /// Sales and completions cleared.
    pub captured_count: i64,
    /// Their amount.
    pub captured_minor: i64,
    /// Voids, completion voids and refunds cleared.
    pub returned_count: i64,
    /// Their amount.
    pub returned_minor: i64,
    /// Fees charged less fees returned.
    pub fees_minor: i64,
    /// D0 surcharges charged less returned.
    pub surcharge_minor: i64,
    /// `captured − returned − fees − surcharge`.
    pub net_minor: i64,
    /// Paid, or to be paid, to the merchant's bank card.
    pub payout_minor: i64,
    /// What the period's last settlement carried forward to the next (≤ 0).
    pub carried_forward_minor: i64,
}

impl SettlementReportLineView {
    fn of(l: &xingtong_payments::reports::SettlementLine) -> SettlementReportLineView {
        SettlementReportLineView {
            period: l.period.clone(),
            settlements: l.settlements,
            lines: l.lines,
            captured_count: l.captured_count,
            captured_minor: l.captured_minor,
            returned_count: l.returned_count,
            returned_minor: l.returned_minor,
            fees_minor: l.fees_minor,
            surcharge_minor: l.surcharge_minor,
            net_minor: l.net_minor,
            payout_minor: l.payout_minor,
            carried_forward_minor: l.carried_forward_minor,
        }
    }
}

/// A settlement report.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementReportView {
    /// The merchant.
    pub mid: String,
    /// First business day.
    pub from: String,
    /// Last business day.
    pub to: String,
    /// `day`, `week` or `month`.
    pub period: &'static str,
    /// Always `CNY`.
    pub currency: &'static str,
    /// In period order; periods without a settlement are left out.
    pub lines: Vec<SettlementReportLineView>,
    /// Every line added up; its `carried_forward_minor` is the last settlement's.
    pub totals: SettlementReportLineView,
}

impl SettlementReportView {
    /// How a settlement report looks over JSON.
    pub fn of(r: &xingtong_payments::reports::SettlementReport) -> SettlementReportView {
        SettlementReportView {
            mid: r.mid.clone(),
            from: r.from.clone(),
            to: r.to.clone(),
            period: r.period.as_str(),
            currency: "CNY",
            lines: r.lines.iter().map(SettlementReportLineView::of).collect(),
            totals: SettlementReportLineView::of(&r.totals),
        }
    }
}

/// A merchant's settlement report: its settlements by day, week or month of the business day
/// each cleared: captured, returned, fees, surcharges, net, payouts and the balance carried.
#[utoipa::path(get, path = "/v1/merchants/{mid}/reports/settlements", tag = "settlement", params(PeriodQuery), responses((status = 200, description = "The report", body = SettlementReportView), (status = 400, description = "invalid_parameter"), (status = 404, description = "No such merchant, or not yours")))]
pub async fn settlement_report(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Result<Response, ApiError> {
    seen_merchant(&state, &principal, &mid).await?;
    let as_sales = ReportQuery { from: query.from, to: query.to, period: query.period, by: None };
    let (from, to, period, _) = parse_query(&as_sales)?;
    let report = xingtong_payments::reports::settlement_report(&state.store, &mid, &from, &to, period).await?;
    Ok(Json(SettlementReportView::of(&report)).into_response())
}

/// One line of the collection report: what a payment method collected. Amounts are minor units.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionLineView {
    /// `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`; empty on the per-method and totals lines.
    pub period: String,
    /// `card`, `wechat`, `alipay` or `unionpay_qr`; empty on the totals line.
    pub method: String,
    /// Payments that stand: sales and completions approved, less those voided.
    pub count: i64,
    /// What they collected: sales − voids.
    pub collected_minor: i64,
    /// Refunds.
    pub refunds_count: i64,
    /// Their amount.
    pub refunds_minor: i64,
    /// Fees, less what refunds gave back.
    pub fees_minor: i64,
    /// `collected − refunds − fees` (the sales report's net).
    pub net_minor: i64,
}

impl CollectionLineView {
    fn of(l: &xingtong_payments::reports::CollectionLine) -> CollectionLineView {
        CollectionLineView {
            period: l.period.clone(),
            method: l.method.clone(),
            count: l.count,
            collected_minor: l.collected_minor,
            refunds_count: l.refunds_count,
            refunds_minor: l.refunds_minor,
            fees_minor: l.fees_minor,
            net_minor: l.net_minor,
        }
    }
}

/// A collection report.
#[derive(Debug, Serialize, ToSchema)]
pub struct CollectionReportView {
    /// The merchant.
    pub mid: String,
    /// First business day.
    pub from: String,
    /// Last business day.
    pub to: String,
    /// `day`, `week` or `month`.
    pub period: &'static str,
    /// Always `CNY`.
    pub currency: &'static str,
    /// In (period, method) order; a method that collected and refunded nothing in a period is left out.
    pub lines: Vec<CollectionLineView>,
    /// Each method over the whole range (`period` empty).
    pub methods: Vec<CollectionLineView>,
    /// Everything.
    pub totals: CollectionLineView,
}

/// A merchant's collection report: by day, week or month and payment method, what was collected
/// (sales less voids), refunded, charged in fees, and the net.
#[utoipa::path(get, path = "/v1/merchants/{mid}/reports/collections", tag = "settlement", params(PeriodQuery), responses((status = 200, description = "The report", body = CollectionReportView), (status = 400, description = "invalid_parameter"), (status = 404, description = "No such merchant, or not yours")))]
pub async fn collection_report(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
    Query(query): Query<PeriodQuery>,
) -> Result<Response, ApiError> {
    seen_merchant(&state, &principal, &mid).await?;
    let as_sales = ReportQuery { from: query.from, to: query.to, period: query.period, by: None };
    let (from, to, period, _) = parse_query(&as_sales)?;
    let r = xingtong_payments::reports::collection_report(&state.store, &mid, &from, &to, period).await?;
    Ok(Json(CollectionReportView {
        mid: r.mid.clone(),
        from: r.from.clone(),
        to: r.to.clone(),
        period: r.period.as_str(),
        currency: "CNY",
        lines: r.lines.iter().map(CollectionLineView::of).collect(),
        methods: r.methods.iter().map(CollectionLineView::of).collect(),
        totals: CollectionLineView::of(&r.totals),
    })
    .into_response())
}

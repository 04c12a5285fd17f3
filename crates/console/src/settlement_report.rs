//! The settlement report (结算报表) in the merchant console: a merchant's settlements added up by
//! day, ISO week or month of the business day each cleared, on a page and as CSV and XLSX. The
//! same report is `GET /v1/merchants/{mid}/reports/settlements` and `xingtong admin report
//! settlements`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use xingtong_api::AppState;
use xingtong_payments::reports::{Period, SettlementLine, settlement_report};

use crate::export::{Cell, Format, Sheet};
use crate::merchant::{Choice, ReportForm, in_range, report_spec};
use crate::{Base, Console, Ctx, Fail, dashed_day, url_encode, yuan};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/reports/settlements", get(page))
        .route("/console/reports/settlements.csv", get(|s, c, q| export(s, c, q, Format::Csv)))
        .route("/console/reports/settlements.xlsx", get(|s, c, q| export(s, c, q, Format::Xlsx)))
}

struct Row {
    period: String,
    settlements: i64,
    lines: i64,
    captured: String,
    returned: String,
    fees: String,
    net: String,
    payout: String,
    carried: String,
}

fn row(l: &SettlementLine, period: String) -> Row {
    Row {
        period,
        settlements: l.settlements,
        lines: l.lines,
        captured: yuan(l.captured_minor),
        returned: yuan(l.returned_minor),
        fees: yuan(l.fees_minor + l.surcharge_minor),
        net: yuan(l.net_minor),
        payout: yuan(l.payout_minor),
        carried: yuan(l.carried_forward_minor),
    }
}

#[derive(Template)]
#[template(path = "merchant/settlement_report.html")]
struct Page {
    base: Base,
    mids: Vec<String>,
    mid: String,
    from: String,
    to: String,
    periods: Vec<Choice>,
    rows: Vec<Row>,
    totals: Row,
    error: Option<&'static str>,
    csv_href: String,
    xlsx_href: String,
    sales_href: String,
    refunds_href: String,
}

async fn page(State(state): State<AppState>, ctx: Ctx, Query(form): Query<ReportForm>) -> Response {
    let result = async {
        let (mid, from, to, period, _) = report_spec(&state, &ctx, &form)?;
        let t = ctx.lang.text();
        let (from_dashed, to_dashed) = (dashed_day(&from), dashed_day(&to));
        let qs = format!("mid={}&from={from_dashed}&to={to_dashed}&period={}", url_encode(&mid), period.as_str());
        let mut page = Page {
            base: ctx.base(Console::Merchant, t.settlement_report),
            mids: ctx.owner()?.to_vec(),
            mid: mid.clone(),
            from: from_dashed.clone(),
            to: to_dashed.clone(),
            periods: [(Period::Day, t.period_day), (Period::Week, t.period_week), (Period::Month, t.period_month)]
                .into_iter()
                .map(|(p, label)| Choice { value: p.as_str(), label, selected: p == period })
                .collect(),
            rows: Vec::new(),
            totals: row(&SettlementLine::default(), t.total.to_owned()),
            error: None,
            csv_href: format!("/console/reports/settlements.csv?{qs}"),
            xlsx_href: format!("/console/reports/settlements.xlsx?{qs}"),
            sales_href: format!("/console/reports?{qs}"),
            refunds_href: format!(
                "/console/transactions?mid={}&from={from_dashed}&to={to_dashed}&kind=refund",
                url_encode(&mid)
            ),
        };
        if !in_range(&from, &to) {
            page.error = Some(t.report_range_refused);
            return Ok(ctx.page(StatusCode::UNPROCESSABLE_ENTITY, page.render()?));
        }
        let report = settlement_report(&state.store, &mid, &from, &to, period).await?;
        page.rows = report.lines.iter().map(|l| row(l, l.period.clone())).collect();
        page.totals = row(&report.totals, t.total.to_owned());
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

async fn export(State(state): State<AppState>, ctx: Ctx, Query(form): Query<ReportForm>, format: Format) -> Response {
    let result = async {
        let (mid, from, to, period, _) = report_spec(&state, &ctx, &form)?;
        if !in_range(&from, &to) {
            return Err(Fail::NotFound);
        }
        let t = ctx.lang.text();
        let report = settlement_report(&state.store, &mid, &from, &to, period).await?;
        let header = [t.period, t.settlements, t.lines, t.captured, t.returned, t.fee, t.net, t.payout, t.carried_out];
        let mut sheet = Sheet {
            name: format!("settlements-{mid}-{from}-{to}"),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        };
        let totals = (t.total.to_owned(), &report.totals);
        for (period, l) in report.lines.iter().map(|l| (l.period.clone(), l)).chain(std::iter::once(totals)) {
            sheet.rows.push(vec![
                Cell::Text(period),
                Cell::Count(l.settlements),
                Cell::Count(l.lines),
                Cell::Money(l.captured_minor),
                Cell::Money(l.returned_minor),
                Cell::Money(l.fees_minor + l.surcharge_minor),
                Cell::Money(l.net_minor),
                Cell::Money(l.payout_minor),
                Cell::Money(l.carried_forward_minor),
            ]);
        }
        sheet.response(format)
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

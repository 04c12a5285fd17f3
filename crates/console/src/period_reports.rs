//! The collection report (收款报表) and the settlement report (结算报表) in the merchant console,
//! each on a page and as CSV and XLSX: what each payment method collected, refunded and was
//! charged, by day, ISO week or month; and the merchant's settlements added up by the business day
//! each cleared. The same reports are `GET /v1/merchants/{mid}/reports/collections|settlements` and
//! `xingtong admin report collections|settlements`.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use xingtong_api::AppState;
use xingtong_payments::reports::{CollectionLine, Period, SettlementLine, collection_report, settlement_report};

use crate::export::{Cell, Format, Sheet};
use crate::merchant::{Choice, ReportForm, in_range, report_spec};
use crate::{Base, Console, Ctx, Fail, dashed_day, url_encode, yuan};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/reports/settlements", get(page))
        .route("/console/reports/settlements.csv", get(|s, c, q| export(s, c, q, Format::Csv)))
        .route("/console/reports/settlements.xlsx", get(|s, c, q| export(s, c, q, Format::Xlsx)))
        .route("/console/reports/collections", get(collections))
        .route("/console/reports/collections.csv", get(|s, c, q| collections_export(s, c, q, Format::Csv)))
        .route("/console/reports/collections.xlsx", get(|s, c, q| collections_export(s, c, q, Format::Xlsx)))
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
    head: ReportHead,
    rows: Vec<Row>,
    totals: Row,
}

/// What every report page shows above its figures: the links between the reports, the form
/// (merchant, days, period, and the sales report's split), the exports, a refusal of the range.
pub(crate) struct ReportHead {
    /// Where the form goes (the page's own path).
    pub action: &'static str,
    pub mids: Vec<String>,
    pub mid: String,
    /// `YYYY-MM-DD`.
    pub from: String,
    /// `YYYY-MM-DD`.
    pub to: String,
    pub periods: Vec<Choice>,
    /// The sales report's splits; empty on the others (no such field then).
    pub splits: Vec<Choice>,
    pub csv_href: String,
    pub xlsx_href: String,
    pub kinds: ReportKinds,
    pub error: Option<&'static str>,
}

impl ReportHead {
    /// The head of the report at `action` for `mid`'s days `from` to `to` (`YYYYMMDD`); `extra` is
    /// added to the exports' query (the sales report's `by`).
    pub(crate) fn new(
        ctx: &Ctx,
        action: &'static str,
        mid: &str,
        (from, to): (&str, &str),
        period: Period,
        extra: &str,
    ) -> Result<ReportHead, Fail> {
        let t = ctx.lang.text();
        let (from, to) = (dashed_day(from), dashed_day(to));
        let qs = format!("mid={}&from={from}&to={to}&period={}{extra}", url_encode(mid), period.as_str());
        Ok(ReportHead {
            action,
            mids: ctx.owner()?.to_vec(),
            mid: mid.to_owned(),
            periods: [(Period::Day, t.period_day), (Period::Week, t.period_week), (Period::Month, t.period_month)]
                .into_iter()
                .map(|(p, label)| Choice { value: p.as_str(), label, selected: p == period })
                .collect(),
            splits: Vec::new(),
            csv_href: format!("{action}.csv?{qs}"),
            xlsx_href: format!("{action}.xlsx?{qs}"),
            kinds: ReportKinds::of(mid, &from, &to, period),
            error: None,
            from,
            to,
        })
    }
}

/// The links between the reports, each with the page's merchant and days.
pub(crate) struct ReportKinds {
    pub sales: String,
    pub collections: String,
    pub settlements: String,
    pub refunds: String,
}

impl ReportKinds {
    pub(crate) fn of(mid: &str, from_dashed: &str, to_dashed: &str, period: Period) -> ReportKinds {
        let qs = format!("mid={}&from={from_dashed}&to={to_dashed}&period={}", url_encode(mid), period.as_str());
        ReportKinds {
            sales: format!("/console/reports?{qs}"),
            collections: format!("/console/reports/collections?{qs}"),
            settlements: format!("/console/reports/settlements?{qs}"),
            refunds: format!(
                "/console/transactions?mid={}&from={from_dashed}&to={to_dashed}&kind=refund",
                url_encode(mid)
            ),
        }
    }
}

async fn page(State(state): State<AppState>, ctx: Ctx, Query(form): Query<ReportForm>) -> Response {
    let result = async {
        let (mid, from, to, period, _) = report_spec(&state, &ctx, &form)?;
        let t = ctx.lang.text();
        let mut page = Page {
            base: ctx.base(Console::Merchant, t.settlement_report),
            head: ReportHead::new(&ctx, "/console/reports/settlements", &mid, (&from, &to), period, "")?,
            rows: Vec::new(),
            totals: row(&SettlementLine::default(), t.total.to_owned()),
        };
        if !in_range(&from, &to) {
            page.head.error = Some(t.report_range_refused);
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

// ---- the collection report ----

struct CollectionRow {
    period: String,
    method: String,
    count: i64,
    collected: String,
    refunds_count: i64,
    refunds: String,
    fees: String,
    net: String,
}

fn collection_row(t: &crate::i18n::Text, l: &CollectionLine, period: String) -> CollectionRow {
    CollectionRow {
        period,
        method: if l.method.is_empty() { String::new() } else { crate::merchant::method_name(t, &l.method).to_owned() },
        count: l.count,
        collected: yuan(l.collected_minor),
        refunds_count: l.refunds_count,
        refunds: yuan(l.refunds_minor),
        fees: yuan(l.fees_minor),
        net: yuan(l.net_minor),
    }
}

#[derive(Template)]
#[template(path = "merchant/collection_report.html")]
struct CollectionsPage {
    base: Base,
    head: ReportHead,
    rows: Vec<CollectionRow>,
    methods: Vec<CollectionRow>,
    totals: CollectionRow,
}

async fn collections(State(state): State<AppState>, ctx: Ctx, Query(form): Query<ReportForm>) -> Response {
    let result = async {
        let (mid, from, to, period, _) = report_spec(&state, &ctx, &form)?;
        let t = ctx.lang.text();
        let mut page = CollectionsPage {
            base: ctx.base(Console::Merchant, t.collection_report),
            head: ReportHead::new(&ctx, "/console/reports/collections", &mid, (&from, &to), period, "")?,
            rows: Vec::new(),
            methods: Vec::new(),
            totals: collection_row(t, &CollectionLine::default(), t.total.to_owned()),
        };
        if !in_range(&from, &to) {
            page.head.error = Some(t.report_range_refused);
            return Ok(ctx.page(StatusCode::UNPROCESSABLE_ENTITY, page.render()?));
        }
        let report = collection_report(&state.store, &mid, &from, &to, period).await?;
        page.rows = report.lines.iter().map(|l| collection_row(t, l, l.period.clone())).collect();
        page.methods = report.methods.iter().map(|l| collection_row(t, l, t.all_days.to_owned())).collect();
        page.totals = collection_row(t, &report.totals, t.total.to_owned());
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

async fn collections_export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(form): Query<ReportForm>,
    format: Format,
) -> Response {
    let result = async {
        let (mid, from, to, period, _) = report_spec(&state, &ctx, &form)?;
        if !in_range(&from, &to) {
            return Err(Fail::NotFound);
        }
        let t = ctx.lang.text();
        let report = collection_report(&state.store, &mid, &from, &to, period).await?;
        let header = [t.period, t.method, t.count, t.collected, t.refunds, t.amount, t.fee, t.net];
        let mut sheet = Sheet {
            name: format!("collections-{mid}-{from}-{to}"),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        };
        let lines = report
            .lines
            .iter()
            .map(|l| (l.period.clone(), l))
            .chain(report.methods.iter().map(|l| (t.all_days.to_owned(), l)))
            .chain(std::iter::once((t.total.to_owned(), &report.totals)));
        for (period, l) in lines {
            let row = collection_row(t, l, period);
            sheet.rows.push(vec![
                Cell::Text(row.period),
                Cell::Text(row.method),
                Cell::Count(l.count),
                Cell::Money(l.collected_minor),
                Cell::Count(l.refunds_count),
                Cell::Money(l.refunds_minor),
                Cell::Money(l.fees_minor),
                Cell::Money(l.net_minor),
            ]);
        }
        sheet.response(format)
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

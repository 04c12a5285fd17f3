//! The operations console's money and platform pages: clearing runs, payouts and their failures
//! and retries; reconciliation reports; announcing fee changes; the notification outbox; the
//! audit log, searchable; and this node's health.
//!
//! Runs that move money (clearing, payouts, reconciliation) and fee announcements need the
//! finance role, checked here as the JSON API checks it; every page needs a staff session.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use xingtong_api::AppState;
use xingtong_merchants::entity::{Stored, select};
use xingtong_merchants::identity::{Principal, Role};
use xingtong_onboarding::application::BusinessType;
use xingtong_payments::payouts::{Payout, PayoutStatus};
use xingtong_payments::recon::{ItemClass, Source};

use crate::account::{Notice, NotificationRow, PayoutRow, notification_row, payout_row, percent, said};
use crate::i18n::Text;
use crate::{Base, Console, Ctx, Fail, china_time, dashed_day, yuan};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/clearing", get(clearing))
        .route(
            "/ops/clearing/run",
            post(|s: State<AppState>, c: Ctx, f: Form<DayForm>| run(s.0, c, f.0, Run::Clearing)),
        )
        .route("/ops/payouts/run", post(|s: State<AppState>, c: Ctx, f: Form<DayForm>| run(s.0, c, f.0, Run::Payouts)))
        .route("/ops/reconciliation", get(reconciliation).post(run_reconciliation))
        .route("/ops/fees", get(fees).post(announce))
        .route("/ops/outbox", get(outbox))
        .route("/ops/audit", get(audit))
        .route("/ops/health", get(health))
}

fn engine(state: &AppState) -> Result<&xingtong_payments::Engine, Fail> {
    state.payments.as_ref().map(|(engine, _)| engine).ok_or_else(|| Fail::Internal("payments are not running".into()))
}

/// The staff member, when they have the finance role; else the refusal the page says (a
/// session that is not staff's goes to the sign-in page).
fn finance(ctx: &Ctx) -> Result<Result<Principal, Option<Notice>>, Fail> {
    let principal = ctx.staff()?.clone();
    Ok(match principal.require(Role::Finance) {
        Ok(()) => Ok(principal),
        Err(_) => Err(Some(Notice { text: ctx.lang.text().finance_only.to_owned(), bad: true })),
    })
}

/// `YYYY-MM-DD` (or `YYYYMMDD`) as `YYYYMMDD`, when it is a real day.
pub(crate) fn day_of(text: &str) -> Option<String> {
    let digits: String = text.trim().chars().filter(|c| *c != '-').collect();
    (digits.len() == 8 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| xingtong_merchants::merchant::days_since_epoch(&digits).map(|_| digits))
        .flatten()
}

fn engine_refusal(ctx: &Ctx, error: xingtong_merchants::Error) -> Result<Option<Notice>, Fail> {
    match said(ctx.lang, &error) {
        Some(text) => Ok(Some(Notice { text, bad: true })),
        None => Err(error.into()),
    }
}

// ---- clearing and payouts ----

struct RunRow {
    id: String,
    at: String,
    ok: bool,
    detail: String,
}

struct AttentionRow {
    mid: String,
    payout: PayoutRow,
    attempts: usize,
}

#[derive(Template)]
#[template(path = "ops/clearing.html")]
struct ClearingPage {
    base: Base,
    notice: Option<Notice>,
    /// What a run just did, figure by figure.
    summary: Vec<(&'static str, String)>,
    clearing_day: String,
    payout_day: String,
    attention: Vec<AttentionRow>,
    runs: Vec<RunRow>,
}

async fn render_clearing(
    state: &AppState,
    ctx: &Ctx,
    notice: Option<Notice>,
    summary: Vec<(&'static str, String)>,
    status: StatusCode,
) -> Result<Response, Fail> {
    use xingtong_store::{RecordQuery, Table, TableQuery};
    ctx.staff()?;
    let t = ctx.lang.text();
    let engine = engine(state)?;
    let query = TableQuery::new(Table::Payouts)
        .statuses(&[PayoutStatus::Failed.as_str(), PayoutStatus::Sending.as_str()])
        .order_by("business_day")
        .descending()
        .limit(100);
    let found: Vec<Stored<Payout>> = select(&state.store, query).await?;
    let attention = found
        .iter()
        .map(|p| AttentionRow {
            mid: p.value.mid.clone(),
            payout: payout_row(t, &p.value),
            attempts: p.value.attempts.len(),
        })
        .collect();
    let mut query = RecordQuery::kind(xingtong_payments::schedule::ScheduledRun::KIND).descending();
    query.limit = 30;
    let runs: Vec<Stored<xingtong_payments::schedule::ScheduledRun>> =
        xingtong_merchants::entity::list(&state.store, query).await?;
    let runs = runs
        .into_iter()
        .map(|r| RunRow {
            id: r.value.id,
            at: china_time(r.value.at),
            ok: r.value.outcome == "ok",
            detail: r.value.detail,
        })
        .collect();
    let clock = engine.clock();
    let page = ClearingPage {
        base: ctx.base(Console::Ops, t.nav_clearing),
        notice,
        summary,
        clearing_day: dashed_day(&clock.yesterday()),
        payout_day: dashed_day(&clock.business_day()),
        attention,
        runs,
    };
    Ok(ctx.page(status, page.render()?))
}

use xingtong_merchants::entity::Entity as _;

async fn clearing(State(state): State<AppState>, ctx: Ctx) -> Response {
    let result = render_clearing(&state, &ctx, None, Vec::new(), StatusCode::OK).await;
    ctx.finish(Console::Ops, result)
}

#[derive(Deserialize)]
struct DayForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    source: String,
}

/// The two runs of the clearing page.
#[derive(Clone, Copy)]
enum Run {
    /// Clear a business day.
    Clearing,
    /// Pay what is due on a day.
    Payouts,
}

/// Runs clearing or payouts for the form's day (finance role): the page again, saying what the
/// run did figure by figure, or why it did not run.
async fn run(state: AppState, ctx: Ctx, form: DayForm, which: Run) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        if let Err(refused) = finance(&ctx)? {
            return render_clearing(&state, &ctx, refused, Vec::new(), StatusCode::FORBIDDEN).await;
        }
        let t = ctx.lang.text();
        let Some(day) = day_of(&form.day) else {
            let notice = Some(Notice { text: t.bad_date.to_owned(), bad: true });
            return render_clearing(&state, &ctx, notice, Vec::new(), StatusCode::UNPROCESSABLE_ENTITY).await;
        };
        let engine = engine(&state)?;
        let done = match which {
            Run::Clearing => engine.clear_day(&day, &|_, _| {}).await.map(|r| {
                (
                    format!("{} {}.", t.cleared_summary, dashed_day(&r.business_day)),
                    vec![
                        (t.merchants_looked_at, r.merchants.to_string()),
                        (t.settlements_made, r.cleared.to_string()),
                        (t.already_cleared, r.already_cleared.to_string()),
                        (t.lines, r.lines.to_string()),
                        (t.payouts_sum, yuan(r.payout_minor)),
                        (t.fees_sum, yuan(r.fees_minor + r.surcharge_minor)),
                    ],
                )
            }),
            Run::Payouts => {
                let bank = xingtong_payments::bank::SandboxBank::new(state.store.clone());
                engine.run_payouts(&bank, &day).await.map(|r| {
                    (
                        format!("{} {}.", t.payouts_summary, dashed_day(&day)),
                        vec![
                            (t.payouts_looked_at, r.looked_at.to_string()),
                            (t.payouts_paid, r.paid.to_string()),
                            (t.payouts_paid_sum, yuan(r.paid_minor)),
                            (t.payouts_failed_now, r.failed.to_string()),
                            (t.payouts_retried, r.retried.to_string()),
                            (t.payouts_unknown, r.unknown.to_string()),
                        ],
                    )
                })
            }
        };
        let (notice, summary, status) = match done {
            Ok((text, summary)) => (Some(Notice { text, bad: false }), summary, StatusCode::OK),
            Err(error) => {
                let status = crate::account::refusal_status(&error);
                (engine_refusal(&ctx, error)?, Vec::new(), status)
            }
        };
        render_clearing(&state, &ctx, notice, summary, status).await
    }
    .await;
    ctx.finish(Console::Ops, result)
}

// ---- reconciliation ----

struct ItemRow {
    class: &'static str,
    class_tag: &'static str,
    txn_id: String,
    mid: String,
    kind: String,
    ours: String,
    theirs: String,
    difference: String,
    action: String,
}

struct ReportView {
    fields: Vec<(&'static str, String)>,
    balanced: bool,
    items: Vec<ItemRow>,
}

#[derive(Template)]
#[template(path = "ops/reconciliation.html")]
struct ReconciliationPage {
    base: Base,
    notice: Option<Notice>,
    day: String,
    source: String,
    sources: Vec<(String, &'static str)>,
    report: Option<ReportView>,
}

#[derive(Deserialize, Default)]
struct ReconQuery {
    date: Option<String>,
    source: Option<String>,
}

fn sources(t: &Text) -> Vec<(String, &'static str)> {
    let mut all = vec![(Source::Card.as_str().to_owned(), t.source_card)];
    for scheme in xingtong_payments::qr::Scheme::ALL {
        let word = match scheme {
            xingtong_payments::qr::Scheme::Wechat => t.method_wechat,
            xingtong_payments::qr::Scheme::Alipay => t.method_alipay,
            xingtong_payments::qr::Scheme::UnionpayQr => t.method_unionpay_qr,
        };
        all.push((scheme.as_str().to_owned(), word));
    }
    all
}

fn report_view(ctx: &Ctx, r: &xingtong_payments::recon::Reconciliation) -> ReportView {
    let t = ctx.lang.text();
    let fields = vec![
        (t.file, format!("{} ({})", r.file_name, &r.file_sha256[..r.file_sha256.len().min(12)])),
        (t.recon_network_lines, r.network_lines.to_string()),
        (t.recon_host_lines, r.host_lines.to_string()),
        (t.recon_matched, format!("{} · {}", r.matched, yuan(r.matched_minor))),
        (t.recon_host_only, r.host_only.to_string()),
        (t.recon_network_only, r.network_only.to_string()),
        (t.recon_mismatch, r.amount_mismatches.to_string()),
        (t.time, china_time(r.run_at)),
    ];
    let money = |v: Option<i64>| v.map(yuan).unwrap_or_else(|| "—".to_owned());
    let items = r
        .items
        .iter()
        .map(|i| {
            let (class, class_tag) = match i.class {
                ItemClass::HostOnly => (t.recon_host_only, "warn"),
                ItemClass::NetworkOnly => (t.recon_network_only, "warn"),
                ItemClass::AmountMismatch => (t.recon_mismatch, "bad"),
            };
            ItemRow {
                class,
                class_tag,
                txn_id: i.txn_id.clone(),
                mid: i.mid.clone(),
                kind: crate::merchant::kind_word(ctx.lang, &i.txn_type),
                ours: money(i.host_minor),
                theirs: money(i.network_minor),
                difference: yuan(i.difference_minor),
                action: if ctx.lang == crate::i18n::Lang::Zh { i.action_zh.clone() } else { i.action_en.clone() },
            }
        })
        .collect::<Vec<_>>();
    ReportView { fields, balanced: items.is_empty(), items }
}

async fn render_reconciliation(
    state: &AppState,
    ctx: &Ctx,
    day: Option<String>,
    source: Source,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<Response, Fail> {
    ctx.staff()?;
    let t = ctx.lang.text();
    let engine = engine(state)?;
    let day = day.unwrap_or_else(|| engine.clock().yesterday());
    let report = engine.reconciliation_of(source, &day).await?.map(|r| report_view(ctx, &r));
    let page = ReconciliationPage {
        base: ctx.base(Console::Ops, t.nav_reconciliation),
        notice,
        day: dashed_day(&day),
        source: source.as_str().to_owned(),
        sources: sources(t),
        report,
    };
    Ok(ctx.page(status, page.render()?))
}

async fn reconciliation(State(state): State<AppState>, ctx: Ctx, Query(q): Query<ReconQuery>) -> Response {
    let result = async {
        let t = ctx.lang.text();
        let source = q.source.as_deref().and_then(Source::parse).unwrap_or(Source::Card);
        match q.date.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(text) => match day_of(text) {
                Some(day) => render_reconciliation(&state, &ctx, Some(day), source, None, StatusCode::OK).await,
                None => {
                    let notice = Some(Notice { text: t.bad_date.to_owned(), bad: true });
                    render_reconciliation(&state, &ctx, None, source, notice, StatusCode::BAD_REQUEST).await
                }
            },
            None => render_reconciliation(&state, &ctx, None, source, None, StatusCode::OK).await,
        }
    }
    .await;
    ctx.finish(Console::Ops, result)
}

async fn run_reconciliation(State(state): State<AppState>, ctx: Ctx, Form(form): Form<DayForm>) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let source = Source::parse(&form.source).unwrap_or(Source::Card);
        let principal = match finance(&ctx)? {
            Ok(principal) => principal,
            Err(refused) => {
                return render_reconciliation(&state, &ctx, None, source, refused, StatusCode::FORBIDDEN).await;
            }
        };
        let t = ctx.lang.text();
        let Some(day) = day_of(&form.day) else {
            let notice = Some(Notice { text: t.bad_date.to_owned(), bad: true });
            return render_reconciliation(&state, &ctx, None, source, notice, StatusCode::UNPROCESSABLE_ENTITY).await;
        };
        let (notice, status) = match engine(&state)?.reconcile_source(source, &day, None, &principal.actor()).await {
            Ok(_) => (Some(Notice { text: t.decided.to_owned(), bad: false }), StatusCode::OK),
            Err(error) => {
                let status = crate::account::refusal_status(&error);
                (engine_refusal(&ctx, error)?, status)
            }
        };
        render_reconciliation(&state, &ctx, Some(day), source, notice, status).await
    }
    .await;
    ctx.finish(Console::Ops, result)
}

// ---- fees ----

struct TypeTerms {
    name: &'static str,
    fees: Vec<(&'static str, String)>,
    limits: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "ops/fees.html")]
struct FeesPage {
    base: Base,
    notice: Option<Notice>,
    types: Vec<TypeTerms>,
    form: FeeForm,
    earliest: String,
}

fn type_name(t: &Text, business_type: BusinessType) -> &'static str {
    match business_type {
        BusinessType::Individual => t.type_individual,
        BusinessType::IndividualBusiness => t.type_individual_business,
        BusinessType::Enterprise => t.type_enterprise,
    }
}

const TYPES: [BusinessType; 3] = [BusinessType::Individual, BusinessType::IndividualBusiness, BusinessType::Enterprise];

impl FeeForm {
    /// The schedule the form gives: rates as per cent, the cap in yuan; `None` when one cannot be
    /// read.
    pub(crate) fn schedule(&self) -> Option<xingtong_onboarding::terms::FeeSchedule> {
        let rate = |text: &str| xingtong_money::rate::Rate::parse_percent(text.trim()).ok().map(|r| r.ppm());
        let cap =
            xingtong_money::Amount::parse(self.debit_cap.trim(), xingtong_money::Currency::CNY).ok().map(|a| a.minor());
        Some(xingtong_onboarding::terms::FeeSchedule {
            debit_ppm: rate(&self.debit)?,
            debit_cap_minor: cap?,
            credit_ppm: rate(&self.credit)?,
            qr_ppm: rate(&self.qr)?,
            d0_extra_ppm: rate(&self.d0)?,
        })
    }

    /// The form filled in with `fees`.
    pub(crate) fn of(fees: &xingtong_onboarding::terms::FeeSchedule) -> FeeForm {
        FeeForm {
            debit: percent(fees.debit_ppm).trim_end_matches('%').to_owned(),
            debit_cap: format!("{}.{:02}", fees.debit_cap_minor / 100, fees.debit_cap_minor % 100),
            credit: percent(fees.credit_ppm).trim_end_matches('%').to_owned(),
            qr: percent(fees.qr_ppm).trim_end_matches('%').to_owned(),
            d0: percent(fees.d0_extra_ppm).trim_end_matches('%').to_owned(),
            ..FeeForm::default()
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct FeeForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
    #[serde(default)]
    pub business_type: String,
    #[serde(default)]
    pub effective_date: String,
    #[serde(default)]
    pub debit: String,
    #[serde(default)]
    pub debit_cap: String,
    #[serde(default)]
    pub credit: String,
    #[serde(default)]
    pub qr: String,
    #[serde(default)]
    pub d0: String,
}

fn render_fees(ctx: &Ctx, form: FeeForm, notice: Option<Notice>, status: StatusCode) -> Result<Response, Fail> {
    ctx.staff()?;
    let t = ctx.lang.text();
    let types = TYPES
        .into_iter()
        .map(|b| {
            let terms = xingtong_onboarding::terms::Terms::for_business_type(b);
            let f = terms.fees;
            TypeTerms {
                name: type_name(t, b),
                fees: vec![
                    (t.debit_rate, percent(f.debit_ppm)),
                    (t.debit_cap, yuan(f.debit_cap_minor)),
                    (t.credit_rate, percent(f.credit_ppm)),
                    (t.qr_rate, percent(f.qr_ppm)),
                    (t.d0_rate, percent(f.d0_extra_ppm)),
                ],
                limits: crate::account::limit_rows(t, &terms.limits),
            }
        })
        .collect();
    let today = xingtong_payments::clock::business_day();
    let earliest =
        dashed_day(&xingtong_payments::deposit::add_days(&today, xingtong_merchants::merchant::FEE_NOTICE_DAYS));
    let page = FeesPage { base: ctx.base(Console::Ops, t.nav_fee_changes), notice, types, form, earliest };
    Ok(ctx.page(status, page.render()?))
}

async fn fees(ctx: Ctx) -> Response {
    let form = FeeForm { business_type: "individual".into(), ..FeeForm::of(&xingtong_onboarding::terms::DEFAULT_FEES) };
    let result = render_fees(&ctx, form, None, StatusCode::OK);
    ctx.finish(Console::Ops, result)
}

async fn announce(State(state): State<AppState>, ctx: Ctx, Form(form): Form<FeeForm>) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = match finance(&ctx)? {
            Ok(principal) => principal,
            Err(refused) => return render_fees(&ctx, form, refused, StatusCode::FORBIDDEN),
        };
        let t = ctx.lang.text();
        let business_type = match form.business_type.as_str() {
            "individual" => BusinessType::Individual,
            "individual_business" => BusinessType::IndividualBusiness,
            "enterprise" => BusinessType::Enterprise,
            _ => return Err(Fail::NotFound),
        };
        let Some(day) = day_of(&form.effective_date) else {
            let notice = Some(Notice { text: t.bad_date.to_owned(), bad: true });
            return render_fees(&ctx, form, notice, StatusCode::UNPROCESSABLE_ENTITY);
        };
        let Some(fees) = form.schedule() else {
            let notice = Some(Notice { text: t.bad_rate.to_owned(), bad: true });
            return render_fees(&ctx, form, notice, StatusCode::UNPROCESSABLE_ENTITY);
        };
        let today = xingtong_payments::clock::business_day();
        match state.merchants.announce_fee_change_for_type(&principal, business_type, &day, fees, &today).await {
            Ok((merchants, told)) => {
                let notice = Some(Notice {
                    text: format!("{} {} · {merchants} · {told}", t.announced_summary, type_name(t, business_type)),
                    bad: false,
                });
                render_fees(&ctx, form, notice, StatusCode::OK)
            }
            Err(error) => {
                let status = crate::account::refusal_status(&error);
                let notice = engine_refusal(&ctx, error)?;
                render_fees(&ctx, form, notice, status)
            }
        }
    }
    .await;
    ctx.finish(Console::Ops, result)
}

// ---- the outbox ----

#[derive(Template)]
#[template(path = "ops/outbox.html")]
struct OutboxPage {
    base: Base,
    status: String,
    rows: Vec<NotificationRow>,
}

#[derive(Deserialize, Default)]
struct StatusQuery {
    status: Option<String>,
}

async fn outbox(State(state): State<AppState>, ctx: Ctx, Query(q): Query<StatusQuery>) -> Response {
    let result = async {
        let principal = ctx.staff()?.clone();
        let t = ctx.lang.text();
        let status = q.status.filter(|s| matches!(s.as_str(), "queued" | "sent" | "failed")).unwrap_or_default();
        let statuses: Vec<&str> = if status.is_empty() { Vec::new() } else { vec![status.as_str()] };
        let found = state.merchants.recent_notifications(&principal, &statuses, 200).await?;
        let rows = found.iter().map(|n| notification_row(t, n)).collect();
        let page = OutboxPage { base: ctx.base(Console::Ops, t.nav_outbox), status, rows };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Ops, result)
}

// ---- the audit log ----

struct AuditRow {
    /// The actor, action and subject id, encoded for a search link.
    links: (String, String, String),
    seq: u64,
    at: String,
    actor: String,
    action: String,
    subject_kind: String,
    subject_id: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "ops/audit.html")]
struct AuditPage {
    base: Base,
    q: AuditForm,
    rows: Vec<AuditRow>,
    older: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuditForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject_kind: String,
    #[serde(default)]
    subject_id: String,
    before: Option<u64>,
}

/// Audit entries a page shows.
const AUDIT_PAGE: u32 = 100;

async fn audit(State(state): State<AppState>, ctx: Ctx, Query(q): Query<AuditForm>) -> Response {
    let result = async {
        ctx.staff()?;
        let t = ctx.lang.text();
        let blank = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
        let entries = state
            .store
            .audit_search(xingtong_store::AuditQuery {
                subject_kind: blank(&q.subject_kind),
                subject_id: blank(&q.subject_id),
                actor: blank(&q.actor),
                action: blank(&q.action),
                before_seq: q.before,
                newest_first: true,
                limit: AUDIT_PAGE,
                ..xingtong_store::AuditQuery::default()
            })
            .await?;
        let older =
            (entries.len() == AUDIT_PAGE as usize).then(|| entries.last().map(|e| e.seq)).flatten().map(|seq| {
                format!(
                    "/ops/audit?actor={}&action={}&subject_kind={}&subject_id={}&before={seq}",
                    crate::url_encode(q.actor.trim()),
                    crate::url_encode(q.action.trim()),
                    crate::url_encode(q.subject_kind.trim()),
                    crate::url_encode(q.subject_id.trim())
                )
            });
        let rows = entries
            .into_iter()
            .map(|e| AuditRow {
                links: (crate::url_encode(&e.actor), crate::url_encode(&e.action), crate::url_encode(&e.subject_id)),
                seq: e.seq,
                at: china_time(e.at),
                actor: e.actor,
                action: e.action,
                subject_kind: e.subject_kind,
                subject_id: e.subject_id,
                detail: e.detail,
            })
            .collect();
        let page = AuditPage { base: ctx.base(Console::Ops, t.nav_audit), q, rows, older };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Ops, result)
}

// ---- health ----

#[derive(Template)]
#[template(path = "ops/health.html")]
struct HealthPage {
    base: Base,
    node: Vec<(&'static str, String)>,
    database_ok: bool,
    work: Vec<(&'static str, String, bool)>,
    failed_runs: Vec<RunRow>,
    counters: Vec<(String, String)>,
}

/// A duration as a person reads it: `3d 4h 5m`.
fn uptime(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h) {
        (0, 0) => format!("{m}m {s}s"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

/// The Prometheus counters and gauges of this process, as (name with labels, value): the lines
/// of the exposition that are not comments.
fn counters(exposition: &str) -> Vec<(String, String)> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| !l.contains("_bucket{") && !l.contains("quantile="))
        .filter_map(|l| l.rsplit_once(' ').map(|(name, value)| (name.to_owned(), value.to_owned())))
        .take(200)
        .collect()
}

async fn health(State(state): State<AppState>, ctx: Ctx) -> Response {
    let result = async {
        use xingtong_store::{RecordQuery, Table, TableQuery};
        let principal = ctx.staff()?.clone();
        let t = ctx.lang.text();
        let started = std::time::Instant::now();
        let database_ok = state.store.ping().await.is_ok();
        let round_trip = started.elapsed();
        let node = vec![
            (t.version, env!("CARGO_PKG_VERSION").to_owned()),
            (t.uptime, uptime(state.started.elapsed().as_secs())),
            (
                t.database,
                format!("{} · {}", state.store.backend(), if database_ok { t.database_ok } else { t.database_down }),
            ),
            (t.database_latency, format!("{:.1} ms", round_trip.as_secs_f64() * 1_000.0)),
        ];
        let count = |n: usize| if n >= 1_000 { "≥ 1000".to_owned() } else { n.to_string() };
        let waiting = state.merchants.recent_notifications(&principal, &["queued"], 1_000).await?.len();
        let failed = state.merchants.recent_notifications(&principal, &["failed"], 1_000).await?.len();
        let payouts = |status: PayoutStatus| {
            let store = state.store.clone();
            async move {
                let query = TableQuery::new(Table::Payouts).statuses(&[status.as_str()]).limit(1_000);
                select::<Payout>(&store, query).await.map(|p| p.len())
            }
        };
        let payouts_failed = payouts(PayoutStatus::Failed).await?;
        let payouts_sending = payouts(PayoutStatus::Sending).await?;
        let mut query =
            RecordQuery::kind(xingtong_payments::schedule::ScheduledRun::KIND).statuses(&["failed"]).descending();
        query.limit = 50;
        let failed_runs: Vec<Stored<xingtong_payments::schedule::ScheduledRun>> =
            xingtong_merchants::entity::list(&state.store, query).await?;
        let work = vec![
            (t.outbox_waiting, count(waiting), false),
            (t.outbox_failed, count(failed), failed > 0),
            (t.payouts_failed, count(payouts_failed), payouts_failed > 0),
            (t.payouts_sending, count(payouts_sending), false),
            (t.runs_failed, failed_runs.len().to_string(), !failed_runs.is_empty()),
        ];
        let failed_runs = failed_runs
            .into_iter()
            .map(|r| RunRow { id: r.value.id, at: china_time(r.value.at), ok: false, detail: r.value.detail })
            .collect();
        let page = HealthPage {
            base: ctx.base(Console::Ops, t.nav_health),
            node,
            database_ok,
            work,
            failed_runs,
            counters: counters(&state.metrics.render()),
        };
        let status = if database_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        Ok(ctx.page(status, page.render()?))
    }
    .await;
    ctx.finish(Console::Ops, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_uptimes_and_counters_read_as_people_read_them() {
        assert_eq!(day_of("2026-11-28").as_deref(), Some("20261128"));
        assert_eq!(day_of("20261128").as_deref(), Some("20261128"));
        assert_eq!(day_of("2026-13-01"), None);
        assert_eq!(day_of("yesterday"), None);
        assert_eq!(uptime(59), "0m 59s");
        assert_eq!(uptime(3_600 * 5 + 120), "5h 2m");
        assert_eq!(uptime(86_400 * 2 + 3_600), "2d 1h 0m");
        let exposition =
            "# TYPE x counter\nxingtong_sales_total{method=\"card\"} 12\nlatency_bucket{le=\"1\"} 3\n\nup 1\n";
        assert_eq!(
            counters(exposition),
            vec![
                ("xingtong_sales_total{method=\"card\"}".to_owned(), "12".to_owned()),
                ("up".to_owned(), "1".to_owned())
            ]
        );
    }
}

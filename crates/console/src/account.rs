//! The merchant console's account pages: a settlement with its lines and payout, the settlement
//! bank card and its change with the one-time code, cashiers, the fee schedule with announced
//! changes and the settlement cycle, API keys, and the notifications the merchant was sent.
//!
//! Each form goes to the same service the JSON API calls, which checks the caller and writes the
//! audit log; a refusal is shown on the page (beside its field when the service names one).

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use xingtong_api::AppState;
use xingtong_merchants::Class;
use xingtong_merchants::cashiers::CashierStatus;
use xingtong_merchants::identity::{Principal, Scope};
use xingtong_merchants::merchant::SettlementCycle;
use xingtong_payments::payouts::{Payout, PayoutPurpose, PayoutStatus};

use crate::i18n::{Lang, Text};
use crate::merchant::Field;
use crate::{Base, Console, Ctx, Fail, china_time, dashed_day, yuan};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/settlements/{id}", get(settlement))
        .route("/console/bank-card", get(bank_card).post(request_change))
        .route("/console/bank-card/confirm", post(confirm_change))
        .route("/console/cashiers", get(cashiers).post(add_cashier))
        .route("/console/cashiers/{operator}/{action}", post(cashier_action))
        .route("/console/fees", get(fees))
        .route("/console/fees/cycle", post(set_cycle))
        .route("/console/api-keys", get(api_keys).post(create_key))
        .route("/console/api-keys/{id}/revoke", post(revoke_key))
        .route("/console/notifications", get(notifications))
}

/// `?mid=`: which of the owner's merchants a page is about.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Which {
    pub mid: Option<String>,
}

/// The owner's merchants and the one asked for (the first when none is named): a merchant not
/// theirs is "not found".
pub(crate) fn chosen(ctx: &Ctx, mid: Option<&str>) -> Result<(Vec<String>, String), Fail> {
    let mids = ctx.owner()?.to_vec();
    let mid = match mid.map(str::trim).filter(|m| !m.is_empty()) {
        Some(mid) => mids.iter().find(|m| *m == mid).ok_or(Fail::NotFound)?.clone(),
        None => mids.first().ok_or(Fail::NotFound)?.clone(),
    };
    Ok((mids, mid))
}

fn principal(ctx: &Ctx) -> Result<Principal, Fail> {
    ctx.principal.clone().ok_or(Fail::SignIn(Console::Merchant))
}

/// A line said at the top of a page: done, or refused.
pub(crate) struct Notice {
    pub text: String,
    pub bad: bool,
}

impl Notice {
    fn done(text: impl Into<String>) -> Option<Notice> {
        Some(Notice { text: text.into(), bad: false })
    }
    fn refused(text: impl Into<String>) -> Option<Notice> {
        Some(Notice { text: text.into(), bad: true })
    }
}

/// The HTTP status a refusal of the service is answered with (the page is shown again).
pub(crate) fn refusal_status(error: &xingtong_merchants::Error) -> StatusCode {
    match error.class {
        Class::Forbidden => StatusCode::FORBIDDEN,
        Class::Conflict => StatusCode::CONFLICT,
        Class::Locked => StatusCode::LOCKED,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A refusal the page can say (anything else is a failure page): the service's findings in the
/// page's language when it gave them, else its message with its code.
pub(crate) fn said(lang: Lang, error: &xingtong_merchants::Error) -> Option<String> {
    if matches!(error.class, Class::NotFound | Class::Internal | Class::Unavailable | Class::Unauthenticated) {
        return None;
    }
    let findings = crate::findings_of(lang, error);
    if findings.is_empty() {
        Some(format!("{} ({}): {}", lang.text().not_done, error.code, error.message))
    } else {
        Some(findings.into_iter().map(|(_, _, m)| m).collect::<Vec<_>>().join("；"))
    }
}

/// Per cent with two decimals or more, from parts per million: 3800 → `0.38%`.
pub(crate) fn percent(ppm: u32) -> String {
    let whole = ppm / 10_000;
    let mut fraction = format!("{:04}", ppm % 10_000);
    while fraction.len() > 2 && fraction.ends_with('0') {
        fraction.pop();
    }
    format!("{whole}.{fraction}%")
}

// ---- a settlement ----

struct LineRow {
    seq: u32,
    txn_id: String,
    kind: String,
    day: String,
    amount: String,
    fee: String,
    net: String,
}

struct AttemptRow {
    at: String,
    card: String,
    outcome: &'static str,
    outcome_class: &'static str,
    detail: String,
}

pub(crate) struct PayoutRow {
    pub id: String,
    pub settlement_id: String,
    pub purpose: &'static str,
    pub day: String,
    pub amount: String,
    pub date: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub failed: bool,
    pub card: String,
    pub detail: String,
}

pub(crate) fn payout_status(t: &Text, status: PayoutStatus) -> (&'static str, &'static str) {
    match status {
        PayoutStatus::Scheduled => (t.payout_scheduled, "muted"),
        PayoutStatus::Sending => (t.payout_sending, "warn"),
        PayoutStatus::Paid => (t.payout_paid, "ok"),
        PayoutStatus::Failed => (t.payout_failed, "bad"),
    }
}

pub(crate) fn payout_row(t: &Text, p: &Payout) -> PayoutRow {
    let (status, status_class) = payout_status(t, p.status);
    let last = p.attempts.last();
    PayoutRow {
        id: p.id.clone(),
        settlement_id: p.settlement_id.clone(),
        purpose: match p.purpose {
            PayoutPurpose::Settlement => t.purpose_settlement,
            PayoutPurpose::DepositRefund => t.purpose_deposit_refund,
        },
        day: dashed_day(&p.business_day),
        amount: yuan(p.amount_minor),
        date: dashed_day(&p.payout_date),
        status,
        status_class,
        failed: p.status == PayoutStatus::Failed,
        card: last.map(|a| a.card_masked.clone()).unwrap_or_default(),
        detail: last.and_then(|a| a.detail.clone()).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "merchant/settlement.html")]
struct SettlementPage {
    base: Base,
    mid: String,
    fields: Vec<Field>,
    lines: Vec<LineRow>,
    more: Option<String>,
    payout: Option<PayoutRow>,
    attempts: Vec<AttemptRow>,
}

#[derive(Deserialize)]
struct LinesAfter {
    after: Option<u32>,
}

/// Lines per page of a settlement.
const LINES_PER_PAGE: u32 = 200;

async fn settlement(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(page): Query<LinesAfter>,
) -> Response {
    let result = async {
        use xingtong_payments::clearing::{Settlement, SettlementStatus};
        let mids = ctx.owner()?.to_vec();
        let t = ctx.lang.text();
        let s = xingtong_merchants::entity::load::<Settlement>(&state.store, &id)
            .await?
            .filter(|s| mids.contains(&s.value.mid))
            .ok_or(Fail::NotFound)?
            .value;
        let fields = vec![
            Field { label: t.mid, value: s.mid.clone() },
            Field { label: t.business_day, value: dashed_day(&s.business_day) },
            Field {
                label: t.status,
                value: match s.status {
                    SettlementStatus::Cleared => t.settlement_cleared,
                    SettlementStatus::NothingToPay => t.settlement_nothing,
                }
                .to_owned(),
            },
            Field { label: t.lines, value: s.lines.to_string() },
            Field { label: t.gross, value: yuan(s.captured_minor - s.returned_minor) },
            Field { label: t.fee, value: yuan(s.fees_minor + s.surcharge_minor) },
            Field { label: t.net, value: yuan(s.net_minor) },
            Field { label: t.carried_in, value: yuan(s.carried_in_minor) },
            Field { label: t.payout, value: yuan(s.payout_minor) },
            Field { label: t.carried_out, value: yuan(s.carried_out_minor) },
            Field { label: t.payout_date, value: dashed_day(&s.payout_date) },
        ];
        let after = page.after.unwrap_or(0);
        let lines = state.store.settlement_lines(&s.mid, &s.id, after, LINES_PER_PAGE).await?;
        let more = (lines.len() == LINES_PER_PAGE as usize)
            .then(|| lines.last().map(|l| format!("/console/settlements/{}?after={}", s.id, l.seq)))
            .flatten();
        let lines = lines
            .into_iter()
            .map(|l| LineRow {
                seq: l.seq,
                txn_id: l.txn_id,
                kind: crate::merchant::kind_word(ctx.lang, &l.txn_type),
                day: dashed_day(&l.business_day),
                amount: yuan(l.amount_minor),
                fee: yuan(l.fee_minor + l.surcharge_minor),
                net: yuan(l.net_minor),
            })
            .collect();
        let payout = match &state.payments {
            Some((engine, _)) => engine.payout(&Payout::key(&s.id)).await.map_err(|e| Fail::Internal(e.to_string()))?,
            None => None,
        };
        let attempts = payout
            .as_ref()
            .map(|p| {
                p.value
                    .attempts
                    .iter()
                    .map(|a| AttemptRow {
                        at: china_time(a.at),
                        card: a.card_masked.clone(),
                        outcome: match a.outcome.as_str() {
                            "paid" => t.payout_paid,
                            "failed" => t.payout_failed,
                            _ => t.payout_sending,
                        },
                        outcome_class: match a.outcome.as_str() {
                            "paid" => "ok",
                            "failed" => "bad",
                            _ => "warn",
                        },
                        detail: a.detail.clone().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let page = SettlementPage {
            base: ctx.base(Console::Merchant, &format!("{} {}", t.settlement, dashed_day(&s.business_day))),
            mid: s.mid.clone(),
            fields,
            lines,
            more,
            payout: payout.map(|p| payout_row(t, &p.value)),
            attempts,
        };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- the settlement bank card ----

/// A field of a form, as sent, with what the service found wrong with it.
struct FormField {
    name: &'static str,
    label: &'static str,
    value: String,
    errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "merchant/bank_card.html")]
struct BankCardPage {
    base: Base,
    mids: Vec<String>,
    mid: String,
    current: Vec<Field>,
    failed_payouts: Vec<PayoutRow>,
    notice: Option<Notice>,
    form_fields: Vec<FormField>,
    /// A change waiting for its code: (id, masked new card, bank, phone it went to).
    pending: Option<(String, String, String, String)>,
}

/// The phone as the page shows it: the last four digits.
fn masked_phone(phone: &str) -> String {
    let tail: String = phone.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("*******{tail}")
}

/// The change form as sent, with what the service found wrong beside each field.
#[derive(Default)]
struct CardForm {
    card_number: String,
    bank_name: String,
    account_holder: String,
    findings: Vec<(String, bool, String)>,
}

async fn render_bank_card(
    state: &AppState,
    ctx: &Ctx,
    mid: Option<&str>,
    form: CardForm,
    pending: Option<(String, String, String)>,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<Response, Fail> {
    let (mids, mid) = chosen(ctx, mid)?;
    let principal = principal(ctx)?;
    let t = ctx.lang.text();
    let m = state.merchants.merchant(&principal, &mid).await?.value;
    let card = &m.settlement_card;
    let current = vec![
        Field { label: t.card_number, value: card.masked() },
        Field { label: t.bank, value: card.bank_name.clone() },
        Field { label: t.account_holder, value: card.account_holder.clone() },
    ];
    let failed_payouts = failed_payouts(state, t, &mid).await?;
    let errors = |field: &str| -> Vec<String> {
        form.findings.iter().filter(|(f, e, _)| f == field && *e).map(|(_, _, m)| m.clone()).collect()
    };
    let form_fields = vec![
        FormField {
            name: "card_number",
            label: t.card_number_settlement,
            errors: errors("card_number"),
            value: form.card_number,
        },
        FormField { name: "bank_name", label: t.bank, errors: errors("bank_name"), value: form.bank_name },
        FormField {
            name: "account_holder",
            label: t.account_holder,
            errors: errors("account_holder"),
            value: form.account_holder,
        },
    ];
    let page = BankCardPage {
        base: ctx.base(Console::Merchant, t.nav_bank_card),
        mids,
        mid,
        current,
        failed_payouts,
        notice,
        form_fields,
        pending: pending.map(|(id, card, bank)| (id, card, bank, masked_phone(&m.phone))),
    };
    Ok(ctx.page(status, page.render()?))
}

/// The merchant's failed payouts (waiting for a new card), newest first.
pub(crate) async fn failed_payouts(state: &AppState, t: &Text, mid: &str) -> Result<Vec<PayoutRow>, Fail> {
    use xingtong_store::{Table, TableQuery};
    let query = TableQuery::new(Table::Payouts)
        .merchant(mid)
        .statuses(&[PayoutStatus::Failed.as_str()])
        .order_by("business_day")
        .descending()
        .limit(100);
    let found: Vec<xingtong_merchants::entity::Stored<Payout>> =
        xingtong_merchants::entity::select(&state.store, query).await?;
    Ok(found.iter().map(|p| payout_row(t, &p.value)).collect())
}

async fn bank_card(State(state): State<AppState>, ctx: Ctx, Query(which): Query<Which>) -> Response {
    let result =
        render_bank_card(&state, &ctx, which.mid.as_deref(), CardForm::default(), None, None, StatusCode::OK).await;
    ctx.finish(Console::Merchant, result)
}

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    mid: String,
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    bank_name: String,
    #[serde(default)]
    account_holder: String,
}

async fn request_change(State(state): State<AppState>, ctx: Ctx, Form(form): Form<ChangeForm>) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let (_, mid) = chosen(&ctx, Some(&form.mid))?;
        let principal = principal(&ctx)?;
        let card = xingtong_merchants::bank_card::NewCard {
            card_number: form.card_number.clone(),
            bank_name: form.bank_name.clone(),
            account_holder: form.account_holder.clone(),
        };
        let mut sent = CardForm {
            card_number: form.card_number.trim().to_owned(),
            bank_name: form.bank_name.trim().to_owned(),
            account_holder: form.account_holder.trim().to_owned(),
            findings: Vec::new(),
        };
        match state.merchants.request_card_change(&principal, &mid, card).await {
            Ok(change) => {
                let pending = Some((change.id, change.card_number, change.bank_name));
                render_bank_card(&state, &ctx, Some(&mid), sent, pending, None, StatusCode::OK).await
            }
            Err(error) => {
                sent.findings = crate::findings_of(ctx.lang, &error);
                let notice = if sent.findings.is_empty() { said(ctx.lang, &error) } else { None };
                if notice.is_none() && sent.findings.is_empty() {
                    return Err(error.into());
                }
                let status = refusal_status(&error);
                render_bank_card(&state, &ctx, Some(&mid), sent, None, notice.and_then(Notice::refused), status).await
            }
        }
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

#[derive(Deserialize)]
struct ConfirmForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    mid: String,
    change: String,
    #[serde(default)]
    code: String,
}

async fn confirm_change(State(state): State<AppState>, ctx: Ctx, Form(form): Form<ConfirmForm>) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let (_, mid) = chosen(&ctx, Some(&form.mid))?;
        let principal = principal(&ctx)?;
        let t = ctx.lang.text();
        match state.merchants.confirm_card_change(&principal, &mid, &form.change, &form.code).await {
            Ok(_) => {
                let notice = Notice::done(t.card_changed);
                render_bank_card(&state, &ctx, Some(&mid), CardForm::default(), None, notice, StatusCode::OK).await
            }
            Err(error) if error.class == Class::NotFound => Err(error.into()),
            Err(error) => {
                let status = refusal_status(&error);
                // A wrong code keeps the change open: the code is asked again.
                let (text, pending) = match error.code {
                    "wrong_code" => {
                        let change = xingtong_merchants::entity::load::<xingtong_merchants::bank_card::CardChange>(
                            &state.store,
                            &form.change,
                        )
                        .await?
                        .filter(|c| c.value.mid == mid && c.value.status == "pending")
                        .map(|c| {
                            let view = xingtong_merchants::bank_card::CardChangeView::from(&c.value);
                            (view.id, view.card_number, view.bank_name)
                        });
                        let text = if change.is_some() { t.wrong_code } else { t.change_not_pending };
                        (text.to_owned(), change)
                    }
                    "code_expired" => (t.code_expired.to_owned(), None),
                    "invalid_state" => (t.change_not_pending.to_owned(), None),
                    _ => (said(ctx.lang, &error).ok_or_else(|| Fail::from(error.clone()))?, None),
                };
                let notice = Notice::refused(text);
                render_bank_card(&state, &ctx, Some(&mid), CardForm::default(), pending, notice, status).await
            }
        }
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- cashiers ----

struct CashierRow {
    operator: String,
    name: String,
    status: &'static str,
    status_class: &'static str,
    reset_requested: bool,
    can_set_pin: bool,
    can_disable: bool,
    can_enable: bool,
    can_ask_reset: bool,
}

#[derive(Template)]
#[template(path = "merchant/cashiers.html")]
struct CashiersPage {
    base: Base,
    mids: Vec<String>,
    mid: String,
    rows: Vec<CashierRow>,
    notice: Option<Notice>,
    operator: String,
    name: String,
}

async fn render_cashiers(
    state: &AppState,
    ctx: &Ctx,
    mid: Option<&str>,
    notice: Option<Notice>,
    status: StatusCode,
    sent: (String, String),
) -> Result<Response, Fail> {
    let (mids, mid) = chosen(ctx, mid)?;
    let principal = principal(ctx)?;
    let t = ctx.lang.text();
    let rows = state
        .merchants
        .cashiers(&principal, &mid)
        .await?
        .into_iter()
        .map(|c| {
            let c = c.value;
            let (status, status_class) = match c.status {
                CashierStatus::PinRequired => (t.cashier_pin_required, "warn"),
                CashierStatus::Active => (t.cashier_active, "ok"),
                CashierStatus::Locked => (t.cashier_locked, "bad"),
                CashierStatus::Disabled => (t.cashier_disabled, "muted"),
            };
            CashierRow {
                can_set_pin: matches!(c.status, CashierStatus::PinRequired | CashierStatus::Active),
                can_disable: c.status != CashierStatus::Disabled && !c.is_supervisor(),
                can_enable: c.status == CashierStatus::Disabled,
                can_ask_reset: c.status == CashierStatus::Locked && c.reset_requested_at.is_none(),
                reset_requested: c.reset_requested_at.is_some(),
                operator: c.operator,
                name: c.name,
                status,
                status_class,
            }
        })
        .collect();
    let page = CashiersPage {
        base: ctx.base(Console::Merchant, t.nav_cashiers),
        mids,
        mid,
        rows,
        notice,
        operator: sent.0,
        name: sent.1,
    };
    Ok(ctx.page(status, page.render()?))
}

async fn cashiers(State(state): State<AppState>, ctx: Ctx, Query(which): Query<Which>) -> Response {
    let result = render_cashiers(&state, &ctx, which.mid.as_deref(), None, StatusCode::OK, Default::default()).await;
    ctx.finish(Console::Merchant, result)
}

#[derive(Deserialize)]
struct CashierForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    mid: String,
    #[serde(default)]
    operator: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    pin: String,
}

impl std::fmt::Debug for CashierForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CashierForm").field("mid", &self.mid).field("operator", &self.operator).finish_non_exhaustive()
    }
}

/// What a cashier form did, said on the page.
fn cashier_done(
    ctx: &Ctx,
    done: Result<xingtong_merchants::entity::Stored<xingtong_merchants::cashiers::Cashier>, xingtong_merchants::Error>,
) -> Result<(Option<Notice>, StatusCode), Fail> {
    match done {
        Ok(c) => Ok((
            Notice::done(format!("{} {} {}", ctx.lang.text().decided, c.value.operator, c.value.name)),
            StatusCode::OK,
        )),
        Err(error) => match said(ctx.lang, &error) {
            Some(text) => Ok((Notice::refused(text), refusal_status(&error))),
            None => Err(error.into()),
        },
    }
}

async fn add_cashier(State(state): State<AppState>, ctx: Ctx, Form(form): Form<CashierForm>) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let (_, mid) = chosen(&ctx, Some(&form.mid))?;
        let principal = principal(&ctx)?;
        let operator = form.operator.trim().to_owned();
        let done =
            state.merchants.create_cashier(&principal, &mid, &operator, &form.name, form.pin.clone().into()).await;
        let failed = done.is_err();
        let (notice, status) = cashier_done(&ctx, done)?;
        // A refused form comes back filled in (never the PIN).
        let sent = if failed { (operator, form.name.trim().to_owned()) } else { Default::default() };
        render_cashiers(&state, &ctx, Some(&mid), notice, status, sent).await
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

async fn cashier_action(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((operator, action)): Path<(String, String)>,
    Form(form): Form<CashierForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let (_, mid) = chosen(&ctx, Some(&form.mid))?;
        let principal = principal(&ctx)?;
        let m = &state.merchants;
        let done = match action.as_str() {
            "pin" => m.set_cashier_pin(&principal, &mid, &operator, form.pin.clone().into()).await,
            "disable" => m.set_cashier_enabled(&principal, &mid, &operator, false).await,
            "enable" => m.set_cashier_enabled(&principal, &mid, &operator, true).await,
            "pin-reset-request" => m.request_pin_reset(&principal, &mid, &operator).await,
            _ => return Err(Fail::NotFound),
        };
        let (notice, status) = cashier_done(&ctx, done)?;
        render_cashiers(&state, &ctx, Some(&mid), notice, status, Default::default()).await
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- fees, limits and the settlement cycle ----

struct FeeRow {
    label: &'static str,
    value: String,
}

struct FeeChangeRow {
    from: String,
    announced: String,
    rows: Vec<FeeRow>,
    upcoming: bool,
}

#[derive(Template)]
#[template(path = "merchant/fees.html")]
struct FeesPage {
    base: Base,
    mids: Vec<String>,
    mid: String,
    current: Vec<FeeRow>,
    changes: Vec<FeeChangeRow>,
    limits: Vec<FeeRow>,
    d0: bool,
    notice: Option<Notice>,
}

fn fee_rows(t: &Text, f: &xingtong_onboarding::terms::FeeSchedule) -> Vec<FeeRow> {
    vec![
        FeeRow { label: t.debit_rate, value: percent(f.debit_ppm) },
        FeeRow { label: t.debit_cap, value: yuan(f.debit_cap_minor) },
        FeeRow { label: t.credit_rate, value: percent(f.credit_ppm) },
        FeeRow { label: t.qr_rate, value: percent(f.qr_ppm) },
        FeeRow { label: t.d0_rate, value: percent(f.d0_extra_ppm) },
    ]
}

pub(crate) fn limit_rows(t: &Text, l: &xingtong_onboarding::terms::Limits) -> Vec<(&'static str, String)> {
    let maybe = |v: Option<i64>| v.map_or_else(|| t.no_limit.to_owned(), yuan);
    vec![
        (t.limit_per_txn, yuan(l.per_transaction_minor)),
        (t.limit_daily, yuan(l.daily_minor)),
        (t.limit_credit_daily, maybe(l.credit_daily_minor)),
        (t.limit_credit_monthly, maybe(l.credit_monthly_minor)),
        (t.limit_static_qr, yuan(l.static_qr_per_payer_daily_minor)),
    ]
}

async fn render_fees(
    state: &AppState,
    ctx: &Ctx,
    mid: Option<&str>,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<Response, Fail> {
    let (mids, mid) = chosen(ctx, mid)?;
    let principal = principal(ctx)?;
    let t = ctx.lang.text();
    let m = state.merchants.merchant(&principal, &mid).await?.value;
    let today = xingtong_payments::clock::business_day();
    let changes = m
        .fee_changes
        .iter()
        .rev()
        .map(|c| FeeChangeRow {
            from: dashed_day(&c.effective_day),
            announced: china_time(c.announced_at),
            rows: fee_rows(t, &c.fees),
            upcoming: c.effective_day > today,
        })
        .collect();
    let page = FeesPage {
        base: ctx.base(Console::Merchant, t.nav_fees),
        mids,
        mid,
        current: fee_rows(t, &m.fees_on(&today)),
        changes,
        limits: limit_rows(t, &m.terms.limits).into_iter().map(|(label, value)| FeeRow { label, value }).collect(),
        d0: m.settlement_cycle == SettlementCycle::D0,
        notice,
    };
    Ok(ctx.page(status, page.render()?))
}

async fn fees(State(state): State<AppState>, ctx: Ctx, Query(which): Query<Which>) -> Response {
    let result = render_fees(&state, &ctx, which.mid.as_deref(), None, StatusCode::OK).await;
    ctx.finish(Console::Merchant, result)
}

#[derive(Deserialize)]
struct CycleForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    mid: String,
    cycle: String,
}

async fn set_cycle(State(state): State<AppState>, ctx: Ctx, Form(form): Form<CycleForm>) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let (_, mid) = chosen(&ctx, Some(&form.mid))?;
        let principal = principal(&ctx)?;
        let cycle = match form.cycle.as_str() {
            "t1" => SettlementCycle::T1,
            "d0" => SettlementCycle::D0,
            _ => return Err(Fail::NotFound),
        };
        let (notice, status) = match state.merchants.set_settlement_cycle(&principal, &mid, cycle).await {
            Ok(_) => (Notice::done(ctx.lang.text().decided), StatusCode::OK),
            Err(error) => match said(ctx.lang, &error) {
                Some(text) => (Notice::refused(text), refusal_status(&error)),
                None => return Err(error.into()),
            },
        };
        render_fees(&state, &ctx, Some(&mid), notice, status).await
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- API keys ----

struct KeyRow {
    id: String,
    mid: String,
    label: String,
    scopes: String,
    created: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "merchant/api_keys.html")]
struct KeysPage {
    base: Base,
    mids: Vec<String>,
    rows: Vec<KeyRow>,
    /// A key just made: its token, shown this once.
    token: Option<String>,
    notice: Option<Notice>,
}

fn scope_word(t: &Text, scope: Scope) -> &'static str {
    match scope {
        Scope::Payments => t.scope_payments,
        Scope::Refunds => t.scope_refunds,
        Scope::Manage => t.scope_manage,
    }
}

async fn render_keys(
    state: &AppState,
    ctx: &Ctx,
    token: Option<String>,
    notice: Option<Notice>,
    status: StatusCode,
) -> Result<Response, Fail> {
    let mids = ctx.owner()?.to_vec();
    let principal = principal(ctx)?;
    let t = ctx.lang.text();
    let mut keys = if mids.is_empty() { Vec::new() } else { state.merchants.merchant_keys(&principal).await? };
    keys.sort_by_key(|k| std::cmp::Reverse(k.created_at));
    let rows = keys
        .into_iter()
        .map(|k| {
            let scopes = Scope::from_role(&k.role).unwrap_or_default();
            KeyRow {
                scopes: if scopes.is_empty() {
                    t.scope_read.to_owned()
                } else {
                    scopes.iter().map(|s| scope_word(t, *s)).collect::<Vec<_>>().join(", ")
                },
                id: k.id,
                mid: k.owner.unwrap_or_default(),
                label: k.label,
                created: china_time(k.created_at),
                active: k.revoked_at.is_none(),
            }
        })
        .collect();
    let page = KeysPage { base: ctx.base(Console::Merchant, t.nav_api_keys), mids, rows, token, notice };
    Ok(ctx.page(status, page.render()?))
}

async fn api_keys(State(state): State<AppState>, ctx: Ctx) -> Response {
    let result = render_keys(&state, &ctx, None, None, StatusCode::OK).await;
    ctx.finish(Console::Merchant, result)
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    mid: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    payments: Option<String>,
    #[serde(default)]
    refunds: Option<String>,
    #[serde(default)]
    manage: Option<String>,
}

async fn create_key(State(state): State<AppState>, ctx: Ctx, Form(form): Form<KeyForm>) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let (_, mid) = chosen(&ctx, Some(&form.mid))?;
        let principal = principal(&ctx)?;
        let scopes: Vec<Scope> =
            [(Scope::Payments, &form.payments), (Scope::Refunds, &form.refunds), (Scope::Manage, &form.manage)]
                .into_iter()
                .filter(|(_, on)| on.is_some())
                .map(|(s, _)| s)
                .collect();
        match state.merchants.create_merchant_key(&principal, Some(&mid), &form.label, &scopes).await {
            Ok(key) => render_keys(&state, &ctx, Some(key.token), None, StatusCode::CREATED).await,
            Err(error) => match said(ctx.lang, &error) {
                Some(text) => render_keys(&state, &ctx, None, Notice::refused(text), refusal_status(&error)).await,
                None => Err(error.into()),
            },
        }
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

async fn revoke_key(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<crate::merchant::TokenForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = principal(&ctx)?;
        state.merchants.revoke_merchant_key(&principal, &id).await?;
        // This process's cache of verified keys forgets it at once, as the JSON API's revoke does.
        state.forget_api_key(&id);
        render_keys(&state, &ctx, None, Notice::done(format!("{} {id}", ctx.lang.text().key_revoked)), StatusCode::OK)
            .await
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- notifications ----

pub(crate) struct NotificationRow {
    pub id: String,
    pub at: String,
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub attempts: u32,
    pub error: String,
}

/// A message as a page shows it: one carrying a one-time code never shows its text.
pub(crate) fn notification_row(
    t: &Text,
    n: &xingtong_merchants::entity::Stored<xingtong_merchants::notify::Notification>,
) -> NotificationRow {
    let v = &n.value;
    let (status, status_class) = match v.status.as_str() {
        "sent" => (t.notif_sent, "ok"),
        "failed" => (t.notif_failed, "bad"),
        _ => (t.notif_pending, "muted"),
    };
    NotificationRow {
        id: v.id.clone(),
        at: china_time(v.sent_at.unwrap_or(n.created_at)),
        channel: v.channel.clone(),
        to: v.to.clone(),
        subject: v.subject.clone(),
        text: if v.template.carries_secret() { t.secret_withheld.to_owned() } else { v.text.clone() },
        status,
        status_class,
        attempts: v.attempts,
        error: v.last_error.clone().unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "merchant/notifications.html")]
struct NotificationsPage {
    base: Base,
    rows: Vec<NotificationRow>,
}

async fn notifications(State(state): State<AppState>, ctx: Ctx) -> Response {
    let result = async {
        ctx.owner()?;
        let principal = principal(&ctx)?;
        let t = ctx.lang.text();
        let found = state.merchants.recent_notifications(&principal, &[], 200).await?;
        let rows = found.iter().map(|n| notification_row(t, n)).collect();
        let page = NotificationsPage { base: ctx.base(Console::Merchant, t.nav_notifications), rows };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_as_per_cent() {
        assert_eq!(percent(3_800), "0.38%");
        assert_eq!(percent(5_000), "0.50%");
        assert_eq!(percent(500), "0.05%");
        assert_eq!(percent(6_250), "0.625%");
        assert_eq!(percent(1_000_000), "100.00%");
        assert_eq!(masked_phone("13600000011"), "*******0011");
    }
}

//! The merchant console (`/console`): sign-in, the merchant's devices, transactions with their
//! receipts and a CSV export, settlements.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use xingtong_api::AppState;
use xingtong_merchants::devices::{Device, DeviceStatus};
use xingtong_merchants::entity::Stored;
use xingtong_merchants::identity::Principal;
use xingtong_payments::txn::{CardTransaction, Status};
use xingtong_store::TxnQuery;

use crate::export::{Cell, Format, Sheet};
use crate::i18n::Text;
use crate::{Base, Console, Ctx, Fail, china_time, dashed_day, url_encode, yuan};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(overview))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/transactions", get(transactions))
        .route("/console/transactions.csv", get(|s, c, q| transactions_export(s, c, q, Format::Csv)))
        .route("/console/transactions.xlsx", get(|s, c, q| transactions_export(s, c, q, Format::Xlsx)))
        .route("/console/reports", get(reports))
        .route("/console/reports.csv", get(|s, c, q| report_export(s, c, q, Format::Csv)))
        .route("/console/reports.xlsx", get(|s, c, q| report_export(s, c, q, Format::Xlsx)))
        .route("/console/transactions/{id}", get(transaction))
        .route("/console/settlements", get(settlements))
}

// ---- signing in ----

#[derive(Template)]
#[template(path = "sign_in.html")]
pub(crate) struct SignInPage {
    pub base: Base,
    pub next: String,
    pub login_label: &'static str,
    pub login: String,
    pub error: Option<&'static str>,
}

#[derive(Deserialize)]
pub(crate) struct Next {
    pub next: Option<String>,
}

/// Only a path of this console (never another site).
pub(crate) fn safe_next(next: Option<&str>, console: Console) -> String {
    next.filter(|n| n.starts_with(console.root()) && !n.starts_with("//") && !n.contains("://"))
        .unwrap_or(console.root())
        .to_owned()
}

async fn sign_in_page(ctx: Ctx, Query(next): Query<Next>) -> Response {
    show_sign_in(ctx, next, Console::Merchant)
}

/// A console's sign-in page.
pub(crate) fn show_sign_in(ctx: Ctx, next: Next, console: Console) -> Response {
    let t = ctx.lang.text();
    let page = SignInPage {
        base: ctx.base(console, t.sign_in),
        next: safe_next(next.next.as_deref(), console),
        login_label: if console == Console::Ops { t.username } else { t.login },
        login: String::new(),
        error: None,
    };
    let result = page.render().map(|html| ctx.page(StatusCode::OK, html)).map_err(Fail::from);
    ctx.finish(console, result)
}

/// A sign-in form.
#[derive(Deserialize)]
pub(crate) struct SignInForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    login: String,
    password: String,
    next: Option<String>,
}

async fn sign_in(State(state): State<AppState>, ctx: Ctx, Form(form): Form<SignInForm>) -> Response {
    take_sign_in(state, ctx, form, Console::Merchant).await
}

/// A console's sign-in form: an owner's on the merchant console, a staff member's on the
/// operations console.
pub(crate) async fn take_sign_in(state: AppState, ctx: Ctx, form: SignInForm, console: Console) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let next = safe_next(form.next.as_deref(), console);
        let (signed, ttl) = match console {
            Console::Merchant => (
                state.merchants.login_owner(&form.login, &form.password).await,
                xingtong_merchants::identity::OWNER_SESSION_NS,
            ),
            Console::Ops => (
                state.merchants.login_staff(&form.login, &form.password).await,
                xingtong_merchants::identity::STAFF_SESSION_NS,
            ),
        };
        match signed {
            Ok(token) => Ok(crate::with_session(ctx.redirect(&next), &token.0, ttl)),
            Err(error) => sign_in_refused(&ctx, console, error, form.login, next),
        }
    }
    .await;
    ctx.finish(console, result)
}

/// The sign-in page again, saying why (never which of login and password was wrong).
pub(crate) fn sign_in_refused(
    ctx: &Ctx,
    console: Console,
    error: xingtong_merchants::Error,
    login: String,
    next: String,
) -> Result<Response, Fail> {
    use xingtong_merchants::Class;
    let t = ctx.lang.text();
    let (status, message) = match error.class {
        Class::Unauthenticated => (StatusCode::UNAUTHORIZED, t.wrong_credentials),
        Class::Locked => (StatusCode::LOCKED, t.locked),
        _ => return Err(error.into()),
    };
    let page = SignInPage {
        base: ctx.base(console, t.sign_in),
        next,
        login_label: if console == Console::Ops { t.username } else { t.login },
        login,
        error: Some(message),
    };
    Ok(ctx.page(status, page.render()?))
}

/// A stored document as an answer: its checked type, never cached (only the types the upload
/// checked by content; anything else is a download).
pub(crate) fn document_response(doc: &xingtong_merchants::applications::DocumentRef, bytes: Vec<u8>) -> Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let content_type = match doc.content_type.as_str() {
        "image/jpeg" => "image/jpeg",
        "image/png" => "image/png",
        "application/pdf" => "application/pdf",
        _ => "application/octet-stream",
    };
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    response
}

/// A form with only its token.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    #[serde(rename = "_csrf", default)]
    pub csrf: String,
}

pub(crate) async fn end_session(
    state: &AppState,
    ctx: &Ctx,
    form: &TokenForm,
    console: Console,
) -> Result<Response, Fail> {
    ctx.check_csrf(&form.csrf)?;
    if let Some(token) = &ctx.session {
        state.merchants.logout(token).await?;
    }
    Ok(crate::without_session(ctx.redirect(&format!("{}/sign-in", console.root()))))
}

async fn sign_out(State(state): State<AppState>, ctx: Ctx, Form(form): Form<TokenForm>) -> Response {
    let result = end_session(&state, &ctx, &form, Console::Merchant).await;
    ctx.finish(Console::Merchant, result)
}

// ---- overview ----

/// A device as the overview lists it.
pub(crate) struct DeviceRow {
    pub tid: String,
    pub model: String,
    pub serial_number: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub deposit: String,
    /// When the terminal last signed in (签到), and with which operator, or never.
    pub last_seen: String,
    /// The deposit's state, and its progress toward the refund (per cent, with what is left).
    pub deposit_state: String,
    pub deposit_percent: Option<u32>,
    /// The code to activate it with, while it is ordered or shipped (the owner's to see).
    pub activation_code: Option<String>,
}

/// A merchant with its devices.
pub(crate) struct MerchantBlock {
    pub mid: String,
    pub name: String,
    pub status: &'static str,
    pub devices: Vec<DeviceRow>,
}

#[derive(Template)]
#[template(path = "merchant/overview.html")]
struct OverviewPage {
    base: Base,
    merchants: Vec<MerchantBlock>,
}

/// A device's state in words.
pub(crate) fn device_status(t: &Text, status: DeviceStatus) -> (&'static str, &'static str) {
    match status {
        DeviceStatus::Ordered => (t.device_ordered, "muted"),
        DeviceStatus::Shipped => (t.device_shipped, "muted"),
        DeviceStatus::Bound => (t.device_bound, "warn"),
        DeviceStatus::Activated => (t.device_activated, "ok"),
        DeviceStatus::Suspended => (t.device_suspended, "bad"),
    }
}

/// A deposit's state in words, and its progress toward the refund while it counts.
pub(crate) fn deposit_words(t: &Text, d: &xingtong_payments::deposit::Deposit) -> (String, Option<u32>) {
    use xingtong_payments::deposit::DepositStatus;
    match d.status {
        DepositStatus::Due => (t.deposit_due.to_owned(), None),
        DepositStatus::Held => {
            let percent = if d.threshold_minor > 0 {
                u32::try_from((i128::from(d.volume_minor.max(0)) * 100 / i128::from(d.threshold_minor)).min(100))
                    .unwrap_or(100)
            } else {
                100
            };
            let left = match &d.deadline_day {
                Some(day) => format!("{} {} {}", yuan(d.remaining_minor()), t.deposit_to_go, dashed_day(day)),
                None => yuan(d.remaining_minor()),
            };
            (format!("{} · {left}", t.deposit_held), Some(percent))
        }
        DepositStatus::Waived => (t.deposit_waived.to_owned(), None),
        DepositStatus::Refunding => (t.deposit_refunding.to_owned(), Some(100)),
        DepositStatus::Refunded => (t.deposit_refunded.to_owned(), None),
        DepositStatus::Kept => (t.deposit_kept.to_owned(), None),
    }
}

pub(crate) fn device_row(
    t: &Text,
    device: &Device,
    session: Option<&xingtong_payments::session::TerminalSession>,
    deposit: Option<&xingtong_payments::deposit::Deposit>,
) -> DeviceRow {
    let (status, status_class) = device_status(t, device.status);
    let last_seen = match session {
        Some(s) if s.signed_in => format!("{} · {} {}", china_time(s.signed_in_at), t.cashier, s.operator),
        Some(s) => format!("{} · {}", china_time(s.signed_in_at), t.signed_off),
        None => t.never_signed_in.to_owned(),
    };
    let (deposit_state, deposit_percent) = deposit.map(|d| deposit_words(t, d)).unwrap_or_default();
    DeviceRow {
        tid: device.tid.clone(),
        model: device.model.clone(),
        serial_number: device.serial_number.clone(),
        status,
        status_class,
        deposit: yuan(device.deposit_minor),
        last_seen,
        deposit_state,
        deposit_percent,
        activation_code: device
            .activation_code
            .clone()
            .filter(|_| matches!(device.status, DeviceStatus::Ordered | DeviceStatus::Shipped)),
    }
}

async fn overview(State(state): State<AppState>, ctx: Ctx) -> Response {
    let result = async {
        let mids = ctx.owner()?.to_vec();
        let principal = ctx.principal.clone().ok_or(Fail::SignIn(Console::Merchant))?;
        let t = ctx.lang.text();
        let mut merchants = Vec::new();
        for mid in &mids {
            let merchant = state.merchants.merchant(&principal, mid).await?.value;
            let devices = state.merchants.devices(&principal, mid).await?;
            merchants.push(MerchantBlock {
                mid: mid.clone(),
                name: merchant.name.clone(),
                status: if merchant.status == "active" { t.merchant_active } else { t.merchant_suspended },
                devices: {
                    let deposits = match &state.payments {
                        Some((engine, _)) => {
                            engine.merchant_deposits(mid).await.map_err(|e| Fail::Internal(e.to_string()))?
                        }
                        None => Vec::new(),
                    };
                    let mut rows = Vec::with_capacity(devices.len());
                    for d in &devices {
                        let session = xingtong_merchants::entity::load::<xingtong_payments::session::TerminalSession>(
                            &state.store,
                            &d.value.tid,
                        )
                        .await?;
                        let deposit = deposits.iter().find(|x| x.tid == d.value.tid);
                        rows.push(device_row(t, &d.value, session.as_ref().map(|s| &s.value), deposit));
                    }
                    rows
                },
            });
        }
        let page = OverviewPage { base: ctx.base(Console::Merchant, t.nav_overview), merchants };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- transactions ----

/// The transaction list's filters, as the form sends them.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filter {
    pub mid: Option<String>,
    /// `YYYY-MM-DD`.
    pub from: Option<String>,
    /// `YYYY-MM-DD`.
    pub to: Option<String>,
    pub tid: Option<String>,
    pub method: Option<String>,
    pub status: Option<String>,
    /// An operator number, `00`–`99`.
    pub cashier: Option<String>,
    /// `sale`, `collection` or `purchase`.
    pub business: Option<String>,
    /// A transaction type: `sale`, `void`, `refund`, `completion` …
    pub kind: Option<String>,
    pub after: Option<String>,
}

/// The methods a filter may name.
pub(crate) const METHODS: [&str; 4] = ["card", "wechat", "alipay", "unionpay_qr"];
/// The statuses a filter may name.
pub(crate) const STATUSES: [&str; 6] = ["approved", "declined", "voided", "reversed", "completed", "pending"];
/// The transaction types a filter may name: every kind but the reversal marks the host keeps
/// for itself.
pub(crate) fn kinds() -> impl Iterator<Item = xingtong_payments::txn::Kind> {
    xingtong_payments::txn::Kind::ALL.into_iter().filter(|k| *k != xingtong_payments::txn::Kind::ReversalMark)
}
/// The business types a filter may name.
pub(crate) const BUSINESSES: [xingtong_payments::txn::BusinessType; 3] = [
    xingtong_payments::txn::BusinessType::Sale,
    xingtong_payments::txn::BusinessType::Collection,
    xingtong_payments::txn::BusinessType::Purchase,
];

fn blank(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `YYYY-MM-DD` (as a date input sends it) as `YYYYMMDD`; anything else is no filter.
fn day_of(value: Option<&str>) -> Option<String> {
    let v = value?;
    let compact: String = v.chars().filter(|c| *c != '-').collect();
    (compact.len() == 8 && xingtong_payments::clearing::valid_day(&compact)).then_some(compact)
}

impl Filter {
    /// The merchant it is about: the one named, if it is the caller's, else the first.
    pub(crate) fn merchant<'a>(&self, mids: &'a [String]) -> Result<&'a String, Fail> {
        match blank(&self.mid) {
            Some(mid) => mids.iter().find(|m| *m == mid).ok_or(Fail::NotFound),
            None => mids.first().ok_or(Fail::NotFound),
        }
    }

    /// The store's query of it.
    pub(crate) fn query(&self, mid: &str, limit: u32) -> TxnQuery {
        let after = blank(&self.after).and_then(|a| a.split_once('_')).map(|(d, i)| (d.to_owned(), i.to_owned()));
        TxnQuery {
            merchant: Some(mid.to_owned()),
            day_from: day_of(blank(&self.from)),
            day_to: day_of(blank(&self.to)),
            terminal: blank(&self.tid)
                .filter(|t| t.len() == 8 && t.bytes().all(|b| b.is_ascii_digit()))
                .map(Into::into),
            statuses: blank(&self.status)
                .filter(|s| STATUSES.contains(s))
                .map(|s| vec![s.to_owned()])
                .unwrap_or_default(),
            methods: blank(&self.method)
                .filter(|m| METHODS.contains(m))
                .map(|m| vec![m.to_owned()])
                .unwrap_or_default(),
            operators: blank(&self.cashier)
                .filter(|c| xingtong_merchants::cashiers::check_operator(c).is_ok())
                .map(|c| vec![c.to_owned()])
                .unwrap_or_default(),
            business_types: blank(&self.business)
                .filter(|b| BUSINESSES.iter().any(|x| x.as_str() == *b))
                .map(|b| vec![b.to_owned()])
                .unwrap_or_default(),
            types: blank(&self.kind)
                .filter(|k| kinds().any(|x| x.as_str() == *k))
                .map(|k| vec![k.to_owned()])
                .unwrap_or_default(),
            after,
            limit,
            ..TxnQuery::default()
        }
    }

    /// The query string of these filters (without the cursor), for links.
    pub(crate) fn query_string(&self, mid: &str) -> String {
        let mut parts = vec![format!("mid={}", url_encode(mid))];
        for (name, value) in [
            ("from", &self.from),
            ("to", &self.to),
            ("tid", &self.tid),
            ("method", &self.method),
            ("status", &self.status),
            ("cashier", &self.cashier),
            ("business", &self.business),
            ("kind", &self.kind),
        ] {
            if let Some(v) = blank(value) {
                parts.push(format!("{name}={}", url_encode(v)));
            }
        }
        parts.join("&")
    }
}

/// A row of the list.
pub(crate) struct TxnRowView {
    pub id: String,
    pub time: String,
    pub tid: String,
    pub operator: String,
    pub kind: &'static str,
    pub method: &'static str,
    pub amount: String,
    pub fee: String,
    pub status: &'static str,
    pub status_class: &'static str,
    pub response: String,
}

pub(crate) fn method_name(t: &Text, method: &str) -> &'static str {
    match method {
        "wechat" => t.method_wechat,
        "alipay" => t.method_alipay,
        "unionpay_qr" => t.method_unionpay_qr,
        _ => t.method_card,
    }
}

pub(crate) fn status_name(t: &Text, status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Approved => (t.status_approved, "ok"),
        Status::Declined => (t.status_declined, "bad"),
        Status::Voided => (t.status_voided, "muted"),
        Status::Reversed => (t.status_reversed, "muted"),
        Status::Completed => (t.status_completed, "muted"),
        Status::Pending => (t.status_pending, "warn"),
    }
}

pub(crate) fn business_name(t: &Text, business: xingtong_payments::txn::BusinessType) -> &'static str {
    match business {
        xingtong_payments::txn::BusinessType::Sale => t.business_sale,
        xingtong_payments::txn::BusinessType::Collection => t.business_collection,
        xingtong_payments::txn::BusinessType::Purchase => t.business_purchase,
    }
}

/// A stored transaction type's name in the page's language (the name itself when unknown).
pub(crate) fn kind_word(lang: crate::i18n::Lang, kind: &str) -> String {
    match xingtong_payments::txn::Kind::parse(kind) {
        Some(k) => {
            let (en, zh) = k.receipt_name();
            if lang == crate::i18n::Lang::Zh { zh } else { en }.to_owned()
        }
        None => kind.to_owned(),
    }
}

pub(crate) fn kind_name(lang: crate::i18n::Lang, txn: &CardTransaction) -> &'static str {
    let (en, zh) = txn.kind.receipt_name();
    if lang == crate::i18n::Lang::Zh { zh } else { en }
}

pub(crate) fn response_text(lang: crate::i18n::Lang, txn: &CardTransaction) -> String {
    let code = xingtong_payments::cup::recorded(txn);
    match xingtong_iso8583::ResponseCode::lookup(code) {
        Some(c) => format!("{code} {}", if lang == crate::i18n::Lang::Zh { c.meaning_zh } else { c.meaning_en }),
        None => code.to_owned(),
    }
}

fn row_view(ctx: &Ctx, txn: &CardTransaction) -> TxnRowView {
    let t = ctx.lang.text();
    let (status, status_class) = status_name(t, txn.status);
    TxnRowView {
        id: txn.id.clone(),
        time: china_time(txn.at),
        tid: txn.tid.clone(),
        operator: txn.operator.clone(),
        kind: kind_name(ctx.lang, txn),
        method: method_name(t, txn.method()),
        amount: yuan(txn.amount_minor),
        fee: yuan(txn.fee_minor),
        status,
        status_class,
        response: response_text(ctx.lang, txn),
    }
}

/// An option of a filter's select.
/// A transaction type to choose, named in the page's language.
pub(crate) struct KindChoice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

pub(crate) struct Choice {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "merchant/transactions.html")]
struct TransactionsPage {
    base: Base,
    mids: Vec<String>,
    mid: String,
    from: String,
    to: String,
    tid: String,
    methods: Vec<Choice>,
    statuses: Vec<Choice>,
    cashier: String,
    businesses: Vec<Choice>,
    kinds: Vec<KindChoice>,
    rows: Vec<TxnRowView>,
    export_href: String,
    export_xlsx_href: String,
    next_href: Option<String>,
}

/// Rows of a page of the list.
pub const PAGE_ROWS: u32 = 50;

pub(crate) async fn read_page(
    state: &AppState,
    query: TxnQuery,
) -> Result<(Vec<CardTransaction>, Option<String>), Fail> {
    let limit = query.limit as usize;
    let rows = state.store.transactions(query).await?;
    let next = (rows.len() == limit)
        .then(|| rows.last().map(|r| format!("{}_{}", r.columns.business_day, r.record.id)))
        .flatten();
    let mut txns = Vec::with_capacity(rows.len());
    for row in rows {
        txns.push(Stored::<CardTransaction>::decode(row.record)?.value);
    }
    Ok((txns, next))
}

async fn transactions(State(state): State<AppState>, ctx: Ctx, Query(filter): Query<Filter>) -> Response {
    let result = async {
        let mids = ctx.owner()?.to_vec();
        let mid = filter.merchant(&mids)?.clone();
        let t = ctx.lang.text();
        let (txns, next) = read_page(&state, filter.query(&mid, PAGE_ROWS)).await?;
        let qs = filter.query_string(&mid);
        let chosen = |value: &Option<String>, v: &str| blank(value) == Some(v);
        let page = TransactionsPage {
            base: ctx.base(Console::Merchant, t.transactions),
            mids: mids.clone(),
            from: blank(&filter.from).unwrap_or("").to_owned(),
            to: blank(&filter.to).unwrap_or("").to_owned(),
            tid: blank(&filter.tid).unwrap_or("").to_owned(),
            methods: METHODS
                .iter()
                .map(|m| Choice { value: m, label: method_name(t, m), selected: chosen(&filter.method, m) })
                .collect(),
            statuses: [
                (Status::Approved, "approved"),
                (Status::Declined, "declined"),
                (Status::Voided, "voided"),
                (Status::Reversed, "reversed"),
                (Status::Completed, "completed"),
                (Status::Pending, "pending"),
            ]
            .into_iter()
            .map(|(s, v)| Choice { value: v, label: status_name(t, s).0, selected: chosen(&filter.status, v) })
            .collect(),
            cashier: blank(&filter.cashier).unwrap_or("").to_owned(),
            kinds: kinds()
                .map(|k| KindChoice {
                    value: k.as_str(),
                    label: kind_word(ctx.lang, k.as_str()),
                    selected: chosen(&filter.kind, k.as_str()),
                })
                .collect(),
            businesses: BUSINESSES
                .iter()
                .map(|b| Choice {
                    value: b.as_str(),
                    label: business_name(t, *b),
                    selected: chosen(&filter.business, b.as_str()),
                })
                .collect(),
            rows: txns.iter().map(|txn| row_view(&ctx, txn)).collect(),
            export_href: format!("/console/transactions.csv?{qs}"),
            export_xlsx_href: format!("/console/transactions.xlsx?{qs}"),
            next_href: next.map(|after| format!("/console/transactions?{qs}&after={}", url_encode(&after))),
            mid,
        };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

async fn transactions_export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(filter): Query<Filter>,
    format: Format,
) -> Response {
    let result = async {
        let mids = ctx.owner()?.to_vec();
        let mid = filter.merchant(&mids)?.clone();
        let mut query = filter.query(&mid, crate::export::EXPORT_PAGE);
        query.after = None;
        crate::export::transactions_sheet(&state, &ctx, query, &format!("transactions-{mid}")).await?.response(format)
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- one transaction ----

/// A label and a value.
pub(crate) struct Field {
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "merchant/transaction.html")]
struct TransactionPage {
    base: Base,
    id: String,
    status: &'static str,
    status_class: &'static str,
    fields: Vec<Field>,
    action: Option<String>,
}

/// A transaction the caller may see: another merchant's is "not found".
pub(crate) async fn own_transaction(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<CardTransaction, Fail> {
    let engine = state.payments.as_ref().map(|(engine, _)| engine).ok_or(Fail::NotFound)?;
    let txn = engine.transaction_by_id(id).await.map_err(Fail::from)?.ok_or(Fail::NotFound)?.value;
    principal.may_see_merchant(&txn.mid).map_err(|_| Fail::NotFound)?;
    Ok(txn)
}

async fn transaction(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let result = async {
        ctx.owner()?;
        let principal = ctx.principal.clone().ok_or(Fail::SignIn(Console::Merchant))?;
        let txn = own_transaction(&state, &principal, &id).await?;
        let t = ctx.lang.text();
        let (status, status_class) = status_name(t, txn.status);
        let mut fields = vec![
            Field { label: t.time, value: china_time(txn.at) },
            Field { label: t.kind, value: kind_name(ctx.lang, &txn).to_owned() },
            Field { label: t.amount, value: yuan(txn.amount_minor) },
            Field { label: t.fee, value: yuan(txn.fee_minor) },
            Field { label: t.method, value: method_name(t, txn.method()).to_owned() },
            Field { label: t.mid, value: txn.mid.clone() },
            Field { label: t.tid, value: txn.tid.clone() },
            Field { label: t.cashier, value: txn.operator.clone() },
            Field { label: t.batch, value: format!("{:06}", txn.batch) },
            Field { label: t.stan, value: format!("{:06}", txn.stan) },
            Field { label: t.rrn, value: txn.rrn.clone() },
            Field { label: t.response, value: response_text(ctx.lang, &txn) },
        ];
        if !txn.pan_masked.is_empty() {
            fields.push(Field { label: t.card_number, value: txn.pan_masked.clone() });
        }
        if let Some(auth) = &txn.auth_code {
            fields.push(Field { label: t.auth_code, value: auth.clone() });
        }
        if let Some(wallet_id) = txn.qr.as_ref().and_then(|q| q.wallet_txn_id.clone()) {
            fields.push(Field { label: t.wallet_order, value: wallet_id });
        }
        if txn.refunded_minor != 0 {
            fields.push(Field { label: t.refunded, value: yuan(txn.refunded_minor) });
        }
        if let Some(original) = &txn.original_id {
            fields.push(Field { label: t.original, value: original.clone() });
        }
        let action = txn.decline.map(|reason| {
            let code = xingtong_payments::cup::declined(reason);
            if ctx.lang == crate::i18n::Lang::Zh { code.action_zh.to_owned() } else { code.action_en.to_owned() }
        });
        let page = TransactionPage {
            base: ctx.base(Console::Merchant, &format!("{} {}", t.receipt, txn.id)),
            id: txn.id.clone(),
            status,
            status_class,
            fields,
            action,
        };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- settlements ----

pub(crate) struct SettlementRow {
    pub id: String,
    pub day: String,
    pub lines: u32,
    pub gross: String,
    pub fees: String,
    pub net: String,
    pub payout: String,
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "merchant/settlements.html")]
struct SettlementsPage {
    base: Base,
    mids: Vec<String>,
    mid: String,
    rows: Vec<SettlementRow>,
    payouts: Vec<crate::account::PayoutRow>,
    notice: Option<crate::account::Notice>,
}

/// Settlements and payouts a page shows: the newest hundred of each.
const SETTLEMENTS_SHOWN: u32 = 100;

async fn settlements(State(state): State<AppState>, ctx: Ctx, Query(which): Query<crate::account::Which>) -> Response {
    let result = async {
        use xingtong_store::{Table, TableQuery};
        let (mids, mid) = crate::account::chosen(&ctx, which.mid.as_deref())?;
        let t = ctx.lang.text();
        let query = TableQuery::new(Table::Settlements)
            .merchant(&mid)
            .order_by("business_day")
            .descending()
            .limit(SETTLEMENTS_SHOWN);
        let found: Vec<Stored<xingtong_payments::clearing::Settlement>> =
            xingtong_merchants::entity::select(&state.store, query).await?;
        let rows = found
            .iter()
            .map(|s| {
                let s = &s.value;
                SettlementRow {
                    id: s.id.clone(),
                    day: dashed_day(&s.business_day),
                    lines: s.lines,
                    gross: yuan(s.captured_minor - s.returned_minor),
                    fees: yuan(s.fees_minor + s.surcharge_minor),
                    net: yuan(s.net_minor),
                    payout: format!("{} ({})", yuan(s.payout_minor), dashed_day(&s.payout_date)),
                    status: match s.status {
                        xingtong_payments::clearing::SettlementStatus::Cleared => t.settlement_cleared,
                        xingtong_payments::clearing::SettlementStatus::NothingToPay => t.settlement_nothing,
                    },
                }
            })
            .collect();
        let query = TableQuery::new(Table::Payouts)
            .merchant(&mid)
            .order_by("business_day")
            .descending()
            .limit(SETTLEMENTS_SHOWN);
        let payouts: Vec<Stored<xingtong_payments::payouts::Payout>> =
            xingtong_merchants::entity::select(&state.store, query).await?;
        let payouts: Vec<_> = payouts.iter().map(|p| crate::account::payout_row(t, &p.value)).collect();
        let notice = payouts.iter().any(|p| p.failed).then(|| crate::account::Notice {
            text: format!("{}: {}", t.payout_failed, t.payout_failed_help),
            bad: true,
        });
        let page =
            SettlementsPage { base: ctx.base(Console::Merchant, t.settlements), mids, mid, rows, payouts, notice };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- reports ----

/// The report form's fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ReportForm {
    pub mid: Option<String>,
    /// `YYYY-MM-DD`.
    pub from: Option<String>,
    /// `YYYY-MM-DD`.
    pub to: Option<String>,
    pub period: Option<String>,
    pub by: Option<String>,
}

/// A report's parameters, checked: (mid, from, to as `YYYYMMDD`, period, split). The range
/// defaults to this month so far.
pub(crate) fn report_spec(
    state: &AppState,
    ctx: &Ctx,
    form: &ReportForm,
) -> Result<(String, String, String, xingtong_payments::reports::Period, xingtong_payments::reports::By), Fail> {
    use xingtong_payments::reports::{By, Period};
    let mids = ctx.owner()?.to_vec();
    let mid = Filter { mid: form.mid.clone(), ..Filter::default() }.merchant(&mids)?.clone();
    let today = match &state.payments {
        Some((engine, _)) => engine.clock().business_day(),
        None => xingtong_payments::clock::business_day(),
    };
    let to = day_of(blank(&form.to)).unwrap_or_else(|| today.clone());
    let from = day_of(blank(&form.from)).unwrap_or_else(|| format!("{}01", &to[..6]));
    let period = blank(&form.period).and_then(Period::parse).unwrap_or(Period::Day);
    let by = blank(&form.by).and_then(By::parse).unwrap_or(By::Total);
    Ok((mid, from, to, period, by))
}

pub(crate) fn in_range(from: &str, to: &str) -> bool {
    (0..crate::REPORT_DAYS_MAX).contains(&xingtong_payments::reports::days_between(from, to))
}

/// A report line's key in words.
fn key_label(t: &Text, by: xingtong_payments::reports::By, key: &str) -> String {
    use xingtong_payments::reports::By;
    if key.is_empty() {
        return if by == By::Total { String::new() } else { t.unknown.to_owned() };
    }
    match by {
        By::Method => method_name(t, key).to_owned(),
        By::BusinessType => xingtong_payments::txn::BusinessType::parse(key)
            .map_or_else(|| key.to_owned(), |b| business_name(t, b).to_owned()),
        _ => key.to_owned(),
    }
}

pub(crate) struct ReportRow {
    pub period: String,
    pub key: String,
    pub sales_count: i64,
    pub sales: String,
    pub voids_count: i64,
    pub voids: String,
    pub refunds_count: i64,
    pub refunds: String,
    pub fees: String,
    pub net: String,
    pub declined: i64,
}

fn report_row(t: &Text, by: xingtong_payments::reports::By, line: &xingtong_payments::reports::Line) -> ReportRow {
    ReportRow {
        period: if line.period.is_empty() { t.total.to_owned() } else { line.period.clone() },
        key: key_label(t, by, &line.key),
        sales_count: line.sales_count,
        sales: yuan(line.sales_minor),
        voids_count: line.voids_count,
        voids: yuan(line.voids_minor),
        refunds_count: line.refunds_count,
        refunds: yuan(line.refunds_minor),
        fees: yuan(line.fees_minor),
        net: yuan(line.net_minor),
        declined: line.declined_count,
    }
}

#[derive(Template)]
#[template(path = "merchant/reports.html")]
struct ReportsPage {
    base: Base,
    head: crate::period_reports::ReportHead,
    split: bool,
    rows: Vec<ReportRow>,
    totals: ReportRow,
    net_chart: String,
    mix_chart: String,
    hour_chart: String,
}

async fn reports(State(state): State<AppState>, ctx: Ctx, Query(form): Query<ReportForm>) -> Response {
    let result = async {
        use xingtong_payments::reports::{By, Period, sales_report};
        let (mid, from, to, period, by) = report_spec(&state, &ctx, &form)?;
        let t = ctx.lang.text();
        let splits = [
            (By::Total, t.by_total),
            (By::Terminal, t.by_terminal),
            (By::Cashier, t.by_cashier),
            (By::Method, t.by_method),
            (By::BusinessType, t.by_business_type),
        ]
        .into_iter()
        .map(|(b, label)| Choice { value: b.as_str(), label, selected: b == by })
        .collect();
        let mut head = crate::period_reports::ReportHead::new(
            &ctx,
            "/console/reports",
            &mid,
            (&from, &to),
            period,
            &format!("&by={}", by.as_str()),
        )?;
        head.splits = splits;
        let mut page = ReportsPage {
            base: ctx.base(Console::Merchant, t.sales_report),
            head,
            split: by != By::Total,
            rows: Vec::new(),
            totals: report_row(t, By::Total, &xingtong_payments::reports::Line::default()),
            net_chart: String::new(),
            mix_chart: String::new(),
            hour_chart: String::new(),
        };
        if !in_range(&from, &to) {
            page.head.error = Some(t.report_range_refused);
            return Ok(ctx.page(StatusCode::UNPROCESSABLE_ENTITY, page.render()?));
        }
        let report = sales_report(&state.store, &mid, &from, &to, period, by).await?;
        page.rows = report.lines.iter().map(|l| report_row(t, by, l)).collect();
        page.totals = report_row(t, by, &report.totals);
        // Net by period (over every key), and the method mix of the whole range.
        let mut per_period: Vec<(String, i64)> = Vec::new();
        for line in &report.lines {
            match per_period.last_mut() {
                Some((p, v)) if *p == line.period => *v += line.net_minor,
                _ => per_period.push((line.period.clone(), line.net_minor)),
            }
        }
        if !per_period.is_empty() {
            page.net_chart = crate::chart::columns(t.chart_net, &per_period);
            let mix = sales_report(&state.store, &mid, &from, &to, Period::Month, By::Method).await?;
            let mut by_method: Vec<(String, i64)> = Vec::new();
            for line in &mix.lines {
                let label = method_name(t, &line.key).to_owned();
                match by_method.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, v)) => *v += line.sales_minor,
                    None => by_method.push((label, line.sales_minor)),
                }
            }
            page.mix_chart = crate::chart::shares(t.chart_mix, &by_method);
            // The day's pattern: approved sales by hour, every hour shown.
            let hours: Vec<(String, i64)> =
                report.hours.iter().map(|h| (format!("{:02}", h.hour), h.amount_minor)).collect();
            page.hour_chart = crate::chart::columns(t.chart_hours, &hours);
        }
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

async fn report_export(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(form): Query<ReportForm>,
    format: Format,
) -> Response {
    let result = async {
        let (mid, from, to, period, by) = report_spec(&state, &ctx, &form)?;
        if !in_range(&from, &to) {
            return Err(Fail::NotFound);
        }
        let t = ctx.lang.text();
        let report = xingtong_payments::reports::sales_report(&state.store, &mid, &from, &to, period, by).await?;
        let header =
            [t.period, t.split_by, t.sales, t.amount, t.voids, t.amount, t.refunds, t.amount, t.fee, t.net, t.declined];
        let mut sheet = Sheet {
            name: format!("sales-{mid}-{from}-{to}"),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        };
        for line in report.lines.iter().chain(std::iter::once(&report.totals)) {
            let row = report_row(t, by, line);
            sheet.rows.push(vec![
                Cell::Text(row.period),
                Cell::Text(row.key),
                Cell::Count(line.sales_count),
                Cell::Money(line.sales_minor),
                Cell::Count(line.voids_count),
                Cell::Money(line.voids_minor),
                Cell::Count(line.refunds_count),
                Cell::Money(line.refunds_minor),
                Cell::Money(line.fees_minor),
                Cell::Money(line.net_minor),
                Cell::Count(line.declined_count),
            ]);
        }
        sheet.response(format)
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

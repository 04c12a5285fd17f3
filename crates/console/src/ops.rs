//! The operations console (`/ops`): staff sign in; reviewers work the queue of applications with
//! their documents shown inline and the validators' warnings, and approve or reject with a reason.
//! Every decision goes through the onboarding service, which checks the role and writes the audit
//! log.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use xingtong_api::AppState;
use xingtong_onboarding::documents::DocumentKind;

use crate::merchant::{Field, Next, TokenForm};
use crate::{Base, Console, Ctx, Fail};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops", get(queue))
        .route("/ops/sign-in", get(sign_in_page).post(sign_in))
        .route("/ops/sign-out", post(sign_out))
        .route("/ops/applications/{id}", get(application))
        .route("/ops/applications/{id}/documents/{kind}", get(document))
        .route("/ops/applications/{id}/review", post(take))
        .route("/ops/applications/{id}/approve", post(approve))
        .route("/ops/applications/{id}/reject", post(reject))
}

async fn sign_in_page(ctx: Ctx, Query(next): Query<Next>) -> Response {
    crate::merchant::show_sign_in(ctx, next, Console::Ops)
}

async fn sign_in(State(state): State<AppState>, ctx: Ctx, Form(form): Form<crate::merchant::SignInForm>) -> Response {
    crate::merchant::take_sign_in(state, ctx, form, Console::Ops).await
}

async fn sign_out(State(state): State<AppState>, ctx: Ctx, Form(form): Form<TokenForm>) -> Response {
    let result = crate::merchant::end_session(&state, &ctx, &form, Console::Ops).await;
    ctx.finish(Console::Ops, result)
}

/// An application's state in words, and the tag's class.
fn application_status(
    t: &crate::i18n::Text,
    status: xingtong_onboarding::status::Status,
) -> (&'static str, &'static str) {
    use xingtong_onboarding::status::Status;
    match status {
        Status::Draft => (t.app_draft, "muted"),
        Status::Submitted => (t.app_submitted, "warn"),
        Status::UnderReview => (t.app_under_review, "warn"),
        Status::Approved => (t.app_approved, "ok"),
        Status::Rejected => (t.app_rejected, "bad"),
    }
}

fn business_type(t: &crate::i18n::Text, kind: xingtong_onboarding::application::BusinessType) -> &'static str {
    use xingtong_onboarding::application::BusinessType;
    match kind {
        BusinessType::Individual => t.type_individual,
        BusinessType::IndividualBusiness => t.type_individual_business,
        BusinessType::Enterprise => t.type_enterprise,
    }
}

struct QueueRow {
    id: String,
    business_name: String,
    applicant: String,
    status: &'static str,
    submissions: u32,
    warnings: usize,
}

#[derive(Template)]
#[template(path = "ops/queue.html")]
struct QueuePage {
    base: Base,
    rows: Vec<QueueRow>,
}

async fn queue(State(state): State<AppState>, ctx: Ctx) -> Response {
    let result = async {
        let principal = ctx.staff()?.clone();
        // Staff who do not review start on the merchants, which every role may open.
        if !principal.has_role(xingtong_merchants::identity::Role::Reviewer) {
            return Ok(ctx.redirect("/ops/merchants"));
        }
        let t = ctx.lang.text();
        let found = state.merchants.review_queue(&principal).await?;
        let rows = found
            .iter()
            .map(|a| {
                let a = &a.value;
                QueueRow {
                    id: a.id.clone(),
                    business_name: a.form.business.name.clone(),
                    applicant: a.form.applicant.legal_name.clone(),
                    status: application_status(t, a.status).0,
                    submissions: a.submissions,
                    warnings: a.warnings.len(),
                }
            })
            .collect();
        let page = QueuePage { base: ctx.base(Console::Ops, t.nav_review), rows };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Ops, result)
}

struct DocumentView {
    kind: &'static str,
    href: String,
    image: bool,
    file_name: String,
}

struct Warning {
    field: String,
    message: String,
}

#[derive(Template)]
#[template(path = "ops/application.html")]
struct ApplicationPage {
    base: Base,
    id: String,
    status: &'static str,
    status_class: &'static str,
    fields: Vec<Field>,
    documents: Vec<DocumentView>,
    warnings: Vec<Warning>,
    can_take: bool,
    can_decide: bool,
    rejection_reason: Option<String>,
    error: Option<&'static str>,
}

async fn render_application(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    error: Option<&'static str>,
) -> Result<Response, Fail> {
    let principal = ctx.staff()?.clone();
    let t = ctx.lang.text();
    let stored = state.merchants.application(&principal, id).await?;
    let a = &stored.value;
    let f = &a.form;
    let masked_card = {
        let n = &f.settlement_account.card_number;
        if n.len() > 10 { format!("{}******{}", &n[..6], &n[n.len() - 4..]) } else { n.clone() }
    };
    let fields = vec![
        Field { label: t.applicant, value: f.applicant.legal_name.clone() },
        Field { label: t.phone, value: f.applicant.phone.clone() },
        Field { label: t.email, value: f.applicant.email.clone() },
        Field { label: t.address, value: f.applicant.address.clone() },
        Field { label: t.business_name, value: f.business.name.clone() },
        Field { label: t.business_type, value: business_type(t, f.business.business_type).to_owned() },
        Field { label: t.settlement_account, value: masked_card },
        Field { label: t.bank, value: f.settlement_account.bank_name.clone() },
        Field { label: t.account_holder, value: f.settlement_account.account_holder.clone() },
        Field { label: t.submissions, value: a.submissions.to_string() },
    ];
    let documents = a
        .documents
        .iter()
        .map(|(kind, doc)| DocumentView {
            kind: kind.as_str(),
            href: format!("/ops/applications/{}/documents/{}", a.id, kind.as_str()),
            image: doc.content_type.starts_with("image/"),
            file_name: doc.file_name.clone(),
        })
        .collect();
    let warnings = a
        .warnings
        .iter()
        .map(|w| Warning {
            field: w.field.clone(),
            message: if ctx.lang == crate::i18n::Lang::Zh { w.message_zh.clone() } else { w.message_en.clone() },
        })
        .collect();
    use xingtong_onboarding::status::Status;
    let (status, status_class) = application_status(t, a.status);
    let page = ApplicationPage {
        base: ctx.base(Console::Ops, &format!("{} {}", t.application, a.id)),
        id: a.id.clone(),
        can_take: a.status == Status::Submitted,
        can_decide: a.status == Status::UnderReview,
        status,
        status_class,
        fields,
        documents,
        warnings,
        rejection_reason: a.rejection_reason.clone(),
        error,
    };
    let code = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    Ok(ctx.page(code, page.render()?))
}

async fn application(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> Response {
    let result = render_application(&state, &ctx, &id, None).await;
    ctx.finish(Console::Ops, result)
}

/// A document, served with its checked type so the page can show it inline (images, PDFs).
async fn document(State(state): State<AppState>, ctx: Ctx, Path((id, kind)): Path<(String, String)>) -> Response {
    let result = async {
        let principal = ctx.staff()?.clone();
        let kind = DocumentKind::parse(&kind).ok_or(Fail::NotFound)?;
        let (doc, bytes) = state.merchants.document(&principal, &id, kind).await?;
        Ok(crate::merchant::document_response(&doc, bytes))
    }
    .await;
    ctx.finish(Console::Ops, result)
}

async fn take(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = ctx.staff()?.clone();
        state.merchants.start_review(&principal, &id).await?;
        Ok(ctx.redirect(&format!("/ops/applications/{id}")))
    }
    .await;
    ctx.finish(Console::Ops, result)
}

async fn approve(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = ctx.staff()?.clone();
        let approval =
            xingtong_merchants::applications::Approval { mcc: None, device_model: None, serial_number: None };
        state.merchants.approve_application(&principal, &id, approval).await?;
        Ok(ctx.redirect("/ops"))
    }
    .await;
    ctx.finish(Console::Ops, result)
}

#[derive(Deserialize)]
struct RejectForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    reason: String,
}

async fn reject(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<RejectForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = ctx.staff()?.clone();
        match state.merchants.reject_application(&principal, &id, &form.reason).await {
            Ok(_) => Ok(ctx.redirect("/ops")),
            Err(error) if error.class == xingtong_merchants::Class::Unprocessable => {
                render_application(&state, &ctx, &id, Some(ctx.lang.text().reason_required)).await
            }
            Err(error) => Err(error.into()),
        }
    }
    .await;
    ctx.finish(Console::Ops, result)
}

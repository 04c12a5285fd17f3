//! Signing up and applying in the merchant console: an applicant registers, fills in the
//! application (every check shown beside its field, in the page's language), uploads the documents
//! (previews of images), submits, follows the review and, when rejected, corrects and resubmits.
//! The onboarding service does every check and every change; these pages only carry them.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use xingtong_api::AppState;
use xingtong_merchants::applications::Application;
use xingtong_merchants::entity::Stored;
use xingtong_merchants::identity::Principal;
use xingtong_onboarding::application::{
    Applicant, Application as ApplicationForm, Business, BusinessType, SettlementAccount,
};
use xingtong_onboarding::documents::DocumentKind;
use xingtong_onboarding::status::Status;

use crate::i18n::{Lang, Text};
use crate::merchant::Choice;
use crate::{Base, Console, Ctx, Fail};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/sign-up", get(sign_up_page).post(sign_up))
        .route("/console/application", get(application_page).post(save))
        .route("/console/application/submit", post(submit))
        .route("/console/application/documents/{kind}", get(document).post(upload))
}

// ---- signing up ----

#[derive(Template)]
#[template(path = "merchant/sign_up.html")]
struct SignUpPage {
    base: Base,
    name: String,
    phone: String,
    email: String,
    error: Option<String>,
}

async fn sign_up_page(ctx: Ctx) -> Response {
    let t = ctx.lang.text();
    let page = SignUpPage {
        base: ctx.base(Console::Merchant, t.sign_up),
        name: String::new(),
        phone: String::new(),
        email: String::new(),
        error: None,
    };
    let result = page.render().map(|html| ctx.page(StatusCode::OK, html)).map_err(Fail::from);
    ctx.finish(Console::Merchant, result)
}

#[derive(Deserialize)]
struct SignUpForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    name: String,
    phone: String,
    #[serde(default)]
    email: String,
    password: String,
}

/// A service's refusal in the page's language: its findings' messages when it has them.
fn refusal_text(lang: Lang, error: &xingtong_merchants::Error) -> String {
    let messages: Vec<String> = crate::findings_of(lang, error).into_iter().map(|(_, _, m)| m).collect();
    if messages.is_empty() { error.message.clone() } else { messages.join("；") }
}

async fn sign_up(State(state): State<AppState>, ctx: Ctx, Form(form): Form<SignUpForm>) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let registration = xingtong_merchants::identity::Registration {
            name: form.name.clone(),
            phone: form.phone.clone(),
            email: Some(form.email.clone()).filter(|e| !e.trim().is_empty()),
            password: form.password.clone().into(),
            language: Some(ctx.lang.code().to_owned()),
        };
        match state.merchants.register_owner(registration).await {
            Ok((_, token)) => Ok(crate::with_session(
                ctx.redirect("/console/application"),
                &token.0,
                xingtong_merchants::identity::OWNER_SESSION_NS,
            )),
            Err(error)
                if matches!(
                    error.class,
                    xingtong_merchants::Class::Unprocessable | xingtong_merchants::Class::Conflict
                ) =>
            {
                let t = ctx.lang.text();
                let page = SignUpPage {
                    base: ctx.base(Console::Merchant, t.sign_up),
                    name: form.name,
                    phone: form.phone,
                    email: form.email,
                    error: Some(refusal_text(ctx.lang, &error)),
                };
                Ok(ctx.page(StatusCode::UNPROCESSABLE_ENTITY, page.render()?))
            }
            Err(error) => Err(error.into()),
        }
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

// ---- the application ----

/// An input of the form, with what the checks say of it.
struct Input {
    name: &'static str,
    label: &'static str,
    value: String,
    errors: Vec<String>,
    warnings: Vec<String>,
    kind: &'static str,
}

struct DocumentSlot {
    kind: &'static str,
    label: &'static str,
    required: bool,
    uploaded: Option<String>,
    image: bool,
    href: String,
}

#[derive(Template)]
#[template(path = "merchant/application.html")]
struct ApplicationPage {
    base: Base,
    status: Option<(&'static str, &'static str)>,
    rejection_reason: Option<String>,
    editable: bool,
    inputs: Vec<Input>,
    business_types: Vec<Choice>,
    business_type_errors: Vec<String>,
    documents: Vec<DocumentSlot>,
    document_errors: Vec<String>,
    notice: Option<String>,
    has_application: bool,
}

fn status_words(t: &Text, status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Draft => (t.app_draft, "muted"),
        Status::Submitted => (t.app_submitted, "warn"),
        Status::UnderReview => (t.app_under_review, "warn"),
        Status::Approved => (t.app_approved, "ok"),
        Status::Rejected => (t.app_rejected, "bad"),
    }
}

fn document_label(t: &Text, kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::IdCardFront => t.doc_id_front,
        DocumentKind::IdCardBack => t.doc_id_back,
        DocumentKind::BusinessLicence => t.doc_licence,
        DocumentKind::TaxRegistration => t.doc_tax,
        DocumentKind::BankAccountPermit => t.doc_bank_permit,
        DocumentKind::StorefrontPhoto => t.doc_storefront,
    }
}

/// The owner's latest application, if any.
async fn latest(state: &AppState, principal: &Principal) -> Result<Option<Stored<Application>>, Fail> {
    let mut all = state.merchants.applications(principal, &[]).await?;
    all.sort_by_key(|a| a.created_at);
    Ok(all.pop())
}

fn today() -> xingtong_onboarding::date::Date {
    let seconds = i64::try_from(xingtong_store::now_ns() / 1_000_000_000).unwrap_or(0);
    xingtong_onboarding::date::Date::in_china_at(seconds)
        .unwrap_or_else(|| xingtong_onboarding::date::Date::in_china_at(1_800_000_000).expect("a date in range"))
}

/// The page for `form` (as stored, or as just sent), with `findings` beside their fields.
fn render(
    ctx: &Ctx,
    application: Option<&Application>,
    form: &ApplicationForm,
    findings: &[(String, bool, String)],
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, Fail> {
    let t = ctx.lang.text();
    let about = |field: &str, error: bool| -> Vec<String> {
        findings.iter().filter(|(f, e, _)| f == field && *e == error).map(|(_, _, m)| m.clone()).collect()
    };
    let input = |name: &'static str, field: &'static str, label: &'static str, value: &str, kind: &'static str| Input {
        name,
        label,
        value: value.to_owned(),
        errors: about(field, true),
        warnings: about(field, false),
        kind,
    };
    let a = &form.applicant;
    let b = &form.business;
    let s = &form.settlement_account;
    let inputs = vec![
        input("legal_name", "applicant.legal_name", t.legal_name, &a.legal_name, "text"),
        input("resident_id", "applicant.resident_id", t.resident_id, &a.resident_id, "text"),
        input("phone", "applicant.phone", t.phone, &a.phone, "tel"),
        input("email", "applicant.email", t.email, &a.email, "email"),
        input("address", "applicant.address", t.address, &a.address, "text"),
        input("business_name", "business.name", t.business_name, &b.name, "text"),
        input(
            "uscc",
            "business.unified_social_credit_code",
            t.uscc,
            b.unified_social_credit_code.as_deref().unwrap_or(""),
            "text",
        ),
        input("card_number", "settlement_account.card_number", t.card_number_settlement, &s.card_number, "text"),
        input("bank_name", "settlement_account.bank_name", t.bank, &s.bank_name, "text"),
        input("account_holder", "settlement_account.account_holder", t.account_holder, &s.account_holder, "text"),
        input("delivery_address", "delivery_address", t.delivery_address, &form.delivery_address, "text"),
    ];
    let business_types = [
        (BusinessType::Individual, "individual", t.type_individual),
        (BusinessType::IndividualBusiness, "individual_business", t.type_individual_business),
        (BusinessType::Enterprise, "enterprise", t.type_enterprise),
    ]
    .into_iter()
    .map(|(kind, value, label)| Choice { value, label, selected: kind == b.business_type })
    .collect();
    let required = DocumentKind::required_for(b.business_type);
    let documents = DocumentKind::ALL
        .into_iter()
        .map(|kind| {
            let stored = application.and_then(|a| a.documents.get(&kind));
            DocumentSlot {
                kind: kind.as_str(),
                label: document_label(t, kind),
                required: required.contains(&kind),
                uploaded: stored.map(|d| d.file_name.clone()),
                image: stored.is_some_and(|d| d.content_type.starts_with("image/")),
                href: format!("/console/application/documents/{}", kind.as_str()),
            }
        })
        .collect();
    let document_errors =
        findings.iter().filter(|(f, _, _)| f.starts_with("documents.")).map(|(_, _, m)| m.clone()).collect();
    let editable = application.is_none_or(|a| matches!(a.status, Status::Draft | Status::Rejected));
    let page = ApplicationPage {
        base: ctx.base(Console::Merchant, t.application),
        status: application.map(|a| status_words(t, a.status)),
        rejection_reason: application
            .and_then(|a| (a.status == Status::Rejected).then(|| a.rejection_reason.clone()).flatten()),
        editable,
        inputs,
        business_types,
        business_type_errors: about("business.business_type", true),
        documents,
        document_errors,
        notice,
        has_application: application.is_some(),
    };
    Ok(ctx.page(status, page.render()?))
}

/// Findings as (field, is an error, message in the page's language).
fn worded(lang: Lang, findings: &[xingtong_onboarding::validate::Finding]) -> Vec<(String, bool, String)> {
    findings
        .iter()
        .map(|f| {
            (
                f.field.clone(),
                f.severity == xingtong_onboarding::validate::Severity::Error,
                (if lang == Lang::Zh { f.message_zh } else { f.message_en }).to_owned(),
            )
        })
        .collect()
}

async fn application_page(State(state): State<AppState>, ctx: Ctx) -> Response {
    let result = async {
        ctx.owner()?;
        let principal = ctx.principal.clone().ok_or(Fail::SignIn(Console::Merchant))?;
        let stored = latest(&state, &principal).await?;
        match &stored {
            Some(a) => {
                // What the checks say of it now (a draft, or a rejected one being corrected).
                let findings = if matches!(a.value.status, Status::Draft | Status::Rejected) {
                    worded(ctx.lang, &a.value.form.check(today()))
                } else {
                    Vec::new()
                };
                render(&ctx, Some(&a.value), &a.value.form, &findings, None, StatusCode::OK)
            }
            None => render(&ctx, None, &ApplicationForm::default(), &[], None, StatusCode::OK),
        }
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

#[derive(Deserialize)]
struct ApplicationInput {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    legal_name: String,
    resident_id: String,
    phone: String,
    email: String,
    address: String,
    business_name: String,
    business_type: String,
    #[serde(default)]
    uscc: String,
    card_number: String,
    bank_name: String,
    account_holder: String,
    delivery_address: String,
}

impl ApplicationInput {
    fn form(&self) -> ApplicationForm {
        let business_type = match self.business_type.as_str() {
            "individual_business" => BusinessType::IndividualBusiness,
            "enterprise" => BusinessType::Enterprise,
            _ => BusinessType::Individual,
        };
        ApplicationForm {
            applicant: Applicant {
                legal_name: self.legal_name.clone(),
                resident_id: self.resident_id.trim().to_uppercase(),
                phone: self.phone.clone(),
                email: self.email.clone(),
                address: self.address.clone(),
            },
            business: Business {
                name: self.business_name.clone(),
                business_type,
                unified_social_credit_code: Some(self.uscc.trim().to_uppercase()).filter(|c| !c.is_empty()),
            },
            settlement_account: SettlementAccount {
                card_number: self.card_number.chars().filter(|c| !c.is_whitespace()).collect(),
                bank_name: self.bank_name.clone(),
                account_holder: self.account_holder.clone(),
            },
            delivery_address: self.delivery_address.clone(),
        }
    }
}

/// Saves the form (a new application, or the draft or rejected one), then shows it with what the
/// checks say beside each field.
async fn save(State(state): State<AppState>, ctx: Ctx, Form(input): Form<ApplicationInput>) -> Response {
    let result = async {
        ctx.check_csrf(&input.csrf)?;
        ctx.owner()?;
        let principal = ctx.principal.clone().ok_or(Fail::SignIn(Console::Merchant))?;
        let form = input.form();
        let saved = match latest(&state, &principal).await? {
            Some(a) if matches!(a.value.status, Status::Draft | Status::Rejected) => {
                state.merchants.update_application(&principal, &a.value.id, form.clone()).await
            }
            Some(_) => return Err(Fail::Forbidden),
            None => state.merchants.create_application(&principal, form.clone()).await,
        };
        match saved {
            Ok(stored) => {
                let findings = worded(ctx.lang, &stored.value.form.check(today()));
                let t = ctx.lang.text();
                let errors = findings.iter().any(|(_, e, _)| *e);
                let code = if errors { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
                let notice = Some(if errors { t.saved_with_errors } else { t.saved }.to_owned());
                render(&ctx, Some(&stored.value), &stored.value.form, &findings, notice, code)
            }
            // Refused as a whole (a field too long to keep): shown as sent.
            Err(error) if error.class == xingtong_merchants::Class::Unprocessable => {
                let message = refusal_text(ctx.lang, &error);
                render(&ctx, None, &form, &[], Some(message), StatusCode::UNPROCESSABLE_ENTITY)
            }
            Err(error) => Err(error.into()),
        }
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

async fn submit(State(state): State<AppState>, ctx: Ctx, Form(token): Form<crate::merchant::TokenForm>) -> Response {
    let result = async {
        ctx.check_csrf(&token.csrf)?;
        ctx.owner()?;
        let principal = ctx.principal.clone().ok_or(Fail::SignIn(Console::Merchant))?;
        let stored = latest(&state, &principal).await?.ok_or(Fail::NotFound)?;
        match state.merchants.submit_application(&principal, &stored.value.id).await {
            Ok(_) => Ok(ctx.redirect("/console/application")),
            Err(error) if error.code == "validation_failed" => {
                let findings = crate::findings_of(ctx.lang, &error);
                let t = ctx.lang.text();
                render(
                    &ctx,
                    Some(&stored.value),
                    &stored.value.form,
                    &findings,
                    Some(t.fix_then_submit.to_owned()),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            }
            Err(error) => Err(error.into()),
        }
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

/// Uploads one document (a form with the token and a file).
async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(kind): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let result = async {
        ctx.owner()?;
        let principal = ctx.principal.clone().ok_or(Fail::SignIn(Console::Merchant))?;
        let kind = DocumentKind::parse(&kind).ok_or(Fail::NotFound)?;
        let (mut token, mut file) = (None, None);
        while let Ok(Some(field)) = multipart.next_field().await {
            match field.name() {
                Some(crate::CSRF_FIELD) => token = field.text().await.ok(),
                Some("file") => {
                    let name = field.file_name().unwrap_or("").to_owned();
                    let declared = field.content_type().map(str::to_owned);
                    let bytes =
                        field.bytes().await.map_err(|_| Fail::Internal("an upload could not be read".into()))?;
                    file = Some((name, declared, bytes.to_vec()));
                }
                _ => {}
            }
        }
        ctx.check_csrf(token.as_deref().unwrap_or(""))?;
        let stored = latest(&state, &principal).await?.ok_or(Fail::NotFound)?;
        let t = ctx.lang.text();
        let Some((name, declared, bytes)) = file.filter(|f| !f.2.is_empty()) else {
            let findings = worded(ctx.lang, &stored.value.form.check(today()));
            return render(
                &ctx,
                Some(&stored.value),
                &stored.value.form,
                &findings,
                Some(t.choose_file.into()),
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        };
        match state
            .merchants
            .upload_document(&principal, &stored.value.id, kind, &name, declared.as_deref(), bytes)
            .await
        {
            Ok(_) => Ok(ctx.redirect("/console/application")),
            Err(error)
                if matches!(
                    error.class,
                    xingtong_merchants::Class::Unprocessable
                        | xingtong_merchants::Class::TooLarge
                        | xingtong_merchants::Class::UnsupportedMediaType
                        | xingtong_merchants::Class::Conflict
                ) =>
            {
                let findings = worded(ctx.lang, &stored.value.form.check(today()));
                let message = format!("{}: {}", document_label(t, kind), refusal_text(ctx.lang, &error));
                render(
                    &ctx,
                    Some(&stored.value),
                    &stored.value.form,
                    &findings,
                    Some(message),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            }
            Err(error) => Err(error.into()),
        }
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

/// The owner's own document, for its preview.
async fn document(State(state): State<AppState>, ctx: Ctx, Path(kind): Path<String>) -> Response {
    let result = async {
        ctx.owner()?;
        let principal = ctx.principal.clone().ok_or(Fail::SignIn(Console::Merchant))?;
        let kind = DocumentKind::parse(&kind).ok_or(Fail::NotFound)?;
        let stored = latest(&state, &principal).await?.ok_or(Fail::NotFound)?;
        let (doc, bytes) = state.merchants.document(&principal, &stored.value.id, kind).await?;
        Ok(crate::merchant::document_response(&doc, bytes))
    }
    .await;
    ctx.finish(Console::Merchant, result)
}

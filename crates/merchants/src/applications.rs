//! Applications (journey steps 1–2): drafts, documents, submission with every problem reported at
//! once, the review queue, and decisions. Approval creates the merchant in the same commit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xingtong_onboarding::application::Application as Form;
use xingtong_onboarding::date::Date;
use xingtong_onboarding::documents::{DocumentKind, check_document};
use xingtong_onboarding::status::{Action, Status};
use xingtong_onboarding::validate::{Finding, Severity};
use xingtong_store::{Blob, Change, RecordQuery, now_ns};

use crate::Merchants;
use crate::entity::{Entity, Stored, get, insert, list, new_id, retrying};
use crate::error::{Class, Error, Result};
use crate::identity::{Principal, Role, User, audit};
use crate::notify::{Template, notification_to_user};

/// A finding as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingView {
    /// Field.
    pub field: String,
    /// Stable code.
    pub code: String,
    /// `error` or `warning`.
    pub severity: String,
    /// English.
    pub message_en: String,
    /// Chinese.
    pub message_zh: String,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> FindingView {
        FindingView {
            field: f.field.clone(),
            code: f.code.into(),
            severity: match f.severity {
                Severity::Error => "error".into(),
                Severity::Warning => "warning".into(),
            },
            message_en: f.message_en.into(),
            message_zh: f.message_zh.into(),
        }
    }
}

/// The error for a submission with problems: every finding, errors and warnings, in details.
pub fn validation_failed(findings: &[Finding]) -> Error {
    let views: Vec<FindingView> = findings.iter().map(FindingView::from).collect();
    let errors = views.iter().filter(|f| f.severity == "error").count();
    Error::new(Class::Unprocessable, "validation_failed", format!("{errors} problem(s) to fix; see details"))
        .with_details(serde_json::json!({ "findings": views }))
}

/// An uploaded document, as the application refers to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRef {
    /// Hex SHA-256 of the content (the content's address).
    pub sha256: String,
    /// By content.
    pub content_type: String,
    /// Bytes.
    pub size: u64,
    /// As the applicant named it (metadata only; never a path).
    pub file_name: String,
    /// ns since the epoch.
    pub uploaded_at: u64,
}

/// One step in an application's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// ns since the epoch.
    pub at: u64,
    /// The status it entered.
    pub status: Status,
    /// Who.
    pub actor: String,
    /// Why (rejections).
    pub reason: Option<String>,
}

/// A merchant application.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    /// `app_…`.
    pub id: String,
    /// The applicant's user id.
    pub user_id: String,
    /// Where it stands.
    pub status: Status,
    /// What was filled in.
    pub form: Form,
    /// Uploaded documents by kind.
    pub documents: BTreeMap<DocumentKind, DocumentRef>,
    /// Warnings found at the last submission, for the reviewer.
    pub warnings: Vec<FindingView>,
    /// The reason of the last rejection.
    pub rejection_reason: Option<String>,
    /// Who has it under review.
    pub reviewer: Option<String>,
    /// The merchant made from it.
    pub merchant_id: Option<String>,
    /// Times submitted.
    pub submissions: u32,
    /// Every status it went through.
    pub history: Vec<Step>,
}

impl Entity for Application {
    const KIND: &'static str = "application";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.user_id.clone()
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
}

/// What a reviewer may set when approving.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Approval {
    /// Merchant category code (4 digits); default 5399 (miscellaneous general merchandise).
    pub mcc: Option<String>,
    /// Device model; default `XT-P1`.
    pub device_model: Option<String>,
    /// Device serial number; default a fresh `XT…` number.
    pub serial_number: Option<String>,
}

/// The longest rejection reason.
pub const REASON_LEN_MAX: usize = 500;

fn today() -> Date {
    let seconds = i64::try_from(now_ns() / 1_000_000_000).unwrap_or(i64::MAX);
    Date::in_china_at(seconds).expect("the clock is between 1800 and 9999")
}

impl Merchants {
    /// Starts an application as a draft. Only a signed-in owner applies.
    pub async fn create_application(&self, principal: &Principal, form: Form) -> Result<Stored<Application>> {
        let Principal::Owner { user_id, .. } = principal else {
            return Err(Error::forbidden("applications are made by a signed-in applicant"));
        };
        let application = Application {
            id: new_id("app"),
            user_id: user_id.clone(),
            status: Status::Draft,
            form,
            documents: BTreeMap::new(),
            warnings: Vec::new(),
            rejection_reason: None,
            reviewer: None,
            merchant_id: None,
            submissions: 0,
            history: vec![Step { at: now_ns(), status: Status::Draft, actor: principal.actor(), reason: None }],
        };
        self.store
            .apply(Change {
                puts: vec![insert(&application)?],
                audit: vec![audit(&principal.actor(), "application.created", Application::KIND, &application.id, "{}")],
                ..Change::default()
            })
            .await?;
        get(&self.store, &application.id, "application").await
    }

    /// An application, for its applicant or for staff.
    pub async fn application(&self, principal: &Principal, id: &str) -> Result<Stored<Application>> {
        let application = get::<Application>(&self.store, id, "application").await?;
        match principal {
            Principal::Staff { .. } => Ok(application),
            Principal::Owner { user_id, .. } if *user_id == application.value.user_id => Ok(application),
            _ => Err(Error::not_found("application")),
        }
    }

    /// The caller's own applications (owners), or the review queue (staff: submitted and under review).
    pub async fn applications(&self, principal: &Principal, statuses: &[&str]) -> Result<Vec<Stored<Application>>> {
        let query = RecordQuery::kind(Application::KIND).statuses(statuses);
        match principal {
            Principal::Staff { .. } => list(&self.store, query).await,
            Principal::Owner { user_id, .. } => list(&self.store, query.owner(user_id)).await,
            Principal::MerchantKey { .. } => Err(Error::forbidden("applications are not available to API keys")),
        }
    }

    /// The review queue: submitted or under review, oldest first.
    pub async fn review_queue(&self, principal: &Principal) -> Result<Vec<Stored<Application>>> {
        principal.require(Role::Reviewer)?;
        list(&self.store, RecordQuery::kind(Application::KIND).statuses(&["submitted", "under_review"])).await
    }

    async fn own_editable(&self, principal: &Principal, id: &str, action: Action) -> Result<Stored<Application>> {
        let application = self.application(principal, id).await?;
        if !matches!(principal, Principal::Owner { .. }) {
            return Err(Error::forbidden("only the applicant changes an application"));
        }
        if application.value.status.after(action).is_none() {
            return Err(Error::invalid_state(format!(
                "the application is {}; only a draft or a rejected application can be changed or submitted",
                application.value.status.as_str()
            )));
        }
        Ok(application)
    }

    /// Replaces the form of a draft or rejected application.
    pub async fn update_application(&self, principal: &Principal, id: &str, form: Form) -> Result<Stored<Application>> {
        let mut application = self.own_editable(principal, id, Action::Edit).await?;
        application.value.form = form;
        self.store
            .apply(Change {
                puts: vec![application.update()?],
                audit: vec![audit(&principal.actor(), "application.updated", Application::KIND, id, "{}")],
                ..Change::default()
            })
            .await?;
        get(&self.store, id, "application").await
    }

    /// Uploads one document of a draft or rejected application, checked by content.
    pub async fn upload_document(
        &self,
        principal: &Principal,
        id: &str,
        kind: DocumentKind,
        file_name: &str,
        declared_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<DocumentRef> {
        let content_type = check_document(file_name, declared_type, &bytes).map_err(|problem| {
            let class = match problem {
                xingtong_onboarding::documents::DocumentProblem::TooLarge => Class::TooLarge,
                xingtong_onboarding::documents::DocumentProblem::UnsupportedType
                | xingtong_onboarding::documents::DocumentProblem::TypeMismatch => Class::UnsupportedMediaType,
                _ => Class::Unprocessable,
            };
            Error::new(class, problem.code(), problem.message())
        })?;
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
        let reference = DocumentRef {
            sha256: hex::encode(sha256),
            content_type: content_type.mime().into(),
            size: bytes.len() as u64,
            file_name: file_name.into(),
            uploaded_at: now_ns(),
        };
        let blob = Blob { sha256, content_type: content_type.mime().into(), bytes };
        retrying(|| async {
            let mut application = self.own_editable(principal, id, Action::Edit).await?;
            application.value.documents.insert(kind, reference.clone());
            let detail = serde_json::json!({ "kind": kind, "sha256": reference.sha256, "size": reference.size });
            self.store
                .apply(Change {
                    puts: vec![application.update()?],
                    blobs: vec![blob.clone()],
                    audit: vec![audit(
                        &principal.actor(),
                        "application.document_uploaded",
                        Application::KIND,
                        id,
                        &detail.to_string(),
                    )],
                    ..Change::default()
                })
                .await?;
            Ok(reference.clone())
        })
        .await
    }

    /// A document's bytes: for the applicant, and for staff with the reviewer role.
    pub async fn document(
        &self,
        principal: &Principal,
        id: &str,
        kind: DocumentKind,
    ) -> Result<(DocumentRef, Vec<u8>)> {
        let application = self.application(principal, id).await?;
        if principal.is_staff() {
            principal.require(Role::Reviewer)?;
        }
        let reference = application.value.documents.get(&kind).cloned().ok_or_else(|| Error::not_found("document"))?;
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(&reference.sha256, &mut sha256).map_err(|_| Error::not_found("document"))?;
        let blob = self.store.blob(sha256).await?.ok_or_else(|| Error::not_found("document"))?;
        Ok((reference, blob.bytes))
    }

    /// Submits (or resubmits) an application: every problem comes back at once; warnings go to the reviewer.
    pub async fn submit_application(&self, principal: &Principal, id: &str) -> Result<Stored<Application>> {
        let mut application = self.own_editable(principal, id, Action::Submit).await?;
        let mut findings = application.value.form.check(today());
        for kind in DocumentKind::required_for(application.value.form.business.business_type) {
            if !application.value.documents.contains_key(&kind) {
                findings.push(Finding {
                    field: format!("documents.{}", kind.as_str()),
                    code: "document_required",
                    severity: Severity::Error,
                    message_en: "this document must be uploaded",
                    message_zh: "请上传此证件材料",
                });
            }
        }
        if findings.iter().any(|f| f.severity == Severity::Error) {
            return Err(validation_failed(&findings));
        }
        let user = get::<User>(&self.store, &application.value.user_id, "user").await?;
        let a = &mut application.value;
        a.status = Status::Submitted;
        a.warnings = findings.iter().map(FindingView::from).collect();
        a.submissions += 1;
        a.reviewer = None;
        a.history.push(Step { at: now_ns(), status: Status::Submitted, actor: principal.actor(), reason: None });
        let notices = notification_to_user(&user.value, Template::ApplicationSubmitted, &[("application", id)])?;
        let detail = serde_json::json!({ "submission": a.submissions, "warnings": a.warnings.len() });
        self.store
            .apply(Change {
                puts: [vec![application.update()?], notices].concat(),
                audit: vec![audit(
                    &principal.actor(),
                    "application.submitted",
                    Application::KIND,
                    id,
                    &detail.to_string(),
                )],
                ..Change::default()
            })
            .await?;
        get(&self.store, id, "application").await
    }

    /// A reviewer takes a submitted application.
    pub async fn start_review(&self, principal: &Principal, id: &str) -> Result<Stored<Application>> {
        principal.require(Role::Reviewer)?;
        let mut application = get::<Application>(&self.store, id, "application").await?;
        if application.value.status.after(Action::StartReview).is_none() {
            return Err(Error::invalid_state(format!(
                "the application is {}; only a submitted one can be taken for review",
                application.value.status.as_str()
            )));
        }
        application.value.status = Status::UnderReview;
        application.value.reviewer = Some(principal.actor());
        application.value.history.push(Step {
            at: now_ns(),
            status: Status::UnderReview,
            actor: principal.actor(),
            reason: None,
        });
        self.store
            .apply(Change {
                puts: vec![application.update()?],
                audit: vec![audit(&principal.actor(), "application.review_started", Application::KIND, id, "{}")],
                ..Change::default()
            })
            .await?;
        get(&self.store, id, "application").await
    }

    async fn under_review(&self, principal: &Principal, id: &str, action: Action) -> Result<Stored<Application>> {
        principal.require(Role::Reviewer)?;
        let application = get::<Application>(&self.store, id, "application").await?;
        if application.value.status.after(action).is_none() {
            return Err(Error::invalid_state(format!(
                "the application is {}; decisions are made on applications under review",
                application.value.status.as_str()
            )));
        }
        Ok(application)
    }

    /// Rejects an application under review, with a reason the applicant will read.
    pub async fn reject_application(
        &self,
        principal: &Principal,
        id: &str,
        reason: &str,
    ) -> Result<Stored<Application>> {
        let reason = reason.trim();
        if reason.is_empty()
            || reason.chars().count() > REASON_LEN_MAX
            || reason.chars().any(|c| c.is_control() && c != '\n')
        {
            return Err(Error::new(
                Class::Unprocessable,
                "reason_required",
                "a rejection needs a reason of 1 to 500 characters (line breaks allowed, no other control characters)",
            ));
        }
        let mut application = self.under_review(principal, id, Action::Reject).await?;
        let user = get::<User>(&self.store, &application.value.user_id, "user").await?;
        application.value.status = Status::Rejected;
        application.value.rejection_reason = Some(reason.into());
        application.value.history.push(Step {
            at: now_ns(),
            status: Status::Rejected,
            actor: principal.actor(),
            reason: Some(reason.into()),
        });
        let notices = notification_to_user(
            &user.value,
            Template::ApplicationRejected,
            &[("application", id), ("reason", reason)],
        )?;
        let detail = serde_json::json!({ "reason": reason });
        self.store
            .apply(Change {
                puts: [vec![application.update()?], notices].concat(),
                audit: vec![audit(
                    &principal.actor(),
                    "application.rejected",
                    Application::KIND,
                    id,
                    &detail.to_string(),
                )],
                ..Change::default()
            })
            .await?;
        get(&self.store, id, "application").await
    }

    /// Approves an application under review: the merchant, its ledger accounts, terms, verified
    /// settlement card, supervisor operator and device order are created in the same commit.
    pub async fn approve_application(
        &self,
        principal: &Principal,
        id: &str,
        approval: Approval,
    ) -> Result<(Stored<Application>, crate::merchant::Merchant, crate::devices::Device)> {
        let (merchant, device) = retrying(|| async {
            let application = self.under_review(principal, id, Action::Approve).await?;
            self.create_merchant(principal, application, &approval).await
        })
        .await?;
        Ok((get(&self.store, id, "application").await?, merchant, device))
    }
}

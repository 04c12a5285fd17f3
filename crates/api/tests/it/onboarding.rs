//! Onboarding end to end through the router: the whole journey, isolation between merchants and
//! between staff roles, malicious uploads, cashier PINs, settlement-card changes and API keys.

use axum::http::StatusCode;
use serde_json::{Value, json};
use xingtong_onboarding::documents::fixtures;

use super::{App, Reply, app, assert_error};

/// Credentials for one caller: a session cookie or a bearer token.
#[derive(Clone, Debug)]
enum Who {
    Cookie(String),
    Bearer(String),
    Nobody,
}

impl App {
    async fn as_(&self, who: &Who, method: &str, path: &str, body: Value) -> anyhow::Result<Reply> {
        let cookie;
        let bearer;
        let mut headers = vec![("content-type", "application/json")];
        match who {
            Who::Cookie(c) => {
                cookie = format!("xt_session={c}");
                headers.push(("cookie", cookie.as_str()));
            }
            Who::Bearer(t) => {
                bearer = format!("Bearer {t}");
                headers.push(("authorization", bearer.as_str()));
            }
            Who::Nobody => {}
        }
        let body = if body.is_null() { vec![] } else { serde_json::to_vec(&body)? };
        self.send(method, path, &headers, body).await
    }

    fn admin(&self) -> Who {
        Who::Bearer(self.token.clone())
    }

    async fn upload(
        &self,
        who: &Who,
        path: &str,
        file_name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> anyhow::Result<Reply> {
        let boundary = "XingTongBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let Who::Cookie(c) = who else { anyhow::bail!("uploads are made by applicants") };
        let cookie = format!("xt_session={c}");
        self.send("POST", path, &[("content-type", content_type.as_str()), ("cookie", cookie.as_str())], body).await
    }
}

fn cookie_of(reply: &Reply) -> anyhow::Result<String> {
    let header = reply.headers.get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    anyhow::ensure!(header.contains("HttpOnly") && header.contains("SameSite=Lax"), "cookie flags: {header}");
    let value = header.split(';').next().and_then(|p| p.strip_prefix("xt_session=")).unwrap_or_default();
    anyhow::ensure!(value.starts_with("xts_"), "a session cookie: {header}");
    Ok(value.to_owned())
}

fn expect(reply: &Reply, status: StatusCode, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(reply.status == status, "{what}: expected {status}, got {} {}", reply.status, reply.json);
    Ok(())
}

fn form(legal_name: &str, phone: &str, resident_id: &str, uscc: &str) -> Value {
    json!({
        "applicant": {
            "legal_name": legal_name, "resident_id": resident_id, "phone": phone,
            "email": format!("{phone}@example.cn"), "address": "上海市浦东新区世纪大道100号",
        },
        "business": { "name": format!("{legal_name}便利店"), "business_type": "individual_business", "unified_social_credit_code": uscc },
        "settlement_account": { "card_number": "6222021234567890128", "bank_name": "中国工商银行", "account_holder": legal_name },
        "delivery_address": "上海市浦东新区世纪大道100号",
    })
}

const GOOD_ID: &str = "11010519491231002X";
const GOOD_USCC: &str = "91310110666007217T";

async fn register(app: &App, name: &str, phone: &str) -> anyhow::Result<Who> {
    let reply = app
        .as_(&Who::Nobody, "POST", "/v1/owners", json!({ "name": name, "phone": phone, "email": format!("{phone}@example.cn"), "password": "correct horse battery" }))
        .await?;
    expect(&reply, StatusCode::CREATED, "register")?;
    Ok(Who::Cookie(cookie_of(&reply)?))
}

async fn staff(app: &App, username: &str, roles: &[&str]) -> anyhow::Result<Who> {
    let reply = app
        .as_(
            &app.admin(),
            "POST",
            "/v1/staff",
            json!({ "username": username, "name": username, "roles": roles, "password": "staff password 1" }),
        )
        .await?;
    expect(&reply, StatusCode::CREATED, "create staff")?;
    let reply = app
        .as_(&Who::Nobody, "POST", "/v1/staff/sessions", json!({ "login": username, "password": "staff password 1" }))
        .await?;
    expect(&reply, StatusCode::CREATED, "staff login")?;
    Ok(Who::Cookie(cookie_of(&reply)?))
}

async fn upload_all(app: &App, owner: &Who, id: &str) -> anyhow::Result<()> {
    for (kind, name, content_type, bytes) in [
        ("id_card_front", "身份证正面.jpg", "image/jpeg", fixtures::jpeg(1200, 800)),
        ("id_card_back", "id-back.png", "image/png", fixtures::png(1200, 800)),
        ("business_licence", "licence.pdf", "application/pdf", fixtures::pdf()),
        ("storefront_photo", "shop.jpg", "image/jpeg", fixtures::jpeg(4000, 3000)),
    ] {
        let reply =
            app.upload(owner, &format!("/v1/applications/{id}/documents/{kind}"), name, content_type, &bytes).await?;
        expect(&reply, StatusCode::CREATED, kind)?;
        assert_eq!(reply.json["document"]["content_type"], content_type);
    }
    Ok(())
}

/// An owner with an approved merchant: (owner, mid, tid, activation code, serial).
async fn approved_merchant(app: &App, reviewer: &Who, name: &str, phone: &str) -> anyhow::Result<(Who, String, Value)> {
    let owner = register(app, name, phone).await?;
    let (mid, device) = apply_and_approve(app, reviewer, &owner, name, phone).await?;
    Ok((owner, mid, device))
}

/// An application by `owner`, submitted, reviewed and approved: (mid, the device ordered).
async fn apply_and_approve(
    app: &App,
    reviewer: &Who,
    owner: &Who,
    name: &str,
    phone: &str,
) -> anyhow::Result<(String, Value)> {
    let owner = owner.clone();
    let reply = app.as_(&owner, "POST", "/v1/applications", form(name, phone, GOOD_ID, GOOD_USCC)).await?;
    expect(&reply, StatusCode::CREATED, "create")?;
    let id = reply.json["id"].as_str().unwrap_or_default().to_owned();
    upload_all(app, &owner, &id).await?;
    expect(
        &app.as_(&owner, "POST", &format!("/v1/applications/{id}/submit"), Value::Null).await?,
        StatusCode::OK,
        "submit",
    )?;
    expect(
        &app.as_(reviewer, "POST", &format!("/v1/applications/{id}/review"), Value::Null).await?,
        StatusCode::OK,
        "review",
    )?;
    let reply = app.as_(reviewer, "POST", &format!("/v1/applications/{id}/approve"), json!({})).await?;
    expect(&reply, StatusCode::OK, "approve")?;
    let mid = reply.json["merchant"]["mid"].as_str().unwrap_or_default().to_owned();
    Ok((mid, reply.json["devices"][0].clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_from_application_to_activation() -> anyhow::Result<()> {
    let app = app().await?;
    let owner = register(&app, "张三", "13812345678").await?;

    // Apply with a bad resident ID and a malformed USCC: every problem comes back at once.
    let reply = app
        .as_(&owner, "POST", "/v1/applications", form("张三", "13812345678", "110105194912310021", "9131011066600721"))
        .await?;
    expect(&reply, StatusCode::CREATED, "draft")?;
    assert_eq!(reply.json["status"], "draft");
    let id = reply.json["id"].as_str().unwrap_or_default().to_owned();
    let reply = app.as_(&owner, "POST", &format!("/v1/applications/{id}/submit"), Value::Null).await?;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "bad ID and USCC");
    let fields: Vec<&str> = reply.json["error"]["details"]["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["field"].as_str())
        .collect();
    for field in [
        "applicant.resident_id",
        "business.unified_social_credit_code",
        "documents.id_card_front",
        "documents.storefront_photo",
    ] {
        assert!(fields.contains(&field), "{field} reported among {fields:?}");
    }
    let still = app.as_(&owner, "GET", &format!("/v1/applications/{id}"), Value::Null).await?;
    assert_eq!(still.json["status"], "draft", "a refused submission changes nothing");

    // Fix, upload, submit.
    let reply = app
        .as_(&owner, "PUT", &format!("/v1/applications/{id}"), form("张三", "13812345678", GOOD_ID, GOOD_USCC))
        .await?;
    expect(&reply, StatusCode::OK, "fix")?;
    upload_all(&app, &owner, &id).await?;
    let reply = app.as_(&owner, "POST", &format!("/v1/applications/{id}/submit"), Value::Null).await?;
    expect(&reply, StatusCode::OK, "submit")?;
    assert_eq!(reply.json["status"], "submitted");
    let reply = app
        .as_(&owner, "PUT", &format!("/v1/applications/{id}"), form("张三", "13812345678", GOOD_ID, GOOD_USCC))
        .await?;
    assert_error(&reply, StatusCode::CONFLICT, "invalid_state", "a submitted application is not edited");

    // Review: the queue, the documents, a rejection with a reason.
    let reviewer = staff(&app, "li.reviewer", &["reviewer"]).await?;
    let queue = app.as_(&reviewer, "GET", "/v1/review/queue", Value::Null).await?;
    expect(&queue, StatusCode::OK, "queue")?;
    assert!(queue.json["applications"].as_array().is_some_and(|q| q.iter().any(|a| a["id"] == id.as_str())));
    let document =
        app.as_(&reviewer, "GET", &format!("/v1/applications/{id}/documents/business_licence"), Value::Null).await?;
    expect(&document, StatusCode::OK, "reviewer reads a document")?;
    assert_eq!(document.raw, fixtures::pdf());
    assert_eq!(document.headers["content-type"], "application/pdf");
    let reply = app.as_(&reviewer, "POST", &format!("/v1/applications/{id}/reject"), json!({ "reason": "x" })).await?;
    assert_error(&reply, StatusCode::CONFLICT, "invalid_state", "decisions need the application under review");
    expect(
        &app.as_(&reviewer, "POST", &format!("/v1/applications/{id}/review"), Value::Null).await?,
        StatusCode::OK,
        "take",
    )?;
    let reply = app.as_(&reviewer, "POST", &format!("/v1/applications/{id}/reject"), json!({ "reason": "  " })).await?;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "reason_required", "a rejection needs a reason");
    let reply = app
        .as_(
            &reviewer,
            "POST",
            &format!("/v1/applications/{id}/reject"),
            json!({ "reason": "门头照不清晰 storefront photo is blurred" }),
        )
        .await?;
    expect(&reply, StatusCode::OK, "reject")?;
    let mine = app.as_(&owner, "GET", &format!("/v1/applications/{id}"), Value::Null).await?;
    assert_eq!(mine.json["status"], "rejected");
    assert_eq!(mine.json["rejection_reason"], "门头照不清晰 storefront photo is blurred");

    // Correct and resubmit; approve.
    let reply = app
        .upload(
            &owner,
            &format!("/v1/applications/{id}/documents/storefront_photo"),
            "shop2.png",
            "image/png",
            &fixtures::png(3000, 2000),
        )
        .await?;
    expect(&reply, StatusCode::CREATED, "new photo")?;
    let reply = app.as_(&owner, "POST", &format!("/v1/applications/{id}/submit"), Value::Null).await?;
    expect(&reply, StatusCode::OK, "resubmit")?;
    assert_eq!(reply.json["submissions"], 2);
    expect(
        &app.as_(&reviewer, "POST", &format!("/v1/applications/{id}/review"), Value::Null).await?,
        StatusCode::OK,
        "take again",
    )?;
    let reply = app
        .as_(
            &reviewer,
            "POST",
            &format!("/v1/applications/{id}/approve"),
            json!({ "mcc": "5411", "serial_number": "SN-0001" }),
        )
        .await?;
    expect(&reply, StatusCode::OK, "approve")?;
    let mid = reply.json["merchant"]["mid"].as_str().unwrap_or_default().to_owned();
    assert_eq!(mid.len(), 15, "MID: {mid}");
    assert!(mid.starts_with("89831005411") && mid.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(reply.json["merchant"]["terms"]["limits"]["per_transaction_minor"], 2_000_000);
    assert_eq!(reply.json["merchant"]["settlement_card"]["card_number"], "622202*********0128");
    let device = &reply.json["devices"][0];
    let tid = device["tid"].as_str().unwrap_or_default().to_owned();
    assert_eq!(tid.len(), 8);
    assert_eq!(device["status"], "ordered");
    assert_eq!(device["serial_number"], "SN-0001");
    assert_eq!(device["deposit"]["amount_minor"], 29_900);
    let code = device["activation_code"].as_str().unwrap_or_default().to_owned();
    assert_eq!(code.len(), 16);

    // The owner's session now carries the merchant; its ledger accounts exist.
    let me = app.as_(&owner, "GET", "/v1/me", Value::Null).await?;
    assert_eq!(me.json["merchant_id"], mid.as_str());
    let settlement = reply.json["merchant"]["ledger_accounts"]["settlement"].as_str().unwrap_or_default().to_owned();
    let account = app.as_(&app.admin(), "GET", &format!("/v1/ledger/accounts/{settlement}"), Value::Null).await?;
    expect(&account, StatusCode::OK, "the merchant's ledger account")?;
    assert_eq!(account.json["code"], 101);

    // Ship, then activate: a wrong code is refused, the right one works once.
    let reply = app
        .as_(&app.admin(), "POST", &format!("/v1/devices/{tid}/ship"), json!({ "tracking_number": "SF1234567890" }))
        .await?;
    expect(&reply, StatusCode::OK, "ship")?;
    assert_eq!(reply.json["status"], "shipped");
    let activation = |code: &str| json!({ "mid": mid, "serial_number": "SN-0001", "activation_code": code });
    let reply = app.as_(&Who::Nobody, "POST", "/v1/activations", activation("0000000000000000")).await?;
    assert_error(&reply, StatusCode::FORBIDDEN, "activation_refused", "wrong code");
    let reply = app
        .as_(
            &Who::Nobody,
            "POST",
            "/v1/activations",
            json!({ "mid": "898310054119999", "serial_number": "SN-0001", "activation_code": code }),
        )
        .await?;
    assert_error(&reply, StatusCode::FORBIDDEN, "activation_refused", "another merchant's number");
    let reply = app.as_(&Who::Nobody, "POST", "/v1/activations", activation(&code)).await?;
    expect(&reply, StatusCode::CREATED, "activate")?;
    assert_eq!(reply.json["tid"], tid.as_str());
    // The terminal's side: derive the key from the code, decrypt the TMK, check it.
    let kek = xingtong_crypto::secret::activation_key(
        &code,
        &mid,
        "SN-0001",
        reply.json["kdf"]["iterations"].as_u64().unwrap_or(0) as u32,
    )?;
    let wrapped = hex::decode(reply.json["tmk_under_activation_key"].as_str().unwrap_or_default())?;
    let tmk = kek.unwrap_key(&wrapped)?;
    assert_eq!(hex::encode_upper(tmk.check_value()), reply.json["tmk_check_value"].as_str().unwrap_or_default());
    assert_eq!(reply.json["kdf"]["algorithm"], "PBKDF2-HMAC-SHA256");
    let again = app.as_(&Who::Nobody, "POST", "/v1/activations", activation(&code)).await?;
    assert_error(&again, StatusCode::CONFLICT, "device_already_bound", "a second use");

    // The merchant queries the device: bound, the code gone, the TMK never shown.
    let devices = app.as_(&owner, "GET", &format!("/v1/merchants/{mid}/devices"), Value::Null).await?;
    expect(&devices, StatusCode::OK, "devices")?;
    let device = &devices.json["devices"][0];
    assert_eq!(device["status"], "bound");
    assert_eq!(device["status_zh"], "已绑定");
    assert!(device["activation_code"].is_null());
    assert!(!devices.json.to_string().contains("tmk_under"), "the TMK never leaves in the device view");

    // Everything was announced and audited.
    let outbox = app.as_(&app.admin(), "GET", "/v1/notifications", Value::Null).await?;
    let templates: Vec<&str> =
        outbox.json["notifications"].as_array().into_iter().flatten().filter_map(|n| n["template"].as_str()).collect();
    for t in ["application_submitted", "application_rejected", "application_approved", "device_shipped"] {
        assert!(templates.contains(&t), "{t} in {templates:?}");
    }
    let audit = app
        .as_(&app.admin(), "GET", &format!("/v1/audit?subject_kind=application&subject_id={id}"), Value::Null)
        .await?;
    let actions: Vec<&str> =
        audit.json["entries"].as_array().into_iter().flatten().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "application.created",
            "application.updated",
            "application.document_uploaded",
            "application.document_uploaded",
            "application.document_uploaded",
            "application.document_uploaded",
            "application.submitted",
            "application.review_started",
            "application.rejected",
            "application.document_uploaded",
            "application.submitted",
            "application.review_started",
            "application.approved"
        ]
    );
    let rejected = audit.json["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["action"] == "application.rejected"))
        .cloned();
    assert!(rejected.is_some_and(|e| e["actor"].as_str().is_some_and(|a| a.starts_with("staff:stf_"))
        && e["at"].as_str().is_some_and(|at| at.ends_with('Z'))));
    app.store.audit().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_merchant_can_neither_read_nor_change_another() -> anyhow::Result<()> {
    let app = app().await?;
    let reviewer = staff(&app, "reviewer", &["reviewer"]).await?;
    let (alice, alice_mid, alice_device) = approved_merchant(&app, &reviewer, "王芳", "13900000001").await?;
    let (bob, bob_mid, _) = approved_merchant(&app, &reviewer, "李雷", "13900000002").await?;
    let alice_tid = alice_device["tid"].as_str().unwrap_or_default().to_owned();
    let alice_apps = app.as_(&alice, "GET", "/v1/applications", Value::Null).await?;
    let alice_app = alice_apps.json["applications"][0]["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(alice_apps.json["applications"].as_array().map(Vec::len), Some(1), "only her own");

    // Bob's session and Bob's API key, against everything of Alice's.
    let key = app.as_(&bob, "POST", "/v1/api-keys", json!({ "label": "till" })).await?;
    expect(&key, StatusCode::CREATED, "bob's key")?;
    let bob_key = Who::Bearer(key.json["token"].as_str().unwrap_or_default().to_owned());
    for who in [&bob, &bob_key] {
        for (method, path, body) in [
            ("GET", format!("/v1/applications/{alice_app}"), Value::Null),
            ("PUT", format!("/v1/applications/{alice_app}"), form("李雷", "13900000002", GOOD_ID, GOOD_USCC)),
            ("POST", format!("/v1/applications/{alice_app}/submit"), Value::Null),
            ("GET", format!("/v1/applications/{alice_app}/documents/id_card_front"), Value::Null),
            ("GET", format!("/v1/merchants/{alice_mid}"), Value::Null),
            ("GET", format!("/v1/merchants/{alice_mid}/devices"), Value::Null),
            ("GET", format!("/v1/devices/{alice_tid}"), Value::Null),
            ("GET", format!("/v1/merchants/{alice_mid}/cashiers"), Value::Null),
            (
                "POST",
                format!("/v1/merchants/{alice_mid}/cashiers"),
                json!({ "operator": "01", "name": "x", "pin": "123456" }),
            ),
            ("PUT", format!("/v1/merchants/{alice_mid}/cashiers/00/pin"), json!({ "pin": "123456" })),
            (
                "POST",
                format!("/v1/merchants/{alice_mid}/settlement-card-changes"),
                json!({ "card_number": "6222021234567890128", "bank_name": "x", "account_holder": "王芳" }),
            ),
        ] {
            let reply = app.as_(who, method, &path, body).await?;
            assert!(
                reply.status == StatusCode::NOT_FOUND || reply.status == StatusCode::FORBIDDEN,
                "{who:?} {method} {path}: {} {}",
                reply.status,
                reply.json
            );
        }
    }
    // Nothing of Alice's changed: her supervisor still has no PIN, no cashier 01, no card change.
    let cashiers = app.as_(&alice, "GET", &format!("/v1/merchants/{alice_mid}/cashiers"), Value::Null).await?;
    assert_eq!(cashiers.json["cashiers"].as_array().map(Vec::len), Some(1));
    assert_eq!(cashiers.json["cashiers"][0]["status"], "pin_required");
    let merchant = app.as_(&alice, "GET", &format!("/v1/merchants/{alice_mid}"), Value::Null).await?;
    assert_eq!(merchant.json["settlement_card"]["account_holder"], "王芳");
    // Bob's own things work with the same credentials.
    expect(
        &app.as_(&bob_key, "GET", &format!("/v1/merchants/{bob_mid}/devices"), Value::Null).await?,
        StatusCode::OK,
        "own devices",
    )?;
    // Alice cannot revoke Bob's key.
    let key_id = key.json["id"].as_str().unwrap_or_default();
    assert_error(
        &app.as_(&alice, "DELETE", &format!("/v1/api-keys/{key_id}"), Value::Null).await?,
        StatusCode::NOT_FOUND,
        "not_found",
        "another's key",
    );

    // Staff without the reviewer role can neither approve nor read documents; reviewers can.
    let finance = staff(&app, "finance", &["finance"]).await?;
    let carol = register(&app, "赵敏", "13900000003").await?;
    let reply = app.as_(&carol, "POST", "/v1/applications", form("赵敏", "13900000003", GOOD_ID, GOOD_USCC)).await?;
    let carol_app = reply.json["id"].as_str().unwrap_or_default().to_owned();
    upload_all(&app, &carol, &carol_app).await?;
    expect(
        &app.as_(&carol, "POST", &format!("/v1/applications/{carol_app}/submit"), Value::Null).await?,
        StatusCode::OK,
        "submit",
    )?;
    for path in [format!("/v1/applications/{carol_app}/review"), format!("/v1/applications/{carol_app}/approve")] {
        assert_error(&app.as_(&finance, "POST", &path, json!({})).await?, StatusCode::FORBIDDEN, "forbidden", &path);
    }
    let document = format!("/v1/applications/{carol_app}/documents/id_card_front");
    assert_error(
        &app.as_(&finance, "GET", &document, Value::Null).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
        "finance reads a document",
    );
    assert_error(
        &app.as_(&finance, "GET", "/v1/review/queue", Value::Null).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
        "queue",
    );
    assert_error(
        &app.as_(&alice, "GET", "/v1/review/queue", Value::Null).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
        "owner queue",
    );
    assert_error(
        &app.as_(&alice, "POST", &format!("/v1/applications/{carol_app}/approve"), json!({})).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
        "owner approves",
    );
    expect(&app.as_(&reviewer, "GET", &document, Value::Null).await?, StatusCode::OK, "the reviewer reads it")?;
    let still = app.as_(&carol, "GET", &format!("/v1/applications/{carol_app}"), Value::Null).await?;
    assert_eq!(still.json["status"], "submitted");
    // No credentials at all.
    assert_error(
        &app.as_(&Who::Nobody, "GET", "/v1/applications", Value::Null).await?,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "anonymous",
    );
    assert_error(
        &app.as_(&Who::Cookie(format!("xts_{}", "0".repeat(64))), "GET", "/v1/me", Value::Null).await?,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "forged session",
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_leave_nothing_behind() -> anyhow::Result<()> {
    use sha2::Digest;
    let app = app().await?;
    let owner = register(&app, "张三", "13812345678").await?;
    let reply = app.as_(&owner, "POST", "/v1/applications", form("张三", "13812345678", GOOD_ID, GOOD_USCC)).await?;
    let id = reply.json["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v1/applications/{id}/documents/id_card_front");
    let bomb = fixtures::png(100_000, 100_000);
    let mut big = fixtures::pdf();
    big.resize(6 * 1024 * 1024, b' ');
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        ("card.png", "image/png", fixtures::pdf(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "document_type_mismatch"),
        (
            "setup.exe",
            "application/octet-stream",
            b"MZ\x90\x00\x03".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_document_type",
        ),
        (
            "page.html",
            "text/html",
            b"<html><script>alert(1)</script>".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_document_type",
        ),
        ("bomb.png", "image/png", bomb.clone(), StatusCode::UNPROCESSABLE_ENTITY, "image_too_large"),
        (
            "../../../etc/passwd",
            "image/png",
            fixtures::png(10, 10),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_file_name",
        ),
        (
            "..\\\\windows\\\\win.ini",
            "image/png",
            fixtures::png(10, 10),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_file_name",
        ),
        ("big.pdf", "application/pdf", big, StatusCode::PAYLOAD_TOO_LARGE, "document_too_large"),
        ("empty.png", "image/png", Vec::new(), StatusCode::UNPROCESSABLE_ENTITY, "document_empty"),
        (
            "evil.pdf",
            "application/pdf",
            b"%PDF-1.4\n<< /OpenAction << /JS (x) >> >>\n%%EOF".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "document_active_content",
        ),
    ];
    for (name, content_type, bytes, status, code) in cases {
        let reply = app.upload(&owner, &path, name, content_type, &bytes).await?;
        assert_error(&reply, status, code, name);
    }
    // Not multipart at all; an unknown document kind.
    let reply = app.as_(&owner, "POST", &path, json!({ "file": "x" })).await?;
    assert_error(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "JSON instead of multipart");
    let reply = app
        .upload(
            &owner,
            &format!("/v1/applications/{id}/documents/selfie"),
            "a.png",
            "image/png",
            &fixtures::png(10, 10),
        )
        .await?;
    assert_error(&reply, StatusCode::NOT_FOUND, "not_found", "unknown kind");
    // Nothing was kept: no document on the application, no bytes in the store.
    let application = app.as_(&owner, "GET", &format!("/v1/applications/{id}"), Value::Null).await?;
    assert_eq!(application.json["documents"], json!({}));
    let sha: [u8; 32] = sha2::Sha256::digest(&bomb).into();
    assert!(app.store.blob(sha).await?.is_none(), "the refused bomb is not stored");
    // The same good file twice is stored once (content-addressed) and referenced by both kinds.
    let photo = fixtures::jpeg(800, 600);
    for kind in ["id_card_front", "storefront_photo"] {
        let reply = app
            .upload(&owner, &format!("/v1/applications/{id}/documents/{kind}"), "same.jpg", "image/jpeg", &photo)
            .await?;
        expect(&reply, StatusCode::CREATED, kind)?;
    }
    let application = app.as_(&owner, "GET", &format!("/v1/applications/{id}"), Value::Null).await?;
    assert_eq!(
        application.json["documents"]["id_card_front"]["sha256"],
        application.json["documents"]["storefront_photo"]["sha256"]
    );
    assert_eq!(application.json["documents"]["id_card_front"]["file_name"], "same.jpg");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cashier_pins_lock_after_five_tries_and_only_staff_reset_them() -> anyhow::Result<()> {
    let app = app().await?;
    let reviewer = staff(&app, "reviewer", &["reviewer"]).await?;
    let (owner, mid, _) = approved_merchant(&app, &reviewer, "王芳", "13900000001").await?;
    let service = super::merchants(app.store.clone());
    use xingtong_merchants::cashiers::PinRefusal;

    // Operator 00 exists without a PIN (not "locked": nothing for staff to reset); the owner sets it and adds 01.
    assert!(matches!(service.verify_cashier_pin(&mid, "00", "123456").await?, Err(PinRefusal::NotSet)));
    let cashiers = format!("/v1/merchants/{mid}/cashiers");
    expect(
        &app.as_(&owner, "PUT", &format!("{cashiers}/00/pin"), json!({ "pin": "864209" })).await?,
        StatusCode::OK,
        "supervisor PIN",
    )?;
    assert_error(
        &app.as_(&owner, "PUT", &format!("{cashiers}/00/pin"), json!({ "pin": "12345" })).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_pin",
        "5 digits",
    );
    let reply =
        app.as_(&owner, "POST", &cashiers, json!({ "operator": "01", "name": "小李", "pin": "135790" })).await?;
    expect(&reply, StatusCode::CREATED, "cashier 01")?;
    assert!(
        !reply.raw.windows(6).any(|w| w == b"135790") && !reply.json.to_string().contains("argon2"),
        "no PIN or hash in replies"
    );
    assert_error(
        &app.as_(&owner, "POST", &cashiers, json!({ "operator": "01", "name": "again", "pin": "135790" })).await?,
        StatusCode::CONFLICT,
        "already_exists",
        "taken",
    );
    assert_error(
        &app.as_(&owner, "POST", &cashiers, json!({ "operator": "1", "name": "x", "pin": "135790" })).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_operator",
        "one digit",
    );
    assert!(service.verify_cashier_pin(&mid, "01", "135790").await?.is_ok());

    // Five wrong PINs lock 01; then even the right PIN is refused.
    for remaining in (0..5).rev() {
        let result = service.verify_cashier_pin(&mid, "01", "000000").await?;
        match remaining {
            0 => assert!(matches!(result, Err(PinRefusal::Locked)), "{result:?}"),
            n => assert!(matches!(result, Err(PinRefusal::Wrong { remaining }) if remaining == n), "{result:?}"),
        }
    }
    assert!(matches!(service.verify_cashier_pin(&mid, "01", "135790").await?, Err(PinRefusal::Locked)));
    // The owner cannot unlock it, only ask; staff without the risk role cannot reset.
    assert_error(
        &app.as_(&owner, "PUT", &format!("{cashiers}/01/pin"), json!({ "pin": "246801" })).await?,
        StatusCode::LOCKED,
        "pin_locked",
        "owner sets a locked PIN",
    );
    let reply = app.as_(&owner, "POST", &format!("{cashiers}/01/pin-reset-request"), Value::Null).await?;
    expect(&reply, StatusCode::OK, "request")?;
    assert!(reply.json["reset_requested_at"].as_str().is_some_and(|at| at.ends_with('Z')));
    assert_error(
        &app.as_(&owner, "POST", &format!("{cashiers}/01/pin-reset"), Value::Null).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
        "owner resets",
    );
    assert_error(
        &app.as_(&reviewer, "POST", &format!("{cashiers}/01/pin-reset"), Value::Null).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
        "reviewer resets",
    );
    let risk = staff(&app, "risk", &["risk"]).await?;
    let reply = app.as_(&risk, "POST", &format!("{cashiers}/01/pin-reset"), Value::Null).await?;
    expect(&reply, StatusCode::OK, "risk resets")?;
    assert_eq!(reply.json["status"], "pin_required");
    assert!(
        matches!(service.verify_cashier_pin(&mid, "01", "135790").await?, Err(PinRefusal::NotSet)),
        "the old PIN is gone: the owner sets a new one"
    );
    expect(
        &app.as_(&owner, "PUT", &format!("{cashiers}/01/pin"), json!({ "pin": "246801" })).await?,
        StatusCode::OK,
        "new PIN",
    )?;
    assert!(service.verify_cashier_pin(&mid, "01", "246801").await?.is_ok());

    // Disabled, 01 cannot sign in and its PIN is forgotten; enabled again, it needs a new PIN.
    // The supervisor cannot be disabled; doing either twice changes nothing.
    let reply = app.as_(&owner, "POST", &format!("{cashiers}/01/disable"), Value::Null).await?;
    expect(&reply, StatusCode::OK, "disable")?;
    assert_eq!(reply.json["status"], "disabled");
    assert!(matches!(service.verify_cashier_pin(&mid, "01", "246801").await?, Err(PinRefusal::UnknownOperator)));
    assert!(!service.operator_enabled(&mid, "01").await?);
    expect(&app.as_(&owner, "POST", &format!("{cashiers}/01/disable"), Value::Null).await?, StatusCode::OK, "again")?;
    assert_error(
        &app.as_(&owner, "PUT", &format!("{cashiers}/01/pin"), json!({ "pin": "246801" })).await?,
        StatusCode::CONFLICT,
        "invalid_state",
        "a disabled cashier's PIN",
    );
    assert_error(
        &app.as_(&owner, "POST", &format!("{cashiers}/00/disable"), Value::Null).await?,
        StatusCode::CONFLICT,
        "supervisor_required",
        "disable 00",
    );
    assert_error(
        &app.as_(&risk, "POST", &format!("{cashiers}/01/enable"), Value::Null).await?,
        StatusCode::NOT_FOUND,
        "not_found",
        "staff do not act for the merchant",
    );
    let reply = app.as_(&owner, "POST", &format!("{cashiers}/01/enable"), Value::Null).await?;
    expect(&reply, StatusCode::OK, "enable")?;
    assert_eq!(reply.json["status"], "pin_required");
    assert!(matches!(service.verify_cashier_pin(&mid, "01", "246801").await?, Err(PinRefusal::NotSet)));
    let audit = app
        .as_(&app.admin(), "GET", &format!("/v1/audit?subject_kind=cashier&subject_id={mid}:01"), Value::Null)
        .await?;
    let actions: Vec<&str> =
        audit.json["entries"].as_array().into_iter().flatten().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "cashier.disabled").count(), 1, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "cashier.enabled").count(), 1, "{actions:?}");
    // Searched by action, newest first; a bad order is refused.
    let found =
        app.as_(&app.admin(), "GET", "/v1/audit?action=cashier.disabled&order=desc&limit=5", Value::Null).await?;
    expect(&found, StatusCode::OK, "search")?;
    assert_eq!(found.json["entries"][0]["subject_id"], format!("{mid}:01"), "{}", found.json);
    assert_error(
        &app.as_(&app.admin(), "GET", "/v1/audit?order=sideways", Value::Null).await?,
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        "order",
    );
    let outbox = app.as_(&app.admin(), "GET", "/v1/notifications", Value::Null).await?;
    let text = outbox.json.to_string();
    assert!(text.contains("pin_locked") && text.contains("pin_reset"), "locked and reset were announced");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settlement_card_changes_only_with_the_code_sent_to_the_phone() -> anyhow::Result<()> {
    let app = app().await?;
    let reviewer = staff(&app, "reviewer", &["reviewer"]).await?;
    let (owner, mid, _) = approved_merchant(&app, &reviewer, "王芳", "13900000001").await?;
    let changes = format!("/v1/merchants/{mid}/settlement-card-changes");
    let card = |holder: &str, number: &str| json!({ "card_number": number, "bank_name": "招商银行", "account_holder": holder });
    let reply = app.as_(&owner, "POST", &changes, card("张三", "6225880137654327")).await?;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "another holder");
    let reply = app.as_(&owner, "POST", &changes, card("王芳", "4111111111111112")).await?;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "Luhn");
    let reply = app.as_(&owner, "POST", &changes, card("王芳", "6225880137654327")).await?;
    expect(&reply, StatusCode::CREATED, "request")?;
    let change = reply.json["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(reply.json["card_number"], "622588******4327");
    // The code went to the registered phone (the outbox); read it there, as the phone would.
    let outbox = app.as_(&app.admin(), "GET", "/v1/notifications", Value::Null).await?;
    let sms = outbox.json["notifications"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["template"] == "card_change_code"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(sms["channel"], "sms");
    assert_eq!(sms["to"], "13900000001");
    let text = sms["text"].as_str().unwrap_or_default();
    let code: String = text.split("验证码 ").nth(1).unwrap_or_default().chars().take(6).collect();
    assert_eq!(code.len(), 6, "{text}");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm = format!("{changes}/{change}/confirm");
    assert_error(
        &app.as_(&owner, "POST", &confirm, json!({ "code": wrong })).await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_code",
        "wrong code",
    );
    let merchant = app.as_(&owner, "GET", &format!("/v1/merchants/{mid}"), Value::Null).await?;
    assert_eq!(merchant.json["settlement_card"]["card_number"], "622202*********0128", "unchanged until confirmed");
    let reply = app.as_(&owner, "POST", &confirm, json!({ "code": code })).await?;
    expect(&reply, StatusCode::OK, "confirm")?;
    assert_eq!(reply.json["status"], "applied");
    let merchant = app.as_(&owner, "GET", &format!("/v1/merchants/{mid}"), Value::Null).await?;
    assert_eq!(merchant.json["settlement_card"]["card_number"], "622588******4327");
    assert_error(
        &app.as_(&owner, "POST", &confirm, json!({ "code": code })).await?,
        StatusCode::CONFLICT,
        "invalid_state",
        "used twice",
    );
    let audit =
        app.as_(&app.admin(), "GET", &format!("/v1/audit?subject_kind=merchant&subject_id={mid}"), Value::Null).await?;
    assert!(audit.json.to_string().contains("merchant.settlement_card_changed"));
    let outbox = app.as_(&app.admin(), "GET", "/v1/notifications", Value::Null).await?;
    assert!(outbox.json.to_string().contains("card_changed"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_sign_in_and_merchant_keys_are_revocable() -> anyhow::Result<()> {
    let app = app().await?;
    let reviewer = staff(&app, "reviewer", &["reviewer"]).await?;
    let (_, mid, _) = approved_merchant(&app, &reviewer, "王芳", "13900000001").await?;
    let login = |login: &str, password: &str| json!({ "login": login, "password": password });
    assert_error(
        &app.as_(&Who::Nobody, "POST", "/v1/sessions", login("13900000001", "wrong password")).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong password",
    );
    assert_error(
        &app.as_(&Who::Nobody, "POST", "/v1/sessions", login("13900000009", "whatever it is")).await?,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "unknown login",
    );
    let reply =
        app.as_(&Who::Nobody, "POST", "/v1/sessions", login("13900000001@EXAMPLE.cn", "correct horse battery")).await?;
    expect(&reply, StatusCode::CREATED, "login by email")?;
    assert_eq!(reply.json["merchant_id"], mid.as_str());
    let owner = Who::Cookie(cookie_of(&reply)?);
    let reply = app.as_(&owner, "POST", "/v1/api-keys", json!({ "label": "shop website" })).await?;
    expect(&reply, StatusCode::CREATED, "key")?;
    let token = reply.json["token"].as_str().unwrap_or_default().to_owned();
    assert!(token.starts_with("xtk_"));
    let key_id = reply.json["id"].as_str().unwrap_or_default().to_owned();
    let key = Who::Bearer(token.clone());
    expect(
        &app.as_(&key, "GET", &format!("/v1/merchants/{mid}"), Value::Null).await?,
        StatusCode::OK,
        "the key works",
    )?;
    let list = app.as_(&owner, "GET", "/v1/api-keys", Value::Null).await?;
    assert!(!list.json.to_string().contains(&token[20..]), "the secret is shown once only");
    // A merchant key cannot reach the operators' ledger endpoints, nor make more keys.
    assert_error(
        &app.as_(&key, "POST", "/v1/api-keys", json!({ "label": "x" })).await?,
        StatusCode::FORBIDDEN,
        "forbidden",
        "key makes key",
    );
    let ledger =
        app.send("GET", "/v1/ledger/accounts/1", &[("authorization", &format!("Bearer {token}"))], vec![]).await?;
    assert_error(&ledger, StatusCode::FORBIDDEN, "forbidden", "merchant key on the ledger");
    let reply = app.as_(&owner, "DELETE", &format!("/v1/api-keys/{key_id}"), Value::Null).await?;
    expect(&reply, StatusCode::NO_CONTENT, "revoke")?;
    assert_error(
        &app.as_(&key, "GET", &format!("/v1/merchants/{mid}"), Value::Null).await?,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "revoked",
    );
    // Sign out ends the session however it was presented: a second session, sent as a bearer
    // token, ends with its own sign-out (and the first lives on).
    let second =
        app.as_(&Who::Nobody, "POST", "/v1/sessions", login("13900000001@EXAMPLE.cn", "correct horse battery")).await?;
    let bearer = Who::Bearer(cookie_of(&second)?);
    expect(&app.as_(&bearer, "GET", "/v1/me", Value::Null).await?, StatusCode::OK, "bearer session")?;
    expect(&app.as_(&bearer, "DELETE", "/v1/sessions/current", Value::Null).await?, StatusCode::NO_CONTENT, "logout")?;
    assert_error(
        &app.as_(&bearer, "GET", "/v1/me", Value::Null).await?,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "after a bearer logout",
    );
    expect(&app.as_(&owner, "GET", "/v1/me", Value::Null).await?, StatusCode::OK, "the cookie session lives on")?;
    // Sign out ends the session.
    let reply = app.as_(&owner, "DELETE", "/v1/sessions/current", Value::Null).await?;
    expect(&reply, StatusCode::NO_CONTENT, "logout")?;
    assert_error(
        &app.as_(&owner, "GET", "/v1/me", Value::Null).await?,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "after logout",
    );
    // The same phone cannot register twice.
    let reply = app
        .as_(
            &Who::Nobody,
            "POST",
            "/v1/owners",
            json!({ "name": "x", "phone": "13900000001", "password": "another password" }),
        )
        .await?;
    assert_error(&reply, StatusCode::CONFLICT, "already_exists", "phone taken");
    let reply = app
        .as_(&Who::Nobody, "POST", "/v1/owners", json!({ "name": "x", "phone": "12345", "password": "short" }))
        .await?;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "bad phone");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_approval_adds_a_merchant_and_the_first_stays_the_owners() -> anyhow::Result<()> {
    let app = app().await?;
    let reviewer = staff(&app, "reviewer2", &["reviewer"]).await?;
    let (owner, first, _) = approved_merchant(&app, &reviewer, "李雷", "13900003001").await?;
    let key_reply = app.as_(&owner, "POST", "/v1/api-keys", json!({ "label": "first till" })).await?;
    expect(&key_reply, StatusCode::CREATED, "a key of the first merchant")?;
    let first_key = key_reply.json["id"].as_str().unwrap_or_default().to_owned();

    // The same owner applies again and is approved: a second merchant.
    let (second, _) = apply_and_approve(&app, &reviewer, &owner, "李雷", "13900003001").await?;
    assert_ne!(first, second);

    // Both are the owner's: readable, and the first's key is listed and revocable.
    let me = app.as_(&owner, "GET", "/v1/me", Value::Null).await?;
    assert_eq!(me.json["merchant_ids"], json!([first, second]), "{}", me.json);
    for mid in [&first, &second] {
        expect(&app.as_(&owner, "GET", &format!("/v1/merchants/{mid}"), Value::Null).await?, StatusCode::OK, mid)?;
    }
    // With two merchants, a new key must say which.
    let ambiguous = app.as_(&owner, "POST", "/v1/api-keys", json!({ "label": "which?" })).await?;
    assert_error(&ambiguous, StatusCode::UNPROCESSABLE_ENTITY, "merchant_required", "two merchants, no mid");
    let reply = app.as_(&owner, "POST", "/v1/api-keys", json!({ "label": "second till", "mid": second })).await?;
    expect(&reply, StatusCode::CREATED, "a key of the second merchant")?;
    assert_eq!(reply.json["mid"], json!(second));
    let keys = app.as_(&owner, "GET", "/v1/api-keys", Value::Null).await?;
    let listed = keys.json.to_string();
    assert!(listed.contains(&first_key) && listed.contains(&second), "{listed}");
    let reply = app.as_(&owner, "DELETE", &format!("/v1/api-keys/{first_key}"), Value::Null).await?;
    expect(&reply, StatusCode::NO_CONTENT, "the first merchant's key is still the owner's to revoke")?;
    Ok(())
}

/// Every time in `value` (a field named `at`, `timestamp` or ending in `_at`) is RFC 3339 or null,
/// never a number (a nanosecond count passes 2^53, which JSON parsers round); returns how many.
fn readable_times(value: &Value, path: &str) -> anyhow::Result<usize> {
    let mut found = 0;
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{path}.{key}");
                if key == "at" || key == "timestamp" || key.ends_with("_at") {
                    let ok = v.is_null()
                        || v.as_str().is_some_and(|s| {
                            s.len() == 30
                                && s.ends_with('Z')
                                && s.as_bytes()[10] == b'T'
                                && s[..4].parse::<u32>().is_ok()
                        });
                    anyhow::ensure!(ok, "{here} = {v} is not an RFC 3339 time");
                    found += 1;
                }
                found += readable_times(v, &here)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                found += readable_times(v, &format!("{path}[{i}]"))?;
            }
        }
        _ => {}
    }
    Ok(found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_time_the_api_shows_is_rfc_3339() -> anyhow::Result<()> {
    let app = app().await?;
    let reviewer = staff(&app, "reviewer3", &["reviewer"]).await?;
    let (owner, mid, device) = approved_merchant(&app, &reviewer, "韩梅梅", "13900004001").await?;
    let tid = device["tid"].as_str().unwrap_or_default().to_owned();
    expect(&app.as_(&owner, "POST", "/v1/api-keys", json!({ "label": "till" })).await?, StatusCode::CREATED, "key")?;
    let settlement = app.as_(&owner, "GET", &format!("/v1/merchants/{mid}"), Value::Null).await?.json["ledger_accounts"]
        ["settlement"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut total = 0;
    for (who, path) in [
        (&owner, "/v1/applications".to_owned()),
        (&owner, format!("/v1/merchants/{mid}")),
        (&owner, format!("/v1/merchants/{mid}/devices")),
        (&owner, format!("/v1/devices/{tid}")),
        (&owner, format!("/v1/merchants/{mid}/cashiers")),
        (&owner, "/v1/api-keys".to_owned()),
        (&owner, "/v1/notifications".to_owned()),
        (&app.admin(), "/v1/audit".to_owned()),
        (&app.admin(), format!("/v1/ledger/accounts/{settlement}")),
    ] {
        let reply = app.as_(who, "GET", &path, Value::Null).await?;
        expect(&reply, StatusCode::OK, &path)?;
        total += readable_times(&reply.json, &path)?;
    }
    anyhow::ensure!(total >= 20, "only {total} times were found: the walk is not looking");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_key_reads_and_changes_nothing() -> anyhow::Result<()> {
    let app = app().await?;
    let reviewer = staff(&app, "reviewer4", &["reviewer"]).await?;
    let (owner, mid, device) = approved_merchant(&app, &reviewer, "林涛", "13900005001").await?;
    let tid = device["tid"].as_str().unwrap_or_default().to_owned();
    let unknown = app.as_(&owner, "POST", "/v1/api-keys", json!({ "label": "x", "scopes": ["everything"] })).await?;
    assert_error(&unknown, StatusCode::UNPROCESSABLE_ENTITY, "invalid_scope", "unknown scope");
    let reply = app.as_(&owner, "POST", "/v1/api-keys", json!({ "label": "reports", "scopes": ["read"] })).await?;
    expect(&reply, StatusCode::CREATED, "a read-only key")?;
    assert_eq!(reply.json["scopes"], json!([]), "{}", reply.json);
    let key = Who::Bearer(reply.json["token"].as_str().unwrap_or_default().to_owned());
    let listed = app.as_(&owner, "GET", "/v1/api-keys", Value::Null).await?;
    assert!(listed.json.to_string().contains("\"scopes\":[]"), "scopes shown in the listing: {}", listed.json);

    // It reads.
    for path in [format!("/v1/merchants/{mid}"), format!("/v1/merchants/{mid}/cashiers"), format!("/v1/devices/{tid}")]
    {
        expect(&app.as_(&key, "GET", &path, Value::Null).await?, StatusCode::OK, &path)?;
    }
    // It changes nothing: every writing endpoint a key could reach refuses it, before anything.
    let pay = json!({ "tid": tid, "amount_minor": 100, "card": { "number": "6222021234567890128" } });
    for (method, path, body) in [
        ("POST", format!("/v1/merchants/{mid}/cashiers"), json!({ "operator": "02", "name": "B", "pin": "135790" })),
        ("PUT", format!("/v1/merchants/{mid}/cashiers/00/pin"), json!({ "pin": "246810" })),
        ("POST", format!("/v1/merchants/{mid}/cashiers/00/pin-reset-request"), Value::Null),
        ("POST", format!("/v1/merchants/{mid}/settlement-card-changes/chg_x/confirm"), json!({ "code": "123456" })),
        ("POST", "/v1/payments".to_owned(), pay.clone()),
        ("POST", "/v1/pre-authorizations".to_owned(), pay.clone()),
        ("POST", "/v1/balance-inquiries".to_owned(), pay.clone()),
        ("POST", "/v1/payments/10000001-000001-000001/void".to_owned(), json!({ "supervisor_pin": "246810" })),
        (
            "POST",
            "/v1/refunds".to_owned(),
            json!({ "payment_id": "x", "amount_minor": 1, "reason": "01", "supervisor_pin": "246810" }),
        ),
        ("POST", "/v1/pre-authorizations/10000001-000001-000001/complete".to_owned(), json!({ "amount_minor": 1 })),
        ("POST", "/v1/pre-authorizations/10000001-000001-000001/void".to_owned(), Value::Null),
    ] {
        let reply = app.as_(&key, method, &path, body).await?;
        let code = if path.ends_with("/confirm") { "forbidden" } else { "scope_required" };
        anyhow::ensure!(
            reply.status == StatusCode::FORBIDDEN && reply.json["error"]["code"] == code,
            "{method} {path}: expected 403 {code}, got {} {}",
            reply.status,
            reply.json
        );
    }
    let cashiers = app.as_(&owner, "GET", &format!("/v1/merchants/{mid}/cashiers"), Value::Null).await?;
    assert_eq!(cashiers.json["cashiers"].as_array().map(Vec::len), Some(1), "no cashier was added: {}", cashiers.json);
    Ok(())
}

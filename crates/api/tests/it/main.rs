//! The API end to end, in process: the real router over a fresh SQLite store, driven with raw
//! requests. Every bad input gets its status and stable code, and leaves the ledger as it was.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use xingtong_store::{Database, Store, StoreOptions};

mod onboarding;

/// The onboarding service over a store, with a fresh host master key and a fast activation KDF.
fn merchants(store: Store) -> xingtong_merchants::Merchants {
    let key = xingtong_crypto::Key::from_hex("0123456789ABCDEFFEDCBA9876543210").expect("a key");
    let config = xingtong_merchants::Config { activation_kdf_iterations: 1_000, ..Default::default() };
    xingtong_merchants::Merchants::new(store, key, config)
}

struct App {
    router: axum::Router,
    store: Store,
    token: String,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: StatusCode,
    json: Value,
    raw: Vec<u8>,
    headers: axum::http::HeaderMap,
}

async fn app() -> anyhow::Result<App> {
    let dir = tempfile::tempdir()?;
    let opened = Store::open(StoreOptions::new(Database::Sqlite { data_dir: dir.path().into() })).await?;
    let token = opened.admin_key.expect("fresh database").token;
    let store = opened.store;
    let router = xingtong_api::router(xingtong_api::AppState::new(merchants(store.clone())));
    Ok(App { router, store, token, _dir: dir })
}

impl App {
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> anyhow::Result<Reply> {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.router.clone().oneshot(request.body(Body::from(body))?).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let raw = response.into_body().collect().await?.to_bytes().to_vec();
        let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        Ok(Reply { status, json, raw, headers })
    }

    /// An authorised JSON request.
    async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Value) -> anyhow::Result<Reply> {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("authorization", auth.as_str()), ("content-type", "application/json")];
        if let Some(key) = key {
            headers.push(("idempotency-key", key));
        }
        let body = if body.is_null() { vec![] } else { serde_json::to_vec(&body)? };
        self.send(method, path, &headers, body).await
    }

    async fn balances(&self, id: &str) -> anyhow::Result<Value> {
        let reply = self.call("GET", &format!("/v1/ledger/accounts/{id}"), None, Value::Null).await?;
        anyhow::ensure!(reply.status == StatusCode::OK, "account {id}: {}", reply.status);
        Ok(json!([
            reply.json["debits_pending"],
            reply.json["debits_posted"],
            reply.json["credits_pending"],
            reply.json["credits_posted"]
        ]))
    }

    async fn accounts(&self, ids: &[&str]) -> anyhow::Result<()> {
        let accounts: Vec<Value> = ids
            .iter()
            .map(|id| {
                let flags = if *id == "3" { json!(["debits_must_not_exceed_credits"]) } else { json!([]) };
                json!({"id": id, "ledger": 156, "code": 1, "flags": flags})
            })
            .collect();
        let reply = self.call("POST", "/v1/ledger/accounts", None, json!({ "accounts": accounts })).await?;
        anyhow::ensure!(reply.status == StatusCode::CREATED, "{}: {}", reply.status, reply.json);
        Ok(())
    }
}

fn transfer(id: &str, debit: &str, credit: &str, amount: u64) -> Value {
    json!({"id": id, "debit_account_id": debit, "credit_account_id": credit, "amount": amount, "ledger": 156, "code": 1})
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str, case: &str) {
    assert_eq!(reply.status, status, "{case}: {}", reply.json);
    assert_eq!(reply.json["error"]["code"], code, "{case}: {}", reply.json);
    assert!(reply.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{case}: a message for people");
}

#[tokio::test]
async fn operations_endpoints_answer_without_a_key() -> anyhow::Result<()> {
    let app = app().await?;
    let health = app.send("GET", "/healthz", &[], vec![]).await?;
    assert_eq!((health.status, health.json["status"].as_str()), (StatusCode::OK, Some("ok")));
    assert!(health.headers.contains_key("x-request-id"), "every response carries a request id");
    let ready = app.send("GET", "/readyz", &[], vec![]).await?;
    assert_eq!((ready.status, ready.json["backend"].as_str()), (StatusCode::OK, Some("sqlite")));
    let metrics = app.send("GET", "/metrics", &[], vec![]).await?;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(String::from_utf8(metrics.raw)?.contains("xingtong_http_requests_total"));
    let doc = app.send("GET", "/openapi.json", &[], vec![]).await?;
    assert_eq!(doc.status, StatusCode::OK);
    for path in ["/v1/ledger/transfers", "/v1/ledger/accounts/{id}/transfers", "/healthz"] {
        assert!(doc.json["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc.json["components"]["schemas"]["TransferInput"].is_object());
    // Every `{name}` in a path is a declared, required path parameter of each of its operations,
    // and every /v1 operation documents its errors in the one error shape (a client generated
    // from the document needs both; schemathesis in CI cannot test an operation without them).
    let mut operations = 0;
    for (path, item) in doc.json["paths"].as_object().into_iter().flatten() {
        let names: Vec<&str> = path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
        for (method, operation) in item.as_object().into_iter().flatten() {
            operations += 1;
            for name in &names {
                let declared = operation["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["name"] == *name && p["in"] == "path" && p["required"] == true);
                anyhow::ensure!(declared, "{method} {path}: path parameter {name} is not declared");
            }
            if path.starts_with("/v1/") {
                for status in ["400", "401", "404", "422", "500", "503"] {
                    let response = &operation["responses"][status];
                    anyhow::ensure!(response.is_object(), "{method} {path}: {status} is not documented");
                }
                let schema = &operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"];
                anyhow::ensure!(schema == "#/components/schemas/ErrorBody", "{method} {path}: 401 is {schema}");
            }
        }
    }
    anyhow::ensure!(operations >= 57, "only {operations} operations documented");
    // Operations that take a JSON body describe it (a generated client must know what to send).
    for (method, path) in [
        ("post", "/v1/owners"),
        ("post", "/v1/sessions"),
        ("post", "/v1/applications"),
        ("put", "/v1/applications/{id}"),
        ("post", "/v1/applications/{id}/approve"),
        ("post", "/v1/activations"),
        ("post", "/v1/merchants/{mid}/cashiers"),
        ("post", "/v1/api-keys"),
        ("post", "/v1/payments"),
        ("post", "/v1/refunds"),
        ("post", "/v1/payments/{id}/void"),
        ("post", "/v1/sandbox/cards"),
        ("post", "/v1/ledger/transfers"),
    ] {
        let body = &doc.json["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"];
        anyhow::ensure!(body.is_object(), "{method} {path} does not describe its body");
    }
    // Every success answer in JSON is described (typed views), but the few that are not JSON.
    let mut described = 0;
    for (path, item) in doc.json["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let success = ["200", "201"].iter().find_map(|s| operation["responses"].get(*s));
            // JSON, or text where the answer is a file (a clearing file is text/plain).
            let schema = success.map(|r| match r["content"].get("application/json") {
                Some(json) => &json["schema"],
                None => &r["content"]["text/plain"]["schema"],
            });
            if schema.is_some_and(|s| s.is_object()) {
                described += 1;
            } else if path.starts_with("/v1/")
                && !path.ends_with("/documents/{kind}")
                && operation["responses"].get("204").is_none()
            {
                anyhow::bail!("{method} {path}: its success answer has no schema");
            }
        }
    }
    anyhow::ensure!(described >= 50, "only {described} success answers described");
    // Query parameters too.
    for (path, name) in [
        ("/v1/applications", "status"),
        ("/v1/audit", "subject_kind"),
        ("/v1/notifications", "status"),
        ("/v1/ledger/accounts/{id}/transfers", "cursor"),
    ] {
        let declared = doc.json["paths"][path]["get"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| p["name"] == name && p["in"] == "query");
        anyhow::ensure!(declared, "GET {path}: query parameter {name} is not declared");
    }
    let schemes = &doc.json["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "xt_session");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    Ok(())
}

#[tokio::test]
async fn the_api_is_closed_without_a_valid_key() -> anyhow::Result<()> {
    let app = app().await?;
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "no header"),
        (&[("authorization", "Bearer nonsense")], "not our key shape"),
        (&[("authorization", "Basic dXNlcjpwYXNz")], "wrong scheme"),
        (
            &[(
                "authorization",
                "Bearer xtk_0000000000000000_0000000000000000000000000000000000000000000000000000000000000000",
            )],
            "unknown key",
        ),
    ];
    for (headers, case) in cases {
        let reply = app.send("GET", "/v1/ledger/accounts/1", headers, vec![]).await?;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized", case);
        assert_eq!(reply.headers.get("www-authenticate").map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
    }
    // A valid key without the admin role may not use the ledger.
    let finance = app.store.create_api_key("finance", "test").await?;
    let auth = format!("Bearer {}", finance.token);
    let reply = app.send("GET", "/v1/ledger/accounts/1", &[("authorization", &auth)], vec![]).await?;
    assert_error(&reply, StatusCode::FORBIDDEN, "forbidden", "finance role");
    Ok(())
}

#[tokio::test]
async fn transfers_move_money_and_retries_replay() -> anyhow::Result<()> {
    let app = app().await?;
    app.accounts(&["1", "2", "3"]).await?;
    let body = json!({"transfers": [transfer("10", "1", "2", 12_345), transfer("11", "2", "3", 45)]});
    let first = app.call("POST", "/v1/ledger/transfers", Some("key-1"), body.clone()).await?;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.json);
    assert_eq!(first.json["results"][1], json!({"index": 1, "id": "11", "result": "ok"}));
    let retry = app.call("POST", "/v1/ledger/transfers", Some("key-1"), body).await?;
    assert_eq!((retry.status, &retry.raw), (first.status, &first.raw), "a retry gets the same bytes");
    assert_eq!(app.balances("1").await?, json!([0, 12_345, 0, 0]));
    assert_eq!(app.balances("2").await?, json!([0, 45, 0, 12_345]));
    let t = app.call("GET", "/v1/ledger/transfers/10", None, Value::Null).await?;
    assert_eq!((t.status, t.json["amount"].as_u64()), (StatusCode::OK, Some(12_345)));
    // Two-phase: hold, then post part of it.
    let hold = json!({"transfers": [{"id": "20", "debit_account_id": "1", "credit_account_id": "2", "amount": 500, "ledger": 156, "code": 1, "flags": ["pending"], "timeout": 3600}]});
    assert_eq!(app.call("POST", "/v1/ledger/transfers", Some("key-2"), hold).await?.status, StatusCode::CREATED);
    let post =
        json!({"transfers": [{"id": "21", "pending_id": "20", "amount": 200, "flags": ["post_pending_transfer"]}]});
    assert_eq!(app.call("POST", "/v1/ledger/transfers", Some("key-3"), post).await?.status, StatusCode::CREATED);
    assert_eq!(app.balances("1").await?, json!([0, 12_545, 0, 0]));
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_a_stable_code_and_changes_nothing() -> anyhow::Result<()> {
    let app = app().await?;
    app.accounts(&["1", "2", "3"]).await?;
    let ok = || transfer("10", "1", "2", 100);
    let post = |key: &str, body: Value| (key.to_owned(), body);
    let cases: Vec<(&str, (String, Value), StatusCode, &str)> = vec![
        (
            "wrong type",
            post("a", json!({"transfers": [{"id": "10", "amount": "100"}]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "negative amount",
            post(
                "b",
                json!({"transfers": [{"id": "10", "debit_account_id": "1", "credit_account_id": "2", "amount": -5, "ledger": 156, "code": 1}]}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "overflowing amount",
            post(
                "c",
                serde_json::from_str(
                    r#"{"transfers":[{"id":"10","debit_account_id":"1","credit_account_id":"2","amount":18446744073709551616,"ledger":156,"code":1}]}"#,
                )?,
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "fractional amount",
            post(
                "d",
                json!({"transfers": [{"id": "10", "debit_account_id": "1", "credit_account_id": "2", "amount": 1.5, "ledger": 156, "code": 1}]}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "unknown field",
            post("e", json!({"transfers": [ok()], "extra": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "unknown flag",
            post(
                "f",
                json!({"transfers": [{"id": "10", "debit_account_id": "1", "credit_account_id": "2", "amount": 1, "ledger": 156, "code": 1, "flags": ["urgent"]}]}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "bad id",
            post(
                "g",
                json!({"transfers": [{"id": "ten", "debit_account_id": "1", "credit_account_id": "2", "amount": 1, "ledger": 156, "code": 1}]}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        ("missing field", post("h", json!({"atomic": true})), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        ("empty batch", post("i", json!({"transfers": []})), StatusCode::UNPROCESSABLE_ENTITY, "empty_batch"),
        (
            "unknown credit account",
            post("j", json!({"transfers": [ok(), transfer("11", "1", "99", 5)]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "transfers_rejected",
        ),
        (
            "unknown debit account",
            post("k", json!({"transfers": [transfer("12", "98", "1", 5)]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "transfers_rejected",
        ),
        (
            "overdraw a limited account",
            post("l", json!({"transfers": [ok(), transfer("13", "3", "1", 1)]})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "transfers_rejected",
        ),
        (
            "wrong currency",
            post(
                "m",
                json!({"transfers": [{"id": "14", "debit_account_id": "1", "credit_account_id": "2", "amount": 1, "ledger": 840, "code": 1}]}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "transfers_rejected",
        ),
    ];
    for (case, (key, body), status, code) in &cases {
        let reply = app.call("POST", "/v1/ledger/transfers", Some(key), body.clone()).await?;
        assert_error(&reply, *status, code, case);
    }
    // Wire-level problems.
    let auth = format!("Bearer {}", app.token);
    let raw = |body: &str| body.as_bytes().to_vec();
    let json_headers =
        [("authorization", auth.as_str()), ("content-type", "application/json"), ("idempotency-key", "w")];
    let reply = app.send("POST", "/v1/ledger/transfers", &json_headers, raw("{\"transfers\": [")).await?;
    assert_error(&reply, StatusCode::BAD_REQUEST, "malformed_json", "truncated JSON");
    let reply = app.send("POST", "/v1/ledger/transfers", &json_headers, raw("{} {}")).await?;
    assert_error(&reply, StatusCode::BAD_REQUEST, "malformed_json", "trailing data");
    let reply = app
        .send(
            "POST",
            "/v1/ledger/transfers",
            &[("authorization", &auth), ("content-type", "text/plain"), ("idempotency-key", "w")],
            raw("{}"),
        )
        .await?;
    assert_error(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "not JSON");
    let reply = app
        .send(
            "POST",
            "/v1/ledger/transfers",
            &[("authorization", &auth), ("content-type", "application/json")],
            serde_json::to_vec(&json!({"transfers": [ok()]}))?,
        )
        .await?;
    assert_error(&reply, StatusCode::BAD_REQUEST, "idempotency_key_required", "no Idempotency-Key");
    let reply = app
        .send(
            "POST",
            "/v1/ledger/transfers",
            &[("authorization", &auth), ("content-type", "application/json"), ("idempotency-key", "has space")],
            raw("{}"),
        )
        .await?;
    assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_idempotency_key", "bad Idempotency-Key");
    let huge = format!("{{\"transfers\": [{}]}}", vec![serde_json::to_string(&ok())?; 9_000].join(","));
    let reply = app.send("POST", "/v1/ledger/transfers", &json_headers, huge.into_bytes()).await?;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "batch_too_large", "9,000 transfers");
    let reply = app.send("POST", "/v1/ledger/transfers", &json_headers, vec![b' '; 9 * 1024 * 1024]).await?;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "9 MiB body");
    // Paths and queries.
    for (path, status, code) in [
        ("/v1/ledger/accounts/abc", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/v1/ledger/accounts/99", StatusCode::NOT_FOUND, "account_not_found"),
        ("/v1/ledger/transfers/99", StatusCode::NOT_FOUND, "transfer_not_found"),
        ("/v1/ledger/accounts/1/transfers?limit=0", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/v1/ledger/accounts/1/transfers?limit=x", StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("/v1/ledger/accounts/1/transfers?cursor=bogus", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("/v1/ledger/accounts/99/transfers", StatusCode::NOT_FOUND, "account_not_found"),
        ("/v1/no/such/thing", StatusCode::NOT_FOUND, "not_found"),
    ] {
        let reply = app.call("GET", path, None, Value::Null).await?;
        assert_error(&reply, status, code, path);
    }
    let reply = app.call("DELETE", "/v1/ledger/transfers", None, Value::Null).await?;
    assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "DELETE");

    // Nothing above changed the ledger.
    for id in ["1", "2", "3"] {
        assert_eq!(app.balances(id).await?, json!([0, 0, 0, 0]), "account {id}");
    }
    assert!(app.store.lookup_transfers((10..=14).collect()).await?.is_empty());
    let report = app.store.audit().await?;
    assert_eq!(report.transfers, 0);

    // A reused key with a different body is refused and changes nothing either.
    let first = app.call("POST", "/v1/ledger/transfers", Some("once"), json!({"transfers": [ok()]})).await?;
    assert_eq!(first.status, StatusCode::CREATED);
    let reused = app
        .call("POST", "/v1/ledger/transfers", Some("once"), json!({"transfers": [transfer("15", "1", "2", 999)]}))
        .await?;
    assert_error(&reused, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "reused key");
    assert_eq!(app.balances("2").await?, json!([0, 0, 0, 100]));
    assert!(app.store.lookup_transfers(vec![15]).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_refused_atomic_batch_reports_every_event() -> anyhow::Result<()> {
    let app = app().await?;
    app.accounts(&["1", "2", "3"]).await?;
    let body =
        json!({"transfers": [transfer("10", "1", "2", 5), transfer("11", "3", "1", 1), transfer("12", "1", "2", 5)]});
    let reply = app.call("POST", "/v1/ledger/transfers", Some("k"), body).await?;
    assert_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "transfers_rejected", "atomic batch");
    let results: Vec<&str> = reply.json["error"]["details"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["linked_event_failed", "exceeds_credits", "linked_event_failed"]);
    assert!(reply.json["error"]["message"].as_str().unwrap().contains("transfers[1]"));
    // Id 11 failed for a reason of state; its retry keeps failing even once it would fit.
    let body = json!({"transfers": [transfer("11", "2", "1", 1)]});
    let reply = app.call("POST", "/v1/ledger/transfers", Some("k1"), body).await?;
    assert_eq!(reply.json["error"]["details"]["results"][0]["result"], "id_already_failed");
    // Non-atomic: each event on its own.
    let body = json!({"atomic": false, "transfers": [transfer("30", "1", "2", 5), transfer("31", "3", "1", 1)]});
    let reply = app.call("POST", "/v1/ledger/transfers", Some("k2"), body).await?;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
    assert_eq!(reply.json["results"][0]["result"], "ok");
    assert_eq!(reply.json["results"][1]["result"], "exceeds_credits");
    assert_eq!(app.balances("2").await?, json!([0, 0, 0, 5]));
    Ok(())
}

#[tokio::test]
async fn account_history_pages_by_cursor() -> anyhow::Result<()> {
    let app = app().await?;
    app.accounts(&["1", "2"]).await?;
    let transfers: Vec<Value> = (0..7).map(|i| transfer(&(100 + i).to_string(), "1", "2", 1)).collect();
    app.call("POST", "/v1/ledger/transfers", Some("k"), json!({ "transfers": transfers })).await?;
    let mut seen = Vec::new();
    let mut path = "/v1/ledger/accounts/2/transfers?limit=3".to_owned();
    loop {
        let page = app.call("GET", &path, None, Value::Null).await?;
        assert_eq!(page.status, StatusCode::OK);
        seen.extend(page.json["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match page.json["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/ledger/accounts/2/transfers?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, (100..107).map(|i| i.to_string()).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test]
async fn query_and_path_rejections_answer_the_json_error_shape() -> anyhow::Result<()> {
    let app = app().await?;
    let auth = format!("Bearer {}", app.token);
    let headers = [("authorization", auth.as_str())];
    for (path, what) in [
        ("/v1/ledger/accounts/1/transfers?limit=many", "query string"),
        ("/v1/ledger/accounts/1/transfers?limit=1&limit=2", "query string"),
        ("/v1/ledger/accounts/1/transfers?colour=red", "query string"),
        ("/v1/ledger/accounts/%FF%FE/transfers", "path"),
    ] {
        let reply = app.send("GET", path, &headers, vec![]).await?;
        anyhow::ensure!(reply.status == StatusCode::BAD_REQUEST, "{path}: {} {:?}", reply.status, reply.raw);
        anyhow::ensure!(
            reply.headers.get("content-type").is_some_and(|v| v == "application/json"),
            "{path}: {:?}",
            reply.headers
        );
        anyhow::ensure!(reply.json["error"]["code"] == "invalid_parameter", "{path}: {}", reply.json);
        let message = reply.json["error"]["message"].as_str().unwrap_or_default();
        anyhow::ensure!(message.contains(what), "{path}: {message}");
    }
    Ok(())
}

/// utoipa names a schema after its type alone, so two views of one name (in different modules)
/// silently become one schema in /openapi.json, and one endpoint's answers then fail it.
#[test]
fn every_schema_type_has_a_name_of_its_own() -> anyhow::Result<()> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut seen: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&src)? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        let mut schema_next = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("#[derive(") && line.contains("ToSchema") {
                schema_next = true;
            } else if schema_next && (line.starts_with("pub struct ") || line.starts_with("pub enum ")) {
                let name = line.split_whitespace().nth(2).unwrap_or("").trim_end_matches(['{', ';', '(']).to_owned();
                let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
                if let Some(other) = seen.insert(name.clone(), file.clone()) {
                    anyhow::bail!("schema {name} is defined in both {other} and {file}");
                }
                schema_next = false;
            }
        }
    }
    anyhow::ensure!(seen.len() > 50, "the scan found the schemas: {}", seen.len());
    Ok(())
}

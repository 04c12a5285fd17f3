//! Request extractors that answer in the API's error shape: a JSON body that names the field at
//! fault, path parameters and the query string, the API key, and the `Idempotency-Key` header.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use xingtong_store::{ApiKeyRecord, parse_api_key};

use crate::AppState;
use crate::error::{ApiError, codes};

/// The largest request body accepted: a full batch of 8,189 transfers in JSON fits with room.
pub const BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// The longest `Idempotency-Key` accepted.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 255;

/// Path parameters, like `axum::extract::Path`, refused in the API's error shape: `400
/// invalid_parameter` naming what did not parse (axum's own answer is `text/plain`).
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_PARAMETER,
                format!("the path is not valid: {}", rejection.body_text()),
            )),
        }
    }
}

/// The query string, like `axum::extract::Query`, refused in the API's error shape: `400
/// invalid_parameter` naming the parameter at fault.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_PARAMETER,
                format!("the query string is not valid: {}", rejection.body_text()),
            )),
        }
    }
}

/// A JSON body, parsed strictly, with the raw bytes kept for request hashing.
#[derive(Debug)]
pub struct JsonBody<T> {
    /// The parsed value.
    pub value: T,
    /// The body as received.
    pub raw: Bytes,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                codes::UNSUPPORTED_MEDIA_TYPE,
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let raw = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {BODY_BYTES_MAX} bytes"),
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, codes::MALFORMED_JSON, "the body could not be read")
            }
        })?;
        let value = parse_json(&raw)?;
        Ok(JsonBody { value, raw })
    }
}

/// Parses JSON, telling a syntax error (400) from a well-formed body with a bad field (422, naming
/// the field by its path, e.g. `transfers[2].amount`).
pub fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body, so that `{} {}` is malformed rather than "missing field".
    serde_json::from_slice::<serde::de::IgnoredAny>(raw).map_err(|error| json_error(error, ""))?;
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        json_error(error.into_inner(), &path)
    })?;
    // Anything after the value (a second object, stray characters) is malformed too.
    deserializer.end().map_err(|error| json_error(error, ""))?;
    Ok(value)
}

fn json_error(error: serde_json::Error, path: &str) -> ApiError {
    match error.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::MALFORMED_JSON,
                format!("the body is not valid JSON (line {}, column {})", error.line(), error.column()),
            )
        }
        serde_json::error::Category::Data => {
            let reason = strip_position(&error.to_string());
            if path == "." || path.is_empty() {
                ApiError::invalid(reason)
            } else {
                ApiError::invalid(format!("{path}: {reason}"))
            }
        }
    }
}

/// serde_json appends " at line L column C" to data errors; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The caller, authenticated by `Authorization: Bearer xtk_…`.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's stored record (its id is the caller's idempotency scope).
    pub key: ApiKeyRecord,
}

impl Caller {
    /// Refuses callers without `role`.
    pub fn require_role(&self, role: &str) -> Result<(), ApiError> {
        if self.key.role == role {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                format!("this needs an API key with the {role} role"),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send an API key: Authorization: Bearer xtk_…"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must be: Bearer xtk_…"))?;
        let (id, secret) =
            parse_api_key(token.trim()).ok_or_else(|| unauthorized("that is not an XingTong API key"))?;
        let key = state.api_key(id).await?;
        match key {
            Some(key) if key.verifies(secret) => Ok(Caller { key }),
            _ => Err(unauthorized("unknown or revoked API key")),
        }
    }
}

/// The `Idempotency-Key` header, when present and well-formed.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("idempotency-key") else { return Ok(IdempotencyKey(None)) };
        let key = value
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= IDEMPOTENCY_KEY_LEN_MAX && k.bytes().all(|b| b.is_ascii_graphic()));
        match key {
            Some(key) => Ok(IdempotencyKey(Some(key.to_owned()))),
            None => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::INVALID_IDEMPOTENCY_KEY,
                format!("Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_LEN_MAX} visible ASCII characters"),
            )),
        }
    }
}

impl IdempotencyKey {
    /// The key, or 400 `idempotency_key_required`.
    pub fn required(self) -> Result<String, ApiError> {
        self.0.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::IDEMPOTENCY_KEY_REQUIRED,
                "this request moves money: send an Idempotency-Key header (e.g. a UUID) and reuse it on retries",
            )
        })
    }
}

/// SHA-256 over what makes two requests "the same": method, path and body.
pub fn request_sha256(method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().into()
}

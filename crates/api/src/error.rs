//! The one error shape of the JSON API: `{"error":{"code":"…","message":"…"}}`, with a stable
//! snake_case code a program can branch on and a message a person can act on. Internal detail
//! (SQL, file paths, panics) is logged with the request id and never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable code; see [`codes`].
    pub code: &'static str,
    /// For a person: what is wrong and how to fix it.
    pub message: String,
    /// Optional structured detail (per-event results of a rejected batch).
    pub details: Option<serde_json::Value>,
}

/// Every error code the API can answer with. Never rename one; add new ones.
pub mod codes {
    /// The body is not JSON.
    pub const MALFORMED_JSON: &str = "malformed_json";
    /// The body is JSON but a field is missing, unknown, of the wrong type or out of range.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// The body must be `application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// The body is larger than the limit.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// No or an unusable API key.
    pub const UNAUTHORIZED: &str = "unauthorized";
    /// The key may not do this.
    pub const FORBIDDEN: &str = "forbidden";
    /// No such route.
    pub const NOT_FOUND: &str = "not_found";
    /// The route exists, not with this method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// No such account.
    pub const ACCOUNT_NOT_FOUND: &str = "account_not_found";
    /// No such transfer.
    pub const TRANSFER_NOT_FOUND: &str = "transfer_not_found";
    /// A POST that moves money needs an `Idempotency-Key` header.
    pub const IDEMPOTENCY_KEY_REQUIRED: &str = "idempotency_key_required";
    /// The `Idempotency-Key` header is not 1 to 255 visible ASCII characters.
    pub const INVALID_IDEMPOTENCY_KEY: &str = "invalid_idempotency_key";
    /// The key was used before for a different request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    /// A batch must hold at least one event.
    pub const EMPTY_BATCH: &str = "empty_batch";
    /// A batch holds more events than one commit takes.
    pub const BATCH_TOO_LARGE: &str = "batch_too_large";
    /// An atomic batch of accounts was refused; nothing was created.
    pub const ACCOUNTS_REJECTED: &str = "accounts_rejected";
    /// An atomic batch of transfers was refused; nothing moved.
    pub const TRANSFERS_REJECTED: &str = "transfers_rejected";
    /// The pagination cursor is not one we issued.
    pub const INVALID_CURSOR: &str = "invalid_cursor";
    /// A path or query parameter is malformed.
    pub const INVALID_PARAMETER: &str = "invalid_parameter";
    /// The request took longer than the limit.
    pub const TIMEOUT: &str = "timeout";
    /// The database cannot be reached; try again.
    pub const UNAVAILABLE: &str = "unavailable";
    /// Our fault; the request id in the log says what happened.
    pub const INTERNAL: &str = "internal";
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: None }
    }

    /// Adds structured detail.
    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// 422 `invalid_request`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, codes::INVALID_REQUEST, message)
    }

    /// 500 `internal`, logging the cause (which the client never sees).
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "internal error; the server log has the details",
        )
    }

    /// The JSON body bytes, for storing under an idempotency key.
    pub fn body_bytes(&self) -> Vec<u8> {
        let body = Body { error: Inner { code: self.code, message: &self.message, details: self.details.as_ref() } };
        serde_json::to_vec(&body)
            .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"internal error"}}"#.to_vec())
    }
}

impl From<xingtong_store::StoreError> for ApiError {
    fn from(error: xingtong_store::StoreError) -> ApiError {
        match error {
            xingtong_store::StoreError::Closed => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, "the server is shutting down; retry")
            }
            // The same kind of failure on either backend gets the same answer.
            ref unavailable if unavailable.is_unavailable() => {
                tracing::error!(%error, "storage failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UNAVAILABLE,
                    "the database did not accept the write; nothing was applied; retry with the same Idempotency-Key",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body_bytes()).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Answers unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such endpoint; the API is described at /openapi.json")
}

/// Answers known routes called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, codes::METHOD_NOT_ALLOWED, "this endpoint does not take that method")
}

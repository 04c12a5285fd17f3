//! One error type for every operation, carrying what an interface needs to answer: a class (which
//! the HTTP API maps to a status), a stable code, a message for a person, and optional details.
//! Messages never contain a secret (password, PIN, code, card number in full).

use xingtong_store::{Rejection, StoreError};

/// What kind of failure, independent of the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The request is malformed.
    BadRequest,
    /// Who is asking is unknown.
    Unauthenticated,
    /// Known, but not allowed.
    Forbidden,
    /// Not there (or not theirs: other merchants' data is reported as absent).
    NotFound,
    /// Not in this state, or taken.
    Conflict,
    /// Well-formed but invalid (validation findings in details).
    Unprocessable,
    /// Too large.
    TooLarge,
    /// A content type we do not accept.
    UnsupportedMediaType,
    /// Locked after too many wrong tries.
    Locked,
    /// The database could not take the request just now; nothing was applied; retry later.
    Unavailable,
    /// Our fault.
    Internal,
}

/// A failed operation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// Class.
    pub class: Class,
    /// Stable, snake_case.
    pub code: &'static str,
    /// For a person.
    pub message: String,
    /// Structured details (validation findings), if any.
    pub details: Option<serde_json::Value>,
}

impl Error {
    /// An error without details.
    pub fn new(class: Class, code: &'static str, message: impl Into<String>) -> Error {
        Error { class, code, message: message.into(), details: None }
    }

    /// With details.
    pub fn with_details(mut self, details: serde_json::Value) -> Error {
        self.details = Some(details);
        self
    }

    /// Something is not there (or belongs to someone else).
    pub fn not_found(what: &str) -> Error {
        Error::new(Class::NotFound, "not_found", format!("{what} not found"))
    }

    /// The caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Error {
        Error::new(Class::Forbidden, "forbidden", message)
    }

    /// Not allowed in the current state.
    pub fn invalid_state(message: impl Into<String>) -> Error {
        Error::new(Class::Conflict, "invalid_state", message)
    }

    /// Malformed input.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Error {
        Error::new(Class::BadRequest, code, message)
    }

    /// True for a lost optimistic-concurrency race: retrying the operation may succeed.
    pub fn is_conflict(&self) -> bool {
        self.code == "concurrent_update"
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Error {
        match error {
            StoreError::Rejected(Rejection::Conflict { .. }) => Error::new(
                Class::Conflict,
                "concurrent_update",
                "someone else changed this at the same moment; read it again and retry",
            ),
            StoreError::Rejected(Rejection::KeyTaken { kind, key }) => {
                let what = key.split(':').next().unwrap_or("value").to_owned();
                Error::new(Class::Conflict, "already_exists", format!("this {what} is already used by another {kind}"))
            }
            // Classified by the store the same way on both backends.
            other if other.is_unavailable() => {
                tracing::error!(error = %other, "storage unavailable");
                Error::new(
                    Class::Unavailable,
                    "unavailable",
                    "the database could not take the request just now; nothing was applied; retry",
                )
            }
            other => {
                tracing::error!(error = %other, "storage failed");
                Error::new(Class::Internal, "internal", "internal error")
            }
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(error: serde_json::Error) -> Error {
        tracing::error!(%error, "a stored record does not decode");
        Error::new(Class::Internal, "internal", "internal error")
    }
}

/// The result of every operation.
pub type Result<T> = std::result::Result<T, Error>;

//! Merchant onboarding: the rules a real-name application must meet (journey steps 1–3).
//!
//! # Layout
//! - [`validate`]: resident ID (GB 11643), unified social credit code (GB 32100), bank card (Luhn
//!   with the UnionPay exception), mobile number and email, each yielding [`validate::Finding`]s.
//! - [`application`]: an [`application::Application`] and its check, reporting every problem at once.
//! - [`date`]: calendar dates and ages, with "today" passed in.
//! - [`documents`]: which documents are needed, and what uploads are accepted (type by content,
//!   image dimensions from headers, PDF active content, file names).
//! - [`terms`]: fee schedules and limits by merchant type.
//! - [`status`]: the application's life cycle.
//!
//! # Architecture invariant
//! Pure: no I/O, no clock. Storage, documents, review and notifications build on this crate.

pub mod application;
pub mod date;
pub mod documents;
pub mod status;
pub mod terms;
pub mod validate;

//! Money for XingTong: amounts in integer minor units tied to an ISO 4217 currency.
//!
//! # Layout
//! - [`currency`]: the currencies we know, with their ISO 4217 alphabetic and numeric codes and exponent.
//! - [`amount`]: [`Amount`], strict decimal parsing and formatting, checked arithmetic.
//! - [`rate`]: [`Rate`], a percentage held in parts per million, applied with round-half-up.
//! - [`capitals`]: Chinese capital numerals (大写) for CNY amounts, as printed on invoices and receipts.
//!
//! # Architecture invariant
//! This crate is pure: no I/O, no clock, no floating point anywhere.
//! An amount never silently wraps, rounds or changes scale; every such case is an error.

pub mod amount;
pub mod capitals;
pub mod currency;
pub mod rate;

pub use amount::{Amount, AmountError};
pub use capitals::{CapitalsError, to_capitals};
pub use currency::{Currency, CurrencyError};
pub use rate::{Rate, RateError};

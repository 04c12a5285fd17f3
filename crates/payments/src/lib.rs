//! Card payments (journey steps 4, 6 and 9 of PRODUCT.md for bank cards), one core for every
//! channel: ISO 8583 terminals (`iso`) and the JSON API.
//!
//! # Layout
//! - [`engine`]: the core: limits, the issuer, fees, ledger postings, the transaction record.
//! - [`outcome`]: what the core decides, in its own terms (approved, declined for a reason,
//!   pending); [`cup`]: the one table mapping it to CUP response codes, for the interfaces.
//! - [`session`]: terminal sign-in and sign-off, working keys, the live-session cache and its
//!   guard across processes.
//! - [`iso`]: the gateway's `Dispatch` for the CUP message set.
//! - [`network`]: the card-network connector; [`sandbox`]: the simulated issuer behind it.
//! - [`txn`]: the recorded transaction, stored in the [`compact`] encoding; [`chart`]: the chart of accounts; [`card`]: PANs and brands.
//!
//! # Architecture invariant
//! Nothing is answered "approved" before the transaction record and its ledger postings are durable
//! in one commit. PANs are kept masked and as keyed tokens; PIN blocks are translated, never
//! decrypted to a PIN outside `xingtong_crypto`, never stored, never logged.

pub mod bank;
pub mod card;
pub mod chart;
pub mod clearing;
pub mod clock;
pub mod compact;
pub mod cup;
pub mod deposit;
pub mod engine;
pub mod ids;
pub mod iso;
pub mod methods;
pub mod network;
pub mod order;
pub mod outcome;
pub mod payouts;
pub mod postings;
pub mod qr;
mod recent;
pub mod recon;
pub mod reports;
pub mod sandbox;
pub mod sandbox_wallet;
pub mod scan;
pub mod schedule;
pub mod session;
pub mod settle;
pub mod txn;
pub mod wallet;

pub use engine::{Answer, BINDING_TAKEN, Binding, Card, Config, Engine, Origin, Original, SESSION_CHANGED};
pub use outcome::{Outcome, Reason};

//! The XingTong ledger: a pure double-entry state machine shaped like TigerBeetle's.
//!
//! Money moves only as [`Transfer`]s between two [`Account`]s of the same ledger (currency).
//! Transfers are immutable; a mistake is fixed by a correcting transfer, never by an edit.
//! Two-phase transfers reserve with `pending` and resolve once with `post` or `void` (or expire);
//! `linked` events succeed or fail together; ids are idempotency keys.
//!
//! # Layout
//! - [`account`]: accounts and their flags.
//! - [`transfer`]: transfers and their flags.
//! - [`results`]: the per-event result codes, with stable snake_case names for the API and storage.
//! - [`state_machine`]: [`Snapshot`], the state a batch needs, and the functions that apply a batch to it.
//! - [`invariants`]: checks of the ledger's invariants over a whole state, used by tests and audits.
//!
//! # Architecture invariant
//! This crate does no I/O, reads no clock and draws no random numbers: the caller prefetches the
//! state a batch touches into a [`Snapshot`] (see [`Batch::keys`]), passes the time in, applies the
//! batch and persists the [`Changes`] it returns. The same code therefore runs on SQLite, on
//! PostgreSQL and in the property tests. Money invariants are asserted in release builds.

pub mod account;
pub mod invariants;
pub mod results;
pub mod state_machine;
pub mod transfer;

pub use account::{Account, AccountFlags};
pub use results::{CreateAccountResult, CreateTransferResult};
pub use state_machine::{Batch, Changes, Keys, PendingState, PendingStatus, Snapshot};
pub use transfer::{AMOUNT_MAX, Transfer, TransferFlags};

/// The most events in one batch; TigerBeetle's figure for one request, so our batches compare.
pub const BATCH_EVENTS_MAX: usize = 8_189;

/// Nanoseconds per second, for timeouts given in seconds.
pub const NS_PER_S: u64 = 1_000_000_000;

//! Ids the payments core makes.

use std::sync::atomic::{AtomicU64, Ordering};

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A ledger transfer id: time-ordered (nanoseconds in the top 64 bits), then a per-process sequence
/// and random bits, so that ids from several processes never collide and indexes stay append-only.
pub fn transfer_id() -> u128 {
    let now = u128::from(xingtong_store::now_ns());
    let sequence = u128::from(SEQUENCE.fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF);
    let random = u128::from(rand::random::<u32>());
    (now << 64) | (sequence << 32) | random
}

/// A retrieval reference number (field 37): 12 digits, hhmmss of `at_ns` (China time) and the
/// STAN.
pub fn rrn(stan: u32, at_ns: u64) -> String {
    let (hhmmss, _) = crate::clock::fields_12_13_at(at_ns);
    format!("{hhmmss}{:06}", stan % 1_000_000)
}

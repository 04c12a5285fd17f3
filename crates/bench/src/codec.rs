//! `xingtong bench codec`: ISO 8583 pack and unpack of a typical CUP 0200 sale, per second, on one
//! core. jPOS published 31,531 packs/s and 32,371 unpacks/s in 2010 (reference/iso8583.md §1).

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;
use xingtong_iso8583::{Message, Mti, cup};

/// jPOS's published packs per second (2010).
pub const JPOS_PACK_PER_SECOND: f64 = 31_531.0;
/// jPOS's published unpacks per second (2010).
pub const JPOS_UNPACK_PER_SECOND: f64 = 32_371.0;

/// One measured operation.
#[derive(Debug, Clone, Serialize)]
pub struct OperationReport {
    /// Median over the rounds.
    pub per_second_median: f64,
    /// Every round's figure.
    pub per_second_rounds: Vec<f64>,
    /// Median ÷ jPOS's 2010 figure.
    pub ratio_to_jpos_2010: f64,
}

/// The report.
#[derive(Debug, Clone, Serialize)]
pub struct CodecReport {
    /// Always `codec`.
    pub bench: &'static str,
    /// What was packed.
    pub message: &'static str,
    /// Its packed size.
    pub message_bytes: usize,
    /// Fields in it.
    pub fields: usize,
    /// Packing.
    pub pack: OperationReport,
    /// Unpacking.
    pub unpack: OperationReport,
}

/// A typical sale: PAN, processing code, amount, STAN, expiry, entry mode, condition and PIN capture
/// codes, track 2, TID, MID, currency, PIN block, security control, field 60 and a MAC.
pub fn typical_sale() -> Message {
    let mut m = Message::new(Mti::new("0200").expect("valid MTI"));
    m.set(2, "6222021234567890123")
        .set(3, "000000")
        .set(4, "000000012345")
        .set(11, "001834")
        .set(14, "2812")
        .set(22, "021")
        .set(25, "00")
        .set(26, "06")
        .set(35, "6222021234567890123=28122011234567890")
        .set(41, "16688014")
        .set(42, "898100012340001")
        .set(49, "156")
        .set(52, [0xAC, 0xF4, 0x6E, 0x73, 0x83, 0x8A, 0x82, 0xF9])
        .set(53, "2600000000000000")
        .set(60, "22000001000")
        .set(64, *b"8A9E91B8");
    m
}

/// Runs `rounds` rounds of about `round` each, for pack and for unpack.
pub fn run(rounds: usize, round: Duration) -> anyhow::Result<CodecReport> {
    let spec = cup::spec();
    let message = typical_sale();
    let packed = message.pack(spec)?;
    anyhow::ensure!(Message::unpack(spec, &packed)? == message, "the benchmark message round-trips");
    let measure = |op: &dyn Fn()| -> Vec<f64> {
        (0..rounds)
            .map(|_| {
                let started = Instant::now();
                let mut n = 0u64;
                while started.elapsed() < round {
                    for _ in 0..256 {
                        op();
                    }
                    n += 256;
                }
                n as f64 / started.elapsed().as_secs_f64()
            })
            .collect()
    };
    let pack = measure(&|| {
        black_box(black_box(&message).pack(spec).expect("packs"));
    });
    let unpack = measure(&|| {
        black_box(Message::unpack(spec, black_box(&packed)).expect("unpacks"));
    });
    let report = |rounds: Vec<f64>, jpos: f64| {
        let mut sorted = rounds.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        OperationReport { per_second_median: median, per_second_rounds: rounds, ratio_to_jpos_2010: median / jpos }
    };
    Ok(CodecReport {
        bench: "codec",
        message: "CUP 0200 sale with PAN, track 2, PIN block and MAC",
        message_bytes: packed.len(),
        fields: message.numbers().count(),
        pack: report(pack, JPOS_PACK_PER_SECOND),
        unpack: report(unpack, JPOS_UNPACK_PER_SECOND),
    })
}

//! Benchmarks behind `xingtong bench`. They measure and print; they never assert a timing, because
//! the machines they run on are shared and noisy. Figures are medians and percentiles of many runs.
//!
//! # Layout
//! - [`codec`]: ISO 8583 packs and unpacks per second.
//! - [`ledger`]: transfers per second and commit latency through the store, per backend.
//! - [`auth`]: card sales per second over ISO 8583 and JSON against a separately started server.
//! - [`Latencies`]: a small percentile calculator over recorded durations.

pub mod auth;
pub mod clearing;
pub mod codec;
pub mod console;
pub mod ledger;

use std::time::Duration;

use serde::Serialize;

/// Recorded durations, summarised as percentiles in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples_ns: Vec<u64>,
}

/// Percentiles of a [`Latencies`], in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    /// How many samples.
    pub samples: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest.
    pub max_us: f64,
}

impl Latencies {
    /// Adds one sample.
    pub fn record(&mut self, duration: Duration) {
        self.samples_ns.push(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Merges another set of samples.
    pub fn extend(&mut self, other: Latencies) {
        self.samples_ns.extend(other.samples_ns);
    }

    /// Nearest-rank percentiles.
    pub fn percentiles(&self) -> Percentiles {
        let mut sorted = self.samples_ns.clone();
        sorted.sort_unstable();
        let at = |q: f64| -> f64 {
            if sorted.is_empty() {
                return 0.0;
            }
            let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            sorted[rank - 1] as f64 / 1_000.0
        };
        Percentiles { samples: sorted.len(), p50_us: at(0.50), p99_us: at(0.99), p999_us: at(0.999), max_us: at(1.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for us in 1..=100u64 {
            l.record(Duration::from_micros(us));
        }
        let p = l.percentiles();
        assert_eq!((p.samples, p.p50_us, p.p99_us, p.max_us), (100, 50.0, 99.0, 100.0));
        assert_eq!(Latencies::default().percentiles().samples, 0);
    }
}

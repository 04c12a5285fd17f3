//! Dates and times as terminals and receipts show them: China time (UTC+8), and the [`Clock`]
//! the payments core reads business time from.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the payments core reads the time that decides business facts: a transaction's business
/// day and time, a batch's and a settlement's, the time fields of replies, deposit and payout
/// steps, the reversal grace of automatic runs. The machine's clock in production; a clock the
/// test sets (and moves across days) in simulations. Caches, rate limits and sessions keep the
/// machine's clock: they are about elapsed time, not business time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The machine's clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that shows `at_ns` (ns since the epoch) until it is set or moved.
    pub fn manual(at_ns: u64) -> Clock {
        Clock { manual: Some(Arc::new(AtomicU64::new(at_ns))) }
    }

    /// Sets a manual clock (every copy of it moves); the machine's clock cannot be set.
    pub fn set(&self, at_ns: u64) -> bool {
        self.manual.as_ref().map(|at| at.store(at_ns, Ordering::SeqCst)).is_some()
    }

    /// Moves a manual clock on by `seconds`.
    pub fn advance(&self, seconds: u64) -> bool {
        self.manual.as_ref().map(|at| at.fetch_add(seconds.saturating_mul(1_000_000_000), Ordering::SeqCst)).is_some()
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        match &self.manual {
            Some(at) => at.load(Ordering::SeqCst),
            None => xingtong_store::now_ns(),
        }
    }

    /// Seconds since the epoch.
    pub fn unix_seconds(&self) -> i64 {
        i64::try_from(self.now_ns() / 1_000_000_000).unwrap_or(i64::MAX)
    }

    /// Today's business day, `YYYYMMDD` (China time).
    pub fn business_day(&self) -> String {
        day_at(self.now_ns())
    }

    /// Fields 12 (hhmmss) and 13 (MMDD) now.
    pub fn fields_12_13(&self) -> (String, String) {
        fields_12_13_at(self.now_ns())
    }

    /// `YYMM` now, to compare with card expiry dates.
    pub fn today_yymm(&self) -> String {
        let (y, m, ..) = china(self.unix_seconds());
        format!("{:02}{m:02}", y % 100)
    }

    /// Yesterday's business day, `YYYYMMDD`: what a clearing run clears by default.
    pub fn yesterday(&self) -> String {
        day_at(self.now_ns().saturating_sub(86_400 * 1_000_000_000))
    }

    /// The last business day over at least `grace_s` seconds ago, `YYYYMMDD`: what the scheduled
    /// clearing clears (yesterday, once the day has been over that long).
    pub fn closed_day(&self, grace_s: u64) -> String {
        day_at(self.now_ns().saturating_sub((86_400 + grace_s).saturating_mul(1_000_000_000)))
    }

    /// (year, month, day, hour, minute, second) in China now.
    pub fn china(&self) -> (i32, u32, u32, u32, u32, u32) {
        china(self.unix_seconds())
    }
}

/// Nanoseconds since the epoch of `hh:mm` China time on the business day `YYYYMMDD`; `None` for
/// a day that is not one.
pub fn at_china(day: &str, hh: u32, mm: u32) -> Option<u64> {
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| day.get(range)?.parse::<u32>().ok();
    let date = xingtong_onboarding::date::Date::new(i32::try_from(number(0..4)?).ok()?, number(4..6)?, number(6..8)?)?;
    let local = date.days_since_epoch() * 86_400 + i64::from(hh) * 3_600 + i64::from(mm) * 60;
    u64::try_from(local - 8 * 3_600).ok().map(|s| s * 1_000_000_000)
}

/// Seconds since the epoch now.
pub fn unix_seconds() -> i64 {
    i64::try_from(xingtong_store::now_ns() / 1_000_000_000).unwrap_or(i64::MAX)
}

/// (year, month, day, hour, minute, second) in China at `unix_seconds`.
pub fn china(unix_seconds: i64) -> (i32, u32, u32, u32, u32, u32) {
    let local = unix_seconds + 8 * 3_600;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let date = xingtong_onboarding::date::Date::from_days_since_epoch(days).expect("a date in range");
    let text = date.to_string();
    let month: u32 = text[5..7].parse().unwrap_or(1);
    let day: u32 = text[8..10].parse().unwrap_or(1);
    (date.year(), month, day, (secs / 3_600) as u32, (secs % 3_600 / 60) as u32, (secs % 60) as u32)
}

/// [`Clock::today_yymm`] of the machine's clock.
pub fn today_yymm() -> String {
    Clock::system().today_yymm()
}

/// [`Clock::business_day`] of the machine's clock.
pub fn business_day() -> String {
    Clock::system().business_day()
}

/// The business day (`YYYYMMDD`, China time) of an instant in ns since the epoch.
pub fn day_at(at_ns: u64) -> String {
    let (y, m, d, ..) = china(i64::try_from(at_ns / 1_000_000_000).unwrap_or(i64::MAX));
    format!("{y:04}{m:02}{d:02}")
}

/// [`Clock::fields_12_13`] of the machine's clock.
pub fn fields_12_13() -> (String, String) {
    Clock::system().fields_12_13()
}

/// Fields 12 (hhmmss) and 13 (MMDD) at `at_ns` (nanoseconds since the epoch), in China.
pub fn fields_12_13_at(at_ns: u64) -> (String, String) {
    let (_, m, d, hh, mm, ss) = china(i64::try_from(at_ns / 1_000_000_000).unwrap_or(i64::MAX));
    (format!("{hh:02}{mm:02}{ss:02}"), format!("{m:02}{d:02}"))
}

/// [`Clock::closed_day`] of the machine's clock.
pub fn closed_day(grace_s: u64) -> String {
    Clock::system().closed_day(grace_s)
}

/// [`Clock::yesterday`] of the machine's clock.
pub fn yesterday() -> String {
    Clock::system().yesterday()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_manual_clock_moves_only_when_told_and_every_copy_with_it() {
        let at = super::at_china("20261127", 10, 30).unwrap();
        assert_eq!(super::china((at / 1_000_000_000) as i64), (2026, 11, 27, 10, 30, 0));
        let clock = super::Clock::manual(at);
        let copy = clock.clone();
        assert_eq!(copy.business_day(), "20261127");
        assert!(clock.advance(14 * 3_600));
        assert_eq!((copy.business_day(), copy.fields_12_13()), ("20261128".into(), ("003000".into(), "1128".into())));
        assert!(!super::Clock::system().set(at), "the machine's clock is not set");
        assert_eq!(super::at_china("20260230", 0, 0), None);
        // Every day of four centuries goes there and back.
        for days in -20_000..150_000 {
            let date = xingtong_onboarding::date::Date::from_days_since_epoch(days).unwrap();
            assert_eq!(date.days_since_epoch(), days, "{date}");
        }
    }

    #[test]
    fn china_time() {
        // 2026-11-21 16:30:00 UTC is 2026-11-22 00:30:00 in Beijing.
        assert_eq!(super::china(1_795_278_600), (2026, 11, 22, 0, 30, 0));
    }
}

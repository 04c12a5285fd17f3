//! Dates and times as terminals and receipts show them: China time (UTC+8).

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

/// `YYMM` now, to compare with card expiry dates.
pub fn today_yymm() -> String {
    let (y, m, ..) = china(unix_seconds());
    format!("{:02}{m:02}", y % 100)
}

/// `YYYYMMDD` now: the business day of limits and reports.
pub fn business_day() -> String {
    let (y, m, d, ..) = china(unix_seconds());
    format!("{y:04}{m:02}{d:02}")
}

/// The business day (`YYYYMMDD`, China time) of an instant in ns since the epoch.
pub fn day_at(at_ns: u64) -> String {
    let (y, m, d, ..) = china(i64::try_from(at_ns / 1_000_000_000).unwrap_or(i64::MAX));
    format!("{y:04}{m:02}{d:02}")
}

/// Fields 12 (hhmmss) and 13 (MMDD) now.
pub fn fields_12_13() -> (String, String) {
    fields_12_13_at(xingtong_store::now_ns())
}

/// Fields 12 (hhmmss) and 13 (MMDD) at `at_ns` (nanoseconds since the epoch), in China.
pub fn fields_12_13_at(at_ns: u64) -> (String, String) {
    let (_, m, d, hh, mm, ss) = china(i64::try_from(at_ns / 1_000_000_000).unwrap_or(i64::MAX));
    (format!("{hh:02}{mm:02}{ss:02}"), format!("{m:02}{d:02}"))
}

/// The last business day over at least `grace_s` seconds ago, `YYYYMMDD` (China time): what the
/// scheduled clearing clears (yesterday, once the day has been over that long).
pub fn closed_day(grace_s: u64) -> String {
    let (y, m, d, ..) = china(unix_seconds() - i64::try_from(grace_s).unwrap_or(0) - 86_400);
    format!("{y:04}{m:02}{d:02}")
}

/// Yesterday's business day, `YYYYMMDD` (China time): what a clearing run clears by default.
pub fn yesterday() -> String {
    let (y, m, d, ..) = china(unix_seconds() - 86_400);
    format!("{y:04}{m:02}{d:02}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn china_time() {
        // 2026-11-21 16:30:00 UTC is 2026-11-22 00:30:00 in Beijing.
        assert_eq!(super::china(1_795_278_600), (2026, 11, 22, 0, 30, 0));
    }
}

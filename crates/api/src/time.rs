//! Times as the API shows them: RFC 3339 in UTC with nanoseconds (`2025-11-27T17:03:27.123456789Z`).
//! Internally every time is nanoseconds since the Unix epoch, a `u64`; as a JSON number it passes
//! 2^53 and JSON parsers round it, so no time leaves the API as a number.

/// `ns` since the Unix epoch as RFC 3339, UTC, nine fractional digits.
pub fn rfc3339(ns: u64) -> String {
    let seconds = ns / 1_000_000_000;
    let fraction = ns % 1_000_000_000;
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:09}Z", rest / 3_600, rest / 60 % 60, rest % 60)
}

/// An optional time, `null` when absent.
pub fn rfc3339_opt(ns: Option<u64>) -> Option<String> {
    ns.map(rfc3339)
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`, for
/// days ≥ 0: eras of 400 years, March-based years so that the leap day falls last).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn times_read_as_python_and_every_other_clock_reads_them() {
        for (seconds, expected) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_764_263_007, "2025-11-27T17:03:27"),
            (4_102_444_799, "2099-12-31T23:59:59"),
        ] {
            assert_eq!(rfc3339(seconds * 1_000_000_000), format!("{expected}.000000000Z"));
        }
        assert_eq!(rfc3339(1_764_263_007_123_456_789), "2025-11-27T17:03:27.123456789Z");
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }
}

//! A calendar date, as far as onboarding needs one: valid dates only, ordering, and age in whole
//! years. The caller passes "today" in; this crate reads no clock.

/// A valid Gregorian calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u32,
    day: u32,
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// The date, if it exists (and lies between the years 1800 and 9999).
    pub fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        let valid =
            (1800..=9999).contains(&year) && (1..=12).contains(&month) && day >= 1 && day <= days_in(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Whole years from `self` to `on`: birthdays count on the day; a 29 February birthday is
    /// reached on 1 March in common years.
    pub fn age_on(self, on: Date) -> u32 {
        let mut years = on.year - self.year;
        if (on.month, on.day) < (self.month, self.day) {
            years -= 1;
        }
        years.max(0) as u32
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The date `days` after 1970-01-01 (negative: before), by Howard Hinnant's civil-from-days.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date::new(i32::try_from(year).ok()?, month, day)
    }

    /// Days from 1970-01-01 to this date (negative: before), by Howard Hinnant's days-from-civil:
    /// the inverse of [`Date::from_days_since_epoch`].
    pub fn days_since_epoch(self) -> i64 {
        let (month, day) = (i64::from(self.month), i64::from(self.day));
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date in China (UTC+8) at `unix_seconds`.
    pub fn in_china_at(unix_seconds: i64) -> Option<Date> {
        Date::from_days_since_epoch((unix_seconds + 8 * 3_600).div_euclid(86_400))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_epoch() {
        assert_eq!(Date::from_days_since_epoch(0), Date::new(1970, 1, 1));
        assert_eq!(Date::from_days_since_epoch(-1), Date::new(1969, 12, 31));
        assert_eq!(Date::from_days_since_epoch(19_782), Date::new(2024, 2, 29));
        // 2026-11-22 00:30 in Beijing is still 2026-11-21 in UTC.
        assert_eq!(Date::in_china_at(1_795_278_600), Date::new(2026, 11, 22));
        assert_eq!(Date::new(2026, 3, 5).map(|d| d.to_string()).as_deref(), Some("2026-03-05"));
    }

    #[test]
    fn validity_and_ages() {
        assert!(Date::new(2024, 2, 29).is_some() && Date::new(2023, 2, 29).is_none());
        assert!(Date::new(1900, 2, 29).is_none() && Date::new(2000, 2, 29).is_some());
        assert!(
            Date::new(2026, 13, 1).is_none() && Date::new(2026, 4, 31).is_none() && Date::new(2026, 1, 0).is_none()
        );
        let birth = Date::new(2008, 11, 23).unwrap();
        assert_eq!(birth.age_on(Date::new(2026, 11, 22).unwrap()), 17);
        assert_eq!(birth.age_on(Date::new(2026, 11, 23).unwrap()), 18);
        let leap = Date::new(2008, 2, 29).unwrap();
        assert_eq!(leap.age_on(Date::new(2026, 2, 28).unwrap()), 17);
        assert_eq!(leap.age_on(Date::new(2026, 3, 1).unwrap()), 18);
        assert_eq!(Date::new(2030, 1, 1).unwrap().age_on(Date::new(2026, 1, 1).unwrap()), 0);
    }
}

//! [`Rate`]: a proportion between 0% and 100%, held exactly in parts per million.
//!
//! Fee rates (MDR 0.38%, 0.60%, D0 +0.05%) and VAT rates (13%, 9%, 6%, …) are all whole numbers of
//! parts per million, so no rate we charge or report is ever approximated.
//! Applying a rate rounds half up (half away from zero for negative amounts, so a refund's share
//! mirrors the sale's exactly) to the minor unit; the arithmetic is done in `i128`, never floats.

use std::fmt;

/// Parts per million in 100%.
pub const PPM_PER_UNIT: u32 = 1_000_000;

/// A proportion between 0 and 1 inclusive, in parts per million (1 ppm = 0.0001%).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Rate {
    /// Parts per million; at most [`PPM_PER_UNIT`].
    ppm: u32,
}

impl Rate {
    /// Zero percent.
    pub const ZERO: Rate = Rate { ppm: 0 };

    /// A rate from parts per million; more than 100% is an error.
    pub const fn from_ppm(ppm: u32) -> Result<Rate, RateError> {
        if ppm > PPM_PER_UNIT { Err(RateError::AboveOneHundredPercent) } else { Ok(Rate { ppm }) }
    }

    /// A rate from basis points (1 bp = 0.01%): 38 bp is 0.38%.
    pub const fn from_bps(bps: u32) -> Result<Rate, RateError> {
        match bps.checked_mul(100) {
            Some(ppm) => Rate::from_ppm(ppm),
            None => Err(RateError::AboveOneHundredPercent),
        }
    }

    /// Parses a percentage such as `"0.38"`, `"13"` or `"0.38%"`, with at most four decimals.
    pub fn parse_percent(text: &str) -> Result<Rate, RateError> {
        let digits = text.strip_suffix('%').unwrap_or(text);
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let well_formed = !whole.is_empty()
            && (whole == "0" || !whole.starts_with('0'))
            && whole.len() <= 3
            && fraction.len() <= 4
            && (fraction.is_empty() != digits.contains('.'))
            && whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit());
        if !well_formed {
            return Err(RateError::Malformed);
        }
        let mut ppm: u32 = 0;
        let padded = fraction.bytes().chain(std::iter::repeat_n(b'0', 4 - fraction.len()));
        for digit in whole.bytes().chain(padded) {
            // At most 3 + 4 digits: 9,999,999 fits in u32 without overflow.
            ppm = ppm * 10 + u32::from(digit - b'0');
        }
        Rate::from_ppm(ppm)
    }

    /// Parts per million.
    pub const fn ppm(self) -> u32 {
        self.ppm
    }

    /// `self` + `other`, e.g. the D0 surcharge on top of the base rate.
    pub fn checked_add(self, other: Rate) -> Result<Rate, RateError> {
        Rate::from_ppm(self.ppm + other.ppm)
    }

    /// This rate of `minor` units, rounded half up to the unit (half away from zero when negative).
    ///
    /// The result's magnitude never exceeds `minor`'s, because the rate is at most 100%.
    pub fn apply_minor(self, minor: i64) -> i64 {
        let magnitude = i128::from(minor).abs() * i128::from(self.ppm);
        let rounded = (magnitude + i128::from(PPM_PER_UNIT / 2)) / i128::from(PPM_PER_UNIT);
        let signed = if minor < 0 { -rounded } else { rounded };
        let result = i64::try_from(signed).expect("a rate of at most 100% keeps the magnitude");
        assert!(result.unsigned_abs() <= minor.unsigned_abs());
        result
    }

    /// The tax contained in a tax-inclusive `minor` amount at this rate:
    /// `round_half_up(amount × rate / (1 + rate))`, the formula of the Chinese VAT e-invoice.
    pub fn included_in_minor(self, minor: i64) -> i64 {
        let numerator = i128::from(minor).abs() * i128::from(self.ppm);
        let denominator = i128::from(PPM_PER_UNIT) + i128::from(self.ppm);
        // round_half_up(n / d) = floor((2n + d) / 2d) for n, d ≥ 0.
        let rounded = (2 * numerator + denominator) / (2 * denominator);
        let signed = if minor < 0 { -rounded } else { rounded };
        let result = i64::try_from(signed).expect("tax never exceeds the amount it is part of");
        assert!(result.unsigned_abs() <= minor.unsigned_abs());
        result
    }
}

impl fmt::Debug for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Rate {
    /// Shortest exact percentage, e.g. `0.38%`, `13%`, `0.0001%`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.ppm / 10_000;
        let fraction = self.ppm % 10_000;
        if fraction == 0 {
            return write!(f, "{whole}%");
        }
        let text = format!("{fraction:04}");
        write!(f, "{whole}.{}%", text.trim_end_matches('0'))
    }
}

/// Why a rate is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// Rates above 100% make no sense for fees or taxes.
    #[error("a rate cannot exceed 100%")]
    AboveOneHundredPercent,
    /// The text is not a percentage like `0.38` or `13%`.
    #[error("a rate is a percentage with at most four decimals, e.g. 0.38 or 13%")]
    Malformed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(text: &str) -> Rate {
        Rate::parse_percent(text).expect("test rate parses")
    }

    #[test]
    fn merchant_discount_rates_round_half_up() {
        // 0.38% of ¥100.00 is exactly 38 fen.
        assert_eq!(rate("0.38").apply_minor(10_000), 38);
        // 0.50% of ¥1.01 is 0.505 fen: half rounds up.
        assert_eq!(rate("0.5").apply_minor(101), 1);
        // 0.60% of ¥0.25 is 0.15 fen: rounds down to 0.
        assert_eq!(rate("0.6").apply_minor(25), 0);
        // 0.60% of ¥2.50 is 1.5 fen: rounds up to 2; a refund mirrors it.
        assert_eq!(rate("0.6").apply_minor(250), 2);
        assert_eq!(rate("0.6").apply_minor(-250), -2);
        assert_eq!(rate("100").apply_minor(i64::MAX), i64::MAX);
        assert_eq!(rate("100").apply_minor(i64::MIN), i64::MIN);
        assert_eq!(Rate::from_bps(38).unwrap().checked_add(Rate::from_bps(5).unwrap()), Ok(rate("0.43")));
    }

    #[test]
    fn vat_included_in_a_tax_inclusive_amount() {
        // ¥113.00 at 13%: ¥13.00 of tax.
        assert_eq!(rate("13").included_in_minor(11_300), 1_300);
        // ¥100.00 at 6%: 566.04 fen → 566.
        assert_eq!(rate("6").included_in_minor(10_000), 566);
        // ¥0.03 at 3%: 0.0873 fen → 0.
        assert_eq!(rate("3").included_in_minor(3), 0);
        assert_eq!(rate("0").included_in_minor(10_000), 0);
        // ¥1.03 at 3%: exactly 3 fen.
        assert_eq!(rate("3").included_in_minor(103), 3);
    }

    #[test]
    fn parses_and_prints_percentages() {
        for (text, ppm, shown) in [
            ("0.38", 3_800, "0.38%"),
            ("0.38%", 3_800, "0.38%"),
            ("13", 130_000, "13%"),
            ("0", 0, "0%"),
            ("100", 1_000_000, "100%"),
            ("0.0001", 1, "0.0001%"),
        ] {
            let parsed = rate(text);
            assert_eq!(parsed.ppm(), ppm, "{text}");
            assert_eq!(parsed.to_string(), shown);
        }
        for bad in ["", "%", "1.", ".5", "0.00001", "100.0001", "-1", "1e2", "013", "1,5", " 1"] {
            assert!(Rate::parse_percent(bad).is_err(), "{bad:?} should not parse");
        }
    }

    proptest! {
        #[test]
        fn matches_exact_rational_rounding(minor in any::<i64>(), ppm in 0..=PPM_PER_UNIT) {
            let r = Rate::from_ppm(ppm).unwrap();
            let exact_num = i128::from(minor).abs() * i128::from(ppm);
            let got = i128::from(r.apply_minor(minor)).abs();
            // |got| is the nearest integer to the exact value, ties going up.
            let twice_diff = 2 * exact_num - 2 * got * i128::from(PPM_PER_UNIT);
            prop_assert!(twice_diff < i128::from(PPM_PER_UNIT));
            prop_assert!(twice_diff >= -i128::from(PPM_PER_UNIT));
            if minor != i64::MIN {
                prop_assert_eq!(r.apply_minor(-minor), -r.apply_minor(minor));
            }
        }

        #[test]
        fn display_parses_back(ppm in 0..=PPM_PER_UNIT) {
            let r = Rate::from_ppm(ppm).unwrap();
            prop_assert_eq!(Rate::parse_percent(&r.to_string()), Ok(r));
        }
    }
}

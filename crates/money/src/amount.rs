//! [`Amount`]: a signed number of minor units in one currency.
//!
//! Decimal strings are parsed strictly with the currency's exponent, because an amount that is
//! "probably" right is wrong: `"12.3"` in CNY is 12.30, but `"12.345"`, `"1e3"`, `"-0"`, `" 1"`,
//! `"+1"`, `"01"`, `"1."`, `".5"` and `""` are errors that say what is wrong.

use std::fmt;

use crate::Currency;
use crate::rate::Rate;

/// An amount of money: integer minor units of one currency. Never floating point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Amount {
    /// Minor units (fen for CNY); negative for debts and corrections.
    minor: i64,
    /// The currency, which fixes the exponent used to read and write `minor`.
    currency: Currency,
}

/// The longest amount string we read; an `i64` has 19 digits, plus sign and point.
pub const AMOUNT_TEXT_LEN_MAX: usize = 24;

impl Amount {
    /// An amount from minor units.
    pub const fn from_minor(minor: i64, currency: Currency) -> Amount {
        Amount { minor, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Amount {
        Amount { minor: 0, currency }
    }

    /// The number of minor units.
    pub const fn minor(self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// True when strictly greater than zero.
    pub const fn is_positive(self) -> bool {
        self.minor > 0
    }

    /// True when zero.
    pub const fn is_zero(self) -> bool {
        self.minor == 0
    }

    /// Parses a decimal string such as `"12.30"` with `currency`'s exponent.
    ///
    /// Accepted: an optional leading `-`, then digits without superfluous leading zeros, then
    /// optionally a point and between one and `exponent` digits. Nothing else.
    pub fn parse(text: &str, currency: Currency) -> Result<Amount, AmountError> {
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        if text.len() > AMOUNT_TEXT_LEN_MAX {
            return Err(AmountError::TooLong { len_max: AMOUNT_TEXT_LEN_MAX });
        }
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        if whole.is_empty() {
            return Err(AmountError::MissingWholePart);
        }
        if let Some(bad) = unsigned.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
            return Err(AmountError::InvalidCharacter(bad));
        }
        if whole.len() > 1 && whole.starts_with('0') {
            return Err(AmountError::LeadingZero);
        }
        let exponent = usize::from(currency.exponent());
        let fraction = match fraction {
            None => "",
            Some("") => return Err(AmountError::MissingFraction),
            Some(f) if f.contains('.') => return Err(AmountError::InvalidCharacter('.')),
            Some(f) if f.len() > exponent => {
                return Err(AmountError::TooManyDecimals { currency, exponent: currency.exponent() });
            }
            Some(f) => f,
        };
        let mut minor: i64 = 0;
        let digits = whole.bytes().chain(fraction.bytes()).chain(std::iter::repeat_n(b'0', exponent - fraction.len()));
        for digit in digits {
            // Accumulate negatively so that i64::MIN, whose magnitude exceeds i64::MAX, parses.
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_sub(i64::from(digit - b'0')))
                .ok_or(AmountError::Overflow)?;
        }
        if negative {
            if minor == 0 {
                return Err(AmountError::NegativeZero);
            }
            Ok(Amount { minor, currency })
        } else {
            let minor = minor.checked_neg().ok_or(AmountError::Overflow)?;
            Ok(Amount { minor, currency })
        }
    }

    /// The decimal string with exactly `exponent` decimals, e.g. `"12.30"`; `parse` reads it back.
    pub fn to_decimal_string(self) -> String {
        let exponent = u32::from(self.currency.exponent());
        let magnitude = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        if exponent == 0 {
            return format!("{sign}{magnitude}");
        }
        let scale = 10_u64.pow(exponent);
        let width = exponent as usize;
        format!("{sign}{}.{:0width$}", magnitude / scale, magnitude % scale)
    }

    /// Checked addition; currencies must match.
    pub fn checked_add(self, other: Amount) -> Result<Amount, AmountError> {
        self.same_currency(other)?;
        let minor = self.minor.checked_add(other.minor).ok_or(AmountError::Overflow)?;
        Ok(Amount { minor, ..self })
    }

    /// Checked subtraction; currencies must match.
    pub fn checked_sub(self, other: Amount) -> Result<Amount, AmountError> {
        self.same_currency(other)?;
        let minor = self.minor.checked_sub(other.minor).ok_or(AmountError::Overflow)?;
        Ok(Amount { minor, ..self })
    }

    /// Checked multiplication by a count (quantities on an invoice line, say).
    pub fn checked_mul(self, count: i64) -> Result<Amount, AmountError> {
        let minor = self.minor.checked_mul(count).ok_or(AmountError::Overflow)?;
        Ok(Amount { minor, ..self })
    }

    /// Checked negation.
    pub fn checked_neg(self) -> Result<Amount, AmountError> {
        let minor = self.minor.checked_neg().ok_or(AmountError::Overflow)?;
        Ok(Amount { minor, ..self })
    }

    /// `rate` of this amount, rounded half up (half away from zero) to the minor unit.
    pub fn apply_rate(self, rate: Rate) -> Amount {
        Amount { minor: rate.apply_minor(self.minor), ..self }
    }

    /// The lesser of two amounts of the same currency.
    pub fn min(self, other: Amount) -> Result<Amount, AmountError> {
        self.same_currency(other)?;
        Ok(if other.minor < self.minor { other } else { self })
    }

    fn same_currency(self, other: Amount) -> Result<(), AmountError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(AmountError::CurrencyMismatch { left: self.currency, right: other.currency })
        }
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.to_decimal_string())
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.to_decimal_string())
    }
}

/// Why an amount could not be parsed or computed. Messages are written for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Nothing was given.
    #[error("the amount is empty")]
    Empty,
    /// The text is longer than any valid amount.
    #[error("the amount is longer than {len_max} characters")]
    TooLong {
        /// The limit.
        len_max: usize,
    },
    /// A character other than digits, one point and a leading minus.
    #[error("the amount contains {0:?}; use digits and at most one decimal point, e.g. 12.30")]
    InvalidCharacter(char),
    /// `.5` rather than `0.5`.
    #[error("the amount has no digits before the decimal point; write 0.5, not .5")]
    MissingWholePart,
    /// `1.` rather than `1` or `1.0`.
    #[error("the amount ends in a decimal point; write 1 or 1.00")]
    MissingFraction,
    /// `01` rather than `1`.
    #[error("the amount has a superfluous leading zero")]
    LeadingZero,
    /// More decimals than the currency has.
    #[error("{currency} amounts have at most {exponent} decimal places")]
    TooManyDecimals {
        /// The currency whose exponent was exceeded.
        currency: Currency,
        /// Its exponent.
        exponent: u8,
    },
    /// `-0`, `-0.00`: zero has no sign.
    #[error("the amount is negative zero; write 0")]
    NegativeZero,
    /// The result does not fit in 64-bit minor units.
    #[error("the amount is too large")]
    Overflow,
    /// Two currencies were mixed.
    #[error("cannot combine {left} and {right} amounts")]
    CurrencyMismatch {
        /// Left operand's currency.
        left: Currency,
        /// Right operand's currency.
        right: Currency,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str, currency: Currency, expect: Result<i64, AmountError>) {
        let got = Amount::parse(text, currency).map(Amount::minor);
        assert_eq!(got, expect, "parsing {text:?} as {currency}");
    }

    #[test]
    fn parses_what_people_write() {
        check("12.3", Currency::CNY, Ok(1230));
        check("12.30", Currency::CNY, Ok(1230));
        check("12", Currency::CNY, Ok(1200));
        check("0.05", Currency::CNY, Ok(5));
        check("0", Currency::CNY, Ok(0));
        check("-7.5", Currency::CNY, Ok(-750));
        check("1000", Currency::JPY, Ok(1000));
        check("1.234", Currency::KWD, Ok(1234));
        check("92233720368547758.07", Currency::CNY, Ok(i64::MAX));
        check("-92233720368547758.08", Currency::CNY, Ok(i64::MIN));
    }

    #[test]
    fn rejects_everything_else() {
        use AmountError::*;
        check("", Currency::CNY, Err(Empty));
        check("12.345", Currency::CNY, Err(TooManyDecimals { currency: Currency::CNY, exponent: 2 }));
        check("1.0", Currency::JPY, Err(TooManyDecimals { currency: Currency::JPY, exponent: 0 }));
        check("1e3", Currency::CNY, Err(InvalidCharacter('e')));
        check("-0", Currency::CNY, Err(NegativeZero));
        check("-0.00", Currency::CNY, Err(NegativeZero));
        check(" 1", Currency::CNY, Err(InvalidCharacter(' ')));
        check("1 ", Currency::CNY, Err(InvalidCharacter(' ')));
        check("+1", Currency::CNY, Err(InvalidCharacter('+')));
        check("1,000", Currency::CNY, Err(InvalidCharacter(',')));
        check("01", Currency::CNY, Err(LeadingZero));
        check("1.", Currency::CNY, Err(MissingFraction));
        check(".5", Currency::CNY, Err(MissingWholePart));
        check("-", Currency::CNY, Err(MissingWholePart));
        check("1.2.3", Currency::KWD, Err(InvalidCharacter('.')));
        check("--1", Currency::CNY, Err(InvalidCharacter('-')));
        check("92233720368547758.08", Currency::CNY, Err(Overflow));
        check("99999999999999999999", Currency::JPY, Err(Overflow));
        check("１", Currency::CNY, Err(InvalidCharacter('１')));
        check(&"9".repeat(40), Currency::CNY, Err(TooLong { len_max: AMOUNT_TEXT_LEN_MAX }));
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        let cases = [
            (1230, Currency::CNY, "12.30"),
            (5, Currency::CNY, "0.05"),
            (-5, Currency::CNY, "-0.05"),
            (0, Currency::CNY, "0.00"),
            (1000, Currency::JPY, "1000"),
            (1, Currency::KWD, "0.001"),
            (i64::MIN, Currency::CNY, "-92233720368547758.08"),
        ];
        for (minor, currency, text) in cases {
            assert_eq!(Amount::from_minor(minor, currency).to_decimal_string(), text);
        }
        assert_eq!(Amount::from_minor(1230, Currency::CNY).to_string(), "CNY 12.30");
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Amount::from_minor(i64::MAX, Currency::CNY);
        let one = Amount::from_minor(1, Currency::CNY);
        assert_eq!(a.checked_add(one), Err(AmountError::Overflow));
        assert_eq!(Amount::from_minor(i64::MIN, Currency::CNY).checked_neg(), Err(AmountError::Overflow));
        assert_eq!(a.checked_mul(2), Err(AmountError::Overflow));
        assert!(matches!(
            one.checked_add(Amount::from_minor(1, Currency::USD)),
            Err(AmountError::CurrencyMismatch { .. })
        ));
        assert_eq!(a.checked_sub(one).map(Amount::minor), Ok(i64::MAX - 1));
        assert_eq!(one.min(a), Ok(one));
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(Currency::all().to_vec())
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(minor in any::<i64>(), currency in any_currency()) {
            let amount = Amount::from_minor(minor, currency);
            prop_assert_eq!(Amount::parse(&amount.to_decimal_string(), currency), Ok(amount));
        }

        #[test]
        fn parse_never_panics_and_accepts_only_canonical_shapes(text in "\\PC{0,30}", currency in any_currency()) {
            if let Ok(amount) = Amount::parse(&text, currency) {
                // Whatever parses is a plain decimal that formats back to the same value.
                prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-'));
                prop_assert_eq!(Amount::parse(&amount.to_decimal_string(), currency), Ok(amount));
            }
        }

        #[test]
        fn checked_add_agrees_with_i128(a in any::<i64>(), b in any::<i64>()) {
            let sum = i128::from(a) + i128::from(b);
            let got = Amount::from_minor(a, Currency::CNY).checked_add(Amount::from_minor(b, Currency::CNY));
            match i64::try_from(sum) {
                Ok(sum) => prop_assert_eq!(got.map(Amount::minor), Ok(sum)),
                Err(_) => prop_assert_eq!(got, Err(AmountError::Overflow)),
            }
        }
    }
}

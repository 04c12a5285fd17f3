//! ISO 4217 currencies: the alphabetic code, the numeric code (ISO 8583 field 49 carries it)
//! and the exponent, which fixes how many minor units make one major unit.

use std::fmt;

/// A currency we can hold money in. Copy-cheap; compare with `==`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    /// ISO 4217 alphabetic code, e.g. `CNY`.
    code: &'static str,
    /// ISO 4217 numeric code, e.g. 156; terminals send this in ISO 8583 field 49.
    numeric: u16,
    /// Number of decimal places of the minor unit: 2 for fen, 0 for yen, 3 for fils.
    exponent: u8,
}

/// The currency table. Adding a currency is one line here; nothing else changes.
const TABLE: &[Currency] =
    &[Currency::CNY, Currency::USD, Currency::EUR, Currency::JPY, Currency::KWD, Currency::HKD, Currency::GBP];

/// The largest exponent any ISO 4217 currency uses (KWD, BHD, …: 3); CLF's 4 is not supported.
pub const EXPONENT_MAX: u8 = 3;

impl Currency {
    /// Chinese yuan renminbi; minor unit fen (分).
    pub const CNY: Currency = Currency::new("CNY", 156, 2);
    /// US dollar.
    pub const USD: Currency = Currency::new("USD", 840, 2);
    /// Euro.
    pub const EUR: Currency = Currency::new("EUR", 978, 2);
    /// Japanese yen: no minor unit.
    pub const JPY: Currency = Currency::new("JPY", 392, 0);
    /// Kuwaiti dinar: three decimal places.
    pub const KWD: Currency = Currency::new("KWD", 414, 3);
    /// Hong Kong dollar.
    pub const HKD: Currency = Currency::new("HKD", 344, 2);
    /// Pound sterling.
    pub const GBP: Currency = Currency::new("GBP", 826, 2);

    const fn new(code: &'static str, numeric: u16, exponent: u8) -> Currency {
        assert!(code.len() == 3);
        assert!(exponent <= EXPONENT_MAX);
        Currency { code, numeric, exponent }
    }

    /// Every supported currency.
    pub fn all() -> &'static [Currency] {
        TABLE
    }

    /// Looks a currency up by its alphabetic code; the code must be upper case, as ISO 4217 writes it.
    pub fn from_code(code: &str) -> Result<Currency, CurrencyError> {
        TABLE
            .iter()
            .find(|c| c.code == code)
            .copied()
            .ok_or_else(|| CurrencyError::Unknown(code.chars().take(8).collect()))
    }

    /// Looks a currency up by its numeric code (as ISO 8583 field 49 carries it).
    pub fn from_numeric(numeric: u16) -> Result<Currency, CurrencyError> {
        TABLE.iter().find(|c| c.numeric == numeric).copied().ok_or(CurrencyError::UnknownNumeric(numeric))
    }

    /// The alphabetic code, e.g. `"CNY"`.
    pub fn code(self) -> &'static str {
        self.code
    }

    /// The numeric code, e.g. `156`.
    pub fn numeric(self) -> u16 {
        self.numeric
    }

    /// Decimal places of the minor unit.
    pub fn exponent(self) -> u8 {
        self.exponent
    }

    /// How many minor units make one major unit: 10^exponent.
    pub fn minor_per_major(self) -> i64 {
        10_i64.pow(u32::from(self.exponent))
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl std::str::FromStr for Currency {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::from_code(s)
    }
}

/// Why a currency could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    /// The alphabetic code is not one we support.
    #[error("unknown or unsupported currency code {0:?}")]
    Unknown(String),
    /// The numeric code is not one we support.
    #[error("unknown or unsupported numeric currency code {0:03}")]
    UnknownNumeric(u16),
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Currency::from_code(&code).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree_with_the_table() {
        for c in Currency::all() {
            assert_eq!(Currency::from_code(c.code()), Ok(*c));
            assert_eq!(Currency::from_numeric(c.numeric()), Ok(*c));
        }
        assert_eq!(Currency::CNY.minor_per_major(), 100);
        assert_eq!(Currency::JPY.minor_per_major(), 1);
        assert_eq!(Currency::KWD.minor_per_major(), 1000);
        assert!(Currency::from_code("cny").is_err());
        assert!(Currency::from_code("XXX").is_err());
        assert!(Currency::from_numeric(999).is_err());
    }

    #[test]
    fn codes_and_numerics_are_unique() {
        let all = Currency::all();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.code(), b.code());
                assert_ne!(a.numeric(), b.numeric());
            }
        }
    }
}

//! Wrappers for what people type or cards carry that must never be printed: passwords, PINs as
//! typed, one-time codes ([`SecretString`]) and full card numbers ([`Pan`]). Both zeroize on drop;
//! `Debug` and `Display` show nothing secret (`****`, or the PAN's first six and last four digits),
//! so a struct holding one may `derive(Debug)` safely.

use zeroize::Zeroizing;

/// A secret a person typed: a password, a PIN before it is checked, a one-time code.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> SecretString {
        SecretString(Zeroizing::new(secret.into()))
    }

    /// The secret itself, to hash, compare or check. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(****)")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

impl From<&str> for SecretString {
    fn from(secret: &str) -> SecretString {
        SecretString::new(secret)
    }
}

impl From<String> for SecretString {
    fn from(secret: String) -> SecretString {
        SecretString::new(secret)
    }
}

impl std::str::FromStr for SecretString {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<SecretString, Self::Err> {
        Ok(SecretString::new(s))
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

/// Serialises the secret itself: for carrying it to where it is used (the admin socket), never
/// for logs, which go through `Debug`.
impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

/// A full card number.
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(Zeroizing<String>);

impl Pan {
    /// Wraps a card number (not validated here: that is the caller's business rule).
    pub fn new(number: impl Into<String>) -> Pan {
        Pan(Zeroizing::new(number.into()))
    }

    /// The whole number, for the card network, a PIN block or a keyed token. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// First six and last four digits, the rest `*`: what receipts and logs may show.
    pub fn masked(&self) -> String {
        mask_pan(&self.0)
    }
}

/// `number` with all but its first six and last four digits replaced by `*` (all of it when it
/// is ten digits or fewer).
pub fn mask_pan(number: &str) -> String {
    let n = number.chars().count();
    if n <= 10 || !number.is_ascii() {
        return "*".repeat(n);
    }
    format!("{}{}{}", &number[..6], "*".repeat(n - 10), &number[n - 4..])
}

impl std::fmt::Debug for Pan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl std::fmt::Display for Pan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.masked())
    }
}

impl<'de> serde::Deserialize<'de> for Pan {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Pan, D::Error> {
        String::deserialize(deserializer).map(Pan::new)
    }
}

/// Serialises the whole number: for storage and the card network, never for logs.
impl serde::Serialize for Pan {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_show_nothing_secret() {
        let password = SecretString::new("correct horse battery");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Login {
            user: String,
            password: SecretString,
        }
        let login = Login { user: "li".into(), password: password.clone() };
        let shown = format!("{login:?} {password}");
        assert!(!shown.contains("horse"), "{shown}");
        assert_eq!(password.expose(), "correct horse battery");

        let pan = Pan::new("6222021234567890128");
        let shown = format!("{pan:?} {pan}");
        assert!(!shown.contains("1234567890"), "{shown}");
        assert!(shown.contains("622202*********0128"), "{shown}");
        assert_eq!(mask_pan("1234567890"), "**********");
    }

    #[test]
    fn serde_carries_the_value_itself() {
        let pin: SecretString = serde_json::from_str("\"135790\"").unwrap();
        assert_eq!(pin.expose(), "135790");
        assert_eq!(serde_json::to_string(&pin).unwrap(), "\"135790\"");
        let pan: Pan = serde_json::from_str("\"6222021234567890128\"").unwrap();
        assert_eq!(serde_json::to_string(&pan).unwrap(), "\"6222021234567890128\"");
    }
}

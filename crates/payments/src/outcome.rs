//! What the payments core decides, in its own terms: a request is approved, declined for a
//! [`Reason`], or (a QR payment the customer is still confirming) pending. The core records and
//! answers these; each interface maps them to what it speaks: the terminal protocol to a CUP
//! response code in field 39 ([`crate::cup`]), the JSON API to the reason's stable code beside
//! that response code. A connector to a network (a card issuer, a wallet) maps the network's own
//! answers into reasons the same way.

use serde::{Deserialize, Serialize};

use crate::qr::Decline;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Approved (for a payment: recorded with its postings in one commit).
    Approved,
    /// Declined, for this reason; nothing moved.
    Declined(Reason),
    /// A QR payment waiting for its wallet: it ends approved or declined later.
    Pending,
}

impl Outcome {
    /// True when approved.
    pub fn is_approved(self) -> bool {
        self == Outcome::Approved
    }

    /// Why it was declined, when it was.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Outcome::Declined(reason) => Some(reason),
            _ => None,
        }
    }
}

/// Why the core declined a request. Each has a stable code ([`Reason::code`]), which the JSON
/// API shows and the transaction record stores; append variants, never rename a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    // The request itself.
    /// Its trace number (terminal, batch, STAN) was used already.
    Duplicate,
    /// The amount is zero or negative, or more than may be refunded or completed.
    InvalidAmount,
    /// The merchant is not active (suspended, closed, or not yet approved).
    MerchantNotActive,
    /// The terminal takes no payments: suspended, or never bound to the merchant.
    TerminalNotPermitted,
    /// The terminal does not take this payment method.
    MethodDisabled,
    /// Above the merchant's limit per transaction.
    AmountLimit,
    /// Above the merchant's daily total (or, for credit cards, the daily or monthly total).
    TotalLimit,
    /// Too many uses of one card at the merchant within the window.
    FrequencyLimit,
    /// The original it names does not exist, or does not match what the request says of it.
    OriginalNotFound,
    /// It cannot be applied to its original (voided, settled, refunded, another kind).
    OriginalNotEligible,
    /// The amount differs from the original's.
    AmountMismatch,
    /// The authorization code differs from the original's.
    AuthCodeMismatch,

    // The issuer's answer (a card network's connector maps the network's codes to these).
    /// The card's available balance is short.
    InsufficientFunds,
    /// No such card.
    InvalidCard,
    /// No issuer for this card number.
    NoSuchIssuer,
    /// The card may not be used here.
    RestrictedCard,
    /// Reported lost.
    LostCard,
    /// Reported stolen.
    StolenCard,
    /// Past its expiry date.
    ExpiredCard,
    /// The PIN is wrong (or missing where it is required).
    WrongPin,
    /// Too many wrong PINs: the card (or operator) is locked.
    PinTriesExceeded,
    /// The PIN block does not decrypt to a PIN block.
    PinFormatError,
    /// The issuer declined without a reason we know.
    IssuerDeclined,
    /// The issuer did not answer in time.
    IssuerTimeout,
    /// The issuer or the network could not be reached.
    IssuerUnavailable,

    // Signing in.
    /// No such terminal, or it is not activated.
    TerminalNotRegistered,
    /// No such operator at the merchant.
    UnknownOperator,
    /// The terminal is not this merchant's.
    WrongMerchant,

    // QR payments.
    /// A wallet's answer, or a QR rule (see [`Decline`]).
    Wallet(Decline),

    // Inside.
    /// Something failed inside the platform (storage, a ledger rule); nothing moved.
    SystemError,
}

/// The reasons of the core's own (every one but [`Reason::Wallet`]), in the order the stored form
/// numbers them ([`crate::compact`]): append, never reorder.
pub const OWN: [Reason; 29] = [
    Reason::Duplicate,
    Reason::InvalidAmount,
    Reason::MerchantNotActive,
    Reason::TerminalNotPermitted,
    Reason::MethodDisabled,
    Reason::AmountLimit,
    Reason::TotalLimit,
    Reason::FrequencyLimit,
    Reason::OriginalNotFound,
    Reason::OriginalNotEligible,
    Reason::AmountMismatch,
    Reason::AuthCodeMismatch,
    Reason::InsufficientFunds,
    Reason::InvalidCard,
    Reason::NoSuchIssuer,
    Reason::RestrictedCard,
    Reason::LostCard,
    Reason::StolenCard,
    Reason::ExpiredCard,
    Reason::WrongPin,
    Reason::PinTriesExceeded,
    Reason::PinFormatError,
    Reason::IssuerDeclined,
    Reason::IssuerTimeout,
    Reason::IssuerUnavailable,
    Reason::TerminalNotRegistered,
    Reason::UnknownOperator,
    Reason::SystemError,
    Reason::WrongMerchant,
];

impl Reason {
    /// The stable code interfaces answer with and records keep.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Duplicate => "duplicate",
            Reason::InvalidAmount => "invalid_amount",
            Reason::MerchantNotActive => "merchant_not_active",
            Reason::TerminalNotPermitted => "terminal_not_permitted",
            Reason::MethodDisabled => "method_disabled",
            Reason::AmountLimit => "amount_limit",
            Reason::TotalLimit => "total_limit",
            Reason::FrequencyLimit => "frequency_limit",
            Reason::OriginalNotFound => "original_not_found",
            Reason::OriginalNotEligible => "original_not_eligible",
            Reason::AmountMismatch => "amount_mismatch",
            Reason::AuthCodeMismatch => "auth_code_mismatch",
            Reason::InsufficientFunds => "insufficient_funds",
            Reason::InvalidCard => "invalid_card",
            Reason::NoSuchIssuer => "no_such_issuer",
            Reason::RestrictedCard => "restricted_card",
            Reason::LostCard => "lost_card",
            Reason::StolenCard => "stolen_card",
            Reason::ExpiredCard => "expired_card",
            Reason::WrongPin => "wrong_pin",
            Reason::PinTriesExceeded => "pin_tries_exceeded",
            Reason::PinFormatError => "pin_format_error",
            Reason::IssuerDeclined => "issuer_declined",
            Reason::IssuerTimeout => "issuer_timeout",
            Reason::IssuerUnavailable => "issuer_unavailable",
            Reason::TerminalNotRegistered => "terminal_not_registered",
            Reason::UnknownOperator => "unknown_operator",
            Reason::WrongMerchant => "wrong_merchant",
            Reason::Wallet(decline) => decline.code(),
            Reason::SystemError => "system_error",
        }
    }

    /// From its stable code.
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::all().find(|r| r.code() == code)
    }

    /// Every reason.
    pub fn all() -> impl Iterator<Item = Reason> {
        // A disabled method is one reason for every method, not a wallet's.
        OWN.into_iter().chain(Decline::ALL.into_iter().filter(|d| *d != Decline::MethodDisabled).map(Reason::Wallet))
    }

    /// The QR decline it is, for a QR payment (what field 57 of a QR reply numbers).
    pub fn wallet_decline(self) -> Option<Decline> {
        match self {
            Reason::Wallet(decline) => Some(decline),
            Reason::MethodDisabled => Some(Decline::MethodDisabled),
            _ => None,
        }
    }
}

impl From<Decline> for Reason {
    fn from(decline: Decline) -> Reason {
        match decline {
            // One reason for every method.
            Decline::MethodDisabled => Reason::MethodDisabled,
            other => Reason::Wallet(other),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Reason, D::Error> {
        let code = String::deserialize(d)?;
        Reason::from_code(&code).ok_or_else(|| serde::de::Error::custom(format!("unknown decline reason {code:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_code_and_reads_back_from_it() {
        let all: Vec<Reason> = Reason::all().collect();
        assert_eq!(all.len(), 29 + Decline::ALL.len() - 1);
        let mut codes: Vec<&str> = all.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "codes are unique");
        for reason in all {
            assert_eq!(Reason::from_code(reason.code()), Some(reason));
            assert!(reason.code().bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{reason:?}");
        }
        assert_eq!(Reason::from_code("58"), None);
    }

    #[test]
    fn a_disabled_method_is_one_reason_on_every_method() {
        assert_eq!(Reason::from(Decline::MethodDisabled), Reason::MethodDisabled);
        assert_eq!(Reason::MethodDisabled.wallet_decline(), Some(Decline::MethodDisabled));
        for decline in Decline::ALL {
            assert_eq!(Reason::from(decline).wallet_decline(), Some(decline));
        }
        assert_eq!(Reason::InsufficientFunds.wallet_decline(), None);
    }
}

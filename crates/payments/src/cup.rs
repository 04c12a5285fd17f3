//! The core's outcomes in China UnionPay's vocabulary: the one table that maps a [`Reason`] to the
//! response code (field 39) a terminal is answered with and the JSON API shows beside the reason
//! (PRODUCT.md makes the CUP codes, with their explanations, what every channel shows), and back,
//! for a connector to a network that answers in CUP codes and for records of earlier releases.

use xingtong_iso8583::ResponseCode as R;

use crate::outcome::{Outcome, Reason};
use crate::qr::Decline;

/// The response code of an outcome: `00` approved (a pending QR payment is answered `00` too,
/// with its state in field 57), or the reason's code.
pub fn response_code(outcome: Outcome) -> R {
    match outcome {
        Outcome::Approved | Outcome::Pending => R::APPROVED,
        Outcome::Declined(reason) => declined(reason),
    }
}

/// The response code a recorded transaction shows: its outcome's, or empty while it is pending
/// (a QR payment waiting for its wallet has no answer yet).
pub fn recorded(txn: &crate::txn::CardTransaction) -> &'static str {
    match txn.outcome() {
        Outcome::Pending => "",
        outcome => response_code(outcome).code,
    }
}

/// The response code a decline for `reason` is answered with.
pub fn declined(reason: Reason) -> R {
    match reason {
        Reason::Duplicate => R::DUPLICATE,
        Reason::InvalidAmount => R::INVALID_AMOUNT,
        Reason::MerchantNotActive | Reason::WrongMerchant => R::INVALID_MERCHANT,
        Reason::TerminalNotPermitted | Reason::MethodDisabled => R::NOT_PERMITTED_TO_TERMINAL,
        Reason::AmountLimit | Reason::TotalLimit => R::EXCEEDS_AMOUNT_LIMIT,
        Reason::FrequencyLimit => R::EXCEEDS_FREQUENCY_LIMIT,
        Reason::OriginalNotFound => R::ORIGINAL_NOT_FOUND,
        Reason::OriginalNotEligible => R::INVALID_TRANSACTION,
        Reason::AmountMismatch => R::AMOUNT_MISMATCH,
        Reason::AuthCodeMismatch => R::RELATED_TRANSACTION_ERROR,
        Reason::InsufficientFunds => R::INSUFFICIENT_FUNDS,
        Reason::InvalidCard => R::INVALID_CARD,
        Reason::NoSuchIssuer => R::NO_SUCH_ISSUER,
        Reason::RestrictedCard => R::RESTRICTED_CARD,
        Reason::LostCard => R::LOST_CARD,
        Reason::StolenCard => R::STOLEN_CARD,
        Reason::ExpiredCard => R::EXPIRED_CARD,
        Reason::WrongPin => R::WRONG_PIN,
        Reason::PinTriesExceeded => R::PIN_TRIES_EXCEEDED,
        Reason::PinFormatError => R::PIN_FORMAT_ERROR,
        Reason::IssuerDeclined | Reason::UnknownOperator => R::AUTHENTICATION_FAILED,
        Reason::IssuerTimeout => R::ISSUER_TIMEOUT,
        Reason::IssuerUnavailable => R::ISSUER_INOPERATIVE,
        Reason::TerminalNotRegistered => R::TERMINAL_NOT_REGISTERED,
        Reason::SystemError => R::SYSTEM_MALFUNCTION,
        Reason::Wallet(decline) => match decline {
            Decline::CodeUnknown | Decline::CodeUsed => R::INVALID_CARD,
            Decline::CodeExpired => R::EXPIRED_CARD,
            Decline::InsufficientBalance => R::INSUFFICIENT_FUNDS,
            Decline::UserCancelled => R::AUTHENTICATION_FAILED,
            Decline::UserPayingTimeout => R::ISSUER_TIMEOUT,
            Decline::WalletUnavailable => R::ISSUER_INOPERATIVE,
            Decline::MethodDisabled => R::NOT_PERMITTED_TO_TERMINAL,
            Decline::StaticCodeLimit => R::EXCEEDS_AMOUNT_LIMIT,
            Decline::OrderClosed => R::INVALID_TRANSACTION,
            Decline::RefundExceedsPayment => R::INVALID_AMOUNT,
        },
    }
}

/// The reason a CUP response code declines for, as an issuer or a network answers it: what a
/// card network's connector hands the core. A code with several reasons reads as the first in
/// [`Reason::all`] (`58` a terminal not permitted, `61` the per-transaction limit); a
/// code we do not know is the issuer's own decline.
pub fn reason_of(code: &str) -> Option<Reason> {
    if code == R::APPROVED.code || code == R::PARTIAL_APPROVAL.code {
        return None;
    }
    Some(match code {
        "98" => Reason::IssuerTimeout,
        "38" => Reason::PinTriesExceeded,
        "92" => Reason::IssuerUnavailable,
        _ => Reason::all()
            .filter(|r| !matches!(r, Reason::Wallet(_)))
            .find(|r| declined(*r).code == code)
            .unwrap_or(Reason::IssuerDeclined),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_declines_with_a_known_code_and_reads_back_as_itself_or_its_twin() {
        for reason in Reason::all() {
            let code = declined(reason);
            assert!(!code.is_approved(), "{reason:?}");
            assert!(R::lookup(code.code).is_some(), "{reason:?}");
            let back = reason_of(code.code).expect("a decline");
            assert_eq!(declined(back), code, "{reason:?} reads back as {back:?}, answered the same");
        }
        assert_eq!(reason_of("00"), None);
        assert_eq!(reason_of("51"), Some(Reason::InsufficientFunds));
        assert_eq!(reason_of("ZZ"), Some(Reason::IssuerDeclined));
        assert_eq!(response_code(Outcome::Pending), R::APPROVED);
    }

    #[test]
    fn the_api_document_lists_every_reason_with_its_code() {
        let doc = include_str!("../../../docs/api.md");
        let section = doc.split("### Decline reasons").nth(1).expect("the section");
        let rows: Vec<(String, String)> = section
            .lines()
            .skip_while(|l| !l.starts_with("|---"))
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
                (cells[1].to_owned(), cells[3].to_owned())
            })
            .collect();
        let expected: Vec<(String, String)> =
            Reason::all().map(|r| (r.code().to_owned(), declined(r).code.to_owned())).collect();
        assert_eq!(rows, expected, "docs/api.md, Decline reasons: one row per reason, in order");
    }
}

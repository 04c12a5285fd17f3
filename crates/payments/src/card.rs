//! Cards as terminals present them: the PAN from field 2 or track 2, the expiry, the brand by BIN,
//! masking for receipts and logs, and a keyed token that links a refund to its card without
//! storing the PAN.

use serde::{Deserialize, Serialize};

/// The card scheme, by BIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Brand {
    /// China UnionPay (62…).
    Unionpay,
    /// Visa (4…).
    Visa,
    /// Mastercard (51–55, 2221–2720).
    Mastercard,
}

impl Brand {
    /// The brand of a PAN, if we accept it.
    pub fn of(pan: &str) -> Option<Brand> {
        let b = pan.as_bytes();
        if b.len() < 13 {
            return None;
        }
        let prefix2: u32 = pan[..2].parse().ok()?;
        let prefix4: u32 = pan[..4].parse().ok()?;
        match prefix2 {
            62 => Some(Brand::Unionpay),
            40..=49 => Some(Brand::Visa),
            51..=55 => Some(Brand::Mastercard),
            _ if (2221..=2720).contains(&prefix4) => Some(Brand::Mastercard),
            _ => None,
        }
    }

    /// The organisation code a CUP terminal prints and sends in batch uploads: `CUP`, `VIS`, `MCC`.
    pub fn organisation(self) -> &'static str {
        match self {
            Brand::Unionpay => "CUP",
            Brand::Visa => "VIS",
            Brand::Mastercard => "MCC",
        }
    }
}

/// Debit or credit: decides the fee rate and the credit-card limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardType {
    /// Debit (借记卡).
    Debit,
    /// Credit (贷记卡).
    Credit,
}

/// `622202******0128`: the first 6 and last 4 digits.
pub fn mask(pan: &str) -> String {
    xingtong_merchants::merchant::mask_card(pan)
}

/// A keyed hash of the PAN (the key is the host's): lets a refund be matched to its sale's card
/// without keeping the number.
pub fn token(secret: &[u8], pan: &str) -> String {
    xingtong_crypto::derive::pan_token(secret, pan)
}

/// PAN and expiry (YYMM) from track 2 equivalent data as it unpacks (`=` or `D` separator).
pub fn from_track2(track: &str) -> Option<(String, Option<String>)> {
    let (pan, rest) = track.split_once(['=', 'D', 'd'])?;
    if !(13..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let expiry = rest.get(..4).filter(|e| e.bytes().all(|b| b.is_ascii_digit())).map(str::to_owned);
    Some((pan.to_owned(), expiry))
}

/// A PAN: 13–19 digits.
pub fn valid_pan(pan: &str) -> bool {
    (13..=19).contains(&pan.len()) && pan.bytes().all(|b| b.is_ascii_digit())
}

/// True when `expiry` (YYMM) is before the month of `today` (YYMM).
pub fn expired(expiry: &str, today_yymm: &str) -> bool {
    expiry < today_yymm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brands_tracks_and_masks() {
        assert_eq!(Brand::of("6222021234567890128"), Some(Brand::Unionpay));
        assert_eq!(Brand::of("4111111111111111"), Some(Brand::Visa));
        assert_eq!(Brand::of("5500000000000004"), Some(Brand::Mastercard));
        assert_eq!(Brand::of("2223000048400011"), Some(Brand::Mastercard));
        assert_eq!(Brand::of("3530111333300000"), None);
        assert_eq!(
            from_track2("4392260009942820D13121011200843"),
            Some(("4392260009942820".into(), Some("1312".into())))
        );
        assert_eq!(from_track2("4392260009942820=2912"), Some(("4392260009942820".into(), Some("2912".into()))));
        assert_eq!(from_track2("123=4"), None);
        assert_eq!(mask("6222021234567890128"), "622202*********0128");
        assert!(expired("2910", "2911") && !expired("2911", "2911") && !expired("3001", "2911"));
        assert_ne!(token(b"a", "4111111111111111"), token(b"b", "4111111111111111"));
    }
}

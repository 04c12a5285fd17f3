//! QR payment codes (付款码): which wallet scheme a code the cashier scanned belongs to, known by
//! its shape alone before anything is sent anywhere (../shared/PRODUCT.md, the QR rules):
//!
//! | scheme | shape |
//! |---|---|
//! | WeChat Pay (微信支付) | 18 digits starting 10–15 |
//! | Alipay (支付宝) | 16–24 digits starting 25–30 |
//! | UnionPay QR (云闪付) | 19 digits starting 62 |
//!
//! Anything else is "QR not recognised", with what to do. A scanner types like a keyboard, so a
//! code may arrive with spaces or a line end around it; those are dropped, nothing else is.

use serde::{Deserialize, Serialize};

/// A wallet scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// WeChat Pay (微信支付).
    Wechat,
    /// Alipay (支付宝).
    Alipay,
    /// UnionPay QR (云闪付).
    UnionpayQr,
}

impl Scheme {
    /// Every scheme.
    pub const ALL: [Scheme; 3] = [Scheme::Wechat, Scheme::Alipay, Scheme::UnionpayQr];

    /// As stored and shown: `wechat`, `alipay`, `unionpay_qr`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Wechat => "wechat",
            Scheme::Alipay => "alipay",
            Scheme::UnionpayQr => "unionpay_qr",
        }
    }

    /// Its name for people, in English and Chinese.
    pub fn names(self) -> (&'static str, &'static str) {
        match self {
            Scheme::Wechat => ("WeChat Pay", "微信支付"),
            Scheme::Alipay => ("Alipay", "支付宝"),
            Scheme::UnionpayQr => ("UnionPay QR", "云闪付"),
        }
    }

    /// Whether `digits` (all ASCII digits) has this scheme's shape.
    fn fits(self, digits: &str) -> bool {
        let prefix: u32 = digits.get(..2).and_then(|p| p.parse().ok()).unwrap_or(0);
        match self {
            Scheme::Wechat => digits.len() == 18 && (10..=15).contains(&prefix),
            Scheme::Alipay => (16..=24).contains(&digits.len()) && (25..=30).contains(&prefix),
            Scheme::UnionpayQr => digits.len() == 19 && prefix == 62,
        }
    }
}

/// A scanned code that is no wallet's payment code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("QR not recognised: not a WeChat Pay, Alipay or UnionPay QR payment code")]
pub struct NotRecognised;

impl NotRecognised {
    /// The stable code interfaces answer with.
    pub const CODE: &'static str = "qr_not_recognised";
    /// What the cashier is told, in English.
    pub const MESSAGE_EN: &'static str = "QR not recognised. Ask the customer to open the payment code (付款码) in \
        WeChat, Alipay or UnionPay QR and scan it again, or take another payment method.";
    /// What the cashier is told, in Chinese.
    pub const MESSAGE_ZH: &'static str =
        "无法识别的二维码。请顾客打开微信、支付宝或云闪付的付款码后重新扫描，或改用其他支付方式。";
}

/// The scheme of a scanned payment code, and the code as it is sent on (digits only).
pub fn recognise(scanned: &str) -> Result<(Scheme, String), NotRecognised> {
    let code = scanned.trim_matches(|c: char| c.is_ascii_whitespace());
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NotRecognised);
    }
    Scheme::ALL.into_iter().find(|s| s.fits(code)).map(|s| (s, code.to_owned())).ok_or(NotRecognised)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(prefix: &str, len: usize) -> String {
        format!("{prefix}{}", "7".repeat(len - prefix.len()))
    }

    #[test]
    fn each_scheme_is_known_by_its_shape_and_nothing_else_is() {
        for prefix in ["10", "11", "12", "13", "14", "15"] {
            assert_eq!(recognise(&digits(prefix, 18)).map(|r| r.0), Ok(Scheme::Wechat), "{prefix}");
        }
        for prefix in ["25", "26", "27", "28", "29", "30"] {
            for len in 16..=24 {
                assert_eq!(recognise(&digits(prefix, len)).map(|r| r.0), Ok(Scheme::Alipay), "{prefix} {len}");
            }
        }
        assert_eq!(recognise(&digits("62", 19)).map(|r| r.0), Ok(Scheme::UnionpayQr));
        // One digit too few or too many, a neighbouring prefix, letters, a URL, nothing.
        for not in [
            digits("13", 17),
            digits("13", 19),
            digits("16", 18),
            digits("09", 18),
            digits("25", 15),
            digits("25", 25),
            digits("24", 18),
            digits("31", 18),
            digits("62", 18),
            digits("62", 20),
            digits("61", 19),
            "13456789012345678a".into(),
            "https://qr.alipay.com/bax01234".into(),
            "１３４５６７８９０１２３４５６７８".into(),
            String::new(),
            "   ".into(),
        ] {
            assert_eq!(recognise(&not), Err(NotRecognised), "{not:?}");
        }
    }

    #[test]
    fn a_scanner_s_line_end_and_spaces_around_the_code_are_dropped() {
        let code = digits("13", 18);
        assert_eq!(recognise(&format!(" {code}\r\n")), Ok((Scheme::Wechat, code.clone())));
        assert_eq!(recognise(&format!("{}  {}", &code[..9], &code[9..])), Err(NotRecognised), "not inside it");
    }
}

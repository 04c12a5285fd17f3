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

    /// Its three-letter tag: in the terminal protocol's field 57 and 63, and in its bill file's
    /// header (`WXP`, `ALP`, `UPQ`).
    pub fn tag(self) -> &'static str {
        match self {
            Scheme::Wechat => "WXP",
            Scheme::Alipay => "ALP",
            Scheme::UnionpayQr => "UPQ",
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

/// Why a QR payment was not made, in the core's own terms: each interface maps it to what it
/// speaks (a stable JSON code, a CUP response code in field 39), and says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decline {
    /// The wallet knows no such payment code.
    CodeUnknown,
    /// The payment code is older than a minute.
    CodeExpired,
    /// The payment code was used already (each is good for one payment).
    CodeUsed,
    /// The wallet's balance does not cover the amount.
    InsufficientBalance,
    /// The customer cancelled in the app.
    UserCancelled,
    /// The customer did not confirm in time; the order was cancelled, nothing was taken.
    UserPayingTimeout,
    /// The wallet did not answer, or failed; the order was cancelled, nothing was taken.
    WalletUnavailable,
    /// This payment method is not enabled on the terminal.
    MethodDisabled,
    /// A static code's (台卡) limit per payer per day would be passed.
    StaticCodeLimit,
    /// The order was closed or has expired.
    OrderClosed,
    /// A refund above what remains of the payment.
    RefundExceedsPayment,
}

impl Decline {
    /// The stable code interfaces answer with.
    pub fn code(self) -> &'static str {
        match self {
            Decline::CodeUnknown => "qr_code_unknown",
            Decline::CodeExpired => "qr_code_expired",
            Decline::CodeUsed => "qr_code_used",
            Decline::InsufficientBalance => "insufficient_balance",
            Decline::UserCancelled => "user_cancelled",
            Decline::UserPayingTimeout => "user_paying_timeout",
            Decline::WalletUnavailable => "wallet_unavailable",
            Decline::MethodDisabled => "method_disabled",
            Decline::StaticCodeLimit => "static_code_limit",
            Decline::OrderClosed => "order_closed",
            Decline::RefundExceedsPayment => "refund_exceeds_payment",
        }
    }

    /// From its stable code.
    pub fn from_code(code: &str) -> Option<Decline> {
        Decline::ALL.into_iter().find(|d| d.code() == code)
    }

    /// Every decline.
    pub const ALL: [Decline; 11] = [
        Decline::CodeUnknown,
        Decline::CodeExpired,
        Decline::CodeUsed,
        Decline::InsufficientBalance,
        Decline::UserCancelled,
        Decline::UserPayingTimeout,
        Decline::WalletUnavailable,
        Decline::MethodDisabled,
        Decline::StaticCodeLimit,
        Decline::OrderClosed,
        Decline::RefundExceedsPayment,
    ];

    /// Its number in the terminal protocol (field 57 of a QR reply, docs/iso8583.md §5.5): `01`
    /// for the first of [`Decline::ALL`], and so on (append, never reorder).
    pub fn number(self) -> u8 {
        Decline::ALL.iter().position(|d| *d == self).map_or(99, |i| i as u8 + 1)
    }

    /// What happened and what to do, in English and Chinese.
    pub fn messages(self) -> (&'static str, &'static str) {
        match self {
            Decline::CodeUnknown => (
                "The wallet does not know this payment code. Ask the customer to open the payment code again and scan it.",
                "钱包不认识此付款码。请顾客重新打开付款码后再扫描。",
            ),
            Decline::CodeExpired => (
                "The payment code has expired (a code is good for one minute). Ask the customer to refresh it and scan again.",
                "付款码已过期（一分钟内有效）。请顾客刷新付款码后重新扫描。",
            ),
            Decline::CodeUsed => (
                "This payment code was used already. Ask the customer to refresh it and scan again.",
                "此付款码已使用。请顾客刷新付款码后重新扫描。",
            ),
            Decline::InsufficientBalance => (
                "The wallet's balance is not enough. Ask the customer to choose another funding source in the app, or to pay another way.",
                "钱包余额不足。请顾客在应用中更换付款方式，或改用其他支付方式。",
            ),
            Decline::UserCancelled => (
                "The customer cancelled the payment in the app. Nothing was taken.",
                "顾客在应用中取消了支付，未扣款。",
            ),
            Decline::UserPayingTimeout => (
                "The customer did not confirm in time; the order was cancelled and nothing was taken. Scan a fresh code to try again.",
                "顾客未在规定时间内确认，订单已撤销，未扣款。请扫描新的付款码重试。",
            ),
            Decline::WalletUnavailable => (
                "The wallet did not answer; the order was cancelled and nothing was taken. Try again, or take another payment method.",
                "钱包未响应，订单已撤销，未扣款。请重试或改用其他支付方式。",
            ),
            Decline::MethodDisabled => (
                "This payment method is not enabled on this terminal. Take another method, or ask the supervisor to enable it.",
                "本终端未开通此支付方式。请改用其他方式，或请主管开通。",
            ),
            Decline::StaticCodeLimit => (
                "A payer may pay at most ¥500 a day with the static code. Use a dynamic code or the payment code.",
                "静态码每位付款人每日限额500元。请改用动态码或付款码。",
            ),
            Decline::OrderClosed => (
                "The order is closed or has expired; nothing was taken. Make a new order to try again.",
                "订单已关闭或已过期，未扣款。请重新下单。",
            ),
            Decline::RefundExceedsPayment => {
                ("The refund is more than what remains of the payment.", "退款金额超过原交易可退金额。")
            }
        }
    }
}

/// What a QR transaction records besides what every payment does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrPart {
    /// The wallet.
    pub scheme: Scheme,
    /// The payment code, masked ([`crate::wallet::mask_code`]); empty for a customer-scans order.
    pub code_masked: String,
    /// The wallet's id of the payment, once paid.
    pub wallet_txn_id: Option<String>,
    /// The payer as the wallet shows them (masked), once paid.
    pub payer: Option<String>,
    /// A customer-scans order (C扫B): the code shown and until when it pays; `None` for a
    /// payment code the cashier scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<QrOrder>,
}

/// Which code a customer-scans order was paid through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderMode {
    /// A code made for this order and this amount, shown on the terminal's screen (动态码).
    Dynamic,
    /// The terminal's printed code (台卡): the payer enters the amount in the app.
    Static,
}

/// A customer-scans order (C扫B).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrOrder {
    /// Dynamic or static.
    pub mode: OrderMode,
    /// The code's URL (what the QR code holds), once the wallet made it.
    pub code_url: Option<String>,
    /// Until when it can be paid (ns, the engine's clock).
    pub expires_at: u64,
    /// Static orders: the payer, as the wallet names them to this merchant (the ¥500 a day is
    /// counted per payer).
    pub payer_key: Option<String>,
    /// Paid at the wallet after it was closed here: the money was given back to the payer.
    pub returned: bool,
}

/// The most a payer may pay through static codes in a day, minor units (¥500; static codes are
/// risk level D).
pub const STATIC_CODE_DAILY_MINOR: i64 = 50_000;

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

//! Response codes (field 39) as China UnionPay terminals know them, each with what it means and what
//! to do about it, in English and Chinese. Every channel (ISO 8583 and JSON) answers with these.

/// A response code with its explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCode {
    /// The two characters of field 39.
    pub code: &'static str,
    /// What it means, in English.
    pub meaning_en: &'static str,
    /// What it means, in Chinese.
    pub meaning_zh: &'static str,
    /// What to do, in English.
    pub action_en: &'static str,
    /// What to do, in Chinese.
    pub action_zh: &'static str,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $en:literal, $zh:literal, $act_en:literal, $act_zh:literal;)+) => {
        impl ResponseCode {
            $(
                #[doc = $en]
                pub const $name: ResponseCode = ResponseCode {
                    code: $code, meaning_en: $en, meaning_zh: $zh, action_en: $act_en, action_zh: $act_zh,
                };
            )+

            /// Every code we answer with.
            pub const ALL: &'static [ResponseCode] = &[$(ResponseCode::$name,)+];
        }
    };
}

codes! {
    APPROVED = "00", "Approved", "承兑或交易成功", "None.", "无需处理。";
    REFER_TO_ISSUER = "01", "Refer to card issuer", "请持卡人与发卡银行联系", "Ask the cardholder to contact the issuing bank.", "请持卡人联系发卡行。";
    INVALID_MERCHANT = "03", "Invalid merchant", "无效商户", "Check the merchant number on the terminal; contact the acquirer.", "核对终端上的商户号，联系收单机构。";
    PICK_UP = "04", "Pick up card", "没收卡", "Keep the card and contact the issuer.", "请没收此卡并联系发卡行。";
    AUTHENTICATION_FAILED = "05", "Cardholder authentication failed", "持卡人认证失败", "Ask for another card or payment method.", "请更换卡片或支付方式。";
    PARTIAL_APPROVAL = "10", "Partial amount approved", "显示部分批准金额", "Collect the remainder another way.", "余额请以其他方式支付。";
    INVALID_TRANSACTION = "12", "Invalid transaction", "无效的关联交易", "Check the original transaction; this one cannot be applied to it.", "核对原交易，该交易不能对其发起。";
    INVALID_AMOUNT = "13", "Invalid amount", "无效金额", "Check the amount and try again.", "核对金额后重试。";
    INVALID_CARD = "14", "Invalid card number", "无效卡号", "Check the card; use another card.", "核对卡片或更换卡片。";
    NO_SUCH_ISSUER = "15", "No such issuer", "无此发卡方", "The card is not accepted here; use another card.", "此卡不受理，请换卡。";
    RELATED_TRANSACTION_ERROR = "22", "Related transaction error", "关联交易错误", "Check the original transaction and amount.", "核对原交易及金额。";
    ORIGINAL_NOT_FOUND = "25", "Original transaction not found", "找不到原始交易", "Check batch, trace number and date of the original.", "核对原交易的批次号、凭证号和日期。";
    FORMAT_ERROR = "30", "Message format error", "报文格式错误", "Update the terminal software; contact support if it persists.", "请更新终端程序，持续出现请联系客服。";
    SUSPECTED_FRAUD = "34", "Suspected fraud, retain card", "有作弊嫌疑", "Keep the card and contact the issuer.", "请扣留卡片并联系发卡行。";
    PIN_TRIES_EXCEEDED_38 = "38", "PIN tries exceeded", "密码错误次数超限", "The card is locked today; use another card.", "今日密码错误次数超限，请换卡。";
    FUNCTION_NOT_SUPPORTED = "40", "Function not supported", "发卡方不支持的交易类型", "This transaction type is not offered; use another.", "不支持该交易类型。";
    LOST_CARD = "41", "Lost card", "挂失卡", "Keep the card and contact the issuer.", "此卡已挂失，请扣留并联系发卡行。";
    STOLEN_CARD = "43", "Stolen card", "被窃卡", "Keep the card and contact the issuer.", "此卡为被窃卡，请扣留并联系发卡行。";
    INSUFFICIENT_FUNDS = "51", "Insufficient funds", "可用余额不足", "Ask for another card or a smaller amount.", "余额不足，请换卡或减少金额。";
    EXPIRED_CARD = "54", "Expired card", "过期的卡", "Ask for another card.", "卡片已过期，请换卡。";
    WRONG_PIN = "55", "Incorrect PIN", "密码错", "Ask the cardholder to enter the PIN again.", "密码错误，请重新输入。";
    NOT_PERMITTED_TO_CARDHOLDER = "57", "Transaction not permitted to cardholder", "不允许持卡人进行的交易", "Use another card.", "该卡不允许此交易，请换卡。";
    NOT_PERMITTED_TO_TERMINAL = "58", "Transaction not permitted to terminal", "不允许终端进行的交易", "This terminal may not do this; contact the acquirer.", "终端不允许此交易，请联系收单机构。";
    CVN_FAILED = "59", "Card verification failed", "卡片校验错", "Ask for another card.", "卡片校验失败，请换卡。";
    EXCEEDS_AMOUNT_LIMIT = "61", "Exceeds amount limit", "超出金额限制", "Use a smaller amount or another card.", "超出金额限制，请减少金额或换卡。";
    RESTRICTED_CARD = "62", "Restricted card", "受限制的卡", "Use another card.", "受限制的卡，请换卡。";
    AMOUNT_MISMATCH = "64", "Amount does not match the original", "原始金额错误", "Check the amount against the original transaction.", "核对原交易金额。";
    EXCEEDS_FREQUENCY_LIMIT = "65", "Exceeds frequency limit", "超出取款/消费次数限制", "Try again later or use another card.", "超出次数限制，请稍后再试或换卡。";
    ISSUER_TIMEOUT = "68", "Issuer response too late", "发卡行响应超时", "The outcome is unknown: the terminal reverses automatically; try again.", "交易超时，终端将自动冲正，请重试。";
    PIN_TRIES_EXCEEDED = "75", "PIN tries exceeded", "允许的输入PIN次数超限", "The card is locked; ask the cardholder to contact the issuer.", "密码错误次数超限，请联系发卡行。";
    CUTOVER = "90", "Cut-over in progress", "正在日终处理", "Wait a minute and try again.", "系统日切中，请稍后重试。";
    ISSUER_INOPERATIVE = "91", "Issuer or switch inoperative", "发卡方或交换中心不能操作", "Try again later.", "请稍后重试。";
    NETWORK_UNREACHABLE = "92", "Network unreachable", "网络故障", "Check the terminal's network; try again.", "请检查网络后重试。";
    DUPLICATE = "94", "Duplicate transaction", "重复交易", "This trace number was used; the terminal should use the next one.", "凭证号重复，请检查终端流水号。";
    SYSTEM_MALFUNCTION = "96", "System malfunction", "交换中心异常", "Try again later; contact support if it persists.", "系统故障，请稍后重试或联系客服。";
    TERMINAL_NOT_REGISTERED = "97", "Terminal not registered", "终端未登记", "Activate the terminal or check its terminal id.", "请激活终端或核对终端号。";
    NO_ISSUER_RESPONSE = "98", "No response from issuer", "交换中心收不到发卡方应答", "The outcome is unknown: the terminal reverses automatically.", "交易结果未知，终端将自动冲正。";
    PIN_FORMAT_ERROR = "99", "PIN format error", "PIN格式错", "Sign in again.", "请重新签到。";
    MAC_FAILED = "A0", "MAC verification failed", "MAC校验错", "Sign in again to get fresh keys.", "MAC校验错，请重新签到。";
    SECURITY_FAILURE = "A7", "Security processing failure", "安全处理失败", "Sign in again; contact support if it persists.", "请重新签到，持续出现请联系客服。";
    NOT_SIGNED_IN = "C1", "Terminal not signed in or not allowed", "受理方状态非法", "Sign in first.", "请先签到。";
}

impl ResponseCode {
    /// The code's explanation, if it is one we know.
    pub fn lookup(code: &str) -> Option<ResponseCode> {
        ResponseCode::ALL.iter().find(|c| c.code == code).copied()
    }

    /// True for approvals.
    pub fn is_approved(self) -> bool {
        self.code == "00" || self.code == "10"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_two_characters_and_explained() {
        for (i, c) in ResponseCode::ALL.iter().enumerate() {
            assert_eq!(c.code.len(), 2, "{}", c.code);
            assert!(ResponseCode::ALL[i + 1..].iter().all(|other| other.code != c.code), "{} twice", c.code);
            assert!(!c.meaning_zh.is_empty() && !c.action_en.is_empty() && !c.action_zh.is_empty());
        }
        assert_eq!(ResponseCode::lookup("A0"), Some(ResponseCode::MAC_FAILED));
        assert_eq!(ResponseCode::lookup("ZZ"), None);
        assert!(ResponseCode::APPROVED.is_approved() && !ResponseCode::WRONG_PIN.is_approved());
    }
}

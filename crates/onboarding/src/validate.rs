//! The real-name validators of PRODUCT.md's Rules: resident ID (GB 11643), unified social credit
//! code (GB 32100), bank card (Luhn), mainland mobile number and email. Each returns what it found,
//! as errors (refuse) or warnings (accept, flag for manual review), never a bare boolean.

use crate::date::Date;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The submission cannot be accepted until it is fixed.
    Error,
    /// Accepted, but a reviewer must look (pilot-era USCC, 62-card failing Luhn).
    Warning,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The field, as the API names it, e.g. `applicant.resident_id`.
    pub field: String,
    /// A stable code, e.g. `resident_id_check_character`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// For a person, in English.
    pub message_en: &'static str,
    /// For a person, in Chinese.
    pub message_zh: &'static str,
}

macro_rules! finding {
    ($field:expr, $severity:ident, $code:literal, $en:literal, $zh:literal) => {
        Finding {
            field: $field.to_owned(),
            code: $code,
            severity: Severity::$severity,
            message_en: $en,
            message_zh: $zh,
        }
    };
}

/// The weights of GB 11643 positions 1–17: 2^(18−i) mod 11.
const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each remainder.
const RESIDENT_ID_CHECK: &[u8; 11] = b"10X98765432";
/// The minimum age of an applicant.
pub const APPLICANT_AGE_MIN: u32 = 18;

/// The check character of the first 17 digits of a resident ID.
pub fn resident_id_check_character(first17: &[u8; 17]) -> u8 {
    let sum: u32 = first17.iter().zip(RESIDENT_ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    RESIDENT_ID_CHECK[(sum % 11) as usize]
}

/// A resident ID (18 characters, GB 11643): digits, a valid birth date, an applicant aged at least
/// 18 on `today`, and the ISO 7064 MOD 11-2 check character (`X` may be written `x`).
pub fn resident_id(field: &str, id: &str, today: Date) -> Vec<Finding> {
    let bytes = id.as_bytes();
    let well_formed = bytes.len() == 18
        && bytes[..17].iter().all(u8::is_ascii_digit)
        && (bytes[17].is_ascii_digit() || bytes[17] == b'X' || bytes[17] == b'x');
    if !well_formed {
        return vec![finding!(
            field,
            Error,
            "resident_id_format",
            "a resident ID is 18 characters: 17 digits and a digit or X",
            "身份证号应为18位：17位数字加1位数字或X"
        )];
    }
    let first17: &[u8; 17] = bytes[..17].try_into().expect("checked length");
    let mut findings = Vec::new();
    if resident_id_check_character(first17) != bytes[17].to_ascii_uppercase() {
        findings.push(finding!(
            field,
            Error,
            "resident_id_check_character",
            "the resident ID's last character does not match; check every digit",
            "身份证号校验位不符，请逐位核对"
        ));
    }
    let digits = |from: usize, len: usize| id[from..from + len].parse::<u32>().unwrap_or(0);
    match Date::new(digits(6, 4) as i32, digits(10, 2), digits(12, 2)) {
        None => findings.push(finding!(
            field,
            Error,
            "resident_id_birth_date",
            "the birth date in the resident ID is not a real date",
            "身份证号中的出生日期无效"
        )),
        Some(birth) if birth > today => findings.push(finding!(
            field,
            Error,
            "resident_id_birth_date",
            "the birth date in the resident ID is in the future",
            "身份证号中的出生日期晚于今天"
        )),
        Some(birth) if birth.age_on(today) < APPLICANT_AGE_MIN => findings.push(finding!(
            field,
            Error,
            "applicant_under_18",
            "the applicant must be at least 18 years old",
            "申请人须年满18周岁"
        )),
        Some(_) => {}
    }
    findings
}

/// The 31 symbols of GB 32100, each worth its index.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The check character of the first 17 characters of a unified social credit code, or `None` when
/// one of them is outside the alphabet.
pub fn uscc_check_character(first17: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    let mut weight = 1u32;
    for c in first17 {
        let value = USCC_ALPHABET.iter().position(|a| a == c)? as u32;
        sum += value * weight;
        weight = weight * 3 % 31;
    }
    Some(USCC_ALPHABET[((31 - sum % 31) % 31) as usize])
}

/// A unified social credit code (18 characters, GB 32100). A wrong check character is a warning
/// for manual review, not a rejection: some pilot-era codes were issued that way.
pub fn uscc(field: &str, code: &str) -> Vec<Finding> {
    let bytes = code.as_bytes();
    if bytes.len() != 18 || !bytes.iter().all(|b| USCC_ALPHABET.contains(b)) {
        return vec![finding!(
            field,
            Error,
            "uscc_format",
            "a unified social credit code is 18 characters of 0-9 and A-Y without I, O, S, V, Z",
            "统一社会信用代码应为18位，由数字和除I、O、S、V、Z外的大写字母组成"
        )];
    }
    match uscc_check_character(&bytes[..17]) {
        Some(check) if check == bytes[17] => vec![],
        _ => vec![finding!(
            field,
            Warning,
            "uscc_check_character",
            "the code's check character does not match; a reviewer will verify it against the licence",
            "信用代码校验位不符，将由审核人员对照营业执照核实"
        )],
    }
}

/// True when `digits` pass the Luhn check.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A bank card number: 13 to 19 digits passing Luhn. A UnionPay card (starting `62`) that fails
/// Luhn is a warning: some domestic cards were issued without a Luhn check digit.
pub fn bank_card(field: &str, number: &str) -> Vec<Finding> {
    let bytes = number.as_bytes();
    if !(13..=19).contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_digit) {
        return vec![finding!(
            field,
            Error,
            "bank_card_format",
            "a bank card number is 13 to 19 digits",
            "银行卡号应为13至19位数字"
        )];
    }
    if luhn(bytes) {
        vec![]
    } else if number.starts_with("62") {
        vec![finding!(
            field,
            Warning,
            "bank_card_luhn",
            "the card number fails the Luhn check; a reviewer will confirm it with the bank",
            "卡号未通过Luhn校验，将由审核人员向银行核实"
        )]
    } else {
        vec![finding!(
            field,
            Error,
            "bank_card_luhn",
            "the card number is mistyped: it fails the Luhn check",
            "卡号有误：未通过Luhn校验"
        )]
    }
}

/// A mainland mobile number: 11 digits starting with 1 and a second digit 3 to 9.
pub fn mobile(field: &str, phone: &str) -> Vec<Finding> {
    let b = phone.as_bytes();
    let ok = b.len() == 11 && b.iter().all(u8::is_ascii_digit) && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]);
    if ok {
        vec![]
    } else {
        vec![finding!(
            field,
            Error,
            "mobile_format",
            "a mainland mobile number is 11 digits starting 13–19",
            "手机号应为以13至19开头的11位数字"
        )]
    }
}

/// An email address: one `@`, a non-empty local part, a domain with a dot, no spaces, at most 254
/// characters. Deliverability is proven by the confirmation mail, not here.
pub fn email(field: &str, address: &str) -> Vec<Finding> {
    let ok = address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && address.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
        });
    if ok {
        vec![]
    } else {
        vec![finding!(field, Error, "email_format", "this is not an email address", "邮箱地址格式不正确")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> Date {
        Date::new(2026, 11, 22).unwrap()
    }

    fn codes(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn resident_ids() {
        assert!(resident_id("id", "11010519491231002X", today()).is_empty(), "the GB 11643 sample");
        assert!(resident_id("id", "11010519491231002x", today()).is_empty(), "lower-case x");
        assert!(resident_id("id", "440524188001010014", today()).is_empty());
        assert_eq!(codes(&resident_id("id", "110105194912310021", today())), ["resident_id_check_character"]);
        assert_eq!(codes(&resident_id("id", "1101051949123100", today())), ["resident_id_format"]);
        assert_eq!(codes(&resident_id("id", "11010519491231002Y", today())), ["resident_id_format"]);
        // 2010-02-30 is no date; the check character is made valid so only the date is at fault.
        let mut bad_date = *b"11010520100230001";
        let check = resident_id_check_character(&bad_date);
        let id = format!("{}{}", std::str::from_utf8(&bad_date).unwrap(), check as char);
        assert_eq!(codes(&resident_id("id", &id, today())), ["resident_id_birth_date"]);
        // Born 2008-11-23: one day short of 18 on 2026-11-22; then exactly 18.
        bad_date = *b"11010520081123001";
        let id =
            format!("{}{}", std::str::from_utf8(&bad_date).unwrap(), resident_id_check_character(&bad_date) as char);
        assert_eq!(codes(&resident_id("id", &id, today())), ["applicant_under_18"]);
        assert!(resident_id("id", &id, Date::new(2026, 11, 23).unwrap()).is_empty());
        assert_eq!(resident_id("applicant.resident_id", "x", today())[0].field, "applicant.resident_id");
    }

    #[test]
    fn unified_social_credit_codes() {
        assert!(uscc("c", "91310110666007217T").is_empty(), "hutool's sample, worked in reference/pos-features.md");
        let pilot = uscc("c", "91350100M0001TGQXM");
        assert_eq!((codes(&pilot), pilot[0].severity), (vec!["uscc_check_character"], Severity::Warning));
        assert_eq!(codes(&uscc("c", "91310110666007217I")), ["uscc_format"], "I is not in the alphabet");
        assert_eq!(codes(&uscc("c", "9131011066600721")), ["uscc_format"]);
        assert_eq!(uscc_check_character(b"91310110666007217"), Some(b'T'));
    }

    #[test]
    fn bank_cards_phones_and_emails() {
        assert!(bank_card("card", "4111111111111111").is_empty());
        assert_eq!(
            (codes(&bank_card("card", "4111111111111112")), bank_card("card", "4111111111111112")[0].severity),
            (vec!["bank_card_luhn"], Severity::Error)
        );
        assert_eq!(
            bank_card("card", "6222021234567890124")[0].severity,
            Severity::Warning,
            "62 cards failing Luhn are warnings"
        );
        assert_eq!(codes(&bank_card("card", "12345")), ["bank_card_format"]);
        assert_eq!(codes(&bank_card("card", "4111 1111 1111 1111")), ["bank_card_format"]);
        assert!(mobile("phone", "13812345678").is_empty());
        for bad in ["12812345678", "1381234567", "138123456789", "+8613812345678", "1381234567a"] {
            assert_eq!(codes(&mobile("phone", bad)), ["mobile_format"], "{bad}");
        }
        assert!(email("email", "merchant@example.cn").is_empty());
        for bad in ["", "a@b", "@example.cn", "a@@example.cn", "a b@example.cn", "a@-x.cn", "a@x..cn"] {
            assert_eq!(codes(&email("email", bad)), ["email_format"], "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn a_computed_check_character_always_validates(first17 in "[0-9]{17}") {
            // Any 17 digits with a valid birth date (fixed here) and their check character pass.
            let mut digits: [u8; 17] = first17.as_bytes().try_into().unwrap();
            digits[6..14].copy_from_slice(b"19800101");
            let id = format!("{}{}", std::str::from_utf8(&digits).unwrap(), resident_id_check_character(&digits) as char);
            prop_assert!(resident_id("id", &id, today()).is_empty());
        }

        #[test]
        fn one_changed_digit_is_always_caught(first17 in "[0-9]{17}", at in 0usize..17, delta in 1u8..10) {
            let mut digits: [u8; 17] = first17.as_bytes().try_into().unwrap();
            let check = resident_id_check_character(&digits);
            digits[at] = b'0' + (digits[at] - b'0' + delta) % 10;
            prop_assert_ne!(resident_id_check_character(&digits), check);
        }

        #[test]
        fn luhn_catches_every_single_digit_error(number in "[0-9]{15}", at in 0usize..16, delta in 1u8..10) {
            // Append the Luhn digit, then change one digit: the check must fail.
            let base = number.as_bytes();
            let check = (0..10u8).map(|d| [base, &[b'0' + d]].concat()).find(|n| luhn(n)).unwrap();
            let mut changed = check.clone();
            changed[at] = b'0' + (changed[at] - b'0' + delta) % 10;
            prop_assert!(luhn(&check) && !luhn(&changed));
        }
    }
}

//! Chinese capital numerals (大写金额) for CNY amounts, as written on invoices, receipts and cheques.
//!
//! The rules are those of the People's Bank of China for filling in amounts:
//! - digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟, sections 万 and 亿; the yuan is 圆, then 角 and 分;
//! - a run of zeros inside the number is written as one 零, zeros at the end of a section are not written,
//!   and a zero yuan part before 角/分 is not written (¥0.05 → 伍分);
//! - when the jiao digit is zero but fen is not, 零 stands between 圆 and 分 (¥1,000.05 → 壹仟圆零伍分);
//! - an amount ending at 圆 or 角 ends with 整;
//! - 拾 keeps its 壹 (¥10.00 → 壹拾圆整), as banks require, so that nothing can be written in front of it.

use crate::{Amount, Currency};

const DIGITS: [&str; 10] = ["零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"];
const UNITS: [&str; 4] = ["", "拾", "佰", "仟"];

/// The largest yuan part we write: below one 亿亿 (10^16), beyond which the section names run out.
pub const YUAN_MAX: u64 = 9_999_999_999_999_999;

/// Why an amount cannot be written in capitals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapitalsError {
    /// Capitals are a CNY convention.
    #[error("capital numerals are written only for CNY amounts, not {0}")]
    NotCny(Currency),
    /// At or above 10^16 yuan.
    #[error("the amount is too large to write in capital numerals")]
    TooLarge,
}

/// Writes a CNY amount in capital numerals, e.g. ¥246.90 → `贰佰肆拾陆圆玖角整`.
/// Negative amounts (red-letter invoices) are prefixed with 负.
pub fn to_capitals(amount: Amount) -> Result<String, CapitalsError> {
    if amount.currency() != Currency::CNY {
        return Err(CapitalsError::NotCny(amount.currency()));
    }
    let fen_total = amount.minor().unsigned_abs();
    let yuan = fen_total / 100;
    if yuan > YUAN_MAX {
        return Err(CapitalsError::TooLarge);
    }
    let jiao = (fen_total / 10 % 10) as usize;
    let fen = (fen_total % 10) as usize;

    let mut out = String::new();
    if amount.minor() < 0 {
        out.push('负');
    }
    if yuan > 0 {
        write_yuan(&mut out, yuan);
        out.push('圆');
    }
    match (jiao, fen) {
        (0, 0) if yuan == 0 => out.push_str("零圆整"),
        (0, 0) => out.push('整'),
        (j, 0) => {
            out.push_str(DIGITS[j]);
            out.push_str("角整");
        }
        (0, f) => {
            if yuan > 0 {
                out.push('零');
            }
            out.push_str(DIGITS[f]);
            out.push('分');
        }
        (j, f) => {
            out.push_str(DIGITS[j]);
            out.push('角');
            out.push_str(DIGITS[f]);
            out.push('分');
        }
    }
    Ok(out)
}

/// Writes the integer yuan part (> 0, ≤ [`YUAN_MAX`]) without the 圆.
fn write_yuan(out: &mut String, yuan: u64) {
    assert!(yuan > 0 && yuan <= YUAN_MAX);
    let digits: Vec<usize> = yuan.to_string().bytes().map(|b| usize::from(b - b'0')).collect();
    let count = digits.len();
    let mut zero_pending = false;
    let mut section_nonzero = false;
    // Whether any digit at positions 8..16 (the 亿 section, including its 万) is non-zero.
    let mut yi_nonzero = false;
    for (index, &digit) in digits.iter().enumerate() {
        let position = count - 1 - index;
        if digit == 0 {
            zero_pending = true;
        } else {
            if zero_pending {
                out.push('零');
                zero_pending = false;
            }
            out.push_str(DIGITS[digit]);
            out.push_str(UNITS[position % 4]);
            section_nonzero = true;
            if position >= 8 {
                yi_nonzero = true;
            }
        }
        match position {
            4 | 12 if section_nonzero => out.push('万'),
            8 if yi_nonzero => out.push('亿'),
            _ => {}
        }
        if position.is_multiple_of(4) {
            section_nonzero = false;
        }
        // A zero run ending exactly at a section boundary is carried to the next non-zero digit,
        // which is what makes ¥10,005 read 壹万零伍.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(fen: i64, expect: &str) {
        let got = to_capitals(Amount::from_minor(fen, Currency::CNY)).expect("CNY amount");
        assert_eq!(got, expect, "capitals of {fen} fen");
    }

    #[test]
    fn the_issue_examples() {
        check(69_200, "陆佰玖拾贰圆整");
        check(24_690, "贰佰肆拾陆圆玖角整");
        check(5, "伍分");
        check(1_000_500, "壹万零伍圆整");
    }

    #[test]
    fn zeros_and_sections() {
        check(0, "零圆整");
        check(50, "伍角整");
        check(55, "伍角伍分");
        check(100, "壹圆整");
        check(1_000, "壹拾圆整");
        check(1_005, "壹拾圆零伍分");
        check(100_005, "壹仟圆零伍分");
        check(168_032, "壹仟陆佰捌拾圆叁角贰分");
        check(10_001_000, "壹拾万零壹拾圆整");
        check(100_000_000, "壹佰万圆整");
        check(1_000_010_000, "壹仟万零壹佰圆整");
        check(10_000_000_000, "壹亿圆整");
        check(10_000_000_100, "壹亿零壹圆整");
        check(10_010_000_000, "壹亿零壹拾万圆整");
        check(10_001_000_000, "壹亿零壹万圆整");
        check(100_000_000_000_000, "壹万亿圆整");
        check(100_010_000_000_000, "壹万零壹亿圆整");
        check(100_000_001_000_000, "壹万亿零壹万圆整");
        check(123_456_789_012, "壹拾贰亿叁仟肆佰伍拾陆万柒仟捌佰玖拾圆壹角贰分");
        check(-24_690, "负贰佰肆拾陆圆玖角整");
        check(999_999_999_999_999_999, "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖圆玖角玖分");
    }

    #[test]
    fn refuses_other_currencies_and_huge_amounts() {
        assert_eq!(to_capitals(Amount::from_minor(100, Currency::USD)), Err(CapitalsError::NotCny(Currency::USD)));
        assert_eq!(to_capitals(Amount::from_minor(i64::MAX, Currency::CNY)), Err(CapitalsError::TooLarge));
    }
}

//! The one policy for free text people type (names, labels, reasons, tracking numbers): trimmed,
//! not empty, at most so many characters, and no control characters (no line breaks, no escape
//! sequences a terminal or a log would act on). Each field names its limit.

use crate::error::{Class, Error, Result};

/// `value` trimmed, if it is 1 to `max_chars` characters with no control character; otherwise a
/// `422` with `code`, naming `field` and the rule.
pub fn checked(field: &str, code: &'static str, value: &str, max_chars: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max_chars || value.chars().any(char::is_control) {
        return Err(Error::new(
            Class::Unprocessable,
            code,
            format!("{field}: 1 to {max_chars} characters, without line breaks or control characters"),
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::checked;

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(checked("name", "invalid_name", "  王芳 ", 5).unwrap(), "王芳");
        assert!(checked("name", "invalid_name", "王芳王芳王芳", 5).is_err(), "6 characters over 5");
        assert!(checked("name", "invalid_name", "   ", 5).is_err());
        for bad in ["a\nb", "a\u{1b}[31mb", "a\u{0}b", "a\tb"] {
            let error = checked("name", "invalid_name", bad, 50).unwrap_err();
            assert_eq!(error.code, "invalid_name");
            assert!(error.message.contains("name: 1 to 50 characters"), "{}", error.message);
        }
    }
}

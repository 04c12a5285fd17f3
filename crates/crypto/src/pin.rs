//! PINs and ISO 9564 format 0 (ANSI X9.8) PIN blocks: `0 L P…P F…F` XOR `0000` + the 12 rightmost
//! PAN digits before the check digit.

use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;

/// A cardholder's or cashier's PIN: 4 to 12 digits, zeroized on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// A PIN from its digits.
    pub fn new(digits: &str) -> Result<Pin, CryptoError> {
        let valid = (4..=12).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if valid { Ok(Pin(Zeroizing::new(digits.to_owned()))) } else { Err(CryptoError::PinFormat) }
    }

    /// The digits, for comparing with a stored hash or building a block. Never log them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(****)")
    }
}

/// The 8-byte PAN field: `0000` + the 12 PAN digits left of the check digit.
fn pan_field(pan: &str) -> Result<[u8; 8], CryptoError> {
    if !(13..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CryptoError::PanFormat);
    }
    let digits = &pan.as_bytes()[pan.len() - 13..pan.len() - 1];
    let mut field = [0u8; 8];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        field[2 + i] = ((pair[0] - b'0') << 4) | (pair[1] - b'0');
    }
    Ok(field)
}

/// The clear format 0 PIN block for `pin` and `pan`. Encrypt it under the PIN key before it leaves.
pub fn pin_block_format0(pin: &Pin, pan: &str) -> Result<[u8; 8], CryptoError> {
    let digits = pin.expose().as_bytes();
    let mut nibbles = Zeroizing::new([0x0Fu8; 16]);
    nibbles[0] = 0;
    nibbles[1] = digits.len() as u8;
    for (i, d) in digits.iter().enumerate() {
        nibbles[2 + i] = d - b'0';
    }
    let pan = pan_field(pan)?;
    let mut block = [0u8; 8];
    for i in 0..8 {
        block[i] = ((nibbles[2 * i] << 4) | nibbles[2 * i + 1]) ^ pan[i];
    }
    Ok(block)
}

/// Reads the PIN back out of a clear format 0 block (the host does this only inside PIN
/// translation or verification, and drops it at once).
pub fn decode_pin_block_format0(block: [u8; 8], pan: &str) -> Result<Pin, CryptoError> {
    let pan = pan_field(pan)?;
    let mut clear = Zeroizing::new([0u8; 8]);
    for i in 0..8 {
        clear[i] = block[i] ^ pan[i];
    }
    let nibble = |i: usize| if i.is_multiple_of(2) { clear[i / 2] >> 4 } else { clear[i / 2] & 0x0F };
    let len = usize::from(nibble(1));
    if nibble(0) != 0 || !(4..=12).contains(&len) {
        return Err(CryptoError::PinBlock);
    }
    let mut digits = Zeroizing::new(String::with_capacity(len));
    for i in 2..2 + len {
        let d = nibble(i);
        if d > 9 {
            return Err(CryptoError::PinBlock);
        }
        digits.push(char::from(b'0' + d));
    }
    if (2 + len..16).any(|i| nibble(i) != 0x0F) {
        digits.zeroize();
        return Err(CryptoError::PinBlock);
    }
    Pin::new(&digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(pin: &str, pan: &str, block: &str) {
        let got = pin_block_format0(&Pin::new(pin).unwrap(), pan).unwrap();
        assert_eq!(hex::encode_upper(got), block, "PIN block for PAN {pan}");
        assert_eq!(decode_pin_block_format0(got, pan).unwrap().expose(), pin);
    }

    #[test]
    fn published_vectors() {
        check("1234", "43219876543210987", "0412AC89ABCDEF67");
        check("1234", "5555555551234567", "041261AAAAEDCBA9");
        check("123456789012", "5555555551234567", "0C1261032D8226A9");
        check("1234", "4012345678909", "041274EDCBA9876F");
    }

    #[test]
    fn refuses_what_is_not_a_pin_or_pan() {
        for bad in ["123", "1234567890123", "12a4", ""] {
            assert_eq!(Pin::new(bad).unwrap_err(), CryptoError::PinFormat, "{bad}");
        }
        let pin = Pin::new("1234").unwrap();
        assert_eq!(pin_block_format0(&pin, "123456789012").unwrap_err(), CryptoError::PanFormat);
        assert_eq!(pin_block_format0(&pin, "12345678901234567890").unwrap_err(), CryptoError::PanFormat);
        // A block for another card decodes to garbage or is refused, never to the PIN by luck here.
        let block = pin_block_format0(&pin, "5555555551234567").unwrap();
        assert!(decode_pin_block_format0(block, "4012345678909").is_err());
        assert_eq!(format!("{pin:?}"), "Pin(****)");
    }

    proptest! {
        #[test]
        fn round_trips(pin in "[0-9]{4,12}", pan in "[0-9]{13,19}") {
            let block = pin_block_format0(&Pin::new(&pin).unwrap(), &pan).unwrap();
            let decoded = decode_pin_block_format0(block, &pan).unwrap();
            prop_assert_eq!(decoded.expose(), pin.as_str());
        }

        #[test]
        fn decoding_never_panics(block in any::<[u8; 8]>(), pan in "[0-9]{13,19}") {
            let _ = decode_pin_block_format0(block, &pan);
        }
    }
}

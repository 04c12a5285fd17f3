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

/// Translates an encrypted format 0 PIN block from one key to another (terminal PIN key to the
/// issuer's zone key), checking its format on the way; the clear PIN exists only inside, zeroized.
pub fn translate_pin_block(
    block: &[u8],
    pan: &str,
    from: &crate::Key,
    to: &crate::Key,
) -> Result<[u8; 8], CryptoError> {
    let block: [u8; 8] = block.try_into().map_err(|_| CryptoError::PinBlock)?;
    let clear = Zeroizing::new(from.decrypt_block(block));
    // Decoding checks the format against the PAN; the PIN itself is dropped (and zeroized) at once.
    decode_pin_block_format0(*clear, pan)?;
    Ok(to.encrypt_block(*clear))
}

/// The PIN verification value an issuer keeps instead of the PIN: HMAC-SHA256 over the PAN and
/// the PIN under the issuer's secret, hex. Like a PVV, it lets the issuer check a PIN without
/// storing it, and fast enough to check on every transaction.
pub fn pin_verification_value(secret: &[u8], pan: &str, pin: &Pin) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(pan.as_bytes());
    mac.update(b"|");
    mac.update(pin.expose().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks an encrypted PIN block against a PIN verification value. `Err` when the block is not a
/// valid format 0 block for this PAN (response code 99), `Ok(false)` for a wrong PIN.
pub fn verify_pin_block(
    block: &[u8],
    pan: &str,
    key: &crate::Key,
    secret: &[u8],
    verification_value: &str,
) -> Result<bool, CryptoError> {
    let block: [u8; 8] = block.try_into().map_err(|_| CryptoError::PinBlock)?;
    let clear = Zeroizing::new(key.decrypt_block(block));
    let pin = decode_pin_block_format0(*clear, pan)?;
    let computed = pin_verification_value(secret, pan, &pin);
    Ok(crate::constant_time_eq(computed.as_bytes(), verification_value.as_bytes()))
}

#[cfg(test)]
mod translation_tests {
    use super::*;
    use crate::Key;

    #[test]
    fn translation_keeps_the_pin_and_changes_the_key() {
        let terminal = Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let issuer = Key::from_hex("FEDCBA98765432100123456789ABCDEF").unwrap();
        let pan = "4012345678909";
        let pin = Pin::new("1234").unwrap();
        let clear = pin_block_format0(&pin, pan).unwrap();
        assert_eq!(hex::encode_upper(clear), "041274EDCBA9876F");
        let under_terminal = terminal.encrypt_block(clear);
        let under_issuer = translate_pin_block(&under_terminal, pan, &terminal, &issuer).unwrap();
        assert_eq!(issuer.decrypt_block(under_issuer), clear);
        // The wrong source key yields garbage, which fails the format check.
        let wrong = Key::from_hex("1111111111111111FEDCBA9876543210").unwrap();
        assert_eq!(translate_pin_block(&under_terminal, pan, &wrong, &issuer), Err(CryptoError::PinBlock));
        let secret = b"issuer secret";
        let pvv = pin_verification_value(secret, pan, &pin);
        assert!(!pvv.contains("1234"));
        assert_eq!(verify_pin_block(&under_issuer, pan, &issuer, secret, &pvv), Ok(true));
        let other = issuer.encrypt_block(pin_block_format0(&Pin::new("4321").unwrap(), pan).unwrap());
        assert_eq!(verify_pin_block(&other, pan, &issuer, secret, &pvv), Ok(false));
    }
}

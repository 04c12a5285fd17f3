//! Terminal cryptography for China UnionPay–style POS: DES/3DES keys with check values, ISO 9564
//! format 0 PIN blocks, the ANSI X9.19 retail MAC and the CUP POS "ECB" MAC, and the working keys
//! (PIN, MAC, track) that the host issues at sign-in encrypted under the terminal master key.
//!
//! # Layout
//! - [`key`]: [`Key`], single, double or triple length; zeroized on drop, never printed.
//! - [`pin`]: [`Pin`] and format 0 PIN blocks.
//! - [`mac`]: the two MAC algorithms, chosen per profile by [`MacAlgorithm`].
//! - [`working_keys`]: [`WorkingKeys`] and their field 62 layouts.
//! - [`dukpt`]: ANSI X9.24 DUKPT derivation, for PIN pads that use it.
//! - [`secret`]: Argon2id hashes of passwords and cashier PINs; the activation key (PBKDF2).
//! - [`sensitive`]: [`SecretString`] and [`Pan`], which never print what they hold.
//! - [`derive`]: host secrets derived from the master key (HKDF) and keyed PAN tokens (HMAC).
//!
//! # Architecture invariant
//! This is the only crate that touches key bytes. Key material and PINs live in types that zeroize
//! on drop and whose `Debug` shows no secret; nothing here logs. It does no I/O and draws no random
//! numbers by itself: key generation takes the random bytes from its caller.

pub mod derive;
pub mod dukpt;
pub mod key;
pub mod mac;
pub mod pin;
pub mod secret;
pub mod sensitive;
pub mod working_keys;

pub use key::{CHECK_VALUE_LEN, Key};
pub use mac::{MacAlgorithm, cup_ecb_mac, x919_mac, x919_mac_method2};
pub use pin::{Pin, decode_pin_block_format0, pin_block_format0};
pub use sensitive::{Pan, SecretString, mask_pan};
pub use working_keys::{WorkingKeys, WorkingKeysLayout};

/// What can go wrong; messages never carry key, PIN or PAN digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// DES keys are 8, 16 or 24 bytes.
    #[error("a DES key is 8, 16 or 24 bytes, not {0}")]
    KeyLength(usize),
    /// Hex key material did not decode.
    #[error("key material is not hexadecimal")]
    KeyHex,
    /// A PIN is 4 to 12 digits.
    #[error("a PIN is 4 to 12 digits")]
    PinFormat,
    /// A PAN for a PIN block has 13 to 19 digits.
    #[error("the card number must be 13 to 19 digits")]
    PanFormat,
    /// The decrypted block is not a format 0 PIN block for this PAN.
    #[error("the PIN block is not a valid format 0 block for this card")]
    PinBlock,
    /// Field 62 is not one of the known layouts.
    #[error("field 62 is {0} bytes; expected 24, 40 or 60")]
    KeysLength(usize),
    /// A delivered key does not match its check value.
    #[error("the {0} key does not match its check value")]
    CheckValue(&'static str),
    /// A block operation needs a multiple of 8 bytes.
    #[error("encrypted key material must be a multiple of 8 bytes")]
    BlockLength,
}

/// Compares two byte strings in time independent of where they differ (MACs, check values).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

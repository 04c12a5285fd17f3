//! DUKPT (ANSI X9.24-1, triple-DES): per-transaction keys derived from a base derivation key and
//! the key serial number. Not used by the CUP TMK/sign-in model, but terminals with DUKPT PIN pads
//! exist; this gives the host the derivation, checked against published vectors.

use crate::CryptoError;
use crate::key::Key;

/// Bytes of a key serial number.
pub const KSN_LEN: usize = 10;
/// The transaction counter: the rightmost 21 bits of the KSN.
const COUNTER_MASK: u64 = 0x1F_FFFF;
const KEY_MASK: [u8; 16] = [0xC0, 0xC0, 0xC0, 0xC0, 0, 0, 0, 0, 0xC0, 0xC0, 0xC0, 0xC0, 0, 0, 0, 0];
const PIN_VARIANT: [u8; 16] = [0, 0, 0, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0xFF];

fn xor16(a: &[u8], b: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for i in 0..16 {
        out[i] = a[i] ^ b[i];
    }
    out
}

/// The initial PIN encryption key (IPEK) of the device whose KSN is `ksn`.
pub fn ipek(bdk: &Key, ksn: &[u8; KSN_LEN]) -> Result<Key, CryptoError> {
    if bdk.len() != 16 {
        return Err(CryptoError::KeyLength(bdk.len()));
    }
    let mut base = [0u8; 8];
    base.copy_from_slice(&ksn[..8]);
    base[7] &= 0xE0; // clear the counter's top bits within the first 8 bytes
    let left = bdk.encrypt_block(base);
    let variant = Key::from_bytes(&xor16(bdk.expose_bytes(), &KEY_MASK))?;
    let right = variant.encrypt_block(base);
    Key::from_bytes(&[left, right].concat())
}

/// The non-reversible key generation process: one step of the derivation.
fn generate(key: &Key, register: [u8; 8]) -> Result<Key, CryptoError> {
    let half = |k: &[u8], data: [u8; 8]| -> Result<[u8; 8], CryptoError> {
        let (left, right) = k.split_at(8);
        let mut block = [0u8; 8];
        for i in 0..8 {
            block[i] = data[i] ^ right[i];
        }
        let mut out = Key::from_bytes(left)?.encrypt_block(block);
        for i in 0..8 {
            out[i] ^= right[i];
        }
        Ok(out)
    };
    let right = half(key.expose_bytes(), register)?;
    let left = half(&xor16(key.expose_bytes(), &KEY_MASK), register)?;
    Key::from_bytes(&[left, right].concat())
}

/// The key of the transaction whose KSN is `ksn`, from the device's IPEK.
pub fn transaction_key(ipek: &Key, ksn: &[u8; KSN_LEN]) -> Result<Key, CryptoError> {
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&ksn[2..]);
    let counter = u64::from_be_bytes(tail) & COUNTER_MASK;
    let mut register = u64::from_be_bytes(tail) & !COUNTER_MASK;
    let mut key = ipek.clone();
    for shift in (0..21).rev() {
        let bit = 1u64 << shift;
        if counter & bit != 0 {
            register |= bit;
            key = generate(&key, register.to_be_bytes())?;
        }
    }
    Ok(key)
}

/// The PIN encryption key of a transaction: its key with the PIN variant applied.
pub fn pin_key(ipek: &Key, ksn: &[u8; KSN_LEN]) -> Result<Key, CryptoError> {
    let key = transaction_key(ipek, ksn)?;
    Key::from_bytes(&xor16(key.expose_bytes(), &PIN_VARIANT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pin::{Pin, pin_block_format0};

    fn ksn(hex: &str) -> [u8; KSN_LEN] {
        hex::decode(hex).unwrap().try_into().unwrap()
    }

    #[test]
    fn published_vectors() {
        // reference/iso8583.md §4, from jPOS's DUKPTTest.
        let bdk = Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let ipek = ipek(&bdk, &ksn("FFFF9876543210E00000")).unwrap();
        assert_eq!(&*ipek.expose_hex(), "6AC292FAA1315B4D858AB3A3D7D5933A");
        let block = pin_block_format0(&Pin::new("1234").unwrap(), "4012345678909").unwrap();
        for (serial, expected) in
            [("FFFF9876543210E00001", "1B9C1845EB993A7A"), ("FFFF9876543210E00002", "10A01C8D02C69107")]
        {
            let key = pin_key(&ipek, &ksn(serial)).unwrap();
            assert_eq!(hex::encode_upper(key.encrypt_block(block)), expected, "KSN {serial}");
        }
        assert_eq!(
            super::ipek(&Key::from_bytes(&[1; 8]).unwrap(), &ksn("FFFF9876543210E00000")).unwrap_err(),
            CryptoError::KeyLength(8)
        );
    }
}

//! DES keys: single (8 bytes), double (16, K1 K2 K1) or triple (24) length.

use des::cipher::{Block, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use des::{Des, TdesEde2, TdesEde3};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Bytes of a check value as CUP uses it: the first four of E(key, 00…00).
pub const CHECK_VALUE_LEN: usize = 4;

/// The cipher a key drives.
#[derive(Clone)]
enum Cipher {
    Single(Des),
    Double(TdesEde2),
    Triple(TdesEde3),
}

/// A DES or 3DES key. The bytes are kept only inside, zeroized on drop, and `Debug` prints the
/// length and check value, never the key.
#[derive(Clone)]
pub struct Key {
    bytes: Zeroizing<Vec<u8>>,
    cipher: Cipher,
}

impl Key {
    /// A key from its bytes: 8, 16 or 24.
    pub fn from_bytes(bytes: &[u8]) -> Result<Key, CryptoError> {
        let cipher = match bytes.len() {
            8 => Cipher::Single(Des::new_from_slice(bytes).map_err(|_| CryptoError::KeyLength(8))?),
            16 => Cipher::Double(TdesEde2::new_from_slice(bytes).map_err(|_| CryptoError::KeyLength(16))?),
            24 => Cipher::Triple(TdesEde3::new_from_slice(bytes).map_err(|_| CryptoError::KeyLength(24))?),
            other => return Err(CryptoError::KeyLength(other)),
        };
        Ok(Key { bytes: Zeroizing::new(bytes.to_vec()), cipher })
    }

    /// A key from hexadecimal, as keys are written on key-loading forms.
    pub fn from_hex(text: &str) -> Result<Key, CryptoError> {
        let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| CryptoError::KeyHex)?);
        Key::from_bytes(&bytes)
    }

    /// A fresh key of `len` bytes from the caller's random bytes, with odd parity set on every byte
    /// as DES hardware expects.
    pub fn generate(len: usize, fill_random: &mut dyn FnMut(&mut [u8])) -> Result<Key, CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        fill_random(&mut bytes);
        for byte in bytes.iter_mut() {
            *byte = with_odd_parity(*byte);
        }
        Key::from_bytes(&bytes)
    }

    /// 8, 16 or 24.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true; keys have at least 8 bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Encrypts one 8-byte block (ECB).
    pub fn encrypt_block(&self, block: [u8; 8]) -> [u8; 8] {
        let mut b = Block::<Des>::from(block);
        match &self.cipher {
            Cipher::Single(c) => c.encrypt_block(&mut b),
            Cipher::Double(c) => c.encrypt_block(&mut b),
            Cipher::Triple(c) => c.encrypt_block(&mut b),
        }
        b.into()
    }

    /// Decrypts one 8-byte block (ECB).
    pub fn decrypt_block(&self, block: [u8; 8]) -> [u8; 8] {
        let mut b = Block::<Des>::from(block);
        match &self.cipher {
            Cipher::Single(c) => c.decrypt_block(&mut b),
            Cipher::Double(c) => c.decrypt_block(&mut b),
            Cipher::Triple(c) => c.decrypt_block(&mut b),
        }
        b.into()
    }

    /// Encrypts whole 8-byte blocks, each on its own (ECB), as keys are sent under a master key.
    pub fn encrypt_ecb(&self, data: &[u8]) -> Result<Vec<u8>, CryptoError> {
        ecb(data, |block| self.encrypt_block(block))
    }

    /// Decrypts whole 8-byte blocks (ECB). The result may be key material: wrap it at once.
    pub fn decrypt_ecb(&self, data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        ecb(data, |block| self.decrypt_block(block)).map(Zeroizing::new)
    }

    /// The check value: the first four bytes of E(key, 00…00).
    pub fn check_value(&self) -> [u8; CHECK_VALUE_LEN] {
        let full = self.encrypt_block([0; 8]);
        [full[0], full[1], full[2], full[3]]
    }

    /// The first eight bytes as a single-DES key (the CUP MAC key uses only its left half).
    pub fn left_half(&self) -> Key {
        Key::from_bytes(&self.bytes[..8]).expect("8 bytes make a DES key")
    }

    /// The key as uppercase hexadecimal, for key-loading output only (`xingtong admin terminal
    /// provision`). Never log it.
    pub fn expose_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode_upper(self.bytes.as_slice()))
    }

    /// The raw bytes, for wrapping under another key.
    pub(crate) fn expose_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `key` encrypted under this one (ECB), as keys travel and rest: a TMK under the activation
    /// key on its way to a terminal, or under the host's master key in the database.
    pub fn wrap(&self, key: &Key) -> Vec<u8> {
        self.encrypt_ecb(key.expose_bytes()).expect("key lengths are multiples of 8")
    }

    /// The key that [`Key::wrap`] wrapped.
    pub fn unwrap_key(&self, wrapped: &[u8]) -> Result<Key, CryptoError> {
        let clear = self.decrypt_ecb(wrapped)?;
        Key::from_bytes(&clear)
    }
}

fn ecb(data: &[u8], mut op: impl FnMut([u8; 8]) -> [u8; 8]) -> Result<Vec<u8>, CryptoError> {
    if !data.len().is_multiple_of(8) {
        return Err(CryptoError::BlockLength);
    }
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks_exact(8) {
        let block: [u8; 8] = chunk.try_into().expect("chunks_exact(8) yields 8 bytes");
        out.extend_from_slice(&op(block));
    }
    Ok(out)
}

fn with_odd_parity(byte: u8) -> u8 {
    let high = byte & 0xFE;
    if high.count_ones().is_multiple_of(2) { high | 1 } else { high }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} bytes, check value {})", self.len(), hex::encode_upper(self.check_value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_reference_key() {
        let key = Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        assert_eq!(hex::encode_upper(key.encrypt_block([0; 8])), "08D7B4FB629D0885");
        assert_eq!(key.check_value(), [0x08, 0xD7, 0xB4, 0xFB]);
    }

    #[test]
    fn a_working_key_under_the_master_key_decrypts() {
        // The CUP MAC worked example of reference/iso8583.md: TAK under TMK → clear TAK.
        let tmk = Key::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923").unwrap();
        let clear = tmk.decrypt_ecb(&hex::decode("96D605EA176B7E9E").unwrap()).unwrap();
        assert_eq!(hex::encode_upper(clear.as_slice()), "C24A8FB57AA20123");
        assert_eq!(tmk.encrypt_ecb(&clear).unwrap(), hex::decode("96D605EA176B7E9E").unwrap());
    }

    #[test]
    fn lengths_are_checked_and_nothing_secret_is_printed() {
        assert_eq!(Key::from_bytes(&[1; 7]).unwrap_err(), CryptoError::KeyLength(7));
        let key = Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let tmk = Key::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923").unwrap();
        let wrapped = key.wrap(&tmk);
        assert_eq!(key.unwrap_key(&wrapped).unwrap().check_value(), tmk.check_value());
        assert_ne!(wrapped, hex::decode("70F2A84CCBC2AE8625CBB0F2C22AB923").unwrap());
        assert_eq!(Key::from_hex("zz").unwrap_err(), CryptoError::KeyHex);
        assert!(Key::encrypt_ecb(&Key::from_bytes(&[1; 8]).unwrap(), &[0; 7]).is_err());
        let key = Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains("08D7B4FB") && !shown.contains("0123456789"), "{shown}");
        // Double length equals triple length with K3 = K1.
        let triple = Key::from_hex("0123456789ABCDEFFEDCBA98765432100123456789ABCDEF").unwrap();
        assert_eq!(triple.check_value(), key.check_value());
    }

    #[test]
    fn generated_keys_have_odd_parity() {
        let mut counter = 0u8;
        let key = Key::generate(16, &mut |buf| {
            for b in buf.iter_mut() {
                counter = counter.wrapping_add(37);
                *b = counter;
            }
        })
        .unwrap();
        assert!(key.expose_bytes().iter().all(|b| b.count_ones() % 2 == 1));
        assert_eq!(key.len(), 16);
    }
}

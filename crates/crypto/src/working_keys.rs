//! Working keys issued at sign-in and their field 62 layouts: each key encrypted under the TMK and
//! followed by its 4-byte check value (E(clear key, 00…00), first four bytes).
//!
//! | layout | bytes | content |
//! |---|---|---|
//! | single DES (60.3 = 001) | 24 | PIK(8) CV(4) MAK(8) CV(4) |
//! | double length (003) | 40 | PIK(16) CV(4) MAK(16, left half used) CV(4) |
//! | double + track key (004) | 60 | … + TDK(16) CV(4) |

use crate::key::{CHECK_VALUE_LEN, Key};
use crate::{CryptoError, constant_time_eq};

/// Which keys field 62 carries, chosen by the sign-in's network management code (60.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkingKeysLayout {
    /// 60.3 = 001: single-length PIN and MAC keys.
    Single,
    /// 60.3 = 003: double-length PIN and MAC keys.
    Double,
    /// 60.3 = 004: double-length PIN, MAC and track keys.
    DoubleWithTrack,
}

impl WorkingKeysLayout {
    /// From the sign-in's 60.3 code.
    pub fn from_network_code(code: &str) -> Option<WorkingKeysLayout> {
        match code {
            "001" => Some(WorkingKeysLayout::Single),
            "003" => Some(WorkingKeysLayout::Double),
            "004" => Some(WorkingKeysLayout::DoubleWithTrack),
            _ => None,
        }
    }

    fn key_len(self) -> usize {
        if self == WorkingKeysLayout::Single { 8 } else { 16 }
    }

    /// The length of field 62 in this layout.
    pub fn field_len(self) -> usize {
        let entry = self.key_len() + CHECK_VALUE_LEN;
        if self == WorkingKeysLayout::DoubleWithTrack { 3 * entry } else { 2 * entry }
    }
}

/// A terminal's working keys for one sign-in.
#[derive(Debug, Clone)]
pub struct WorkingKeys {
    /// Encrypts PIN blocks (TPK/PIK).
    pub pin_key: Key,
    /// Computes MACs (TAK/MAK).
    pub mac_key: Key,
    /// Encrypts track data (TDK), with layout 004.
    pub track_key: Option<Key>,
}

impl WorkingKeys {
    /// Fresh keys in `layout`, from the caller's random bytes.
    pub fn generate(
        layout: WorkingKeysLayout,
        fill_random: &mut dyn FnMut(&mut [u8]),
    ) -> Result<WorkingKeys, CryptoError> {
        let len = layout.key_len();
        Ok(WorkingKeys {
            pin_key: Key::generate(len, fill_random)?,
            mac_key: Key::generate(len, fill_random)?,
            track_key: match layout {
                WorkingKeysLayout::DoubleWithTrack => Some(Key::generate(len, fill_random)?),
                _ => None,
            },
        })
    }

    /// Field 62 of the sign-in response: each key under the TMK, then its check value.
    pub fn to_field62(&self, tmk: &Key) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(60);
        for key in [Some(&self.pin_key), Some(&self.mac_key), self.track_key.as_ref()].into_iter().flatten() {
            out.extend_from_slice(&tmk.encrypt_ecb(key.expose_bytes())?);
            out.extend_from_slice(&key.check_value());
        }
        Ok(out)
    }

    /// What a terminal does with field 62: decrypt each key under its TMK and check it against its
    /// check value; any mismatch refuses the sign-in ("KEY VERIFY ERR").
    pub fn from_field62(field: &[u8], tmk: &Key) -> Result<WorkingKeys, CryptoError> {
        let layout = [WorkingKeysLayout::Single, WorkingKeysLayout::Double, WorkingKeysLayout::DoubleWithTrack]
            .into_iter()
            .find(|l| l.field_len() == field.len())
            .ok_or(CryptoError::KeysLength(field.len()))?;
        let entry = layout.key_len() + CHECK_VALUE_LEN;
        let mut keys = Vec::with_capacity(3);
        for (index, name) in ["PIN", "MAC", "track"].into_iter().enumerate().take(field.len() / entry) {
            let chunk = &field[index * entry..(index + 1) * entry];
            let (encrypted, check_value) = chunk.split_at(layout.key_len());
            let key = Key::from_bytes(&tmk.decrypt_ecb(encrypted)?)?;
            if !constant_time_eq(&key.check_value(), check_value) {
                return Err(CryptoError::CheckValue(name));
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        Ok(WorkingKeys {
            pin_key: keys.next().expect("every layout has a PIN key"),
            mac_key: keys.next().expect("every layout has a MAC key"),
            track_key: keys.next(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter_random() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                n = n.wrapping_mul(31).wrapping_add(17);
                *b = n;
            }
        }
    }

    #[test]
    fn every_layout_round_trips_through_field_62() {
        let tmk = Key::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923").unwrap();
        for layout in [WorkingKeysLayout::Single, WorkingKeysLayout::Double, WorkingKeysLayout::DoubleWithTrack] {
            let keys = WorkingKeys::generate(layout, &mut counter_random()).unwrap();
            let field = keys.to_field62(&tmk).unwrap();
            assert_eq!(field.len(), layout.field_len());
            let back = WorkingKeys::from_field62(&field, &tmk).unwrap();
            assert_eq!(back.pin_key.check_value(), keys.pin_key.check_value());
            assert_eq!(back.mac_key.check_value(), keys.mac_key.check_value());
            assert_eq!(back.track_key.is_some(), layout == WorkingKeysLayout::DoubleWithTrack);
        }
        assert_eq!(WorkingKeysLayout::from_network_code("003"), Some(WorkingKeysLayout::Double));
        assert_eq!(WorkingKeysLayout::from_network_code("301"), None);
    }

    #[test]
    fn a_wrong_master_key_or_a_damaged_field_is_refused() {
        let tmk = Key::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923").unwrap();
        let keys = WorkingKeys::generate(WorkingKeysLayout::Double, &mut counter_random()).unwrap();
        let field = keys.to_field62(&tmk).unwrap();
        let other = Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        assert_eq!(WorkingKeys::from_field62(&field, &other).unwrap_err(), CryptoError::CheckValue("PIN"));
        let mut damaged = field.clone();
        damaged[21] ^= 0x40;
        assert_eq!(WorkingKeys::from_field62(&damaged, &tmk).unwrap_err(), CryptoError::CheckValue("MAC"));
        assert_eq!(WorkingKeys::from_field62(&field[..39], &tmk).unwrap_err(), CryptoError::KeysLength(39));
        assert!(!format!("{keys:?}").contains(&*keys.pin_key.expose_hex()), "Debug shows no key");
    }
}

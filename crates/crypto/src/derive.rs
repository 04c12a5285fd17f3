//! Secrets derived from the host master key, and keyed card-number tokens.
//!
//! Every secret the host needs besides its master key (the key PAN tokens are made with, the
//! sandbox issuer's zone key and PIN verification key …) is derived from the master key with
//! HKDF-SHA256 (RFC 5869), one label each, so that one key file is all there is to keep and no
//! two purposes share a secret. PAN tokens are HMAC-SHA256 of the number under such a secret: the
//! same card gives the same token (a refund finds its sale's card, limits count a card's uses)
//! while the number itself is never kept.

use zeroize::Zeroizing;

use crate::Key;

/// What every label is prefixed with: changing it (or the label) changes every derived secret.
const INFO_PREFIX: &[u8] = b"xingtong/v1/";

/// A 32-byte secret for one purpose (`label`), derived from the host master key with
/// HKDF-SHA256 (extract with no salt, expand with info `xingtong/v1/<label>`).
pub fn derive_secret(master: &Key, label: &str) -> Zeroizing<[u8; 32]> {
    let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(None, master.expose_bytes());
    let mut info = Vec::with_capacity(INFO_PREFIX.len() + label.len());
    info.extend_from_slice(INFO_PREFIX);
    info.extend_from_slice(label.as_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    hkdf.expand(&info, &mut out[..]).expect("32 bytes is within HKDF-SHA256's output limit");
    out
}

/// HMAC-SHA256 of `message` under `key`, lowercase hex: how the sandbox wallets sign their
/// payment notifications.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// A keyed token of a card number: the first 16 bytes of HMAC-SHA256(secret, PAN), hex.
pub fn pan_token(secret: &[u8], pan: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(pan.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_is_rfc_4231() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hkdf_is_rfc_5869() {
        // RFC 5869 test case 3 (no salt, no info): the primitive under derive_secret.
        let ikm = [0x0bu8; 22];
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(None, &ikm);
        let mut okm = [0u8; 42];
        hkdf.expand(&[], &mut okm).unwrap();
        assert_eq!(
            hex::encode(okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
        );
    }

    #[test]
    fn labels_and_keys_give_different_secrets_and_tokens_are_keyed() {
        let a = Key::from_hex("70F2A84CCBC2AE8625CBB0F2C22AB923").unwrap();
        let b = Key::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        assert_eq!(*derive_secret(&a, "PAN tokens"), *derive_secret(&a, "PAN tokens"));
        assert_ne!(*derive_secret(&a, "PAN tokens"), *derive_secret(&a, "sandbox"));
        assert_ne!(*derive_secret(&a, "PAN tokens"), *derive_secret(&b, "PAN tokens"));
        let pan = "6222021234567890128";
        let (ta, tb) = (pan_token(&derive_secret(&a, "t")[..], pan), pan_token(&derive_secret(&b, "t")[..], pan));
        assert_eq!(ta.len(), 32);
        assert_ne!(ta, tb);
        assert!(!ta.contains(pan));
        // HMAC, not a hash of the key and number run together.
        use sha2::Digest;
        let naive = sha2::Sha256::digest([&derive_secret(&a, "t")[..], pan.as_bytes()].concat());
        assert_ne!(ta, hex::encode(&naive[..16]));
    }
}

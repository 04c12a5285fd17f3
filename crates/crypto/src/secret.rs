//! Secrets people type: passwords and cashier PINs, kept only as Argon2id hashes; and the key a
//! terminal derives from its activation code (PBKDF2-HMAC-SHA256) to receive its master key.

use zeroize::Zeroizing;

use crate::{CryptoError, Key, constant_time_eq};

/// Argon2id memory cost, KiB (OWASP's first recommended setting: 19 MiB, 2 passes, 1 lane).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Argon2id passes.
pub const ARGON2_PASSES: u32 = 2;
/// PBKDF2 iterations for the activation key.
pub const ACTIVATION_KDF_ITERATIONS: u32 = 100_000;

/// Hashes a secret with Argon2id and the caller's 16 random salt bytes, as a self-describing string:
/// `argon2id$v=19$m=19456,t=2,p=1$<salt hex>$<hash hex>`.
pub fn hash_secret(secret: &str, salt: [u8; 16]) -> String {
    let hash = argon2_raw(secret.as_bytes(), &salt, ARGON2_MEMORY_KIB, ARGON2_PASSES)
        .expect("the built-in Argon2 parameters are valid");
    format!(
        "argon2id$v=19$m={ARGON2_MEMORY_KIB},t={ARGON2_PASSES},p=1${}${}",
        hex::encode(salt),
        hex::encode(&hash[..])
    )
}

/// True when `secret` hashes to `stored` (a string made by [`hash_secret`]); compares in constant time.
pub fn verify_secret(secret: &str, stored: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [algorithm, version, params, salt, hash] = parts.as_slice() else { return false };
    if *algorithm != "argon2id" || *version != "v=19" {
        return false;
    }
    let mut memory = None;
    let mut passes = None;
    for param in params.split(',') {
        match param.split_once('=') {
            Some(("m", v)) => memory = v.parse().ok(),
            Some(("t", v)) => passes = v.parse().ok(),
            Some(("p", "1")) => {}
            _ => return false,
        }
    }
    let (Some(memory), Some(passes), Ok(salt), Ok(expected)) = (memory, passes, hex::decode(salt), hex::decode(hash))
    else {
        return false;
    };
    match argon2_raw(secret.as_bytes(), &salt, memory, passes) {
        Ok(computed) => constant_time_eq(&computed[..], &expected),
        Err(_) => false,
    }
}

fn argon2_raw(secret: &[u8], salt: &[u8], memory: u32, passes: u32) -> Result<Zeroizing<[u8; 32]>, ()> {
    let params = argon2::Params::new(memory, passes, 1, Some(32)).map_err(|_| ())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon.hash_password_into(secret, salt, &mut out[..]).map_err(|_| ())?;
    Ok(out)
}

/// The key-encrypting key a terminal derives from its activation code:
/// PBKDF2-HMAC-SHA256(password = the code's digits, salt = "XingTong activation|" MID "|" serial,
/// `iterations`) → 16 bytes, used as a double-length 3DES key. docs/activation.md describes it.
pub fn activation_key(code: &str, mid: &str, serial_number: &str, iterations: u32) -> Result<Key, CryptoError> {
    let salt = format!("XingTong activation|{mid}|{serial_number}");
    let mut bytes = Zeroizing::new([0u8; 16]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(code.as_bytes(), salt.as_bytes(), iterations, &mut bytes[..]);
    Key::from_bytes(&bytes[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_secret() {
        let stored = hash_secret("123456", [7; 16]);
        assert!(stored.starts_with("argon2id$v=19$m=19456,t=2,p=1$07070707"));
        assert!(!stored.contains("123456"));
        assert!(verify_secret("123456", &stored));
        assert!(!verify_secret("123457", &stored));
        assert!(!verify_secret("123456", &stored.replace("t=2", "t=3")));
        assert!(!verify_secret("123456", "argon2id$v=19$m=19456,t=2,p=1$zz$00"));
        assert!(!verify_secret("123456", "plain"));
        // Another salt, another hash.
        assert_ne!(hash_secret("123456", [8; 16]), stored);
    }

    #[test]
    fn activation_key_is_pbkdf2_hmac_sha256() {
        // Independently computed: python3 -c "import hashlib; print(hashlib.pbkdf2_hmac('sha256',
        //   b'1234567890123456', b'XingTong activation|898310054110001|SN0001', 1000, 16).hex())"
        let key = activation_key("1234567890123456", "898310054110001", "SN0001", 1_000).unwrap();
        assert_eq!(key.expose_hex().as_str(), EXPECTED_1000);
    }

    const EXPECTED_1000: &str = "33EF521FA6E34875FDBE3A20AFD4CFFE";
}

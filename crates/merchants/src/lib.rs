//! Merchant onboarding as a service (journey steps 1–3 of PRODUCT.md, and the accounts of step 4):
//! identities and roles, applications and documents, review, merchants with their ledger accounts
//! and terms, devices and activation, cashiers and PINs, settlement-card changes, notifications.
//!
//! Every operation takes the caller ([`Principal`]) and decides what it may see and do: a merchant
//! sees only its own data, and another merchant's is reported as not found. Every change is one
//! [`xingtong_store::Change`]: records checked against the version they were read at, audit
//! entries, outbox messages and ledger accounts commit together or not at all.
//!
//! # Layout
//! - [`identity`]: staff, owners, sessions, API keys, [`Principal`].
//! - [`applications`]: drafts, documents, submission, review, decisions.
//! - [`merchant`]: merchants (MID, ledger accounts, terms, settlement card).
//! - [`devices`]: device orders, activation (TMK delivery), provisioning, states.
//! - [`cashiers`]: operators and PINs.
//! - [`bank_card`]: settlement card changes with a one-time code.
//! - [`notify`]: the outbox and its transports.
//! - [`entity`]: typed records over the store.

pub mod applications;
pub mod bank_card;
pub mod cashiers;
pub mod devices;
pub mod entity;
pub mod error;
pub mod identity;
pub mod merchant;
pub mod notify;
pub mod text;

use xingtong_crypto::Key;
use xingtong_store::Store;

pub use error::{Class, Error, Result};
pub use identity::{Principal, Role};

/// Settings of onboarding.
#[derive(Debug, Clone)]
pub struct Config {
    /// The 4-digit region code inside MIDs (3100: Shanghai).
    pub region_code: String,
    /// PBKDF2 iterations of the activation key.
    pub activation_kdf_iterations: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            region_code: "3100".into(),
            activation_kdf_iterations: xingtong_crypto::secret::ACTIVATION_KDF_ITERATIONS,
        }
    }
}

/// The onboarding service; cheap to clone.
#[derive(Clone)]
pub struct Merchants {
    store: Store,
    /// The host's master key: terminal master keys rest encrypted under it.
    master_key: Key,
    config: Config,
}

impl std::fmt::Debug for Merchants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merchants").field("master_key", &self.master_key).field("config", &self.config).finish()
    }
}

impl Merchants {
    /// The service over a store, with the host master key.
    pub fn new(store: Store, master_key: Key, config: Config) -> Merchants {
        Merchants { store, master_key, config }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A secret derived from the host master key for one purpose (`label`), e.g. the key of PAN
    /// tokens or the sandbox issuer's keys: HKDF-SHA256 of the key with the label (`xingtong_crypto::derive`).
    pub fn host_secret(&self, label: &str) -> zeroize::Zeroizing<[u8; 32]> {
        xingtong_crypto::derive::derive_secret(&self.master_key, label)
    }

    /// A key encrypted under the host master key, hex: how keys rest in the database.
    pub fn wrap_key(&self, key: &Key) -> String {
        hex::encode_upper(self.master_key.wrap(key))
    }

    /// A key that [`Merchants::wrap_key`] wrapped.
    pub fn unwrap_key(&self, wrapped: &str) -> Result<Key> {
        let internal = || Error::new(Class::Internal, "internal", "internal error");
        let bytes = hex::decode(wrapped).map_err(|_| internal())?;
        self.master_key.unwrap_key(&bytes).map_err(|_| internal())
    }
}

/// Reads the host master key from `path` (32 hex digits), making one there if it does not exist
/// (readable by the owner only). Several processes on one PostgreSQL database must share it.
pub fn load_or_create_master_key(path: &std::path::Path) -> std::io::Result<Key> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {m}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => Key::from_hex(text.trim()).map_err(|_| invalid("not a 32-hex-digit key")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Key::generate(16, &mut |bytes| rand::fill(bytes)).map_err(|_| invalid("key generation"))?;
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            use std::io::Write;
            let mut file = options.open(path)?;
            file.write_all(key.expose_hex().as_bytes())?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}

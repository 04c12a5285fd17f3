//! The card-network connector: the one interface between the platform and a card network (or an
//! issuer). The sandbox issuer implements it; a real network would, with no change elsewhere.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use xingtong_crypto::Key;

use crate::card::{Brand, CardType};

/// What is asked of the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// Balance inquiry.
    Balance,
    /// Sale: money moves now.
    Sale,
    /// Pre-authorization: money is held.
    PreAuthorization,
}

/// An authorization request as the network sees it.
pub struct AuthRequest {
    /// Card number.
    pub pan: String,
    /// YYMM, when the terminal read it.
    pub expiry: Option<String>,
    /// The PIN block, already translated to the network's zone key.
    pub pin_block: Option<[u8; 8]>,
    /// Minor units (0 for a balance inquiry).
    pub amount_minor: i64,
    /// What is asked.
    pub kind: AuthKind,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
}

impl std::fmt::Debug for AuthRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest")
            .field("pan", &crate::card::mask(&self.pan))
            .field("pin_block", &self.pin_block.map(|_| "…"))
            .field("amount_minor", &self.amount_minor)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Where the money of an approved payment comes from, in our ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "account")]
pub enum Funding {
    /// The network pays clearing in its own settlement (a real network).
    Network,
    /// A ledger account of the simulated issuer is debited in the same commit as the payment:
    /// when it cannot pay, the commit is refused and the payment declined `insufficient_funds`.
    #[serde(with = "u128_string")]
    Ledger(u128),
}

mod u128_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// Six characters, printed on the receipt.
    pub auth_code: String,
    /// Scheme.
    pub brand: Brand,
    /// Debit or credit.
    pub card_type: CardType,
    /// Who pays.
    pub funding: Funding,
    /// The available balance, for a balance inquiry.
    pub balance_minor: Option<i64>,
}

/// The network did not answer in time, or could not be reached: the outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// No answer within the time limit.
    #[error("the issuer did not answer in time")]
    Timeout,
    /// The network could not be reached.
    #[error("the network is unreachable")]
    Unreachable,
}

/// What `authorize` resolves to: approved, declined for a reason, or unknown. A connector maps
/// its network's answer into the core's reasons (one that answers CUP codes:
/// [`crate::cup::reason_of`]).
pub type Authorization = Result<Result<Approved, crate::outcome::Reason>, NetworkError>;

/// A boxed future of an authorization.
pub type Authorizing<'a> = Pin<Box<dyn Future<Output = Authorization> + Send + 'a>>;

/// A boxed future of a clearing file: `None` while the network has not delivered it.
pub type FileFetching<'a> =
    Pin<Box<dyn Future<Output = xingtong_merchants::Result<Option<crate::recon::ClearingFile>>> + Send + 'a>>;

/// A card network or issuer.
pub trait CardNetwork: Send + Sync {
    /// Its name, for logs.
    fn name(&self) -> &'static str;
    /// The zone key PIN blocks are translated to before they leave the host.
    fn zone_key(&self) -> &Key;
    /// Asks for an authorization.
    fn authorize<'a>(&'a self, request: &'a AuthRequest) -> Authorizing<'a>;
    /// The network's clearing file of a business day (`YYYYMMDD`), once delivered (a real
    /// network's arrives by file transfer the next morning). A network without files has none.
    fn clearing_file<'a>(&'a self, day: &'a str) -> FileFetching<'a> {
        let _ = day;
        Box::pin(async { Ok(None) })
    }
}

//! Typed records over the store's opaque ones: each entity names its kind, id, owner and status,
//! and is serialised as JSON (or in an encoding of its own, see [`Entity::to_body`]). `Stored<T>`
//! remembers the version it was read at, so that writing it back refuses a concurrent change
//! instead of overwriting it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use xingtong_store::{Put, Record, RecordQuery, Store};

use crate::error::{Error, Result};

/// A domain entity kept as a record.
pub trait Entity: Serialize + DeserializeOwned {
    /// The record kind.
    const KIND: &'static str;
    /// Whether queries by owner and status find it (see [`Put::listed`]); entities written on
    /// every payment say no and are found by id.
    const LISTED: bool = true;
    /// Whether it is a payment transaction, kept in the store's typed `transactions` table with
    /// the columns [`Entity::txn_columns`] gives.
    const TRANSACTION: bool = false;
    /// A transaction's typed columns (see [`Entity::TRANSACTION`]).
    fn txn_columns(&self) -> Option<xingtong_store::TxnColumns> {
        None
    }
    /// Its id.
    fn id(&self) -> String;
    /// Whose it is (merchant id or user id): the isolation boundary.
    fn owner(&self) -> String;
    /// Its status.
    fn status(&self) -> String;
    /// When work is next due for it.
    fn due_at(&self) -> Option<u64> {
        None
    }
    /// Its stored form: JSON unless the entity is hot enough to want a compact encoding of its own.
    fn to_body(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec(self)?)
    }
    /// Back from [`Entity::to_body`] (an entity with an encoding of its own still reads JSON
    /// written before it had one).
    fn from_body(body: &[u8]) -> Result<Self> {
        Ok(serde_json::from_slice(body)?)
    }
}

/// An entity as read, with its version.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    /// The entity.
    pub value: T,
    /// The version it was read at.
    pub version: u64,
    /// Created, ns since the epoch.
    pub created_at: u64,
    /// Last changed, ns since the epoch.
    pub updated_at: u64,
}

fn record_of<T: Entity>(value: &T, created_at: u64) -> Result<Record> {
    Ok(Record {
        kind: T::KIND.to_owned(),
        id: value.id(),
        owner: value.owner(),
        status: value.status(),
        version: 0,
        created_at,
        updated_at: 0,
        due_at: value.due_at(),
        body: value.to_body()?,
    })
}

/// A put that creates `value` (refused if it exists).
pub fn insert<T: Entity>(value: &T) -> Result<Put> {
    Ok(Put { record: record_of(value, 0)?, expected: None, listed: T::LISTED, txn: value.txn_columns() })
}

impl<T: Entity> Stored<T> {
    /// A put that writes this entity back, refused if it changed since it was read.
    pub fn update(&self) -> Result<Put> {
        Ok(Put {
            record: record_of(&self.value, self.created_at)?,
            expected: Some(self.version),
            listed: T::LISTED,
            txn: self.value.txn_columns(),
        })
    }

    /// An entity from its stored record.
    pub fn decode(record: Record) -> Result<Stored<T>> {
        Ok(Stored {
            value: T::from_body(&record.body)?,
            version: record.version,
            created_at: record.created_at,
            updated_at: record.updated_at,
        })
    }
}

/// Reads an entity by id.
pub async fn load<T: Entity>(store: &Store, id: &str) -> Result<Option<Stored<T>>> {
    let record = if T::TRANSACTION { store.transaction(T::KIND, id).await? } else { store.record(T::KIND, id).await? };
    record.map(Stored::decode).transpose()
}

/// Reads an entity by id, or says it is not found.
pub async fn get<T: Entity>(store: &Store, id: &str, what: &str) -> Result<Stored<T>> {
    load(store, id).await?.ok_or_else(|| Error::not_found(what))
}

/// Reads the entity holding a unique key.
pub async fn by_key<T: Entity>(store: &Store, key: &str) -> Result<Option<Stored<T>>> {
    store.record_by_key(T::KIND, key).await?.map(Stored::decode).transpose()
}

/// Lists entities.
pub async fn list<T: Entity>(store: &Store, query: RecordQuery) -> Result<Vec<Stored<T>>> {
    const { assert!(T::LISTED, "an unlisted entity is found by id, never listed") };
    store.records(query).await?.into_iter().map(Stored::decode).collect()
}

/// Lists entities whose work is due.
pub async fn due<T: Entity>(store: &Store, status: &str, now_ns: u64, limit: u32) -> Result<Vec<Stored<T>>> {
    store.due_records(T::KIND, status, now_ns, limit).await?.into_iter().map(Stored::decode).collect()
}

/// A fresh id: `prefix_` then 16 hex digits, time-ordered (48 bits of milliseconds) then random.
pub fn new_id(prefix: &str) -> String {
    let millis = xingtong_store::now_ns() / 1_000_000;
    let random: u16 = rand::random();
    format!("{prefix}_{:012x}{random:04x}", millis & 0xFFFF_FFFF_FFFF)
}

/// Runs an operation again when it lost an optimistic-concurrency race (a few times at most).
pub async fn retrying<T, F, Fut>(mut operation: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempts = 0;
    loop {
        match operation().await {
            Err(error) if error.is_conflict() && attempts < 8 => attempts += 1,
            other => return other,
        }
    }
}

//! Typed records over the store's opaque ones: each entity names its kind, id, owner and status,
//! and is serialised as JSON (or in an encoding of its own, see [`Entity::to_body`]). `Stored<T>`
//! remembers the version it was read at, so that writing it back refuses a concurrent change
//! instead of overwriting it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use xingtong_store::{Columns, Put, Record, RecordQuery, Store, Table, TableQuery, Value};

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
    /// The typed domain table it lives in (batches, settlements, payouts), if any, with the
    /// columns [`Entity::columns`] gives; its owner is its merchant.
    const TABLE: Option<Table> = None;
    /// Its typed columns (see [`Entity::TABLE`]).
    fn columns(&self) -> Option<Columns> {
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
    Ok(Put {
        record: record_of(value, 0)?,
        expected: None,
        listed: T::LISTED,
        txn: value.txn_columns(),
        typed: value.columns(),
    })
}

impl<T: Entity> Stored<T> {
    /// A put that writes this entity back, refused if it changed since it was read.
    pub fn update(&self) -> Result<Put> {
        Ok(Put {
            record: record_of(&self.value, self.created_at)?,
            expected: Some(self.version),
            listed: T::LISTED,
            txn: self.value.txn_columns(),
            typed: self.value.columns(),
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
    let record = match (T::TRANSACTION, T::TABLE) {
        (true, _) => store.transaction(T::KIND, id).await?,
        (false, Some(table)) => store.table_record(table, T::KIND, id).await?,
        (false, None) => store.record(T::KIND, id).await?,
    };
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

/// Lists entities (of a typed table too: by owner, status and creation, as records are).
pub async fn list<T: Entity>(store: &Store, query: RecordQuery) -> Result<Vec<Stored<T>>> {
    const { assert!(T::LISTED, "an unlisted entity is found by id, never listed") };
    let records = match T::TABLE {
        Some(table) => {
            store
                .table_records(TableQuery {
                    table,
                    merchant: query.owner,
                    statuses: query.statuses,
                    filters: Vec::new(),
                    order_by: "created_at",
                    after: query.after.map(|(at, id)| (Value::Int(i64::try_from(at).unwrap_or(i64::MAX)), id)),
                    limit: query.limit,
                    descending: query.descending,
                })
                .await?
        }
        None => store.records(query).await?,
    };
    records.into_iter().map(Stored::decode).collect()
}

/// Moves entities of `T` written before `T` had a table of its own (records of its kind; a
/// transaction's are unlisted) into that table, a page per commit, keeping their creation times;
/// returns how many. Run at start-up, before anything reads them: a crash between pages leaves each
/// row in exactly one table, and the next start carries on. Each moved row starts again at version 1.
pub async fn move_into_table<T: Entity>(store: &Store) -> Result<u64> {
    const PAGE: u32 = 500;
    const { assert!(T::TRANSACTION || T::TABLE.is_some(), "it has no table of its own") };
    let mut moved = 0u64;
    loop {
        let page = if T::LISTED {
            let mut query = RecordQuery::kind(T::KIND);
            query.limit = PAGE;
            store.records(query).await?
        } else {
            store.unlisted_records(T::KIND, PAGE).await?
        };
        if page.is_empty() {
            return Ok(moved);
        }
        let mut change = xingtong_store::Change::default();
        for record in &page {
            let mut put = insert(&T::from_body(&record.body)?)?;
            put.record.created_at = record.created_at;
            change.puts.push(put);
            change.remove_records.push((record.kind.clone(), record.id.clone()));
        }
        store.apply(change).await?;
        moved += page.len() as u64;
    }
}

/// Lists entities of a typed table by a query of its own.
pub async fn select<T: Entity>(store: &Store, query: TableQuery) -> Result<Vec<Stored<T>>> {
    debug_assert_eq!(Some(query.table), T::TABLE, "a query of another table");
    store.table_records(query).await?.into_iter().map(Stored::decode).collect()
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

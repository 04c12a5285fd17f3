//! Durable storage for XingTong: embedded SQLite (the default, needing nothing running) or PostgreSQL
//! (for several `xingtong serve` processes sharing one database).
//!
//! The interface is business operations, not CRUD: create these accounts, post this batch of
//! transfers (optionally under an idempotency key), read an account's transfers, look up an API key.
//!
//! # Layout
//! - [`committer`]: the writer thread. It drains every write queued while the previous commit was
//!   being made durable and commits them together (group commit), applying the pure ledger state
//!   machine in between; each caller is answered only after the commit that holds its write.
//! - [`sqlite`] and [`postgres`]: the two backends behind one `Backend` trait (writer side) and one
//!   `Reader` trait (read side), each with its own versioned migrations.
//! - `codec`: how ledger values map to columns, shared by both backends.
//! - `account_history`: SQLite's per-account history index, filled off the commit path.
//!
//! # Architecture invariant
//! Only this crate knows SQL. On SQLite the writer thread is the only writer, so it may cache
//! accounts in memory; on PostgreSQL nothing that must stay consistent lives in one process's
//! memory: every write transaction first locks the ledger clock row, which serialises ledger writes
//! across processes, and reloads what it touches.

mod account_history;
mod codec;
pub mod committer;
pub mod lock;
pub mod postgres;
pub mod records;
pub mod sqlite;
pub mod tables;
mod txn_index;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use xingtong_ledger::invariants::{LedgerTotals, check_accounts};
use xingtong_ledger::{Account, CreateAccountResult, CreateTransferResult, Transfer};

use crate::committer::Write;
pub use crate::records::{
    AuditEntry, AuditQuery, Blob, Change, CounterAdd, HourRow, Put, Record, RecordQuery, Rejection, SettlementLine,
    TotalsQuery, TotalsRow, TxnColumns, TxnQuery, TxnRow, UniqueKey,
};
pub use crate::tables::{BatchColumns, Cmp, Columns, PayoutColumns, SettlementColumns, Table, TableQuery, Value};

/// The most writes waiting for the writer; callers wait (backpressure) beyond it.
pub const WRITE_QUEUE_MAX: usize = 16_384;
/// The most transfers listed in one page.
pub const PAGE_LIMIT_MAX: u32 = 1_000;

/// Which database, and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An SQLite file inside this data directory.
    Sqlite {
        /// The data directory; created if missing.
        data_dir: PathBuf,
    },
    /// A PostgreSQL server.
    Postgres {
        /// A `postgres://` URL.
        url: String,
        /// A schema to create (if missing) and use instead of `public`: lets tests and several
        /// deployments share one database.
        schema: Option<String>,
    },
}

impl Database {
    /// Reads `--database`: a `postgres://` or `postgresql://` URL, or else the data directory is used.
    pub fn from_url_or_dir(
        url: Option<&str>,
        data_dir: PathBuf,
        schema: Option<String>,
    ) -> Result<Database, StoreError> {
        match url {
            None | Some("") => Ok(Database::Sqlite { data_dir }),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Database::Postgres { url: url.to_owned(), schema })
            }
            Some(url) if url.starts_with("sqlite:") => Ok(Database::Sqlite {
                data_dir: PathBuf::from(url.trim_start_matches("sqlite:").trim_start_matches("//")),
            }),
            Some(_) => Err(StoreError::Config("--database takes a postgres:// URL or sqlite:DIR".into())),
        }
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Which database.
    pub database: Database,
    /// Read connections (each serves one read at a time on a blocking thread).
    pub readers: usize,
    /// SQLite only: `synchronous = FULL` (fsync every commit; survives power loss) when true, else
    /// `NORMAL` (survives a killed process, may lose the last commits on power loss).
    pub sqlite_fsync: bool,
}

impl StoreOptions {
    /// Defaults for `database`: four readers, fsync on.
    pub fn new(database: Database) -> StoreOptions {
        StoreOptions { database, readers: 4, sqlite_fsync: true }
    }
}

/// Everything that can go wrong in storage. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL said no (with the server's message and code: the error's own text is only
    /// "db error").
    #[error("postgres: {}", postgres_message(.0))]
    Postgres(#[from] ::postgres::Error),
    /// The data directory could not be used.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    /// Another process writes this SQLite data directory (one writer per directory).
    #[error("the data directory {} is in use by another xingtong process{}", dir.display(), pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The holder's process id, when it could be read.
        pid: Option<u32>,
    },
    /// The configuration cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// Stored data does not decode; never expected.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// A query named something the table does not have; a bug in the caller.
    #[error("query: {0}")]
    Query(String),
    /// A commit failed; everything in it was rolled back and nothing was acknowledged.
    #[error("commit failed, nothing was written: {0}")]
    CommitFailed(String),
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
    /// The audit found the ledger out of balance.
    #[error(transparent)]
    Invariant(#[from] xingtong_ledger::invariants::Violation),
    /// A domain change was refused; nothing of it was written.
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

impl StoreError {
    /// True when the database could not be reached or could not take the work just now (busy,
    /// locked, out of disk, connection lost, serialization failure, shutting down): nothing was
    /// applied and the same request may succeed later. False for everything that retrying cannot
    /// mend (a bug, corrupt data, a refused change). Both backends classify failures of the same
    /// kind alike, so that every interface answers them alike (HTTP 503 `unavailable`, not 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Closed | StoreError::CommitFailed(_) => true,
            StoreError::Io(_) => true,
            StoreError::Sqlite(error) => matches!(
                error.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::SystemIoFailure
                        | rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::OutOfMemory
                )
            ),
            StoreError::Postgres(error) => {
                if error.is_closed() {
                    return true;
                }
                match error.code() {
                    // No SQLSTATE: the connection or the socket failed.
                    None => true,
                    Some(code) => {
                        let class = &code.code()[..2];
                        // 08 connection exception, 40 transaction rollback (serialization failure,
                        // deadlock), 53 insufficient resources, 57 operator intervention (shutdown,
                        // cancelled), 58 system error (I/O).
                        matches!(class, "08" | "40" | "53" | "57" | "58")
                    }
                }
            }
            StoreError::Locked { .. }
            | StoreError::Config(_)
            | StoreError::Corrupt(_)
            | StoreError::Query(_)
            | StoreError::Invariant(_)
            | StoreError::Rejected(_) => false,
        }
    }
}

/// An idempotency key claimed by a write: the response is stored in the same commit as the write.
pub struct Claim<R> {
    /// Whose key it is (the API key id): keys of different callers never collide.
    pub scope: String,
    /// The `Idempotency-Key` header.
    pub key: String,
    /// SHA-256 of the request (method, path and body), to tell a retry from a reuse.
    pub request_sha256: [u8; 32],
    /// Renders the response to store from the results (the same function that renders the live
    /// response, so a replay is byte for byte what the first caller got).
    pub render: Render<R>,
}

/// Turns a write's results into the response stored under its idempotency key.
pub type Render<R> = Box<dyn Fn(&[R]) -> StoredResponse + Send + Sync>;

impl<R> std::fmt::Debug for Claim<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim").field("scope", &self.scope).field("key", &self.key).finish_non_exhaustive()
    }
}

/// A response stored under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// What became of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Applied and durable: one result per event.
    Applied(T),
    /// The idempotency key was used before for the same request: its stored response.
    Replayed(StoredResponse),
    /// The idempotency key was used before for a different request; nothing was done.
    KeyReused,
}

/// An API key as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public part, e.g. `3f9a0c…`; also the idempotency scope.
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_sha256: Vec<u8>,
    /// What the key may do: `admin` for operations staff.
    pub role: String,
    /// A human label.
    pub label: String,
    /// Created, nanoseconds since the epoch.
    pub created_at: u64,
    /// Revoked, if it was.
    pub revoked_at: Option<u64>,
    /// The merchant a `merchant` key belongs to; `None` for operations keys.
    pub owner: Option<String>,
}

/// A newly made API key, the only time its secret exists in clear.
pub struct NewApiKey {
    /// The stored record.
    pub record: ApiKeyRecord,
    /// The full token to give the caller once: `xtk_<id>_<secret>`.
    pub token: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey").field("record", &self.record).field("token", &"xtk_…").finish()
    }
}

/// The prefix that makes our API keys recognisable (to people and to secret scanners).
pub const API_KEY_PREFIX: &str = "xtk_";

impl NewApiKey {
    /// Makes a key with 128 random bits of id and 256 of secret.
    pub fn generate(role: &str, label: &str, now_ns: u64) -> NewApiKey {
        NewApiKey::generate_for(role, label, None, now_ns)
    }

    /// Makes a key belonging to `owner` (a merchant).
    pub fn generate_for(role: &str, label: &str, owner: Option<&str>, now_ns: u64) -> NewApiKey {
        let id: [u8; 8] = rand::random();
        let secret: [u8; 32] = rand::random();
        let id = hex::encode(id);
        let secret = hex::encode(secret);
        let record = ApiKeyRecord {
            id: id.clone(),
            secret_sha256: Sha256::digest(secret.as_bytes()).to_vec(),
            role: role.to_owned(),
            label: label.to_owned(),
            created_at: now_ns,
            revoked_at: None,
            owner: owner.map(str::to_owned),
        };
        NewApiKey { record, token: format!("{API_KEY_PREFIX}{id}_{secret}") }
    }
}

/// Splits a presented token into (id, secret); `None` when it is not shaped like one of ours.
pub fn parse_api_key(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(API_KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

impl ApiKeyRecord {
    /// True when `secret` is this key's and it is not revoked; compares in constant time.
    pub fn verifies(&self, secret: &str) -> bool {
        let presented = Sha256::digest(secret.as_bytes());
        let same = presented.len() == self.secret_sha256.len()
            && presented.iter().zip(&self.secret_sha256).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        same && self.revoked_at.is_none()
    }
}

/// The result of auditing the whole ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReport {
    /// Accounts read.
    pub accounts: u64,
    /// Transfers stored.
    pub transfers: u64,
    /// Per-ledger totals (all balanced, or the audit would have failed).
    pub ledgers: Vec<(u32, LedgerTotals)>,
}

/// The whole ledger as stored, read at one moment.
#[derive(Debug, Default)]
pub(crate) struct LedgerScan {
    pub accounts: Vec<Account>,
    pub transfers: Vec<Transfer>,
    pub pending: std::collections::HashMap<u128, xingtong_ledger::PendingStatus>,
}

/// The read side of a backend: one connection.
pub(crate) trait Reader: Send {
    fn accounts(&mut self, ids: &[u128]) -> Result<Vec<Account>, StoreError>;
    fn transfers(&mut self, ids: &[u128]) -> Result<Vec<Transfer>, StoreError>;
    fn account_transfers(
        &mut self,
        account: u128,
        after_timestamp: u64,
        limit: u32,
    ) -> Result<Vec<Transfer>, StoreError>;
    fn api_key(&mut self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Visits every account (for the audit) and returns how many transfers exist.
    fn scan_accounts(&mut self, visit: &mut dyn FnMut(Account)) -> Result<u64, StoreError>;
    /// Reads the whole ledger (accounts, transfers, pending statuses) at one moment, for
    /// [`Store::explain`]; holds it all in memory.
    fn scan_ledger(&mut self) -> Result<LedgerScan, StoreError>;
    fn ping(&mut self) -> Result<(), StoreError>;
    fn api_keys_of(&mut self, owner: &str) -> Result<Vec<ApiKeyRecord>, StoreError>;
    fn counter(&mut self, key: &str) -> Result<i64, StoreError>;
    fn record(&mut self, kind: &str, id: &str) -> Result<Option<Record>, StoreError>;
    fn record_by_key(&mut self, kind: &str, key: &str) -> Result<Option<Record>, StoreError>;
    fn transaction(&mut self, kind: &str, id: &str) -> Result<Option<Record>, StoreError>;
    fn transactions(&mut self, query: &TxnQuery) -> Result<Vec<TxnRow>, StoreError>;
    fn txn_totals(&mut self, query: &TotalsQuery) -> Result<Vec<TotalsRow>, StoreError>;
    fn txn_hours(&mut self, query: &TotalsQuery) -> Result<Vec<HourRow>, StoreError>;
    /// A row of a typed table by kind and id.
    fn table_record(&mut self, table: Table, kind: &str, id: &str) -> Result<Option<Record>, StoreError>;
    fn table_records(&mut self, query: &TableQuery) -> Result<Vec<Record>, StoreError>;
    fn settlement_lines(
        &mut self,
        merchant: &str,
        settlement: &str,
        after_seq: u32,
        limit: u32,
    ) -> Result<Vec<SettlementLine>, StoreError>;
    /// The first `limit` records of a kind kept out of listings (oldest ids first).
    fn unlisted_records(&mut self, kind: &str, limit: u32) -> Result<Vec<Record>, StoreError>;
    fn records(&mut self, query: &RecordQuery) -> Result<Vec<Record>, StoreError>;
    fn due_records(&mut self, kind: &str, status: &str, now_ns: u64, limit: u32) -> Result<Vec<Record>, StoreError>;
    fn blob(&mut self, sha256: &[u8]) -> Result<Option<Blob>, StoreError>;
    fn audit_log(&mut self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;
}

struct ReaderPool {
    readers: Vec<Arc<Mutex<Box<dyn Reader>>>>,
    next: AtomicUsize,
}

impl ReaderPool {
    async fn run<T: Send + 'static>(
        &self,
        read: impl FnOnce(&mut dyn Reader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let reader = Arc::clone(&self.readers[index]);
        metrics::counter!("xingtong_store_reads_total").increment(1);
        tokio::task::spawn_blocking(move || {
            // A poisoned lock means a read panicked; the connection itself is still usable.
            let mut guard = reader.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            read(guard.as_mut())
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// A handle on the store; cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writes: mpsc::Sender<Write>,
    readers: ReaderPool,
    backend: &'static str,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A synchronous PostgreSQL client closes its connection by blocking on its own runtime,
        // which panics on an async worker thread; the last handle may be dropped on one.
        let readers = std::mem::take(&mut self.readers.readers);
        let _ = std::thread::Builder::new().name("xingtong-reader-close".into()).spawn(move || drop(readers));
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.inner.backend).finish_non_exhaustive()
    }
}

/// What opening found.
#[derive(Debug)]
pub struct Opened {
    /// The store.
    pub store: Store,
    /// On a fresh database: the operations admin key, made now and never shown again.
    pub admin_key: Option<NewApiKey>,
}

/// A PostgreSQL error as an operator needs it: the server's message and SQLSTATE code.
fn postgres_message(error: &::postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// Now, in nanoseconds since the Unix epoch; the one place the store reads the clock.
pub fn now_ns() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

impl Store {
    /// Opens (creating if needed) the database, applies migrations, makes the admin key on a fresh
    /// database, and starts the writer thread.
    pub async fn open(options: StoreOptions) -> Result<Opened, StoreError> {
        tokio::task::spawn_blocking(move || Store::open_blocking(options)).await.map_err(|_| StoreError::Closed)?
    }

    fn open_blocking(options: StoreOptions) -> Result<Opened, StoreError> {
        let readers_count = options.readers.max(1);
        let (backend, readers, admin_key): (Box<dyn committer::Backend>, Vec<Box<dyn Reader>>, _) =
            match &options.database {
                Database::Sqlite { data_dir } => {
                    let opened = sqlite::open(data_dir, readers_count, options.sqlite_fsync)?;
                    (Box::new(opened.writer), opened.readers, opened.admin_key)
                }
                Database::Postgres { url, schema } => {
                    let opened = postgres::open(url, schema.as_deref(), readers_count)?;
                    (Box::new(opened.writer), opened.readers, opened.admin_key)
                }
            };
        let name = backend.name();
        let (writes, receiver) = mpsc::channel(WRITE_QUEUE_MAX);
        let writer = std::thread::Builder::new()
            .name(format!("xingtong-writer-{name}"))
            .spawn(move || committer::run(backend, receiver))?;
        let inner = Inner {
            writes,
            readers: ReaderPool {
                readers: readers.into_iter().map(|r| Arc::new(Mutex::new(r))).collect(),
                next: AtomicUsize::new(0),
            },
            backend: name,
            writer: Mutex::new(Some(writer)),
        };
        Ok(Opened { store: Store { inner: Arc::new(inner) }, admin_key })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.inner.backend
    }

    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Write,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let (reply, answer) = oneshot::channel();
        self.inner.writes.send(make(reply)).await.map_err(|_| StoreError::Closed)?;
        let result = answer.await.map_err(|_| StoreError::Closed)?;
        // Submit to durable answer: the queue before the writer plus the commit itself.
        metrics::histogram!("xingtong_store_write_seconds").record(started.elapsed().as_secs_f64());
        result
    }

    /// Creates accounts in one durable commit; one result per event.
    pub async fn create_accounts(
        &self,
        events: Vec<Account>,
        claim: Option<Claim<CreateAccountResult>>,
    ) -> Result<Outcome<Vec<CreateAccountResult>>, StoreError> {
        self.submit(|reply| Write::Accounts { events, claim, reply }).await
    }

    /// Creates transfers in one durable commit; one result per event.
    pub async fn create_transfers(
        &self,
        events: Vec<Transfer>,
        claim: Option<Claim<CreateTransferResult>>,
    ) -> Result<Outcome<Vec<CreateTransferResult>>, StoreError> {
        self.submit(|reply| Write::Transfers { events, claim, reply }).await
    }

    /// Stores a new API key.
    pub async fn create_api_key(&self, role: &str, label: &str) -> Result<NewApiKey, StoreError> {
        let key = NewApiKey::generate(role, label, now_ns());
        let record = key.record.clone();
        self.submit(|reply| Write::ApiKey { record, reply }).await?;
        Ok(key)
    }

    /// Releases pending transfers whose timeout has passed; returns how many.
    pub async fn expire_due(&self) -> Result<usize, StoreError> {
        self.submit(|reply| Write::ExpireDue { reply }).await
    }

    /// Deletes counters whose keys lie in `[from, below)` (counters of windows that have passed),
    /// at most [`committer::COUNTER_PURGE_MAX`] per call; returns how many.
    pub async fn purge_counters(&self, from: String, below: String) -> Result<usize, StoreError> {
        self.submit(|reply| Write::PurgeCounters { from, below, reply }).await
    }

    /// Forgets idempotency keys created before `before_ns`, at most [`committer::IDEMPOTENCY_PURGE_MAX`]
    /// a call; returns how many. Call again while it returns the maximum.
    pub async fn purge_idempotency_keys(&self, before_ns: u64) -> Result<usize, StoreError> {
        self.submit(|reply| Write::PurgeIdempotency { before_ns, reply }).await
    }

    /// The accounts that exist among `ids`.
    pub async fn lookup_accounts(&self, ids: Vec<u128>) -> Result<Vec<Account>, StoreError> {
        self.inner.readers.run(move |r| r.accounts(&ids)).await
    }

    /// The transfers that exist among `ids`.
    pub async fn lookup_transfers(&self, ids: Vec<u128>) -> Result<Vec<Transfer>, StoreError> {
        self.inner.readers.run(move |r| r.transfers(&ids)).await
    }

    /// Transfers debiting or crediting `account`, oldest first, after the cursor timestamp.
    pub async fn account_transfers(
        &self,
        account: u128,
        after_timestamp: u64,
        limit: u32,
    ) -> Result<Vec<Transfer>, StoreError> {
        let limit = limit.clamp(1, PAGE_LIMIT_MAX);
        self.inner.readers.run(move |r| r.account_transfers(account, after_timestamp, limit)).await
    }

    /// The API key with this public id.
    pub async fn api_key(&self, id: String) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.readers.run(move |r| r.api_key(&id)).await
    }

    /// Applies a domain change all or nothing; [`StoreError::Rejected`] when a check refused it.
    pub async fn apply(&self, change: Change) -> Result<(), StoreError> {
        self.apply_counting(change).await.map(drop)
    }

    /// Applies a change and returns the counters' values after it, in the order of `change.counters`.
    pub async fn apply_counting(&self, change: Change) -> Result<Vec<i64>, StoreError> {
        let change = Box::new(change);
        self.submit(|reply| Write::Change { change, reply }).await
    }

    /// A counter's value (0 when it was never moved).
    pub async fn counter(&self, key: &str) -> Result<i64, StoreError> {
        let key = key.to_owned();
        self.inner.readers.run(move |r| r.counter(&key)).await
    }

    /// A record by kind and id.
    pub async fn record(&self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.inner.readers.run(move |r| r.record(&kind, &id)).await
    }

    /// The record holding a unique key.
    pub async fn record_by_key(&self, kind: &str, key: &str) -> Result<Option<Record>, StoreError> {
        let (kind, key) = (kind.to_owned(), key.to_owned());
        self.inner.readers.run(move |r| r.record_by_key(&kind, &key)).await
    }

    /// A payment transaction's record (typed table) by kind and id.
    pub async fn transaction(&self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.inner.readers.run(move |r| r.transaction(&kind, &id)).await
    }

    /// Payment transactions matching a query, in (business day, id) order.
    pub async fn transactions(&self, mut query: TxnQuery) -> Result<Vec<TxnRow>, StoreError> {
        query.limit = query.limit.clamp(1, PAGE_LIMIT_MAX);
        self.inner.readers.run(move |r| r.transactions(&query)).await
    }

    /// A merchant's transaction totals over business days, bucket by bucket (day, terminal,
    /// cashier, method, business type, type, status), kept by the writer in each transaction's
    /// commit: what reports add up, without reading a row of `transactions`.
    pub async fn txn_totals(&self, query: TotalsQuery) -> Result<Vec<TotalsRow>, StoreError> {
        self.inner.readers.run(move |r| r.txn_totals(&query)).await
    }

    /// A merchant's approved sales and completions by hour of the day (China time) over business
    /// days `day_from` to `day_to`: the hours with any, in hour order.
    pub async fn txn_hours(&self, query: TotalsQuery) -> Result<Vec<HourRow>, StoreError> {
        self.inner.readers.run(move |r| r.txn_hours(&query)).await
    }

    /// A row of a typed domain table (batches, settlements, payouts) by kind and id.
    pub async fn table_record(&self, table: Table, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.inner.readers.run(move |r| r.table_record(table, &kind, &id)).await
    }

    /// Rows of a typed domain table matching a query, in (`order_by`, id) order.
    pub async fn table_records(&self, mut query: TableQuery) -> Result<Vec<Record>, StoreError> {
        query.limit = query.limit.clamp(1, PAGE_LIMIT_MAX);
        self.inner.readers.run(move |r| r.table_records(&query)).await
    }

    /// A settlement's lines after `after_seq`, in order.
    pub async fn settlement_lines(
        &self,
        merchant: &str,
        settlement: &str,
        after_seq: u32,
        limit: u32,
    ) -> Result<Vec<SettlementLine>, StoreError> {
        let (merchant, settlement) = (merchant.to_owned(), settlement.to_owned());
        let limit = limit.clamp(1, PAGE_LIMIT_MAX);
        self.inner.readers.run(move |r| r.settlement_lines(&merchant, &settlement, after_seq, limit)).await
    }

    /// Up to `limit` records of a kind kept out of listings, for moving them elsewhere.
    pub async fn unlisted_records(&self, kind: &str, limit: u32) -> Result<Vec<Record>, StoreError> {
        let kind = kind.to_owned();
        let limit = limit.clamp(1, PAGE_LIMIT_MAX);
        self.inner.readers.run(move |r| r.unlisted_records(&kind, limit)).await
    }

    /// Records matching a query, oldest first.
    pub async fn records(&self, mut query: RecordQuery) -> Result<Vec<Record>, StoreError> {
        query.limit = query.limit.clamp(1, PAGE_LIMIT_MAX);
        self.inner.readers.run(move |r| r.records(&query)).await
    }

    /// Records of a kind and status whose `due_at` is at or before `now_ns`, soonest first.
    pub async fn due_records(
        &self,
        kind: &str,
        status: &str,
        now_ns: u64,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError> {
        let (kind, status) = (kind.to_owned(), status.to_owned());
        let limit = limit.clamp(1, PAGE_LIMIT_MAX);
        self.inner.readers.run(move |r| r.due_records(&kind, &status, now_ns, limit)).await
    }

    /// A stored document by its SHA-256.
    pub async fn blob(&self, sha256: [u8; 32]) -> Result<Option<Blob>, StoreError> {
        self.inner.readers.run(move |r| r.blob(&sha256)).await
    }

    /// Audit entries (of one record when `subject` is given), oldest first, after a sequence number.
    pub async fn audit_log(
        &self,
        subject: Option<(String, String)>,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let (subject_kind, subject_id) = subject.map_or((None, None), |(k, i)| (Some(k), Some(i)));
        self.audit_search(AuditQuery { subject_kind, subject_id, after_seq, limit, ..AuditQuery::default() }).await
    }

    /// Audit entries matching every filter of `query`: oldest first after `after_seq`, or newest
    /// first (before `before_seq` when given). Each filter has its index (subject, actor, action).
    pub async fn audit_search(&self, mut query: AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        query.limit = query.limit.clamp(1, PAGE_LIMIT_MAX);
        if query.before_seq.is_some() {
            query.newest_first = true;
        }
        self.inner.readers.run(move |r| r.audit_log(&query)).await
    }

    /// The API keys belonging to `owner`, revoked ones included.
    pub async fn api_keys_of(&self, owner: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let owner = owner.to_owned();
        self.inner.readers.run(move |r| r.api_keys_of(&owner)).await
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.inner.readers.run(|r| r.ping()).await
    }

    /// Reads every account and checks invariants 1 and 2 over the whole ledger.
    pub async fn audit(&self) -> Result<AuditReport, StoreError> {
        self.inner
            .readers
            .run(|r| {
                let mut accounts = Vec::new();
                let transfers = r.scan_accounts(&mut |a| accounts.push(a))?;
                let totals = check_accounts(&accounts)?;
                Ok(AuditReport { accounts: accounts.len() as u64, transfers, ledgers: totals.into_iter().collect() })
            })
            .await
    }

    /// Explains the ledger for a person: every account whose balances differ from a replay of its
    /// transfers, every unbalanced ledger, every account over its limit, every transfer that cannot
    /// be replayed. Reads everything into memory (an operator's tool, run when the audit fails);
    /// changes nothing.
    pub async fn explain(&self) -> Result<xingtong_ledger::invariants::Explanation, StoreError> {
        self.inner
            .readers
            .run(|r| {
                let scan = r.scan_ledger()?;
                Ok(xingtong_ledger::invariants::explain(&scan.accounts, &scan.transfers, &scan.pending))
            })
            .await
    }

    /// Stops accepting writes, lets the writer finish what it has, and waits for it.
    pub async fn close(self) {
        let writer = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(self);
        if let Some(writer) = writer {
            // The writer ends when every sender is gone; other clones may still hold one, in which
            // case it ends with the process.
            let _ = tokio::task::spawn_blocking(move || {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while !writer.is_finished() && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_verify_only_their_secret() {
        let key = NewApiKey::generate("admin", "test", 1);
        let (id, secret) = parse_api_key(&key.token).expect("our own token parses");
        assert_eq!(id, key.record.id);
        assert!(key.record.verifies(secret));
        assert!(!key.record.verifies(&secret.replace('a', "b").replace('0', "1")));
        assert!(parse_api_key("xtk_short_secret").is_none());
        assert!(parse_api_key("Bearer whatever").is_none());
        assert!(!format!("{key:?}").contains(secret), "Debug must not show the secret");
        let revoked = ApiKeyRecord { revoked_at: Some(2), ..key.record.clone() };
        assert!(!revoked.verifies(secret));
    }

    #[test]
    fn both_backends_call_the_same_failures_unavailable() {
        // SQLite: another connection holds the write lock → busy → unavailable; bad SQL is a bug.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        let holder = rusqlite::Connection::open(&path).unwrap();
        holder.execute_batch("CREATE TABLE t (x INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);").unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let busy = StoreError::from(other.execute("INSERT INTO t VALUES (2)", []).unwrap_err());
        assert!(busy.is_unavailable(), "{busy}");
        let bad = StoreError::from(other.execute("INSERT INTO nowhere VALUES (2)", []).unwrap_err());
        assert!(!bad.is_unavailable(), "{bad}");
        // PostgreSQL: nothing listening → unavailable; bad SQL (when a server is there) is a bug.
        let refused = ::postgres::Client::connect("host=127.0.0.1 port=1 user=x connect_timeout=2", ::postgres::NoTls)
            .map(|_| ())
            .unwrap_err();
        assert!(StoreError::from(refused).is_unavailable());
        if let Some(url) = std::env::var("XINGTONG_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) {
            let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
            let bad = StoreError::from(client.batch_execute("SELECT * FROM nowhere_at_all").unwrap_err());
            assert!(!bad.is_unavailable(), "{bad}");
        }
        for other in [StoreError::Corrupt("x".into()), StoreError::Config("x".into())] {
            assert!(!other.is_unavailable());
        }
        assert!(StoreError::Closed.is_unavailable());
    }

    #[test]
    fn database_urls() {
        let dir = PathBuf::from("/tmp/x");
        assert_eq!(
            Database::from_url_or_dir(None, dir.clone(), None).unwrap(),
            Database::Sqlite { data_dir: dir.clone() }
        );
        assert!(matches!(
            Database::from_url_or_dir(Some("postgres://u@h/db"), dir.clone(), None).unwrap(),
            Database::Postgres { .. }
        ));
        assert!(Database::from_url_or_dir(Some("mysql://x"), dir, None).is_err());
    }
}

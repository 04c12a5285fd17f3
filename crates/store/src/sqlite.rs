//! The embedded backend: one SQLite file in the data directory, in WAL mode.
//!
//! The writer thread owns the only writing connection, so it keeps accounts cached between commits
//! (the cache cannot go stale) and reads transfers by id with cached prepared statements.
//! Readers use their own connections, which WAL lets run beside the writer.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use xingtong_ledger::{Changes, Keys, PendingState, PendingStatus, Snapshot};

use crate::account_history;
use crate::codec::{
    ACCOUNT_COLUMNS, TRANSFER_COLUMNS, account_from_row, bytes_u128, int_u64, transfer_from_row, u64_int, u128_bytes,
};
use crate::committer::{Backend, IdempotencyRow};
use crate::records::{
    AuditEntry, AuditQuery, Blob, Change, Record, RecordQuery, SettlementLine, TotalsQuery, TotalsRow, TxnColumns,
    TxnQuery, TxnRow,
};
use crate::tables::{Table, TableQuery, Value};
use crate::{ApiKeyRecord, NewApiKey, Reader, StoreError, StoredResponse, now_ns};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "xingtong.sqlite3";

/// Versioned migrations, applied in order, each once, each in its own transaction.
pub(crate) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "ledger and access", include_str!("../migrations/sqlite/0001_ledger.sql")),
    (2, "bulk account index", include_str!("../migrations/sqlite/0002_account_index.sql")),
    (3, "idempotency retention", include_str!("../migrations/sqlite/0003_idempotency_retention.sql")),
    (4, "domain records", include_str!("../migrations/sqlite/0004_domain_records.sql")),
    (5, "counters", include_str!("../migrations/sqlite/0005_counters.sql")),
    (6, "records as a rowid table", include_str!("../migrations/sqlite/0006_records_rowid.sql")),
    (7, "unlisted records", include_str!("../migrations/sqlite/0007_unlisted_records.sql")),
    (8, "typed transactions", include_str!("../migrations/sqlite/0008_transactions.sql")),
    (9, "typed domain tables", include_str!("../migrations/sqlite/0009_domain_tables.sql")),
    (10, "transaction totals", include_str!("../migrations/sqlite/0010_txn_totals.sql")),
    (11, "audit search", include_str!("../migrations/sqlite/0011_audit_search.sql")),
    (12, "transaction hours", include_str!("../migrations/sqlite/0012_txn_hours.sql")),
];

/// What [`open`] returns.
pub(crate) struct Opened {
    pub writer: SqliteWriter,
    pub readers: Vec<Box<dyn Reader>>,
    pub admin_key: Option<NewApiKey>,
}

fn connect(path: &Path, fsync: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // WAL lets readers run beside the writer; FULL fsyncs the WAL at every commit, so an
    // acknowledged write survives power loss, not only a killed process.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // When a checkpoint lets the WAL start over, SQLite truncates a WAL larger than this. At a
    // 64 MiB limit that truncation (the file system freeing tens of megabytes) stalled the writer
    // for ~100 ms every few seconds under load: half-peak p99 of card sales 88 ms, 9 ms without.
    // The WAL may keep up to this much disk after a burst.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Opens the data directory's database, migrating and bootstrapping it as needed.
pub(crate) fn open(data_dir: &Path, readers: usize, fsync: bool) -> Result<Opened, StoreError> {
    // Before anything touches the database: one writer per data directory (lock.rs says why).
    let lock = crate::lock::DataDirLock::acquire(data_dir)?;
    let path = data_dir.join(DATABASE_FILE);
    let mut conn = connect(&path, fsync)?;
    migrate(&mut conn)?;
    let admin_key = bootstrap(&mut conn)?;
    let last_timestamp: i64 = conn.query_row(
        "SELECT max(coalesce((SELECT max(timestamp) FROM transfers), 0), coalesce((SELECT max(timestamp) FROM accounts), 0))",
        [],
        |row| row.get(0),
    )?;
    let ids_above = highest_transfer_id(&conn)?;
    let database_id = account_history::database_id(&conn)?;
    let readers = (0..readers)
        .map(|_| {
            let conn = connect(&path, fsync)?;
            conn.pragma_update(None, "query_only", true)?;
            let index = account_history::open_index(data_dir, &database_id)?;
            Ok(Box::new(SqliteReader { conn, index }) as Box<dyn Reader>)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // Checkpoints copy the WAL back into the database file. Run inside a commit they cost the
    // writer up to half its throughput (measured: batches of 100, 13.8k → 23.5k transfers/s), so a
    // thread of its own runs them, and the writer's own automatic checkpoint is only a backstop.
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    let stop = Arc::new(AtomicBool::new(false));
    let checkpointer = connect(&path, fsync)?;
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("xingtong-sqlite-checkpoint".into())
        .spawn(move || checkpoint_loop(checkpointer, flag))?;
    let writer = SqliteWriter {
        conn,
        last_timestamp: int_u64(last_timestamp),
        ids_above,
        ids_above_pending: ids_above,
        totals: std::collections::HashMap::new(),
        hours: std::collections::HashMap::new(),
        background_stop: Arc::clone(&stop),
        _lock: lock,
    };
    account_history::spawn_indexer(connect(&path, fsync)?, account_history::open_index(data_dir, &database_id)?, stop)?;
    Ok(Opened { writer, readers, admin_key })
}

/// The WAL is truncated back to this size when it starts over (1 GiB).
const WAL_SIZE_LIMIT_BYTES: i64 = 1 << 30;
/// The writer checkpoints by itself only past this many WAL pages (4 KiB each: 256 MiB).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 65_536;
/// How often the checkpoint thread runs.
const CHECKPOINT_INTERVAL_MS: u64 = 200;

/// Past this many WAL frames (4 KiB each: 64 MiB) the checkpoint thread makes the WAL start over.
const WAL_RESTART_FRAMES: i64 = 16_384;
/// ... but only when a PASSIVE pass left at most this many frames to copy under the writer lock.
const WAL_RESTART_REMAINING_MAX: i64 = 4_096;
/// The longest a RESTART checkpoint waits for the writer and for readers (holding new writers off).
const WAL_RESTART_WAIT_MS: u64 = 10;
/// How long a connection waits for a lock before it reports busy.
const BUSY_TIMEOUT_MS: u64 = 5_000;

fn checkpoint_loop(conn: Connection, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(CHECKPOINT_INTERVAL_MS));
        if let Err(error) = checkpoint(&conn) {
            tracing::warn!(%error, "sqlite checkpoint failed");
        }
    }
}

/// A PASSIVE checkpoint (never blocks the writer). Under steady load it never finishes the WAL
/// (new frames keep coming), and the WAL only starts over after one that did: it grew to the
/// writer's 256 MiB backstop, whose checkpoint then ran inside a commit. So once the WAL is past
/// [`WAL_RESTART_FRAMES`] and a PASSIVE pass has copied all but a few frames, a RESTART copies
/// those under the writer lock and lets the next commit start the WAL over.
fn checkpoint(conn: &Connection) -> Result<(), rusqlite::Error> {
    let passive = |mode: &str| -> Result<(i64, i64), rusqlite::Error> {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| Ok((r.get(1)?, r.get(2)?)))
    };
    let (frames, copied) = passive("PASSIVE")?;
    if frames > WAL_RESTART_FRAMES && frames - copied <= WAL_RESTART_REMAINING_MAX {
        let started = std::time::Instant::now();
        // RESTART holds new writers off while it waits for the writer of the moment and for readers
        // of older snapshots: waiting is bounded to a few milliseconds, and if that is not enough
        // it gives up (reporting busy) and tries again at the next pass.
        conn.busy_timeout(std::time::Duration::from_millis(WAL_RESTART_WAIT_MS))?;
        let restarted = passive("RESTART");
        conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
        match restarted {
            // Not now: the next pass tries again.
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy => return Ok(()),
            other => other?,
        };
        metrics::histogram!("xingtong_sqlite_wal_restart_seconds").record(started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    for &(version, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let applied: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| {
                r.get(0)
            })?;
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, u64_int(now_ns())],
            )?;
            tracing::info!(version, name, "sqlite migration applied");
        }
        tx.commit()?;
    }
    Ok(())
}

/// On a database with no API key at all, makes the operations admin key.
fn bootstrap(conn: &mut Connection) -> Result<Option<NewApiKey>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let any: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM api_keys)", [], |r| r.get(0))?;
    if any {
        return Ok(None);
    }
    let key = NewApiKey::generate("admin", "operations admin (created at first start)", now_ns());
    insert_api_key(&tx, &key.record)?;
    tx.commit()?;
    Ok(Some(key))
}

fn insert_api_key(conn: &Connection, record: &ApiKeyRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO api_keys (id, secret_sha256, role, label, created_at, revoked_at, owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        record.id,
        record.secret_sha256,
        record.role,
        record.label,
        u64_int(record.created_at),
        record.revoked_at.map(u64_int),
        record.owner,
    ])?;
    Ok(())
}

/// The highest transfer id stored, as a transfer or as a failed one (0 when there is none).
fn highest_transfer_id(conn: &Connection) -> Result<u128, StoreError> {
    let highest = |table: &str| -> Result<u128, StoreError> {
        let id: Option<Vec<u8>> = conn.query_row(&format!("SELECT max(id) FROM {table}"), [], |r| r.get(0))?;
        id.map_or(Ok(0), |bytes| bytes_u128(&bytes))
    };
    Ok(highest("transfers")?.max(highest("failed_transfers")?))
}

/// The writing connection, owned by the writer thread.
pub(crate) struct SqliteWriter {
    conn: Connection,
    last_timestamp: u64,
    /// No transfer id above this is stored (as a transfer or a failed one), so a new id above it
    /// needs no lookup. The payments core makes time-ordered ids (`payments/src/ids.rs`): nearly
    /// every transfer of a sale skips the three lookups that would otherwise prove it new. An id
    /// from elsewhere only raises the mark (a client that picks `u128::MAX` costs lookups, never
    /// correctness).
    ids_above: u128,
    /// The same after the open transaction, made `ids_above` when it commits.
    ids_above_pending: u128,
    /// The open transaction's changes to `txn_totals`, by bucket (count, amount, fee): a group's
    /// sales mostly share a few buckets, so they are written once, at commit, not once a sale.
    totals: std::collections::HashMap<[String; 8], [i64; 3]>,
    /// The same for `txn_hours`: (merchant, business day, hour) → (count, amount).
    hours: std::collections::HashMap<(String, String, i64), [i64; 2]>,
    /// Tells the checkpoint and history threads to stop when the writer goes.
    background_stop: Arc<AtomicBool>,
    /// The data directory's lock: held for as long as this, the only writer, lives.
    _lock: crate::lock::DataDirLock,
}

impl Drop for SqliteWriter {
    fn drop(&mut self) {
        self.background_stop.store(true, Ordering::Relaxed);
    }
}

impl Backend for SqliteWriter {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn caches_accounts(&self) -> bool {
        true
    }

    fn begin(&mut self) -> Result<u64, StoreError> {
        self.totals.clear();
        self.hours.clear();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(self.last_timestamp)
    }

    fn idempotency(&mut self, scope: &str, key: &str) -> Result<Option<IdempotencyRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT request_sha256, status, body, created_at FROM idempotency_keys WHERE scope = ?1 AND key = ?2",
        )?;
        let row = statement
            .query_row(params![scope, key], |r| {
                Ok(IdempotencyRow {
                    scope: scope.to_owned(),
                    key: key.to_owned(),
                    request_sha256: r.get(0)?,
                    response: StoredResponse { status: r.get(1)?, body: r.get(2)? },
                    created_at: int_u64(r.get(3)?),
                })
            })
            .optional()?;
        Ok(row)
    }

    fn load(&mut self, snapshot: &mut Snapshot, keys: &Keys) -> Result<(), StoreError> {
        let mut accounts =
            self.conn.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))?;
        for id in &keys.accounts {
            if snapshot.accounts.contains_key(id) {
                continue;
            }
            let mut rows = accounts.query([&u128_bytes(*id)[..]])?;
            if let Some(row) = rows.next()? {
                let account = account_from_row(row)?;
                snapshot.accounts.insert(account.id, account);
            }
        }
        let mut transfers =
            self.conn.prepare_cached(&format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?1"))?;
        let mut pending = self.conn.prepare_cached("SELECT state, expires_at FROM pending_transfers WHERE id = ?1")?;
        let mut failed = self.conn.prepare_cached("SELECT result FROM failed_transfers WHERE id = ?1")?;
        for id in &keys.transfers {
            if *id > self.ids_above {
                continue;
            }
            let key = u128_bytes(*id);
            let mut rows = transfers.query([&key[..]])?;
            if let Some(row) = rows.next()? {
                let transfer = transfer_from_row(row)?;
                snapshot.transfers.insert(transfer.id, transfer);
                let status =
                    pending.query_row([&key[..]], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).optional()?;
                if let Some((state, expires_at)) = status {
                    snapshot.pending.insert(*id, pending_status(state, expires_at)?);
                }
                continue;
            }
            let result: Option<String> = failed.query_row([&key[..]], |r| r.get(0)).optional()?;
            if let Some(result) = result {
                let result = xingtong_ledger::CreateTransferResult::from_name(&result)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown failure {result:?}")))?;
                snapshot.failed.insert(*id, result);
            }
        }
        Ok(())
    }

    fn due_pending(&mut self, now_ns: u64, limit: usize) -> Result<Vec<u128>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT id FROM pending_transfers WHERE state = 1 AND expires_at <> 0 AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
        )?;
        let ids = statement
            .query_map(params![u64_int(now_ns), limit as i64], |r| r.get::<_, Vec<u8>>(0))?
            .map(|bytes| bytes.map_err(StoreError::from).and_then(|b| bytes_u128(&b)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ids)
    }

    fn write(
        &mut self,
        snapshot: &Snapshot,
        changes: &Changes,
        idempotency: &[IdempotencyRow],
    ) -> Result<(), StoreError> {
        let written = changes.transfers.iter().map(|t| t.id).chain(changes.failed.iter().map(|(id, _)| *id));
        self.ids_above_pending = written.fold(self.ids_above_pending, u128::max);
        write_rows(&self.conn, snapshot, changes, idempotency)
    }

    fn insert_api_key(&mut self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        insert_api_key(&self.conn, record)
    }

    fn purge_idempotency(&mut self, before_ns: u64, limit: usize) -> Result<usize, StoreError> {
        let deleted = self
            .conn
            .prepare_cached(
                "DELETE FROM idempotency_keys WHERE (scope, key) IN \
                 (SELECT scope, key FROM idempotency_keys WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)",
            )?
            .execute(params![u64_int(before_ns), limit as i64])?;
        Ok(deleted)
    }

    fn purge_counters(&mut self, from: &str, below: &str, limit: usize) -> Result<usize, StoreError> {
        let deleted = self
            .conn
            .prepare_cached(
                "DELETE FROM counters WHERE key IN \
                 (SELECT key FROM counters WHERE key >= ?1 AND key < ?2 ORDER BY key LIMIT ?3)",
            )?
            .execute(params![from, below, limit as i64])?;
        Ok(deleted)
    }

    fn record_version(&mut self, kind: &str, id: &str) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> = self
            .conn
            .prepare_cached("SELECT version FROM records WHERE kind = ?1 AND id = ?2")?
            .query_row(params![kind, id], |r| r.get(0))
            .optional()?;
        Ok(version.map(int_u64))
    }

    fn txn_version(&mut self, kind: &str, id: &str) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> = self
            .conn
            .prepare_cached("SELECT version FROM transactions WHERE id = ?1 AND kind = ?2")?
            .query_row(params![id, kind], |r| r.get(0))
            .optional()?;
        Ok(version.map(int_u64))
    }

    fn table_version(&mut self, table: Table, kind: &str, id: &str) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> = self
            .conn
            .prepare_cached(&format!("SELECT version FROM {} WHERE id = ?1 AND kind = ?2", table.name()))?
            .query_row(params![id, kind], |r| r.get(0))
            .optional()?;
        Ok(version.map(int_u64))
    }

    fn key_holder(&mut self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        let id = self
            .conn
            .prepare_cached("SELECT id FROM record_keys WHERE kind = ?1 AND key = ?2")?
            .query_row(params![kind, key], |r| r.get(0))
            .optional()?;
        Ok(id)
    }

    fn write_change(&mut self, change: &Change, now_ns: u64) -> Result<(), StoreError> {
        let conn = &self.conn;
        let totals = &mut self.totals;
        let hours = &mut self.hours;
        // A transaction's bucket of `txn_totals` (see its migration): added to, or taken from;
        // and, an approved sale or completion, its hour of `txn_hours`.
        let mut add_total = |key: [String; 8], at: i64, sign: i64, amount: i64, fee: i64| {
            if crate::records::counts_in_hours(&key[6], &key[7]) {
                let sums =
                    hours.entry((key[0].clone(), key[1].clone(), crate::records::china_hour(at))).or_insert([0; 2]);
                sums[0] += sign;
                sums[1] += sign * amount;
            }
            let sums = totals.entry(key).or_insert([0; 3]);
            sums[0] += sign;
            sums[1] += sign * amount;
            sums[2] += sign * fee;
        };
        let mut put = conn.prepare_cached(
            "INSERT INTO records (kind, id, owner, status, version, created_at, updated_at, due_at, body, listed) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (kind, id) DO UPDATE SET owner = excluded.owner, status = excluded.status, \
             version = excluded.version, updated_at = excluded.updated_at, due_at = excluded.due_at, \
             body = excluded.body, listed = excluded.listed",
        )?;
        let mut put_txn = conn.prepare_cached(&format!(
            "INSERT INTO transactions ({TXN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
             ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24) \
             ON CONFLICT (id, merchant_id) DO UPDATE SET status = excluded.status, version = excluded.version, \
             updated_at = excluded.updated_at, txn_type = excluded.txn_type, amount_minor = excluded.amount_minor, \
             fee_minor = excluded.fee_minor, refunded_minor = excluded.refunded_minor, \
             fee_refunded_minor = excluded.fee_refunded_minor, response_code = excluded.response_code, \
             original_id = excluded.original_id, body = excluded.body, operator = excluded.operator, \
             business_type = excluded.business_type"
        ))?;
        let mut old_bucket = conn.prepare_cached(
            "SELECT merchant_id, business_day, terminal_id, operator, method, business_type, txn_type, status, \
             amount_minor, fee_minor, at FROM transactions WHERE id = ?1 AND merchant_id = ?2",
        )?;
        for p in &change.puts {
            let r = &p.record;
            let created_at = if r.created_at == 0 { now_ns } else { r.created_at };
            if let Some(t) = &p.txn {
                // An update moves the transaction out of its old bucket (the committer checked
                // `expected`: without it the row is new).
                if p.expected.is_some() {
                    let old = old_bucket
                        .query_row(params![r.id, r.owner], |row| {
                            Ok((
                                [
                                    row.get::<_, String>(0)?,
                                    row.get(1)?,
                                    row.get(2)?,
                                    row.get(3)?,
                                    row.get(4)?,
                                    row.get(5)?,
                                    row.get(6)?,
                                    row.get(7)?,
                                ],
                                row.get::<_, i64>(8)?,
                                row.get::<_, i64>(9)?,
                                row.get::<_, i64>(10)?,
                            ))
                        })
                        .optional()?;
                    if let Some((key, amount, fee, at)) = old {
                        add_total(key, at, -1, amount, fee);
                    }
                }
                add_total(
                    [
                        r.owner.clone(),
                        t.business_day.clone(),
                        t.terminal_id.clone(),
                        t.operator.clone(),
                        t.method.clone(),
                        t.business_type.clone(),
                        t.txn_type.clone(),
                        r.status.clone(),
                    ],
                    u64_int(t.at),
                    1,
                    t.amount_minor,
                    t.fee_minor,
                );
                put_txn.execute(params![
                    r.owner,
                    r.id,
                    r.kind,
                    r.status,
                    u64_int(p.expected.unwrap_or(0) + 1),
                    u64_int(created_at),
                    u64_int(now_ns),
                    t.method,
                    t.txn_type,
                    t.terminal_id,
                    t.batch,
                    t.stan,
                    t.business_day,
                    t.amount_minor,
                    t.fee_minor,
                    t.refunded_minor,
                    t.fee_refunded_minor,
                    t.response_code,
                    t.original_id,
                    t.channel,
                    u64_int(t.at),
                    r.body,
                    t.operator,
                    t.business_type,
                ])?;
                continue;
            }
            if let Some(typed) = &p.typed {
                let mut values: Vec<rusqlite::types::Value> =
                    crate::tables::row_values(p, typed, created_at, now_ns).iter().map(sql_value).collect();
                values.push(r.body.clone().into());
                conn.prepare_cached(&crate::tables::upsert_sql(typed.table, question))?
                    .execute(rusqlite::params_from_iter(values))?;
                continue;
            }
            put.execute(params![
                r.kind,
                r.id,
                r.owner,
                r.status,
                u64_int(p.expected.unwrap_or(0) + 1),
                u64_int(created_at),
                u64_int(now_ns),
                r.due_at.map(u64_int),
                r.body,
                p.listed,
            ])?;
        }
        if !change.settlement_lines.is_empty() {
            let mut line = conn.prepare_cached(
                "INSERT INTO settlement_lines (merchant_id, settlement_id, seq, txn_id, txn_type, business_day, \
                 amount_minor, fee_minor, surcharge_minor, net_minor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for l in &change.settlement_lines {
                line.execute(params![
                    l.merchant_id,
                    l.settlement_id,
                    l.seq,
                    l.txn_id,
                    l.txn_type,
                    l.business_day,
                    l.amount_minor,
                    l.fee_minor,
                    l.surcharge_minor,
                    l.net_minor
                ])?;
            }
        }
        let mut remove = conn.prepare_cached("DELETE FROM records WHERE kind = ?1 AND id = ?2")?;
        for (kind, id) in &change.remove_records {
            remove.execute(params![kind, id])?;
        }
        let mut claim = conn.prepare_cached(
            "INSERT INTO record_keys (kind, key, id) VALUES (?1, ?2, ?3) ON CONFLICT (kind, key) DO NOTHING",
        )?;
        for k in &change.claim_keys {
            claim.execute(params![k.kind, k.key, k.id])?;
        }
        let mut release = conn.prepare_cached("DELETE FROM record_keys WHERE kind = ?1 AND key = ?2")?;
        for (kind, key) in &change.release_keys {
            release.execute(params![kind, key])?;
        }
        let mut blob = conn.prepare_cached(
            "INSERT INTO blobs (sha256, content_type, size, bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (sha256) DO NOTHING",
        )?;
        for b in &change.blobs {
            blob.execute(params![&b.sha256[..], b.content_type, b.bytes.len() as i64, b.bytes, u64_int(now_ns)])?;
        }
        let mut audit = conn.prepare_cached(
            "INSERT INTO audit_log (at, actor, action, subject_kind, subject_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for a in &change.audit {
            let at = if a.at == 0 { now_ns } else { a.at };
            audit.execute(params![u64_int(at), a.actor, a.action, a.subject_kind, a.subject_id, a.detail])?;
        }
        for key in &change.api_keys {
            insert_api_key(conn, key)?;
        }
        let mut revoke = conn.prepare_cached(
            "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND owner = ?2 AND revoked_at IS NULL",
        )?;
        for (id, owner) in &change.revoke_api_keys {
            revoke.execute(params![id, owner, u64_int(now_ns)])?;
        }
        Ok(())
    }

    fn counter(&mut self, key: &str) -> Result<i64, StoreError> {
        read_counter(&self.conn, key)
    }

    fn set_counters(&mut self, values: &[(String, i64)]) -> Result<(), StoreError> {
        let mut statement = self.conn.prepare_cached(
            "INSERT INTO counters (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?;
        for (key, value) in values {
            statement.execute(params![key, value])?;
        }
        Ok(())
    }

    fn commit(&mut self, last_timestamp: u64) -> Result<(), StoreError> {
        if !self.totals.is_empty() {
            let mut add = self.conn.prepare_cached(&format!(
                "INSERT INTO txn_totals ({TOTALS_KEY}, count, amount_minor, fee_minor) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT ({TOTALS_KEY}) DO UPDATE SET count = count + excluded.count, \
                 amount_minor = amount_minor + excluded.amount_minor, fee_minor = fee_minor + excluded.fee_minor"
            ))?;
            for (k, [count, amount, fee]) in self.totals.drain() {
                if count != 0 || amount != 0 || fee != 0 {
                    add.execute(params![k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], count, amount, fee])?;
                }
            }
        }
        if !self.hours.is_empty() {
            let mut add = self.conn.prepare_cached(
                "INSERT INTO txn_hours (merchant_id, business_day, hour, count, amount_minor) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (merchant_id, business_day, hour) DO UPDATE SET count = count + excluded.count, \
                 amount_minor = amount_minor + excluded.amount_minor",
            )?;
            for ((merchant, day, hour), [count, amount]) in self.hours.drain() {
                if count != 0 || amount != 0 {
                    add.execute(params![merchant, day, hour, count, amount])?;
                }
            }
        }
        self.conn.execute_batch("COMMIT")?;
        self.last_timestamp = last_timestamp;
        self.ids_above = self.ids_above_pending;
        Ok(())
    }

    fn rollback(&mut self) {
        self.ids_above_pending = self.ids_above;
        self.totals.clear();
        self.hours.clear();
        if let Err(error) = self.conn.execute_batch("ROLLBACK") {
            // Not in a transaction (begin failed) is the usual reason; nothing to undo then.
            tracing::debug!(%error, "sqlite rollback");
        }
    }
}

/// Writes a commit's rows with cached prepared statements.
fn write_rows(
    conn: &Connection,
    snapshot: &Snapshot,
    changes: &Changes,
    idempotency: &[IdempotencyRow],
) -> Result<(), StoreError> {
    {
        let mut insert_account = conn.prepare_cached(&format!(
            "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
        ))?;
        for id in &changes.accounts_created {
            let a = &snapshot.accounts[id];
            insert_account.execute(params![
                &u128_bytes(a.id)[..],
                &u128_bytes(a.debits_pending)[..],
                &u128_bytes(a.debits_posted)[..],
                &u128_bytes(a.credits_pending)[..],
                &u128_bytes(a.credits_posted)[..],
                &u128_bytes(a.user_data_128)[..],
                u64_int(a.user_data_64),
                a.user_data_32,
                a.ledger,
                a.code,
                a.flags.0,
                u64_int(a.timestamp),
            ])?;
        }
        let mut update_account = conn.prepare_cached(
            "UPDATE accounts SET debits_pending = ?2, debits_posted = ?3, credits_pending = ?4, credits_posted = ?5 WHERE id = ?1",
        )?;
        for id in changes.accounts_to_update() {
            let a = &snapshot.accounts[&id];
            let updated = update_account.execute(params![
                &u128_bytes(a.id)[..],
                &u128_bytes(a.debits_pending)[..],
                &u128_bytes(a.debits_posted)[..],
                &u128_bytes(a.credits_pending)[..],
                &u128_bytes(a.credits_posted)[..],
            ])?;
            // Pair assertion: the row we update is the row we read.
            assert_eq!(updated, 1, "updated account must exist");
        }
        let mut insert_transfer = conn.prepare_cached(&format!(
            "INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        ))?;
        for t in &changes.transfers {
            insert_transfer.execute(params![
                &u128_bytes(t.id)[..],
                &u128_bytes(t.debit_account_id)[..],
                &u128_bytes(t.credit_account_id)[..],
                &u128_bytes(t.amount)[..],
                &u128_bytes(t.pending_id)[..],
                &u128_bytes(t.user_data_128)[..],
                u64_int(t.user_data_64),
                t.user_data_32,
                t.timeout,
                t.ledger,
                t.code,
                t.flags.0,
                u64_int(t.timestamp),
            ])?;
        }
        let mut upsert_pending = conn.prepare_cached(
            "INSERT INTO pending_transfers (id, state, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET state = excluded.state",
        )?;
        for (id, status) in changes.pending_final() {
            upsert_pending.execute(params![&u128_bytes(id)[..], status.state.code(), u64_int(status.expires_at)])?;
        }
        let mut insert_failed = conn.prepare_cached("INSERT INTO failed_transfers (id, result) VALUES (?1, ?2)")?;
        for (id, result) in &changes.failed {
            insert_failed.execute(params![&u128_bytes(*id)[..], result.as_str()])?;
        }
        let mut insert_key = conn.prepare_cached(
            "INSERT INTO idempotency_keys (scope, key, request_sha256, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for row in idempotency {
            insert_key.execute(params![
                row.scope,
                row.key,
                row.request_sha256,
                row.response.status,
                row.response.body,
                u64_int(row.created_at)
            ])?;
        }
    }
    Ok(())
}

pub(crate) fn pending_status(state: i64, expires_at: i64) -> Result<PendingStatus, StoreError> {
    let state = u8::try_from(state)
        .ok()
        .and_then(PendingState::from_code)
        .ok_or_else(|| StoreError::Corrupt(format!("pending state {state}")))?;
    Ok(PendingStatus { state, expires_at: int_u64(expires_at) })
}

/// A counter's value on a connection (0 when it was never moved).
fn read_counter(conn: &Connection, key: &str) -> Result<i64, StoreError> {
    let value: Option<i64> =
        conn.prepare_cached("SELECT value FROM counters WHERE key = ?1")?.query_row([key], |r| r.get(0)).optional()?;
    Ok(value.unwrap_or(0))
}

const API_KEY_COLUMNS: &str = "id, secret_sha256, role, label, created_at, revoked_at, owner";
const RECORD_COLUMNS: &str = "kind, id, owner, status, version, created_at, updated_at, due_at, body";
use crate::postgres::{LINE_COLUMNS, TOTALS_KEY, TXN_COLUMNS};

/// Transactions matching `query` straight from the table (after `after_rowid`, when given: the
/// tail the merchant-day index has not covered yet).
pub(crate) fn select_transactions(
    conn: &Connection,
    query: &TxnQuery,
    after_rowid: Option<i64>,
) -> Result<Vec<TxnRow>, StoreError> {
    let mut sql = format!("SELECT {TXN_COLUMNS} FROM transactions WHERE 1 = 1");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(rowid) = after_rowid {
        values.push(rowid.into());
        sql.push_str(&format!(" AND rowid > ?{}", values.len()));
    }
    let mut add = |sql: &mut String, clause: &str, value: rusqlite::types::Value| {
        values.push(value);
        sql.push_str(&clause.replace('?', &format!("?{}", values.len())));
    };
    if let Some(merchant) = &query.merchant {
        add(&mut sql, " AND merchant_id = ?", merchant.clone().into());
    }
    if let Some(terminal) = &query.terminal {
        add(&mut sql, " AND terminal_id = ?", terminal.clone().into());
        // A transaction's id starts `<terminal>-<batch>-` (see `TxnColumns`): the id index
        // finds a terminal's transactions as one range, with no index of their own to keep
        // up on every sale.
        let (low, high) = crate::postgres::txn_id_range(&match query.batch {
            Some(batch) => format!("{terminal}-{batch:06}-"),
            None => format!("{terminal}-"),
        });
        add(&mut sql, " AND id >= ?", low.into());
        add(&mut sql, " AND id < ?", high.into());
    }
    if let Some(batch) = query.batch {
        add(&mut sql, " AND batch = ?", i64::from(batch).into());
    }
    if let Some(day) = &query.day_from {
        add(&mut sql, " AND business_day >= ?", day.clone().into());
    }
    if let Some(day) = &query.day_to {
        add(&mut sql, " AND business_day <= ?", day.clone().into());
    }
    status_in(&mut sql, &mut values, &query.statuses);
    for (column, wanted) in [
        ("method", &query.methods),
        ("operator", &query.operators),
        ("business_type", &query.business_types),
        ("txn_type", &query.types),
    ] {
        if !wanted.is_empty() {
            let mut marks = Vec::new();
            for value in wanted {
                values.push(value.clone().into());
                marks.push(format!("?{}", values.len()));
            }
            sql.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
        }
    }
    if let Some((day, id)) = &query.after {
        values.push(day.clone().into());
        values.push(id.clone().into());
        let n = values.len();
        sql.push_str(&format!(" AND (business_day > ?{} OR (business_day = ?{} AND id > ?{n}))", n - 1, n - 1));
    }
    values.push(i64::from(query.limit).into());
    sql.push_str(&format!(" ORDER BY business_day, id LIMIT ?{}", values.len()));
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(rusqlite::params_from_iter(values), txn_from_row)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A merchant's non-empty buckets over business days, in key order.
fn select_totals(conn: &Connection, query: &TotalsQuery) -> Result<Vec<TotalsRow>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT business_day, terminal_id, operator, method, business_type, txn_type, status, count, amount_minor, \
         fee_minor FROM txn_totals WHERE merchant_id = ?1 AND business_day >= ?2 AND business_day <= ?3 AND count <> 0 \
         ORDER BY business_day, terminal_id, operator, method, business_type, txn_type, status",
    )?;
    let rows = statement.query_map(params![query.merchant, query.day_from, query.day_to], |r| {
        Ok(TotalsRow {
            business_day: r.get(0)?,
            terminal_id: r.get(1)?,
            operator: r.get(2)?,
            method: r.get(3)?,
            business_type: r.get(4)?,
            txn_type: r.get(5)?,
            status: r.get(6)?,
            count: r.get(7)?,
            amount_minor: r.get(8)?,
            fee_minor: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// ` AND status IN (?n, …)` for `statuses`, their values bound after those already in `values`.
fn status_in(sql: &mut String, values: &mut Vec<rusqlite::types::Value>, statuses: &[String]) {
    if statuses.is_empty() {
        return;
    }
    let mut marks = Vec::new();
    for status in statuses {
        values.push(status.clone().into());
        marks.push(format!("?{}", values.len()));
    }
    sql.push_str(&format!(" AND status IN ({})", marks.join(", ")));
}

pub(crate) fn txn_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TxnRow> {
    let columns = TxnColumns {
        method: r.get(7)?,
        txn_type: r.get(8)?,
        terminal_id: r.get(9)?,
        batch: r.get(10)?,
        stan: r.get(11)?,
        business_day: r.get(12)?,
        amount_minor: r.get(13)?,
        fee_minor: r.get(14)?,
        refunded_minor: r.get(15)?,
        fee_refunded_minor: r.get(16)?,
        response_code: r.get(17)?,
        original_id: r.get(18)?,
        channel: r.get(19)?,
        at: int_u64(r.get(20)?),
        operator: r.get(22)?,
        business_type: r.get(23)?,
    };
    let record = Record {
        owner: r.get(0)?,
        id: r.get(1)?,
        kind: r.get(2)?,
        status: r.get(3)?,
        version: int_u64(r.get(4)?),
        created_at: int_u64(r.get(5)?),
        updated_at: int_u64(r.get(6)?),
        due_at: None,
        body: r.get(21)?,
    };
    Ok(TxnRow { columns, record })
}

fn api_key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        secret_sha256: r.get(1)?,
        role: r.get(2)?,
        label: r.get(3)?,
        created_at: int_u64(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(int_u64),
        owner: r.get(6)?,
    })
}

/// SQLite's numbered placeholder.
fn question(n: usize) -> String {
    format!("?{n}")
}

fn sql_value(value: &Value) -> rusqlite::types::Value {
    match value {
        Value::Int(n) => (*n).into(),
        Value::Text(s) => s.clone().into(),
    }
}

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Record> {
    Ok(Record {
        kind: r.get(0)?,
        id: r.get(1)?,
        owner: r.get(2)?,
        status: r.get(3)?,
        version: int_u64(r.get(4)?),
        created_at: int_u64(r.get(5)?),
        updated_at: int_u64(r.get(6)?),
        due_at: r.get::<_, Option<i64>>(7)?.map(int_u64),
        body: r.get(8)?,
    })
}

/// A stored blob, its hash checked against its bytes' length and shape.
pub(crate) fn blob_from_parts(sha256: &[u8], content_type: String, bytes: Vec<u8>) -> Result<Blob, StoreError> {
    let sha256: [u8; 32] =
        sha256.try_into().map_err(|_| StoreError::Corrupt(format!("blob hash of {} bytes", sha256.len())))?;
    Ok(Blob { sha256, content_type, bytes })
}

/// A read-only connection.
struct SqliteReader {
    conn: Connection,
    /// The account history index (`account_history`).
    index: Connection,
}

impl Reader for SqliteReader {
    fn accounts(&mut self, ids: &[u128]) -> Result<Vec<crate::Account>, StoreError> {
        let mut statement =
            self.conn.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut rows = statement.query([&u128_bytes(*id)[..]])?;
            if let Some(row) = rows.next()? {
                out.push(account_from_row(row)?);
            }
        }
        Ok(out)
    }

    fn transfers(&mut self, ids: &[u128]) -> Result<Vec<crate::Transfer>, StoreError> {
        let mut statement =
            self.conn.prepare_cached(&format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?1"))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut rows = statement.query([&u128_bytes(*id)[..]])?;
            if let Some(row) = rows.next()? {
                out.push(transfer_from_row(row)?);
            }
        }
        Ok(out)
    }

    fn account_transfers(
        &mut self,
        account: u128,
        after_timestamp: u64,
        limit: u32,
    ) -> Result<Vec<crate::Transfer>, StoreError> {
        account_history::account_transfers(&mut self.conn, &mut self.index, account, after_timestamp, limit)
    }

    fn api_key(&mut self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let mut statement =
            self.conn.prepare_cached(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?1"))?;
        Ok(statement.query_row([id], api_key_from_row).optional()?)
    }

    fn counter(&mut self, key: &str) -> Result<i64, StoreError> {
        read_counter(&self.conn, key)
    }

    fn api_keys_of(&mut self, owner: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut statement = self
            .conn
            .prepare_cached(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE owner = ?1 ORDER BY created_at"))?;
        let keys = statement.query_map([owner], api_key_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(keys)
    }

    fn record(&mut self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let mut statement =
            self.conn.prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM records WHERE kind = ?1 AND id = ?2"))?;
        Ok(statement.query_row(params![kind, id], record_from_row).optional()?)
    }

    fn transaction(&mut self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let mut statement =
            self.conn.prepare_cached(&format!("SELECT {TXN_COLUMNS} FROM transactions WHERE id = ?1 AND kind = ?2"))?;
        Ok(statement.query_row(params![id, kind], txn_from_row).optional()?.map(|t| t.record))
    }

    fn transactions(&mut self, query: &TxnQuery) -> Result<Vec<TxnRow>, StoreError> {
        // A merchant's transactions (by day): through the merchant-day index kept off the
        // commit path; a terminal's batch: a range of the id index; anything else: a scan.
        if query.merchant.is_some() && query.terminal.is_none() {
            return crate::txn_index::merchant_transactions(
                &mut self.conn,
                &mut self.index,
                query,
                |conn, id, merchant| {
                    let mut statement = conn.prepare_cached(&format!(
                        "SELECT {TXN_COLUMNS} FROM transactions WHERE id = ?1 AND merchant_id = ?2"
                    ))?;
                    Ok(statement.query_row(params![id, merchant], txn_from_row).optional()?)
                },
                |conn, through, query| select_transactions(conn, query, Some(through)),
            );
        }
        select_transactions(&self.conn, query, None)
    }

    fn txn_totals(&mut self, query: &TotalsQuery) -> Result<Vec<TotalsRow>, StoreError> {
        select_totals(&self.conn, query)
    }

    fn txn_hours(&mut self, query: &TotalsQuery) -> Result<Vec<crate::records::HourRow>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT hour, sum(count), sum(amount_minor) FROM txn_hours WHERE merchant_id = ?1 AND business_day >= ?2 \
             AND business_day <= ?3 GROUP BY hour HAVING sum(count) <> 0 ORDER BY hour",
        )?;
        let rows = statement.query_map(params![query.merchant, query.day_from, query.day_to], |r| {
            Ok(crate::records::HourRow {
                hour: u8::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                count: r.get(1)?,
                amount_minor: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn table_record(&mut self, table: Table, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {} FROM {} WHERE id = ?1 AND kind = ?2",
            crate::tables::record_columns("NULL"),
            table.name()
        ))?;
        Ok(statement.query_row(params![id, kind], record_from_row).optional()?)
    }

    fn table_records(&mut self, query: &TableQuery) -> Result<Vec<Record>, StoreError> {
        let (sql, values) = crate::tables::select_sql(query, "NULL", question)?;
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(rusqlite::params_from_iter(values.iter().map(sql_value)), record_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn settlement_lines(
        &mut self,
        merchant: &str,
        settlement: &str,
        after_seq: u32,
        limit: u32,
    ) -> Result<Vec<SettlementLine>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {LINE_COLUMNS} FROM settlement_lines WHERE merchant_id = ?1 AND settlement_id = ?2 AND seq > ?3 \
             ORDER BY seq LIMIT ?4"
        ))?;
        let rows = statement.query_map(params![merchant, settlement, after_seq, i64::from(limit)], |r| {
            Ok(SettlementLine {
                merchant_id: r.get(0)?,
                settlement_id: r.get(1)?,
                seq: r.get(2)?,
                txn_id: r.get(3)?,
                txn_type: r.get(4)?,
                business_day: r.get(5)?,
                amount_minor: r.get(6)?,
                fee_minor: r.get(7)?,
                surcharge_minor: r.get(8)?,
                net_minor: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn unlisted_records(&mut self, kind: &str, limit: u32) -> Result<Vec<Record>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE kind = ?1 AND listed = 0 ORDER BY id LIMIT ?2"
        ))?;
        let rows = statement.query_map(params![kind, i64::from(limit)], record_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn record_by_key(&mut self, kind: &str, key: &str) -> Result<Option<Record>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE kind = ?1 AND id = (SELECT id FROM record_keys WHERE kind = ?1 AND key = ?2)"
        ))?;
        Ok(statement.query_row(params![kind, key], record_from_row).optional()?)
    }

    fn records(&mut self, query: &RecordQuery) -> Result<Vec<Record>, StoreError> {
        // `listed = 1` as written in the partial indexes, so that the planner uses them.
        let mut sql = format!("SELECT {RECORD_COLUMNS} FROM records WHERE listed = 1 AND kind = ?1");
        let mut values: Vec<rusqlite::types::Value> = vec![query.kind.clone().into()];
        if let Some(owner) = &query.owner {
            values.push(owner.clone().into());
            sql.push_str(&format!(" AND owner = ?{}", values.len()));
        }
        status_in(&mut sql, &mut values, &query.statuses);
        if let Some((created_at, id)) = &query.after {
            values.push(u64_int(*created_at).into());
            values.push(id.clone().into());
            let cmp = if query.descending { "<" } else { ">" };
            sql.push_str(&format!(" AND (created_at, id) {cmp} (?{}, ?{})", values.len() - 1, values.len()));
        }
        values.push(i64::from(query.limit).into());
        let direction = if query.descending { " DESC" } else { "" };
        sql.push_str(&format!(" ORDER BY created_at{direction}, id{direction} LIMIT ?{}", values.len()));
        let mut statement = self.conn.prepare_cached(&sql)?;
        let records =
            statement.query_map(rusqlite::params_from_iter(values), record_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(records)
    }

    fn due_records(&mut self, kind: &str, status: &str, now_ns: u64, limit: u32) -> Result<Vec<Record>, StoreError> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM records WHERE kind = ?1 AND status = ?2 AND due_at IS NOT NULL AND due_at <= ?3 \
             ORDER BY due_at LIMIT ?4"
        ))?;
        let records = statement
            .query_map(params![kind, status, u64_int(now_ns), i64::from(limit)], record_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(records)
    }

    fn blob(&mut self, sha256: &[u8]) -> Result<Option<Blob>, StoreError> {
        let mut statement = self.conn.prepare_cached("SELECT content_type, bytes FROM blobs WHERE sha256 = ?1")?;
        let row =
            statement.query_row([sha256], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))).optional()?;
        row.map(|(content_type, bytes)| blob_from_parts(sha256, content_type, bytes)).transpose()
    }

    fn audit_log(&mut self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let (sql, texts) = query.sql("seq, at, actor, action, subject_kind, subject_id, detail", '?');
        let mut values: Vec<rusqlite::types::Value> = texts.into_iter().map(rusqlite::types::Value::Text).collect();
        values.push(rusqlite::types::Value::Integer(u64_int(query.seq_bound())));
        values.push(rusqlite::types::Value::Integer(i64::from(query.limit)));
        let entries = self
            .conn
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok(AuditEntry {
                    seq: int_u64(r.get(0)?),
                    at: int_u64(r.get(1)?),
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    subject_kind: r.get(4)?,
                    subject_id: r.get(5)?,
                    detail: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(entries)
    }

    fn scan_accounts(&mut self, visit: &mut dyn FnMut(crate::Account)) -> Result<u64, StoreError> {
        // One read transaction, so that accounts and the count are of one moment.
        let tx = self.conn.transaction()?;
        {
            let mut statement = tx.prepare(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"))?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                visit(account_from_row(row)?);
            }
        }
        let transfers: i64 = tx.query_row("SELECT count(*) FROM transfers", [], |r| r.get(0))?;
        tx.commit()?;
        Ok(int_u64(transfers))
    }

    fn scan_ledger(&mut self) -> Result<crate::LedgerScan, StoreError> {
        let tx = self.conn.transaction()?;
        let mut scan = crate::LedgerScan::default();
        {
            let mut statement = tx.prepare(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"))?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                scan.accounts.push(account_from_row(row)?);
            }
            let mut statement = tx.prepare(&format!("SELECT {TRANSFER_COLUMNS} FROM transfers ORDER BY timestamp"))?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                scan.transfers.push(transfer_from_row(row)?);
            }
            let mut statement = tx.prepare("SELECT id, state, expires_at FROM pending_transfers")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let id = bytes_u128(&row.get::<_, Vec<u8>>(0)?)?;
                scan.pending.insert(id, pending_status(row.get(1)?, row.get(2)?)?);
            }
        }
        tx.commit()?;
        Ok(scan)
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

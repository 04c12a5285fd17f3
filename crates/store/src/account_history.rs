//! Per-account transfer history for the SQLite backend, indexed off the commit path.
//!
//! A B-tree index on (account, timestamp) in the main database dirties one page per account that a
//! commit touches, and SQLite writes whole pages to the WAL: with many accounts that was most of
//! the cost of a commit. So history lives in a second file, `xingtong-index.sqlite3`, which a
//! background thread fills from `transfers` in large sorted chunks. Separate files have separate
//! write locks: the committer never waits for the indexer.
//!
//! The index is derived data. Its watermark (`indexed_through`, the last transfer timestamp it
//! covers) commits atomically with its entries, and everything after the watermark is found by
//! scanning the tail of `transfers` by timestamp, its rowid. A read is therefore complete however
//! far the indexer lags, and a lost or deleted index file is rebuilt from scratch.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use xingtong_ledger::Transfer;

use crate::StoreError;
use crate::codec::{TRANSFER_COLUMNS, bytes_u128, int_u64, transfer_from_row, u64_int, u128_bytes};

/// The index file beside the database.
pub const INDEX_FILE: &str = "xingtong-index.sqlite3";
/// The most transfers indexed in one pass (and so the longest an index transaction grows).
pub const INDEX_CHUNK_MAX: i64 = 10_000;
/// How long the indexer rests when it has caught up.
pub const INDEX_IDLE_MS: u64 = 50;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS account_transfers (
        account_id BLOB    NOT NULL,
        timestamp  INTEGER NOT NULL,
        PRIMARY KEY (account_id, timestamp)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS index_meta (
        key   TEXT    PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO index_meta (key, value) VALUES ('indexed_through', 0);
    CREATE TABLE IF NOT EXISTS merchant_days (
        merchant_id  TEXT NOT NULL,
        business_day TEXT NOT NULL,
        id           TEXT NOT NULL,
        PRIMARY KEY (merchant_id, business_day, id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO index_meta (key, value) VALUES ('transactions_through', 0);
    CREATE TABLE IF NOT EXISTS index_owner (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
";

/// Opens (creating) the index file of the database `database_id`. An index left over from another
/// database (its file deleted to start over, say) is emptied, so it can never point at transfers
/// that are not there. It is never fsynced: after a power loss it may be behind, which only means a
/// longer tail until the indexer catches up.
pub(crate) fn open_index(data_dir: &Path, database_id: &str) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(data_dir.join(INDEX_FILE))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "busy_timeout", 5_000)?;
    conn.execute_batch(SCHEMA)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let owner: Option<String> =
        tx.query_row("SELECT value FROM index_owner WHERE key = 'database_id'", [], |r| r.get(0)).optional()?;
    if owner.as_deref() != Some(database_id) {
        if owner.is_some() {
            tracing::warn!("the history index belongs to another database; rebuilding it");
        }
        tx.execute_batch(
            "DELETE FROM account_transfers; UPDATE index_meta SET value = 0 WHERE key = 'indexed_through'; \
             DELETE FROM merchant_days; UPDATE index_meta SET value = 0 WHERE key = 'transactions_through';",
        )?;
        tx.execute("INSERT OR REPLACE INTO index_owner (key, value) VALUES ('database_id', ?1)", [database_id])?;
    }
    tx.commit()?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

/// The id of the main database, which the index records as its owner.
pub(crate) fn database_id(main: &Connection) -> Result<String, StoreError> {
    Ok(main.query_row("SELECT value FROM store_meta WHERE key = 'database_id'", [], |r| r.get(0))?)
}

/// Starts the indexer thread; it stops when `stop` is set.
pub(crate) fn spawn_indexer(main: Connection, index: Connection, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new().name("xingtong-sqlite-history".into()).spawn(move || {
        let (main, mut index) = (main, index);
        while !stop.load(Ordering::Relaxed) {
            // Both derived indexes, resting only when neither had anything to do.
            let done = index_once(&main, &mut index)
                .and_then(|transfers| Ok(transfers + crate::txn_index::index_once(&main, &mut index)?));
            index_pass(done, INDEX_IDLE_MS);
        }
    })?;
    Ok(())
}

/// After one pass of a history indexer (either backend's): rests when it had nothing to do, and
/// longer after a failure, which it reports; the next pass tries again.
pub(crate) fn index_pass(result: Result<usize, StoreError>, idle_ms: u64) {
    match result {
        Ok(0) => std::thread::sleep(std::time::Duration::from_millis(idle_ms)),
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "indexing account history failed; retrying");
            std::thread::sleep(std::time::Duration::from_millis(idle_ms * 10));
        }
    }
}

fn watermark(index: &Connection) -> Result<u64, StoreError> {
    let value: i64 = index
        .prepare_cached("SELECT value FROM index_meta WHERE key = 'indexed_through'")?
        .query_row([], |r| r.get(0))?;
    Ok(int_u64(value))
}

/// Indexes the next chunk of transfers after the watermark; returns how many.
pub(crate) fn index_once(main: &Connection, index: &mut Connection) -> Result<usize, StoreError> {
    let through = watermark(index)?;
    let mut entries: Vec<(u128, i64)> = Vec::new();
    let mut last = through;
    {
        let mut statement = main.prepare_cached(
            "SELECT debit_account_id, credit_account_id, timestamp FROM transfers WHERE timestamp > ?1 ORDER BY timestamp LIMIT ?2",
        )?;
        let mut rows = statement.query(params![u64_int(through), INDEX_CHUNK_MAX])?;
        while let Some(row) = rows.next()? {
            let timestamp: i64 = row.get(2)?;
            entries.push((bytes_u128(&row.get::<_, Vec<u8>>(0)?)?, timestamp));
            entries.push((bytes_u128(&row.get::<_, Vec<u8>>(1)?)?, timestamp));
            last = int_u64(timestamp);
        }
    }
    if entries.is_empty() {
        return Ok(0);
    }
    // In key order, so that each index page is written once per pass.
    entries.sort_unstable();
    let tx = index.transaction()?;
    {
        let mut insert =
            tx.prepare_cached("INSERT OR IGNORE INTO account_transfers (account_id, timestamp) VALUES (?1, ?2)")?;
        for (account, timestamp) in &entries {
            insert.execute(params![&u128_bytes(*account)[..], timestamp])?;
        }
        tx.prepare_cached("UPDATE index_meta SET value = ?1 WHERE key = 'indexed_through'")?
            .execute([u64_int(last)])?;
    }
    tx.commit()?;
    Ok(entries.len() / 2)
}

/// Transfers debiting or crediting `account` after `after_timestamp`, oldest first: the indexed
/// part from the index file, then the unindexed tail from `transfers`.
pub(crate) fn account_transfers(
    main: &mut Connection,
    index: &mut Connection,
    account: u128,
    after_timestamp: u64,
    limit: u32,
) -> Result<Vec<Transfer>, StoreError> {
    let key = u128_bytes(account);
    // The watermark and the entries below it, from one snapshot of the index.
    let (through, timestamps) = {
        let tx = index.transaction()?;
        let through = watermark(&tx)?;
        let mut statement = tx.prepare_cached(
            "SELECT timestamp FROM account_transfers WHERE account_id = ?1 AND timestamp > ?2 AND timestamp <= ?3 \
             ORDER BY timestamp LIMIT ?4",
        )?;
        let timestamps = statement
            .query_map(params![&key[..], u64_int(after_timestamp), u64_int(through), limit], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<i64>, _>>()?;
        drop(statement);
        tx.commit()?;
        (through, timestamps)
    };
    let tx = main.transaction()?;
    let mut out = Vec::with_capacity(limit as usize);
    {
        let mut by_timestamp =
            tx.prepare_cached(&format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE timestamp = ?1"))?;
        for timestamp in &timestamps {
            let mut rows = by_timestamp.query([timestamp])?;
            let row =
                rows.next()?.ok_or_else(|| StoreError::Corrupt(format!("indexed transfer {timestamp} is missing")))?;
            out.push(transfer_from_row(row)?);
        }
        let remaining = limit as usize - out.len();
        if remaining > 0 {
            // Everything after the watermark (or the cursor, if later) is in the tail.
            let from = after_timestamp.max(through);
            let mut tail = tx.prepare_cached(&format!(
                "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE timestamp > ?1 \
                 AND (debit_account_id = ?2 OR credit_account_id = ?2) ORDER BY timestamp LIMIT ?3"
            ))?;
            let mut rows = tail.query(params![u64_int(from), &key[..], remaining as i64])?;
            while let Some(row) = rows.next()? {
                out.push(transfer_from_row(row)?);
            }
        }
    }
    tx.commit()?;
    assert!(out.windows(2).all(|w| w[0].timestamp < w[1].timestamp), "history is in ledger order");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main_database() -> Connection {
        let conn = Connection::open_in_memory().expect("in-memory database");
        conn.execute_batch(include_str!("../migrations/sqlite/0001_ledger.sql")).expect("migration 1");
        conn.execute_batch(include_str!("../migrations/sqlite/0002_account_index.sql")).expect("migration 2");
        conn
    }

    /// Appends a transfer from `debit` to `credit` at `timestamp`.
    fn append(conn: &Connection, timestamp: i64, debit: u128, credit: u128) {
        let blob = |v: u128| u128_bytes(v).to_vec();
        conn.execute(
            &format!(
                "INSERT INTO transfers ({TRANSFER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0, 156, 1, 0, ?7)"
            ),
            params![blob(1_000 + timestamp as u128), blob(debit), blob(credit), blob(1), blob(0), blob(0), timestamp],
        )
        .expect("insert transfer");
    }

    fn history(main: &mut Connection, index: &mut Connection, account: u128, page: u32) -> Vec<i64> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let got = account_transfers(main, index, account, after, page).expect("read history");
            let Some(last) = got.last() else { break };
            after = last.timestamp;
            out.extend(got.iter().map(|t| t.timestamp as i64));
        }
        out
    }

    #[test]
    fn reads_merge_the_indexed_part_and_the_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut main = main_database();
        let mut index = open_index(dir.path(), &database_id(&main).unwrap()).expect("index");
        for ts in 1..=6 {
            append(&main, ts, if ts % 2 == 0 { 7 } else { 8 }, 9);
        }
        assert_eq!(index_once(&main, &mut index).unwrap(), 6);
        assert_eq!(watermark(&index).unwrap(), 6);
        for ts in 7..=10 {
            append(&main, ts, if ts % 2 == 0 { 7 } else { 8 }, 9);
        }
        // Entries 1–6 come from the index, 7–10 from the tail; pages straddle the boundary.
        assert_eq!(history(&mut main, &mut index, 7, 2), [2, 4, 6, 8, 10]);
        assert_eq!(history(&mut main, &mut index, 9, 3), (1..=10).collect::<Vec<_>>());
        assert_eq!(history(&mut main, &mut index, 5, 3), Vec::<i64>::new());
        assert_eq!(index_once(&main, &mut index).unwrap(), 4);
        assert_eq!(index_once(&main, &mut index).unwrap(), 0, "caught up");
        assert_eq!(history(&mut main, &mut index, 8, 1), [1, 3, 5, 7, 9]);

        // Opened for another database, the same file starts empty and reads stay correct.
        drop(index);
        let mut other = main_database();
        append(&other, 1, 7, 9);
        let mut index = open_index(dir.path(), &database_id(&other).unwrap()).expect("index");
        assert_eq!(watermark(&index).unwrap(), 0);
        assert_eq!(history(&mut other, &mut index, 7, 10), [1]);
    }
}

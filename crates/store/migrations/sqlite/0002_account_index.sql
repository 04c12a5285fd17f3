-- Per-account transfer history moves out of the commit path.
--
-- Two B-tree indexes on (debit_account_id, timestamp) and (credit_account_id, timestamp) cost each
-- commit one dirty page per account touched, and SQLite writes whole pages to the WAL: with many
-- accounts that write amplification dominated the commit (see docs/storage.md). History is now
-- indexed by a background thread into a file of its own (xingtong-index.sqlite3), rebuildable
-- from `transfers` at any time; see crates/store/src/sqlite/history.rs.

DROP INDEX transfers_by_debit_account;
DROP INDEX transfers_by_credit_account;

-- Identifies this database, so that derived files (the history index) can tell they belong to it.
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO store_meta (key, value) VALUES ('database_id', lower(hex(randomblob(16))));

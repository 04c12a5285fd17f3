-- Per-account transfer history, indexed in bulk rather than at every commit.
--
-- Two B-tree indexes on (debit_account_id, timestamp) and (credit_account_id, timestamp) cost each
-- commit one dirty page per account touched, and SQLite writes whole pages to the WAL: with many
-- accounts that write amplification dominated the commit (see docs/storage.md). Instead the writer
-- adds entries for every transfer after `indexed_through` in one sorted INSERT, every
-- INDEX_FLUSH_TRANSFERS transfers or INDEX_FLUSH_INTERVAL, inside a commit; readers read the
-- indexed part here and scan the short unindexed tail of `transfers` by timestamp (its rowid).

DROP INDEX transfers_by_debit_account;
DROP INDEX transfers_by_credit_account;

CREATE TABLE account_transfers (
    account_id BLOB    NOT NULL,
    timestamp  INTEGER NOT NULL,
    PRIMARY KEY (account_id, timestamp)
) WITHOUT ROWID;

CREATE TABLE ledger_meta (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO ledger_meta (key, value) VALUES ('indexed_through', 0);

-- Per-account transfer history moves out of the commit path, as on SQLite.
--
-- Two B-tree indexes on transfers (debit_account_id, timestamp) and (credit_account_id, timestamp)
-- were maintained inside every commit, by the one PostgreSQL backend that all ledger writes pass
-- through (the clock lock serialises them). History is now indexed into account_transfers by a
-- background task (crates/store/src/postgres.rs, `index_history`), up to a watermark; reads take
-- the index up to the watermark and scan transfers after it by timestamp, in one statement.

-- Writers hold this row from BEGIN to COMMIT: holding it here makes the copy below and its
-- watermark one consistent cut even while other processes run.
SELECT 1 FROM ledger_clock WHERE id = 1 FOR UPDATE;

CREATE TABLE account_transfers (
    account_id BYTEA  NOT NULL,
    timestamp  BIGINT NOT NULL,
    PRIMARY KEY (account_id, timestamp)
);

CREATE TABLE history_watermark (
    id              SMALLINT PRIMARY KEY CHECK (id = 1),
    indexed_through BIGINT   NOT NULL
);

INSERT INTO account_transfers (account_id, timestamp)
    SELECT debit_account_id, timestamp FROM transfers
    UNION
    SELECT credit_account_id, timestamp FROM transfers;
INSERT INTO history_watermark (id, indexed_through) SELECT 1, coalesce(max(timestamp), 0) FROM transfers;

DROP INDEX transfers_by_debit_account;
DROP INDEX transfers_by_credit_account;

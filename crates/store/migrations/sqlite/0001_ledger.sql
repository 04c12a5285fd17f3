-- The ledger (TigerBeetle-shaped) and API keys.
-- 128-bit ids and amounts are 16-byte big-endian blobs; see crates/store/src/codec.rs.

CREATE TABLE accounts (
    id              BLOB    PRIMARY KEY,
    debits_pending  BLOB    NOT NULL,
    debits_posted   BLOB    NOT NULL,
    credits_pending BLOB    NOT NULL,
    credits_posted  BLOB    NOT NULL,
    user_data_128   BLOB    NOT NULL,
    user_data_64    INTEGER NOT NULL,
    user_data_32    INTEGER NOT NULL,
    ledger          INTEGER NOT NULL,
    code            INTEGER NOT NULL,
    flags           INTEGER NOT NULL,
    timestamp       INTEGER NOT NULL UNIQUE
) WITHOUT ROWID;

-- Timestamps are unique and increasing, so they make the rowid: inserts append.
CREATE TABLE transfers (
    timestamp         INTEGER PRIMARY KEY,
    id                BLOB    NOT NULL UNIQUE,
    debit_account_id  BLOB    NOT NULL,
    credit_account_id BLOB    NOT NULL,
    amount            BLOB    NOT NULL,
    pending_id        BLOB    NOT NULL,
    user_data_128     BLOB    NOT NULL,
    user_data_64      INTEGER NOT NULL,
    user_data_32      INTEGER NOT NULL,
    timeout           INTEGER NOT NULL,
    ledger            INTEGER NOT NULL,
    code              INTEGER NOT NULL,
    flags             INTEGER NOT NULL
);
CREATE INDEX transfers_by_debit_account ON transfers (debit_account_id, timestamp);
CREATE INDEX transfers_by_credit_account ON transfers (credit_account_id, timestamp);

-- The state of each pending (two-phase) transfer: 1 pending, 2 posted, 3 voided, 4 expired.
CREATE TABLE pending_transfers (
    id         BLOB    PRIMARY KEY,
    state      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX pending_transfers_due ON pending_transfers (expires_at) WHERE state = 1 AND expires_at <> 0;

-- Ids whose creation failed for a reason that depended on state: a retry keeps failing.
CREATE TABLE failed_transfers (
    id     BLOB PRIMARY KEY,
    result TEXT NOT NULL
) WITHOUT ROWID;

-- Responses stored under Idempotency-Key, written in the same commit as the write they answer.
CREATE TABLE idempotency_keys (
    scope          TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    request_sha256 BLOB    NOT NULL,
    status         INTEGER NOT NULL,
    body           BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;

-- API keys: only a hash of the secret is kept.
CREATE TABLE api_keys (
    id            TEXT    PRIMARY KEY,
    secret_sha256 BLOB    NOT NULL,
    role          TEXT    NOT NULL,
    label         TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER
) WITHOUT ROWID;

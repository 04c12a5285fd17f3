-- The ledger (TigerBeetle-shaped) and API keys.
-- 128-bit ids and amounts are 16-byte big-endian BYTEA; see crates/store/src/codec.rs.

CREATE TABLE accounts (
    id              BYTEA  PRIMARY KEY,
    debits_pending  BYTEA  NOT NULL,
    debits_posted   BYTEA  NOT NULL,
    credits_pending BYTEA  NOT NULL,
    credits_posted  BYTEA  NOT NULL,
    user_data_128   BYTEA  NOT NULL,
    user_data_64    BIGINT NOT NULL,
    user_data_32    BIGINT NOT NULL,
    ledger          BIGINT NOT NULL,
    code            BIGINT NOT NULL,
    flags           BIGINT NOT NULL,
    timestamp       BIGINT NOT NULL UNIQUE
);

CREATE TABLE transfers (
    id                BYTEA  PRIMARY KEY,
    debit_account_id  BYTEA  NOT NULL,
    credit_account_id BYTEA  NOT NULL,
    amount            BYTEA  NOT NULL,
    pending_id        BYTEA  NOT NULL,
    user_data_128     BYTEA  NOT NULL,
    user_data_64      BIGINT NOT NULL,
    user_data_32      BIGINT NOT NULL,
    timeout           BIGINT NOT NULL,
    ledger            BIGINT NOT NULL,
    code              BIGINT NOT NULL,
    flags             BIGINT NOT NULL,
    timestamp         BIGINT NOT NULL UNIQUE
);
CREATE INDEX transfers_by_debit_account ON transfers (debit_account_id, timestamp);
CREATE INDEX transfers_by_credit_account ON transfers (credit_account_id, timestamp);

-- 1 pending, 2 posted, 3 voided, 4 expired.
CREATE TABLE pending_transfers (
    id         BYTEA    PRIMARY KEY,
    state      SMALLINT NOT NULL,
    expires_at BIGINT   NOT NULL
);
CREATE INDEX pending_transfers_due ON pending_transfers (expires_at) WHERE state = 1 AND expires_at <> 0;

CREATE TABLE failed_transfers (
    id     BYTEA PRIMARY KEY,
    result TEXT  NOT NULL
);

CREATE TABLE idempotency_keys (
    scope          TEXT    NOT NULL,
    key            TEXT    NOT NULL,
    request_sha256 BYTEA   NOT NULL,
    status         INTEGER NOT NULL,
    body           BYTEA   NOT NULL,
    created_at     BIGINT  NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE api_keys (
    id            TEXT   PRIMARY KEY,
    secret_sha256 BYTEA  NOT NULL,
    role          TEXT   NOT NULL,
    label         TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);

-- The ledger clock. Every ledger write transaction locks this row first: that serialises ledger
-- writers across `xingtong serve` processes and hands out strictly increasing timestamps.
CREATE TABLE ledger_clock (
    id             SMALLINT PRIMARY KEY CHECK (id = 1),
    last_timestamp BIGINT   NOT NULL
);
INSERT INTO ledger_clock (id, last_timestamp) VALUES (1, 0);

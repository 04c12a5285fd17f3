-- Payment transactions in a typed table of their own, instead of opaque record bodies: settlement,
-- reports and consoles select and sum them by merchant and business day, and by terminal and
-- batch. The merchant id is in the primary key and every index, so that the table can be
-- distributed by merchant (Citus) without a redesign. The body keeps what no query needs (card details, ledger movements)
-- in the payments crate's compact form. Rows of `records` of kind `card_txn` are moved here by the
-- payments service at start-up (their columns are inside their bodies, which SQL cannot read).
CREATE TABLE transactions (
    merchant_id        TEXT    NOT NULL,
    id                 TEXT    COLLATE "C" NOT NULL,
    kind               TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    version            BIGINT  NOT NULL,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    method             TEXT    NOT NULL,
    txn_type           TEXT    NOT NULL,
    terminal_id        TEXT    NOT NULL,
    batch              INTEGER NOT NULL,
    stan               INTEGER NOT NULL,
    business_day       TEXT    NOT NULL,
    amount_minor       BIGINT  NOT NULL,
    fee_minor          BIGINT  NOT NULL,
    refunded_minor     BIGINT  NOT NULL,
    fee_refunded_minor BIGINT  NOT NULL,
    response_code      TEXT    NOT NULL,
    original_id        TEXT,
    channel            TEXT    NOT NULL,
    at                 BIGINT  NOT NULL,
    body               BYTEA   NOT NULL,
    -- Id first: a transaction is found by its id on every request. The id starts with the
    -- terminal and batch (`<terminal>-<batch>-<STAN>`, byte order), so a terminal's batch is a
    -- range of this index too.
    PRIMARY KEY (id, merchant_id)
);
-- What clearing, reports and consoles read: a merchant's transactions by business day.
CREATE INDEX transactions_by_merchant_day ON transactions (merchant_id, business_day, id);

-- A merchant's settlement lines: each transaction of a cleared merchant-day and what it adds to
-- the payout. Written once with their settlement, never changed.
CREATE TABLE settlement_lines (
    merchant_id     TEXT    NOT NULL,
    settlement_id   TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    txn_id          TEXT    NOT NULL,
    txn_type        TEXT    NOT NULL,
    business_day    TEXT    NOT NULL,
    amount_minor    BIGINT  NOT NULL,
    fee_minor       BIGINT  NOT NULL,
    surcharge_minor BIGINT  NOT NULL,
    net_minor       BIGINT  NOT NULL,
    PRIMARY KEY (merchant_id, settlement_id, seq)
);

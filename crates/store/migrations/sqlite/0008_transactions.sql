-- Payment transactions in a typed table of their own, instead of opaque record bodies: settlement,
-- reports and consoles select and sum them by merchant and business day, and by terminal and
-- batch. The merchant id is in every key, so that the table can be sharded by merchant later.
-- The body keeps what no query needs (card details, ledger movements) in the payments crate's
-- compact form. Rows of `records` of kind `card_txn` are moved here by the payments service at
-- start-up (their columns are inside their bodies, which SQL cannot read).
CREATE TABLE transactions (
    merchant_id        TEXT    NOT NULL,
    id                 TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    version            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    method             TEXT    NOT NULL,
    txn_type           TEXT    NOT NULL,
    terminal_id        TEXT    NOT NULL,
    batch              INTEGER NOT NULL,
    stan               INTEGER NOT NULL,
    business_day       TEXT    NOT NULL,
    amount_minor       INTEGER NOT NULL,
    fee_minor          INTEGER NOT NULL,
    refunded_minor     INTEGER NOT NULL,
    fee_refunded_minor INTEGER NOT NULL,
    response_code      TEXT    NOT NULL,
    original_id        TEXT,
    channel            TEXT    NOT NULL,
    at                 INTEGER NOT NULL,
    body               BLOB    NOT NULL,
    -- Id first: a transaction is found by its id on every request. The id starts with the
    -- terminal and batch (`<terminal>-<batch>-<STAN>`), so a terminal's batch is a range of this
    -- index too: no index of its own to keep up on every sale.
    UNIQUE (id, merchant_id)
);
-- What clearing, reports and consoles read, a merchant's transactions by business day, is indexed
-- off the commit path into the derived index file (txn_index.rs), as account history is: this
-- index kept up in every sale's commit cost 8 % of peak sales (docs/performance.md).

-- A merchant's settlement lines: each transaction of a cleared merchant-day and what it adds to
-- the payout. Written once with their settlement, never changed.
CREATE TABLE settlement_lines (
    merchant_id     TEXT    NOT NULL,
    settlement_id   TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    txn_id          TEXT    NOT NULL,
    txn_type        TEXT    NOT NULL,
    business_day    TEXT    NOT NULL,
    amount_minor    INTEGER NOT NULL,
    fee_minor       INTEGER NOT NULL,
    surcharge_minor INTEGER NOT NULL,
    net_minor       INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, settlement_id, seq)
) WITHOUT ROWID;

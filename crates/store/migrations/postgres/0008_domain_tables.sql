-- Terminal batches, settlements and payouts in typed tables of their own, instead of opaque
-- record bodies: what settlement, payouts, reports and consoles select and sort by is a column,
-- indexed. The merchant id is in the primary key and every index starts with the merchant or is
-- a queue, so that the tables can be distributed by merchant (Citus) without a redesign. The body
-- keeps the rest of each entity (JSON). Rows of `records` of kinds `card_batch`, `settlement`
-- and `payout` are moved here by the payments service at start-up.

CREATE TABLE batches (
    merchant_id  TEXT    NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    terminal_id  TEXT    NOT NULL,
    batch        BIGINT  NOT NULL,
    business_day TEXT    NOT NULL,
    body         BYTEA   NOT NULL,
    PRIMARY KEY (id, merchant_id)
);
-- A terminal's batches, in order; a merchant's by day; a merchant's as created.
CREATE INDEX batches_by_terminal ON batches (merchant_id, terminal_id, batch);
CREATE INDEX batches_by_day ON batches (merchant_id, business_day, id);
CREATE INDEX batches_by_created ON batches (merchant_id, created_at, id);

CREATE TABLE settlements (
    merchant_id     TEXT    NOT NULL,
    id              TEXT COLLATE "C" NOT NULL,
    kind            TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    version         BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    business_day    TEXT    NOT NULL,
    seq             BIGINT  NOT NULL,
    cycle           TEXT    NOT NULL,
    captured_minor  BIGINT  NOT NULL,
    returned_minor  BIGINT  NOT NULL,
    fees_minor      BIGINT  NOT NULL,
    surcharge_minor BIGINT  NOT NULL,
    net_minor       BIGINT  NOT NULL,
    payout_minor    BIGINT  NOT NULL,
    payout_date     TEXT    NOT NULL,
    body            BYTEA   NOT NULL,
    PRIMARY KEY (id, merchant_id)
);
-- A merchant's settlements of a day in order, and by day for reports; a merchant's as created.
CREATE INDEX settlements_by_day ON settlements (merchant_id, business_day, seq);
CREATE INDEX settlements_by_created ON settlements (merchant_id, created_at, id);

CREATE TABLE payouts (
    merchant_id   TEXT    NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    kind          TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    settlement_id TEXT    NOT NULL,
    business_day  TEXT    NOT NULL,
    purpose       TEXT    NOT NULL,
    amount_minor  BIGINT  NOT NULL,
    payout_date   TEXT    NOT NULL,
    attempts      BIGINT  NOT NULL,
    body          BYTEA   NOT NULL,
    PRIMARY KEY (id, merchant_id)
);
-- The payout run's queue: by status, due first; a merchant's as created.
CREATE INDEX payouts_by_status ON payouts (status, payout_date, id);
CREATE INDEX payouts_by_created ON payouts (merchant_id, created_at, id);

-- Domain records (onboarding and everything after it): versioned rows with an opaque body.
-- `owner` is the isolation boundary, `status` makes queues, `due_at` schedules work (retries).
CREATE TABLE records (
    kind       TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    owner      TEXT   NOT NULL,
    status     TEXT   NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    due_at     BIGINT,
    body       BYTEA  NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX records_by_owner ON records (kind, owner, created_at, id);
CREATE INDEX records_by_status ON records (kind, status, created_at, id);
CREATE INDEX records_due ON records (kind, status, due_at) WHERE due_at IS NOT NULL;

-- Unique keys (a phone number, an email, a device serial number) naming one record each.
CREATE TABLE record_keys (
    kind TEXT NOT NULL,
    key  TEXT NOT NULL,
    id   TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);

-- Uploaded documents, content-addressed: the same bytes are stored once.
CREATE TABLE blobs (
    sha256       BYTEA  PRIMARY KEY,
    content_type TEXT   NOT NULL,
    size         BIGINT NOT NULL,
    bytes        BYTEA  NOT NULL,
    created_at   BIGINT NOT NULL
);

-- Who did what to which record, when. Append-only.
CREATE TABLE audit_log (
    seq          BIGSERIAL PRIMARY KEY,
    at           BIGINT NOT NULL,
    actor        TEXT   NOT NULL,
    action       TEXT   NOT NULL,
    subject_kind TEXT   NOT NULL,
    subject_id   TEXT   NOT NULL,
    detail       TEXT   NOT NULL
);
CREATE INDEX audit_by_subject ON audit_log (subject_kind, subject_id, seq);

-- Merchants' API keys belong to their merchant.
ALTER TABLE api_keys ADD COLUMN owner TEXT;
CREATE INDEX api_keys_by_owner ON api_keys (owner);

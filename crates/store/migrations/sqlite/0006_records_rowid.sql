-- Records carry bodies of a kilobyte or more (a card transaction's JSON): in a WITHOUT ROWID table
-- every insert moved whole bodies around inside the primary-key B-tree (memmove was a seventh of
-- the writer's time at 8,000 sales/s). A rowid table keeps bodies in its own B-tree, appended in
-- order, and a small unique index on (kind, id).
CREATE TABLE records_v2 (
    kind       TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    owner      TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    due_at     INTEGER,
    body       BLOB    NOT NULL,
    UNIQUE (kind, id)
);
INSERT INTO records_v2 (kind, id, owner, status, version, created_at, updated_at, due_at, body)
    SELECT kind, id, owner, status, version, created_at, updated_at, due_at, body FROM records;
DROP TABLE records;
ALTER TABLE records_v2 RENAME TO records;
CREATE INDEX records_by_owner ON records (kind, owner, created_at, id);
CREATE INDEX records_by_status ON records (kind, status, created_at, id);
CREATE INDEX records_due ON records (kind, status, due_at) WHERE due_at IS NOT NULL;

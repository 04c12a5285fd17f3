-- Records written on every payment (card transactions) are found by id, never listed by owner or
-- status through these indexes: keeping them out of both saves index work on every sale's commit.
-- Their listings (reports, clearing) come from indexes of their own.
ALTER TABLE records ADD COLUMN listed BOOLEAN NOT NULL DEFAULT TRUE;
DROP INDEX records_by_owner;
DROP INDEX records_by_status;
CREATE INDEX records_by_owner ON records (kind, owner, created_at, id) WHERE listed;
CREATE INDEX records_by_status ON records (kind, status, created_at, id) WHERE listed;

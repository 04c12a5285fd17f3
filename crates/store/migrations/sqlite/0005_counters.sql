-- Named counters moved inside the writer: running totals for limits, sequences.
CREATE TABLE counters (
    key   TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

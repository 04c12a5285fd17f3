-- The operations console searches the audit log by who did it and by what was done, newest
-- first: each filter has an index ending in the sequence number, so a page is an index range.
CREATE INDEX audit_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_by_action ON audit_log (action, seq);
CREATE INDEX audit_by_subject_id ON audit_log (subject_id, seq);

-- Idempotency keys are kept for a retention period, then purged in bounded chunks by age.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

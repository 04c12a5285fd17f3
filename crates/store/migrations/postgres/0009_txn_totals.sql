-- Reports read totals, not rows: a merchant's month of a million transactions is a few thousand
-- rows of this table. The writer keeps it in the statement that writes a group's transactions: a
-- new row adds itself to its bucket, a changed row moves from its old bucket to its new one (a
-- voided sale leaves `approved` for `voided`). A bucket is every column a report groups or filters
-- by; the merchant id leads the key, so that the table distributes by merchant as `transactions`
-- does. Transactions written before these columns have an empty operator and business type.
ALTER TABLE transactions ADD COLUMN operator TEXT NOT NULL DEFAULT '';
ALTER TABLE transactions ADD COLUMN business_type TEXT NOT NULL DEFAULT '';

CREATE TABLE txn_totals (
    merchant_id   TEXT   NOT NULL,
    business_day  TEXT   NOT NULL,
    terminal_id   TEXT   NOT NULL,
    operator      TEXT   NOT NULL,
    method        TEXT   NOT NULL,
    business_type TEXT   NOT NULL,
    txn_type      TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    count         BIGINT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    fee_minor     BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, business_day, terminal_id, operator, method, business_type, txn_type, status)
);

INSERT INTO txn_totals
SELECT merchant_id, business_day, terminal_id, operator, method, business_type, txn_type, status,
       count(*), sum(amount_minor)::bigint, sum(fee_minor)::bigint
FROM transactions
GROUP BY merchant_id, business_day, terminal_id, operator, method, business_type, txn_type, status;

-- The hour of day (China time) of each approved sale and completion, per merchant and business
-- day: what the consoles' hourly pattern adds up. Kept by the writer in the commit that writes a
-- transaction, as `txn_totals` is: a row that becomes an approved sale or completion adds itself to
-- its hour; one that stops being one (voided, reversed) is taken out. The hour comes from the
-- transaction's time, `at` (ns since the epoch), in UTC+8.
CREATE TABLE txn_hours (
    merchant_id  TEXT    NOT NULL,
    business_day TEXT    NOT NULL,
    hour         int4    NOT NULL,
    count        int8    NOT NULL,
    amount_minor int8    NOT NULL,
    PRIMARY KEY (merchant_id, business_day, hour)
);

INSERT INTO txn_hours (merchant_id, business_day, hour, count, amount_minor)
SELECT merchant_id, business_day, ((at / 1000000000 + 28800) / 3600) % 24, count(*), sum(amount_minor)
FROM transactions WHERE txn_type IN ('sale', 'completion') AND status = 'approved'
GROUP BY merchant_id, business_day, ((at / 1000000000 + 28800) / 3600) % 24;

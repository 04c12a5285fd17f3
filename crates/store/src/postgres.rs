//! The scale-out backend: PostgreSQL, shared by any number of `xingtong serve` processes.
//!
//! Every ledger write transaction begins by locking the one row of `ledger_clock`. That serialises
//! ledger writers across processes (each still group-commits, so a commit carries many requests),
//! hands out strictly increasing timestamps, and makes every read inside the transaction current;
//! nothing is cached between commits. Rows are written with one `UNNEST` statement per table.
//! Per-account history is indexed off the commit path by a background task ([`index_history`]).

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use postgres::types::ToSql;
use postgres::{Client, NoTls, Statement};
use xingtong_ledger::{Changes, CreateTransferResult, Keys, Snapshot};

use crate::codec::{
    ACCOUNT_COLUMNS, TRANSFER_COLUMNS, account_from_row, bytes_u128, int_u64, transfer_from_row, u64_int, u128_bytes,
};
use crate::committer::{Backend, IdempotencyRow, Overlay, Wanted};
use crate::records::{
    AuditEntry, AuditQuery, Blob, Change, Home, Record, RecordQuery, SettlementLine, TotalsQuery, TotalsRow,
    TxnColumns, TxnQuery, TxnRow,
};
use crate::sqlite::{blob_from_parts, pending_status};
use crate::tables::{Table, TableQuery, Value};
use crate::{ApiKeyRecord, NewApiKey, Reader, StoreError, StoredResponse, now_ns};

const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "ledger and access", include_str!("../migrations/postgres/0001_ledger.sql")),
    (2, "idempotency retention", include_str!("../migrations/postgres/0002_idempotency_retention.sql")),
    (3, "domain records", include_str!("../migrations/postgres/0003_domain_records.sql")),
    (4, "counters", include_str!("../migrations/postgres/0004_counters.sql")),
    (5, "unlisted records", include_str!("../migrations/postgres/0005_unlisted_records.sql")),
    (
        6,
        "account history off the commit path",
        include_str!("../migrations/postgres/0006_account_history_off_commit.sql"),
    ),
    (7, "typed transactions", include_str!("../migrations/postgres/0007_transactions.sql")),
    (8, "typed domain tables", include_str!("../migrations/postgres/0008_domain_tables.sql")),
    (9, "transaction totals", include_str!("../migrations/postgres/0009_txn_totals.sql")),
    (10, "audit search", include_str!("../migrations/postgres/0010_audit_search.sql")),
    (11, "transaction hours", include_str!("../migrations/postgres/0011_txn_hours.sql")),
];

/// The most transfers the history indexer takes in one pass.
pub const HISTORY_CHUNK_MAX: i64 = 10_000;
/// How long the history indexer rests when it has caught up (or another process holds the work).
pub const HISTORY_IDLE_MS: u64 = 50;

/// An arbitrary constant naming the advisory lock that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x5854_4d49_4752_4154;

pub(crate) struct Opened {
    pub writer: PgWriter,
    pub readers: Vec<Box<dyn Reader>>,
    pub admin_key: Option<NewApiKey>,
}

/// True for a schema name we are willing to put into SQL: lower-case letters, digits, underscores.
pub fn valid_schema_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// Drops a schema and everything in it, if it exists (tests and benchmarks make one each). Blocking:
/// the synchronous client runs its own runtime, so call it off async threads.
pub fn drop_schema(url: &str, schema: &str) -> Result<(), StoreError> {
    if !valid_schema_name(schema) {
        return Err(StoreError::Config(format!("not a schema name we use: {schema:?}")));
    }
    let mut client = config(url, None)?.connect(postgres::NoTls)?;
    // A connection still in a transaction on the schema would make DROP wait: give up instead. A
    // background thread of a store just dropped (the history indexer) may still be finishing a
    // pass on it: a deadlock with it is tried again.
    let drop = format!("SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
    for attempt in 1.. {
        match client.batch_execute(&drop) {
            Err(error)
                if attempt < 5
                    && error.code().is_some_and(|c| *c == postgres::error::SqlState::T_R_DEADLOCK_DETECTED) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            other => return Ok(other?),
        }
    }
    Ok(())
}

fn config(url: &str, schema: Option<&str>) -> Result<postgres::Config, StoreError> {
    let mut config =
        postgres::Config::from_str(url).map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
    config.application_name("xingtong");
    // Statements are prepared once, when tables may still be empty; a cached generic plan would
    // then stay a sequential scan as they grow (measured: 3.6 s to look up 8,000 ids in 400,000
    // transfers). Custom plans are made per execution against current table sizes.
    let mut options = String::from("-c plan_cache_mode=force_custom_plan");
    if let Some(schema) = schema {
        options.push_str(&format!(" -c search_path={schema}"));
    }
    config.options(&options);
    Ok(config)
}

/// Connects, creates the schema if asked, migrates and bootstraps.
pub(crate) fn open(url: &str, schema: Option<&str>, readers: usize) -> Result<Opened, StoreError> {
    if let Some(schema) = schema {
        if !valid_schema_name(schema) {
            return Err(StoreError::Config(format!("schema name {schema:?}: use lower-case letters, digits and _")));
        }
        let mut admin = config(url, None)?.connect(NoTls)?;
        admin.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))?;
    }
    let config = config(url, schema)?;
    let mut client = config.connect(NoTls)?;
    migrate(&mut client)?;
    let admin_key = bootstrap(&mut client)?;
    let mut writer = PgWriter::new(client)?;
    let stop = Arc::new(AtomicBool::new(false));
    writer.background_stop = Some(Arc::clone(&stop));
    let indexer = config.connect(NoTls)?;
    std::thread::Builder::new().name("xingtong-pg-history".into()).spawn(move || history_loop(indexer, &stop))?;
    let readers = (0..readers)
        .map(|_| Ok(Box::new(PgReader { client: config.connect(NoTls)? }) as Box<dyn Reader>))
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Opened { writer, readers, admin_key })
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )?;
    for &(version, name, sql) in MIGRATIONS {
        let applied: bool =
            tx.query_one("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", &[&version])?.get(0);
        if !applied {
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&version, &name, &u64_int(now_ns())],
            )?;
            tracing::info!(version, name, "postgres migration applied");
        }
    }
    tx.commit()?;
    Ok(())
}

fn bootstrap(client: &mut Client) -> Result<Option<NewApiKey>, StoreError> {
    let mut tx = client.transaction()?;
    // Two processes starting on a fresh database at once must not both make an admin key.
    tx.batch_execute("LOCK TABLE api_keys IN EXCLUSIVE MODE")?;
    let any: bool = tx.query_one("SELECT EXISTS (SELECT 1 FROM api_keys)", &[])?.get(0);
    if any {
        return Ok(None);
    }
    let key = NewApiKey::generate("admin", "operations admin (created at first start)", now_ns());
    insert_api_key(&mut tx, &key.record)?;
    tx.commit()?;
    Ok(Some(key))
}

fn insert_api_key(client: &mut impl postgres::GenericClient, record: &ApiKeyRecord) -> Result<(), StoreError> {
    client.execute(
        "INSERT INTO api_keys (id, secret_sha256, role, label, created_at, revoked_at, owner) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &record.id,
            &record.secret_sha256,
            &record.role,
            &record.label,
            &u64_int(record.created_at),
            &record.revoked_at.map(u64_int),
            &record.owner,
        ],
    )?;
    Ok(())
}

/// Prepared statements of the writer, made once per connection.
struct Statements {
    idempotency: Statement,
    accounts: Statement,
    transfers: Statement,
    pending: Statement,
    failed: Statement,
    /// The highest transfer id stored (as a transfer or a failed one): new transfers above it (the
    /// usual case) need no lookup.
    highest_id: Statement,
    due: Statement,
    insert_accounts: Statement,
    update_accounts: Statement,
    insert_transfers: Statement,
    upsert_pending: Statement,
    insert_failed: Statement,
    insert_idempotency: Statement,
    record_version: Statement,
    txn_version: Statement,
    key_holder: Statement,
    counter: Statement,
    claim_key: Statement,
    release_key: Statement,
    insert_blob: Statement,
    insert_audit: Statement,
    revoke_key: Statement,
    versions: Statement,
    holders: Statement,
    counters: Statement,
    put_records: Statement,
    put_txns: Statement,
    remove_record: Statement,
    set_counters: Statement,
}

pub(crate) struct PgWriter {
    client: Client,
    statements: Statements,
    /// Record rows and counter values of this transaction, written with one statement each at
    /// commit (the group's checks read the overlay, never these tables, in between).
    pending_records: Vec<RecordRow>,
    pending_counters: std::collections::HashMap<String, i64>,
    /// Rows of the typed domain tables, likewise (a clearing run writes a settlement and a payout
    /// per merchant).
    pending_typed: Vec<TypedRow>,
    /// The clock as `begin` read it, so that a commit that handed out no timestamp leaves it alone.
    clock_at_begin: u64,
    /// Tells the history indexer to stop when the writer goes.
    background_stop: Option<Arc<AtomicBool>>,
}

/// A record row waiting for the commit.
struct RecordRow {
    kind: String,
    id: String,
    owner: String,
    status: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    due_at: Option<i64>,
    body: Vec<u8>,
    listed: bool,
    /// A transaction's columns: the row goes to `transactions`.
    txn: Option<TxnColumns>,
}

/// A row of a typed domain table waiting for the commit: its values in insert order (merchant and
/// id first), the body last.
struct TypedRow {
    table: Table,
    values: Vec<Value>,
    body: Vec<u8>,
}

/// Rows of one multi-row insert: within PostgreSQL's 65,535 parameters for the widest table.
const TYPED_ROWS_PER_STATEMENT: usize = 1_000;

fn unnest(types: &[&str]) -> String {
    types.iter().enumerate().map(|(i, t)| format!("${}::{t}[]", i + 1)).collect::<Vec<_>>().join(", ")
}

impl PgWriter {
    fn new(mut client: Client) -> Result<PgWriter, StoreError> {
        let account_types =
            ["bytea", "bytea", "bytea", "bytea", "bytea", "bytea", "int8", "int8", "int8", "int8", "int8", "int8"];
        let transfer_types = [
            "bytea", "bytea", "bytea", "bytea", "bytea", "bytea", "int8", "int8", "int8", "int8", "int8", "int8",
            "int8",
        ];
        let mut prepare = |sql: &str| client.prepare(sql);
        let statements = Statements {
            idempotency: prepare(
                "SELECT request_sha256, status, body, created_at FROM idempotency_keys WHERE scope = $1 AND key = $2",
            )?,
            accounts: prepare(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1)"))?,
            transfers: prepare(&format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY($1)"))?,
            pending: prepare("SELECT id, state, expires_at FROM pending_transfers WHERE id = ANY($1)")?,
            failed: prepare("SELECT id, result FROM failed_transfers WHERE id = ANY($1)")?,
            highest_id: prepare(
                "SELECT greatest((SELECT id FROM transfers ORDER BY id DESC LIMIT 1), \
                 (SELECT id FROM failed_transfers ORDER BY id DESC LIMIT 1))",
            )?,
            due: prepare(
                "SELECT id FROM pending_transfers WHERE state = 1 AND expires_at <> 0 AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
            )?,
            insert_accounts: prepare(&format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) SELECT * FROM UNNEST({})",
                unnest(&account_types)
            ))?,
            update_accounts: prepare(
                "UPDATE accounts AS a SET debits_pending = u.dp, debits_posted = u.dpo, credits_pending = u.cp, credits_posted = u.cpo \
                 FROM UNNEST($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[]) AS u(id, dp, dpo, cp, cpo) \
                 WHERE a.id = u.id",
            )?,
            insert_transfers: prepare(&format!(
                "INSERT INTO transfers ({TRANSFER_COLUMNS}) SELECT * FROM UNNEST({})",
                unnest(&transfer_types)
            ))?,
            upsert_pending: prepare(
                "INSERT INTO pending_transfers (id, state, expires_at) SELECT * FROM UNNEST($1::bytea[], $2::int2[], $3::int8[]) \
                 ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state",
            )?,
            insert_failed: prepare(
                "INSERT INTO failed_transfers (id, result) SELECT * FROM UNNEST($1::bytea[], $2::text[])",
            )?,
            insert_idempotency: prepare(
                "INSERT INTO idempotency_keys (scope, key, request_sha256, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )?,
            // Domain writes: prepared once, so that each is one round trip, not a parse and an execute.
            record_version: prepare("SELECT version FROM records WHERE kind = $1 AND id = $2")?,
            txn_version: prepare("SELECT version FROM transactions WHERE id = $2 AND kind = $1")?,
            remove_record: prepare("DELETE FROM records WHERE kind = $1 AND id = $2")?,
            // The group's transactions, and their buckets of `txn_totals` in the same statement:
            // each new row adds itself to its bucket, each row it replaces (read before the
            // statement, as every part of it sees the database) is taken from its old one.
            put_txns: prepare(&format!(
                "WITH new AS (SELECT * FROM UNNEST({}) AS n ({TXN_COLUMNS})), \
                 old AS (SELECT t.merchant_id, t.business_day, t.terminal_id, t.operator, t.method, t.business_type, \
                         t.txn_type, t.status, t.amount_minor, t.fee_minor, t.at \
                         FROM transactions t JOIN new n ON t.id = n.id AND t.merchant_id = n.merchant_id), \
                 written AS (INSERT INTO transactions ({TXN_COLUMNS}) SELECT * FROM new \
                 ON CONFLICT (id, merchant_id) DO UPDATE SET status = EXCLUDED.status, version = EXCLUDED.version, \
                 updated_at = EXCLUDED.updated_at, txn_type = EXCLUDED.txn_type, amount_minor = EXCLUDED.amount_minor, \
                 fee_minor = EXCLUDED.fee_minor, refunded_minor = EXCLUDED.refunded_minor, \
                 fee_refunded_minor = EXCLUDED.fee_refunded_minor, response_code = EXCLUDED.response_code, \
                 original_id = EXCLUDED.original_id, body = EXCLUDED.body, operator = EXCLUDED.operator, \
                 business_type = EXCLUDED.business_type), \
                 deltas AS (SELECT {TOTALS_KEY}, at, 1 AS c, amount_minor AS a, fee_minor AS f FROM new \
                            UNION ALL SELECT {TOTALS_KEY}, at, -1, -amount_minor, -fee_minor FROM old), \
                 hours AS (INSERT INTO txn_hours (merchant_id, business_day, hour, count, amount_minor) \
                            SELECT merchant_id, business_day, ((at / 1000000000 + 28800) / 3600) % 24, \
                            sum(c)::int8, sum(a)::int8 FROM deltas \
                            WHERE txn_type IN ('sale', 'completion') AND status = 'approved' \
                            GROUP BY merchant_id, business_day, ((at / 1000000000 + 28800) / 3600) % 24 \
                            ON CONFLICT (merchant_id, business_day, hour) DO UPDATE \
                            SET count = txn_hours.count + EXCLUDED.count, \
                            amount_minor = txn_hours.amount_minor + EXCLUDED.amount_minor RETURNING 1) \
                 INSERT INTO txn_totals ({TOTALS_KEY}, count, amount_minor, fee_minor) \
                 SELECT {TOTALS_KEY}, sum(c)::int8, sum(a)::int8, sum(f)::int8 FROM deltas GROUP BY {TOTALS_KEY} \
                 ON CONFLICT ({TOTALS_KEY}) DO UPDATE SET count = txn_totals.count + EXCLUDED.count, \
                 amount_minor = txn_totals.amount_minor + EXCLUDED.amount_minor, \
                 fee_minor = txn_totals.fee_minor + EXCLUDED.fee_minor",
                unnest(&TXN_TYPES)
            ))?,
            key_holder: prepare("SELECT id FROM record_keys WHERE kind = $1 AND key = $2")?,
            counter: prepare("SELECT value FROM counters WHERE key = $1")?,
            claim_key: prepare(
                "INSERT INTO record_keys (kind, key, id) VALUES ($1, $2, $3) ON CONFLICT (kind, key) DO NOTHING",
            )?,
            release_key: prepare("DELETE FROM record_keys WHERE kind = $1 AND key = $2")?,
            insert_blob: prepare(
                "INSERT INTO blobs (sha256, content_type, size, bytes, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (sha256) DO NOTHING",
            )?,
            insert_audit: prepare(
                "INSERT INTO audit_log (at, actor, action, subject_kind, subject_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
            )?,
            revoke_key: prepare(
                "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND owner = $2 AND revoked_at IS NULL",
            )?,
            versions: prepare(
                "SELECT r.kind, r.id, r.version FROM records r \
                 JOIN UNNEST($1::text[], $2::text[]) AS w(kind, id) ON r.kind = w.kind AND r.id = w.id",
            )?,
            holders: prepare(
                "SELECT k.kind, k.key, k.id FROM record_keys k \
                 JOIN UNNEST($1::text[], $2::text[]) AS w(kind, key) ON k.kind = w.kind AND k.key = w.key",
            )?,
            counters: prepare("SELECT key, value FROM counters WHERE key = ANY($1)")?,
            put_records: prepare(
                "INSERT INTO records (kind, id, owner, status, version, created_at, updated_at, due_at, body, listed) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], \
                 $7::int8[], $8::int8[], $9::bytea[], $10::bool[]) \
                 ON CONFLICT (kind, id) DO UPDATE SET owner = EXCLUDED.owner, status = EXCLUDED.status, \
                 version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, due_at = EXCLUDED.due_at, \
                 body = EXCLUDED.body, listed = EXCLUDED.listed",
            )?,
            set_counters: prepare(
                "INSERT INTO counters (key, value) SELECT * FROM UNNEST($1::text[], $2::int8[]) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )?,
        };
        Ok(PgWriter {
            client,
            statements,
            pending_records: Vec::new(),
            pending_counters: std::collections::HashMap::new(),
            pending_typed: Vec::new(),
            clock_at_begin: 0,
            background_stop: None,
        })
    }
}

impl Drop for PgWriter {
    fn drop(&mut self) {
        if let Some(stop) = &self.background_stop {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

fn history_loop(mut client: Client, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        crate::account_history::index_pass(index_history(&mut client), HISTORY_IDLE_MS);
    }
}

/// Indexes the next chunk of transfers after the watermark into `account_transfers`; returns how
/// many. One process at a time does it (the watermark row is locked, and a process that finds it
/// locked skips the pass). Transfers commit in timestamp order (every writer holds the clock row
/// from BEGIN to COMMIT), so the committed transfers after the watermark are exactly the ones
/// this pass can see, and none can appear later below the new watermark.
pub fn index_history(client: &mut Client) -> Result<usize, StoreError> {
    let mut tx = client.transaction()?;
    let Some(row) =
        tx.query_opt("SELECT indexed_through FROM history_watermark WHERE id = 1 FOR UPDATE SKIP LOCKED", &[])?
    else {
        return Ok(0);
    };
    let through: i64 = row.get(0);
    let rows = tx.query(
        "SELECT debit_account_id, credit_account_id, timestamp FROM transfers WHERE timestamp > $1 \
         ORDER BY timestamp LIMIT $2",
        &[&through, &HISTORY_CHUNK_MAX],
    )?;
    let Some(last) = rows.last().map(|r| r.get::<_, i64>(2)) else {
        return Ok(0);
    };
    let mut accounts: Vec<&[u8]> = Vec::with_capacity(rows.len() * 2);
    let mut timestamps: Vec<i64> = Vec::with_capacity(rows.len() * 2);
    for row in &rows {
        let timestamp: i64 = row.get(2);
        accounts.extend([row.get::<_, &[u8]>(0), row.get::<_, &[u8]>(1)]);
        timestamps.extend([timestamp, timestamp]);
    }
    tx.execute(
        "INSERT INTO account_transfers (account_id, timestamp) SELECT * FROM UNNEST($1::bytea[], $2::int8[]) \
         ON CONFLICT DO NOTHING",
        &[&accounts, &timestamps],
    )?;
    tx.execute("UPDATE history_watermark SET indexed_through = $1 WHERE id = 1", &[&last])?;
    tx.commit()?;
    Ok(rows.len())
}

impl PgWriter {
    /// Writes the group's transaction rows with one statement (the last row of each wins).
    fn flush_txns(&mut self, rows: Vec<RecordRow>) -> Result<(), StoreError> {
        let mut last: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            last.insert(r.id.as_str(), i);
        }
        let mut keep: Vec<usize> = last.into_values().collect();
        keep.sort_unstable();
        let rows: Vec<(&RecordRow, &TxnColumns)> =
            keep.iter().filter_map(|&i| rows[i].txn.as_ref().map(|t| (&rows[i], t))).collect();
        let text =
            |f: &dyn Fn(&RecordRow, &TxnColumns) -> String| rows.iter().map(|(r, t)| f(r, t)).collect::<Vec<_>>();
        let int = |f: &dyn Fn(&RecordRow, &TxnColumns) -> i64| rows.iter().map(|(r, t)| f(r, t)).collect::<Vec<_>>();
        let (merchants, ids, kinds, statuses) = (
            text(&|r, _| r.owner.clone()),
            text(&|r, _| r.id.clone()),
            text(&|r, _| r.kind.clone()),
            text(&|r, _| r.status.clone()),
        );
        let (versions, created, updated) =
            (int(&|r, _| r.version), int(&|r, _| r.created_at), int(&|r, _| r.updated_at));
        let (methods, types, terminals) =
            (text(&|_, t| t.method.clone()), text(&|_, t| t.txn_type.clone()), text(&|_, t| t.terminal_id.clone()));
        let batches: Vec<i32> = rows.iter().map(|(_, t)| t.batch as i32).collect();
        let stans: Vec<i32> = rows.iter().map(|(_, t)| t.stan as i32).collect();
        let days = text(&|_, t| t.business_day.clone());
        let (amounts, fees, refunded, fees_refunded) = (
            int(&|_, t| t.amount_minor),
            int(&|_, t| t.fee_minor),
            int(&|_, t| t.refunded_minor),
            int(&|_, t| t.fee_refunded_minor),
        );
        let codes = text(&|_, t| t.response_code.clone());
        let originals: Vec<Option<String>> = rows.iter().map(|(_, t)| t.original_id.clone()).collect();
        let channels = text(&|_, t| t.channel.clone());
        let ats = int(&|_, t| u64_int(t.at));
        let bodies: Vec<&[u8]> = rows.iter().map(|(r, _)| r.body.as_slice()).collect();
        let (operators, business_types) = (text(&|_, t| t.operator.clone()), text(&|_, t| t.business_type.clone()));
        self.client.execute(
            &self.statements.put_txns,
            &[
                &merchants,
                &ids,
                &kinds,
                &statuses,
                &versions,
                &created,
                &updated,
                &methods,
                &types,
                &terminals,
                &batches,
                &stans,
                &days,
                &amounts,
                &fees,
                &refunded,
                &fees_refunded,
                &codes,
                &originals,
                &channels,
                &ats,
                &bodies,
                &operators,
                &business_types,
            ],
        )?;
        Ok(())
    }

    /// Writes the group's rows of the typed domain tables: per table, multi-row upserts (the last
    /// row of an id wins: it is the newest; one statement may not touch a row twice).
    fn flush_typed(&mut self) -> Result<(), StoreError> {
        let rows = std::mem::take(&mut self.pending_typed);
        for table in Table::ALL {
            let mut last: std::collections::HashMap<(&Value, &Value), usize> = std::collections::HashMap::new();
            for (i, r) in rows.iter().enumerate().filter(|(_, r)| r.table == table) {
                last.insert((&r.values[0], &r.values[1]), i);
            }
            let mut keep: Vec<usize> = last.into_values().collect();
            keep.sort_unstable();
            for chunk in keep.chunks(TYPED_ROWS_PER_STATEMENT) {
                let width = crate::tables::insert_columns(table).len();
                let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(chunk.len() * width);
                for &i in chunk {
                    params.extend(rows[i].values.iter().map(sql_value));
                    params.push(Box::new(rows[i].body.clone()));
                }
                let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v.as_ref()).collect();
                self.client.execute(&crate::tables::upsert_rows_sql(table, chunk.len(), dollar), &params)?;
            }
        }
        Ok(())
    }

    /// Writes the group's record rows and counters, one statement each (the last row of a record
    /// and the last value of a counter win: they are the newest).
    fn flush_domain(&mut self) -> Result<(), StoreError> {
        if !self.pending_typed.is_empty() {
            self.flush_typed()?;
        }
        let (txns, records): (Vec<RecordRow>, Vec<RecordRow>) =
            std::mem::take(&mut self.pending_records).into_iter().partition(|r| r.txn.is_some());
        if !txns.is_empty() {
            self.flush_txns(txns)?;
        }
        if !records.is_empty() {
            let rows = records;
            let mut last: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
            for (i, r) in rows.iter().enumerate() {
                last.insert((r.kind.as_str(), r.id.as_str()), i);
            }
            let mut keep: Vec<usize> = last.into_values().collect();
            keep.sort_unstable();
            let pick = |f: &dyn Fn(&RecordRow) -> String| keep.iter().map(|&i| f(&rows[i])).collect::<Vec<_>>();
            let kinds = pick(&|r| r.kind.clone());
            let ids = pick(&|r| r.id.clone());
            let owners = pick(&|r| r.owner.clone());
            let statuses = pick(&|r| r.status.clone());
            let versions: Vec<i64> = keep.iter().map(|&i| rows[i].version).collect();
            let created: Vec<i64> = keep.iter().map(|&i| rows[i].created_at).collect();
            let updated: Vec<i64> = keep.iter().map(|&i| rows[i].updated_at).collect();
            let due: Vec<Option<i64>> = keep.iter().map(|&i| rows[i].due_at).collect();
            let bodies: Vec<&[u8]> = keep.iter().map(|&i| rows[i].body.as_slice()).collect();
            let listed: Vec<bool> = keep.iter().map(|&i| rows[i].listed).collect();
            self.client.execute(
                &self.statements.put_records,
                &[&kinds, &ids, &owners, &statuses, &versions, &created, &updated, &due, &bodies, &listed],
            )?;
        }
        if !self.pending_counters.is_empty() {
            let (keys, values): (Vec<String>, Vec<i64>) =
                std::mem::take(&mut self.pending_counters).into_iter().unzip();
            self.client.execute(&self.statements.set_counters, &[&keys, &values])?;
        }
        Ok(())
    }
}

fn id_array(ids: &[u128]) -> Vec<Vec<u8>> {
    ids.iter().map(|id| u128_bytes(*id).to_vec()).collect()
}

impl Backend for PgWriter {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn caches_accounts(&self) -> bool {
        false
    }

    fn begin(&mut self) -> Result<u64, StoreError> {
        // One round trip: the transaction and the clock row it serialises on.
        let mut last = None;
        for message in self.client.simple_query(&format!("BEGIN; {LOCK_CLOCK}"))? {
            if let postgres::SimpleQueryMessage::Row(row) = message {
                last = row.get(0).and_then(|v| v.parse::<i64>().ok());
            }
        }
        let last = last.ok_or_else(|| StoreError::Corrupt("the ledger clock row is missing".into()))?;
        self.clock_at_begin = int_u64(last);
        Ok(self.clock_at_begin)
    }

    fn idempotency(&mut self, scope: &str, key: &str) -> Result<Option<IdempotencyRow>, StoreError> {
        let row = self.client.query_opt(&self.statements.idempotency, &[&scope, &key])?;
        Ok(row.map(|r| IdempotencyRow {
            scope: scope.to_owned(),
            key: key.to_owned(),
            request_sha256: r.get(0),
            response: StoredResponse { status: u16::try_from(r.get::<_, i32>(1)).unwrap_or(500), body: r.get(2) },
            created_at: int_u64(r.get(3)),
        }))
    }

    fn load(&mut self, snapshot: &mut Snapshot, keys: &Keys) -> Result<(), StoreError> {
        let wanted: Vec<u128> =
            keys.accounts.iter().copied().filter(|id| !snapshot.accounts.contains_key(id)).collect();
        if !wanted.is_empty() {
            for row in self.client.query(&self.statements.accounts, &[&id_array(&wanted)])? {
                let account = account_from_row(&row)?;
                snapshot.accounts.insert(account.id, account);
            }
        }
        if keys.transfers.is_empty() {
            return Ok(());
        }
        // Only an id at or below the highest stored can exist. The payments core's ids are
        // time-ordered, so a sale's new transfers need no lookup: two index probes decide it, under
        // the clock lock that serialises writers (ORDER BY id DESC LIMIT 1, as PostgreSQL 15 has
        // no max(bytea)). Probing every id with EXISTS cost ~1.6 ms of a ~8 ms commit.
        let row = self.client.query_one(&self.statements.highest_id, &[])?;
        let highest = row.get::<_, Option<&[u8]>>(0).map_or(Ok(0), bytes_u128)?;
        let known: Vec<u128> = keys.transfers.iter().copied().filter(|id| *id <= highest).collect();
        if known.is_empty() {
            return Ok(());
        }
        let ids = id_array(&known);
        for row in self.client.query(&self.statements.transfers, &[&ids])? {
            let transfer = transfer_from_row(&row)?;
            snapshot.transfers.insert(transfer.id, transfer);
        }
        for row in self.client.query(&self.statements.pending, &[&ids])? {
            let id = bytes_u128(row.get::<_, &[u8]>(0))?;
            snapshot.pending.insert(id, pending_status(i64::from(row.get::<_, i16>(1)), row.get(2))?);
        }
        for row in self.client.query(&self.statements.failed, &[&ids])? {
            let id = bytes_u128(row.get::<_, &[u8]>(0))?;
            let name: &str = row.get(1);
            let result = CreateTransferResult::from_name(name)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown failure {name:?}")))?;
            snapshot.failed.insert(id, result);
        }
        Ok(())
    }

    fn due_pending(&mut self, now_ns: u64, limit: usize) -> Result<Vec<u128>, StoreError> {
        let rows = self.client.query(&self.statements.due, &[&u64_int(now_ns), &(limit as i64)])?;
        rows.iter().map(|r| bytes_u128(r.get::<_, &[u8]>(0))).collect()
    }

    fn write(
        &mut self,
        snapshot: &Snapshot,
        changes: &Changes,
        idempotency: &[IdempotencyRow],
    ) -> Result<(), StoreError> {
        let s = &self.statements;
        if !changes.accounts_created.is_empty() {
            let accounts: Vec<_> = changes.accounts_created.iter().map(|id| snapshot.accounts[id]).collect();
            let blob = |f: fn(&xingtong_ledger::Account) -> u128| {
                accounts.iter().map(|a| u128_bytes(f(a)).to_vec()).collect::<Vec<_>>()
            };
            let int = |f: fn(&xingtong_ledger::Account) -> i64| accounts.iter().map(f).collect::<Vec<i64>>();
            self.client.execute(
                &s.insert_accounts,
                &[
                    &blob(|a| a.id),
                    &blob(|a| a.debits_pending),
                    &blob(|a| a.debits_posted),
                    &blob(|a| a.credits_pending),
                    &blob(|a| a.credits_posted),
                    &blob(|a| a.user_data_128),
                    &int(|a| u64_int(a.user_data_64)),
                    &int(|a| i64::from(a.user_data_32)),
                    &int(|a| i64::from(a.ledger)),
                    &int(|a| i64::from(a.code)),
                    &int(|a| i64::from(a.flags.0)),
                    &int(|a| u64_int(a.timestamp)),
                ],
            )?;
        }
        let updates = changes.accounts_to_update();
        if !updates.is_empty() {
            let accounts: Vec<_> = updates.iter().map(|id| snapshot.accounts[id]).collect();
            let blob = |f: fn(&xingtong_ledger::Account) -> u128| {
                accounts.iter().map(|a| u128_bytes(f(a)).to_vec()).collect::<Vec<_>>()
            };
            let updated = self.client.execute(
                &s.update_accounts,
                &[
                    &blob(|a| a.id),
                    &blob(|a| a.debits_pending),
                    &blob(|a| a.debits_posted),
                    &blob(|a| a.credits_pending),
                    &blob(|a| a.credits_posted),
                ],
            )?;
            // Pair assertion: every account we changed in memory is a row we update.
            assert_eq!(updated, accounts.len() as u64, "updated accounts must exist");
        }
        if !changes.transfers.is_empty() {
            let transfers = &changes.transfers;
            let blob = |f: fn(&xingtong_ledger::Transfer) -> u128| {
                transfers.iter().map(|t| u128_bytes(f(t)).to_vec()).collect::<Vec<_>>()
            };
            let int = |f: fn(&xingtong_ledger::Transfer) -> i64| transfers.iter().map(f).collect::<Vec<i64>>();
            self.client.execute(
                &s.insert_transfers,
                &[
                    &blob(|t| t.id),
                    &blob(|t| t.debit_account_id),
                    &blob(|t| t.credit_account_id),
                    &blob(|t| t.amount),
                    &blob(|t| t.pending_id),
                    &blob(|t| t.user_data_128),
                    &int(|t| u64_int(t.user_data_64)),
                    &int(|t| i64::from(t.user_data_32)),
                    &int(|t| i64::from(t.timeout)),
                    &int(|t| i64::from(t.ledger)),
                    &int(|t| i64::from(t.code)),
                    &int(|t| i64::from(t.flags.0)),
                    &int(|t| u64_int(t.timestamp)),
                ],
            )?;
        }
        let pending = changes.pending_final();
        if !pending.is_empty() {
            let ids: Vec<Vec<u8>> = pending.iter().map(|(id, _)| u128_bytes(*id).to_vec()).collect();
            let states: Vec<i16> = pending.iter().map(|(_, s)| i16::from(s.state.code())).collect();
            let expires: Vec<i64> = pending.iter().map(|(_, s)| u64_int(s.expires_at)).collect();
            self.client.execute(&s.upsert_pending, &[&ids, &states, &expires])?;
        }
        if !changes.failed.is_empty() {
            let ids: Vec<Vec<u8>> = changes.failed.iter().map(|(id, _)| u128_bytes(*id).to_vec()).collect();
            let results: Vec<&str> = changes.failed.iter().map(|(_, r)| r.as_str()).collect();
            self.client.execute(&s.insert_failed, &[&ids, &results])?;
        }
        for row in idempotency {
            self.client.execute(
                &s.insert_idempotency,
                &[
                    &row.scope,
                    &row.key,
                    &row.request_sha256,
                    &i32::from(row.response.status),
                    &row.response.body,
                    &u64_int(row.created_at),
                ],
            )?;
        }
        Ok(())
    }

    fn insert_api_key(&mut self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        insert_api_key(&mut self.client, record)
    }

    fn purge_idempotency(&mut self, before_ns: u64, limit: usize) -> Result<usize, StoreError> {
        let deleted = self.client.execute(
            "DELETE FROM idempotency_keys WHERE (scope, key) IN \
             (SELECT scope, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
            &[&u64_int(before_ns), &(limit as i64)],
        )?;
        Ok(deleted as usize)
    }

    fn purge_counters(&mut self, from: &str, below: &str, limit: usize) -> Result<usize, StoreError> {
        let deleted = self.client.execute(
            // Byte order ("C"), whatever the database's collation: a locale's order may skip the
            // punctuation that separates a key's parts, and a range would then take the wrong keys.
            "DELETE FROM counters WHERE key IN \
             (SELECT key FROM counters WHERE key COLLATE \"C\" >= $1 AND key COLLATE \"C\" < $2 LIMIT $3)",
            &[&from, &below, &(limit as i64)],
        )?;
        Ok(deleted as usize)
    }

    fn record_version(&mut self, kind: &str, id: &str) -> Result<Option<u64>, StoreError> {
        let row = self.client.query_opt(&self.statements.record_version, &[&kind, &id])?;
        Ok(row.map(|r| int_u64(r.get(0))))
    }

    fn txn_version(&mut self, kind: &str, id: &str) -> Result<Option<u64>, StoreError> {
        let row = self.client.query_opt(&self.statements.txn_version, &[&kind, &id])?;
        Ok(row.map(|r| int_u64(r.get(0))))
    }

    fn table_version(&mut self, table: Table, kind: &str, id: &str) -> Result<Option<u64>, StoreError> {
        let sql = format!("SELECT version FROM {} WHERE id = $1 AND kind = $2", table.name());
        let row = self.client.query_opt(&sql, &[&id, &kind])?;
        Ok(row.map(|r| int_u64(r.get(0))))
    }

    fn key_holder(&mut self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        let row = self.client.query_opt(&self.statements.key_holder, &[&kind, &key])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn write_change(&mut self, change: &Change, now_ns: u64) -> Result<(), StoreError> {
        for p in &change.puts {
            let r = &p.record;
            let created_at = if r.created_at == 0 { now_ns } else { r.created_at };
            if let Some(typed) = &p.typed {
                let values = crate::tables::row_values(p, typed, created_at, now_ns);
                self.pending_typed.push(TypedRow { table: typed.table, values, body: r.body.clone() });
                continue;
            }
            self.pending_records.push(RecordRow {
                kind: r.kind.clone(),
                id: r.id.clone(),
                owner: r.owner.clone(),
                status: r.status.clone(),
                version: u64_int(p.expected.unwrap_or(0) + 1),
                created_at: u64_int(created_at),
                updated_at: u64_int(now_ns),
                due_at: r.due_at.map(u64_int),
                body: r.body.clone(),
                listed: p.listed,
                txn: p.txn.clone(),
            });
        }
        if !change.settlement_lines.is_empty() {
            let lines = &change.settlement_lines;
            let text = |f: &dyn Fn(&SettlementLine) -> String| lines.iter().map(f).collect::<Vec<_>>();
            let int = |f: &dyn Fn(&SettlementLine) -> i64| lines.iter().map(f).collect::<Vec<_>>();
            let seqs: Vec<i32> = lines.iter().map(|l| l.seq as i32).collect();
            self.client.execute(
                &format!(
                    "INSERT INTO settlement_lines ({LINE_COLUMNS}) SELECT * FROM UNNEST($1::text[], $2::text[], \
                     $3::int4[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])"
                ),
                &[
                    &text(&|l| l.merchant_id.clone()),
                    &text(&|l| l.settlement_id.clone()),
                    &seqs,
                    &text(&|l| l.txn_id.clone()),
                    &text(&|l| l.txn_type.clone()),
                    &text(&|l| l.business_day.clone()),
                    &int(&|l| l.amount_minor),
                    &int(&|l| l.fee_minor),
                    &int(&|l| l.surcharge_minor),
                    &int(&|l| l.net_minor),
                ],
            )?;
        }
        for (kind, id) in &change.remove_records {
            self.pending_records.retain(|r| !(r.txn.is_none() && r.kind == *kind && r.id == *id));
            self.client.execute(&self.statements.remove_record, &[kind, id])?;
        }
        let PgWriter { client, statements, .. } = self;
        for k in &change.claim_keys {
            client.execute(&statements.claim_key, &[&k.kind, &k.key, &k.id])?;
        }
        for (kind, key) in &change.release_keys {
            client.execute(&statements.release_key, &[kind, key])?;
        }
        for b in &change.blobs {
            client.execute(
                &statements.insert_blob,
                &[&&b.sha256[..], &b.content_type, &(b.bytes.len() as i64), &b.bytes, &u64_int(now_ns)],
            )?;
        }
        for a in &change.audit {
            let at = if a.at == 0 { now_ns } else { a.at };
            client.execute(
                &statements.insert_audit,
                &[&u64_int(at), &a.actor, &a.action, &a.subject_kind, &a.subject_id, &a.detail],
            )?;
        }
        for key in &change.api_keys {
            insert_api_key(client, key)?;
        }
        for (id, owner) in &change.revoke_api_keys {
            client.execute(&statements.revoke_key, &[id, owner, &u64_int(now_ns)])?;
        }
        Ok(())
    }

    fn counter(&mut self, key: &str) -> Result<i64, StoreError> {
        let row = self.client.query_opt(&self.statements.counter, &[&key])?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    fn set_counters(&mut self, values: &[(String, i64)]) -> Result<(), StoreError> {
        for (key, value) in values {
            self.pending_counters.insert(key.clone(), *value);
        }
        Ok(())
    }

    /// One query per kind of thing a group checks, instead of one round trip each.
    fn prefetch(&mut self, wanted: &Wanted) -> Result<Overlay, StoreError> {
        let mut overlay = Overlay::default();
        let wanted_of = |home: Home| wanted.records.iter().filter(move |w| w.2 == home);
        for (kind, id, _, _) in &wanted.records {
            overlay.versions.insert((kind.clone(), id.clone()), None);
        }
        for table in Table::ALL {
            let (ids, merchants): (Vec<&str>, Vec<&str>) =
                wanted_of(Home::Table(table)).map(|w| (w.1.as_str(), w.3.as_str())).unzip();
            if ids.is_empty() {
                continue;
            }
            // Joined by the whole key, as the planner needs to use it (see `TXN_VERSIONS`).
            let sql = format!(
                "SELECT t.kind, t.id, t.version FROM {} t JOIN UNNEST($1::text[], $2::text[]) AS w(id, merchant_id) \
                 ON t.id = w.id AND t.merchant_id = w.merchant_id",
                table.name()
            );
            for row in self.client.query(&sql, &[&ids, &merchants])? {
                overlay.versions.insert((row.get(0), row.get(1)), Some(int_u64(row.get(2))));
            }
        }
        let (kinds, ids): (Vec<&str>, Vec<&str>) =
            wanted_of(Home::Records).map(|w| (w.0.as_str(), w.1.as_str())).unzip();
        if !kinds.is_empty() {
            for row in self.client.query(&self.statements.versions, &[&kinds, &ids])? {
                overlay.versions.insert((row.get(0), row.get(1)), Some(int_u64(row.get(2))));
            }
        }
        let kinds: Vec<&str> = wanted_of(Home::Transactions).map(|w| w.0.as_str()).collect();
        if !kinds.is_empty() {
            let ids: Vec<&str> = wanted_of(Home::Transactions).map(|w| w.1.as_str()).collect();
            let merchants: Vec<&str> = wanted_of(Home::Transactions).map(|w| w.3.as_str()).collect();
            for row in self.client.query(TXN_VERSIONS, &[&kinds, &ids, &merchants])? {
                overlay.versions.insert((row.get(0), row.get(1)), Some(int_u64(row.get(2))));
            }
        }
        if !wanted.keys.is_empty() {
            let (kinds, keys): (Vec<&str>, Vec<&str>) =
                wanted.keys.iter().map(|(k, i)| (k.as_str(), i.as_str())).unzip();
            for (kind, key) in &wanted.keys {
                overlay.holders.insert((kind.clone(), key.clone()), None);
            }
            for row in self.client.query(&self.statements.holders, &[&kinds, &keys])? {
                overlay.holders.insert((row.get(0), row.get(1)), Some(row.get(2)));
            }
        }
        if !wanted.counters.is_empty() {
            for key in &wanted.counters {
                overlay.counters.insert(key.clone(), 0);
            }
            for row in self.client.query(&self.statements.counters, &[&wanted.counters])? {
                overlay.counters.insert(row.get(0), row.get(1));
            }
        }
        Ok(overlay)
    }

    fn commit(&mut self, last_timestamp: u64) -> Result<(), StoreError> {
        self.flush_domain()?;
        // An idle expiry tick changes nothing; skipping the update keeps it from writing WAL.
        if last_timestamp != self.clock_at_begin {
            // The clock and the commit in one round trip (an integer, formatted: nothing to inject).
            let update =
                format!("UPDATE ledger_clock SET last_timestamp = {} WHERE id = 1; COMMIT", u64_int(last_timestamp));
            self.client.batch_execute(&update)?;
        } else {
            self.client.batch_execute("COMMIT")?;
        }
        Ok(())
    }

    fn rollback(&mut self) {
        self.pending_records.clear();
        self.pending_counters.clear();
        if let Err(error) = self.client.batch_execute("ROLLBACK") {
            tracing::warn!(%error, "postgres rollback failed");
        }
    }
}

/// Locks the ledger clock row: every writer serialises on it.
const LOCK_CLOCK: &str = "SELECT last_timestamp FROM ledger_clock WHERE id = 1 FOR UPDATE";

const API_KEY_COLUMNS: &str = "id, secret_sha256, role, label, created_at, revoked_at, owner";
const RECORD_COLUMNS: &str = "kind, id, owner, status, version, created_at, updated_at, due_at, body";
/// The versions of the transactions a group names (see `prefetch`): by the whole primary key (id
/// and merchant), so that the planner knows each probe finds one row. By id alone (a prefix of
/// the key, so not unique to the planner), on a table not analyzed yet, it chose a hash join over
/// the whole table at every commit: peak sales on PostgreSQL fell from 15,000 to 8,000/s.
const TXN_VERSIONS: &str = "SELECT t.kind, t.id, t.version FROM transactions t \
     JOIN UNNEST($1::text[], $2::text[], $3::text[]) AS w(kind, id, merchant_id) \
     ON t.id = w.id AND t.merchant_id = w.merchant_id AND t.kind = w.kind";

/// The `settlement_lines` table's columns, in the order they are read.
pub(crate) const LINE_COLUMNS: &str = "merchant_id, settlement_id, seq, txn_id, txn_type, business_day, amount_minor, \
     fee_minor, surcharge_minor, net_minor";

/// The `transactions` table's columns, in the order [`txn_from_row`] reads them.
pub(crate) const TXN_COLUMNS: &str = "merchant_id, id, kind, status, version, created_at, updated_at, method, txn_type, \
     terminal_id, batch, stan, business_day, amount_minor, fee_minor, refunded_minor, fee_refunded_minor, response_code, \
     original_id, channel, at, body, operator, business_type";
const TXN_TYPES: [&str; 24] = [
    "text", "text", "text", "text", "int8", "int8", "int8", "text", "text", "text", "int4", "int4", "text", "int8",
    "int8", "int8", "int8", "text", "text", "text", "int8", "bytea", "text", "text",
];

/// The columns of a transactions bucket ([`crate::TotalsRow`]), in `txn_totals`' key order.
pub(crate) const TOTALS_KEY: &str =
    "merchant_id, business_day, terminal_id, operator, method, business_type, txn_type, status";

/// The ids that start with `prefix`, as a half-open range in byte order.
pub(crate) fn txn_id_range(prefix: &str) -> (String, String) {
    (prefix.to_owned(), format!("{prefix}\u{10FFFF}"))
}

fn txn_from_row(row: &postgres::Row) -> TxnRow {
    let columns = TxnColumns {
        method: row.get(7),
        txn_type: row.get(8),
        terminal_id: row.get(9),
        batch: u32::try_from(row.get::<_, i32>(10)).unwrap_or(0),
        stan: u32::try_from(row.get::<_, i32>(11)).unwrap_or(0),
        business_day: row.get(12),
        amount_minor: row.get(13),
        fee_minor: row.get(14),
        refunded_minor: row.get(15),
        fee_refunded_minor: row.get(16),
        response_code: row.get(17),
        original_id: row.get(18),
        channel: row.get(19),
        at: int_u64(row.get(20)),
        operator: row.get(22),
        business_type: row.get(23),
    };
    let record = Record {
        owner: row.get(0),
        id: row.get(1),
        kind: row.get(2),
        status: row.get(3),
        version: int_u64(row.get(4)),
        created_at: int_u64(row.get(5)),
        updated_at: int_u64(row.get(6)),
        due_at: None,
        body: row.get(21),
    };
    TxnRow { columns, record }
}

fn api_key_from_row(r: &postgres::Row) -> ApiKeyRecord {
    ApiKeyRecord {
        id: r.get(0),
        secret_sha256: r.get(1),
        role: r.get(2),
        label: r.get(3),
        created_at: int_u64(r.get(4)),
        revoked_at: r.get::<_, Option<i64>>(5).map(int_u64),
        owner: r.get(6),
    }
}

/// PostgreSQL's numbered placeholder.
fn dollar(n: usize) -> String {
    format!("${n}")
}

fn sql_value(value: &Value) -> Box<dyn ToSql + Sync> {
    match value {
        Value::Int(n) => Box::new(*n),
        Value::Text(s) => Box::new(s.clone()),
    }
}

fn record_from_row(r: &postgres::Row) -> Record {
    Record {
        kind: r.get(0),
        id: r.get(1),
        owner: r.get(2),
        status: r.get(3),
        version: int_u64(r.get(4)),
        created_at: int_u64(r.get(5)),
        updated_at: int_u64(r.get(6)),
        due_at: r.get::<_, Option<i64>>(7).map(int_u64),
        body: r.get(8),
    }
}

struct PgReader {
    client: Client,
}

impl Reader for PgReader {
    fn accounts(&mut self, ids: &[u128]) -> Result<Vec<crate::Account>, StoreError> {
        let rows = self
            .client
            .query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1)"), &[&id_array(ids)])?;
        rows.iter().map(account_from_row).collect()
    }

    fn transfers(&mut self, ids: &[u128]) -> Result<Vec<crate::Transfer>, StoreError> {
        let rows = self
            .client
            .query(&format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ANY($1)"), &[&id_array(ids)])?;
        rows.iter().map(transfer_from_row).collect()
    }

    fn account_transfers(
        &mut self,
        account: u128,
        after_timestamp: u64,
        limit: u32,
    ) -> Result<Vec<crate::Transfer>, StoreError> {
        let rows = self.client.query(
            // One statement, so one snapshot: the indexed part up to the watermark, then the tail of
            // transfers after it (found by timestamp, scanned in order until enough match).
            &format!(
                "WITH w AS (SELECT indexed_through AS through FROM history_watermark WHERE id = 1) \
                 (SELECT {TRANSFER_COLUMNS} FROM transfers WHERE timestamp IN ( \
                     SELECT a.timestamp FROM account_transfers a WHERE a.account_id = $1 AND a.timestamp > $2 \
                     AND a.timestamp <= (SELECT through FROM w) ORDER BY a.timestamp LIMIT $3)) \
                 UNION ALL \
                 (SELECT {TRANSFER_COLUMNS} FROM transfers \
                  WHERE timestamp > greatest($2, (SELECT through FROM w)) \
                  AND (debit_account_id = $1 OR credit_account_id = $1) ORDER BY timestamp LIMIT $3) \
                 ORDER BY timestamp LIMIT $3"
            ),
            &[&u128_bytes(account).to_vec(), &u64_int(after_timestamp), &i64::from(limit)],
        )?;
        rows.iter().map(transfer_from_row).collect()
    }

    fn api_key(&mut self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = self.client.query_opt(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = $1"), &[&id])?;
        Ok(row.as_ref().map(api_key_from_row))
    }

    fn counter(&mut self, key: &str) -> Result<i64, StoreError> {
        let row = self.client.query_opt("SELECT value FROM counters WHERE key = $1", &[&key])?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    fn api_keys_of(&mut self, owner: &str) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows = self.client.query(
            &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE owner = $1 ORDER BY created_at"),
            &[&owner],
        )?;
        Ok(rows.iter().map(api_key_from_row).collect())
    }

    fn record(&mut self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let row = self
            .client
            .query_opt(&format!("SELECT {RECORD_COLUMNS} FROM records WHERE kind = $1 AND id = $2"), &[&kind, &id])?;
        Ok(row.as_ref().map(record_from_row))
    }

    fn transaction(&mut self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let row = self
            .client
            .query_opt(&format!("SELECT {TXN_COLUMNS} FROM transactions WHERE id = $1 AND kind = $2"), &[&id, &kind])?;
        Ok(row.as_ref().map(|r| txn_from_row(r).record))
    }

    fn transactions(&mut self, query: &TxnQuery) -> Result<Vec<TxnRow>, StoreError> {
        let (after_day, after_id) = query.after.clone().unwrap_or_default();
        let batch = query.batch.map(|b| b as i32);
        // A terminal's transactions (of a batch) are one range of the id index (see `TxnColumns`).
        let (low, high) = match (&query.terminal, query.batch) {
            (Some(terminal), Some(batch)) => txn_id_range(&format!("{terminal}-{batch:06}-")),
            (Some(terminal), None) => txn_id_range(&format!("{terminal}-")),
            _ => (String::new(), String::new()),
        };
        let rows = self.client.query(
            &format!(
                "SELECT {TXN_COLUMNS} FROM transactions WHERE ($1::text IS NULL OR merchant_id = $1) \
                 AND ($2::text IS NULL OR (terminal_id = $2 AND id >= $10 AND id < $11)) \
                 AND ($3::int4 IS NULL OR batch = $3) \
                 AND ($4::text IS NULL OR business_day >= $4) AND ($5::text IS NULL OR business_day <= $5) \
                 AND (cardinality($6::text[]) = 0 OR status = ANY($6)) AND (business_day, id) > ($7, $8) \
                 AND (cardinality($12::text[]) = 0 OR method = ANY($12)) \
                 AND (cardinality($13::text[]) = 0 OR operator = ANY($13)) \
                 AND (cardinality($14::text[]) = 0 OR business_type = ANY($14)) \
                 AND (cardinality($16::text[]) = 0 OR txn_type = ANY($16)) \
                 AND ($1::text IS NULL OR NOT $15 \
                      OR business_day IN (SELECT business_day FROM txn_totals WHERE merchant_id = $1 \
                          AND business_day >= coalesce($4, '') AND business_day <= coalesce($5, '~') AND count <> 0 \
                          AND (cardinality($6::text[]) = 0 OR status = ANY($6)) \
                          AND (cardinality($12::text[]) = 0 OR method = ANY($12)) \
                          AND (cardinality($13::text[]) = 0 OR operator = ANY($13)) \
                          AND (cardinality($14::text[]) = 0 OR business_type = ANY($14)) \
                          AND (cardinality($16::text[]) = 0 OR txn_type = ANY($16)))) \
                 ORDER BY business_day, id LIMIT $9"
            ),
            &[
                &query.merchant,
                &query.terminal,
                &batch,
                &query.day_from,
                &query.day_to,
                &query.statuses,
                &after_day,
                &after_id,
                &i64::from(query.limit),
                &low,
                &high,
                &query.methods,
                &query.operators,
                &query.business_types,
                &query.filters_rows(),
                &query.types,
            ],
        )?;
        Ok(rows.iter().map(txn_from_row).collect())
    }

    fn txn_hours(&mut self, query: &TotalsQuery) -> Result<Vec<crate::records::HourRow>, StoreError> {
        let rows = self.client.query(
            "SELECT hour, sum(count)::int8, sum(amount_minor)::int8 FROM txn_hours WHERE merchant_id = $1 \
             AND business_day >= $2 AND business_day <= $3 GROUP BY hour HAVING sum(count) <> 0 ORDER BY hour",
            &[&query.merchant, &query.day_from, &query.day_to],
        )?;
        Ok(rows
            .iter()
            .map(|r| crate::records::HourRow {
                hour: u8::try_from(r.get::<_, i32>(0)).unwrap_or(0),
                count: r.get(1),
                amount_minor: r.get(2),
            })
            .collect())
    }

    fn txn_totals(&mut self, query: &TotalsQuery) -> Result<Vec<TotalsRow>, StoreError> {
        let rows = self.client.query(
            "SELECT business_day, terminal_id, operator, method, business_type, txn_type, status, count, amount_minor, \
             fee_minor FROM txn_totals WHERE merchant_id = $1 AND business_day >= $2 AND business_day <= $3 \
             AND count <> 0 ORDER BY business_day, terminal_id, operator, method, business_type, txn_type, status",
            &[&query.merchant, &query.day_from, &query.day_to],
        )?;
        Ok(rows
            .iter()
            .map(|r| TotalsRow {
                business_day: r.get(0),
                terminal_id: r.get(1),
                operator: r.get(2),
                method: r.get(3),
                business_type: r.get(4),
                txn_type: r.get(5),
                status: r.get(6),
                count: r.get(7),
                amount_minor: r.get(8),
                fee_minor: r.get(9),
            })
            .collect())
    }

    fn table_record(&mut self, table: Table, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let sql = format!(
            "SELECT {} FROM {} WHERE id = $1 AND kind = $2",
            crate::tables::record_columns("NULL::int8"),
            table.name()
        );
        let row = self.client.query_opt(&sql, &[&id, &kind])?;
        Ok(row.as_ref().map(record_from_row))
    }

    fn table_records(&mut self, query: &TableQuery) -> Result<Vec<Record>, StoreError> {
        let (sql, values) = crate::tables::select_sql(query, "NULL::int8", dollar)?;
        let values: Vec<Box<dyn ToSql + Sync>> = values.iter().map(sql_value).collect();
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v.as_ref()).collect();
        Ok(self.client.query(&sql, &params)?.iter().map(record_from_row).collect())
    }

    fn settlement_lines(
        &mut self,
        merchant: &str,
        settlement: &str,
        after_seq: u32,
        limit: u32,
    ) -> Result<Vec<SettlementLine>, StoreError> {
        let rows = self.client.query(
            &format!(
                "SELECT {LINE_COLUMNS} FROM settlement_lines WHERE merchant_id = $1 AND settlement_id = $2 AND seq > $3 \
                 ORDER BY seq LIMIT $4"
            ),
            &[&merchant, &settlement, &(after_seq as i32), &i64::from(limit)],
        )?;
        Ok(rows
            .iter()
            .map(|r| SettlementLine {
                merchant_id: r.get(0),
                settlement_id: r.get(1),
                seq: u32::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                txn_id: r.get(3),
                txn_type: r.get(4),
                business_day: r.get(5),
                amount_minor: r.get(6),
                fee_minor: r.get(7),
                surcharge_minor: r.get(8),
                net_minor: r.get(9),
            })
            .collect())
    }

    fn unlisted_records(&mut self, kind: &str, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows = self.client.query(
            &format!("SELECT {RECORD_COLUMNS} FROM records WHERE kind = $1 AND NOT listed ORDER BY id LIMIT $2"),
            &[&kind, &i64::from(limit)],
        )?;
        Ok(rows.iter().map(record_from_row).collect())
    }

    fn record_by_key(&mut self, kind: &str, key: &str) -> Result<Option<Record>, StoreError> {
        let row = self.client.query_opt(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE kind = $1 AND id = (SELECT id FROM record_keys WHERE kind = $1 AND key = $2)"
            ),
            &[&kind, &key],
        )?;
        Ok(row.as_ref().map(record_from_row))
    }

    fn records(&mut self, query: &RecordQuery) -> Result<Vec<Record>, StoreError> {
        let (after_created, after_id, cmp, direction) = match (&query.after, query.descending) {
            (Some((created_at, id)), false) => (u64_int(*created_at), id.clone(), ">", ""),
            (None, false) => (i64::MIN, String::new(), ">", ""),
            (Some((created_at, id)), true) => (u64_int(*created_at), id.clone(), "<", " DESC"),
            // Above every id: ids are ASCII.
            (None, true) => (i64::MAX, "\u{10FFFF}".to_owned(), "<", " DESC"),
        };
        let rows = self.client.query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE listed AND kind = $1 AND ($2::text IS NULL OR owner = $2) \
                 AND (cardinality($3::text[]) = 0 OR status = ANY($3)) AND (created_at, id) {cmp} ($4, $5) \
                 ORDER BY created_at{direction}, id{direction} LIMIT $6"
            ),
            &[&query.kind, &query.owner, &query.statuses, &after_created, &after_id, &i64::from(query.limit)],
        )?;
        Ok(rows.iter().map(record_from_row).collect())
    }

    fn due_records(&mut self, kind: &str, status: &str, now_ns: u64, limit: u32) -> Result<Vec<Record>, StoreError> {
        let rows = self.client.query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE kind = $1 AND status = $2 AND due_at IS NOT NULL AND due_at <= $3 \
                 ORDER BY due_at LIMIT $4"
            ),
            &[&kind, &status, &u64_int(now_ns), &i64::from(limit)],
        )?;
        Ok(rows.iter().map(record_from_row).collect())
    }

    fn blob(&mut self, sha256: &[u8]) -> Result<Option<Blob>, StoreError> {
        let row = self.client.query_opt("SELECT content_type, bytes FROM blobs WHERE sha256 = $1", &[&sha256])?;
        row.map(|r| blob_from_parts(sha256, r.get(0), r.get(1))).transpose()
    }

    fn audit_log(&mut self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let (sql, texts) = query.sql("seq, at, actor, action, subject_kind, subject_id, detail", '$');
        let (bound, limit) = (u64_int(query.seq_bound()), i64::from(query.limit));
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
            texts.iter().map(|t| t as &(dyn postgres::types::ToSql + Sync)).collect();
        params.push(&bound);
        params.push(&limit);
        let rows = self.client.query(&sql, &params)?;
        Ok(rows
            .iter()
            .map(|r| AuditEntry {
                seq: int_u64(r.get(0)),
                at: int_u64(r.get(1)),
                actor: r.get(2),
                action: r.get(3),
                subject_kind: r.get(4),
                subject_id: r.get(5),
                detail: r.get(6),
            })
            .collect())
    }

    fn scan_accounts(&mut self, visit: &mut dyn FnMut(crate::Account)) -> Result<u64, StoreError> {
        // One snapshot for accounts and the count.
        let mut tx = snapshot(&mut self.client)?;
        for row in tx.query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"), &[])? {
            visit(account_from_row(&row)?);
        }
        let transfers: i64 = tx.query_one("SELECT count(*) FROM transfers", &[])?.get(0);
        tx.commit()?;
        Ok(int_u64(transfers))
    }

    fn scan_ledger(&mut self) -> Result<crate::LedgerScan, StoreError> {
        let mut tx = snapshot(&mut self.client)?;
        let mut scan = crate::LedgerScan::default();
        for row in tx.query(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts"), &[])? {
            scan.accounts.push(account_from_row(&row)?);
        }
        for row in tx.query(&format!("SELECT {TRANSFER_COLUMNS} FROM transfers ORDER BY timestamp"), &[])? {
            scan.transfers.push(transfer_from_row(&row)?);
        }
        for row in tx.query("SELECT id, state, expires_at FROM pending_transfers", &[])? {
            let id = bytes_u128(row.get::<_, &[u8]>(0))?;
            let state: i16 = row.get(1);
            scan.pending.insert(id, crate::sqlite::pending_status(i64::from(state), row.get(2))?);
        }
        tx.commit()?;
        Ok(scan)
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.client.query_one("SELECT 1", &[])?;
        Ok(())
    }
}

/// A read-only transaction that sees one moment of the database.
fn snapshot(client: &mut Client) -> Result<postgres::Transaction<'_>, StoreError> {
    Ok(client.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).read_only(true).start()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_checked_before_they_reach_sql() {
        assert!(valid_schema_name("xt_test_1"));
        for bad in ["", "1abc", "Public", "a;drop table x", "a b", &"a".repeat(64)] {
            assert!(!valid_schema_name(bad), "{bad:?}");
        }
    }
}

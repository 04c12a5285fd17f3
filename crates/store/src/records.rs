//! Domain records: the business entities of onboarding and what follows (users, applications,
//! merchants, devices, cashiers, notifications, …), stored as versioned rows with an opaque body.
//!
//! The store does not know what a merchant is. It knows that a record has a kind, an id, an owner
//! (whose data it is: the isolation boundary), a status (what queues are made of), a version (for
//! optimistic concurrency) and a body (the caller's serialisation). A [`Change`] is one business
//! operation: records to put, each with the version it was read at; unique keys to claim;
//! documents (blobs) to keep; audit entries; and ledger accounts and transfers. The writer applies a
//! change all or nothing, inside the same group commit as everything else, so that a domain row and
//! the money it moves are durable together.

use xingtong_ledger::{Account, CreateAccountResult, CreateTransferResult, Transfer};

use crate::ApiKeyRecord;

/// A stored domain record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What it is: `user`, `application`, `merchant`, …
    pub kind: String,
    /// Its id, unique within the kind.
    pub id: String,
    /// Whose it is: a merchant id or a user id; queries by owner are how isolation is kept.
    pub owner: String,
    /// Its state in its life cycle; queues are queries by status.
    pub status: String,
    /// Starts at 1 and grows by one with every change.
    pub version: u64,
    /// Nanoseconds since the epoch: set by the store when a record is created with 0 here (a row
    /// moved between tables keeps its own); never changed after.
    pub created_at: u64,
    /// Nanoseconds since the epoch.
    pub updated_at: u64,
    /// When something is next due for it (a notification's next attempt), if anything.
    pub due_at: Option<u64>,
    /// The caller's serialisation (JSON in practice).
    pub body: Vec<u8>,
}

/// A record to write, with the version the caller read it at (`None`: it must not exist yet).
#[derive(Debug, Clone)]
pub struct Put {
    /// The record as it should be; its `version` is set by the store to `expected + 1`.
    pub record: Record,
    /// The version it was read at, or `None` for a new record.
    pub expected: Option<u64>,
    /// Whether [`crate::Store::records`] lists it. Records written on every payment are not
    /// (found by id only), which keeps them out of the owner and status indexes.
    pub listed: bool,
    /// Set for a payment transaction: it lives in the typed `transactions` table with these
    /// columns (the record's owner is its merchant), found by [`crate::Store::transaction`] and
    /// listed by [`crate::Store::transactions`], never in `records`.
    pub txn: Option<TxnColumns>,
    /// Set for a row of a typed domain table (batches, settlements, payouts): it lives there with
    /// these columns (the record's owner is its merchant), found by [`crate::Store::table_record`]
    /// and listed by [`crate::Store::table_records`], never in `records`.
    pub typed: Option<crate::Columns>,
}

/// Where a put's row lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Home {
    Records,
    Transactions,
    Table(crate::Table),
}

impl Put {
    pub(crate) fn home(&self) -> Home {
        match (&self.txn, &self.typed) {
            (Some(_), _) => Home::Transactions,
            (None, Some(columns)) => Home::Table(columns.table),
            (None, None) => Home::Records,
        }
    }
}

/// The typed columns of a payment transaction: what settlement, reports and consoles select and
/// sum by. The record's body keeps the rest (card details, ledger movements, …).
///
/// A transaction's id must start `<terminal_id>-<batch, six digits>-`: on SQLite a terminal's
/// batch is found as a range of the id index rather than through an index of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnColumns {
    /// `card` (QR methods later).
    pub method: String,
    /// `sale`, `void`, `refund`, `completion`, …
    pub txn_type: String,
    /// Terminal id.
    pub terminal_id: String,
    /// The terminal's batch number.
    pub batch: u32,
    /// The terminal's trace number.
    pub stan: u32,
    /// `YYYYMMDD`, China time.
    pub business_day: String,
    /// Minor units.
    pub amount_minor: i64,
    /// The fee charged, minor units.
    pub fee_minor: i64,
    /// Refunded so far, minor units.
    pub refunded_minor: i64,
    /// Fee returned by refunds so far, minor units.
    pub fee_refunded_minor: i64,
    /// The answer's response code (`00` approved).
    pub response_code: String,
    /// The transaction this one acts on.
    pub original_id: Option<String>,
    /// `iso8583` or `api`.
    pub channel: String,
    /// Nanoseconds since the epoch.
    pub at: u64,
    /// The cashier (operator number) who took it; empty for rows of earlier releases.
    pub operator: String,
    /// `sale`, `collection` or `purchase`; empty for rows of earlier releases.
    pub business_type: String,
}

/// Which totals to read: a merchant's, over business days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotalsQuery {
    /// The merchant.
    pub merchant: String,
    /// Business days from (inclusive), `YYYYMMDD`.
    pub day_from: String,
    /// Business days to (inclusive), `YYYYMMDD`.
    pub day_to: String,
}

/// The totals of one bucket of a merchant's transactions: what a report adds up. Every
/// transaction is in exactly one bucket, the one its columns name now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TotalsRow {
    /// `YYYYMMDD`.
    pub business_day: String,
    /// Terminal.
    pub terminal_id: String,
    /// Cashier (empty: unknown).
    pub operator: String,
    /// `card`, `wechat`, `alipay`, `unionpay_qr`.
    pub method: String,
    /// `sale`, `collection`, `purchase` (empty: unknown).
    pub business_type: String,
    /// `sale`, `refund`, `void`, …
    pub txn_type: String,
    /// `approved`, `declined`, `voided`, …
    pub status: String,
    /// How many.
    pub count: i64,
    /// Their amounts, minor units.
    pub amount_minor: i64,
    /// Their fees, minor units.
    pub fee_minor: i64,
}

/// One line of a merchant's settlement: a transaction and what it adds to the amount paid.
/// Written once, with its settlement, never changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettlementLine {
    /// Merchant.
    pub merchant_id: String,
    /// The settlement it belongs to.
    pub settlement_id: String,
    /// Its place in the settlement, from 1.
    pub seq: u32,
    /// The transaction.
    pub txn_id: String,
    /// The transaction's type (`sale`, `refund`, …).
    pub txn_type: String,
    /// The transaction's business day, `YYYYMMDD`.
    pub business_day: String,
    /// The transaction's amount, minor units (positive).
    pub amount_minor: i64,
    /// The fee it carries: charged (positive) or returned (negative), minor units.
    pub fee_minor: i64,
    /// The same-day (D0) surcharge, charged or returned, minor units.
    pub surcharge_minor: i64,
    /// What it adds to the merchant's payout (negative for voids and refunds), minor units.
    pub net_minor: i64,
}

/// True when a transaction of this type and status counts in `txn_hours`: an approved sale or
/// completion.
pub(crate) fn counts_in_hours(txn_type: &str, status: &str) -> bool {
    matches!(txn_type, "sale" | "completion") && status == "approved"
}

/// The hour of day, China time (UTC+8), of a moment in ns since the epoch: what `txn_hours` keys by
/// (its migrations compute the same in SQL).
pub(crate) fn china_hour(at_ns: i64) -> i64 {
    (at_ns / 1_000_000_000 + 8 * 3_600).div_euclid(3_600).rem_euclid(24)
}

/// A merchant's approved sales and completions in one hour of the day (China time), over a range
/// of business days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HourRow {
    /// 0 to 23.
    pub hour: u8,
    /// How many.
    pub count: i64,
    /// Their amount, minor units.
    pub amount_minor: i64,
}

/// Which transactions to list, in (business day, id) order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxnQuery {
    /// Only this merchant's (the usual case; the index is merchant first).
    pub merchant: Option<String>,
    /// Only this terminal's …
    pub terminal: Option<String>,
    /// … and this batch's (with `terminal`).
    pub batch: Option<u32>,
    /// Business days from (inclusive), `YYYYMMDD`.
    pub day_from: Option<String>,
    /// Business days to (inclusive), `YYYYMMDD`.
    pub day_to: Option<String>,
    /// Only these statuses, when not empty.
    pub statuses: Vec<String>,
    /// Only these payment methods (`card`, `wechat`, `alipay`, `unionpay_qr`), when not empty.
    pub methods: Vec<String>,
    /// Only these cashiers' (operator numbers, `00`–`99`), when not empty.
    pub operators: Vec<String>,
    /// Only these business types (`sale`, `collection`, `purchase`), when not empty.
    pub business_types: Vec<String>,
    /// Only these transaction types (`sale`, `void`, `refund`, `completion` …), when not empty.
    pub types: Vec<String>,
    /// Cursor: only after this (business day, id).
    pub after: Option<(String, String)>,
    /// At most this many (capped at [`crate::PAGE_LIMIT_MAX`]).
    pub limit: u32,
}

impl TxnQuery {
    /// True when the query filters on a transaction's status, method, cashier, business type or
    /// type (what `txn_totals` knows per day).
    pub(crate) fn filters_rows(&self) -> bool {
        !(self.statuses.is_empty()
            && self.methods.is_empty()
            && self.operators.is_empty()
            && self.business_types.is_empty()
            && self.types.is_empty())
    }

    /// True when a transaction (or a bucket of totals) of this status, method, cashier,
    /// business type and transaction type matches the query's filters.
    pub(crate) fn admits(&self, [status, method, operator, business_type, txn_type]: [&str; 5]) -> bool {
        let any = |wanted: &[String], value: &str| wanted.is_empty() || wanted.iter().any(|w| w == value);
        any(&self.statuses, status)
            && any(&self.methods, method)
            && any(&self.operators, operator)
            && any(&self.business_types, business_type)
            && any(&self.types, txn_type)
    }
}

/// A listed transaction: its columns and its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRow {
    /// The typed columns.
    pub columns: TxnColumns,
    /// The record (owner: the merchant).
    pub record: Record,
}

/// A unique key a change claims for a record, e.g. (`user`, `phone:13800138000`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    /// The record kind the key belongs to.
    pub kind: String,
    /// The key, unique within the kind.
    pub key: String,
    /// The id of the record it names.
    pub id: String,
}

/// A document's bytes, stored once per content (content-addressed by SHA-256).
#[derive(Clone, PartialEq, Eq)]
pub struct Blob {
    /// SHA-256 of `bytes`.
    pub sha256: [u8; 32],
    /// The type found by looking at the content: `image/jpeg`, `image/png`, `application/pdf`.
    pub content_type: String,
    /// The content.
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blob")
            .field("sha256", &hex::encode(self.sha256))
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// One line of the audit log: who did what to which record, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Assigned by the store, increasing; 0 in a change.
    pub seq: u64,
    /// Nanoseconds since the epoch; set by the store when 0 in a change.
    pub at: u64,
    /// Who: `staff:<id>`, `user:<id>`, `key:<id>`, `terminal:<tid>`, `system`.
    pub actor: String,
    /// What, as a stable dotted name: `application.approved`.
    pub action: String,
    /// The record's kind.
    pub subject_kind: String,
    /// The record's id.
    pub subject_id: String,
    /// Details as JSON; never a secret.
    pub detail: String,
}

/// Which audit entries to read: every filter given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Only entries about records of this kind …
    pub subject_kind: Option<String>,
    /// … or with this id (of any kind when no kind is given).
    pub subject_id: Option<String>,
    /// Only this actor's (`staff:<id>`, `user:<id>` …).
    pub actor: Option<String>,
    /// Only this action (`application.approved` …).
    pub action: Option<String>,
    /// Only entries after this sequence number (oldest first) …
    pub after_seq: u64,
    /// … or, when set, before it, newest first.
    pub before_seq: Option<u64>,
    /// Newest first (from the end, or from `before_seq`).
    pub newest_first: bool,
    /// At most this many (capped at [`crate::PAGE_LIMIT_MAX`]).
    pub limit: u32,
}

impl AuditQuery {
    /// The query as SQL over `audit_log`, with placeholders `<mark>1`, `<mark>2` …: the text
    /// values are the first placeholders, in the order returned; the sequence bound and the
    /// limit (integers) follow them.
    pub(crate) fn sql(&self, columns: &str, mark: char) -> (String, Vec<String>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        for (column, value) in [
            ("subject_kind", &self.subject_kind),
            ("subject_id", &self.subject_id),
            ("actor", &self.actor),
            ("action", &self.action),
        ] {
            if let Some(value) = value {
                values.push(value.clone());
                clauses.push(format!("{column} = {mark}{}", values.len()));
            }
        }
        let (bound, order) = if self.newest_first { ("seq < ", "DESC") } else { ("seq > ", "ASC") };
        clauses.push(format!("{bound}{mark}{}", values.len() + 1));
        let sql = format!(
            "SELECT {columns} FROM audit_log WHERE {} ORDER BY seq {order} LIMIT {mark}{}",
            clauses.join(" AND "),
            values.len() + 2
        );
        (sql, values)
    }

    /// The sequence bound the query's SQL takes.
    pub(crate) fn seq_bound(&self) -> u64 {
        match (self.newest_first, self.before_seq) {
            (true, Some(before)) => before,
            (true, None) => i64::MAX as u64,
            (false, _) => self.after_seq,
        }
    }
}

/// One business operation, applied all or nothing.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// Records to insert or update, each checked against the version it was read at.
    pub puts: Vec<Put>,
    /// Unique keys to claim; a key held by another record refuses the change.
    pub claim_keys: Vec<UniqueKey>,
    /// Records to delete (kind, id), unconditionally: for moving data between tables.
    pub remove_records: Vec<(String, String)>,
    /// Unique keys to give up (kind, key).
    pub release_keys: Vec<(String, String)>,
    /// Documents to keep (a content already stored is not stored twice).
    pub blobs: Vec<Blob>,
    /// Audit entries.
    pub audit: Vec<AuditEntry>,
    /// API keys to create.
    pub api_keys: Vec<ApiKeyRecord>,
    /// API keys to revoke: (id, owner); only a key of that owner is revoked.
    pub revoke_api_keys: Vec<(String, String)>,
    /// Ledger accounts to create; every one must be created or the change is refused.
    pub accounts: Vec<Account>,
    /// Ledger transfers to create, as one linked chain; every one must succeed or the change is refused.
    pub transfers: Vec<Transfer>,
    /// Settlement lines to write (insert only: a line that exists refuses the change).
    pub settlement_lines: Vec<SettlementLine>,
    /// Counters to move (running totals for limits, sequences): added inside the writer, so that
    /// concurrent changes never conflict, and checked against their maximum there.
    pub counters: Vec<CounterAdd>,
}

/// An addition to a named counter (a counter that does not exist is 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterAdd {
    /// The counter's name, e.g. `card_day:<MID>:20261122`.
    pub key: String,
    /// What to add (negative to subtract).
    pub delta: i64,
    /// The change is refused if the counter would end above this (never for a negative delta).
    /// With a zero delta it is a check: the change holds only while the counter is at most `max`.
    pub max: Option<i64>,
}

impl Change {
    /// The number of events it counts for in a commit group.
    pub(crate) fn events(&self) -> usize {
        (self.puts.len() + self.accounts.len() + self.transfers.len() + self.settlement_lines.len() / 8).max(1)
    }
}

/// Why a change was refused; nothing of it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A record changed since it was read (or exists, for a new one): read again and retry.
    #[error("{kind} {id} was changed by someone else; read it again")]
    Conflict {
        /// Kind.
        kind: String,
        /// Id.
        id: String,
    },
    /// A unique key is already held by another record.
    #[error("{kind} key {key} is taken")]
    KeyTaken {
        /// Kind.
        kind: String,
        /// Key.
        key: String,
    },
    /// The ledger refused an account.
    #[error("ledger refused an account: {0:?}")]
    Accounts(Vec<CreateAccountResult>),
    /// The ledger refused a transfer.
    #[error("ledger refused a transfer: {0:?}")]
    Transfers(Vec<CreateTransferResult>),
    /// A counter would go above its maximum.
    #[error("counter {key} would exceed its maximum")]
    CounterLimit {
        /// The counter.
        key: String,
    },
}

/// Which records to list, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordQuery {
    /// The kind.
    pub kind: String,
    /// Only this owner's, when set.
    pub owner: Option<String>,
    /// Only these statuses, when not empty.
    pub statuses: Vec<String>,
    /// Cursor: only records after this (created_at, id), in the query's order.
    pub after: Option<(u64, String)>,
    /// Newest first (the cursor then pages downwards).
    pub descending: bool,
    /// At most this many (capped at [`crate::PAGE_LIMIT_MAX`]).
    pub limit: u32,
}

impl RecordQuery {
    /// All records of a kind, first page of 100.
    pub fn kind(kind: &str) -> RecordQuery {
        RecordQuery {
            kind: kind.to_owned(),
            owner: None,
            statuses: Vec::new(),
            after: None,
            descending: false,
            limit: 100,
        }
    }

    /// Newest first.
    pub fn descending(mut self) -> RecordQuery {
        self.descending = true;
        self
    }

    /// Only this owner's.
    pub fn owner(mut self, owner: &str) -> RecordQuery {
        self.owner = Some(owner.to_owned());
        self
    }

    /// Only these statuses.
    pub fn statuses(mut self, statuses: &[&str]) -> RecordQuery {
        self.statuses = statuses.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

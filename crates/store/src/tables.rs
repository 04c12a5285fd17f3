//! Domain tables with typed columns of their own, beside `records` and `transactions`: terminal
//! batches, settlements and payouts. What settlement, payouts, reports and consoles select and
//! sort by is a column here (business day, terminal and batch, payout date, amounts), indexed on
//! both backends; the rest of the entity stays in the body, which the caller encodes.
//!
//! Every row carries its merchant in its primary key (`(id, merchant_id)`) and every index starts
//! with the merchant or is a queue (status first), so that the tables can be distributed by
//! merchant (Citus) without a redesign. A row is written by a [`crate::Put`] carrying its
//! [`Columns`], checked against the version it was read at like any record, inside the same commit
//! as the money it moves.

use crate::StoreError;

/// A typed domain table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Terminal batches (批结算): one row per settled or cut-off-closed batch.
    Batches,
    /// Settlements: one row per cleared merchant-day (or part of a day).
    Settlements,
    /// Payouts to merchants' bank cards.
    Payouts,
}

impl Table {
    /// Every typed table.
    pub const ALL: [Table; 3] = [Table::Batches, Table::Settlements, Table::Payouts];

    /// Its SQL name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Batches => "batches",
            Table::Settlements => "settlements",
            Table::Payouts => "payouts",
        }
    }

    /// Its own columns, after the common ones (merchant, id, kind, status, version, times), in
    /// the order [`Columns::values`] gives them.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Batches => &["terminal_id", "batch", "business_day"],
            Table::Settlements => &[
                "business_day",
                "seq",
                "cycle",
                "captured_minor",
                "returned_minor",
                "fees_minor",
                "surcharge_minor",
                "net_minor",
                "payout_minor",
                "payout_date",
            ],
            Table::Payouts => &["settlement_id", "business_day", "purpose", "amount_minor", "payout_date", "attempts"],
        }
    }

    /// Whether a query may filter or order by `column`: one of its own, or a common one.
    fn knows(self, column: &str) -> bool {
        matches!(column, "created_at" | "updated_at") || self.columns().contains(&column)
    }
}

/// A column's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// An integer (amounts in minor units, counts, numbers).
    Int(i64),
    /// Text (ids, `YYYYMMDD` days, codes).
    Text(String),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Int(i64::from(n))
    }
}

/// A row's own columns: which table it lives in and its values in [`Table::columns`] order. Made
/// from [`BatchColumns`], [`SettlementColumns`] or [`PayoutColumns`], which name every value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The table.
    pub table: Table,
    /// The values, in the table's column order.
    pub values: Vec<Value>,
}

/// A terminal batch's columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchColumns {
    /// Terminal id.
    pub terminal_id: String,
    /// The batch number.
    pub batch: u32,
    /// The business day it was settled or closed on, `YYYYMMDD`.
    pub business_day: String,
}

impl From<BatchColumns> for Columns {
    fn from(c: BatchColumns) -> Columns {
        Columns { table: Table::Batches, values: vec![c.terminal_id.into(), c.batch.into(), c.business_day.into()] }
    }
}

/// A settlement's columns (amounts in minor units).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettlementColumns {
    /// The business day cleared, `YYYYMMDD`.
    pub business_day: String,
    /// Its number within the day, from 1.
    pub seq: u32,
    /// `t1` or `d0`.
    pub cycle: String,
    /// Σ sales and completions.
    pub captured_minor: i64,
    /// Σ voids and refunds.
    pub returned_minor: i64,
    /// Fees charged less returned.
    pub fees_minor: i64,
    /// D0 surcharge charged less returned.
    pub surcharge_minor: i64,
    /// The day's net.
    pub net_minor: i64,
    /// What goes to the merchant's card.
    pub payout_minor: i64,
    /// When it is paid, `YYYYMMDD`.
    pub payout_date: String,
}

impl From<SettlementColumns> for Columns {
    fn from(c: SettlementColumns) -> Columns {
        Columns {
            table: Table::Settlements,
            values: vec![
                c.business_day.into(),
                c.seq.into(),
                c.cycle.into(),
                c.captured_minor.into(),
                c.returned_minor.into(),
                c.fees_minor.into(),
                c.surcharge_minor.into(),
                c.net_minor.into(),
                c.payout_minor.into(),
                c.payout_date.into(),
            ],
        }
    }
}

/// A payout's columns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PayoutColumns {
    /// The settlement it pays (or the deposit it refunds).
    pub settlement_id: String,
    /// The business day settled, `YYYYMMDD`.
    pub business_day: String,
    /// `settlement` or `deposit_refund`.
    pub purpose: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Due on, `YYYYMMDD`.
    pub payout_date: String,
    /// Attempts made so far.
    pub attempts: u32,
}

impl From<PayoutColumns> for Columns {
    fn from(c: PayoutColumns) -> Columns {
        Columns {
            table: Table::Payouts,
            values: vec![
                c.settlement_id.into(),
                c.business_day.into(),
                c.purpose.into(),
                c.amount_minor.into(),
                c.payout_date.into(),
                c.attempts.into(),
            ],
        }
    }
}

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// Equal.
    Eq,
    /// At most (inclusive).
    AtMost,
    /// At least (inclusive).
    AtLeast,
}

impl Cmp {
    fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::AtMost => "<=",
            Cmp::AtLeast => ">=",
        }
    }
}

/// Which rows of a typed table to list, in (`order_by`, id) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableQuery {
    /// The table.
    pub table: Table,
    /// Only this merchant's (the usual case: the indexes are merchant first).
    pub merchant: Option<String>,
    /// Only these statuses, when not empty.
    pub statuses: Vec<String>,
    /// Column filters, all of which must hold.
    pub filters: Vec<(&'static str, Cmp, Value)>,
    /// The column to order by (then by id): `created_at` or one of the table's own.
    pub order_by: &'static str,
    /// Cursor: only rows after this (`order_by` value, id), in the query's order.
    pub after: Option<(Value, String)>,
    /// Newest (greatest) first.
    pub descending: bool,
    /// At most this many (capped at [`crate::PAGE_LIMIT_MAX`]).
    pub limit: u32,
}

impl TableQuery {
    /// Every row of a table, oldest first, first page of 100.
    pub fn new(table: Table) -> TableQuery {
        TableQuery {
            table,
            merchant: None,
            statuses: Vec::new(),
            filters: Vec::new(),
            order_by: "created_at",
            after: None,
            descending: false,
            limit: 100,
        }
    }

    /// Greatest `order_by` first (the cursor then pages downwards).
    pub fn descending(mut self) -> TableQuery {
        self.descending = true;
        self
    }

    /// Only this merchant's.
    pub fn merchant(mut self, merchant: &str) -> TableQuery {
        self.merchant = Some(merchant.to_owned());
        self
    }

    /// Only these statuses.
    pub fn statuses(mut self, statuses: &[&str]) -> TableQuery {
        self.statuses = statuses.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Only rows whose `column` compares so with `value`.
    pub fn filter(mut self, column: &'static str, cmp: Cmp, value: impl Into<Value>) -> TableQuery {
        self.filters.push((column, cmp, value.into()));
        self
    }

    /// Ordered by `column`, then id.
    pub fn order_by(mut self, column: &'static str) -> TableQuery {
        self.order_by = column;
        self
    }

    /// At most this many.
    pub fn limit(mut self, limit: u32) -> TableQuery {
        self.limit = limit;
        self
    }
}

/// The columns a typed row is read back with, in the order a record is read (`due_at` is always
/// null here: typed tables have no due work).
pub(crate) fn record_columns(null_due: &str) -> String {
    format!("kind, id, merchant_id, status, version, created_at, updated_at, {null_due}, body")
}

/// Every column a typed row is written with, in order.
pub(crate) fn insert_columns(table: Table) -> Vec<&'static str> {
    let mut all = vec!["merchant_id", "id", "kind", "status", "version", "created_at", "updated_at"];
    all.extend_from_slice(table.columns());
    all.push("body");
    all
}

/// A typed put's values in [`insert_columns`] order, but for the body (last), which each backend
/// binds as bytes: the record's common columns as the write makes them, then the table's own.
pub(crate) fn row_values(put: &crate::Put, columns: &Columns, created_at: u64, now_ns: u64) -> Vec<Value> {
    let r = &put.record;
    let mut values: Vec<Value> = vec![
        r.owner.as_str().into(),
        r.id.as_str().into(),
        r.kind.as_str().into(),
        r.status.as_str().into(),
        crate::codec::u64_int(put.expected.unwrap_or(0) + 1).into(),
        crate::codec::u64_int(created_at).into(),
        crate::codec::u64_int(now_ns).into(),
    ];
    values.extend(columns.values.iter().cloned());
    values
}

/// The upsert of a row: placeholders 1… in [`insert_columns`] order; an existing row keeps its
/// merchant, id, kind and creation time.
pub(crate) fn upsert_sql(table: Table, placeholder: fn(usize) -> String) -> String {
    upsert_rows_sql(table, 1, placeholder)
}

/// The upsert of `rows` rows (no two of the same id): placeholders row after row, each in
/// [`insert_columns`] order.
pub(crate) fn upsert_rows_sql(table: Table, rows: usize, placeholder: fn(usize) -> String) -> String {
    let columns = insert_columns(table);
    let width = columns.len();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let marks: Vec<String> = (1..=width).map(|c| placeholder(row * width + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    let updates: Vec<String> = columns
        .iter()
        .filter(|c| !matches!(**c, "merchant_id" | "id" | "kind" | "created_at"))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {} ON CONFLICT (id, merchant_id) DO UPDATE SET {}",
        table.name(),
        columns.join(", "),
        values.join(", "),
        updates.join(", ")
    )
}

/// The select of a query, with its values in placeholder order. Column names come from
/// [`Table::columns`] only (anything else is refused), values only through placeholders.
pub(crate) fn select_sql(
    query: &TableQuery,
    null_due: &str,
    placeholder: fn(usize) -> String,
) -> Result<(String, Vec<Value>), StoreError> {
    let table = query.table;
    let unknown = |c: &str| StoreError::Query(format!("{} has no column {c}", table.name()));
    if !table.knows(query.order_by) {
        return Err(unknown(query.order_by));
    }
    let mut values: Vec<Value> = Vec::new();
    let mut conditions: Vec<String> = Vec::new();
    if let Some(merchant) = &query.merchant {
        values.push(merchant.as_str().into());
        conditions.push(format!("merchant_id = {}", placeholder(values.len())));
    }
    if !query.statuses.is_empty() {
        let mut marks = Vec::new();
        for status in &query.statuses {
            values.push(status.as_str().into());
            marks.push(placeholder(values.len()));
        }
        conditions.push(format!("status IN ({})", marks.join(", ")));
    }
    for (column, cmp, value) in &query.filters {
        if !table.knows(column) {
            return Err(unknown(column));
        }
        values.push(value.clone());
        conditions.push(format!("{column} {} {}", cmp.sql(), placeholder(values.len())));
    }
    if let Some((value, id)) = &query.after {
        values.push(value.clone());
        values.push(id.as_str().into());
        conditions.push(format!(
            "({}, id) {} ({}, {})",
            query.order_by,
            if query.descending { "<" } else { ">" },
            placeholder(values.len() - 1),
            placeholder(values.len())
        ));
    }
    values.push(Value::Int(i64::from(query.limit.clamp(1, crate::PAGE_LIMIT_MAX))));
    let filter = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
    let direction = if query.descending { " DESC" } else { "" };
    let sql = format!(
        "SELECT {} FROM {}{filter} ORDER BY {}{direction}, id{direction} LIMIT {}",
        record_columns(null_due),
        table.name(),
        query.order_by,
        placeholder(values.len())
    );
    Ok((sql, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dollar(n: usize) -> String {
        format!("${n}")
    }

    #[test]
    fn every_table_writes_as_many_values_as_it_has_columns() {
        let rows: [Columns; 3] =
            [BatchColumns::default().into(), SettlementColumns::default().into(), PayoutColumns::default().into()];
        for row in rows {
            assert_eq!(row.values.len(), row.table.columns().len(), "{:?}", row.table);
        }
    }

    #[test]
    fn a_multi_row_upsert_numbers_its_placeholders_row_after_row() {
        let sql = upsert_rows_sql(Table::Batches, 2, dollar);
        let width = insert_columns(Table::Batches).len();
        assert_eq!(width, 11);
        assert!(sql.contains("VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11), ($12, "), "{sql}");
        assert!(sql.ends_with("business_day = excluded.business_day, body = excluded.body"), "{sql}");
        assert!(!sql.contains("created_at = excluded"), "creation time kept: {sql}");
    }

    #[test]
    fn queries_name_only_known_columns_and_pass_values_as_parameters() {
        let query = TableQuery::new(Table::Payouts)
            .merchant("898")
            .statuses(&["scheduled", "failed"])
            .filter("payout_date", Cmp::AtMost, "20261128")
            .order_by("payout_date");
        let (sql, values) = select_sql(&query, "NULL", dollar).unwrap();
        assert_eq!(
            sql,
            "SELECT kind, id, merchant_id, status, version, created_at, updated_at, NULL, body FROM payouts \
             WHERE merchant_id = $1 AND status IN ($2, $3) AND payout_date <= $4 ORDER BY payout_date, id LIMIT $5"
        );
        assert_eq!(values.len(), 5);
        // Newest first: the order and the cursor both turn round.
        let mut newest = TableQuery::new(Table::Settlements).merchant("898").order_by("business_day").descending();
        newest.after = Some(("20261128".into(), "stl_x".into()));
        let (sql, _) = select_sql(&newest, "NULL", dollar).unwrap();
        assert!(
            sql.ends_with(
                "WHERE merchant_id = $1 AND (business_day, id) < ($2, $3) ORDER BY business_day DESC, id DESC LIMIT $4"
            ),
            "{sql}"
        );
        let bad = TableQuery::new(Table::Payouts).filter("1=1; DROP TABLE payouts; --", Cmp::Eq, 1i64);
        assert!(matches!(select_sql(&bad, "NULL", dollar), Err(StoreError::Query(_))));
        let bad = TableQuery::new(Table::Batches).order_by("payout_date");
        assert!(matches!(select_sql(&bad, "NULL", dollar), Err(StoreError::Query(_))));
    }
}

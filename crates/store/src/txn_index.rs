//! A merchant's transactions by business day, for the SQLite backend, indexed off the commit path
//! in the derived index file beside account history (`account_history.rs` says why and how).
//!
//! `merchant_days` holds (merchant, business day, id) of every transaction up to a watermark, the
//! last `transactions` rowid it covers; rows after it are the tail, read from `transactions`
//! itself. A transaction's merchant and business day never change after it is written (its
//! status and amounts may), and a new one always takes a rowid above every earlier one (one
//! writer, no deletes), so the indexed part and the tail together are complete.

use rusqlite::{Connection, params};

use crate::StoreError;
use crate::records::{TxnQuery, TxnRow};

/// The most transactions indexed in one pass.
const CHUNK_MAX: i64 = 20_000;

fn watermark(index: &Connection) -> Result<i64, StoreError> {
    Ok(index
        .prepare_cached("SELECT value FROM index_meta WHERE key = 'transactions_through'")?
        .query_row([], |r| r.get(0))?)
}

/// The longest tail a read scans: past it, the reader indexes the tail itself first.
const TAIL_MAX: i64 = 2_000;

/// Indexes the next chunk of transactions after the watermark; returns how many. The indexer
/// thread and a reader with a long tail may both run it: the index file's write lock, taken before
/// the watermark is read, keeps their chunks apart, so the watermark only moves forward.
pub(crate) fn index_once(main: &Connection, index: &mut Connection) -> Result<usize, StoreError> {
    let tx = index.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let through = watermark(&tx)?;
    let mut entries: Vec<(String, String, String)> = Vec::new();
    let mut last = through;
    {
        let mut statement = main.prepare_cached(
            "SELECT rowid, merchant_id, business_day, id FROM transactions WHERE rowid > ?1 ORDER BY rowid LIMIT ?2",
        )?;
        let mut rows = statement.query(params![through, CHUNK_MAX])?;
        while let Some(row) = rows.next()? {
            last = row.get(0)?;
            entries.push((row.get(1)?, row.get(2)?, row.get(3)?));
        }
    }
    if entries.is_empty() {
        return Ok(0);
    }
    entries.sort_unstable();
    {
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO merchant_days (merchant_id, business_day, id) VALUES (?1, ?2, ?3)",
        )?;
        for (merchant, day, id) in &entries {
            insert.execute(params![merchant, day, id])?;
        }
        tx.prepare_cached("UPDATE index_meta SET value = ?1 WHERE key = 'transactions_through'")?.execute([last])?;
    }
    tx.commit()?;
    Ok(entries.len())
}

/// The business days from `from` to `to` on which the merchant has a transaction of the query's
/// statuses, methods, cashiers and business types, by its totals (`txn_totals`).
fn matching_days(
    tx: &Connection,
    merchant: &str,
    from: &str,
    to: &str,
    query: &TxnQuery,
) -> Result<Vec<String>, StoreError> {
    let mut statement = tx.prepare_cached(
        "SELECT business_day, status, method, operator, business_type, txn_type FROM txn_totals \
         WHERE merchant_id = ?1 AND business_day >= ?2 AND business_day <= ?3 AND count <> 0",
    )?;
    let mut days: Vec<String> = Vec::new();
    let mut rows = statement.query(params![merchant, from, to])?;
    while let Some(row) = rows.next()? {
        let day: String = row.get(0)?;
        let columns: [String; 5] = [row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?];
        if query.admits(columns.each_ref().map(String::as_str)) && days.last() != Some(&day) {
            days.push(day);
        }
    }
    Ok(days)
}

/// A merchant's transactions matching `query` (which names the merchant and no terminal), in
/// (business day, id) order: ids from the index up to its watermark, the tail from `transactions`.
pub(crate) fn merchant_transactions(
    main: &mut Connection,
    index: &mut Connection,
    query: &TxnQuery,
    read: impl Fn(&Connection, &str, &str) -> Result<Option<TxnRow>, StoreError>,
    tail: impl Fn(&Connection, i64, &TxnQuery) -> Result<Vec<TxnRow>, StoreError>,
) -> Result<Vec<TxnRow>, StoreError> {
    let merchant = query.merchant.clone().unwrap_or_default();
    let limit = query.limit as usize;
    // A long tail (the indexer behind, say after a bulk load) is indexed first, so that no read
    // scans more than `TAIL_MAX` rows of it.
    loop {
        let newest: i64 = main.query_row("SELECT coalesce(max(rowid), 0) FROM transactions", [], |r| r.get(0))?;
        if newest - watermark(index)? <= TAIL_MAX || index_once(main, index)? == 0 {
            break;
        }
    }
    let (from, to) = (query.day_from.clone().unwrap_or_default(), query.day_to.clone().unwrap_or_else(|| "~".into()));
    let tx_index = index.transaction()?;
    let through = watermark(&tx_index)?;
    let tx = main.transaction()?;
    let mut out: Vec<TxnRow> = Vec::with_capacity(limit);
    // A status, method, cashier, business-type or type filter looks only at the days whose totals (kept
    // in every commit, tail included) say they hold a match: a filter nothing matches reads no
    // transaction at all.
    let ranges: Vec<(String, String)> = if !query.filters_rows() {
        vec![(from, to)]
    } else {
        matching_days(&tx, &merchant, &from, &to, query)?.into_iter().map(|d| (d.clone(), d)).collect()
    };
    // The indexed part, a page of ids at a time; a filter is checked on the row's own columns
    // before the whole row is read.
    let mut after = query.after.clone().unwrap_or_default();
    // With a filter, most ids of a page may be dropped: read more at a time.
    let page = if query.filters_rows() { (limit * 8).min(2_000) } else { limit };
    'ranges: for (low, high) in &ranges {
        if *high < after.0 {
            continue;
        }
        loop {
            let ids: Vec<(String, String)> = {
                let mut statement = tx_index.prepare_cached(
                    // A row value, so that each page seeks to where the last ended rather than
                    // scanning the range from its start.
                    "SELECT business_day, id FROM merchant_days WHERE merchant_id = ?1 AND business_day >= ?2 \
                     AND business_day <= ?3 AND (business_day, id) > (?4, ?5) \
                     ORDER BY business_day, id LIMIT ?6",
                )?;
                statement
                    .query_map(params![merchant, low, high, after.0, after.1, page as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?
            };
            let Some(last) = ids.last().cloned() else { break };
            for (_, id) in &ids {
                if query.filters_rows() {
                    let columns: [String; 5] = tx
                        .prepare_cached(
                            "SELECT status, method, operator, business_type, txn_type FROM transactions \
                             WHERE id = ?1 AND merchant_id = ?2",
                        )?
                        .query_row(params![id, merchant], |r| {
                            Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])
                        })?;
                    if !query.admits(columns.each_ref().map(String::as_str)) {
                        continue;
                    }
                }
                let row = read(&tx, id, &merchant)?
                    .ok_or_else(|| StoreError::Corrupt(format!("indexed transaction {id} is missing")))?;
                out.push(row);
                if out.len() == limit {
                    break 'ranges;
                }
            }
            after = last;
            if ids.len() < page {
                break;
            }
        }
    }
    // The tail: everything after the watermark, merged in order.
    out.extend(tail(&tx, through, query)?);
    out.sort_by(|a, b| (&a.columns.business_day, &a.record.id).cmp(&(&b.columns.business_day, &b.record.id)));
    out.dedup_by(|a, b| a.record.id == b.record.id);
    out.truncate(limit);
    drop(tx_index);
    tx.commit()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OptionalExtension, params};

    use super::{index_once, merchant_transactions};
    use crate::postgres::TXN_COLUMNS;
    use crate::records::TxnQuery;
    use crate::sqlite::{MIGRATIONS, select_transactions, txn_from_row};

    fn main_database() -> Connection {
        let conn = Connection::open_in_memory().expect("in-memory database");
        for (_, _, sql) in MIGRATIONS {
            conn.execute_batch(sql).expect("a migration");
        }
        conn
    }

    /// The totals as the writer keeps them (it does per commit; these tests write rows by hand).
    fn retotal(conn: &Connection) {
        conn.execute_batch(
            "DELETE FROM txn_totals; INSERT INTO txn_totals SELECT merchant_id, business_day, terminal_id, operator, \
             method, business_type, txn_type, status, count(*), sum(amount_minor), sum(fee_minor) FROM transactions \
             GROUP BY merchant_id, business_day, terminal_id, operator, method, business_type, txn_type, status",
        )
        .expect("totals");
    }

    fn add(conn: &Connection, merchant: &str, day: &str, id: &str, status: &str) {
        conn.execute(
            &format!(
                "INSERT INTO transactions ({TXN_COLUMNS}) VALUES (?1, ?2, 'card_txn', ?3, 1, 0, 0, 'card', 'sale', 'T', 1, 1, ?4, \
                 100, 1, 0, 0, '00', NULL, 'iso8583', 0, x'00', '01', 'sale')"
            ),
            params![merchant, id, status, day],
        )
        .expect("insert a transaction");
        retotal(conn);
    }

    fn page(main: &mut Connection, index: &mut Connection, query: &TxnQuery) -> Vec<String> {
        let mut query = query.clone();
        let mut out = Vec::new();
        loop {
            let rows = merchant_transactions(
                main,
                index,
                &query,
                |conn, id, merchant| {
                    let mut s = conn.prepare_cached(&format!(
                        "SELECT {TXN_COLUMNS} FROM transactions WHERE id = ?1 AND merchant_id = ?2"
                    ))?;
                    Ok(s.query_row(params![id, merchant], txn_from_row).optional()?)
                },
                |conn, through, query| select_transactions(conn, query, Some(through)),
            )
            .expect("a page");
            let full = rows.len() == query.limit as usize;
            out.extend(rows.iter().map(|r| r.record.id.clone()));
            match rows.last() {
                Some(last) if full => query.after = Some((last.columns.business_day.clone(), last.record.id.clone())),
                _ => return out,
            }
        }
    }

    #[test]
    fn reads_merge_the_indexed_part_and_the_tail_in_day_and_id_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut main = main_database();
        let mut index = crate::account_history::open_index(dir.path(), "test").expect("index");
        for (day, id, status) in
            [("20261127", "a3", "approved"), ("20261126", "a9", "voided"), ("20261127", "a1", "approved")]
        {
            add(&main, "m1", day, id, status);
        }
        add(&main, "m2", "20261127", "b1", "approved");
        assert_eq!(index_once(&main, &mut index).expect("indexed"), 4);
        // Written after the pass: the tail.
        for (day, id) in [("20261127", "a2"), ("20261126", "a0"), ("20261128", "a4")] {
            add(&main, "m1", day, id, "approved");
        }
        let query = |from: &str, to: &str, limit: u32| TxnQuery {
            merchant: Some("m1".into()),
            day_from: Some(from.into()),
            day_to: Some(to.into()),
            limit,
            ..TxnQuery::default()
        };
        let all = ["a0", "a9", "a1", "a2", "a3", "a4"];
        for limit in [1, 2, 3, 10] {
            assert_eq!(page(&mut main, &mut index, &query("20261126", "20261128", limit)), all, "pages of {limit}");
        }
        assert_eq!(page(&mut main, &mut index, &query("20261127", "20261127", 2)), ["a1", "a2", "a3"]);
        let mut approved = query("20261101", "20261130", 2);
        approved.statuses = vec!["approved".into()];
        assert_eq!(page(&mut main, &mut index, &approved), ["a0", "a1", "a2", "a3", "a4"], "voided a9 left out");
        // Indexed further, the same answers.
        assert_eq!(index_once(&main, &mut index).expect("indexed"), 3);
        assert_eq!(index_once(&main, &mut index).expect("caught up"), 0);
        assert_eq!(page(&mut main, &mut index, &query("20261126", "20261128", 2)), all);
        assert_eq!(page(&mut main, &mut index, &approved), ["a0", "a1", "a2", "a3", "a4"]);
        // By payment method, indexed and in the tail alike.
        main.execute("UPDATE transactions SET method = 'wechat' WHERE id IN ('a1', 'a4')", []).expect("wechat");
        add(&main, "m1", "20261128", "a5", "approved");
        main.execute("UPDATE transactions SET method = 'wechat' WHERE id = 'a5'", []).expect("wechat");
        retotal(&main);
        let mut wechat = query("20261101", "20261130", 2);
        wechat.methods = vec!["wechat".into()];
        assert_eq!(page(&mut main, &mut index, &wechat), ["a1", "a4", "a5"]);
        wechat.methods = vec!["alipay".into()];
        assert!(page(&mut main, &mut index, &wechat).is_empty());
    }
}

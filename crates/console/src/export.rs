//! Exports: a transaction list as CSV (UTF-8 with a byte-order mark, so that spreadsheet programs
//! read the Chinese right), every row the filters select, read from the store a page at a time.
//! Amounts are yuan with two decimals, as a spreadsheet sums them; text cells that a spreadsheet
//! would run as a formula (starting `=`, `+`, `-`, `@`) are written with a leading `'`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use xingtong_api::AppState;
use xingtong_store::TxnQuery;

use crate::i18n::Lang;
use crate::{Ctx, Fail, china_time};

/// Rows read from the store at a time.
pub const EXPORT_PAGE: u32 = 1_000;

/// One cell, quoted when it must be.
fn cell(out: &mut String, value: &str, text: bool) {
    let guarded;
    let value = if text && value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{value}");
        guarded.as_str()
    } else {
        value
    };
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// A row of cells: (value, is text).
fn row(out: &mut String, cells: &[(&str, bool)]) {
    for (i, (value, text)) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, value, *text);
    }
    out.push_str("\r\n");
}

/// Minor units as a decimal yuan amount (`-12.05`).
pub fn decimal(minor: i64) -> String {
    xingtong_money::Amount::from_minor(minor, xingtong_money::Currency::CNY).to_decimal_string()
}

/// The CSV of every transaction `query` selects (its cursor and limit are the export's own).
pub async fn transactions_csv(
    state: &AppState,
    ctx: &Ctx,
    mut query: TxnQuery,
    file_name: &str,
) -> Result<Response, Fail> {
    let t = ctx.lang.text();
    let mut out = String::from("\u{feff}");
    let header: [&str; 16] = if ctx.lang == Lang::Zh {
        [
            "交易编号",
            "时间",
            "交易日",
            "终端号",
            "操作员",
            "交易类型",
            "支付方式",
            "业务类型",
            "状态",
            "金额",
            "手续费",
            "应答码",
            "拒绝原因",
            "参考号",
            "授权码",
            "原交易",
        ]
    } else {
        [
            "id",
            "time",
            "business_day",
            "terminal",
            "cashier",
            "type",
            "method",
            "business",
            "status",
            "amount",
            "fee",
            "response_code",
            "decline_reason",
            "rrn",
            "auth_code",
            "original",
        ]
    };
    row(&mut out, &header.map(|h| (h, true)));
    query.limit = EXPORT_PAGE;
    loop {
        let (txns, next) = crate::merchant::read_page(state, query.clone()).await?;
        for txn in &txns {
            let business = match txn.business_type {
                xingtong_payments::txn::BusinessType::Sale => t.business_sale,
                xingtong_payments::txn::BusinessType::Collection => t.business_collection,
                xingtong_payments::txn::BusinessType::Purchase => t.business_purchase,
            };
            let (status, _) = crate::merchant::status_name(t, txn.status);
            let (amount, fee) = (decimal(txn.amount_minor), decimal(txn.fee_minor));
            let time = china_time(txn.at);
            row(
                &mut out,
                &[
                    (&txn.id, true),
                    (&time, false),
                    (&txn.business_day, false),
                    (&txn.tid, true),
                    (&txn.operator, true),
                    (crate::merchant::kind_name(ctx.lang, txn), true),
                    (crate::merchant::method_name(t, txn.method()), true),
                    (business, true),
                    (status, true),
                    (&amount, false),
                    (&fee, false),
                    (xingtong_payments::cup::recorded(txn), true),
                    (txn.decline.map_or("", |r| r.code()), true),
                    (&txn.rrn, true),
                    (txn.auth_code.as_deref().unwrap_or(""), true),
                    (txn.original_id.as_deref().unwrap_or(""), true),
                ],
            );
        }
        match next {
            Some(after) => query.after = after.split_once('_').map(|(d, i)| (d.to_owned(), i.to_owned())),
            None => break,
        }
    }
    let disposition = format!("attachment; filename=\"{file_name}\"");
    let mut response = (StatusCode::OK, out).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let mut out = String::new();
        row(&mut out, &[("a,b", true), ("say \"hi\"", true), ("=1+1", true), ("-12.05", false), ("plain", true)]);
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",'=1+1,-12.05,plain\r\n");
        assert_eq!(decimal(-1205), "-12.05");
        assert_eq!(decimal(100), "1.00");
    }
}

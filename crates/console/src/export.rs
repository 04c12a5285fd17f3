//! Exports of a transaction list or a report, as CSV (UTF-8 with a byte-order mark, so that
//! spreadsheet programs read the Chinese right) or XLSX (written by `rust_xlsxwriter`). Both come
//! from one [`Sheet`]: a header row, then rows of text, counts and amounts. Amounts are yuan with
//! two decimals, as numbers a spreadsheet sums; in CSV, text cells a spreadsheet would run as a
//! formula (starting `=`, `+`, `-`, `@`) are written with a leading `'`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use xingtong_api::AppState;
use xingtong_store::TxnQuery;

use crate::i18n::Lang;
use crate::{Ctx, Fail, china_time};

/// Rows read from the store at a time.
pub const EXPORT_PAGE: u32 = 1_000;

/// A cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A count.
    Count(i64),
    /// Minor units, shown as yuan.
    Money(i64),
}

/// What an export holds.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    /// The sheet's name (XLSX) and the file's name without its extension.
    pub name: String,
    /// The header row.
    pub header: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
}

/// The two formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values.
    Csv,
    /// An Excel workbook.
    Xlsx,
}

impl Format {
    /// From the path's extension.
    pub fn of(extension: &str) -> Option<Format> {
        match extension {
            "csv" => Some(Format::Csv),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }
}

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

/// Minor units as a decimal yuan amount (`-12.05`).
pub fn decimal(minor: i64) -> String {
    xingtong_money::Amount::from_minor(minor, xingtong_money::Currency::CNY).to_decimal_string()
}

impl Sheet {
    /// As CSV.
    pub fn csv(&self) -> String {
        let mut out = String::from("\u{feff}");
        let mut line = |cells: Vec<(String, bool)>| {
            for (i, (value, text)) in cells.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                cell(&mut out, value, *text);
            }
            out.push_str("\r\n");
        };
        line(self.header.iter().map(|h| (h.clone(), true)).collect());
        for row in &self.rows {
            line(
                row.iter()
                    .map(|c| match c {
                        Cell::Text(t) => (t.clone(), true),
                        Cell::Count(n) => (n.to_string(), false),
                        Cell::Money(m) => (decimal(*m), false),
                    })
                    .collect(),
            );
        }
        out
    }

    /// As an XLSX workbook of one sheet: a bold header, amounts as numbers shown `0.00`.
    pub fn xlsx(&self) -> Result<Vec<u8>, Fail> {
        use rust_xlsxwriter::{Format as Style, Workbook};
        let fail = |e: rust_xlsxwriter::XlsxError| Fail::Internal(format!("an XLSX export: {e}"));
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        let name: String = self.name.chars().filter(|c| !"[]:*?/\\".contains(*c)).take(31).collect();
        sheet.set_name(&name).map_err(fail)?;
        let bold = Style::new().set_bold();
        let money = Style::new().set_num_format("0.00");
        for (col, title) in self.header.iter().enumerate() {
            sheet.write_string_with_format(0, col as u16, title, &bold).map_err(fail)?;
            sheet.set_column_width(col as u16, 14).map_err(fail)?;
        }
        for (r, row) in self.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, value) in row.iter().enumerate() {
                let c = c as u16;
                match value {
                    Cell::Text(t) => sheet.write_string(r, c, t).map(|_| ()),
                    Cell::Count(n) => sheet.write_number(r, c, *n as f64).map(|_| ()),
                    // Yuan with two decimals: exact for any amount below 2^53 fen.
                    Cell::Money(m) => sheet.write_number_with_format(r, c, *m as f64 / 100.0, &money).map(|_| ()),
                }
                .map_err(fail)?;
            }
        }
        workbook.save_to_buffer().map_err(fail)
    }

    /// The file, with its type and name.
    pub fn response(&self, format: Format) -> Result<Response, Fail> {
        let (body, content_type, extension) = match format {
            Format::Csv => (self.csv().into_bytes(), "text/csv; charset=utf-8", "csv"),
            Format::Xlsx => (self.xlsx()?, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
        };
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        let file: String = self.name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}.{extension}\"")) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
        Ok(response)
    }
}

/// Every transaction `query` selects (its cursor and limit are the export's own), as a sheet.
pub async fn transactions_sheet(state: &AppState, ctx: &Ctx, mut query: TxnQuery, name: &str) -> Result<Sheet, Fail> {
    let t = ctx.lang.text();
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
    let mut sheet = Sheet { name: name.to_owned(), header: header.map(str::to_owned).to_vec(), rows: Vec::new() };
    query.limit = EXPORT_PAGE;
    loop {
        let (txns, next) = crate::merchant::read_page(state, query.clone()).await?;
        for txn in &txns {
            let text = |s: &str| Cell::Text(s.to_owned());
            sheet.rows.push(vec![
                text(&txn.id),
                text(&china_time(txn.at)),
                text(&txn.business_day),
                text(&txn.tid),
                text(&txn.operator),
                text(crate::merchant::kind_name(ctx.lang, txn)),
                text(crate::merchant::method_name(t, txn.method())),
                text(crate::merchant::business_name(t, txn.business_type)),
                text(crate::merchant::status_name(t, txn.status).0),
                Cell::Money(txn.amount_minor),
                Cell::Money(txn.fee_minor),
                text(xingtong_payments::cup::recorded(txn)),
                text(txn.decline.map_or("", |r| r.code())),
                text(&txn.rrn),
                text(txn.auth_code.as_deref().unwrap_or("")),
                text(txn.original_id.as_deref().unwrap_or("")),
            ]);
        }
        match next {
            Some(after) => query.after = after.split_once('_').map(|(d, i)| (d.to_owned(), i.to_owned())),
            None => break,
        }
    }
    Ok(sheet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        let sheet = Sheet {
            name: "t".into(),
            header: vec!["a".into()],
            rows: vec![vec![
                Cell::Text("a,b".into()),
                Cell::Text("say \"hi\"".into()),
                Cell::Text("=1+1".into()),
                Cell::Money(-1205),
                Cell::Count(7),
            ]],
        };
        assert_eq!(sheet.csv(), "\u{feff}a\r\n\"a,b\",\"say \"\"hi\"\"\",'=1+1,-12.05,7\r\n");
        assert_eq!(decimal(100), "1.00");
    }

    #[test]
    fn a_workbook_is_a_zip_with_its_sheet() {
        let sheet = Sheet {
            name: "sales-898310053990001".into(),
            header: vec!["net".into()],
            rows: vec![vec![Cell::Money(12_345)]],
        };
        let bytes = sheet.xlsx().expect("written");
        assert!(bytes.starts_with(b"PK\x03\x04"), "a zip file");
        assert!(bytes.len() > 1_000);
    }
}

//! Reports (销售报表, 收款报表, 结算报表): a merchant's sales, voids, refunds and fees over business
//! days, by day, week or month, overall or by terminal, cashier, payment method or business type;
//! the hours of the day they were made in; and its settlements by period. The sales report adds
//! up the store's transaction totals (`txn_totals` and `txn_hours`, kept in each transaction's
//! commit), never the rows: a month of a million transactions is a few thousand buckets. The
//! settlement report adds up the settlements themselves (one a business day, a few for D0).
//!
//! What counts, transaction by transaction, as it stands now:
//! - **sales**: sales and pre-authorization completions that were approved, voided ones included
//!   (their void counts against them);
//! - **voids**: approved voids of a sale or completion;
//! - **refunds**: approved refunds;
//! - **fees**: the fees of sales still approved, less what refunds gave back (a voided sale's fee
//!   went back with the void);
//! - **net** = sales − voids − refunds − fees: what the merchant is owed for them, the amount its
//!   settlement account in the ledger was credited;
//! - **declined**: declined requests, counted only.
//!
//! Reversed transactions never happened and count nowhere; balance inquiries and
//! pre-authorizations (holds) move no money and count nowhere; QR payments still pending count
//! once they end.

use serde::Serialize;
use xingtong_store::{Store, TotalsQuery, TotalsRow};

/// How rows are grouped in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A row per business day, `YYYY-MM-DD`.
    Day,
    /// A row per ISO week (Monday to Sunday), `YYYY-Www`.
    Week,
    /// A row per month, `YYYY-MM`.
    Month,
}

impl Period {
    /// From `day`, `week`, `month`.
    pub fn parse(value: &str) -> Option<Period> {
        match value {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// As a parameter names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }

    /// The period a business day (`YYYYMMDD`) falls in.
    pub fn of(self, day: &str) -> String {
        let (y, m, d) = (&day[..4], &day[4..6], &day[6..8]);
        match self {
            Period::Day => format!("{y}-{m}-{d}"),
            Period::Month => format!("{y}-{m}"),
            Period::Week => {
                let (year, week) = iso_week(y.parse().unwrap_or(1970), m.parse().unwrap_or(1), d.parse().unwrap_or(1));
                format!("{year}-W{week:02}")
            }
        }
    }
}

/// What rows are split by, besides time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// One row per period.
    Total,
    /// Per terminal id.
    Terminal,
    /// Per cashier (operator number; empty for transactions of releases that did not keep it).
    Cashier,
    /// Per payment method: `card`, `wechat`, `alipay`, `unionpay_qr`.
    Method,
    /// Per business type: `sale`, `collection`, `purchase` (empty: not kept).
    BusinessType,
}

impl By {
    /// From `total`, `terminal`, `cashier`, `method`, `business_type`.
    pub fn parse(value: &str) -> Option<By> {
        match value {
            "total" => Some(By::Total),
            "terminal" => Some(By::Terminal),
            "cashier" => Some(By::Cashier),
            "method" => Some(By::Method),
            "business_type" => Some(By::BusinessType),
            _ => None,
        }
    }

    /// As a parameter names it.
    pub fn as_str(self) -> &'static str {
        match self {
            By::Total => "total",
            By::Terminal => "terminal",
            By::Cashier => "cashier",
            By::Method => "method",
            By::BusinessType => "business_type",
        }
    }

    fn key(self, row: &TotalsRow) -> String {
        match self {
            By::Total => String::new(),
            By::Terminal => row.terminal_id.clone(),
            By::Cashier => row.operator.clone(),
            By::Method => row.method.clone(),
            By::BusinessType => row.business_type.clone(),
        }
    }
}

/// One row of a report: a period (and a key, when split), its sums.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Line {
    /// `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`; empty on the totals line.
    pub period: String,
    /// The terminal, cashier, method or business type; empty when not split, and on the totals line.
    pub key: String,
    /// Sales and completions approved (voided ones included).
    pub sales_count: i64,
    /// Their amount, minor units.
    pub sales_minor: i64,
    /// Voids.
    pub voids_count: i64,
    /// Their amount, minor units.
    pub voids_minor: i64,
    /// Refunds.
    pub refunds_count: i64,
    /// Their amount, minor units.
    pub refunds_minor: i64,
    /// Fees, minor units (refunds' returned fees taken off).
    pub fees_minor: i64,
    /// Sales − voids − refunds − fees, minor units.
    pub net_minor: i64,
    /// Declined requests.
    pub declined_count: i64,
}

impl Line {
    fn add(&mut self, row: &TotalsRow) {
        let counted = |statuses: &[&str]| statuses.contains(&row.status.as_str());
        match row.txn_type.as_str() {
            "sale" | "completion" if counted(&["approved", "voided"]) => {
                self.sales_count += row.count;
                self.sales_minor += row.amount_minor;
                if row.status == "approved" {
                    self.fees_minor += row.fee_minor;
                }
            }
            "void" | "completion_void" if counted(&["approved"]) => {
                self.voids_count += row.count;
                self.voids_minor += row.amount_minor;
            }
            "refund" if counted(&["approved"]) => {
                self.refunds_count += row.count;
                self.refunds_minor += row.amount_minor;
                self.fees_minor += row.fee_minor;
            }
            _ if row.status == "declined" => self.declined_count += row.count,
            _ => {}
        }
        self.net_minor = self.sales_minor - self.voids_minor - self.refunds_minor - self.fees_minor;
    }

    fn merge(&mut self, other: &Line) {
        self.sales_count += other.sales_count;
        self.sales_minor += other.sales_minor;
        self.voids_count += other.voids_count;
        self.voids_minor += other.voids_minor;
        self.refunds_count += other.refunds_count;
        self.refunds_minor += other.refunds_minor;
        self.fees_minor += other.fees_minor;
        self.net_minor += other.net_minor;
        self.declined_count += other.declined_count;
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.sales_count == 0 && self.voids_count == 0 && self.refunds_count == 0 && self.declined_count == 0
    }
}

/// A report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The merchant.
    pub mid: String,
    /// First business day, `YYYY-MM-DD`.
    pub from: String,
    /// Last business day, `YYYY-MM-DD`.
    pub to: String,
    /// How rows are grouped in time.
    pub period: Period,
    /// What rows are split by.
    pub by: By,
    /// In (period, key) order; periods with nothing are left out.
    pub lines: Vec<Line>,
    /// The sums of every line.
    pub totals: Line,
    /// The range's approved sales and completions by hour of the day (China time), 0 to 23: every
    /// hour, empty ones too (how a shop's day goes; voided ones are not counted).
    pub hours: Vec<Hour>,
}

/// An hour of the day's approved sales and completions, over a report's range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Hour {
    /// 0 to 23, China time.
    pub hour: u8,
    /// How many.
    pub count: i64,
    /// Their amount, minor units.
    pub amount_minor: i64,
}

/// Every hour of the day, from the hours with sales.
pub fn day_of_hours(rows: &[xingtong_store::HourRow]) -> Vec<Hour> {
    (0..24u8)
        .map(|hour| match rows.iter().find(|r| r.hour == hour) {
            Some(r) => Hour { hour, count: r.count, amount_minor: r.amount_minor },
            None => Hour { hour, ..Hour::default() },
        })
        .collect()
}

/// The buckets of `mid`'s transactions over business days `from` to `to` (`YYYYMMDD`), added up.
pub fn build(mid: &str, from: &str, to: &str, period: Period, by: By, rows: &[TotalsRow]) -> Report {
    let mut lines: std::collections::BTreeMap<(String, String), Line> = std::collections::BTreeMap::new();
    let mut totals = Line::default();
    for row in rows {
        let (p, k) = (period.of(&row.business_day), by.key(row));
        let line = lines.entry((p.clone(), k.clone())).or_insert_with(|| Line { period: p, key: k, ..Line::default() });
        line.add(row);
    }
    let lines: Vec<Line> = lines.into_values().filter(|l| !l.is_empty()).collect();
    for line in &lines {
        totals.merge(line);
    }
    let dashed = |d: &str| if d.len() == 8 { format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]) } else { d.to_owned() };
    Report { mid: mid.to_owned(), from: dashed(from), to: dashed(to), period, by, lines, totals, hours: Vec::new() }
}

/// The report of `mid`'s business days `from` to `to` (`YYYYMMDD`, inclusive).
pub async fn sales_report(
    store: &Store,
    mid: &str,
    from: &str,
    to: &str,
    period: Period,
    by: By,
) -> Result<Report, xingtong_store::StoreError> {
    let query = TotalsQuery { merchant: mid.to_owned(), day_from: from.to_owned(), day_to: to.to_owned() };
    let rows = store.txn_totals(query.clone()).await?;
    let mut report = build(mid, from, to, period, by, &rows);
    report.hours = day_of_hours(&store.txn_hours(query).await?);
    Ok(report)
}

/// One line of the collection report (收款报表): what a payment method collected in a period.
/// Amounts are minor units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CollectionLine {
    /// `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`; empty on the per-method and totals lines.
    pub period: String,
    /// `card`, `wechat`, `alipay` or `unionpay_qr`; empty on the totals line.
    pub method: String,
    /// Payments that stand: sales and completions approved, less those voided.
    pub count: i64,
    /// What they collected: sales − voids.
    pub collected_minor: i64,
    /// Refunds made.
    pub refunds_count: i64,
    /// Their amount.
    pub refunds_minor: i64,
    /// Fees (refunds' returned fees taken off).
    pub fees_minor: i64,
    /// collected − refunds − fees: the sales report's net.
    pub net_minor: i64,
}

impl CollectionLine {
    fn of(line: &Line) -> CollectionLine {
        CollectionLine {
            period: line.period.clone(),
            method: line.key.clone(),
            count: line.sales_count - line.voids_count,
            collected_minor: line.sales_minor - line.voids_minor,
            refunds_count: line.refunds_count,
            refunds_minor: line.refunds_minor,
            fees_minor: line.fees_minor,
            net_minor: line.net_minor,
        }
    }

    fn merge(&mut self, other: &CollectionLine) {
        self.count += other.count;
        self.collected_minor += other.collected_minor;
        self.refunds_count += other.refunds_count;
        self.refunds_minor += other.refunds_minor;
        self.fees_minor += other.fees_minor;
        self.net_minor += other.net_minor;
    }
}

/// The collection report (收款报表): by period and payment method, then by method over the whole
/// range, then the totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionReport {
    /// The merchant.
    pub mid: String,
    /// First business day, `YYYY-MM-DD`.
    pub from: String,
    /// Last business day, `YYYY-MM-DD`.
    pub to: String,
    /// How lines are grouped in time.
    pub period: Period,
    /// In (period, method) order; what collected nothing and refunded nothing is left out.
    pub lines: Vec<CollectionLine>,
    /// Each method over the whole range (`period` empty), in method order.
    pub methods: Vec<CollectionLine>,
    /// Everything.
    pub totals: CollectionLine,
}

/// The collection report of `mid`'s business days `from` to `to` (`YYYYMMDD`, inclusive), from the
/// same totals as the sales report.
pub async fn collection_report(
    store: &Store,
    mid: &str,
    from: &str,
    to: &str,
    period: Period,
) -> Result<CollectionReport, xingtong_store::StoreError> {
    let rows = store
        .txn_totals(TotalsQuery { merchant: mid.to_owned(), day_from: from.to_owned(), day_to: to.to_owned() })
        .await?;
    Ok(build_collections(mid, from, to, period, &rows))
}

/// [`collection_report`] from the buckets themselves.
pub fn build_collections(mid: &str, from: &str, to: &str, period: Period, rows: &[TotalsRow]) -> CollectionReport {
    let sales = build(mid, from, to, period, By::Method, rows);
    let lines: Vec<CollectionLine> = sales
        .lines
        .iter()
        .map(CollectionLine::of)
        .filter(|l| l.count != 0 || l.collected_minor != 0 || l.refunds_count != 0)
        .collect();
    let mut methods: Vec<CollectionLine> = Vec::new();
    for line in &lines {
        match methods.iter_mut().find(|m| m.method == line.method) {
            Some(m) => m.merge(line),
            None => methods.push(CollectionLine { period: String::new(), ..line.clone() }),
        }
    }
    methods.sort_by(|a, b| a.method.cmp(&b.method));
    let mut totals = CollectionLine::default();
    for m in &methods {
        totals.merge(m);
    }
    CollectionReport { mid: sales.mid, from: sales.from, to: sales.to, period, lines, methods, totals }
}

/// One line of the settlement report (结算报表): a period's settlements added up, by the
/// business day each cleared. Amounts are minor units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SettlementLine {
    /// `YYYY-MM-DD`, `YYYY-Www` or `YYYY-MM`; empty on the totals line.
    pub period: String,
    /// Settlements (one a business day, or more for D0 sweeps).
    pub settlements: i64,
    /// Their lines (transactions cleared).
    pub lines: i64,
    /// Sales and completions cleared: how many, and their amount.
    pub captured_count: i64,
    /// Their amount.
    pub captured_minor: i64,
    /// Voids, completion voids and refunds cleared: how many …
    pub returned_count: i64,
    /// … and their amount.
    pub returned_minor: i64,
    /// Fees charged less fees returned.
    pub fees_minor: i64,
    /// D0 surcharges charged less returned.
    pub surcharge_minor: i64,
    /// captured − returned − fees − surcharge.
    pub net_minor: i64,
    /// Paid (or to be paid) to the merchant's card.
    pub payout_minor: i64,
    /// What the period's last settlement carried forward (≤ 0: refunds and fees that outweighed
    /// sales, taken from the next payout).
    pub carried_forward_minor: i64,
}

impl SettlementLine {
    fn add(&mut self, s: &crate::clearing::Settlement) {
        self.settlements += 1;
        self.lines += i64::from(s.lines);
        self.captured_count += i64::from(s.captured_count);
        self.captured_minor += s.captured_minor;
        self.returned_count += i64::from(s.returned_count);
        self.returned_minor += s.returned_minor;
        self.fees_minor += s.fees_minor;
        self.surcharge_minor += s.surcharge_minor;
        self.net_minor += s.net_minor;
        self.payout_minor += s.payout_minor;
        self.carried_forward_minor = s.carried_out_minor;
    }
}

/// The settlement report of a merchant over business days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementReport {
    /// The merchant.
    pub mid: String,
    /// First business day, `YYYY-MM-DD`.
    pub from: String,
    /// Last business day, `YYYY-MM-DD`.
    pub to: String,
    /// How lines are grouped in time.
    pub period: Period,
    /// In period order; periods without a settlement are left out.
    pub lines: Vec<SettlementLine>,
    /// Every line added up (its carried-forward is the last settlement's).
    pub totals: SettlementLine,
}

/// Settlements, in (business day, id) order, grouped by `period`.
pub fn build_settlements(
    mid: &str,
    from: &str,
    to: &str,
    period: Period,
    settlements: &[crate::clearing::Settlement],
) -> SettlementReport {
    let mut lines: Vec<SettlementLine> = Vec::new();
    let mut totals = SettlementLine::default();
    for s in settlements {
        let p = period.of(&s.business_day);
        if lines.last().is_none_or(|l| l.period != p) {
            lines.push(SettlementLine { period: p, ..SettlementLine::default() });
        }
        if let Some(line) = lines.last_mut() {
            line.add(s);
        }
        totals.add(s);
    }
    let dashed = |d: &str| if d.len() == 8 { format!("{}-{}-{}", &d[..4], &d[4..6], &d[6..]) } else { d.to_owned() };
    SettlementReport { mid: mid.to_owned(), from: dashed(from), to: dashed(to), period, lines, totals }
}

/// The settlement report (结算报表) of `mid`'s business days `from` to `to` (`YYYYMMDD`,
/// inclusive): its settlements, read from their table a page at a time by business day.
pub async fn settlement_report(
    store: &Store,
    mid: &str,
    from: &str,
    to: &str,
    period: Period,
) -> Result<SettlementReport, xingtong_merchants::Error> {
    use xingtong_store::{Cmp, Table, TableQuery, Value};
    let mut found: Vec<crate::clearing::Settlement> = Vec::new();
    let mut after: Option<(Value, String)> = None;
    loop {
        let mut query = TableQuery::new(Table::Settlements)
            .merchant(mid)
            .filter("business_day", Cmp::AtLeast, from)
            .filter("business_day", Cmp::AtMost, to)
            .order_by("business_day")
            .limit(xingtong_store::PAGE_LIMIT_MAX);
        query.after = after.clone();
        let page: Vec<xingtong_merchants::entity::Stored<crate::clearing::Settlement>> =
            xingtong_merchants::entity::select(store, query).await?;
        let full = page.len() == xingtong_store::PAGE_LIMIT_MAX as usize;
        after = page.last().map(|s| (Value::from(s.value.business_day.as_str()), s.value.id.clone()));
        found.extend(page.into_iter().map(|s| s.value));
        if !full {
            break;
        }
    }
    Ok(build_settlements(mid, from, to, period, &found))
}

/// Days from business day `from` to `to` (`YYYYMMDD`): 0 for the same day, negative when `to`
/// comes first.
pub fn days_between(from: &str, to: &str) -> i64 {
    let days = |d: &str| {
        let n = |r: std::ops::Range<usize>| d.get(r).and_then(|s| s.parse::<i64>().ok()).unwrap_or(1);
        days_from_civil(n(0..4), n(4..6), n(6..8))
    };
    days(to) - days(from)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The ISO 8601 week (year, week number) of a date: weeks start on Monday, and week 1 holds the
/// year's first Thursday.
pub fn iso_week(y: i64, m: i64, d: i64) -> (i64, i64) {
    let days = days_from_civil(y, m, d);
    let weekday = (days + 3).rem_euclid(7) + 1; // 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday)
    let thursday = days - weekday + 4;
    // The year of that week's Thursday, and its first day.
    let mut year = y;
    if thursday < days_from_civil(year, 1, 1) {
        year -= 1;
    } else if thursday >= days_from_civil(year + 1, 1, 1) {
        year += 1;
    }
    (year, (thursday - days_from_civil(year, 1, 1)) / 7 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collections_are_what_each_method_took_less_voids_then_refunds_and_fees() {
        let wechat = |txn_type: &str, status: &str, count: i64, amount: i64, fee: i64| TotalsRow {
            method: "wechat".into(),
            ..row("20261127", txn_type, status, count, amount, fee)
        };
        let rows = [
            row("20261126", "sale", "approved", 3, 30_000, 180),
            row("20261126", "sale", "voided", 1, 5_000, 0),
            row("20261126", "void", "approved", 1, 5_000, 0),
            row("20261127", "refund", "approved", 1, 1_000, -6),
            wechat("sale", "approved", 2, 8_000, 30),
            row("20261127", "sale", "declined", 4, 9_999, 0),
        ];
        let r = build_collections("898", "20261126", "20261127", Period::Day, &rows);
        let card_26 = &r.lines[0];
        assert_eq!((card_26.method.as_str(), card_26.count, card_26.collected_minor), ("card", 3, 30_000));
        assert_eq!(card_26.net_minor, 30_000 - 180);
        assert_eq!(r.lines.len(), 3, "the refund's day, the wechat day; declines collect nothing: {:?}", r.lines);
        let card = r.methods.iter().find(|m| m.method == "card").expect("card");
        assert_eq!((card.count, card.collected_minor, card.refunds_minor, card.fees_minor), (3, 30_000, 1_000, 174));
        assert_eq!(r.totals.collected_minor, 38_000);
        assert_eq!(r.totals.net_minor, 38_000 - 1_000 - 174 - 30);
        let sales = build("898", "20261126", "20261127", Period::Day, By::Total, &rows);
        assert_eq!(r.totals.net_minor, sales.totals.net_minor, "the same net as the sales report");
    }

    #[test]
    fn settlements_add_up_by_period_and_carry_the_last_balance_forward() {
        use crate::clearing::{Settlement, SettlementStatus};
        let settlement = |day: &str, seq: u32, captured: i64, returned: i64, fees: i64, carried_out: i64| Settlement {
            id: format!("stl_898_{day}_{seq}"),
            mid: "898".into(),
            business_day: day.into(),
            seq,
            cycle: xingtong_merchants::merchant::SettlementCycle::T1,
            status: SettlementStatus::Cleared,
            lines: 2,
            captured_minor: captured,
            captured_count: 1,
            returned_minor: returned,
            returned_count: u32::from(returned > 0),
            fees_minor: fees,
            surcharge_minor: 0,
            net_minor: captured - returned - fees,
            carried_in_minor: 0,
            payout_minor: (captured - returned - fees).max(0),
            carried_out_minor: carried_out,
            payout_date: day.into(),
            cleared_at: 0,
        };
        let all = [
            settlement("20261130", 1, 10_000, 0, 60, 0),
            settlement("20261201", 1, 0, 500, -3, -497),
            settlement("20261201", 2, 2_000, 0, 12, 0),
        ];
        let by_day = build_settlements("898", "20261130", "20261201", Period::Day, &all);
        assert_eq!(by_day.lines.len(), 2);
        assert_eq!((by_day.lines[1].period.as_str(), by_day.lines[1].settlements), ("2026-12-01", 2));
        assert_eq!(by_day.lines[1].net_minor, -497 + 1_988);
        assert_eq!(by_day.lines[1].carried_forward_minor, 0, "the day's last settlement's balance");
        let by_month = build_settlements("898", "20261130", "20261201", Period::Month, &all);
        assert_eq!(by_month.lines.iter().map(|l| l.period.as_str()).collect::<Vec<_>>(), ["2026-11", "2026-12"]);
        assert_eq!(by_month.totals.payout_minor, 9_940 + 1_988);
        assert_eq!(by_month.totals.captured_minor - by_month.totals.returned_minor, 11_500);
        assert_eq!(by_month.totals.net_minor, by_month.lines.iter().map(|l| l.net_minor).sum::<i64>());
        assert_eq!(by_month.from, "2026-11-30");
    }

    fn row(day: &str, txn_type: &str, status: &str, count: i64, amount: i64, fee: i64) -> TotalsRow {
        TotalsRow {
            business_day: day.into(),
            terminal_id: "10000001".into(),
            operator: "01".into(),
            method: "card".into(),
            business_type: "sale".into(),
            txn_type: txn_type.into(),
            status: status.into(),
            count,
            amount_minor: amount,
            fee_minor: fee,
        }
    }

    #[test]
    fn weeks_are_iso_weeks() {
        assert_eq!(iso_week(2026, 11, 28), (2026, 48));
        assert_eq!(iso_week(2026, 1, 1), (2026, 1)); // a Thursday
        assert_eq!(iso_week(2027, 1, 1), (2026, 53)); // a Friday: the 2026 week holding Thursday 31 Dec
        assert_eq!(iso_week(2024, 12, 30), (2025, 1)); // a Monday in 2025's first week
        assert_eq!(Period::Week.of("20261130"), "2026-W49");
        assert_eq!(Period::Month.of("20261130"), "2026-11");
        assert_eq!(Period::Day.of("20261130"), "2026-11-30");
        assert_eq!(days_between("20261127", "20261127"), 0);
        assert_eq!(days_between("20261231", "20270101"), 1);
        assert_eq!(days_between("20240101", "20250101"), 366);
        assert_eq!(days_between("20261128", "20261127"), -1);
    }

    #[test]
    fn sales_voids_refunds_and_fees_add_up_to_what_the_merchant_is_owed() {
        let rows = [
            // Two sales still approved (fee 5 each), one voided (fee 3, given back by its void).
            row("20261127", "sale", "approved", 2, 2_000, 10),
            row("20261127", "sale", "voided", 1, 600, 3),
            row("20261127", "void", "approved", 1, 600, 0),
            // A refund of 500, its fee of 2 given back.
            row("20261128", "refund", "approved", 1, 500, -2),
            // A reversed sale, a balance inquiry, a pending QR payment, declines.
            row("20261128", "sale", "reversed", 1, 900, 4),
            row("20261128", "balance_inquiry", "approved", 3, 0, 0),
            row("20261128", "sale", "pending", 1, 100, 0),
            row("20261128", "sale", "declined", 2, 300, 0),
        ];
        let report = build("m", "20261127", "20261128", Period::Day, By::Total, &rows);
        assert_eq!(report.lines.len(), 2);
        let first = &report.lines[0];
        assert_eq!((first.period.as_str(), first.sales_count, first.sales_minor), ("2026-11-27", 3, 2_600));
        assert_eq!((first.voids_count, first.voids_minor, first.fees_minor, first.net_minor), (1, 600, 10, 1_990));
        let second = &report.lines[1];
        assert_eq!((second.refunds_count, second.refunds_minor, second.fees_minor), (1, 500, -2));
        assert_eq!((second.net_minor, second.declined_count, second.sales_count), (-498, 2, 0));
        // Ledger: +(2000 − 10) for the sales, +(600 − 3) − (600 − 3) for the voided one,
        // −(500 − 2) for the refund.
        assert_eq!(report.totals.net_minor, 1_990 - 498);
        assert_eq!(report.totals.sales_count, 3);
        // By month, one line; by method, one line per method.
        let month = build("m", "20261127", "20261128", Period::Month, By::Total, &rows);
        assert_eq!(month.lines.len(), 1);
        assert_eq!(month.lines[0].period, "2026-11");
        assert_eq!(month.totals, report.totals);
        let mut wechat = row("20261127", "sale", "approved", 1, 1_000, 4);
        wechat.method = "wechat".into();
        let mut with_qr = rows.to_vec();
        with_qr.push(wechat);
        let by_method = build("m", "20261127", "20261128", Period::Month, By::Method, &with_qr);
        let keys: Vec<&str> = by_method.lines.iter().map(|l| l.key.as_str()).collect();
        assert_eq!(keys, ["card", "wechat"]);
        assert_eq!(by_method.lines[1].net_minor, 996);
    }
}

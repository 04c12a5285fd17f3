//! Clearing (清算): each merchant's business day becomes one immutable settlement with its lines,
//! and the day's net moves on the ledger from the merchant's payable to payouts in transit.
//!
//! A line is a transaction of that business day (card today; every method carries the same typed
//! columns) and what it moved on the merchant's payable account: a sale or completion its amount
//! less its fee, a void or completion void the same back, a refund its amount less the fee it
//! returned. A reversed or declined transaction moved nothing and is no line. A merchant paid D0
//! pays the fee schedule's surcharge (`d0_extra_ppm`) on every line, returned in proportion on
//! voids and refunds. A day whose net is negative (more refunded than sold) pays nothing and
//! carries the difference to the merchant's next settlement.
//!
//! One merchant-day is one commit: the settlement record, its lines, its ledger transfers and the
//! carried balance, all or nothing. Running a day again finds the settlements made and changes
//! nothing; a run cut off midway and run again clears each merchant-day exactly once.

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, Stored, load, select};
use xingtong_merchants::merchant::{Merchant, SettlementCycle};
use xingtong_money::Rate;
use xingtong_store::{Change, Cmp, CounterAdd, RecordQuery, SettlementLine, StoreError, Table, TableQuery, TxnQuery};

use crate::chart;
use crate::engine::{Engine, Result};
use crate::postings::transfer;
use crate::txn::{CardTransaction, Status};

/// Where a settlement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    /// Cleared: the payout is in transit to the merchant's bank card.
    Cleared,
    /// Cleared with nothing to pay (the day's net, with what was carried in, was not positive).
    NothingToPay,
}

impl SettlementStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SettlementStatus::Cleared => "cleared",
            SettlementStatus::NothingToPay => "nothing_to_pay",
        }
    }
}

/// A merchant's cleared business day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// `stl_<MID>_<YYYYMMDD>`.
    pub id: String,
    /// Merchant.
    pub mid: String,
    /// The business day cleared, `YYYYMMDD` (China time).
    pub business_day: String,
    /// Its number within the day: 1, or more when the day was cleared while still open (a D0
    /// sweep, or a run by hand) and again later.
    #[serde(default = "first")]
    pub seq: u32,
    /// T+1 or D0, as it was at clearing.
    pub cycle: SettlementCycle,
    /// Where it stands.
    pub status: SettlementStatus,
    /// How many lines.
    pub lines: u32,
    /// Σ amounts of sales and completions.
    pub captured_minor: i64,
    /// How many.
    pub captured_count: u32,
    /// Σ amounts of voids, completion voids and refunds.
    pub returned_minor: i64,
    /// How many.
    pub returned_count: u32,
    /// Fees charged less fees returned.
    pub fees_minor: i64,
    /// The D0 surcharge, charged less returned (0 for T+1).
    pub surcharge_minor: i64,
    /// The day's net: captured − returned − fees − surcharge.
    pub net_minor: i64,
    /// A negative balance carried in from earlier settlements (≤ 0).
    pub carried_in_minor: i64,
    /// What goes to the merchant's bank card: max(net + carried in, 0).
    pub payout_minor: i64,
    /// What is carried to the next settlement: min(net + carried in, 0).
    pub carried_out_minor: i64,
    /// The day the payout is due: the business day for D0, the next day for T+1.
    pub payout_date: String,
    /// When it was cleared, ns since the epoch.
    pub cleared_at: u64,
}

fn first() -> u32 {
    1
}

impl Settlement {
    /// The id of a merchant-day's (first) settlement.
    pub fn key(mid: &str, business_day: &str) -> String {
        format!("stl_{mid}_{business_day}")
    }

    /// The id of a merchant-day's `seq`-th settlement: `stl_<MID>_<YYYYMMDD>`, then `…_2`, `…_3`.
    pub fn key_n(mid: &str, business_day: &str, seq: u32) -> String {
        if seq <= 1 { Settlement::key(mid, business_day) } else { format!("stl_{mid}_{business_day}_{seq}") }
    }
}

impl Entity for Settlement {
    const KIND: &'static str = "settlement";
    const TABLE: Option<xingtong_store::Table> = Some(xingtong_store::Table::Settlements);
    fn columns(&self) -> Option<xingtong_store::Columns> {
        Some(
            xingtong_store::SettlementColumns {
                business_day: self.business_day.clone(),
                seq: self.seq,
                cycle: self.cycle.as_str().into(),
                captured_minor: self.captured_minor,
                returned_minor: self.returned_minor,
                fees_minor: self.fees_minor,
                surcharge_minor: self.surcharge_minor,
                net_minor: self.net_minor,
                payout_minor: self.payout_minor,
                payout_date: self.payout_date.clone(),
            }
            .into(),
        )
    }
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
}

/// How old a transaction must be before the runs `serve` makes on its own settle it: a terminal
/// that lost a reply sends its reversal at its next request, normally within seconds, and a
/// settled transaction's reversal is refused. Ten minutes.
pub const REVERSAL_GRACE_S: u64 = 600;

/// Merchants cleared at once: their commits share the writer's group commits.
pub const CLEARING_CONCURRENCY: usize = 32;

/// The counter of a merchant's negative balance carried between settlements.
fn carry_key(mid: &str) -> String {
    format!("settle_carry:{mid}")
}

/// The counter of a merchant's changes that clearing must see in order: each settlement (of any
/// day) and each reversal adds one, and only if the counter still holds what it read (an increment
/// with `max` = read + 1). So a clearing run commits only if no reversal and no other settlement of
/// the merchant landed after it read the day and the carried balance, and a reversal only if no
/// settlement was made after it looked. One per merchant, not per day: two days of a merchant
/// cleared at once cannot both carry from the same balance.
pub fn changes_key(mid: &str) -> String {
    format!("clearing_changes:{mid}")
}

/// What one merchant-day came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayOutcome {
    /// Cleared by this run.
    Cleared(Settlement),
    /// Cleared before (a run again, or another process).
    AlreadyCleared(Settlement),
    /// No transaction that day.
    Empty,
}

/// A clearing run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClearingReport {
    /// The business day.
    pub business_day: String,
    /// Merchants looked at.
    pub merchants: u64,
    /// Settlements this run made.
    pub cleared: u64,
    /// Settlements found made before.
    pub already_cleared: u64,
    /// Lines this run wrote.
    pub lines: u64,
    /// Σ payouts of the settlements this run made, minor units.
    pub payout_minor: i64,
    /// Σ fees of the settlements this run made.
    pub fees_minor: i64,
    /// Σ D0 surcharges of the settlements this run made.
    pub surcharge_minor: i64,
    /// Deposits whose refund deadline was this day or before, kept by this run.
    pub deposits_kept: u64,
}

/// The line of a transaction: what it moved on the merchant's payable account, and its fee (on
/// fee revenue), from the ledger movements it recorded. `None` for one that moved nothing.
pub fn line_of(txn: &CardTransaction, payable: u128) -> Option<(i64, i64)> {
    if matches!(txn.status, Status::Reversed | Status::Declined) {
        return None;
    }
    let (payable, revenue) = (payable.to_string(), chart::platform_account_id(chart::ACCOUNT_FEE_REVENUE).to_string());
    let (mut net, mut fee) = (0i64, 0i64);
    for m in txn.movements.iter().filter(|m| !m.pending) {
        if m.credit == payable {
            net += m.amount;
        } else if m.debit == payable {
            net -= m.amount;
        }
        if m.credit == revenue {
            fee += m.amount;
        } else if m.debit == revenue {
            fee -= m.amount;
        }
    }
    (net != 0 || fee != 0).then_some((net, fee))
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parts(day: &str) -> Option<(i32, u32, u32)> {
    if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((day[..4].parse().ok()?, day[4..6].parse().ok()?, day[6..8].parse().ok()?))
}

/// True for a `YYYYMMDD` that names a real date.
pub fn valid_day(day: &str) -> bool {
    parts(day).is_some_and(|(y, m, d)| (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
}

/// The calendar day after `day` (`YYYYMMDD`, a valid one).
pub fn next_day(day: &str) -> String {
    let (y, m, d) = parts(day).unwrap_or((1970, 1, 1));
    let (y, m, d) = if d < days_in_month(y, m) {
        (y, m, d + 1)
    } else if m < 12 {
        (y, m + 1, 1)
    } else {
        (y + 1, 1, 1)
    };
    format!("{y:04}{m:02}{d:02}")
}

/// Every transaction a query finds, page by page.
pub(crate) async fn query_all(store: &xingtong_store::Store, mut query: TxnQuery) -> Result<Vec<CardTransaction>> {
    query.limit = xingtong_store::PAGE_LIMIT_MAX;
    let mut all = Vec::new();
    loop {
        let page = store.transactions(query.clone()).await?;
        let full = page.len() == query.limit as usize;
        let last = page.last().map(|r| (r.columns.business_day.clone(), r.record.id.clone()));
        for row in page {
            all.push(Stored::<CardTransaction>::decode(row.record)?.value);
        }
        match last {
            Some(after) if full => query.after = Some(after),
            _ => return Ok(all),
        }
    }
}

impl Engine {
    /// Every transaction of a merchant's business day, in id order.
    pub async fn day_transactions(&self, mid: &str, day: &str) -> Result<Vec<CardTransaction>> {
        self.all_transactions(TxnQuery {
            merchant: Some(mid.to_owned()),
            day_from: Some(day.to_owned()),
            day_to: Some(day.to_owned()),
            ..TxnQuery::default()
        })
        .await
    }

    /// Every transaction a query finds, page by page.
    pub async fn all_transactions(&self, query: TxnQuery) -> Result<Vec<CardTransaction>> {
        query_all(self.store(), query).await
    }

    /// A merchant-day's first settlement, if cleared.
    pub async fn settlement(&self, mid: &str, day: &str) -> Result<Option<Settlement>> {
        Ok(load::<Settlement>(self.store(), &Settlement::key(mid, day)).await?.map(|s| s.value))
    }

    /// A settlement's lines, in order.
    pub async fn settlement_lines(&self, settlement: &Settlement) -> Result<Vec<SettlementLine>> {
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |l: &SettlementLine| l.seq);
            let page = self
                .store()
                .settlement_lines(&settlement.mid, &settlement.id, after, xingtong_store::PAGE_LIMIT_MAX)
                .await?;
            let full = page.len() == xingtong_store::PAGE_LIMIT_MAX as usize;
            all.extend(page);
            if !full {
                return Ok(all);
            }
        }
    }

    /// Clears one merchant's business day (see the module's text): settles the day's
    /// transactions no earlier settlement of the day holds. Raced by a reversal or another run,
    /// it reads again.
    pub async fn clear_merchant_day(&self, merchant: &Merchant, day: &str) -> Result<DayOutcome> {
        self.clear_merchant_day_before(merchant, day, None).await
    }

    /// As [`Engine::clear_merchant_day`], leaving transactions recorded at or after `before_ns`
    /// (ns since the epoch) to a later run.
    pub async fn clear_merchant_day_before(
        &self,
        merchant: &Merchant,
        day: &str,
        before_ns: Option<u64>,
    ) -> Result<DayOutcome> {
        for _ in 0..8 {
            if let Some(outcome) = self.try_clear_merchant_day(merchant, day, before_ns).await? {
                return Ok(outcome);
            }
        }
        Err(xingtong_merchants::Error::new(
            xingtong_merchants::Class::Conflict,
            "concurrent_update",
            format!("merchant {} day {day} kept changing during clearing; run it again", merchant.mid),
        ))
    }

    /// Every settlement of a merchant-day, in order (one, unless the day was cleared while open).
    pub async fn settlements_of_day(&self, mid: &str, day: &str) -> Result<Vec<Settlement>> {
        // At most one per hour's D0 sweep and one per run by hand: one page.
        let query = TableQuery::new(Table::Settlements)
            .merchant(mid)
            .filter("business_day", Cmp::Eq, day)
            .order_by("seq")
            .limit(xingtong_store::PAGE_LIMIT_MAX);
        let all: Vec<Settlement> =
            select::<Settlement>(self.store(), query).await?.into_iter().map(|s| s.value).collect();
        // Numbered from 1 without gaps (each is made with the day's next number).
        if all.iter().enumerate().any(|(i, s)| s.seq as usize != i + 1) {
            return Err(StoreError::Corrupt(format!("settlements of {mid} {day} are not numbered 1…n")).into());
        }
        Ok(all)
    }

    /// The transactions of a merchant-day some settlement holds (by id).
    pub async fn settled_ids(&self, mid: &str, day: &str) -> Result<std::collections::HashSet<String>> {
        self.ids_in(&self.settlements_of_day(mid, day).await?).await
    }

    async fn ids_in(&self, settlements: &[Settlement]) -> Result<std::collections::HashSet<String>> {
        let mut ids = std::collections::HashSet::new();
        for s in settlements {
            ids.extend(self.settlement_lines(s).await?.into_iter().map(|l| l.txn_id));
        }
        Ok(ids)
    }

    /// One attempt; `None` when raced (read again).
    async fn try_clear_merchant_day(
        &self,
        merchant: &Merchant,
        day: &str,
        before_ns: Option<u64>,
    ) -> Result<Option<DayOutcome>> {
        let changes = self.store().counter(&changes_key(&merchant.mid)).await?;
        let earlier = self.settlements_of_day(&merchant.mid, day).await?;
        let seq = u32::try_from(earlier.len() + 1).unwrap_or(u32::MAX);
        let id = Settlement::key_n(&merchant.mid, day, seq);
        let payable = chart::merchant_account_id(&merchant.mid, chart::ACCOUNT_MERCHANT_SETTLEMENT).unwrap_or(0);
        let mut txns = self.day_transactions(&merchant.mid, day).await?;
        txns.retain(|t| line_of(t, payable).is_some());
        if !earlier.is_empty() {
            // What earlier settlements of the day hold: a transaction, once settled, stays one to
            // settle (its reversal is refused), so equal counts mean nothing new.
            let held: u64 = earlier.iter().map(|s| u64::from(s.lines)).sum();
            if txns.len() as u64 > held {
                let settled = self.ids_in(&earlier).await?;
                txns.retain(|t| !settled.contains(&t.id));
            } else {
                txns.clear();
            }
        }
        if let Some(before) = before_ns {
            txns.retain(|t| t.at < before);
        }
        if txns.is_empty() {
            return Ok(Some(earlier.last().cloned().map_or(DayOutcome::Empty, DayOutcome::AlreadyCleared)));
        }
        let surcharge_rate = match merchant.settlement_cycle {
            SettlementCycle::D0 => Rate::from_ppm(merchant.fees_on(day).d0_extra_ppm).ok(),
            SettlementCycle::T1 => None,
        };
        let mut settlement = Settlement {
            id: id.clone(),
            mid: merchant.mid.clone(),
            business_day: day.to_owned(),
            seq,
            cycle: merchant.settlement_cycle,
            status: SettlementStatus::Cleared,
            lines: 0,
            captured_minor: 0,
            captured_count: 0,
            returned_minor: 0,
            returned_count: 0,
            fees_minor: 0,
            surcharge_minor: 0,
            net_minor: 0,
            carried_in_minor: 0,
            payout_minor: 0,
            carried_out_minor: 0,
            payout_date: match merchant.settlement_cycle {
                SettlementCycle::D0 => day.to_owned(),
                SettlementCycle::T1 => next_day(day),
            },
            cleared_at: self.clock().now_ns(),
        };
        let mut lines = Vec::new();
        // Each terminal's card volume of the day, for its deposit: captured less returned.
        let mut volume = std::collections::BTreeMap::<String, i64>::new();
        for txn in &txns {
            let Some((moved, fee)) = line_of(txn, payable) else { continue };
            let amount = txn.amount_minor.abs();
            *volume.entry(txn.tid.clone()).or_default() += if moved >= 0 { amount } else { -amount };
            // The surcharge follows the money: charged on what reached the payable, returned on
            // what left it.
            let surcharge = surcharge_rate.map_or(0, |r| r.apply_minor(if moved >= 0 { amount } else { -amount }));
            if moved >= 0 {
                settlement.captured_minor += amount;
                settlement.captured_count += 1;
            } else {
                settlement.returned_minor += amount;
                settlement.returned_count += 1;
            }
            settlement.fees_minor += fee;
            settlement.surcharge_minor += surcharge;
            settlement.net_minor += moved - surcharge;
            lines.push(SettlementLine {
                merchant_id: merchant.mid.clone(),
                settlement_id: id.clone(),
                seq: u32::try_from(lines.len() + 1).unwrap_or(u32::MAX),
                txn_id: txn.id.clone(),
                txn_type: txn.kind.as_str().into(),
                business_day: day.to_owned(),
                amount_minor: amount,
                fee_minor: fee,
                surcharge_minor: surcharge,
                net_minor: moved - surcharge,
            });
        }
        settlement.lines = u32::try_from(lines.len()).unwrap_or(u32::MAX);
        let carried_in = self.store().counter(&carry_key(&merchant.mid)).await?.min(0);
        let total = settlement.net_minor + carried_in;
        settlement.carried_in_minor = carried_in;
        settlement.payout_minor = total.max(0);
        settlement.carried_out_minor = total.min(0);
        if settlement.payout_minor == 0 {
            settlement.status = SettlementStatus::NothingToPay;
        }
        let mut transfers = Vec::new();
        let revenue = chart::platform_account_id(chart::ACCOUNT_FEE_REVENUE);
        match settlement.surcharge_minor {
            s if s > 0 => transfers.push(transfer(payable, revenue, s, chart::code::D0_SURCHARGE)),
            s if s < 0 => transfers.push(transfer(revenue, payable, -s, chart::code::D0_SURCHARGE)),
            _ => {}
        }
        if settlement.payout_minor > 0 {
            let in_transit = chart::platform_account_id(chart::ACCOUNT_PAYOUTS_IN_TRANSIT);
            transfers.push(transfer(payable, in_transit, settlement.payout_minor, chart::code::CLEARING));
        }
        // Only if nothing of the merchant's changed since it was read: no reversal, no other
        // settlement (of this day, which would also hold this settlement's id, created once; or of
        // another day, which would have moved the carried balance read above).
        let mut counters = vec![CounterAdd { key: changes_key(&merchant.mid), delta: 1, max: Some(changes + 1) }];
        if settlement.carried_out_minor != carried_in {
            counters.push(CounterAdd {
                key: carry_key(&merchant.mid),
                delta: settlement.carried_out_minor - carried_in,
                max: None,
            });
        }
        let audit = xingtong_store::AuditEntry {
            seq: 0,
            at: 0,
            actor: "system:clearing".into(),
            action: "settlement.cleared".into(),
            subject_kind: Settlement::KIND.into(),
            subject_id: id.clone(),
            detail: serde_json::json!({ "lines": settlement.lines, "payout_minor": settlement.payout_minor,
                "net_minor": settlement.net_minor })
            .to_string(),
        };
        let mut puts = vec![xingtong_merchants::entity::insert(&settlement)?];
        if settlement.payout_minor > 0 {
            // The payout is made with its settlement: scheduled for the payout date, its money
            // in transit from this commit on.
            puts.push(xingtong_merchants::entity::insert(&crate::payouts::Payout {
                id: crate::payouts::Payout::key(&id),
                mid: merchant.mid.clone(),
                settlement_id: id.clone(),
                business_day: day.to_owned(),
                amount_minor: settlement.payout_minor,
                payout_date: settlement.payout_date.clone(),
                status: crate::payouts::PayoutStatus::Scheduled,
                attempts: Vec::new(),
                purpose: crate::payouts::PayoutPurpose::Settlement,
            })?);
        }
        let (deposit_puts, deposit_transfers) = self.count_deposit_volume(day, &volume).await?;
        puts.extend(deposit_puts);
        transfers.extend(deposit_transfers);
        let change =
            Change { puts, settlement_lines: lines, transfers, counters, audit: vec![audit], ..Change::default() };
        match self.store().apply(change).await {
            Ok(()) => Ok(Some(DayOutcome::Cleared(settlement))),
            // Another run settled meanwhile, or a reversal landed: read again.
            Err(StoreError::Rejected(
                xingtong_store::Rejection::Conflict { .. } | xingtong_store::Rejection::CounterLimit { .. },
            )) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Clears a business day for every merchant, several at once so that their commits share
    /// group commits; `progress` hears after each merchant (done, total).
    pub async fn clear_day(&self, day: &str, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<ClearingReport> {
        self.clear_day_of(day, None, None, progress).await
    }

    /// Clears a business day for the merchants on `cycle` (every merchant when `None`), leaving
    /// transactions recorded at or after `before_ns` to a later run.
    pub async fn clear_day_of(
        &self,
        day: &str,
        cycle: Option<SettlementCycle>,
        before_ns: Option<u64>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<ClearingReport> {
        let mut merchants = self.all_merchants().await?;
        if let Some(cycle) = cycle {
            merchants.retain(|m| m.settlement_cycle == cycle);
        }
        let total = merchants.len() as u64;
        let mut report = ClearingReport { business_day: day.to_owned(), merchants: total, ..ClearingReport::default() };
        let mut waiting = merchants.into_iter();
        let mut running = tokio::task::JoinSet::new();
        let mut done = 0u64;
        loop {
            while running.len() < CLEARING_CONCURRENCY {
                let Some(merchant) = waiting.next() else { break };
                let (engine, day) = (self.clone(), day.to_owned());
                running.spawn(async move { engine.clear_merchant_day_before(&merchant, &day, before_ns).await });
            }
            let Some(joined) = running.join_next().await else { break };
            let outcome = joined.map_err(|error| {
                xingtong_merchants::Error::new(xingtong_merchants::Class::Internal, "internal", error.to_string())
            })??;
            match outcome {
                DayOutcome::Cleared(s) => {
                    report.cleared += 1;
                    report.lines += u64::from(s.lines);
                    report.payout_minor += s.payout_minor;
                    report.fees_minor += s.fees_minor;
                    report.surcharge_minor += s.surcharge_minor;
                }
                DayOutcome::AlreadyCleared(_) => report.already_cleared += 1,
                DayOutcome::Empty => {}
            }
            done += 1;
            progress(done, total);
        }
        if cycle.is_none() {
            report.deposits_kept = self.keep_deposits_past_deadline(day).await?;
        }
        Ok(report)
    }

    /// Every merchant, page by page.
    async fn all_merchants(&self) -> Result<Vec<Merchant>> {
        let mut query = RecordQuery::kind(Merchant::KIND);
        query.limit = xingtong_store::PAGE_LIMIT_MAX;
        let mut all = Vec::new();
        loop {
            let page = self.store().records(query.clone()).await?;
            let full = page.len() == query.limit as usize;
            query.after = page.last().map(|r| (r.created_at, r.id.clone()));
            for record in page {
                all.push(Stored::<Merchant>::decode(record)?.value);
            }
            if !full {
                return Ok(all);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{next_day, valid_day};

    #[test]
    fn days_follow_the_calendar() {
        assert_eq!(next_day("20261127"), "20261128");
        assert_eq!(next_day("20261130"), "20261201");
        assert_eq!(next_day("20261231"), "20270101");
        assert_eq!(next_day("20280228"), "20280229");
        assert_eq!(next_day("20270228"), "20270301");
        assert!(valid_day("20261127") && valid_day("20280229") && valid_day("20260101"));
        assert!(!valid_day("20270229") && !valid_day("20261301") && !valid_day("2026112") && !valid_day("2026113a"));
        assert!(!valid_day("20261100") && !valid_day("20261131"));
    }
}

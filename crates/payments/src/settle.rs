//! Terminal batch settlement (批结算), as CUP terminals do it: the terminal sends its batch totals
//! (0500); the host sums the same batch from its own transactions with the same rules and answers
//! balanced or not, per card class (domestic, foreign); when not, the terminal uploads its batch
//! (0320) and ends the upload (0320 batch end), and the host records which transactions differ.
//! The batch closes either way: the host opens the next batch number when it answers the 0500.
//! Batches a terminal never settles are closed at the business day's cut-off.
//!
//! The rules (docs/iso8583.md §7, docs/settlement.md): approved sales and completions are debits
//! (a voided one stays a debit: its void is a credit); voids, completion voids and refunds are
//! credits; pre-authorizations, their voids, balance inquiries, declined and reversed transactions
//! are not counted. Visa and Mastercard cards are foreign, every other card domestic.

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, Stored, load};
use xingtong_store::{Change, Cmp, Table, TableQuery, TxnQuery};

use crate::engine::{Engine, Result};
use crate::txn::{CardTransaction, Kind, Status};

/// Amounts and counts of one card class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// Σ debits, minor units.
    pub debit_minor: u64,
    /// How many debits.
    pub debit_count: u32,
    /// Σ credits, minor units.
    pub credit_minor: u64,
    /// How many credits.
    pub credit_count: u32,
}

/// A batch's totals: domestic and foreign cards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchTotals {
    /// Domestic cards (内卡).
    pub domestic: Side,
    /// Foreign cards (外卡).
    pub foreign: Side,
}

/// How a transaction counts in a batch's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A debit (借记).
    Debit,
    /// A credit (贷记).
    Credit,
}

/// How `txn` counts in its batch's totals, if at all.
pub fn counted(txn: &CardTransaction) -> Option<Counted> {
    let in_force = matches!(txn.status, Status::Approved | Status::Voided | Status::Completed);
    match txn.kind {
        Kind::Sale | Kind::Completion if in_force => Some(Counted::Debit),
        Kind::Void | Kind::Refund | Kind::CompletionVoid if txn.status == Status::Approved => Some(Counted::Credit),
        _ => None,
    }
}

/// True for a card of a foreign organisation (Visa, Mastercard): the foreign side of the totals.
pub fn foreign(txn: &CardTransaction) -> bool {
    xingtong_iso8583::cup::foreign_card(&txn.pan_masked)
}

impl BatchTotals {
    /// The totals of these transactions.
    pub fn of<'a>(txns: impl IntoIterator<Item = &'a CardTransaction>) -> BatchTotals {
        let mut totals = BatchTotals::default();
        for txn in txns {
            let Some(how) = counted(txn) else { continue };
            let side = if foreign(txn) { &mut totals.foreign } else { &mut totals.domestic };
            let amount = txn.amount_minor.unsigned_abs();
            match how {
                Counted::Debit => {
                    side.debit_minor += amount;
                    side.debit_count += 1;
                }
                Counted::Credit => {
                    side.credit_minor += amount;
                    side.credit_count += 1;
                }
            }
        }
        totals
    }
}

/// Where a settled batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// The totals agreed; closed.
    Balanced,
    /// The totals did not agree: the terminal's upload is awaited.
    Unbalanced,
    /// Unbalanced, the upload ended (or the cut-off came): closed, with its differences.
    Reconciled,
    /// Never settled by its terminal: closed at the business day's cut-off with the host's totals.
    ClosedAtCutOff,
}

impl BatchStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Balanced => "balanced",
            BatchStatus::Unbalanced => "unbalanced",
            BatchStatus::Reconciled => "reconciled",
            BatchStatus::ClosedAtCutOff => "closed_at_cut_off",
        }
    }
}

/// One transaction the terminal uploaded, and what the host found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// The terminal's STAN.
    pub stan: u32,
    /// The amount the terminal has.
    pub amount_minor: u64,
    /// `00` domestic, `01` foreign, as the terminal classed it.
    pub organisation: String,
}

/// A transaction on which the terminal and the host disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// STAN.
    pub stan: u32,
    /// `terminal_only` (the host has no counted transaction of that STAN), `host_only` (the
    /// terminal did not upload it) or `amount` (both have it, with different amounts).
    pub kind: String,
    /// The terminal's amount, when it has the transaction.
    pub terminal_minor: Option<u64>,
    /// The host's amount, when it has the transaction.
    pub host_minor: Option<u64>,
}

/// A terminal's settled batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// `<TID>-<batch>`.
    pub id: String,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// Batch number.
    pub batch: u32,
    /// Where it stands.
    pub status: BatchStatus,
    /// The business day it was settled on (`YYYYMMDD`, China time).
    pub business_day: String,
    /// When, ns since the epoch.
    pub settled_at: u64,
    /// What the terminal said (none when closed at the cut-off).
    pub terminal: Option<BatchTotals>,
    /// What the host summed.
    pub host: BatchTotals,
    /// Domestic cards balanced.
    pub domestic_balanced: bool,
    /// Foreign cards balanced.
    pub foreign_balanced: bool,
    /// The terminal's upload, in arrival order.
    #[serde(default)]
    pub uploaded: Vec<Uploaded>,
    /// The count the terminal's batch end gave.
    #[serde(default)]
    pub upload_end_count: Option<u32>,
    /// Where the two disagree (after the upload ended).
    #[serde(default)]
    pub differences: Vec<Difference>,
}

impl Batch {
    /// A terminal's batches by batch number, `limit` at a time (the cursor: batch number, id).
    pub fn of_terminal(mid: &str, tid: &str, limit: u32) -> TableQuery {
        TableQuery::new(Table::Batches).merchant(mid).filter("terminal_id", Cmp::Eq, tid).order_by("batch").limit(limit)
    }

    /// The id of a terminal's batch.
    pub fn key(tid: &str, batch: u32) -> String {
        format!("{tid}-{batch:06}")
    }
}

impl Entity for Batch {
    const KIND: &'static str = "card_batch";
    const TABLE: Option<xingtong_store::Table> = Some(xingtong_store::Table::Batches);
    fn columns(&self) -> Option<xingtong_store::Columns> {
        Some(
            xingtong_store::BatchColumns {
                terminal_id: self.tid.clone(),
                batch: self.batch,
                business_day: self.business_day.clone(),
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

/// The next batch number: 000001–999999, then round again.
pub fn next_batch(batch: u32) -> u32 {
    batch % 999_999 + 1
}

/// The host's answer to a settlement.
#[derive(Debug, Clone)]
pub struct Settled {
    /// The batch as recorded.
    pub batch: Batch,
    /// True when this is the answer to a settlement already made (the terminal asked again).
    pub replayed: bool,
}

/// What a batch upload message came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Recorded.
    Recorded,
    /// Every item was already uploaded (answered 94, which terminals take as success).
    Duplicate,
    /// No settlement of that batch to upload to (answered 25).
    UnknownBatch,
}

impl Engine {
    /// Every transaction of a terminal's batch, as the host recorded them.
    pub async fn batch_transactions(&self, mid: &str, tid: &str, batch: u32) -> Result<Vec<CardTransaction>> {
        self.all_transactions(TxnQuery {
            merchant: Some(mid.to_owned()),
            terminal: Some(tid.to_owned()),
            batch: Some(batch),
            ..TxnQuery::default()
        })
        .await
    }

    /// A terminal's settled and cut-off-closed batches, by batch number (from the typed table).
    pub async fn terminal_batches(&self, mid: &str, tid: &str) -> Result<Vec<Batch>> {
        let mut query = Batch::of_terminal(mid, tid, xingtong_store::PAGE_LIMIT_MAX);
        let mut all = Vec::new();
        loop {
            let page: Vec<Stored<Batch>> = xingtong_merchants::entity::select(self.store(), query.clone()).await?;
            let full = page.len() == query.limit as usize;
            query.after = page.last().map(|b| (b.value.batch.into(), b.value.id.clone()));
            all.extend(page.into_iter().map(|b| b.value));
            if !full {
                return Ok(all);
            }
        }
    }

    /// A settled batch, if any.
    pub async fn batch(&self, tid: &str, batch: u32) -> Result<Option<Stored<Batch>>> {
        load::<Batch>(self.store(), &Batch::key(tid, batch)).await
    }

    /// Settles a terminal's batch: sums it, compares with what the terminal says, records the
    /// batch and opens the next batch number. Asked again for a batch already settled, it answers
    /// as it did the first time (and makes sure the next batch is open).
    pub async fn settle(&self, mid: &str, tid: &str, batch: u32, terminal: BatchTotals) -> Result<Settled> {
        if let Some(stored) = self.batch(tid, batch).await? {
            self.open_next_batch(tid, batch).await?;
            return Ok(Settled { batch: stored.value, replayed: true });
        }
        let txns = self.batch_with_orders_ended(mid, tid, batch).await?;
        let host = BatchTotals::of(&txns);
        let (domestic_balanced, foreign_balanced) =
            (host.domestic == terminal.domestic, host.foreign == terminal.foreign);
        let status =
            if domestic_balanced && foreign_balanced { BatchStatus::Balanced } else { BatchStatus::Unbalanced };
        let record = Batch {
            id: Batch::key(tid, batch),
            mid: mid.to_owned(),
            tid: tid.to_owned(),
            batch,
            status,
            business_day: self.clock().business_day(),
            settled_at: self.clock().now_ns(),
            terminal: Some(terminal),
            host,
            domestic_balanced,
            foreign_balanced,
            uploaded: Vec::new(),
            upload_end_count: None,
            differences: Vec::new(),
        };
        let audit = xingtong_store::AuditEntry {
            seq: 0,
            at: 0,
            actor: format!("terminal:{tid}"),
            action: format!("batch.{}", status.as_str()),
            subject_kind: Batch::KIND.into(),
            subject_id: record.id.clone(),
            detail: serde_json::json!({ "host": host, "terminal": terminal }).to_string(),
        };
        let change = Change {
            puts: vec![xingtong_merchants::entity::insert(&record)?],
            audit: vec![audit],
            ..Change::default()
        };
        match self.store().apply(change).await {
            Ok(()) => {}
            // Settled meanwhile through another connection: answer as that settlement did.
            Err(xingtong_store::StoreError::Rejected(xingtong_store::Rejection::Conflict { .. })) => {
                return Box::pin(self.settle(mid, tid, batch, terminal)).await;
            }
            Err(error) => return Err(error.into()),
        }
        self.open_next_batch(tid, batch).await?;
        Ok(Settled { batch: record, replayed: false })
    }

    /// Closes, at the business day's cut-off, every terminal's open batch that has transactions and
    /// was never settled: the host's totals stand (there are no terminal totals to compare, so
    /// neither class is called balanced), the batch is `closed_at_cut_off`, and the next batch
    /// opens, as a settlement would have. Returns how many it closed.
    pub async fn close_batches_at_cut_off(&self) -> Result<u64> {
        use crate::session::TerminalSession;
        let mut query = xingtong_store::RecordQuery::kind(TerminalSession::KIND);
        query.limit = xingtong_store::PAGE_LIMIT_MAX;
        let mut closed = 0;
        loop {
            let page: Vec<Stored<TerminalSession>> =
                xingtong_merchants::entity::list(self.store(), query.clone()).await?;
            let full = page.len() == query.limit as usize;
            query.after = page.last().map(|s| (s.created_at, s.value.tid.clone()));
            for session in page {
                let (tid, mid, batch) = (&session.value.tid, &session.value.mid, session.value.batch);
                if self.batch(tid, batch).await?.is_some() {
                    continue;
                }
                let txns = self.batch_with_orders_ended(mid, tid, batch).await?;
                if txns.is_empty() {
                    continue;
                }
                let record = Batch {
                    id: Batch::key(tid, batch),
                    mid: mid.clone(),
                    tid: tid.clone(),
                    batch,
                    status: BatchStatus::ClosedAtCutOff,
                    business_day: self.clock().business_day(),
                    settled_at: self.clock().now_ns(),
                    terminal: None,
                    host: BatchTotals::of(&txns),
                    domestic_balanced: false,
                    foreign_balanced: false,
                    uploaded: Vec::new(),
                    upload_end_count: None,
                    differences: Vec::new(),
                };
                let audit = xingtong_merchants::identity::audit(
                    "system:cut-off",
                    "batch.closed_at_cut_off",
                    Batch::KIND,
                    &record.id,
                    &serde_json::json!({ "host": record.host }).to_string(),
                );
                let change = Change {
                    puts: vec![xingtong_merchants::entity::insert(&record)?],
                    audit: vec![audit],
                    ..Change::default()
                };
                match self.store().apply(change).await {
                    // Settled by its terminal meanwhile: that settlement stands.
                    Err(xingtong_store::StoreError::Rejected(xingtong_store::Rejection::Conflict { .. })) => continue,
                    other => other?,
                }
                self.open_next_batch(tid, batch).await?;
                closed += 1;
            }
            if !full {
                return Ok(closed);
            }
        }
    }

    /// A batch's transactions once its customer-scans orders still waiting have ended: each is
    /// closed (or found paid) first, so that a batch never settles with an order that could be
    /// paid into it afterwards.
    async fn batch_with_orders_ended(&self, mid: &str, tid: &str, batch: u32) -> Result<Vec<CardTransaction>> {
        let txns = self.batch_transactions(mid, tid, batch).await?;
        let waiting: Vec<&CardTransaction> = txns
            .iter()
            .filter(|t| t.status == Status::Pending && t.qr.as_ref().is_some_and(|q| q.order.is_some()))
            .collect();
        if waiting.is_empty() {
            return Ok(txns);
        }
        for t in waiting {
            self.close_qr_order(&t.id).await?;
        }
        self.batch_transactions(mid, tid, batch).await
    }

    /// Opens the batch after `batch` unless the terminal has moved on already.
    async fn open_next_batch(&self, tid: &str, batch: u32) -> Result<()> {
        let (open, _) = self.current_batch(tid).await?;
        if open == batch {
            self.open_batch(tid, next_batch(batch)).await?;
        }
        Ok(())
    }

    /// Records uploaded items of an unbalanced batch (0320, 60.3 201).
    pub async fn upload(&self, tid: &str, batch: u32, items: Vec<Uploaded>) -> Result<UploadOutcome> {
        xingtong_merchants::entity::retrying(|| async {
            let Some(mut stored) = self.batch(tid, batch).await? else { return Ok(UploadOutcome::UnknownBatch) };
            let fresh: Vec<Uploaded> =
                items.iter().filter(|i| !stored.value.uploaded.iter().any(|u| u.stan == i.stan)).cloned().collect();
            if fresh.is_empty() {
                return Ok(UploadOutcome::Duplicate);
            }
            stored.value.uploaded.extend(fresh);
            self.store().apply(Change { puts: vec![stored.update()?], ..Change::default() }).await?;
            Ok(UploadOutcome::Recorded)
        })
        .await
    }

    /// Ends a batch's upload (0320, 60.3 202 or 207): an unbalanced batch (or one closed at the
    /// cut-off, which the terminal settles late) is compared item by item and closed with its
    /// differences. `count` is the terminal's count of uploaded items.
    pub async fn end_upload(&self, tid: &str, batch: u32, count: u32) -> Result<Option<Batch>> {
        xingtong_merchants::entity::retrying(|| async {
            let Some(mut stored) = self.batch(tid, batch).await? else { return Ok(None) };
            if !matches!(stored.value.status, BatchStatus::Unbalanced | BatchStatus::ClosedAtCutOff) {
                // Balanced (terminals send the end all the same), or already ended.
                return Ok(Some(stored.value));
            }
            let txns = self.batch_transactions(&stored.value.mid, tid, batch).await?;
            stored.value.differences = differences(&txns, &stored.value.uploaded);
            stored.value.upload_end_count = Some(count);
            stored.value.status = BatchStatus::Reconciled;
            let audit = xingtong_store::AuditEntry {
                seq: 0,
                at: 0,
                actor: format!("terminal:{tid}"),
                action: "batch.reconciled".into(),
                subject_kind: Batch::KIND.into(),
                subject_id: stored.value.id.clone(),
                detail: serde_json::json!({ "uploaded": stored.value.uploaded.len(), "count": count,
                    "differences": stored.value.differences.len() })
                .to_string(),
            };
            self.store()
                .apply(Change { puts: vec![stored.update()?], audit: vec![audit], ..Change::default() })
                .await?;
            Ok(Some(stored.value))
        })
        .await
    }
}

/// The differences between a batch's counted transactions and a terminal's upload, by STAN.
pub fn differences(txns: &[CardTransaction], uploaded: &[Uploaded]) -> Vec<Difference> {
    let host: std::collections::BTreeMap<u32, u64> =
        txns.iter().filter(|t| counted(t).is_some()).map(|t| (t.stan, t.amount_minor.unsigned_abs())).collect();
    let terminal: std::collections::BTreeMap<u32, u64> = uploaded.iter().map(|u| (u.stan, u.amount_minor)).collect();
    let mut out = Vec::new();
    for (&stan, &amount) in &terminal {
        match host.get(&stan) {
            None => out.push(Difference {
                stan,
                kind: "terminal_only".into(),
                terminal_minor: Some(amount),
                host_minor: None,
            }),
            Some(&h) if h != amount => {
                out.push(Difference { stan, kind: "amount".into(), terminal_minor: Some(amount), host_minor: Some(h) })
            }
            Some(_) => {}
        }
    }
    for (&stan, &amount) in &host {
        if !terminal.contains_key(&stan) {
            out.push(Difference { stan, kind: "host_only".into(), terminal_minor: None, host_minor: Some(amount) });
        }
    }
    out.sort_by_key(|d| d.stan);
    out
}

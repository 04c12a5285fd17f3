//! Payouts: a cleared settlement's money leaving for the merchant's bound bank card through the
//! settlement bank ([`crate::bank`]).
//!
//! A payout is made with its settlement (same commit), `scheduled` for the settlement's payout
//! date, its money in transit. Each attempt goes to the merchant's verified card **as it is at
//! that moment** and is written down (`sending`) before the bank is asked, so that a crash or a
//! lost answer leaves an attempt to ask about, never one to repeat blindly:
//!
//! - paid: the money leaves in transit for the settlement bank; the merchant is told;
//! - failed (account closed, holder name mismatch…): the money returns to the merchant's payable,
//!   the merchant is told what to fix, and the payout waits (`failed`) until the settlement card
//!   changes, when it is sent again (new attempt, the money back in transit);
//! - no answer: it stays `sending`; the next run asks the bank by the attempt's id, and sends the
//!   same order again only if the bank never received it.

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, Stored, get, load, select};
use xingtong_merchants::identity::User;
use xingtong_merchants::merchant::Merchant;
use xingtong_merchants::notify::{Template, notification_to_user};
use xingtong_store::{Change, Cmp, Table, TableQuery};

use crate::bank::{Order, Outcome, SettlementBank};
use crate::chart;
use crate::engine::{Engine, Result};
use crate::postings::transfer;

/// Where a payout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Waiting for its payout date; the money is in transit.
    Scheduled,
    /// An attempt was sent; the answer is awaited (or was lost).
    Sending,
    /// Paid to the merchant's card.
    Paid,
    /// The last attempt failed; the money is back on the merchant's balance until the card changes.
    Failed,
}

impl PayoutStatus {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutStatus::Scheduled => "scheduled",
            PayoutStatus::Sending => "sending",
            PayoutStatus::Paid => "paid",
            PayoutStatus::Failed => "failed",
        }
    }
}

/// What a payout pays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutPurpose {
    /// A cleared settlement's net (its money comes from, and on failure returns to, the payable).
    #[default]
    Settlement,
    /// A device deposit's refund (from, and on failure back to, the deposit account).
    DepositRefund,
}

impl PayoutPurpose {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutPurpose::Settlement => "settlement",
            PayoutPurpose::DepositRefund => "deposit_refund",
        }
    }

    /// The merchant's account the money comes from and returns to on a failure.
    pub fn source_code(self) -> u16 {
        match self {
            PayoutPurpose::Settlement => chart::ACCOUNT_MERCHANT_SETTLEMENT,
            PayoutPurpose::DepositRefund => chart::ACCOUNT_MERCHANT_DEPOSIT,
        }
    }
}

/// One attempt to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// `<payout id>-<n>`: the bank executes it once.
    pub id: String,
    /// The card it went to, masked.
    pub card_masked: String,
    /// When that card was verified (tells a changed card from the same one).
    pub card_verified_at: u64,
    /// When it was sent, ns.
    pub at: u64,
    /// `sending`, `paid` or `failed`.
    pub outcome: String,
    /// The bank's reference (paid) or refusal code (failed).
    pub detail: Option<String>,
}

/// A settlement's payout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// `po_<settlement id>` (or `po_dep_<TID>` for a deposit refund).
    pub id: String,
    /// Merchant.
    pub mid: String,
    /// The settlement it pays (or the deposit it refunds).
    pub settlement_id: String,
    /// The business day settled, `YYYYMMDD`.
    pub business_day: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Due on, `YYYYMMDD`.
    pub payout_date: String,
    /// Where it stands.
    pub status: PayoutStatus,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
    /// What it pays.
    #[serde(default)]
    pub purpose: PayoutPurpose,
}

impl Payout {
    /// The payout of a settlement.
    pub fn key(settlement_id: &str) -> String {
        format!("po_{settlement_id}")
    }
}

impl Entity for Payout {
    const KIND: &'static str = "payout";
    const TABLE: Option<xingtong_store::Table> = Some(xingtong_store::Table::Payouts);
    fn columns(&self) -> Option<xingtong_store::Columns> {
        Some(
            xingtong_store::PayoutColumns {
                settlement_id: self.settlement_id.clone(),
                business_day: self.business_day.clone(),
                purpose: self.purpose.as_str().into(),
                amount_minor: self.amount_minor,
                payout_date: self.payout_date.clone(),
                attempts: u32::try_from(self.attempts.len()).unwrap_or(u32::MAX),
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

/// What a payout run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PayoutReport {
    /// Payouts looked at.
    pub looked_at: u64,
    /// Paid by this run.
    pub paid: u64,
    /// Σ paid, minor units.
    pub paid_minor: i64,
    /// Failed in this run.
    pub failed: u64,
    /// Sent again after the merchant changed a failed card.
    pub retried: u64,
    /// Still without an answer.
    pub unknown: u64,
}

/// Minor units of CNY as the notices show them: `299.00` (through the money crate, signs included).
pub(crate) fn yuan(minor: i64) -> String {
    xingtong_money::Amount::from_minor(minor, xingtong_money::Currency::CNY).to_decimal_string()
}

/// Why a payout failed, in the merchant's language.
fn reason_text(code: &str, message: &str, language: &str) -> String {
    let english = language.starts_with("en");
    match (code, english) {
        ("account_closed", false) => "收款账户已销户".into(),
        ("account_closed", true) => "the account is closed".into(),
        ("name_mismatch", false) => "收款户名与账户不符".into(),
        ("name_mismatch", true) => "the account holder's name does not match".into(),
        (_, false) => format!("银行拒绝: {code}"),
        (_, true) => message.to_owned(),
    }
}

/// The last four digits of a (masked) card number.
pub(crate) fn last4(masked: &str) -> &str {
    masked.get(masked.len().saturating_sub(4)..).unwrap_or("")
}

impl Engine {
    /// A payout by id.
    pub async fn payout(&self, id: &str) -> Result<Option<Stored<Payout>>> {
        load::<Payout>(self.store(), id).await
    }

    /// Pays what is due on `today` (`YYYYMMDD`) and resolves what is pending: scheduled payouts
    /// due, attempts without an answer, failed payouts whose merchant changed the card.
    pub async fn run_payouts(&self, bank: &dyn SettlementBank, today: &str) -> Result<PayoutReport> {
        let mut report = PayoutReport::default();
        // A payout moved on by this run (scheduled → failed, say) is not looked at again.
        let mut seen = std::collections::HashSet::new();
        for status in [PayoutStatus::Sending, PayoutStatus::Scheduled, PayoutStatus::Failed] {
            // The queue's index: by status, due first; a scheduled payout not due yet is not read.
            let mut query = TableQuery::new(Table::Payouts)
                .statuses(&[status.as_str()])
                .order_by("payout_date")
                .limit(xingtong_store::PAGE_LIMIT_MAX);
            if status == PayoutStatus::Scheduled {
                query = query.filter("payout_date", Cmp::AtMost, today);
            }
            loop {
                let page: Vec<Stored<Payout>> = select(self.store(), query.clone()).await?;
                let full = page.len() == query.limit as usize;
                query.after = page.last().map(|p| (p.value.payout_date.as_str().into(), p.value.id.clone()));
                for payout in page {
                    if !seen.insert(payout.value.id.clone()) {
                        continue;
                    }
                    report.looked_at += 1;
                    self.advance(bank, payout, today, &mut report).await?;
                }
                if !full {
                    break;
                }
            }
        }
        Ok(report)
    }

    /// Moves one payout on as far as it goes now.
    async fn advance(
        &self,
        bank: &dyn SettlementBank,
        payout: Stored<Payout>,
        today: &str,
        report: &mut PayoutReport,
    ) -> Result<()> {
        let merchant = get::<Merchant>(self.store(), &payout.value.mid, "merchant").await?.value;
        match payout.value.status {
            PayoutStatus::Paid => Ok(()),
            PayoutStatus::Scheduled if payout.value.payout_date.as_str() > today => Ok(()),
            PayoutStatus::Scheduled => self.attempt(bank, payout, &merchant, false, report).await,
            PayoutStatus::Failed => {
                let card = &merchant.settlement_card;
                let changed = payout
                    .value
                    .attempts
                    .last()
                    .is_none_or(|a| a.card_masked != card.masked() || a.card_verified_at != card.verified_at);
                if changed { self.attempt(bank, payout, &merchant, true, report).await } else { Ok(()) }
            }
            PayoutStatus::Sending => {
                let Some(last) = payout.value.attempts.last().cloned() else { return Ok(()) };
                match bank.query(&last.id).await {
                    Err(_) => {
                        report.unknown += 1;
                        Ok(())
                    }
                    // Never received: the same order, sent again.
                    Ok(Outcome::NotFound) => {
                        let order = self.order(&payout.value, &merchant, &last.id);
                        let answer = bank.pay(&order).await;
                        self.record_payout(payout, &merchant, answer, report).await
                    }
                    Ok(outcome) => self.record_payout(payout, &merchant, Ok(outcome), report).await,
                }
            }
        }
    }

    fn order(&self, payout: &Payout, merchant: &Merchant, id: &str) -> Order {
        Order {
            id: id.to_owned(),
            card_number: merchant.settlement_card.card_number.clone(),
            holder: merchant.settlement_card.account_holder.clone(),
            bank_name: merchant.settlement_card.bank_name.clone(),
            amount_minor: payout.amount_minor,
        }
    }

    /// Writes a new attempt down (`sending`; for a retry, the money back in transit), then asks
    /// the bank and records its answer.
    async fn attempt(
        &self,
        bank: &dyn SettlementBank,
        mut payout: Stored<Payout>,
        merchant: &Merchant,
        retry: bool,
        report: &mut PayoutReport,
    ) -> Result<()> {
        let card = &merchant.settlement_card;
        let id = format!("{}-{}", payout.value.id, payout.value.attempts.len() + 1);
        payout.value.attempts.push(Attempt {
            id: id.clone(),
            card_masked: card.masked(),
            card_verified_at: card.verified_at,
            at: self.clock().now_ns(),
            outcome: "sending".into(),
            detail: None,
        });
        payout.value.status = PayoutStatus::Sending;
        let mut transfers = Vec::new();
        if retry {
            let payable =
                chart::merchant_account_id(&payout.value.mid, payout.value.purpose.source_code()).unwrap_or(0);
            let in_transit = chart::platform_account_id(chart::ACCOUNT_PAYOUTS_IN_TRANSIT);
            transfers.push(transfer(payable, in_transit, payout.value.amount_minor, chart::code::PAYOUT_RETRY));
            report.retried += 1;
        }
        let audit = xingtong_merchants::identity::audit(
            "system:payouts",
            "payout.sent",
            Payout::KIND,
            &payout.value.id,
            &serde_json::json!({ "attempt": id, "card": card.masked() }).to_string(),
        );
        let change = Change { puts: vec![payout.update()?], transfers, audit: vec![audit], ..Change::default() };
        self.store().apply(change).await?;
        payout.version += 1;
        let order = self.order(&payout.value, merchant, &id);
        let answer = bank.pay(&order).await;
        self.record_payout(payout, merchant, answer, report).await
    }

    /// Records the bank's answer to the last attempt: paid, failed (money back, merchant told) or
    /// still unknown.
    async fn record_payout(
        &self,
        mut payout: Stored<Payout>,
        merchant: &Merchant,
        answer: std::result::Result<Outcome, crate::bank::NoAnswer>,
        report: &mut PayoutReport,
    ) -> Result<()> {
        let outcome = match answer {
            Err(_) | Ok(Outcome::NotFound) => {
                report.unknown += 1;
                return Ok(());
            }
            Ok(outcome) => outcome,
        };
        let in_transit = chart::platform_account_id(chart::ACCOUNT_PAYOUTS_IN_TRANSIT);
        let amount = payout.value.amount_minor;
        let Some(last) = payout.value.attempts.last_mut() else { return Ok(()) };
        let masked = last.card_masked.clone();
        let (transfers, template, reason, action) = match &outcome {
            Outcome::Paid { reference } => {
                last.outcome = "paid".into();
                last.detail = Some(reference.clone());
                payout.value.status = PayoutStatus::Paid;
                report.paid += 1;
                report.paid_minor += amount;
                let bank_account = chart::platform_account_id(chart::ACCOUNT_SETTLEMENT_BANK);
                (
                    vec![transfer(in_transit, bank_account, amount, chart::code::PAYOUT)],
                    Template::PayoutPaid,
                    String::new(),
                    "payout.paid",
                )
            }
            Outcome::Failed { code, message } => {
                last.outcome = "failed".into();
                last.detail = Some(code.clone());
                payout.value.status = PayoutStatus::Failed;
                report.failed += 1;
                let payable =
                    chart::merchant_account_id(&payout.value.mid, payout.value.purpose.source_code()).unwrap_or(0);
                (
                    vec![transfer(in_transit, payable, amount, chart::code::PAYOUT_RETURNED)],
                    Template::PayoutFailed,
                    message.clone(),
                    "payout.failed",
                )
            }
            Outcome::NotFound => unreachable!("handled above"),
        };
        let day = payout.value.business_day.clone();
        let owner = get::<User>(self.store(), &merchant.owner_user_id, "user").await?.value;
        let reason = match &outcome {
            Outcome::Failed { code, message } => reason_text(code, message, &owner.language),
            _ => reason,
        };
        let deposit = payout.value.purpose == PayoutPurpose::DepositRefund;
        let template = match template {
            Template::PayoutPaid if deposit => Template::DepositRefunded,
            Template::PayoutFailed if deposit => Template::DepositRefundFailed,
            other => other,
        };
        let tid = payout.value.settlement_id.strip_prefix("dep_").unwrap_or("").to_owned();
        let mut puts = vec![payout.update()?];
        if deposit && payout.value.status == PayoutStatus::Paid {
            puts.extend(self.deposit_refunded(&payout.value).await?);
        }
        puts.extend(notification_to_user(
            &owner,
            template,
            &[
                ("tid", &tid),
                ("mid", &merchant.mid),
                ("day", &day),
                ("amount", &yuan(amount)),
                ("last4", last4(&masked)),
                ("reason", &reason),
            ],
        )?);
        let audit = xingtong_merchants::identity::audit(
            "system:payouts",
            action,
            Payout::KIND,
            &payout.value.id,
            &serde_json::to_string(&outcome).unwrap_or_default(),
        );
        self.store().apply(Change { puts, transfers, audit: vec![audit], ..Change::default() }).await?;
        Ok(())
    }
}

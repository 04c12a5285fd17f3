//! The runs `serve` makes on its own: every hour, the D0 sweep (today's transactions of merchants
//! paid D0, cleared and paid the same day); at the day's batch cut-off (23:00 China time by
//! default), the batches no terminal settled are closed; once a business day is over, its clearing, then its
//! reconciliation against the network's clearing file and each wallet's bill file (once each file
//! is there); on every tick, the payouts due. Each cut-off, clearing and reconciliation run is
//! recorded with its outcome (a `scheduled_run` record, `cut-off-<YYYYMMDD>`,
//! `clearing-<YYYYMMDD>`, `reconciliation-<YYYYMMDD>` or `reconciliation-<wallet>-<YYYYMMDD>`, and
//! an audit entry), so that it is made once, and retried on the next tick if it failed.

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, Stored, insert, load};
use xingtong_store::Change;

use crate::bank::SettlementBank;
use crate::engine::{Engine, Result};

/// A run the server made on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledRun {
    /// `clearing-<YYYYMMDD>`, `cut-off-<YYYYMMDD>`, `reconciliation-<YYYYMMDD>` or
    /// `d0-sweep-<YYYYMMDD>T<HH>`.
    pub id: String,
    /// `ok` or `failed`.
    pub outcome: String,
    /// The run's summary (JSON), or the error.
    pub detail: String,
    /// When it finished, ns.
    pub at: u64,
}

impl Entity for ScheduledRun {
    const KIND: &'static str = "scheduled_run";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        "platform".into()
    }
    fn status(&self) -> String {
        self.outcome.clone()
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tick {
    /// Batches closed at the cut-off by this tick.
    pub batches_closed: Option<u64>,
    /// The clearing report, when this tick cleared a day.
    pub cleared: Option<crate::clearing::ClearingReport>,
    /// The reconciliation report, when this tick reconciled the closed day.
    pub reconciled: Option<crate::recon::Reconciliation>,
    /// The wallets' reports (against their bill files) this tick made for the closed day.
    pub wallets_reconciled: Vec<crate::recon::Reconciliation>,
    /// The payouts run.
    pub payouts: crate::payouts::PayoutReport,
}

impl Engine {
    /// One tick: once `today`'s cut-off has passed (`past_cut_off`), closes the batches no terminal
    /// settled (once a day); clears `closed_day` unless a run of it succeeded before; then pays
    /// what is due on `today`.
    pub async fn scheduled_tick(
        &self,
        bank: &dyn SettlementBank,
        closed_day: &str,
        today: &str,
        past_cut_off: bool,
    ) -> Result<Tick> {
        let mut tick = Tick::default();
        if past_cut_off {
            let id = format!("cut-off-{today}");
            if let Some(previous) = self.due_run(&id).await? {
                let result = self.close_batches_at_cut_off().await;
                let summary = result.as_ref().map(|n| serde_json::json!({ "batches_closed": n }).to_string());
                self.record_run(previous, &id, summary).await?;
                tick.batches_closed = Some(result?);
            }
        }
        let id = format!("clearing-{closed_day}");
        if let Some(previous) = self.due_run(&id).await? {
            let result = self.clear_day(closed_day, &|_, _| {}).await;
            let summary = result.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default());
            self.record_run(previous, &id, summary).await?;
            tick.cleared = Some(result?);
        }
        // Reconciliation once the network's file of the closed day is there (else retried).
        let id = format!("reconciliation-{closed_day}");
        if let Some(previous) = self.due_run(&id).await? {
            let result = self.reconcile_day(closed_day, None, "system:schedule").await;
            // A file not there yet is no failure: the next tick asks again.
            if !result.as_ref().is_err_and(|error| error.code == "no_clearing_file") {
                let summary = result.as_ref().map(|r| {
                    serde_json::json!({ "status": r.status, "matched": r.matched, "host_only": r.host_only,
                        "network_only": r.network_only, "amount_mismatches": r.amount_mismatches })
                    .to_string()
                });
                self.record_run(previous, &id, summary).await?;
                tick.reconciled = Some(result?);
            }
        }
        // Each wallet's day against its bill file, the same way.
        for scheme in crate::qr::Scheme::ALL {
            let id = format!("reconciliation-{}-{closed_day}", scheme.as_str());
            let Some(previous) = self.due_run(&id).await? else { continue };
            let source = crate::recon::Source::Wallet(scheme);
            let result = self.reconcile_source(source, closed_day, None, "system:schedule").await;
            if result.as_ref().is_err_and(|error| error.code == "no_clearing_file") {
                continue;
            }
            let summary = result.as_ref().map(|r| {
                serde_json::json!({ "status": r.status, "matched": r.matched, "host_only": r.host_only,
                    "network_only": r.network_only, "amount_mismatches": r.amount_mismatches })
                .to_string()
            });
            self.record_run(previous, &id, summary).await?;
            tick.wallets_reconciled.push(result?);
        }
        tick.payouts = self.run_payouts(bank, today).await?;
        Ok(tick)
    }

    /// The D0 sweep of the hour: once an hour (from 01:00 China time), today's transactions of
    /// merchants paid D0 that no settlement holds yet and that are at least
    /// `Config::reversal_grace_s` old (ten minutes) are cleared, their payouts due today (paid by the
    /// payouts run that follows). The day's remainder is cleared with every merchant's
    /// once the day is over. Recorded as `d0-sweep-<YYYYMMDD>T<HH>`. `None` when not due.
    pub async fn d0_sweep(&self, today: &str, hour: u32) -> Result<Option<crate::clearing::ClearingReport>> {
        if hour == 0 {
            return Ok(None);
        }
        let id = format!("d0-sweep-{today}T{hour:02}");
        let Some(previous) = self.due_run(&id).await? else { return Ok(None) };
        // Transactions of the last minutes wait for the next sweep: their reversals may be on
        // their way (clearing::REVERSAL_GRACE_S).
        let before = self.clock().now_ns().saturating_sub(self.config().reversal_grace_s * 1_000_000_000);
        let d0 = Some(xingtong_merchants::merchant::SettlementCycle::D0);
        let result = self.clear_day_of(today, d0, Some(before), &|_, _| {}).await;
        let summary = result.as_ref().map(|r| serde_json::to_string(r).unwrap_or_default());
        self.record_run(previous, &id, summary).await?;
        result.map(Some)
    }

    /// `Some` (with the failed run, if any) when run `id` has not succeeded yet.
    async fn due_run(&self, id: &str) -> Result<Option<Option<Stored<ScheduledRun>>>> {
        let previous = load::<ScheduledRun>(self.store(), id).await?;
        Ok(if previous.as_ref().is_some_and(|run| run.value.outcome == "ok") { None } else { Some(previous) })
    }

    /// Records a run's outcome (`ok` with its summary, or `failed` with the error) and audits it.
    async fn record_run<E: std::fmt::Display>(
        &self,
        previous: Option<Stored<ScheduledRun>>,
        id: &str,
        result: std::result::Result<String, &E>,
    ) -> Result<()> {
        let (outcome, detail) = match result {
            Ok(summary) => ("ok", summary),
            Err(error) => ("failed", error.to_string()),
        };
        let run =
            ScheduledRun { id: id.into(), outcome: outcome.into(), detail: detail.clone(), at: self.clock().now_ns() };
        let put = match previous {
            Some(mut stored) => {
                stored.value = run;
                stored.update()?
            }
            None => insert(&run)?,
        };
        let kind = id.rsplit_once('-').map_or(id, |(kind, _)| kind);
        let audit = xingtong_merchants::identity::audit(
            "system:schedule",
            &format!("{kind}.run.{outcome}"),
            ScheduledRun::KIND,
            id,
            &detail,
        );
        self.store().apply(Change { puts: vec![put], audit: vec![audit], ..Change::default() }).await?;
        Ok(())
    }
}

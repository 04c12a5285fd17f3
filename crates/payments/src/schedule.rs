//! The runs `serve` makes on its own: once a business day is over, its clearing; then, on every
//! tick, the payouts due. Each clearing run is recorded with its outcome (a `scheduled_run`
//! record, `clearing-<YYYYMMDD>`, and an audit entry), so that it is made once, and retried on the
//! next tick if it failed.

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, insert, load};
use xingtong_store::Change;

use crate::bank::SettlementBank;
use crate::engine::{Engine, Result};

/// A run the server made on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledRun {
    /// `clearing-<YYYYMMDD>`.
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
    /// The clearing report, when this tick cleared a day.
    pub cleared: Option<crate::clearing::ClearingReport>,
    /// The payouts run.
    pub payouts: crate::payouts::PayoutReport,
}

impl Engine {
    /// One tick: clears `closed_day` unless a run of it succeeded before, then pays what is due
    /// on `today`.
    pub async fn scheduled_tick(&self, bank: &dyn SettlementBank, closed_day: &str, today: &str) -> Result<Tick> {
        let id = format!("clearing-{closed_day}");
        let previous = load::<ScheduledRun>(self.store(), &id).await?;
        let mut tick = Tick::default();
        if previous.as_ref().is_none_or(|run| run.value.outcome != "ok") {
            let result = self.clear_day(closed_day, &|_, _| {}).await;
            let (outcome, detail) = match &result {
                Ok(report) => ("ok", serde_json::to_string(report).unwrap_or_default()),
                Err(error) => ("failed", error.to_string()),
            };
            let run = ScheduledRun {
                id: id.clone(),
                outcome: outcome.into(),
                detail: detail.clone(),
                at: xingtong_store::now_ns(),
            };
            let put = match previous {
                Some(mut stored) => {
                    stored.value = run;
                    stored.update()?
                }
                None => insert(&run)?,
            };
            let audit = xingtong_merchants::identity::audit(
                "system:schedule",
                &format!("clearing.run.{outcome}"),
                ScheduledRun::KIND,
                &id,
                &detail,
            );
            self.store().apply(Change { puts: vec![put], audit: vec![audit], ..Change::default() }).await?;
            tick.cleared = Some(result?);
        }
        tick.payouts = self.run_payouts(bank, today).await?;
        Ok(tick)
    }
}

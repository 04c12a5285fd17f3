//! The storage conformance suite: every test here runs once on SQLite and once on PostgreSQL.
//!
//! PostgreSQL runs when `XINGTONG_TEST_POSTGRES_URL` names a server (CI always sets it); each test
//! then works in a schema of its own, dropped at the end. Without it, the PostgreSQL variants
//! return at once and `postgres_suite_status` says so in one line that test capture does not hide.

mod harness;
mod suite;

use harness::{postgres, sqlite};

/// Instantiates each named `suite` test for both backends.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let harness = super::sqlite()?;
                    super::suite::$name(&harness).await?;
                    harness.finish().await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let Some(harness) = super::postgres()? else { return Ok(()) };
                    super::suite::$name(&harness).await?;
                    harness.finish().await
                }
            )*
        }
    };
}

conformance!(
    accounts_and_transfers_are_stored_and_read_back,
    account_transfers_page_by_cursor,
    restart_restores_exactly_the_committed_state,
    idempotency_keys_replay_and_refuse_reuse,
    concurrent_single_transfers_share_commits,
    two_phase_transfers_expire_and_release,
    transient_failures_stay_failed_across_restart,
    linked_chains_write_all_or_nothing,
    api_keys_are_stored_hashed,
    two_stores_on_one_database_stay_consistent,
    account_history_spans_index_flushes,
    idempotency_keys_are_purged_by_age,
    records_are_versioned_and_refuse_stale_writes,
    unique_keys_queries_and_blobs,
    changes_carry_ledger_events_all_or_nothing,
    counters_add_inside_the_writer_and_hold_their_maximum,
);

/// The one line that says whether the PostgreSQL suite runs in this test run.
#[test]
fn postgres_suite_status() {
    use std::io::Write;
    let line = match std::env::var(harness::POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => {
            "NOTE: PostgreSQL storage suite enabled: every conformance test also runs on PostgreSQL\n".to_owned()
        }
        _ => format!(
            "NOTE: PostgreSQL suite skipped (storage conformance and crash tests): set {}=postgres://… to run it (CI does)\n",
            harness::POSTGRES_URL_VAR
        ),
    };
    // Written to the stream itself, not through eprintln!, so that test capture does not hide it.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

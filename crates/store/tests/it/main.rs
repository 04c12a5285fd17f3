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
    the_audit_log_is_searched_by_actor_action_and_subject_newest_first,
    records_list_newest_first_in_pages,
    approved_sales_are_kept_by_hour_of_day_in_the_same_commit,
    unique_keys_queries_and_blobs,
    changes_carry_ledger_events_all_or_nothing,
    counters_add_inside_the_writer_and_hold_their_maximum,
    counters_of_past_windows_are_purged_by_key_range,
    transactions_live_in_a_typed_table_queried_by_merchant_day_and_batch,
    transaction_totals_follow_every_write_of_a_transaction,
    domain_tables_are_typed_versioned_and_queried_by_their_columns,
);

/// PostgreSQL indexes account history off the commit path up to a watermark: pages of history read
/// across it (the indexed part, then the tail of transfers after it) come back complete and in
/// order. The test holds the watermark row, so the indexer (which skips a locked row) leaves the
/// tail alone until it lets go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_history_reads_span_the_watermark() -> anyhow::Result<()> {
    use anyhow::ensure;
    use xingtong_ledger::Transfer;
    let Some(harness) = postgres()? else { return Ok(()) };
    let (url, schema) = harness.postgres_schema().expect("a PostgreSQL harness has a schema");
    let store = harness.open().await?.store;
    suite::accounts(&store, &[1, 2, 3]).await?;
    let mut sent: Vec<Transfer> = Vec::new();
    let mut post = |count: u128| {
        let first = 600 + sent.len() as u128;
        let events: Vec<Transfer> = (0..count).map(|i| suite::transfer(first + i, 1 + (i % 2), 3, 1)).collect();
        sent.extend(events.iter().copied());
        events
    };
    suite::transfers(&store, post(7)).await?;
    let last_indexed = store.account_transfers(3, 0, 100).await?.last().map(|t| t.timestamp).unwrap_or(0);

    // Wait for the indexer to pass the first seven, then hold the watermark row.
    let (locked_tx, locked) = std::sync::mpsc::channel::<i64>();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || -> anyhow::Result<()> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        client.batch_execute(&format!("SET search_path = {schema}"))?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut tx = client.transaction()?;
            let through: i64 = tx.query_one("SELECT indexed_through FROM history_watermark FOR UPDATE", &[])?.get(0);
            if through >= last_indexed as i64 {
                locked_tx.send(through)?;
                release_rx.recv()?;
                tx.commit()?;
                return Ok(());
            }
            tx.commit()?;
            anyhow::ensure!(std::time::Instant::now() < deadline, "the indexer never reached {last_indexed}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
    let through = tokio::task::spawn_blocking(move || locked.recv()).await??;
    suite::transfers(&store, post(6)).await?;
    let tail = store.account_transfers(3, 0, 100).await?;
    ensure!(tail.iter().filter(|t| t.timestamp > through as u64).count() == 6, "six transfers in the unindexed tail");

    suite::history_reads_back(&store, &sent, &[1, 2, 3]).await?;
    release.send(())?;
    holder.join().expect("the holder thread")?;
    // Once the indexer has the rest, the same pages read back from the index alone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (url, schema) = harness.postgres_schema().expect("schema");
        let through: i64 = tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            Ok(client.query_one(&format!("SELECT indexed_through FROM {schema}.history_watermark"), &[])?.get(0))
        })
        .await??;
        let newest = store.account_transfers(3, 0, 100).await?.last().map(|t| t.timestamp).unwrap_or(0);
        if through as u64 >= newest {
            break;
        }
        ensure!(std::time::Instant::now() < deadline, "the indexer never caught up");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    ensure!(sent.len() == 13);
    suite::history_reads_back(&store, &sent, &[1, 2, 3]).await?;
    store.close().await;
    harness.finish().await
}

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

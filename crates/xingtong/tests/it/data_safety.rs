//! One writer per data directory, admin commands beside a running server, recovery when the
//! ledger does not balance, and the admin key of a database an admin command made: on the real
//! binary, as a person following the README would run it.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::{Value, json};

use crate::server::{Backend, Server, request};

/// Runs `xingtong ARGS` against `backend` and returns its whole output, whatever the exit.
fn xingtong(backend: &Backend, args: &[&str]) -> anyhow::Result<Output> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xingtong"));
    command.args(args);
    backend.args(&mut command);
    let output = command.env_remove("XINGTONG_CONFIG").stdin(Stdio::null()).output()?;
    Ok(output)
}

/// `xingtong ARGS --json`, which must succeed; its standard output as JSON.
fn xingtong_json(backend: &Backend, args: &[&str]) -> anyhow::Result<Value> {
    let mut args = args.to_vec();
    args.push("--json");
    let output = xingtong(backend, &args)?;
    ensure!(output.status.success(), "xingtong {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// `xingtong serve` that must exit at once, refused; its standard error.
fn serve_refused(backend: &Backend) -> anyhow::Result<String> {
    let output = xingtong(backend, &["serve", "--http", "127.0.0.1:0", "--iso8583", "127.0.0.1:0"])?;
    ensure!(!output.status.success(), "serve should have been refused");
    Ok(String::from_utf8(output.stderr)?)
}

fn stop(server: &mut Server) -> anyhow::Result<()> {
    let status = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status()?;
    ensure!(status.success(), "kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.child.try_wait()?.is_none() {
        ensure!(Instant::now() < deadline, "the server did not stop within 15 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn api_card(server: &Server, admin: &str, balance_minor: i64) -> anyhow::Result<Value> {
    let body = json!({ "brand": "unionpay", "card_type": "debit", "pin": "1234", "balance_minor": balance_minor });
    let reply = request(server.address, "POST", "/v1/sandbox/cards", admin, Some("card"), Some(&body))?;
    ensure!(reply.status == 201, "{reply:?}");
    Ok(reply.body)
}

#[test]
fn the_readme_sequence_keeps_the_ledger_balanced_and_the_server_restarts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let backend = Backend::Sqlite(dir.path().to_path_buf());
    let mut server = Server::start(&backend)?;
    let admin = server.admin_key.clone().context("admin key")?;

    // A second server on the same directory is refused, in one line naming it and the holder.
    let message = serve_refused(&backend)?;
    ensure!(message.trim().lines().count() == 1, "one line: {message}");
    ensure!(message.contains(&dir.path().display().to_string()), "names the directory: {message}");
    ensure!(message.contains(&format!("pid {}", server.child.id())), "names the holder: {message}");

    // The admin socket is the owner's alone.
    {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let socket = std::fs::metadata(dir.path().join("admin.sock"))?;
        ensure!(socket.file_type().is_socket() && socket.permissions().mode() & 0o077 == 0, "{socket:?}");
    }

    // The README's sequence: a card from the command line while the server runs, one over the API.
    let cli_card =
        xingtong_json(&backend, &["admin", "sandbox", "card", "create", "--pin", "1234", "--balance", "100.00"])?;
    ensure!(cli_card["number"].as_str().is_some_and(|n| n.len() >= 16), "{cli_card}");
    let api = api_card(&server, &admin, 5_000)?;
    // Both cards hold what they were given: the server made the command line's card itself.
    for (number, expected) in
        [(cli_card["number"].as_str().context("number")?, 10_000), (api["number"].as_str().context("number")?, 5_000)]
    {
        let card = request(server.address, "GET", &format!("/v1/sandbox/cards/{number}"), &admin, None, None)?;
        ensure!(card.status == 200 && card.body["available_minor"] == expected, "{card:?}");
    }
    let audit = xingtong_json(&backend, &["admin", "audit"])?;
    ensure!(audit["balanced"] == true, "{audit}");
    let explained = xingtong_json(&backend, &["admin", "audit", "--explain"])?;
    ensure!(explained["balanced"] == true && explained["accounts_differing"] == json!([]), "{explained}");

    // Stopped and started again: the start-up audit passes.
    stop(&mut server)?;
    ensure!(!dir.path().join("admin.sock").exists(), "the admin socket goes with the server");
    // With no server, admin commands run by themselves, under the same lock.
    let audit = xingtong_json(&backend, &["admin", "audit"])?;
    ensure!(audit["balanced"] == true, "{audit}");
    let server = Server::start(&backend)?;
    ensure!(server.admin_key.is_none(), "the key is shown once");
    let health = request(server.address, "GET", "/healthz", "", None, None)?;
    ensure!(health.status == 200, "{health:?}");
    api_card(&server, &admin, 1)?;
    let audit = xingtong_json(&backend, &["admin", "audit"])?;
    ensure!(audit["balanced"] == true && audit["accounts"].as_u64() >= Some(6), "{audit}");
    Ok(())
}

#[test]
fn the_command_that_makes_the_database_prints_the_admin_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let backend = Backend::Sqlite(dir.path().to_path_buf());
    let output = xingtong(&backend, &["admin", "sandbox", "card", "create", "--pin", "1234", "--json"])?;
    ensure!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout: Value = serde_json::from_slice(&output.stdout).context("--json keeps standard output one document")?;
    ensure!(stdout["number"].is_string(), "{stdout}");
    let stderr = String::from_utf8(output.stderr)?;
    let key = stderr.split_whitespace().find(|w| w.starts_with("xtk_")).context("the key is printed")?.to_owned();
    // The first serve has nothing more to show, and the key printed by the command works.
    let server = Server::start(&backend)?;
    ensure!(server.admin_key.is_none());
    let reply = request(server.address, "GET", "/v1/ledger/accounts/1", &key, None, None)?;
    ensure!(reply.status == 404 && reply.body["error"]["code"] == "account_not_found", "{reply:?}");
    Ok(())
}

#[test]
fn a_ledger_that_does_not_balance_is_explained_and_never_served() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let backend = Backend::Sqlite(dir.path().to_path_buf());
    let mut server = Server::start(&backend)?;
    let admin = server.admin_key.clone().context("admin key")?;
    api_card(&server, &admin, 12_345)?;
    stop(&mut server)?;

    // Someone edits the database behind the ledger's back: one account gains a fen.
    let tampered = {
        let db = rusqlite::Connection::open(dir.path().join("xingtong.sqlite3"))?;
        let (id, credits): (Vec<u8>, Vec<u8>) = db.query_row(
            "SELECT id, credits_posted FROM accounts WHERE credits_posted <> zeroblob(16) ORDER BY timestamp LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let credits = u128::from_be_bytes(credits.as_slice().try_into()?) + 1;
        db.execute(
            "UPDATE accounts SET credits_posted = ?1 WHERE id = ?2",
            rusqlite::params![&credits.to_be_bytes()[..], &id],
        )?;
        u128::from_be_bytes(id.as_slice().try_into()?)
    };

    // The server refuses to start and says which command explains.
    let message = serve_refused(&backend)?;
    ensure!(
        message.contains("does not balance") && message.contains("xingtong admin audit --explain --data-dir"),
        "{message}"
    );

    // The audit fails; the explanation names the account, what it holds and what its transfers say.
    let audit = xingtong(&backend, &["admin", "audit"])?;
    ensure!(!audit.status.success(), "the audit must fail");
    ensure!(String::from_utf8(audit.stderr)?.contains("--explain"));
    let explained = xingtong(&backend, &["admin", "audit", "--explain", "--json"])?;
    ensure!(!explained.status.success(), "an inconsistent ledger exits non-zero");
    let report: Value = serde_json::from_slice(&explained.stdout)?;
    ensure!(report["balanced"] == false && report["unbalanced_ledgers"] == json!([156]), "{report}");
    let differing = report["accounts_differing"].as_array().context("list")?;
    ensure!(differing.len() == 1 && differing[0]["account"] == tampered.to_string(), "{report}");
    let (stored, replayed) = (&differing[0]["stored"]["credits_posted"], &differing[0]["replayed"]["credits_posted"]);
    ensure!(stored.as_u64() == replayed.as_u64().map(|r| r + 1), "{report}");
    ensure!(!differing[0]["last_transfers"].as_array().context("transfers")?.is_empty(), "{report}");
    // Nothing was repaired: the text report says the same, and the server still refuses.
    let text = xingtong(&backend, &["admin", "audit", "--explain"])?;
    ensure!(String::from_utf8(text.stdout)?.contains(&format!("account {tampered}")));
    serve_refused(&backend)?;
    Ok(())
}

#[test]
fn admin_commands_and_a_server_writing_the_same_accounts_on_postgres_stay_consistent() -> anyhow::Result<()> {
    let Some(backend) = Backend::postgres() else {
        eprintln!("XINGTONG_TEST_POSTGRES_URL is not set: the PostgreSQL admin test is skipped");
        return Ok(());
    };
    let result = (|| -> anyhow::Result<()> {
        let server = Server::start(&backend)?;
        let admin = server.admin_key.clone().context("admin key")?;
        // The command line writes to PostgreSQL itself while the server writes over the API: both
        // fund cards from the one sandbox funding account.
        let cli = std::thread::scope(|scope| -> anyhow::Result<i64> {
            let api = scope.spawn(|| -> anyhow::Result<i64> {
                let mut total = 0;
                for i in 1..=20 {
                    api_card(&server, &admin, 100 * i)?;
                    total += 100 * i;
                }
                Ok(total)
            });
            let mut total = 0;
            for i in 1..=4 {
                let balance = format!("{i}.00");
                xingtong_json(
                    &backend,
                    &["admin", "sandbox", "card", "create", "--pin", "1234", "--balance", &balance],
                )?;
                total += 100 * i;
            }
            Ok(total + api.join().map_err(|_| anyhow::anyhow!("the API thread panicked"))??)
        })?;
        let funding = xingtong_payments::chart::platform_account_id(xingtong_payments::chart::ACCOUNT_SANDBOX_FUNDING);
        let account = request(server.address, "GET", &format!("/v1/ledger/accounts/{funding}"), &admin, None, None)?;
        ensure!(account.status == 200, "{account:?}");
        ensure!(
            account.body["debits_posted"].as_str() == Some(&cli.to_string()) || account.body["debits_posted"] == cli,
            "{account:?} vs {cli}"
        );
        let explained = xingtong_json(&backend, &["admin", "audit", "--explain"])?;
        ensure!(explained["balanced"] == true && explained["accounts_differing"] == json!([]), "{explained}");
        // And the server itself, restarted on the same schema, audits balanced at start.
        drop(server);
        let again = Server::start(&backend)?;
        let health = request(again.address, "GET", "/readyz", "", None, None)?;
        ensure!(health.status == 200, "{health:?}");
        Ok(())
    })();
    backend.cleanup();
    result
}

#[test]
fn an_admin_command_beside_a_holder_that_is_not_a_server_is_refused_with_what_to_do() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let backend = Backend::Sqlite(dir.path().to_path_buf());
    // Another process holds the directory's lock and has no admin socket (as another admin command would).
    let lock =
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.path().join("xingtong.lock"))?;
    lock.try_lock()?;
    let started = Instant::now();
    let refused = xingtong(&backend, &["admin", "audit"])?;
    ensure!(!refused.status.success(), "nothing may write beside the holder");
    let message = String::from_utf8(refused.stderr)?;
    ensure!(message.contains("does not answer on its admin socket") && message.contains("try again"), "{message}");
    ensure!(started.elapsed() < Duration::from_secs(30), "it waits a few seconds, not forever");
    ensure!(!dir.path().join("xingtong.sqlite3").exists(), "nothing was made");
    drop(lock);
    ensure!(xingtong_json(&backend, &["admin", "audit"])?["balanced"] == true, "free again");
    Ok(())
}

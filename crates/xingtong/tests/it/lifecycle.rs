//! Start-up and shutdown of the real binary.

use std::time::{Duration, Instant};

use crate::server::{Backend, Server, request};

#[test]
fn sigterm_shuts_down_cleanly_and_restart_keeps_the_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let backend = Backend::Sqlite(dir.path().to_path_buf());
    let mut server = Server::start(&backend)?;
    let token = server.admin_key.clone().expect("first start prints the admin key");
    let health = request(server.address, "GET", "/healthz", "", None, None)?;
    anyhow::ensure!(health.status == 200 && health.body["status"] == "ok", "{health:?}");
    let status = std::process::Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status()?;
    anyhow::ensure!(status.success(), "kill -TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = server.child.try_wait()? {
            break exit;
        }
        anyhow::ensure!(Instant::now() < deadline, "the server did not stop within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    anyhow::ensure!(exit.success(), "SIGTERM should end the server with success, got {exit}");
    // The key made at first start still works after a restart, and no new one is printed.
    let server = Server::start(&backend)?;
    anyhow::ensure!(server.admin_key.is_none());
    let account = request(server.address, "GET", "/v1/ledger/accounts/1", &token, None, None)?;
    anyhow::ensure!(account.status == 404 && account.body["error"]["code"] == "account_not_found", "{account:?}");
    Ok(())
}

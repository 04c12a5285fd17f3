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

#[test]
fn terminals_reach_the_gateway_of_the_real_server() -> anyhow::Result<()> {
    use std::io::{Read, Write};
    use xingtong_iso8583::{Frame, Message, Mti, TPDU_ID, Tpdu, cup};
    let dir = tempfile::tempdir()?;
    let server = Server::start(&Backend::Sqlite(dir.path().to_path_buf()))?;
    let mut echo = Message::new(Mti::new("0820")?);
    echo.set(11, "000042").set(41, "12345678").set(42, "123456789012345").set(60, "00000001301");
    let frame = Frame {
        tpdu: Tpdu { id: TPDU_ID, destination: [0, 6], source: [0, 1] },
        header: [0x60, 0x31, 0, 0, 0, 0],
        message: echo.pack(cup::spec())?,
    };
    let mut stream = std::net::TcpStream::connect(server.terminals)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(&frame.encode())?;
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix)?;
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut payload)?;
    let reply = Frame::decode(&payload)?;
    assert_eq!(reply.tpdu.destination, [0, 1]);
    let message = Message::unpack(cup::spec(), &reply.message)?;
    assert_eq!((message.mti.as_str(), message.get_str(39), message.get_str(11)), ("0830", Some("00"), Some("000042")));
    Ok(())
}

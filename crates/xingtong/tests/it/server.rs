//! Starts `xingtong serve` as a child process and talks HTTP/1.1 to it with a small blocking client.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// Where a server keeps its data: a directory (SQLite) or a PostgreSQL schema.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(std::path::PathBuf),
    Postgres { url: String, schema: String },
}

impl Backend {
    /// PostgreSQL in a new schema, when `XINGTONG_TEST_POSTGRES_URL` is set.
    pub fn postgres() -> Option<Backend> {
        let url = std::env::var("XINGTONG_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())?;
        let schema = format!("xt_bin_{}", hex::encode(rand::random::<[u8; 6]>()));
        Some(Backend::Postgres { url, schema })
    }

    /// The data directory: the SQLite one, or for PostgreSQL one per schema in the system's
    /// temporary directory, shared by every process on that schema (they need one host master
    /// key), so that no test writes into the source tree.
    pub fn data_dir(&self) -> std::path::PathBuf {
        match self {
            Backend::Sqlite(dir) => dir.clone(),
            Backend::Postgres { schema, .. } => std::env::temp_dir().join(schema),
        }
    }

    /// Drops a PostgreSQL schema and its data directory after the test.
    pub fn cleanup(&self) {
        if let Backend::Postgres { url, schema } = self {
            let _ = xingtong_store::postgres::drop_schema(url, schema);
            let _ = std::fs::remove_dir_all(self.data_dir());
        }
    }

    /// Adds the arguments that point a `xingtong` command at this backend.
    pub fn args(&self, command: &mut Command) {
        command.arg("--data-dir").arg(self.data_dir());
        if let Backend::Postgres { url, schema } = self {
            command.args(["--database", url, "--database-schema", schema]);
        }
    }
}

/// A running `xingtong serve`.
pub struct Server {
    pub child: Child,
    pub address: SocketAddr,
    /// Where terminals connect.
    pub terminals: SocketAddr,
    /// The admin key printed at first start, if this start printed one.
    pub admin_key: Option<String>,
}

impl Server {
    /// Starts the binary on a free port and waits until it says where it listens.
    pub fn start(backend: &Backend) -> anyhow::Result<Server> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_xingtong"));
        // Tests make their own tenants; the demo tenant has a test of its own (demo.rs).
        command.args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--iso8583",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--no-demo",
        ]);
        backend.args(&mut command);
        command.env_remove("XINGTONG_CONFIG").stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
        let mut child = command.spawn().context("starting xingtong serve")?;
        let stdout = child.stdout.take().context("stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut admin_key = None;
        let mut terminals = None;
        let address = loop {
            let line = lines.next().context("the server exited before listening")??;
            if let Some(key) = line.split_whitespace().find(|w| w.starts_with("xtk_")) {
                admin_key = Some(key.to_owned());
            }
            if let Some(rest) = line.split("ISO 8583 terminals on ").nth(1) {
                terminals = Some(rest.split_whitespace().next().context("address")?.parse()?);
            }
            if let Some(rest) = line.split("http://").nth(1) {
                let address = rest.split_whitespace().next().context("address")?;
                break address.parse()?;
            }
        };
        let terminals = terminals.context("the server did not say where terminals connect")?;
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Ok(Server { child, address, terminals, admin_key })
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: serde_json::Value,
}

/// One request on a fresh connection (`Connection: close`), with a timeout.
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    idempotency_key: Option<&str>,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.map(serde_json::to_vec).transpose()?.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(key) = idempotency_key {
        head.push_str(&format!("Idempotency-Key: {key}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw)?;
    let (head, body) = text.split_once("\r\n\r\n").context("no header end")?;
    let status = head.split_whitespace().nth(1).context("no status")?.parse()?;
    let body = if body.is_empty() { serde_json::Value::Null } else { serde_json::from_str(body)? };
    Ok(Response { status, body })
}

/// A raw response: status, header block, body bytes.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body as JSON (null when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The value of the `xt_session` cookie set by this response.
    pub fn session_cookie(&self) -> Option<String> {
        self.head.lines().filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).find_map(|l| {
            let value = l.split_once(':')?.1.trim();
            value.split(';').next()?.strip_prefix("xt_session=").map(str::to_owned)
        })
    }
}

/// One request with any headers and body.
pub fn request_raw(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<RawResponse> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").context("no header end")?;
    let head = String::from_utf8(raw[..end].to_vec())?;
    let status = head.split_whitespace().nth(1).context("no status")?.parse()?;
    Ok(RawResponse { status, head, body: raw[end + 4..].to_vec() })
}

/// The demo owner signed in (`serve --demo`'s tenant): the `Cookie` header value of the session.
pub fn demo_owner_cookie(address: SocketAddr) -> anyhow::Result<String> {
    let login = request_raw(
        address,
        "POST",
        "/v1/sessions",
        &[("Content-Type", "application/json")],
        &serde_json::to_vec(&serde_json::json!({ "login": "13888888888", "password": "demo owner password" }))?,
    )?;
    anyhow::ensure!(login.status == 201, "{:?}", login.json());
    Ok(format!("xt_session={}", anyhow::Context::context(login.session_cookie(), "a session cookie")?))
}

//! A terminal's first power-on: activation over HTTP (docs/activation.md). The terminal sends its
//! merchant number, serial number and activation code; the host answers with the terminal id and
//! the TMK encrypted under a key derived from the code (PBKDF2-HMAC-SHA256); the terminal derives
//! that key, decrypts its TMK and checks it against the check value. The code never leaves the
//! device in any other form, and the TMK never travels in clear.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xingtong_crypto::Key;

use crate::PosError;

/// How long an activation may take (the host runs a slow key derivation too).
const ACTIVATION_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read.
const ANSWER_BYTES_MAX: u64 = 64 * 1024;

/// What activation gave the terminal.
pub struct Activated {
    /// Its terminal id.
    pub tid: String,
    /// The merchant's trading name, when the host gives it (for slips).
    pub merchant_name: Option<String>,
    /// Its master key, checked against `check_value`.
    pub tmk: Key,
    /// The TMK's check value, 8 hex digits: what the screen shows.
    pub check_value: String,
}

impl std::fmt::Debug for Activated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activated")
            .field("tid", &self.tid)
            .field("check_value", &self.check_value)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Answer {
    tid: String,
    #[serde(default)]
    merchant_name: Option<String>,
    tmk_under_activation_key: String,
    tmk_check_value: String,
    kdf: Kdf,
}

#[derive(Deserialize)]
struct Kdf {
    iterations: u32,
}

#[derive(Deserialize)]
struct Refusal {
    error: RefusalDetail,
}

#[derive(Deserialize)]
struct RefusalDetail {
    code: String,
    message: String,
}

/// Activates at the host's HTTP API `api` (`POST /v1/activations`).
pub async fn activate(api: SocketAddr, mid: &str, serial_number: &str, code: &str) -> Result<Activated, PosError> {
    let body = serde_json::json!({ "mid": mid, "serial_number": serial_number, "activation_code": code }).to_string();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(api).await?;
        let head = format!(
            "POST /v1/activations HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.take(ANSWER_BYTES_MAX).read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(ACTIVATION_TIMEOUT, exchange).await.map_err(|_| PosError::Timeout)??;
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| PosError::Codec("no HTTP answer".into()))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = &raw[end + 4..];
    if status != 201 {
        let refusal: Refusal = serde_json::from_slice(body)
            .map_err(|_| PosError::Codec(format!("the host answered HTTP {status} without an error body")))?;
        return Err(PosError::Refused { code: refusal.error.code, message: refusal.error.message });
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| PosError::Codec(e.to_string()))?;
    let kek = xingtong_crypto::secret::activation_key(code, mid, &serial_number.to_uppercase(), answer.kdf.iterations)?;
    let wrapped = hex::decode(&answer.tmk_under_activation_key).map_err(|e| PosError::Codec(e.to_string()))?;
    let tmk = kek.unwrap_key(&wrapped)?;
    let check_value = hex::encode_upper(tmk.check_value());
    if check_value != answer.tmk_check_value.to_uppercase() {
        return Err(PosError::KeyCheck);
    }
    Ok(Activated { tid: answer.tid, merchant_name: answer.merchant_name, tmk, check_value })
}

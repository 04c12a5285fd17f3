//! The terminal's side of the protocol (docs/iso8583.md), for tests, the terminal emulator and the
//! benchmark: it holds the TMK and the working keys, keeps the STAN and batch counters, builds PIN
//! blocks and MACs, checks the MAC and echo fields of every reply, and never sends a financial
//! request before the reversal that would undo it is written to disk; that reversal is sent first
//! at the next opportunity (store and forward), until the host acknowledges it.

pub mod activation;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xingtong_crypto::{Key, MacAlgorithm, Pin, SecretString, WorkingKeys, WorkingKeysLayout, pin_block_format0};
use xingtong_iso8583::cup::{self, Field60, Field61};
use xingtong_iso8583::{Frame, Message, Mti, TPDU_ID, Tpdu};

/// What can go wrong on the terminal's side.
#[derive(Debug, thiserror::Error)]
pub enum PosError {
    /// The connection failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// No reply in time: the outcome is unknown (a reversal is pending for financial requests).
    #[error("no reply within the time limit")]
    Timeout,
    /// The reply is not what was asked for (MTI, STAN, TID or MID differ).
    #[error("the reply does not match the request: {0}")]
    Mismatch(String),
    /// The reply's MAC is wrong (a reversal with reason A0 is pending).
    #[error("the reply's MAC does not verify")]
    BadMac,
    /// The sign-in's working keys fail their check values.
    #[error("the working keys do not match their check values")]
    KeyCheck,
    /// Not signed in.
    #[error("sign in first")]
    NotSignedIn,
    /// A message could not be built or read.
    #[error("codec: {0}")]
    Codec(String),
    /// A key or PIN could not be used.
    #[error("crypto: {0}")]
    Crypto(#[from] xingtong_crypto::CryptoError),
    /// The host refused (activation): its stable code and message.
    #[error("refused: {message} ({code})")]
    Refused {
        /// Stable code, e.g. `activation_refused`.
        code: String,
        /// For a person.
        message: String,
    },
}

/// A terminal's identity and where it keeps its state.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// Terminal id (F41).
    pub tid: String,
    /// Merchant id (F42).
    pub mid: String,
    /// Terminal master key.
    pub tmk: Key,
    /// Directory for the counters and the pending reversal; `None` keeps them in memory only
    /// (benchmarks: no store and forward across restarts).
    pub state_dir: Option<PathBuf>,
    /// How long to wait for a reply.
    pub reply_timeout: Duration,
    /// Fsync the pending reversal before sending (true: survives power loss).
    pub fsync: bool,
}

/// The counters and the pending reversal, as kept on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    stan: u32,
    batch: u32,
}

/// The reversal to send if the outcome of the last financial request is unknown.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingReversal {
    /// Hex of the packed 0400 without its MAC fields.
    message: String,
    reason: String,
}

/// A card as the terminal reads it.
#[derive(Clone)]
pub struct CardRead {
    /// PAN.
    pub pan: String,
    /// YYMM.
    pub expiry: String,
    /// The PIN the cardholder types, if any.
    pub pin: Option<String>,
}

impl std::fmt::Debug for CardRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardRead").field("pan", &mask(&self.pan)).finish_non_exhaustive()
    }
}

fn mask(pan: &str) -> String {
    if pan.len() > 10 { format!("{}…{}", &pan[..6], &pan[pan.len() - 4..]) } else { "…".into() }
}

/// One card class's totals in a settlement (CNY minor units).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Sales and completions (借记), voided ones included.
    pub debit_minor: u64,
    /// How many.
    pub debit_count: u32,
    /// Voids, completion voids and refunds (贷记).
    pub credit_minor: u64,
    /// How many.
    pub credit_count: u32,
}

impl Totals {
    fn field48_side(&self) -> String {
        format!(
            "{:012}{:03}{:012}{:03}0",
            self.debit_minor,
            self.debit_count.min(999),
            self.credit_minor,
            self.credit_count.min(999)
        )
    }

    /// Adds one transaction: a debit when `debit`, a credit otherwise.
    pub fn add(&mut self, amount_minor: u64, debit: bool) {
        if debit {
            self.debit_minor += amount_minor;
            self.debit_count += 1;
        } else {
            self.credit_minor += amount_minor;
            self.credit_count += 1;
        }
    }
}

/// A batch's totals as settlement reports them: domestic cards (内卡) and foreign ones (外卡,
/// Visa and Mastercard: [`cup::foreign_card`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchTotals {
    /// Domestic cards.
    pub domestic: Totals,
    /// Foreign cards.
    pub foreign: Totals,
}

impl BatchTotals {
    /// Field 48 of a 0500: 62 digits, domestic then foreign, each with a result digit `0`.
    pub fn field48(&self) -> String {
        format!("{}{}", self.domestic.field48_side(), self.foreign.field48_side())
    }
}

/// The host's verdict on a settlement, per card class (field 48 of the 0510).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Domestic cards: `1` balanced (对账平), `2` not (不平), `3` error.
    pub domestic: u8,
    /// Foreign cards, the same.
    pub foreign: u8,
}

impl Verdict {
    /// Both classes balanced.
    pub fn balanced(&self) -> bool {
        self.domestic == cup::settlement_result::BALANCED && self.foreign == cup::settlement_result::BALANCED
    }
}

/// A host's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Field 39.
    pub code: String,
    /// The whole message.
    pub message: Message,
    /// The STAN of the request.
    pub stan: u32,
    /// The batch of the request.
    pub batch: u32,
}

impl Reply {
    /// True for 00.
    pub fn approved(&self) -> bool {
        self.code == "00"
    }

    /// Field 37.
    pub fn rrn(&self) -> Option<&str> {
        self.message.get_str(37)
    }

    /// Field 38.
    pub fn auth_code(&self) -> Option<&str> {
        self.message.get_str(38)
    }

    /// A QR sale's answer (field 57): the wallet, paid or not, why not, the wallet's payment id.
    pub fn qr(&self) -> Option<cup::QrReply> {
        cup::QrReply::parse(self.message.get(57)?)
    }

    /// A settlement reply's verdict (field 48), if it carries one.
    pub fn verdict(&self) -> Option<Verdict> {
        let totals = cup::SettlementTotals::parse(self.message.get(48)?).ok()?;
        Some(Verdict { domestic: totals.domestic_result, foreign: totals.foreign_result })
    }

    /// The settlement date of a settlement reply (field 15, MMDD).
    pub fn settlement_date(&self) -> Option<&str> {
        self.message.get_str(15)
    }

    /// The balance of field 54, minor units.
    pub fn balance_minor(&self) -> Option<i64> {
        let f = self.message.get_str(54)?;
        let amount: i64 = f.get(8..20)?.parse().ok()?;
        Some(if f.as_bytes().get(7) == Some(&b'D') { -amount } else { amount })
    }
}

/// A terminal.
pub struct Terminal {
    config: TerminalConfig,
    stream: Option<TcpStream>,
    address: std::net::SocketAddr,
    keys: Option<WorkingKeys>,
    state: State,
    pending: Option<PendingReversal>,
    operator: u8,
    /// A longer wait for the next reply (a QR sale's: the host waits for the customer).
    next_timeout: Option<Duration>,
}

/// The longest a QR sale's reply can take (docs/iso8583.md §5.5): the host's 20 s wait for the
/// customer, a wallet call of at most 10 s, and three attempts to cancel.
pub const QR_REPLY_TIMEOUT: Duration = Duration::from_secs(65);

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("tid", &self.config.tid)
            .field("stan", &self.state.stan)
            .finish_non_exhaustive()
    }
}

const TPDU: Tpdu = Tpdu { id: TPDU_ID, destination: [0x00, 0x06], source: [0x00, 0x00] };
const HEADER: [u8; 6] = [0x60, 0x22, 0x00, 0x00, 0x00, 0x00];

/// The stand-in PAN of an operator or supervisor PIN block: `0000`, the TID and a `0`.
pub fn operator_pin_pan(tid: &str) -> String {
    format!("0000{tid}0")
}

/// Which financial request, with what it needs.
#[derive(Debug, Clone)]
pub enum Request {
    /// 查余.
    Balance(CardRead),
    /// 消费, with the business type code (1 sale, 2 collection, 3 purchase).
    Sale(CardRead, i64, u8),
    /// 扫码消费: a sale paid with the payment code the customer's wallet app shows (what the
    /// scanner read), with the business type code.
    QrSale(String, i64, u8),
    /// A dynamic code (C扫B) for the amount: the wallet's three letters (`WXP`, `ALP`, `UPQ`), the
    /// amount, the minutes it can be paid (two hours when `None`), the business type code. The
    /// reply's field 57 carries the code's URL to draw ([`Reply::qr`]).
    QrOrder(String, i64, Option<u16>, u8),
    /// Where the order made with this STAN (of the current batch) stands; its amount.
    QrQuery(u32, i64),
    /// Closes the order made with this STAN; its amount.
    QrClose(u32, i64),
    /// 预授权.
    PreAuthorization(CardRead, i64),
    /// 撤销 of (batch, STAN), with the supervisor's PIN.
    Void { original: (u32, u32), amount: i64, supervisor_pin: SecretString },
    /// 退货 of (batch, STAN, MMDD) with the supervisor's PIN and a reason code 01–04.
    Refund { original: (u32, u32, String), amount: i64, rrn: String, supervisor_pin: SecretString, reason: String },
    /// 预授权撤销.
    PreAuthorizationVoid { original: (u32, u32), amount: i64, auth_code: String },
    /// 预授权完成.
    Completion { original: (u32, u32, String), amount: i64, auth_code: String },
    /// 预授权完成撤销, with the supervisor's PIN.
    CompletionVoid { original: (u32, u32), amount: i64, supervisor_pin: SecretString },
}

impl Terminal {
    /// Opens a terminal: reads its counters and any pending reversal, and connects.
    pub async fn open(config: TerminalConfig, address: std::net::SocketAddr) -> Result<Terminal, PosError> {
        let (state, pending) = match &config.state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let state = std::fs::read(dir.join("counters.json"))
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(State { stan: 0, batch: 1 });
                let pending =
                    std::fs::read(dir.join("pending-reversal.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
                (state, pending)
            }
            None => (State { stan: 0, batch: 1 }, None),
        };
        let mut terminal =
            Terminal { config, stream: None, address, keys: None, state, pending, operator: 1, next_timeout: None };
        terminal.connect().await?;
        Ok(terminal)
    }

    async fn connect(&mut self) -> Result<(), PosError> {
        let stream = TcpStream::connect(self.address).await?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        Ok(())
    }

    /// Connects to another host address (a terminal's backup host, or another process of the
    /// same platform): the next requests go there, with the same keys and counters.
    pub async fn connect_to(&mut self, address: std::net::SocketAddr) -> Result<(), PosError> {
        self.address = address;
        self.connect().await
    }

    /// The open batch.
    pub fn batch(&self) -> u32 {
        self.state.batch
    }

    /// The last STAN used.
    pub fn stan(&self) -> u32 {
        self.state.stan
    }

    /// True while a reversal waits to be sent.
    pub fn has_pending_reversal(&self) -> bool {
        self.pending.is_some()
    }

    /// The next STAN: 000001–899999 and round again (900000 and above are the host's).
    fn next_stan(&mut self) -> Result<u32, PosError> {
        self.state.stan = self.state.stan % cup::TERMINAL_STAN_MAX + 1;
        self.save_state()?;
        Ok(self.state.stan)
    }

    fn save_state(&self) -> Result<(), PosError> {
        if let Some(dir) = &self.config.state_dir {
            let bytes = serde_json::to_vec(&self.state).map_err(|e| PosError::Codec(e.to_string()))?;
            write_atomically(&dir.join("counters.json"), &bytes, self.config.fsync)?;
        }
        Ok(())
    }

    fn save_pending(&self) -> Result<(), PosError> {
        if let Some(dir) = &self.config.state_dir {
            let path = dir.join("pending-reversal.json");
            match &self.pending {
                Some(p) => {
                    let bytes = serde_json::to_vec(p).map_err(|e| PosError::Codec(e.to_string()))?;
                    write_atomically(&path, &bytes, self.config.fsync)?;
                }
                None => match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                },
            }
        }
        Ok(())
    }

    /// Restores working keys kept from an earlier sign-in (a terminal that rebooted), or forgets them.
    pub fn set_working_keys(&mut self, keys: Option<WorkingKeys>) {
        self.keys = keys;
    }

    /// Packs `message` with a MAC under the current MAC key (tests forge messages with it).
    pub fn mac(&self, message: &mut Message) -> Result<Vec<u8>, PosError> {
        self.pack_with_mac(message)
    }

    /// Sends a packed message as it is and waits for the reply; no checks, no reversal.
    pub async fn exchange_raw(&mut self, packed: Vec<u8>) -> Result<Message, PosError> {
        self.exchange(packed).await
    }

    /// Sends a frame and waits for its reply.
    async fn exchange(&mut self, packed: Vec<u8>) -> Result<Message, PosError> {
        if self.stream.is_none() {
            self.connect().await?;
        }
        let frame = Frame { tpdu: TPDU, header: HEADER, message: packed }.encode();
        let timeout = self.next_timeout.take().unwrap_or(self.config.reply_timeout);
        let stream = self.stream.as_mut().expect("connected");
        let result = tokio::time::timeout(timeout, async {
            stream.write_all(&frame).await?;
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut payload).await?;
            Ok::<_, std::io::Error>(payload)
        })
        .await;
        let payload = match result {
            Err(_) => {
                // The reply may still come; a fresh connection keeps it from being taken for the next.
                self.stream = None;
                return Err(PosError::Timeout);
            }
            Ok(Err(e)) => {
                self.stream = None;
                return Err(e.into());
            }
            Ok(Ok(payload)) => payload,
        };
        let frame = Frame::decode(&payload).map_err(|e| PosError::Codec(e.to_string()))?;
        Message::unpack(cup::spec(), &frame.message).map_err(|e| PosError::Codec(e.to_string()))
    }

    fn mac_key(&self) -> Result<Key, PosError> {
        Ok(self.keys.as_ref().ok_or(PosError::NotSignedIn)?.mac_key.left_half())
    }

    fn pack_with_mac(&self, message: &mut Message) -> Result<Vec<u8>, PosError> {
        let key = self.mac_key()?;
        message
            .pack_with_mac(cup::spec(), |data| MacAlgorithm::CupEcb.compute(&key, data))
            .map_err(|e| PosError::Codec(e.to_string()))
    }

    /// True when `reply` carries a MAC and it verifies under the current MAC key.
    pub fn reply_mac_ok(&self, reply: &Message) -> bool {
        let (Ok(key), Some(mac)) = (self.mac_key(), reply.get(64)) else { return false };
        let Ok(packed) = reply.pack(cup::spec()) else { return false };
        Message::mac_input(&packed, reply).is_some_and(|data| MacAlgorithm::CupEcb.verify(&key, data, mac))
    }

    fn check_reply(&self, request: &Message, reply: &Message, mac: bool) -> Result<(), PosError> {
        let expected = request.mti.response().map(|m| m.to_string());
        if Some(reply.mti.to_string()) != expected {
            return Err(PosError::Mismatch(format!("MTI {}", reply.mti)));
        }
        for field in [11, 41, 42] {
            if reply.get(field) != request.get(field) {
                return Err(PosError::Mismatch(format!("field {field}")));
            }
        }
        if mac && reply.has(64) {
            let key = self.mac_key()?;
            let packed = reply.pack(cup::spec()).map_err(|e| PosError::Codec(e.to_string()))?;
            let data = Message::mac_input(&packed, reply).ok_or(PosError::BadMac)?;
            if !MacAlgorithm::CupEcb.verify(&key, data, reply.get(64).unwrap_or_default()) {
                return Err(PosError::BadMac);
            }
        }
        Ok(())
    }

    fn base(&self, mti: &str, stan: u32) -> Result<Message, PosError> {
        let mut m = Message::new(Mti::new(mti).map_err(|e| PosError::Codec(e.to_string()))?);
        m.set(11, format!("{stan:06}"));
        m.set(41, self.config.tid.clone());
        m.set(42, self.config.mid.clone());
        Ok(m)
    }

    /// Signs in operator `operator` with `pin`: the PIN block travels under the TMK; the working keys
    /// come back under it and are checked; the host's batch is adopted. Sends any pending reversal first.
    pub async fn sign_in(&mut self, operator: u8, pin: &str) -> Result<Reply, PosError> {
        let stan = self.next_stan()?;
        let mut m = self.base("0800", stan)?;
        let block = pin_block_format0(&Pin::new(pin)?, &operator_pin_pan(&self.config.tid))?;
        m.set(52, self.config.tmk.encrypt_block(block).to_vec());
        m.set(53, "2600000000000000");
        m.set(
            60,
            Field60 {
                transaction_type: "00".into(),
                batch: self.state.batch,
                network_code: "003".into(),
                flags: String::new(),
            }
            .to_bytes(),
        );
        m.set(63, cup::operator_field(operator));
        let packed = m.pack(cup::spec()).map_err(|e| PosError::Codec(e.to_string()))?;
        let reply = self.exchange(packed).await?;
        self.check_reply(&m, &reply, false)?;
        let code = reply.get_str(39).unwrap_or("").to_owned();
        if code == "00" {
            let keys = WorkingKeys::from_field62(reply.get(62).unwrap_or_default(), &self.config.tmk)
                .map_err(|_| PosError::KeyCheck)?;
            if let Some(f60) = reply.get(60).and_then(|v| Field60::parse(v).ok()) {
                self.state.batch = f60.batch;
                self.save_state()?;
            }
            self.keys = Some(keys);
            self.operator = operator;
            self.send_pending_reversal().await?;
        }
        Ok(Reply { code, message: reply, stan, batch: self.state.batch })
    }

    /// An echo test (回响测试): a 0820 with network code 301, no MAC; the keys stay as they are.
    pub async fn echo(&mut self) -> Result<Reply, PosError> {
        self.network_management("301").await
    }

    /// A 0820 network-management request with the network code `code` (field 60.3), no MAC.
    async fn network_management(&mut self, code: &str) -> Result<Reply, PosError> {
        let stan = self.next_stan()?;
        let mut m = self.base("0820", stan)?;
        m.set(
            60,
            Field60 {
                transaction_type: "00".into(),
                batch: self.state.batch,
                network_code: code.into(),
                flags: String::new(),
            }
            .to_bytes(),
        );
        let packed = m.pack(cup::spec()).map_err(|e| PosError::Codec(e.to_string()))?;
        let reply = self.exchange(packed).await?;
        self.check_reply(&m, &reply, false)?;
        Ok(Reply { code: reply.get_str(39).unwrap_or("").to_owned(), message: reply, stan, batch: self.state.batch })
    }

    /// Signs off.
    pub async fn sign_off(&mut self) -> Result<Reply, PosError> {
        let reply = self.network_management("002").await?;
        self.keys = None;
        Ok(reply)
    }

    /// Settlement (结算) of the open batch: a 0500 with the batch's totals in field 48 (domestic
    /// debit amount and count, credit amount and count; docs/iso8583.md §7), MACed. Nothing is
    /// reversed for it. The reply's field 48 carries the host's verdict once the host settles.
    pub async fn settle(&mut self, operator: u8, totals: &BatchTotals) -> Result<Reply, PosError> {
        let stan = self.next_stan()?;
        let mut m = self.base("0500", stan)?;
        m.set(48, totals.field48());
        m.set(49, "156");
        m.set(
            60,
            Field60 {
                transaction_type: "00".into(),
                batch: self.state.batch,
                network_code: "201".into(),
                flags: String::new(),
            }
            .to_bytes(),
        );
        m.set(63, format!("{operator:02} "));
        let packed = self.pack_with_mac(&mut m)?;
        let reply = self.exchange(packed).await?;
        self.check_reply(&m, &reply, true)?;
        Ok(Reply { code: reply.get_str(39).unwrap_or("").to_owned(), message: reply, stan, batch: self.state.batch })
    }

    /// Batch upload (批上送) after an unbalanced settlement: the items in 0320s of at most eight
    /// (60.3 `201`, field 48 `NN` + 40 digits each), each answered 00 (or 94: already had).
    /// Returns how many were uploaded.
    pub async fn upload_batch(&mut self, items: &[cup::BatchItem]) -> Result<u32, PosError> {
        for chunk in items.chunks(8) {
            let stan = self.next_stan()?;
            let mut m = self.base("0320", stan)?;
            m.set(48, cup::batch_items_to_bytes(chunk).map_err(|e| PosError::Codec(e.to_string()))?);
            m.set(60, self.settlement_field60("201"));
            let packed = self.pack_with_mac(&mut m)?;
            let reply = self.exchange(packed).await?;
            self.check_reply(&m, &reply, true)?;
            let code = reply.get_str(39).unwrap_or("");
            if code != "00" && code != "94" {
                return Err(PosError::Mismatch(format!("batch upload answered {code}")));
            }
        }
        Ok(u32::try_from(items.len()).unwrap_or(u32::MAX))
    }

    /// Ends the batch upload (批上送结束): a 0320 with the count uploaded (field 48, n4), 60.3
    /// `207` after a balanced settlement, `202` after an unbalanced one.
    pub async fn end_batch_upload(&mut self, count: u32, balanced: bool) -> Result<Reply, PosError> {
        let stan = self.next_stan()?;
        let mut m = self.base("0320", stan)?;
        m.set(48, format!("{:04}", count.min(9_999)));
        m.set(60, self.settlement_field60(if balanced { "207" } else { "202" }));
        let packed = self.pack_with_mac(&mut m)?;
        let reply = self.exchange(packed).await?;
        self.check_reply(&m, &reply, true)?;
        Ok(Reply { code: reply.get_str(39).unwrap_or("").to_owned(), message: reply, stan, batch: self.state.batch })
    }

    /// After settlement: the next batch number (000001–999999, then round again), kept.
    pub fn open_next_batch(&mut self) -> Result<u32, PosError> {
        self.state.batch = self.state.batch % 999_999 + 1;
        self.save_state()?;
        Ok(self.state.batch)
    }

    fn settlement_field60(&self, network_code: &str) -> Vec<u8> {
        Field60 {
            transaction_type: "00".into(),
            batch: self.state.batch,
            network_code: network_code.into(),
            flags: String::new(),
        }
        .to_bytes()
    }

    /// The signed-in working keys (for tests that forge messages).
    pub fn working_keys(&self) -> Option<&WorkingKeys> {
        self.keys.as_ref()
    }

    /// Sends the pending reversal, if any, until the host acknowledges it (00, 25 or 12 end it).
    pub async fn send_pending_reversal(&mut self) -> Result<Option<Reply>, PosError> {
        let Some(pending) = self.pending.clone() else { return Ok(None) };
        let bytes = hex::decode(&pending.message).map_err(|e| PosError::Codec(e.to_string()))?;
        let mut m = Message::unpack(cup::spec(), &bytes).map_err(|e| PosError::Codec(e.to_string()))?;
        m.set(39, pending.reason.clone());
        let packed = self.pack_with_mac(&mut m)?;
        let reply = self.exchange(packed).await?;
        self.check_reply(&m, &reply, true)?;
        let code = reply.get_str(39).unwrap_or("").to_owned();
        if ["00", "25", "12"].contains(&code.as_str()) {
            self.pending = None;
            self.save_pending()?;
        }
        let stan = m.get_str(11).and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok(Some(Reply { code, message: reply, stan, batch: self.state.batch }))
    }

    fn pin_field(&self, pan: &str, pin: &str) -> Result<Vec<u8>, PosError> {
        let keys = self.keys.as_ref().ok_or(PosError::NotSignedIn)?;
        let block = pin_block_format0(&Pin::new(pin)?, pan)?;
        Ok(keys.pin_key.encrypt_block(block).to_vec())
    }

    fn card_fields(&self, m: &mut Message, card: &CardRead) -> Result<(), PosError> {
        m.set(2, card.pan.clone());
        m.set(14, card.expiry.clone());
        m.set(22, if card.pin.is_some() { "021" } else { "022" });
        if let Some(pin) = &card.pin {
            m.set(26, "06");
            m.set(52, self.pin_field(&card.pan, pin)?);
        }
        m.set(53, "2600000000000000");
        Ok(())
    }

    /// Builds a financial request (with a fresh STAN), without its MAC.
    pub fn build(&mut self, request: &Request) -> Result<Message, PosError> {
        if self.keys.is_none() {
            return Err(PosError::NotSignedIn);
        }
        let stan = self.next_stan()?;
        let batch = self.state.batch;
        let f60 = |t: &str| {
            Field60 { transaction_type: t.into(), batch, network_code: "000".into(), flags: String::new() }.to_bytes()
        };
        let operator = format!("{:02} ", self.operator);
        let supervisor = |this: &Self, pin: &str| -> Result<Vec<u8>, PosError> {
            let keys = this.keys.as_ref().ok_or(PosError::NotSignedIn)?;
            let block = pin_block_format0(&Pin::new(pin)?, &operator_pin_pan(&this.config.tid))?;
            Ok(keys.pin_key.encrypt_block(block).to_vec())
        };
        let m = match request {
            Request::Balance(card) => {
                let mut m = self.base("0200", stan)?;
                m.set(3, "310000");
                self.card_fields(&mut m, card)?;
                m.set(25, "00");
                m.set(49, "156");
                m.set(60, f60("01"));
                m
            }
            Request::Sale(card, amount, business) => {
                let mut m = self.base("0200", stan)?;
                m.set(3, "000000");
                m.set(4, format!("{amount:012}"));
                self.card_fields(&mut m, card)?;
                m.set(25, "00");
                m.set(49, "156");
                m.set(60, f60("22"));
                m.set(63, format!("{operator}{business}"));
                m
            }
            Request::QrSale(..) | Request::QrOrder(..) | Request::QrQuery(..) | Request::QrClose(..) => {
                let (field57, amount, business) = match request {
                    Request::QrSale(code, amount, business) => {
                        (format!("B{}", code.trim()).into_bytes(), *amount, *business)
                    }
                    Request::QrOrder(wallet, amount, minutes, business) => {
                        let order = cup::QrRequest::Order { wallet: wallet.clone(), minutes: *minutes };
                        (order.to_bytes(), *amount, *business)
                    }
                    Request::QrQuery(stan, amount) => (cup::QrRequest::Query(*stan).to_bytes(), *amount, 1),
                    Request::QrClose(stan, amount) => (cup::QrRequest::Close(*stan).to_bytes(), *amount, 1),
                    _ => unreachable!("matched above"),
                };
                let mut m = self.base("0200", stan)?;
                m.set(3, "000000");
                m.set(4, format!("{amount:012}"));
                m.set(22, "032");
                m.set(25, "00");
                m.set(49, "156");
                m.set(57, field57);
                m.set(60, f60("22"));
                m.set(63, format!("{operator}{business}"));
                m
            }
            Request::PreAuthorization(card, amount) => {
                let mut m = self.base("0100", stan)?;
                m.set(3, "030000");
                m.set(4, format!("{amount:012}"));
                self.card_fields(&mut m, card)?;
                m.set(25, "06");
                m.set(49, "156");
                m.set(60, f60("10"));
                m.set(63, operator.clone());
                m
            }
            Request::Void { original, amount, supervisor_pin }
            | Request::CompletionVoid { original, amount, supervisor_pin } => {
                let void = matches!(request, Request::Void { .. });
                let mut m = self.base("0200", stan)?;
                m.set(3, "200000");
                m.set(4, format!("{amount:012}"));
                m.set(22, "012");
                m.set(25, if void { "00" } else { "06" });
                m.set(49, "156");
                m.set(52, supervisor(self, supervisor_pin.expose())?);
                m.set(60, f60(if void { "23" } else { "21" }));
                m.set(61, Field61 { batch: original.0, stan: original.1, date: None }.to_bytes());
                m.set(63, operator.clone());
                m
            }
            Request::Refund { original, amount, rrn, supervisor_pin, reason } => {
                let mut m = self.base("0220", stan)?;
                m.set(3, "200000");
                m.set(4, format!("{amount:012}"));
                m.set(22, "012");
                m.set(25, "00");
                m.set(37, rrn.clone());
                m.set(49, "156");
                m.set(52, supervisor(self, supervisor_pin.expose())?);
                m.set(60, f60("25"));
                m.set(61, Field61 { batch: original.0, stan: original.1, date: Some(original.2.clone()) }.to_bytes());
                m.set(63, format!("{operator}{reason}"));
                m
            }
            Request::PreAuthorizationVoid { original, amount, auth_code } => {
                let mut m = self.base("0100", stan)?;
                m.set(3, "200000");
                m.set(4, format!("{amount:012}"));
                m.set(22, "012");
                m.set(25, "06");
                m.set(38, auth_code.clone());
                m.set(49, "156");
                m.set(60, f60("11"));
                m.set(61, Field61 { batch: original.0, stan: original.1, date: None }.to_bytes());
                m.set(63, operator.clone());
                m
            }
            Request::Completion { original, amount, auth_code } => {
                let mut m = self.base("0200", stan)?;
                m.set(3, "000000");
                m.set(4, format!("{amount:012}"));
                m.set(22, "012");
                m.set(25, "06");
                m.set(38, auth_code.clone());
                m.set(49, "156");
                m.set(60, f60("20"));
                m.set(61, Field61 { batch: original.0, stan: original.1, date: Some(original.2.clone()) }.to_bytes());
                m.set(63, operator.clone());
                m
            }
        };
        Ok(m)
    }

    /// The reversal of a financial request: same STAN, batch and amount; field 2 when the
    /// original carried it; no card secrets (fields 14, 26, 35, 36, 37, 52, 53, 63 dropped).
    fn reversal_of(request: &Message) -> Result<Message, PosError> {
        let mut r = Message::new(Mti::new("0400").map_err(|e| PosError::Codec(e.to_string()))?);
        for field in [2, 3, 4, 11, 22, 25, 38, 41, 42, 49, 60, 61] {
            if let Some(v) = request.get(field) {
                r.set(field, v.to_vec());
            }
        }
        Ok(r)
    }

    /// Sends a financial request: any pending reversal first; this request's reversal written to
    /// disk before it leaves; cleared once a reply with a good MAC says what happened.
    pub async fn send(&mut self, request: &Request) -> Result<Reply, PosError> {
        self.send_pending_reversal().await?;
        let mut m = self.build(request)?;
        self.send_built(&mut m).await
    }

    /// Sends a request built with [`Terminal::build`] (tests forge fields in between).
    pub async fn send_built(&mut self, m: &mut Message) -> Result<Reply, PosError> {
        // A balance inquiry moves nothing, so it is never reversed; nor is asking after a QR order
        // or closing it.
        let asks = m.get(57).is_some_and(|f| matches!(f.first(), Some(b'Q' | b'C')));
        let reversible = m.get_str(3) != Some("310000") && !asks;
        if m.has(57) {
            self.next_timeout = Some(self.config.reply_timeout.max(QR_REPLY_TIMEOUT));
        }
        if reversible {
            let reversal = Self::reversal_of(m)?;
            let reversal_packed = reversal.pack(cup::spec()).map_err(|e| PosError::Codec(e.to_string()))?;
            self.pending = Some(PendingReversal { message: hex::encode_upper(reversal_packed), reason: "98".into() });
            self.save_pending()?;
        }
        let packed = self.pack_with_mac(m)?;
        let stan = m.get_str(11).and_then(|s| s.parse().ok()).unwrap_or(0);
        let reply = match self.exchange(packed).await {
            Ok(reply) => reply,
            Err(e) => return Err(e),
        };
        self.check_reply(m, &reply, true).inspect_err(|e| {
            if reversible && matches!(e, PosError::BadMac) {
                if let Some(p) = &mut self.pending {
                    p.reason = "A0".into();
                }
                let _ = self.save_pending();
            }
        })?;
        let code = reply.get_str(39).unwrap_or("").to_owned();
        // Only a reply with a good MAC tells the outcome for certain. Without one (A0, C1, format
        // errors) the reversal stays pending: the host answers it 25 if nothing was done.
        if reversible && reply.has(64) {
            self.pending = None;
            self.save_pending()?;
        }
        Ok(Reply { code, message: reply, stan, batch: self.state.batch })
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8], fsync: bool) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = std::fs::File::create(&tmp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        if fsync {
            file.sync_all()?;
        }
    }
    std::fs::rename(&tmp, path)?;
    if fsync && let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The working-keys layout terminals ask for (60.3 = 003).
pub const LAYOUT: WorkingKeysLayout = WorkingKeysLayout::Double;

#[cfg(test)]
mod tests {
    use super::{BatchTotals, Totals};

    #[test]
    fn settlement_totals_are_the_documents_62_digits() {
        // docs/iso8583.md §9.3: 3 sales for ¥1,234.56 and 1 refund of ¥50.00.
        let domestic = Totals { debit_minor: 123_456, debit_count: 3, credit_minor: 5_000, credit_count: 1 };
        let field = BatchTotals { domestic, ..BatchTotals::default() }.field48();
        assert_eq!(field.len(), 62);
        assert_eq!(&field[..31], "0000001234560030000000050000010");
        assert!(field[31..].bytes().all(|b| b == b'0'));
        // A foreign sale of ¥10.00 goes to the second half.
        let mut foreign = Totals::default();
        foreign.add(1_000, true);
        let field = BatchTotals { domestic, foreign }.field48();
        assert_eq!(&field[31..], "0000000010000010000000000000000");
    }
}

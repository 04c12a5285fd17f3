//! The China UnionPay POS profile: the field table, sub-field layouts (48, 60, 61, 63; 62 is
//! `xingtong_crypto::WorkingKeys`) and the message set.
//! `docs/iso8583.md` documents the same for people writing a terminal.

use std::sync::OnceLock;

use crate::message::Message;
use crate::spec::{Encoding::*, FieldSpec, Length::*, Spec};
use crate::{CodecError, Problem};

/// The CUP POS field table (reference/iso8583.md §3).
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        Spec::new(
            "CUP POS",
            &[
                FieldSpec::new(2, "primary account number", Bcd, Ll(19)).pan(),
                FieldSpec::new(3, "processing code", Bcd, Fixed(6)),
                FieldSpec::new(4, "amount, minor units", Bcd, Fixed(12)),
                FieldSpec::new(11, "system trace audit number", Bcd, Fixed(6)),
                FieldSpec::new(12, "local time hhmmss", Bcd, Fixed(6)),
                FieldSpec::new(13, "local date MMDD", Bcd, Fixed(4)),
                FieldSpec::new(14, "expiry YYMM", Bcd, Fixed(4)).secret(),
                FieldSpec::new(15, "settlement date MMDD", Bcd, Fixed(4)),
                FieldSpec::new(22, "entry mode", Bcd, Fixed(3)).left_aligned(),
                FieldSpec::new(23, "card sequence number", Bcd, Fixed(3)),
                FieldSpec::new(25, "condition code", Bcd, Fixed(2)),
                FieldSpec::new(26, "PIN capture code", Bcd, Fixed(2)),
                FieldSpec::new(32, "acquirer id", Bcd, Ll(11)),
                FieldSpec::new(35, "track 2", Track, Ll(37)).secret(),
                FieldSpec::new(36, "track 3", Track, Lll(104)).secret(),
                FieldSpec::new(37, "retrieval reference number", Ascii, Fixed(12)),
                FieldSpec::new(38, "authorization code", Ascii, Fixed(6)),
                FieldSpec::new(39, "response code", Ascii, Fixed(2)),
                FieldSpec::new(41, "terminal id", Ascii, Fixed(8)),
                FieldSpec::new(42, "merchant id", Ascii, Fixed(15)),
                FieldSpec::new(44, "additional response data", Ascii, Ll(25)),
                FieldSpec::new(48, "settlement totals / batch upload detail", Bcd, Lll(322)),
                FieldSpec::new(49, "currency code", Ascii, Fixed(3)),
                FieldSpec::new(52, "PIN block", Binary, Fixed(8)).secret(),
                FieldSpec::new(53, "security control", Bcd, Fixed(16)),
                FieldSpec::new(54, "balance", Ascii, Lll(20)),
                FieldSpec::new(55, "IC card data", Binary, Lll(255)).secret(),
                FieldSpec::new(57, "QR payment data", Ascii, Lll(64)).secret(),
                FieldSpec::new(60, "transaction type, batch, network code, flags", Bcd, Lll(100)),
                FieldSpec::new(61, "original batch, STAN, date", Bcd, Lll(29)),
                FieldSpec::new(62, "working keys / terminal data", Binary, Lll(512)).secret(),
                FieldSpec::new(63, "operator / card organisation", Ascii, Lll(63)),
                FieldSpec::new(64, "MAC", Binary, Fixed(8)),
            ],
        )
    })
}

fn digits(value: &[u8], from: usize, len: usize, field: u8) -> Result<&str, CodecError> {
    let part = value.get(from..from + len).ok_or_else(|| {
        CodecError::field(field, Problem::Truncated { needed: len, available: value.len().saturating_sub(from) })
    })?;
    if !part.iter().all(u8::is_ascii_digit) {
        return Err(CodecError::field(field, Problem::InvalidCharacter));
    }
    Ok(std::str::from_utf8(part).expect("digits are ASCII"))
}

fn number(value: &[u8], from: usize, len: usize, field: u8) -> Result<u64, CodecError> {
    digits(value, from, len, field)?.parse().map_err(|_| CodecError::field(field, Problem::InvalidCharacter))
}

/// Field 60: 60.1 transaction type (n2), 60.2 batch number (n6), 60.3 network management code (n3),
/// then optional flags (60.4 onwards) kept as they came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field60 {
    /// 60.1, e.g. `22` sale.
    pub transaction_type: String,
    /// 60.2.
    pub batch: u32,
    /// 60.3, e.g. `003` sign-in with double-length keys, `000` financial.
    pub network_code: String,
    /// 60.4 onwards.
    pub flags: String,
}

impl Field60 {
    /// Reads field 60; 60.3 may be absent (then `000`).
    pub fn parse(value: &[u8]) -> Result<Field60, CodecError> {
        let transaction_type = digits(value, 0, 2, 60)?.to_owned();
        let batch = number(value, 2, 6, 60)? as u32;
        let network_code = if value.len() >= 11 { digits(value, 8, 3, 60)?.to_owned() } else { "000".to_owned() };
        let flags = if value.len() > 11 { digits(value, 11, value.len() - 11, 60)?.to_owned() } else { String::new() };
        Ok(Field60 { transaction_type, batch, network_code, flags })
    }

    /// Writes field 60.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{}{:06}{}{}", self.transaction_type, self.batch % 1_000_000, self.network_code, self.flags)
            .into_bytes()
    }
}

/// Field 61: the original transaction of a void, refund or completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field61 {
    /// Original batch.
    pub batch: u32,
    /// Original STAN.
    pub stan: u32,
    /// Original date MMDD (refunds and completions).
    pub date: Option<String>,
}

impl Field61 {
    /// Reads field 61.
    pub fn parse(value: &[u8]) -> Result<Field61, CodecError> {
        let batch = number(value, 0, 6, 61)? as u32;
        let stan = number(value, 6, 6, 61)? as u32;
        let date = if value.len() >= 16 { Some(digits(value, 12, 4, 61)?.to_owned()) } else { None };
        Ok(Field61 { batch, stan, date })
    }

    /// Writes field 61.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s = format!("{:06}{:06}", self.batch, self.stan);
        if let Some(date) = &self.date {
            s.push_str(date);
        }
        s.into_bytes()
    }
}

/// Field 63 of a request: the operator (cashier) number, two digits then a space (`01 `); `00` is
/// the supervisor.
pub fn parse_operator(value: &[u8]) -> Result<u8, CodecError> {
    let number = number(value, 0, 2, 63)? as u8;
    if value.get(2).is_some_and(|b| *b != b' ') {
        return Err(CodecError::field(63, Problem::InvalidCharacter));
    }
    Ok(number)
}

/// Field 63 for operator `number` (0–99).
pub fn operator_field(number: u8) -> Vec<u8> {
    assert!(number < 100, "operator numbers are two digits");
    format!("{number:02} ").into_bytes()
}

/// One side of the settlement totals in field 48: debits (sales) and credits (refunds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Σ debit amounts, minor units (n12).
    pub debit_amount: u64,
    /// Debit count (n3).
    pub debit_count: u16,
    /// Σ credit amounts (n12).
    pub credit_amount: u64,
    /// Credit count (n3).
    pub credit_count: u16,
}

/// Field 48 of a settlement (0500): domestic (RMB) and foreign-card totals, each followed by a
/// result digit: `0` in the request; in the response `1` balanced, `2` not balanced, `3` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SettlementTotals {
    /// Domestic cards.
    pub domestic: Totals,
    /// Result for domestic cards.
    pub domestic_result: u8,
    /// Foreign cards.
    pub foreign: Totals,
    /// Result for foreign cards.
    pub foreign_result: u8,
}

/// Settlement results in field 48.
pub mod settlement_result {
    /// In a request.
    pub const REQUEST: u8 = 0;
    /// 对账平.
    pub const BALANCED: u8 = 1;
    /// 对账不平: upload the batch.
    pub const UNBALANCED: u8 = 2;
    /// Error.
    pub const ERROR: u8 = 3;
}

impl SettlementTotals {
    /// Field 48's length: 2 × (12 + 3 + 12 + 3 + 1) digits.
    pub const LEN: usize = 62;

    /// Reads field 48 of a 0500/0510.
    pub fn parse(value: &[u8]) -> Result<SettlementTotals, CodecError> {
        if value.len() != Self::LEN {
            return Err(CodecError::field(48, Problem::WrongLength { expected: Self::LEN, got: value.len() }));
        }
        let side = |at: usize| -> Result<(Totals, u8), CodecError> {
            let totals = Totals {
                debit_amount: number(value, at, 12, 48)?,
                debit_count: number(value, at + 12, 3, 48)? as u16,
                credit_amount: number(value, at + 15, 12, 48)?,
                credit_count: number(value, at + 27, 3, 48)? as u16,
            };
            Ok((totals, number(value, at + 30, 1, 48)? as u8))
        };
        let (domestic, domestic_result) = side(0)?;
        let (foreign, foreign_result) = side(31)?;
        Ok(SettlementTotals { domestic, domestic_result, foreign, foreign_result })
    }

    /// Writes field 48; amounts above 12 digits or counts above 3 are an error.
    pub fn to_bytes(&self) -> Result<Vec<u8>, CodecError> {
        let mut s = String::with_capacity(Self::LEN);
        for (t, result) in [(self.domestic, self.domestic_result), (self.foreign, self.foreign_result)] {
            let fits = t.debit_amount < 1_000_000_000_000
                && t.credit_amount < 1_000_000_000_000
                && t.debit_count < 1_000
                && t.credit_count < 1_000
                && result <= 9;
            if !fits {
                return Err(CodecError::field(48, Problem::TooLong { max: 12, got: 13 }));
            }
            s.push_str(&format!(
                "{:012}{:03}{:012}{:03}{}",
                t.debit_amount, t.debit_count, t.credit_amount, t.credit_count, result
            ));
        }
        Ok(s.into_bytes())
    }
}

/// True for a card of a foreign organisation in settlement totals (外卡): Visa (first digit 4)
/// and Mastercard (51–55, 2221–2720). Every other card, UnionPay's 62 first, is domestic (内卡).
/// Host and terminal class a card by this one rule, so that their totals can agree.
pub fn foreign_card(pan: &str) -> bool {
    let prefix = |n: usize| pan.get(..n).and_then(|p| p.parse::<u32>().ok());
    matches!(prefix(1), Some(4))
        || matches!(prefix(2), Some(51..=55))
        || prefix(4).is_some_and(|p| (2221..=2720).contains(&p))
}

/// One transaction in a batch upload (0320, field 48). Its `Debug` masks the card number.
#[derive(Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// `00` CUP, `01` foreign.
    pub card_organisation: String,
    /// STAN.
    pub stan: u32,
    /// Card number (up to 20 digits, zero-padded on the left on the wire).
    pub pan: String,
    /// Amount, minor units.
    pub amount: u64,
}

impl std::fmt::Debug for BatchItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchItem")
            .field("card_organisation", &self.card_organisation)
            .field("stan", &self.stan)
            .field("pan", &crate::message::mask_pan(self.pan.as_bytes()))
            .finish_non_exhaustive()
    }
}

/// Field 48 of a batch upload: `NN` items (at most 8), 40 digits each.
pub fn parse_batch_items(value: &[u8]) -> Result<Vec<BatchItem>, CodecError> {
    let count = number(value, 0, 2, 48)? as usize;
    if count > 8 || value.len() != 2 + 40 * count {
        return Err(CodecError::field(48, Problem::WrongLength { expected: 2 + 40 * count.min(8), got: value.len() }));
    }
    (0..count)
        .map(|i| {
            let at = 2 + 40 * i;
            Ok(BatchItem {
                card_organisation: digits(value, at, 2, 48)?.to_owned(),
                stan: number(value, at + 2, 6, 48)? as u32,
                pan: digits(value, at + 8, 20, 48)?.trim_start_matches('0').to_owned(),
                amount: number(value, at + 28, 12, 48)?,
            })
        })
        .collect()
}

/// Writes field 48 of a batch upload.
pub fn batch_items_to_bytes(items: &[BatchItem]) -> Result<Vec<u8>, CodecError> {
    if items.len() > 8 {
        return Err(CodecError::field(48, Problem::TooLong { max: 8, got: items.len() }));
    }
    let mut s = format!("{:02}", items.len());
    for item in items {
        if item.pan.len() > 20 || item.card_organisation.len() != 2 {
            return Err(CodecError::field(48, Problem::InvalidCharacter));
        }
        s.push_str(&format!("{}{:06}{:0>20}{:012}", item.card_organisation, item.stan, item.pan, item.amount));
    }
    Ok(s.into_bytes())
}

/// The transactions of the CUP POS message set the host supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transaction {
    /// 0800, 60.3 001/003/004: sign-in 签到.
    SignIn,
    /// 0820, 60.3 002: sign-off 签退.
    SignOff,
    /// 0820, 60.3 301: echo test.
    Echo,
    /// 0200, 310000, 60.1 01: balance inquiry 查余.
    BalanceInquiry,
    /// 0200, 000000, 60.1 22: sale 消费.
    Sale,
    /// 0200, 000000, 60.1 22 with field 57: a sale paid with a wallet's payment code (扫码消费,
    /// the cashier scans the customer: B扫C).
    QrSale,
    /// 0200, 000000, 60.1 22 with field 57 `D…`, `Q…` or `C…`: a customer-scans order (C扫B):
    /// made, asked after, or closed ([`QrRequest`]).
    QrOrder,
    /// 0200, 200000, 60.1 23: void 撤销.
    Void,
    /// 0220, 200000, 60.1 25: refund 退货.
    Refund,
    /// 0100, 030000, 60.1 10: pre-authorization 预授权.
    PreAuthorization,
    /// 0100, 200000, 60.1 11: pre-authorization void.
    PreAuthorizationVoid,
    /// 0200, 000000, 60.1 20: pre-authorization completion 预授权完成.
    PreAuthorizationCompletion,
    /// 0200, 200000, 60.1 21: completion void.
    PreAuthorizationCompletionVoid,
    /// 0400: reversal 冲正 of any of the above.
    Reversal,
    /// 0500, 60.3 201: settlement 结算.
    Settlement,
    /// 0320, 60.3 201/203: batch upload 批上送.
    BatchUpload,
    /// 0320, 60.3 202/207: end of batch upload.
    BatchUploadEnd,
    /// A financial or settlement MTI (0100, 0200, 0220, 0320, 0500) whose processing code or
    /// 60.1/60.3 names no transaction of the set. It is MACed like the rest, so the host answers it
    /// 40 with a MAC: a terminal that checks reply MACs would otherwise reverse a request that was
    /// never processed.
    NotSupported,
}

/// Why a message is not one of the supported transactions (answered with response code 40).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MTI {mti} with processing code {processing_code:?} and 60.1/60.3 {kind:?} is not a supported transaction")]
pub struct Unsupported {
    /// The MTI.
    pub mti: String,
    /// Field 3, if any.
    pub processing_code: Option<String>,
    /// 60.1 and 60.3, if field 60 was readable.
    pub kind: Option<(String, String)>,
}

impl Transaction {
    /// Which transaction a request is, from its MTI, processing code and field 60.
    pub fn classify(message: &Message) -> Result<Transaction, Unsupported> {
        let field60 = message.get(60).and_then(|v| Field60::parse(v).ok());
        let processing_code = message.get_str(3);
        let kind = field60.as_ref().map(|f| (f.transaction_type.as_str(), f.network_code.as_str()));
        let transaction = match (message.mti.as_str(), processing_code, kind) {
            ("0800", _, Some((_, "001" | "003" | "004"))) => Some(Transaction::SignIn),
            ("0820", _, Some((_, "002"))) => Some(Transaction::SignOff),
            ("0820", _, Some((_, "301"))) => Some(Transaction::Echo),
            ("0200", Some("310000"), Some(("01", _))) => Some(Transaction::BalanceInquiry),
            ("0200", Some("000000"), Some(("22", _))) if message.get(57).is_some_and(|f| f.first() != Some(&b'B')) => {
                Some(Transaction::QrOrder)
            }
            ("0200", Some("000000"), Some(("22", _))) if message.has(57) => Some(Transaction::QrSale),
            ("0200", Some("000000"), Some(("22", _))) => Some(Transaction::Sale),
            ("0200", Some("200000"), Some(("23", _))) => Some(Transaction::Void),
            ("0220", Some("200000"), Some(("25", _))) => Some(Transaction::Refund),
            ("0100", Some("030000"), Some(("10", _))) => Some(Transaction::PreAuthorization),
            ("0100", Some("200000"), Some(("11", _))) => Some(Transaction::PreAuthorizationVoid),
            ("0200", Some("000000"), Some(("20", _))) => Some(Transaction::PreAuthorizationCompletion),
            ("0200", Some("200000"), Some(("21", _))) => Some(Transaction::PreAuthorizationCompletionVoid),
            ("0400", _, _) => Some(Transaction::Reversal),
            ("0500", _, Some((_, "201"))) => Some(Transaction::Settlement),
            ("0320", _, Some((_, "201" | "203"))) => Some(Transaction::BatchUpload),
            ("0320", _, Some((_, "202" | "207"))) => Some(Transaction::BatchUploadEnd),
            ("0100" | "0200" | "0220" | "0320" | "0500", _, _) => Some(Transaction::NotSupported),
            _ => None,
        };
        transaction.ok_or_else(|| Unsupported {
            mti: message.mti.to_string(),
            processing_code: processing_code.map(str::to_owned),
            kind: field60.map(|f| (f.transaction_type, f.network_code)),
        })
    }

    /// True for messages that must carry a valid MAC (everything but network management).
    pub fn needs_mac(self) -> bool {
        !matches!(self, Transaction::SignIn | Transaction::SignOff | Transaction::Echo)
    }

    /// The fields a request must carry besides 11, 41 and 42 (docs/iso8583.md §5), field 64
    /// included for MACed requests. Card-reading requests also need field 2 or 35, which
    /// [`Transaction::check_fields`] checks.
    pub fn mandatory_fields(self) -> &'static [u8] {
        match self {
            Transaction::SignIn => &[52, 60, 63],
            Transaction::SignOff | Transaction::Echo => &[60],
            Transaction::BalanceInquiry => &[3, 22, 25, 49, 53, 60, 64],
            Transaction::Sale | Transaction::PreAuthorization => &[3, 4, 22, 25, 49, 53, 60, 64],
            Transaction::QrSale | Transaction::QrOrder => &[3, 4, 22, 25, 49, 57, 60, 64],
            Transaction::Void | Transaction::PreAuthorizationCompletionVoid => &[3, 4, 22, 25, 49, 52, 60, 61, 64],
            Transaction::Refund => &[3, 4, 22, 25, 37, 49, 52, 60, 61, 63, 64],
            Transaction::PreAuthorizationVoid | Transaction::PreAuthorizationCompletion => {
                &[3, 4, 22, 25, 38, 49, 60, 61, 64]
            }
            Transaction::Reversal => &[3, 4, 22, 25, 39, 49, 60, 64],
            Transaction::Settlement => &[48, 49, 60, 63, 64],
            Transaction::BatchUpload | Transaction::BatchUploadEnd => &[48, 60, 64],
            Transaction::NotSupported => &[64],
        }
    }

    /// True for requests that read the card (and may carry the cardholder's PIN).
    pub fn reads_card(self) -> bool {
        matches!(self, Transaction::BalanceInquiry | Transaction::Sale | Transaction::PreAuthorization)
    }

    /// Checks a request against the profile's table (docs/iso8583.md §5): fields 11, 41, 42 and
    /// [`Transaction::mandatory_fields`] present; a terminal STAN ([`terminal_stan`]); field 2 or
    /// 35 on card-reading requests, with field 26 exactly when field 52 carries the cardholder's
    /// PIN; field 53 one the host can use ([`security_control_ok`]); fields 60 and 61 readable,
    /// 61 with the original's date on refunds and completions; a refund's reason in field 63.
    /// The host answers any fault 30.
    pub fn check_fields(self, message: &Message) -> Result<(), FieldFault> {
        for field in [11, 41, 42].iter().chain(self.mandatory_fields()) {
            if !message.has(*field) {
                return Err(FieldFault::Missing(*field));
            }
        }
        if message.get_str(11).and_then(terminal_stan).is_none() {
            return Err(FieldFault::Invalid(11));
        }
        if self.reads_card() {
            if !message.has(2) && !message.has(35) {
                return Err(FieldFault::Missing(2));
            }
            match (message.has(26), message.has(52)) {
                (false, true) => return Err(FieldFault::Missing(26)),
                (true, false) => return Err(FieldFault::Missing(52)),
                _ => {}
            }
        }
        if message.get(53).is_some_and(|f| !security_control_ok(f)) {
            return Err(FieldFault::Invalid(53));
        }
        if message.get(60).is_some_and(|f| Field60::parse(f).is_err()) {
            return Err(FieldFault::Invalid(60));
        }
        if let Some(f61) = message.get(61) {
            let dated = matches!(self, Transaction::Refund | Transaction::PreAuthorizationCompletion);
            match Field61::parse(f61) {
                Err(_) => return Err(FieldFault::Invalid(61)),
                Ok(f) if dated && !f.date.as_deref().is_some_and(mmdd_ok) => return Err(FieldFault::Invalid(61)),
                Ok(_) => {}
            }
        }
        if self == Transaction::Refund && message.get(63).and_then(refund_reason).is_none() {
            return Err(FieldFault::Invalid(63));
        }
        if matches!(self, Transaction::QrSale | Transaction::QrOrder) {
            if message.has(2) || message.has(35) || message.has(52) {
                return Err(FieldFault::Invalid(57));
            }
            let readable = match self {
                Transaction::QrSale => message.get(57).and_then(qr_payment_code).is_some(),
                _ => message.get(57).and_then(QrRequest::parse).is_some(),
            };
            if !readable {
                return Err(FieldFault::Invalid(57));
            }
        }
        Ok(())
    }
}

/// A request field the profile's table (docs/iso8583.md §5) says must be there, or be otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FieldFault {
    /// A mandatory field is missing.
    #[error("field {0} is mandatory")]
    Missing(u8),
    /// A field's value is not one the profile allows.
    #[error("field {0} has a value the profile does not allow")]
    Invalid(u8),
}

/// The highest STAN a terminal may use: 000001–899999 are the terminals', 900001–999999 the
/// host's (JSON payments on a terminal take theirs from there), so the two never collide.
pub const TERMINAL_STAN_MAX: u32 = 899_999;

/// Field 11 as a terminal's STAN: six digits, 000001–[`TERMINAL_STAN_MAX`].
pub fn terminal_stan(field11: &str) -> Option<u32> {
    if field11.len() != 6 {
        return None;
    }
    field11.parse::<u32>().ok().filter(|stan| (1..=TERMINAL_STAN_MAX).contains(stan))
}

/// Field 53 (n16) as this host reads it: digit 1 `2` (a format 0 PIN block), digit 2 the key
/// length (`6` double, `0` single; the host uses the keys of the sign-in whatever it says), digit 3
/// `0` (track data in clear: the host does not decrypt tracks), then zeros.
pub fn security_control_ok(field53: &[u8]) -> bool {
    field53.len() == 16
        && field53[0] == b'2'
        && matches!(field53[1], b'0' | b'6')
        && field53[2..].iter().all(|d| *d == b'0')
}

/// A date as `MMDD` (month 01–12, day 01–31).
fn mmdd_ok(date: &str) -> bool {
    if date.len() != 4 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let (month, day) = (date[..2].parse::<u8>().unwrap_or(0), date[2..].parse::<u8>().unwrap_or(0));
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// The payment code a QR sale's field 57 carries: `B` (the cashier scanned the customer's code),
/// then what the scanner read, 1 to 63 visible ASCII characters (the host knows the wallet by the
/// code's shape, docs/qr.md; anything else it answers as not recognised).
pub fn qr_payment_code(field57: &[u8]) -> Option<&str> {
    let rest = field57.strip_prefix(b"B")?;
    (!rest.is_empty() && rest.iter().all(|b| b.is_ascii_graphic())).then(|| std::str::from_utf8(rest).ok()).flatten()
}

/// Field 57 of a customer-scans order request (docs/iso8583.md §5.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrRequest {
    /// `D`, the wallet's three letters, and optionally how many minutes it can be paid (four
    /// digits, 0001–1440; two hours when left out): make a dynamic code for field 4's amount.
    Order {
        /// `WXP`, `ALP` or `UPQ`.
        wallet: String,
        /// Minutes, when given.
        minutes: Option<u16>,
    },
    /// `Q` and the order's STAN (six digits): where the order stands.
    Query(u32),
    /// `C` and the order's STAN: close it (关单).
    Close(u32),
}

impl QrRequest {
    /// Reads the field; `None` when it is none of the three.
    pub fn parse(field57: &[u8]) -> Option<QrRequest> {
        let text = std::str::from_utf8(field57).ok()?;
        let stan = |rest: &str| terminal_stan(rest);
        match text.get(..1)? {
            "D" => {
                let wallet = text.get(1..4).filter(|w| ["WXP", "ALP", "UPQ"].contains(w))?;
                let minutes = match text.get(4..)? {
                    "" => None,
                    m if m.len() == 4 && m.bytes().all(|b| b.is_ascii_digit()) => {
                        Some(m.parse::<u16>().ok().filter(|m| (1..=1_440).contains(m))?)
                    }
                    _ => return None,
                };
                Some(QrRequest::Order { wallet: wallet.into(), minutes })
            }
            "Q" => Some(QrRequest::Query(stan(text.get(1..)?)?)),
            "C" => Some(QrRequest::Close(stan(text.get(1..)?)?)),
            _ => None,
        }
    }

    /// Writes the field.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            QrRequest::Order { wallet, minutes: None } => format!("D{wallet}"),
            QrRequest::Order { wallet, minutes: Some(m) } => format!("D{wallet}{m:04}"),
            QrRequest::Query(stan) => format!("Q{stan:06}"),
            QrRequest::Close(stan) => format!("C{stan:06}"),
        }
        .into_bytes()
    }
}

/// Field 57 of a QR reply: the wallet (`WXP` WeChat Pay, `ALP` Alipay, `UPQ` UnionPay QR, `QRX`
/// not recognised), `P` paid, `N` not, or `W` waiting for the customer to scan (a customer-scans
/// order), the reason (two digits, `00` when paid or waiting; docs/iso8583.md §5.5), then the
/// wallet's payment id when paid, or the code's URL when waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrReply {
    /// Three letters.
    pub wallet: String,
    /// Paid.
    pub paid: bool,
    /// `00` paid or waiting; else why not.
    pub reason: String,
    /// The wallet's payment id (交易单号), when paid.
    pub wallet_txn_id: String,
    /// Waiting: the code's URL to draw, for the customer to scan.
    pub code_url: Option<String>,
}

impl QrReply {
    /// Writes the field.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.code_url {
            Some(url) => format!("{}W{}{url}", self.wallet, self.reason),
            None => {
                format!("{}{}{}{}", self.wallet, if self.paid { 'P' } else { 'N' }, self.reason, self.wallet_txn_id)
            }
        }
        .into_bytes()
    }

    /// Reads the field.
    pub fn parse(value: &[u8]) -> Option<QrReply> {
        let text = std::str::from_utf8(value).ok()?;
        let wallet = text.get(..3).filter(|w| w.bytes().all(|b| b.is_ascii_uppercase()))?;
        let state = text.get(3..4)?;
        let reason = text.get(4..6).filter(|r| r.bytes().all(|b| b.is_ascii_digit()))?;
        let rest = text[6..].to_owned();
        let (paid, wallet_txn_id, code_url) = match state {
            "P" => (true, rest, None),
            "N" => (false, rest, None),
            "W" => (false, String::new(), Some(rest)),
            _ => return None,
        };
        Some(QrReply { wallet: wallet.into(), paid, reason: reason.into(), wallet_txn_id, code_url })
    }
}

/// The reason code of a refund's field 63 (after the operator): `01` customer return, `02` wrong
/// amount, `03` duplicate charge, `04` other.
pub fn refund_reason(field63: &[u8]) -> Option<&str> {
    parse_operator(field63).ok()?;
    let reason = std::str::from_utf8(field63.get(3..5)?).ok()?;
    ["01", "02", "03", "04"].contains(&reason).then_some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Mti;

    #[test]
    fn a_qr_sale_is_told_by_its_field_57_and_its_reply_field_round_trips() {
        let mut m = Message::new(Mti::new("0200").unwrap());
        m.set(3, "000000");
        m.set(60, "22000001000");
        assert_eq!(Transaction::classify(&m), Ok(Transaction::Sale));
        m.set(57, "B134567890123456789");
        assert_eq!(Transaction::classify(&m), Ok(Transaction::QrSale));
        assert_eq!(qr_payment_code(b"B134567890123456789"), Some("134567890123456789"));
        for bad in [&b"134567890123456789"[..], b"B", b"B12 34", b"C1234"] {
            assert_eq!(qr_payment_code(bad), None, "{bad:?}");
        }
        let reply = QrReply {
            wallet: "WXP".into(),
            paid: true,
            reason: "00".into(),
            wallet_txn_id: "2026112800001".into(),
            code_url: None,
        };
        assert_eq!(reply.to_bytes(), b"WXPP002026112800001");
        assert_eq!(QrReply::parse(&reply.to_bytes()), Some(reply));
        let declined = QrReply {
            wallet: "ALP".into(),
            paid: false,
            reason: "04".into(),
            wallet_txn_id: String::new(),
            code_url: None,
        };
        assert_eq!(QrReply::parse(b"ALPN04"), Some(declined));
        let waiting = QrReply::parse(b"UPQW00xtsandbox://unionpay_qr/Ab3").unwrap();
        assert_eq!((waiting.paid, waiting.code_url.as_deref()), (false, Some("xtsandbox://unionpay_qr/Ab3")));
        assert_eq!(waiting.to_bytes(), b"UPQW00xtsandbox://unionpay_qr/Ab3");
        assert_eq!(QrReply::parse(b"ALPX04"), None);
        assert_eq!(QrReply::parse(b"AL"), None);
    }

    #[test]
    fn a_customer_scans_order_is_told_by_its_field_57() {
        let mut m = Message::new(Mti::new("0200").unwrap());
        m.set(3, "000000");
        m.set(60, "22000001000");
        for (field, request) in [
            ("DWXP", QrRequest::Order { wallet: "WXP".into(), minutes: None }),
            ("DALP0030", QrRequest::Order { wallet: "ALP".into(), minutes: Some(30) }),
            ("Q000123", QrRequest::Query(123)),
            ("C000123", QrRequest::Close(123)),
        ] {
            m.set(57, field);
            assert_eq!(Transaction::classify(&m), Ok(Transaction::QrOrder), "{field}");
            assert_eq!(QrRequest::parse(field.as_bytes()), Some(request.clone()), "{field}");
            assert_eq!(request.to_bytes(), field.as_bytes());
        }
        for bad in ["D", "DXYZ", "DWXP0", "DWXP0000", "DWXP1441", "Q12345", "Q000000", "Q900001", "C12345a", "X"] {
            assert_eq!(QrRequest::parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn a_batch_item_never_prints_its_card_number() {
        let item = BatchItem { card_organisation: "00".into(), stan: 7, pan: "6222021234567890128".into(), amount: 1 };
        let shown = format!("{item:?}");
        assert!(!shown.contains("1234567890") && shown.contains("0128"), "{shown}");
    }

    #[test]
    fn field60_and_field61_round_trip() {
        let f = Field60::parse(b"22000001000").unwrap();
        assert_eq!((f.transaction_type.as_str(), f.batch, f.network_code.as_str()), ("22", 1, "000"));
        assert_eq!(f.to_bytes(), b"22000001000");
        assert_eq!(Field60::parse(b"22000001").unwrap().network_code, "000");
        assert!(Field60::parse(b"2200").is_err());
        assert!(Field60::parse(b"22a00001000").is_err());
        assert_eq!(parse_operator(&operator_field(1)), Ok(1));
        assert_eq!(parse_operator(b"00"), Ok(0));
        assert!(parse_operator(b"0x ").is_err() && parse_operator(b"01X").is_err() && parse_operator(b"1").is_err());
        let f = Field61 { batch: 12, stan: 345, date: Some("1122".into()) };
        assert_eq!(Field61::parse(&f.to_bytes()).unwrap(), f);
    }

    #[test]
    fn settlement_totals_and_batch_items_round_trip() {
        let totals = SettlementTotals {
            domestic: Totals { debit_amount: 123_456, debit_count: 7, credit_amount: 1_000, credit_count: 1 },
            domestic_result: settlement_result::REQUEST,
            foreign: Totals::default(),
            foreign_result: settlement_result::REQUEST,
        };
        let bytes = totals.to_bytes().unwrap();
        assert_eq!(bytes.len(), SettlementTotals::LEN);
        assert_eq!(SettlementTotals::parse(&bytes).unwrap(), totals);
        assert!(SettlementTotals::parse(&bytes[..61]).is_err());
        let items = vec![BatchItem {
            card_organisation: "00".into(),
            stan: 12,
            pan: "6222021234567890123".into(),
            amount: 5_100,
        }];
        let bytes = batch_items_to_bytes(&items).unwrap();
        assert_eq!(bytes.len(), 42);
        assert_eq!(parse_batch_items(&bytes).unwrap(), items);
        assert!(parse_batch_items(b"09").is_err());
    }

    #[test]
    fn the_message_set_is_recognised() {
        let message = |mti: &str, f3: Option<&str>, f60: &str| {
            let mut m = Message::new(Mti::new(mti).unwrap());
            if let Some(f3) = f3 {
                m.set(3, f3);
            }
            m.set(60, f60);
            m
        };
        let cases = [
            (message("0800", None, "00000001003"), Some(Transaction::SignIn)),
            (message("0820", None, "00000001301"), Some(Transaction::Echo)),
            (message("0820", None, "00000001002"), Some(Transaction::SignOff)),
            (message("0200", Some("000000"), "22000001000"), Some(Transaction::Sale)),
            (message("0200", Some("200000"), "23000001000"), Some(Transaction::Void)),
            (message("0220", Some("200000"), "25000001000"), Some(Transaction::Refund)),
            (message("0200", Some("310000"), "01000001000"), Some(Transaction::BalanceInquiry)),
            (message("0100", Some("030000"), "10000001000"), Some(Transaction::PreAuthorization)),
            (message("0200", Some("000000"), "20000001000"), Some(Transaction::PreAuthorizationCompletion)),
            (message("0400", Some("000000"), "22000001000"), Some(Transaction::Reversal)),
            (message("0500", None, "00000001201"), Some(Transaction::Settlement)),
            (message("0320", None, "00000001202"), Some(Transaction::BatchUploadEnd)),
            (message("0200", Some("990000"), "22000001000"), Some(Transaction::NotSupported)),
            (message("0500", None, "00000001999"), Some(Transaction::NotSupported)),
            (message("0800", None, "00000001999"), None),
            (message("0600", None, "00000001000"), None),
        ];
        for (m, expected) in cases {
            assert_eq!(Transaction::classify(&m).ok(), expected, "{}", m.mti);
        }
        assert!(Transaction::Sale.needs_mac() && !Transaction::Echo.needs_mac());
    }

    #[test]
    fn mandatory_fields_are_checked() {
        let sale = || {
            let mut m = Message::new(Mti::new("0200").unwrap());
            m.set(2, "6222021234567890128").set(3, "000000").set(4, "000000000100").set(11, "000042");
            m.set(22, "021").set(25, "00").set(26, "06").set(41, "12345678").set(42, "898100012340001");
            m.set(49, "156").set(52, vec![0u8; 8]).set(53, "2600000000000000").set(60, "22000001000");
            m.set(64, vec![0u8; 8]);
            m
        };
        let check = |edit: &dyn Fn(&mut Message)| {
            let mut m = sale();
            edit(&mut m);
            Transaction::Sale.check_fields(&m)
        };
        assert_eq!(check(&|_| {}), Ok(()));
        assert_eq!(
            check(&|m| {
                m.remove(53);
            }),
            Err(FieldFault::Missing(53))
        );
        assert_eq!(
            check(&|m| {
                m.remove(26);
            }),
            Err(FieldFault::Missing(26)),
            "field 52 needs field 26"
        );
        assert_eq!(
            check(&|m| {
                m.remove(52);
            }),
            Err(FieldFault::Missing(52)),
            "field 26 only with field 52"
        );
        assert_eq!(
            check(&|m| {
                m.remove(2);
            }),
            Err(FieldFault::Missing(2)),
            "field 2 or 35"
        );
        assert_eq!(
            check(&|m| {
                m.set(53, "2610000000000000");
            }),
            Err(FieldFault::Invalid(53)),
            "no track encryption"
        );
        for stan in ["000000", "900000", "900009", "999999"] {
            assert_eq!(
                check(&|m| {
                    m.set(11, stan);
                }),
                Err(FieldFault::Invalid(11)),
                "{stan}"
            );
        }
        assert_eq!(
            check(&|m| {
                m.set(11, "899999");
            }),
            Ok(())
        );
        assert_eq!(terminal_stan("000001"), Some(1));
        // A refund: field 37, the original's date in 61 and a reason in 63.
        let mut refund = sale();
        refund.mti = Mti::new("0220").unwrap();
        refund.remove(2);
        refund.remove(26);
        refund.remove(53);
        refund.set(3, "200000").set(22, "012").set(37, "120000000001").set(60, "25000001000");
        refund.set(61, "0000010000421122").set(63, "01 01");
        assert_eq!(Transaction::Refund.check_fields(&refund), Ok(()));
        for (field, value, fault) in [
            (61, "000001000042", FieldFault::Invalid(61)),
            (61, "0000010000421322", FieldFault::Invalid(61)),
            (63, "01 07", FieldFault::Invalid(63)),
            (63, "01 ", FieldFault::Invalid(63)),
        ] {
            let mut m = refund.clone();
            m.set(field, value);
            assert_eq!(Transaction::Refund.check_fields(&m), Err(fault), "{field} {value}");
        }
        let mut m = refund.clone();
        m.remove(37);
        assert_eq!(Transaction::Refund.check_fields(&m), Err(FieldFault::Missing(37)));
        assert_eq!(refund_reason(b"01 04"), Some("04"));
    }

    #[test]
    fn the_profile_is_consistent() {
        let spec = spec();
        assert_eq!(spec.fields().count(), 33);
        assert!(spec.field(64).is_some() && spec.field(1).is_none() && spec.field(65).is_none());
    }
}

//! Reconciliation (对账): the card network's daily clearing file against the host's own
//! transactions of that business day.
//!
//! The network sends one line per transaction it considers settled (the file format is in
//! docs/settlement.md §6). The host matches each line to its transaction by terminal, batch and
//! trace number (STAN), and reports:
//!
//! - **matched**: both have it, with the same amount and type;
//! - **host only** (短款 for the merchant's money: we moved money the network will not): e.g. a
//!   void the network never received;
//! - **network only** (长款): e.g. a late approval of a sale the host had reversed, so the
//!   cardholder was charged while the host recorded nothing;
//! - **amount mismatch** (金额不符);
//!
//! each with a suggested action. The report of a day is stored once; running the day again
//! recomputes it and keeps the stored one when nothing changed (a changed file makes a new version,
//! audited). The sandbox network writes its file from the host's records as a network that saw
//! every message would, with discrepancies injected for tests (`ClearingFault`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::{Entity, Stored, insert, list, load};
use xingtong_merchants::merchant::Merchant;
use xingtong_merchants::{Class, Error};
use xingtong_store::{Change, RecordQuery, Store, TxnQuery};

use crate::engine::{Engine, Result};
use crate::txn::{CardTransaction, Kind, Status};

/// Whose file a reconciliation reads: the card network's clearing file, or one wallet's daily
/// bill file (对账单). Each sees only its own payments; the file format is the same, with the
/// source's tag in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The card network (`XTN`).
    Card,
    /// A wallet (`WXP` WeChat Pay, `ALP` Alipay, `UPQ` UnionPay QR).
    Wallet(crate::qr::Scheme),
}

impl Source {
    /// `card`, `wechat`, `alipay` or `unionpay_qr`: the method of the payments it covers.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Card => "card",
            Source::Wallet(scheme) => scheme.as_str(),
        }
    }

    /// From [`Source::as_str`].
    pub fn parse(text: &str) -> Option<Source> {
        if text == "card" {
            return Some(Source::Card);
        }
        crate::qr::Scheme::ALL.into_iter().find(|s| s.as_str() == text).map(Source::Wallet)
    }

    /// The tag in its file's header and name.
    pub fn tag(self) -> &'static str {
        match self {
            Source::Card => "XTN",
            Source::Wallet(scheme) => scheme.tag(),
        }
    }

    /// Every source.
    pub const ALL: [Source; 4] = [
        Source::Card,
        Source::Wallet(crate::qr::Scheme::Wechat),
        Source::Wallet(crate::qr::Scheme::Alipay),
        Source::Wallet(crate::qr::Scheme::UnionpayQr),
    ];
}

/// A network's clearing file as delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearingFile {
    /// e.g. `XTN_20261127.txt`.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// One detail line of a clearing file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLine {
    /// The line number in the file (from 1, the header being 1).
    pub line: u32,
    /// Transaction code: `S22` sale, `S23` completion, `S31` void, `S32` completion void, `S25` refund.
    pub code: String,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// Batch.
    pub batch: u32,
    /// Trace number.
    pub stan: u32,
    /// `MMDDhhmmss`, China time.
    pub at: String,
    /// The card, masked.
    pub pan_masked: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Retrieval reference number.
    pub rrn: String,
    /// Authorization code (`000000` when none).
    pub auth_code: String,
}

/// The file code of a transaction type the network settles, or `None`.
pub fn file_code(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Sale => Some("S22"),
        Kind::Completion => Some("S23"),
        Kind::Void => Some("S31"),
        Kind::CompletionVoid => Some("S32"),
        Kind::Refund => Some("S25"),
        _ => None,
    }
}

/// True for a transaction the network settles: one of the types above, neither declined nor
/// reversed (a voided sale stays: its void is a line of its own).
pub fn settles(txn: &CardTransaction) -> bool {
    file_code(txn.kind).is_some() && !matches!(txn.status, Status::Declined | Status::Reversed | Status::Pending)
}

fn line_of(txn: &CardTransaction) -> FileLine {
    let (hhmmss, mmdd) = crate::clock::fields_12_13_at(txn.at);
    FileLine {
        line: 0,
        code: file_code(txn.kind).unwrap_or("S22").into(),
        mid: txn.mid.clone(),
        tid: txn.tid.clone(),
        batch: txn.batch,
        stan: txn.stan,
        at: format!("{mmdd}{hhmmss}"),
        pan_masked: match &txn.qr {
            Some(qr) => qr.payer.clone().unwrap_or_else(|| "-".into()),
            None => txn.pan_masked.clone(),
        },
        amount_minor: txn.amount_minor.abs(),
        rrn: txn.rrn.clone(),
        auth_code: txn.auth_code.clone().unwrap_or_else(|| "000000".into()),
    }
}

/// The card network's file text: a header, one fixed-width line per transaction, a trailer.
pub fn render(day: &str, lines: &[FileLine]) -> String {
    render_of(Source::Card, day, lines)
}

/// A source's file text (a wallet's lines carry the payer where a card's carry the number).
pub fn render_of(source: Source, day: &str, lines: &[FileLine]) -> String {
    let mut text = format!("000 {} {day} {:08}\n", source.tag(), lines.len());
    let (mut debit, mut credit) = (0i64, 0i64);
    for l in lines {
        if matches!(l.code.as_str(), "S22" | "S23") {
            debit += l.amount_minor;
        } else {
            credit += l.amount_minor;
        }
        text.push_str(&format!(
            "{} {:<15} {:<8} {:06} {:06} {:<10} {:<19} {:012} {:<12} {:<6}\n",
            l.code, l.mid, l.tid, l.batch, l.stan, l.at, l.pan_masked, l.amount_minor, l.rrn, l.auth_code
        ));
    }
    text.push_str(&format!("999 {:08} {debit:015} {credit:015}\n", lines.len()));
    text
}

fn bad(line: usize, why: impl std::fmt::Display) -> Error {
    Error::new(Class::Unprocessable, "invalid_clearing_file", format!("line {line}: {why}"))
}

fn number<T: std::str::FromStr>(field: &str, line: usize, name: &str, width: usize) -> Result<T> {
    if field.len() != width || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(line, format!("{name} is {width} digits, not {field:?}")));
    }
    field.parse().map_err(|_| bad(line, format!("{name} {field:?}")))
}

/// Reads a clearing file strictly: the header's day and count and the trailer's count and sums
/// must agree with the lines. Returns the business day and the lines.
pub fn parse(text: &str) -> Result<(String, Vec<FileLine>)> {
    parse_of(Source::Card, text)
}

/// Reads a source's file strictly (its tag in the header).
pub fn parse_of(source: Source, text: &str) -> Result<(String, Vec<FileLine>)> {
    let rows: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = rows.first().map(|r| r.split_whitespace().collect()).unwrap_or_default();
    let expected = || format!("the header is `000 {} YYYYMMDD count`", source.tag());
    let [tag, name, day, count] = header[..] else { return Err(bad(1, expected())) };
    if tag != "000" || name != source.tag() || !crate::clearing::valid_day(day) {
        return Err(bad(1, expected()));
    }
    let count: usize = number(count, 1, "the count", 8)?;
    let mut lines = Vec::new();
    let (mut debit, mut credit) = (0i64, 0i64);
    let mut trailer = None;
    for (i, row) in rows.iter().enumerate().skip(1) {
        let n = i + 1;
        let fields: Vec<&str> = row.split_whitespace().collect();
        if trailer.is_some() {
            if fields.is_empty() {
                continue;
            }
            return Err(bad(n, "a line after the trailer"));
        }
        if fields.first() == Some(&"999") {
            let [_, c, d, cr] = fields[..] else { return Err(bad(n, "the trailer is `999 count debit credit`")) };
            trailer = Some((
                number::<usize>(c, n, "the count", 8)?,
                number(d, n, "Σ debit", 15)?,
                number(cr, n, "Σ credit", 15)?,
            ));
            continue;
        }
        let [code, mid, tid, batch, stan, at, pan, amount, rrn, auth] = fields[..] else {
            return Err(bad(n, format!("a detail line has 10 fields, this one {}", fields.len())));
        };
        if !matches!(code, "S22" | "S23" | "S31" | "S32" | "S25") {
            return Err(bad(n, format!("unknown transaction code {code:?}")));
        }
        let amount_minor: i64 = number(amount, n, "the amount", 12)?;
        if matches!(code, "S22" | "S23") {
            debit += amount_minor;
        } else {
            credit += amount_minor;
        }
        lines.push(FileLine {
            line: u32::try_from(n).unwrap_or(u32::MAX),
            code: code.into(),
            mid: mid.into(),
            tid: tid.into(),
            batch: number(batch, n, "the batch", 6)?,
            stan: number(stan, n, "the trace number", 6)?,
            at: at.into(),
            pan_masked: pan.into(),
            amount_minor,
            rrn: rrn.into(),
            auth_code: auth.into(),
        });
    }
    let Some((trailer_count, trailer_debit, trailer_credit)) = trailer else {
        return Err(bad(rows.len(), "no trailer (`999 …`): the file is cut short"));
    };
    if count != lines.len() || trailer_count != lines.len() || (trailer_debit, trailer_credit) != (debit, credit) {
        return Err(bad(
            rows.len(),
            format!(
                "the header and trailer say {count} and {trailer_count} lines, Σ {trailer_debit}/{trailer_credit}; the file has {} lines, Σ {debit}/{credit}",
                lines.len()
            ),
        ));
    }
    Ok((day.to_owned(), lines))
}

/// Every transaction of a business day of one source (cards, or one wallet's).
pub async fn day_transactions_of(store: &Store, day: &str, source: Source) -> Result<Vec<CardTransaction>> {
    let mut all = day_transactions(store, day).await?;
    all.retain(|t| t.method() == source.as_str());
    Ok(all)
}

/// Every transaction of a business day, merchant by merchant (each through its index).
pub async fn day_transactions(store: &Store, day: &str) -> Result<Vec<CardTransaction>> {
    let mut merchants = RecordQuery::kind(Merchant::KIND);
    merchants.limit = xingtong_store::PAGE_LIMIT_MAX;
    let mut all = Vec::new();
    loop {
        let page = store.records(merchants.clone()).await?;
        let full = page.len() == merchants.limit as usize;
        merchants.after = page.last().map(|r| (r.created_at, r.id.clone()));
        for merchant in page {
            let query = TxnQuery {
                merchant: Some(merchant.id.clone()),
                day_from: Some(day.to_owned()),
                day_to: Some(day.to_owned()),
                ..TxnQuery::default()
            };
            all.extend(crate::clearing::query_all(store, query).await?);
        }
        if !full {
            return Ok(all);
        }
    }
}

/// A discrepancy injected into the sandbox network's clearing file (tests, demos).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearingFault {
    /// `flt_<YYYYMMDD>_<transaction id>`.
    pub id: String,
    /// The business day's file it changes.
    pub business_day: String,
    /// The host transaction it concerns.
    pub txn_id: String,
    /// What the network does differently.
    pub kind: FaultKind,
    /// For `amount`: what the network adds to the amount (minor units, may be negative).
    pub delta_minor: i64,
}

/// What an injected fault does to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The network never saw it: the line is missing (host only).
    Omit,
    /// The network approved a sale the host reversed: the line is there (network only).
    LateApproval,
    /// The network's amount differs by `delta_minor`.
    Amount,
}

impl Entity for ClearingFault {
    const KIND: &'static str = "sandbox_clearing_fault";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.business_day.clone()
    }
    fn status(&self) -> String {
        "active".into()
    }
}

/// The sandbox network's clearing file of `day`: every transaction of the day it settles, as a
/// network that saw every message would have it, with the faults injected for that day.
pub async fn sandbox_file(store: &Store, day: &str) -> Result<ClearingFile> {
    sandbox_file_of(store, day, Source::Card).await
}

/// The sandbox's file of a source: what a network (or wallet) that saw every message of its
/// payments would send, with the injected faults.
pub async fn sandbox_file_of(store: &Store, day: &str, source: Source) -> Result<ClearingFile> {
    let txns = day_transactions_of(store, day, source).await?;
    let faults: Vec<Stored<ClearingFault>> = list(store, RecordQuery::kind(ClearingFault::KIND).owner(day)).await?;
    let faults: BTreeMap<String, ClearingFault> =
        faults.into_iter().map(|f| (f.value.txn_id.clone(), f.value)).collect();
    let mut lines = Vec::new();
    for txn in &txns {
        let fault = faults.get(&txn.id);
        let late = fault.is_some_and(|f| f.kind == FaultKind::LateApproval) && txn.kind == Kind::Sale;
        if !(settles(txn) || late) || fault.is_some_and(|f| f.kind == FaultKind::Omit) {
            continue;
        }
        let mut line = line_of(txn);
        if let Some(f) = fault.filter(|f| f.kind == FaultKind::Amount) {
            line.amount_minor = (line.amount_minor + f.delta_minor).max(0);
        }
        lines.push(line);
    }
    Ok(ClearingFile { name: format!("{}_{day}.txt", source.tag()), text: render_of(source, day, &lines) })
}

/// Injects a discrepancy into the sandbox network's file of the transaction's business day.
pub async fn inject_fault(
    store: &Store,
    txn_id: &str,
    kind: FaultKind,
    delta_minor: i64,
    actor: &str,
) -> Result<ClearingFault> {
    let record =
        store.transaction(CardTransaction::KIND, txn_id).await?.ok_or_else(|| Error::not_found("transaction"))?;
    let txn = Stored::<CardTransaction>::decode(record)?.value;
    let fits = match kind {
        FaultKind::Omit => settles(&txn),
        FaultKind::LateApproval => txn.kind == Kind::Sale && txn.status == Status::Reversed,
        FaultKind::Amount => settles(&txn) && delta_minor != 0,
    };
    if !fits {
        return Err(Error::new(
            Class::Unprocessable,
            "fault_does_not_apply",
            match kind {
                FaultKind::Omit => "omit: only a transaction the network settles can be left out",
                FaultKind::LateApproval => "late_approval: only a reversed sale can be approved late",
                FaultKind::Amount => "amount: a settled transaction and a non-zero delta_minor",
            },
        ));
    }
    let fault = ClearingFault {
        id: format!("flt_{}_{}", txn.business_day, txn.id),
        business_day: txn.business_day.clone(),
        txn_id: txn.id.clone(),
        kind,
        delta_minor,
    };
    let audit = xingtong_merchants::identity::audit(
        actor,
        "sandbox.clearing_fault",
        ClearingFault::KIND,
        &fault.id,
        &serde_json::to_string(&fault).unwrap_or_default(),
    );
    let put = match load::<ClearingFault>(store, &fault.id).await? {
        Some(mut existing) => {
            existing.value = fault.clone();
            existing.update()?
        }
        None => insert(&fault)?,
    };
    store.apply(Change { puts: vec![put], audit: vec![audit], ..Change::default() }).await?;
    Ok(fault)
}

/// How a line or transaction came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemClass {
    /// The host has it, the network's file does not (短款).
    HostOnly,
    /// The network's file has it, the host does not (or reversed it) (长款).
    NetworkOnly,
    /// Both, with different amounts (金额不符).
    AmountMismatch,
}

/// A discrepancy with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconItem {
    /// Which kind.
    pub class: ItemClass,
    /// The host transaction (`<TID>-<batch>-<STAN>`), when the host has one.
    pub txn_id: String,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// Transaction type (`sale`, `void`, … as the host or the file names it).
    pub txn_type: String,
    /// The host's status of it (`approved`, `reversed` …), or `none`.
    pub host_status: String,
    /// The host's amount.
    pub host_minor: Option<i64>,
    /// The network's amount.
    pub network_minor: Option<i64>,
    /// network − host (what the network moved more than the host).
    pub difference_minor: i64,
    /// Retrieval reference number.
    pub rrn: String,
    /// What to do, in English.
    pub action_en: String,
    /// What to do, in Chinese.
    pub action_zh: String,
}

/// A business day's reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// `rec_<YYYYMMDD>` (the card network), `rec_<wallet>_<YYYYMMDD>` (a wallet).
    pub id: String,
    /// Whose file: `card`, `wechat`, `alipay` or `unionpay_qr`.
    #[serde(default = "card_source")]
    pub source: Source,
    /// The business day.
    pub business_day: String,
    /// `balanced` or `discrepancies`.
    pub status: String,
    /// The file's name.
    pub file_name: String,
    /// SHA-256 of the file, hex: the same file gives the same report.
    pub file_sha256: String,
    /// Detail lines in the file.
    pub network_lines: u64,
    /// Host transactions the network should settle.
    pub host_lines: u64,
    /// Matched.
    pub matched: u64,
    /// Σ matched amounts, minor units.
    pub matched_minor: i64,
    /// How many host only.
    pub host_only: u64,
    /// How many network only.
    pub network_only: u64,
    /// How many amount mismatches.
    pub amount_mismatches: u64,
    /// Every discrepancy, by transaction id.
    pub items: Vec<ReconItem>,
    /// 1, and one more each time a run found a different result (another file: a corrected one,
    /// or new faults in the sandbox); every version is in the audit log.
    #[serde(default)]
    pub version: u32,
    /// When it was (last) computed, ns.
    pub run_at: u64,
}

impl Entity for Reconciliation {
    const KIND: &'static str = "reconciliation";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        "platform".into()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
}

fn card_source() -> Source {
    Source::Card
}

impl Reconciliation {
    /// The id of a day's report of the card network.
    pub fn key(day: &str) -> String {
        format!("rec_{day}")
    }

    /// The id of a day's report of a source.
    pub fn key_of(source: Source, day: &str) -> String {
        match source {
            Source::Card => Reconciliation::key(day),
            Source::Wallet(scheme) => format!("rec_{}_{day}", scheme.as_str()),
        }
    }

    /// Equal but for when it was run and its version.
    fn same_as(&self, other: &Reconciliation) -> bool {
        Reconciliation { run_at: 0, version: 0, ..self.clone() }
            == Reconciliation { run_at: 0, version: 0, ..other.clone() }
    }
}

fn action(class: ItemClass, txn_type: &str, host_status: &str) -> (&'static str, &'static str) {
    let returned = matches!(txn_type, "void" | "completion_void" | "refund");
    match (class, returned, host_status) {
        (ItemClass::HostOnly, false, _) => (
            "Shortfall: the network will not pay for this capture, which the merchant was credited. Mark it doubtful, look for it in the next day's file (a cut-off straggler), and if it is still missing, claim it from the network with the slip and the authorization code.",
            "短款：网络未清算该笔消费，但商户已入账。标记为存疑，先核对次日清算文件（日切跨日），仍无则凭签购单与授权码向网络提出调账。",
        ),
        (ItemClass::HostOnly, true, _) => (
            "The network never received this return: the cardholder has not got the money back although the merchant was debited. Send the void or refund to the network again (or as a credit adjustment), then check the next day's file.",
            "网络未收到该笔撤销/退货：商户已扣款而持卡人未获退款。向网络重新发送撤销/退货（或做贷记调整），并核对次日清算文件。",
        ),
        (ItemClass::NetworkOnly, _, "reversed") => (
            "Surplus: the network approved a sale the host reversed, so the cardholder was charged and the merchant was not credited. Refund the cardholder through the network (credit adjustment); if the goods were handed over, back-fill the sale for the merchant instead.",
            "长款：网络批准了主机已冲正的消费，持卡人被扣款而商户未入账。通过网络向持卡人退款（贷记调整）；如已交付商品，则为商户补单。",
        ),
        (ItemClass::NetworkOnly, _, _) => (
            "Surplus: a transaction the host has no record of. Ask the network for the original message; back-fill it if it is ours, dispute it if not.",
            "长款：主机无此交易记录。向网络调取原始报文，属本方交易则补单，否则提出差错争议。",
        ),
        (ItemClass::AmountMismatch, _, _) => (
            "The amounts differ: check the terminal's slip against the network's record, then adjust the merchant (调账) by the difference, or dispute the network's amount.",
            "金额不符：核对终端签购单与网络记录，按差额为商户调账，或就网络金额提出争议。",
        ),
    }
}

fn type_of(code: &str) -> &'static str {
    match code {
        "S22" => "sale",
        "S23" => "completion",
        "S31" => "void",
        "S32" => "completion_void",
        _ => "refund",
    }
}

/// Matches a file's lines against the host's transactions of the day.
pub fn reconcile(
    day: &str,
    file: &ClearingFile,
    lines: &[FileLine],
    txns: &[CardTransaction],
    run_at: u64,
) -> Reconciliation {
    use sha2::Digest;
    let host: BTreeMap<&str, &CardTransaction> = txns.iter().map(|t| (t.id.as_str(), t)).collect();
    let mut report = Reconciliation {
        id: Reconciliation::key(day),
        source: Source::Card,
        business_day: day.to_owned(),
        status: String::new(),
        file_name: file.name.clone(),
        file_sha256: hex::encode(sha2::Sha256::digest(file.text.as_bytes())),
        network_lines: lines.len() as u64,
        host_lines: txns.iter().filter(|t| settles(t)).count() as u64,
        matched: 0,
        matched_minor: 0,
        host_only: 0,
        network_only: 0,
        amount_mismatches: 0,
        items: Vec::new(),
        version: 1,
        run_at,
    };
    let mut seen = std::collections::BTreeSet::new();
    let item = |class: ItemClass, txn: Option<&CardTransaction>, line: Option<&FileLine>| {
        let txn_type = txn.map_or_else(|| type_of(line.map_or("", |l| l.code.as_str())), |t| t.kind.as_str());
        let host_status = txn.map_or("none", |t| t.status.as_str());
        let host_minor = txn.filter(|t| settles(t)).map(|t| t.amount_minor.abs());
        let network_minor = line.map(|l| l.amount_minor);
        let (en, zh) = action(class, txn_type, host_status);
        ReconItem {
            class,
            txn_id: txn.map_or_else(
                || line.map(|l| CardTransaction::key(&l.tid, l.batch, l.stan)).unwrap_or_default(),
                |t| t.id.clone(),
            ),
            mid: txn.map_or_else(|| line.map(|l| l.mid.clone()).unwrap_or_default(), |t| t.mid.clone()),
            tid: txn.map_or_else(|| line.map(|l| l.tid.clone()).unwrap_or_default(), |t| t.tid.clone()),
            txn_type: txn_type.into(),
            host_status: host_status.into(),
            host_minor,
            network_minor,
            difference_minor: network_minor.unwrap_or(0) - host_minor.unwrap_or(0),
            rrn: txn.map_or_else(|| line.map(|l| l.rrn.clone()).unwrap_or_default(), |t| t.rrn.clone()),
            action_en: en.into(),
            action_zh: zh.into(),
        }
    };
    let mut items = Vec::new();
    for line in lines {
        let id = CardTransaction::key(&line.tid, line.batch, line.stan);
        seen.insert(id.clone());
        match host.get(id.as_str()).copied().filter(|t| t.mid == line.mid) {
            Some(t) if settles(t) && t.amount_minor.abs() == line.amount_minor => {
                report.matched += 1;
                report.matched_minor += line.amount_minor;
            }
            Some(t) if settles(t) => {
                report.amount_mismatches += 1;
                items.push(item(ItemClass::AmountMismatch, Some(t), Some(line)));
            }
            found => {
                report.network_only += 1;
                items.push(item(ItemClass::NetworkOnly, found, Some(line)));
            }
        }
    }
    for t in txns.iter().filter(|t| settles(t) && !seen.contains(&t.id)) {
        report.host_only += 1;
        items.push(item(ItemClass::HostOnly, Some(t), None));
    }
    items.sort_by(|a, b| a.txn_id.cmp(&b.txn_id));
    report.items = items;
    report.status = if report.items.is_empty() { "balanced" } else { "discrepancies" }.into();
    report
}

impl Engine {
    /// A day's stored reconciliation report of the card network.
    pub async fn reconciliation(&self, day: &str) -> Result<Option<Reconciliation>> {
        self.reconciliation_of(Source::Card, day).await
    }

    /// A day's stored reconciliation report of a source.
    pub async fn reconciliation_of(&self, source: Source, day: &str) -> Result<Option<Reconciliation>> {
        Ok(load::<Reconciliation>(self.store(), &Reconciliation::key_of(source, day)).await?.map(|r| r.value))
    }

    /// The source's own file of a day: the card network's clearing file, or the wallet's bill.
    pub async fn source_file(&self, source: Source, day: &str) -> Result<Option<ClearingFile>> {
        match source {
            Source::Card => self.network().clearing_file(day).await,
            Source::Wallet(scheme) => self.wallets().bill_file(scheme, day).await,
        }
    }

    /// Reconciles a business day against `file` (or the network's own file of the day), stores the
    /// report (once: the same file again keeps it), audits it and returns it.
    pub async fn reconcile_day(&self, day: &str, file: Option<ClearingFile>, actor: &str) -> Result<Reconciliation> {
        self.reconcile_source(Source::Card, day, file, actor).await
    }

    /// Reconciles a business day of one source (the card network, or a wallet against its bill
    /// file) as [`Engine::reconcile_day`] does.
    pub async fn reconcile_source(
        &self,
        source: Source,
        day: &str,
        file: Option<ClearingFile>,
        actor: &str,
    ) -> Result<Reconciliation> {
        let file = match file {
            Some(file) => file,
            None => self.source_file(source, day).await?.ok_or_else(|| {
                Error::new(
                    Class::Conflict,
                    "no_clearing_file",
                    format!("the {} file of {day} has not been delivered yet; try later", source.as_str()),
                )
            })?,
        };
        let (file_day, lines) = parse_of(source, &file.text)?;
        if file_day != day {
            return Err(Error::new(
                Class::Unprocessable,
                "invalid_clearing_file",
                format!("the file is of business day {file_day}, not {day}"),
            ));
        }
        let txns = day_transactions_of(self.store(), day, source).await?;
        let mut report = reconcile(day, &file, &lines, &txns, self.clock().now_ns());
        report.source = source;
        report.id = Reconciliation::key_of(source, day);
        let stored = load::<Reconciliation>(self.store(), &report.id).await?;
        let put = match stored {
            Some(stored) if stored.value.same_as(&report) => return Ok(stored.value),
            Some(mut stored) => {
                report.version = stored.value.version.max(1) + 1;
                stored.value = report.clone();
                stored.update()?
            }
            None => insert(&report)?,
        };
        let audit = xingtong_merchants::identity::audit(
            actor,
            "reconciliation.run",
            Reconciliation::KIND,
            &report.id,
            &serde_json::json!({ "version": report.version, "file": report.file_name, "sha256": report.file_sha256, "matched": report.matched,
                "host_only": report.host_only, "network_only": report.network_only,
                "amount_mismatches": report.amount_mismatches })
            .to_string(),
        );
        self.store().apply(Change { puts: vec![put], audit: vec![audit], ..Change::default() }).await?;
        Ok(report)
    }
}

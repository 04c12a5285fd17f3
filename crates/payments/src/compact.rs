//! The stored form of a card transaction: every sale writes one, so it is a compact binary
//! encoding (about a third of its JSON: account and transfer ids as 16 bytes, not 39 digits;
//! enums as one byte; numbers as varints). It starts with [`VERSION`]; a body starting with `{`
//! is the JSON of earlier releases and still reads.
//!
//! Layout, in order: version byte, then each field of [`CardTransaction`] in declaration order.
//! Strings are a varint length and UTF-8 bytes; integers are LEB128 varints (signed ones
//! zigzagged); u128 ids are 16 bytes little-endian; an option is a 0 byte, or 1 and the value;
//! an enum is its index in the table below (append to a table, never reorder it). A decline's
//! reason is its index in [`crate::outcome::OWN`], or a wallet's decline `0x80` + its index in
//! [`crate::qr::Decline::ALL`].
//!
//! Version `0xC1`, of earlier releases, still reads: it kept the CUP response code (a string)
//! where the reason is, and a QR payment's decline in its wallet section; both read as the
//! reason ([`legacy_reason`]).

use crate::card::{Brand, CardType};
use crate::network::Funding;
use crate::outcome::Reason;
use crate::txn::{BusinessType, CardTransaction, Kind, Movement, Status};

/// The first byte of the current encoding.
pub const VERSION: u8 = 0xC2;

/// The first byte of the encoding of earlier releases (the CUP code where the reason is now).
const VERSION_CUP_CODE: u8 = 0xC1;

/// The reason of a record that kept a CUP response code: the QR decline when it names one, else
/// what the code declines for ([`crate::cup::reason_of`]); none when approved or still pending.
pub(crate) fn legacy_reason(status: Status, code: &str, qr_decline: Option<crate::qr::Decline>) -> Option<Reason> {
    if status == Status::Pending || code.is_empty() {
        return None;
    }
    qr_decline.map(Reason::from).or_else(|| crate::cup::reason_of(code))
}

fn write_reason(w: &mut Writer, reason: &Reason) {
    match reason {
        Reason::Wallet(decline) => {
            let i = crate::qr::Decline::ALL.iter().position(|d| d == decline).expect("every decline is in its table");
            w.0.push(0x80 | i as u8);
        }
        own => w.index(&crate::outcome::OWN, own),
    }
}

fn read_reason(r: &mut Reader<'_>) -> Result<Reason, Malformed> {
    let b = r.byte()?;
    if b & 0x80 != 0 {
        return crate::qr::Decline::ALL
            .get(usize::from(b & 0x7f))
            .map(|d| Reason::from(*d))
            .ok_or(Malformed("unknown decline"));
    }
    crate::outcome::OWN.get(usize::from(b)).copied().ok_or(Malformed("unknown reason"))
}

/// Kinds by their stored number: [`Kind::ALL`]'s order, which is append only.
const KINDS: [Kind; 9] = Kind::ALL;
const STATUSES: [Status; 6] =
    [Status::Approved, Status::Declined, Status::Voided, Status::Reversed, Status::Completed, Status::Pending];
const BUSINESS_TYPES: [BusinessType; 3] = [BusinessType::Sale, BusinessType::Collection, BusinessType::Purchase];
const BRANDS: [Brand; 3] = [Brand::Unionpay, Brand::Visa, Brand::Mastercard];
const CARD_TYPES: [CardType; 2] = [CardType::Debit, CardType::Credit];
const SCHEMES: [crate::qr::Scheme; 3] = crate::qr::Scheme::ALL;

/// Why a body does not decode.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "card transaction body: {}", self.0)
    }
}

/// Encodes a transaction. Movement ids and accounts are decimal u128s (as the ledger makes them);
/// one that is not is kept as a string.
pub fn encode(t: &CardTransaction) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(384));
    w.0.push(VERSION);
    w.str(&t.id);
    w.index(&KINDS, &t.kind);
    w.index(&STATUSES, &t.status);
    w.option(t.decline.as_ref(), write_reason);
    w.str(&t.mid);
    w.str(&t.tid);
    w.uint(u64::from(t.batch));
    w.uint(u64::from(t.stan));
    w.str(&t.operator);
    w.int(t.amount_minor);
    w.int(t.fee_minor);
    w.str(&t.pan_masked);
    w.str(&t.pan_token);
    w.option(t.brand.as_ref(), |w, b| w.index(&BRANDS, b));
    w.option(t.card_type.as_ref(), |w, c| w.index(&CARD_TYPES, c));
    w.str(&t.rrn);
    w.option(t.auth_code.as_deref(), |w, s| w.str(s));
    w.index(&BUSINESS_TYPES, &t.business_type);
    w.option(t.original_id.as_deref(), |w, s| w.str(s));
    w.int(t.refunded_minor);
    w.int(t.fee_refunded_minor);
    w.option(t.funding.as_ref(), |w, f| match f {
        Funding::Network => w.0.push(0),
        Funding::Ledger(account) => {
            w.0.push(1);
            w.0.extend_from_slice(&account.to_le_bytes());
        }
    });
    w.option(t.pending_transfer.as_deref(), |w, s| w.id(s));
    w.uint(t.movements.len() as u64);
    for m in &t.movements {
        w.id(&m.id);
        w.id(&m.debit);
        w.id(&m.credit);
        w.int(m.amount);
        w.0.push(u8::from(m.pending));
    }
    w.str(&t.channel);
    w.str(&t.business_day);
    w.uint(t.at);
    w.option(t.reason.as_deref(), |w, s| w.str(s));
    w.option(t.balance_minor.as_ref(), |w, b| w.int(*b));
    w.option(t.customer_phone.as_deref(), |w, s| w.str(s));
    w.option(t.customer_email.as_deref(), |w, s| w.str(s));
    // Sections after the fixed fields: a tag byte each, absent when empty (bodies of earlier
    // releases end before them).
    if let Some(qr) = &t.qr {
        w.0.push(SECTION_QR);
        w.index(&SCHEMES, &qr.scheme);
        w.str(&qr.code_masked);
        w.option(qr.wallet_txn_id.as_deref(), |w, s| w.str(s));
        w.option(qr.payer.as_deref(), |w, s| w.str(s));
        if let Some(order) = &qr.order {
            w.0.push(SECTION_QR_ORDER);
            w.index(&ORDER_MODES, &order.mode);
            w.option(order.code_url.as_deref(), |w, s| w.str(s));
            w.uint(order.expires_at);
            w.option(order.payer_key.as_deref(), |w, s| w.str(s));
            w.0.push(u8::from(order.returned));
        }
    }
    w.0
}

/// The tag of a customer-scans order's section (after the wallet section).
const SECTION_QR_ORDER: u8 = 2;

const ORDER_MODES: [crate::qr::OrderMode; 2] = [crate::qr::OrderMode::Dynamic, crate::qr::OrderMode::Static];

/// The tag of a QR transaction's wallet section.
const SECTION_QR: u8 = 1;

/// Decodes what [`encode`] wrote.
pub fn decode(body: &[u8]) -> Result<CardTransaction, Malformed> {
    let mut r = Reader(body);
    let version = r.byte()?;
    let legacy = match version {
        VERSION => false,
        VERSION_CUP_CODE => true,
        _ => return Err(Malformed("unknown version")),
    };
    let id = r.str()?;
    let kind = r.index(&KINDS)?;
    let status = r.index(&STATUSES)?;
    let (decline, legacy_code) = if legacy { (None, r.str()?) } else { (r.option(read_reason)?, String::new()) };
    let t = CardTransaction {
        id,
        kind,
        status,
        decline,
        mid: r.str()?,
        tid: r.str()?,
        batch: r.u32()?,
        stan: r.u32()?,
        operator: r.str()?,
        amount_minor: r.int()?,
        fee_minor: r.int()?,
        pan_masked: r.str()?,
        pan_token: r.str()?,
        brand: r.option(|r| r.index(&BRANDS))?,
        card_type: r.option(|r| r.index(&CARD_TYPES))?,
        rrn: r.str()?,
        auth_code: r.option(Reader::str)?,
        business_type: r.index(&BUSINESS_TYPES)?,
        original_id: r.option(Reader::str)?,
        refunded_minor: r.int()?,
        fee_refunded_minor: r.int()?,
        funding: r.option(|r| match r.byte()? {
            0 => Ok(Funding::Network),
            1 => Ok(Funding::Ledger(r.u128()?)),
            _ => Err(Malformed("unknown funding")),
        })?,
        pending_transfer: r.option(Reader::id)?,
        movements: {
            let n = r.uint()?;
            // Each movement takes at least 5 bytes: a count beyond what is left is corrupt.
            if n > r.0.len() as u64 / 5 {
                return Err(Malformed("movement count beyond the body"));
            }
            let mut movements = Vec::with_capacity(n as usize);
            for _ in 0..n {
                movements.push(Movement {
                    id: r.id()?,
                    debit: r.id()?,
                    credit: r.id()?,
                    amount: r.int()?,
                    pending: match r.byte()? {
                        0 => false,
                        1 => true,
                        _ => return Err(Malformed("bad flag")),
                    },
                });
            }
            movements
        },
        channel: r.str()?,
        business_day: r.str()?,
        at: r.uint()?,
        reason: r.option(Reader::str)?,
        balance_minor: r.option(Reader::int)?,
        customer_phone: r.option(Reader::str)?,
        customer_email: r.option(Reader::str)?,
        qr: None,
        binding: None,
        session_guard: None,
    };
    let mut t = t;
    let mut qr_decline = None;
    if r.0.first() == Some(&SECTION_QR) {
        r.byte()?;
        t.qr = Some(crate::qr::QrPart {
            scheme: r.index(&SCHEMES)?,
            code_masked: r.str()?,
            wallet_txn_id: r.option(Reader::str)?,
            payer: r.option(Reader::str)?,
            order: None,
        });
        if legacy {
            qr_decline = r.option(|r| r.index(&crate::qr::Decline::ALL))?;
        }
        if r.0.first() == Some(&SECTION_QR_ORDER)
            && let Some(qr) = &mut t.qr
        {
            r.byte()?;
            qr.order = Some(crate::qr::QrOrder {
                mode: r.index(&ORDER_MODES)?,
                code_url: r.option(Reader::str)?,
                expires_at: r.uint()?,
                payer_key: r.option(Reader::str)?,
                returned: match r.byte()? {
                    0 => false,
                    1 => true,
                    _ => return Err(Malformed("bad flag")),
                },
            });
        }
    }
    if !r.0.is_empty() {
        return Err(Malformed("trailing bytes"));
    }
    if legacy {
        t.decline = legacy_reason(t.status, &legacy_code, qr_decline);
    }
    Ok(t)
}

struct Writer(Vec<u8>);

impl Writer {
    fn uint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn int(&mut self, v: i64) {
        self.uint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn str(&mut self, s: &str) {
        self.uint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    /// A decimal u128 as 16 bytes after a 0 tag, or any other string after a 1 tag. Only the
    /// canonical form (digits, no sign, no leading zero) is packed, so decoding gives `s` back.
    fn id(&mut self, s: &str) {
        let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
        match s.parse::<u128>() {
            Ok(v) if canonical => {
                self.0.push(0);
                self.0.extend_from_slice(&v.to_le_bytes());
            }
            _ => {
                self.0.push(1);
                self.str(s);
            }
        }
    }

    fn index<T: PartialEq>(&mut self, table: &[T], value: &T) {
        // A variant missing from its table would be written as garbage: refuse instead. The match
        // in `position_of` (below) stops compiling when a variant is added, as a reminder.
        let i = table.iter().position(|t| t == value).expect("every variant is in its table");
        self.0.push(i as u8);
    }

    fn option<T: ?Sized>(&mut self, value: Option<&T>, write: impl FnOnce(&mut Writer, &T)) {
        match value {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                write(self, v);
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, Malformed> {
        let (&b, rest) = self.0.split_first().ok_or(Malformed("ends early"))?;
        self.0 = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Malformed> {
        if self.0.len() < n {
            return Err(Malformed("ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn uint(&mut self) -> Result<u64, Malformed> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Malformed("varint too long"))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        u32::try_from(self.uint()?).map_err(|_| Malformed("number out of range"))
    }

    fn int(&mut self) -> Result<i64, Malformed> {
        let v = self.uint()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn str(&mut self) -> Result<String, Malformed> {
        let n = usize::try_from(self.uint()?).map_err(|_| Malformed("length out of range"))?;
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Malformed("text is not UTF-8"))
    }

    fn u128(&mut self) -> Result<u128, Malformed> {
        let bytes: [u8; 16] = self.take(16)?.try_into().map_err(|_| Malformed("ends early"))?;
        Ok(u128::from_le_bytes(bytes))
    }

    fn id(&mut self) -> Result<String, Malformed> {
        match self.byte()? {
            0 => Ok(self.u128()?.to_string()),
            1 => self.str(),
            _ => Err(Malformed("unknown id tag")),
        }
    }

    fn index<T: Copy>(&mut self, table: &[T]) -> Result<T, Malformed> {
        table.get(usize::from(self.byte()?)).copied().ok_or(Malformed("unknown enum value"))
    }

    fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> Result<T, Malformed>) -> Result<Option<T>, Malformed> {
        match self.byte()? {
            0 => Ok(None),
            1 => read(self).map(Some),
            _ => Err(Malformed("bad option tag")),
        }
    }
}

/// Every variant's place in its table, by an exhaustive match: adding a variant does not compile
/// until it is placed here, and the test below checks the tables agree.
#[cfg(test)]
fn position_of(kind: Kind, status: Status, business: BusinessType, brand: Brand, card_type: CardType) -> [usize; 5] {
    [
        match kind {
            Kind::BalanceInquiry => 0,
            Kind::Sale => 1,
            Kind::Void => 2,
            Kind::Refund => 3,
            Kind::PreAuthorization => 4,
            Kind::PreAuthorizationVoid => 5,
            Kind::Completion => 6,
            Kind::CompletionVoid => 7,
            Kind::ReversalMark => 8,
        },
        match status {
            Status::Approved => 0,
            Status::Declined => 1,
            Status::Voided => 2,
            Status::Reversed => 3,
            Status::Completed => 4,
            Status::Pending => 5,
        },
        match business {
            BusinessType::Sale => 0,
            BusinessType::Collection => 1,
            BusinessType::Purchase => 2,
        },
        match brand {
            Brand::Unionpay => 0,
            Brand::Visa => 1,
            Brand::Mastercard => 2,
        },
        match card_type {
            CardType::Debit => 0,
            CardType::Credit => 1,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_named_as_their_json() {
        for status in STATUSES {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn only_canonical_decimal_ids_are_packed() {
        for (s, packed) in [
            ("0", true),
            ("7", true),
            ("340282366920938463463374607431768211455", true),
            ("01", false),
            ("+1", false),
            ("", false),
            ("340282366920938463463374607431768211456", false),
            ("1a", false),
        ] {
            let mut w = Writer(Vec::new());
            w.id(s);
            assert_eq!(w.0[0] == 0, packed, "{s:?}");
            assert_eq!(Reader(&w.0).id().unwrap(), s);
        }
    }

    #[test]
    fn tables_hold_every_variant() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(position_of(*k, Status::Approved, BusinessType::Sale, Brand::Visa, CardType::Debit)[0], i);
        }
        for (i, s) in STATUSES.iter().enumerate() {
            assert_eq!(position_of(Kind::Sale, *s, BusinessType::Sale, Brand::Visa, CardType::Debit)[1], i);
        }
        for (i, b) in BUSINESS_TYPES.iter().enumerate() {
            assert_eq!(position_of(Kind::Sale, Status::Approved, *b, Brand::Visa, CardType::Debit)[2], i);
        }
        for (i, b) in BRANDS.iter().enumerate() {
            assert_eq!(position_of(Kind::Sale, Status::Approved, BusinessType::Sale, *b, CardType::Debit)[3], i);
        }
        for (i, c) in CARD_TYPES.iter().enumerate() {
            assert_eq!(position_of(Kind::Sale, Status::Approved, BusinessType::Sale, Brand::Visa, *c)[4], i);
        }
    }

    fn sample() -> CardTransaction {
        CardTransaction {
            id: "10000016-000001-000017".into(),
            kind: Kind::Sale,
            status: Status::Approved,
            decline: None,
            mid: "898310053990008".into(),
            tid: "10000016".into(),
            batch: 1,
            stan: 17,
            operator: "01".into(),
            amount_minor: 100,
            fee_minor: 1,
            pan_masked: "622202*********7850".into(),
            pan_token: "ec52338c5470469245b1fbe24a8d5a6d".into(),
            brand: Some(Brand::Unionpay),
            card_type: Some(CardType::Debit),
            rrn: "133228000017".into(),
            auth_code: Some("330091".into()),
            business_type: BusinessType::Collection,
            original_id: None,
            refunded_minor: 40,
            fee_refunded_minor: -3,
            funding: Some(Funding::Ledger(117403024268330987514925073077334568506)),
            pending_transfer: Some("33117910929777146617383193631339259204".into()),
            movements: vec![
                Movement {
                    id: "33117910929777146617383193631339259204".into(),
                    debit: "117403024268330987514925073077334568506".into(),
                    credit: "58871647698289164389".into(),
                    amount: 100,
                    pending: true,
                },
                Movement {
                    id: "not-a-number".into(),
                    debit: "0".into(),
                    credit: "01".into(),
                    amount: -7,
                    pending: false,
                },
            ],
            channel: "iso8583".into(),
            business_day: "20261122".into(),
            at: 1_795_325_548_908_425_852,
            reason: Some("02".into()),
            balance_minor: Some(i64::MIN),
            customer_phone: Some("13800138000".into()),
            customer_email: None,
            qr: None,
            binding: None,
            session_guard: None,
        }
    }

    #[test]
    fn round_trips_every_field_and_is_a_third_of_the_json() {
        let t = sample();
        let body = encode(&t);
        assert_eq!(body[0], VERSION);
        let back = decode(&body).unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&t).unwrap());
        let json = serde_json::to_vec(&t).unwrap().len();
        assert!(body.len() * 2 < json, "{} bytes against {json} of JSON", body.len());
    }

    #[test]
    fn every_enum_value_round_trips() {
        let mut t = sample();
        for kind in KINDS {
            for status in STATUSES {
                for business_type in BUSINESS_TYPES {
                    (t.kind, t.status, t.business_type) = (kind, status, business_type);
                    t.funding = Some(Funding::Network);
                    let back = decode(&encode(&t)).unwrap();
                    assert_eq!((back.kind, back.status, back.business_type), (kind, status, business_type));
                    assert_eq!(back.funding, Some(Funding::Network));
                }
            }
        }
    }

    #[test]
    fn a_qr_payment_s_wallet_section_round_trips_and_its_truncations_are_refused() {
        let mut t = sample();
        for decline in
            [None, Some(crate::qr::Decline::UserPayingTimeout), Some(crate::qr::Decline::RefundExceedsPayment)]
        {
            for scheme in SCHEMES {
                t.decline = decline.map(Reason::from);
                t.qr = Some(crate::qr::QrPart {
                    scheme,
                    code_masked: "13************6789".into(),
                    wallet_txn_id: decline.is_none().then(|| "20261128123456789012".into()),
                    payer: Some("wechat-****3077".into()),
                    order: None,
                });
                let body = encode(&t);
                let back = decode(&body).unwrap();
                assert_eq!(back.qr, t.qr);
                assert_eq!(back.qr_decline(), decline);
                assert_eq!(back.method(), scheme.as_str());
                // Cut inside the section: refused (cut before it, it is a card's body).
                let card_len = encode(&CardTransaction { qr: None, ..t.clone() }).len();
                for n in card_len + 1..body.len() {
                    assert!(decode(&body[..n]).is_err(), "truncated at {n}");
                }
            }
        }
    }

    #[test]
    fn a_customer_scans_order_s_section_round_trips_and_its_truncations_are_refused() {
        let mut t = sample();
        for (mode, code_url, payer_key, returned) in [
            (crate::qr::OrderMode::Dynamic, Some("weixin://wxpay/bizpayurl?pr=Ab12Cd3"), None, false),
            (crate::qr::OrderMode::Static, None, Some("alipay-48213077"), true),
        ] {
            let qr = crate::qr::QrPart {
                scheme: crate::qr::Scheme::Alipay,
                code_masked: String::new(),
                wallet_txn_id: None,
                payer: None,
                order: None,
            };
            t.decline = Some(Reason::Wallet(crate::qr::Decline::OrderClosed));
            t.qr = Some(qr.clone());
            let without = encode(&t).len();
            t.qr = Some(crate::qr::QrPart {
                order: Some(crate::qr::QrOrder {
                    mode,
                    code_url: code_url.map(Into::into),
                    expires_at: 1_764_300_000_000_000_000,
                    payer_key: payer_key.map(Into::into),
                    returned,
                }),
                ..qr
            });
            let body = encode(&t);
            assert_eq!(decode(&body).unwrap().qr, t.qr);
            for n in without + 1..body.len() {
                assert!(decode(&body[..n]).is_err(), "truncated at {n}");
            }
        }
    }

    #[test]
    fn every_reason_round_trips() {
        let mut t = sample();
        t.status = Status::Declined;
        for reason in Reason::all() {
            t.decline = Some(reason);
            assert_eq!(decode(&encode(&t)).unwrap().decline, Some(reason));
        }
        assert_eq!(Reason::all().count(), crate::outcome::OWN.len() + crate::qr::Decline::ALL.len() - 1);
    }

    /// A body as releases before the reason wrote it: the CUP code where the reason is, and a QR
    /// payment's decline at the end of its wallet section.
    fn legacy_body(t: &CardTransaction, code: &str, qr_decline: Option<crate::qr::Decline>) -> Vec<u8> {
        assert!(t.decline.is_none() && t.qr.as_ref().is_none_or(|q| q.order.is_none()));
        let body = encode(t);
        let at = 1 + 1 + t.id.len() + 2; // version, id (its length fits one byte), kind, status
        assert_eq!(body[at], 0, "no reason");
        let mut old = vec![VERSION_CUP_CODE];
        old.extend_from_slice(&body[1..at]);
        old.push(code.len() as u8);
        old.extend_from_slice(code.as_bytes());
        old.extend_from_slice(&body[at + 1..]);
        if t.qr.is_some() {
            match qr_decline {
                None => old.push(0),
                Some(d) => old.extend([1, crate::qr::Decline::ALL.iter().position(|x| *x == d).unwrap() as u8]),
            }
        }
        old
    }

    #[test]
    fn a_body_of_earlier_releases_reads_its_cup_code_as_the_reason() {
        let mut t = sample();
        let cases = [
            (Status::Approved, "00", None),
            (Status::Declined, "51", Some(Reason::InsufficientFunds)),
            (Status::Declined, "58", Some(Reason::TerminalNotPermitted)),
            (Status::Reversed, "25", Some(Reason::OriginalNotFound)),
            (Status::Voided, "00", None),
            (Status::Pending, "", None),
        ];
        for (status, code, reason) in cases {
            t.status = status;
            let back = decode(&legacy_body(&t, code, None)).unwrap();
            assert_eq!(back.decline, reason, "{status:?} {code}");
            assert_eq!(crate::cup::response_code(back.outcome()).code, if code.is_empty() { "00" } else { code });
            // Written again, it is the current version and reads the same.
            assert_eq!(decode(&encode(&back)).unwrap().decline, reason);
        }
        // A QR payment's decline names the reason (the code alone would not: 58 is a terminal
        // not permitted, or a method disabled).
        t.status = Status::Declined;
        t.qr = Some(crate::qr::QrPart {
            scheme: crate::qr::Scheme::Wechat,
            code_masked: "13************6789".into(),
            wallet_txn_id: None,
            payer: None,
            order: None,
        });
        for (decline, code) in
            [(crate::qr::Decline::MethodDisabled, "58"), (crate::qr::Decline::UserPayingTimeout, "68")]
        {
            let back = decode(&legacy_body(&t, code, Some(decline))).unwrap();
            assert_eq!((back.decline, back.qr_decline()), (Some(Reason::from(decline)), Some(decline)));
        }
        let back = decode(&legacy_body(&t, "61", None)).unwrap();
        assert_eq!((back.decline, back.qr_decline()), (Some(Reason::AmountLimit), None));
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused_without_panicking() {
        let body = encode(&sample());
        for n in 0..body.len() {
            assert!(decode(&body[..n]).is_err(), "truncated at {n}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert_eq!(decode(&longer).unwrap_err(), Malformed("trailing bytes"));
        let mut bad = body;
        bad[0] = b'{';
        assert_eq!(decode(&bad).unwrap_err(), Malformed("unknown version"));
    }
}

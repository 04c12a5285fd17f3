//! Terminals over ISO 8583: the gateway's [`Dispatch`] for the whole card message set. Checks the
//! session, the MAC and the profile's fields, translates PIN blocks, calls the core, and answers
//! with the reply's MAC: every reply to a MACed request carries one, except C1 and A0 (and 30
//! when the request names no terminal), whose requests could not be authenticated.

use std::sync::Arc;

use xingtong_crypto::{MacAlgorithm, WorkingKeysLayout};
use xingtong_gateway::{Dispatch, Request, reply_to};
use xingtong_iso8583::cup::{Field60, Field61, Transaction};
use xingtong_iso8583::{Message, ResponseCode, cup};

use crate::engine::{Answer, Card, Engine, Origin, Original, SESSION_CHANGED};
use crate::session::{Live, SignIn, operator_pin_pan};
use crate::settle::{BatchTotals, Side, UploadOutcome, Uploaded};
use crate::txn::{BusinessType, CardTransaction, Kind};

/// The platform behind the gateway.
#[derive(Debug, Clone)]
pub struct Terminals {
    engine: Engine,
}

impl Terminals {
    /// Terminals served by `engine`.
    pub fn new(engine: Engine) -> Terminals {
        Terminals { engine }
    }
}

fn code_only(request: &Message, code: ResponseCode) -> Message {
    reply_to(request, code)
}

fn field_str(message: &Message, field: u8) -> Option<String> {
    message.get_str(field).map(|s| s.trim().to_owned())
}

/// Signs a reply with the session's MAC key.
fn with_mac(mut reply: Message, live: &Live) -> Message {
    match reply.pack_with_mac(cup::spec(), |data| MacAlgorithm::CupEcb.compute(&live.mac_key, data)) {
        Ok(_) => reply,
        Err(error) => {
            tracing::error!(%error, "a reply did not pack");
            reply
        }
    }
}

fn answer_reply(request: &Message, answer: &Answer, live: &Live, clock: &crate::clock::Clock) -> Message {
    let mut reply = reply_to(request, crate::cup::response_code(answer.outcome));
    // The time the host recorded the transaction, so that field 13 of the reply is the date a
    // refund or completion later gives in field 61.
    let (hhmmss, mmdd) = match &answer.transaction {
        Some(t) => (crate::clock::fields_12_13_at(t.at).0, t.date_mmdd().to_owned()),
        None => clock.fields_12_13(),
    };
    reply.set(12, hhmmss);
    reply.set(13, mmdd);
    reply.set(37, answer.rrn.clone());
    if answer.outcome.is_approved() {
        if let Some(auth) = &answer.auth_code {
            reply.set(38, auth.clone());
        }
        if let Some(balance) = answer.balance_minor {
            let sign = if balance < 0 { 'D' } else { 'C' };
            reply.set(54, format!("1002156{sign}{:012}", balance.unsigned_abs()));
        }
    }
    if let Some(brand) = answer.transaction.as_ref().and_then(|t| t.brand) {
        reply.set(63, brand.organisation());
    }
    if let Some(t) = &answer.transaction
        && let Some(qr) = &t.qr
    {
        reply.set(63, qr.scheme.tag());
        // A customer-scans order still waiting: its code's URL, to draw.
        let waiting = (t.status == crate::txn::Status::Pending)
            .then(|| qr.order.as_ref().and_then(|o| o.code_url.clone()))
            .flatten();
        let paid = answer.outcome.is_approved();
        let qr_reply = cup::QrReply {
            wallet: qr.scheme.tag().into(),
            paid,
            reason: format!(
                "{:02}",
                t.qr_decline().map_or(if paid || waiting.is_some() { 0 } else { 99 }, crate::qr::Decline::number)
            ),
            wallet_txn_id: if paid { qr.wallet_txn_id.clone().unwrap_or_default() } else { String::new() },
            code_url: waiting,
        };
        reply.set(57, qr_reply.to_bytes());
    }
    with_mac(reply, live)
}

fn amount(message: &Message) -> Option<i64> {
    message.get_str(4).and_then(|a| a.parse::<i64>().ok())
}

fn card_of(message: &Message) -> Option<(String, Option<String>)> {
    if let Some(pan) = field_str(message, 2).filter(|p| crate::card::valid_pan(p)) {
        return Some((pan, field_str(message, 14)));
    }
    let (pan, expiry) = crate::card::from_track2(&field_str(message, 35)?)?;
    Some((pan, field_str(message, 14).or(expiry)))
}

impl Dispatch for Terminals {
    async fn dispatch(&self, request: Request) -> Message {
        let message = &request.message;
        let result = match request.transaction {
            Transaction::Echo => return code_only(message, ResponseCode::APPROVED),
            Transaction::SignIn => Box::pin(self.sign_in(message)).await,
            Transaction::SignOff => Box::pin(self.sign_off(message)).await,
            _ => self.maced(&request).await,
        };
        match result {
            Ok(reply) => reply,
            Err(error) => {
                tracing::error!(%error, tid = ?message.get_str(41), "a terminal request failed");
                code_only(message, ResponseCode::SYSTEM_MALFUNCTION)
            }
        }
    }
}

/// A request the profile's table refuses (30); logged, since only a terminal's software makes one.
fn format_error(request: &Message, fault: cup::FieldFault) -> Message {
    tracing::info!(%fault, tid = ?request.get_str(41), mti = %request.mti, "a request lacks a field; answered 30");
    reply_to(request, ResponseCode::FORMAT_ERROR)
}

/// True when the request's MAC verifies under the session's key.
fn mac_ok(request: &Request, live: &Live) -> bool {
    match (request.message.get(64), Message::mac_input(&request.packed, &request.message)) {
        (Some(mac), Some(data)) => MacAlgorithm::CupEcb.verify(&live.mac_key, data, mac),
        _ => false,
    }
}

/// The reason number of a QR sale's reply when the code is no wallet's (docs/iso8583.md §5.5).
pub const NOT_RECOGNISED_NUMBER: u8 = 12;

/// The currency every merchant takes today (field 49): CNY, the ledger's.
const CURRENCY: &str = "156";

impl Terminals {
    async fn sign_in(&self, message: &Message) -> crate::engine::Result<Message> {
        if let Err(fault) = Transaction::SignIn.check_fields(message) {
            return Ok(format_error(message, fault));
        }
        let (Some(tid), Some(mid), Some(f60), Some(f63)) =
            (field_str(message, 41), field_str(message, 42), message.get(60), message.get(63))
        else {
            return Ok(code_only(message, ResponseCode::FORMAT_ERROR));
        };
        let (Ok(f60), Ok(operator)) = (Field60::parse(f60), cup::parse_operator(f63)) else {
            return Ok(code_only(message, ResponseCode::FORMAT_ERROR));
        };
        let Some(layout) = WorkingKeysLayout::from_network_code(&f60.network_code) else {
            return Ok(code_only(message, ResponseCode::FUNCTION_NOT_SUPPORTED));
        };
        let operator = format!("{operator:02}");
        Ok(match self.engine.sign_in(&tid, &mid, &operator, message.get(52), layout).await? {
            SignIn::Refused(reason) => code_only(message, crate::cup::declined(reason)),
            SignIn::Ok { field62, batch } => {
                let mut reply = code_only(message, ResponseCode::APPROVED);
                let (hhmmss, mmdd) = self.engine.clock().fields_12_13();
                reply.set(12, hhmmss);
                reply.set(13, mmdd);
                let stan = message.get_str(11).and_then(|s| s.parse().ok()).unwrap_or(0);
                reply.set(37, crate::ids::rrn(stan, self.engine.clock().now_ns()));
                // 60.2 of the reply is the open batch: the terminal adopts it.
                reply.set(60, Field60 { batch, ..f60 }.to_bytes());
                reply.set(62, field62.0);
                reply
            }
        })
    }

    async fn sign_off(&self, message: &Message) -> crate::engine::Result<Message> {
        if let Err(fault) = Transaction::SignOff.check_fields(message) {
            return Ok(format_error(message, fault));
        }
        let Some(tid) = field_str(message, 41) else { return Ok(code_only(message, ResponseCode::FORMAT_ERROR)) };
        self.engine.sign_off(&tid).await?;
        Ok(code_only(message, ResponseCode::APPROVED))
    }

    async fn supervisor_ok(&self, live: &Live, message: &Message) -> crate::engine::Result<Option<ResponseCode>> {
        let Some(block) = message.get(52).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
            return Ok(Some(ResponseCode::WRONG_PIN));
        };
        let clear = zeroize::Zeroizing::new(live.pin_key.decrypt_block(block));
        let Ok(pin) = xingtong_crypto::decode_pin_block_format0(*clear, &operator_pin_pan(&live.tid)) else {
            return Ok(Some(ResponseCode::PIN_FORMAT_ERROR));
        };
        use xingtong_merchants::cashiers::PinRefusal;
        Ok(match self.engine.merchants().verify_cashier_pin(&live.mid, "00", pin.expose()).await? {
            Ok(_) => None,
            Err(PinRefusal::Wrong { .. }) | Err(PinRefusal::UnknownOperator) => Some(ResponseCode::WRONG_PIN),
            Err(PinRefusal::Locked | PinRefusal::NotSet) => Some(ResponseCode::PIN_TRIES_EXCEEDED),
        })
    }

    /// A MACed request (financial, reversal, settlement, batch upload). One made under a session
    /// that changed before it committed (a sign-in, sign-off or new batch through another process)
    /// is decided again, once, from the stored session.
    async fn maced(&self, request: &Request) -> crate::engine::Result<Message> {
        let message = &request.message;
        let Some(tid) = field_str(message, 41) else { return Ok(code_only(message, ResponseCode::FORMAT_ERROR)) };
        for _ in 0..2 {
            match self.maced_once(request, &tid).await {
                Err(error) if error.code == SESSION_CHANGED => continue,
                other => return other,
            }
        }
        // Changed again while it was decided again: the terminal should sign in.
        Ok(code_only(message, ResponseCode::NOT_SIGNED_IN))
    }

    /// The checks every MACed request passes, in this order (docs/iso8583.md §5): signed in (C1),
    /// the MAC under this sign-in's key (A0, after a look at the stored session), the merchant
    /// (03), a supported transaction (40), the profile's fields (30), the currency (58). Every
    /// reply after the MAC check carries a MAC.
    async fn maced_once(&self, request: &Request, tid: &str) -> crate::engine::Result<Message> {
        let message = &request.message;
        let Some(mut live) = self.engine.live_session(tid).await? else {
            return Ok(code_only(message, ResponseCode::NOT_SIGNED_IN));
        };
        if !mac_ok(request, &live) {
            // This process's keys may be stale: the terminal may have signed in through another.
            match self.engine.refreshed_session(&live).await? {
                None => return Ok(code_only(message, ResponseCode::NOT_SIGNED_IN)),
                Some(stored) if !Arc::ptr_eq(&stored, &live) && mac_ok(request, &stored) => live = stored,
                Some(_) => return Ok(code_only(message, ResponseCode::MAC_FAILED)),
            }
        }
        let refuse = |code: ResponseCode| Ok(with_mac(reply_to(message, code), &live));
        if field_str(message, 42).as_deref() != Some(live.mid.as_str()) {
            return refuse(ResponseCode::INVALID_MERCHANT);
        }
        if request.transaction == Transaction::NotSupported {
            return refuse(ResponseCode::FUNCTION_NOT_SUPPORTED);
        }
        if let Err(fault) = request.transaction.check_fields(message) {
            return Ok(with_mac(format_error(message, fault), &live));
        }
        match request.transaction {
            Transaction::BatchUpload | Transaction::BatchUploadEnd => {
                return Box::pin(self.batch_upload(request, tid, &live)).await;
            }
            Transaction::Reversal => {}
            // A reversal is matched by TID, batch, STAN and amount whatever else it says.
            _ if message.get_str(49) != Some(CURRENCY) => return refuse(ResponseCode::NOT_PERMITTED_TO_TERMINAL),
            Transaction::Settlement => return Box::pin(self.settlement(request, tid, &live)).await,
            _ => {}
        }
        Box::pin(self.financial(request, tid, &live)).await
    }

    /// Settlement (0500): the host's verdict per card class in field 48 of the 0510 (bytes 31 and
    /// 62: `1` balanced, `2` not), the settlement date in field 15. The next batch is open once
    /// this is answered.
    async fn settlement(&self, request: &Request, tid: &str, live: &Live) -> crate::engine::Result<Message> {
        let message = &request.message;
        let refuse = |code: ResponseCode| Ok(with_mac(reply_to(message, code), live));
        let (Some(Ok(f60)), Some(Ok(totals))) =
            (message.get(60).map(Field60::parse), message.get(48).map(cup::SettlementTotals::parse))
        else {
            return refuse(ResponseCode::FORMAT_ERROR);
        };
        if f60.batch != live.batch && self.engine.batch(tid, f60.batch).await?.is_none() {
            // Neither the open batch nor one settled before: nothing to settle.
            return refuse(ResponseCode::INVALID_TRANSACTION);
        }
        let side = |t: cup::Totals| Side {
            debit_minor: t.debit_amount,
            debit_count: u32::from(t.debit_count),
            credit_minor: t.credit_amount,
            credit_count: u32::from(t.credit_count),
        };
        let terminal = BatchTotals { domestic: side(totals.domestic), foreign: side(totals.foreign) };
        let settled = self.engine.settle(&live.mid, tid, f60.batch, terminal).await?;
        let verdict = |balanced: bool| {
            if balanced { cup::settlement_result::BALANCED } else { cup::settlement_result::UNBALANCED }
        };
        // Asked again, the answer is the first one: its totals and its verdict.
        let first = settled.batch.terminal.filter(|_| settled.replayed).map(|t| {
            let side = |s: Side| cup::Totals {
                debit_amount: s.debit_minor,
                debit_count: u16::try_from(s.debit_count).unwrap_or(u16::MAX),
                credit_amount: s.credit_minor,
                credit_count: u16::try_from(s.credit_count).unwrap_or(u16::MAX),
            };
            (side(t.domestic), side(t.foreign))
        });
        let (domestic, foreign) = first.unwrap_or((totals.domestic, totals.foreign));
        let answer = cup::SettlementTotals {
            domestic,
            domestic_result: verdict(settled.batch.domestic_balanced),
            foreign,
            foreign_result: verdict(settled.batch.foreign_balanced),
        };
        let mut reply = reply_to(message, ResponseCode::APPROVED);
        let (hhmmss, mmdd) = self.engine.clock().fields_12_13();
        reply.set(12, hhmmss);
        reply.set(13, mmdd);
        reply.set(15, settled.batch.business_day.get(4..8).unwrap_or("0101").to_owned());
        if let Some(stan) = message.get_str(11).and_then(cup::terminal_stan) {
            reply.set(37, crate::ids::rrn(stan, self.engine.clock().now_ns()));
        }
        let Ok(field48) = answer.to_bytes() else { return refuse(ResponseCode::FORMAT_ERROR) };
        reply.set(48, field48);
        if let Some(operator) = message.get(63) {
            reply.set(63, operator.to_vec());
        }
        Ok(with_mac(reply, live))
    }

    /// Batch upload (0320, 60.3 201/203) and its end (60.3 202/207). An item uploaded before is
    /// answered 94, which terminals take as success; a batch never settled 25.
    async fn batch_upload(&self, request: &Request, tid: &str, live: &Live) -> crate::engine::Result<Message> {
        let message = &request.message;
        let answer = |code: ResponseCode| {
            let mut reply = reply_to(message, code);
            let (hhmmss, mmdd) = self.engine.clock().fields_12_13();
            reply.set(12, hhmmss);
            reply.set(13, mmdd);
            Ok(with_mac(reply, live))
        };
        let (Some(Ok(f60)), Some(f48)) = (message.get(60).map(Field60::parse), message.get(48)) else {
            return answer(ResponseCode::FORMAT_ERROR);
        };
        if request.transaction == Transaction::BatchUploadEnd {
            let Some(count) = std::str::from_utf8(f48).ok().filter(|c| c.len() == 4).and_then(|c| c.parse().ok())
            else {
                return answer(ResponseCode::FORMAT_ERROR);
            };
            return match self.engine.end_upload(tid, f60.batch, count).await? {
                Some(_) => answer(ResponseCode::APPROVED),
                None => answer(ResponseCode::ORIGINAL_NOT_FOUND),
            };
        }
        // One to eight items, each of a domestic (00) or foreign (01) card.
        let Ok(items) = cup::parse_batch_items(f48) else { return answer(ResponseCode::FORMAT_ERROR) };
        if items.is_empty() || items.iter().any(|i| i.card_organisation != "00" && i.card_organisation != "01") {
            return answer(ResponseCode::FORMAT_ERROR);
        }
        let items = items
            .into_iter()
            .map(|i| Uploaded { stan: i.stan, amount_minor: i.amount, organisation: i.card_organisation })
            .collect();
        match self.engine.upload(tid, f60.batch, items).await? {
            UploadOutcome::Recorded => answer(ResponseCode::APPROVED),
            UploadOutcome::Duplicate => answer(ResponseCode::DUPLICATE),
            UploadOutcome::UnknownBatch => answer(ResponseCode::ORIGINAL_NOT_FOUND),
        }
    }

    async fn financial(&self, request: &Request, tid: &str, live: &Live) -> crate::engine::Result<Message> {
        let message = &request.message;
        let refuse = |code: ResponseCode| Ok(with_mac(reply_to(message, code), live));
        // Present and valid: checked by `check_fields`, which also requires field 4 on every
        // request but a balance inquiry.
        let (Some(stan), Some(Ok(f60))) =
            (message.get_str(11).and_then(cup::terminal_stan), message.get(60).map(Field60::parse))
        else {
            return refuse(ResponseCode::FORMAT_ERROR);
        };
        let amount = amount(message).unwrap_or(0);
        let operator = message
            .get(63)
            .and_then(|f| cup::parse_operator(f).ok())
            .map_or(live.operator.clone(), |o| format!("{o:02}"));
        let fresh = request.transaction != Transaction::Reversal && f60.batch == live.batch && live.fresh(stan);
        let origin = Origin {
            tid: tid.to_owned(),
            mid: live.mid.clone(),
            batch: f60.batch,
            stan,
            operator,
            channel: "iso8583",
            fresh,
            binding: None,
            session_version: Some(live.version),
        };

        if request.transaction == Transaction::Reversal {
            let outcome = Box::pin(self.engine.reverse(&origin, amount)).await?;
            let mut reply = reply_to(message, crate::cup::response_code(outcome));
            reply.set(37, crate::ids::rrn(stan, self.engine.clock().now_ns()));
            return Ok(with_mac(reply, live));
        }
        if f60.batch != live.batch {
            return refuse(ResponseCode::INVALID_TRANSACTION);
        }
        // What the terminal says of the original: batch and STAN (61), date (61.3), RRN (37),
        // authorization code (38); each given is checked against the recorded original.
        let original = message.get(61).and_then(|f| Field61::parse(f).ok()).map(|f| Original {
            batch: f.batch,
            stan: f.stan,
            rrn: field_str(message, 37),
            date_mmdd: f.date,
            auth_code: field_str(message, 38),
        });

        let answer = match (request.transaction, original) {
            (Transaction::BalanceInquiry | Transaction::Sale | Transaction::PreAuthorization, _) => {
                let Some((pan, expiry)) = card_of(message) else { return refuse(ResponseCode::INVALID_CARD) };
                let pin_block = match message.get(52) {
                    None => None,
                    Some(block) => match xingtong_crypto::pin::translate_pin_block(
                        block,
                        &pan,
                        &live.pin_key,
                        self.engine.network().zone_key(),
                    ) {
                        Ok(translated) => Some(translated),
                        Err(_) => return refuse(ResponseCode::PIN_FORMAT_ERROR),
                    },
                };
                let card = Card { pan, expiry, pin_block };
                match request.transaction {
                    Transaction::BalanceInquiry => Box::pin(self.engine.balance(&origin, &card)).await?,
                    _ => {
                        let kind =
                            if request.transaction == Transaction::Sale { Kind::Sale } else { Kind::PreAuthorization };
                        // Field 63 after the operator: the business type (1 sale, 2 collection, 3 purchase).
                        let business = message
                            .get(63)
                            .and_then(|f| f.get(3))
                            .and_then(|c| BusinessType::from_code(*c))
                            .unwrap_or_default();
                        self.engine.pay(&origin, &card, amount, kind, business, (None, None)).await?
                    }
                }
            }
            (Transaction::QrSale, _) => {
                let business = message
                    .get(63)
                    .and_then(|f| f.get(3))
                    .and_then(|c| BusinessType::from_code(*c))
                    .unwrap_or_default();
                let code = message.get(57).and_then(cup::qr_payment_code).unwrap_or_default();
                match self.engine.qr_pay(&origin, code, amount, business, (None, None)).await {
                    Ok(answer) => answer,
                    // Not a payment code of any wallet: nothing was recorded.
                    Err(error) if error.code == crate::qr::NotRecognised::CODE => {
                        let mut reply = reply_to(message, ResponseCode::INVALID_CARD);
                        let qr_reply = cup::QrReply {
                            wallet: "QRX".into(),
                            paid: false,
                            reason: format!("{:02}", NOT_RECOGNISED_NUMBER),
                            wallet_txn_id: String::new(),
                            code_url: None,
                        };
                        reply.set(57, qr_reply.to_bytes());
                        return Ok(with_mac(reply, live));
                    }
                    Err(error) => return Err(error),
                }
            }
            (Transaction::QrOrder, _) => {
                let request = message.get(57).and_then(cup::QrRequest::parse);
                let Some(request) = request else { return refuse(ResponseCode::FORMAT_ERROR) };
                return Box::pin(self.qr_order(message, request, &origin, amount, live)).await;
            }
            (Transaction::Void | Transaction::Refund | Transaction::PreAuthorizationCompletionVoid, Some(original)) => {
                if let Some(code) = Box::pin(self.supervisor_ok(live, message)).await? {
                    return refuse(code);
                }
                match request.transaction {
                    Transaction::Void => Box::pin(self.engine.void(&origin, original, amount, Kind::Void)).await?,
                    Transaction::PreAuthorizationCompletionVoid => {
                        Box::pin(self.engine.void(&origin, original, amount, Kind::CompletionVoid)).await?
                    }
                    _ => {
                        let reason = message.get(63).and_then(cup::refund_reason).map(str::to_owned);
                        Box::pin(self.engine.refund(&origin, original, amount, reason)).await?
                    }
                }
            }
            (Transaction::PreAuthorizationVoid, Some(original)) => {
                Box::pin(self.engine.pre_authorization_void(&origin, original, amount)).await?
            }
            (Transaction::PreAuthorizationCompletion, Some(original)) => {
                Box::pin(self.engine.complete(&origin, original, amount, None)).await?
            }
            _ => return refuse(ResponseCode::FUNCTION_NOT_SUPPORTED),
        };
        Ok(answer_reply(message, &answer, live, self.engine.clock()))
    }
}

impl Terminals {
    /// A customer-scans order (docs/iso8583.md §5.6): made (`D`), asked after (`Q`) or closed
    /// (`C`). The reply is the order's: `00` with field 57 `W` and the code's URL while it waits,
    /// `00` and `P` once paid, the decline's code and `N` once it ended unpaid.
    async fn qr_order(
        &self,
        message: &Message,
        request: cup::QrRequest,
        origin: &Origin,
        amount: i64,
        live: &Live,
    ) -> crate::engine::Result<Message> {
        let refuse = |code: ResponseCode| Ok(with_mac(reply_to(message, code), live));
        let order = match request {
            cup::QrRequest::Order { wallet, minutes } => {
                let Some(scheme) = crate::qr::Scheme::ALL.into_iter().find(|s| s.tag() == wallet) else {
                    return refuse(ResponseCode::FORMAT_ERROR);
                };
                let business = message
                    .get(63)
                    .and_then(|f| f.get(3))
                    .and_then(|c| BusinessType::from_code(*c))
                    .unwrap_or_default();
                let spec = crate::order::OrderSpec {
                    scheme,
                    amount_minor: amount,
                    lifetime: minutes.map(|m| std::time::Duration::from_secs(u64::from(m) * 60)),
                    business_type: business,
                    customer: (None, None),
                };
                let answer = self.engine.qr_order(origin, spec).await?;
                match answer.transaction {
                    Some(t) => t,
                    // The same STAN again.
                    None => return Ok(answer_reply(message, &answer, live, self.engine.clock())),
                }
            }
            cup::QrRequest::Query(stan) | cup::QrRequest::Close(stan) => {
                let id = CardTransaction::key(&origin.tid, origin.batch, stan);
                let is_order = |t: &CardTransaction| t.qr.as_ref().is_some_and(|q| q.order.is_some());
                match self.engine.transaction_by_id(&id).await? {
                    Some(t) if is_order(&t.value) => {}
                    _ => return refuse(ResponseCode::ORIGINAL_NOT_FOUND),
                }
                let followed = match request {
                    cup::QrRequest::Close(_) => self.engine.close_qr_order(&id).await?,
                    _ => self.engine.qr_order_state(&id).await?,
                };
                let Some(t) = followed else { return refuse(ResponseCode::ORIGINAL_NOT_FOUND) };
                t
            }
        };
        // Made and waiting for the customer (pending) is answered 00 too: the request succeeded.
        let answer = Answer::of(order);
        // The reply is to this message (its own STAN); fields 12, 13 and 37 are the order's.
        Ok(answer_reply(message, &answer, live, self.engine.clock()))
    }
}

/// The gateway dispatcher of a payments engine, shareable.
pub fn dispatcher(engine: Engine) -> Arc<Terminals> {
    Arc::new(Terminals::new(engine))
}

//! Terminals over ISO 8583: the gateway's [`Dispatch`] for the whole card message set. Parses the
//! fields, checks the session and the MAC, translates PIN blocks, calls the core, and answers with
//! the reply's MAC.

use std::sync::Arc;

use xingtong_crypto::{MacAlgorithm, WorkingKeysLayout};
use xingtong_gateway::{Dispatch, Request, reply_to};
use xingtong_iso8583::cup::{Field60, Field61, Transaction};
use xingtong_iso8583::{Message, ResponseCode, cup};

use crate::engine::{Answer, Card, Engine, Origin};
use crate::session::{Live, SignIn, operator_pin_pan};
use crate::txn::{BusinessType, Kind};

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

fn answer_reply(request: &Message, answer: &Answer, live: &Live) -> Message {
    let mut reply = reply_to(request, answer.code);
    let (hhmmss, mmdd) = crate::clock::fields_12_13();
    reply.set(12, hhmmss);
    reply.set(13, mmdd);
    reply.set(37, answer.rrn.clone());
    if answer.code.is_approved() {
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
            Transaction::Settlement | Transaction::BatchUpload | Transaction::BatchUploadEnd => {
                return code_only(message, ResponseCode::FUNCTION_NOT_SUPPORTED);
            }
            _ => self.financial(&request).await,
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

impl Terminals {
    async fn sign_in(&self, message: &Message) -> crate::engine::Result<Message> {
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
            SignIn::Refused(code) => code_only(message, code),
            SignIn::Ok { field62, batch } => {
                let mut reply = code_only(message, ResponseCode::APPROVED);
                let (hhmmss, mmdd) = crate::clock::fields_12_13();
                reply.set(12, hhmmss);
                reply.set(13, mmdd);
                reply.set(37, crate::ids::rrn(message.get_str(11).and_then(|s| s.parse().ok()).unwrap_or(0)));
                reply.set(60, Field60 { batch, ..f60 }.to_bytes());
                reply.set(62, field62.0);
                reply
            }
        })
    }

    async fn sign_off(&self, message: &Message) -> crate::engine::Result<Message> {
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
            Err(PinRefusal::Locked) => Some(ResponseCode::PIN_TRIES_EXCEEDED),
        })
    }

    async fn financial(&self, request: &Request) -> crate::engine::Result<Message> {
        let message = &request.message;
        let (Some(tid), Some(mid)) = (field_str(message, 41), field_str(message, 42)) else {
            return Ok(code_only(message, ResponseCode::FORMAT_ERROR));
        };
        let Some(live) = self.engine.live_session(&tid).await? else {
            return Ok(code_only(message, ResponseCode::NOT_SIGNED_IN));
        };
        if live.mid != mid {
            return Ok(code_only(message, ResponseCode::INVALID_MERCHANT));
        }
        // Every financial message carries a MAC under this sign-in's key.
        let mac_ok = match (message.get(64), Message::mac_input(&request.packed, message)) {
            (Some(mac), Some(data)) => MacAlgorithm::CupEcb.verify(&live.mac_key, data, mac),
            _ => false,
        };
        if !mac_ok {
            return Ok(code_only(message, ResponseCode::MAC_FAILED));
        }
        let (Some(stan), Some(f60)) = (message.get_str(11).and_then(|s| s.parse::<u32>().ok()), message.get(60)) else {
            return Ok(code_only(message, ResponseCode::FORMAT_ERROR));
        };
        let Ok(f60) = Field60::parse(f60) else { return Ok(code_only(message, ResponseCode::FORMAT_ERROR)) };
        let operator = message
            .get(63)
            .and_then(|f| cup::parse_operator(f).ok())
            .map_or(live.operator.clone(), |o| format!("{o:02}"));
        let fresh = request.transaction != Transaction::Reversal && f60.batch == live.batch && live.fresh(stan);
        let origin = Origin {
            tid: tid.clone(),
            mid,
            batch: f60.batch,
            stan,
            operator,
            channel: "iso8583",
            fresh,
            binding: None,
        };
        let amount = amount(message);

        if request.transaction == Transaction::Reversal {
            let Some(amount) = amount else { return Ok(code_only(message, ResponseCode::FORMAT_ERROR)) };
            let code = Box::pin(self.engine.reverse(&origin, amount)).await?;
            let mut reply = reply_to(message, code);
            reply.set(37, crate::ids::rrn(stan));
            return Ok(with_mac(reply, &live));
        }
        if f60.batch != live.batch {
            return Ok(with_mac(reply_to(message, ResponseCode::INVALID_TRANSACTION), &live));
        }
        let original = message.get(61).and_then(|f| Field61::parse(f).ok()).map(|f| (f.batch, f.stan));

        let answer = match request.transaction {
            Transaction::BalanceInquiry | Transaction::Sale | Transaction::PreAuthorization => {
                let Some((pan, expiry)) = card_of(message) else {
                    return Ok(with_mac(reply_to(message, ResponseCode::INVALID_CARD), &live));
                };
                let pin_block = match message.get(52) {
                    None => None,
                    Some(block) => match xingtong_crypto::pin::translate_pin_block(
                        block,
                        &pan,
                        &live.pin_key,
                        self.engine.network().zone_key(),
                    ) {
                        Ok(translated) => Some(translated),
                        Err(_) => return Ok(with_mac(reply_to(message, ResponseCode::PIN_FORMAT_ERROR), &live)),
                    },
                };
                let card = Card { pan, expiry, pin_block };
                match request.transaction {
                    Transaction::BalanceInquiry => Box::pin(self.engine.balance(&origin, &card)).await?,
                    _ => {
                        let Some(amount) = amount else { return Ok(code_only(message, ResponseCode::FORMAT_ERROR)) };
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
            Transaction::Void | Transaction::Refund | Transaction::PreAuthorizationCompletionVoid => {
                let (Some(amount), Some(original)) = (amount, original) else {
                    return Ok(code_only(message, ResponseCode::FORMAT_ERROR));
                };
                if let Some(code) = Box::pin(self.supervisor_ok(&live, message)).await? {
                    return Ok(with_mac(reply_to(message, code), &live));
                }
                match request.transaction {
                    Transaction::Void => Box::pin(self.engine.void(&origin, original, amount, Kind::Void)).await?,
                    Transaction::PreAuthorizationCompletionVoid => {
                        Box::pin(self.engine.void(&origin, original, amount, Kind::CompletionVoid)).await?
                    }
                    _ => {
                        let reason = message
                            .get(63)
                            .and_then(|f| f.get(3..5))
                            .and_then(|r| std::str::from_utf8(r).ok())
                            .map(str::to_owned);
                        if !reason.as_deref().is_some_and(|r| ["01", "02", "03", "04"].contains(&r)) {
                            return Ok(with_mac(reply_to(message, ResponseCode::FORMAT_ERROR), &live));
                        }
                        Box::pin(self.engine.refund(&origin, original, amount, reason)).await?
                    }
                }
            }
            Transaction::PreAuthorizationVoid => {
                let (Some(amount), Some(original)) = (amount, original) else {
                    return Ok(code_only(message, ResponseCode::FORMAT_ERROR));
                };
                Box::pin(self.engine.pre_authorization_void(&origin, original, amount)).await?
            }
            Transaction::PreAuthorizationCompletion => {
                let (Some(amount), Some(original)) = (amount, original) else {
                    return Ok(code_only(message, ResponseCode::FORMAT_ERROR));
                };
                Box::pin(self.engine.complete(&origin, original, amount, message.get_str(38))).await?
            }
            _ => return Ok(code_only(message, ResponseCode::FUNCTION_NOT_SUPPORTED)),
        };
        Ok(answer_reply(message, &answer, &live))
    }
}

/// The gateway dispatcher of a payments engine, shareable.
pub fn dispatcher(engine: Engine) -> Arc<Terminals> {
    Arc::new(Terminals::new(engine))
}

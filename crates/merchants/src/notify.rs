//! Notifications: an outbox of SMS and email messages, in the recipient's language (zh-CN or en),
//! written in the same commit as the event they announce (so none is lost and none is sent for
//! something that did not happen), then delivered by a transport with retries and backoff.
//!
//! The default transport appends each message as a JSON line to `outbox/sms.log` or
//! `outbox/email.log` in the data directory; email goes over SMTP when configured.
//! Messages carrying a one-time code are redacted in the outbox once delivered.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use xingtong_store::{Change, Put, RecordQuery, now_ns};

use crate::Merchants;
use crate::entity::{Entity, due, insert, list, new_id};
use crate::error::{Error, Result};
use crate::identity::{Principal, User};

/// What a notification announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Template {
    /// The application was received.
    ApplicationSubmitted,
    /// Approved: MID and TID.
    ApplicationApproved,
    /// Rejected, with the reason.
    ApplicationRejected,
    /// The device is on its way.
    DeviceShipped,
    /// The device made its first qualifying sale.
    DeviceActivated,
    /// The one-time code confirming a settlement card change.
    CardChangeCode,
    /// The settlement card was changed.
    CardChanged,
    /// An operator's PIN locked.
    PinLocked,
    /// An operator's PIN was reset by staff.
    PinReset,
    /// A card payment, to the customer who left a phone number or email.
    PaymentNotice,
    /// A settlement's payout reached the merchant's bank card.
    PayoutPaid,
    /// A payout failed; the money is back on the merchant's balance until the card is fixed.
    PayoutFailed,
    /// A new fee schedule, announced ahead of the day it takes effect.
    FeeChangeAnnounced,
    /// The device deposit was paid.
    DepositPaid,
    /// Staff waived the device deposit.
    DepositWaived,
    /// The device reached its volume: the deposit is on its way back to the merchant's card.
    DepositRefundDue,
    /// The deposit refund reached the merchant's card.
    DepositRefunded,
    /// The deposit refund failed; it is sent again once the card is fixed.
    DepositRefundFailed,
    /// The refund deadline passed below the volume: the deposit is kept against the device.
    DepositKept,
}

impl Template {
    /// (subject, text) in zh-CN and in en, with `{name}` placeholders.
    fn texts(self) -> [(&'static str, &'static str); 2] {
        match self {
            Template::ApplicationSubmitted => [
                ("【星通】申请已提交", "【星通】您的商户申请 {application} 已提交，我们将尽快审核。"),
                (
                    "[XingTong] Application received",
                    "[XingTong] Your merchant application {application} was received and will be reviewed shortly.",
                ),
            ],
            Template::ApplicationApproved => [
                (
                    "【星通】申请已通过",
                    "【星通】恭喜，您的商户申请已通过。商户号 {mid}，终端号 {tid}。设备发货后请在商户后台查看激活码。",
                ),
                (
                    "[XingTong] Application approved",
                    "[XingTong] Your application was approved. Merchant number {mid}, terminal {tid}. Once the device ships, find its activation code in the merchant console.",
                ),
            ],
            Template::ApplicationRejected => [
                (
                    "【星通】申请未通过",
                    "【星通】您的商户申请 {application} 未通过审核，原因：{reason}。修改后可重新提交。",
                ),
                (
                    "[XingTong] Application not approved",
                    "[XingTong] Your application {application} was not approved: {reason}. Correct it and submit again.",
                ),
            ],
            Template::DeviceShipped => [
                (
                    "【星通】设备已发货",
                    "【星通】您的POS终端 {tid} 已发货。收到后开机，输入商户号 {mid} 和激活码即可激活。",
                ),
                (
                    "[XingTong] Device shipped",
                    "[XingTong] Your POS terminal {tid} has shipped. Power it on and enter merchant number {mid} and the activation code.",
                ),
            ],
            Template::DeviceActivated => [
                ("【星通】设备已激活", "【星通】您的POS终端 {tid} 已激活。"),
                ("[XingTong] Device activated", "[XingTong] Your POS terminal {tid} is activated."),
            ],
            Template::CardChangeCode => [
                ("【星通】验证码", "【星通】您正在修改结算银行卡，验证码 {code}，10分钟内有效。请勿告诉他人。"),
                (
                    "[XingTong] Verification code",
                    "[XingTong] Your code to change the settlement card is {code}, valid for 10 minutes. Never share it.",
                ),
            ],
            Template::CardChanged => [
                (
                    "【星通】结算卡已变更",
                    "【星通】商户 {mid} 的结算银行卡已变更为 {card}，自下一次结算起生效。如非本人操作请立即联系客服。",
                ),
                (
                    "[XingTong] Settlement card changed",
                    "[XingTong] The settlement card of merchant {mid} is now {card}, from the next settlement on. If this was not you, call us at once.",
                ),
            ],
            Template::PinLocked => [
                (
                    "【星通】操作员密码已锁定",
                    "【星通】商户 {mid} 的操作员 {operator} 因密码错误次数过多已锁定，请联系客服重置。",
                ),
                (
                    "[XingTong] Operator PIN locked",
                    "[XingTong] Operator {operator} of merchant {mid} is locked after too many wrong PINs. Ask support for a reset.",
                ),
            ],
            Template::PaymentNotice => [
                (
                    "【星通】交易提醒",
                    "【星通】您于{time}在{merchant}使用尾号{last4}的卡{kind}{amount}元，参考号{rrn}。",
                ),
                (
                    "[XingTong] Card payment",
                    "[XingTong] {kind_en} of CNY {amount} at {merchant} with the card ending {last4} at {time}, reference {rrn}.",
                ),
            ],
            Template::PayoutPaid => [
                ("【星通】结算款已到账", "【星通】商户 {mid} {day} 的结算款 {amount} 元已付至尾号 {last4} 的银行卡。"),
                (
                    "[XingTong] Settlement paid",
                    "[XingTong] CNY {amount}, the settlement of {day} for merchant {mid}, was paid to the card ending {last4}.",
                ),
            ],
            Template::FeeChangeAnnounced => [
                (
                    "【星通】费率调整通知",
                    "【星通】商户 {mid} 的费率自 {date} 起调整为：借记卡 {debit}（封顶 {cap} 元），贷记卡 {credit}，扫码 {qr}，D0 附加 {d0}。此前仍按原费率。如有疑问请联系客服。",
                ),
                (
                    "[XingTong] Fee change notice",
                    "[XingTong] From {date}, merchant {mid} pays: debit cards {debit} (at most CNY {cap}), credit cards {credit}, QR {qr}, D0 surcharge {d0}. Until then the current fees apply.",
                ),
            ],
            Template::PayoutFailed => [
                (
                    "【星通】结算款支付失败",
                    "【星通】商户 {mid} {day} 的结算款 {amount} 元付至尾号 {last4} 的银行卡失败（{reason}），款项已退回商户余额。请在商户后台更换结算卡，更换后将自动重新支付。",
                ),
                (
                    "[XingTong] Settlement payout failed",
                    "[XingTong] CNY {amount}, the settlement of {day} for merchant {mid}, could not be paid to the card ending {last4} ({reason}); the money is back on your balance. Change the settlement card in the merchant console and it is paid again.",
                ),
            ],
            Template::DepositPaid => [
                (
                    "【星通】设备押金已收到",
                    "【星通】终端 {tid} 的押金 {amount} 元已收到。激活后 {days} 天内刷卡交易额满 {threshold} 元，押金将退回至您的结算卡。",
                ),
                (
                    "[XingTong] Device deposit received",
                    "[XingTong] The deposit of CNY {amount} for terminal {tid} was received. Once the terminal's card volume reaches CNY {threshold} within {days} days of activation, it is refunded to your settlement card.",
                ),
            ],
            Template::DepositWaived => [
                (
                    "【星通】设备押金已免收",
                    "【星通】终端 {tid} 的押金 {amount} 元已免收（{reason}），无需支付，也无退还。",
                ),
                (
                    "[XingTong] Device deposit waived",
                    "[XingTong] The deposit of CNY {amount} for terminal {tid} was waived ({reason}): nothing to pay, nothing to refund.",
                ),
            ],
            Template::DepositRefundDue => [
                (
                    "【星通】押金退还条件已达成",
                    "【星通】终端 {tid} 的刷卡交易额已达 {volume} 元，押金 {amount} 元将于 {date} 退至尾号 {last4} 的结算卡。",
                ),
                (
                    "[XingTong] Deposit refund on its way",
                    "[XingTong] Terminal {tid} reached CNY {volume} of card volume: its deposit of CNY {amount} will be paid to the card ending {last4} on {date}.",
                ),
            ],
            Template::DepositRefunded => [
                ("【星通】押金已退还", "【星通】终端 {tid} 的押金 {amount} 元已退至尾号 {last4} 的银行卡。"),
                (
                    "[XingTong] Deposit refunded",
                    "[XingTong] The deposit of CNY {amount} for terminal {tid} was paid to the card ending {last4}.",
                ),
            ],
            Template::DepositRefundFailed => [
                (
                    "【星通】押金退还失败",
                    "【星通】终端 {tid} 的押金 {amount} 元退至尾号 {last4} 的银行卡失败（{reason}）。请在商户后台更换结算卡，更换后将自动重新退还。",
                ),
                (
                    "[XingTong] Deposit refund failed",
                    "[XingTong] The deposit of CNY {amount} for terminal {tid} could not be paid to the card ending {last4} ({reason}). Change your settlement card in the merchant console; it is sent again once you do.",
                ),
            ],
            Template::DepositKept => [
                (
                    "【星通】押金退还期限已过",
                    "【星通】终端 {tid} 激活后 {days} 天内刷卡交易额为 {volume} 元，未达 {threshold} 元，押金 {amount} 元按协议抵作设备费用，不予退还。如有疑问请联系客服。",
                ),
                (
                    "[XingTong] Deposit refund deadline passed",
                    "[XingTong] Terminal {tid} took CNY {volume} of card volume in the {days} days after activation, below CNY {threshold}: as agreed, its deposit of CNY {amount} is kept against the device. Contact us with any question.",
                ),
            ],
            Template::PinReset => [
                (
                    "【星通】操作员密码已重置",
                    "【星通】商户 {mid} 的操作员 {operator} 密码已重置，请在商户后台设置新密码。",
                ),
                (
                    "[XingTong] Operator PIN reset",
                    "[XingTong] The PIN of operator {operator} of merchant {mid} was reset. Set a new one in the merchant console.",
                ),
            ],
        }
    }

    /// True when the message carries a secret and must not stay in the outbox after delivery.
    pub fn carries_secret(self) -> bool {
        self == Template::CardChangeCode
    }
}

/// Fills a template in a language.
pub fn render(template: Template, language: &str, params: &[(&str, &str)]) -> (String, String) {
    let [zh, en] = template.texts();
    let (subject, text) = if language == "en" { en } else { zh };
    let mut text = text.to_owned();
    for (name, value) in params {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    (subject.to_owned(), text)
}

/// A message in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// `ntf_…`, time-ordered.
    pub id: String,
    /// The user it is for.
    pub user_id: String,
    /// `sms` or `email`.
    pub channel: String,
    /// Phone number or address.
    pub to: String,
    /// `zh-CN` or `en`.
    pub language: String,
    /// What it announces.
    pub template: Template,
    /// Subject (email).
    pub subject: String,
    /// Text.
    pub text: String,
    /// `queued`, `sent` or `failed` (gave up).
    pub status: String,
    /// Delivery attempts made.
    pub attempts: u32,
    /// Next attempt (ns), while queued.
    pub next_attempt_at: Option<u64>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Delivered at (ns).
    pub sent_at: Option<u64>,
}

impl Entity for Notification {
    const KIND: &'static str = "notification";
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.user_id.clone()
    }
    fn status(&self) -> String {
        self.status.clone()
    }
    fn due_at(&self) -> Option<u64> {
        self.next_attempt_at
    }
}

/// Attempts before a message is given up as failed.
pub const DELIVERY_ATTEMPTS_MAX: u32 = 10;
/// The longest wait between attempts: an hour.
pub const BACKOFF_MAX_NS: u64 = 3_600 * 1_000_000_000;

/// The wait after the `attempts`-th failure: 1 s, 2 s, 4 s, … at most an hour.
pub fn backoff_ns(attempts: u32) -> u64 {
    let seconds = 1u64 << attempts.saturating_sub(1).min(12);
    (seconds * 1_000_000_000).min(BACKOFF_MAX_NS)
}

/// The outbox puts telling `user` about something: an SMS, and an email when they gave an address.
pub fn notification_to_user(user: &User, template: Template, params: &[(&str, &str)]) -> Result<Vec<Put>> {
    notification_to(user, &user.phone, user.email.as_deref(), template, params)
}

/// The outbox puts for explicit recipients.
pub fn notification_to(
    user: &User,
    phone: &str,
    email: Option<&str>,
    template: Template,
    params: &[(&str, &str)],
) -> Result<Vec<Put>> {
    let (subject, text) = render(template, &user.language, params);
    let now = now_ns();
    let mut puts = Vec::new();
    let mut channels = vec![("sms", phone)];
    if let Some(email) = email {
        channels.push(("email", email));
    }
    for (channel, to) in channels {
        puts.push(insert(&queued(&user.id, channel, to, &user.language, template, &subject, &text, now))?);
    }
    Ok(puts)
}

/// A message waiting for its first attempt.
#[allow(clippy::too_many_arguments)]
fn queued(
    user_id: &str,
    channel: &str,
    to: &str,
    language: &str,
    template: Template,
    subject: &str,
    text: &str,
    now: u64,
) -> Notification {
    Notification {
        id: new_id("ntf"),
        user_id: user_id.into(),
        channel: channel.into(),
        to: to.into(),
        language: language.into(),
        template,
        subject: subject.into(),
        text: text.into(),
        status: "queued".into(),
        attempts: 0,
        next_attempt_at: Some(now),
        last_error: None,
        sent_at: None,
    }
}

/// The outbox puts telling a customer (no account of ours) about a payment.
pub fn notification_to_customer(
    phone: Option<&str>,
    email: Option<&str>,
    language: &str,
    template: Template,
    params: &[(&str, &str)],
) -> Result<Vec<Put>> {
    let (subject, text) = render(template, language, params);
    let now = now_ns();
    let mut puts = Vec::new();
    for (channel, to) in [("sms", phone), ("email", email)] {
        let Some(to) = to else { continue };
        puts.push(insert(&queued("customer", channel, to, language, template, &subject, &text, now))?);
    }
    Ok(puts)
}

/// A message handed to a transport.
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    /// Notification id.
    pub id: String,
    /// `sms` or `email`.
    pub channel: String,
    /// Recipient.
    pub to: String,
    /// Subject.
    pub subject: String,
    /// Text.
    pub text: String,
}

/// A future a transport returns.
pub type Sending<'a> = Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send + 'a>>;

/// Delivers messages: a real SMS gateway or mail server, or a file.
pub trait Transport: Send + Sync {
    /// Sends one message; an error is retried later.
    fn send<'a>(&'a self, message: &'a Outgoing) -> Sending<'a>;
}

/// Appends each message as a JSON line to `<dir>/sms.log` or `<dir>/email.log`.
#[derive(Debug, Clone)]
pub struct FileTransport {
    /// The outbox directory.
    pub dir: PathBuf,
}

impl Transport for FileTransport {
    fn send<'a>(&'a self, message: &'a Outgoing) -> Sending<'a> {
        Box::pin(async move {
            let line = serde_json::to_string(message).map_err(|e| e.to_string())? + "\n";
            let path = self.dir.join(format!("{}.log", message.channel));
            let dir = self.dir.clone();
            tokio::task::spawn_blocking(move || {
                use std::io::Write;
                std::fs::create_dir_all(&dir)?;
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                file.write_all(line.as_bytes())?;
                file.sync_data()
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("outbox file: {e}"))
        })
    }
}

/// Email over SMTP (plain, no authentication: a local relay), everything else to a file.
#[derive(Debug, Clone)]
pub struct SmtpTransport {
    /// `host:port` of the relay.
    pub address: String,
    /// The sender address.
    pub from: String,
    /// Where SMS go.
    pub files: FileTransport,
}

impl Transport for SmtpTransport {
    fn send<'a>(&'a self, message: &'a Outgoing) -> Sending<'a> {
        if message.channel != "email" {
            return self.files.send(message);
        }
        Box::pin(async move {
            tokio::time::timeout(std::time::Duration::from_secs(30), smtp_send(&self.address, &self.from, message))
                .await
                .map_err(|_| "smtp: timed out".to_owned())?
        })
    }
}

async fn smtp_send(address: &str, from: &str, message: &Outgoing) -> std::result::Result<(), String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| format!("smtp connect: {e}"))?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    async fn reply(lines: &mut (impl AsyncBufReadExt + Unpin), expect: &str) -> std::result::Result<(), String> {
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await.map_err(|e| format!("smtp read: {e}"))? == 0 {
                return Err("smtp: connection closed".into());
            }
            if line.len() >= 4 && &line[3..4] == "-" {
                continue;
            }
            return if line.starts_with(expect) { Ok(()) } else { Err(format!("smtp: {}", line.trim_end())) };
        }
    }
    let clean = |s: &str| s.replace(['\r', '\n'], " ");
    let body = message.text.replace("\r\n", "\n").replace('\n', "\r\n");
    // Dot-stuffing: a line starting with '.' gets another.
    let body = body
        .split("\r\n")
        .map(|l| if l.starts_with('.') { format!(".{l}") } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\r\n");
    let subject = format!("=?UTF-8?B?{}?=", base64_encode(message.subject.as_bytes()));
    let data = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@xingtong>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n.\r\n",
        from = clean(from),
        to = clean(&message.to),
        id = message.id,
    );
    reply(&mut lines, "220").await?;
    let steps: [(String, &str); 4] = [
        ("EHLO xingtong\r\n".into(), "250"),
        (format!("MAIL FROM:<{}>\r\n", clean(from)), "250"),
        (format!("RCPT TO:<{}>\r\n", clean(&message.to)), "25"),
        ("DATA\r\n".into(), "354"),
    ];
    for (command, expect) in steps {
        write.write_all(command.as_bytes()).await.map_err(|e| format!("smtp write: {e}"))?;
        reply(&mut lines, expect).await?;
    }
    write.write_all(data.as_bytes()).await.map_err(|e| format!("smtp write: {e}"))?;
    reply(&mut lines, "250").await?;
    let _ = write.write_all(b"QUIT\r\n").await;
    Ok(())
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Merchants {
    /// Delivers what is due, at most `limit` messages; returns how many were sent.
    pub async fn deliver_due(&self, transport: &dyn Transport, limit: u32) -> Result<usize> {
        let mut sent = 0;
        for mut notification in due::<Notification>(&self.store, "queued", now_ns(), limit).await? {
            let n = &notification.value;
            let outgoing = Outgoing {
                id: n.id.clone(),
                channel: n.channel.clone(),
                to: n.to.clone(),
                subject: n.subject.clone(),
                text: n.text.clone(),
            };
            let result = transport.send(&outgoing).await;
            let n = &mut notification.value;
            n.attempts += 1;
            match result {
                Ok(()) => {
                    n.status = "sent".into();
                    n.sent_at = Some(now_ns());
                    n.next_attempt_at = None;
                    n.last_error = None;
                    if n.template.carries_secret() {
                        n.text = "[one-time code redacted after delivery]".into();
                    }
                    sent += 1;
                }
                Err(error) => {
                    tracing::warn!(notification = %n.id, channel = %n.channel, attempts = n.attempts, %error, "delivery failed");
                    n.last_error = Some(error);
                    if n.attempts >= DELIVERY_ATTEMPTS_MAX {
                        n.status = "failed".into();
                        n.next_attempt_at = None;
                    } else {
                        n.next_attempt_at = Some(now_ns() + backoff_ns(n.attempts));
                    }
                }
            }
            // A lost race means another process delivered it: fine.
            match self.store.apply(Change { puts: vec![notification.update()?], ..Change::default() }).await {
                Ok(()) => {}
                Err(error) => {
                    let error = Error::from(error);
                    if !error.is_conflict() {
                        return Err(error);
                    }
                }
            }
        }
        Ok(sent)
    }

    /// The newest `limit` messages of the outbox, newest first, of these statuses (any when
    /// empty): staff see everything, an owner their own.
    pub async fn recent_notifications(
        &self,
        principal: &Principal,
        statuses: &[&str],
        limit: u32,
    ) -> Result<Vec<crate::entity::Stored<Notification>>> {
        let mut query = RecordQuery::kind(Notification::KIND).statuses(statuses).descending();
        query.limit = limit.clamp(1, xingtong_store::PAGE_LIMIT_MAX);
        match principal {
            Principal::Staff { .. } => list(&self.store, query).await,
            Principal::Owner { user_id, .. } => list(&self.store, query.owner(user_id)).await,
            Principal::MerchantKey { .. } => Err(Error::forbidden("notifications are for staff and signed-in owners")),
        }
    }

    /// The outbox: staff see everything, an owner their own.
    pub async fn notifications(
        &self,
        principal: &Principal,
        statuses: &[&str],
    ) -> Result<Vec<crate::entity::Stored<Notification>>> {
        let mut query = RecordQuery::kind(Notification::KIND).statuses(statuses);
        query.limit = xingtong_store::PAGE_LIMIT_MAX;
        match principal {
            Principal::Staff { .. } => list(&self.store, query).await,
            Principal::Owner { user_id, .. } => list(&self.store, query.owner(user_id)).await,
            Principal::MerchantKey { .. } => Err(Error::forbidden("notifications are for staff and signed-in owners")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_in_both_languages() {
        let (subject, text) =
            render(Template::ApplicationApproved, "zh-CN", &[("mid", "898310053990001"), ("tid", "10000001")]);
        assert_eq!(subject, "【星通】申请已通过");
        assert!(text.contains("商户号 898310053990001") && text.contains("终端号 10000001"), "{text}");
        let (_, text) =
            render(Template::ApplicationRejected, "en", &[("application", "app_1"), ("reason", "blurry ID")]);
        assert!(text.contains("app_1") && text.contains("blurry ID") && !text.contains('{'), "{text}");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ns(1), 1_000_000_000);
        assert_eq!(backoff_ns(2), 2_000_000_000);
        assert_eq!(backoff_ns(5), 16_000_000_000);
        assert_eq!(backoff_ns(30), BACKOFF_MAX_NS);
    }

    #[test]
    fn base64() {
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert_eq!(base64_encode(b"M"), "TQ==");
        assert_eq!(base64_encode("星".as_bytes()), "5pif");
    }
}

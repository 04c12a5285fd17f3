//! `xingtong terminal`: a China UnionPay–style POS terminal in the shell. It speaks only ISO 8583
//! to the host, through `crates/pos` (and HTTP once, to activate), and keeps its state in its own
//! directory like a real terminal keeps flash.
//!
//! # Layout
//! - [`device`]: what the device keeps across restarts (identity, TMK, journal, receipts).
//! - [`App`]: the screens as a state machine: a key in, maybe a [`Task`] out; a task's outcome in.
//! - `draw`: one frame of the current screen (ratatui), in Chinese or English.
//! - [`run`]: the loop: draw, read a key, carry out tasks against the host.
//!
//! What exists so far: first power-on (language, network check, activation with the TMK's check
//! value), sign-in and sign-off, sale and balance inquiry with a card from a cards file or keyed,
//! the PIN on a masked pad, voids and refunds of a journalled sale with the supervisor's PIN, the
//! answer explained from the response code table, receipts on screen and in the device directory,
//! and the pending reversal shown and sent first. Pre-authorization, the transaction query,
//! settings and diagnostics are not built yet.

pub mod device;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use serde::Deserialize;
use xingtong_iso8583::{ResponseCode, cup};
use xingtong_pos::{CardRead, Request, Terminal, TerminalConfig};

use crate::device::{DeviceDir, DeviceState, JournalEntry};

/// How the terminal is started.
#[derive(Debug, Clone)]
pub struct Options {
    /// The host's ISO 8583 address.
    pub host: SocketAddr,
    /// The host's HTTP address (activation only).
    pub api: SocketAddr,
    /// The device's directory.
    pub dir: PathBuf,
    /// `zh` or `en`, when given (otherwise asked at first power-on, then remembered).
    pub language: Option<String>,
    /// Cards to "swipe": a JSON list with `number`, `expiry`, `track2`, `pin`, `label` (the demo
    /// tenant's `demo-cards.json`).
    pub cards: Option<PathBuf>,
    /// Activation values to pre-fill (merchant number, serial number, activation code).
    pub prefill: [Option<String>; 3],
}

/// A card in the cards file.
#[derive(Debug, Clone, Deserialize)]
pub struct CardEntry {
    /// What it is.
    #[serde(default)]
    pub label: String,
    /// Number.
    pub number: String,
    /// YYMM.
    pub expiry: String,
    /// Its PIN, which the pad then offers.
    #[serde(default)]
    pub pin: Option<String>,
    /// `debit` or `credit`.
    #[serde(default)]
    pub card_type: Option<String>,
}

/// What a screen asks the host to do.
#[derive(Debug, Clone)]
pub enum Task {
    /// Connect to the host (first power-on: the device has no identity yet to send a message with).
    NetworkCheck,
    /// An echo test (0820, 301) from diagnostics, timed.
    Echo,
    /// Activate with merchant number, serial number and code.
    Activate([String; 3]),
    /// Sign in an operator with a PIN.
    SignIn(u8, String),
    /// Sign off.
    SignOff,
    /// Settle the open batch (its totals from the journal).
    Settle,
    /// A sale or a balance inquiry.
    Pay { kind: PayKind, amount_minor: i64, card: CardRead },
    /// A sale paid with the customer's payment code (扫码消费), as the scanner typed it.
    QrPay { amount_minor: i64, code: String },
    /// A dynamic code for the customer to scan (C扫B): the amount and the wallet (`WXP`, `ALP`,
    /// `UPQ`).
    QrOrder { amount_minor: i64, wallet: String },
    /// Asks after the order shown (or closes it).
    QrAsk { order: ShownCode, close: bool },
    /// A void (撤销) or refund (退货) of a sale in the journal, with the supervisor's PIN.
    Return { kind: ReturnKind, original: JournalEntry, amount_minor: i64, supervisor_pin: String },
}

/// A transaction on an earlier one in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnKind {
    /// 撤销: the whole sale, in its batch (supervisor).
    Void,
    /// 退货: part or all, any day after (supervisor).
    Refund,
    /// 预授权完成: takes at most the held amount.
    Completion,
    /// 预授权撤销: releases the whole hold (its authorization code is the proof; no supervisor).
    PreAuthorizationVoid,
    /// 预授权完成撤销: the whole completion, in its batch (supervisor).
    CompletionVoid,
}

impl ReturnKind {
    /// The journal kind of the original it acts on.
    fn original_kind(self) -> &'static str {
        if self == ReturnKind::Completion { "preauth" } else { "sale" }
    }
}

/// Which card transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayKind {
    /// 消费.
    Sale,
    /// 余额查询.
    Balance,
    /// 预授权: the amount is held.
    PreAuthorization,
}

/// The screens.
#[derive(Debug, Clone)]
pub enum Screen {
    /// 1 中文 / 2 English.
    Language,
    /// How amounts are shown: 1 RMB / 2 ¥ / 3 CNY (first power-on, after the language).
    Currency,
    /// The network check's outcome.
    Network(Option<String>),
    /// Activation form: which field, the values.
    Activation { field: usize, values: [String; 3], message: Option<String> },
    /// Activated: the check value.
    Activated(String),
    /// Sign-in: operator, PIN, which field, a refusal.
    SignIn { operator: String, pin: String, field: usize, message: Option<String> },
    /// The main menu.
    Menu(Option<String>),
    /// The amount being keyed.
    Amount(PayKind, String),
    /// Choose a card (or key one).
    Card(PayKind, i64, Option<String>),
    /// Keying a card: number, then expiry.
    Keyed(PayKind, i64, String, String, usize),
    /// The PIN pad.
    Pin(PayKind, i64, CardRead, String),
    /// Scan the customer's payment code: the amount, what the scanner typed so far.
    Scan(i64, String),
    /// Which wallet's code to show the customer (C扫B): the amount.
    Wallet(i64),
    /// A dynamic code on the screen, waiting for the customer to scan and pay.
    ShowCode(ShownCode),
    /// The terminal's static code (台卡), to print and stand by the till.
    StaticCode,
    /// The voucher number (trace number) of the sale to void or refund.
    Original(ReturnKind, String, Option<String>),
    /// The amount to refund or complete.
    RefundAmount(ReturnKind, JournalEntry, String),
    /// The sale's business type.
    Business(i64),
    /// The refund's reason: 1 customer return, 2 wrong amount, 3 duplicate charge, 4 other.
    Reason(JournalEntry, i64),
    /// Confirm the void of a pre-authorization.
    Confirm(JournalEntry),
    /// The supervisor's PIN for a void or refund.
    Supervisor(ReturnKind, JournalEntry, i64, String),
    /// Transaction query: a voucher number keyed (empty: the list and totals), a note.
    Query(String, Option<String>),
    /// Reprint: the voucher number keyed (empty: the last receipt), a note.
    Reprint(String, Option<String>),
    /// The supervisor's settings.
    Settings,
    /// Diagnostics: the last error and the device log (with a note after an export).
    Diagnostics(Option<String>),
    /// Working: what is being done.
    Busy(String),
    /// The outcome, with the receipt.
    Outcome(Vec<String>),
}

/// A customer-scans order on the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownCode {
    /// The amount.
    pub amount_minor: i64,
    /// The order's STAN and batch (its voucher number).
    pub stan: u32,
    /// Its batch.
    pub batch: u32,
    /// `WXP`, `ALP` or `UPQ`.
    pub wallet: String,
    /// What the QR code holds.
    pub url: String,
    /// How many times the host was asked.
    pub asked: u32,
}

/// What a terminal's static code (台卡) holds (docs/qr.md §8).
pub fn static_code_url(tid: &str) -> String {
    format!("xingtong://static/{tid}")
}

/// How often a shown code's order is asked after (docs/iso8583.md §5.6: every 2–3 s).
pub const ASK_EVERY: Duration = Duration::from_millis(2_000);

/// The lines that draw `data` as a QR code in a terminal: two modules a character (▀ ▄ █ and
/// space), light modules drawn, with a quiet zone of two modules, so that it reads as dark on
/// light on a dark screen. `None` when it does not fit in a QR code.
pub fn qr_lines(data: &str) -> Option<Vec<String>> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    const QUIET: usize = 2;
    let size = width + 2 * QUIET;
    // Light (true) everywhere but the code's dark modules.
    let light = |x: usize, y: usize| -> bool {
        if x < QUIET || y < QUIET || x >= width + QUIET || y >= width + QUIET {
            return true;
        }
        colors[(y - QUIET) * width + (x - QUIET)] == qrcode::Color::Light
    };
    let mut lines = Vec::with_capacity(size.div_ceil(2));
    for y in (0..size).step_by(2) {
        let line = (0..size)
            .map(|x| match (light(x, y), y + 1 < size && light(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            })
            .collect();
        lines.push(line);
    }
    Some(lines)
}

/// The terminal: its state, its screen, and what it knows.
pub struct App {
    /// The current screen.
    pub screen: Screen,
    /// The device state.
    pub state: DeviceState,
    /// Cards from the cards file.
    pub cards: Vec<CardEntry>,
    /// The operator signed in, if any.
    pub operator: Option<u8>,
    /// A pending reversal to show.
    pub reversal_pending: bool,
    /// Quit.
    pub quit: bool,
    prefill: [Option<String>; 3],
    /// Looks up sales by trace number in the device's journal.
    journal: Option<DeviceDir>,
    /// The business type of the sale being made: 1 销售, 2 收款, 3 进货.
    business: u8,
    /// The reason of the refund being made: 1 customer return 客户退货, 2 wrong amount 金额错误,
    /// 3 duplicate charge 重复扣款, 4 other 其他 (field 63 carries it as two digits).
    refund_reason: u8,
    /// The last error, for diagnostics.
    last_error: Option<String>,
    /// When the shown code's order was last asked after.
    last_asked: Option<std::time::Instant>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("screen", &self.screen).finish_non_exhaustive()
    }
}

/// An alert's style: its colour, or bold where colours are off (`NO_COLOR` set, or `TERM=dumb`),
/// so a plain terminal still sets it apart.
fn alert(colour: Color) -> Style {
    static PLAIN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let plain = *PLAIN.get_or_init(|| {
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) || std::env::var("TERM").is_ok_and(|t| t == "dumb")
    });
    if plain { Style::default().add_modifier(Modifier::BOLD) } else { Style::default().fg(colour) }
}

/// Chinese or English.
fn tr<'a>(language: &str, zh: &'a str, en: &'a str) -> &'a str {
    if language == "en" { en } else { zh }
}

/// `12345` fen as `123.45`.
fn yuan(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// First six and last four digits.
fn mask(pan: &str) -> String {
    xingtong_crypto::mask_pan(pan)
}

impl App {
    /// A terminal in the state its directory holds.
    pub fn new(state: DeviceState, cards: Vec<CardEntry>, prefill: [Option<String>; 3]) -> App {
        let screen = if state.language.is_empty() {
            Screen::Language
        } else if !state.activated() {
            Screen::Network(None)
        } else {
            App::sign_in_screen(None)
        };
        App {
            screen,
            state,
            cards,
            operator: None,
            reversal_pending: false,
            quit: false,
            prefill,
            journal: None,
            business: 1,
            refund_reason: 1,
            last_error: None,
            last_asked: None,
        }
    }

    fn sign_in_screen(message: Option<String>) -> Screen {
        Screen::SignIn { operator: String::new(), pin: String::new(), field: 0, message }
    }

    fn lang(&self) -> &str {
        if self.state.language.is_empty() { "zh" } else { &self.state.language }
    }

    /// A key: maybe a task for the host.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Task> {
        if key.kind != KeyEventKind::Press {
            return None;
        }
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return None;
        }
        let digit = match key.code {
            KeyCode::Char(c) if c.is_ascii_digit() => Some(c),
            _ => None,
        };
        let lang = self.lang().to_owned();
        match &mut self.screen {
            Screen::Language => match key.code {
                KeyCode::Char('1') => self.state.language = "zh".into(),
                KeyCode::Char('2') => self.state.language = "en".into(),
                KeyCode::Esc => self.quit = true,
                _ => return None,
            },
            Screen::Currency => match key.code {
                KeyCode::Char(c @ '1'..='3') => {
                    self.state.currency_label = DeviceState::CURRENCY_LABELS[usize::from(c as u8 - b'1')].into();
                    self.screen = Screen::Network(None);
                }
                // Enter keeps the default, as on the slip.
                KeyCode::Enter => {
                    self.state.currency_label = DeviceState::CURRENCY_LABELS[0].into();
                    self.screen = Screen::Network(None);
                }
                KeyCode::Esc => {
                    self.state.language.clear();
                    self.screen = Screen::Language;
                }
                _ => {}
            },
            Screen::Network(result) => {
                return match (key.code, result.as_deref()) {
                    (KeyCode::Enter, Some(outcome)) if outcome.starts_with("OK") => {
                        self.screen = Screen::Activation {
                            field: 0,
                            values: self.prefill.clone().map(Option::unwrap_or_default),
                            message: None,
                        };
                        None
                    }
                    (KeyCode::Enter, _) => Some(Task::NetworkCheck),
                    (KeyCode::Esc, _) => {
                        self.quit = true;
                        None
                    }
                    _ => None,
                };
            }
            Screen::Activation { field, values, .. } => match key.code {
                KeyCode::Char(c) if c.is_ascii_alphanumeric() && values[*field].len() < 20 => {
                    values[*field].push(c.to_ascii_uppercase())
                }
                KeyCode::Backspace => {
                    values[*field].pop();
                }
                KeyCode::Tab | KeyCode::Down => *field = (*field + 1) % 3,
                KeyCode::Up => *field = (*field + 2) % 3,
                KeyCode::Enter if *field < 2 => *field += 1,
                KeyCode::Enter => return Some(Task::Activate(values.clone())),
                KeyCode::Esc => self.quit = true,
                _ => {}
            },
            Screen::Activated(_) => {
                if key.code == KeyCode::Enter {
                    self.screen = App::sign_in_screen(None);
                }
            }
            Screen::SignIn { operator, pin, field, .. } => match (key.code, digit) {
                (_, Some(d)) if *field == 0 && operator.len() < 2 => {
                    operator.push(d);
                    if operator.len() == 2 {
                        *field = 1;
                    }
                }
                (_, Some(d)) if *field == 1 && pin.len() < 12 => pin.push(d),
                (KeyCode::Backspace, _) if *field == 1 && !pin.is_empty() => {
                    pin.pop();
                }
                (KeyCode::Backspace, _) => {
                    *field = 0;
                    operator.pop();
                }
                (KeyCode::Enter, _) if operator.len() == 2 && pin.len() >= 4 => {
                    let task = Task::SignIn(operator.parse().unwrap_or(1), pin.clone());
                    return Some(task);
                }
                (KeyCode::Esc, _) => self.quit = true,
                _ => {}
            },
            Screen::Menu(_) => match key.code {
                KeyCode::Char('1') => self.screen = Screen::Amount(PayKind::Sale, String::new()),
                KeyCode::Char('2') => self.screen = Screen::Card(PayKind::Balance, 0, None),
                KeyCode::Char('3') => self.screen = Screen::Original(ReturnKind::Void, String::new(), None),
                KeyCode::Char('4') => self.screen = Screen::Original(ReturnKind::Refund, String::new(), None),
                KeyCode::Char('5') => self.screen = Screen::Query(String::new(), None),
                KeyCode::Char('7') => self.screen = Screen::Amount(PayKind::PreAuthorization, String::new()),
                KeyCode::Char('0') => self.screen = Screen::Original(ReturnKind::Completion, String::new(), None),
                KeyCode::Char('6') => self.screen = Screen::Reprint(String::new(), None),
                KeyCode::Char('8') if self.operator == Some(0) => self.screen = Screen::Settings,
                KeyCode::Char('8') => {
                    self.screen = Screen::Menu(Some(
                        tr(
                            &lang,
                            "仅主管可进入设置: 请以操作员 00 签到",
                            "Settings are for the supervisor: sign in as operator 00",
                        )
                        .to_owned(),
                    ))
                }
                KeyCode::Char('9') => return Some(Task::SignOff),
                KeyCode::Char('s') | KeyCode::Char('S') => return Some(Task::Settle),
                KeyCode::Esc | KeyCode::Char('q') => self.quit = true,
                _ => {}
            },
            Screen::Settings => match key.code {
                KeyCode::Char('1') => {
                    self.state.language = if lang == "en" { "zh".into() } else { "en".into() };
                }
                KeyCode::Char('2') => self.screen = Screen::Diagnostics(None),
                KeyCode::Char('3') => self.state.toggle_qr(),
                KeyCode::Char('4') => self.state.cycle_default_method(),
                KeyCode::Char('5') => self.state.cycle_currency_label(),
                KeyCode::Char('6') if self.state.qr_enabled() && self.state.tid.is_some() => {
                    self.screen = Screen::StaticCode
                }
                KeyCode::Esc | KeyCode::Enter => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::StaticCode => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Enter) {
                    self.screen = Screen::Settings;
                }
            }
            Screen::Amount(kind, digits) => match (key.code, digit) {
                (_, Some(d)) if digits.len() < 10 && !(digits.is_empty() && d == '0') => digits.push(d),
                (KeyCode::Backspace, _) => {
                    digits.pop();
                }
                (KeyCode::Enter, _) if !digits.is_empty() => {
                    let amount = digits.parse().unwrap_or(0);
                    self.screen = if *kind == PayKind::Sale {
                        Screen::Business(amount)
                    } else {
                        Screen::Card(*kind, amount, None)
                    };
                }
                (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Business(amount) => match key.code {
                KeyCode::Char(c @ '1'..='3') => {
                    let amount = *amount;
                    self.business = c as u8 - b'0';
                    self.screen = self.payment_screen(amount);
                }
                KeyCode::Enter => {
                    let amount = *amount;
                    self.business = 1;
                    self.screen = self.payment_screen(amount);
                }
                KeyCode::Esc => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Card(kind, amount, _) => {
                let (kind, amount) = (*kind, *amount);
                match (key.code, digit) {
                    (_, Some(d)) => {
                        let index = usize::from(d as u8 - b'1');
                        if let Some(card) = self.cards.get(index) {
                            let read = CardRead { pan: card.number.clone(), expiry: card.expiry.clone(), pin: None };
                            self.screen = Screen::Pin(kind, amount, read, String::new());
                        }
                    }
                    (KeyCode::Char('m') | KeyCode::Char('M'), _) => {
                        self.screen = Screen::Keyed(kind, amount, String::new(), String::new(), 0)
                    }
                    (KeyCode::Char('q') | KeyCode::Char('Q'), _)
                        if kind == PayKind::Sale && self.state.qr_enabled() =>
                    {
                        self.screen = Screen::Scan(amount, String::new())
                    }
                    (KeyCode::Char('d') | KeyCode::Char('D'), _)
                        if kind == PayKind::Sale && self.state.qr_enabled() =>
                    {
                        self.screen = Screen::Wallet(amount)
                    }
                    (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                    _ => {}
                }
            }
            // A scanner types the code like a keyboard and ends it with Enter.
            Screen::Scan(amount, code) => match key.code {
                KeyCode::Char(c) if c.is_ascii_graphic() && code.len() < 63 => code.push(c),
                KeyCode::Backspace => {
                    code.pop();
                }
                KeyCode::Enter if !code.is_empty() => {
                    return Some(Task::QrPay { amount_minor: *amount, code: code.clone() });
                }
                // The customer scans instead: show a code.
                KeyCode::Tab => self.screen = Screen::Wallet(*amount),
                // Cancelled before anything was sent: back to the card choice.
                KeyCode::Esc => self.screen = Screen::Card(PayKind::Sale, *amount, None),
                _ => {}
            },
            Screen::Wallet(amount) => match key.code {
                KeyCode::Char(c @ '1'..='3') => {
                    let wallet = ["WXP", "ALP", "UPQ"][usize::from(c as u8 - b'1')].to_owned();
                    return Some(Task::QrOrder { amount_minor: *amount, wallet });
                }
                KeyCode::Esc => self.screen = Screen::Card(PayKind::Sale, *amount, None),
                _ => {}
            },
            // Esc closes the order (the customer walked away); nothing else to key meanwhile.
            Screen::ShowCode(order) => {
                if key.code == KeyCode::Esc {
                    return Some(Task::QrAsk { order: order.clone(), close: true });
                }
            }
            Screen::Keyed(kind, amount, number, expiry, field) => match (key.code, digit) {
                (_, Some(d)) if *field == 0 && number.len() < 19 => number.push(d),
                (_, Some(d)) if *field == 1 && expiry.len() < 4 => expiry.push(d),
                (KeyCode::Backspace, _) => {
                    if *field == 1 && !expiry.is_empty() {
                        expiry.pop();
                    } else {
                        *field = 0;
                        number.pop();
                    }
                }
                (KeyCode::Enter, _) if *field == 0 && number.len() >= 13 => *field = 1,
                (KeyCode::Enter, _) if *field == 1 && expiry.len() == 4 => {
                    let read = CardRead { pan: number.clone(), expiry: expiry.clone(), pin: None };
                    self.screen = Screen::Pin(*kind, *amount, read, String::new());
                }
                (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Pin(kind, amount, card, pin) => match (key.code, digit) {
                (_, Some(d)) if pin.len() < 12 => pin.push(d),
                (KeyCode::Backspace, _) => {
                    pin.pop();
                }
                // Enter with no PIN: a card taken without one (credit cards may be).
                (KeyCode::Enter, _) if pin.is_empty() || pin.len() >= 4 => {
                    let mut card = card.clone();
                    card.pin = (!pin.is_empty()).then(|| pin.clone());
                    return Some(Task::Pay { kind: *kind, amount_minor: *amount, card });
                }
                (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Original(kind, digits, message) => match (key.code, digit) {
                (_, Some(d)) if digits.len() < 6 => digits.push(d),
                (KeyCode::Backspace, _) => {
                    digits.pop();
                }
                (KeyCode::Enter, _) if !digits.is_empty() => {
                    let stan: u32 = digits.parse().unwrap_or(0);
                    let kind = *kind;
                    // 撤销 voids whatever the voucher is: a sale, a pre-authorization or a completion.
                    let found = match (kind, self.journal.as_ref()) {
                        (ReturnKind::Void, Some(j)) => j
                            .find("sale", stan)
                            .map(|e| (ReturnKind::Void, e))
                            .or_else(|| j.find("preauth", stan).map(|e| (ReturnKind::PreAuthorizationVoid, e)))
                            .or_else(|| j.find("complete", stan).map(|e| (ReturnKind::CompletionVoid, e))),
                        (_, Some(j)) => j.find(kind.original_kind(), stan).map(|e| (kind, e)),
                        (_, None) => None,
                    };
                    match found {
                        Some((kind @ (ReturnKind::Void | ReturnKind::CompletionVoid), entry)) => {
                            let amount = entry.amount_minor;
                            self.screen = Screen::Supervisor(kind, entry, amount, String::new());
                        }
                        Some((ReturnKind::PreAuthorizationVoid, entry)) => self.screen = Screen::Confirm(entry),
                        Some((kind, entry)) => self.screen = Screen::RefundAmount(kind, entry, String::new()),
                        None => {
                            *message = Some(
                                tr(
                                    &lang,
                                    "原交易不存在: 请核对凭证号",
                                    "No such transaction here: check the voucher number",
                                )
                                .to_owned(),
                            )
                        }
                    }
                }
                (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::RefundAmount(kind, entry, digits) => match (key.code, digit) {
                (_, Some(d)) if digits.len() < 10 && !(digits.is_empty() && d == '0') => digits.push(d),
                (KeyCode::Backspace, _) => {
                    digits.pop();
                }
                (KeyCode::Enter, _) if !digits.is_empty() => {
                    let amount = digits.parse().unwrap_or(0);
                    if *kind == ReturnKind::Completion {
                        // A completion needs no supervisor: the pre-authorization's code is its proof.
                        return Some(Task::Return {
                            kind: *kind,
                            original: entry.clone(),
                            amount_minor: amount,
                            supervisor_pin: String::new(),
                        });
                    }
                    self.screen = if *kind == ReturnKind::Refund {
                        Screen::Reason(entry.clone(), amount)
                    } else {
                        Screen::Supervisor(*kind, entry.clone(), amount, String::new())
                    };
                }
                (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Reason(entry, amount) => match key.code {
                KeyCode::Char(c @ '1'..='4') => {
                    self.refund_reason = c as u8 - b'0';
                    self.screen = Screen::Supervisor(ReturnKind::Refund, entry.clone(), *amount, String::new());
                }
                KeyCode::Enter => {
                    self.refund_reason = 1;
                    self.screen = Screen::Supervisor(ReturnKind::Refund, entry.clone(), *amount, String::new());
                }
                KeyCode::Esc => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Supervisor(kind, entry, amount, pin) => match (key.code, digit) {
                (_, Some(d)) if pin.len() < 6 => pin.push(d),
                (KeyCode::Backspace, _) => {
                    pin.pop();
                }
                (KeyCode::Enter, _) if pin.len() == 6 => {
                    return Some(Task::Return {
                        kind: *kind,
                        original: entry.clone(),
                        amount_minor: *amount,
                        supervisor_pin: pin.clone(),
                    });
                }
                (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Confirm(entry) => match key.code {
                KeyCode::Enter => {
                    return Some(Task::Return {
                        kind: ReturnKind::PreAuthorizationVoid,
                        original: entry.clone(),
                        amount_minor: entry.amount_minor,
                        supervisor_pin: String::new(),
                    });
                }
                KeyCode::Esc => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Query(digits, message) => match (key.code, digit) {
                (_, Some(d)) if digits.len() < 6 => digits.push(d),
                (KeyCode::Backspace, _) => {
                    digits.pop();
                }
                (KeyCode::Enter, _) if digits.is_empty() => self.screen = Screen::Outcome(self.transactions()),
                (KeyCode::Enter, _) => {
                    let stan: u32 = digits.parse().unwrap_or(0);
                    let entries = self.journal.as_ref().map(DeviceDir::entries).unwrap_or_default();
                    match entries.iter().rev().find(|e| e.stan == stan) {
                        Some(e) => {
                            let mut lines = vec![
                                format!("{} {:06}", tr(&lang, "交易查询: 凭证号", "Transaction, voucher no."), e.stan),
                                format!("{}: {}", tr(&lang, "类型", "Type"), e.kind),
                                format!("{}: {}", tr(&lang, "金额", "Amount"), self.state.money(e.amount_minor)),
                                format!("{}: {}", tr(&lang, "卡号", "Card"), e.card),
                                format!("{}: {}", tr(&lang, "应答码", "Response"), e.response_code),
                                format!("{}: {:06}", tr(&lang, "批次号", "Batch"), e.batch),
                                format!("{}: {}", tr(&lang, "参考号", "Ref. no."), e.rrn.as_deref().unwrap_or("-")),
                                format!(
                                    "{}: {}",
                                    tr(&lang, "授权码", "Auth no."),
                                    e.auth_code.as_deref().unwrap_or("-")
                                ),
                                format!("{}: {}", tr(&lang, "操作员", "Operator"), e.operator),
                                format!("{}: {}", tr(&lang, "日期/时间", "Date/time"), e.at),
                            ];
                            lines.push(tr(&lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
                            self.screen = Screen::Outcome(lines);
                        }
                        None => {
                            *message = Some(
                                tr(&lang, "本机无此凭证号的交易", "No transaction with that voucher number").to_owned(),
                            )
                        }
                    }
                }
                (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Reprint(digits, message) => match (key.code, digit) {
                (_, Some(d)) if digits.len() < 6 => digits.push(d),
                (KeyCode::Backspace, _) => {
                    digits.pop();
                }
                (KeyCode::Enter, _) => {
                    let slip = match digits.parse::<u32>() {
                        Ok(stan) => self.journal.as_ref().and_then(|j| j.receipt_for(stan)),
                        Err(_) => self.journal.as_ref().and_then(DeviceDir::last_receipt),
                    };
                    match slip {
                        Some(slip) => {
                            // The duplicate is the merchant's copy, marked as such.
                            let merchant = slip.split(CUT).next().unwrap_or(&slip);
                            let mut lines = vec![tr(&lang, "重打印 (副本)", "Reprint (DUPLICATE)").to_owned()];
                            lines.extend(merchant.lines().map(str::to_owned));
                            self.screen = Screen::Outcome(lines);
                        }
                        None => {
                            *message = Some(
                                tr(&lang, "没有该凭证号的签购单", "No receipt with that voucher number").to_owned(),
                            );
                        }
                    }
                }
                (KeyCode::Esc, _) => self.screen = Screen::Menu(None),
                _ => {}
            },
            Screen::Diagnostics(_) => match key.code {
                KeyCode::Char('e') | KeyCode::Char('E') => {
                    let exported = self.journal.as_ref().map(DeviceDir::export_log);
                    let note = match exported {
                        Some(Ok(path)) => format!("{}: {}", tr(&lang, "已导出", "Exported to"), path.display()),
                        Some(Err(error)) => error.to_string(),
                        None => String::new(),
                    };
                    self.screen = Screen::Diagnostics(Some(note));
                }
                KeyCode::Char('n') | KeyCode::Char('N') => return Some(Task::Echo),
                KeyCode::Esc | KeyCode::Enter => self.screen = Screen::Settings,
                _ => {}
            },
            Screen::Busy(_) => {}
            Screen::Outcome(_) => {
                if matches!(key.code, KeyCode::Enter | KeyCode::Esc) {
                    self.screen = Screen::Menu(None);
                }
            }
        }
        if matches!(self.screen, Screen::Language) && !self.state.language.is_empty() {
            self.screen = Screen::Currency;
        }
        None
    }

    /// The terminal's own small report: its journal's last transactions and totals by type.
    fn transactions(&self) -> Vec<String> {
        let lang = self.lang();
        let entries = self.journal.as_ref().map(DeviceDir::entries).unwrap_or_default();
        let mut lines = vec![tr(lang, "交易查询: 本机流水", "Transactions on this terminal").to_owned()];
        for e in entries.iter().rev().take(8) {
            lines.push(format!(
                "{:06}  {:<13} {:>14}  {}  {}",
                e.stan,
                e.kind,
                self.state.money(e.amount_minor),
                e.response_code,
                e.card
            ));
        }
        let mut totals: std::collections::BTreeMap<&str, (usize, i64)> = std::collections::BTreeMap::new();
        for e in entries.iter().filter(|e| e.response_code == "00") {
            let t = totals.entry(e.kind.as_str()).or_default();
            t.0 += 1;
            t.1 += e.amount_minor;
        }
        lines.push(tr(lang, "合计 (成功交易):", "Totals (approved):").to_owned());
        for (kind, (count, amount)) in totals {
            lines.push(format!("  {kind:<13} {count:>3}  {}", self.state.money(amount)));
        }
        // Sales by business type (销售 sale, 收款 collection, 进货 purchase).
        let mut by_business = [(0usize, 0i64); 3];
        for e in entries.iter().filter(|e| e.response_code == "00" && e.kind == "sale") {
            let t = &mut by_business[usize::from(e.business.unwrap_or(1).clamp(1, 3)) - 1];
            t.0 += 1;
            t.1 += e.amount_minor;
        }
        let names = [tr(lang, "销售", "sale"), tr(lang, "收款", "collection"), tr(lang, "进货", "purchase")];
        let parts: Vec<String> = names
            .iter()
            .zip(by_business)
            .filter(|(_, (count, _))| *count > 0)
            .map(|(name, (count, amount))| format!("{name} {count} {}", self.state.money(amount)))
            .collect();
        if !parts.is_empty() {
            lines.push(format!("{}: {}", tr(lang, "消费按业务类型", "Sales by business type"), parts.join(" · ")));
        }
        lines.push(tr(lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
        lines
    }

    /// What a response code means, and what to do, in the terminal's language.
    /// Where a sale goes after its business type: the payment code when QR is the default
    /// method, else the card.
    fn payment_screen(&self, amount: i64) -> Screen {
        if self.state.default_method() == "qr" {
            Screen::Scan(amount, String::new())
        } else {
            Screen::Card(PayKind::Sale, amount, None)
        }
    }

    /// What is due without a key: asking after the shown code's order every [`ASK_EVERY`].
    pub fn tick(&mut self) -> Option<Task> {
        let Screen::ShowCode(order) = &self.screen else { return None };
        let now = std::time::Instant::now();
        if self.last_asked.is_some_and(|at| now.duration_since(at) < ASK_EVERY) {
            return None;
        }
        self.last_asked = Some(now);
        Some(Task::QrAsk { order: order.clone(), close: false })
    }

    /// Why a QR sale was not paid, from the reason in field 57 (docs/iso8583.md §5.5).
    fn explain_qr(&self, reason: &str) -> String {
        let lang = self.lang();
        match reason {
            "01" => {
                tr(lang, "付款码无效, 请顾客重新打开付款码", "Unknown payment code: ask the customer to open it again")
            }
            "02" => tr(lang, "付款码已过期, 请顾客刷新", "The payment code expired: ask the customer to refresh it"),
            "03" => tr(lang, "付款码已使用, 请顾客刷新", "The payment code was used: ask the customer to refresh it"),
            "04" => tr(lang, "余额不足, 请顾客更换付款方式", "Insufficient balance: ask for another funding source"),
            "05" => tr(lang, "顾客已取消支付", "The customer cancelled the payment"),
            "06" => tr(lang, "顾客未确认, 订单已撤销, 未扣款", "Not confirmed in time: cancelled, nothing taken"),
            "07" => tr(lang, "钱包无响应, 订单已撤销, 请重试", "The wallet did not answer: cancelled, try again"),
            "08" => tr(lang, "本终端未开通扫码支付", "QR payments are not enabled on this terminal"),
            "10" => tr(lang, "订单已关闭, 未扣款", "The order is closed: nothing was taken"),
            "12" => tr(lang, "无法识别的二维码, 请扫描付款码", "QR not recognised: scan the customer's payment code"),
            _ => tr(lang, "扫码支付未成功", "The QR payment did not go through"),
        }
        .to_owned()
    }

    fn explain(&self, code: &str) -> Vec<String> {
        match ResponseCode::lookup(code) {
            Some(c) => vec![
                format!(
                    "{} {code}: {}",
                    tr(self.lang(), "应答码", "Response"),
                    tr(self.lang(), c.meaning_zh, c.meaning_en)
                ),
                tr(self.lang(), c.action_zh, c.action_en).to_owned(),
            ],
            None => vec![format!("{} {code}", tr(self.lang(), "应答码", "Response"))],
        }
    }
}

/// A receipt (签购单), in the bilingual layout of CUP terminals.
/// The journal's line for a request the host answered.
fn journal_entry(
    reply: &xingtong_pos::Reply,
    kind: &str,
    amount_minor: i64,
    card: String,
    operator: Option<u8>,
    business: Option<u8>,
) -> JournalEntry {
    let (hhmmss, mmdd) = (reply.message.get_str(12).unwrap_or(""), reply.message.get_str(13).unwrap_or(""));
    JournalEntry {
        kind: kind.to_owned(),
        amount_minor,
        batch: reply.batch,
        stan: reply.stan,
        response_code: reply.code.clone(),
        rrn: reply.rrn().map(str::to_owned),
        auth_code: reply.auth_code().map(str::to_owned),
        card,
        operator: operator.map(|o| format!("{o:02}")).unwrap_or_default(),
        at: format!("{mmdd} {hhmmss}"),
        business,
        wallet: reply.qr().filter(|q| q.paid).map(|q| (q.wallet, q.wallet_txn_id)),
    }
}

/// A QR sale's outcome the host recorded: journalled, then its slip, or why it was not paid.
fn qr_outcome(
    app: &App,
    dir: &DeviceDir,
    reply: &xingtong_pos::Reply,
    entry: &JournalEntry,
    text: &mut Vec<String>,
) -> anyhow::Result<()> {
    let lang = app.lang();
    dir.journal(entry)?;
    if reply.approved() {
        text.push(tr(lang, "交易成功", "Approved").to_owned());
        return print_slip(app, dir, entry, "扫码消费 QR SALE", text);
    }
    text.push(tr(lang, "交易失败", "Declined").to_owned());
    match reply.qr() {
        Some(q) => text.push(app.explain_qr(&q.reason)),
        None => text.extend(app.explain(&reply.code)),
    }
    Ok(())
}

/// "Prints" a slip: all its copies to the device's receipts, the merchant's on screen.
fn print_slip(
    app: &App,
    dir: &DeviceDir,
    entry: &JournalEntry,
    name: &str,
    text: &mut Vec<String>,
) -> anyhow::Result<()> {
    let (slip, all) = slips(&app.state, entry, name);
    let path = dir.receipt(entry.batch, entry.stan, &all)?;
    text.extend(slip.lines().map(str::to_owned));
    text.push(format!("{}: {}", tr(app.lang(), "签购单已保存 (三联)", "Receipt saved, 3 copies"), path.display()));
    Ok(())
}

/// How a journal entry counts in its batch's settlement totals: `Some(true)` a debit (sales and
/// completions, voided ones too), `Some(false)` a credit (voids, completion voids, refunds).
fn counted(entry: &JournalEntry) -> Option<bool> {
    if entry.response_code != "00" {
        return None;
    }
    match entry.kind.as_str() {
        "sale" | "complete" => Some(true),
        "void" | "refund" | "complete-void" => Some(false),
        _ => None,
    }
}

/// A batch's totals from the journal, as settlement reports them: domestic and foreign cards
/// (the card's first digits decide, as on the host).
fn batch_totals(entries: &[JournalEntry]) -> xingtong_pos::BatchTotals {
    let mut totals = xingtong_pos::BatchTotals::default();
    for e in entries {
        if let Some(debit) = counted(e) {
            let side = if cup::foreign_card(&e.card) { &mut totals.foreign } else { &mut totals.domestic };
            side.add(e.amount_minor.unsigned_abs(), debit);
        }
    }
    totals
}

/// The batch upload's items: every counted transaction, its card number as the journal keeps it
/// (masked: the hidden digits go as zeros; the host matches items by STAN and amount).
fn batch_items(entries: &[JournalEntry]) -> Vec<cup::BatchItem> {
    entries
        .iter()
        .filter(|e| counted(e).is_some())
        .map(|e| cup::BatchItem {
            card_organisation: if cup::foreign_card(&e.card) { "01" } else { "00" }.into(),
            stan: e.stan,
            pan: e.card.chars().map(|c| if c.is_ascii_digit() { c } else { '0' }).collect(),
            amount: e.amount_minor.unsigned_abs(),
        })
        .collect()
}

/// The settlement slip (结算总计单): the batch's totals by card class and transaction type, and
/// the host's verdict.
fn settlement_slip(
    state: &DeviceState,
    entries: &[JournalEntry],
    batch: u32,
    operator: u8,
    verdict: xingtong_pos::Verdict,
    at: &str,
    settlement_date: &str,
) -> String {
    let line = "-".repeat(40);
    let mut s = format!(
        "      银行卡结算总计单 SETTLE SUM RECEIPT\n{line}\n商户名称 MERCHANT NAME: {}\n商户编号 MERCHANT NO.: {}\n\
         终端编号 TERMINAL NO.: {}  操作员号 OPERATOR: {operator:02}\n批次号 BATCH NO.: {batch:06}\n\
         日期/时间 DATE/TIME: {}\n清算日期 SETTLEMENT DATE: {settlement_date}\n",
        state.merchant_name.as_deref().unwrap_or("-"),
        state.mid.as_deref().unwrap_or("-"),
        state.tid.as_deref().unwrap_or("-"),
        at
    );
    let word = |result: u8| match result {
        cup::settlement_result::BALANCED => "对账平 BALANCED",
        cup::settlement_result::UNBALANCED => "对账不平 NOT BALANCED",
        _ => "对账错 ERROR",
    };
    s.push_str(&format!("内卡 DOMESTIC: {}\n外卡 FOREIGN: {}\n", word(verdict.domestic), word(verdict.foreign)));
    s.push_str("====终端结算总计（SUM TOTAL）====\n");
    let kinds = [
        ("sale", "消费 SALE"),
        ("void", "消费撤销 VOID"),
        ("refund", "退货 REFUND"),
        ("complete", "预授权完成 AUTH COMPLETE"),
        ("complete-void", "完成撤销 COMPLETE VOID"),
    ];
    for (foreign, heading) in
        [(false, "--------------内卡 DOMESTIC--------------"), (true, "--------------外卡 FOREIGN---------------")]
    {
        s.push_str(heading);
        s.push_str(&format!("\n{}{:>6}  {:>14}\n", pad_display("交易类型 TYPE", 26), "COUNT", "AMOUNT"));
        for (kind, name) in kinds {
            let of_kind: Vec<&JournalEntry> = entries
                .iter()
                .filter(|e| e.kind == kind && counted(e).is_some() && cup::foreign_card(&e.card) == foreign)
                .collect();
            let amount: i64 = of_kind.iter().map(|e| e.amount_minor).sum();
            s.push_str(&format!("{}{:>6}  {:>14}\n", pad_display(name, 26), of_kind.len(), yuan(amount)));
        }
    }
    s.push_str(&format!("{line}\n"));
    s
}

/// `text` padded with spaces to `width` columns of a terminal or a slip printer, where a Chinese
/// character takes two.
fn pad_display(text: &str, width: usize) -> String {
    let columns: usize = text.chars().map(|c| if c >= '\u{1100}' { 2 } else { 1 }).sum();
    format!("{text}{}", " ".repeat(width.saturating_sub(columns)))
}

/// Where one copy ends and the next begins in a receipt file.
const CUT: &str = "\n- - - - - - - - - - 沿此撕开 TEAR HERE - - - - - - - - - -\n";

/// The copies of a slip, as the file keeps them: the merchant's (signed, kept by the
/// merchant), the cardholder's, and the bank's (the acquirer's, for disputes).
fn slips(state: &DeviceState, entry: &JournalEntry, kind: &str) -> (String, String) {
    let merchant = receipt(state, entry, kind, "商户存根 MERCHANT COPY");
    let all = format!(
        "{merchant}{CUT}{}{CUT}{}",
        receipt(state, entry, kind, "持卡人存根 CARDHOLDER COPY"),
        receipt(state, entry, kind, "银行存根 BANK COPY")
    );
    (merchant, all)
}

/// The name of a wallet's tag, as a slip prints it.
fn wallet_name(tag: &str) -> &'static str {
    match tag {
        "WXP" => "微信支付 WeChat Pay",
        "ALP" => "支付宝 Alipay",
        "UPQ" => "云闪付 UnionPay QR",
        _ => "扫码 QR",
    }
}

fn receipt(state: &DeviceState, entry: &JournalEntry, kind: &str, copy: &str) -> String {
    let line = "-".repeat(40);
    let paid_with = match &entry.wallet {
        Some((tag, id)) => format!("付款方式 PAY BY: {}\n交易单号 ORDER NO.: {id}", wallet_name(tag)),
        None => format!("卡号 CARD NO.: {}", entry.card),
    };
    format!(
        "        签购单 POS SALES SLIP\n        {copy}\n{line}\n商户名称 MERCHANT NAME: {}\n商户编号 MERCHANT NO.: {}\n终端编号 TERMINAL NO.: {}  操作员号 OPERATOR: {}\n\
         {paid_with}\n交易类型 TRANS TYPE: {kind}\n批次号 BATCH NO.: {:06}  凭证号 VOUCHER NO.: {:06}\n\
         参考号 REF. NO.: {}\n授权码 AUTH NO.: {}\n日期/时间 DATE/TIME: {}\n金额 AMOUNT: RMB {}\n{line}\n\
         持卡人签名 CARDHOLDER SIGNATURE:\n\n本人确认以上交易，同意将其记入本卡账户\nI ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES\n",
        state.merchant_name.as_deref().unwrap_or("-"),
        state.mid.as_deref().unwrap_or("-"),
        state.tid.as_deref().unwrap_or("-"),
        entry.operator,
        entry.batch,
        entry.stan,
        entry.rrn.as_deref().unwrap_or("-"),
        entry.auth_code.as_deref().unwrap_or("-"),
        entry.at,
        yuan(entry.amount_minor),
    )
}

/// A refund reason's name (field 63's two digits, `01`–`04`).
fn refund_reason_name(lang: &str, reason: u8) -> &'static str {
    match reason {
        1 => tr(lang, "客户退货", "Customer return"),
        2 => tr(lang, "金额错误", "Wrong amount"),
        3 => tr(lang, "重复扣款", "Duplicate charge"),
        _ => tr(lang, "其他", "Other"),
    }
}

/// Draws the current screen.
fn draw(frame: &mut ratatui::Frame, app: &App) {
    let lang = app.lang();
    let title = match &app.state.tid {
        Some(tid) => format!(" 星通 XingTong POS · {} {tid} ", tr(lang, "终端", "TID")),
        None => " 星通 XingTong POS ".to_owned(),
    };
    let mut lines: Vec<Line> = Vec::new();
    let heading = |text: &str| Line::from(Span::styled(text.to_owned(), Style::default().add_modifier(Modifier::BOLD)));
    match &app.screen {
        Screen::Language => {
            lines.push(heading("开机设置 / First power-on"));
            lines.push(Line::from("选择语言 Choose the language:"));
            lines.push(Line::from("  1  中文"));
            lines.push(Line::from("  2  English"));
        }
        Screen::Currency => {
            lines.push(heading(tr(lang, "开机设置: 币种", "First power-on: currency")));
            lines.push(Line::from(tr(
                lang,
                "交易币种: 人民币 CNY (156), 主机只受理人民币。金额显示为:",
                "Currency: the yuan, CNY (156); the host takes nothing else. Show amounts as:",
            )));
            let mut shown = app.state.clone();
            for (i, label) in DeviceState::CURRENCY_LABELS.iter().enumerate() {
                shown.currency_label = (*label).into();
                let note =
                    if i == 0 { tr(lang, "  (默认, 同签购单)", "  (default, as on the slip)") } else { "" };
                lines.push(Line::from(format!("  {}  {}{note}", i + 1, shown.money(1234))));
            }
            lines.push(Line::from(tr(lang, "  确认(Enter) 默认 · Esc 返回", "  Enter default · Esc back")));
        }
        Screen::Network(outcome) => {
            lines.push(heading(tr(lang, "网络检测", "Network check")));
            match outcome {
                None => lines.push(Line::from(tr(
                    lang,
                    "按 确认(Enter) 检测与主机的连接",
                    "Press Enter to test the connection to the host",
                ))),
                Some(outcome) => {
                    lines.push(Line::from(outcome.clone()));
                    let next = if outcome.starts_with("OK") {
                        tr(lang, "按 确认(Enter) 继续: 终端激活", "Press Enter to continue: activation")
                    } else {
                        tr(lang, "按 确认(Enter) 重试", "Press Enter to try again")
                    };
                    lines.push(Line::from(next));
                }
            }
        }
        Screen::Activation { field, values, message } => {
            lines.push(heading(tr(lang, "终端激活", "Terminal activation")));
            let labels = [
                tr(lang, "商户编号", "Merchant no."),
                tr(lang, "设备序列号", "Serial no."),
                tr(lang, "激活码", "Activation code"),
            ];
            for (i, label) in labels.iter().enumerate() {
                let cursor = if i == *field { "▶" } else { " " };
                lines.push(Line::from(format!("{cursor} {label}: {}", values[i])));
            }
            lines.push(Line::from(tr(
                lang,
                "Tab 切换 · 确认(Enter) 下一项/激活",
                "Tab: next field · Enter: next / activate",
            )));
            if let Some(message) = message {
                lines.push(Line::from(Span::styled(message.clone(), alert(Color::Red))));
            }
        }
        Screen::Activated(check) => {
            lines.push(heading(tr(lang, "激活成功", "Activated")));
            lines.push(Line::from(format!(
                "{}: {}",
                tr(lang, "终端编号", "Terminal"),
                app.state.tid.as_deref().unwrap_or("-")
            )));
            lines.push(Line::from(format!("{}: {check}", tr(lang, "主密钥校验值 TMK check value", "TMK check value"))));
            lines.push(Line::from(tr(lang, "按 确认(Enter) 签到", "Press Enter to sign in")));
        }
        Screen::SignIn { operator, pin, field, message } => {
            lines.push(heading(tr(lang, "签到", "Sign-in")));
            lines.push(Line::from(format!(
                "{} {}: {operator}",
                if *field == 0 { "▶" } else { " " },
                tr(lang, "操作员号", "Operator")
            )));
            lines.push(Line::from(format!(
                "{} {}: {}",
                if *field == 1 { "▶" } else { " " },
                tr(lang, "密码", "PIN"),
                "*".repeat(pin.len())
            )));
            lines.push(Line::from(tr(lang, "输入后按 确认(Enter)", "Then press Enter")));
            if let Some(message) = message {
                lines.push(Line::from(Span::styled(message.clone(), alert(Color::Red))));
            }
        }
        Screen::Menu(message) => {
            let who = app.operator.map(|o| format!("{o:02}")).unwrap_or_default();
            lines.push(heading(&format!(
                "{} · {} {who}",
                tr(lang, "主菜单", "Main menu"),
                tr(lang, "操作员", "operator")
            )));
            lines.push(Line::from(format!("  1  {}", tr(lang, "消费", "Sale"))));
            lines.push(Line::from(format!("  2  {}", tr(lang, "余额查询", "Balance inquiry"))));
            lines.push(Line::from(format!(
                "  3  {}",
                tr(lang, "撤销 (消费/预授权/完成)", "Void (sale, pre-authorization, completion)")
            )));
            lines.push(Line::from(format!("  4  {}", tr(lang, "退货", "Refund"))));
            lines.push(Line::from(format!("  5  {}", tr(lang, "交易查询", "Transactions"))));
            lines.push(Line::from(format!("  6  {}", tr(lang, "重打印", "Reprint"))));
            lines.push(Line::from(format!("  7  {}", tr(lang, "预授权", "Pre-authorization"))));
            lines.push(Line::from(format!("  0  {}", tr(lang, "预授权完成", "Completion"))));
            lines.push(Line::from(format!("  8  {}", tr(lang, "管理 (主管)", "Settings (supervisor)"))));
            lines.push(Line::from(format!("  9  {}", tr(lang, "签退", "Sign off"))));
            lines.push(Line::from(format!("  S  {}", tr(lang, "结算", "Settlement"))));
            lines.push(Line::from(format!("  Esc {}", tr(lang, "退出", "Quit"))));
            if let Some(message) = message {
                lines.push(Line::from(message.clone()));
            }
        }
        Screen::Amount(kind, digits) => {
            let what = if *kind == PayKind::Sale {
                tr(lang, "消费", "Sale")
            } else {
                tr(lang, "预授权", "Pre-authorization")
            };
            lines.push(heading(what));
            let amount = digits.parse::<i64>().unwrap_or(0);
            lines.push(Line::from(format!("{}: {}", tr(lang, "请输入金额", "Amount"), app.state.money(amount))));
            lines.push(Line::from(tr(lang, "以分输入, 按 确认(Enter)", "Key it in fen, then press Enter")));
        }
        Screen::Card(kind, amount, _) => {
            let what = match kind {
                PayKind::Sale => tr(lang, "消费", "Sale"),
                PayKind::Balance => tr(lang, "余额查询", "Balance inquiry"),
                PayKind::PreAuthorization => tr(lang, "预授权", "Pre-authorization"),
            };
            let amount = if *kind == PayKind::Balance { String::new() } else { app.state.money(*amount) };
            lines.push(heading(&format!("{what} {amount}")));
            lines.push(Line::from(tr(lang, "请刷卡: 选择卡片", "Swipe a card: choose one")));
            for (i, card) in app.cards.iter().take(9).enumerate() {
                lines.push(Line::from(format!("  {}  {} {}", i + 1, mask(&card.number), card.label)));
            }
            lines.push(Line::from(format!("  M  {}", tr(lang, "手输卡号", "Key the card number"))));
            if *kind == PayKind::Sale && app.state.qr_enabled() {
                lines.push(Line::from(format!("  Q  {}", tr(lang, "扫码支付 (付款码)", "Scan a payment code (QR)"))));
                lines.push(Line::from(format!(
                    "  D  {}",
                    tr(lang, "出示二维码, 顾客扫码", "Show a code for the customer to scan")
                )));
            }
        }
        Screen::Scan(amount, code) => {
            lines.push(heading(&format!("{} {}", tr(lang, "扫码支付", "QR payment"), app.state.money(*amount))));
            lines.push(Line::from(tr(
                lang,
                "请扫描顾客的付款码 (微信 / 支付宝 / 云闪付)",
                "Scan the customer's payment code (WeChat Pay / Alipay / UnionPay QR)",
            )));
            lines.push(Line::from(format!("{}: {code}", tr(lang, "付款码", "Payment code"))));
            lines.push(Line::from(tr(
                lang,
                "扫码枪输入后自动确认; 手输请按 确认(Enter). Tab 出示二维码. Esc 取消",
                "The scanner ends with Enter; or key it and press Enter. Tab shows a code instead. Esc cancels",
            )));
        }
        Screen::Wallet(amount) => {
            lines.push(heading(&format!("{} {}", tr(lang, "顾客扫码", "Customer scans"), app.state.money(*amount))));
            lines.push(Line::from(tr(lang, "选择钱包, 出示二维码:", "Choose the wallet whose code to show:")));
            lines.push(Line::from(format!("  1  {}", tr(lang, "微信支付", "WeChat Pay"))));
            lines.push(Line::from(format!("  2  {}", tr(lang, "支付宝", "Alipay"))));
            lines.push(Line::from(format!("  3  {}", tr(lang, "云闪付", "UnionPay QR"))));
            lines.push(Line::from(tr(lang, "Esc 返回", "Esc goes back")));
        }
        Screen::ShowCode(order) => {
            let wallet = match order.wallet.as_str() {
                "WXP" => tr(lang, "微信支付", "WeChat Pay"),
                "ALP" => tr(lang, "支付宝", "Alipay"),
                _ => tr(lang, "云闪付", "UnionPay QR"),
            };
            lines.push(heading(&format!(
                "{} {} · {wallet}",
                tr(lang, "请顾客扫码支付", "Customer: scan to pay"),
                app.state.money(order.amount_minor)
            )));
            lines.extend(qr_lines(&order.url).unwrap_or_default().into_iter().map(Line::from));
            lines.push(Line::from(order.url.clone()));
            lines.push(Line::from(format!(
                "{} {:06} · {} {}",
                tr(lang, "凭证号", "Voucher"),
                order.stan,
                tr(lang, "已查询", "asked"),
                order.asked
            )));
            lines.push(Line::from(tr(
                lang,
                "等待顾客付款, 每 2 秒查询一次. Esc 关闭订单",
                "Waiting for the customer to pay; asked every 2 s. Esc closes the order",
            )));
        }
        Screen::Keyed(_, _, number, expiry, field) => {
            lines.push(heading(tr(lang, "手输卡号", "Key the card")));
            lines.push(Line::from(format!(
                "{} {}: {number}",
                if *field == 0 { "▶" } else { " " },
                tr(lang, "卡号", "Card number")
            )));
            lines.push(Line::from(format!(
                "{} {}: {expiry}",
                if *field == 1 { "▶" } else { " " },
                tr(lang, "有效期 YYMM", "Expiry YYMM")
            )));
        }
        Screen::Pin(kind, amount, card, pin) => {
            if *kind != PayKind::Balance {
                lines.push(heading(&app.state.money(*amount)));
            }
            lines.push(Line::from(format!("{}: {}", tr(lang, "卡号", "Card"), mask(&card.pan))));
            lines.push(Line::from(format!(
                "{}: {}",
                tr(lang, "请持卡人输入密码", "Cardholder, enter the PIN"),
                "*".repeat(pin.len())
            )));
            lines.push(Line::from(tr(lang, "无密码直接按 确认(Enter)", "No PIN: press Enter")));
        }
        Screen::Original(kind, digits, message) => {
            let what = match kind {
                ReturnKind::Void => tr(lang, "撤销", "Void"),
                ReturnKind::Refund => tr(lang, "退货", "Refund"),
                ReturnKind::Completion => tr(lang, "预授权完成", "Completion"),
                ReturnKind::PreAuthorizationVoid => tr(lang, "预授权撤销", "Pre-authorization void"),
                ReturnKind::CompletionVoid => tr(lang, "预授权完成撤销", "Completion void"),
            };
            lines.push(heading(what));
            lines.push(Line::from(format!("{}: {digits}", tr(lang, "原凭证号", "Original voucher no."))));
            if let Some(message) = message {
                lines.push(Line::from(Span::styled(message.clone(), alert(Color::Red))));
            }
        }
        Screen::RefundAmount(kind, entry, digits) => {
            let (what, asked) = if *kind == ReturnKind::Completion {
                (tr(lang, "预授权完成", "Completion"), tr(lang, "完成金额", "Amount to complete"))
            } else {
                (tr(lang, "退货", "Refund"), tr(lang, "退货金额", "Amount to refund"))
            };
            lines.push(heading(what));
            let original =
                format!("{}: {} · {}", tr(lang, "原交易", "Original"), app.state.money(entry.amount_minor), entry.card);
            lines.push(Line::from(original));
            let amount = digits.parse::<i64>().unwrap_or(0);
            lines.push(Line::from(format!("{asked}: {}", app.state.money(amount))));
        }
        Screen::Business(amount) => {
            lines.push(heading(&format!("{} {}", tr(lang, "消费", "Sale"), app.state.money(*amount))));
            lines.push(Line::from(tr(lang, "业务类型:", "Business type:")));
            lines.push(Line::from(format!("  1  {}", tr(lang, "销售", "Sale"))));
            lines.push(Line::from(format!("  2  {}", tr(lang, "收款", "Collection"))));
            lines.push(Line::from(format!("  3  {}", tr(lang, "进货", "Purchase"))));
        }
        Screen::Confirm(entry) => {
            lines.push(heading(tr(lang, "预授权撤销", "Pre-authorization void")));
            lines.push(Line::from(format!(
                "{}: {:06} · {} · {}",
                tr(lang, "原凭证号", "Original voucher no."),
                entry.stan,
                app.state.money(entry.amount_minor),
                entry.card
            )));
            lines.push(Line::from(format!(
                "{}: {}",
                tr(lang, "授权码", "Authorization code"),
                entry.auth_code.as_deref().unwrap_or("-")
            )));
            lines.push(Line::from(tr(
                lang,
                "按 确认(Enter) 撤销, 取消(Esc) 返回",
                "Enter releases the hold; Esc goes back",
            )));
        }
        Screen::Reason(entry, amount) => {
            lines.push(heading(&format!("{} {}", tr(lang, "退货", "Refund"), app.state.money(*amount))));
            lines.push(Line::from(format!(
                "{}: {:06} · {}",
                tr(lang, "原凭证号", "Original voucher no."),
                entry.stan,
                entry.card
            )));
            lines.push(Line::from(tr(lang, "退货原因:", "Reason:")));
            for reason in 1..=4 {
                lines.push(Line::from(format!("  {reason}  {}", refund_reason_name(lang, reason))));
            }
        }
        Screen::Supervisor(kind, entry, amount, pin) => {
            let what = match kind {
                ReturnKind::Void => tr(lang, "撤销", "Void"),
                ReturnKind::CompletionVoid => tr(lang, "预授权完成撤销", "Completion void"),
                _ => tr(lang, "退货", "Refund"),
            };
            lines.push(heading(&format!("{what} {}", app.state.money(*amount))));
            lines.push(Line::from(format!(
                "{}: {:06} · {}",
                tr(lang, "原凭证号", "Original voucher no."),
                entry.stan,
                entry.card
            )));
            lines.push(Line::from(format!(
                "{}: {}",
                tr(lang, "请输入主管密码", "Supervisor PIN"),
                "*".repeat(pin.len())
            )));
        }
        Screen::Query(digits, message) => {
            lines.push(heading(tr(lang, "交易查询", "Transaction query")));
            lines.push(Line::from(format!("{}: {digits}", tr(lang, "凭证号", "Voucher no."))));
            lines.push(Line::from(tr(lang, "直接按 确认(Enter): 本机流水与合计", "Enter alone: the list and totals")));
            if let Some(message) = message {
                lines.push(Line::from(Span::styled(message.clone(), alert(Color::Red))));
            }
        }
        Screen::Reprint(digits, message) => {
            lines.push(heading(tr(lang, "重打印", "Reprint")));
            lines.push(Line::from(format!("{}: {digits}", tr(lang, "凭证号", "Voucher no."))));
            lines.push(Line::from(tr(lang, "直接按 确认(Enter): 最后一笔", "Enter alone: the last receipt")));
            if let Some(message) = message {
                lines.push(Line::from(Span::styled(message.clone(), alert(Color::Red))));
            }
        }
        Screen::Settings => {
            lines.push(heading(tr(lang, "管理", "Settings")));
            lines.push(Line::from(format!(
                "  1  {}: {}",
                tr(lang, "语言", "Language"),
                tr(lang, "中文 → English", "English → 中文")
            )));
            lines.push(Line::from(format!("  2  {}", tr(lang, "诊断", "Diagnostics"))));
            let qr = app.state.extra_methods.iter().any(|m| m == "qr");
            let on = |yes: bool| if yes { tr(lang, "开", "on") } else { tr(lang, "关", "off") };
            lines.push(Line::from(format!(
                "  3  {}: {} {}, {} {}",
                tr(lang, "支付方式", "Payment methods"),
                tr(lang, "银行卡", "bank card"),
                on(true),
                tr(lang, "扫码", "QR"),
                on(qr)
            )));
            let method =
                |m: &str| if m == "qr" { tr(lang, "扫码", "QR") } else { tr(lang, "银行卡", "bank card") };
            lines.push(Line::from(format!(
                "  4  {}: {}",
                tr(lang, "默认支付方式", "Default payment method"),
                method(app.state.default_method())
            )));
            lines.push(Line::from(format!(
                "  5  {}: {} · CNY 156 {}",
                tr(lang, "币种显示", "Currency shown as"),
                app.state.money(1234),
                tr(lang, "人民币 (主机只受理人民币)", "yuan (the host takes CNY only)")
            )));
            if app.state.qr_enabled() {
                lines.push(Line::from(format!("  6  {}", tr(lang, "静态收款码 (台卡)", "Static code (台卡)"))));
            }
            lines.push(Line::from(tr(lang, "  Esc 返回", "  Esc back")));
        }
        Screen::StaticCode => {
            let url = static_code_url(app.state.tid.as_deref().unwrap_or_default());
            lines.push(heading(tr(lang, "静态收款码 (台卡)", "Static code (台卡)")));
            lines.extend(qr_lines(&url).unwrap_or_default().into_iter().map(Line::from));
            lines.push(Line::from(url));
            lines.push(Line::from(tr(
                lang,
                "打印后放在收银台: 顾客扫码后在手机上输入金额; 每位付款人每日限 500 元",
                "Print it and stand it by the till: the payer scans it and enters the amount; ¥500 a payer a day",
            )));
            lines.push(Line::from(tr(lang, "Esc 返回", "Esc back")));
        }
        Screen::Diagnostics(note) => {
            lines.push(heading(tr(lang, "诊断", "Diagnostics")));
            lines.push(Line::from(format!(
                "{}: {}",
                tr(lang, "最近错误", "Last error"),
                app.last_error.as_deref().unwrap_or(tr(lang, "无", "none"))
            )));
            lines.push(Line::from(tr(lang, "设备日志 (最近):", "Device log (latest):")));
            for line in app.journal.as_ref().map(|j| j.log_tail(10)).unwrap_or_default() {
                lines.push(Line::from(format!("  {line}")));
            }
            lines.push(Line::from(tr(
                lang,
                "  N 网络检测 (回响测试) · E 导出日志 · Esc 返回",
                "  N network check (echo test) · E export the log · Esc back",
            )));
            if let Some(note) = note {
                lines.push(Line::from(note.clone()));
            }
        }
        Screen::Busy(what) => {
            lines.push(heading(what));
            lines.push(Line::from(tr(lang, "处理中, 请稍候…", "Processing, please wait…")));
        }
        Screen::Outcome(text) => lines.extend(text.iter().map(|l| Line::from(l.clone()))),
    }
    if app.reversal_pending {
        lines.push(Line::from(Span::styled(
            tr(lang, "有待发送的冲正: 下一笔交易前先发送", "A reversal is pending: it goes before the next request")
                .to_owned(),
            alert(Color::Yellow),
        )));
    }
    let area = frame.area();
    let area = Rect { width: area.width.min(80), height: area.height.min(24), ..area };
    let block = Block::default().borders(Borders::ALL).title(title);
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}

/// The connection to the host, made once the device is activated. The terminal library's object
/// lives as long as the program (it holds the working keys, as a real terminal's memory does); a
/// connection that broke is made again before the next request.
struct Link {
    terminal: Option<Terminal>,
    broken: bool,
}

impl Link {
    async fn terminal(
        &mut self,
        options: &Options,
        dir: &DeviceDir,
        state: &DeviceState,
    ) -> anyhow::Result<&mut Terminal> {
        if self.broken
            && let Some(terminal) = self.terminal.as_mut()
        {
            terminal.connect_to(options.host).await?;
            self.broken = false;
        }
        if self.terminal.is_none() {
            let tmk = xingtong_crypto::Key::from_hex(state.tmk_hex.as_deref().unwrap_or_default())?;
            let config = TerminalConfig {
                tid: state.tid.clone().unwrap_or_default(),
                mid: state.mid.clone().unwrap_or_default(),
                tmk,
                state_dir: Some(dir.pos_dir()),
                reply_timeout: Duration::from_secs(20),
                fsync: true,
            };
            self.terminal = Some(Terminal::open(config, options.host).await?);
        }
        Ok(self.terminal.as_mut().expect("opened above"))
    }
}

/// Sends the pending reversal, if there is one, before anything else (store and forward): a note
/// for the screen when it went, or the screen's text when it could not go (nothing else is sent).
async fn reversal_first(terminal: &mut Terminal, lang: &str) -> Result<Option<String>, Vec<String>> {
    if !terminal.has_pending_reversal() {
        return Ok(None);
    }
    match terminal.send_pending_reversal().await {
        Ok(Some(reply)) => Ok(Some(format!(
            "{} {} ({})",
            tr(lang, "冲正已发送, 应答码", "Reversal sent first, response"),
            reply.code,
            tr(lang, "上笔交易已撤回", "the last request is undone")
        ))),
        Ok(None) => Ok(None),
        Err(error) => Err(vec![
            tr(
                lang,
                "冲正未能发送: 主机无应答, 稍后重试",
                "The pending reversal could not be sent: no answer; try again",
            )
            .to_owned(),
            error.to_string(),
        ]),
    }
}

/// The terminal, with any pending reversal sent first: the note saying so, or `None` when it could
/// not be sent (the screen then says so, and the next request connects again).
async fn ready<'a>(
    app: &mut App,
    link: &'a mut Link,
    options: &Options,
    dir: &DeviceDir,
    lang: &str,
) -> anyhow::Result<Option<(&'a mut Terminal, Option<String>)>> {
    let sent = reversal_first(link.terminal(options, dir, &app.state).await?, lang).await;
    match sent {
        Ok(note) => Ok(Some((link.terminal(options, dir, &app.state).await?, note))),
        Err(text) => {
            app.reversal_pending = true;
            app.screen = Screen::Outcome(text);
            link.broken = true;
            Ok(None)
        }
    }
}

/// Carries out a task and moves the app to its outcome.
async fn perform(app: &mut App, task: Task, options: &Options, dir: &DeviceDir, link: &mut Link) -> anyhow::Result<()> {
    let lang = app.lang().to_owned();
    match task {
        Task::NetworkCheck => {
            let started = Instant::now();
            let outcome = match tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::TcpStream::connect(options.host),
            )
            .await
            {
                Ok(Ok(_)) => format!("OK {} ({} ms)", options.host, started.elapsed().as_millis()),
                Ok(Err(error)) => format!("{}: {error}", tr(&lang, "连接失败", "Connection failed")),
                Err(_) => tr(&lang, "连接超时", "Connection timed out").to_owned(),
            };
            app.screen = Screen::Network(Some(outcome));
        }
        Task::Echo => {
            let started = Instant::now();
            let result = match link.terminal(options, dir, &app.state).await {
                Ok(terminal) => terminal.echo().await.map_err(anyhow::Error::from),
                Err(error) => Err(error),
            };
            let note = match result {
                Ok(reply) if reply.approved() => format!(
                    "{} {} ({} ms)",
                    tr(&lang, "回响测试成功:", "Echo test OK:"),
                    options.host,
                    started.elapsed().as_millis()
                ),
                Ok(reply) => {
                    format!("{} {}", tr(&lang, "回响测试: 主机应答码", "Echo test: the host answered"), reply.code)
                }
                Err(error) => {
                    app.last_error = Some(error.to_string());
                    link.broken = true;
                    format!("{} {error}", tr(&lang, "回响测试失败:", "Echo test failed:"))
                }
            };
            app.screen = Screen::Diagnostics(Some(note));
        }
        Task::Activate(values) => {
            match xingtong_pos::activation::activate(options.api, &values[0], &values[1], &values[2]).await {
                Ok(activated) => {
                    app.state.mid = Some(values[0].clone());
                    app.state.tid = Some(activated.tid.clone());
                    app.state.merchant_name = activated.merchant_name.clone();
                    app.state.tmk_hex = Some(activated.tmk.expose_hex().to_string());
                    app.state.tmk_check_value = Some(activated.check_value.clone());
                    dir.save(&app.state)?;
                    app.screen = Screen::Activated(activated.check_value);
                }
                Err(error) => {
                    let message = match &error {
                        xingtong_pos::PosError::Refused { message, code } => format!("{message} ({code})"),
                        other => other.to_string(),
                    };
                    app.screen = Screen::Activation { field: 2, values, message: Some(message) };
                }
            }
        }
        Task::SignIn(operator, pin) => {
            let terminal = link.terminal(options, dir, &app.state).await?;
            let reply = terminal.sign_in(operator, &pin).await?;
            if reply.approved() {
                app.operator = Some(operator);
                app.screen = Screen::Menu(Some(format!(
                    "{} {:06}",
                    tr(&lang, "签到成功, 批次号", "Signed in, batch"),
                    terminal.batch()
                )));
            } else {
                // At sign-in the codes are about the operator, not a cardholder (docs/iso8583.md §8).
                let explained = match reply.code.as_str() {
                    "05" => tr(&lang, "应答码 05: 操作员不存在 · 请核对操作员号", "Response 05: no such operator · Check the operator number")
                        .to_owned(),
                    "55" => tr(
                        &lang,
                        "应答码 55: 操作员密码错 · 请重新输入; 连错 5 次锁定",
                        "Response 55: wrong operator PIN · Key it again; 5 wrong PINs lock it",
                    )
                    .to_owned(),
                    "75" => tr(
                        &lang,
                        "应答码 75: 操作员已锁定或未设密码 · 请店主联系运营人员重置, 再设新密码",
                        "Response 75: operator locked or no PIN · The owner asks operations staff to reset it, then sets a new PIN",
                    )
                    .to_owned(),
                    code => app.explain(code).join(" · "),
                };
                app.screen = App::sign_in_screen(Some(explained));
            }
        }
        Task::Settle => {
            let operator = app.operator.unwrap_or(1);
            // A pending reversal goes before the 0500 (docs/iso8583.md §7.1), or it would land in
            // a settled batch and be refused.
            let Some((terminal, reversal)) = ready(app, link, options, dir, &lang).await? else { return Ok(()) };
            app.reversal_pending = terminal.has_pending_reversal();
            let batch = terminal.batch();
            let entries: Vec<JournalEntry> = dir.entries().into_iter().filter(|e| e.batch == batch).collect();
            let totals = batch_totals(&entries);
            let reply = terminal.settle(operator, &totals).await?;
            let side = |t: &xingtong_pos::Totals| {
                format!(
                    "{} {} {} · {} {} {}",
                    tr(&lang, "借记", "debits"),
                    t.debit_count,
                    app.state.money(i64::try_from(t.debit_minor).unwrap_or(0)),
                    tr(&lang, "贷记", "credits"),
                    t.credit_count,
                    app.state.money(i64::try_from(t.credit_minor).unwrap_or(0)),
                )
            };
            let mut text: Vec<String> = reversal.into_iter().collect();
            text.extend([
                format!("{} {} {batch:06}", tr(&lang, "结算", "Settlement"), tr(&lang, "批次", "batch")),
                format!("{}: {}", tr(&lang, "内卡", "Domestic cards"), side(&totals.domestic)),
                format!("{}: {}", tr(&lang, "外卡", "Foreign cards"), side(&totals.foreign)),
            ]);
            match (reply.code.as_str(), reply.verdict()) {
                ("00", Some(verdict)) => {
                    let balanced = verdict.balanced();
                    let mut uploaded = 0;
                    if !balanced {
                        text.push(
                            tr(&lang, "对账不平, 批上送中…", "The host's totals differ: uploading the batch…")
                                .to_owned(),
                        );
                        uploaded = terminal.upload_batch(&batch_items(&entries)).await?;
                    }
                    // Terminals end the upload after a balanced settlement too (批上送结束).
                    let _ = terminal.end_batch_upload(uploaded, balanced).await?;
                    let next = terminal.open_next_batch()?;
                    let at = format!(
                        "{} {}",
                        reply.message.get_str(13).unwrap_or(""),
                        reply.message.get_str(12).unwrap_or("")
                    );
                    let slip = settlement_slip(
                        &app.state,
                        &entries,
                        batch,
                        operator,
                        verdict,
                        &at,
                        reply.settlement_date().unwrap_or("-"),
                    );
                    let path = dir.settlement_slip(batch, &slip)?;
                    text.push(if balanced {
                        tr(&lang, "对账平, 结算成功", "Balanced: the host's totals agree").to_owned()
                    } else {
                        format!(
                            "{} {uploaded} {}",
                            tr(&lang, "对账不平, 已批上送", "Not balanced: uploaded"),
                            tr(&lang, "笔, 主机记录差异", "transactions for the host to reconcile")
                        )
                    });
                    text.push(format!("{}: {next:06}", tr(&lang, "新批次号", "New batch")));
                    text.push(format!("{}: {}", tr(&lang, "结算单已保存", "Settlement slip saved"), path.display()));
                    text.push(tr(&lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
                    text.extend(slip.lines().map(str::to_owned));
                }
                (code, _) => {
                    text.extend(app.explain(code));
                    text.push(tr(&lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
                }
            }
            app.screen = Screen::Outcome(text);
        }
        Task::SignOff => {
            let terminal = link.terminal(options, dir, &app.state).await?;
            let _ = terminal.sign_off().await?;
            app.operator = None;
            app.screen = App::sign_in_screen(Some(tr(&lang, "已签退", "Signed off").to_owned()));
        }
        Task::Return { kind, original, amount_minor, supervisor_pin } => {
            let Some((terminal, reversal)) = ready(app, link, options, dir, &lang).await? else { return Ok(()) };
            let request = match kind {
                ReturnKind::Void => Request::Void {
                    original: (original.batch, original.stan),
                    amount: amount_minor,
                    supervisor_pin: supervisor_pin.as_str().into(),
                },
                ReturnKind::Completion => Request::Completion {
                    original: (original.batch, original.stan, original.at.get(..4).unwrap_or("").to_owned()),
                    amount: amount_minor,
                    auth_code: original.auth_code.clone().unwrap_or_default(),
                },
                ReturnKind::PreAuthorizationVoid => Request::PreAuthorizationVoid {
                    original: (original.batch, original.stan),
                    amount: amount_minor,
                    auth_code: original.auth_code.clone().unwrap_or_default(),
                },
                ReturnKind::CompletionVoid => Request::CompletionVoid {
                    original: (original.batch, original.stan),
                    amount: amount_minor,
                    supervisor_pin: supervisor_pin.as_str().into(),
                },
                ReturnKind::Refund => Request::Refund {
                    original: (original.batch, original.stan, original.at.get(..4).unwrap_or("").to_owned()),
                    amount: amount_minor,
                    rrn: original.rrn.clone().unwrap_or_default(),
                    supervisor_pin: supervisor_pin.as_str().into(),
                    reason: format!("{:02}", app.refund_reason),
                },
            };
            let result = terminal.send(&request).await;
            app.reversal_pending = terminal.has_pending_reversal();
            let reply = match result {
                Ok(reply) => reply,
                Err(error) => {
                    app.last_error = Some(error.to_string());
                    app.screen = Screen::Outcome(vec![
                        tr(&lang, "交易失败: 主机无应答", "No answer from the host").to_owned(),
                        error.to_string(),
                    ]);
                    link.broken = true;
                    return Ok(());
                }
            };
            let kind_name = match kind {
                ReturnKind::Void => "void",
                ReturnKind::Refund => "refund",
                ReturnKind::Completion => "complete",
                ReturnKind::PreAuthorizationVoid => "preauth-void",
                ReturnKind::CompletionVoid => "complete-void",
            };
            let entry = journal_entry(&reply, kind_name, amount_minor, original.card.clone(), app.operator, None);
            dir.journal(&entry)?;
            let mut text: Vec<String> = reversal.into_iter().collect();
            if reply.approved() {
                text.push(tr(&lang, "交易成功", "Approved").to_owned());
                if kind == ReturnKind::Refund {
                    text.push(format!(
                        "{}: {:02} {}",
                        tr(&lang, "退货原因", "Reason"),
                        app.refund_reason,
                        refund_reason_name(&lang, app.refund_reason)
                    ));
                }
                let name = match kind {
                    ReturnKind::Void => "撤销 VOID",
                    ReturnKind::Refund => "退货 REFUND",
                    ReturnKind::Completion => "预授权完成 AUTH COMPLETE",
                    ReturnKind::PreAuthorizationVoid => "预授权撤销 AUTH VOID",
                    ReturnKind::CompletionVoid => "预授权完成撤销 COMPLETE VOID",
                };
                print_slip(app, dir, &entry, name, &mut text)?;
            } else {
                text.push(tr(&lang, "交易失败", "Declined").to_owned());
                text.extend(app.explain(&reply.code));
            }
            text.push(tr(&lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
            app.screen = Screen::Outcome(text);
        }
        Task::QrPay { amount_minor, code } => {
            let Some((terminal, reversal)) = ready(app, link, options, dir, &lang).await? else { return Ok(()) };
            let result = terminal.send(&Request::QrSale(code, amount_minor, app.business)).await;
            app.reversal_pending = terminal.has_pending_reversal();
            let Some(reply) = answered(app, link, &lang, result) else { return Ok(()) };
            let mut text: Vec<String> = reversal.into_iter().collect();
            let qr = reply.qr();
            // A code no wallet knows was not recorded: nothing for the journal.
            if qr.as_ref().is_some_and(|q| q.wallet == "QRX") || reply.code == "30" {
                text.push(tr(&lang, "交易失败", "Declined").to_owned());
                text.push(app.explain_qr(qr.as_ref().map_or("", |q| q.reason.as_str())));
            } else {
                let entry =
                    journal_entry(&reply, "sale", amount_minor, String::new(), app.operator, Some(app.business));
                qr_outcome(app, dir, &reply, &entry, &mut text)?;
            }
            text.push(tr(&lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
            app.screen = Screen::Outcome(text);
        }
        Task::QrOrder { amount_minor, wallet } => {
            let Some((terminal, reversal)) = ready(app, link, options, dir, &lang).await? else { return Ok(()) };
            let result = terminal.send(&Request::QrOrder(wallet.clone(), amount_minor, None, app.business)).await;
            app.reversal_pending = terminal.has_pending_reversal();
            let Some(reply) = answered(app, link, &lang, result) else { return Ok(()) };
            let qr = reply.qr();
            if let Some(url) = qr.as_ref().and_then(|q| q.code_url.clone()).filter(|_| reply.approved()) {
                app.last_asked = Some(std::time::Instant::now());
                app.screen = Screen::ShowCode(ShownCode {
                    amount_minor,
                    stan: reply.stan,
                    batch: reply.batch,
                    wallet,
                    url,
                    asked: 0,
                });
                return Ok(());
            }
            // Refused: recorded declined (a format error was not).
            let mut text: Vec<String> = reversal.into_iter().collect();
            if reply.code != "30" {
                let entry =
                    journal_entry(&reply, "sale", amount_minor, String::new(), app.operator, Some(app.business));
                dir.journal(&entry)?;
            }
            text.push(tr(&lang, "交易失败", "Declined").to_owned());
            match &qr {
                Some(q) => text.push(app.explain_qr(&q.reason)),
                None => text.extend(app.explain(&reply.code)),
            }
            text.push(tr(&lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
            app.screen = Screen::Outcome(text);
        }
        Task::QrAsk { order, close } => {
            let Some((terminal, _)) = ready(app, link, options, dir, &lang).await? else { return Ok(()) };
            let request = if close {
                Request::QrClose(order.stan, order.amount_minor)
            } else {
                Request::QrQuery(order.stan, order.amount_minor)
            };
            let result = terminal.send(&request).await;
            let reply = match result {
                Ok(reply) => reply,
                // No answer to a question: the code stays up, and the next tick asks again.
                Err(error) if !close => {
                    app.last_error = Some(error.to_string());
                    link.broken = true;
                    return Ok(());
                }
                Err(error) => return Err(error.into()),
            };
            let qr = reply.qr();
            if qr.as_ref().is_some_and(|q| q.code_url.is_some()) && reply.approved() {
                app.screen = Screen::ShowCode(ShownCode { asked: order.asked + 1, ..order });
                return Ok(());
            }
            let mut text = Vec::new();
            if reply.code == "25" || reply.code == "30" {
                text.push(tr(&lang, "查询失败", "The order could not be asked after").to_owned());
                text.extend(app.explain(&reply.code));
            } else {
                // The order's outcome, under the order's own voucher number.
                let mut entry =
                    journal_entry(&reply, "sale", order.amount_minor, String::new(), app.operator, Some(app.business));
                (entry.stan, entry.batch) = (order.stan, order.batch);
                qr_outcome(app, dir, &reply, &entry, &mut text)?;
            }
            text.push(tr(&lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
            app.screen = Screen::Outcome(text);
        }
        Task::Pay { kind, amount_minor, card } => {
            let Some((terminal, reversal)) = ready(app, link, options, dir, &lang).await? else { return Ok(()) };
            let request = match kind {
                PayKind::Sale => Request::Sale(card.clone(), amount_minor, app.business),
                PayKind::Balance => Request::Balance(card.clone()),
                PayKind::PreAuthorization => Request::PreAuthorization(card.clone(), amount_minor),
            };
            let result = terminal.send(&request).await;
            app.reversal_pending = terminal.has_pending_reversal();
            let Some(reply) = answered(app, link, &lang, result) else { return Ok(()) };
            let kind_name = match kind {
                PayKind::Sale => "sale",
                PayKind::Balance => "balance",
                PayKind::PreAuthorization => "preauth",
            };
            let business = (kind == PayKind::Sale).then_some(app.business);
            let entry = journal_entry(&reply, kind_name, amount_minor, mask(&card.pan), app.operator, business);
            dir.journal(&entry)?;
            let mut text: Vec<String> = reversal.into_iter().collect();
            if reply.approved() {
                text.push(tr(&lang, "交易成功", "Approved").to_owned());
                match kind {
                    PayKind::Balance => {
                        let balance = reply.balance_minor().unwrap_or(0);
                        text.push(format!("{}: {}", tr(&lang, "可用余额", "Available"), app.state.money(balance)));
                    }
                    PayKind::Sale | PayKind::PreAuthorization => {
                        let name = if kind == PayKind::Sale { "消费 SALE" } else { "预授权 PRE-AUTH" };
                        print_slip(app, dir, &entry, name, &mut text)?;
                    }
                }
            } else {
                text.push(tr(&lang, "交易失败", "Declined").to_owned());
                text.extend(app.explain(&reply.code));
            }
            text.push(tr(&lang, "按 确认(Enter) 返回", "Press Enter to go back").to_owned());
            app.screen = Screen::Outcome(text);
        }
    }
    Ok(())
}

/// The reply, or (no answer: the reversal stays pending) the screen that says so.
fn answered(
    app: &mut App,
    link: &mut Link,
    lang: &str,
    result: Result<xingtong_pos::Reply, xingtong_pos::PosError>,
) -> Option<xingtong_pos::Reply> {
    match result {
        Ok(reply) => Some(reply),
        Err(error) => {
            app.last_error = Some(error.to_string());
            app.screen = Screen::Outcome(vec![
                tr(lang, "交易失败: 主机无应答", "No answer from the host").to_owned(),
                error.to_string(),
                tr(lang, "冲正将在下一笔交易前自动发送", "The reversal goes first with the next request").to_owned(),
            ]);
            link.broken = true;
            None
        }
    }
}

/// Runs the terminal until the operator quits.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let dir = DeviceDir::open(&options.dir)?;
    let mut state = dir.load();
    if let Some(language) = &options.language {
        state.language = language.clone();
    }
    let cards: Vec<CardEntry> = match &options.cards {
        Some(path) => serde_json::from_slice(&std::fs::read(path)?)?,
        None => Vec::new(),
    };
    let mut app = App::new(state, cards, options.prefill.clone());
    app.journal = Some(dir.clone());
    let mut link = Link { terminal: None, broken: false };
    let mut screen = ratatui::init();
    let outcome = async {
        while !app.quit {
            screen.draw(|frame| draw(frame, &app))?;
            if !event::poll(Duration::from_millis(250))? {
                // Nothing keyed: what is due on its own (asking after a shown code), quietly.
                if let Some(task) = app.tick() {
                    if let Err(error) = perform(&mut app, task, &options, &dir, &mut link).await {
                        dir.log(&format!("error: {error}"));
                        app.last_error = Some(error.to_string());
                        link.broken = true;
                    }
                    if let Screen::Outcome(text) = &app.screen {
                        dir.log(&format!("outcome: {}", text.iter().take(2).cloned().collect::<Vec<_>>().join(" · ")));
                    }
                }
                continue;
            }
            let Event::Key(key) = event::read()? else { continue };
            let before = app.state.clone();
            if let Some(task) = app.on_key(key) {
                let what = format!("{task:?}").split(['(', ' ', '{']).next().unwrap_or("").to_owned();
                let busy = match what.as_str() {
                    "NetworkCheck" => tr(app.lang(), "网络检测", "Network check"),
                    "Echo" => tr(app.lang(), "回响测试", "Echo test"),
                    "Activate" => tr(app.lang(), "激活中", "Activating"),
                    "SignIn" => tr(app.lang(), "签到中", "Signing in"),
                    "SignOff" => tr(app.lang(), "签退中", "Signing off"),
                    "Settle" => tr(app.lang(), "结算中", "Settling"),
                    "Return" => tr(app.lang(), "撤销/退货处理中", "Void / refund in progress"),
                    "QrPay" => tr(
                        app.lang(),
                        "请顾客在手机上确认支付… (最长约 30 秒)",
                        "Waiting for the customer to confirm in the app… (up to about 30 s)",
                    ),
                    "QrOrder" => tr(app.lang(), "正在生成二维码…", "Making the code…"),
                    "QrAsk" => tr(app.lang(), "正在关闭订单…", "Closing the order…"),
                    _ => tr(app.lang(), "交易处理中", "Processing"),
                }
                .to_owned();
                let back = app.screen.clone();
                app.screen = Screen::Busy(busy);
                screen.draw(|frame| draw(frame, &app))?;
                dir.log(&format!("task {what}"));
                let performed = perform(&mut app, task, &options, &dir, &mut link).await;
                match &app.screen {
                    Screen::Outcome(text) => {
                        dir.log(&format!("outcome: {}", text.iter().take(2).cloned().collect::<Vec<_>>().join(" · ")))
                    }
                    Screen::SignIn { message: Some(m), .. } => dir.log(&format!("sign-in: {m}")),
                    Screen::Menu(Some(m)) => dir.log(&format!("menu: {m}")),
                    Screen::Activated(check) => dir.log(&format!("activated, TMK check value {check}")),
                    Screen::Network(Some(outcome)) => dir.log(&format!("network check: {outcome}")),
                    _ => {}
                }
                if let Err(error) = performed {
                    dir.log(&format!("error: {error}"));
                    app.last_error = Some(error.to_string());
                    link.broken = true;
                    app.screen = back;
                    if let Screen::SignIn { message, .. } | Screen::Activation { message, .. } = &mut app.screen {
                        *message = Some(error.to_string());
                    } else {
                        app.screen = Screen::Outcome(vec![error.to_string()]);
                    }
                }
            }
            if app.state != before {
                dir.save(&app.state)?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    ratatui::restore();
    outcome
}

#[cfg(test)]
mod tests {
    use super::qr_lines;

    #[test]
    fn a_drawn_code_has_every_module_of_the_qr_code_where_it_belongs() {
        let url = "xtsandbox://unionpay_qr/Ab3dEfGh2kMnPq7r";
        let lines = qr_lines(url).expect("fits");
        let code = qrcode::QrCode::new(url.as_bytes()).unwrap();
        let (width, colors) = (code.width(), code.to_colors());
        let size = width + 4;
        assert_eq!(lines.len(), size.div_ceil(2));
        // Read the modules back from the characters: the top and bottom halves of each.
        let rows: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
        for y in 0..size {
            for x in 0..size {
                let c = rows[y / 2][x];
                let light = if y % 2 == 0 { matches!(c, '█' | '▀') } else { matches!(c, '█' | '▄') };
                let inside = (2..width + 2).contains(&x) && (2..width + 2).contains(&y);
                let expected = !inside || colors[(y - 2) * width + (x - 2)] == qrcode::Color::Light;
                assert_eq!(light, expected, "module ({x}, {y})");
            }
        }
        // A sandbox URL draws in 33 columns and 17 lines: it fits an 80×24 terminal with its text.
        assert!(lines.iter().all(|l| l.chars().count() == 33) && lines.len() == 17, "{}", lines.join("\n"));
    }
}

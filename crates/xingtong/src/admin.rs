//! Operator commands (`xingtong admin …`), carried out one way whoever runs them.
//!
//! An SQLite data directory has one writer (`xingtong_store::lock`). When no server holds it, the
//! command line opens the store itself, under the same lock, and runs the command. When a server
//! holds it, the command line hands the command to that server over its admin socket
//! (`<data_dir>/admin.sock`, owner-only, peers of another user refused), and the server runs it
//! with its own store, caches and writer, so nothing is ever written behind the writer's back. On
//! PostgreSQL, where several processes share one database by design, the command line always runs
//! the command itself.
//!
//! Either way the same [`execute`] runs the same [`AdminRequest`] and returns the same [`Output`],
//! which the command line prints as text or JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use xingtong_store::Store;

/// The admin socket inside the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// The longest request or answer line on the socket (a staff password, a card spec: small).
const LINE_BYTES_MAX: u64 = 1 << 20;
/// How long the command line waits for a starting server's socket.
const CONNECT_WAIT_S: u64 = 5;
/// How long the command line waits for the server to carry a command out.
const ANSWER_TIMEOUT_S: u64 = 120;

/// An operator command. Its `Debug` names the command only: requests carry passwords and PINs.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// A new API key.
    ApiKeyCreate { role: String, label: String },
    /// A staff account.
    StaffCreate { username: String, name: String, roles: Vec<String>, password: xingtong_crypto::SecretString },
    /// The review queue, or applications in these statuses.
    ApplicationList { statuses: Vec<String> },
    /// Take for review (if submitted) and approve.
    ApplicationApprove { id: String, mcc: Option<String> },
    /// Take for review (if submitted) and reject.
    ApplicationReject { id: String, reason: String },
    /// A bound terminal and its TMK.
    TerminalProvision { mid: String, serial: Option<String>, model: Option<String> },
    /// A terminal's batches.
    TerminalBatches { tid: String },
    /// A terminal's payment methods, changed when any is given.
    TerminalPaymentMethods { tid: String, card: Option<bool>, qr: Option<bool>, default_method: Option<String> },
    /// A sandbox test card; `spec` is `xingtong_payments::sandbox::NewCard` as JSON.
    SandboxCardCreate { spec: Value },
    /// A sandbox wallet user; `spec` is `xingtong_payments::sandbox_wallet::NewWallet` as JSON.
    SandboxWalletCreate { spec: Value },
    /// A sandbox wallet user and its balance.
    SandboxWalletShow { id: String },
    /// A fresh payment code of a sandbox wallet.
    SandboxWalletCode { id: String },
    /// A sandbox wallet's user scans a dynamic code and pays it.
    SandboxWalletScan { id: String, code_url: String },
    /// The ledger audit; with `explain`, every disagreement listed.
    Audit { explain: bool },
    /// A day of card transactions on the demo tenant.
    DemoDay { terminals: usize },
    /// Clearing of a business day (`YYYYMMDD`).
    ClearingRun { day: String },
    /// A merchant-day's settlement with its lines.
    SettlementShow { mid: String, day: String },
    /// A payout run for a day (`YYYYMMDD`).
    PayoutsRun { day: String },
    /// A merchant's payouts, in these statuses (all when empty).
    PayoutsList { mid: String, statuses: Vec<String> },
    /// Reconcile a business day, against the network's file or (name, text) given.
    ReconciliationRun {
        day: String,
        file: Option<(String, String)>,
        #[serde(default = "card_source")]
        source: xingtong_payments::recon::Source,
    },
    /// A day's stored reconciliation report.
    ReconciliationShow {
        day: String,
        #[serde(default = "card_source")]
        source: xingtong_payments::recon::Source,
    },
    /// The sandbox network's clearing file of a day.
    SandboxClearingFile {
        day: String,
        #[serde(default = "card_source")]
        source: xingtong_payments::recon::Source,
    },
    /// A discrepancy injected into the sandbox network's clearing file.
    SandboxClearingFault { txn: String, kind: String, delta_minor: i64 },
    /// A device's deposit.
    DepositShow { tid: String },
    /// A merchant's sales report.
    ReportSales { mid: String, from: String, to: String, period: String, by: String },
    /// `report settlements`.
    ReportSettlements { mid: String, from: String, to: String, period: String },
    /// `report collections`.
    ReportCollections { mid: String, from: String, to: String, period: String },
    /// `report refunds`.
    ReportRefunds { mid: String, from: String, to: String },
    /// Pay a device's deposit with a card.
    DepositPay { tid: String, card: String, expiry: Option<String>, pin: xingtong_crypto::SecretString },
    /// Waive a device's deposit.
    DepositWaive { tid: String, reason: String },
    /// A sandbox bank account's behaviour.
    SandboxBankAccount { card: String, state: String, holder: Option<String>, lose_answers: u32 },
}

impl AdminRequest {
    /// The command's name, for messages and `Debug`.
    pub fn name(&self) -> &'static str {
        match self {
            AdminRequest::ApiKeyCreate { .. } => "api-key create",
            AdminRequest::StaffCreate { .. } => "staff create",
            AdminRequest::ApplicationList { .. } => "application list",
            AdminRequest::ApplicationApprove { .. } => "application approve",
            AdminRequest::ApplicationReject { .. } => "application reject",
            AdminRequest::TerminalProvision { .. } => "terminal provision",
            AdminRequest::TerminalBatches { .. } => "terminal batches",
            AdminRequest::TerminalPaymentMethods { .. } => "terminal payment-methods",
            AdminRequest::SandboxCardCreate { .. } => "sandbox card create",
            AdminRequest::SandboxWalletCreate { .. } => "sandbox wallet create",
            AdminRequest::SandboxWalletShow { .. } => "sandbox wallet show",
            AdminRequest::SandboxWalletCode { .. } => "sandbox wallet code",
            AdminRequest::SandboxWalletScan { .. } => "sandbox wallet scan",
            AdminRequest::Audit { .. } => "audit",
            AdminRequest::DemoDay { .. } => "demo day",
            AdminRequest::ClearingRun { .. } => "clearing run",
            AdminRequest::SettlementShow { .. } => "clearing show",
            AdminRequest::PayoutsRun { .. } => "payouts run",
            AdminRequest::PayoutsList { .. } => "payouts list",
            AdminRequest::SandboxBankAccount { .. } => "sandbox bank-account",
            AdminRequest::DepositShow { .. } => "deposit show",
            AdminRequest::ReportSales { .. } => "report sales",
            AdminRequest::ReportSettlements { .. } => "report settlements",
            AdminRequest::ReportCollections { .. } => "report collections",
            AdminRequest::ReportRefunds { .. } => "report refunds",
            AdminRequest::ReconciliationRun { .. } => "reconciliation run",
            AdminRequest::ReconciliationShow { .. } => "reconciliation show",
            AdminRequest::SandboxClearingFile { .. } => "sandbox clearing-file",
            AdminRequest::SandboxClearingFault { .. } => "sandbox clearing-fault",
            AdminRequest::DepositPay { .. } => "deposit pay",
            AdminRequest::DepositWaive { .. } => "deposit waive",
        }
    }
}

impl std::fmt::Debug for AdminRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AdminRequest({})", self.name())
    }
}

/// What a command produced: JSON values (one line each with `--json`) and the text for a person.
/// `failure` set means the command ran but its answer is "no" (an unbalanced ledger): the output
/// is printed and the command line exits non-zero with this message.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Output {
    pub json: Vec<Value>,
    pub text: String,
    pub failure: Option<String>,
}

impl Output {
    fn one(json: Value, text: String) -> Output {
        Output { json: vec![json], text, failure: None }
    }
}

/// What the commands run against: the whole platform, as `serve` wires it.
#[derive(Debug, Clone)]
pub struct Services {
    pub store: Store,
    pub merchants: xingtong_merchants::Merchants,
    pub engine: xingtong_payments::Engine,
    pub sandbox: Arc<xingtong_payments::sandbox::SandboxNetwork>,
    pub wallets: Arc<xingtong_payments::sandbox_wallet::SandboxWallets>,
    /// The data directory (the demo's cards file lives there).
    pub data_dir: PathBuf,
}

/// The command line acts as operations staff with every role; the audit log names it `staff:cli`.
fn cli_staff() -> xingtong_merchants::Principal {
    xingtong_merchants::Principal::Staff { id: "cli".into(), roles: xingtong_merchants::Role::ALL.to_vec() }
}

pub fn service_error(error: xingtong_merchants::Error) -> anyhow::Error {
    match &error.details {
        Some(details) => anyhow::anyhow!("{} ({}): {details}", error.message, error.code),
        None => anyhow::anyhow!("{} ({})", error.message, error.code),
    }
}

/// Runs one command. The audit needs the store alone (it must run on a ledger that does not
/// balance, where nothing else should); every other command needs the services.
pub async fn execute(
    request: AdminRequest,
    store: &Store,
    services: Option<&Services>,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<Output> {
    if let AdminRequest::Audit { explain } = request {
        return audit(store, explain).await;
    }
    let services = services.context("this command needs the platform's services")?;
    let merchants = &services.merchants;
    let staff = cli_staff();
    match request {
        AdminRequest::Audit { .. } => unreachable!("handled above"),
        AdminRequest::ApiKeyCreate { role, label } => {
            check_api_key_role(&role)?;
            let key = services.store.create_api_key(&role, &label).await?;
            Ok(Output::one(
                json!({ "id": key.record.id, "role": key.record.role, "api_key": key.token }),
                format!("New {role} API key (shown once; keep it secret):\n  {}", key.token),
            ))
        }
        AdminRequest::StaffCreate { username, name, roles, password } => {
            let roles = roles
                .iter()
                .map(|r| xingtong_merchants::Role::parse(r.trim()).with_context(|| format!("unknown role {r:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let staff =
                merchants.create_staff("staff:cli", &username, &name, roles, password).await.map_err(service_error)?;
            Ok(Output::one(
                json!({ "id": staff.id, "username": staff.username, "roles": staff.roles }),
                format!("staff {} ({}) created with roles {:?}", staff.username, staff.id, staff.roles),
            ))
        }
        AdminRequest::ApplicationList { statuses } => {
            let statuses: Vec<&str> = if statuses.is_empty() {
                vec!["submitted", "under_review"]
            } else {
                statuses.iter().map(String::as_str).collect()
            };
            let list = merchants.applications(&staff, &statuses).await.map_err(service_error)?;
            let mut out = Output::default();
            for a in &list {
                let v = &a.value;
                out.json.push(json!({ "id": v.id, "status": v.status, "business": v.form.business.name, "applicant": v.form.applicant.legal_name, "warnings": v.warnings.len(), "submissions": v.submissions }));
                out.text.push_str(&format!(
                    "{}  {:<12}  {}  ({}), {} warning(s)\n",
                    v.id,
                    v.status.as_str(),
                    v.form.business.name,
                    v.form.applicant.legal_name,
                    v.warnings.len()
                ));
            }
            Ok(out)
        }
        AdminRequest::ApplicationApprove { id, mcc } => {
            take_for_review(merchants, &staff, &id).await?;
            let approval = xingtong_merchants::applications::Approval { mcc, ..Default::default() };
            let (_, merchant, device) =
                merchants.approve_application(&staff, &id, approval).await.map_err(service_error)?;
            Ok(Output::one(
                json!({ "application": id, "mid": merchant.mid, "tid": device.tid, "serial_number": device.serial_number, "activation_code": device.activation_code }),
                format!(
                    "approved {id}: merchant {} ({}), terminal {} (serial {}), activation code {}",
                    merchant.mid,
                    merchant.name,
                    device.tid,
                    device.serial_number,
                    device.activation_code.as_deref().unwrap_or("-")
                ),
            ))
        }
        AdminRequest::ApplicationReject { id, reason } => {
            take_for_review(merchants, &staff, &id).await?;
            merchants.reject_application(&staff, &id, &reason).await.map_err(service_error)?;
            Ok(Output::one(json!({ "application": id, "status": "rejected" }), format!("rejected {id}")))
        }
        AdminRequest::TerminalProvision { mid, serial, model } => {
            let provisioned = merchants
                .provision_terminal("staff:cli", &mid, serial.as_deref(), model.as_deref())
                .await
                .map_err(service_error)?;
            let tmk = provisioned.tmk.expose_hex();
            let kcv = hex::encode_upper(provisioned.tmk.check_value());
            Ok(Output::one(
                json!({ "mid": provisioned.mid, "tid": provisioned.tid, "serial_number": provisioned.serial_number, "tmk": tmk.as_str(), "tmk_check_value": kcv }),
                format!(
                    "terminal {} for merchant {} (serial {}); TMK {} (check value {}): load it into the terminal, then discard this output",
                    provisioned.tid,
                    provisioned.mid,
                    provisioned.serial_number,
                    tmk.as_str(),
                    kcv
                ),
            ))
        }
        AdminRequest::TerminalPaymentMethods { tid, card, qr, default_method } => {
            let device = xingtong_merchants::entity::load::<xingtong_merchants::devices::Device>(&services.store, &tid)
                .await
                .map_err(service_error)?
                .ok_or_else(|| anyhow::anyhow!("no terminal {tid}"))?
                .value;
            let methods = if card.is_none() && qr.is_none() && default_method.is_none() {
                services.engine.payment_methods(&tid, &device.mid).await.map_err(service_error)?
            } else {
                let change = xingtong_payments::methods::MethodsChange {
                    card,
                    qr,
                    default_method: default_method.as_deref().map(|m| {
                        if m == "qr" {
                            xingtong_payments::methods::Method::Qr
                        } else {
                            xingtong_payments::methods::Method::Card
                        }
                    }),
                };
                services
                    .engine
                    .set_payment_methods("staff:cli", &tid, &device.mid, change)
                    .await
                    .map_err(service_error)?
            };
            let on = |yes: bool| if yes { "on" } else { "off" };
            Ok(Output::one(
                json!({ "tid": tid, "card": methods.card, "qr": methods.qr, "default_method": methods.default_method.as_str() }),
                format!(
                    "terminal {tid}: card {}, QR {}, default {}",
                    on(methods.card),
                    on(methods.qr),
                    methods.default_method.as_str()
                ),
            ))
        }
        AdminRequest::TerminalBatches { tid } => {
            let device = xingtong_merchants::entity::load::<xingtong_merchants::devices::Device>(&services.store, &tid)
                .await
                .map_err(service_error)?
                .ok_or_else(|| anyhow::anyhow!("no terminal {tid}"))?
                .value;
            let batches = services.engine.terminal_batches(&device.mid, &tid).await.map_err(service_error)?;
            let mut output = Output::default();
            if batches.is_empty() {
                output.text = format!("terminal {tid} has no settled batch yet\n");
            }
            for b in &batches {
                let (d, f) = (b.host.domestic, b.host.foreign);
                output.text.push_str(&format!(
                    "batch {:06}  {:<17} day {}  host: debits {} ¥{}, credits {} ¥{}; foreign debits {} ¥{}, credits {} ¥{}; uploaded {}, differences {}\n",
                    b.batch,
                    b.status.as_str(),
                    dashed(&b.business_day),
                    d.debit_count,
                    yuan(i64::try_from(d.debit_minor).unwrap_or(i64::MAX)),
                    d.credit_count,
                    yuan(i64::try_from(d.credit_minor).unwrap_or(i64::MAX)),
                    f.debit_count,
                    yuan(i64::try_from(f.debit_minor).unwrap_or(i64::MAX)),
                    f.credit_count,
                    yuan(i64::try_from(f.credit_minor).unwrap_or(i64::MAX)),
                    b.uploaded.len(),
                    b.differences.len(),
                ));
                output.json.push(serde_json::to_value(b)?);
            }
            Ok(output)
        }
        AdminRequest::DemoDay { terminals } => {
            let report = crate::demo::day(services, &services.data_dir, terminals, progress).await?;
            let text = format!(
                "demo day on {} (business day {}): {} sales (¥{}.{:02}), {} voids, {} refunds, {} inquiries, {} declined, {} reversed, on terminals {}; ledger {}",
                report.merchant,
                report.business_day,
                report.sales,
                report.sales_minor / 100,
                report.sales_minor % 100,
                report.voids,
                report.refunds,
                report.inquiries,
                report.declined,
                report.reversals,
                report.terminals.join(", "),
                if report.balanced { "balanced" } else { "NOT balanced" }
            );
            let failure = (!report.balanced).then(|| "the ledger does not balance after the demo day".to_owned());
            Ok(Output { json: vec![serde_json::to_value(&report)?], text, failure })
        }
        AdminRequest::ClearingRun { day } => {
            let report = services
                .engine
                .clear_day(&day, &|done, total| progress(Progress { done, total, what: "merchants".into() }))
                .await
                .map_err(service_error)?;
            let balanced = services.store.audit().await.is_ok();
            let text = format!(
                "clearing of {day}: {} merchants, {} settlements made ({} lines), {} cleared before; payouts ¥{}, fees ¥{}, D0 surcharges ¥{}; ledger {}",
                report.merchants,
                report.cleared,
                report.lines,
                report.already_cleared,
                yuan(report.payout_minor),
                yuan(report.fees_minor),
                yuan(report.surcharge_minor),
                if balanced { "balanced" } else { "NOT balanced" }
            );
            let mut json = serde_json::to_value(&report)?;
            json["ledger_balanced"] = json!(balanced);
            let failure = (!balanced).then(|| "the ledger does not balance after clearing".to_owned());
            Ok(Output { json: vec![json], text, failure })
        }
        AdminRequest::SettlementShow { mid, day } => {
            // One settlement a day, or more when the day was cleared while open (D0 sweeps).
            let settlements = services.engine.settlements_of_day(&mid, &day).await.map_err(service_error)?;
            anyhow::ensure!(
                !settlements.is_empty(),
                "merchant {mid} has no settlement for {day} (not cleared, or no transactions)"
            );
            let mut output = Output::default();
            for settlement in settlements {
                let lines = services.engine.settlement_lines(&settlement).await.map_err(service_error)?;
                output.text.push_str(&format!(
                    "settlement {} ({}): captured ¥{} ({}), returned ¥{} ({}), fees ¥{}, surcharge ¥{}, net ¥{}, carried in ¥{}, payout ¥{} due {}\n",
                    settlement.id,
                    settlement.status.as_str(),
                    yuan(settlement.captured_minor),
                    settlement.captured_count,
                    yuan(settlement.returned_minor),
                    settlement.returned_count,
                    yuan(settlement.fees_minor),
                    yuan(settlement.surcharge_minor),
                    yuan(settlement.net_minor),
                    yuan(settlement.carried_in_minor),
                    yuan(settlement.payout_minor),
                    settlement.payout_date
                ));
                for l in &lines {
                    output.text.push_str(&format!(
                        "{:>5}  {:<22} {:<14} ¥{:>12}  fee ¥{:>9}  net ¥{:>12}\n",
                        l.seq,
                        l.txn_id,
                        l.txn_type,
                        yuan(l.amount_minor),
                        yuan(l.fee_minor),
                        yuan(l.net_minor)
                    ));
                }
                let lines: Vec<Value> = lines
                    .iter()
                    .map(|l| {
                        json!({ "seq": l.seq, "transaction_id": l.txn_id, "type": l.txn_type, "amount_minor": l.amount_minor,
                            "fee_minor": l.fee_minor, "surcharge_minor": l.surcharge_minor, "net_minor": l.net_minor })
                    })
                    .collect();
                let mut value = serde_json::to_value(&settlement)?;
                value["lines"] = Value::Array(lines);
                output.json.push(value);
            }
            Ok(output)
        }
        AdminRequest::PayoutsList { mid, statuses } => {
            use xingtong_merchants::entity::Entity;
            let staff = cli_staff();
            let merchant = services.merchants.merchant(&staff, &mid).await.map_err(service_error)?.value;
            let mut query = xingtong_store::RecordQuery::kind(xingtong_payments::payouts::Payout::KIND).owner(&mid);
            query.limit = xingtong_store::PAGE_LIMIT_MAX;
            if !statuses.is_empty() {
                let statuses: Vec<&str> = statuses.iter().map(String::as_str).collect();
                query = query.statuses(&statuses);
            }
            let mut payouts = Vec::new();
            loop {
                let page: Vec<xingtong_merchants::entity::Stored<xingtong_payments::payouts::Payout>> =
                    xingtong_merchants::entity::list(&services.store, query.clone()).await.map_err(service_error)?;
                let full = page.len() == query.limit as usize;
                query.after = page.last().map(|p| (p.created_at, p.value.id.clone()));
                payouts.extend(page.into_iter().map(|p| p.value));
                if !full {
                    break;
                }
            }
            let payable = xingtong_payments::chart::merchant_account_id(
                &mid,
                xingtong_payments::chart::ACCOUNT_MERCHANT_SETTLEMENT,
            )
            .unwrap_or(0);
            let account = services.store.lookup_accounts(vec![payable]).await?;
            let held = account.first().map_or(0, |a| a.credits_posted as i128 - a.debits_posted as i128);
            let held = i64::try_from(held).unwrap_or(i64::MAX);
            let mut output = Output::default();
            for p in &payouts {
                let last = p.attempts.last();
                output.text.push_str(&format!(
                    "{:<34} {:<14} ¥{:>12} due {}  {:<9} {}\n",
                    p.id,
                    p.purpose.as_str(),
                    yuan(p.amount_minor),
                    p.payout_date,
                    p.status.as_str(),
                    last.map(|a| format!(
                        "last attempt to {}: {}{}",
                        a.card_masked,
                        a.outcome,
                        a.detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
                    ))
                    .unwrap_or_default()
                ));
            }
            output.json.push(json!({ "mid": mid, "payouts": payouts, "payable_minor": held }));
            output.text.push_str(&format!(
                "{} payout(s) of merchant {} ({}); its settlement payable holds ¥{} (a failed payout's money waits there until the card is changed)",
                payouts.len(),
                mid,
                merchant.name,
                yuan(held)
            ));
            Ok(output)
        }
        AdminRequest::PayoutsRun { day } => {
            let bank = xingtong_payments::bank::SandboxBank::new(services.store.clone());
            let report = services.engine.run_payouts(&bank, &day).await.map_err(service_error)?;
            let text = format!(
                "payouts due {day}: {} paid (¥{}), {} failed, {} sent again after a card change, {} still without an answer",
                report.paid,
                yuan(report.paid_minor),
                report.failed,
                report.retried,
                report.unknown
            );
            Ok(Output::one(serde_json::to_value(&report)?, text))
        }
        AdminRequest::ReconciliationRun { day, file, source } => {
            let file = file.map(|(name, text)| xingtong_payments::recon::ClearingFile { name, text });
            let report =
                services.engine.reconcile_source(source, &day, file, "staff:cli").await.map_err(service_error)?;
            Ok(reconciliation_output(&report))
        }
        AdminRequest::ReconciliationShow { day, source } => {
            let report =
                services.engine.reconciliation_of(source, &day).await.map_err(service_error)?.with_context(|| {
                    format!("business day {day} is not reconciled yet: run `admin reconciliation run`")
                })?;
            Ok(reconciliation_output(&report))
        }
        AdminRequest::SandboxClearingFile { day, source } => {
            let file = services.engine.source_file(source, &day).await.map_err(service_error)?.context("no file")?;
            Ok(Output::one(json!({ "name": file.name, "text": file.text }), file.text.trim_end().to_owned()))
        }
        AdminRequest::SandboxClearingFault { txn, kind, delta_minor } => {
            let kind: xingtong_payments::recon::FaultKind = serde_json::from_value(json!(kind))?;
            let fault = xingtong_payments::recon::inject_fault(&services.store, &txn, kind, delta_minor, "staff:cli")
                .await
                .map_err(service_error)?;
            let what = match fault.kind {
                xingtong_payments::recon::FaultKind::Omit => "the network never saw it (omitted)".to_owned(),
                xingtong_payments::recon::FaultKind::LateApproval => {
                    "the network approved it late (a sale the host reversed)".to_owned()
                }
                xingtong_payments::recon::FaultKind::Amount => {
                    format!("the network's amount differs by ¥{}", yuan(fault.delta_minor))
                }
            };
            let text = format!(
                "the sandbox network's clearing file of {} now disagrees on {}: {what}; run `admin reconciliation run --date {}`",
                fault.business_day, fault.txn_id, fault.business_day
            );
            Ok(Output::one(serde_json::to_value(&fault)?, text))
        }
        AdminRequest::DepositShow { tid } => {
            let deposit = services.engine.deposit(&tid).await.map_err(service_error)?;
            Ok(deposit_output(&deposit))
        }
        AdminRequest::ReportSales { mid, from, to, period, by } => {
            use xingtong_payments::reports::By;
            let (from, to, period) = report_range(services, &mid, &from, &to, &period).await?;
            let by = By::parse(&by)
                .with_context(|| format!("--by {by:?}: total, terminal, cashier, method or business_type"))?;
            let report = xingtong_payments::reports::sales_report(&services.store, &mid, &from, &to, period, by)
                .await
                .map_err(anyhow::Error::from)?;
            Ok(report_output(&report))
        }
        AdminRequest::ReportRefunds { mid, from, to } => {
            let (from, to, _) = report_range(services, &mid, &from, &to, "day").await?;
            // Every refund of the days, a page of the merchant's list at a time.
            let mut query = xingtong_store::TxnQuery {
                merchant: Some(mid.clone()),
                day_from: Some(from.clone()),
                day_to: Some(to.clone()),
                types: vec!["refund".into()],
                limit: xingtong_store::PAGE_LIMIT_MAX,
                ..xingtong_store::TxnQuery::default()
            };
            let mut refunds = Vec::new();
            loop {
                let rows = services.store.transactions(query.clone()).await.map_err(anyhow::Error::from)?;
                let full = rows.len() == query.limit as usize;
                query.after = rows.last().map(|r| (r.columns.business_day.clone(), r.record.id.clone()));
                for row in rows {
                    let txn = xingtong_merchants::entity::Stored::<xingtong_payments::txn::CardTransaction>::decode(
                        row.record,
                    )
                    .map_err(service_error)?
                    .value;
                    refunds.push(xingtong_api::payments::transaction_view(&txn));
                }
                if !full {
                    break;
                }
            }
            let mut text =
                format!("refunds of merchant {mid}, {} to {}: {}\n", dashed(&from), dashed(&to), refunds.len());
            for r in &refunds {
                text.push_str(&format!(
                    "{:<26} {} {:>12} fee {:>8} {:<9} of {}\n",
                    r.id,
                    r.business_day,
                    yuan(r.amount_minor),
                    yuan(r.fee_minor),
                    r.status.as_str(),
                    r.original_id.as_deref().unwrap_or("-")
                ));
            }
            let value = serde_json::json!({ "mid": mid, "from": dashed(&from), "to": dashed(&to), "refunds": refunds });
            Ok(Output::one(value, text.trim_end().to_owned()))
        }
        AdminRequest::ReportCollections { mid, from, to, period } => {
            let (from, to, period) = report_range(services, &mid, &from, &to, &period).await?;
            let report = xingtong_payments::reports::collection_report(&services.store, &mid, &from, &to, period)
                .await
                .map_err(anyhow::Error::from)?;
            Ok(collection_report_output(&report))
        }
        AdminRequest::ReportSettlements { mid, from, to, period } => {
            let (from, to, period) = report_range(services, &mid, &from, &to, &period).await?;
            let report = xingtong_payments::reports::settlement_report(&services.store, &mid, &from, &to, period)
                .await
                .map_err(service_error)?;
            Ok(settlement_report_output(&report))
        }
        AdminRequest::DepositPay { tid, card, expiry, pin } => {
            let card =
                xingtong_payments::deposit::card_with_pin(&services.engine, &card, expiry.as_deref(), pin.expose())
                    .map_err(service_error)?;
            let deposit = services.engine.pay_deposit(&tid, &card, "staff:cli", None).await.map_err(service_error)?;
            Ok(deposit_output(&deposit))
        }
        AdminRequest::DepositWaive { tid, reason } => {
            let deposit = services.engine.waive_deposit(&tid, "staff:cli", &reason).await.map_err(service_error)?;
            Ok(deposit_output(&deposit))
        }
        AdminRequest::SandboxBankAccount { card, state, holder, lose_answers } => {
            let bank = xingtong_payments::bank::SandboxBank::new(services.store.clone());
            let account = xingtong_payments::bank::SandboxAccount { card_number: card, state, holder, lose_answers };
            bank.set_account(account.clone()).await.map_err(service_error)?;
            let text = format!(
                "sandbox bank: payouts to {} {}{}{}",
                xingtong_crypto::mask_pan(&account.card_number),
                if account.state == "closed" { "fail account_closed" } else { "are paid" },
                account.holder.as_deref().map(|h| format!(", to holder {h} only")).unwrap_or_default(),
                if account.lose_answers > 0 {
                    format!(", the next {} answers lost", account.lose_answers)
                } else {
                    String::new()
                }
            );
            Ok(Output::one(
                json!({ "card_number": xingtong_crypto::mask_pan(&account.card_number), "state": account.state,
                    "holder": account.holder, "lose_answers": account.lose_answers }),
                text,
            ))
        }
        AdminRequest::SandboxWalletCreate { spec } => {
            let spec: xingtong_payments::sandbox_wallet::NewWallet =
                serde_json::from_value(spec).context("--scheme is wechat, alipay or unionpay_qr")?;
            let wallet = services.wallets.create_wallet("staff:cli", spec).await.map_err(service_error)?;
            wallet_output(services, &wallet).await
        }
        AdminRequest::SandboxWalletShow { id } => {
            let wallet = services
                .wallets
                .wallet(&id)
                .await
                .map_err(service_error)?
                .ok_or_else(|| anyhow::anyhow!("no sandbox wallet {id:?}"))?;
            wallet_output(services, &wallet).await
        }
        AdminRequest::SandboxWalletCode { id } => {
            let code = services.wallets.new_payment_code(&id).await.map_err(service_error)?;
            let expires_at = xingtong_api::time::rfc3339(code.expires_at);
            Ok(Output::one(
                json!({ "code": code.code, "wallet_id": code.wallet_id, "expires_at": expires_at }),
                format!("payment code {} of {} (good for one payment until {expires_at})", code.code, code.wallet_id),
            ))
        }
        AdminRequest::SandboxWalletScan { id, code_url } => {
            if code_url.trim().starts_with(xingtong_api::qr_orders::STATIC_CODE_PREFIX) {
                anyhow::bail!(
                    "a static code is paid with the amount the payer enters: POST /v1/sandbox/wallets/{id}/scans \
                     with code_url and amount_minor"
                );
            }
            let scanned = services.wallets.pay_code_url(&id, &code_url).await.map_err(service_error)?;
            // The wallet's notification is taken in its own task; the order is followed here too, so
            // that what is printed is where it stands.
            let order = services.engine.follow_qr_order(&scanned.order_id, false).await.map_err(service_error)?;
            let status = order.map_or("pending", |t| t.status.as_str());
            Ok(Output::one(
                json!({ "order_id": scanned.order_id, "scheme": scanned.scheme.as_str(), "amount_minor": scanned.amount_minor,
                    "wallet_txn_id": scanned.wallet_txn_id, "notified": scanned.notified, "status": status }),
                format!(
                    "{id} paid ¥{} for order {} (wallet payment {}); the order is {status}",
                    yuan(scanned.amount_minor),
                    scanned.order_id,
                    scanned.wallet_txn_id
                ),
            ))
        }
        AdminRequest::SandboxCardCreate { spec } => {
            let spec: xingtong_payments::sandbox::NewCard = serde_json::from_value(spec).context(
                "--brand is unionpay, visa or mastercard; --type debit or credit; --status active, blocked, lost or stolen",
            )?;
            let card = services.sandbox.create_card("staff:cli", spec).await.map_err(service_error)?;
            Ok(Output::one(
                json!({ "number": card.pan.expose(), "brand": card.brand, "type": card.card_type, "expiry": card.expiry, "status": card.status }),
                format!(
                    "test card {} ({:?} {:?}), expiry {}, status {:?}",
                    card.pan.expose(),
                    card.brand,
                    card.card_type,
                    card.expiry,
                    card.status
                ),
            ))
        }
    }
}

async fn wallet_output(
    services: &Services,
    wallet: &xingtong_payments::sandbox_wallet::SandboxWallet,
) -> anyhow::Result<Output> {
    let balance = services.wallets.balance(wallet).await.map_err(service_error)?;
    let (scheme_en, scheme_zh) = wallet.scheme.names();
    Ok(Output::one(
        json!({ "id": wallet.id, "scheme": wallet.scheme.as_str(), "name": wallet.name, "balance_minor": balance,
            "confirm_after_ms": wallet.confirm_after_ms, "never_confirms": wallet.never_confirms, "cancels": wallet.cancels,
            "unavailable": wallet.unavailable }),
        format!(
            "sandbox wallet {} ({scheme_en} {scheme_zh}, {}), balance ¥{}; a payment code: admin sandbox wallet code {}",
            wallet.id,
            wallet.name,
            yuan(balance),
            wallet.id
        ),
    ))
}

fn card_source() -> xingtong_payments::recon::Source {
    xingtong_payments::recon::Source::Card
}

/// The one role an operations key has; merchants make their own keys (`POST /v1/api-keys`).
pub fn check_api_key_role(role: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        role == "admin",
        "unknown role {role:?}: `admin api-key create` makes operations keys, whose role is admin \
         (a merchant's owner makes the merchant's keys with POST /v1/api-keys)"
    );
    Ok(())
}

/// Takes a submitted application for review, so that the command line can decide it in one step.
async fn take_for_review(
    merchants: &xingtong_merchants::Merchants,
    staff: &xingtong_merchants::Principal,
    id: &str,
) -> anyhow::Result<()> {
    let current = merchants.application(staff, id).await.map_err(service_error)?;
    if current.value.status == xingtong_onboarding::status::Status::Submitted {
        merchants.start_review(staff, id).await.map_err(service_error)?;
    }
    Ok(())
}

/// The audit, and with `explain` the list of everything that disagrees.
async fn audit(store: &Store, explain: bool) -> anyhow::Result<Output> {
    if !explain {
        return match store.audit().await {
            Ok(report) => {
                let ledgers: Vec<_> = report.ledgers.iter().map(|(ledger, t)| ledger_json(*ledger, t)).collect();
                Ok(Output::one(
                    json!({ "balanced": true, "accounts": report.accounts, "transfers": report.transfers, "ledgers": ledgers }),
                    format!(
                        "balanced: {} accounts, {} transfers, {} ledgers",
                        report.accounts,
                        report.transfers,
                        report.ledgers.len()
                    ),
                ))
            }
            Err(xingtong_store::StoreError::Invariant(violation)) => Ok(Output {
                json: vec![json!({ "balanced": false, "violation": violation.0 })],
                text: String::new(),
                failure: Some(format!(
                    "the ledger does not balance: {}; `xingtong admin audit --explain` lists the accounts and transfers that disagree",
                    violation.0
                )),
            }),
            Err(other) => Err(other.into()),
        };
    }
    let e = store.explain().await?;
    let differing: Vec<Value> = e
        .accounts_differing
        .iter()
        .map(|d| {
            json!({
                "account": d.id.to_string(), "ledger": d.ledger, "code": d.code,
                "stored": balances_json(&d.stored), "replayed": balances_json(&d.replayed),
                "transfers": d.transfers,
                "last_transfers": d.last_transfers.iter().map(u128::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    let unreplayable: Vec<Value> = e
        .transfers_unreplayable
        .iter()
        .map(|(id, why)| json!({ "transfer": id.to_string(), "problem": why }))
        .collect();
    let value = json!({
        "balanced": e.is_consistent(),
        "accounts": e.accounts,
        "transfers": e.transfers,
        "ledgers": e.ledgers.iter().map(|(l, t)| ledger_json(*l, t)).collect::<Vec<_>>(),
        "unbalanced_ledgers": e.unbalanced_ledgers,
        "accounts_differing": differing,
        "accounts_over_limit": e.accounts_over_limit.iter().map(u128::to_string).collect::<Vec<_>>(),
        "transfers_unreplayable": unreplayable,
    });
    let mut text = format!("{} accounts, {} transfers read\n", e.accounts, e.transfers);
    for (ledger, t) in &e.ledgers {
        let mark = if e.unbalanced_ledgers.contains(ledger) { "UNBALANCED" } else { "balanced" };
        text.push_str(&format!(
            "ledger {ledger}: {mark}: posted debits {} credits {}; pending debits {} credits {}\n",
            t.debits_posted, t.credits_posted, t.debits_pending, t.credits_pending
        ));
    }
    for d in &e.accounts_differing {
        text.push_str(&format!(
            "account {} (ledger {}, code {}): stored posted Dr {} Cr {} pending Dr {} Cr {}; its {} transfers add up to posted Dr {} Cr {} pending Dr {} Cr {}; last transfers: {}\n",
            d.id, d.ledger, d.code,
            d.stored.debits_posted, d.stored.credits_posted, d.stored.debits_pending, d.stored.credits_pending,
            d.transfers,
            d.replayed.debits_posted, d.replayed.credits_posted, d.replayed.debits_pending, d.replayed.credits_pending,
            d.last_transfers.iter().map(u128::to_string).collect::<Vec<_>>().join(", "),
        ));
    }
    for id in &e.accounts_over_limit {
        text.push_str(&format!("account {id}: over the limit its flags set\n"));
    }
    for (id, why) in &e.transfers_unreplayable {
        text.push_str(&format!("transfer {id}: {why}\n"));
    }
    let failure = (!e.is_consistent()).then(|| {
        "the ledger does not balance; nothing was changed: the accounts and transfers above disagree".to_owned()
    });
    if failure.is_none() {
        text.push_str("everything agrees: every account equals its transfers and every ledger balances");
    }
    Ok(Output { json: vec![value], text, failure })
}

fn ledger_json(ledger: u32, t: &xingtong_ledger::invariants::LedgerTotals) -> Value {
    json!({ "ledger": ledger, "debits_posted": t.debits_posted, "credits_posted": t.credits_posted, "debits_pending": t.debits_pending, "credits_pending": t.credits_pending })
}

fn balances_json(b: &xingtong_ledger::invariants::Balances) -> Value {
    json!({ "debits_posted": b.debits_posted, "credits_posted": b.credits_posted, "debits_pending": b.debits_pending, "credits_pending": b.credits_pending })
}

/// Minor units as yuan: `-12.34`.
/// `YYYYMMDD` as `YYYY-MM-DD` (anything else as it is).
pub(crate) fn dashed(day: &str) -> String {
    match (day.get(..4), day.get(4..6), day.get(6..)) {
        (Some(y), Some(m), Some(d)) if day.len() == 8 => format!("{y}-{m}-{d}"),
        _ => day.to_owned(),
    }
}

fn yuan(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.unsigned_abs() / 100, minor.unsigned_abs() % 100)
}

/// How far a long command has got: `done` of `total` steps, the last one named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Steps done.
    pub done: u64,
    /// Steps in all.
    pub total: u64,
    /// What the last step was.
    pub what: String,
}

/// Draws progress for a person: a bar redrawn in place on standard error when it is a terminal,
/// nothing otherwise (scripts read the answer, and a log should not fill with bars).
pub fn progress_bar(label: &'static str) -> impl Fn(Progress) + Sync {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    move |p: Progress| {
        if tty {
            eprint!("{}", bar_line(label, &p));
            if p.done >= p.total {
                eprintln!();
            }
        }
    }
}

/// `\r<label> [#####-----]  3/6  <what>`, the bar 30 wide, cleared to the end of the line.
fn bar_line(label: &str, p: &Progress) -> String {
    const WIDTH: u64 = 30;
    let filled = (p.done.min(p.total) * WIDTH).checked_div(p.total).unwrap_or(WIDTH);
    let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '-' }).collect();
    format!("\r{label} [{bar}] {}/{}  {}\x1b[K", p.done, p.total, p.what)
}

/// One line on the socket: the request; then progress lines, if any, and the answer.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Progress(Progress),
    Ok(Output),
    Error(String),
}

/// A running server's admin socket, bound.
#[derive(Debug)]
pub struct AdminSocket {
    listener: tokio::net::UnixListener,
    path: PathBuf,
    /// The server's user id: only it (or root) may connect.
    owner: u32,
}

impl AdminSocket {
    /// Binds `<data_dir>/admin.sock`, readable and writable by the owner only. The caller holds
    /// the data directory's lock, so a socket file found there is a dead server's.
    pub fn bind(data_dir: &Path) -> anyhow::Result<AdminSocket> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let path = data_dir.join(ADMIN_SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path)
            .with_context(|| format!("binding the admin socket {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let owner = std::fs::metadata(&path)?.uid();
        Ok(AdminSocket { listener, path, owner })
    }

    /// Answers admin commands until `stop` completes. Each connection carries one request line and
    /// gets one answer line.
    pub async fn serve(self, services: Services, stop: impl std::future::Future<Output = ()>) {
        let AdminSocket { listener, path, owner } = self;
        tokio::pin!(stop);
        loop {
            let stream = tokio::select! {
                () = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "admin socket accept failed");
                        continue;
                    }
                },
            };
            let allowed = stream.peer_cred().is_ok_and(|c| c.uid() == owner || c.uid() == 0);
            let services = services.clone();
            tokio::spawn(async move {
                if let Err(error) = answer_one(stream, allowed, &services).await {
                    tracing::warn!(%error, "admin socket connection failed");
                }
            });
        }
        let _ = std::fs::remove_file(&path);
    }
}

async fn answer_one(stream: tokio::net::UnixStream, allowed: bool, services: &Services) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(LINE_BYTES_MAX)).read_line(&mut line).await?;
    // Progress goes out as it happens, so that the caller's bar moves; the answer comes last.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Answer>();
    let work = async move {
        let answer = if !allowed {
            Answer::Error("the admin socket answers only the user the server runs as".into())
        } else {
            match serde_json::from_str::<AdminRequest>(&line) {
                Err(error) => Answer::Error(format!("not an admin request: {error}")),
                Ok(request) => {
                    let name = request.name();
                    tracing::info!(command = name, "admin command from the command line");
                    let progress = |p: Progress| {
                        let _ = sender.send(Answer::Progress(p));
                    };
                    match execute(request, &services.store, Some(services), &progress).await {
                        Ok(output) => Answer::Ok(output),
                        Err(error) => Answer::Error(format!("{error:#}")),
                    }
                }
            }
        };
        let _ = sender.send(answer);
    };
    let send = async {
        while let Some(answer) = receiver.recv().await {
            let mut bytes = serde_json::to_vec(&answer)?;
            bytes.push(b'\n');
            write.write_all(&bytes).await?;
        }
        write.shutdown().await?;
        anyhow::Ok(())
    };
    let ((), sent) = tokio::join!(work, send);
    sent
}

/// Hands `request` to the server that holds `data_dir` and returns its output.
pub async fn forward(
    data_dir: &Path,
    holder: Option<u32>,
    request: &AdminRequest,
    progress: &(dyn Fn(Progress) + Sync),
) -> anyhow::Result<Output> {
    let path: PathBuf = data_dir.join(ADMIN_SOCKET);
    let holder = holder.map(|p| format!(" (pid {p})")).unwrap_or_default();
    // A server that is still starting holds the lock before its socket is bound: wait a little.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(CONNECT_WAIT_S);
    let connected = loop {
        match tokio::net::UnixStream::connect(&path).await {
            Ok(stream) => break Ok(stream),
            Err(error) if std::time::Instant::now() >= deadline => break Err(error),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    };
    let stream = connected.with_context(|| {
        format!(
            "the data directory {} is in use by another xingtong process{holder} that does not answer on its admin \
             socket {}: a server still starting, or another admin command running; try again in a moment",
            data_dir.display(),
            path.display()
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut bytes = serde_json::to_vec(request)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    let mut reader = BufReader::new(read);
    loop {
        let mut line = String::new();
        // The time limit is per line: a long command that reports progress keeps it alive.
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(ANSWER_TIMEOUT_S),
            (&mut reader).take(LINE_BYTES_MAX).read_line(&mut line),
        )
        .await
        .context("the server did not answer the admin command in time; it may still carry it out")??;
        anyhow::ensure!(answered > 0, "the server closed the admin socket without answering");
        match serde_json::from_str::<Answer>(&line).context("the server's answer does not decode")? {
            Answer::Progress(p) => progress(p),
            Answer::Ok(output) => return Ok(output),
            Answer::Error(message) => return Err(anyhow::anyhow!(message)),
        }
    }
}

/// A deposit for a person (one line) and as JSON.
fn deposit_output(d: &xingtong_payments::deposit::Deposit) -> Output {
    let day = |d: &Option<String>| d.clone().unwrap_or_else(|| "-".into());
    let text = format!(
        "deposit of terminal {}: ¥{} {}; card volume ¥{} of ¥{} (¥{} to go), activated {}, counts until {}{}",
        d.tid,
        yuan(d.amount_minor),
        d.status.as_str(),
        yuan(d.volume_minor),
        yuan(d.threshold_minor),
        yuan(d.remaining_minor()),
        day(&d.activation_day),
        day(&d.deadline_day),
        d.payout_id.as_ref().map(|p| format!("; refund payout {p}")).unwrap_or_default()
    );
    let mut value = serde_json::to_value(d).unwrap_or(Value::Null);
    value["remaining_minor"] = json!(d.remaining_minor());
    Output::one(value, text)
}

/// A sales report as a table for a person, and as JSON (the API's view).
fn report_output(r: &xingtong_payments::reports::Report) -> Output {
    let mut text = format!(
        "sales report of merchant {}, {} to {}, by {}{}\n",
        r.mid,
        r.from,
        r.to,
        r.period.as_str(),
        if r.by == xingtong_payments::reports::By::Total { String::new() } else { format!(" and {}", r.by.as_str()) }
    );
    text.push_str(&format!(
        "{:<12} {:<14} {:>6} {:>14} {:>5} {:>12} {:>5} {:>12} {:>10} {:>14} {:>8}\n",
        "period", "key", "sales", "amount", "voids", "amount", "refs", "amount", "fees", "net", "declined"
    ));
    let mut row = |period: &str, key: &str, l: &xingtong_payments::reports::Line| {
        text.push_str(&format!(
            "{:<12} {:<14} {:>6} {:>14} {:>5} {:>12} {:>5} {:>12} {:>10} {:>14} {:>8}\n",
            period,
            if key.is_empty() { "-" } else { key },
            l.sales_count,
            yuan(l.sales_minor),
            l.voids_count,
            yuan(l.voids_minor),
            l.refunds_count,
            yuan(l.refunds_minor),
            yuan(l.fees_minor),
            yuan(l.net_minor),
            l.declined_count
        ));
    };
    for line in &r.lines {
        row(&line.period, &line.key, line);
    }
    row("total", "", &r.totals);
    let busy: Vec<String> = r
        .hours
        .iter()
        .filter(|h| h.count != 0)
        .map(|h| format!("{:02}h {} {}", h.hour, h.count, yuan(h.amount_minor)))
        .collect();
    if !busy.is_empty() {
        text.push_str(&format!("approved sales by hour (China time): {}\n", busy.join(" · ")));
    }
    let value = serde_json::to_value(r).unwrap_or(Value::Null);
    Output::one(value, text.trim_end().to_owned())
}

/// A report's merchant (which must exist), days (`YYYYMMDD`, 1 to 366 of them) and period, checked.
async fn report_range(
    services: &Services,
    mid: &str,
    from: &str,
    to: &str,
    period: &str,
) -> anyhow::Result<(String, String, xingtong_payments::reports::Period)> {
    let day = |name: &str, d: &str| -> anyhow::Result<String> {
        let compact: String = d.chars().filter(|c| *c != '-').collect();
        anyhow::ensure!(
            d.len() == 10 && xingtong_payments::clearing::valid_day(&compact),
            "--{name} {d:?}: a date like 2026-11-27"
        );
        Ok(compact)
    };
    let (from, to) = (day("from", from)?, day("to", to)?);
    let span = xingtong_payments::reports::days_between(&from, &to);
    anyhow::ensure!((0..366).contains(&span), "--from … --to: 1 to 366 days, --to not before --from");
    let period = xingtong_payments::reports::Period::parse(period)
        .with_context(|| format!("--period {period:?}: day, week or month"))?;
    xingtong_merchants::entity::load::<xingtong_merchants::merchant::Merchant>(&services.store, mid)
        .await
        .map_err(service_error)?
        .with_context(|| format!("no merchant {mid}"))?;
    Ok((from, to, period))
}

/// A collection report for a person (a line per period and method, then per method, then the
/// totals) and as JSON.
fn collection_report_output(r: &xingtong_payments::reports::CollectionReport) -> Output {
    let mut text =
        format!("collection report of merchant {}, {} to {}, by {}\n", r.mid, r.from, r.to, r.period.as_str());
    text.push_str(&format!(
        "{:<12} {:<12} {:>6} {:>14} {:>5} {:>12} {:>10} {:>14}\n",
        "period", "method", "count", "collected", "refs", "refunded", "fees", "net"
    ));
    let mut row = |period: &str, l: &xingtong_payments::reports::CollectionLine| {
        text.push_str(&format!(
            "{:<12} {:<12} {:>6} {:>14} {:>5} {:>12} {:>10} {:>14}\n",
            period,
            if l.method.is_empty() { "-" } else { l.method.as_str() },
            l.count,
            yuan(l.collected_minor),
            l.refunds_count,
            yuan(l.refunds_minor),
            yuan(l.fees_minor),
            yuan(l.net_minor)
        ));
    };
    for line in &r.lines {
        row(&line.period, line);
    }
    for line in &r.methods {
        row("all", line);
    }
    row("total", &r.totals);
    let value = serde_json::to_value(r).unwrap_or(Value::Null);
    Output::one(value, text.trim_end().to_owned())
}

/// A settlement report for a person (a line per period, then the totals) and as JSON.
fn settlement_report_output(r: &xingtong_payments::reports::SettlementReport) -> Output {
    let mut text =
        format!("settlement report of merchant {}, {} to {}, by {}\n", r.mid, r.from, r.to, r.period.as_str());
    text.push_str(&format!(
        "{:<12} {:>5} {:>7} {:>14} {:>12} {:>10} {:>14} {:>14} {:>12}\n",
        "period", "stls", "lines", "captured", "returned", "fees", "net", "payout", "carried"
    ));
    let mut row = |period: &str, l: &xingtong_payments::reports::SettlementLine| {
        text.push_str(&format!(
            "{:<12} {:>5} {:>7} {:>14} {:>12} {:>10} {:>14} {:>14} {:>12}\n",
            period,
            l.settlements,
            l.lines,
            yuan(l.captured_minor),
            yuan(l.returned_minor),
            yuan(l.fees_minor + l.surcharge_minor),
            yuan(l.net_minor),
            yuan(l.payout_minor),
            yuan(l.carried_forward_minor)
        ));
    };
    for line in &r.lines {
        row(&line.period, line);
    }
    row("total", &r.totals);
    let value = serde_json::to_value(r).unwrap_or(Value::Null);
    Output::one(value, text.trim_end().to_owned())
}

/// A reconciliation report for a person (a summary and one line per discrepancy) and as JSON.
fn reconciliation_output(r: &xingtong_payments::recon::Reconciliation) -> Output {
    let mut text = format!(
        "reconciliation of {} against the network's file {}: {} (version {}) — {} lines matched (¥{} of sales and returns alike), {} host only, {} network only, {} amount mismatch(es)\n",
        r.business_day,
        r.file_name,
        r.status,
        r.version.max(1),
        r.matched,
        yuan(r.matched_minor),
        r.host_only,
        r.network_only,
        r.amount_mismatches
    );
    for i in &r.items {
        let amount = |a: Option<i64>| a.map_or_else(|| "-".to_owned(), |a| format!("¥{}", yuan(a)));
        text.push_str(&format!(
            "  {:<24} {:<16} {:<10} host {:>12} network {:>12}\n    {}\n    {}\n",
            i.txn_id,
            serde_json::to_value(i.class).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            i.txn_type,
            amount(i.host_minor),
            amount(i.network_minor),
            i.action_en,
            i.action_zh
        ));
    }
    Output::one(serde_json::to_value(r).unwrap_or(Value::Null), text.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::{Progress, bar_line};

    #[test]
    fn the_bar_fills_in_proportion_and_clears_the_rest_of_the_line() {
        let line = |done, total| bar_line("demo day", &Progress { done, total, what: "x".into() });
        assert_eq!(line(0, 4), format!("\rdemo day [{}] 0/4  x\x1b[K", "-".repeat(30)));
        assert_eq!(line(1, 4), format!("\rdemo day [{}{}] 1/4  x\x1b[K", "#".repeat(7), "-".repeat(23)));
        assert_eq!(line(4, 4), format!("\rdemo day [{}] 4/4  x\x1b[K", "#".repeat(30)));
        // More done than planned, or nothing to do, draws a full bar rather than overflowing.
        assert!(line(5, 4).contains(&"#".repeat(30)) && line(0, 0).contains(&"#".repeat(30)));
    }
}

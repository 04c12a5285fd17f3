//! A card transaction as the platform records it: every request that reached a decision, approved
//! or declined, keyed by terminal, batch and STAN (which is what makes a duplicate a duplicate).

use serde::{Deserialize, Serialize};
use xingtong_merchants::entity::Entity;

use crate::card::{Brand, CardType};
use crate::network::Funding;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// 查余.
    BalanceInquiry,
    /// 消费.
    Sale,
    /// 撤销.
    Void,
    /// 退货.
    Refund,
    /// 预授权.
    PreAuthorization,
    /// 预授权撤销.
    PreAuthorizationVoid,
    /// 预授权完成.
    Completion,
    /// 预授权完成撤销.
    CompletionVoid,
    /// A reversal that arrived before (or without) its original: keeps a late original out.
    ReversalMark,
}

impl Kind {
    /// As stored in the typed column and shown in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BalanceInquiry => "balance_inquiry",
            Kind::Sale => "sale",
            Kind::Void => "void",
            Kind::Refund => "refund",
            Kind::PreAuthorization => "pre_authorization",
            Kind::PreAuthorizationVoid => "pre_authorization_void",
            Kind::Completion => "completion",
            Kind::CompletionVoid => "completion_void",
            Kind::ReversalMark => "reversal_mark",
        }
    }

    /// Every kind, in the order compact records number them (append only).
    pub const ALL: [Kind; 9] = [
        Kind::BalanceInquiry,
        Kind::Sale,
        Kind::Void,
        Kind::Refund,
        Kind::PreAuthorization,
        Kind::PreAuthorizationVoid,
        Kind::Completion,
        Kind::CompletionVoid,
        Kind::ReversalMark,
    ];

    /// From its stored name.
    pub fn parse(value: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// The name on receipts.
    pub fn receipt_name(self) -> (&'static str, &'static str) {
        match self {
            Kind::BalanceInquiry => ("BALANCE INQUIRY", "查余"),
            Kind::Sale => ("SALE", "消费"),
            Kind::Void => ("VOID", "消费撤销"),
            Kind::Refund => ("REFUND", "退货"),
            Kind::PreAuthorization => ("PRE-AUTH", "预授权"),
            Kind::PreAuthorizationVoid => ("PRE-AUTH VOID", "预授权撤销"),
            Kind::Completion => ("AUTH COMPLETE", "预授权完成"),
            Kind::CompletionVoid => ("AUTH COMPLETE VOID", "预授权完成撤销"),
            Kind::ReversalMark => ("REVERSAL", "冲正"),
        }
    }
}

/// Where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Approved and in force.
    Approved,
    /// Declined (the response code says why).
    Declined,
    /// Voided (a sale, pre-authorization or completion).
    Voided,
    /// Reversed by the terminal (冲正).
    Reversed,
    /// A pre-authorization that was completed.
    Completed,
    /// A QR payment waiting for the wallet (the customer is confirming): becomes approved or
    /// declined within the engine's wait, never stays.
    Pending,
}

impl Status {
    /// As stored and as JSON shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Approved => "approved",
            Status::Declined => "declined",
            Status::Voided => "voided",
            Status::Reversed => "reversed",
            Status::Completed => "completed",
            Status::Pending => "pending",
        }
    }
}

/// The business the payment is for (PRODUCT.md: 销售, 收款, 进货).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessType {
    /// 销售: selling goods or services.
    #[default]
    Sale,
    /// 收款: collecting a bill.
    Collection,
    /// 进货: paying for stock.
    Purchase,
}

impl BusinessType {
    /// As stored in the typed column and shown in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BusinessType::Sale => "sale",
            BusinessType::Collection => "collection",
            BusinessType::Purchase => "purchase",
        }
    }

    /// From [`BusinessType::as_str`].
    pub fn parse(value: &str) -> Option<BusinessType> {
        [BusinessType::Sale, BusinessType::Collection, BusinessType::Purchase].into_iter().find(|b| b.as_str() == value)
    }

    /// From the code a terminal sends in field 63 (after the operator): `1` sale, `2` collection, `3` purchase.
    pub fn from_code(code: u8) -> Option<BusinessType> {
        match code {
            b'1' => Some(BusinessType::Sale),
            b'2' => Some(BusinessType::Collection),
            b'3' => Some(BusinessType::Purchase),
            _ => None,
        }
    }
}

/// A recorded card transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardTransaction {
    /// `<TID>-<batch>-<STAN>`.
    pub id: String,
    /// What.
    pub kind: Kind,
    /// Where it stands.
    pub status: Status,
    /// Why it was declined (`None` when approved, or pending); a reversal mark's is
    /// `original_not_found`. Interfaces show it mapped ([`crate::cup`]).
    #[serde(default)]
    pub decline: Option<crate::outcome::Reason>,
    /// Merchant.
    pub mid: String,
    /// Terminal.
    pub tid: String,
    /// Batch.
    pub batch: u32,
    /// STAN.
    pub stan: u32,
    /// Operator number.
    pub operator: String,
    /// Minor units.
    pub amount_minor: i64,
    /// The fee charged (sales, completions), minor units.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fee_minor: i64,
    /// `622202*********0128`.
    pub pan_masked: String,
    /// Keyed hash of the PAN.
    pub pan_token: String,
    /// Scheme, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<Brand>,
    /// Debit or credit, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_type: Option<CardType>,
    /// Retrieval reference number.
    pub rrn: String,
    /// Authorization code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_code: Option<String>,
    /// 销售, 收款 or 进货.
    pub business_type: BusinessType,
    /// The transaction this one acts on (void, refund, completion…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_id: Option<String>,
    /// Refunded so far (sales and completions).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refunded_minor: i64,
    /// Fee returned so far by refunds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fee_refunded_minor: i64,
    /// Who paid, in our ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub funding: Option<Funding>,
    /// The held transfer of a pre-authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_transfer: Option<String>,
    /// The ledger movements this transaction made, so that it can be undone exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub movements: Vec<Movement>,
    /// `iso8583` or `api`.
    pub channel: String,
    /// `YYYYMMDD` in China.
    pub business_day: String,
    /// When (ns).
    pub at: u64,
    /// The refund's reason code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Balance returned by an inquiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_minor: Option<i64>,
    /// Customer contact for the notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    /// Customer contact for the notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    /// A QR payment's wallet side (none for a card).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr: Option<crate::qr::QrPart>,
    /// Not stored: what the request needs committed with this record (see
    /// [`crate::engine::Binding`]).
    #[serde(skip)]
    pub binding: Option<std::sync::Arc<crate::engine::Binding>>,
    /// Not stored: the guard of the terminal session the request was made under, checked in the
    /// commit that records it (see [`crate::session`]).
    #[serde(skip)]
    pub session_guard: Option<xingtong_store::CounterAdd>,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

impl CardTransaction {
    /// The id of the transaction of `tid`, `batch`, `stan`.
    pub fn key(tid: &str, batch: u32, stan: u32) -> String {
        format!("{tid}-{batch:06}-{stan:06}")
    }

    /// The original's date as a terminal gives it in field 61: `MMDD` of the business day (China
    /// time) the host recorded it on, which is also field 13 of its reply.
    pub fn date_mmdd(&self) -> &str {
        self.business_day.get(4..8).unwrap_or("")
    }

    /// `card`, or the wallet of a QR payment (`wechat`, `alipay`, `unionpay_qr`).
    pub fn method(&self) -> &'static str {
        self.qr.as_ref().map_or("card", |qr| qr.scheme.as_str())
    }

    /// How it ended (so far).
    pub fn outcome(&self) -> crate::outcome::Outcome {
        match (self.status, self.decline) {
            (Status::Pending, _) => crate::outcome::Outcome::Pending,
            (_, Some(reason)) => crate::outcome::Outcome::Declined(reason),
            (_, None) => crate::outcome::Outcome::Approved,
        }
    }

    /// A QR payment's decline, as its wallet section and field 57 of a QR reply name it.
    pub fn qr_decline(&self) -> Option<crate::qr::Decline> {
        self.qr.as_ref().and(self.decline).and_then(crate::outcome::Reason::wallet_decline)
    }

    /// What can still be refunded.
    pub fn refundable_minor(&self) -> i64 {
        self.amount_minor - self.refunded_minor
    }
}

impl Entity for CardTransaction {
    const KIND: &'static str = "card_txn";
    // One per payment: found by id (terminal, batch, STAN); listings get indexes of their own.
    const LISTED: bool = false;
    const TRANSACTION: bool = true;
    fn txn_columns(&self) -> Option<xingtong_store::TxnColumns> {
        Some(xingtong_store::TxnColumns {
            method: self.method().into(),
            txn_type: self.kind.as_str().into(),
            terminal_id: self.tid.clone(),
            batch: self.batch,
            stan: self.stan,
            business_day: self.business_day.clone(),
            amount_minor: self.amount_minor,
            fee_minor: self.fee_minor,
            refunded_minor: self.refunded_minor,
            fee_refunded_minor: self.fee_refunded_minor,
            // The CUP code, for the listings' and reports' queries and views.
            response_code: crate::cup::recorded(self).into(),
            original_id: self.original_id.clone(),
            channel: self.channel.clone(),
            at: self.at,
            operator: self.operator.clone(),
            business_type: self.business_type.as_str().into(),
        })
    }
    fn id(&self) -> String {
        self.id.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
    fn to_body(&self) -> xingtong_merchants::Result<Vec<u8>> {
        Ok(crate::compact::encode(self))
    }
    fn from_body(body: &[u8]) -> xingtong_merchants::Result<Self> {
        if body.first() == Some(&b'{') {
            // Earlier releases kept the CUP response code.
            #[derive(Deserialize)]
            struct Legacy {
                #[serde(default)]
                response_code: String,
            }
            let mut txn: CardTransaction = serde_json::from_slice(body)?;
            let legacy: Legacy = serde_json::from_slice(body)?;
            if txn.decline.is_none() {
                txn.decline = crate::compact::legacy_reason(txn.status, &legacy.response_code, None);
            }
            return Ok(txn);
        }
        crate::compact::decode(body).map_err(|error| {
            tracing::error!(%error, "a stored card transaction does not decode");
            xingtong_merchants::Error::new(xingtong_merchants::Class::Internal, "internal", "internal error")
        })
    }
}

/// One ledger transfer a transaction made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    /// Transfer id (decimal).
    pub id: String,
    /// Debited account (decimal).
    pub debit: String,
    /// Credited account (decimal).
    pub credit: String,
    /// Minor units.
    pub amount: i64,
    /// A pending hold (pre-authorization), not yet posted or voided.
    pub pending: bool,
}

/// Moves what earlier releases kept as opaque records into the typed tables (card transactions,
/// terminal batches, settlements, payouts); returns how many of each. Run at start-up, before the
/// first payment.
pub async fn move_legacy(store: &xingtong_store::Store) -> xingtong_merchants::Result<[u64; 4]> {
    use xingtong_merchants::entity::move_into_table;
    Ok([
        move_into_table::<CardTransaction>(store).await?,
        move_into_table::<crate::settle::Batch>(store).await?,
        move_into_table::<crate::clearing::Settlement>(store).await?,
        move_into_table::<crate::payouts::Payout>(store).await?,
    ])
}

//! Device deposits over JSON: the merchant sees each device's deposit and its progress toward the
//! refund, pays it with a card, and staff (finance) may waive it. A merchant sees only its own.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use xingtong_crypto::SecretString;
use xingtong_merchants::identity::{Role, Scope};
use xingtong_payments::deposit::{Deposit, DepositStatus, card_with_pin};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{IdempotencyKey, JsonBody, Path};
use crate::onboarding::Auth;
use crate::settlements::{dashed, engine, own_device, seen_merchant};
use crate::time::rfc3339;

/// A device's deposit (押金) and how far it is from its refund.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepositView {
    /// Terminal.
    pub tid: String,
    /// Merchant.
    pub mid: String,
    /// The deposit, minor units (29900 = ¥299.00).
    pub amount_minor: i64,
    /// `due` (not paid), `held` (paid, counting volume), `waived` (by staff), `refunding` (the
    /// threshold was met: see `payout_id`), `refunded`, or `kept` (the deadline passed below the
    /// threshold; the deposit is kept against the device, as agreed).
    pub status: String,
    /// Card volume that earns the refund, minor units.
    pub threshold_minor: i64,
    /// … within this many days of activation, the activation day counting as the first.
    pub days: u32,
    /// Card volume counted so far (sales and completions less voids and refunds, by cleared
    /// business day, from the activation day to the deadline).
    pub volume_minor: i64,
    /// What is still missing (0 once met).
    pub remaining_minor: i64,
    /// Progress toward the threshold, in whole per cent (0–100).
    pub progress_percent: u32,
    /// The device's activation day, `YYYY-MM-DD`, once activated.
    pub activation_day: Option<String>,
    /// The last business day whose volume counts, `YYYY-MM-DD`.
    pub deadline_day: Option<String>,
    /// The last business day cleared into the volume, `YYYY-MM-DD`.
    pub counted_through: Option<String>,
    /// When it was paid, RFC 3339.
    pub paid_at: Option<String>,
    /// The card it was paid with, masked.
    pub paid_with: Option<String>,
    /// Who waived it, and why.
    pub waived_by: Option<String>,
    /// The waiver's reason.
    pub waiver_reason: Option<String>,
    /// The refund payout (`GET /v1/payouts/{id}`), once the threshold is met.
    pub payout_id: Option<String>,
}

impl DepositView {
    fn of(d: &Deposit) -> DepositView {
        let progress = if d.threshold_minor > 0 {
            (i128::from(d.volume_minor.max(0)) * 100 / i128::from(d.threshold_minor)).min(100) as u32
        } else {
            100
        };
        DepositView {
            tid: d.tid.clone(),
            mid: d.mid.clone(),
            amount_minor: d.amount_minor,
            status: d.status.as_str().into(),
            threshold_minor: d.threshold_minor,
            days: d.days,
            volume_minor: d.volume_minor,
            remaining_minor: d.remaining_minor(),
            progress_percent: progress,
            activation_day: d.activation_day.as_deref().map(dashed),
            deadline_day: d.deadline_day.as_deref().map(dashed),
            counted_through: d.counted_through.as_deref().map(dashed),
            paid_at: d.payment.as_ref().map(|p| rfc3339(p.at)),
            paid_with: d.payment.as_ref().map(|p| p.card_masked.clone()),
            waived_by: d.waiver.as_ref().map(|w| w.by.clone()),
            waiver_reason: d.waiver.as_ref().map(|w| w.reason.clone()),
            payout_id: d.payout_id.clone(),
        }
    }
}

/// A merchant's deposits, one per device.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepositList {
    /// In the order the devices were ordered.
    pub deposits: Vec<DepositView>,
}

/// A device's deposit with its progress toward the refund.
#[utoipa::path(get, path = "/v1/devices/{tid}/deposit", tag = "settlement", responses((status = 200, description = "The deposit", body = DepositView), (status = 404, description = "No such device, or not yours")))]
pub async fn get_deposit(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
) -> Result<Response, ApiError> {
    own_device(&state, &principal, &tid).await?;
    let deposit = engine(&state)?.deposit(&tid).await?;
    Ok(Json(DepositView::of(&deposit)).into_response())
}

/// Every device's deposit of a merchant.
#[utoipa::path(get, path = "/v1/merchants/{mid}/deposits", tag = "settlement", responses((status = 200, description = "Deposits", body = DepositList), (status = 404, description = "Not your merchant")))]
pub async fn list_deposits(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(mid): Path<String>,
) -> Result<Response, ApiError> {
    seen_merchant(&state, &principal, &mid).await?;
    let deposits = engine(&state)?.merchant_deposits(&mid).await?;
    Ok(Json(DepositList { deposits: deposits.iter().map(DepositView::of).collect() }).into_response())
}

/// The card a deposit is paid with (the sandbox network's test cards; card not present).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositPaymentBody {
    /// Card number, 13–19 digits.
    pub card_number: String,
    /// `YYMM`.
    pub expiry: Option<String>,
    /// The card's PIN (4–12 digits); it is turned into an encrypted PIN block at once and never stored.
    #[schema(value_type = String)]
    pub pin: SecretString,
}

impl std::fmt::Debug for DepositPaymentBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepositPaymentBody")
            .field("card_number", &xingtong_crypto::mask_pan(&self.card_number))
            .finish_non_exhaustive()
    }
}

/// Pays a device's deposit with a card (the merchant). The money is held on the merchant's
/// deposit account, apart from its settlement funds, and refunded by a payout of its own once the
/// device's card volume reaches the threshold in time. Retrying with the same `Idempotency-Key`
/// answers the payment made; a deposit already paid or waived is 409 `deposit_not_due`; a declined
/// card is 422 `card_declined` with the response code in `details`.
#[utoipa::path(post, path = "/v1/devices/{tid}/deposit/payment", request_body = DepositPaymentBody, tag = "settlement", params(("Idempotency-Key" = String, Header, description = "Required")), responses((status = 200, description = "Paid: the deposit is held", body = DepositView), (status = 409, description = "Already paid or waived (deposit_not_due)"), (status = 422, description = "Declined (card_declined) or a malformed card")))]
pub async fn pay_deposit(
    State(state): State<AppState>,
    Auth(principal): Auth,
    key: IdempotencyKey,
    Path(tid): Path<String>,
    body: JsonBody<DepositPaymentBody>,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::Payments)?;
    let key = key.required()?;
    let device = own_device(&state, &principal, &tid).await?;
    principal.require_merchant(&device.mid)?;
    let engine = engine(&state)?;
    let b = &body.value;
    let card = card_with_pin(engine, &b.card_number, b.expiry.as_deref(), b.pin.expose())?;
    let deposit = engine.pay_deposit(&tid, &card, &principal.actor(), Some(&key)).await?;
    Ok(Json(DepositView::of(&deposit)).into_response())
}

/// Why staff waive a deposit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositWaiverBody {
    /// 1–200 characters; audited and shown to the merchant.
    pub reason: String,
}

/// Waives a device's deposit (staff, finance role): nothing is paid, nothing refunded.
#[utoipa::path(post, path = "/v1/devices/{tid}/deposit/waiver", request_body = DepositWaiverBody, tag = "settlement", responses((status = 200, description = "Waived", body = DepositView), (status = 403, description = "Not finance staff"), (status = 409, description = "Already paid or waived (deposit_not_due)")))]
pub async fn waive_deposit(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(tid): Path<String>,
    body: JsonBody<DepositWaiverBody>,
) -> Result<Response, ApiError> {
    principal.require(Role::Finance)?;
    own_device(&state, &principal, &tid).await?;
    let deposit = engine(&state)?.waive_deposit(&tid, &principal.actor(), &body.value.reason).await?;
    Ok(Json(DepositView::of(&deposit)).into_response())
}

/// Staff ship a device only once its deposit is paid or waived: 409 `deposit_unpaid` otherwise.
pub(crate) async fn require_deposit_settled(state: &AppState, tid: &str) -> Result<(), ApiError> {
    let Ok(engine) = engine(state) else { return Ok(()) };
    let deposit = engine.deposit(tid).await?;
    if deposit.status == DepositStatus::Due {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "deposit_unpaid",
            format!(
                "the deposit of terminal {tid} is not paid: the merchant pays it (POST /v1/devices/{tid}/deposit/payment) or finance staff waive it (POST /v1/devices/{tid}/deposit/waiver)"
            ),
        ));
    }
    Ok(())
}

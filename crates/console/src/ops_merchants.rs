//! The operations console's merchants and devices: every merchant, and one merchant's devices
//! (ship with a tracking number, suspend, resume, reissue an activation code) and cashiers (reset
//! a PIN). The onboarding service checks each staff member's role and writes the audit log; a
//! refusal (a role missing, a deposit unpaid, a state that does not allow it) is shown on the page.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use xingtong_api::AppState;
use xingtong_merchants::cashiers::CashierStatus;
use xingtong_merchants::devices::DeviceStatus;

use crate::merchant::{Field, TokenForm, device_status};
use crate::{Base, Console, Ctx, Fail};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/merchants", get(merchants))
        .route("/ops/merchants/{mid}", get(merchant))
        .route("/ops/devices/{tid}/{action}", post(device_action))
        .route("/ops/merchants/{mid}/cashiers/{operator}/pin-reset", post(pin_reset))
        .route("/ops/merchants/{mid}/limits", post(set_limits))
        .route("/ops/merchants/{mid}/fee-changes", post(announce_fees))
}

struct MerchantRow {
    mid: String,
    name: String,
    status: String,
}

#[derive(Template)]
#[template(path = "ops/merchants.html")]
struct MerchantsPage {
    base: Base,
    rows: Vec<MerchantRow>,
}

async fn merchants(State(state): State<AppState>, ctx: Ctx) -> Response {
    let result = async {
        let principal = ctx.staff()?.clone();
        let t = ctx.lang.text();
        let mut found = state.merchants.merchants(&principal).await?;
        found.sort_by(|a, b| a.value.mid.cmp(&b.value.mid));
        let rows = found
            .iter()
            .map(|m| MerchantRow {
                mid: m.value.mid.clone(),
                name: m.value.name.clone(),
                status: if m.value.status == "active" { t.merchant_active } else { t.merchant_suspended }.to_owned(),
            })
            .collect();
        let page = MerchantsPage { base: ctx.base(Console::Ops, t.nav_merchants), rows };
        Ok(ctx.page(StatusCode::OK, page.render()?))
    }
    .await;
    ctx.finish(Console::Ops, result)
}

struct DeviceRow {
    tid: String,
    serial_number: String,
    status: &'static str,
    status_class: &'static str,
    tracking: String,
    can_ship: bool,
    can_suspend: bool,
    can_resume: bool,
    can_reissue: bool,
    deposit: String,
    can_waive: bool,
}

struct CashierRow {
    mid: String,
    operator: String,
    name: String,
    status: &'static str,
    reset_requested: bool,
}

#[derive(Template)]
#[template(path = "ops/merchant.html")]
struct MerchantPage {
    base: Base,
    mid: String,
    fields: Vec<Field>,
    /// The limits' form: (field name, label, value in yuan; empty for none).
    limits: Vec<(&'static str, &'static str, String)>,
    /// The fees in force today, and every change announced (in force from, the fees), newest first.
    fees: Vec<(&'static str, String)>,
    fee_changes: Vec<(String, Vec<(&'static str, String)>)>,
    /// The announcement's form, and its earliest day.
    fee_form: crate::ops_finance::FeeForm,
    earliest: String,
    devices: Vec<DeviceRow>,
    cashiers: Vec<CashierRow>,
    notice: Option<String>,
}

async fn render_merchant(
    state: &AppState,
    ctx: &Ctx,
    mid: &str,
    notice: Option<String>,
    code: StatusCode,
) -> Result<Response, Fail> {
    render_merchant_with(state, ctx, mid, notice, code, None).await
}

/// The merchant's page, with the fee announcement's form as sent (when it was refused).
async fn render_merchant_with(
    state: &AppState,
    ctx: &Ctx,
    mid: &str,
    notice: Option<String>,
    code: StatusCode,
    fee_form: Option<crate::ops_finance::FeeForm>,
) -> Result<Response, Fail> {
    let principal = ctx.staff()?.clone();
    let t = ctx.lang.text();
    let m = state.merchants.merchant(&principal, mid).await?.value;
    let fields = vec![
        Field { label: t.mid, value: m.mid.clone() },
        Field { label: t.name, value: m.name.clone() },
        Field { label: t.applicant, value: m.legal_name.clone() },
        Field { label: t.phone, value: m.phone.clone() },
        Field {
            label: t.status,
            value: if m.status == "active" { t.merchant_active } else { t.merchant_suspended }.to_owned(),
        },
    ];
    let deposits = match &state.payments {
        Some((engine, _)) => engine.merchant_deposits(mid).await.map_err(|e| Fail::Internal(e.to_string()))?,
        None => Vec::new(),
    };
    let devices = state
        .merchants
        .devices(&principal, mid)
        .await?
        .into_iter()
        .map(|d| {
            let d = d.value;
            let (status, status_class) = device_status(t, d.status);
            let deposit = deposits.iter().find(|x| x.tid == d.tid);
            DeviceRow {
                deposit: deposit.map(|x| crate::merchant::deposit_words(t, x).0).unwrap_or_default(),
                can_waive: deposit.is_some_and(|x| x.status == xingtong_payments::deposit::DepositStatus::Due),
                tid: d.tid.clone(),
                serial_number: d.serial_number.clone(),
                status,
                status_class,
                tracking: d.tracking_number.clone().unwrap_or_default(),
                can_ship: d.status == DeviceStatus::Ordered,
                can_suspend: d.status != DeviceStatus::Suspended,
                can_resume: d.status == DeviceStatus::Suspended,
                can_reissue: matches!(d.status, DeviceStatus::Ordered | DeviceStatus::Shipped),
            }
        })
        .collect();
    let cashiers = state
        .merchants
        .cashiers(&principal, mid)
        .await?
        .into_iter()
        .map(|c| {
            let c = c.value;
            CashierRow {
                mid: c.mid.clone(),
                operator: c.operator.clone(),
                name: c.name.clone(),
                status: match c.status {
                    CashierStatus::PinRequired => t.cashier_pin_required,
                    CashierStatus::Active => t.cashier_active,
                    CashierStatus::Locked => t.cashier_locked,
                    CashierStatus::Disabled => t.cashier_disabled,
                },
                reset_requested: c.reset_requested_at.is_some(),
            }
        })
        .collect();
    let l = m.terms.limits;
    let plain = |minor: i64| format!("{}.{:02}", minor / 100, minor % 100);
    let limits = vec![
        ("per_transaction", t.limit_per_txn, plain(l.per_transaction_minor)),
        ("daily", t.limit_daily, plain(l.daily_minor)),
        ("credit_daily", t.limit_credit_daily, l.credit_daily_minor.map(plain).unwrap_or_default()),
        ("credit_monthly", t.limit_credit_monthly, l.credit_monthly_minor.map(plain).unwrap_or_default()),
        ("static_qr", t.limit_static_qr, plain(l.static_qr_per_payer_daily_minor)),
    ];
    let today = xingtong_payments::clock::business_day();
    let in_force = m.fees_on(&today);
    let fee_list = |f: &xingtong_onboarding::terms::FeeSchedule| {
        vec![
            (t.debit_rate, crate::account::percent(f.debit_ppm)),
            (t.debit_cap, crate::yuan(f.debit_cap_minor)),
            (t.credit_rate, crate::account::percent(f.credit_ppm)),
            (t.qr_rate, crate::account::percent(f.qr_ppm)),
            (t.d0_rate, crate::account::percent(f.d0_extra_ppm)),
        ]
    };
    let page = MerchantPage {
        base: ctx.base(Console::Ops, &format!("{} {}", m.name, m.mid)),
        mid: m.mid.clone(),
        fees: fee_list(&in_force),
        fee_changes: m
            .fee_changes
            .iter()
            .rev()
            .map(|c| (crate::dashed_day(&c.effective_day), fee_list(&c.fees)))
            .collect(),
        fee_form: fee_form.unwrap_or_else(|| crate::ops_finance::FeeForm::of(&in_force)),
        earliest: crate::dashed_day(&xingtong_payments::deposit::add_days(
            &today,
            xingtong_merchants::merchant::FEE_NOTICE_DAYS,
        )),
        limits,
        fields,
        devices,
        cashiers,
        notice,
    };
    Ok(ctx.page(code, page.render()?))
}

async fn merchant(State(state): State<AppState>, ctx: Ctx, Path(mid): Path<String>) -> Response {
    let result = render_merchant(&state, &ctx, &mid, None, StatusCode::OK).await;
    ctx.finish(Console::Ops, result)
}

/// A refusal of the service, said on the merchant's page.
fn refused(ctx: &Ctx, error: &xingtong_merchants::Error) -> String {
    format!("{} ({}): {}", ctx.lang.text().not_done, error.code, error.message)
}

#[derive(Deserialize)]
struct ActionForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    tracking: String,
    #[serde(default)]
    reason: String,
}

async fn device_action(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((tid, action)): Path<(String, String)>,
    Form(form): Form<ActionForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = ctx.staff()?.clone();
        let device = state.merchants.device(&principal, &tid).await?.value;
        let done = match action.as_str() {
            "ship" => {
                let tracking = Some(form.tracking.trim()).filter(|t| !t.is_empty());
                state.merchants.ship_device(&principal, &tid, tracking).await
            }
            "suspend" => state.merchants.suspend_device(&principal, &tid).await,
            "resume" => state.merchants.resume_device(&principal, &tid).await,
            "activation-code" => state.merchants.reissue_activation_code(&principal, &tid).await,
            "deposit-waiver" => {
                // The engine does not check roles: a waiver is finance's, as over JSON.
                let waived = match principal.require(xingtong_merchants::identity::Role::Finance) {
                    Ok(()) => match &state.payments {
                        Some((engine, _)) => engine.waive_deposit(&tid, &principal.actor(), &form.reason).await,
                        None => return Err(Fail::Internal("payments are not running".into())),
                    },
                    Err(refused) => Err(refused),
                };
                waived.and(state.merchants.device(&principal, &tid).await)
            }
            _ => return Err(Fail::NotFound),
        };
        match done {
            Ok(stored) => {
                let t = ctx.lang.text();
                // A new activation code is shown once, here, to be given to the merchant.
                let notice = match (&action[..], &stored.value.activation_code) {
                    ("activation-code", Some(code)) => format!("{} {tid}: {code}", t.new_activation_code),
                    _ => format!("{} {tid}", t.decided),
                };
                render_merchant(&state, &ctx, &device.mid, Some(notice), StatusCode::OK).await
            }
            Err(error)
                if matches!(error.class, xingtong_merchants::Class::NotFound | xingtong_merchants::Class::Internal) =>
            {
                Err(error.into())
            }
            Err(error) => {
                let code = StatusCode::from_u16(match error.class {
                    xingtong_merchants::Class::Forbidden => 403,
                    xingtong_merchants::Class::Conflict => 409,
                    _ => 422,
                })
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
                render_merchant(&state, &ctx, &device.mid, Some(refused(&ctx, &error)), code).await
            }
        }
    }
    .await;
    ctx.finish(Console::Ops, result)
}

async fn pin_reset(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((mid, operator)): Path<(String, String)>,
    Form(form): Form<TokenForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = ctx.staff()?.clone();
        match state.merchants.reset_cashier_pin(&principal, &mid, &operator).await {
            Ok(_) => {
                let notice = format!("{} {operator}", ctx.lang.text().pin_was_reset);
                render_merchant(&state, &ctx, &mid, Some(notice), StatusCode::OK).await
            }
            Err(error) if error.class == xingtong_merchants::Class::Forbidden => {
                render_merchant(&state, &ctx, &mid, Some(refused(&ctx, &error)), StatusCode::FORBIDDEN).await
            }
            Err(error) => Err(error.into()),
        }
    }
    .await;
    ctx.finish(Console::Ops, result)
}

#[derive(Deserialize)]
struct LimitsForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
    #[serde(default)]
    per_transaction: String,
    #[serde(default)]
    daily: String,
    #[serde(default)]
    credit_daily: String,
    #[serde(default)]
    credit_monthly: String,
    #[serde(default)]
    static_qr: String,
}

async fn set_limits(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(mid): Path<String>,
    Form(form): Form<LimitsForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = ctx.staff()?.clone();
        let t = ctx.lang.text();
        let yuan = |text: &str| {
            xingtong_money::Amount::parse(text.trim(), xingtong_money::Currency::CNY).ok().map(|a| a.minor())
        };
        // A credit limit left empty is none.
        let optional = |text: &str| if text.trim().is_empty() { Some(None) } else { yuan(text).map(Some) };
        let (Some(per), Some(daily), Some(credit_daily), Some(credit_monthly), Some(static_qr)) = (
            yuan(&form.per_transaction),
            yuan(&form.daily),
            optional(&form.credit_daily),
            optional(&form.credit_monthly),
            yuan(&form.static_qr),
        ) else {
            return render_merchant(&state, &ctx, &mid, Some(t.bad_rate.to_owned()), StatusCode::UNPROCESSABLE_ENTITY)
                .await;
        };
        let limits = xingtong_onboarding::terms::Limits {
            per_transaction_minor: per,
            daily_minor: daily,
            credit_daily_minor: credit_daily,
            credit_monthly_minor: credit_monthly,
            static_qr_per_payer_daily_minor: static_qr,
        };
        match state.merchants.set_limits(&principal, &mid, limits).await {
            Ok(_) => render_merchant(&state, &ctx, &mid, Some(t.decided.to_owned()), StatusCode::OK).await,
            Err(error)
                if matches!(
                    error.class,
                    xingtong_merchants::Class::Forbidden | xingtong_merchants::Class::Unprocessable
                ) =>
            {
                let status = crate::account::refusal_status(&error);
                render_merchant(&state, &ctx, &mid, Some(refused(&ctx, &error)), status).await
            }
            Err(error) => Err(error.into()),
        }
    }
    .await;
    ctx.finish(Console::Ops, result)
}

async fn announce_fees(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(mid): Path<String>,
    Form(form): Form<crate::ops_finance::FeeForm>,
) -> Response {
    let result = async {
        ctx.check_csrf(&form.csrf)?;
        let principal = ctx.staff()?.clone();
        let t = ctx.lang.text();
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let Some(day) = crate::ops_finance::day_of(&form.effective_date) else {
            return render_merchant_with(&state, &ctx, &mid, Some(t.bad_date.to_owned()), unprocessable, Some(form))
                .await;
        };
        let Some(fees) = form.schedule() else {
            return render_merchant_with(&state, &ctx, &mid, Some(t.bad_rate.to_owned()), unprocessable, Some(form))
                .await;
        };
        let today = xingtong_payments::clock::business_day();
        match state.merchants.announce_fee_change(&principal, &mid, &day, fees, &today).await {
            Ok(_) => render_merchant(&state, &ctx, &mid, Some(t.decided.to_owned()), StatusCode::OK).await,
            Err(error) if error.class == xingtong_merchants::Class::NotFound => Err(error.into()),
            Err(error) if error.class == xingtong_merchants::Class::Internal => Err(error.into()),
            Err(error) => {
                let status = crate::account::refusal_status(&error);
                render_merchant_with(&state, &ctx, &mid, Some(refused(&ctx, &error)), status, Some(form)).await
            }
        }
    }
    .await;
    ctx.finish(Console::Ops, result)
}

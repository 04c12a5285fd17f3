//! The device deposit: paid apart from settlement funds, refused when it cannot be, kept (and
//! said so) past its deadline, and refunded once even when the first refund fails.

use anyhow::{Context, ensure};
use xingtong_merchants::devices::{Device, DeviceStatus, DeviceStep};
use xingtong_merchants::entity::get;
use xingtong_merchants::notify::Template;
use xingtong_merchants::{Principal, Role};
use xingtong_payments::bank::{SandboxAccount, SandboxBank};
use xingtong_payments::card::{Brand, CardType};
use xingtong_payments::chart;
use xingtong_payments::deposit::{DepositStatus, card_with_pin};
use xingtong_payments::payouts::PayoutStatus;
use xingtong_pos::Request;

use crate::{CASHIER_PIN, World, read};

/// Changes the world's device: `edit` as staff configuration or a past activation would have it.
async fn edit_device(w: &World, edit: impl FnOnce(&mut Device)) -> anyhow::Result<()> {
    let mut device = get::<Device>(w.engine.store(), &w.tid, "device").await?;
    edit(&mut device.value);
    w.engine.store().apply(xingtong_store::Change { puts: vec![device.update()?], ..Default::default() }).await?;
    Ok(())
}

fn deposit_account(w: &World) -> anyhow::Result<u128> {
    chart::merchant_account_id(&w.mid, chart::ACCOUNT_MERCHANT_DEPOSIT).context("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_is_paid_once_apart_from_settlement_funds() -> anyhow::Result<()> {
    let w = crate::world().await?;
    let due = w.engine.deposit(&w.tid).await?;
    ensure!(due.status == DepositStatus::Due && due.amount_minor == 29_900 && due.threshold_minor == 10_000_000);

    // Declined cards and malformed input leave nothing behind.
    let poor = w.card(Brand::Unionpay, CardType::Debit, 10_000, |_| {}).await?;
    let card = card_with_pin(&w.engine, poor.pan.expose(), Some(&poor.expiry), "147258")?;
    let error = w.engine.pay_deposit(&w.tid, &card, "owner", Some("k1")).await.err().context("declined")?;
    ensure!(error.code == "card_declined" && error.message.contains("51"), "{error:?}");
    let good = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let wrong_pin = card_with_pin(&w.engine, good.pan.expose(), Some(&good.expiry), "000000")?;
    let error = w.engine.pay_deposit(&w.tid, &wrong_pin, "owner", Some("k2")).await.err().context("wrong PIN")?;
    ensure!(error.code == "card_declined" && error.message.contains("55"), "{error:?}");
    for (pan, pin, code) in [("12", "147258", "invalid_card_number"), (good.pan.expose(), "12", "invalid_pin")] {
        let error = card_with_pin(&w.engine, pan, None, pin).err().context("malformed")?;
        ensure!(error.code == code, "{error:?}");
    }
    for expiry in ["3113", "3100", "31AB", "311"] {
        let error = card_with_pin(&w.engine, good.pan.expose(), Some(expiry), "147258").err().context("expiry")?;
        ensure!(error.code == "invalid_expiry", "{expiry}: {error:?}");
    }
    ensure!(w.engine.deposit(&w.tid).await?.status == DepositStatus::Due);
    ensure!(w.account(deposit_account(&w)?).await? == 0);

    // Paid: on the deposit account, never on the payable.
    let card = card_with_pin(&w.engine, good.pan.expose(), Some(&good.expiry), "147258")?;
    let paid = w.engine.pay_deposit(&w.tid, &card, "owner", Some("k3")).await?;
    ensure!(paid.status == DepositStatus::Held && paid.payment.as_ref().is_some_and(|p| p.card_masked.contains('*')));
    ensure!(w.account(deposit_account(&w)?).await? == 29_900 && w.merchant_balance().await? == 0);
    ensure!(w.balance_of(&good).await? == 1_000_000 - 29_900);
    // The same request again answers the payment made; another is refused, as is a waiver.
    let again = w.engine.pay_deposit(&w.tid, &card, "owner", Some("k3")).await?;
    ensure!(again == paid, "a retry answers the payment made");
    // The same key with another card (or PIN) is another request: refused, not answered.
    let error = w.engine.pay_deposit(&w.tid, &wrong_pin, "owner", Some("k3")).await.err().context("reused")?;
    ensure!(error.code == "idempotency_key_reused", "{error:?}");
    let error = w.engine.pay_deposit(&w.tid, &card, "owner", Some("k4")).await.err().context("twice")?;
    ensure!(error.code == "deposit_not_due", "{error:?}");
    let error = w.engine.waive_deposit(&w.tid, "staff:test", "promotion").await.err().context("waive")?;
    ensure!(error.code == "deposit_not_due", "{error:?}");
    ensure!(w.balance_of(&good).await? == 1_000_000 - 29_900, "charged once");
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_is_kept_and_said_so_when_its_deadline_passes_below_the_volume() -> anyhow::Result<()> {
    let w = crate::world().await?;
    let good = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let card = card_with_pin(&w.engine, good.pan.expose(), Some(&good.expiry), "147258")?;
    w.engine.pay_deposit(&w.tid, &card, "owner", None).await?;
    // The device was activated 200 days ago (its deadline was 21 days ago).
    let long_ago = xingtong_store::now_ns() - 200 * 86_400 * 1_000_000_000;
    edit_device(&w, |d| {
        d.status = DeviceStatus::Activated;
        d.history.push(DeviceStep { at: long_ago, status: DeviceStatus::Activated, actor: "terminal".into() });
    })
    .await?;
    let kept_account = chart::platform_account_id(chart::ACCOUNT_DEPOSITS_KEPT);
    let before = w.account(kept_account).await?;
    let day = xingtong_payments::clock::yesterday();
    let report = w.engine.clear_day(&day, &|_, _| {}).await?;
    ensure!(report.deposits_kept == 1, "{report:?}");
    let kept = w.engine.deposit(&w.tid).await?;
    let deadline = xingtong_payments::deposit::add_days(kept.activation_day.as_deref().context("activation")?, 179);
    ensure!(kept.status == DepositStatus::Kept && kept.deadline_day.as_deref() == Some(deadline.as_str()), "{kept:?}");
    ensure!(w.account(deposit_account(&w)?).await? == 0 && w.account(kept_account).await? - before == 29_900);
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    let told = w.merchants.notifications(&staff, &[]).await?;
    ensure!(
        told.iter().any(|n| n.value.template == Template::DepositKept && n.value.text.contains("299.00")),
        "the owner is told, with the figures"
    );
    // Once: clearing again keeps nothing more.
    ensure!(w.engine.clear_day(&day, &|_, _| {}).await?.deposits_kept == 0);
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deposit_refund_returns_to_the_deposit_and_is_paid_once_after_a_card_change() -> anyhow::Result<()> {
    let w = crate::world().await?;
    edit_device(&w, |d| d.deposit_refund_volume_minor = 40_000).await?;
    let good = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let card = card_with_pin(&w.engine, good.pan.expose(), Some(&good.expiry), "147258")?;
    w.engine.pay_deposit(&w.tid, &card, "owner", None).await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    for amount in [30_000, 15_000] {
        ensure!(t.send(&Request::Sale(read(&good, Some("147258")), amount, 1)).await?.approved());
    }
    let day = xingtong_payments::clock::business_day();
    w.engine.clear_day(&day, &|_, _| {}).await?;
    let refunding = w.engine.deposit(&w.tid).await?;
    ensure!(refunding.status == DepositStatus::Refunding && refunding.volume_minor == 45_000, "{refunding:?}");
    let payout_id = refunding.payout_id.clone().context("payout")?;

    // The bound card's account is closed: the refund fails back to the deposit account.
    let bank = SandboxBank::new(w.engine.store().clone());
    let closed = |number: &str| SandboxAccount {
        card_number: number.into(),
        state: "closed".into(),
        holder: None,
        lose_answers: 0,
    };
    bank.set_account(closed("6222021234567890128")).await?;
    let tomorrow = xingtong_payments::clearing::next_day(&day);
    let settlement_payout = w.engine.settlement(&w.mid, &day).await?.context("settlement")?.payout_minor;
    let first = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(first.failed == 2 && first.paid == 0, "the settlement and the refund both fail: {first:?}");
    ensure!(w.account(deposit_account(&w)?).await? == 29_900, "the refund is back on the deposit account");
    ensure!(w.merchant_balance().await? == i128::from(settlement_payout), "the settlement is back on the payable");
    ensure!(w.engine.payout(&payout_id).await?.context("payout")?.value.status == PayoutStatus::Failed);
    // Nothing happens until the card changes; then both are paid, once.
    ensure!(w.engine.run_payouts(&bank, &tomorrow).await?.paid == 0);
    crate::change_card(&w, &w.mid, "6225880137654327").await?;
    let second = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(second.paid == 2 && second.retried == 2 && second.paid_minor == settlement_payout + 29_900, "{second:?}");
    ensure!(w.engine.run_payouts(&bank, &tomorrow).await?.paid == 0);
    ensure!(w.engine.deposit(&w.tid).await?.status == DepositStatus::Refunded);
    ensure!(w.account(deposit_account(&w)?).await? == 0 && w.merchant_balance().await? == 0);
    w.balanced().await
}

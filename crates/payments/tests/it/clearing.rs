//! Clearing, simulated: business days of random card operations over TCP on several merchants
//! (T+1 and D0) and terminals, the engine's clock moved from day to day; deposits paid, waived and
//! refunded; each day cleared twice while open (as the hourly D0 sweeps do) and its payouts paid;
//! every merchant-day's settlements checked to the fen against an oracle written from the
//! transactions alone and against the ledger; every transaction in exactly one settlement; the
//! last payouts failed on a closed account and paid once after the card changes. Run twice:
//! nothing changes.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, ensure};
use rand::{RngExt, SeedableRng};
use xingtong_merchants::merchant::SettlementCycle;
use xingtong_merchants::{Principal, Role};
use xingtong_money::Rate;
use xingtong_payments::card::{Brand, CardType};
use xingtong_payments::chart;
use xingtong_payments::clearing::{DayOutcome, SettlementStatus};
use xingtong_payments::deposit::DepositStatus;
use xingtong_payments::payouts::PayoutPurpose;
use xingtong_payments::txn::{Kind, Status};
use xingtong_pos::{Request, Terminal, TerminalConfig};
use xingtong_store::Database;

use crate::{CASHIER_PIN, SUPERVISOR_PIN, World, onboard, read, world_on};

/// Business days simulated, …
const DAYS: usize = 6;
/// … rounds of random operations in each, the day cleared after each round, …
const ROUNDS_PER_DAY: usize = 2;
/// … and operations in a round.
const OPERATIONS_PER_ROUND: usize = 50;

/// The engine's settings with a clock the simulation moves.
fn manual_clock() -> xingtong_payments::Config {
    let clock = xingtong_payments::clock::Clock::manual(xingtong_store::now_ns());
    xingtong_payments::Config { clock, ..xingtong_payments::Config::default() }
}

/// An approved capture the simulation may act on later.
#[derive(Clone)]
struct Sale {
    batch: u32,
    stan: u32,
    amount: i64,
    refunded: i64,
    rrn: String,
    date: String,
    voided: bool,
    /// The clearing round it was made in (a later round's clearing has settled it).
    round: usize,
}

/// Sets the refund threshold of a device not yet paid for (as staff would for a promotion).
async fn lower_refund_threshold(w: &World, tid: &str, threshold_minor: i64) -> anyhow::Result<()> {
    use xingtong_merchants::entity::get;
    let mut device = get::<xingtong_merchants::devices::Device>(w.engine.store(), tid, "device").await?;
    device.value.deposit_refund_volume_minor = threshold_minor;
    let change = xingtong_store::Change { puts: vec![device.update()?], ..Default::default() };
    w.engine.store().apply(change).await?;
    Ok(())
}

async fn simulate(w: &World, seed: u64) -> anyhow::Result<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    // Four merchants: the world's and three more; the second and fourth are paid D0.
    let mut shops = vec![(w.mid.clone(), w.tid.clone(), w.tmk.clone())];
    for n in 2..=4 {
        shops.push(onboard(&w.merchants, n).await?);
    }
    for (i, (mid, _, _)) in shops.iter().enumerate() {
        if i % 2 == 1 {
            w.merchants.set_settlement_cycle(&staff, mid, SettlementCycle::D0).await?;
        }
    }
    let debit = w.card(Brand::Unionpay, CardType::Debit, 100_000_000, |_| {}).await?;
    let credit = w.card(Brand::Unionpay, CardType::Credit, 100_000_000, |_| {}).await?;
    let visa = w.card(Brand::Visa, CardType::Credit, 100_000_000, |_| {}).await?;
    let poor = w.card(Brand::Unionpay, CardType::Debit, 500, |_| {}).await?;
    let mut terminals = Vec::new();
    for (i, (mid, tid, tmk)) in shops.iter().enumerate() {
        let config = TerminalConfig {
            tid: tid.clone(),
            mid: mid.clone(),
            tmk: tmk.clone(),
            state_dir: Some(w.dir.path().join(format!("terminal-{i}"))),
            reply_timeout: Duration::from_secs(10),
            fsync: false,
        };
        let mut t = Terminal::open(config, w.address).await?;
        ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
        terminals.push((t, Vec::<Sale>::new(), Vec::<(u32, u32, i64, String, String)>::new()));
    }
    // How many of each the run made: the test must exercise every path.
    let mut made: BTreeMap<&str, u32> = BTreeMap::new();

    // Business time is the engine's clock: each simulated day's rounds at 09:00 and 13:00 (China),
    // from today on.
    let clock = w.engine.clock().clone();
    let first_day = xingtong_payments::clock::business_day();
    let at = |day: &str, hour: u32| xingtong_payments::clock::at_china(day, hour, 0).context("a day");
    ensure!(clock.set(at(&first_day, 9)?), "the world's engine runs on a manual clock");
    let days: Vec<String> = {
        let mut days = vec![first_day.clone()];
        for _ in 1..DAYS {
            days.push(xingtong_payments::clearing::next_day(days.last().context("a day")?));
        }
        days
    };
    let bank = xingtong_payments::bank::SandboxBank::new(w.engine.store().clone());
    let mut paid_on_the_way = 0i64;
    let in_transit = chart::platform_account_id(chart::ACCOUNT_PAYOUTS_IN_TRANSIT);
    let revenue = chart::platform_account_id(chart::ACCOUNT_FEE_REVENUE);
    let bank_account = chart::platform_account_id(chart::ACCOUNT_SETTLEMENT_BANK);
    let (transit_before, revenue_before) = (w.account(in_transit).await?, w.account(revenue).await?);
    let bank_before = w.account(bank_account).await?;

    // Deposits: the first shop's device was ordered with a ¥500 refund threshold (met today), the
    // second's with the default ¥100,000 (held, counting); both pay with a card of their own. The third
    // shop's is waived by staff, the fourth's stays due.
    lower_refund_threshold(w, &shops[0].1, 50_000).await?;
    let deposit_card = |c: &xingtong_payments::sandbox::SandboxCard| {
        xingtong_payments::deposit::card_with_pin(&w.engine, c.pan.expose(), Some(&c.expiry), "147258")
    };
    // A card of their own (the random operations' cards have a per-merchant frequency limit).
    let own = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    for (_, tid, _) in &shops[..2] {
        let paid = w.engine.pay_deposit(tid, &deposit_card(&own)?, "test", Some(&format!("dep-{tid}"))).await?;
        ensure!(paid.status == DepositStatus::Held, "{paid:?}");
    }
    w.engine.waive_deposit(&shops[2].1, "staff:test", "a trade-fair device").await?;
    w.balanced().await?;
    // Each device's activation sale (¥300, at least the activation amount of ¥299).
    for (t, sales, _) in &mut terminals {
        let r = t.send(&Request::Sale(read(&own, Some("147258")), 30_000, 1)).await?;
        ensure!(r.approved(), "{r:?}");
        *made.entry("sale").or_default() += 1;
        sales.push(Sale {
            batch: r.batch,
            stan: r.stan,
            amount: 30_000,
            refunded: 0,
            rrn: r.rrn().context("rrn")?.to_owned(),
            date: r.message.get_str(13).context("date")?.to_owned(),
            voided: false,
            round: 0,
        });
    }
    // Days of random operations, two rounds a day, the day cleared after each (as D0 sweeps do
    // while the day is open) and the payouts due paid at the end of each day: every transaction
    // must end in exactly one settlement.
    let mut runs = Vec::new();
    for round in 0..DAYS * ROUNDS_PER_DAY {
        let day = days[round / ROUNDS_PER_DAY].clone();
        ensure!(clock.set(at(&day, 9 + 4 * (round % ROUNDS_PER_DAY) as u32)?));
        for _ in 0..OPERATIONS_PER_ROUND {
            let shop = rng.random_range(0..terminals.len());
            let (mid, tid) = (shops[shop].0.clone(), shops[shop].1.clone());
            let (t, sales, holds) = &mut terminals[shop];
            match rng.random_range(0..100) {
                // A sale, on one of three cards.
                0..=44 => {
                    let amount = rng.random_range(1..=30_000);
                    let (card, pin) = match rng.random_range(0..3) {
                        0 => (&debit, Some("147258")),
                        1 => (&credit, None),
                        _ => (&visa, None),
                    };
                    let r = t.send(&Request::Sale(read(card, pin), amount, 1)).await?;
                    // The merchant's daily limits (an individual merchant's: ¥1,000 of credit cards)
                    // and the card's frequency limit (20 a minute) decline some: they move nothing.
                    if r.code == "61" || r.code == "65" {
                        continue;
                    }
                    ensure!(r.approved(), "{r:?}");
                    // The reply's time, date and reference number are the engine's clock's.
                    let (hhmmss, mmdd) = clock.fields_12_13();
                    ensure!(
                        r.message.get_str(12) == Some(hhmmss.as_str()) && r.message.get_str(13) == Some(mmdd.as_str())
                    );
                    ensure!(r.rrn().is_some_and(|rrn| rrn.starts_with(&hhmmss)), "{r:?}");
                    *made.entry("sale").or_default() += 1;
                    sales.push(Sale {
                        batch: r.batch,
                        stan: r.stan,
                        amount,
                        refunded: 0,
                        rrn: r.rrn().context("rrn")?.to_owned(),
                        date: r.message.get_str(13).context("date")?.to_owned(),
                        voided: false,
                        round,
                    });
                }
                // Declined: not enough money.
                45..=49 => {
                    let r = t.send(&Request::Sale(read(&poor, Some("147258")), 90_000, 1)).await?;
                    ensure!(r.code == "51", "{r:?}");
                    *made.entry("declined").or_default() += 1;
                }
                // A void of a sale not refunded.
                50..=59 => {
                    let Some(i) = (0..sales.len()).find(|&i| !sales[i].voided && sales[i].refunded == 0) else {
                        continue;
                    };
                    let s = sales[i].clone();
                    let void = Request::Void {
                        original: (s.batch, s.stan),
                        amount: s.amount,
                        supervisor_pin: SUPERVISOR_PIN.into(),
                    };
                    let r = t.send(&void).await?;
                    ensure!(r.approved(), "{r:?}");
                    sales[i].voided = true;
                    *made.entry("void").or_default() += 1;
                }
                // A partial refund.
                60..=74 => {
                    let candidates: Vec<usize> =
                        (0..sales.len()).filter(|&i| !sales[i].voided && sales[i].refunded < sales[i].amount).collect();
                    let Some(&i) = candidates.get(rng.random_range(0..candidates.len().max(1))) else { continue };
                    let s = sales[i].clone();
                    let amount = rng.random_range(1..=(s.amount - s.refunded));
                    let refund = Request::Refund {
                        original: (s.batch, s.stan, s.date.clone()),
                        amount,
                        rrn: s.rrn.clone(),
                        supervisor_pin: SUPERVISOR_PIN.into(),
                        reason: "01".into(),
                    };
                    let r = t.send(&refund).await?;
                    ensure!(r.approved(), "{r:?}");
                    sales[i].refunded += amount;
                    *made.entry("refund").or_default() += 1;
                }
                // A pre-authorization, completed later.
                75..=84 => {
                    let amount = rng.random_range(100..=50_000);
                    let r = t.send(&Request::PreAuthorization(read(&debit, Some("147258")), amount)).await?;
                    if r.code == "61" || r.code == "65" {
                        continue;
                    }
                    ensure!(r.approved(), "{r:?}");
                    let date = r.message.get_str(13).context("date")?.to_owned();
                    holds.push((r.batch, r.stan, amount, r.auth_code().context("auth")?.to_owned(), date));
                }
                85..=92 => {
                    let Some((batch, stan, amount, auth, date)) = holds.pop() else { continue };
                    let completed = rng.random_range(1..=amount);
                    let r = t
                        .send(&Request::Completion {
                            original: (batch, stan, date),
                            amount: completed,
                            auth_code: auth,
                        })
                        .await?;
                    if r.code == "61" || r.code == "65" {
                        continue;
                    }
                    ensure!(r.approved(), "{r:?}");
                    *made.entry("completion").or_default() += 1;
                }
                // A reversal of the last sale (the terminal never saw the reply).
                _ => {
                    let Some(s) = sales.last().filter(|s| !s.voided && s.refunded == 0).cloned() else { continue };
                    let origin = crate::reversal_origin(&tid, &mid, s.batch, s.stan);
                    let code = w.engine.reverse(&origin, s.amount).await?;
                    if s.round < round {
                        // Cleared by an earlier round: its money is in a settlement; it stays.
                        ensure!(
                            xingtong_payments::cup::response_code(code).code == "12",
                            "a settled sale's reversal: {code:?}"
                        );
                        *made.entry("reversal refused").or_default() += 1;
                        continue;
                    }
                    ensure!(code.is_approved(), "{code:?}");
                    sales.pop();
                    *made.entry("reversal").or_default() += 1;
                }
            }
            w.balanced().await?;
        }
        let run = w.engine.clear_day(&day, &|_, _| {}).await?;
        ensure!(run.merchants == 4 && run.cleared + run.already_cleared <= 4, "{run:?}");
        w.balanced().await?;
        runs.push(run);
        if round % ROUNDS_PER_DAY == ROUNDS_PER_DAY - 1 {
            // The day's D0 payouts and yesterday's T+1 ones (and a deposit refund due).
            let paid = w.engine.run_payouts(&bank, &day).await?;
            ensure!(paid.failed == 0 && paid.unknown == 0, "{paid:?}");
            paid_on_the_way += paid.paid_minor;
            w.balanced().await?;
        }
    }

    // A last sale late on the last day at a T+1 shop, and the day cleared again: its payout is due
    // the day after, for the failure below.
    let last_day = days.last().context("a day")?.clone();
    ensure!(clock.set(at(&last_day, 20)?));
    let r = terminals[2].0.send(&Request::Sale(read(&own, Some("147258")), 200_000, 1)).await?;
    ensure!(r.approved(), "{r:?}");
    runs.push(w.engine.clear_day(&last_day, &|_, _| {}).await?);
    w.balanced().await?;

    for (what, least) in
        [("sale", 60), ("declined", 5), ("void", 10), ("refund", 10), ("completion", 5), ("reversal", 3)]
    {
        ensure!(made.get(what).copied().unwrap_or(0) >= least, "too few of {what}: {made:?}");
    }

    ensure!(runs.iter().map(|r| r.cleared).sum::<u64>() >= 20, "rounds that settled something: {runs:?}");

    let (mut payouts, mut surcharges, mut all_fees) = (0i64, 0i64, 0i64);
    let mut volumes = BTreeMap::new();
    // Each terminal's volume by settlement, in order (sales and completions less the rest).
    let mut volume_by_settlement: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut settlements_by_day: BTreeMap<String, usize> = BTreeMap::new();
    for (mid, tid, _) in &shops {
        let merchant = w.engine.merchants().merchant(&staff, mid).await?.value;
        // Every transaction of the merchant, for voids of an earlier day's sale.
        let mut every = Vec::new();
        for day in &days {
            every.extend(w.engine.day_transactions(mid, day).await?);
        }
        let by_id: BTreeMap<&str, _> = every.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut carried = 0i64;
        let mut volumes_here = Vec::new();
        for day in &days {
            let settlements = w.engine.settlements_of_day(mid, day).await?;
            // The oracle: each transaction's effect on the merchant, from its own fields.
            let txns: Vec<_> = every.iter().filter(|t| &t.business_day == day).collect();
            let rate = (merchant.settlement_cycle == SettlementCycle::D0)
                .then(|| Rate::from_ppm(merchant.terms.fees.d0_extra_ppm))
                .transpose()?;
            let (mut captured, mut returned, mut fees, mut surcharge, mut net) = (0i64, 0i64, 0i64, 0i64, 0i64);
            let mut expected = std::collections::BTreeSet::new();
            for &t in &txns {
                if matches!(t.status, Status::Reversed | Status::Declined) {
                    continue;
                }
                let (moved, fee) = match t.kind {
                    Kind::Sale | Kind::Completion => (t.amount_minor - t.fee_minor, t.fee_minor),
                    Kind::Void | Kind::CompletionVoid => {
                        let original = by_id.get(t.original_id.as_deref().context("original")?).context("known")?;
                        (-(t.amount_minor - original.fee_minor), -original.fee_minor)
                    }
                    // A refund's fee is the (negative) fee it returned.
                    Kind::Refund => (-(t.amount_minor + t.fee_minor), t.fee_minor),
                    _ => continue,
                };
                expected.insert(t.id.clone());
                let extra =
                    rate.map_or(0, |r| r.apply_minor(if moved >= 0 { t.amount_minor } else { -t.amount_minor }));
                if moved >= 0 {
                    captured += t.amount_minor;
                } else {
                    returned += t.amount_minor;
                }
                fees += fee;
                surcharge += extra;
                net += moved - extra;
                if &t.tid == tid {
                    *volumes.entry(tid.clone()).or_insert(0i64) +=
                        if moved >= 0 { t.amount_minor } else { -t.amount_minor };
                }
            }
            // The day's settlements together are the oracle, to the fen; every transaction is in
            // exactly one of them.
            let sum = |f: fn(&xingtong_payments::clearing::Settlement) -> i64| settlements.iter().map(f).sum::<i64>();
            let lines_total: u32 = settlements.iter().map(|s| s.lines).sum();
            ensure!(
                (
                    sum(|s| s.captured_minor),
                    sum(|s| s.returned_minor),
                    sum(|s| s.fees_minor),
                    sum(|s| s.surcharge_minor)
                ) == (captured, returned, fees, surcharge)
                    && sum(|s| s.net_minor) == net
                    && lines_total as usize == expected.len(),
                "{mid}: {settlements:?} against the oracle {:?}",
                (captured, returned, fees, surcharge, net, expected.len())
            );
            let mut settled = std::collections::BTreeSet::new();
            for (n, s) in settlements.iter().enumerate() {
                ensure!(s.seq as usize == n + 1, "{s:?}");
                ensure!(s.captured_minor - s.returned_minor - s.fees_minor - s.surcharge_minor == s.net_minor, "{s:?}");
                // Each settlement carries in what the one before carried out.
                ensure!(s.carried_in_minor == carried, "{s:?}");
                ensure!(s.payout_minor + s.carried_out_minor == s.net_minor + s.carried_in_minor, "{s:?}");
                carried = s.carried_out_minor;
                ensure!(
                    s.status
                        == if s.payout_minor > 0 { SettlementStatus::Cleared } else { SettlementStatus::NothingToPay }
                );
                let lines = w.engine.settlement_lines(s).await?;
                ensure!(lines.len() as u32 == s.lines && lines.iter().map(|l| l.net_minor).sum::<i64>() == s.net_minor);
                let mut volume = 0;
                for l in &lines {
                    ensure!(settled.insert(l.txn_id.clone()), "{} is in two settlements", l.txn_id);
                    volume += if matches!(l.txn_type.as_str(), "sale" | "completion") {
                        l.amount_minor
                    } else {
                        -l.amount_minor
                    };
                }
                volumes_here.push(volume);
                payouts += s.payout_minor;
                surcharges += s.surcharge_minor;
                all_fees += s.fees_minor;
            }
            ensure!(settled == expected, "{mid} {day}: the settled transactions are the day's");
            // The surcharge is D0's only (its amount is the oracle's, above).
            let t1 = merchant.settlement_cycle == SettlementCycle::T1;
            ensure!(!t1 || surcharge == 0, "{mid} {day}: T+1 surcharged");
            *settlements_by_day.entry(day.clone()).or_insert(0usize) += settlements.len();
        }
        volume_by_settlement.insert(tid.clone(), volumes_here);
        // The ledger: the merchant's payable holds only what is carried; the rest left it.
        let payable =
            w.account(chart::merchant_account_id(mid, chart::ACCOUNT_MERCHANT_SETTLEMENT).context("id")?).await?;
        ensure!(payable == i128::from(carried), "{mid}: payable after clearing {payable}, carried {carried}");
    }
    // Deposits: each held one counted its terminal's volume of the days (the oracle's); the first
    // met its threshold and its refund went out as a payout of its own.
    let deposit_account = |mid: &str| chart::merchant_account_id(mid, chart::ACCOUNT_MERCHANT_DEPOSIT);
    let mut refunds = 0i64;
    for (i, (mid, tid, _)) in shops.iter().enumerate() {
        let d = w.engine.deposit(tid).await?;
        let held = w.account(deposit_account(mid).context("id")?).await?;
        let volume = volumes.get(tid).copied().unwrap_or(0);
        match i {
            0 => {
                // Counted settlement by settlement until one brought it to the threshold.
                let mut counted = 0;
                for v in &volume_by_settlement[tid] {
                    counted += v;
                    if counted >= 50_000 {
                        break;
                    }
                }
                // Refunding, or refunded by a payout run of a later day.
                ensure!(
                    matches!(d.status, DepositStatus::Refunding | DepositStatus::Refunded)
                        && d.volume_minor == counted
                        && counted >= 50_000,
                    "{d:?}"
                );
                ensure!(held == 0, "the refund left the deposit account: {held}");
                let payout = w.engine.payout(d.payout_id.as_deref().context("payout")?).await?.context("payout")?;
                ensure!(payout.value.purpose == PayoutPurpose::DepositRefund && payout.value.amount_minor == 29_900);
                refunds += 29_900;
            }
            1 => ensure!(d.status == DepositStatus::Held && d.volume_minor == volume && held == 29_900, "{d:?}"),
            2 => ensure!(d.status == DepositStatus::Waived && d.volume_minor == 0 && held == 0, "{d:?}"),
            _ => ensure!(d.status == DepositStatus::Due && held == 0, "{d:?}"),
        }
        ensure!(i > 1 || d.activation_day.as_deref() == Some(first_day.as_str()), "{d:?}");
    }
    ensure!(
        w.account(in_transit).await? - transit_before + i128::from(paid_on_the_way) == i128::from(payouts + refunds),
        "in transit = Σ payouts + the deposit refund, less what was paid on the way"
    );
    // Fee revenue gained the day's fees (charged at each sale, less those returned) and the D0
    // surcharges (at clearing), to the fen.
    ensure!(
        w.account(revenue).await? - revenue_before == i128::from(all_fees + surcharges),
        "revenue gained the fees {all_fees} and the surcharges {surcharges}: {}",
        w.account(revenue).await? - revenue_before
    );
    ensure!(runs.iter().map(|r| r.payout_minor).sum::<i64>() == payouts);
    ensure!(surcharges > 0, "the D0 merchants paid their surcharge");
    ensure!(
        settlements_by_day.len() == DAYS && settlements_by_day.values().all(|&n| n >= 2),
        "every day cleared on its own: {settlements_by_day:?}"
    );

    // Run again: every merchant-day was cleared; nothing moves.
    let pending = w.account(in_transit).await?;
    for day in &days {
        let again = w.engine.clear_day(day, &|_, _| {}).await?;
        ensure!(again.cleared == 0 && again.already_cleared <= 4, "{again:?}");
    }
    ensure!(w.account(in_transit).await? == pending);
    ensure!(w.engine.deposit(&shops[1].1).await?.volume_minor == volumes.get(&shops[1].1).copied().unwrap_or(0));

    // The last day's T+1 payouts, due the day after, to a bound card whose account was closed:
    // every one fails, the money back on the payables (a deposit refund back on the deposit
    // account). Once the merchants change their cards, each is sent again and paid, once.
    let due_query = xingtong_store::TableQuery::new(xingtong_store::Table::Payouts).statuses(&["scheduled"]);
    let due = w.engine.store().table_records(due_query).await?.len() as u64;
    ensure!(due >= 1, "the last day's T+1 payouts are waiting: {due}");
    bank.set_account(xingtong_payments::bank::SandboxAccount {
        card_number: "6222021234567890128".into(),
        state: "closed".into(),
        holder: None,
        lose_answers: 0,
    })
    .await?;
    let tomorrow = xingtong_payments::clearing::next_day(&last_day);
    let failed = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(failed.paid == 0 && failed.failed == due, "{failed:?}");
    ensure!(w.account(in_transit).await? == transit_before, "all back from transit");
    w.balanced().await?;
    for (mid, _, _) in &shops {
        crate::change_card(w, mid, "6225880137654327").await?;
    }
    let paid = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(
        paid.paid_minor + paid_on_the_way == payouts + refunds && paid.retried == failed.failed && paid.unknown == 0,
        "{paid:?}"
    );
    let again = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(again.paid == 0 && again.retried == 0, "{again:?}");
    ensure!(w.account(bank_account).await? - bank_before == i128::from(payouts + refunds), "the bank paid them out");
    ensure!(w.account(in_transit).await? == transit_before);
    for (mid, _, _) in &shops {
        let mut carried = 0;
        for day in &days {
            if let Some(last) = w.engine.settlements_of_day(mid, day).await?.last() {
                carried = last.carried_out_minor;
            }
        }
        let payable =
            w.account(chart::merchant_account_id(mid, chart::ACCOUNT_MERCHANT_SETTLEMENT).context("id")?).await?;
        ensure!(payable == i128::from(carried), "{mid}: only the carried balance stays");
    }
    ensure!(w.engine.deposit(&shops[0].1).await?.status == DepositStatus::Refunded);
    let merchant = w.engine.merchants().merchant(&staff, &shops[0].0).await?.value;
    ensure!(matches!(w.engine.clear_merchant_day(&merchant, &last_day).await?, DayOutcome::AlreadyCleared(_)));
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_days_of_operations_clear_to_the_fen_on_sqlite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let database = Database::Sqlite { data_dir: dir.path().into() };
    let w = world_on(dir, database, manual_clock()).await?;
    simulate(&w, 20_261_127).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_days_of_operations_clear_to_the_fen_on_postgres() -> anyhow::Result<()> {
    let Some((url, schema)) = crate::processes::postgres() else {
        eprintln!("XINGTONG_TEST_POSTGRES_URL is not set: the PostgreSQL clearing simulation is skipped");
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let database = Database::Postgres { url: url.clone(), schema: Some(schema.clone()) };
    let result = async {
        let w = world_on(dir, database, manual_clock()).await?;
        simulate(&w, 1_127).await
    }
    .await;
    tokio::task::spawn_blocking(move || xingtong_store::postgres::drop_schema(&url, &schema)).await??;
    result
}

/// docs/settlement.md §3, to the fen: five transactions at a T+1 merchant and the same five at a
/// D0 merchant, cleared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_worked_example() -> anyhow::Result<()> {
    let w = crate::world().await?;
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    let d0 = onboard(&w.merchants, 2).await?;
    w.merchants.set_settlement_cycle(&staff, &d0.0, SettlementCycle::D0).await?;
    let debit = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    let credit = w.card(Brand::Unionpay, CardType::Credit, 10_000_000, |_| {}).await?;
    for (i, (mid, tid, tmk)) in [(w.mid.clone(), w.tid.clone(), w.tmk.clone()), d0.clone()].into_iter().enumerate() {
        let config = TerminalConfig {
            tid,
            mid,
            tmk,
            state_dir: Some(w.dir.path().join(format!("example-{i}"))),
            reply_timeout: Duration::from_secs(10),
            fsync: false,
        };
        let mut t = Terminal::open(config, w.address).await?;
        ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
        let one = t.send(&Request::Sale(read(&debit, Some("147258")), 100_000, 1)).await?;
        let two = t.send(&Request::Sale(read(&credit, None), 30_000, 1)).await?;
        let three = t.send(&Request::Sale(read(&debit, Some("147258")), 500_000, 1)).await?;
        ensure!(one.approved() && two.approved() && three.approved());
        let void =
            Request::Void { original: (two.batch, two.stan), amount: 30_000, supervisor_pin: SUPERVISOR_PIN.into() };
        ensure!(t.send(&void).await?.approved());
        let refund = Request::Refund {
            original: (one.batch, one.stan, one.message.get_str(13).context("date")?.to_owned()),
            amount: 20_000,
            rrn: one.rrn().context("rrn")?.to_owned(),
            supervisor_pin: SUPERVISOR_PIN.into(),
            reason: "01".into(),
        };
        ensure!(t.send(&refund).await?.approved());
    }
    let day = xingtong_payments::clock::business_day();
    w.engine.clear_day(&day, &|_, _| {}).await?;
    let t1 = w.engine.settlement(&w.mid, &day).await?.context("T+1 settlement")?;
    ensure!(
        (t1.captured_minor, t1.captured_count, t1.returned_minor, t1.returned_count) == (630_000, 3, 50_000, 2),
        "{t1:?}"
    );
    ensure!(
        (t1.fees_minor, t1.surcharge_minor, t1.net_minor, t1.payout_minor) == (2_400, 0, 577_600, 577_600),
        "{t1:?}"
    );
    ensure!(t1.payout_date == xingtong_payments::clearing::next_day(&day), "{t1:?}");
    let nets: Vec<i64> = w.engine.settlement_lines(&t1).await?.iter().map(|l| l.net_minor).collect();
    ensure!(nets == [99_500, 29_820, 498_000, -29_820, -19_900], "{nets:?}");
    let same_day = w.engine.settlement(&d0.0, &day).await?.context("D0 settlement")?;
    ensure!(
        (same_day.fees_minor, same_day.surcharge_minor, same_day.net_minor, same_day.payout_minor)
            == (2_400, 290, 577_310, 577_310),
        "{same_day:?}"
    );
    ensure!(same_day.payout_date == day);
    let surcharges: Vec<i64> = w.engine.settlement_lines(&same_day).await?.iter().map(|l| l.surcharge_minor).collect();
    ensure!(surcharges == [50, 15, 250, -15, -10], "{surcharges:?}");
    w.balanced().await
}

/// Payouts through the sandbox bank: a T+1 payout waits for its day and is paid; one to a closed
/// account fails, its money back on the merchant's balance, and is paid once the merchant changes
/// the card (with the one-time code); one whose answer is lost is resolved by asking, never paid
/// twice. The ledger balances after each step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_fail_are_retried_after_a_card_change_and_lost_answers_are_asked_about() -> anyhow::Result<()> {
    use xingtong_merchants::notify::Template;
    use xingtong_payments::bank::{SandboxAccount, SandboxBank};
    use xingtong_payments::payouts::{Payout, PayoutStatus};
    let w = crate::world().await?;
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    let closed = onboard(&w.merchants, 2).await?;
    let lossy = onboard(&w.merchants, 3).await?;
    let bank = SandboxBank::new(w.engine.store().clone());
    // The three merchants applied with the same card: make the failures by holder name and state.
    // The first two share card 6222021234567890128; give the lossy one a card of its own first.
    crate::change_card(&w, &lossy.0, "6225880137654327").await?;
    bank.set_account(SandboxAccount {
        card_number: "6225880137654327".into(),
        state: "open".into(),
        holder: None,
        lose_answers: 1,
    })
    .await?;
    let debit = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    for (i, (mid, tid, tmk)) in
        [(w.mid.clone(), w.tid.clone(), w.tmk.clone()), closed.clone(), lossy.clone()].into_iter().enumerate()
    {
        let config = TerminalConfig {
            tid,
            mid,
            tmk,
            state_dir: Some(w.dir.path().join(format!("payout-{i}"))),
            reply_timeout: Duration::from_secs(10),
            fsync: false,
        };
        let mut t = Terminal::open(config, w.address).await?;
        ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
        ensure!(t.send(&Request::Sale(read(&debit, Some("147258")), 100_000, 1)).await?.approved());
    }
    let day = xingtong_payments::clock::business_day();
    let tomorrow = xingtong_payments::clearing::next_day(&day);
    w.engine.clear_day(&day, &|_, _| {}).await?;
    let payout_of = |mid: &str| Payout::key(&xingtong_payments::clearing::Settlement::key(mid, &day));
    // Not due today (T+1): nothing leaves.
    let report = w.engine.run_payouts(&bank, &day).await?;
    ensure!(report.paid == 0 && report.failed == 0, "{report:?}");
    // The first merchant's card account is fine; the second's is closed before the payout.
    bank.set_account(SandboxAccount {
        card_number: "6222021234567890128".into(),
        state: "open".into(),
        holder: None,
        lose_answers: 0,
    })
    .await?;
    crate::change_card(&w, &closed.0, "6217000010000000006").await?;
    bank.set_account(SandboxAccount {
        card_number: "6217000010000000006".into(),
        state: "closed".into(),
        holder: None,
        lose_answers: 0,
    })
    .await?;
    let payable = |mid: &str| chart::merchant_account_id(mid, chart::ACCOUNT_MERCHANT_SETTLEMENT).context("id");
    let in_transit = chart::platform_account_id(chart::ACCOUNT_PAYOUTS_IN_TRANSIT);
    let report = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(report.paid == 1 && report.failed == 1 && report.unknown == 1, "{report:?}");
    w.balanced().await?;
    let paid = w.engine.payout(&payout_of(&w.mid)).await?.context("payout")?.value;
    ensure!(paid.status == PayoutStatus::Paid && paid.amount_minor == 99_500, "{paid:?}");
    let failed = w.engine.payout(&payout_of(&closed.0)).await?.context("payout")?.value;
    ensure!(failed.status == PayoutStatus::Failed, "{failed:?}");
    ensure!(w.account(payable(&closed.0)?).await? == 99_500, "the failed payout is back on the merchant's balance");
    let unknown = w.engine.payout(&payout_of(&lossy.0)).await?.context("payout")?.value;
    ensure!(unknown.status == PayoutStatus::Sending, "{unknown:?}");
    ensure!(w.account(in_transit).await? == 99_500, "only the unanswered payout is in transit");
    // The merchant is told of both outcomes.
    let outbox = w.merchants.notifications(&staff, &[]).await?;
    ensure!(outbox.iter().any(|n| n.value.template == Template::PayoutPaid));
    ensure!(outbox.iter().any(|n| n.value.template == Template::PayoutFailed && n.value.text.contains("账户")));

    // Again: the lost answer is asked about (paid, once); the failed one waits for a new card.
    let report = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(report.paid == 1 && report.retried == 0 && report.failed == 0, "{report:?}");
    let resolved = w.engine.payout(&payout_of(&lossy.0)).await?.context("payout")?.value;
    ensure!(resolved.status == PayoutStatus::Paid && resolved.attempts.len() == 1, "paid once: {resolved:?}");
    // The merchant fixes the card: the next run pays it, once.
    crate::change_card(&w, &closed.0, "6225880137654327").await?;
    let report = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(report.retried == 1 && report.paid == 1, "{report:?}");
    let retried = w.engine.payout(&payout_of(&closed.0)).await?.context("payout")?.value;
    ensure!(retried.status == PayoutStatus::Paid && retried.attempts.len() == 2, "{retried:?}");
    ensure!(w.account(payable(&closed.0)?).await? == 0 && w.account(in_transit).await? == 0);
    let bank_account = chart::platform_account_id(chart::ACCOUNT_SETTLEMENT_BANK);
    // Credited once per payout: the money left the platform's account at the settlement bank.
    ensure!(w.account(bank_account).await? == 3 * 99_500, "three payouts left the settlement bank");
    let report = w.engine.run_payouts(&bank, &tomorrow).await?;
    ensure!(report.paid == 0 && report.retried == 0, "nothing more: {report:?}");
    w.balanced().await
}

/// The server's own runs: a closed day is cleared once (recorded, so the next tick does not clear
/// it again), and its payouts are paid when due.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_tick_clears_a_closed_day_once_and_pays_what_is_due() -> anyhow::Result<()> {
    use xingtong_payments::bank::SandboxBank;
    let w = crate::world().await?;
    let bank = SandboxBank::new(w.engine.store().clone());
    let debit = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    ensure!(t.send(&Request::Sale(read(&debit, Some("147258")), 50_000, 1)).await?.approved());
    let day = xingtong_payments::clock::business_day();
    let tomorrow = xingtong_payments::clearing::next_day(&day);
    let first = w.engine.scheduled_tick(&bank, &day, &tomorrow, false).await?;
    ensure!(first.cleared.as_ref().is_some_and(|r| r.cleared == 1) && first.payouts.paid == 1, "{first:?}");
    let second = w.engine.scheduled_tick(&bank, &day, &tomorrow, false).await?;
    ensure!(second.cleared.is_none() && second.payouts.paid == 0, "cleared and paid once: {second:?}");
    let audit = w.engine.store().audit_log(Some(("scheduled_run".into(), format!("clearing-{day}"))), 0, 10).await?;
    ensure!(audit.len() == 1 && audit[0].action == "clearing.run.ok", "{audit:?}");
    w.balanced().await
}

/// At the cut-off, a batch its terminal never settled is closed with the host's totals and the
/// next batch opens; once a day, recorded; a batch settled by its terminal is left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_no_terminal_settled_are_closed_at_the_cut_off() -> anyhow::Result<()> {
    use xingtong_payments::bank::SandboxBank;
    use xingtong_payments::settle::BatchStatus;
    let w = crate::world().await?;
    let bank = SandboxBank::new(w.engine.store().clone());
    let debit = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let sale = t.send(&Request::Sale(read(&debit, Some("147258")), 12_300, 1)).await?;
    ensure!(sale.approved());
    let day = xingtong_payments::clock::business_day();
    let before = w.engine.scheduled_tick(&bank, "20000101", &day, false).await?;
    ensure!(before.batches_closed.is_none(), "not before the cut-off");
    let tick = w.engine.scheduled_tick(&bank, "20000101", &day, true).await?;
    ensure!(tick.batches_closed == Some(1), "{tick:?}");
    let batch = w.engine.batch(&w.tid, sale.batch).await?.context("closed")?.value;
    ensure!(batch.status == BatchStatus::ClosedAtCutOff && batch.terminal.is_none(), "{batch:?}");
    ensure!(batch.host.domestic.debit_minor == 12_300 && batch.host.domestic.debit_count == 1, "{batch:?}");
    ensure!(w.engine.current_batch(&w.tid).await?.0 == sale.batch + 1, "the next batch is open");
    let again = w.engine.scheduled_tick(&bank, "20000101", &day, true).await?;
    ensure!(again.batches_closed.is_none(), "once a day: {again:?}");
    // The terminal's late settlement of the closed batch is answered as the batch was closed.
    let late = t.settle(1, &xingtong_pos::BatchTotals::default()).await?;
    ensure!(late.approved(), "{late:?}");
    w.balanced().await
}

/// A day cleared while open (a D0 sweep, or a run by hand) is cleared again later for what came
/// after: every transaction in exactly one settlement; a settled one can no longer be reversed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_day_cleared_twice_settles_each_transaction_once() -> anyhow::Result<()> {
    let w = crate::world().await?;
    let card = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let origin = |batch: u32, stan: u32| crate::reversal_origin(&w.tid, &w.mid, batch, stan);
    let a = t.send(&Request::Sale(read(&card, Some("147258")), 30_000, 1)).await?;
    ensure!(a.approved());
    let day = xingtong_payments::clock::business_day();
    let first = w.engine.clear_day(&day, &|_, _| {}).await?;
    ensure!(first.cleared == 1 && first.lines == 1, "{first:?}");
    // The cleared sale's money went to the merchant's settlement: its reversal is refused (12).
    let refused = w.engine.reverse(&origin(a.batch, a.stan), 30_000).await?;
    ensure!(xingtong_payments::cup::response_code(refused).code == "12", "{refused:?}");
    // Later that day: two sales, one reversed before any clearing saw it.
    let b = t.send(&Request::Sale(read(&card, Some("147258")), 12_000, 1)).await?;
    let c = t.send(&Request::Sale(read(&card, Some("147258")), 7_000, 1)).await?;
    ensure!(b.approved() && c.approved());
    ensure!(w.engine.reverse(&origin(c.batch, c.stan), 7_000).await?.is_approved());
    let second = w.engine.clear_day(&day, &|_, _| {}).await?;
    ensure!(second.cleared == 1 && second.lines == 1, "only the new sale: {second:?}");
    let third = w.engine.clear_day(&day, &|_, _| {}).await?;
    ensure!(third.cleared == 0 && third.already_cleared == 1, "{third:?}");
    let all = w.engine.settlements_of_day(&w.mid, &day).await?;
    ensure!(all.len() == 2 && all[1].seq == 2 && all[1].id.ends_with("_2"), "{all:?}");
    ensure!(all[0].captured_minor == 30_000 && all[1].captured_minor == 12_000, "{all:?}");
    let ids = w.engine.settled_ids(&w.mid, &day).await?;
    ensure!(ids.len() == 2, "each sale in one settlement: {ids:?}");
    // Everything the merchant earned left the payable, in the two payouts.
    ensure!(w.merchant_balance().await? == 0);
    let in_transit = w.account(chart::platform_account_id(chart::ACCOUNT_PAYOUTS_IN_TRANSIT)).await?;
    ensure!(in_transit == i128::from(all[0].payout_minor + all[1].payout_minor), "{in_transit}");
    w.balanced().await
}

/// D0 merchants are swept each hour: today's sales so far are settled and paid today; a T+1
/// merchant's wait for the day's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_d0_sweep_settles_and_pays_d0_merchants_the_same_day() -> anyhow::Result<()> {
    // Sweeps leave transactions younger than the reversal grace to the next one: with the
    // default ten minutes, a sale just made waits.
    let waiting = crate::world().await?;
    let card = waiting.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    waiting.merchants.set_settlement_cycle(&staff, &waiting.mid, SettlementCycle::D0).await?;
    let mut t = waiting.terminal(10_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    ensure!(t.send(&Request::Sale(read(&card, Some("147258")), 20_000, 1)).await?.approved());
    let today = xingtong_payments::clock::business_day();
    let early = waiting.engine.d0_sweep(&today, 10).await?.context("the 10:00 sweep")?;
    ensure!(early.cleared == 0, "a sale of a moment ago waits: {early:?}");
    drop(t);
    // The rest with no grace, as if every sale were old enough.
    let dir = tempfile::tempdir()?;
    let database = xingtong_store::Database::Sqlite { data_dir: dir.path().into() };
    let config = xingtong_payments::Config { reversal_grace_s: 0, ..xingtong_payments::Config::default() };
    let w = crate::world_on(dir, database, config).await?;
    let staff = Principal::Staff { id: "test".into(), roles: Role::ALL.to_vec() };
    w.merchants.set_settlement_cycle(&staff, &w.mid, SettlementCycle::D0).await?;
    let card = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    ensure!(t.send(&Request::Sale(read(&card, Some("147258")), 20_000, 1)).await?.approved());
    let today = xingtong_payments::clock::business_day();
    ensure!(w.engine.d0_sweep(&today, 0).await?.is_none(), "no sweep at midnight: the day's clearing runs");
    let swept = w.engine.d0_sweep(&today, 10).await?.context("the 10:00 sweep")?;
    ensure!(swept.cleared == 1 && swept.merchants == 1, "{swept:?}");
    ensure!(w.engine.d0_sweep(&today, 10).await?.is_none(), "once an hour");
    let settlement = w.engine.settlement(&w.mid, &today).await?.context("settlement")?;
    ensure!(settlement.payout_date == today && settlement.surcharge_minor == 10, "{settlement:?}");
    let bank = xingtong_payments::bank::SandboxBank::new(w.engine.store().clone());
    let paid = w.engine.run_payouts(&bank, &today).await?;
    ensure!(paid.paid == 1 && paid.paid_minor == settlement.payout_minor, "paid today: {paid:?}");
    // A later sale waits for the next sweep; a T+1 merchant is not swept.
    ensure!(t.send(&Request::Sale(read(&card, Some("147258")), 5_000, 1)).await?.approved());
    let next = w.engine.d0_sweep(&today, 11).await?.context("the 11:00 sweep")?;
    ensure!(next.cleared == 1 && next.lines == 1, "{next:?}");
    w.merchants.set_settlement_cycle(&staff, &w.mid, SettlementCycle::T1).await?;
    ensure!(t.send(&Request::Sale(read(&card, Some("147258")), 5_000, 1)).await?.approved());
    let t1 = w.engine.d0_sweep(&today, 12).await?.context("the 12:00 sweep")?;
    ensure!(t1.merchants == 0 && t1.cleared == 0, "{t1:?}");
    w.balanced().await
}

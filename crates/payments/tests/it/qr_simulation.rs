//! A simulation of QR money paths: hundreds of random operations (payment codes paid, dynamic and
//! static orders made, scanned, closed and left to expire, refunds and voids, repeated and forged
//! notifications, wallet outages, time passing), then the invariants checked to the fen: the
//! ledger balances, no money appears or vanishes, each wallet holds exactly what our records say
//! it paid and got back, each wallet's own books agree with ours order by order, and nothing is
//! left pending, open or owed.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, ensure};
use xingtong_payments::network::Funding;
use xingtong_payments::order::OrderSpec;
use xingtong_payments::qr::Scheme;
use xingtong_payments::sandbox_wallet::{OrderStatus, SandboxWallet};
use xingtong_payments::scan::{QrOpen, WalletRefundDue};
use xingtong_payments::txn::{BusinessType, CardTransaction, Kind, Status};
use xingtong_payments::{Answer, chart};

use crate::World;
use crate::qr::{origin, qr_world, wallet};

/// A small deterministic generator (xorshift64*), so that a failure can be replayed with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len() as u64) as usize])
    }
}

async fn count<T: xingtong_merchants::entity::Entity>(w: &World) -> anyhow::Result<usize> {
    let found: Vec<xingtong_merchants::entity::Stored<T>> =
        xingtong_merchants::entity::list(w.engine.store(), xingtong_store::RecordQuery::kind(T::KIND)).await?;
    Ok(found.len())
}

/// The money in the wallets, the merchant's payable, fee revenue and clearing together.
async fn total(w: &World, accounts: &[u128], wallets: &[SandboxWallet]) -> anyhow::Result<i128> {
    let mut sum: i128 = 0;
    for id in accounts {
        sum += w.account(*id).await?;
    }
    for wallet in wallets {
        sum += i128::from(w.wallets.balance(wallet).await?);
    }
    Ok(sum)
}

fn recorded(answer: &Answer) -> Option<CardTransaction> {
    answer.transaction.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_qr_operations_keep_every_fen_where_the_records_say() -> anyhow::Result<()> {
    let seed = std::env::var("XINGTONG_SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x005E_ED0F_0A11);
    let result = simulate(seed).await;
    result.with_context(|| format!("seed {seed} (XINGTONG_SIM_SEED={seed} replays it)"))
}

async fn simulate(seed: u64) -> anyhow::Result<()> {
    let w = qr_world().await?;
    // Any seed, 0 included, gives a generator state that is not zero.
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03);
    let schemes = Scheme::ALL;
    let mut wallets: Vec<SandboxWallet> = Vec::new();
    let mut initial: HashMap<String, i64> = HashMap::new();
    for i in 0..6 {
        let balance = [5_000, 200_000, 1_000_000][i % 3];
        let made = wallet(&w, schemes[i % 3], balance, |_| {}).await?;
        initial.insert(made.id.clone(), balance);
        wallets.push(made);
    }
    let accounts = [
        chart::platform_account_id(chart::ACCOUNT_CARD_CLEARING),
        chart::platform_account_id(chart::ACCOUNT_FEE_REVENUE),
        chart::merchant_account_id(&w.mid, chart::ACCOUNT_MERCHANT_SETTLEMENT).context("merchant account")?,
    ];
    let before = total(&w, &accounts, &wallets).await?;
    let payable_before = w.merchant_balance().await?;

    let mut stan = 0u32;
    let mut next_stan = || {
        stan += 1;
        stan
    };
    // Sales that may have been paid (to refund or void), and orders made (to scan or close).
    let mut sales: Vec<u32> = Vec::new();
    let mut orders: Vec<(String, Scheme)> = Vec::new();
    let mut down: Vec<Scheme> = Vec::new();
    for step in 0..300 {
        let roll = rng.below(100);
        let context = || format!("step {step} (roll {roll})");
        match roll {
            // The cashier scans a payment code.
            0..=19 => {
                let payer = rng.pick(&wallets).context("a wallet")?.clone();
                let code = w.wallets.new_payment_code(&payer.id).await?.code;
                let amount = 1 + rng.below(30_000) as i64;
                let s = next_stan();
                let answer = w
                    .engine
                    .qr_pay(&origin(&w, s), &code, amount, BusinessType::Sale, (None, None))
                    .await
                    .with_context(context)?;
                if recorded(&answer).is_some_and(|t| t.status == Status::Approved) {
                    sales.push(s);
                }
            }
            // A dynamic code.
            20..=39 => {
                let scheme = schemes[rng.below(3) as usize];
                let amount = 1 + rng.below(30_000) as i64;
                let lifetime = Some(Duration::from_secs(60 + rng.below(3_600)));
                let spec = OrderSpec {
                    scheme,
                    amount_minor: amount,
                    lifetime,
                    business_type: BusinessType::Sale,
                    customer: (None, None),
                };
                let s = next_stan();
                let answer = w.engine.qr_order(&origin(&w, s), spec).await.with_context(context)?;
                if let Some(t) = recorded(&answer).filter(|t| t.status == Status::Pending) {
                    orders.push((t.id, scheme));
                    sales.push(s);
                }
            }
            // Someone scans an order's code (perhaps with the wrong app, or too little money).
            40..=54 => {
                if let Some((id, scheme)) = rng.pick(&orders).cloned() {
                    // Mostly an app of the order's wallet; now and then another's.
                    let fitting: Vec<SandboxWallet> = wallets.iter().filter(|x| x.scheme == scheme).cloned().collect();
                    let payer = if rng.below(5) == 0 { rng.pick(&wallets) } else { rng.pick(&fitting) };
                    let payer = payer.context("a wallet")?.clone();
                    let t = w.engine.transaction_by_id(&id).await?.context("the order")?.value;
                    if let Some(url) = t.qr.as_ref().and_then(|q| q.order.as_ref()).and_then(|o| o.code_url.clone()) {
                        // Refusals (closed, expired, wrong wallet, short balance, down) are the
                        // app's to show; the invariants say whether they were right.
                        let _ = w.wallets.pay_code_url(&payer.id, &url).await;
                    }
                }
            }
            // The cashier closes an order.
            55..=59 => {
                if let Some((id, _)) = rng.pick(&orders).cloned() {
                    w.engine.close_qr_order(&id).await.with_context(context)?;
                }
            }
            // A payer pays at the static code.
            60..=64 => {
                let payer = rng.pick(&wallets).context("a wallet")?.clone();
                let amount = 1 + rng.below(30_000) as i64;
                let s = next_stan();
                let answer = w
                    .engine
                    .static_qr_order(&origin(&w, s), payer.scheme, &payer.id, amount)
                    .await
                    .with_context(context)?;
                if let Some(t) = recorded(&answer).filter(|t| t.status == Status::Pending) {
                    sales.push(s);
                    let url = t.qr.as_ref().and_then(|q| q.order.as_ref()).and_then(|o| o.code_url.clone());
                    if let Some(url) = url {
                        let _ = w.wallets.pay_code_url(&payer.id, &url).await;
                    }
                    orders.push((t.id, payer.scheme));
                }
            }
            // A refund, sometimes more than what remains.
            65..=76 => {
                if let Some(&original) = rng.pick(&sales) {
                    let amount = 1 + rng.below(20_000) as i64;
                    let s = next_stan();
                    w.engine
                        .refund(&origin(&w, s), (1, original), amount, Some("01".into()))
                        .await
                        .with_context(context)?;
                }
            }
            // A void of a whole sale.
            77..=81 => {
                if let Some(&original) = rng.pick(&sales) {
                    let t = w.engine.transaction(&w.tid, 1, original).await?.map(|t| t.value);
                    if let Some(t) = t {
                        let s = next_stan();
                        w.engine
                            .void(&origin(&w, s), (1, original), t.amount_minor, Kind::Void)
                            .await
                            .with_context(context)?;
                    }
                }
            }
            // A wallet sends a notification again; or a forger sends one.
            82..=87 => {
                if let Some((id, scheme)) = rng.pick(&orders).cloned() {
                    let sent = w.wallets.notifications_of(&id).await?;
                    if let Some(n) = sent.first() {
                        if roll.is_multiple_of(2) {
                            w.engine
                                .wallet_notification(scheme, n.body.as_bytes(), &n.signature)
                                .await
                                .with_context(context)?;
                        } else {
                            let forged = n.body.replace("SUCCESS", "SUCCESS ");
                            let refused = w.engine.wallet_notification(scheme, forged.as_bytes(), &n.signature).await;
                            ensure!(refused.err().map(|e| e.code) == Some("bad_signature"), "{}", context());
                        }
                    }
                }
            }
            // A wallet goes down, or comes back.
            88..=92 => {
                // Outages are short: one that is down mostly comes back next.
                if let Some(&scheme) = rng.pick(&down).filter(|_| rng.below(10) < 7) {
                    w.wallets.set_outage(scheme, false);
                    down.retain(|s| *s != scheme);
                } else {
                    let scheme = schemes[rng.below(3) as usize];
                    w.wallets.set_outage(scheme, true);
                    if !down.contains(&scheme) {
                        down.push(scheme);
                    }
                }
            }
            // Time passes, and the minute's sweep runs.
            _ => {
                w.engine.clock().advance(rng.below(600));
                w.engine.finish_open_qr_orders().await.with_context(context)?;
            }
        }
        w.balanced().await.with_context(context)?;
    }

    // Every wallet back, every order's time up, the sweep run: nothing may be left over.
    for scheme in schemes {
        w.wallets.set_outage(scheme, false);
    }
    w.engine.clock().advance(3 * 3_600);
    tokio::time::sleep(Duration::from_millis(300)).await;
    w.engine.finish_open_qr_orders().await?;
    w.engine.finish_open_qr_orders().await?;
    w.balanced().await?;
    ensure!(count::<QrOpen>(&w).await? == 0, "an order is still open");
    ensure!(count::<WalletRefundDue>(&w).await? == 0, "a refund is still owed to a wallet");

    // No money appeared or vanished: the wallets, the merchant, the fees and clearing together.
    ensure!(total(&w, &accounts, &wallets).await? == before, "money appeared or vanished");

    let txns = w.engine.batch_transactions(&w.mid, &w.tid, 1).await?;
    ensure!(txns.iter().all(|t| t.status != Status::Pending), "a transaction is still pending");
    let by_account: HashMap<u128, String> =
        wallets.iter().map(|x| (x.account_id.parse().unwrap_or(0), x.id.clone())).collect();
    let mut expected = initial.clone();
    let (mut paid, mut given_back) = (0, 0);
    for t in &txns {
        let Some(Funding::Ledger(account)) = t.funding else { continue };
        let Some(payer) = by_account.get(&account) else { continue };
        let balance = expected.get_mut(payer).context("a wallet")?;
        match (t.kind, t.status) {
            (Kind::Sale, Status::Approved | Status::Voided) => {
                *balance -= t.amount_minor;
                paid += 1;
            }
            (Kind::Refund | Kind::Void, Status::Approved) => {
                *balance += t.amount_minor;
                given_back += 1;
            }
            _ => {}
        }
    }
    // Each wallet holds exactly what our records say it paid and got back.
    for x in &wallets {
        let actual = w.wallets.balance(x).await?;
        ensure!(actual == expected[&x.id], "{}: {actual} in the wallet, {} by our records", x.id, expected[&x.id]);
    }
    // Each wallet's own books agree with ours, order by order.
    for t in txns.iter().filter(|t| t.kind == Kind::Sale && t.qr.is_some()) {
        let order = w.wallets.order(&t.id).await?.map(|o| o.value);
        match t.status {
            Status::Approved | Status::Voided => {
                let order = order.with_context(|| format!("{} paid here, unknown to its wallet", t.id))?;
                let back = if t.status == Status::Voided { t.amount_minor } else { t.refunded_minor };
                ensure!(order.status == OrderStatus::Paid, "{}: paid here, {:?} at the wallet", t.id, order.status);
                ensure!(
                    order.refunded_minor == back,
                    "{}: {back} given back here, {} at the wallet",
                    t.id,
                    order.refunded_minor
                );
                ensure!(t.refunded_minor <= t.amount_minor);
            }
            _ => {
                if let Some(order) = order {
                    ensure!(order.status != OrderStatus::Paid, "{}: not paid here, paid at the wallet", t.id);
                }
            }
        }
    }
    ensure!(paid >= 20 && given_back >= 5, "the simulation exercised payments ({paid}) and refunds ({given_back})");
    // The sales report of every day adds up to what the ledger owes the merchant, to the fen, and
    // counts what the records hold.
    let report = xingtong_payments::reports::sales_report(
        w.engine.store(),
        &w.mid,
        "20000101",
        "29991231",
        xingtong_payments::reports::Period::Day,
        xingtong_payments::reports::By::Method,
    )
    .await?;
    let owed = w.merchant_balance().await? - payable_before;
    ensure!(
        i128::from(report.totals.net_minor) == owed,
        "report net {} against {owed} in the ledger",
        report.totals.net_minor
    );
    let sales = txns.iter().filter(|t| t.kind == Kind::Sale && matches!(t.status, Status::Approved | Status::Voided));
    ensure!(report.totals.sales_count == sales.clone().count() as i64);
    ensure!(report.totals.sales_minor == sales.map(|t| t.amount_minor).sum::<i64>());
    ensure!(report.lines.iter().all(|l| l.key != "card"), "QR payments only: {:?}", report.lines);
    let mut codes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for t in &txns {
        *codes.entry(format!("{:?}/{}", t.kind, t.decline.map_or("-", |r| r.code()))).or_default() += 1;
    }
    eprintln!("simulation seed {seed}: {} transactions, {paid} paid, {given_back} given back; {codes:?}", txns.len());
    Ok(())
}

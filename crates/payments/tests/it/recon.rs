//! Reconciliation against the sandbox network's clearing file: balanced when nothing was injected
//! (every line the clearing settled, matched), each injected discrepancy reported once with what
//! to do, the same report on every run, and malformed files refused.

use anyhow::{Context, ensure};
use xingtong_payments::card::{Brand, CardType};
use xingtong_payments::recon::{ClearingFile, FaultKind, ItemClass, inject_fault, parse};
use xingtong_pos::Request;

use crate::{CASHIER_PIN, SUPERVISOR_PIN, read};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_file_is_matched_and_each_injected_discrepancy_reported_once() -> anyhow::Result<()> {
    let w = crate::world().await?;
    let card = w.card(Brand::Unionpay, CardType::Debit, 10_000_000, |_| {}).await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let mut sales = Vec::new();
    for amount in [30_000, 12_345, 8_800, 5_000] {
        let r = t.send(&Request::Sale(read(&card, Some("147258")), amount, 1)).await?;
        ensure!(r.approved(), "{r:?}");
        sales.push((
            r.batch,
            r.stan,
            amount,
            r.rrn().context("rrn")?.to_owned(),
            r.message.get_str(13).context("date")?.to_owned(),
        ));
    }
    // The second sale is voided, the third partly refunded, the fourth reversed.
    let (batch, stan, amount, ..) = sales[1].clone();
    let void = Request::Void { original: (batch, stan), amount, supervisor_pin: SUPERVISOR_PIN.into() };
    let voided = t.send(&void).await?;
    ensure!(voided.approved());
    let (batch, stan, _, rrn, date) = sales[2].clone();
    let refund = Request::Refund {
        original: (batch, stan, date),
        amount: 1_000,
        rrn,
        supervisor_pin: SUPERVISOR_PIN.into(),
        reason: "01".into(),
    };
    ensure!(t.send(&refund).await?.approved());
    let (batch, stan, amount, ..) = sales[3].clone();
    let origin = crate::reversal_origin(&w.tid, &w.mid, batch, stan);
    ensure!(w.engine.reverse(&origin, amount).await?.is_approved());

    // Nothing injected: every line of the day's settlement is matched.
    let day = xingtong_payments::clock::business_day();
    w.engine.clear_day(&day, &|_, _| {}).await?;
    let settled = w.engine.settlement(&w.mid, &day).await?.context("settlement")?;
    let report = w.engine.reconcile_day(&day, None, "test").await?;
    ensure!(report.status == "balanced" && report.items.is_empty() && report.version == 1, "{report:?}");
    ensure!(report.matched == u64::from(settled.lines) && report.matched == 5, "{report:?}");
    ensure!(report.matched_minor == 30_000 + 12_345 + 8_800 + 12_345 + 1_000, "{report:?}");
    ensure!(w.engine.reconcile_day(&day, None, "test").await? == report, "run again: the same report, kept");

    // Injected: the network never saw the void, approved the reversed sale late, and has 1.00
    // more on the first sale.
    let id = |(batch, stan): (u32, u32)| xingtong_payments::txn::CardTransaction::key(&w.tid, batch, stan);
    let store = w.engine.store();
    let void_id = id((voided.batch, voided.stan));
    let (first, reversed) = (id((sales[0].0, sales[0].1)), id((sales[3].0, sales[3].1)));
    inject_fault(store, &void_id, FaultKind::Omit, 0, "test").await?;
    inject_fault(store, &reversed, FaultKind::LateApproval, 0, "test").await?;
    inject_fault(store, &first, FaultKind::Amount, 100, "test").await?;
    // A fault that cannot happen is refused.
    let error = inject_fault(store, &first, FaultKind::LateApproval, 0, "test").await.err().context("refused")?;
    ensure!(error.code == "fault_does_not_apply", "{error:?}");

    let report = w.engine.reconcile_day(&day, None, "test").await?;
    ensure!(report.status == "discrepancies" && report.matched == 3, "{report:?}");
    ensure!((report.host_only, report.network_only, report.amount_mismatches) == (1, 1, 1), "{report:?}");
    let find = |txn: &str| report.items.iter().find(|i| i.txn_id == txn).context("item");
    let omitted = find(&void_id)?;
    ensure!(omitted.class == ItemClass::HostOnly && omitted.txn_type == "void" && omitted.host_minor == Some(12_345));
    ensure!(omitted.action_en.contains("never received this return"), "{omitted:?}");
    let late = find(&reversed)?;
    ensure!(
        late.class == ItemClass::NetworkOnly && late.host_status == "reversed" && late.network_minor == Some(5_000)
    );
    ensure!(late.difference_minor == 5_000 && late.action_zh.contains("长款"), "{late:?}");
    let more = find(&first)?;
    ensure!(more.class == ItemClass::AmountMismatch && more.difference_minor == 100, "{more:?}");
    ensure!(report.version == 2, "the faults made a second version: {}", report.version);
    let again = w.engine.reconcile_day(&day, None, "test").await?;
    ensure!(again == report, "the same report again");
    // A day to come has no file yet.
    let error = w.engine.reconcile_day(&xingtong_payments::clearing::next_day(&day), None, "test").await.err();
    ensure!(error.as_ref().is_some_and(|e| e.code == "no_clearing_file"), "{error:?}");
    ensure!(w.engine.reconciliation(&day).await?.as_ref() == Some(&report));

    // A file is read strictly: cut short, tampered with, or of another day, it is refused.
    let file = w.engine.network().clearing_file(&day).await?.context("file")?;
    let (file_day, lines) = parse(&file.text)?;
    ensure!(file_day == day && lines.len() == 5, "{}", file.text);
    let cut: String = file.text.lines().take(3).map(|l| format!("{l}\n")).collect();
    let tampered = file.text.replacen(&format!("{:012}", 8_800), &format!("{:012}", 8_900), 1);
    for text in [cut, tampered] {
        let error = w
            .engine
            .reconcile_day(&day, Some(ClearingFile { name: "x".into(), text }), "test")
            .await
            .err()
            .context("refused")?;
        ensure!(error.code == "invalid_clearing_file", "{error:?}");
    }
    let error = w.engine.reconcile_day("20200101", Some(file), "test").await.err().context("another day")?;
    ensure!(error.code == "invalid_clearing_file", "{error:?}");
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_tick_reconciles_a_closed_day_once() -> anyhow::Result<()> {
    let w = crate::world().await?;
    let card = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let mut t = w.terminal(10_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    ensure!(t.send(&Request::Sale(read(&card, Some("147258")), 4_200, 1)).await?.approved());
    let bank = xingtong_payments::bank::SandboxBank::new(w.engine.store().clone());
    let day = xingtong_payments::clock::business_day();
    let tomorrow = xingtong_payments::clearing::next_day(&day);
    let tick = w.engine.scheduled_tick(&bank, &day, &tomorrow, false).await?;
    let report = tick.reconciled.context("reconciled")?;
    ensure!(report.status == "balanced" && report.matched == 1, "{report:?}");
    // Each wallet's (empty) bill too, once.
    let sources: Vec<&str> = tick.wallets_reconciled.iter().map(|r| r.source.as_str()).collect();
    ensure!(sources == ["wechat", "alipay", "unionpay_qr"], "{sources:?}");
    ensure!(tick.wallets_reconciled.iter().all(|r| r.status == "balanced" && r.network_lines == 0));
    let again = w.engine.scheduled_tick(&bank, &day, &tomorrow, false).await?;
    ensure!(again.reconciled.is_none() && again.cleared.is_none(), "once: {again:?}");
    ensure!(again.wallets_reconciled.is_empty(), "once: {again:?}");
    Ok(())
}

/// docs/settlement.md §6: the example file is read as the document says.
#[test]
fn the_documents_clearing_file_is_read_as_described() -> anyhow::Result<()> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/settlement.md"))?;
    let block = doc.split("<!-- clearing-file -->").nth(1).context("the example")?;
    let text: String = block.split("```").nth(1).context("its code block")?.trim_start_matches('\n').to_owned();
    let (day, lines) = parse(&text)?;
    ensure!(day == "20261127" && lines.len() == 3, "{lines:?}");
    ensure!(lines[0].code == "S22" && lines[0].amount_minor == 30_000 && lines[0].stan == 1 && lines[0].batch == 1);
    ensure!(lines[2].code == "S31" && lines[2].amount_minor == 12_345 && lines[2].rrn == "000000000003");
    ensure!(lines[1].tid == "10000001" && lines[1].mid == "898310053990001" && lines[1].auth_code == "123457");
    // What the host writes reads back the same.
    ensure!(xingtong_payments::recon::parse(&xingtong_payments::recon::render(&day, &lines))?.1 == lines);
    Ok(())
}

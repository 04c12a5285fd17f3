//! The terminal protocol as docs/iso8583.md states it, over a real TCP gateway: what the host
//! refuses at the edge and with which code, and that every reply to a MACed request it could
//! authenticate carries a MAC that verifies.

use anyhow::{Context, ensure};
use xingtong_iso8583::cup::{self, SettlementTotals};
use xingtong_iso8583::{Message, Mti};
use xingtong_payments::card::{Brand, CardType};
use xingtong_pos::{Request, Terminal};

use crate::{CASHIER_PIN, SUPERVISOR_PIN, World, read, world};

/// Sends `m` as it is after MACing it; the reply must carry a MAC that verifies.
async fn exchange_maced(t: &mut Terminal, m: &mut Message) -> anyhow::Result<Message> {
    let packed = t.mac(m)?;
    let reply = t.exchange_raw(packed).await?;
    ensure!(t.reply_mac_ok(&reply), "the reply's MAC verifies: {reply:?} {:?}", reply.get_str(39));
    ensure!(reply.get(11) == m.get(11) && reply.get(41) == m.get(41), "the reply matches: {reply:?}");
    Ok(reply)
}

/// A request forged from a sale the terminal built, edited by `edit`, and its reply's code.
async fn forged_sale(
    w: &World,
    t: &mut Terminal,
    request: &Request,
    edit: impl FnOnce(&mut Message),
) -> anyhow::Result<(String, Message)> {
    let mut m = t.build(request)?;
    edit(&mut m);
    let reply = exchange_maced(t, &mut m).await?;
    let stan = m.get_str(11).context("STAN")?.parse()?;
    ensure!(w.engine.transaction(&w.tid, t.batch(), stan).await?.is_none(), "nothing is recorded under {stan}");
    Ok((reply.get_str(39).unwrap_or_default().to_owned(), reply))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_at_the_edge_carry_a_mac_and_record_nothing() -> anyhow::Result<()> {
    let w = world().await?;
    let mut t = w.terminal(5_000).await?;
    let signed = t.sign_in(1, CASHIER_PIN).await?;
    // The open batch is 60.2 of the sign-in reply; the host sends no field 32.
    let f60 = cup::Field60::parse(signed.message.get(60).context("60")?)?;
    ensure!(signed.approved() && f60.batch == t.batch() && !signed.message.has(32), "{signed:?}");
    let card = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let sale = Request::Sale(read(&card, Some("147258")), 1_000, 1);

    // Terminal STANs are 000001–899999: the host's range and 000000 are refused at the edge (30).
    for stan in ["900009", "000000", "999999"] {
        let (code, _) = forged_sale(&w, &mut t, &sale, |m| {
            m.set(11, stan);
        })
        .await?;
        ensure!(code == "30", "STAN {stan}: {code}");
    }
    // Field 49 other than 156 on a CNY merchant: 58, not approved.
    let (code, _) = forged_sale(&w, &mut t, &sale, |m| {
        m.set(49, "840");
    })
    .await?;
    ensure!(code == "58", "USD at a CNY merchant: {code}");
    // Mandatory fields: 53 on a sale; 26 whenever 52 carries the cardholder's PIN.
    for (field, what) in [(53, "field 53"), (26, "field 26 with 52")] {
        let (code, _) = forged_sale(&w, &mut t, &sale, |m| {
            m.remove(field);
        })
        .await?;
        ensure!(code == "30", "a sale without {what}: {code}");
    }
    // Another merchant's number under this terminal's keys: 03.
    let (code, _) = forged_sale(&w, &mut t, &sale, |m| {
        m.set(42, "898310053999999");
    })
    .await?;
    ensure!(code == "03", "{code}");
    // A debit card without a PIN: the issuer declines 55.
    let no_pin = t.send(&Request::Sale(read(&card, None), 1_000, 1)).await?;
    ensure!(no_pin.code == "55" && t.reply_mac_ok(&no_pin.message), "{no_pin:?}");
    // And the terminal goes on: the next sale is approved, its reply MACed.
    let ok = t.send(&sale).await?;
    ensure!(ok.approved() && t.reply_mac_ok(&ok.message), "{ok:?}");
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_requests_are_answered_40_with_a_mac() -> anyhow::Result<()> {
    let w = world().await?;
    let mut t = w.terminal(5_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    // A financial MTI with a processing code the profile does not know: 40, MACed.
    let card = w.card(Brand::Unionpay, CardType::Debit, 100_000, |_| {}).await?;
    let mut unknown = t.build(&Request::Sale(read(&card, Some("147258")), 100, 1))?;
    unknown.set(3, "990000");
    let reply = exchange_maced(&mut t, &mut unknown).await?;
    ensure!(reply.get_str(39) == Some("40"), "{reply:?}");
    // Without a valid MAC the host cannot know who asks: A0, no MAC.
    let mut settlement = Message::new(Mti::new("0500")?);
    settlement.set(11, "000702").set(41, w.tid.clone()).set(42, w.mid.clone());
    settlement.set(48, SettlementTotals::default().to_bytes()?).set(49, "156");
    settlement.set(60, format!("00{:06}201", t.batch())).set(63, cup::operator_field(1));
    let mut forged = settlement.clone();
    t.mac(&mut forged)?;
    forged.set(49, "840");
    let reply = t.exchange_raw(forged.pack(cup::spec())?).await?;
    ensure!(reply.get_str(39) == Some("A0") && !reply.has(64), "{reply:?}");
    // A batch upload for a batch never settled: 25, MACed.
    let mut upload = Message::new(Mti::new("0320")?);
    upload.set(11, "000703").set(41, w.tid.clone()).set(42, w.mid.clone());
    upload.set(48, "0000").set(60, format!("00{:06}202", t.batch()));
    let reply = exchange_maced(&mut t, &mut upload).await?;
    ensure!(reply.mti.as_str() == "0330" && reply.get_str(39) == Some("25"), "{reply:?}");
    w.balanced().await
}

/// Settlement over TCP as a CUP terminal does it: a batch whose totals agree is balanced and
/// closed, the next batch opens; a batch where the terminal missed a reply is not, the terminal
/// uploads its batch and ends the upload, and the host records the transaction it has alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_settlement_balanced_and_unbalanced_with_batch_upload() -> anyhow::Result<()> {
    use xingtong_payments::settle::BatchStatus;
    use xingtong_pos::{BatchTotals, Totals as PosTotals};
    let w = world().await?;
    let mut t = w.terminal(5_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let unionpay = w.card(Brand::Unionpay, CardType::Debit, 1_000_000, |_| {}).await?;
    let visa = w.card(Brand::Visa, CardType::Credit, 1_000_000, |_| {}).await?;
    // Batch 1: two sales (one voided, one partly refunded) and a Visa sale.
    let first = t.batch();
    let a = t.send(&Request::Sale(read(&unionpay, Some("147258")), 10_000, 1)).await?;
    let b = t.send(&Request::Sale(read(&unionpay, Some("147258")), 2_500, 1)).await?;
    let v = t.send(&Request::Sale(read(&visa, None), 7_000, 1)).await?;
    ensure!(a.approved() && b.approved() && v.approved(), "{a:?} {b:?} {v:?}");
    let void = Request::Void { original: (b.batch, b.stan), amount: 2_500, supervisor_pin: SUPERVISOR_PIN.into() };
    ensure!(t.send(&void).await?.approved());
    let refund = Request::Refund {
        original: (a.batch, a.stan, a.message.get_str(13).context("date")?.to_owned()),
        amount: 4_000,
        rrn: a.rrn().context("rrn")?.to_owned(),
        supervisor_pin: SUPERVISOR_PIN.into(),
        reason: "01".into(),
    };
    ensure!(t.send(&refund).await?.approved());
    let totals = BatchTotals {
        // Debits: both sales (a voided sale stays a debit); credits: the void and the refund.
        domestic: PosTotals { debit_minor: 12_500, debit_count: 2, credit_minor: 6_500, credit_count: 2 },
        foreign: PosTotals { debit_minor: 7_000, debit_count: 1, credit_minor: 0, credit_count: 0 },
    };
    let settled = t.settle(1, &totals).await?;
    let verdict = settled.verdict().context("a verdict in field 48")?;
    ensure!(settled.approved() && verdict.balanced() && t.reply_mac_ok(&settled.message), "{settled:?}");
    ensure!(settled.settlement_date().is_some_and(|d| d.len() == 4), "field 15: {settled:?}");
    ensure!(t.end_batch_upload(0, true).await?.approved());
    let batch = w.engine.batch(&w.tid, first).await?.context("recorded")?.value;
    ensure!(batch.status == BatchStatus::Balanced && batch.host.foreign.debit_minor == 7_000, "{batch:?}");
    // Asked again (the terminal missed the reply), the host answers the same.
    let again = t.settle(1, &totals).await?;
    ensure!(again.verdict() == Some(verdict), "{again:?}");
    // Asked again with other totals, the answer is still the first one, totals and verdict.
    let other =
        BatchTotals { domestic: PosTotals { debit_minor: 1, debit_count: 1, ..PosTotals::default() }, ..totals };
    let replay = t.settle(1, &other).await?;
    ensure!(replay.message.get(48) == settled.message.get(48), "the first answer: {replay:?}");
    // A reversal of a transaction of the settled batch is refused (12): what it counted stays.
    let origin = xingtong_payments::Origin {
        tid: w.tid.clone(),
        mid: w.mid.clone(),
        batch: first,
        stan: v.stan,
        operator: "01".into(),
        channel: "iso8583",
        fresh: false,
        binding: None,
        session_version: None,
    };
    ensure!(
        xingtong_payments::cup::response_code(w.engine.reverse(&origin, 7_000).await?)
            == xingtong_iso8583::ResponseCode::INVALID_TRANSACTION
    );
    let kept = w.engine.transaction(&w.tid, first, v.stan).await?.context("the Visa sale")?;
    ensure!(kept.value.status == xingtong_payments::txn::Status::Approved, "{:?}", kept.value.status);
    // The old batch is closed: a sale in it is refused; the terminal moves on.
    let late = t.send(&Request::Sale(read(&unionpay, Some("147258")), 100, 1)).await?;
    ensure!(late.code == "12", "a sale in a settled batch: {late:?}");
    let second = t.open_next_batch()?;
    ensure!(second == first + 1);

    // Batch 2: three sales, but the terminal "missed" the reply of the second (no reversal).
    let mut kept = Vec::new();
    for amount in [1_000, 2_000, 3_000] {
        let sale = t.send(&Request::Sale(read(&unionpay, Some("147258")), amount, 1)).await?;
        ensure!(sale.approved(), "{sale:?}");
        kept.push((sale.stan, amount));
    }
    let missed = kept.remove(1);
    let mut domestic = PosTotals::default();
    for (_, amount) in &kept {
        domestic.add(*amount as u64, true);
    }
    let settled = t.settle(1, &BatchTotals { domestic, ..BatchTotals::default() }).await?;
    let verdict = settled.verdict().context("verdict")?;
    ensure!(settled.approved() && verdict.domestic == 2 && verdict.foreign == 1, "{verdict:?}");
    let items: Vec<cup::BatchItem> = kept
        .iter()
        .map(|(stan, amount)| cup::BatchItem {
            card_organisation: "00".into(),
            stan: *stan,
            pan: unionpay.pan.expose().to_owned(),
            amount: *amount as u64,
        })
        .collect();
    ensure!(t.upload_batch(&items).await? == 2);
    // Uploaded twice: 94, which the terminal takes as success.
    ensure!(t.upload_batch(&items).await? == 2);
    // An upload of no item, or of an organisation other than 00 and 01: 30, MACed.
    for field48 in ["00".to_owned(), format!("0102{:06}{:020}{:012}", kept[0].0, 0, kept[0].1)] {
        let mut empty = Message::new(Mti::new("0320")?);
        empty.set(11, format!("{:06}", 800_000 + field48.len())).set(41, w.tid.clone()).set(42, w.mid.clone());
        empty.set(48, field48).set(60, format!("00{second:06}201"));
        let reply = exchange_maced(&mut t, &mut empty).await?;
        ensure!(reply.get_str(39) == Some("30") && t.reply_mac_ok(&reply), "{reply:?}");
    }
    let ended = t.end_batch_upload(2, false).await?;
    ensure!(ended.approved() && t.reply_mac_ok(&ended.message), "{ended:?}");
    let batch = w.engine.batch(&w.tid, second).await?.context("recorded")?.value;
    ensure!(batch.status == BatchStatus::Reconciled && batch.upload_end_count == Some(2), "{batch:?}");
    ensure!(
        batch.differences.len() == 1
            && batch.differences[0].stan == missed.0
            && batch.differences[0].kind == "host_only"
            && batch.differences[0].host_minor == Some(missed.1 as u64),
        "the missed sale is the host's alone: {:?}",
        batch.differences
    );
    w.balanced().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_must_name_its_original_by_rrn_and_date() -> anyhow::Result<()> {
    let w = world().await?;
    let mut t = w.terminal(5_000).await?;
    ensure!(t.sign_in(1, CASHIER_PIN).await?.approved());
    let card = w.card(Brand::Unionpay, CardType::Debit, 100_000, |_| {}).await?;
    let sale = t.send(&Request::Sale(read(&card, Some("147258")), 10_000, 1)).await?;
    ensure!(sale.approved(), "{sale:?}");
    let rrn = sale.rrn().context("rrn")?.to_owned();
    // The original date is field 13 of the original's reply: MMDD, China time.
    let date = sale.message.get_str(13).context("date")?.to_owned();
    let other_date = if date == "0101" { "0102".to_owned() } else { "0101".to_owned() };
    let refund = |rrn: &str, date: &str| Request::Refund {
        original: (sale.batch, sale.stan, date.to_owned()),
        amount: 1_000,
        rrn: rrn.to_owned(),
        supervisor_pin: SUPERVISOR_PIN.into(),
        reason: "01".into(),
    };
    let wrong_rrn = t.send(&refund("999999999999", &date)).await?;
    ensure!(wrong_rrn.code == "25" && t.reply_mac_ok(&wrong_rrn.message), "{wrong_rrn:?}");
    let wrong_date = t.send(&refund(&rrn, &other_date)).await?;
    ensure!(wrong_date.code == "25" && t.reply_mac_ok(&wrong_date.message), "{wrong_date:?}");
    // Field 37 is mandatory on a refund: without it, 30.
    let mut m = t.build(&refund(&rrn, &date))?;
    m.remove(37);
    let reply = exchange_maced(&mut t, &mut m).await?;
    ensure!(reply.get_str(39) == Some("30"), "{reply:?}");
    let right = t.send(&refund(&rrn, &date)).await?;
    ensure!(right.approved(), "{right:?}");
    ensure!(w.balance_of(&card).await? == 100_000 - 10_000 + 1_000);
    // A void names its original by batch and STAN, and by RRN when it gives field 37.
    let mut void = t.build(&Request::Void {
        original: (sale.batch, sale.stan),
        amount: 10_000,
        supervisor_pin: SUPERVISOR_PIN.into(),
    })?;
    void.set(37, "999999999999");
    let reply = exchange_maced(&mut t, &mut void).await?;
    ensure!(reply.get_str(39) == Some("25"), "{reply:?}");
    w.balanced().await
}

//! The worked examples of docs/iso8583.md, read from the document itself and decoded, so that the
//! document a terminal vendor reads cannot drift from the code.

use xingtong_crypto::{Key, MacAlgorithm, WorkingKeys};
use xingtong_iso8583::cup::{self, SettlementTotals, Totals, Transaction, settlement_result};
use xingtong_iso8583::{Frame, Message};

const DOC: &str = include_str!("../../../../docs/iso8583.md");
const TMK: &str = "70F2A84CCBC2AE8625CBB0F2C22AB923";

/// The hex block tagged `name` (```hex name), decoded as a frame.
fn example(name: &str) -> (Frame, Message) {
    let marker = format!("```hex {name}\n");
    let start = DOC.find(&marker).unwrap_or_else(|| panic!("docs/iso8583.md has no example {name}")) + marker.len();
    let end = start + DOC[start..].find("\n```").expect("the block ends");
    let bytes = hex::decode(DOC[start..end].trim()).expect("the example is hex");
    assert_eq!(Frame::announced_len(&bytes), Some(bytes.len() - 2), "{name}: the length prefix is right");
    let frame = Frame::decode(&bytes[2..]).expect("the example is a frame");
    let message = Message::unpack(cup::spec(), &frame.message).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(frame.encode(), bytes, "{name}: re-encodes to the same bytes");
    (frame, message)
}

fn mac_verifies(frame: &Frame, message: &Message, mac_key: &Key) -> bool {
    let mab = Message::mac_input(&frame.message, message).expect("field 64 is last");
    MacAlgorithm::CupEcb.verify(&mac_key.left_half(), mab, message.get(64).expect("a MAC"))
}

#[test]
fn sign_in_example() {
    let (request, message) = example("sign-in-request");
    assert_eq!(Transaction::classify(&message), Ok(Transaction::SignIn));
    assert_eq!(Transaction::SignIn.check_fields(&message), Ok(()), "the table's mandatory fields are there");
    assert_eq!(
        (message.get_str(41), message.get_str(42), message.get_str(63)),
        (Some("16688014"), Some("898100012340001"), Some("01 "))
    );
    assert_eq!(cup::Field60::parse(message.get(60).unwrap()).unwrap().network_code, "003");
    // The operator's PIN block, under the TMK, over the stand-in PAN 0000 + TID + 0.
    let tmk = Key::from_hex(TMK).unwrap();
    let clear = tmk.decrypt_block(message.get(52).unwrap().try_into().unwrap());
    let pin = xingtong_crypto::decode_pin_block_format0(clear, "0000166880140").unwrap();
    assert_eq!(pin.expose(), "123456");
    let (reply, message) = example("sign-in-response");
    assert_eq!(reply.tpdu, request.tpdu.swapped());
    assert_eq!((message.mti.as_str(), message.get_str(39), message.get_str(11)), ("0810", Some("00"), Some("000001")));
    // What the host sends: 60.2 is the open batch; no field 32, no MAC.
    assert_eq!(cup::Field60::parse(message.get(60).unwrap()).unwrap().batch, 1);
    assert!(!message.has(32) && !message.has(64));
    assert_eq!(
        (message.get_str(12), message.get_str(13), message.get_str(37)),
        (Some("143015"), Some("1122"), Some("143015000001"))
    );
    let keys =
        WorkingKeys::from_field62(message.get(62).unwrap(), &Key::from_hex(TMK).unwrap()).expect("check values match");
    assert_eq!(&*keys.pin_key.expose_hex(), "0123456789ABCDEFFEDCBA9876543210");
    assert_eq!(&*keys.mac_key.expose_hex(), "C24A8FB57AA20123C24A8FB57AA20123");
    assert_eq!(hex::encode_upper(keys.pin_key.check_value()), "08D7B4FB");
    assert_eq!(hex::encode_upper(keys.mac_key.check_value()), "0547DB3E");
}

#[test]
fn sale_example() {
    let (frame, message) = example("sale-request");
    assert_eq!(Transaction::classify(&message), Ok(Transaction::Sale));
    assert_eq!(Transaction::Sale.check_fields(&message), Ok(()), "the table's mandatory fields are there");
    assert_eq!((message.get_str(26), message.get_str(49)), (Some("06"), Some("156")));
    assert_eq!(cup::Field60::parse(message.get(60).unwrap()).unwrap().network_code, "000", "60.3 left out");
    assert_eq!(
        (message.get_str(4), message.get_str(11), message.get_str(22)),
        (Some("000000000051"), Some("001834"), Some("021"))
    );
    assert_eq!(message.get(64), Some(&b"8A9E91B8"[..]));
    assert!(mac_verifies(&frame, &message, &Key::from_hex("C24A8FB57AA20123").unwrap()));
}

#[test]
fn settlement_example() {
    let mac_key = Key::from_hex("C24A8FB57AA20123C24A8FB57AA20123").unwrap();
    let (request, message) = example("settlement-request");
    assert_eq!(Transaction::classify(&message), Ok(Transaction::Settlement));
    assert_eq!(Transaction::Settlement.check_fields(&message), Ok(()));
    let totals = SettlementTotals::parse(message.get(48).unwrap()).unwrap();
    assert_eq!(
        totals.domestic,
        Totals { debit_amount: 123_456, debit_count: 3, credit_amount: 5_000, credit_count: 1 }
    );
    assert_eq!((totals.domestic_result, totals.foreign), (settlement_result::REQUEST, Totals::default()));
    assert!(mac_verifies(&request, &message, &mac_key));
    let (reply, message) = example("settlement-response");
    assert_eq!(reply.tpdu, request.tpdu.swapped());
    let totals = SettlementTotals::parse(message.get(48).unwrap()).unwrap();
    assert_eq!(
        (totals.domestic_result, totals.foreign_result),
        (settlement_result::BALANCED, settlement_result::BALANCED)
    );
    assert!(mac_verifies(&reply, &message, &mac_key));
}

#[test]
fn qr_sale_example() {
    let mac_key = Key::from_hex("C24A8FB57AA20123").unwrap();
    let (request, message) = example("qr-sale-request");
    assert_eq!(Transaction::classify(&message), Ok(Transaction::QrSale));
    assert_eq!(Transaction::QrSale.check_fields(&message), Ok(()), "the table's mandatory fields are there");
    assert_eq!(cup::qr_payment_code(message.get(57).unwrap()), Some("134567890123456789"));
    assert_eq!(
        (message.get_str(4), message.get_str(11), message.get_str(22), message.get_str(63)),
        (Some("000000002500"), Some("000042"), Some("032"), Some("01 1"))
    );
    assert!(!message.has(2) && !message.has(35) && !message.has(52) && !message.has(53));
    assert!(mac_verifies(&request, &message, &mac_key));
    let (reply, message) = example("qr-sale-response");
    assert_eq!(reply.tpdu, request.tpdu.swapped());
    assert_eq!((message.mti.as_str(), message.get_str(39), message.get_str(63)), ("0210", Some("00"), Some("WXP")));
    let qr = cup::QrReply::parse(message.get(57).unwrap()).unwrap();
    assert_eq!((qr.wallet.as_str(), qr.paid, qr.reason.as_str()), ("WXP", true, "00"));
    assert_eq!(qr.wallet_txn_id, "20261128000000123456");
    assert_eq!((message.get_str(37), message.get_str(38)), (Some("143530000042"), Some("123456")));
    assert!(mac_verifies(&reply, &message, &mac_key));
}

#[test]
fn qr_order_example() {
    let mac_key = Key::from_hex("C24A8FB57AA20123").unwrap();
    let (request, message) = example("qr-order-request");
    assert_eq!(Transaction::classify(&message), Ok(Transaction::QrOrder));
    assert_eq!(Transaction::QrOrder.check_fields(&message), Ok(()), "the table's mandatory fields are there");
    assert_eq!(
        cup::QrRequest::parse(message.get(57).unwrap()),
        Some(cup::QrRequest::Order { wallet: "ALP".into(), minutes: None })
    );
    assert_eq!((message.get_str(4), message.get_str(11)), (Some("000000004200"), Some("000043")));
    assert!(mac_verifies(&request, &message, &mac_key));
    let (reply, message) = example("qr-order-response");
    assert_eq!(reply.tpdu, request.tpdu.swapped());
    assert_eq!((message.mti.as_str(), message.get_str(39), message.get_str(63)), ("0210", Some("00"), Some("ALP")));
    let qr = cup::QrReply::parse(message.get(57).unwrap()).unwrap();
    assert_eq!((qr.paid, qr.reason.as_str()), (false, "00"));
    assert_eq!(qr.code_url.as_deref(), Some("xtsandbox://alipay/Ab3dEfGh2kMnPq7r"));
    assert!(!message.has(38) && message.get_str(37) == Some("143530000043"));
    assert!(mac_verifies(&reply, &message, &mac_key));

    let (request, message) = example("qr-query-request");
    assert_eq!(Transaction::classify(&message), Ok(Transaction::QrOrder));
    assert_eq!(cup::QrRequest::parse(message.get(57).unwrap()), Some(cup::QrRequest::Query(43)));
    assert_eq!(message.get_str(11), Some("000044"));
    assert!(mac_verifies(&request, &message, &mac_key));
    let (reply, message) = example("qr-query-response");
    let qr = cup::QrReply::parse(message.get(57).unwrap()).unwrap();
    assert_eq!((qr.paid, qr.wallet_txn_id.as_str(), qr.code_url), (true, "2026112822001456789012654321", None));
    assert_eq!(
        (message.get_str(11), message.get_str(12), message.get_str(37), message.get_str(38), message.get_str(39)),
        (Some("000044"), Some("143530"), Some("143530000043"), Some("654321"), Some("00"))
    );
    assert!(mac_verifies(&reply, &message, &mac_key));
}

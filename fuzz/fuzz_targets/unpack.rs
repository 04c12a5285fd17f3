//! Frames and messages from arbitrary bytes: nothing may panic, and whatever unpacks must pack back
//! to the very same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xingtong_iso8583::cup::{self, Field60, Field61, SettlementTotals, Transaction, parse_batch_items};
use xingtong_iso8583::{FRAME_LEN_MAX, Frame, Message};

fuzz_target!(|data: &[u8]| {
    // As a frame off the wire.
    if let Some(len) = Frame::announced_len(data) {
        if Frame::check_len(len, FRAME_LEN_MAX).is_ok() && data.len() >= 2 + len {
            if let Ok(frame) = Frame::decode(&data[2..2 + len]) {
                let _ = Message::unpack_lenient(cup::spec(), &frame.message);
            }
        }
    }
    // As a bare message.
    if let Ok(message) = Message::unpack(cup::spec(), data) {
        assert_eq!(message.pack(cup::spec()).expect("an unpacked message packs"), data);
        let _ = Transaction::classify(&message);
        let _ = message.describe(cup::spec());
        for (field, parse) in [(60u8, 0u8), (61, 1), (48, 2), (48, 3)] {
            if let Some(value) = message.get(field) {
                match parse {
                    0 => drop(Field60::parse(value)),
                    1 => drop(Field61::parse(value)),
                    2 => drop(SettlementTotals::parse(value)),
                    _ => drop(parse_batch_items(value)),
                }
            }
        }
    }
});

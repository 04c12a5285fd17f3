//! The codec end to end: a published CUP sale, whole-message round trips, hostile input.

use proptest::prelude::*;
use xingtong_iso8583::cup::{self, Field60, Transaction};
use xingtong_iso8583::spec::{Encoding, FieldSpec, Length, Spec};
use xingtong_iso8583::{Location, Message, Mti, Problem};

/// The MAC demo sale of reference/iso8583.md §3–4 (a public tutorial's expired 2013 test card):
/// everything from the MTI to the end of field 63.
const SALE_MAB: &str = "0200302004C020C0981100000000000000005100183402100006324392260009942820D1312101120084393136363838303134303030303030303030303030303031313536ACF46E73838A82F92600000000000000000822000001";

#[test]
fn the_published_sale_decodes_field_by_field_and_its_mac_verifies() {
    let mut packed = hex::decode(SALE_MAB).unwrap();
    packed.extend_from_slice(b"8A9E91B8");
    let message = Message::unpack(cup::spec(), &packed).unwrap();
    assert_eq!(message.mti.as_str(), "0200");
    let expect: &[(u8, &str)] = &[
        (3, "000000"),
        (4, "000000000051"),
        (11, "001834"),
        (22, "021"),
        (25, "00"),
        (26, "06"),
        (35, "4392260009942820=131210112008439"),
        (41, "16688014"),
        (42, "000000000000001"),
        (49, "156"),
        (53, "2600000000000000"),
        (60, "22000001"),
    ];
    for (field, value) in expect {
        assert_eq!(message.get_str(*field), Some(*value), "field {field}");
    }
    assert_eq!(message.get(52), Some(&hex::decode("ACF46E73838A82F9").unwrap()[..]));
    assert_eq!(Transaction::classify(&message), Ok(Transaction::Sale));
    assert_eq!(Field60::parse(message.get(60).unwrap()).unwrap().batch, 1);
    // Packing again gives the same bytes, and the MAC covers exactly the published MAB.
    assert_eq!(message.pack(cup::spec()).unwrap(), packed);
    let mab = Message::mac_input(&packed, &message).unwrap();
    assert_eq!(hex::encode_upper(mab), SALE_MAB);
    let tak = xingtong_crypto::Key::from_hex("C24A8FB57AA20123").unwrap();
    assert!(xingtong_crypto::MacAlgorithm::CupEcb.verify(&tak, mab, message.get(64).unwrap()));
    // pack_with_mac produces the same frame from the fields alone.
    let mut rebuilt = message.clone();
    rebuilt.remove(64);
    let repacked = rebuilt.pack_with_mac(cup::spec(), |mab| xingtong_crypto::cup_ecb_mac(&tak, mab)).unwrap();
    assert_eq!(repacked, packed);
}

#[test]
fn describe_masks_the_card_and_omits_secrets() {
    let mut packed = hex::decode(SALE_MAB).unwrap();
    packed.extend_from_slice(b"8A9E91B8");
    let mut message = Message::unpack(cup::spec(), &packed).unwrap();
    message.set(2, "6222021234567890123");
    let line = message.describe(cup::spec());
    assert!(line.starts_with("0200 "), "{line}");
    assert!(line.contains("F2=622202*********0123"), "{line}");
    assert!(line.contains("F35=<32 omitted>") && line.contains("F52=<8 omitted>"), "{line}");
    assert!(!line.contains("4392260009942820") && !line.contains("ACF46E73"), "{line}");
    assert!(line.contains("F4=000000000051") && line.contains("F41=16688014"), "{line}");
    let debug = format!("{message:?}");
    assert!(!debug.contains("6222021234567890123"), "{debug}");
}

#[test]
fn errors_say_which_field_and_what() {
    let mut packed = hex::decode(SALE_MAB).unwrap();
    packed.extend_from_slice(b"8A9E91B8");
    let cases: Vec<(Vec<u8>, Location)> = vec![
        (packed[..1].to_vec(), Location::Mti),
        (packed[..6].to_vec(), Location::Bitmap),
        (packed[..30].to_vec(), Location::Field(35)),
        (packed[..packed.len() - 1].to_vec(), Location::Field(64)),
        ([&packed[..], &[0u8][..]].concat(), Location::Field(64)),
    ];
    for (bytes, location) in cases {
        let error = Message::unpack(cup::spec(), &bytes).unwrap_err();
        assert_eq!(error.location, location, "{error}");
    }
    // A bitmap naming a field the profile lacks.
    let mut odd = packed.clone();
    odd[2] |= 0x01; // bit 8
    let error = Message::unpack(cup::spec(), &odd).unwrap_err();
    assert_eq!((error.location, error.problem.clone()), (Location::Field(8), Problem::NotInProfile));
    assert_eq!(error.to_string(), "field 8: is present but not defined by this profile");
    // What was read before the error is kept, for the reply.
    let (partial, error) = Message::unpack_lenient(cup::spec(), &packed_prefix(30));
    let partial = partial.unwrap();
    assert_eq!(error.unwrap().location, Location::Field(35));
    assert_eq!(
        (partial.get_str(11), partial.get_str(4), partial.has(35)),
        (Some("001834"), Some("000000000051"), false)
    );
    assert!(Message::unpack_lenient(cup::spec(), &[0xFF]).0.is_none());
    // A non-BCD MTI.
    let mut bad = packed;
    bad[0] = 0xA2;
    assert_eq!(Message::unpack(cup::spec(), &bad).unwrap_err().location, Location::Mti);
}

fn packed_prefix(len: usize) -> Vec<u8> {
    hex::decode(SALE_MAB).unwrap()[..len].to_vec()
}

#[test]
fn secondary_bitmaps_carry_fields_65_to_128() {
    let spec = Spec::new(
        "test",
        &[
            FieldSpec::new(3, "processing code", Encoding::Bcd, Length::Fixed(6)),
            FieldSpec::new(70, "network code", Encoding::Bcd, Length::Fixed(3)),
            FieldSpec::new(128, "MAC", Encoding::Binary, Length::Fixed(8)),
        ],
    );
    let mut message = Message::new(Mti::new("0800").unwrap());
    message.set(3, "990000").set(70, "301").set(128, [7u8; 8]);
    let packed = message.pack(&spec).unwrap();
    assert_eq!(packed[2] & 0x80, 0x80, "bit 1 announces the secondary bitmap");
    assert_eq!(packed.len(), 2 + 16 + 3 + 2 + 8);
    assert_eq!(Message::unpack(&spec, &packed).unwrap(), message);
    // An announced but empty secondary bitmap is refused (found by fuzzing: it does not round-trip).
    let empty = [&[0x08, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0][..], &[0u8; 8][..]].concat();
    assert_eq!(Message::unpack(&spec, &empty).unwrap_err().problem, Problem::EmptySecondaryBitmap);
    let mut tertiary = packed;
    tertiary[10] |= 0x80;
    assert_eq!(Message::unpack(&spec, &tertiary).unwrap_err().problem, Problem::Unsupported);
}

/// A valid value for a CUP field.
fn value_for(spec: FieldSpec) -> BoxedStrategy<Vec<u8>> {
    let (min, max) = match spec.length {
        Length::Fixed(n) => (usize::from(n), usize::from(n)),
        Length::Ll(n) | Length::Lll(n) => (0, usize::from(n).min(120)),
    };
    let byte = match spec.encoding {
        Encoding::Bcd => prop::sample::select(b"0123456789".to_vec()).boxed(),
        Encoding::Track => prop::sample::select(b"0123456789=".to_vec()).boxed(),
        Encoding::Ascii => (0x20u8..=0x7E).boxed(),
        Encoding::Binary => any::<u8>().boxed(),
    };
    prop::collection::vec(byte, min..=max).boxed()
}

fn any_cup_message() -> impl Strategy<Value = Message> {
    let fields: Vec<FieldSpec> = cup::spec().fields().copied().collect();
    let mti = prop::sample::select(vec!["0100", "0200", "0220", "0320", "0400", "0500", "0800", "0820"]);
    (mti, prop::sample::subsequence(fields.clone(), 0..fields.len())).prop_flat_map(|(mti, chosen)| {
        let values: Vec<_> =
            chosen.into_iter().map(|spec| value_for(spec).prop_map(move |v| (spec.number, v))).collect();
        values.prop_map(move |values| {
            let mut message = Message::new(Mti::new(mti).unwrap());
            for (number, value) in values {
                message.set(number, value);
            }
            message
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn whole_messages_round_trip(message in any_cup_message()) {
        let packed = message.pack(cup::spec()).unwrap();
        prop_assert_eq!(Message::unpack(cup::spec(), &packed).unwrap(), message);
    }

    #[test]
    fn unpacking_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(message) = Message::unpack(cup::spec(), &bytes) {
            // Whatever unpacks, packs back to the same bytes.
            prop_assert_eq!(message.pack(cup::spec()).unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_messages_never_panic(message in any_cup_message(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut packed = message.pack(cup::spec()).unwrap();
        let i = at.index(packed.len());
        packed[i] = byte;
        let _ = Message::unpack(cup::spec(), &packed);
        let _ = Message::unpack(cup::spec(), &packed[..i]);
    }
}
mod profile_doc;

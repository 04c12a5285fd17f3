//! A message: MTI, bitmap(s) and fields, packed and unpacked by a [`Spec`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::field;
use crate::spec::{Encoding, Sensitivity, Spec};
use crate::{CodecError, Location, Problem};

/// The field that carries the MAC in a message with only a primary bitmap.
pub const MAC_FIELD: u8 = 64;
/// Bytes of a MAC.
pub const MAC_LEN: usize = 8;

/// A message type indicator: four decimal digits, two BCD bytes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mti([u8; 4]);

impl Mti {
    /// An MTI from its four digits, e.g. `"0200"`.
    pub fn new(text: &str) -> Result<Mti, CodecError> {
        let bytes: [u8; 4] =
            text.as_bytes().try_into().map_err(|_| CodecError::at(Location::Mti, Problem::InvalidCharacter))?;
        if bytes.iter().all(u8::is_ascii_digit) {
            Ok(Mti(bytes))
        } else {
            Err(CodecError::at(Location::Mti, Problem::InvalidCharacter))
        }
    }

    /// The four digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("MTI digits are ASCII")
    }

    /// The response MTI: the third digit plus one (`0200` → `0210`); `None` for a response.
    pub fn response(self) -> Option<Mti> {
        let mut digits = self.0;
        if (digits[2] - b'0') % 2 == 1 {
            return None;
        }
        digits[2] += 1;
        Some(Mti(digits))
    }

    fn to_bcd(self) -> [u8; 2] {
        let d = self.0.map(|b| b - b'0');
        [(d[0] << 4) | d[1], (d[2] << 4) | d[3]]
    }

    fn from_bcd(bytes: [u8; 2]) -> Result<Mti, CodecError> {
        let nibbles = [bytes[0] >> 4, bytes[0] & 0x0F, bytes[1] >> 4, bytes[1] & 0x0F];
        if nibbles.iter().any(|n| *n > 9) {
            return Err(CodecError::at(Location::Mti, Problem::InvalidCharacter));
        }
        Ok(Mti(nibbles.map(|n| b'0' + n)))
    }
}

impl std::fmt::Display for Mti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An ISO 8583 message. Field values are bytes as [`crate::field`] describes them.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// The message type.
    pub mti: Mti,
    fields: BTreeMap<u8, Vec<u8>>,
}

impl std::fmt::Debug for Message {
    /// Shows the MTI and the field numbers only: values may be secret. Use [`Message::describe`].
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("mti", &self.mti)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Message {
    /// An empty message of type `mti`.
    pub fn new(mti: Mti) -> Message {
        Message { mti, fields: BTreeMap::new() }
    }

    /// Sets field `number` (2 to 128); the spec checks it when packing.
    pub fn set(&mut self, number: u8, value: impl Into<Vec<u8>>) -> &mut Message {
        assert!((2..=128).contains(&number), "field number {number} out of range");
        self.fields.insert(number, value.into());
        self
    }

    /// Removes field `number`.
    pub fn remove(&mut self, number: u8) -> Option<Vec<u8>> {
        self.fields.remove(&number)
    }

    /// Field `number`'s bytes.
    pub fn get(&self, number: u8) -> Option<&[u8]> {
        self.fields.get(&number).map(Vec::as_slice)
    }

    /// Field `number` as text, when it is ASCII (every non-binary field is).
    pub fn get_str(&self, number: u8) -> Option<&str> {
        self.get(number).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// True when field `number` is present.
    pub fn has(&self, number: u8) -> bool {
        self.fields.contains_key(&number)
    }

    /// Present field numbers, ascending.
    pub fn numbers(&self) -> impl Iterator<Item = u8> + '_ {
        self.fields.keys().copied()
    }

    /// Packs the message: MTI, bitmap(s), fields in order.
    pub fn pack(&self, spec: &Spec) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.mti.to_bcd());
        let secondary = self.fields.keys().any(|n| *n > 64);
        let mut bitmap = [0u8; 16];
        if secondary {
            bitmap[0] |= 0x80;
        }
        for &n in self.fields.keys() {
            let bit = usize::from(n - 1);
            bitmap[bit / 8] |= 0x80 >> (bit % 8);
        }
        out.extend_from_slice(&bitmap[..if secondary { 16 } else { 8 }]);
        for (&n, value) in &self.fields {
            let field_spec = spec.field(n).ok_or_else(|| CodecError::field(n, Problem::NotInProfile))?;
            field::pack(field_spec, value, &mut out)?;
        }
        Ok(out)
    }

    /// Packs the message with a MAC in field 64 computed over everything before it.
    pub fn pack_with_mac(
        &mut self,
        spec: &Spec,
        mac: impl FnOnce(&[u8]) -> [u8; MAC_LEN],
    ) -> Result<Vec<u8>, CodecError> {
        self.set(MAC_FIELD, [0u8; MAC_LEN]);
        let mut packed = self.pack(spec)?;
        if self.fields.keys().any(|n| *n > MAC_FIELD) {
            return Err(CodecError::field(MAC_FIELD, Problem::Unsupported));
        }
        let at = packed.len() - MAC_LEN;
        let code = mac(&packed[..at]);
        packed[at..].copy_from_slice(&code);
        self.set(MAC_FIELD, code);
        Ok(packed)
    }

    /// The bytes a MAC in field 64 covers: the packed message up to field 64. `None` when the message
    /// has no field 64 or fields after it.
    pub fn mac_input<'a>(packed: &'a [u8], message: &Message) -> Option<&'a [u8]> {
        let last = message.fields.keys().next_back().copied()?;
        (last == MAC_FIELD && packed.len() >= MAC_LEN).then(|| &packed[..packed.len() - MAC_LEN])
    }

    /// Unpacks a whole message; every byte must belong to it.
    pub fn unpack(spec: &Spec, input: &[u8]) -> Result<Message, CodecError> {
        match Message::unpack_lenient(spec, input) {
            (Some(message), None) => Ok(message),
            (_, Some(error)) => Err(error),
            (None, None) => unreachable!("no message comes with an error"),
        }
    }

    /// Unpacks as far as it can: on an error, the message holds the MTI and every field read before
    /// it (so that a reply can echo the TID and STAN). `None` when not even the MTI was readable.
    pub fn unpack_lenient(spec: &Spec, input: &[u8]) -> (Option<Message>, Option<CodecError>) {
        let mut partial = None;
        let error = Message::unpack_into(spec, input, &mut partial).err();
        (partial, error)
    }

    fn unpack_into(spec: &Spec, input: &[u8], out: &mut Option<Message>) -> Result<(), CodecError> {
        let truncated =
            |location, needed, available| CodecError::at(location, Problem::Truncated { needed, available });
        let mti: [u8; 2] =
            input.get(..2).and_then(|b| b.try_into().ok()).ok_or_else(|| truncated(Location::Mti, 2, input.len()))?;
        let mti = Mti::from_bcd(mti)?;
        let message = out.insert(Message::new(mti));
        let mut at = 2;
        let primary = input.get(at..at + 8).ok_or_else(|| truncated(Location::Bitmap, 8, input.len() - at))?;
        let mut bitmap = [0u8; 16];
        bitmap[..8].copy_from_slice(primary);
        at += 8;
        let secondary = bitmap[0] & 0x80 != 0;
        if secondary {
            let second = input.get(at..at + 8).ok_or_else(|| truncated(Location::Bitmap, 8, input.len() - at))?;
            bitmap[8..].copy_from_slice(second);
            at += 8;
            if bitmap[8] & 0x80 != 0 {
                return Err(CodecError::at(Location::Bitmap, Problem::Unsupported));
            }
            if bitmap[8..].iter().all(|b| *b == 0) {
                // Found by fuzzing: accepted, it would pack back without the secondary bitmap.
                return Err(CodecError::at(Location::Bitmap, Problem::EmptySecondaryBitmap));
            }
        }
        let last_bit = if secondary { 128 } else { 64 };
        for number in 2..=last_bit {
            let bit = usize::from(number - 1);
            if bitmap[bit / 8] & (0x80 >> (bit % 8)) == 0 {
                continue;
            }
            let field_spec = spec.field(number).ok_or_else(|| CodecError::field(number, Problem::NotInProfile))?;
            let (value, used) = field::unpack(field_spec, &input[at..])?;
            message.fields.insert(number, value);
            at += used;
        }
        if at != input.len() {
            let location = message.fields.keys().next_back().map_or(Location::Bitmap, |n| Location::Field(*n));
            return Err(CodecError::at(location, Problem::TrailingBytes(input.len() - at)));
        }
        Ok(())
    }

    /// One line for logs: every field, with card numbers masked (first 6, last 4) and tracks, PIN
    /// blocks and keys replaced by their length.
    pub fn describe(&self, spec: &Spec) -> String {
        let mut out = format!("{}", self.mti);
        for (&n, value) in &self.fields {
            let Some(field_spec) = spec.field(n) else {
                let _ = write!(out, " F{n}=<{} bytes, not in profile>", value.len());
                continue;
            };
            let _ = match (field_spec.sensitivity, field_spec.encoding) {
                (Sensitivity::Secret, _) => write!(out, " F{n}=<{} omitted>", value.len()),
                (Sensitivity::Pan, _) => write!(out, " F{n}={}", mask_pan(value)),
                (Sensitivity::Public, Encoding::Binary) => write!(out, " F{n}={}", hex_upper(value)),
                (Sensitivity::Public, _) => write!(out, " F{n}={}", String::from_utf8_lossy(value)),
            };
        }
        out
    }
}

/// `622202*********0123`: first six and last four digits of a card number, the rest starred.
pub fn mask_pan(pan: &[u8]) -> String {
    if pan.len() < 10 {
        return "*".repeat(pan.len());
    }
    let text = String::from_utf8_lossy(pan);
    let (head, rest) = text.split_at(6);
    let tail = &rest[rest.len() - 4..];
    format!("{head}{}{tail}", "*".repeat(pan.len() - 10))
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    })
}

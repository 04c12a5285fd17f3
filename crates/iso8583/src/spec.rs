//! Field specifications as data: how each field is encoded, how its length is given, how it is
//! aligned, and whether it is secret. A [`Spec`] is a table of them by field number.

/// How a field's content is written on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `n`: decimal digits, packed BCD, two per byte.
    Bcd,
    /// `z`: track data: digits and the separator `=` (sent as the nibble `D`), packed two per byte.
    Track,
    /// `an`/`ans`: printable ASCII, one byte per character.
    Ascii,
    /// `b`: raw bytes.
    Binary,
}

/// How a field's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Always exactly this many units.
    Fixed(u16),
    /// A 1-byte BCD prefix (up to 99 units) then the content; at most this many units.
    Ll(u16),
    /// A 2-byte BCD prefix (up to 999 units) then the content; at most this many units.
    Lll(u16),
}

impl Length {
    /// The most units the field may hold.
    pub const fn max(self) -> usize {
        match self {
            Length::Fixed(n) | Length::Ll(n) | Length::Lll(n) => n as usize,
        }
    }
}

/// Where an odd number of digits is padded, for BCD and track fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Right-aligned: a leading `0` nibble (fixed numeric fields, e.g. n3 `021` as `00 21`).
    Right,
    /// Left-aligned: a trailing `0` nibble (variable fields, and CUP's field 22: `02 10`).
    Left,
}

/// How much of a field may appear in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sensitivity {
    /// Shown as is.
    Public,
    /// A card number: first 6 and last 4 digits shown.
    Pan,
    /// Never shown (tracks, PIN blocks, keys): only its length.
    Secret,
}

/// One field's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Field number, 2 to 128.
    pub number: u8,
    /// What it is, for documentation and logs.
    pub name: &'static str,
    /// Wire encoding.
    pub encoding: Encoding,
    /// Length rule; units are digits for `Bcd`/`Track`, characters for `Ascii`, bytes for `Binary`.
    pub length: Length,
    /// Odd-digit padding side.
    pub align: Align,
    /// What logs may show.
    pub sensitivity: Sensitivity,
}

impl FieldSpec {
    /// A field spec; public, right-aligned unless changed with the builders below.
    pub const fn new(number: u8, name: &'static str, encoding: Encoding, length: Length) -> FieldSpec {
        let align = match length {
            Length::Fixed(_) => Align::Right,
            Length::Ll(_) | Length::Lll(_) => Align::Left,
        };
        FieldSpec { number, name, encoding, length, align, sensitivity: Sensitivity::Public }
    }

    /// Left-aligned even when fixed (CUP's field 22).
    pub const fn left_aligned(mut self) -> FieldSpec {
        self.align = Align::Left;
        self
    }

    /// Masked as a card number in logs.
    pub const fn pan(mut self) -> FieldSpec {
        self.sensitivity = Sensitivity::Pan;
        self
    }

    /// Never shown in logs.
    pub const fn secret(mut self) -> FieldSpec {
        self.sensitivity = Sensitivity::Secret;
        self
    }
}

/// The fields of a profile, by number (1 is the secondary bitmap and is never listed).
#[derive(Debug, Clone)]
pub struct Spec {
    /// Profile name, for logs.
    pub name: &'static str,
    fields: [Option<FieldSpec>; 129],
}

impl Spec {
    /// A profile from its field table. Panics on a table that contradicts itself (a programming
    /// error caught by the profile's own tests): duplicate numbers, number 0, 1 or above 128,
    /// a prefix that cannot express the maximum.
    pub fn new(name: &'static str, table: &[FieldSpec]) -> Spec {
        let mut fields = [None; 129];
        for spec in table {
            let n = usize::from(spec.number);
            assert!((2..=128).contains(&n), "field number {n} out of range");
            assert!(fields[n].is_none(), "field {n} defined twice");
            match spec.length {
                Length::Ll(max) => assert!(max <= 99, "field {n}: LL holds at most 99"),
                Length::Lll(max) => assert!(max <= 999, "field {n}: LLL holds at most 999"),
                Length::Fixed(len) => assert!(len > 0, "field {n}: empty fixed field"),
            }
            fields[n] = Some(*spec);
        }
        Spec { name, fields }
    }

    /// The spec of field `number`, if the profile defines it.
    pub fn field(&self, number: u8) -> Option<&FieldSpec> {
        self.fields.get(usize::from(number)).and_then(Option::as_ref)
    }

    /// Every defined field, in number order.
    pub fn fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().flatten()
    }
}

//! ISO 8583 for XingTong: a codec whose field layouts are data, and the China UnionPay POS profile.
//!
//! # Layout
//! - [`spec`]: how one field is written: [`Encoding`] × [`Length`] × [`Align`], and a message [`Spec`].
//! - [`field`]: packs and unpacks one field by its spec.
//! - [`message`]: [`Message`] (MTI, bitmaps, fields), [`Message::pack`], [`Message::unpack`], and
//!   [`Message::describe`] for logs, which masks the PAN and leaves out tracks, PIN blocks and keys.
//! - [`frame`]: the CUP POS frame: 2-byte length, TPDU, 6-byte header, message.
//! - [`cup`]: the CUP POS field table, sub-field layouts (48, 60, 61, 63) and the message set.
//! - [`response_code`]: field 39 codes with their meaning and what to do, in English and Chinese.
//!
//! # Architecture invariant
//! No I/O, no async, no crypto: bytes in, values out. Unpacking never panics and never allocates
//! more than the input could justify, on any input; every error names the field and the problem.
//! The MAC is computed elsewhere (`xingtong-crypto`) over [`Message::mac_input`].

pub mod cup;
pub mod field;
pub mod frame;
pub mod message;
pub mod response_code;
pub mod spec;

pub use frame::{FRAME_LEN_MAX, Frame, FrameError, HEADER_LEN, TPDU_ID, TPDU_LEN, Tpdu};
pub use message::{Message, Mti};
pub use response_code::ResponseCode;
pub use spec::{Align, Encoding, FieldSpec, Length, Spec};

/// Where a problem is: a field number, or the parts around the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The message type indicator.
    Mti,
    /// The primary or secondary bitmap.
    Bitmap,
    /// A data field.
    Field(u8),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Mti => f.write_str("MTI"),
            Location::Bitmap => f.write_str("bitmap"),
            Location::Field(n) => write!(f, "field {n}"),
        }
    }
}

/// What is wrong at a [`Location`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The input ended early.
    Truncated {
        /// Bytes needed from here.
        needed: usize,
        /// Bytes there were.
        available: usize,
    },
    /// A length prefix is not BCD.
    BadLengthPrefix,
    /// Longer than the field allows.
    TooLong {
        /// The field's maximum, in its units (digits, characters or bytes).
        max: usize,
        /// What was found or given.
        got: usize,
    },
    /// A fixed-length field of the wrong length.
    WrongLength {
        /// The field's length.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// A character the encoding cannot carry (a letter in a numeric field, say).
    InvalidCharacter,
    /// The bitmap names a field the profile does not define.
    NotInProfile,
    /// Bytes left over after the last field.
    TrailingBytes(usize),
    /// Bit 1 of the secondary bitmap, or a tertiary bitmap, which we do not support.
    Unsupported,
    /// A secondary bitmap that names no field: not the canonical encoding of any message.
    EmptySecondaryBitmap,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Truncated { needed, available } => write!(f, "needs {needed} more bytes, only {available} left"),
            Problem::BadLengthPrefix => f.write_str("the length prefix is not BCD"),
            Problem::TooLong { max, got } => write!(f, "length {got} exceeds the maximum {max}"),
            Problem::WrongLength { expected, got } => write!(f, "length {got}, must be exactly {expected}"),
            Problem::InvalidCharacter => f.write_str("holds a character its encoding cannot carry"),
            Problem::NotInProfile => f.write_str("is present but not defined by this profile"),
            Problem::TrailingBytes(n) => write!(f, "{n} bytes follow the last field"),
            Problem::Unsupported => f.write_str("uses a feature this codec does not support"),
            Problem::EmptySecondaryBitmap => f.write_str("announces a secondary bitmap that names no field"),
        }
    }
}

/// A packing or unpacking error: where, and what. Never carries field contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {problem}")]
pub struct CodecError {
    /// Where.
    pub location: Location,
    /// What.
    pub problem: Problem,
}

impl CodecError {
    pub(crate) fn at(location: Location, problem: Problem) -> CodecError {
        CodecError { location, problem }
    }

    pub(crate) fn field(number: u8, problem: Problem) -> CodecError {
        CodecError { location: Location::Field(number), problem }
    }
}

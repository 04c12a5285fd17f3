//! The CUP POS frame: `[2-byte big-endian length][TPDU 5 bytes][header 6 bytes][message]`. The
//! length counts everything after itself. Replies swap the TPDU's addresses.

/// Bytes of the length prefix.
pub const LENGTH_PREFIX_LEN: usize = 2;
/// Bytes of the TPDU.
pub const TPDU_LEN: usize = 5;
/// Bytes of the application header.
pub const HEADER_LEN: usize = 6;
/// The largest frame the host accepts (after the length prefix). A full sale is about 200 bytes,
/// a batch upload under 500; field 62 and 55 stay under 1,000.
pub const FRAME_LEN_MAX: usize = 2_048;
/// The TPDU's first byte, always.
pub const TPDU_ID: u8 = 0x60;

/// The transport protocol data unit: an id byte and two 2-byte addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tpdu {
    /// `0x60`.
    pub id: u8,
    /// Where the frame goes.
    pub destination: [u8; 2],
    /// Where it comes from.
    pub source: [u8; 2],
}

impl Tpdu {
    /// The TPDU of a reply: addresses swapped.
    pub fn swapped(self) -> Tpdu {
        Tpdu { id: self.id, destination: self.source, source: self.destination }
    }

    fn to_bytes(self) -> [u8; TPDU_LEN] {
        [self.id, self.destination[0], self.destination[1], self.source[0], self.source[1]]
    }
}

/// A frame's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Routing.
    pub tpdu: Tpdu,
    /// Application header: application type, software version, terminal status, sub-version.
    pub header: [u8; HEADER_LEN],
    /// The packed ISO 8583 message.
    pub message: Vec<u8>,
}

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than TPDU + header + MTI + bitmap.
    #[error("a frame of {0} bytes is too short to hold a TPDU, a header and a message")]
    TooShort(usize),
    /// Longer than allowed.
    #[error("a frame of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The TPDU does not start with 0x60.
    #[error("the TPDU id is {0:#04x}, not 0x60")]
    BadTpdu(u8),
}

impl Frame {
    /// The length a buffer's prefix announces, once the prefix is there: frames are read by first
    /// checking that a whole frame has arrived, then parsing it.
    pub fn announced_len(buffer: &[u8]) -> Option<usize> {
        let prefix: [u8; 2] = buffer.get(..LENGTH_PREFIX_LEN)?.try_into().ok()?;
        Some(usize::from(u16::from_be_bytes(prefix)))
    }

    /// Checks an announced length before reading that many bytes.
    pub fn check_len(len: usize, max: usize) -> Result<(), FrameError> {
        if len > max {
            return Err(FrameError::TooLong { len, max });
        }
        if len < TPDU_LEN + HEADER_LEN + 10 {
            return Err(FrameError::TooShort(len));
        }
        Ok(())
    }

    /// Splits the bytes after the length prefix into TPDU, header and message.
    pub fn decode(payload: &[u8]) -> Result<Frame, FrameError> {
        if payload.len() < TPDU_LEN + HEADER_LEN + 10 {
            return Err(FrameError::TooShort(payload.len()));
        }
        if payload[0] != TPDU_ID {
            return Err(FrameError::BadTpdu(payload[0]));
        }
        let tpdu = Tpdu { id: payload[0], destination: [payload[1], payload[2]], source: [payload[3], payload[4]] };
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&payload[TPDU_LEN..TPDU_LEN + HEADER_LEN]);
        Ok(Frame { tpdu, header, message: payload[TPDU_LEN + HEADER_LEN..].to_vec() })
    }

    /// The whole frame, length prefix included.
    pub fn encode(&self) -> Vec<u8> {
        let len = TPDU_LEN + HEADER_LEN + self.message.len();
        let len16 = u16::try_from(len).expect("frames are bounded by FRAME_LEN_MAX");
        let mut out = Vec::with_capacity(LENGTH_PREFIX_LEN + len);
        out.extend_from_slice(&len16.to_be_bytes());
        out.extend_from_slice(&self.tpdu.to_bytes());
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&self.message);
        out
    }

    /// The reply frame for this request: addresses swapped, same header.
    pub fn reply(&self, message: Vec<u8>) -> Frame {
        Frame { tpdu: self.tpdu.swapped(), header: self.header, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_replies_swap_addresses() {
        let frame = Frame {
            tpdu: Tpdu { id: TPDU_ID, destination: [0x00, 0x06], source: [0x00, 0x00] },
            header: [0x60, 0x22, 0x00, 0x00, 0x00, 0x00],
            message: vec![0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        let bytes = frame.encode();
        assert_eq!(&bytes[..7], &[0x00, 0x15, 0x60, 0x00, 0x06, 0x00, 0x00]);
        assert_eq!(Frame::announced_len(&bytes), Some(21));
        assert_eq!(Frame::decode(&bytes[2..]).unwrap(), frame);
        let reply = frame.reply(vec![0x08, 0x10, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(reply.tpdu.destination, [0x00, 0x00]);
        assert_eq!(reply.tpdu.source, [0x00, 0x06]);
        assert_eq!(Frame::decode(&[0x60; 5]).unwrap_err(), FrameError::TooShort(5));
        assert_eq!(Frame::decode(&[0x61; 30]).unwrap_err(), FrameError::BadTpdu(0x61));
        assert_eq!(
            Frame::check_len(5_000, FRAME_LEN_MAX).unwrap_err(),
            FrameError::TooLong { len: 5_000, max: FRAME_LEN_MAX }
        );
        assert_eq!(Frame::announced_len(&[0x01]), None);
    }
}

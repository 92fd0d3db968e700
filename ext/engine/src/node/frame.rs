//! Server frames of RFC 6455 §5.2, encoded by hand so the writer can send a shared payload
//! straight from its `Bytes` (a header on the stack, the payload by reference, one vectored
//! write): server frames are never masked, so a frame is its header followed by the payload
//! unchanged.

use bytes::{BufMut, Bytes, BytesMut};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The longest header: 2 bytes plus an 8-byte length.
pub(crate) const MAX_HEADER: usize = 10;

/// FIN set, opcode text.
const TEXT: u8 = 0x81;
/// FIN set, opcode close.
const CLOSE: u8 = 0x88;

/// Writes the header of a final, unmasked text frame with a `len`-byte payload into `out`;
/// returns its length.
pub(crate) fn text_header(len: usize, out: &mut [u8; MAX_HEADER]) -> usize {
    out[0] = TEXT;
    if len < 126 {
        out[1] = len as u8; // below 126: fits
        2
    } else if let Ok(short) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// A close frame with `code` and `reason` (cut to the 123 bytes a control frame allows, at a
/// character boundary).
pub(crate) fn close(code: CloseCode, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason.as_bytes()[..end];
    let mut frame = BytesMut::with_capacity(4 + reason.len());
    frame.put_u8(CLOSE);
    frame.put_u8(2 + reason.len() as u8); // at most 125
    frame.put_u16(code.into());
    frame.put_slice(reason);
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize) -> Vec<u8> {
        let mut out = [0; MAX_HEADER];
        let n = text_header(len, &mut out);
        out[..n].to_vec()
    }

    #[test]
    fn text_headers_use_the_shortest_length_form() {
        assert_eq!(header(0), [0x81, 0]);
        assert_eq!(header(125), [0x81, 125]);
        assert_eq!(header(126), [0x81, 126, 0, 126]);
        assert_eq!(header(65_535), [0x81, 126, 0xff, 0xff]);
        assert_eq!(header(65_536), [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn close_frames_carry_the_code_and_a_reason_cut_at_a_character() {
        assert_eq!(&close(CloseCode::Normal, "")[..], [0x88, 2, 0x03, 0xe8]);
        let long = "é".repeat(100); // 200 bytes
        let frame = close(CloseCode::Away, &long);
        assert_eq!(frame.len(), 4 + 122);
        assert_eq!(frame[1] as usize, 2 + 122);
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }
}

//! Framing: every request and response is a big-endian `u32` length followed by
//! that many bytes of body.
//!
//! [`FrameCodec`] is the tokio-util codec over it. It checks the announced length
//! against `max_frame_bytes` before reserving any memory, so a peer that announces
//! 4 GiB gets an error (and the connection should be closed), not an allocation;
//! and within the limit it reserves at most 64 KiB ahead of the bytes that arrived.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::Error;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// Most buffer space reserved ahead of a frame's arriving bytes.
const RESERVE_AHEAD: usize = 64 * 1024;

/// The body length a frame's 4-byte prefix announces, refused with
/// [`Error::FrameTooLarge`] above `max_frame_bytes`, before anything is reserved
/// for it. Every reader of frames checks a prefix with this.
pub fn body_len(prefix: [u8; LENGTH_PREFIX], max_frame_bytes: usize) -> Result<usize, Error> {
    let len = u64::from(u32::from_be_bytes(prefix));
    if len > max_frame_bytes as u64 {
        return Err(Error::FrameTooLarge {
            size: len,
            max: max_frame_bytes,
        });
    }
    Ok(len as usize)
}

/// Splits a byte stream into frame bodies and prefixes outgoing bodies.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_frame_bytes: usize,
}

impl FrameCodec {
    /// A codec that rejects frames whose body exceeds `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameCodec { max_frame_bytes }
    }
}

/// What can go wrong reading or writing frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer broke the framing rules; the connection cannot continue.
    #[error(transparent)]
    Protocol(#[from] Error),
    /// The socket failed.
    #[error("connection I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        if src.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let len = body_len([src[0], src[1], src[2], src[3]], self.max_frame_bytes)?;
        let total = LENGTH_PREFIX + len;
        if src.len() < total {
            // Grow with the bytes that actually arrive, not with what the prefix
            // promises: a peer that announces 16 MiB and sends nothing costs little.
            src.reserve((total - src.len()).min(RESERVE_AHEAD));
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX);
        Ok(Some(src.split_to(len)))
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        if body.len() > self.max_frame_bytes {
            return Err(Error::FrameTooLarge {
                size: body.len() as u64,
                max: self.max_frame_bytes,
            }
            .into());
        }
        dst.reserve(LENGTH_PREFIX + body.len());
        dst.put_u32(body.len() as u32);
        dst.put_slice(&body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_and_waits_for_whole_ones() {
        let mut codec = FrameCodec::new(100);
        let mut wire = BytesMut::new();
        codec
            .encode(Bytes::from_static(b"hello"), &mut wire)
            .expect("encode");
        codec
            .encode(Bytes::from_static(b""), &mut wire)
            .expect("encode");
        let full = wire.clone();
        for cut in 0..LENGTH_PREFIX + 5 {
            let mut partial = BytesMut::from(&full[..cut]);
            assert!(
                codec.decode(&mut partial).expect("no error").is_none(),
                "cut {cut}"
            );
        }
        assert_eq!(
            codec.decode(&mut wire).expect("ok").as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(
            codec.decode(&mut wire).expect("ok").as_deref(),
            Some(&b""[..])
        );
        assert!(wire.is_empty());
    }

    #[test]
    fn oversized_length_is_rejected_before_allocating() {
        let mut codec = FrameCodec::new(1 << 20);
        let mut wire = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        let err = codec.decode(&mut wire).expect_err("4 GiB frame");
        assert!(err.to_string().contains("exceeds the maximum"), "{err}");
        assert!(
            wire.capacity() < 1 << 20,
            "no reservation for the announced size"
        );
    }

    #[test]
    fn an_allowed_but_large_announcement_reserves_little() {
        let mut codec = FrameCodec::new(16 << 20);
        let mut wire = BytesMut::from(&(16u32 << 20).to_be_bytes()[..]);
        assert!(codec.decode(&mut wire).expect("allowed").is_none());
        assert!(wire.capacity() <= 4 + RESERVE_AHEAD, "{}", wire.capacity());
    }
}

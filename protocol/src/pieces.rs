//! A frame to send in pieces: its length prefix, then body pieces that stay
//! shared with whoever else holds them (a leader's Raft entries, say), so a
//! vectored write sends the frame without first joining it into one buffer.
//!
//! [`Pieces`] is a [`Buf`]: tokio's `write_all_buf` writes it with `writev`
//! where the socket supports that. Empty pieces are dropped when the frame is
//! made, so every piece still queued has bytes left.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

use crate::frame::LENGTH_PREFIX;
use crate::Error;

/// A length-prefixed frame whose body is a list of pieces, in order.
#[derive(Debug, Clone, Default)]
pub struct Pieces {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Pieces {
    /// The frame whose body is `body`, in order, behind its length prefix;
    /// refused when the body is longer than a prefix can say (`u32::MAX`).
    pub fn frame(body: impl IntoIterator<Item = Bytes>) -> Result<Pieces, Error> {
        let mut parts: VecDeque<Bytes> = body.into_iter().filter(|p| !p.is_empty()).collect();
        let len: usize = parts.iter().map(Bytes::len).sum();
        let prefix = u32::try_from(len).map_err(|_| Error::FrameTooLarge {
            size: len as u64,
            max: u32::MAX as usize,
        })?;
        parts.push_front(Bytes::copy_from_slice(&prefix.to_be_bytes()));
        Ok(Pieces {
            parts,
            remaining: LENGTH_PREFIX + len,
        })
    }
}

impl Buf for Pieces {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |p| &p[..])
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = IoSlice::new(part);
            filled += 1;
        }
        filled
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.remaining,
            "advanced {cnt} bytes past the {} left",
            self.remaining
        );
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.parts.front_mut() else {
                return;
            };
            if front.len() > cnt {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut pieces: Pieces, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while pieces.has_remaining() {
            let mut slices = [IoSlice::new(&[]); 3];
            let count = pieces.chunks_vectored(&mut slices);
            assert!(count > 0, "a non-empty frame offers a chunk");
            let joined: Vec<u8> = slices[..count].iter().flat_map(|s| s.to_vec()).collect();
            let take = step.min(joined.len());
            out.extend_from_slice(&joined[..take]);
            pieces.advance(take);
        }
        out
    }

    #[test]
    fn a_frame_is_its_prefix_then_its_pieces_in_order() {
        let body = [
            Bytes::from_static(b"head"),
            Bytes::new(),
            Bytes::from(vec![7; 1000]),
            Bytes::from_static(b"tail"),
        ];
        let mut expected = 1008u32.to_be_bytes().to_vec();
        for part in &body {
            expected.extend_from_slice(part);
        }
        let pieces = Pieces::frame(body.clone()).expect("small");
        assert_eq!(pieces.remaining(), expected.len());
        for step in [1, 3, 4, 5, 999, 1012] {
            assert_eq!(
                drain(pieces.clone(), step),
                expected,
                "written {step} at a time"
            );
        }
        let mut pieces = pieces;
        assert_eq!(pieces.copy_to_bytes(expected.len()), expected);
        assert_eq!(pieces.chunk(), b"");
    }

    #[test]
    fn an_empty_body_is_a_bare_prefix() {
        let pieces = Pieces::frame([]).expect("empty");
        assert_eq!(drain(pieces, 2), vec![0, 0, 0, 0]);
    }

    #[test]
    #[should_panic(expected = "advanced 6 bytes past the 5 left")]
    fn advancing_past_the_end_is_a_bug() {
        let mut pieces = Pieces::frame([Bytes::from_static(b"x")]).expect("small");
        pieces.advance(6);
    }
}

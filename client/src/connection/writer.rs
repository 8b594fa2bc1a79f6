//! The connection's writer task: drains the queue of encoded frames onto the
//! socket, as few system calls as it can.
//!
//! A frame is a list of pieces ([`Frame`]): its header and small fields, and the
//! producer's record sets, shared rather than copied into the frame. The writer
//! copies small pieces of all queued frames into one gather buffer and sends
//! large pieces from where they are, with vectored writes. Frames go out whole
//! and in queue order; a frame's `written` signal fires once all of it is on the
//! socket.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// Pieces at least this long are sent from where they are; shorter ones are
/// copied into the gather buffer, which costs less than an extra `iovec`.
const LINK_MIN: usize = 16 * 1024;
/// Queued frames are gathered into one write until it holds this much.
const GATHER_BYTES: usize = 256 * 1024;
/// At most this many pieces per `writev` (Linux allows 1,024).
const MAX_IOVECS: usize = 64;

/// An encoded request frame, length prefix first, in the order its pieces go out.
#[derive(Debug)]
pub(super) struct Frame {
    pub(super) pieces: Vec<Bytes>,
}

impl Frame {
    /// Its length in bytes.
    pub(super) fn len(&self) -> usize {
        self.pieces.iter().map(Bytes::len).sum()
    }
}

/// A frame for the writer, with an optional signal for when it is on the socket.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) frame: Frame,
    pub(super) written: Option<oneshot::Sender<()>>,
}

/// Writes queued frames until the queue closes or `cancel` fires (then shuts
/// the socket's write side down), or until a write fails (returned).
pub(super) async fn write_loop(
    cancel: CancellationToken,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut socket: OwnedWriteHalf,
) -> std::io::Result<()> {
    let mut gather = BytesMut::new();
    let mut pieces = VecDeque::new();
    let mut signals = Vec::new();
    loop {
        let first = tokio::select! {
            _ = cancel.cancelled() => break,
            next = rx.recv() => match next {
                Some(out) => out,
                None => break,
            },
        };
        let mut queued = 0;
        let mut next = Some(first);
        while let Some(out) = next.take() {
            queued += out.frame.len();
            for piece in out.frame.pieces {
                if piece.len() < LINK_MIN {
                    gather.extend_from_slice(&piece);
                } else {
                    if !gather.is_empty() {
                        pieces.push_back(gather.split().freeze());
                    }
                    pieces.push_back(piece);
                }
            }
            signals.extend(out.written);
            if queued < GATHER_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if !gather.is_empty() {
            pieces.push_back(gather.split().freeze());
        }
        write_pieces(&mut socket, &mut pieces).await?;
        for s in signals.drain(..) {
            let _ = s.send(());
        }
    }
    let _ = socket.shutdown().await;
    Ok(())
}

/// Writes every piece, in order, with vectored writes; empties `pieces`.
async fn write_pieces(
    socket: &mut OwnedWriteHalf,
    pieces: &mut VecDeque<Bytes>,
) -> std::io::Result<()> {
    while !pieces.is_empty() {
        let written = {
            let slices: Vec<IoSlice<'_>> = pieces
                .iter()
                .take(MAX_IOVECS)
                .map(|p| IoSlice::new(p))
                .collect();
            socket.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        advance(pieces, written);
    }
    Ok(())
}

/// Drops the first `n` bytes of `pieces`.
fn advance(pieces: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = pieces.front_mut() else {
            return;
        };
        if front.len() > n {
            front.advance(n);
            return;
        }
        n -= front.len();
        pieces.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_drops_exactly_the_written_bytes() {
        let mut pieces: VecDeque<Bytes> = [&b"abc"[..], b"de", b"fghij"]
            .into_iter()
            .map(Bytes::from_static)
            .collect();
        advance(&mut pieces, 4);
        assert_eq!(pieces, [&b"e"[..], b"fghij"]);
        advance(&mut pieces, 1);
        assert_eq!(pieces, [&b"fghij"[..]]);
        advance(&mut pieces, 5);
        assert!(pieces.is_empty());
    }
}

//! Reads response frames off the socket with as few copies as the sizes allow.
//!
//! A frame is a big-endian `u32` body length followed by the body
//! ([`rill_protocol::frame`]). Small frames are read into one shared buffer of
//! [`SHARED_BUFFER_BYTES`] and split off it without copying. A frame whose body is
//! larger than that (a fetch answer of many MiB) gets a buffer of exactly its
//! size, reserved once its length prefix has arrived: the bytes already in the
//! shared buffer are copied into it (at most [`SHARED_BUFFER_BYTES`]) and the rest
//! is read from the socket straight into it, so it is never re-grown or copied.
//!
//! Invariants: the announced length is checked against the maximum before any
//! memory is reserved for it, so a peer announcing 4 GiB gets
//! [`ReadEnd::BadFrame`], not an allocation; memory held is at most the shared
//! buffer plus one frame of at most the maximum; frames come out whole and in
//! the order they arrived.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use rill_protocol::frame::{body_len, LENGTH_PREFIX};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Capacity of the buffer shared by small frames; larger bodies get their own.
pub(crate) const SHARED_BUFFER_BYTES: usize = 64 * 1024;

/// Why [`FrameReader::next_frame`] yields no more frames.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The peer closed the stream (between frames or inside one).
    Closed,
    /// Reading the stream failed.
    Failed(std::io::Error),
    /// The peer announced a frame larger than allowed.
    BadFrame(rill_protocol::Error),
}

/// Splits a byte stream into frame bodies.
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    stream: R,
    max_frame_bytes: usize,
    /// Bytes read but not yet handed out as frames.
    shared: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of `stream` refusing bodies over `max_frame_bytes`.
    pub(crate) fn new(stream: R, max_frame_bytes: usize) -> Self {
        FrameReader {
            stream,
            max_frame_bytes,
            shared: BytesMut::with_capacity(SHARED_BUFFER_BYTES),
        }
    }

    /// The next frame's body.
    pub(crate) async fn next_frame(&mut self) -> Result<Bytes, ReadEnd> {
        loop {
            if self.shared.len() >= LENGTH_PREFIX {
                let len = self.announced_len()?;
                if self.shared.len() >= LENGTH_PREFIX + len {
                    self.shared.advance(LENGTH_PREFIX);
                    return Ok(self.shared.split_to(len).freeze());
                }
                if len > SHARED_BUFFER_BYTES {
                    return self.read_large(len).await;
                }
            }
            if self.shared.capacity() - self.shared.len() < SHARED_BUFFER_BYTES / 2 {
                self.shared.reserve(SHARED_BUFFER_BYTES);
            }
            match self.stream.read_buf(&mut self.shared).await {
                Ok(0) => return Err(ReadEnd::Closed),
                Ok(_) => {}
                Err(e) => return Err(ReadEnd::Failed(e)),
            }
        }
    }

    /// The length the prefix at the front of the shared buffer announces, if allowed.
    fn announced_len(&self) -> Result<usize, ReadEnd> {
        let s = &self.shared;
        body_len([s[0], s[1], s[2], s[3]], self.max_frame_bytes).map_err(ReadEnd::BadFrame)
    }

    /// Reads the body of `len` bytes whose prefix is at the front of the shared
    /// buffer (and whose end is not) into a buffer of exactly `len` bytes.
    async fn read_large(&mut self, len: usize) -> Result<Bytes, ReadEnd> {
        self.shared.advance(LENGTH_PREFIX);
        let mut body = BytesMut::with_capacity(len);
        body.extend_from_slice(&self.shared);
        self.shared.clear();
        while body.len() < len {
            let missing = len - body.len();
            match self.stream.read_buf(&mut (&mut body).limit(missing)).await {
                Ok(0) => return Err(ReadEnd::Closed),
                Ok(_) => {}
                Err(e) => return Err(ReadEnd::Failed(e)),
            }
        }
        Ok(body.freeze())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio::io::ReadBuf;

    use super::*;

    /// A stream that hands out the given chunks, one per read (a chunk larger
    /// than the reader's space is split), then ends.
    struct Chunks(VecDeque<Vec<u8>>);

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if let Some(mut chunk) = self.0.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.0.push_front(chunk.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    fn body(len: usize, seed: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 + seed * 7) as u8).collect()
    }

    fn framed(bodies: &[Vec<u8>]) -> Vec<u8> {
        let mut wire = Vec::new();
        for b in bodies {
            wire.extend_from_slice(&(b.len() as u32).to_be_bytes());
            wire.extend_from_slice(b);
        }
        wire
    }

    fn cut(wire: &[u8], chunk: usize) -> VecDeque<Vec<u8>> {
        wire.chunks(chunk).map(<[u8]>::to_vec).collect()
    }

    async fn read_all(chunks: VecDeque<Vec<u8>>, max: usize, n: usize) -> Vec<Bytes> {
        let mut reader = FrameReader::new(Chunks(chunks), max);
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(reader.next_frame().await.expect("a whole frame"));
        }
        assert!(matches!(reader.next_frame().await, Err(ReadEnd::Closed)));
        out
    }

    #[tokio::test]
    async fn frames_of_many_sizes_and_splits_come_out_byte_for_byte() {
        let sizes = [
            0,
            1,
            3,
            4,
            100,
            SHARED_BUFFER_BYTES - 4,
            SHARED_BUFFER_BYTES,
            SHARED_BUFFER_BYTES + 1,
            200_000,
            7,
            3 << 20,
            0,
            SHARED_BUFFER_BYTES * 2 + 5,
        ];
        let bodies: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| body(len, i))
            .collect();
        let wire = framed(&bodies);
        for chunk in [1, 3, 4, 5, 1000, 4096, 65_537, 1 << 20, wire.len()] {
            let got = read_all(cut(&wire, chunk), 4 << 20, bodies.len()).await;
            for (i, (g, want)) in got.iter().zip(&bodies).enumerate() {
                assert_eq!(&g[..], &want[..], "frame {i} with reads of {chunk} bytes");
            }
        }
    }

    #[tokio::test]
    async fn a_large_frame_gets_a_buffer_of_exactly_its_size() {
        let bodies = vec![body(10, 0), body(1 << 20, 1)];
        let mut got = read_all(cut(&framed(&bodies), 8192), 4 << 20, 2).await;
        let large = got.pop().expect("two frames");
        assert_eq!(&large[..], &bodies[1][..]);
        // The body arrived in 128 reads, yet it is one buffer of its own size.
        let owned = large.try_into_mut().expect("the only handle to the frame");
        assert_eq!(owned.capacity(), 1 << 20);
    }

    #[tokio::test]
    async fn an_oversize_length_is_refused_before_its_body_arrives() {
        // Only the prefix is sent: the refusal cannot have waited for the body.
        let wire = (u32::MAX).to_be_bytes().to_vec();
        let mut reader = FrameReader::new(Chunks(cut(&wire, 4)), 1 << 20);
        match reader.next_frame().await {
            Err(ReadEnd::BadFrame(rill_protocol::Error::FrameTooLarge { size, max })) => {
                assert_eq!(size, u64::from(u32::MAX));
                assert_eq!(max, 1 << 20);
            }
            other => panic!("expected FrameTooLarge, got {other:?}"),
        }
        let mut reader = FrameReader::new(Chunks(cut(&framed(&[body(11, 0)]), 4)), 10);
        assert!(matches!(
            reader.next_frame().await,
            Err(ReadEnd::BadFrame(_))
        ));
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_frame_is_closed() {
        let wire = framed(&[body(200_000, 0)]);
        let mut reader = FrameReader::new(Chunks(cut(&wire[..100_000], 4096)), 1 << 20);
        assert!(matches!(reader.next_frame().await, Err(ReadEnd::Closed)));
    }
}

//! One connection to a peer broker's cluster listener, shared by every Raft group
//! that talks to that peer.
//!
//! Requests are pipelined: a writer task sends frames in the order they were
//! queued and remembers who waits for each; a reader task hands each response to
//! the oldest waiter after checking its correlation id (the listener answers in
//! request order, docs/PROTOCOL.md §1). When the socket fails, every waiter gets
//! the error and the next call dials again. A call that gets no answer within its
//! timeout fails; openraft then treats the peer as unreachable and retries.
//!
//! A request goes out in pieces ([`Pieces`]): what its encoder wrote, and the
//! large byte strings it linked rather than copied (a leader's entries), sent
//! from where they are with vectored writes.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use rill_protocol::frame::FrameCodec;
use rill_protocol::header::{RequestHeader, ResponseHeader};
use rill_protocol::pieces::Pieces;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::locks::lock;

/// Requests queued to one peer before callers wait for room.
const QUEUE: usize = 256;

/// An answer: the response body after its header, or why there is none.
type Answer = io::Result<Bytes>;

/// A lazily dialled, pipelined connection to one peer.
pub struct Peer {
    addr: String,
    client_id: String,
    max_frame_bytes: usize,
    next_correlation: AtomicI32,
    link: tokio::sync::Mutex<Option<mpsc::Sender<Outgoing>>>,
}

struct Outgoing {
    correlation_id: i32,
    frame: Pieces,
    reply: oneshot::Sender<Answer>,
}

type Waiting = Arc<Mutex<VecDeque<(i32, oneshot::Sender<Answer>)>>>;

impl Peer {
    /// A connection to the cluster listener at `addr` (`host:port`), dialled on
    /// first use; `me` names this broker in request headers.
    pub fn new(addr: String, me: u64, max_frame_bytes: usize) -> Peer {
        Peer {
            addr,
            client_id: format!("rill-broker-{me}"),
            max_frame_bytes,
            next_correlation: AtomicI32::new(1),
            link: tokio::sync::Mutex::new(None),
        }
    }

    /// The peer's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one request (`api_key`, version 0, the body `encode` writes) and
    /// returns the response body, or an error when the peer cannot be reached,
    /// refuses the request as a whole, or does not answer within `timeout`.
    /// The encoder writes into its buffer, and may move what it wrote so far
    /// to the list of pieces and link a shared byte string after it: the body
    /// is the pieces, then what is left in the buffer.
    pub async fn call(
        &self,
        api_key: i16,
        encode: impl FnOnce(&mut BytesMut, &mut Vec<Bytes>),
        timeout: Duration,
    ) -> io::Result<Bytes> {
        let correlation_id = self.next_correlation.fetch_add(1, Ordering::Relaxed);
        let mut buf = BytesMut::with_capacity(256);
        RequestHeader {
            api_key,
            api_version: 0,
            correlation_id,
            client_id: Some(self.client_id.clone()),
        }
        .encode(&mut buf);
        let mut parts = Vec::new();
        encode(&mut buf, &mut parts);
        parts.push(buf.freeze());
        let frame = Pieces::frame(parts).map_err(io::Error::other)?;
        let (reply, answer) = oneshot::channel();
        let outgoing = Outgoing {
            correlation_id,
            frame,
            reply,
        };
        let exchange = async {
            self.sender().await?.send(outgoing).await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    format!("connection to {} closed", self.addr),
                )
            })?;
            answer.await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    format!("connection to {} closed", self.addr),
                )
            })?
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} did not answer within {timeout:?}", self.addr),
            )),
        }
    }

    /// The queue of the live link, dialling a new one when there is none.
    async fn sender(&self) -> io::Result<mpsc::Sender<Outgoing>> {
        let mut link = self.link.lock().await;
        if let Some(tx) = link.as_ref().filter(|tx| !tx.is_closed()) {
            return Ok(tx.clone());
        }
        let stream = TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Outgoing>(QUEUE);
        let waiting: Waiting = Arc::default();
        let reader_waiting = Arc::clone(&waiting);
        let addr = self.addr.clone();
        let mut frames = FramedRead::new(read, FrameCodec::new(self.max_frame_bytes));
        let failed = CancellationToken::new();
        let reader_failed = failed.clone();
        tokio::spawn(async move {
            let error = loop {
                let next = tokio::select! {
                    next = frames.next() => next,
                    () = reader_failed.cancelled() => {
                        break format!("writing to {addr} failed");
                    }
                };
                let frame = match next {
                    Some(Ok(frame)) => frame.freeze(),
                    Some(Err(e)) => break format!("reading from {addr}: {e}"),
                    None => break format!("{addr} closed the connection"),
                };
                let Some((expected, reply)) = lock(&reader_waiting).pop_front() else {
                    break format!("{addr} answered a request that was not sent");
                };
                let answer = match ResponseHeader::decode(&frame) {
                    Ok((header, _)) if header.correlation_id != expected => {
                        break format!(
                            "{addr} answered request {} when {expected} was next",
                            header.correlation_id
                        );
                    }
                    Ok((header, _)) if !header.error_code.is_ok() => {
                        Err(io::Error::other(format!(
                            "{addr} refused the request: {}",
                            header
                                .error_message
                                .unwrap_or_else(|| header.error_code.to_string())
                        )))
                    }
                    Ok((_, body)) => Ok(frame.slice_ref(body)),
                    Err(e) => break format!("{addr} sent a response that does not decode: {e}"),
                };
                let _ = reply.send(answer);
            };
            reader_failed.cancel();
            for (_, reply) in lock(&reader_waiting).drain(..) {
                let _ = reply.send(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    error.clone(),
                )));
            }
        });
        tokio::spawn(async move {
            loop {
                let out = tokio::select! {
                    out = rx.recv() => out,
                    () = failed.cancelled() => None,
                };
                let Some(out) = out else { break };
                lock(&waiting).push_back((out.correlation_id, out.reply));
                let mut frame = out.frame;
                if write.write_all_buf(&mut frame).await.is_err() {
                    break;
                }
            }
            failed.cancel();
            for (_, reply) in lock(&waiting).drain(..) {
                let _ = reply.send(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the connection failed while writing",
                )));
            }
        });
        *link = Some(tx.clone());
        Ok(tx)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn a_request_in_linked_pieces_arrives_as_one_frame() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let linked = Bytes::from(vec![9u8; 100_000]);
        let mut expected = b"before".to_vec();
        expected.extend_from_slice(&linked);
        expected.extend_from_slice(b"after");
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            let (read, mut write) = socket.into_split();
            let mut frames = FramedRead::new(read, FrameCodec::new(1 << 20));
            let frame = frames.next().await.expect("a frame").expect("readable");
            let (header, body) = RequestHeader::decode(&frame).expect("header");
            let mut answer = BytesMut::from(&[0u8; 4][..]);
            ResponseHeader::ok(header.correlation_id).encode(&mut answer);
            answer.put_slice(b"pong");
            let len = u32::try_from(answer.len() - 4).expect("small");
            answer[..4].copy_from_slice(&len.to_be_bytes());
            write.write_all(&answer).await.expect("answered");
            (header.api_key, body.to_vec())
        });
        let peer = Peer::new(addr, 1, 1 << 20);
        let answer = peer
            .call(
                1001,
                |buf, parts| {
                    buf.put_slice(b"before");
                    parts.push(buf.split().freeze());
                    parts.push(linked.clone());
                    buf.put_slice(b"after");
                },
                Duration::from_secs(10),
            )
            .await
            .expect("answered");
        assert_eq!(&answer[..], b"pong");
        let (api_key, body) = server.await.expect("server");
        assert_eq!(api_key, 1001);
        assert_eq!(body, expected);
    }
}

//! One client connection: frames in, handlers in request order, responses out in
//! the same order.
//!
//! The reader decodes one request at a time and runs its handler to completion
//! before reading the next, so requests on one connection take effect in the order
//! they were sent (two produces to a partition keep their order) and responses come
//! back in that order. A separate writer task sends the responses, so a client may
//! pipeline: the broker reads request n+1 while response n is still being written.
//! Responses waiting to be written may hold at most `limits.max_in_flight_bytes`;
//! beyond that the reader stops reading until the client catches up.
//!
//! The writer sends responses in queue order. A Fetch answer whose records are in
//! segment files goes out as a spliced frame: what is buffered is flushed first,
//! then one blocking call writes the frame's encoded pieces with each stored range
//! between them (`crate::sendfile`), so the order on the wire is the queue's.
//!
//! A frame that cannot be answered (too large, cut short by EOF, too short to hold
//! a correlation id) closes the connection; any other bad request gets an error
//! response and the connection stays open.

use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use rill_protocol::frame::{FrameCodec, FrameError};
use rill_protocol::header::ResponseHeader;
use rill_protocol::message::{DecodeFailure, Request, Response};
use rill_protocol::{Error as ProtocolError, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::Decoder;
use tracing::Instrument;

use crate::handler::{self, FetchAnswer, Outcome};
use crate::sendfile::{self, Part, Spliced};
use crate::state::Broker;

/// Aborts the task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A response ready to write, holding its share of the in-flight budget.
type Outgoing = (Frame, OwnedSemaphorePermit);

/// A response frame to write.
enum Frame {
    /// All of it in memory.
    Whole(Bytes),
    /// A Fetch answer whose records are sent from segment files.
    Spliced(Spliced),
}

impl Frame {
    /// Bytes it puts on the wire.
    fn len(&self) -> usize {
        match self {
            Frame::Whole(bytes) => bytes.len(),
            Frame::Spliced(spliced) => spliced.len(),
        }
    }
}

/// Sets the flag when dropped: tells a blocking send that its connection is gone.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Serves one connection until the client leaves, breaks the framing, or the broker
/// shuts down. `_slot` is this connection's place under `max_connections`.
pub async fn run(
    broker: Arc<Broker>,
    socket: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
) {
    let span = tracing::debug_span!("connection", %peer);
    async move {
        tracing::debug!("connected");
        // Latency over packet count: responses go out as soon as they are written.
        if let Err(e) = socket.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
        broker.metrics.connection(1);
        let (reader, writer) = socket.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut writer = AbortOnDrop(tokio::spawn(write_responses(writer, rx)));
        read_requests(&broker, reader, tx).await;
        // The reader dropped its sender: the writer sends what is queued, then ends.
        // If the server gives up on this connection at shutdown, dropping this
        // future drops the guard, which stops the writer too.
        if let Err(e) = (&mut writer.0).await {
            tracing::warn!(error = %e, "response writer failed");
        }
        broker.metrics.connection(-1);
        tracing::debug!("closed");
    }
    .instrument(span)
    .await;
}

/// Reads and handles requests in order, queueing their responses.
async fn read_requests(
    broker: &Broker,
    mut reader: OwnedReadHalf,
    responses: mpsc::UnboundedSender<Outgoing>,
) {
    let limits = &broker.config.limits;
    let mut codec = FrameCodec::new(limits.max_frame_bytes);
    let budget = Arc::new(Semaphore::new(limits.max_in_flight_bytes));
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut shutdown = broker.shutdown_signal();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let frame = tokio::select! {
            frame = next_frame(&mut reader, &mut buf, &mut codec) => frame,
            _ = shutdown.changed() => return,
        };
        let frame = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => return,
            Err(e) => {
                tracing::info!(error = %e, "closing connection: unreadable frame");
                return;
            }
        };
        let response = match answer(broker, &frame).await {
            Answer::Reply(bytes) => bytes,
            Answer::Silent => continue,
            Answer::Close(reason) => {
                tracing::info!(%reason, "closing connection");
                return;
            }
        };
        // A spliced answer holds little memory, but counts in full: the budget
        // bounds what one connection has queued, in bytes owed to the client.
        let share = response.len().clamp(1, limits.max_in_flight_bytes);
        let share = u32::try_from(share).unwrap_or(u32::MAX);
        // A client that stops reading holds its responses here; shutdown must not
        // wait for it. Biased: a response whose budget is free is always sent, even
        // when shutdown began while the request was being handled.
        let permit = tokio::select! {
            biased;
            permit = Arc::clone(&budget).acquire_many_owned(share) => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            _ = shutdown.changed() => return,
        };
        if responses.send((response, permit)).is_err() {
            return; // The writer failed: the client is gone.
        }
    }
}

/// The next frame body, `None` at a clean EOF between frames.
async fn next_frame(
    reader: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    codec: &mut FrameCodec,
) -> Result<Option<BytesMut>, FrameError> {
    loop {
        if let Some(frame) = codec.decode(buf)? {
            return Ok(Some(frame));
        }
        if reader.read_buf(buf).await? == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(FrameError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed inside a frame ({} bytes of it read)",
                    buf.len()
                ),
            )));
        }
    }
}

/// What to do with one frame.
enum Answer {
    Reply(Frame),
    Silent,
    /// Close the connection, for this reason.
    Close(String),
}

/// Decodes one frame and has [`handler::handle`] answer it; answers a frame that
/// does not decode itself, or closes the connection when it cannot (no correlation
/// id, or a Produce with acks 0: see [`handler::undecodable_gets_response`]).
async fn answer(broker: &Broker, frame: &[u8]) -> Answer {
    let mut version = 0;
    let response = match Request::decode(frame) {
        Ok(request) => {
            version = request.header.api_version;
            match handler::handle(broker, request).await {
                Outcome::Reply(response) => response,
                Outcome::Fetch {
                    correlation_id,
                    answer,
                } => return Answer::Reply(frame_fetch(correlation_id, answer)),
                Outcome::Silent => return Answer::Silent,
                Outcome::Close(reason) => return Answer::Close(reason),
            }
        }
        Err(DecodeFailure {
            correlation_id: Some(correlation_id),
            error,
        }) if handler::undecodable_gets_response(frame) => {
            let code = match error {
                ProtocolError::UnsupportedVersion { .. } => ErrorCode::UnsupportedVersion,
                _ => ErrorCode::InvalidRequest,
            };
            tracing::debug!(%error, "refusing request");
            Response {
                header: ResponseHeader {
                    correlation_id,
                    error_code: code,
                    error_message: Some(error.to_string()),
                },
                body: None,
            }
        }
        Err(DecodeFailure { error, .. }) => {
            return Answer::Close(format!(
                "undecodable request, no error can be sent: {error}"
            ))
        }
    };
    Answer::Reply(Frame::Whole(frame_response(&response, version)))
}

/// Encodes `response`, answering a request of `version`, as a whole frame,
/// length prefix included.
fn frame_response(response: &Response, version: i16) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + response.size_hint());
    buf.put_u32(0);
    response.encode(version, &mut buf);
    let len = u32::try_from(buf.len() - 4).unwrap_or(u32::MAX);
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// Encodes a Fetch answer as a frame: whole when its records are in memory,
/// spliced when they are to be sent from segment files.
fn frame_fetch(correlation_id: i32, answer: FetchAnswer) -> Frame {
    let FetchAnswer {
        response,
        mut stored,
    } = answer;
    let mut buf = BytesMut::with_capacity(4 + 64 + response.size_hint());
    buf.put_u32(0);
    ResponseHeader::ok(correlation_id).encode(&mut buf);
    let stored_len = |t: usize, p: usize| {
        stored
            .get(t)
            .and_then(|topic| topic.get(p))
            .and_then(Option::as_ref)
            .map_or(0, |b| usize::try_from(b.len()).unwrap_or(usize::MAX))
    };
    let splices = match response.encode_with(&mut buf, stored_len) {
        Ok(splices) => splices,
        Err(e) => {
            tracing::warn!(error = %e, "fetch answer cannot be framed");
            return Frame::Whole(frame_response(
                &Response {
                    header: ResponseHeader {
                        correlation_id,
                        error_code: ErrorCode::Unknown,
                        error_message: Some(e.to_string()),
                    },
                    body: None,
                },
                0,
            ));
        }
    };
    let external: usize = splices.iter().map(|s| s.len).sum();
    let len = u32::try_from(buf.len() - 4 + external).unwrap_or(u32::MAX);
    buf[..4].copy_from_slice(&len.to_be_bytes());
    let parts: Vec<Part> = splices
        .iter()
        .filter_map(|s| {
            let batches = stored.get_mut(s.topic)?.get_mut(s.partition)?.take()?;
            Some(Part { at: s.at, batches })
        })
        .collect();
    if parts.is_empty() {
        return Frame::Whole(buf.freeze());
    }
    Frame::Spliced(Spliced {
        head: buf.freeze(),
        parts,
    })
}

/// Writes queued responses, coalescing those that are ready into one flush.
async fn write_responses(writer: OwnedWriteHalf, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
    // Set when this task ends or is aborted, so a blocking send it started stops.
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = SetOnDrop(Arc::clone(&stop));
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        while let Some((frame, _permit)) = next.take() {
            let sent = match frame {
                Frame::Whole(bytes) => writer.write_all(&bytes).await,
                Frame::Spliced(spliced) => write_spliced(&mut writer, spliced, &stop).await,
            };
            if let Err(e) = sent {
                tracing::debug!(error = %e, "client stopped reading");
                return;
            }
            next = queue.try_recv().ok();
        }
        if let Err(e) = writer.flush().await {
            tracing::debug!(error = %e, "client stopped reading");
            return;
        }
    }
}

/// Writes a spliced frame after what is buffered: one blocking call sends its
/// pieces and stored ranges (see `crate::sendfile`) through a duplicate of the
/// socket's descriptor, while this task waits, so nothing else writes meanwhile.
async fn write_spliced(
    writer: &mut BufWriter<OwnedWriteHalf>,
    frame: Spliced,
    stop: &Arc<AtomicBool>,
) -> std::io::Result<()> {
    writer.flush().await?;
    let socket = writer.get_ref().as_ref().as_fd().try_clone_to_owned()?;
    let stop = Arc::clone(stop);
    tokio::task::spawn_blocking(move || sendfile::send_spliced(&socket, &frame, &stop))
        .await
        .map_err(std::io::Error::other)?
}

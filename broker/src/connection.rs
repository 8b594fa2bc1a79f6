//! One client connection: frames in, handlers in request order, responses out in
//! the same order.
//!
//! The reader decodes one request at a time and runs its handler before reading
//! the next, so requests on one connection take effect in the order they were
//! sent (two produces to a partition keep their order) and responses come back
//! in that order. A separate writer task sends the responses, so a client may
//! pipeline: the broker reads request n+1 while response n is still being
//! written. A Produce to replicated partitions is handled once its batches are
//! handed to their Raft groups (which keep the order they were handed over in);
//! its answer is queued as a future that resolves when they commit, so the
//! batches of several pipelined requests replicate together. The writer waits
//! for each queued answer in turn. Answers waiting to be written (and requests
//! whose answers are still to come) may hold at most
//! `limits.max_in_flight_bytes`; beyond that the reader stops reading until the
//! client catches up.
//!
//! The writer sends responses in queue order. A Fetch answer whose records are in
//! segment files goes out as a spliced frame: what is buffered is flushed first,
//! then one blocking call writes the frame's encoded pieces with each stored range
//! between them (`crate::sendfile`), so the order on the wire is the queue's.
//!
//! A frame that cannot be answered (too large, cut short by EOF, too short to hold
//! a correlation id) closes the connection; any other bad request gets an error
//! response and the connection stays open.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use bytes::{BufMut, Bytes, BytesMut};
use rill_protocol::frame::{FrameCodec, FrameError};
use rill_protocol::header::ResponseHeader;
use rill_protocol::message::{DecodeFailure, Request, RequestBody, Response};
use rill_protocol::{Error as ProtocolError, ErrorCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
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

/// An answer queued for the writer, holding its share of the in-flight budget.
type Outgoing = (Answer, OwnedSemaphorePermit);

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
        // When the reader ends it drops its sender: the writer sends what is
        // queued, then ends. When the writer ends first (the client stopped
        // reading, or a late answer closes the connection), reading stops.
        // If the server gives up on this connection at shutdown, dropping this
        // future drops the guard, which stops the writer too.
        let written = tokio::select! {
            () = read_requests(&broker, reader, tx) => (&mut writer.0).await,
            written = &mut writer.0 => written,
        };
        if let Err(e) = written {
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
    broker: &Arc<Broker>,
    mut reader: OwnedReadHalf,
    responses: mpsc::UnboundedSender<Outgoing>,
) {
    let limits = &broker.config.limits;
    let mut codec = FrameCodec::new(limits.max_frame_bytes);
    let budget = Arc::new(Semaphore::new(limits.max_in_flight_bytes));
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut shutdown = broker.shutdown_signal();
    let (outstanding, mut settled) = watch::channel(0usize);
    let outstanding = Arc::new(outstanding);
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
        let response = match answer(broker, &frame, &mut settled).await {
            Answer::Later(later) => {
                Answer::Later(Box::pin(Outstanding::track(&outstanding, later)))
            }
            response => response,
        };
        // A spliced answer holds little memory, but counts in full: the budget
        // bounds what one connection has queued, in bytes owed to the client.
        // An answer still to come counts its request, whose batches it holds.
        let share = match &response {
            Answer::Reply(frame) => frame.len(),
            Answer::Silent => continue,
            Answer::Close(reason) => {
                tracing::info!(%reason, "closing connection");
                return;
            }
            Answer::Later(_) => frame.len(),
        };
        let share = share.clamp(1, limits.max_in_flight_bytes);
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

/// Counts an answer still to come while it is alive (see [`answer`]).
struct Outstanding(Arc<watch::Sender<usize>>);

impl Outstanding {
    /// `later`, counted in `count` until it resolves or is dropped.
    fn track(
        count: &Arc<watch::Sender<usize>>,
        later: Pin<Box<dyn Future<Output = Answer> + Send>>,
    ) -> impl Future<Output = Answer> + Send {
        count.send_modify(|n| *n += 1);
        let guard = Outstanding(Arc::clone(count));
        async move {
            let answer = later.await;
            drop(guard);
            answer
        }
    }
}

impl Drop for Outstanding {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
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
    /// What to do once this resolves (a Produce still committing).
    Later(Pin<Box<dyn Future<Output = Answer> + Send>>),
}

impl Answer {
    /// What to do once nothing is left to wait for.
    async fn settled(mut self) -> Answer {
        while let Answer::Later(later) = self {
            self = later.await;
        }
        self
    }
}

/// Decodes one frame and has [`handler::handle`] answer it; answers a frame that
/// does not decode itself, or closes the connection when it cannot (no correlation
/// id, or a Produce with acks 0: see [`handler::undecodable_gets_response`]).
///
/// Any request but a Produce first waits until no earlier answer on the
/// connection is still to come (`settled` counts them), so requests take
/// effect in order: it sees every earlier `acks=all` Produce's batches
/// committed (an `acks=1` batch is answered once in the leader's log, and
/// readers see it only once it is committed).
async fn answer(
    broker: &Arc<Broker>,
    frame: &[u8],
    settled: &mut watch::Receiver<usize>,
) -> Answer {
    let response = match Request::decode(frame) {
        Ok(request) => {
            let version = request.header.api_version;
            if !matches!(request.body, RequestBody::Produce(_)) {
                // Fails only if the sender is gone, which this connection holds.
                let _ = settled.wait_for(|n| *n == 0).await;
            }
            return framed(handler::handle(broker, request).await, version);
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
    Answer::Reply(Frame::Whole(frame_response(&response, 0)))
}

/// The answer to a handled request of `version`.
fn framed(outcome: Outcome, version: i16) -> Answer {
    match outcome {
        Outcome::Reply(response) => Answer::Reply(Frame::Whole(frame_response(&response, version))),
        Outcome::Fetch {
            correlation_id,
            answer,
        } => Answer::Reply(frame_fetch(correlation_id, answer)),
        Outcome::Silent => Answer::Silent,
        Outcome::Close(reason) => Answer::Close(reason),
        Outcome::Later(later) => {
            Answer::Later(Box::pin(async move { framed(later.await, version) }))
        }
    }
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

/// Writes queued answers in queue order, coalescing those that are ready into
/// one flush; waits for an answer still to come only after flushing what is
/// buffered. Ends when the queue closes, the client stops reading, or an answer
/// says to close the connection.
async fn write_responses(writer: OwnedWriteHalf, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
    // Set when this task ends or is aborted, so a blocking send it started stops.
    let stop = Arc::new(AtomicBool::new(false));
    let _stop = SetOnDrop(Arc::clone(&stop));
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(first) = queue.recv().await {
        let mut next = Some(first);
        while let Some((answer, _permit)) = next.take() {
            let answer = match answer {
                Answer::Later(mut later) => match poll_once(&mut later).await {
                    Poll::Ready(answer) => answer.settled().await,
                    Poll::Pending => {
                        if let Err(e) = writer.flush().await {
                            tracing::debug!(error = %e, "client stopped reading");
                            return;
                        }
                        later.await.settled().await
                    }
                },
                answer => answer,
            };
            let sent = match answer {
                Answer::Reply(Frame::Whole(bytes)) => writer.write_all(&bytes).await,
                Answer::Reply(Frame::Spliced(spliced)) => {
                    write_spliced(&mut writer, spliced, &stop).await
                }
                Answer::Silent | Answer::Later(_) => Ok(()),
                Answer::Close(reason) => {
                    tracing::info!(%reason, "closing connection");
                    let _ = writer.flush().await;
                    return;
                }
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

/// Polls `future` once: its output if it is ready now.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
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

//! One TCP connection to a broker, shared by everything that talks to it.
//!
//! The broker answers a connection's requests one at a time and in the order they
//! were sent (docs/PROTOCOL.md §1), so a client may pipeline: write many requests
//! without waiting and match the answers by order. [`Connection`] does exactly that
//! with two tasks: a writer that drains a queue of encoded frames onto the socket
//! (many frames per system call when they pile up), and a reader that splits the
//! incoming bytes into frames and hands each to the oldest waiting request after
//! checking its correlation id. A `Connection` is a cheap handle (clone it freely);
//! the tasks stop when the last handle is dropped or [`Connection::close`] is called.
//!
//! When the socket fails, the broker hangs up, or an answer does not match, every
//! waiting request fails with an error naming the broker's address and the handle
//! refuses new requests ([`Connection::is_closed`]); open a new connection to carry
//! on. A response whose header refuses the whole request becomes [`Error::Broker`].

use std::collections::VecDeque;
use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rill_protocol::api::ApiKey;
use rill_protocol::header::{RequestHeader, ResponseHeader};
use rill_protocol::message::{RequestBody, Response, ResponseBody};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::bootstrap;
use crate::error::{Error, Result};
use crate::locks;

mod frames;
mod pending;
mod writer;

use frames::{FrameReader, ReadEnd};
pub use pending::{PendingResponse, Written};
pub use rill_protocol::message::Call;
use writer::{write_loop, Frame, Outgoing};

/// The id of the next connection opened.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Settings of a connection.
#[derive(Debug, Clone)]
pub struct ConnectionOptions {
    /// Name sent in every request header, for the broker's logs. Default `rill-client`.
    pub client_id: Option<String>,
    /// Longest wait for the TCP connection to open. Default 10 s.
    pub connect_timeout: Duration,
    /// Longest wait of [`Connection::request`] for its answer. Default 30 s.
    pub request_timeout: Duration,
    /// Largest response frame accepted; a larger one closes the connection.
    /// Default 256 MiB (a fetch may exceed its byte caps by one batch).
    pub max_response_bytes: usize,
}

impl Default for ConnectionOptions {
    fn default() -> Self {
        ConnectionOptions {
            client_id: Some("rill-client".to_string()),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 256 << 20,
        }
    }
}

/// A pipelined connection to one broker (a cheap, cloneable handle).
#[derive(Debug, Clone)]
pub struct Connection {
    inner: Arc<Inner>,
    /// Dropping the last handle closes the writer's queue, which ends both tasks.
    _writer: Arc<WriterHandle>,
}

#[derive(Debug)]
struct WriterHandle {
    cancel: CancellationToken,
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// State shared by the handles and the two tasks.
#[derive(Debug)]
struct Inner {
    id: u64,
    addr: String,
    options: ConnectionOptions,
    state: Mutex<State>,
    cancel: CancellationToken,
}

#[derive(Debug)]
struct State {
    next_correlation_id: i32,
    /// Requests waiting for their answers, oldest first.
    waiters: VecDeque<Waiter>,
    /// The writer's queue; `None` once the connection failed.
    writer: Option<mpsc::UnboundedSender<Outgoing>>,
    /// Why the connection ended, once it has.
    failure: Option<Error>,
}

#[derive(Debug)]
struct Waiter {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    tx: oneshot::Sender<Result<ResponseBody>>,
}

impl Connection {
    /// Connects to `addr` (`host:port`, or a comma-separated list of them tried
    /// in order) with default options.
    pub async fn connect(addr: impl Display) -> Result<Connection> {
        Connection::connect_with(addr, ConnectionOptions::default()).await
    }

    /// Connects with `options` to the first broker of `addr` that answers: one
    /// `host:port`, or a comma-separated bootstrap list tried in order. When none
    /// answers, the error names every address tried and why each failed.
    pub async fn connect_with(
        addr: impl Display,
        options: ConnectionOptions,
    ) -> Result<Connection> {
        let list = addr.to_string();
        let entries = bootstrap::parse(&list)?;
        let mut failures = Vec::new();
        for entry in &entries {
            match Connection::dial(entry, options.clone()).await {
                Ok(conn) => return Ok(conn),
                Err(Error::Connect { addr, reason }) if entries.len() > 1 => {
                    failures.push(format!("{addr}: {reason}"));
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Connect {
            addr: list,
            reason: format!("no broker of the list answered ({})", failures.join("; ")),
        })
    }

    /// Connects to the one broker at `addr`.
    async fn dial(addr: &str, options: ConnectionOptions) -> Result<Connection> {
        let addr = addr.to_string();
        let connect_error = |reason: String| Error::Connect {
            addr: addr.clone(),
            reason,
        };
        let stream = tokio::time::timeout(options.connect_timeout, TcpStream::connect(&addr))
            .await
            .map_err(|_| connect_error(format!("no answer within {:?}", options.connect_timeout)))?
            .map_err(|e| connect_error(e.to_string()))?;
        stream
            .set_nodelay(true)
            .map_err(|e| connect_error(e.to_string()))?;
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let cancel = CancellationToken::new();
        let inner = Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            addr,
            options,
            state: Mutex::new(State {
                next_correlation_id: 1,
                waiters: VecDeque::new(),
                writer: Some(tx),
                failure: None,
            }),
            cancel: cancel.clone(),
        });
        let writer = inner.clone();
        tokio::spawn(async move {
            if let Err(e) = write_loop(writer.cancel.clone(), rx, write).await {
                writer.fail(writer.lost(format!("write failed: {e}")));
            }
        });
        tokio::spawn(read_loop(inner.clone(), read));
        Ok(Connection {
            inner,
            _writer: Arc::new(WriterHandle { cancel }),
        })
    }

    /// A number that no other connection of this process has: tells a new
    /// connection to the same broker from the old one.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// The options the connection was opened with.
    pub fn options(&self) -> &ConnectionOptions {
        &self.inner.options
    }

    /// The broker's address, as given to `connect`.
    pub fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// Whether the connection has failed or was closed; it accepts no more requests.
    pub fn is_closed(&self) -> bool {
        self.inner.lock().failure.is_some()
    }

    /// Closes the connection: requests still waiting fail, new ones are refused.
    pub fn close(&self) {
        self.inner.fail(Error::ConnectionLost {
            addr: self.inner.addr.clone(),
            reason: "closed by the client".to_string(),
        });
    }

    /// Sends `body` and waits for its answer, at most the `request_timeout` option.
    pub async fn request(&self, body: RequestBody) -> Result<ResponseBody> {
        let api = body.api_key();
        let pending = self.submit(body)?;
        let timeout = self.inner.options.request_timeout;
        tokio::time::timeout(timeout, pending)
            .await
            .map_err(|_| Error::Timeout {
                what: format!("the {} response from {}", api.name(), self.inner.addr),
                after: timeout,
            })?
    }

    /// Sends a typed request and returns the typed response (see [`Call`]).
    pub async fn call<R: Call>(&self, request: R) -> Result<R::Response> {
        let body = self.request(request.into_body()).await?;
        R::from_body(body).map_err(|got| self.unexpected(R::API, &got))
    }

    /// Queues `body` for sending and returns at once; the returned future resolves
    /// to its answer. Requests queued by one caller go out in the order of the calls,
    /// so a caller may keep many in flight. No timeout applies: wrap the future in
    /// one if needed.
    pub fn submit(&self, body: RequestBody) -> Result<PendingResponse> {
        let api = body.api_key();
        let (tx, rx) = oneshot::channel();
        self.queue(body, None, |correlation_id| {
            Some(Waiter {
                correlation_id,
                api,
                version: api.versions().1,
                tx,
            })
        })?;
        Ok(PendingResponse::new(rx, self.inner.addr.clone()))
    }

    /// Queues a request that the broker will not answer (a Produce with acks 0). The
    /// returned future resolves once the frame is written to the socket, so a caller
    /// can bound what it has queued; it fails if the connection ends first.
    pub fn send_no_response(&self, body: RequestBody) -> Result<Written> {
        let (tx, rx) = oneshot::channel();
        self.queue(body, Some(tx), |_| None)?;
        Ok(Written::new(rx, self.inner.addr.clone()))
    }

    /// Stamps the next correlation id on `body`'s frame and hands it to the writer,
    /// registering the waiter `waiter` makes for that id (if an answer is expected).
    /// Both happen under one lock, so frames go out and answers are matched in
    /// correlation-id order.
    fn queue(
        &self,
        body: RequestBody,
        written: Option<oneshot::Sender<()>>,
        waiter: impl FnOnce(i32) -> Option<Waiter>,
    ) -> Result<()> {
        let (head, rest) = self.encode(body);
        let mut state = self.inner.lock();
        let correlation_id = state.next_correlation_id;
        let writer = state.writable()?;
        let frame = with_correlation_id(head, rest, correlation_id);
        if writer.send(Outgoing { frame, written }).is_err() {
            return Err(self.inner.lost("the writer task has stopped"));
        }
        state.next_correlation_id = correlation_id.wrapping_add(1);
        if let Some(waiter) = waiter(correlation_id) {
            state.waiters.push_back(waiter);
        }
        Ok(())
    }

    /// Encodes `body` as a whole frame with correlation id 0, outside the lock:
    /// the length prefix and header, where [`with_correlation_id`] stamps the real
    /// id, then the body's pieces. A Produce's large record sets are shared with
    /// the caller's batches, not copied (`ProduceRequest::encode_linked`).
    fn encode(&self, body: RequestBody) -> (BytesMut, Vec<Bytes>) {
        let api = body.api_key();
        let header = RequestHeader {
            api_key: api.code(),
            api_version: api.versions().1,
            correlation_id: 0,
            client_id: self.inner.options.client_id.clone(),
        };
        let mut head = BytesMut::with_capacity(64);
        head.put_u32(0);
        header.encode(&mut head);
        let mut rest = Vec::new();
        let mut buf = match &body {
            RequestBody::Produce(produce) => {
                let mut buf = BytesMut::with_capacity(256);
                produce.encode_linked(&mut buf, &mut rest);
                buf
            }
            other => {
                let mut buf = BytesMut::with_capacity(other.size_hint());
                other.encode(api.versions().1, &mut buf);
                buf
            }
        };
        if !buf.is_empty() {
            rest.push(buf.split().freeze());
        }
        let len = head.len() - 4 + rest.iter().map(Bytes::len).sum::<usize>();
        head[..4].copy_from_slice(&(len as u32).to_be_bytes());
        (head, rest)
    }

    /// The error for a response of the wrong kind (cannot happen with this codec, but
    /// is not worth a panic).
    fn unexpected(&self, expected: ApiKey, got: &ResponseBody) -> Error {
        Error::Protocol {
            addr: self.inner.addr.clone(),
            detail: format!(
                "expected a {} response, decoded a {} one",
                expected.name(),
                got.api_key().name()
            ),
        }
    }
}

/// Writes `correlation_id` into the head of a frame from [`Connection::encode`]
/// (after the 4-byte length, the 2-byte api key and the 2-byte version) and joins
/// it to the rest.
fn with_correlation_id(mut head: BytesMut, rest: Vec<Bytes>, correlation_id: i32) -> Frame {
    head[8..12].copy_from_slice(&correlation_id.to_be_bytes());
    let mut pieces = Vec::with_capacity(1 + rest.len());
    pieces.push(head.freeze());
    pieces.extend(rest);
    Frame { pieces }
}

impl State {
    /// The writer's queue, or the error that closed the connection.
    fn writable(&self) -> Result<mpsc::UnboundedSender<Outgoing>> {
        match (&self.failure, &self.writer) {
            (Some(e), _) => Err(e.clone()),
            (None, Some(w)) => Ok(w.clone()),
            (None, None) => Err(Error::Closed("connection")),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue half-updated in a
        // way that matters more than losing the connection, so keep going.
        locks::lock(&self.state)
    }

    fn lost(&self, reason: impl Into<String>) -> Error {
        Error::ConnectionLost {
            addr: self.addr.clone(),
            reason: reason.into(),
        }
    }

    /// Ends the connection with `error`: every waiter gets it, new requests too.
    fn fail(&self, error: Error) {
        let waiters = {
            let mut state = self.lock();
            if state.failure.is_none() {
                state.failure = Some(error.clone());
            }
            state.writer = None;
            std::mem::take(&mut state.waiters)
        };
        if !waiters.is_empty() {
            tracing::debug!(addr = %self.addr, waiting = waiters.len(), %error, "connection failed");
        }
        for w in waiters {
            let _ = w.tx.send(Err(error.clone()));
        }
        self.cancel.cancel();
    }

    /// Hands one response frame to the oldest waiter.
    fn dispatch(&self, frame: Bytes) -> std::result::Result<(), Error> {
        let waiter = self.lock().waiters.pop_front();
        let Some(waiter) = waiter else {
            return Err(Error::Protocol {
                addr: self.addr.clone(),
                detail: "a response arrived with no request waiting for it".to_string(),
            });
        };
        let header = match ResponseHeader::decode(&frame) {
            Ok((header, _)) => header,
            Err(e) => {
                let error = Error::Protocol {
                    addr: self.addr.clone(),
                    detail: format!("{} response: {e}", waiter.api.name()),
                };
                let _ = waiter.tx.send(Err(error.clone()));
                return Err(error);
            }
        };
        if header.correlation_id != waiter.correlation_id {
            let detail = format!(
                "response carries correlation id {}, expected {} (the {} request)",
                header.correlation_id,
                waiter.correlation_id,
                waiter.api.name()
            );
            let error = Error::Protocol {
                addr: self.addr.clone(),
                detail,
            };
            let _ = waiter.tx.send(Err(error.clone()));
            return Err(error);
        }
        let result = match Response::decode_shared(waiter.api, waiter.version, &frame) {
            Err(e) => Err(Error::Protocol {
                addr: self.addr.clone(),
                detail: format!("{} response: {e}", waiter.api.name()),
            }),
            Ok(Response {
                body: Some(body), ..
            }) => Ok(body),
            Ok(Response { header, body: None }) => Err(Error::broker(
                header.error_code,
                Some(format!(
                    "{} request refused: {}",
                    waiter.api.name(),
                    header.error_message.unwrap_or_default()
                )),
            )),
        };
        // The requester may have given up (timeout); its answer is dropped.
        let _ = waiter.tx.send(result);
        Ok(())
    }
}

async fn read_loop(inner: Arc<Inner>, socket: OwnedReadHalf) {
    let mut frames = FrameReader::new(socket, inner.options.max_response_bytes);
    let error = loop {
        let next = tokio::select! {
            _ = inner.cancel.cancelled() => return,
            next = frames.next_frame() => next,
        };
        match next {
            Ok(frame) => {
                if let Err(e) = inner.dispatch(frame) {
                    break e;
                }
            }
            Err(ReadEnd::Closed) => break inner.lost("the broker closed the connection"),
            Err(ReadEnd::Failed(e)) => break inner.lost(format!("read failed: {e}")),
            Err(ReadEnd::BadFrame(e)) => {
                break inner.lost(format!("bad frame from the broker: {e}"))
            }
        }
    };
    inner.fail(error);
}

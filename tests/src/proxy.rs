//! A TCP proxy between a client and a broker that a test steers while traffic
//! flows: the one fault injector of Rill's tests, for any link that speaks Rill's
//! framing.
//!
//! The proxy understands only Rill's framing (a u32 big-endian length, then the
//! body; a request body starts with its i16 api key), so it forwards whole frames
//! and can act on one of them. Faults, each switchable at any time:
//! - [`delay`](FaultProxy::delay): every answer waits this long (answers on one
//!   connection stay in order);
//! - [`hold`](FaultProxy::hold): answers are held back until released;
//! - [`cut_next_request`](FaultProxy::cut_next_request): the next request of an api
//!   closes its connection instead of reaching the broker;
//! - [`cut_at_response`](FaultProxy::cut_at_response): the n-th answer (counted over
//!   all connections) closes its connection instead of being forwarded, so the
//!   broker carried the request out but the client never hears of it;
//! - [`cut_every_request`](FaultProxy::cut_every_request) and
//!   [`cut_every_answer`](FaultProxy::cut_every_answer): the same for every
//!   request or every answer, until switched off;
//! - [`partition`](FaultProxy::partition): every open connection is closed and new
//!   ones are closed at once, until healed;
//! - [`refuse`](FaultProxy::refuse): the proxy's port is closed, so connecting is
//!   refused (and every open connection is closed), until it listens again on the
//!   same port.
//!
//! A proxy can be bound before its upstream exists ([`bind`](FaultProxy::bind),
//! then [`forward_to`](FaultProxy::forward_to)), so a broker can advertise the
//! proxy's address: clients then follow Metadata back through the proxy.
//!
//! It also notes when each request passed on to the upstream, with its api key
//! ([`requests`](FaultProxy::requests)), so a test can see what a client sent and
//! when; the log lives as long as the proxy.
//!
//! Every connection a test opens through the proxy ends when the proxy is dropped.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// The largest frame the proxy forwards (length prefix excluded); a longer one
/// closes its link instead of being buffered. Far above any broker's default
/// `max_frame_bytes`, so it never cuts a frame a test meant to pass.
const MAX_FRAME_BYTES: usize = 256 << 20;

/// The proxy's switches, shared with every connection task.
#[derive(Debug)]
struct Faults {
    delay_ms: AtomicU64,
    held: AtomicBool,
    /// The api key whose next request cuts its connection (-1: none).
    cut_api: AtomicI32,
    /// The answer number (from 1, over all connections) that cuts its connection
    /// (0: none).
    cut_at_response: AtomicUsize,
    /// Every request cuts its connection while set.
    cut_requests: AtomicBool,
    /// Every answer cuts its connection while set.
    cut_answers: AtomicBool,
    responses: AtomicUsize,
    connections: AtomicUsize,
    cuts: AtomicUsize,
    /// Each request passed on to the upstream: when, and its api key.
    passed: Mutex<Vec<(Instant, i16)>>,
    /// `true` while partitioned; connections watch it to close at once.
    partitioned: watch::Sender<bool>,
    /// Where new links connect; `None` closes them at once.
    upstream: Mutex<Option<SocketAddr>>,
}

/// How long [`FaultProxy::refuse`]`(false)` keeps trying to bind the proxy's port
/// again while the operating system still holds it.
const REBIND_FOR: Duration = Duration::from_secs(5);

/// A steerable proxy in front of one upstream address (see the module docs).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    /// The accept loop; `None` while refusing.
    listening: Option<Listening>,
}

/// A running accept loop, which owns the listener and every link.
#[derive(Debug)]
struct Listening {
    /// Fired (or dropped) to close the port and every link.
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 that forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let proxy = FaultProxy::bind().await?;
        proxy.forward_to(upstream);
        Ok(proxy)
    }

    /// Starts a proxy on a free port of 127.0.0.1 that forwards nowhere (closes
    /// every connection) until [`FaultProxy::forward_to`] says where.
    pub async fn bind() -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Faults {
            delay_ms: AtomicU64::new(0),
            held: AtomicBool::new(false),
            cut_api: AtomicI32::new(-1),
            cut_at_response: AtomicUsize::new(0),
            cut_requests: AtomicBool::new(false),
            cut_answers: AtomicBool::new(false),
            responses: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            cuts: AtomicUsize::new(0),
            passed: Mutex::new(Vec::new()),
            partitioned: watch::channel(false).0,
            upstream: Mutex::new(None),
        });
        let listening = listen(listener, Arc::clone(&faults));
        Ok(FaultProxy {
            addr,
            faults,
            listening: Some(listening),
        })
    }

    /// Connections accepted from now on are forwarded to `upstream` (open ones
    /// stay with the upstream they have).
    pub fn forward_to(&self, upstream: SocketAddr) {
        *self
            .faults
            .upstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(upstream);
    }

    /// Where clients connect instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Delays every answer by `delay` from now on (zero: no delay).
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.faults.delay_ms.store(ms, Ordering::Release);
    }

    /// Holds back every answer while `on`.
    pub fn hold(&self, on: bool) {
        self.faults.held.store(on, Ordering::Release);
    }

    /// The next request with api key `api` closes its connection instead of
    /// reaching the upstream.
    pub fn cut_next_request(&self, api: i16) {
        self.faults.cut_api.store(i32::from(api), Ordering::Release);
    }

    /// The `n`-th answer from now on (counting from 1, over all connections) closes
    /// its connection instead of being forwarded.
    pub fn cut_at_response(&self, n: usize) {
        let seen = self.faults.responses.load(Ordering::Acquire);
        self.faults
            .cut_at_response
            .store(seen.saturating_add(n), Ordering::Release);
    }

    /// While `on`, every request closes its connection instead of reaching the
    /// upstream: the client sent it and cannot know it was not carried out.
    pub fn cut_every_request(&self, on: bool) {
        self.faults.cut_requests.store(on, Ordering::Release);
    }

    /// While `on`, every answer closes its connection instead of being forwarded:
    /// the upstream carried the request out, the client never hears of it.
    pub fn cut_every_answer(&self, on: bool) {
        self.faults.cut_answers.store(on, Ordering::Release);
    }

    /// Cuts every connection and closes new ones as soon as they are accepted
    /// while `on` (a network partition between the two sides).
    pub fn partition(&self, on: bool) {
        self.faults.partitioned.send_replace(on);
    }

    /// While `on`, nothing listens on the proxy's port: connecting is refused, as
    /// with a host that is down. Turning it on closes every open connection and
    /// returns once they are closed; turning it off listens on the same port again,
    /// retrying for up to 5 s while the operating system still holds it. Fails if
    /// the port cannot be had again.
    pub async fn refuse(&mut self, on: bool) -> io::Result<()> {
        if on {
            if let Some(Listening { stop, task }) = self.listening.take() {
                // The loop may have ended on its own, dropping the receiver.
                let _ = stop.send(());
                task.await.map_err(io::Error::other)?;
            }
        } else if self.listening.is_none() {
            let listener = bind_again(self.addr).await?;
            let listening = listen(listener, Arc::clone(&self.faults));
            self.listening = Some(listening);
        }
        Ok(())
    }

    /// Client connections accepted so far (ones closed by a partition included;
    /// refused ones never reach the proxy).
    pub fn connections(&self) -> usize {
        self.faults.connections.load(Ordering::SeqCst)
    }

    /// Connections closed by a cut request or a cut answer.
    pub fn cuts(&self) -> usize {
        self.faults.cuts.load(Ordering::Acquire)
    }

    /// When each request with api key `api` was passed on to the upstream, oldest
    /// first (cut requests are not among them).
    pub fn requests(&self, api: i16) -> Vec<Instant> {
        let passed = self
            .faults
            .passed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        passed
            .iter()
            .filter(|(_, key)| *key == api)
            .map(|(at, _)| *at)
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the loop drops its listener and its links, closing their sockets.
        if let Some(listening) = self.listening.take() {
            listening.task.abort();
        }
    }
}

/// Spawns the accept loop on `listener`: each accepted client gets a [`link`] to
/// the upstream. When told to stop, it closes the port and every link, and ends
/// once they are closed.
fn listen(listener: TcpListener, faults: Arc<Faults>) -> Listening {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut links = JoinSet::new();
        loop {
            let client = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((client, _)) => client,
                    Err(_) => break,
                },
                _ = &mut stopped => break,
            };
            // Forget links that have ended.
            while links.try_join_next().is_some() {}
            faults.connections.fetch_add(1, Ordering::SeqCst);
            if *faults.partitioned.borrow() {
                continue; // dropped: closed at once
            }
            let upstream = *faults
                .upstream
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(upstream) = upstream else {
                continue; // nowhere to go yet: closed at once
            };
            links.spawn(link(client, upstream, Arc::clone(&faults)));
        }
        drop(listener);
        links.shutdown().await;
    });
    Listening { stop, task }
}

/// Binds `addr` again; keeps trying for [`REBIND_FOR`] while it is in use.
async fn bind_again(addr: SocketAddr) -> io::Result<TcpListener> {
    let deadline = Instant::now() + REBIND_FOR;
    loop {
        match TcpListener::bind(addr).await {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            bound => return bound,
        }
    }
}

/// Forwards one client connection until either side closes or a fault cuts it.
async fn link(client: TcpStream, upstream: SocketAddr, faults: Arc<Faults>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut partitioned = faults.partitioned.subscribe();
    let requests = async {
        while let Some(frame) = read_frame(&mut client_read).await {
            let key = frame.get(4..6).map(|k| i16::from_be_bytes([k[0], k[1]]));
            let cut = faults.cut_requests.load(Ordering::Acquire)
                || key.is_some_and(|k| {
                    k >= 0
                        && faults
                            .cut_api
                            .compare_exchange(i32::from(k), -1, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                });
            if cut {
                faults.cuts.fetch_add(1, Ordering::AcqRel);
                return;
            }
            if let Some(key) = key {
                faults
                    .passed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((Instant::now(), key));
            }
            if server_write.write_all(&frame).await.is_err() {
                return;
            }
        }
    };
    let answers = async {
        while let Some(frame) = read_frame(&mut server_read).await {
            let n = faults.responses.fetch_add(1, Ordering::AcqRel) + 1;
            if n == faults.cut_at_response.load(Ordering::Acquire)
                || faults.cut_answers.load(Ordering::Acquire)
            {
                faults.cuts.fetch_add(1, Ordering::AcqRel);
                return;
            }
            let delay = faults.delay_ms.load(Ordering::Acquire);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            while faults.held.load(Ordering::Acquire) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if client_write.write_all(&frame).await.is_err() {
                return;
            }
        }
    };
    // Whichever ends first ends the link; dropping both halves closes both sockets.
    tokio::select! {
        () = requests => {}
        () = answers => {}
        _ = partitioned.wait_for(|on| *on) => {}
    }
}

/// One length-prefixed frame, prefix included; `None` at end of stream or for a
/// frame over [`MAX_FRAME_BYTES`].
async fn read_frame(from: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len).await.ok()?;
    let body = u32::from_be_bytes(len) as usize;
    if body > MAX_FRAME_BYTES {
        return None;
    }
    let mut frame = len.to_vec();
    frame.resize(4 + body, 0);
    from.read_exact(&mut frame[4..]).await.ok()?;
    Some(frame)
}

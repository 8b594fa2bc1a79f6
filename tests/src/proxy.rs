//! A TCP proxy between a client and a broker that a test steers while traffic
//! flows: the one fault injector of Rill's tests, for client links today and
//! every inter-broker link once brokers replicate.
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
//! - [`partition`](FaultProxy::partition): every open connection is closed and new
//!   ones are closed at once, until healed.
//!
//! It also notes when each request passed on to the upstream, with its api key
//! ([`requests`](FaultProxy::requests)), so a test can see what a client sent and
//! when; the log lives as long as the proxy.
//!
//! Every connection a test opens through the proxy ends when the proxy is dropped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

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
    responses: AtomicUsize,
    connections: AtomicUsize,
    cuts: AtomicUsize,
    /// Each request passed on to the upstream: when, and its api key.
    passed: Mutex<Vec<(Instant, i16)>>,
    /// `true` while partitioned; connections watch it to close at once.
    partitioned: watch::Sender<bool>,
}

/// A steerable proxy in front of one upstream address (see the module docs).
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on a free port of 127.0.0.1 that forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Faults {
            delay_ms: AtomicU64::new(0),
            held: AtomicBool::new(false),
            cut_api: AtomicI32::new(-1),
            cut_at_response: AtomicUsize::new(0),
            responses: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            cuts: AtomicUsize::new(0),
            passed: Mutex::new(Vec::new()),
            partitioned: watch::channel(false).0,
        });
        let shared = Arc::clone(&faults);
        let accept = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                if *shared.partitioned.borrow() {
                    continue; // dropped: closed at once
                }
                links.spawn(link(client, upstream, Arc::clone(&shared)));
            }
        });
        Ok(FaultProxy {
            addr,
            faults,
            accept,
        })
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

    /// Cuts every connection and refuses new ones while `on` (a network
    /// partition between the two sides).
    pub fn partition(&self, on: bool) {
        self.faults.partitioned.send_replace(on);
    }

    /// Client connections accepted so far (refused ones included).
    pub fn connections(&self) -> usize {
        self.faults.connections.load(Ordering::SeqCst)
    }

    /// Connections closed by a fault: a cut request or a cut answer.
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
        self.accept.abort();
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
            let cut = key.is_some_and(|k| {
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
            if n == faults.cut_at_response.load(Ordering::Acquire) {
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

/// One length-prefixed frame, prefix included; `None` at end of stream.
async fn read_frame(from: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len).await.ok()?;
    let mut frame = len.to_vec();
    frame.resize(4 + u32::from_be_bytes(len) as usize, 0);
    from.read_exact(&mut frame[4..]).await.ok()?;
    Some(frame)
}

//! A TCP proxy in front of a broker that a test steers while it runs: delay or
//! hold back every answer, or cut the connection that sends a request of some api.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a [`Proxy`] does to the traffic passing through it.
#[derive(Debug)]
struct Steer {
    /// Each answer waits this long (answers on one connection stay in order).
    delay_ms: AtomicU64,
    /// Answers are held back while set.
    held: AtomicBool,
    /// The next request with this api key cuts its connection instead of
    /// passing (-1: none).
    cut_api: AtomicI32,
    cuts: AtomicUsize,
}

/// A TCP proxy in front of a broker that a test steers while it runs: delay or
/// hold back every answer, or cut the connection that sends a request of some api.
pub struct Proxy {
    pub addr: String,
    steer: Arc<Steer>,
}

impl Proxy {
    pub async fn start(broker: &str) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let steer = Arc::new(Steer {
            delay_ms: AtomicU64::new(0),
            held: AtomicBool::new(false),
            cut_api: AtomicI32::new(-1),
            cuts: AtomicUsize::new(0),
        });
        let (shared, upstream_addr) = (steer.clone(), broker.to_string());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = tokio::net::TcpStream::connect(&upstream_addr).await else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut up_read, mut up_write) = upstream.into_split();
                let cut = Arc::new(tokio::sync::Notify::new());
                let (steer, cut_answers) = (shared.clone(), cut.clone());
                tokio::spawn(async move {
                    loop {
                        let frame = tokio::select! {
                            frame = read_frame(&mut up_read) => frame,
                            _ = cut_answers.notified() => None,
                        };
                        let Some(frame) = frame else { break };
                        let delay = steer.delay_ms.load(Ordering::Acquire);
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                        while steer.held.load(Ordering::Acquire) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        if client_write.write_all(&frame).await.is_err() {
                            break;
                        }
                    }
                });
                let steer = shared.clone();
                tokio::spawn(async move {
                    while let Some(frame) = read_frame(&mut client_read).await {
                        let api = i16::from_be_bytes([frame[4], frame[5]]);
                        let cut_now = steer
                            .cut_api
                            .compare_exchange(
                                i32::from(api),
                                -1,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            )
                            .is_ok();
                        if cut_now {
                            steer.cuts.fetch_add(1, Ordering::AcqRel);
                            cut.notify_one();
                            break;
                        }
                        if up_write.write_all(&frame).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });

        /// One length-prefixed frame, prefix included.
        async fn read_frame(from: &mut (impl AsyncReadExt + Unpin)) -> Option<Vec<u8>> {
            let mut len = [0u8; 4];
            from.read_exact(&mut len).await.ok()?;
            let mut frame = len.to_vec();
            frame.resize(4 + u32::from_be_bytes(len) as usize, 0);
            from.read_exact(&mut frame[4..]).await.ok()?;
            Some(frame)
        }

        Proxy { addr, steer }
    }

    /// Delays every answer by `delay` from now on.
    pub fn delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).expect("delay");
        self.steer.delay_ms.store(ms, Ordering::Release);
    }

    /// Holds back every answer while `on`.
    pub fn hold(&self, on: bool) {
        self.steer.held.store(on, Ordering::Release);
    }

    /// The next request with api key `api` (OffsetCommit is 8) closes its
    /// connection instead of reaching the broker.
    pub fn cut_next(&self, api: i16) {
        self.steer.cut_api.store(i32::from(api), Ordering::Release);
    }

    /// How many connections were cut.
    pub fn cuts(&self) -> usize {
        self.steer.cuts.load(Ordering::Acquire)
    }
}

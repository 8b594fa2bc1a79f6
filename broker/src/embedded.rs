//! A broker inside the calling process: [`serve`] as a task on the caller's tokio
//! runtime, listening on a free port of 127.0.0.1. It is the one in-process broker
//! of the workspace: the demo and the benchmark run against it when they are not
//! given `--broker ADDR`, and the client, CLI and end-to-end tests start it instead
//! of a separate process.
//!
//! Invariants:
//! - The broker serves with exactly [`EmbeddedBroker::config`]: its `listen` is the
//!   bound address, its `data_dir` the directory in use, its `metrics_listen` the
//!   bound metrics address (or none).
//! - A data directory the builder created (no [`EmbeddedBuilder::data_dir`] given)
//!   is new, unique to this broker, and removed when the [`EmbeddedBroker`] is
//!   dropped; it survives [`stop`](EmbeddedBroker::stop) and
//!   [`restart`](EmbeddedBroker::restart), so a restart sees the same topics. A
//!   directory the caller gave is never removed.
//! - Dropping a running broker tells it to stop without waiting (its task removes a
//!   temporary data directory once the broker has stopped, or when the runtime
//!   drops the task); call [`stop`](EmbeddedBroker::stop) first to wait for a clean
//!   shutdown (in-flight requests finished, logs fsynced and checkpointed) and to
//!   learn its outcome.
//!
//! ```no_run
//! # async fn run() -> rill_broker::Result<()> {
//! use rill_broker::embedded::EmbeddedBroker;
//!
//! let mut broker = EmbeddedBroker::builder()
//!     .config(EmbeddedBroker::fast_groups_config())
//!     .start()
//!     .await?;
//! println!("clients connect to {}", broker.addr());
//! broker.restart().await?; // same data, a new port
//! broker.stop().await?;
//! # Ok(())
//! # }
//! ```
//!
//! [`serve`]: crate::server::serve

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::BrokerConfig;
use crate::error::{Error, Result};
use crate::server::serve_with_metrics;

/// How long [`EmbeddedBroker::restart_on_same_addr`] keeps trying to bind the old
/// address while the operating system still holds it.
const REBIND_FOR: Duration = Duration::from_secs(5);

/// Distinguishes temporary data directories created in the same nanosecond.
static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

/// How to start an [`EmbeddedBroker`]; made by [`EmbeddedBroker::builder`].
#[derive(Debug, Clone)]
pub struct EmbeddedBuilder {
    config: BrokerConfig,
    data_dir: Option<PathBuf>,
    metrics: bool,
    stop_timeout: Option<Duration>,
}

impl EmbeddedBuilder {
    /// The broker's settings (default: [`BrokerConfig::default`]). `listen`,
    /// `data_dir` and `metrics_listen` are replaced when the broker starts.
    pub fn config(mut self, config: BrokerConfig) -> EmbeddedBuilder {
        self.config = config;
        self
    }

    /// Serves from `dir`, which the caller owns: it is created if missing and
    /// never removed. Without it the broker gets a new directory under the
    /// system's temporary directory, removed when the broker is dropped.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> EmbeddedBuilder {
        self.data_dir = Some(dir.into());
        self
    }

    /// Also serves Prometheus metrics (`GET /metrics`) on a free port of 127.0.0.1
    /// (see [`EmbeddedBroker::metrics_addr`]). Default off.
    pub fn metrics(mut self, on: bool) -> EmbeddedBuilder {
        self.metrics = on;
        self
    }

    /// Makes [`EmbeddedBroker::stop`] fail if the broker has not stopped within
    /// `limit` of being told to. Default: wait as long as the shutdown takes.
    pub fn stop_timeout(mut self, limit: Duration) -> EmbeddedBuilder {
        self.stop_timeout = Some(limit);
        self
    }

    /// Starts the broker as a task on the current tokio runtime. Fails if no port
    /// can be bound or the temporary data directory cannot be created; a broker
    /// that cannot open its data reports it from [`EmbeddedBroker::stop`].
    pub async fn start(self) -> Result<EmbeddedBroker> {
        let (data_dir, temp_dir) = match self.data_dir {
            Some(dir) => (dir, None),
            None => {
                let dir = new_temp_dir()?;
                (dir.clone(), Some(dir))
            }
        };
        let mut config = self.config;
        config.data_dir = data_dir;
        let mut broker = EmbeddedBroker {
            config,
            metrics: self.metrics,
            stop_timeout: self.stop_timeout,
            running: None,
            temp_dir,
        };
        broker.serve(None).await?;
        Ok(broker)
    }
}

/// A broker running in this process (or, between [`EmbeddedBroker::stop`] and a
/// restart, a stopped one) with its data directory.
#[derive(Debug)]
pub struct EmbeddedBroker {
    config: BrokerConfig,
    metrics: bool,
    stop_timeout: Option<Duration>,
    running: Option<Running>,
    /// The data directory when this broker created it (and so removes it).
    temp_dir: Option<PathBuf>,
}

/// The parts of a running `serve` task.
#[derive(Debug)]
struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<()>>,
    /// Set when the broker is dropped while running: the task then removes the
    /// temporary data directory once `serve` has returned (or the task is dropped).
    remove_after: Arc<AtomicBool>,
}

/// Held by the `serve` task: removes `dir` when the task ends, if asked to by then.
struct RemoveAfter {
    dir: Option<PathBuf>,
    asked: Arc<AtomicBool>,
}

impl Drop for RemoveAfter {
    fn drop(&mut self) {
        if let Some(dir) = self
            .dir
            .take()
            .filter(|_| self.asked.load(Ordering::Acquire))
        {
            // Nothing to report to from a task's end; a leftover directory is only
            // litter in the system's temporary directory.
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl EmbeddedBroker {
    /// A builder with the broker's default settings, a temporary data directory
    /// and no metrics endpoint.
    pub fn builder() -> EmbeddedBuilder {
        EmbeddedBuilder {
            config: BrokerConfig::default(),
            data_dir: None,
            metrics: false,
            stop_timeout: None,
        }
    }

    /// The broker's defaults, except that group members heartbeat every 200 ms
    /// (with a 5 s session), so groups settle quickly in a short run such as the
    /// demo or the benchmark.
    pub fn fast_groups_config() -> BrokerConfig {
        let mut config = BrokerConfig::default();
        config.groups.heartbeat_interval_ms = 200;
        config.groups.session_timeout_ms = 5_000;
        config
    }

    /// Where clients connect (the latest address after a restart).
    pub fn addr(&self) -> SocketAddr {
        self.config.listen
    }

    /// Where `GET /metrics` is answered, when the builder asked for it.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.config.metrics_listen
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The configuration the broker runs with, with the real listen address, data
    /// directory and metrics address filled in.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Whether the broker was started and not stopped since (see
    /// [`is_serving`](EmbeddedBroker::is_serving) for whether it ended on its own).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Whether the broker is serving: started, not stopped, and its task has not
    /// returned or panicked on its own.
    pub fn is_serving(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.task.is_finished())
    }

    /// Stops the broker cleanly and waits for it: it stops accepting, finishes
    /// in-flight requests, and closes every log. Fails if the broker failed, or
    /// outlived the builder's stop timeout (it is then cancelled: its logs are
    /// dropped without a clean-shutdown checkpoint, as after a crash). Stopping a
    /// stopped broker does nothing. The data directory is kept for a restart.
    pub async fn stop(&mut self) -> Result<()> {
        let Some(Running {
            shutdown, mut task, ..
        }) = self.running.take()
        else {
            return Ok(());
        };
        // The task may have ended on its own, dropping the receiver.
        let _ = shutdown.send(());
        let joined = match self.stop_timeout {
            Some(limit) => match tokio::time::timeout(limit, &mut task).await {
                Ok(joined) => joined,
                Err(_) => {
                    // Cancel it, so no broker is left running on the data
                    // directory (holding its locks) once this returns.
                    task.abort();
                    let _ = task.await;
                    return Err(Error::Task(format!(
                        "the embedded broker did not stop within {limit:?} of being \
                         told to, and was cancelled"
                    )));
                }
            },
            None => task.await,
        };
        joined.map_err(|e| Error::Task(format!("the embedded broker's task: {e}")))?
    }

    /// Stops the broker (if running) and serves again with the same configuration
    /// and data directory, on a new free port (see [`addr`](EmbeddedBroker::addr)).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop().await?;
        self.serve(None).await
    }

    /// Stops the broker (if running) and serves again with the same configuration
    /// and data directory on the same address, so clients that keep the address
    /// reconnect to it. Binding is retried for up to 5 s while the operating system
    /// still holds the port.
    pub async fn restart_on_same_addr(&mut self) -> Result<()> {
        self.stop().await?;
        let addrs = (self.config.listen, self.config.metrics_listen);
        self.serve(Some(addrs)).await
    }

    /// Binds the listeners (free ports, or `at` again) and spawns `serve`.
    async fn serve(&mut self, at: Option<(SocketAddr, Option<SocketAddr>)>) -> Result<()> {
        let free = SocketAddr::from(([127, 0, 0, 1], 0));
        let (listen_at, metrics_at) = match at {
            Some((listen, metrics)) => (listen, metrics.unwrap_or(free)),
            None => (free, free),
        };
        let retry = at.is_some();
        let listener = bind(listen_at, retry).await?;
        let metrics = if self.metrics {
            Some(bind(metrics_at, retry).await?)
        } else {
            None
        };
        self.config.listen = local_addr(&listener)?;
        self.config.metrics_listen = match &metrics {
            Some(listener) => Some(local_addr(listener)?),
            None => None,
        };
        let (shutdown, fired) = oneshot::channel::<()>();
        let remove_after = Arc::new(AtomicBool::new(false));
        let guard = RemoveAfter {
            dir: self.temp_dir.clone(),
            asked: Arc::clone(&remove_after),
        };
        let serving = serve_with_metrics(listener, metrics, self.config.clone(), async move {
            // A dropped sender also means "stop".
            let _ = fired.await;
        });
        let task = tokio::spawn(async move {
            let _guard = guard;
            serving.await
        });
        self.running = Some(Running {
            shutdown,
            task,
            remove_after,
        });
        Ok(())
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        let Some(dir) = self.temp_dir.take() else {
            // No runtime to wait on here: tell the broker to stop and let it go.
            if let Some(running) = self.running.take() {
                let _ = running.shutdown.send(());
            }
            return;
        };
        match self.running.take() {
            // Removing the directory now would race the broker's shutdown, which
            // still writes to it: its task removes it when `serve` has returned.
            Some(running) => {
                running.remove_after.store(true, Ordering::Release);
                let _ = running.shutdown.send(());
                if running.task.is_finished() {
                    // Its guard may have run before it was asked to.
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            // Nothing to report to in a drop; a leftover directory is only litter
            // in the system's temporary directory.
            None => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// Binds `addr`; with `retry`, keeps trying for [`REBIND_FOR`] while it is in use.
async fn bind(addr: SocketAddr, retry: bool) -> Result<TcpListener> {
    let deadline = tokio::time::Instant::now() + REBIND_FOR;
    loop {
        match TcpListener::bind(addr).await {
            Ok(listener) => return Ok(listener),
            Err(e)
                if retry
                    && e.kind() == io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => {
                return Err(Error::Listener(io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr}: {e}"),
                )))
            }
        }
    }
}

fn local_addr(listener: &TcpListener) -> Result<SocketAddr> {
    listener.local_addr().map_err(Error::Listener)
}

/// Creates a new directory under the system's temporary directory, named after
/// this process, the clock and a counter, so it belongs to one broker only.
fn new_temp_dir() -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "rill-embedded-{}-{nanos}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::Relaxed)
    ));
    // `create_dir`, not `create_dir_all`: an existing directory is never adopted
    // (and so never removed on drop).
    std::fs::create_dir(&dir).map_err(|source| Error::Io {
        op: "create the embedded broker's data directory",
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    #[tokio::test]
    async fn a_temporary_directory_lives_across_restarts_and_goes_on_drop() {
        let mut broker = EmbeddedBroker::builder()
            .config(EmbeddedBroker::fast_groups_config())
            .stop_timeout(Duration::from_secs(20))
            .start()
            .await
            .expect("start");
        let dir = broker.data_dir().to_path_buf();
        assert!(dir.starts_with(std::env::temp_dir()), "{dir:?}");
        assert_eq!(broker.config().data_dir, dir);
        assert_eq!(broker.config().groups.heartbeat_interval_ms, 200);
        assert!(broker.is_running() && broker.metrics_addr().is_none());
        TcpStream::connect(broker.addr()).await.expect("connect");

        broker.restart().await.expect("restart");
        assert_eq!(broker.data_dir(), dir);
        assert_eq!(broker.config().listen, broker.addr());
        assert!(broker.is_serving());
        TcpStream::connect(broker.addr())
            .await
            .expect("connect again");

        broker.restart_on_same_addr().await.expect("same address");
        assert_ne!(broker.addr().port(), 0);
        let kept = broker.addr();
        broker.stop().await.expect("stop");
        assert!(!broker.is_running() && !broker.is_serving());
        broker.stop().await.expect("a second stop does nothing");
        broker.restart_on_same_addr().await.expect("start again");
        assert_eq!(broker.addr(), kept);
        TcpStream::connect(kept)
            .await
            .expect("connect to the same address");
        assert!(dir.is_dir());
        broker.stop().await.expect("stop again");
        drop(broker);
        assert!(!dir.exists(), "{dir:?} outlived its broker");
    }

    #[tokio::test]
    async fn a_callers_directory_is_kept_and_metrics_are_served() {
        let owned = tempfile::tempdir().expect("temp dir");
        let dir = owned.path().join("data");
        let mut broker = EmbeddedBroker::builder()
            .data_dir(&dir)
            .metrics(true)
            .start()
            .await
            .expect("start");
        let metrics = broker.metrics_addr().expect("a metrics address");
        assert_eq!(broker.config().metrics_listen, Some(metrics));
        let mut http = TcpStream::connect(metrics).await.expect("connect");
        http.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .expect("request");
        let mut answer = String::new();
        http.read_to_string(&mut answer).await.expect("answer");
        assert!(answer.starts_with("HTTP/1."), "{answer}");
        broker.stop().await.expect("stop");
        drop(broker);
        assert!(dir.is_dir(), "the caller's directory must stay");
    }

    #[tokio::test]
    async fn a_broker_dropped_while_running_removes_its_directory_once_stopped() {
        let broker = EmbeddedBroker::builder().start().await.expect("start");
        let dir = broker.data_dir().to_path_buf();
        TcpStream::connect(broker.addr()).await.expect("connect");
        drop(broker);
        for _ in 0..500 {
            if !dir.exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{dir:?} outlived its broker");
    }

    #[tokio::test]
    async fn a_port_in_use_is_a_clear_error() {
        let taken = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let err = bind(taken.local_addr().expect("addr"), false)
            .await
            .expect_err("in use")
            .to_string();
        assert!(err.contains("cannot listen on 127.0.0.1:"), "{err}");
    }
}

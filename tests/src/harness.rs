//! A real broker inside the test process.
//!
//! [`TestBroker::start`] binds a listener on `127.0.0.1:0`, gives the broker a fresh
//! temporary data directory (or one the test chooses) and runs [`rill_broker::serve`]
//! as a task on the caller's tokio runtime. [`TestBroker::stop`] fires the shutdown
//! future and waits for `serve` to return `Ok`; [`TestBroker::restart`] stops it and
//! serves again on the same data directory (on a new port), which is how tests check
//! that topics and records survive a clean restart. Since the broker shares the
//! test's process, [`rss_bytes`] is its memory as well.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rill_broker::BrokerConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::client::TestClient;

/// How long [`TestBroker::stop`] waits for `serve` to return.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running broker (or, between [`TestBroker::stop`] and the next start, a stopped
/// one) with its data directory.
#[derive(Debug)]
pub struct TestBroker {
    config: BrokerConfig,
    addr: SocketAddr,
    running: Option<Running>,
    /// Keeps a temporary data directory alive as long as the broker.
    _temp_dir: Option<tempfile::TempDir>,
}

/// The parts of a running `serve` task.
#[derive(Debug)]
struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<rill_broker::Result<()>>,
}

impl TestBroker {
    /// Starts a broker with `config` in a new temporary data directory, which is
    /// removed when the `TestBroker` is dropped. `config.listen` and
    /// `config.data_dir` are replaced.
    pub async fn start(config: BrokerConfig) -> io::Result<TestBroker> {
        let temp_dir = tempfile::Builder::new().prefix("rill-broker-").tempdir()?;
        let mut broker = TestBroker::start_in(temp_dir.path(), config).await?;
        broker._temp_dir = Some(temp_dir);
        Ok(broker)
    }

    /// Starts a broker with `config` on the data directory `data_dir`, which the
    /// caller owns. `config.listen` is replaced by the bound address.
    pub async fn start_in(data_dir: &Path, mut config: BrokerConfig) -> io::Result<TestBroker> {
        config.data_dir = data_dir.to_path_buf();
        let mut broker = TestBroker {
            addr: config.listen,
            config,
            running: None,
            _temp_dir: None,
        };
        broker.serve().await?;
        Ok(broker)
    }

    /// Binds a new listener and spawns `serve` on it.
    async fn serve(&mut self) -> io::Result<()> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        self.addr = listener.local_addr()?;
        self.config.listen = self.addr;
        let (shutdown, fired) = oneshot::channel::<()>();
        let shutdown_future = async move {
            // A dropped sender also means "stop".
            let _ = fired.await;
        };
        let task = tokio::spawn(rill_broker::serve(
            listener,
            self.config.clone(),
            shutdown_future,
        ));
        self.running = Some(Running { shutdown, task });
        Ok(())
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The configuration the broker runs with (with the real listen address and data
    /// directory filled in).
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Whether the broker was started and not stopped since (see
    /// [`TestBroker::is_serving`] for whether `serve` has ended on its own).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Whether `serve` is still running: started, not stopped, and not returned or
    /// panicked on its own.
    pub fn is_serving(&self) -> bool {
        self.running.as_ref().is_some_and(|r| !r.task.is_finished())
    }

    /// Opens a new client connection to the broker.
    pub async fn connect(&self) -> io::Result<TestClient> {
        TestClient::connect(self.addr).await
    }

    /// Fires the shutdown and waits for `serve` to return. Fails if `serve` returns an
    /// error, panics, or takes longer than 20 s. Stopping a stopped broker is a no-op.
    pub async fn stop(&mut self) -> io::Result<()> {
        let Some(Running { shutdown, task }) = self.running.take() else {
            return Ok(());
        };
        // The task may already have ended (with an error), dropping the receiver.
        let _ = shutdown.send(());
        match tokio::time::timeout(STOP_TIMEOUT, task).await {
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("serve did not return within {STOP_TIMEOUT:?} of the shutdown"),
            )),
            Ok(Err(join)) => Err(io::Error::other(format!("serve task failed: {join}"))),
            Ok(Ok(Err(e))) => Err(io::Error::other(format!("serve returned an error: {e}"))),
            Ok(Ok(Ok(()))) => Ok(()),
        }
    }

    /// Stops the broker (see [`TestBroker::stop`]) and serves again on the same data
    /// directory and configuration; the new listener has a new port.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.stop().await?;
        self.serve().await
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        // Without a runtime to wait on, ask the broker to stop and let it go; the
        // runtime cancels the task when it shuts down.
        if let Some(running) = self.running.take() {
            let _ = running.shutdown.send(());
        }
    }
}

/// Resident set size of this process in bytes (`VmRSS` in `/proc/self/status`,
/// Linux only). A [`TestBroker`] runs in the test process, so this includes
/// whatever the broker holds.
pub fn rss_bytes() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "no readable VmRSS line in /proc/self/status",
            )
        })
}

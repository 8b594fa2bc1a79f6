//! A broker inside this process: `rill_broker::serve` on a free port of 127.0.0.1
//! over a fresh temporary data directory, removed when the broker is stopped. The
//! demo and the benchmark use it when they are not given `--broker ADDR`.
//!
//! ```no_run
//! # async fn run() -> rill_client::Result<()> {
//! use rill_client::embedded::EmbeddedBroker;
//!
//! let broker = EmbeddedBroker::start(EmbeddedBroker::default_config()).await?;
//! let admin = rill_client::Admin::connect(broker.addr()).await?;
//! admin.create_topic("events", 3, &[]).await?;
//! broker.stop().await?;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rill_broker::BrokerConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// A running broker in this process. Stop it with [`EmbeddedBroker::stop`]; a
/// broker dropped without it is told to stop, but its data directory stays.
#[derive(Debug)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<rill_broker::Result<()>>>,
}

impl EmbeddedBroker {
    /// The broker's defaults, except that group heartbeats come every 200 ms (with
    /// a 5 s session), so groups settle quickly in a short run.
    pub fn default_config() -> BrokerConfig {
        let mut config = BrokerConfig::default();
        config.groups.heartbeat_interval_ms = 200;
        config.groups.session_timeout_ms = 5_000;
        config
    }

    /// Starts a broker with `config`, except for its listen address (a free port on
    /// 127.0.0.1) and its data directory (a new one under the system's temporary
    /// directory). Set e.g. `config.log.fsync` for the default durability of topics.
    pub async fn start(mut config: BrokerConfig) -> Result<EmbeddedBroker> {
        let dir = std::env::temp_dir().join(format!(
            "rill-embedded-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let failed = |what: &str, e: &dyn std::fmt::Display| Error::Embedded {
            reason: format!("{what}: {e}"),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| failed("cannot listen on 127.0.0.1", &e))?;
        let addr = listener.local_addr().map_err(|e| failed("listener", &e))?;
        config.listen = addr;
        config.data_dir = dir.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(rill_broker::serve(listener, config, async move {
            let _ = stopped.await;
        }));
        Ok(EmbeddedBroker {
            addr,
            dir,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The broker's data directory (removed by [`stop`](EmbeddedBroker::stop)).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the broker cleanly (in-flight requests finish, logs are fsynced) and
    /// removes its data directory.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let stopped = match self.task.take() {
            Some(task) => task.await,
            None => Ok(Ok(())),
        };
        let removed = std::fs::remove_dir_all(&self.dir);
        let reason = match stopped {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("its task failed: {e}")),
        };
        if let Some(reason) = reason {
            return Err(Error::Embedded { reason });
        }
        match removed {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Embedded {
                reason: format!("cannot remove {}: {e}", self.dir.display()),
            }),
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

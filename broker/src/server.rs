//! The server: accepts connections under the connection limit, and shuts down by
//! draining them.
//!
//! [`serve`] owns the broker's lifetime. It opens the shared [`Broker`] state,
//! accepts clients until the shutdown future completes, then stops accepting,
//! tells every connection to finish the request it is on and stop reading, waits
//! for them (at most `shutdown_timeout_ms`), and finally closes every log, which
//! fsyncs it and writes the clean-shutdown checkpoint so the next start scans
//! nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use crate::cluster::metadata::{MetaCommand, MetaReply};
use crate::config::BrokerConfig;
use crate::error::{Error, Result};
use crate::state::Broker;
use crate::{connection, maintenance, metrics_http, replication};

/// Runs a broker on `listener` until `shutdown` completes, then drains connections
/// and closes every log cleanly. Returns an error if the broker could not start
/// (bad config, unreadable data directory) or could not close its logs.
pub async fn serve(
    listener: TcpListener,
    config: BrokerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    serve_with_metrics(listener, None, config, shutdown).await
}

/// [`serve`], also answering `GET /metrics` (Prometheus text) on
/// `metrics_listener` when one is given.
pub async fn serve_with_metrics(
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    config: BrokerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    config.validate()?;
    let local = listener.local_addr().map_err(Error::Listener)?;
    let (stop, stop_rx) = watch::channel(false);
    let broker = Arc::new(Broker::open(config, local, stop_rx).await?);
    tracing::info!(addr = %local, data_dir = %broker.config.data_dir.display(), "broker serving");
    let maintenance = tokio::spawn(maintenance::run(Arc::clone(&broker)));
    let registration = tokio::spawn(register(Arc::clone(&broker)));
    let replicas = tokio::spawn(replication::keep_in_step(Arc::clone(&broker)));
    let metrics_endpoint = metrics_listener
        .map(|listener| tokio::spawn(metrics_http::serve(listener, Arc::clone(&broker))));
    let connections = accept_until(&listener, &broker, shutdown).await;
    drop(listener);
    stop.send_replace(true);
    drain(
        connections,
        Duration::from_millis(broker.config.shutdown_timeout_ms),
    )
    .await;
    // Maintenance stops at the next partition boundary; wait for it, so nothing
    // touches a log while it is closed and no task holds the broker (and its
    // data-dir lock) once `serve` returns.
    if let Err(e) = maintenance.await {
        tracing::error!(error = %e, "maintenance task failed");
    }
    if let Some(endpoint) = metrics_endpoint {
        if let Err(e) = endpoint.await {
            tracing::error!(error = %e, "metrics endpoint failed");
        }
    }
    let _ = registration.await;
    let _ = replicas.await;
    // The partition groups append to the logs: stop them before closing.
    if let Some(cluster) = &broker.cluster {
        cluster.shutdown().await;
    }
    let closing = Arc::clone(&broker);
    let closed = tokio::task::spawn_blocking(move || closing.topics.close_all())
        .await
        .map_err(|e| Error::Task(e.to_string()))?;
    tracing::info!("broker stopped");
    closed
}

/// In a cluster, records the address this broker advertises to clients in the
/// metadata, so every broker's Metadata answer lists it; tries until it is
/// applied or the broker shuts down.
async fn register(broker: Arc<Broker>) {
    let Some(cluster) = &broker.cluster else {
        return;
    };
    let (host, port) = &broker.advertised;
    let addr = match host.contains(':') {
        true => format!("[{host}]:{port}"),
        false => format!("{host}:{port}"),
    };
    let command = MetaCommand::RegisterBroker {
        id: cluster.meta().node_id(),
        addr,
    };
    let mut shutdown = broker.shutdown_signal();
    loop {
        let attempt = cluster
            .meta()
            .propose_anywhere(&command, Duration::from_secs(10));
        tokio::select! {
            result = attempt => match result {
                Ok(MetaReply::Done) => {
                    tracing::info!("registered with the cluster's metadata");
                    return;
                }
                Ok(other) => {
                    tracing::error!(reply = ?other, "the cluster refused this broker's registration");
                    return;
                }
                Err(failure) => tracing::warn!(?failure, "not registered with the cluster yet"),
            },
            _ = shutdown.changed() => return,
        }
    }
}

/// Accepts connections until `shutdown` completes; returns the live ones.
async fn accept_until(
    listener: &TcpListener,
    broker: &Arc<Broker>,
    shutdown: impl Future<Output = ()>,
) -> JoinSet<()> {
    let slots = Arc::new(Semaphore::new(broker.config.limits.max_connections));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return connections,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => match Arc::clone(&slots).try_acquire_owned() {
                    Ok(slot) => {
                        connections.spawn(connection::run(Arc::clone(broker), socket, peer, slot));
                    }
                    Err(_) => {
                        tracing::warn!(%peer, limit = broker.config.limits.max_connections,
                            "refusing a connection: limits.max_connections reached");
                        drop(socket);
                    }
                },
                Err(e) => {
                    // Usually out of file descriptors; back off instead of spinning.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Waits for every connection to finish, aborting the rest after `timeout`.
async fn drain(mut connections: JoinSet<()>, timeout: Duration) {
    let all = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(timeout, all).await.is_err() {
        tracing::warn!(
            left = connections.len(),
            "shutdown timeout: closing connections with requests in flight"
        );
        connections.shutdown().await;
    }
}

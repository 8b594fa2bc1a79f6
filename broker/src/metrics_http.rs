//! The HTTP endpoint that serves the broker's metrics to Prometheus.
//!
//! Deliberately tiny: it reads one request head (at most 8 KiB), answers
//! `GET /metrics` with the registry's text and anything else with 404, and closes
//! the connection. Consumer-group lag is computed per scrape, from the committed
//! offsets and each partition's high watermark.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cluster::types::metadata_group;
use crate::metrics::{FollowerGauges, LagLabels, RaftGauges};
use crate::state::Broker;

/// Serves `GET /metrics` on `listener` until the broker shuts down.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>) {
    let mut shutdown = broker.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((socket, _)) => {
                let broker = Arc::clone(&broker);
                tokio::spawn(async move {
                    if let Err(e) = answer(socket, &broker).await {
                        tracing::debug!(error = %e, "metrics request failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads one request head and answers it.
async fn answer(mut socket: TcpStream, broker: &Broker) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let (status, content_type, body) = if head.starts_with(b"GET /metrics ") {
        let text = broker.metrics.render(
            group_lag(broker),
            broker.topics.recovering(),
            &raft_gauges(broker),
        );
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "only GET /metrics is served here\n".to_string(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

/// Every committed partition's lag now: its high watermark minus the group's
/// committed offset (never below 0). Partitions of deleted topics are skipped.
fn group_lag(broker: &Broker) -> Vec<(LagLabels, i64)> {
    let mut lag = Vec::new();
    for group in broker.offsets.groups() {
        for ((topic, partition), committed) in broker.offsets.group(&group) {
            let Ok(p) = broker.topics.partition(&topic, partition) else {
                continue;
            };
            let behind = (p.high_watermark() - committed.offset).max(0);
            let labels = LagLabels {
                group: group.clone(),
                topic,
                partition,
            };
            lag.push((labels, behind));
        }
    }
    lag
}

/// The state of every Raft group member on the broker (none outside a cluster).
fn raft_gauges(broker: &Broker) -> Vec<RaftGauges> {
    let Some(cluster) = &broker.cluster else {
        return Vec::new();
    };
    // A follower the leader heard from within the maximum election timeout
    // (openraft's leader lease) counts as in sync.
    let in_sync_window = Duration::from_millis(broker.config.cluster.election_max_ms);
    cluster
        .status()
        .into_iter()
        .map(|s| RaftGauges {
            group: format!("{}/{}", s.group.topic, s.group.partition),
            role: s.role,
            term: s.term,
            leader: s.leader,
            applied_index: s.applied_index,
            followers: s
                .followers
                .iter()
                .map(|f| FollowerGauges {
                    node: f.node,
                    entries: s.lag_of(f),
                    records_bytes: f.lag.map(|lag| (lag.records, lag.bytes)),
                    in_sync: f.in_sync(in_sync_window),
                })
                .collect(),
            is_partition: s.group != metadata_group(),
        })
        .collect()
}

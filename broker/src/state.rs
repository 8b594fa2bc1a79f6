//! The state every connection shares: configuration, topics, consumer groups,
//! committed offsets, producer ids, metrics and, in a cluster, this broker's
//! part of it.
//!
//! [`Broker`] is built once by the server and handed to every connection, handler
//! and background task behind an `Arc`. Each part guards itself (the topics map,
//! the group coordinator and the offset store take their own locks), so nothing
//! here needs a lock of its own. The shutdown signal lives here too: the server
//! flips it, and every long-running loop (connections, long-poll fetches,
//! maintenance, the metrics endpoint) watches it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cluster::raft_node::RaftTiming;
use crate::cluster::runtime::{Cluster, ClusterStart};
use crate::cluster::types::NodeAddr;
use crate::config::{parse_advertised, BrokerConfig};
use crate::error::{Error, Result};
use crate::group::coordinator::{Coordinator, GroupTiming};
use crate::group::offsets::OffsetStore;
use crate::metrics::Metrics;
use crate::producer_ids::ProducerIds;
use crate::topics::{Topics, CLUSTER_DIR};

/// The state every connection shares.
pub struct Broker {
    /// The configuration the broker runs with.
    pub config: BrokerConfig,
    /// The topics.
    pub topics: Topics,
    /// Consumer-group membership.
    pub coordinator: Coordinator,
    /// Committed consumer offsets.
    pub offsets: OffsetStore,
    /// Ids for idempotent producers.
    pub producer_ids: Arc<ProducerIds>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Metrics,
    /// Host and port that Metadata reports for this broker.
    pub advertised: (String, i32),
    /// This broker's part of the cluster, when `[cluster]` is set.
    pub cluster: Option<Cluster>,
    shutdown: watch::Receiver<bool>,
}

impl Broker {
    /// Opens the broker's state for a listener bound to `local`: every topic (the
    /// partition logs themselves open in the background, see `recovery`), the
    /// producer-id reservation and the committed offsets.
    /// `shutdown` turns `true` when the broker starts shutting down. `config` must
    /// have been validated.
    pub async fn open(
        config: BrokerConfig,
        local: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Broker> {
        let advertised = advertised(&config, local)?;
        let opening = config.clone();
        let (topics, producer_ids) = tokio::task::spawn_blocking(move || {
            Ok::<_, Error>((
                Topics::open(&opening)?,
                ProducerIds::open(&opening.data_dir)?,
            ))
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        let offsets = OffsetStore::open(&topics).await?;
        let cluster = match config.cluster.is_clustered() {
            true => Some(join_cluster(&config).await?),
            false => None,
        };
        let coordinator = Coordinator::new(GroupTiming {
            heartbeat_interval: Duration::from_millis(config.groups.heartbeat_interval_ms),
            session_timeout: Duration::from_millis(config.groups.session_timeout_ms),
        });
        Ok(Broker {
            config,
            topics,
            coordinator,
            offsets,
            producer_ids: Arc::new(producer_ids),
            metrics: Metrics::new(),
            advertised,
            cluster,
            shutdown,
        })
    }

    /// A receiver that turns `true` when the broker starts shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// Whether the broker has started shutting down.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// Binds the cluster listener and starts this broker's member of the metadata
/// group, whose voters are the configured peers.
async fn join_cluster(config: &BrokerConfig) -> Result<Cluster> {
    let c = &config.cluster;
    let fail = |reason: String| Error::Cluster { reason };
    let listen = c
        .listen
        .ok_or_else(|| fail("cluster.listen is not set".to_string()))?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| fail(format!("cannot listen on cluster.listen = {listen}: {e}")))?;
    let node_id = u64::try_from(config.node_id)
        .map_err(|_| fail(format!("node_id = {} is negative", config.node_id)))?;
    let members = c
        .peers
        .0
        .iter()
        .map(|p| {
            (
                p.id,
                NodeAddr {
                    cluster: p.addr.clone(),
                },
            )
        })
        .collect();
    Cluster::start(ClusterStart {
        node_id,
        listener,
        members,
        routes: c.dial.0.iter().map(|p| (p.id, p.addr.clone())).collect(),
        dir: config.data_dir.join(CLUSTER_DIR),
        timing: RaftTiming {
            heartbeat_ms: c.heartbeat_ms,
            election_min_ms: c.election_min_ms,
            election_max_ms: c.election_max_ms,
        },
        max_frame_bytes: config.limits.max_frame_bytes,
    })
    .await
}

/// The host and port Metadata advertises.
fn advertised(config: &BrokerConfig, local: SocketAddr) -> Result<(String, i32)> {
    match &config.advertised_addr {
        None => Ok((local.ip().to_string(), i32::from(local.port()))),
        Some(addr) => {
            let (host, port) = parse_advertised(addr).map_err(|reason| Error::Config {
                source_name: "configuration".to_string(),
                reason,
            })?;
            Ok((host, i32::from(port)))
        }
    }
}

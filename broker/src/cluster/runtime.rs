//! A broker's part of the cluster, started and stopped as one: the cluster
//! listener, the router to the peers, and this broker's member of the metadata
//! group.
//!
//! The listener is serving before the group starts, so a peer's first RPCs find
//! it; until the group is registered they are answered UNKNOWN_TOPIC_OR_PARTITION
//! and the peer retries. Shutting down stops the group first, then the listener.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::listener::{self, Groups};
use super::meta_group::{MetaGroup, RaftTiming};
use super::network::Router;
use super::types::{metadata_group, NodeAddr};
use crate::error::Result;
use crate::locks::lock;

/// What a broker needs to join its cluster.
pub struct ClusterStart {
    /// This broker's node id.
    pub node_id: u64,
    /// The cluster listener, already bound.
    pub listener: TcpListener,
    /// Every voter of the metadata group (this broker included) and its addresses.
    pub members: BTreeMap<u64, NodeAddr>,
    /// Where the metadata group keeps its log and state.
    pub dir: PathBuf,
    /// Heartbeat and election timing.
    pub timing: RaftTiming,
    /// The largest frame read from a peer.
    pub max_frame_bytes: usize,
}

/// This broker's running part of the cluster.
pub struct Cluster {
    meta: MetaGroup,
    groups: Arc<Groups>,
    stop_listener: CancellationToken,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Cluster {
    /// Starts the listener, then the metadata group member.
    pub async fn start(start: ClusterStart) -> Result<Cluster> {
        let groups = Arc::new(Groups::default());
        let stop_listener = CancellationToken::new();
        let listener = tokio::spawn(listener::serve(
            start.listener,
            Arc::clone(&groups),
            start.max_frame_bytes,
            stop_listener.clone().cancelled_owned(),
        ));
        let router = Router::new(start.node_id, start.max_frame_bytes);
        let meta = MetaGroup::start(
            start.node_id,
            start.members,
            &start.dir,
            router,
            start.timing,
        )
        .await;
        let meta = match meta {
            Ok(meta) => meta,
            Err(e) => {
                stop_listener.cancel();
                return Err(e);
            }
        };
        groups.insert(metadata_group(), meta.raft());
        Ok(Cluster {
            meta,
            groups,
            stop_listener,
            listener: Mutex::new(Some(listener)),
        })
    }

    /// This broker's member of the metadata group.
    pub fn meta(&self) -> &MetaGroup {
        &self.meta
    }

    /// Stops the metadata group member and the listener; later calls do nothing.
    pub async fn shutdown(&self) {
        self.groups.remove(&metadata_group());
        self.meta.shutdown().await;
        self.stop_listener.cancel();
        let listener = lock(&self.listener).take();
        if let Some(listener) = listener {
            let _ = listener.await;
        }
    }
}

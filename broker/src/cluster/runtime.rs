//! A broker's part of the cluster, started and stopped as one: the cluster
//! listener, the router to the peers, this broker's member of the metadata
//! group, and its members of the partition groups it replicates.
//!
//! The listener is serving before the group starts, so a peer's first RPCs find
//! it; until the group is registered they are answered UNKNOWN_TOPIC_OR_PARTITION
//! and the peer retries. Shutting down stops the groups first, then the listener.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rill_protocol::cluster::GroupId;
use rill_storage::Log;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::listener::{self, GroupRaft, Groups};
use super::meta_group::MetaGroup;
use super::network::Router;
use super::partition_group::{PartitionGroup, PartitionStart};
use super::raft_node::{RaftStatus, RaftTiming};
use super::types::{metadata_group, NodeAddr};
use crate::error::{Error, Result};
use crate::locks::lock;

/// What a broker needs to join its cluster.
pub struct ClusterStart {
    /// This broker's node id.
    pub node_id: u64,
    /// The cluster listener, already bound.
    pub listener: TcpListener,
    /// Every voter of the metadata group (this broker included) and its addresses.
    pub members: BTreeMap<u64, NodeAddr>,
    /// Where this broker reaches a peer when not at its address in `members`
    /// (through a proxy, say); usually empty.
    pub routes: HashMap<u64, String>,
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
    members: BTreeMap<u64, NodeAddr>,
    router: Router,
    timing: RaftTiming,
    groups: Arc<Groups>,
    partitions: Mutex<HashMap<GroupId, Arc<PartitionGroup>>>,
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
        let router = Router::new(start.node_id, start.routes, start.max_frame_bytes);
        let meta = MetaGroup::start(
            start.node_id,
            start.members.clone(),
            &start.dir,
            router.clone(),
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
        groups.insert(
            metadata_group(),
            GroupRaft::Meta(meta.raft()),
            meta.rejoin(),
        );
        Ok(Cluster {
            meta,
            members: start.members,
            router,
            timing: start.timing,
            groups,
            partitions: Mutex::new(HashMap::new()),
            stop_listener,
            listener: Mutex::new(Some(listener)),
        })
    }

    /// Every broker of the cluster (the metadata group's voters) and its
    /// cluster listener.
    pub fn members(&self) -> &BTreeMap<u64, NodeAddr> {
        &self.members
    }

    /// This broker's member of the metadata group.
    pub fn meta(&self) -> &MetaGroup {
        &self.meta
    }

    /// Starts this broker's member of partition `group` over `log`, whose
    /// replicas (if the group is new) are the brokers `replicas`, and makes the
    /// cluster listener hand it the group's RPCs.
    pub async fn start_partition(
        &self,
        group: GroupId,
        replicas: &[u64],
        log: Arc<Log>,
    ) -> Result<Arc<PartitionGroup>> {
        let mut members = BTreeMap::new();
        for id in replicas {
            let Some(addr) = self.members.get(id) else {
                return Err(Error::Cluster {
                    reason: format!(
                        "partition {}/{} has replica {id}, which is not a broker of the cluster",
                        group.topic, group.partition
                    ),
                });
            };
            members.insert(*id, addr.clone());
        }
        let member = Arc::new(
            PartitionGroup::start(PartitionStart {
                node_id: self.meta.node_id(),
                group: group.clone(),
                replicas: members,
                log,
                router: self.router.clone(),
                timing: self.timing,
            })
            .await?,
        );
        self.groups.insert(
            group.clone(),
            GroupRaft::Partition(member.raft()),
            member.rejoin(),
        );
        lock(&self.partitions).insert(group, Arc::clone(&member));
        Ok(member)
    }

    /// Stops this broker's member of partition `group`, if it runs one; its log
    /// stays.
    pub async fn stop_partition(&self, group: &GroupId) {
        self.groups.remove(group);
        let member = lock(&self.partitions).remove(group);
        if let Some(member) = member {
            member.shutdown().await;
        }
    }

    /// This broker's partition group members, in no set order.
    pub fn partitions(&self) -> Vec<Arc<PartitionGroup>> {
        lock(&self.partitions).values().cloned().collect()
    }

    /// The Raft state of every group member on this broker, with the lag of
    /// the followers of partitions it leads (for metrics): the metadata
    /// group's first, then the partitions' in no set order.
    pub fn status(&self) -> Vec<RaftStatus> {
        let mut all = vec![self.meta.status()];
        // The logs are read outside the lock on the member map.
        all.extend(self.partitions().iter().map(|p| p.status_with_lag()));
        all
    }

    /// Stops every group member and the listener; later calls do nothing.
    pub async fn shutdown(&self) {
        let partitions: Vec<GroupId> = lock(&self.partitions).keys().cloned().collect();
        for group in partitions {
            self.stop_partition(&group).await;
        }
        self.groups.remove(&metadata_group());
        self.meta.shutdown().await;
        self.stop_listener.cancel();
        let listener = lock(&self.listener).take();
        if let Some(listener) = listener {
            let _ = listener.await;
        }
    }
}

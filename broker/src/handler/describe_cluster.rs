//! DescribeCluster: this broker's view of the cluster (PROTOCOL.md §5.14).
//!
//! In a cluster: the registered brokers, the metadata group's leader as this
//! broker knows it, and each partition group member here with its role, term,
//! known leader and replicas; where this broker leads, each follower's lag and
//! whether it is in sync. A broker without cluster settings is a one-node
//! cluster: itself, as metadata leader and as the serving leader of every
//! partition, with no followers.

use std::time::Duration;

use rill_protocol::api::describe_cluster::{
    ClusterBroker, DescribeClusterResponse, FollowerState, PartitionState,
};
use rill_protocol::api::metadata::MetadataBroker;
use rill_protocol::ErrorCode;

use super::metadata::brokers;
use crate::cluster::partition_group::Leadership;
use crate::cluster::runtime::Cluster;
use crate::state::Broker;

/// Describes the cluster as this broker sees it.
pub async fn handle(broker: &Broker) -> DescribeClusterResponse {
    let node_id = broker.config.node_id;
    let (host, port) = broker.advertised.clone();
    let me = MetadataBroker {
        node_id,
        host,
        port,
    };
    let listed = brokers(broker, me)
        .into_iter()
        .map(|b| ClusterBroker {
            node_id: b.node_id,
            host: b.host,
            port: b.port,
        })
        .collect();
    let (metadata_leader, mut partitions) = match &broker.cluster {
        Some(cluster) => {
            let window = Duration::from_millis(broker.config.cluster.election_max_ms);
            let leader = cluster.meta().leader().await;
            (node(leader), clustered(cluster, window))
        }
        None => (node_id, alone(broker, node_id)),
    };
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    DescribeClusterResponse {
        error_code: ErrorCode::None,
        error_message: None,
        node_id,
        metadata_leader,
        brokers: listed,
        partitions,
    }
}

/// A node id on the wire; -1 for none.
fn node(id: Option<u64>) -> i32 {
    id.and_then(|id| i32::try_from(id).ok()).unwrap_or(-1)
}

/// Each partition group member on this broker.
fn clustered(cluster: &Cluster, window: Duration) -> Vec<PartitionState> {
    let view = cluster.meta().view().borrow().clone();
    cluster
        .partitions()
        .iter()
        .map(|member| {
            let status = member.status();
            let group = member.group();
            let replicas = view
                .state
                .topic(&group.topic)
                .and_then(|t| t.replicas.get(usize::try_from(group.partition).ok()?))
                .map(|r| r.iter().map(|id| node(Some(*id))).collect())
                .unwrap_or_default();
            PartitionState {
                topic: group.topic.clone(),
                partition: group.partition,
                role: status.role.to_string(),
                serving: member.leadership() == Leadership::Serving,
                term: i64::try_from(status.term).unwrap_or(i64::MAX),
                leader: node(status.leader),
                replicas,
                followers: status
                    .followers
                    .iter()
                    .map(|f| FollowerState {
                        node_id: node(Some(f.node)),
                        lag_entries: i64::try_from(status.lag_of(f)).unwrap_or(i64::MAX),
                        in_sync: f.in_sync(window),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Every partition of a one-node broker, led and served here.
fn alone(broker: &Broker, node_id: i32) -> Vec<PartitionState> {
    let mut out = Vec::new();
    for topic in broker.topics.list() {
        for partition in 0..topic.partitions.len() {
            out.push(PartitionState {
                topic: topic.name.clone(),
                partition: i32::try_from(partition).unwrap_or(i32::MAX),
                role: "leader".to_string(),
                serving: true,
                term: 0,
                leader: node_id,
                replicas: vec![node_id],
                followers: Vec::new(),
            });
        }
    }
    out
}

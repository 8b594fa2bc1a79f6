//! The cluster's state on [`Admin`]: every broker asked for its view
//! (DescribeCluster, PROTOCOL.md §5.14) and the views merged.
//!
//! A broker is *up* when it answers within [`ASK_TIMEOUT`]. For each partition
//! the serving leader's view is taken (its followers' lag and sync state); a
//! partition that no broker serves is reported with the replicas and term the
//! others know and no leader. A partition is under-replicated when fewer of its
//! replicas are in sync (the leader included) than it has replicas.
//! This is an `impl Admin` block of its own next to the topic calls of
//! `admin.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use rill_protocol::api::describe_cluster::{DescribeClusterRequest, DescribeClusterResponse};

use crate::admin::Admin;
use crate::error::{Error, Result};

/// How long each broker has to answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// One broker of [`ClusterStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerStatus {
    /// Its node id.
    pub node_id: i32,
    /// Its client address, `host:port`.
    pub addr: String,
    /// `None` when it answered; why not otherwise.
    pub down: Option<String>,
}

/// One partition of [`ClusterStatus`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStatus {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The broker serving it, if one does.
    pub leader: Option<i32>,
    /// The highest term any broker reported for it.
    pub term: i64,
    /// Its replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// The replicas in sync with the serving leader (itself included); empty
    /// without one.
    pub in_sync: Vec<i32>,
    /// Each follower of the serving leader and the Raft entries it lacks (-1:
    /// unknown).
    pub lag: Vec<(i32, i64)>,
}

impl PartitionStatus {
    /// Whether fewer replicas are in sync than it has.
    pub fn is_under_replicated(&self) -> bool {
        self.in_sync.len() < self.replicas.len()
    }
}

/// The cluster as its brokers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// Every broker the metadata lists, by node id.
    pub brokers: Vec<BrokerStatus>,
    /// The metadata group's leader, as the brokers that answered agree (the
    /// most named), if any.
    pub metadata_leader: Option<i32>,
    /// Every partition any broker holds a replica of, by topic and partition.
    pub partitions: Vec<PartitionStatus>,
}

impl ClusterStatus {
    /// How many partitions are under-replicated.
    pub fn under_replicated(&self) -> usize {
        self.partitions
            .iter()
            .filter(|p| p.is_under_replicated())
            .count()
    }
}

impl Admin {
    /// Asks every broker the metadata lists for its view of the cluster and
    /// merges the answers. Fails only when no broker can be reached for the
    /// metadata; brokers that do not answer are reported down.
    pub async fn describe_cluster(&self) -> Result<ClusterStatus> {
        let metadata = self.router.refresh(Vec::new()).await?;
        let mut brokers = Vec::new();
        let mut views = Vec::new();
        for b in &metadata.brokers {
            let addr = format!("{}:{}", b.host, b.port);
            let down = match tokio::time::timeout(ASK_TIMEOUT, self.ask(&addr)).await {
                Ok(Ok(view)) => {
                    views.push(view);
                    None
                }
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no answer within {ASK_TIMEOUT:?}")),
            };
            brokers.push(BrokerStatus {
                node_id: b.node_id,
                addr,
                down,
            });
        }
        brokers.sort_by_key(|b| b.node_id);
        Ok(merge(brokers, &views))
    }

    async fn ask(&self, addr: &str) -> Result<DescribeClusterResponse> {
        let conn = self.router.connection(addr).await?;
        let view = conn.call(DescribeClusterRequest).await?;
        if !view.error_code.is_ok() {
            return Err(Error::broker(view.error_code, view.error_message));
        }
        Ok(view)
    }
}

/// The brokers' views merged into one status.
fn merge(brokers: Vec<BrokerStatus>, views: &[DescribeClusterResponse]) -> ClusterStatus {
    let mut votes: BTreeMap<i32, usize> = BTreeMap::new();
    for v in views.iter().filter(|v| v.metadata_leader >= 0) {
        *votes.entry(v.metadata_leader).or_default() += 1;
    }
    let metadata_leader = votes
        .into_iter()
        .max_by_key(|(id, n)| (*n, -id))
        .map(|(id, _)| id);
    let mut partitions: BTreeMap<(String, i32), PartitionStatus> = BTreeMap::new();
    for view in views {
        for p in &view.partitions {
            let entry = partitions
                .entry((p.topic.clone(), p.partition))
                .or_insert_with(|| PartitionStatus {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    leader: None,
                    term: p.term,
                    replicas: p.replicas.clone(),
                    in_sync: Vec::new(),
                    lag: Vec::new(),
                });
            entry.term = entry.term.max(p.term);
            if p.serving {
                entry.leader = Some(view.node_id);
                entry.replicas = p.replicas.clone();
                entry.in_sync = std::iter::once(view.node_id)
                    .chain(p.followers.iter().filter(|f| f.in_sync).map(|f| f.node_id))
                    .collect();
                entry.in_sync.sort_unstable();
                entry.lag = p
                    .followers
                    .iter()
                    .map(|f| (f.node_id, f.lag_entries))
                    .collect();
            }
        }
    }
    ClusterStatus {
        brokers,
        metadata_leader,
        partitions: partitions.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use rill_protocol::api::describe_cluster::{FollowerState, PartitionState};

    use super::*;

    fn view(node_id: i32, partitions: Vec<PartitionState>) -> DescribeClusterResponse {
        DescribeClusterResponse {
            node_id,
            metadata_leader: 1,
            partitions,
            ..DescribeClusterResponse::default()
        }
    }

    fn replica(serving: bool, term: i64, followers: Vec<FollowerState>) -> PartitionState {
        PartitionState {
            topic: "purchases".into(),
            partition: 0,
            role: if serving { "leader" } else { "follower" }.into(),
            serving,
            term,
            leader: -1,
            replicas: vec![1, 2, 3],
            followers,
        }
    }

    #[test]
    fn the_serving_leader_says_who_is_in_sync() {
        let follower = |node_id, lag_entries, in_sync| FollowerState {
            node_id,
            lag_entries,
            in_sync,
        };
        let status = merge(
            Vec::new(),
            &[
                view(1, vec![replica(false, 4, Vec::new())]),
                view(
                    2,
                    vec![replica(
                        true,
                        5,
                        vec![follower(3, 7, false), follower(1, 0, true)],
                    )],
                ),
            ],
        );
        assert_eq!(status.metadata_leader, Some(1));
        let p = &status.partitions[0];
        assert_eq!((p.leader, p.term), (Some(2), 5));
        assert_eq!(p.in_sync, vec![1, 2]);
        assert_eq!(p.lag, vec![(3, 7), (1, 0)]);
        assert!(p.is_under_replicated());
        assert_eq!(status.under_replicated(), 1);
    }

    #[test]
    fn a_partition_nobody_serves_has_no_leader_and_is_under_replicated() {
        let status = merge(Vec::new(), &[view(3, vec![replica(false, 9, Vec::new())])]);
        let p = &status.partitions[0];
        assert_eq!((p.leader, p.term), (None, 9));
        assert!(p.in_sync.is_empty());
        assert_eq!(status.under_replicated(), 1);
    }
}

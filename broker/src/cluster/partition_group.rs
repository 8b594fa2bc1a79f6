//! This broker's member of one partition's Raft group: the partition's log as
//! the group's log (`partition_log`), its committed offset as the group's state
//! (`partition_state`).
//!
//! A producer batch proposed on the leader is answered with its base offset once
//! a majority of the replicas has it (each under its own fsync policy) and it is
//! applied: that is `acks=all`. With `acks=1` it is answered once the leader's
//! own log has it (the entry's [`AppendNotice`] tells). Readers see records below the committed offset
//! only. Snapshots hold just that offset (the records are in the log), and the
//! log is never purged for them, so a replica that was down or lost its disk
//! catches up by replication from the leader's log.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::SnapshotPolicy;
use rill_protocol::cluster::GroupId;
use rill_storage::{Log, ReadMode};
use tokio::sync::{oneshot, watch};

use super::network::Router;
use super::partition_log::PartitionLog;
use super::partition_state::{PartitionState, PartitionStore, PartitionView};
use super::raft_node::{
    self, NodeStart, Proposal, ProposeFailure, RaftStatus, RaftTiming, ReplicaLag,
};
use super::rejoin::Rejoin;
use super::types::{AppendNotice, Applied, NodeAddr, Payload, Raft};
use crate::error::{Error, Result};

/// The directory, inside the partition's, that holds the group's snapshot.
pub const STATE_DIR: &str = "raft-sm";

/// Entries applied between two snapshots of the committed offset.
const SNAPSHOT_EVERY: u64 = 4096;

/// What starting a partition group member takes.
pub struct PartitionStart {
    /// This broker's node id.
    pub node_id: u64,
    /// The partition.
    pub group: GroupId,
    /// The partition's replicas and their cluster listeners, if the group is new.
    pub replicas: BTreeMap<u64, NodeAddr>,
    /// The partition's log on this broker.
    pub log: Arc<Log>,
    /// The broker's connections to its peers.
    pub router: Router,
    /// Heartbeat and election timing.
    pub timing: RaftTiming,
}

/// Where a partition is served, as one member sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leadership {
    /// This member leads and has applied an entry of its own term, so its
    /// committed offset is the group's: it serves produce and fetch.
    Serving,
    /// This member leads but was just elected and has not yet applied an entry
    /// of its term (its committed offset may be behind the group's), or no
    /// majority has acknowledged it within the lease (the minimum election
    /// timeout: it may have been deposed without knowing, and its committed
    /// offset may be stale). It answers nothing; clients retry in a moment.
    Settling,
    /// Another member leads (the one named, if known).
    Elsewhere(Option<u64>),
}

/// How durable a produced batch must be before its producer is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// In the leader's log, under its fsync policy (`acks=1`): lost if the
    /// leader dies before a majority has it.
    Leader,
    /// Committed: in a majority of the replicas' logs, each under its fsync
    /// policy, and applied on the leader (`acks=all`).
    Committed,
}

/// A producer batch handed to its partition's group, not yet answered.
pub enum PendingBatch {
    /// Waiting for the commit.
    Committing(Proposal),
    /// Waiting for the leader's own log; `raft` tells why if it never does.
    Appending {
        /// The base offset, once this member's log has the batch.
        appended: oneshot::Receiver<i64>,
        /// The group member, to name the leader if the batch was dropped.
        raft: Raft<PartitionStore>,
    },
}

impl PendingBatch {
    /// The batch's base offset, once it is as durable as asked.
    pub async fn base_offset(self) -> Result<i64, ProposeFailure> {
        let proposal = match self {
            PendingBatch::Committing(proposal) => proposal,
            PendingBatch::Appending { appended, raft } => {
                return appended.await.map_err(|_| dropped_by(&raft));
            }
        };
        match proposal.applied().await? {
            Applied::Appended { base_offset } => Ok(base_offset),
            other => Err(ProposeFailure::Unavailable {
                reason: format!("the batch was applied with the answer {other:?}"),
            }),
        }
    }
}

/// Why `raft` dropped a batch before its log took it: it does not lead (the
/// leader it knows named), or it failed.
fn dropped_by(raft: &Raft<PartitionStore>) -> ProposeFailure {
    use openraft::async_runtime::watch::WatchReceiver;
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    match m.current_leader {
        Some(leader) if leader == m.id => ProposeFailure::Unavailable {
            reason: "the leader's log did not take the batch".to_string(),
        },
        other => ProposeFailure::NotLeader {
            leader: other.and_then(|id| {
                let node = m.membership_config.membership().get_node(&id)?;
                Some((id, node.clone()))
            }),
        },
    }
}

/// This broker's member of a partition group.
pub struct PartitionGroup {
    group: GroupId,
    raft: Raft<PartitionStore>,
    rejoin: Arc<Rejoin>,
    log: PartitionLog,
    view: watch::Receiver<PartitionView>,
    /// How recently a majority must have acknowledged the leader for it to
    /// serve.
    lease: Duration,
}

impl PartitionGroup {
    /// Starts the member over the partition's log.
    pub async fn start(start: PartitionStart) -> Result<PartitionGroup> {
        let name = format!("{}/{}", start.group.topic, start.group.partition);
        let fail = |what: &str, e: std::io::Error| Error::Cluster {
            reason: format!("{what} of partition {name}: {e}"),
        };
        let log = PartitionLog::open(Arc::clone(&start.log))
            .map_err(|e| fail("opening the raft log", e))?;
        let state = PartitionState::new(start.log.log_start_offset());
        let store = PartitionStore::open(&start.log.dir().join(STATE_DIR), state)
            .map_err(|e| fail("opening the raft state", e))?;
        let view = store.subscribe();
        let started = raft_node::start(NodeStart {
            node_id: start.node_id,
            group: start.group.clone(),
            members: start.replicas,
            log: log.clone(),
            state: store,
            router: start.router,
            timing: start.timing,
            tune: |config| {
                config.snapshot_policy = SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY);
                config.max_in_snapshot_log_to_keep = u64::MAX;
            },
        })
        .await?;
        Ok(PartitionGroup {
            group: start.group,
            raft: started.raft,
            rejoin: started.rejoin,
            lease: Duration::from_millis(start.timing.election_min_ms),
            log,
            view,
        })
    }

    /// Appends a validated producer batch through the group and returns its base
    /// offset once it is committed and applied.
    pub async fn append(&self, batch: Bytes) -> Result<i64, ProposeFailure> {
        self.submit(batch, Durability::Committed)
            .await?
            .base_offset()
            .await
    }

    /// Hands a validated producer batch to the group without waiting: batches
    /// handed over one after another land in the log in that order. The
    /// [`PendingBatch`] answers once the batch is as durable as `durability`
    /// asks. Fails only when the member has stopped.
    pub async fn submit(
        &self,
        batch: Bytes,
        durability: Durability,
    ) -> Result<PendingBatch, ProposeFailure> {
        match durability {
            Durability::Committed => raft_node::submit(&self.raft, batch)
                .await
                .map(PendingBatch::Committing),
            Durability::Leader => {
                let (notice, appended) = AppendNotice::new();
                raft_node::submit_unanswered(&self.raft, Payload(batch, notice)).await?;
                Ok(PendingBatch::Appending {
                    appended,
                    raft: self.raft.clone(),
                })
            }
        }
    }

    /// Whether this member may serve produce and fetch now (see [`Leadership`]).
    pub fn leadership(&self) -> Leadership {
        use openraft::async_runtime::watch::WatchReceiver;
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        if m.state != openraft::ServerState::Leader {
            return Leadership::Elsewhere(m.current_leader);
        }
        let settled = m
            .last_applied
            .as_ref()
            .is_some_and(|applied| applied.leader_id.term == m.current_term);
        // A group of one voter is its own majority.
        let alone = m.membership_config.membership().voter_ids().count() == 1;
        let confirmed = alone
            || m.last_quorum_acked
                .as_ref()
                .is_some_and(|acked| openraft::Instant::elapsed(&**acked) < self.lease);
        match settled && confirmed {
            true => Leadership::Serving,
            false => Leadership::Settling,
        }
    }

    /// This member's current Raft term (read without building a whole
    /// [`RaftStatus`], for the produce path).
    pub fn term(&self) -> u64 {
        use openraft::async_runtime::watch::WatchReceiver;
        self.raft.metrics().borrow_watched().current_term
    }

    /// The partition.
    pub fn group(&self) -> &GroupId {
        &self.group
    }

    /// The partition's log on this broker.
    pub fn log(&self) -> &Arc<Log> {
        self.log.log()
    }

    /// The committed offset as applied here, updated after every change.
    pub fn committed(&self) -> watch::Receiver<PartitionView> {
        self.view.clone()
    }

    /// Every record below this offset is committed (as applied here).
    pub fn committed_offset(&self) -> i64 {
        self.view.borrow().committed_offset
    }

    /// The current leader's id, if this broker knows one.
    pub async fn leader(&self) -> Option<u64> {
        self.raft.current_leader().await
    }

    /// Waits up to `timeout` until some broker leads the group.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<u64> {
        raft_node::wait_for_leader(&self.raft, timeout).await
    }

    /// This member's Raft state now (from openraft's metrics; cheap).
    pub fn status(&self) -> RaftStatus {
        raft_node::status(&self.group, &self.raft)
    }

    /// [`PartitionGroup::status`] and, where this member leads, each
    /// follower's lag in records and bytes, read from the partition's log (its
    /// entry map, and the segment index in memory): for metrics, not for
    /// request paths.
    pub fn status_with_lag(&self) -> RaftStatus {
        let mut status = self.status();
        let last = status.last_log_index;
        for follower in &mut status.followers {
            follower.lag = self.lag_behind(follower.matched_index, last);
        }
        status
    }

    /// What a follower holding entries up to `matched` lacks of this member's
    /// log, whose last entry is `last`; `None` when the log cannot tell without
    /// the disk or no longer holds the follower's next entry.
    fn lag_behind(&self, matched: Option<u64>, last: Option<u64>) -> Option<ReplicaLag> {
        let next = matched.map_or(0, |m| m + 1);
        if last.is_none_or(|last| next > last) {
            return Some(ReplicaLag {
                records: 0,
                bytes: 0,
            });
        }
        let (start, _) = self.log.offsets_of(next).ok()??;
        let log = self.log.log();
        let records = u64::try_from(log.log_end_offset() - start).ok()?;
        let bytes = log.bytes_from(start, ReadMode::Cached).ok()?;
        Some(ReplicaLag { records, bytes })
    }

    /// The group's openraft handle, for the cluster listener.
    pub(crate) fn raft(&self) -> Raft<PartitionStore> {
        self.raft.clone()
    }

    /// Whether this member may vote yet (see `rejoin`).
    pub(crate) fn rejoin(&self) -> Arc<Rejoin> {
        Arc::clone(&self.rejoin)
    }

    /// Stops the member; the log and state stay on disk.
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

//! Starting one member of any Raft group: openraft's configuration from the
//! cluster's timing, the node over the group's log store and state machine,
//! and the group's first membership.
//!
//! Every member of a new group initializes it with the same membership, so the
//! first entry (log id `(0, 0)`) is the same on every member and it does not
//! matter which members do it or in what order; a member whose log already
//! holds entries skips it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::impls::ProgressResponder;
use openraft::raft::ClientWriteResult;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::type_config::alias::OneshotReceiverOf;
use openraft_multi::GroupNetworkFactory;
use rill_protocol::cluster::GroupId;

use super::network::Router;
use super::rejoin::Rejoin;
use super::types::{Applied, NodeAddr, Payload, Raft, RaftTypes};
use crate::error::{Error, Result};

/// How fast a group notices a dead leader and elects another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    /// How often a leader sends heartbeats, in ms.
    pub heartbeat_ms: u64,
    /// A follower that hears no leader for a random time in
    /// `election_min_ms..election_max_ms` starts an election.
    pub election_min_ms: u64,
    /// See `election_min_ms`.
    pub election_max_ms: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 50,
            election_min_ms: 200,
            election_max_ms: 400,
        }
    }
}

/// Why a proposal was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposeFailure {
    /// This broker does not lead the group; `leader` does, if one is known.
    NotLeader {
        /// The leader's id and addresses.
        leader: Option<(u64, NodeAddr)>,
    },
    /// The group cannot take proposals now (shutting down, no quorum).
    Unavailable {
        /// What openraft reported.
        reason: String,
    },
}

/// What starting a group member takes.
pub struct NodeStart<LS, SM> {
    /// This broker's node id.
    pub node_id: u64,
    /// The group.
    pub group: GroupId,
    /// The group's voters if it is new (ignored when the log holds entries).
    pub members: BTreeMap<u64, NodeAddr>,
    /// The group's log store.
    pub log: LS,
    /// The group's state machine.
    pub state: SM,
    /// The broker's connections to its peers.
    pub router: Router,
    /// Heartbeat and election timing.
    pub timing: RaftTiming,
    /// Changes to openraft's defaults beyond the timing.
    pub tune: fn(&mut openraft::Config),
}

/// A started member: its openraft node, and whether it may vote yet.
pub struct Started<SM>
where
    SM: RaftStateMachine<RaftTypes, SnapshotData = Vec<u8>>,
{
    /// The openraft node.
    pub raft: Raft<SM>,
    /// Rejoining when the member started with an empty log.
    pub rejoin: Arc<Rejoin>,
}

/// Starts the member and initializes the group if its log is empty (then the
/// member is rejoining: see `rejoin`).
pub async fn start<LS, SM>(start: NodeStart<LS, SM>) -> Result<Started<SM>>
where
    LS: RaftLogStorage<RaftTypes>,
    SM: RaftStateMachine<RaftTypes, SnapshotData = Vec<u8>>,
{
    let name = format!("group {}/{}", start.group.topic, start.group.partition);
    let fail = |what: &str, e: &dyn std::fmt::Display| Error::Cluster {
        reason: format!("{what} {name}: {e}"),
    };
    let mut config = openraft::Config {
        cluster_name: "rill".to_string(),
        heartbeat_interval: start.timing.heartbeat_ms,
        election_timeout_min: start.timing.election_min_ms,
        election_timeout_max: start.timing.election_max_ms,
        // A broker whose data directory was lost comes back with an empty log;
        // its leaders then replicate to it from the start instead of stopping
        // (docs/REPLICATION.md, "Disk wiped on one broker").
        allow_log_reversion: Some(true),
        // A restarted leader stands for election again rather than resuming its
        // term: its state machine restarts behind the commit, and an election
        // (whose blank entry it must apply before serving) brings it up to date.
        enable_leader_restore: Some(false),
        // A member that cannot win (cut off, or behind) asks first whether a
        // majority would vote for it, without raising its term; otherwise its
        // climbing term deposes a healthy leader the moment it is back.
        enable_pre_vote: Some(true),
        ..Default::default()
    };
    (start.tune)(&mut config);
    let config = config
        .validate()
        .map_err(|e| fail("the raft settings of", &e))?;
    let network = GroupNetworkFactory::new(start.router, start.group);
    let raft = openraft::Raft::new(
        start.node_id,
        Arc::new(config),
        network,
        start.log,
        start.state,
    )
    .await
    .map_err(|e| fail("starting", &e))?;
    let empty = match raft.initialize(start.members).await {
        Ok(()) => true,
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => false,
        Err(e) => return Err(fail("initializing", &e)),
    };
    Ok(Started {
        raft,
        rejoin: Arc::new(Rejoin::new(empty)),
    })
}

/// Proposes `payload` to the group and returns what applying it answered, once
/// it is committed and applied; refused where this member does not lead.
pub async fn write<SM>(raft: &Raft<SM>, payload: Bytes) -> Result<Applied, ProposeFailure>
where
    SM: RaftStateMachine<RaftTypes, SnapshotData = Vec<u8>>,
{
    submit(raft, payload).await?.applied().await
}

/// Hands `payload` to the group without waiting for it to be committed:
/// proposals submitted one after another are appended to the log in that
/// order. Fails only when the member has stopped.
pub async fn submit<SM>(raft: &Raft<SM>, payload: Bytes) -> Result<Proposal, ProposeFailure>
where
    SM: RaftStateMachine<RaftTypes, SnapshotData = Vec<u8>>,
{
    let (responder, answer) = ProgressResponder::complete_only();
    raft.client_write_ff(Payload::new(payload), Some(responder))
        .await
        .map_err(|e| ProposeFailure::Unavailable {
            reason: e.to_string(),
        })?;
    Ok(Proposal { answer })
}

/// Hands `payload` to the group with no one waiting for the commit (its
/// [`AppendNotice`](super::types::AppendNotice), if any, tells when this
/// member's log has it; dropped unanswered if the member does not lead). Fails
/// only when the member has stopped.
pub async fn submit_unanswered<SM>(raft: &Raft<SM>, payload: Payload) -> Result<(), ProposeFailure>
where
    SM: RaftStateMachine<RaftTypes, SnapshotData = Vec<u8>>,
{
    raft.client_write_ff(payload, None)
        .await
        .map_err(|e| ProposeFailure::Unavailable {
            reason: e.to_string(),
        })
}

/// A proposal the group has taken: what applying it answers, once it is
/// committed and applied (or why it was not).
pub struct Proposal {
    answer: OneshotReceiverOf<RaftTypes, ClientWriteResult<RaftTypes>>,
}

impl Proposal {
    /// Waits until the proposal is applied; refused where the member turned
    /// out not to lead (then the leader it knows is named).
    pub async fn applied(self) -> Result<Applied, ProposeFailure> {
        match self.answer.await {
            Ok(Ok(written)) => Ok(written.data),
            Ok(Err(ClientWriteError::ForwardToLeader(forward))) => Err(ProposeFailure::NotLeader {
                leader: forward.leader_id.zip(forward.leader_node),
            }),
            Ok(Err(e)) => Err(ProposeFailure::Unavailable {
                reason: e.to_string(),
            }),
            Err(_) => Err(ProposeFailure::Unavailable {
                reason: "the group member stopped before answering".to_string(),
            }),
        }
    }
}

/// Waits up to `timeout` until some broker leads the group; its id.
pub async fn wait_for_leader<SM>(raft: &Raft<SM>, timeout: Duration) -> Option<u64>
where
    SM: RaftStateMachine<RaftTypes, SnapshotData = Vec<u8>>,
{
    raft.wait(Some(timeout))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .ok()
        .and_then(|m| m.current_leader)
}

/// A group member's Raft state, for metrics and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftStatus {
    /// The group.
    pub group: GroupId,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: &'static str,
    /// The current term.
    pub term: u64,
    /// The leader this member knows, if any.
    pub leader: Option<u64>,
    /// The index of the last entry applied here, if any.
    pub applied_index: Option<u64>,
    /// The index of the last entry in this member's log, if any.
    pub last_log_index: Option<u64>,
    /// On the leader, every other voter's replication progress; empty elsewhere.
    pub followers: Vec<FollowerProgress>,
}

/// How far the leader knows a follower has the group's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The follower's node id.
    pub node: u64,
    /// The last entry the follower is known to hold, if any.
    pub matched_index: Option<u64>,
    /// How long ago it last acknowledged a heartbeat or replication, if ever.
    pub last_ack: Option<Duration>,
    /// For a partition group, what the follower lacks of the leader's log, when
    /// the leader's log can tell (filled by `PartitionGroup::status_with_lag`).
    pub lag: Option<ReplicaLag>,
}

/// What a partition's follower lacks of its leader's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaLag {
    /// Offsets (records, Raft's control records included).
    pub records: u64,
    /// Bytes of the log.
    pub bytes: u64,
}

impl RaftStatus {
    /// How many entries `follower` lacks of this (leader's) log.
    pub fn lag_of(&self, follower: &FollowerProgress) -> u64 {
        self.last_log_index
            .unwrap_or(0)
            .saturating_sub(follower.matched_index.unwrap_or(0))
    }
}

impl FollowerProgress {
    /// Whether the follower acknowledged the leader within `window` (the
    /// maximum election timeout: openraft's leader lease).
    pub fn in_sync(&self, window: Duration) -> bool {
        self.last_ack.is_some_and(|ago| ago <= window)
    }
}

/// `raft`'s state as its metrics stand now.
pub fn status<SM>(group: &GroupId, raft: &Raft<SM>) -> RaftStatus
where
    SM: RaftStateMachine<RaftTypes, SnapshotData = Vec<u8>>,
{
    use openraft::async_runtime::watch::WatchReceiver;
    use openraft::{Instant, ServerState};
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    RaftStatus {
        group: group.clone(),
        role: match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        },
        term: m.current_term,
        leader: m.current_leader,
        applied_index: m.last_applied.map(|id| id.index),
        last_log_index: m.last_log_index,
        followers: m
            .replication
            .iter()
            .flatten()
            .filter(|(node, _)| **node != m.id)
            .map(|(node, matched)| FollowerProgress {
                node: *node,
                matched_index: matched.map(|id| id.index),
                last_ack: m
                    .heartbeat
                    .as_ref()
                    .and_then(|acks| acks.get(node).copied().flatten())
                    .map(|at| at.elapsed()),
                lag: None,
            })
            .collect(),
    }
}

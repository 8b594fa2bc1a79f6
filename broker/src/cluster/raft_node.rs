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

use openraft::error::{InitializeError, RaftError};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft_multi::GroupNetworkFactory;
use rill_protocol::cluster::GroupId;

use super::network::Router;
use super::types::{NodeAddr, Raft, RaftTypes};
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
            heartbeat_ms: 100,
            election_min_ms: 300,
            election_max_ms: 600,
        }
    }
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

/// Starts the member and initializes the group if it is new.
pub async fn start<LS, SM>(start: NodeStart<LS, SM>) -> Result<Raft<SM>>
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
    match raft.initialize(start.members).await {
        Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(raft),
        Err(e) => Err(fail("initializing", &e)),
    }
}

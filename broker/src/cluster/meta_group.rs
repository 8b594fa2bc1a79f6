//! The metadata group on this broker: its openraft node, started over the
//! group's log store and state machine in `<data>/__cluster/`.
//!
//! Every broker of a cluster runs one member of this group. On first start the
//! log is empty and each broker initializes the group with the same membership
//! (every peer a voter): the identical first entry on every broker, so it does not
//! matter which ones do it or in what order. Later starts find the log and rejoin.
//! Commands are proposed on the leader; elsewhere a proposal answers which broker
//! leads, so the caller can forward it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::entry_log::EntryLog;
use super::meta_store::{MetaStore, MetaView};
use super::metadata::{MetaCommand, MetaReply, MetaState};
use super::network::Router;
use super::raft_node::{self, NodeStart, ProposeFailure, RaftStatus, RaftTiming};
use super::rejoin::Rejoin;
use super::types::{metadata_group, Applied, NodeAddr, Raft};
use crate::error::{Error, Result};

/// This broker's member of the metadata group.
pub struct MetaGroup {
    node_id: u64,
    raft: Raft<MetaStore>,
    rejoin: Arc<Rejoin>,
    store: MetaStore,
    router: Router,
}

impl MetaGroup {
    /// Starts the member `node_id` of a group whose voters are `members`, with
    /// its log and state in `dir`, talking to peers through `router`.
    pub async fn start(
        node_id: u64,
        members: BTreeMap<u64, NodeAddr>,
        dir: &Path,
        router: Router,
        timing: RaftTiming,
    ) -> Result<MetaGroup> {
        let fail = |reason: String| Error::Cluster { reason };
        let log = EntryLog::open(&dir.join("log")).map_err(|e| {
            fail(format!(
                "opening the metadata log in {}: {e}",
                dir.display()
            ))
        })?;
        let store = MetaStore::open(&dir.join("state"), MetaState::default()).map_err(|e| {
            fail(format!(
                "opening the metadata state in {}: {e}",
                dir.display()
            ))
        })?;
        let started = raft_node::start(NodeStart {
            node_id,
            group: metadata_group(),
            members,
            log,
            state: store.clone(),
            router: router.clone(),
            timing,
            tune: |_| {},
        })
        .await?;
        Ok(MetaGroup {
            node_id,
            raft: started.raft,
            rejoin: started.rejoin,
            store,
            router,
        })
    }

    /// Proposes `command` and waits until it is committed and applied.
    pub async fn propose(&self, command: &MetaCommand) -> Result<MetaReply, ProposeFailure> {
        match raft_node::write(&self.raft, command.encode().into()).await? {
            Applied::Metadata(reply) => Ok(reply),
            other => Err(ProposeFailure::Unavailable {
                reason: format!("the command was applied with the answer {other:?}"),
            }),
        }
    }

    /// Proposes `command` on whichever broker leads the group: here, or forwarded
    /// to the leader's cluster listener. While no leader is known or the leader
    /// changes under it, tries again every 100 ms until `timeout` has passed.
    pub async fn propose_anywhere(
        &self,
        command: &MetaCommand,
        timeout: Duration,
    ) -> Result<MetaReply, ProposeFailure> {
        let deadline = tokio::time::Instant::now() + timeout;
        let encoded = bytes::Bytes::from(command.encode());
        loop {
            let failure = match self.propose(command).await {
                Ok(reply) => return Ok(reply),
                Err(ProposeFailure::NotLeader {
                    leader: Some((id, node)),
                }) => {
                    let forwarded = self
                        .router
                        .forward(id, &node.cluster, encoded.clone(), timeout)
                        .await
                        .and_then(|reply| MetaReply::decode(&reply).map_err(std::io::Error::other));
                    match forwarded {
                        Ok(reply) => return Ok(reply),
                        Err(e) => ProposeFailure::Unavailable {
                            reason: format!("forwarding to broker {id}: {e}"),
                        },
                    }
                }
                Err(other) => other,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(failure);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// This broker's node id.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The group's openraft handle, for the cluster listener.
    pub(crate) fn raft(&self) -> Raft<MetaStore> {
        self.raft.clone()
    }

    /// Whether this member may vote yet (see `rejoin`).
    pub(crate) fn rejoin(&self) -> Arc<Rejoin> {
        Arc::clone(&self.rejoin)
    }

    /// The metadata as applied on this broker, updated after every change.
    pub fn view(&self) -> watch::Receiver<Arc<MetaView>> {
        self.store.subscribe()
    }

    /// The current leader's id, if this broker knows one.
    pub async fn leader(&self) -> Option<u64> {
        self.raft.current_leader().await
    }

    /// Waits up to `timeout` until some broker leads the group.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<u64> {
        raft_node::wait_for_leader(&self.raft, timeout).await
    }

    /// This member's Raft state now.
    pub fn status(&self) -> RaftStatus {
        raft_node::status(&metadata_group(), &self.raft)
    }

    /// Stops the group member; its log and state stay on disk.
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}

//! The sending side of every Raft group's RPCs: one [`Router`] per broker holds a
//! [`Peer`] connection per other broker, and every group's openraft network
//! (openraft-multi's adapter, bound to the group's id) sends through it, so all
//! groups share one connection per peer.
//!
//! Each RPC is converted to the protocol crate's message, sent, and its answer
//! converted back. A peer that cannot be reached, does not answer in time, or
//! answers with an error code is `Unreachable` to openraft, which backs off and
//! retries; it never sees a half-decoded answer.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft_multi::{GroupNetworkAdapter, GroupNetworkFactory, GroupRouter};
use rill_protocol::cluster::{self as wire, decode_response, Answer, ClusterApiKey, GroupId};

use super::entry_codec as codec;
use super::peer::Peer;
use super::types::{NodeAddr, RaftTypes};
use crate::locks::lock;

/// The connections of one broker to its peers, shared by every group.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    me: u64,
    max_frame_bytes: usize,
    /// Where this broker reaches each peer, from its own configuration.
    addresses: HashMap<u64, String>,
    peers: Mutex<HashMap<u64, Arc<Peer>>>,
}

impl Router {
    /// A router for broker `me` that reaches the peers in `addresses` there;
    /// frames it reads are held to `max_frame_bytes`.
    pub fn new(me: u64, addresses: HashMap<u64, String>, max_frame_bytes: usize) -> Router {
        Router {
            inner: Arc::new(Inner {
                me,
                max_frame_bytes,
                addresses,
                peers: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The connection to `target`, made (not yet dialled) on first use, and
    /// replaced when its address changes. The address is this broker's own
    /// configured one for `target` if it has one (so each broker may reach a
    /// peer its own way, through a proxy for instance), else `addr`, the one
    /// the group's membership gives.
    fn peer(&self, target: u64, addr: &str) -> Arc<Peer> {
        let addr = self
            .inner
            .addresses
            .get(&target)
            .map_or(addr, String::as_str);
        let mut peers = lock(&self.inner.peers);
        match peers.get(&target) {
            Some(peer) if peer.addr() == addr => Arc::clone(peer),
            _ => {
                let peer = Arc::new(Peer::new(
                    addr.to_string(),
                    self.inner.me,
                    self.inner.max_frame_bytes,
                ));
                peers.insert(target, Arc::clone(&peer));
                peer
            }
        }
    }

    /// The connection already made to `target`.
    fn known(&self, target: u64) -> io::Result<Arc<Peer>> {
        lock(&self.inner.peers)
            .get(&target)
            .cloned()
            .ok_or_else(|| io::Error::other(format!("no address is known for broker {target}")))
    }

    /// Hands an encoded metadata command to `target` (which leads the metadata
    /// group, at cluster listener `addr`) and returns the encoded reply once it is
    /// applied there.
    pub async fn forward(
        &self,
        target: u64,
        addr: &str,
        command: Bytes,
        timeout: Duration,
    ) -> io::Result<Bytes> {
        self.peer(target, addr);
        let request = wire::MetaProposeRequest { command };
        let answer: wire::ProposeAnswer = self
            .exchange(
                target,
                ClusterApiKey::MetaPropose,
                |b, _| request.encode(b),
                RPCOption::new(timeout),
            )
            .await?;
        Ok(answer.reply)
    }

    /// Sends one request to `target` and reads its answer; a refusal is an error.
    async fn exchange<T: Answer>(
        &self,
        target: u64,
        api: ClusterApiKey,
        encode: impl FnOnce(&mut BytesMut, &mut Vec<Bytes>),
        option: RPCOption,
    ) -> io::Result<T> {
        let body = self
            .known(target)?
            .call(api.code(), encode, option.hard_ttl())
            .await?;
        match decode_response::<T>(&body).map_err(io::Error::other)? {
            Ok(answer) => Ok(answer),
            Err(refusal) => Err(io::Error::other(format!(
                "broker {target} refused: {}: {}",
                refusal.code, refusal.message
            ))),
        }
    }
}

fn unreachable(e: impl std::fmt::Display) -> Unreachable<RaftTypes> {
    Unreachable::from_string(e)
}

impl Router {
    async fn vote_rpc(
        &self,
        target: u64,
        group: GroupId,
        rpc: VoteRequest<RaftTypes>,
        pre_vote: bool,
        option: RPCOption,
    ) -> Result<VoteResponse<RaftTypes>, RPCError<RaftTypes>> {
        let request = wire::RaftVoteRequest {
            group,
            vote: codec::vote_to_wire(&rpc.vote),
            last_log_id: rpc.last_log_id.as_ref().map(codec::log_id_to_wire),
            pre_vote,
            leadership_transfer: rpc.leadership_transfer,
        };
        let answer: wire::VoteAnswer = self
            .exchange(
                target,
                ClusterApiKey::RaftVote,
                |b, _| request.encode(b),
                option,
            )
            .await
            .map_err(|e| RPCError::Unreachable(unreachable(e)))?;
        Ok(VoteResponse {
            vote: codec::vote_from_wire(&answer.vote),
            vote_granted: answer.vote_granted,
            last_log_id: answer.last_log_id.as_ref().map(codec::log_id_from_wire),
        })
    }
}

impl GroupRouter<RaftTypes, GroupId> for Router {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &self,
        target: u64,
        group: GroupId,
        rpc: AppendEntriesRequest<RaftTypes>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<RaftTypes>, RPCError<RaftTypes>> {
        let request = wire::RaftAppendRequest {
            group,
            vote: codec::vote_to_wire(&rpc.vote),
            prev_log_id: rpc.prev_log_id.as_ref().map(codec::log_id_to_wire),
            leader_commit: rpc.leader_commit.as_ref().map(codec::log_id_to_wire),
            entries: rpc.entries.iter().map(codec::entry_to_wire).collect(),
        };
        let answer: wire::AppendResult = self
            .exchange(
                target,
                ClusterApiKey::RaftAppend,
                |b, parts| request.encode_linked(b, parts),
                option,
            )
            .await
            .map_err(|e| RPCError::Unreachable(unreachable(e)))?;
        Ok(match answer {
            wire::AppendResult::Success => AppendEntriesResponse::Success,
            wire::AppendResult::PartialSuccess(id) => {
                AppendEntriesResponse::PartialSuccess(id.as_ref().map(codec::log_id_from_wire))
            }
            wire::AppendResult::Conflict => AppendEntriesResponse::Conflict,
            wire::AppendResult::HigherVote(vote) => {
                AppendEntriesResponse::HigherVote(codec::vote_from_wire(&vote))
            }
        })
    }

    async fn vote(
        &self,
        target: u64,
        group: GroupId,
        rpc: VoteRequest<RaftTypes>,
        option: RPCOption,
    ) -> Result<VoteResponse<RaftTypes>, RPCError<RaftTypes>> {
        self.vote_rpc(target, group, rpc, false, option).await
    }

    async fn pre_vote(
        &self,
        target: u64,
        group: GroupId,
        rpc: VoteRequest<RaftTypes>,
        option: RPCOption,
    ) -> Result<VoteResponse<RaftTypes>, RPCError<RaftTypes>> {
        self.vote_rpc(target, group, rpc, true, option).await
    }

    async fn full_snapshot(
        &self,
        target: u64,
        group: GroupId,
        vote: VoteOf<RaftTypes>,
        snapshot: SnapshotOf<RaftTypes, Vec<u8>>,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<RaftTypes>, StreamingError<RaftTypes>> {
        let request = wire::RaftSnapshotRequest {
            group,
            vote: codec::vote_to_wire(&vote),
            meta: codec::snapshot_meta_to_wire(&snapshot.meta),
            data: Bytes::from(snapshot.snapshot),
        };
        let answer: wire::SnapshotAnswer = self
            .exchange(
                target,
                ClusterApiKey::RaftSnapshot,
                |b, _| request.encode(b),
                option,
            )
            .await
            .map_err(|e| StreamingError::Unreachable(unreachable(e)))?;
        Ok(SnapshotResponse {
            vote: codec::vote_from_wire(&answer.vote),
        })
    }
}

/// The openraft network of one group: openraft-multi's adapter over the router.
pub type GroupNetwork = GroupNetworkAdapter<RaftTypes, GroupId, Router>;

impl RaftNetworkFactory<RaftTypes> for GroupNetworkFactory<Router, GroupId> {
    type Network = GroupNetwork;

    async fn new_client(&mut self, target: u64, node: &NodeAddr) -> GroupNetwork {
        self.factory.peer(target, &node.cluster);
        GroupNetworkAdapter::new(self.factory.clone(), target, self.group_id.clone())
    }
}

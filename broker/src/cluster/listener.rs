//! The cluster listener: accepts peer brokers' connections and hands each Raft
//! RPC to the group it names on this broker.
//!
//! A connection's requests are answered one at a time, in order (the peer's
//! `Peer` pipelines and matches answers by order). A request for a group this
//! broker does not run (yet) is answered UNKNOWN_TOPIC_OR_PARTITION; one that does
//! not decode gets an error header and the connection stays open; a frame that
//! cannot be answered (too large, cut short) closes the connection. None of this
//! disturbs other connections or the groups.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest};
use openraft::type_config::alias::SnapshotOf;
use rill_protocol::cluster::{self as wire, encode_response, ClusterApiKey, GroupId, Refusal};
use rill_protocol::frame::FrameCodec;
use rill_protocol::header::{RequestHeader, ResponseHeader};
use rill_protocol::ErrorCode;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::FramedRead;

use super::entry_codec as codec;
use super::meta_store::MetaStore;
use super::metadata::MetaCommand;
use super::partition_state::PartitionStore;
use super::rejoin::Rejoin;
use super::types::{metadata_group, Applied, Payload, Raft, RaftTypes};
use crate::locks::{read, write};

/// One group's openraft node, of whichever kind.
#[derive(Clone)]
pub enum GroupRaft {
    /// The metadata group.
    Meta(Raft<MetaStore>),
    /// A partition group.
    Partition(Raft<PartitionStore>),
}

/// Runs `$body` with `$raft` bound to the node inside a [`GroupRaft`]; every
/// kind has the same RPC methods, of the same types.
macro_rules! on_raft {
    ($group:expr, $raft:ident => $body:expr) => {
        match $group {
            GroupRaft::Meta($raft) => $body,
            GroupRaft::Partition($raft) => $body,
        }
    };
}

/// The Raft groups this broker runs, by id, as the listener finds them.
#[derive(Default)]
pub struct Groups {
    groups: RwLock<HashMap<GroupId, (GroupRaft, Arc<Rejoin>)>>,
}

impl Groups {
    /// Makes `raft` answer the RPCs for `group`; `rejoin` says whether it may
    /// vote yet.
    pub fn insert(&self, group: GroupId, raft: GroupRaft, rejoin: Arc<Rejoin>) {
        write(&self.groups).insert(group, (raft, rejoin));
    }

    /// Stops answering for `group`.
    pub fn remove(&self, group: &GroupId) {
        write(&self.groups).remove(group);
    }

    fn get(&self, group: &GroupId) -> Option<(GroupRaft, Arc<Rejoin>)> {
        read(&self.groups).get(group).cloned()
    }
}

/// Accepts peers on `listener` until `shutdown` completes, serving `groups`;
/// then closes every connection it accepted.
pub async fn serve(
    listener: TcpListener,
    groups: Arc<Groups>,
    max_frame_bytes: usize,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, peer)) => {
                let groups = Arc::clone(&groups);
                connections.spawn(async move {
                    if let Err(reason) = connection(stream, groups, max_frame_bytes).await {
                        tracing::debug!(%peer, %reason, "cluster connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster listener: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    connections.abort_all();
}

async fn connection(
    stream: TcpStream,
    groups: Arc<Groups>,
    max_frame_bytes: usize,
) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, FrameCodec::new(max_frame_bytes));
    while let Some(frame) = frames.next().await {
        let frame = frame.map_err(|e| e.to_string())?.freeze();
        let Some(correlation_id) = RequestHeader::peek_correlation_id(&frame) else {
            return Err("a frame too short for a request header".to_string());
        };
        let mut out = BytesMut::with_capacity(128);
        out.put_u32(0);
        match answer(&frame, &groups).await {
            Ok(body) => {
                ResponseHeader::ok(correlation_id).encode(&mut out);
                out.extend_from_slice(&body);
            }
            Err((code, message)) => ResponseHeader {
                correlation_id,
                error_code: code,
                error_message: Some(message),
            }
            .encode(&mut out),
        }
        let len = u32::try_from(out.len() - 4).map_err(|_| "response too large".to_string())?;
        out[..4].copy_from_slice(&len.to_be_bytes());
        write.write_all(&out).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The body answering one request frame, or the code and message of an error
/// header when the request cannot be handled at all.
async fn answer(frame: &Bytes, groups: &Groups) -> Result<BytesMut, (ErrorCode, String)> {
    let invalid = |e: rill_protocol::Error| (ErrorCode::InvalidRequest, e.to_string());
    let (header, body) = RequestHeader::decode(frame).map_err(invalid)?;
    let api = ClusterApiKey::from_code(header.api_key).map_err(invalid)?;
    let mut out = BytesMut::new();
    match api {
        ClusterApiKey::RaftVote => {
            let request = wire::RaftVoteRequest::decode(body).map_err(invalid)?;
            encode_response(&vote(request, groups).await, &mut out);
        }
        ClusterApiKey::RaftAppend => {
            let request = wire::RaftAppendRequest::decode_shared(frame, body).map_err(invalid)?;
            encode_response(&append(request, groups).await, &mut out);
        }
        ClusterApiKey::RaftSnapshot => {
            let request = wire::RaftSnapshotRequest::decode(body).map_err(invalid)?;
            encode_response(&snapshot(request, groups).await, &mut out);
        }
        ClusterApiKey::MetaPropose => {
            let request = wire::MetaProposeRequest::decode(body).map_err(invalid)?;
            encode_response(&propose(request, groups).await, &mut out);
        }
    }
    Ok(out)
}

fn no_group(group: &GroupId) -> Refusal {
    refusal(
        ErrorCode::UnknownTopicOrPartition,
        format!(
            "this broker runs no group for {}/{}",
            group.topic, group.partition
        ),
    )
}

fn refusal(code: ErrorCode, message: impl ToString) -> Refusal {
    Refusal {
        code,
        message: message.to_string(),
    }
}

async fn vote(
    request: wire::RaftVoteRequest,
    groups: &Groups,
) -> Result<wire::VoteAnswer, Refusal> {
    let Some((raft, rejoin)) = groups.get(&request.group) else {
        return Err(no_group(&request.group));
    };
    let candidate_last = request.last_log_id.as_ref().map(codec::log_id_from_wire);
    if !rejoin.may_vote(candidate_last.as_ref()) {
        return Err(refusal(
            ErrorCode::LeaderNotAvailable,
            "this member started with an empty log and votes once it has caught up with a leader",
        ));
    }
    let rpc = VoteRequest {
        vote: codec::vote_from_wire(&request.vote),
        last_log_id: candidate_last,
        leadership_transfer: request.leadership_transfer,
    };
    let result = if request.pre_vote {
        on_raft!(raft, r => r.pre_vote(rpc).await)
    } else {
        on_raft!(raft, r => r.vote(rpc).await)
    };
    match result {
        Ok(r) => Ok(wire::VoteAnswer {
            vote: codec::vote_to_wire(&r.vote),
            vote_granted: r.vote_granted,
            last_log_id: r.last_log_id.as_ref().map(codec::log_id_to_wire),
        }),
        Err(e) => Err(refusal(ErrorCode::LeaderNotAvailable, e)),
    }
}

async fn append(
    request: wire::RaftAppendRequest,
    groups: &Groups,
) -> Result<wire::AppendResult, Refusal> {
    let Some((raft, rejoin)) = groups.get(&request.group) else {
        return Err(no_group(&request.group));
    };
    let leader_commit = request.leader_commit.as_ref().map(codec::log_id_from_wire);
    let entries: Result<Vec<_>, _> = request
        .entries
        .into_iter()
        .map(codec::entry_from_wire)
        .collect();
    let entries = match entries {
        Ok(entries) => entries,
        Err(e) => return Err(refusal(ErrorCode::CorruptMessage, e)),
    };
    let rpc = AppendEntriesRequest {
        vote: codec::vote_from_wire(&request.vote),
        prev_log_id: request.prev_log_id.as_ref().map(codec::log_id_from_wire),
        entries,
        leader_commit: request.leader_commit.as_ref().map(codec::log_id_from_wire),
    };
    let result = on_raft!(&raft, r => r.append_entries(rpc).await);
    if rejoin.is_rejoining() && matches!(result, Ok(AppendEntriesResponse::Success)) {
        rejoin.heard(leader_commit);
        caught_up(&raft, &rejoin, &request.group);
    }
    match result {
        Ok(AppendEntriesResponse::Success) => Ok(wire::AppendResult::Success),
        Ok(AppendEntriesResponse::PartialSuccess(id)) => Ok(wire::AppendResult::PartialSuccess(
            id.as_ref().map(codec::log_id_to_wire),
        )),
        Ok(AppendEntriesResponse::Conflict) => Ok(wire::AppendResult::Conflict),
        Ok(AppendEntriesResponse::HigherVote(v)) => {
            Ok(wire::AppendResult::HigherVote(codec::vote_to_wire(&v)))
        }
        Err(e) => Err(refusal(ErrorCode::LeaderNotAvailable, e)),
    }
}

/// Makes a rejoining member a voter again once its log reaches its target.
fn caught_up(raft: &GroupRaft, rejoin: &Rejoin, group: &GroupId) {
    use openraft::async_runtime::watch::WatchReceiver;
    let last = on_raft!(raft, r => r.metrics().borrow_watched().last_log_index);
    if rejoin.progressed(last) {
        tracing::info!(
            group = %format_args!("{}/{}", group.topic, group.partition),
            "caught up after starting with an empty log; votes again"
        );
    }
}

async fn snapshot(
    request: wire::RaftSnapshotRequest,
    groups: &Groups,
) -> Result<wire::SnapshotAnswer, Refusal> {
    let Some((raft, rejoin)) = groups.get(&request.group) else {
        return Err(no_group(&request.group));
    };
    let meta = match codec::snapshot_meta_from_wire(&request.meta) {
        Ok(meta) => meta,
        Err(e) => return Err(refusal(ErrorCode::CorruptMessage, e)),
    };
    let snapshot = SnapshotOf::<RaftTypes, Vec<u8>> {
        meta,
        snapshot: request.data.to_vec(),
    };
    let vote = codec::vote_from_wire(&request.vote);
    let result = on_raft!(&raft, r => r.install_full_snapshot(vote, snapshot).await);
    if result.is_ok() {
        caught_up(&raft, &rejoin, &request.group);
    }
    match result {
        Ok(r) => Ok(wire::SnapshotAnswer {
            vote: codec::vote_to_wire(&r.vote),
        }),
        Err(e) => Err(refusal(ErrorCode::LeaderNotAvailable, e)),
    }
}

/// Proposes a forwarded metadata command if this broker leads the group.
async fn propose(
    request: wire::MetaProposeRequest,
    groups: &Groups,
) -> Result<wire::ProposeAnswer, Refusal> {
    let group = metadata_group();
    let Some((GroupRaft::Meta(raft), _)) = groups.get(&group) else {
        return Err(no_group(&group));
    };
    if let Err(e) = MetaCommand::decode(&request.command) {
        return Err(refusal(ErrorCode::CorruptMessage, e));
    }
    match raft.client_write(Payload::new(request.command)).await {
        Ok(written) => match written.data {
            Applied::Metadata(reply) => Ok(wire::ProposeAnswer {
                reply: reply.encode().into(),
            }),
            Applied::Nothing | Applied::Appended { .. } => Err(refusal(
                ErrorCode::LeaderNotAvailable,
                "the command was applied without an answer",
            )),
        },
        Err(e) => Err(refusal(ErrorCode::LeaderNotAvailable, e)),
    }
}

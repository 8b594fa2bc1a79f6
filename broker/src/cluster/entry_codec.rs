//! Conversions between openraft's types and the protocol crate's plain ones
//! (`rill_protocol::cluster`), which fix the layout of everything a group sends
//! or stores: entry payloads in the log, snapshot metadata, RPC messages.
//!
//! A value from the network or the disk that openraft cannot represent (a
//! membership whose configurations name a node it does not list) is an error
//! naming what was wrong, never a panic.

use std::collections::{BTreeMap, BTreeSet};

use bytes::BytesMut;
use openraft::type_config::alias::{
    EntryPayloadOf, NodeIdOf, NodeOf, SnapshotMetaOf, StoredMembershipOf, VoteOf,
};
use openraft::{EntryPayload, Membership};
use rill_protocol::cluster as wire;
use rill_protocol::wire::{Reader, Writer};

use super::types::{LogId, NodeAddr, Payload, RaftTypes};

type Entry = <RaftTypes as openraft::RaftTypeConfig>::Entry;
/// openraft's membership for Rill's node types.
type MembershipOf = Membership<NodeIdOf<RaftTypes>, NodeOf<RaftTypes>>;

/// A log id on the wire.
pub fn log_id_to_wire(id: &LogId) -> wire::LogId {
    wire::LogId {
        term: id.leader_id.term,
        index: id.index,
    }
}

/// A log id from the wire.
pub fn log_id_from_wire(id: &wire::LogId) -> LogId {
    openraft::LogId::new_term_index(id.term, id.index)
}

/// A vote on the wire.
pub fn vote_to_wire(vote: &VoteOf<RaftTypes>) -> wire::Vote {
    wire::Vote {
        term: vote.leader_id.term,
        node_id: vote.leader_id.voted_for,
        committed: vote.committed,
    }
}

/// A vote from the wire.
pub fn vote_from_wire(vote: &wire::Vote) -> VoteOf<RaftTypes> {
    if vote.committed {
        VoteOf::<RaftTypes>::new_committed(vote.term, vote.node_id)
    } else {
        VoteOf::<RaftTypes>::new(vote.term, vote.node_id)
    }
}

/// A membership on the wire.
pub fn membership_to_wire(m: &MembershipOf) -> wire::Membership {
    wire::Membership {
        configs: m
            .get_joint_config()
            .iter()
            .map(|c| c.iter().copied().collect())
            .collect(),
        nodes: m
            .nodes()
            .map(|(id, node)| wire::ClusterNode {
                id: *id,
                cluster_addr: node.cluster.clone(),
            })
            .collect(),
    }
}

/// A membership from the wire, refused when openraft would not accept it.
pub fn membership_from_wire(m: &wire::Membership) -> rill_protocol::Result<MembershipOf> {
    let configs: Vec<BTreeSet<u64>> = m
        .configs
        .iter()
        .map(|c| c.iter().copied().collect())
        .collect();
    let nodes: BTreeMap<u64, NodeAddr> = m
        .nodes
        .iter()
        .map(|n| {
            (
                n.id,
                NodeAddr {
                    cluster: n.cluster_addr.clone(),
                },
            )
        })
        .collect();
    MembershipOf::new(configs, nodes).map_err(|e| rill_protocol::Error::Invalid {
        what: "membership",
        detail: e.to_string(),
    })
}

/// A stored membership on the wire.
pub fn stored_membership_to_wire(m: &StoredMembershipOf<RaftTypes>) -> wire::StoredMembership {
    wire::StoredMembership {
        log_id: m.log_id().as_ref().map(log_id_to_wire),
        membership: membership_to_wire(m.membership()),
    }
}

/// A stored membership from the wire.
pub fn stored_membership_from_wire(
    m: &wire::StoredMembership,
) -> rill_protocol::Result<StoredMembershipOf<RaftTypes>> {
    Ok(StoredMembershipOf::<RaftTypes>::new(
        m.log_id.as_ref().map(log_id_from_wire),
        membership_from_wire(&m.membership)?,
    ))
}

/// An entry on the wire.
pub fn entry_to_wire(entry: &Entry) -> wire::Entry {
    wire::Entry {
        log_id: log_id_to_wire(&entry.log_id),
        payload: payload_to_wire(&entry.payload),
    }
}

/// An entry from the wire.
pub fn entry_from_wire(entry: wire::Entry) -> rill_protocol::Result<Entry> {
    Ok(Entry {
        log_id: log_id_from_wire(&entry.log_id),
        payload: payload_from_wire(entry.payload)?,
    })
}

fn payload_to_wire(payload: &EntryPayloadOf<RaftTypes>) -> wire::EntryPayload {
    match payload {
        EntryPayload::Blank => wire::EntryPayload::Blank,
        EntryPayload::Normal(data) => wire::EntryPayload::Normal(data.0.clone()),
        EntryPayload::Membership(m) => wire::EntryPayload::Membership(membership_to_wire(m)),
    }
}

fn payload_from_wire(
    payload: wire::EntryPayload,
) -> rill_protocol::Result<EntryPayloadOf<RaftTypes>> {
    Ok(match payload {
        wire::EntryPayload::Blank => EntryPayload::Blank,
        wire::EntryPayload::Normal(data) => EntryPayload::Normal(Payload::new(data)),
        wire::EntryPayload::Membership(m) => EntryPayload::Membership(membership_from_wire(&m)?),
    })
}

/// An entry's payload as stored in the log: the wire layout of `EntryPayload`.
pub fn encode_payload(payload: &EntryPayloadOf<RaftTypes>) -> Vec<u8> {
    let mut buf = BytesMut::new();
    payload_to_wire(payload).encode(&mut Writer::new(&mut buf));
    buf.to_vec()
}

/// A payload stored by [`encode_payload`].
pub fn decode_payload(bytes: &[u8]) -> rill_protocol::Result<EntryPayloadOf<RaftTypes>> {
    let mut r = Reader::new(bytes, "entry payload");
    let payload = wire::EntryPayload::decode(&mut r)?;
    r.finish()?;
    payload_from_wire(payload)
}

/// A snapshot's metadata on the wire (and at the head of a snapshot file).
pub fn snapshot_meta_to_wire(meta: &SnapshotMetaOf<RaftTypes>) -> wire::SnapshotMeta {
    wire::SnapshotMeta {
        last_log_id: meta.last_log_id.as_ref().map(log_id_to_wire),
        last_membership: stored_membership_to_wire(&meta.last_membership),
    }
}

/// A snapshot's metadata from the wire.
pub fn snapshot_meta_from_wire(
    meta: &wire::SnapshotMeta,
) -> rill_protocol::Result<SnapshotMetaOf<RaftTypes>> {
    Ok(SnapshotMetaOf::<RaftTypes> {
        last_log_id: meta.last_log_id.as_ref().map(log_id_from_wire),
        last_membership: stored_membership_from_wire(&meta.last_membership)?,
    })
}

//! RaftSnapshot (cluster key 1002): a group's leader sends a whole snapshot to a
//! follower whose log ends before the leader's first kept entry.
//!
//! ```text
//! SnapshotMeta
//!   last_log_id      OptionalLogId      the last entry the snapshot covers
//!   last_membership  StoredMembership   the membership as of that entry
//!
//! RaftSnapshotRequest v0
//!   group            GroupId
//!   vote             Vote               the leader's
//!   meta             SnapshotMeta
//!   data             bytes              the group's state, in the group's encoding
//!
//! RaftSnapshotResponse v0
//!   error_code, error_message           (outcome.rs)
//!   vote             Vote               the follower's
//! ```
//!
//! The whole snapshot travels in one frame, so it is bounded by the listener's
//! frame limit; the metadata group's state is small.

use bytes::{Bytes, BytesMut};

use super::outcome::Answer;
use super::raft_types::{GroupId, LogId, StoredMembership, Vote};
use crate::wire::{Reader, Writer};
use crate::Result;

/// What a snapshot covers; also the head of a group's snapshot file on disk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SnapshotMeta {
    /// The last entry the snapshot covers.
    pub last_log_id: Option<LogId>,
    /// The membership as of that entry.
    pub last_membership: StoredMembership,
}

/// A whole snapshot from a leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftSnapshotRequest {
    /// The group.
    pub group: GroupId,
    /// The leader's vote.
    pub vote: Vote,
    /// What the snapshot covers.
    pub meta: SnapshotMeta,
    /// The group's state.
    pub data: Bytes,
}

/// The follower's vote after installing (or refusing) the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotAnswer {
    /// The follower's vote.
    pub vote: Vote,
}

impl SnapshotMeta {
    /// Appends the metadata.
    pub fn encode(&self, w: &mut Writer<'_>) {
        LogId::encode_optional(self.last_log_id.as_ref(), w);
        self.last_membership.encode(w);
    }

    /// Reads the metadata.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(SnapshotMeta {
            last_log_id: LogId::decode_optional(r)?,
            last_membership: StoredMembership::decode(r)?,
        })
    }
}

impl RaftSnapshotRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        self.group.encode(&mut w);
        self.vote.encode(&mut w);
        self.meta.encode(&mut w);
        w.bytes(&self.data);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "RaftSnapshot request");
        let request = RaftSnapshotRequest {
            group: GroupId::decode(&mut r)?,
            vote: Vote::decode(&mut r)?,
            meta: SnapshotMeta::decode(&mut r)?,
            data: r.shared_bytes("data")?,
        };
        r.finish()?;
        Ok(request)
    }
}

impl Answer for SnapshotAnswer {
    const NAME: &'static str = "RaftSnapshot response";

    fn encode(&self, w: &mut Writer<'_>) {
        self.vote.encode(w);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(SnapshotAnswer {
            vote: Vote::decode(r)?,
        })
    }
}

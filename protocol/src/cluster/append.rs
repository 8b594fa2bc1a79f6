//! RaftAppend (cluster key 1001): a group's leader sends entries, or none as a
//! heartbeat, with what it knows is committed.
//!
//! ```text
//! RaftAppendRequest v0
//!   group          GroupId
//!   vote           Vote            the leader's
//!   prev_log_id    OptionalLogId   the entry the new ones follow
//!   leader_commit  OptionalLogId   the last entry committed on a majority
//!   entries        array<Entry>
//!
//! RaftAppendResponse v0
//!   error_code, error_message      (outcome.rs)
//!   result         int8            0 success, 1 partial success, 2 conflict,
//!                                  3 higher vote
//!   then for 1     OptionalLogId   the last entry taken
//!        for 3     Vote            the follower's, higher than the leader's
//! ```

use bytes::{Bytes, BytesMut};

use super::outcome::Answer;
use super::raft_types::{Entry, EntryPayload, GroupId, LogId, Vote};
use crate::api::produce::LINK_MIN_BYTES;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// Entries or a heartbeat from a leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftAppendRequest {
    /// The group.
    pub group: GroupId,
    /// The leader's vote.
    pub vote: Vote,
    /// The entry the new ones follow, `None` for the log's start.
    pub prev_log_id: Option<LogId>,
    /// The last entry committed on a majority.
    pub leader_commit: Option<LogId>,
    /// The entries, in index order.
    pub entries: Vec<Entry>,
}

/// What the follower did with the entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendResult {
    /// Took every entry.
    Success,
    /// Took the entries up to this one.
    PartialSuccess(Option<LogId>),
    /// `prev_log_id` is not in the follower's log.
    Conflict,
    /// The follower has seen a higher vote: the sender no longer leads.
    HigherVote(Vote),
}

impl RaftAppendRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        self.encode_head(&mut w);
        w.array_of(&self.entries, |w, e| e.encode(w));
    }

    /// The fields before the entries.
    fn encode_head(&self, w: &mut Writer<'_>) {
        self.group.encode(w);
        self.vote.encode(w);
        LogId::encode_optional(self.prev_log_id.as_ref(), w);
        LogId::encode_optional(self.leader_commit.as_ref(), w);
    }

    /// Encodes the body as [`RaftAppendRequest::encode`] does, in pieces, so
    /// that a leader sends its entries without copying them: before each
    /// entry's data of at least [`LINK_MIN_BYTES`], what `buf` holds is moved to
    /// `parts` and the data follows it there as a shared handle. Afterwards
    /// `parts`, then what is left in `buf`, are exactly `encode`'s bytes.
    pub fn encode_linked(&self, buf: &mut BytesMut, parts: &mut Vec<Bytes>) {
        let mut w = Writer::new(buf);
        self.encode_head(&mut w);
        w.i32(self.entries.len() as i32);
        for entry in &self.entries {
            match &entry.payload {
                EntryPayload::Normal(data) if data.len() >= LINK_MIN_BYTES => {
                    let mut w = Writer::new(buf);
                    entry.log_id.encode(&mut w);
                    w.i8(1).i32(data.len() as i32);
                    parts.push(buf.split().freeze());
                    parts.push(data.clone());
                }
                _ => entry.encode(&mut Writer::new(buf)),
            }
        }
    }

    /// Decodes a body, copying entry data out of it.
    pub fn decode(body: &[u8]) -> Result<Self> {
        Self::decode_from(Reader::new(body, "RaftAppend request"))
    }

    /// As [`RaftAppendRequest::decode`], without copying entry data out of `frame`,
    /// of which `body` is a part.
    pub fn decode_shared(frame: &bytes::Bytes, body: &[u8]) -> Result<Self> {
        Self::decode_from(Reader::within(frame, body, "RaftAppend request"))
    }

    fn decode_from(mut r: Reader<'_>) -> Result<Self> {
        let request = RaftAppendRequest {
            group: GroupId::decode(&mut r)?,
            vote: Vote::decode(&mut r)?,
            prev_log_id: LogId::decode_optional(&mut r)?,
            leader_commit: LogId::decode_optional(&mut r)?,
            entries: Entry::decode_all(&mut r)?,
        };
        r.finish()?;
        Ok(request)
    }
}

impl Answer for AppendResult {
    const NAME: &'static str = "RaftAppend response";

    fn encode(&self, w: &mut Writer<'_>) {
        match self {
            AppendResult::Success => {
                w.i8(0);
            }
            AppendResult::PartialSuccess(id) => {
                w.i8(1);
                LogId::encode_optional(id.as_ref(), w);
            }
            AppendResult::Conflict => {
                w.i8(2);
            }
            AppendResult::HigherVote(vote) => {
                w.i8(3);
                vote.encode(w);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        match r.i8("result")? {
            0 => Ok(AppendResult::Success),
            1 => Ok(AppendResult::PartialSuccess(LogId::decode_optional(r)?)),
            2 => Ok(AppendResult::Conflict),
            3 => Ok(AppendResult::HigherVote(Vote::decode(r)?)),
            other => Err(Error::Invalid {
                what: "result",
                detail: format!(
                    "{other} is not 0 (success), 1 (partial success), 2 (conflict) or 3 (higher vote)"
                ),
            }),
        }
    }
}

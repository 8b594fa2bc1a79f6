//! RaftVote (cluster key 1000): a candidate asks for a vote, or, with `pre_vote`,
//! whether it would get one (nothing is recorded).
//!
//! ```text
//! RaftVoteRequest v0
//!   group                GroupId
//!   vote                 Vote            the candidate's
//!   last_log_id          OptionalLogId   the candidate's last entry
//!   pre_vote             int8 (0 or 1)
//!   leadership_transfer  int8 (0 or 1)   the leader asked this candidate to take over
//!
//! RaftVoteResponse v0
//!   error_code, error_message            (outcome.rs)
//!   vote                 Vote            the voter's, after the request
//!   vote_granted         int8 (0 or 1)
//!   last_log_id          OptionalLogId   the voter's last entry
//! ```

use bytes::BytesMut;

use super::outcome::Answer;
use super::raft_types::{flag, GroupId, LogId, Vote};
use crate::wire::{Reader, Writer};
use crate::Result;

/// A vote or pre-vote request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftVoteRequest {
    /// The group.
    pub group: GroupId,
    /// The candidate's vote.
    pub vote: Vote,
    /// The candidate's last entry.
    pub last_log_id: Option<LogId>,
    /// Ask only whether the vote would be granted.
    pub pre_vote: bool,
    /// The leader asked this candidate to take over.
    pub leadership_transfer: bool,
}

/// The voter's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteAnswer {
    /// The voter's vote after the request.
    pub vote: Vote,
    /// Whether the vote was granted.
    pub vote_granted: bool,
    /// The voter's last entry.
    pub last_log_id: Option<LogId>,
}

impl RaftVoteRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        self.group.encode(&mut w);
        self.vote.encode(&mut w);
        LogId::encode_optional(self.last_log_id.as_ref(), &mut w);
        w.i8(i8::from(self.pre_vote))
            .i8(i8::from(self.leadership_transfer));
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "RaftVote request");
        let request = RaftVoteRequest {
            group: GroupId::decode(&mut r)?,
            vote: Vote::decode(&mut r)?,
            last_log_id: LogId::decode_optional(&mut r)?,
            pre_vote: flag(&mut r, "pre_vote")?,
            leadership_transfer: flag(&mut r, "leadership_transfer")?,
        };
        r.finish()?;
        Ok(request)
    }
}

impl Answer for VoteAnswer {
    const NAME: &'static str = "RaftVote response";

    fn encode(&self, w: &mut Writer<'_>) {
        self.vote.encode(w);
        w.i8(i8::from(self.vote_granted));
        LogId::encode_optional(self.last_log_id.as_ref(), w);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(VoteAnswer {
            vote: Vote::decode(r)?,
            vote_granted: flag(r, "vote_granted")?,
            last_log_id: LogId::decode_optional(r)?,
        })
    }
}

//! The inter-broker protocol: what brokers of one cluster send each other on
//! their cluster listener (docs/PROTOCOL.md §7).
//!
//! Every Raft group (the metadata group and one per partition) sends openraft's
//! RPCs over connections shared by all groups; each message names its group.
//! Frames and headers are the client protocol's; the api keys (`api`) are known
//! only to the cluster listener. `raft_types` holds the pieces the messages are
//! made of, `outcome` the error part every response starts with, and each
//! message pair has its file.

pub mod api;
pub mod append;
pub mod outcome;
pub mod propose;
pub mod raft_types;
pub mod snapshot;
pub mod vote;

#[cfg(test)]
mod tests;

pub use api::ClusterApiKey;
pub use append::{AppendResult, RaftAppendRequest};
pub use outcome::{decode_response, encode_response, Answer, Refusal};
pub use propose::{MetaProposeRequest, ProposeAnswer};
pub use raft_types::{
    ClusterNode, Entry, EntryPayload, GroupId, LogId, Membership, StoredMembership, Vote,
};
pub use snapshot::{RaftSnapshotRequest, SnapshotAnswer, SnapshotMeta};
pub use vote::{RaftVoteRequest, VoteAnswer};

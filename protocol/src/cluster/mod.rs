//! The inter-broker protocol: what brokers of one cluster send each other on
//! their cluster listener (docs/PROTOCOL.md §7).
//!
//! Every Raft group (the metadata group and one per partition) sends openraft's
//! RPCs over connections shared by all groups; each message names its group.
//! `raft_types` holds the pieces those messages are made of.

pub mod raft_types;

pub use raft_types::{
    ClusterNode, Entry, EntryPayload, GroupId, LogId, Membership, StoredMembership, Vote,
};

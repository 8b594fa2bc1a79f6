//! The cluster layer: Raft groups on openraft that make several brokers look
//! like one.
//!
//! Every group uses the same types (`types`). A Raft entry sits in a record
//! batch (`entry_batch`), encoded with the protocol crate's layouts
//! (`entry_codec`); each group's vote and purged mark are one small file
//! (`raft_state`), and its state machine is a `state_store` over the group's
//! own state.
//!
//! Every group's log is one openraft log store (`raft_log`) over a store of
//! its own. The metadata group keeps its log in a `rill_storage::Log` of its own
//! (`entry_log`, one record per entry) and applies the commands of `metadata`
//! (`meta_store`): topics, their replica sets, producer-id blocks. A partition
//! group's log is the partition's own log (`partition_log`, one producer batch
//! per entry, mapped to offsets by `entry_index`), and its state is how far the
//! partition is committed (`partition_state`).
//!
//! Brokers talk on their own cluster listener (`listener`); a broker's
//! connections to its peers (`peer`) are shared by every group through one
//! router (`network`). `meta_group` starts this broker's member of the metadata
//! group (a member that starts with an empty log votes only once caught up:
//! `rejoin`); `runtime` starts and stops the whole of a broker's cluster part.
//!
//! Reading order: `metadata`, `types`, `entry_codec`, `entry_batch`,
//! `raft_state`, `state_store`, `raft_log`, `entry_log`, `meta_store`, `entry_index`,
//! `partition_log`, `partition_state`, `rejoin`, `peer`, `network`, `listener`,
//! `meta_group`, `runtime`.

pub mod entry_batch;
pub mod entry_codec;
pub mod entry_index;
pub mod entry_log;
pub mod listener;
pub mod meta_group;
pub mod meta_store;
pub mod metadata;
pub mod network;
pub mod partition_group;
pub mod partition_log;
pub mod partition_state;
pub mod peer;
pub mod raft_log;
pub mod raft_node;
pub mod raft_state;
pub mod rejoin;
pub mod runtime;
pub mod state_store;
pub mod types;

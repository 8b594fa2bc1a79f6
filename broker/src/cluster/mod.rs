//! The cluster layer: Raft groups on openraft that make several brokers look
//! like one.
//!
//! Every group uses the same types (`types`) and keeps its Raft log in a
//! `rill_storage::Log` (`entry_log`), encoded with the protocol crate's layouts
//! (`entry_codec`). The metadata group's state machine (`meta_store`) applies
//! the commands of `metadata`: topics, their replica sets, producer-id blocks.
//!
//! Brokers talk on their own cluster listener (`listener`); a broker's
//! connections to its peers (`peer`) are shared by every group through one
//! router (`network`). `meta_group` starts this broker's member of the metadata
//! group; `runtime` starts and stops the whole of a broker's cluster part.
//!
//! `entry_index` maps Raft entries to the offsets of their batches, for the
//! partition groups to come, whose batches hold many records each (the metadata
//! group's entries are one record each, so its index is the offset).
//!
//! Reading order: `metadata`, `types`, `entry_codec`, `entry_index`,
//! `entry_log`, `meta_store`, `peer`, `network`, `listener`, `meta_group`,
//! `runtime`.

pub mod entry_codec;
pub mod entry_index;
pub mod entry_log;
pub mod listener;
pub mod meta_group;
pub mod meta_store;
pub mod metadata;
pub mod network;
pub mod peer;
pub mod runtime;
pub mod types;

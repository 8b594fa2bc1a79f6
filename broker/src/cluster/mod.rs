//! The cluster layer: Raft groups on openraft that make several brokers look
//! like one.
//!
//! Every group uses the same types (`types`) and keeps its Raft log in a
//! `rill_storage::Log` (`entry_log`), encoded with the protocol crate's layouts
//! (`entry_codec`). The metadata group's state machine (`meta_store`) applies
//! the commands of `metadata`: topics, their replica sets, producer-id blocks.
//!
//! Reading order: `metadata`, `types`, `entry_codec`, `entry_log`, `meta_store`.

pub mod entry_codec;
pub mod entry_log;
pub mod meta_store;
pub mod metadata;
pub mod types;

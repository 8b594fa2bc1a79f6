//! Rill's client library: `Producer`, `Consumer` and `Admin` over the Rill wire
//! protocol (docs/PROTOCOL.md). Only the library: the `rill` command line and the
//! demo live in `rill-cli`, the benchmark in `rill-bench`, so a service that
//! depends on this crate compiles no broker, storage, CLI or benchmark code.
//!
//! - [`Connection`]: one pipelined TCP connection to a broker; the building block of
//!   everything else, and usable on its own for raw requests.
//! - [`Admin`]: create, delete, list and describe topics; list groups and describe
//!   a group with per-partition committed offset, log end and lag.
//! - [`Producer`]: batched, pipelined, idempotent sends with backpressure
//!   ([`ProducerConfig`] documents every option).
//! - [`Consumer`]: manual `assign` or group `subscribe`, `poll`, `seek` (offset,
//!   beginning, end, timestamp), sync/async/auto commit, a fetch always in flight
//!   ahead of the application ([`ConsumerConfig`] documents every option).
//!
//! Every fallible call returns [`Error`], whose messages name the broker address,
//! the error code and the topic/partition involved.

pub mod admin;
mod bootstrap;
mod clock;
pub mod connection;
pub mod consumer;
pub mod error;
mod locks;
pub mod producer;
mod routing;

pub use admin::cluster::{BrokerStatus, ClusterStatus, PartitionStatus};
pub use admin::groups::{GroupDescription, GroupListing, GroupMember, GroupPartition};
pub use admin::{Admin, PartitionInfo, TopicInfo};
pub use connection::{Connection, ConnectionOptions};
pub use consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, PendingCommit, TopicPartition,
};
pub use error::{Error, Result};
pub use producer::{Acks, Delivery, Partitioner, Producer, ProducerConfig, RecordMetadata};
/// The broker's error codes, as [`Error::code`] returns them; re-exported so a
/// service can match on them without depending on `rill-protocol` itself.
pub use rill_protocol::{Compression, ErrorCode};

//! The Rill broker: serves topic partitions over the Rill wire protocol.
//!
//! [`serve`] takes a bound listener, a [`BrokerConfig`] and a shutdown future, so a
//! test can bind port 0 and stop the broker when it likes; the `rill-broker` binary
//! ([`cli`]) wraps it with flags, a config file and signal handling.
//!
//! Inside: [`server`] accepts connections under a connection limit; each
//! [`connection`] reads frames, hands every request to [`handler`] in order and
//! writes the answers back in the same order; [`topics`] owns the topics and their
//! [`partition`]s, each one `rill_storage::Log`. Appends to a partition are
//! serialized by its log; reads run concurrently; a long-poll fetch sleeps on the
//! partitions' append notifications. On shutdown the broker stops accepting,
//! finishes in-flight requests, then closes every log (fsync and clean-shutdown
//! checkpoint).

mod api_error;
pub mod cli;
pub mod config;
mod connection;
mod error;
pub mod group;
pub mod handler;
mod idempotence;
mod locks;
mod maintenance;
pub mod metrics;
mod metrics_http;
pub mod partition;
pub mod producer_ids;
pub mod server;
mod state;
pub mod topics;

pub use config::{BrokerConfig, Cleanup, FsyncSetting, GroupSettings, Limits, TopicSettings};
pub use error::{Error, Result};
pub use server::{serve, serve_with_metrics};

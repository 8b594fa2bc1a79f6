//! The Rill broker: serves topic partitions over the Rill wire protocol.
//!
//! [`serve`] takes a bound listener, a [`BrokerConfig`] and a shutdown future, so a
//! test can bind port 0 and stop the broker when it likes; the `rill-broker` binary
//! ([`cli`]) wraps it with flags, a config file and signal handling.

pub mod cli;
mod api_error;
mod config;
mod connection;
mod error;
mod group;
mod handler;
mod idempotence;
mod locks;
mod maintenance;
mod metrics;
mod metrics_http;
mod partition;
mod producer_ids;
mod server;
mod state;
mod topics;

pub use config::{BrokerConfig, Cleanup, FsyncSetting, GroupSettings, Limits, TopicSettings};
pub use error::{Error, Result};
pub use server::{serve, serve_with_metrics};

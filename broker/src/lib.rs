//! The Rill broker: serves topic partitions over the Rill wire protocol.
//!
//! [`serve`] takes a bound listener, a [`BrokerConfig`] and a shutdown future, so a
//! test can bind port 0 and stop the broker when it likes; the `rill-broker` binary
//! (in the `rill-cli` crate) wraps it with flags, a config file and signal handling.
//!
//! # Reading order
//!
//! Each module uses only modules listed before it (no file imports a file that
//! imports it back), so the crate reads from top to bottom:
//!
//! 1. `error` (why the broker cannot start or has to stop), `files` (durable
//!    writes of the broker's own small files), `config` (the typed
//!    configuration and its validation), `config_keys` (the configuration's keys,
//!    read off its types), `config_env` (a `RILL_*` variable for every key),
//!    `locks` (the one poison-tolerant way to take a lock), `api_error` (the code
//!    and message a request gets back).
//! 2. `idempotence` (duplicate detection for idempotent producers), `partition`
//!    (one `rill_storage::Log` and the notification that wakes long-poll fetches),
//!    `topics` (topics on disk, create and delete), `producer_ids` (ids for
//!    idempotent producers, unique across restarts).
//! 3. `group`: `assignor` (a group's target assignment), `coordinator`
//!    (membership, fencing and the incremental hand-over of partitions), `offsets`
//!    (committed offsets in the compacted `__consumer_offsets` topic).
//! 4. `cluster`: the Raft groups that make several brokers one cluster, on
//!    openraft (their types, the Raft log kept in a `rill_storage::Log`, the
//!    metadata group's commands and state machine).
//! 5. `metrics` (the registry), then `state` (`Broker`: the state every connection
//!    shares, and the shutdown signal).
//! 6. `handler` (one file per API; `handler::handle` pre-checks a request, runs
//!    its handler and decides whether it gets a response), `sendfile` (a Fetch
//!    answer's stored batches from their segment files to the socket), `connection` (frames
//!    in, responses out in request order, the in-flight budget), `maintenance`
//!    (interval fsyncs, retention, compaction), `metrics_http` (`GET /metrics`).
//! 7. `server` ([`serve`]: opens the state, accepts under the connection limit,
//!    drains and closes every log on shutdown).
//!
//! Appends to a partition are serialized by its log; reads run concurrently; a
//! long-poll fetch sleeps on its partitions' append notifications. On shutdown the
//! broker stops accepting, finishes in-flight requests, then closes every log
//! (fsync and clean-shutdown checkpoint).

mod api_error;
pub mod cluster;
mod config;
mod config_cluster;
mod config_env;
mod config_keys;
mod connection;
pub mod embedded;
mod error;
mod files;
mod group;
mod handler;
mod idempotence;
mod locks;
mod maintenance;
mod metrics;
mod metrics_http;
mod parallel;
mod partition;
mod producer_ids;
mod recovery;
mod recovery_hook;
mod replication;
mod sendfile;
mod server;
mod state;
mod topic_dir;
mod topics;

pub use config::{
    BrokerConfig, Cleanup, ClusterConfig, FsyncSetting, GroupSettings, Limits, Peer, Peers,
    RecoveryHook, TopicSettings,
};
pub use config_env::{env_keys, EnvKey, EnvOverlay, EnvSetting, ENV_PREFIX};
pub use error::{Error, Result};
pub use server::{serve, serve_with_metrics};

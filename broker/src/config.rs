//! The broker's configuration: one typed struct, read from a TOML file, with every
//! key defaulted.
//!
//! `deploy/rill.toml` documents every key with its default; the two must agree. The
//! binary layers `RILL_*` environment variables (through `config_env`, which gives
//! every key one) and `--flags` on top (see `rill-cli`); the broker itself only
//! ever sees a finished [`BrokerConfig`], which
//! [`BrokerConfig::validate`] checks before anything is opened. Unknown keys are an
//! error, so a typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rill_storage::{FsyncPolicy, LogOptions};
use serde::{Deserialize, Serialize};

pub use crate::config_cluster::{ClusterConfig, Peer, Peers};
use crate::error::{Error, Result};
pub use crate::recovery_hook::RecoveryHook;

/// The most partitions any topic may have, whatever the settings: the ceiling of
/// `limits.max_partitions_per_topic`, and what a topic file on disk is held to.
pub const PARTITIONS_CEILING: i32 = 1_000_000;

/// Everything the broker needs to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Address to listen on for clients. Default `127.0.0.1:9400`.
    pub listen: SocketAddr,
    /// Directory holding every topic's partitions. Default `./rill-data`.
    pub data_dir: PathBuf,
    /// This broker's id, reported in Metadata. Default 0.
    pub node_id: i32,
    /// `host:port` that Metadata tells clients to connect to. Default: the address
    /// the listener is bound to.
    pub advertised_addr: Option<String>,
    /// Address of the Prometheus endpoint (`GET /metrics`). Default: none (off).
    pub metrics_listen: Option<SocketAddr>,
    /// How long a graceful shutdown waits for in-flight requests, in ms. Default 10000.
    pub shutdown_timeout_ms: u64,
    /// How often retention and compaction run over every partition, in ms.
    /// Default 300000 (5 minutes).
    pub retention_check_interval_ms: u64,
    /// How many partition logs are opened (and, after an unclean shutdown,
    /// recovered) at once in the background after the broker starts listening;
    /// 0 means one per CPU core ([`BrokerConfig::recovery_threads()`]). Default 0;
    /// allowed 0 ..= 256.
    pub recovery_threads: usize,
    /// Called before each partition log the background recovery opens; not a
    /// file setting (see [`RecoveryHook`]).
    #[serde(skip)]
    pub recovery_hook: RecoveryHook,
    /// Limits that protect the broker from clients.
    pub limits: Limits,
    /// Consumer-group membership timing.
    pub groups: GroupSettings,
    /// Defaults of every topic's settings (the `[log]` section); a topic may
    /// override them when created.
    pub log: TopicSettings,
    /// How this broker joins a cluster (the `[cluster]` section); empty: a
    /// one-node broker.
    pub cluster: ClusterConfig,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9400)),
            data_dir: PathBuf::from("./rill-data"),
            node_id: 0,
            advertised_addr: None,
            metrics_listen: None,
            shutdown_timeout_ms: 10_000,
            retention_check_interval_ms: 300_000,
            recovery_threads: 0,
            recovery_hook: RecoveryHook::default(),
            limits: Limits::default(),
            groups: GroupSettings::default(),
            log: TopicSettings::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// Consumer-group membership timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupSettings {
    /// How often members are told to heartbeat, in ms. Default 1000.
    pub heartbeat_interval_ms: u64,
    /// A member not heard from for this long is removed and its partitions move,
    /// in ms. Default 10000.
    pub session_timeout_ms: u64,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            heartbeat_interval_ms: 1000,
            session_timeout_ms: 10_000,
        }
    }
}

/// Limits, each with a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Open client connections; further connections are closed at once. Default 1024.
    pub max_connections: usize,
    /// Largest request frame body; a larger length prefix closes the connection before
    /// anything is allocated. Default 16 MiB.
    pub max_frame_bytes: usize,
    /// Response bytes one connection may have waiting to be written; the broker stops
    /// reading that connection's requests until the client catches up. Default 64 MiB.
    pub max_in_flight_bytes: usize,
    /// Topics on this broker. Default 10000.
    pub max_topics: usize,
    /// Partitions of one topic. Default 1024.
    pub max_partitions_per_topic: i32,
    /// Longest topic name (names use `[A-Za-z0-9._-]`). Default 249, as in Kafka.
    pub max_topic_name_len: usize,
    /// Longest `max_wait_ms` a fetch may ask for; longer waits are cut to this.
    /// Default 30000.
    pub max_fetch_wait_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_frame_bytes: 16 << 20,
            max_in_flight_bytes: 64 << 20,
            max_topics: 10_000,
            max_partitions_per_topic: 1024,
            max_topic_name_len: 249,
            max_fetch_wait_ms: 30_000,
        }
    }
}

/// How a topic's log is forced to disk. In TOML: `"always"`, `"never"` or
/// `{ interval_ms = N }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "FsyncToml", into = "FsyncToml")]
pub enum FsyncSetting {
    /// Every acknowledged append is fsynced first (group commit).
    Always,
    /// The OS writes data back when it likes.
    Never,
    /// fsync when the last one is `interval_ms` old.
    Interval {
        /// Milliseconds between fsyncs; at least 1.
        interval_ms: u64,
    },
}

/// The TOML shapes of [`FsyncSetting`]; anything else is caught by `Other` so the
/// error can say what is allowed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum FsyncToml {
    Name(String),
    Interval { interval_ms: u64 },
    Other(toml::Value),
}

impl TryFrom<FsyncToml> for FsyncSetting {
    type Error = String;

    fn try_from(value: FsyncToml) -> Result<FsyncSetting, String> {
        let allowed = "fsync must be \"always\", \"never\" or { interval_ms = N } with N >= 1";
        match value {
            FsyncToml::Name(name) if name == "always" => Ok(FsyncSetting::Always),
            FsyncToml::Name(name) if name == "never" => Ok(FsyncSetting::Never),
            FsyncToml::Interval { interval_ms } if interval_ms > 0 => {
                Ok(FsyncSetting::Interval { interval_ms })
            }
            FsyncToml::Name(other) => Err(format!("{allowed}, not {other:?}")),
            FsyncToml::Interval { .. } => Err(format!("{allowed}, not interval_ms = 0")),
            FsyncToml::Other(other) => Err(format!("{allowed}, not {other}")),
        }
    }
}

impl From<FsyncSetting> for FsyncToml {
    fn from(value: FsyncSetting) -> FsyncToml {
        match value {
            FsyncSetting::Always => FsyncToml::Name("always".to_string()),
            FsyncSetting::Never => FsyncToml::Name("never".to_string()),
            FsyncSetting::Interval { interval_ms } => FsyncToml::Interval { interval_ms },
        }
    }
}

impl FsyncSetting {
    /// Parses the string form used by topic configs and flags: `always`, `never`, or
    /// a number of milliseconds for an interval.
    pub fn parse(value: &str) -> Result<FsyncSetting, String> {
        match value {
            "always" => Ok(FsyncSetting::Always),
            "never" => Ok(FsyncSetting::Never),
            other => match other.parse::<u64>() {
                Ok(ms) if ms > 0 => Ok(FsyncSetting::Interval { interval_ms: ms }),
                _ => Err(format!(
                    "fsync must be \"always\", \"never\" or an interval in ms (at least 1), not {other:?}"
                )),
            },
        }
    }

    /// The storage policy.
    pub fn policy(self) -> FsyncPolicy {
        match self {
            FsyncSetting::Always => FsyncPolicy::Always,
            FsyncSetting::Never => FsyncPolicy::Never,
            FsyncSetting::Interval { interval_ms } => {
                FsyncPolicy::Interval(Duration::from_millis(interval_ms))
            }
        }
    }
}

/// What happens to old data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cleanup {
    /// Delete whole closed segments past the retention limits.
    Delete,
    /// Keep the newest record per key.
    Compact,
}

impl Cleanup {
    /// Parses `delete` or `compact`.
    pub fn parse(value: &str) -> Result<Cleanup, String> {
        match value {
            "delete" => Ok(Cleanup::Delete),
            "compact" => Ok(Cleanup::Compact),
            other => Err(format!(
                "cleanup must be \"delete\" or \"compact\", not {other:?}"
            )),
        }
    }
}

/// A topic's settings: how its log rolls segments, syncs and cleans up old data.
/// The broker-wide `[log]` section holds the defaults of every topic; a topic's own
/// values are stored with it and survive restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicSettings {
    /// Durability: `"always"`, `"never"` or `{ interval_ms = N }`. Default `"never"`.
    pub fsync: FsyncSetting,
    /// Roll a segment at this size. Default 1 GiB; allowed 1 KiB ..= 2 GiB.
    pub segment_bytes: u64,
    /// Roll a segment at this age, in ms. Default 7 days.
    pub segment_ms: u64,
    /// Bytes of log between sparse index entries. Default 4096.
    pub index_interval_bytes: u64,
    /// Largest record batch accepted. Default 8 MiB.
    pub max_batch_bytes: usize,
    /// Delete closed segments older than this, in ms; -1 keeps data forever.
    /// Default 7 days.
    pub retention_ms: i64,
    /// Delete the oldest closed segments while a partition is larger; -1 = no limit.
    /// Default -1.
    pub retention_bytes: i64,
    /// `"delete"` (retention) or `"compact"` (newest record per key). Default `"delete"`.
    pub cleanup: Cleanup,
}

impl Default for TopicSettings {
    fn default() -> Self {
        TopicSettings {
            fsync: FsyncSetting::Never,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            index_interval_bytes: 4096,
            max_batch_bytes: 8 << 20,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            cleanup: Cleanup::Delete,
        }
    }
}

impl TopicSettings {
    /// The storage options these settings mean.
    pub fn log_options(&self) -> LogOptions {
        LogOptions {
            segment_bytes: self.segment_bytes,
            segment_age: Duration::from_millis(self.segment_ms),
            index_interval_bytes: self.index_interval_bytes,
            max_batch_bytes: self.max_batch_bytes,
            fsync: self.fsync.policy(),
            retention_age: u64::try_from(self.retention_ms)
                .ok()
                .map(Duration::from_millis),
            retention_bytes: u64::try_from(self.retention_bytes).ok(),
            ..LogOptions::default()
        }
    }

    /// Applies one `key = value` topic setting (as CreateTopics carries them).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
            value
                .parse()
                .map_err(|_| format!("{key} must be an integer, not {value:?}"))
        }
        match key {
            "fsync" => self.fsync = FsyncSetting::parse(value)?,
            "segment_bytes" => self.segment_bytes = number(key, value)?,
            "segment_ms" => self.segment_ms = number(key, value)?,
            "index_interval_bytes" => self.index_interval_bytes = number(key, value)?,
            "max_batch_bytes" => self.max_batch_bytes = number(key, value)?,
            "retention_ms" => self.retention_ms = number(key, value)?,
            "retention_bytes" => self.retention_bytes = number(key, value)?,
            "cleanup" => self.cleanup = Cleanup::parse(value)?,
            other => {
                return Err(format!(
                    "unknown topic setting {other:?}; allowed: {}",
                    TOPIC_SETTINGS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// Checks every value against its allowed range.
    pub fn validate(&self) -> Result<(), String> {
        if self.retention_ms < -1 || self.retention_bytes < -1 {
            return Err(format!(
                "retention_ms and retention_bytes must be -1 (no limit) or at least 0, not {} and {}",
                self.retention_ms, self.retention_bytes
            ));
        }
        // Topic metadata is TOML, whose integers are i64.
        if i64::try_from(self.segment_ms).is_err() {
            return Err(format!(
                "segment_ms = {}: allowed 1 ..= {}",
                self.segment_ms,
                i64::MAX
            ));
        }
        self.log_options().validate().map_err(|e| e.to_string())
    }
}

/// The settings a topic may override, as CreateTopics names them.
pub const TOPIC_SETTINGS: [&str; 8] = [
    "fsync",
    "segment_bytes",
    "segment_ms",
    "index_interval_bytes",
    "max_batch_bytes",
    "retention_ms",
    "retention_bytes",
    "cleanup",
];

impl BrokerConfig {
    /// Reads a TOML file; keys it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> Result<BrokerConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            op: "read config",
            path: path.to_path_buf(),
            source,
        })?;
        BrokerConfig::from_toml(&text).map_err(|reason| Error::Config {
            source_name: path.display().to_string(),
            reason,
        })
    }

    /// Parses TOML text. The error is one line: where, and what is wrong.
    pub fn from_toml(text: &str) -> Result<BrokerConfig, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().trim().replace('\n', " ");
            match e.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}: {message}")
                }
                None => message,
            }
        })
    }

    /// Checks every value against its allowed range.
    pub fn validate(&self) -> Result<()> {
        let fail = |reason: String| Error::Config {
            source_name: "configuration".to_string(),
            reason,
        };
        let l = &self.limits;
        let ranges: [(&str, u64, u64, u64); 5] = [
            (
                "limits.max_connections",
                l.max_connections as u64,
                1,
                1 << 20,
            ),
            (
                "limits.max_frame_bytes",
                l.max_frame_bytes as u64,
                1024,
                1 << 30,
            ),
            (
                "limits.max_in_flight_bytes",
                l.max_in_flight_bytes as u64,
                1024,
                1 << 34,
            ),
            ("limits.max_topics", l.max_topics as u64, 1, 1 << 20),
            (
                "limits.max_topic_name_len",
                l.max_topic_name_len as u64,
                1,
                249,
            ),
        ];
        for (name, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(fail(format!("{name} = {value}: allowed {min} ..= {max}")));
            }
        }
        let g = &self.groups;
        if !(1..=60_000).contains(&g.heartbeat_interval_ms)
            || g.session_timeout_ms < 2 * g.heartbeat_interval_ms
            || g.session_timeout_ms > 3_600_000
        {
            return Err(fail(format!(
                "groups.heartbeat_interval_ms = {} and groups.session_timeout_ms = {}: allowed heartbeat 1 ..= 60000, session at least twice the heartbeat and at most 3600000",
                g.heartbeat_interval_ms, g.session_timeout_ms
            )));
        }
        if let Some(addr) = &self.advertised_addr {
            parse_advertised(addr).map_err(fail)?;
        }
        if self.retention_check_interval_ms == 0 {
            return Err(fail(
                "retention_check_interval_ms = 0: must be at least 1".to_string(),
            ));
        }
        if self.recovery_threads > 256 {
            return Err(fail(format!(
                "recovery_threads = {}: allowed 0 (one per CPU core) ..= 256",
                self.recovery_threads
            )));
        }
        if !(1..=PARTITIONS_CEILING).contains(&l.max_partitions_per_topic) {
            return Err(fail(format!(
                "limits.max_partitions_per_topic = {}: allowed 1 ..= {PARTITIONS_CEILING}",
                l.max_partitions_per_topic
            )));
        }
        self.cluster.validate(self.node_id).map_err(fail)?;
        self.log.validate().map_err(|e| fail(format!("log: {e}")))
    }
}

impl BrokerConfig {
    /// The number of partition logs to open at once after start-up:
    /// `recovery_threads`, or one per CPU core when it is 0. A scan after a crash
    /// is CPU-bound once the log is in the page cache, so more threads than cores
    /// only make every partition finish later; with one per core, partitions are
    /// served in waves as they finish.
    pub fn recovery_threads(&self) -> usize {
        match self.recovery_threads {
            0 => std::thread::available_parallelism().map_or(4, std::num::NonZero::get),
            n => n,
        }
    }
}

/// Splits an `advertised_addr` into host and port.
pub fn parse_advertised(addr: &str) -> Result<(String, u16), String> {
    let bad = || format!("advertised_addr = {addr:?}: expected host:port with a port 1..=65535");
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests;

//! The `rill-broker` command line: flags and `RILL_*` environment variables layered
//! over an optional TOML file, logging, signals.
//!
//! Precedence, lowest first: built-in defaults, the `--config` file, environment
//! variables, flags. Every rill.toml key has a variable, `RILL_<KEY>` for a
//! top-level key and `RILL_<SECTION>_<KEY>` for a key in a section
//! (`RILL_RETENTION_CHECK_INTERVAL_MS=60000`, `RILL_LIMITS_MAX_TOPICS=100`),
//! whose value is read as the file would read it ([`rill_broker::EnvOverlay`]).
//! The flags' variables (`RILL_FSYNC`, `RILL_SEGMENT_BYTES`, `RILL_RETENTION_MS`,
//! `RILL_MAX_CONNECTIONS`, `RILL_MAX_FRAME_BYTES`; `--help` lists them all) are read
//! with their flags: they take the flag's syntax (`RILL_FSYNC=100` is an interval)
//! and rank as flags, above `RILL_LOG_FSYNC` and the like. Seven of them are also
//! keys' variables by the rule: `RILL_LISTEN`, `RILL_DATA_DIR`, `RILL_NODE_ID`,
//! `RILL_ADVERTISED_ADDR`, `RILL_METRICS_LISTEN`; so are `RILL_CLUSTER_LISTEN` and
//! `RILL_CLUSTER_PEERS` (`--cluster-listen`, `--peers`). Any other `RILL_*` variable
//! stops the start, as an unknown key in the file does, unless it belongs to
//! another Rill program ([`OTHER_PROGRAMS`]).
//!
//! On start the broker prints one line,
//! `rill-broker listening on ADDR`, to standard output (so scripts and tests that
//! pass port 0 learn the port); logs go to standard error, filtered by `RUST_LOG`
//! (default `info`). SIGINT or SIGTERM starts a graceful shutdown.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use rill_broker::{BrokerConfig, EnvOverlay, Error, FsyncSetting, Peer, Peers, Result, ENV_PREFIX};

use crate::logging;

/// `RILL_*` variables that Rill's other programs read, which the shell or
/// container that runs the broker may well have set: neither settings nor errors.
pub const OTHER_PROGRAMS: [&str; 4] = [
    // `rill` and `rill-bench`: the broker to talk to.
    "RILL_BROKER",
    // The storage micro-benchmarks: where they write.
    "RILL_BENCH_DIR",
    // The protocol's decoder fuzz tests: how many cases.
    "RILL_FUZZ_CASES",
    // deploy/build-image.sh: which static build.
    "RILL_STATIC",
];

/// Command-line flags; each also reads the `RILL_*` variable named in its help.
#[derive(Debug, Parser)]
#[command(
    name = "rill-broker",
    version,
    about = "The Rill broker: a Kafka-style log server.",
    after_help = "Every rill.toml key can also be set by an environment variable: RILL_<KEY>, \
or RILL_<SECTION>_<KEY> for a key in a section (RILL_LIMITS_MAX_TOPICS=100). \
deploy/rill.toml documents the keys."
)]
pub struct Args {
    /// TOML configuration file (deploy/rill.toml documents every key).
    #[arg(long, env = "RILL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for topic data [default: ./rill-data].
    #[arg(long, env = "RILL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:9400].
    #[arg(long, env = "RILL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// host:port that clients are told to connect to.
    #[arg(long, env = "RILL_ADVERTISED_ADDR")]
    pub advertised_addr: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, env = "RILL_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// This broker's id.
    #[arg(long, env = "RILL_NODE_ID")]
    pub node_id: Option<i32>,
    /// Default fsync policy of topics: always, never, or an interval in ms.
    #[arg(long, env = "RILL_FSYNC", value_parser = FsyncSetting::parse)]
    pub fsync: Option<FsyncSetting>,
    /// Default segment size of topics, in bytes.
    #[arg(long, env = "RILL_SEGMENT_BYTES")]
    pub segment_bytes: Option<u64>,
    /// Default retention of topics in ms (-1 = forever).
    #[arg(long, env = "RILL_RETENTION_MS", allow_hyphen_values = true)]
    pub retention_ms: Option<i64>,
    /// Most open client connections.
    #[arg(long, env = "RILL_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Largest request frame, in bytes.
    #[arg(long, env = "RILL_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    /// Address of the inter-broker listener, for a broker in a cluster.
    #[arg(long, env = "RILL_CLUSTER_LISTEN")]
    pub cluster_listen: Option<SocketAddr>,
    /// Every broker's cluster listener, this one included:
    /// 1@HOST:PORT,2@HOST:PORT,3@HOST:PORT.
    #[arg(long, env = "RILL_CLUSTER_PEERS", value_parser = parse_peers)]
    pub peers: Option<Peers>,
}

/// Parses `--peers`: comma-separated `ID@HOST:PORT`.
fn parse_peers(text: &str) -> Result<Peers, String> {
    text.split(',')
        .map(Peer::parse)
        .collect::<Result<_, _>>()
        .map(Peers)
}

impl Args {
    /// The configuration these arguments and `env` (the process's environment, or
    /// its `RILL_*` part) describe: the file (if any), the keys' variables from
    /// `env` over it, the flags over those, validated. The flags' own variables
    /// are clap's to read, and skipped in `env`.
    pub fn into_config(self, env: &BTreeMap<String, String>) -> Result<BrokerConfig> {
        let file = match &self.config {
            Some(path) => BrokerConfig::from_file(path)?,
            None => BrokerConfig::default(),
        };
        let own = own_variables();
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        let overlay = EnvOverlay::from_env(env, &own)?;
        for setting in overlay.settings() {
            tracing::info!(
                variable = %setting.variable,
                key = %setting.key,
                value = %setting.text,
                "setting from the environment"
            );
        }
        let mut config = overlay.apply(&file)?;
        macro_rules! apply {
            ($($flag:ident => $($field:ident).+;)*) => {
                $(if let Some(value) = self.$flag { config.$($field).+ = value; })*
            };
        }
        apply! {
            data_dir => data_dir;
            listen => listen;
            node_id => node_id;
            fsync => log.fsync;
            segment_bytes => log.segment_bytes;
            retention_ms => log.retention_ms;
            max_connections => limits.max_connections;
            max_frame_bytes => limits.max_frame_bytes;
        }
        if self.metrics_listen.is_some() {
            config.metrics_listen = self.metrics_listen;
        }
        if self.advertised_addr.is_some() {
            config.advertised_addr = self.advertised_addr;
        }
        if self.cluster_listen.is_some() {
            config.cluster.listen = self.cluster_listen;
        }
        if let Some(peers) = self.peers {
            config.cluster.peers = peers;
        }
        overlay.validate(&config)?;
        Ok(config)
    }
}

/// The `RILL_*` variables that are not read as keys' variables: the flags' own
/// (clap reads them with the flags) and [`OTHER_PROGRAMS`].
pub fn own_variables() -> Vec<String> {
    Args::command()
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .filter_map(|name| name.to_str())
        .chain(OTHER_PROGRAMS)
        .map(str::to_string)
        .collect()
}

/// The process's `RILL_*` variables. One whose name or value is not UTF-8 is an
/// error naming it.
fn rill_environment() -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    for (name, value) in std::env::vars_os() {
        if !name.as_encoded_bytes().starts_with(ENV_PREFIX.as_bytes()) {
            continue;
        }
        match (name.to_str(), value.to_str()) {
            (Some(name), Some(value)) => env.insert(name.to_string(), value.to_string()),
            _ => {
                return Err(Error::Config {
                    source_name: "environment".to_string(),
                    reason: format!("{} is not UTF-8", name.to_string_lossy()),
                })
            }
        };
    }
    Ok(env)
}

/// Runs the broker as the `rill-broker` binary does, with the process's arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    logging::init("info");
    let config = match rill_environment().and_then(|env| args.into_config(&env)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("rill-broker: {e}");
            return ExitCode::from(2);
        }
    };
    crate::runtime::run("rill-broker", run(config))
}

async fn run(config: BrokerConfig) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| Error::Config {
            source_name: "listen address".to_string(),
            reason: format!("cannot listen on {}: {e}", config.listen),
        })?;
    let addr = listener.local_addr().map_err(Error::Listener)?;
    let mut stdout = std::io::stdout();
    // A closed stdout (daemonised) is not a reason to stop the broker.
    let _ = writeln!(stdout, "rill-broker listening on {addr}");
    let metrics = match config.metrics_listen {
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| Error::Config {
                    source_name: "metrics_listen".to_string(),
                    reason: format!("cannot listen on {at}: {e}"),
                })?;
            let bound = listener.local_addr().map_err(Error::Listener)?;
            let _ = writeln!(stdout, "rill-broker metrics on http://{bound}/metrics");
            Some(listener)
        }
        None => None,
    };
    let _ = stdout.flush();
    rill_broker::serve_with_metrics(listener, metrics, config, termination()).await
}

/// Completes on SIGINT or SIGTERM.
async fn termination() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => Some(signal),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only SIGINT stops the broker");
            None
        }
    };
    let sigterm = async {
        match &mut term {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        () = sigterm => tracing::info!("SIGTERM: shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn the_environment_sets_any_key_above_the_file_and_below_the_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("rill.toml");
        std::fs::write(
            &file,
            "retention_check_interval_ms = 1000\n[limits]\nmax_topics = 5\n[log]\nsegment_bytes = 4096\n",
        )
        .expect("write config");
        let path = file.to_str().expect("utf-8 path");
        let parse = || {
            Args::try_parse_from(["rill-broker", "--config", path, "--segment-bytes", "8192"])
                .expect("parse")
        };
        let env = vars(&[
            ("RILL_RETENTION_CHECK_INTERVAL_MS", "60000"),
            ("RILL_LOG_SEGMENT_BYTES", "2048"),
            ("RILL_GROUPS_SESSION_TIMEOUT_MS", "20000"),
            ("RILL_BROKER", "127.0.0.1:1"),
            ("PATH", "/bin"),
        ]);
        let config = parse().into_config(&env).expect("valid");
        assert_eq!(config.retention_check_interval_ms, 60_000, "env over file");
        assert_eq!(config.limits.max_topics, 5, "file kept");
        assert_eq!(config.log.segment_bytes, 8192, "flag over env");
        assert_eq!(config.groups.session_timeout_ms, 20_000);

        let err = parse()
            .into_config(&vars(&[("RILL_LIMITS_MAX_TOPIC", "3")]))
            .expect_err("unknown")
            .to_string();
        assert!(
            err.contains("RILL_LIMITS_MAX_TOPIC (did you mean RILL_LIMITS_MAX_TOPICS?)"),
            "{err}"
        );
        let err = parse()
            .into_config(&vars(&[("RILL_GROUPS_SESSION_TIMEOUT_MS", "soon")]))
            .expect_err("bad value")
            .to_string();
        assert!(
            err.contains("RILL_GROUPS_SESSION_TIMEOUT_MS = \"soon\""),
            "{err}"
        );
    }

    #[test]
    fn cluster_settings_come_from_flags_the_environment_and_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("rill.toml");
        std::fs::write(
            &file,
            "node_id = 2\n[cluster]\nlisten = \"127.0.0.1:9502\"\npeers = [\"1@a:9501\", \"2@b:9502\"]\n",
        )
        .expect("write config");
        let path = file.to_str().expect("utf-8 path");
        let config = Args::try_parse_from(["rill-broker", "--config", path])
            .expect("parse")
            .into_config(&BTreeMap::new())
            .expect("valid");
        assert_eq!(config.cluster.peers.0.len(), 2);

        let flags = Args::try_parse_from([
            "rill-broker",
            "--node-id",
            "3",
            "--cluster-listen",
            "127.0.0.1:9503",
            "--peers",
            "1@a:9501,2@b:9502,3@c:9503",
        ])
        .expect("parse");
        let config = flags.into_config(&BTreeMap::new()).expect("valid");
        assert_eq!(
            config.cluster.listen,
            Some("127.0.0.1:9503".parse().expect("addr"))
        );
        assert_eq!(config.cluster.peers.0[2].addr, "c:9503");

        let env = vars(&[("RILL_CLUSTER_HEARTBEAT_MS", "50")]);
        let config = Args::try_parse_from(["rill-broker", "--config", path])
            .expect("parse")
            .into_config(&env)
            .expect("valid");
        assert_eq!(config.cluster.heartbeat_ms, 50);

        let err = Args::try_parse_from(["rill-broker", "--peers", "1@a:1,2b:2"])
            .expect_err("malformed peer")
            .to_string();
        assert!(err.contains("peer \"2b:2\": no '@'"), "{err}");
        let err = Args::try_parse_from([
            "rill-broker",
            "--node-id",
            "9",
            "--cluster-listen",
            "127.0.0.1:1",
            "--peers",
            "1@a:1",
        ])
        .expect("parse")
        .into_config(&BTreeMap::new())
        .expect_err("node 9 not a peer")
        .to_string();
        assert!(
            err.contains("node_id = 9 is not in cluster.peers (1@a:1)"),
            "{err}"
        );
    }

    #[test]
    fn own_variables_are_the_flags_and_other_programs_not_keys() {
        let own = own_variables();
        for name in [
            "RILL_CONFIG",
            "RILL_FSYNC",
            "RILL_MAX_FRAME_BYTES",
            "RILL_BROKER",
        ] {
            assert!(own.iter().any(|o| o == name), "{name} not in {own:?}");
        }
        let keys: Vec<String> = rill_broker::env_keys()
            .into_iter()
            .map(|k| k.variable)
            .collect();
        for name in OTHER_PROGRAMS {
            assert!(
                !keys.iter().any(|k| k == name),
                "{name} is a key's variable"
            );
        }
    }

    #[test]
    fn flags_override_the_file_and_bad_values_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("rill.toml");
        std::fs::write(
            &file,
            "node_id = 7\n[log]\nfsync = \"always\"\nsegment_bytes = 4096\n",
        )
        .expect("write config");
        let args = Args::try_parse_from([
            "rill-broker",
            "--config",
            file.to_str().expect("utf-8 path"),
            "--segment-bytes",
            "8192",
            "--retention-ms",
            "-1",
        ])
        .expect("parse");
        let config = args.into_config(&BTreeMap::new()).expect("valid");
        assert_eq!(config.node_id, 7);
        assert_eq!(
            config.log.fsync,
            FsyncSetting::parse("always").expect("fsync")
        );
        assert_eq!(config.log.segment_bytes, 8192);
        assert_eq!(config.log.retention_ms, -1);

        let err = Args::try_parse_from(["rill-broker", "--fsync", "sometimes"])
            .expect_err("bad fsync")
            .to_string();
        assert!(err.contains("fsync must be"), "{err}");
        let args = Args::try_parse_from(["rill-broker", "--segment-bytes", "10"]).expect("parse");
        let err = args
            .into_config(&BTreeMap::new())
            .expect_err("too small")
            .to_string();
        assert!(err.contains("segment_bytes"), "{err}");
        std::fs::write(&file, "[limits]\nmax_conections = 3\n").expect("write config");
        let args = Args::try_parse_from(["rill-broker", "--config", file.to_str().expect("utf-8")])
            .expect("parse");
        let err = args
            .into_config(&BTreeMap::new())
            .expect_err("typo")
            .to_string();
        assert!(
            err.contains("max_conections") && err.contains("rill.toml"),
            "{err}"
        );
    }
}

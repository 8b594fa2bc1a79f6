//! The `rill-broker` command line: flags and `RILL_*` environment variables layered
//! over an optional TOML file, logging, signals.
//!
//! Precedence, lowest first: built-in defaults, the `--config` file, environment
//! variables, flags. On start the broker prints one line,
//! `rill-broker listening on ADDR`, to standard output (so scripts and tests that
//! pass port 0 learn the port); logs go to standard error, filtered by `RUST_LOG`
//! (default `info`). SIGINT or SIGTERM starts a graceful shutdown.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rill_broker::{BrokerConfig, Error, FsyncSetting, Result};

use crate::logging;

/// Command-line flags; each also reads the `RILL_*` variable named in its help.
#[derive(Debug, Parser)]
#[command(
    name = "rill-broker",
    version,
    about = "The Rill broker: a Kafka-style log server."
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
}

impl Args {
    /// The configuration these arguments describe: the file (if any) with the flags
    /// and environment applied on top, validated.
    pub fn into_config(self) -> Result<BrokerConfig> {
        let mut config = match &self.config {
            Some(path) => BrokerConfig::from_file(path)?,
            None => BrokerConfig::default(),
        };
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
        config.validate()?;
        Ok(config)
    }
}

/// Runs the broker as the `rill-broker` binary does, with the process's arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    logging::init("info");
    let config = match args.into_config() {
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
        let config = args.into_config().expect("valid");
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
        let err = args.into_config().expect_err("too small").to_string();
        assert!(err.contains("segment_bytes"), "{err}");
        std::fs::write(&file, "[limits]\nmax_conections = 3\n").expect("write config");
        let args = Args::try_parse_from(["rill-broker", "--config", file.to_str().expect("utf-8")])
            .expect("parse");
        let err = args.into_config().expect_err("typo").to_string();
        assert!(
            err.contains("max_conections") && err.contains("rill.toml"),
            "{err}"
        );
    }
}

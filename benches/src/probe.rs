//! `rill-probe`: the two measurements of `benches/compare.sh` that `rill-bench`
//! does not make, as a command line. Each prints JSON lines on standard output.
//!
//! - `rill-probe idle --connections N`: opens N idle connections
//!   ([`IdleConnections`]), prints `{"open":N}`, waits for SIGUSR1 (the script
//!   measures the broker and runs a producer meanwhile), then asks one ApiVersions
//!   on every connection and prints the [`Served`] tally. Exits 0 only if every
//!   connection was answered.
//! - `rill-probe ready --topic T --partitions P --since UNIX_SECS`: waits for a
//!   restarting broker to serve every partition and prints the [`ReadyReport`],
//!   times measured from `--since` (the broker's exec).

use std::time::{Duration, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::idle::{IdleConnections, Served};
use crate::ready::{self, ReadyPlan, ReadyReport};

/// The `rill-probe` command line.
#[derive(Debug, Parser)]
#[command(
    name = "rill-probe",
    version,
    about = "Probes a running broker for benches/compare.sh: idle connections, and the \
             time a restarting broker takes to serve its partitions."
)]
pub struct ProbeCli {
    /// Broker address, host:port.
    #[arg(long, env = "RILL_BROKER", value_name = "ADDR")]
    pub broker: String,
    /// What to probe.
    #[command(subcommand)]
    pub probe: Probe,
}

/// One probe.
#[derive(Debug, Clone, Subcommand)]
pub enum Probe {
    /// Open N idle connections, print {"open":N}, wait for SIGUSR1, then ask one
    /// ApiVersions on each and print how many were answered.
    Idle {
        /// Connections to open.
        #[arg(long, value_name = "N")]
        connections: usize,
        /// Longest wait for all the answers, in seconds.
        #[arg(long, default_value_t = 60.0, value_name = "SECS")]
        timeout: f64,
    },
    /// Wait until every partition of a topic answers ListOffsets without an error
    /// and print when that happened, in ms since --since.
    Ready {
        /// The topic.
        #[arg(long, value_name = "NAME")]
        topic: String,
        /// Its partitions.
        #[arg(long, value_name = "P")]
        partitions: i32,
        /// Seconds since the Unix epoch (fraction allowed, as bash's
        /// $EPOCHREALTIME) from which times are measured: the broker's exec.
        #[arg(long, value_name = "UNIX_SECS")]
        since: f64,
        /// Longest wait, in seconds.
        #[arg(long, default_value_t = 600.0, value_name = "SECS")]
        timeout: f64,
    },
}

/// A probe's outcome, printed as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ProbeReport {
    /// From `idle`.
    Idle(Served),
    /// From `ready`.
    Ready(ReadyReport),
}

impl ProbeReport {
    /// Whether the probe found what it wanted: every idle connection answered (a
    /// `ready` report exists only once every partition was served).
    pub fn ok(&self) -> bool {
        match self {
            ProbeReport::Idle(served) => served.failed == 0,
            ProbeReport::Ready(_) => true,
        }
    }

    /// The report as one JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
    }
}

/// Runs one probe. `idle` announces its open connections on standard output and
/// then waits for `go` (the binary passes SIGUSR1).
pub async fn run_probe(
    cli: ProbeCli,
    go: impl std::future::Future<Output = ()>,
) -> Result<ProbeReport> {
    match cli.probe {
        Probe::Idle {
            connections,
            timeout,
        } => {
            let timeout = seconds("--timeout", timeout)?;
            let idle = IdleConnections::open(&cli.broker, connections).await?;
            println!("{}", serde_json::json!({ "open": idle.len() }));
            go.await;
            Ok(ProbeReport::Idle(idle.check(timeout).await))
        }
        Probe::Ready {
            topic,
            partitions,
            since,
            timeout,
        } => {
            let since = UNIX_EPOCH + seconds("--since", since)?;
            let plan = ReadyPlan {
                addr: cli.broker,
                topic,
                partitions,
                since,
                timeout: seconds("--timeout", timeout)?,
            };
            Ok(ProbeReport::Ready(ready::wait_until_served(&plan).await?))
        }
    }
}

/// `secs` as a duration, or an error naming `flag`.
fn seconds(flag: &str, secs: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() || flag == "--since")
        .ok_or_else(|| Error::InvalidArgument(format!("{flag} must be a number of seconds")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_and_bad_seconds_are_refused() {
        let cli = ProbeCli::try_parse_from([
            "rill-probe",
            "--broker",
            "127.0.0.1:1",
            "ready",
            "--topic",
            "t",
            "--partitions",
            "6",
            "--since",
            "1700000000.25",
        ])
        .expect("flags");
        let Probe::Ready { since, timeout, .. } = cli.probe else {
            panic!("a ready probe: {cli:?}");
        };
        assert_eq!((since, timeout), (1_700_000_000.25, 600.0));
        assert!(seconds("--timeout", 0.0).is_err());
        assert!(seconds("--timeout", -1.0).is_err());
        assert!(seconds("--timeout", f64::NAN).is_err());
        assert_eq!(
            seconds("--since", 1.5).expect("fine"),
            Duration::from_millis(1500)
        );
        assert!(ProbeCli::try_parse_from(["rill-probe", "--broker", "a:1", "idle"]).is_err());
    }
}

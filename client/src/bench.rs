//! The throughput and latency benchmark behind `rill bench` and `rill-bench`, in
//! the spirit of kafka-producer-perf-test and iggy-bench.
//!
//! Producers (each its own [`Producer`](crate::Producer) and connection) write
//! keyless records of `--record-size` bytes to one topic, as fast as they can or at
//! `--rate` records/s in total, for `--count` records or `--duration` seconds.
//! Consumers (each its own [`Consumer`](crate::Consumer)) read the topic at the same
//! time: every consumer all partitions, or the members of `--group` a share each.
//! With `--consume-only` the consumers read a topic from the beginning instead —
//! an existing one, or one the bench fills first — to measure reads of data that is
//! already written.
//!
//! What is measured:
//! - produce: records acknowledged per second and MB/s (10^6 bytes of record
//!   values), from the first enqueue to the last acknowledgement; the latency of
//!   each record from the call to `enqueue` to its acknowledgement;
//! - consume: records received per second and MB/s, summed over consumers, from
//!   the start (of the producers, or of the consumers with `--consume-only`) to
//!   the last record received; the end-to-end latency of each record
//!   from the producer's clock (a record header) to its receipt by a consumer.
//!
//! Latencies go into HDR histograms (`hdrhistogram`, microsecond resolution, three
//! significant digits) and are reported as p50/p99/p99.9/max.
//!
//! The bench runs against `--broker ADDR`, or else an [`EmbeddedBroker`] in this
//! process (which then shares the machine's cores with the clients). The report
//! carries the settings and the machine (cores, CPU model, kernel, build profile).

mod consume;
mod machine;
mod produce;
mod progress;
mod report;
mod runner;

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use rill_broker::FsyncSetting;

use crate::{Acks, EmbeddedBroker, Error, Result};

pub use machine::Machine;
pub use report::{BenchReport, ConsumeReport, LatencyReport, ProduceReport, Settings};

/// The exit status after Ctrl-C, as a shell reports a process it ended.
const INTERRUPTED: i32 = 130;

/// Records written when neither `--count` nor `--duration` is given.
pub const DEFAULT_COUNT: u64 = 1_000_000;

/// What the broker must do before it acknowledges a produce (`--acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AckMode {
    /// The write is as durable as the topic's fsync setting makes it (acks = -1).
    All,
    /// The write reached the leader's log (acks = 1).
    Leader,
    /// No answer at all (acks = 0): records count as sent once on the socket.
    None,
}

impl AckMode {
    /// The producer setting.
    pub fn acks(self) -> Acks {
        match self {
            AckMode::All => Acks::All,
            AckMode::Leader => Acks::Leader,
            AckMode::None => Acks::None,
        }
    }

    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            AckMode::All => "all",
            AckMode::Leader => "leader",
            AckMode::None => "none",
        }
    }
}

/// The benchmark's flags (every one has a default; see `rill bench --help`).
/// `--broker` is not among them: `rill` has it as a global flag and `rill-bench`
/// in [`BenchCli`].
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Producers, each with its own connection; they share `--count` and `--rate`.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub producers: usize,
    /// Consumers, each its own task and connection reading every partition (or,
    /// with --group, sharing them). 0: none, unless --consume-only (then 1).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub consumers: usize,
    /// Make the consumers members of this consumer group, sharing the partitions
    /// (they commit as partitions move; with --consume-only the group must not have
    /// committed offsets on the topic yet).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Bytes of each record's value.
    #[arg(long, default_value_t = 100, value_name = "BYTES")]
    pub record_size: usize,
    /// Size at which a partition's batch is sent without waiting for the linger.
    #[arg(long, default_value_t = 65_536, value_name = "BYTES")]
    pub batch_bytes: usize,
    /// How long a batch waits for more records before it is sent.
    #[arg(long, default_value_t = 5, value_name = "MS")]
    pub linger_ms: u64,
    /// Partitions of the topic, when the bench creates it.
    #[arg(long, default_value_t = 6, value_name = "P")]
    pub partitions: i32,
    /// What the broker waits for before acknowledging a produce.
    #[arg(long, value_enum, default_value_t = AckMode::Leader)]
    pub acks: AckMode,
    /// The topic's durability when the bench creates it: always, never, or an
    /// interval in ms [default: the broker's].
    #[arg(long, value_parser = FsyncSetting::parse, value_name = "always|never|MS")]
    pub fsync: Option<FsyncSetting>,
    /// Records to write (all producers together) [default: 1000000].
    #[arg(long, value_name = "N", conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Write for this many seconds instead of a count.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Records per second, all producers together; 0 = as fast as possible. A
    /// steady rate below the maximum gives meaningful end-to-end latencies.
    #[arg(long, default_value_t = 0, value_name = "R")]
    pub rate: u64,
    /// Topic to use [default: a new topic, bench-XXXXXXXX with random hex digits].
    #[arg(long, value_name = "NAME")]
    pub topic: Option<String>,
    /// Only read: the consumers read --topic from the beginning (if it does not
    /// exist, the bench creates it and writes --count records first).
    #[arg(long)]
    pub consume_only: bool,
    /// Print one JSON object with every figure and the settings, instead of text.
    #[arg(long)]
    pub json: bool,
}

impl Default for BenchArgs {
    /// The same values as the flags' defaults.
    fn default() -> Self {
        BenchArgs {
            producers: 1,
            consumers: 0,
            group: None,
            record_size: 100,
            batch_bytes: 65_536,
            linger_ms: 5,
            partitions: 6,
            acks: AckMode::Leader,
            fsync: None,
            count: None,
            duration: None,
            rate: 0,
            topic: None,
            consume_only: false,
            json: false,
        }
    }
}

/// How much to write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Workload {
    /// This many records in all.
    Count(u64),
    /// For this long.
    Duration(Duration),
}

impl BenchArgs {
    /// Checks the combination of flags; the message names the flag at fault.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: &str| Err(Error::InvalidArgument(msg.to_string()));
        if self.producers == 0 {
            return fail("--producers must be at least 1");
        }
        if self.partitions < 1 {
            return fail("--partitions must be at least 1");
        }
        if self.batch_bytes == 0 {
            return fail("--batch-bytes must be at least 1");
        }
        if self.count == Some(0) {
            return fail("--count must be at least 1");
        }
        if let Some(secs) = self.duration {
            if !(secs > 0.0 && secs <= 1e9) {
                return fail("--duration must be a number of seconds above 0");
            }
        }
        if self.group.as_deref() == Some("") {
            return fail("--group must not be empty");
        }
        if self.group.is_some() && self.consumers() == 0 {
            return fail("--group needs --consumers N (N >= 1)");
        }
        if self.topic.as_deref() == Some("") {
            return fail("--topic must not be empty");
        }
        Ok(())
    }

    /// Consumers to run: `--consumers`, at least 1 with `--consume-only`.
    pub fn consumers(&self) -> usize {
        if self.consume_only {
            self.consumers.max(1)
        } else {
            self.consumers
        }
    }

    pub(crate) fn workload(&self) -> Workload {
        match (self.count, self.duration) {
            (Some(n), _) => Workload::Count(n),
            (None, Some(secs)) => Workload::Duration(Duration::from_secs_f64(secs)),
            (None, None) => Workload::Count(DEFAULT_COUNT),
        }
    }
}

/// The `rill-bench` command line: `--broker` and the [`BenchArgs`].
#[derive(Debug, Parser)]
#[command(
    name = "rill-bench",
    version,
    about = "Rill's throughput and latency benchmark: producers and consumers against a \
             broker (an embedded one unless --broker is given)."
)]
pub struct BenchCli {
    /// Broker address, host:port [default: an embedded broker in this process].
    #[arg(long, env = "RILL_BROKER", value_name = "ADDR")]
    pub broker: Option<String>,
    /// The benchmark's flags.
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// Runs the benchmark against `broker` (or an embedded broker when `None`) and
/// returns every figure. `progress` draws live bars on standard error.
pub async fn run(broker: Option<String>, args: BenchArgs, progress: bool) -> Result<BenchReport> {
    run_until(broker, args, progress, std::future::pending())
        .await?
        .ok_or_else(|| Error::Bench {
            reason: "interrupted".to_string(),
        })
}

/// [`run`], abandoned when `interrupt` resolves first (then `None`). Either way an
/// embedded broker is stopped and its data removed.
async fn run_until(
    broker: Option<String>,
    args: BenchArgs,
    progress: bool,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<Option<BenchReport>> {
    args.validate()?;
    let (addr, embedded) = match broker {
        Some(addr) => (addr, None),
        None => {
            let embedded = EmbeddedBroker::start(EmbeddedBroker::default_config()).await?;
            (embedded.addr().to_string(), Some(embedded))
        }
    };
    let outcome = tokio::select! {
        report = runner::run(&addr, embedded.is_some(), &args, progress) => Some(report),
        () = interrupt => None,
    };
    let stopped = match embedded {
        Some(embedded) => embedded.stop().await,
        None => Ok(()),
    };
    let report = outcome.transpose()?;
    stopped?;
    Ok(report)
}

/// The command-line entry of `rill bench` and `rill-bench`: runs the benchmark
/// (progress bars when standard error is a terminal) and prints the report on
/// standard output, as text or with `--json` as one JSON object. Fails when the
/// run fails or the consumers did not receive every record. On Ctrl-C it stops
/// an embedded broker, removes its data and exits with status 130.
pub async fn run_cli(broker: Option<String>, args: BenchArgs) -> Result<()> {
    let json = args.json;
    if !json {
        eprintln!("{}", args_line(broker.as_deref(), &args));
    }
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let progress = std::io::stderr().is_terminal();
    let Some(report) = run_until(broker, args, progress, interrupt).await? else {
        eprintln!("rill bench: interrupted");
        std::process::exit(INTERRUPTED);
    };
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.summary());
    }
    match &report.consume {
        Some(c) if c.records < c.expected => Err(Error::Bench {
            reason: format!(
                "the consumers received {} of {} records (none came for {} s)",
                c.records,
                c.expected,
                runner::CONSUME_IDLE_TIMEOUT.as_secs()
            ),
        }),
        _ => Ok(()),
    }
}

/// The line announcing the run on standard error.
fn args_line(broker: Option<&str>, args: &BenchArgs) -> String {
    let what = match args.workload() {
        Workload::Count(n) => format!("{n} records"),
        Workload::Duration(d) => format!("{:.1} s", d.as_secs_f64()),
    };
    let broker = broker.unwrap_or("an embedded broker");
    if args.consume_only {
        format!(
            "rill bench: {} consumer(s) read a topic from the beginning on {broker}",
            args.consumers()
        )
    } else {
        format!(
            "rill bench: {what} of {} B from {} producer(s) to {} consumer(s) on {broker}",
            args.record_size,
            args.producers,
            args.consumers()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_flags() {
        let cli = BenchCli::try_parse_from(["rill-bench"]).expect("no flags");
        let (parsed, default) = (cli.bench, BenchArgs::default());
        assert_eq!(format!("{parsed:?}"), format!("{default:?}"));
        assert_eq!(parsed.workload(), Workload::Count(DEFAULT_COUNT));
    }

    #[test]
    fn flags_parse_and_combinations_are_checked() {
        let cli = BenchCli::try_parse_from([
            "rill-bench",
            "--acks",
            "all",
            "--fsync",
            "100",
            "--duration",
            "2.5",
            "--consumers",
            "2",
            "--group",
            "g",
        ])
        .expect("flags");
        assert_eq!(cli.bench.acks, AckMode::All);
        assert_eq!(
            cli.bench.fsync,
            Some(FsyncSetting::Interval { interval_ms: 100 })
        );
        assert_eq!(
            cli.bench.workload(),
            Workload::Duration(Duration::from_millis(2500))
        );
        assert!(cli.bench.validate().is_ok());
        assert!(
            BenchCli::try_parse_from(["rill-bench", "--count", "1", "--duration", "1"]).is_err()
        );
        assert!(BenchCli::try_parse_from(["rill-bench", "--fsync", "sometimes"]).is_err());
        let group_alone = BenchArgs {
            group: Some("g".into()),
            ..BenchArgs::default()
        };
        assert!(group_alone.validate().is_err());
        let only = BenchArgs {
            consume_only: true,
            ..BenchArgs::default()
        };
        assert_eq!(only.consumers(), 1);
    }
}

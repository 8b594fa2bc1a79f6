//! The benchmark's flags: [`BenchArgs`] (shared by `rill bench` and `rill-bench`),
//! [`BenchCli`] (`rill-bench`'s whole command line), and the checks on their
//! combination. Every flag has a default, and [`BenchArgs::default`] equals them.

use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use rill_broker::FsyncSetting;
use rill_client::{Acks, Compression};

use crate::error::{Error, Result};
use crate::payload::PayloadKind;

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
    /// What the values hold: the same random bytes (incompressible), or distinct
    /// JSON purchase events (compressible as real events are).
    #[arg(long, value_enum, default_value_t = PayloadKind::Random)]
    pub payload: PayloadKind,
    /// The producers' compression codec: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_name = "CODEC")]
    pub compression: Compression,
    /// Size at which a partition's batch is sent without waiting for the linger.
    #[arg(long, default_value_t = 65_536, value_name = "BYTES")]
    pub batch_bytes: usize,
    /// How long a batch waits for more records before it is sent.
    #[arg(long, default_value_t = 5, value_name = "MS")]
    pub linger_ms: u64,
    /// Produce requests each producer keeps awaiting their answers at once (at
    /// most 5 for an idempotent producer).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_in_flight: usize,
    /// Producers without idempotence (with --acks all they have it otherwise).
    #[arg(long)]
    pub no_idempotence: bool,
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
            payload: PayloadKind::Random,
            compression: Compression::None,
            batch_bytes: 65_536,
            linger_ms: 5,
            max_in_flight: 5,
            no_idempotence: false,
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
    /// Whether the producers are idempotent: with `--acks all`, unless
    /// `--no-idempotence` (the producer's own default).
    pub fn idempotent(&self) -> bool {
        self.acks == AckMode::All && !self.no_idempotence
    }

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
        if self.max_in_flight == 0 {
            return fail("--max-in-flight must be at least 1");
        }
        if self.max_in_flight > 5 && self.idempotent() {
            return fail(
                "--max-in-flight above 5 needs --no-idempotence or --acks leader|none: an idempotent producer keeps at most 5 requests in flight",
            );
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

    /// How much to write: `--count`, `--duration`, or the default count.
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
    /// Broker address, host:port, or a comma-separated list of them tried in
    /// order [default: an embedded broker in this process].
    #[arg(long, env = "RILL_BROKER", value_name = "ADDR")]
    pub broker: Option<String>,
    /// The benchmark's flags.
    #[command(flatten)]
    pub bench: BenchArgs,
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

    #[test]
    fn more_than_five_requests_in_flight_need_a_producer_without_idempotence() {
        let parse = |flags: &[&str]| {
            let mut argv = vec!["rill-bench"];
            argv.extend_from_slice(flags);
            BenchCli::try_parse_from(argv).expect("flags").bench
        };
        let deep = parse(&["--acks", "all", "--max-in-flight", "16"]);
        assert!(deep.idempotent());
        let refused = deep.validate().expect_err("idempotent with 16 in flight");
        assert!(
            refused.to_string().contains("--no-idempotence"),
            "{refused}"
        );
        let plain = parse(&["--acks", "all", "--max-in-flight", "16", "--no-idempotence"]);
        assert!(!plain.idempotent());
        assert!(plain.validate().is_ok());
        assert!(parse(&["--acks", "leader", "--max-in-flight", "16"])
            .validate()
            .is_ok());
        assert!(parse(&["--max-in-flight", "0"]).validate().is_err());
    }
}

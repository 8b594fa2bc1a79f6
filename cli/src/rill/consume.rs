//! `rill consume TOPIC`: print records' values (optionally keys), one per line.
//!
//! Without `--group` the command reads every partition (or `--partition P`) from
//! the end, the beginning, `--offset N` or `--from-time T`. With `--group` it joins
//! the group and starts from the group's committed offsets (else the end, or the
//! beginning with `--from-beginning`), and commits what it printed when it stops.
//! It stops after `--max N` records, after `--idle-timeout-ms` without a record,
//! on Ctrl-C, or when standard output closes. With `--max`, positions are moved
//! back to just after the last printed record before the final commit, so the
//! group's committed offsets match exactly what was printed.
//!
//! Ctrl-C stops consuming at once (`poll` is cancel-safe, so nothing printed is
//! lost to the commit), closes the consumer cleanly (commit, leave the group) and
//! exits with status 130, as a shell reports a process ended by Ctrl-C. A Ctrl-C
//! while closing, the second one or the first, exits with 130 at once, committing
//! nothing more.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use clap::Args;
use rill_client::{Admin, Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, TopicPartition};
use tokio::time::Instant;

use crate::error::{Error, Result};

/// The exit status after Ctrl-C: 128 + SIGINT.
const INTERRUPTED: i32 = 130;

use super::time::parse_time;

/// Flags of `rill consume`.
#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read.
    topic: String,
    /// Consume as a member of this group (committing what was printed).
    #[arg(long, value_name = "G", conflicts_with_all = ["partition", "offset", "from_time"])]
    group: Option<String>,
    /// Start at the first record (with --group: where the group has no committed
    /// offset).
    #[arg(long, conflicts_with_all = ["offset", "from_time"])]
    from_beginning: bool,
    /// Start at this offset of --partition.
    #[arg(
        long,
        value_name = "N",
        requires = "partition",
        conflicts_with = "from_time"
    )]
    offset: Option<i64>,
    /// Read only this partition.
    #[arg(long, value_name = "P")]
    partition: Option<i32>,
    /// Start at the first record at or after this time (RFC 3339, e.g.
    /// 2024-05-01T12:00:00Z, or ms since the epoch; a number below 10^11 is
    /// refused as likely seconds).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    from_time: Option<i64>,
    /// Stop after printing N records.
    #[arg(long, value_name = "N")]
    max: Option<u64>,
    /// Stop after this many ms without a record.
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
    /// Print each record as KEY SEP VALUE.
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
}

/// Runs `rill consume` against `broker` until a stop condition (see the module
/// docs); exits the process with status 130 on Ctrl-C.
pub async fn run(broker: &str, args: ConsumeArgs) -> Result<()> {
    if args.offset.is_some_and(|o| o < 0) {
        return Err(Error::InvalidArgument("--offset must be at least 0".into()));
    }
    let topic = Admin::connect(broker)
        .await?
        .describe_topic(&args.topic)
        .await?;
    let reset = if args.from_beginning {
        OffsetReset::Earliest
    } else {
        OffsetReset::Latest
    };
    let config = ConsumerConfig::new()
        .client_id("rill-cli")
        .offset_reset(reset);
    let mut consumer = Consumer::connect(broker, config).await?;
    match (&args.group, args.partition) {
        (Some(group), _) => consumer.subscribe(&[&args.topic], group).await?,
        (None, Some(p)) => {
            consumer
                .assign(&[TopicPartition::new(&args.topic, p)])
                .await?
        }
        (None, None) => {
            let all: Vec<TopicPartition> = topic
                .partitions
                .iter()
                .map(|p| TopicPartition::new(&args.topic, p.partition))
                .collect();
            consumer.assign(&all).await?;
        }
    }
    if args.group.is_none() {
        if let (Some(offset), Some(p)) = (args.offset, args.partition) {
            consumer.seek(&TopicPartition::new(&args.topic, p), offset)?;
        } else if let Some(time) = args.from_time {
            consumer.seek_to_timestamp(&[], time).await?;
        } else if args.from_beginning {
            consumer.seek_to_beginning(&[]).await?;
        }
    }
    // From here on Ctrl-C is ours: listened for without a gap until the exit.
    let mut interrupts = Interrupts::listen();
    let outcome = consume(&mut consumer, &args, &mut interrupts).await;
    let closed = tokio::select! {
        closed = consumer.close() => closed,
        () = interrupts.next() => {
            eprintln!("rill: interrupted while closing; exiting without a final commit");
            std::process::exit(INTERRUPTED);
        }
    };
    match outcome {
        Ok(Stop::Interrupted) => {
            if let Err(e) = closed {
                eprintln!("rill: {e}");
            }
            std::process::exit(INTERRUPTED);
        }
        Ok(Stop::Done) => Ok(closed?),
        Err(e) => Err(e),
    }
}

/// Why consuming stopped without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `--max`, `--idle-timeout-ms`, or standard output closed.
    Done,
    /// Ctrl-C.
    Interrupted,
}

/// Ctrl-C as a stream: one listener for the whole run, so a Ctrl-C between two
/// waits is not lost (the signal's default action is gone once listened for).
struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
    #[cfg(windows)]
    signal: Option<tokio::signal::windows::CtrlC>,
}

impl Interrupts {
    /// Starts listening; if that fails, Ctrl-C keeps its default action (the
    /// process ends at once) and [`next`](Interrupts::next) never resolves.
    fn listen() -> Interrupts {
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
        #[cfg(windows)]
        let signal = tokio::signal::windows::ctrl_c();
        let signal = signal
            .map_err(|e| tracing::warn!(error = %e, "cannot listen for Ctrl-C"))
            .ok();
        Interrupts { signal }
    }

    /// The next Ctrl-C (including one that came since the last call).
    async fn next(&mut self) {
        if let Some(signal) = self.signal.as_mut() {
            if signal.recv().await.is_some() {
                return;
            }
        }
        std::future::pending().await
    }
}

/// The poll-and-print loop; returns when a stop condition is met.
async fn consume(
    consumer: &mut Consumer,
    args: &ConsumeArgs,
    interrupts: &mut Interrupts,
) -> Result<Stop> {
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut printed: u64 = 0;
    let idle = args.idle_timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    loop {
        if args.max.is_some_and(|max| printed >= max) {
            return Ok(Stop::Done);
        }
        if idle.is_some_and(|idle| last_record.elapsed() >= idle) {
            return Ok(Stop::Done);
        }
        // Cancelling `poll` when Ctrl-C wins is safe: records it had not
        // returned stay unconsumed, so the final commit covers what was printed.
        let records = tokio::select! {
            records = consumer.poll(Duration::from_millis(200)) => records?,
            () = interrupts.next() => return Ok(Stop::Interrupted),
        };
        if records.is_empty() {
            continue;
        }
        last_record = Instant::now();
        let room = args.max.map_or(usize::MAX, |max| {
            usize::try_from(max - printed).unwrap_or(usize::MAX)
        });
        let (shown, unshown) = records.split_at(records.len().min(room));
        for record in shown {
            if write_record(&mut out, record, args.key_separator.as_deref()).is_err() {
                return Ok(Stop::Done); // standard output closed: stop quietly
            }
        }
        if out.flush().is_err() {
            return Ok(Stop::Done);
        }
        printed += shown.len() as u64;
        rewind(consumer, unshown)?;
    }
}

/// Moves each partition of `unshown` back to its first record there, so a commit
/// covers only what was printed.
fn rewind(consumer: &mut Consumer, unshown: &[ConsumerRecord]) -> Result<()> {
    let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for record in unshown {
        first
            .entry(record.topic_partition())
            .or_insert(record.offset);
    }
    for (tp, offset) in first {
        consumer.seek(&tp, offset)?;
    }
    Ok(())
}

fn write_record(
    out: &mut impl Write,
    record: &ConsumerRecord,
    key_separator: Option<&str>,
) -> std::io::Result<()> {
    if let Some(sep) = key_separator {
        out.write_all(record.key.as_deref().unwrap_or_default())?;
        out.write_all(sep.as_bytes())?;
    }
    out.write_all(record.value.as_deref().unwrap_or_default())?;
    out.write_all(b"\n")
}

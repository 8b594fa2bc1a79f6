//! `rill consume TOPIC`: print records' values (optionally keys), one per line.
//!
//! Without `--group` the command reads every partition (or `--partition P`) from
//! the end, the beginning, `--offset N` or `--from-time T`. With `--group` it joins
//! the group and starts from the group's committed offsets (else the end, or the
//! beginning with `--from-beginning`), and commits what it printed when it stops.
//! It stops after `--max N` records, at the log end with `--to-end`, after
//! `--idle-timeout-ms` without a record, on Ctrl-C, or when standard output
//! closes; whichever comes first. Without any of these it waits for new records
//! forever, as `tail -f` does.
//!
//! `--to-end` (`-e`, kcat's flag) reads the log end (high watermark) of each
//! partition when consumption starts, prints the records before it and exits 0
//! once every partition's position has reached it, at once when there is nothing
//! to read; records produced later are not printed. With `--group` a partition's
//! end is read when this member first sees the partition in its assignment (just
//! after the poll that took it on), and the command exits once every partition
//! assigned to it at that moment is read to its end; a member that is assigned
//! nothing keeps waiting.
//!
//! Positions are moved back to the first record not printed (past `--max`, past
//! the end) before the final commit, so the group's committed offsets match
//! exactly what was printed.
//!
//! Ctrl-C stops consuming at once (`poll` is cancel-safe, so nothing printed is
//! lost to the commit), closes the consumer cleanly (commit, leave the group) and
//! exits with status 130, as a shell reports a process ended by Ctrl-C. A Ctrl-C
//! while closing, the second one or the first, exits with 130 at once, committing
//! nothing more.

use std::collections::{BTreeMap, HashMap};
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
    /// Stop at the log end, like kcat -e: exit 0 once the records there were when
    /// consuming started are printed.
    ///
    /// Reads each partition's log end (high watermark) when consuming starts,
    /// prints the records before it and exits 0 once every partition is read up to
    /// it, at once if there is nothing to read. Records produced later are not
    /// printed. Without --from-beginning, --offset or --from-time reading starts at
    /// the end, so nothing is printed (with --group: what the group has not
    /// consumed yet). With --group, a partition's end is read when this member is
    /// assigned the partition, and it stops once every partition it holds is read
    /// to its end; a member assigned no partition keeps waiting (add
    /// --idle-timeout-ms).
    #[arg(short = 'e', long)]
    to_end: bool,
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
    /// `--max`, `--to-end`, `--idle-timeout-ms`, or standard output closed.
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
    let mut ends = args.to_end.then(|| LogEnds::new(&args.topic));
    loop {
        if args.max.is_some_and(|max| printed >= max) {
            return Ok(Stop::Done);
        }
        if let Some(ends) = ends.as_mut() {
            tokio::select! {
                tracked = ends.track(consumer) => tracked?,
                () = interrupts.next() => return Ok(Stop::Interrupted),
            }
            if ends.reached(consumer) {
                return Ok(Stop::Done);
            }
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
        // Per partition the records come in offset order, and both limits,
        // once hit, stay hit: what is printed of each partition is a prefix.
        let mut unshown: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for record in &records {
            let full = args.max.is_some_and(|max| printed >= max);
            let past_end = ends
                .as_ref()
                .is_some_and(|ends| ends.is_past(record.partition, record.offset));
            if full || past_end {
                unshown
                    .entry(record.topic_partition())
                    .or_insert(record.offset);
                continue;
            }
            if write_record(&mut out, record, args.key_separator.as_deref()).is_err() {
                return Ok(Stop::Done); // standard output closed: stop quietly
            }
            printed += 1;
        }
        if out.flush().is_err() {
            return Ok(Stop::Done);
        }
        rewind(consumer, unshown)?;
    }
}

/// Moves each partition of `first_unshown` back to its first record that was
/// not printed, so a commit covers only what was printed.
fn rewind(consumer: &mut Consumer, first_unshown: BTreeMap<TopicPartition, i64>) -> Result<()> {
    for (tp, offset) in first_unshown {
        consumer.seek(&tp, offset)?;
    }
    Ok(())
}

/// For `--to-end`: the log end of each partition the consumer holds, read when
/// it first held it.
#[derive(Debug)]
struct LogEnds {
    topic: String,
    /// Partition -> its log end (high watermark) when first seen assigned.
    ends: HashMap<i32, i64>,
}

impl LogEnds {
    fn new(topic: &str) -> LogEnds {
        LogEnds {
            topic: topic.to_string(),
            ends: HashMap::new(),
        }
    }

    /// Follows the consumer's assignment: forgets partitions it no longer holds
    /// and reads the log end of those it holds for the first time.
    async fn track(&mut self, consumer: &Consumer) -> Result<()> {
        let assigned = consumer.assignment();
        self.ends
            .retain(|p, _| assigned.contains(&TopicPartition::new(&self.topic, *p)));
        let new: Vec<TopicPartition> = assigned
            .into_iter()
            .filter(|tp| !self.ends.contains_key(&tp.partition))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        // A partition missing from the answer stays unknown (so not reached)
        // and is asked for again next time.
        for (tp, end) in consumer.end_offsets(&new).await? {
            self.ends.insert(tp.partition, end);
        }
        Ok(())
    }

    /// Whether `offset` of `partition` is at or past the end read for it.
    fn is_past(&self, partition: i32, offset: i64) -> bool {
        self.ends.get(&partition).is_some_and(|end| offset >= *end)
    }

    /// Whether the consumer holds partitions and its position in each has
    /// reached the end read for it.
    fn reached(&self, consumer: &Consumer) -> bool {
        let assigned = consumer.assignment();
        !assigned.is_empty()
            && assigned.iter().all(|tp| {
                let end = self.ends.get(&tp.partition);
                let position = consumer.position(tp);
                end.zip(position).is_some_and(|(end, at)| at >= *end)
            })
    }
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

//! A Jepsen-style checker: judges a history of produces and reads against a
//! replicated topic, and the logs found after the faults were healed.
//!
//! The history holds what clients saw, nothing more: each produce (its unique
//! value, when it was sent and when it completed, and where it was acknowledged
//! or why it failed) and each read (the records a fetch returned and the high
//! watermark it reported). After healing, the test reads every partition whole
//! from its leader (the final log) and, with the brokers stopped, each replica's
//! log from disk. [`check`] then counts what must be zero:
//! - **lost**: an acknowledged record that is not in the final log at its
//!   acknowledged offset;
//! - **forked**: an offset that held two different values, across every read,
//!   the final log and every replica's committed log;
//! - **duplicated**: a value at more than one offset of the final log (a retry that
//!   an idempotent producer should have made harmless);
//! - **reordered**: two records of one partition whose offsets disagree with the
//!   order of their acknowledgements: one producer's sends in send order, and any
//!   record acknowledged before another was sent;
//! - **vanished**: a record a reader saw that is not in the final log where it was
//!   seen (a read of data that was not committed), or one at or above the high
//!   watermark its own fetch reported;
//! - **watermark regressions**: a reader that saw a partition's high watermark go
//!   back.
//!
//! A produce that failed or timed out may or may not have landed; the checker
//! counts those that did, and only asks that they landed once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Instant;

/// Where a produce ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged at this partition and offset.
    Acked {
        /// The partition.
        partition: i32,
        /// The offset.
        offset: i64,
    },
    /// Failed or timed out: the record may or may not have landed.
    Failed(String),
}

/// One produce of a unique value.
#[derive(Debug, Clone)]
pub struct Produce {
    /// Which producer sent it.
    pub producer: usize,
    /// The record's value, unique in the history.
    pub value: String,
    /// When it was handed to the producer.
    pub invoked: Instant,
    /// When its outcome was known.
    pub completed: Instant,
    /// Where it ended.
    pub outcome: Outcome,
}

/// One fetch answer a reader got for one partition.
#[derive(Debug, Clone)]
pub struct Read {
    /// Which reader fetched.
    pub reader: usize,
    /// The partition.
    pub partition: i32,
    /// The high watermark the answer reported.
    pub high_watermark: i64,
    /// The records it returned: offset and value.
    pub records: Vec<(i64, String)>,
}

/// A partition's log: offset to value.
pub type Log = BTreeMap<i64, String>;

/// Everything the checker judges.
#[derive(Debug, Default)]
pub struct History {
    /// Every produce, in any order.
    pub produces: Vec<Produce>,
    /// Every read, in the order each reader made them.
    pub reads: Vec<Read>,
    /// Each partition read whole from its leader after healing.
    pub final_logs: BTreeMap<i32, Log>,
    /// Each partition's high watermark after healing.
    pub final_watermarks: BTreeMap<i32, i64>,
    /// Each replica's log of each partition, read from its disk: (broker,
    /// partition) to log. Offsets at or above the final high watermark are not
    /// compared (an uncommitted tail a replica may still hold).
    pub replica_logs: BTreeMap<(usize, i32), Log>,
}

/// What [`check`] found: counts, and up to [`EXAMPLES`] examples of each fault.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Produces acknowledged.
    pub acked: usize,
    /// Produces that failed or timed out.
    pub failed: usize,
    /// Failed produces whose record is in the final log anyway.
    pub failed_but_present: usize,
    /// Records read by readers during the run.
    pub read: usize,
    /// Acknowledged records missing from their acknowledged offset.
    pub lost: usize,
    /// Offsets that held two different values.
    pub forked: usize,
    /// Values at more than one offset.
    pub duplicated: usize,
    /// Pairs of records in an order their acknowledgements contradict.
    pub reordered: usize,
    /// Records a reader saw that were not committed where it saw them.
    pub vanished: usize,
    /// High watermarks that went back for a reader.
    pub watermark_regressions: usize,
    /// Committed records a replica lacks after healing (it did not catch up).
    pub missing_on_replica: usize,
    /// Examples of the faults counted above.
    pub examples: Vec<String>,
}

/// The most examples a report keeps.
pub const EXAMPLES: usize = 20;

impl Report {
    /// Whether every fault count is zero.
    pub fn is_clean(&self) -> bool {
        self.lost
            + self.forked
            + self.duplicated
            + self.reordered
            + self.vanished
            + self.watermark_regressions
            + self.missing_on_replica
            == 0
    }

    fn fault(&mut self, example: String) {
        if self.examples.len() < EXAMPLES {
            self.examples.push(example);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "acked {}, failed {} ({} of them present), read {}; lost {}, forked {}, duplicated {}, reordered {}, vanished {}, watermark regressions {}, missing on a replica {}",
            self.acked,
            self.failed,
            self.failed_but_present,
            self.read,
            self.lost,
            self.forked,
            self.duplicated,
            self.reordered,
            self.vanished,
            self.watermark_regressions,
            self.missing_on_replica
        )?;
        for example in &self.examples {
            write!(f, "\n  {example}")?;
        }
        Ok(())
    }
}

/// Judges `history`.
pub fn check(history: &History) -> Report {
    let mut report = Report::default();
    check_acked(history, &mut report);
    check_forks(history, &mut report);
    check_duplicates(history, &mut report);
    check_order(history, &mut report);
    check_reads(history, &mut report);
    check_replicas(history, &mut report);
    report
}

/// Every acknowledged record is in the final log at its offset.
fn check_acked(history: &History, report: &mut Report) {
    let present: BTreeSet<&str> = history
        .final_logs
        .values()
        .flat_map(|log| log.values().map(String::as_str))
        .collect();
    for p in &history.produces {
        match &p.outcome {
            Outcome::Acked { partition, offset } => {
                report.acked += 1;
                let found = history
                    .final_logs
                    .get(partition)
                    .and_then(|log| log.get(offset));
                if found != Some(&p.value) {
                    report.lost += 1;
                    report.fault(format!(
                        "lost: {} acknowledged at {partition}/{offset}, which holds {found:?}",
                        p.value
                    ));
                }
            }
            Outcome::Failed(_) => {
                report.failed += 1;
                if present.contains(p.value.as_str()) {
                    report.failed_but_present += 1;
                }
            }
        }
    }
}

/// No offset holds two values across reads, the final log and the replicas'
/// committed logs.
fn check_forks(history: &History, report: &mut Report) {
    let mut seen: BTreeMap<(i32, i64), BTreeSet<&str>> = BTreeMap::new();
    for read in &history.reads {
        for (offset, value) in &read.records {
            seen.entry((read.partition, *offset))
                .or_default()
                .insert(value);
        }
    }
    for (partition, log) in &history.final_logs {
        for (offset, value) in log {
            seen.entry((*partition, *offset)).or_default().insert(value);
        }
    }
    for ((_, partition), log) in &history.replica_logs {
        let committed = history
            .final_watermarks
            .get(partition)
            .copied()
            .unwrap_or(0);
        for (offset, value) in log.range(..committed) {
            seen.entry((*partition, *offset)).or_default().insert(value);
        }
    }
    for ((partition, offset), values) in seen {
        if values.len() > 1 {
            report.forked += 1;
            report.fault(format!("forked: {partition}/{offset} held {values:?}"));
        }
    }
}

/// Every replica holds every committed record once the faults are healed.
fn check_replicas(history: &History, report: &mut Report) {
    for ((broker, partition), log) in &history.replica_logs {
        let Some(final_log) = history.final_logs.get(partition) else {
            continue;
        };
        for (offset, value) in final_log {
            if !log.contains_key(offset) {
                report.missing_on_replica += 1;
                report.fault(format!(
                    "missing on a replica: broker {broker} lacks committed {partition}/{offset} ({value})"
                ));
            }
        }
    }
}

/// No value sits at two offsets of the final log.
fn check_duplicates(history: &History, report: &mut Report) {
    let mut places: HashMap<&str, Vec<(i32, i64)>> = HashMap::new();
    for (partition, log) in &history.final_logs {
        for (offset, value) in log {
            places.entry(value).or_default().push((*partition, *offset));
        }
    }
    for (value, at) in places {
        if at.len() > 1 {
            report.duplicated += 1;
            report.fault(format!("duplicated: {value} at {at:?}"));
        }
    }
}

/// Offsets agree with acknowledgement order within each partition.
fn check_order(history: &History, report: &mut Report) {
    // (partition, producer) to (invoked, offset, value), acknowledged only.
    let mut acked: BTreeMap<i32, Vec<(&Produce, i64)>> = BTreeMap::new();
    for p in &history.produces {
        if let Outcome::Acked { partition, offset } = p.outcome {
            acked.entry(partition).or_default().push((p, offset));
        }
    }
    for (partition, mut records) in acked {
        // One producer's sends land in the order they were sent.
        records.sort_by_key(|(p, _)| (p.producer, p.invoked));
        for pair in records.windows(2) {
            let ((a, oa), (b, ob)) = (pair[0], pair[1]);
            if a.producer == b.producer && oa >= ob {
                report.reordered += 1;
                report.fault(format!(
                    "reordered: {} sent before {} but at {partition}/{oa}, not before {ob}",
                    a.value, b.value
                ));
            }
        }
        // A record acknowledged before another was sent sits below it.
        let mut by_completion: Vec<(Instant, i64, &str)> = records
            .iter()
            .map(|(p, o)| (p.completed, *o, p.value.as_str()))
            .collect();
        by_completion.sort();
        records.sort_by_key(|(p, _)| p.invoked);
        let mut done = by_completion.iter().peekable();
        let mut highest: Option<(i64, &str)> = None;
        for (p, offset) in &records {
            while let Some((_, o, v)) = done.next_if(|(c, _, _)| *c < p.invoked) {
                if highest.is_none_or(|(h, _)| *o > h) {
                    highest = Some((*o, v));
                }
            }
            if let Some((h, v)) = highest {
                if h >= *offset {
                    report.reordered += 1;
                    report.fault(format!(
                        "reordered: {v} acknowledged at {partition}/{h} before {} was sent, which landed at {offset}",
                        p.value
                    ));
                }
            }
        }
    }
}

/// What readers saw was committed and stays; their high watermarks never go
/// back.
fn check_reads(history: &History, report: &mut Report) {
    let mut watermarks: HashMap<(usize, i32), i64> = HashMap::new();
    for read in &history.reads {
        let last = watermarks
            .entry((read.reader, read.partition))
            .or_insert(read.high_watermark);
        if read.high_watermark < *last {
            report.watermark_regressions += 1;
            report.fault(format!(
                "watermark regression: reader {} saw {} go from {last} to {}",
                read.reader, read.partition, read.high_watermark
            ));
        }
        *last = (*last).max(read.high_watermark);
        let final_log = history.final_logs.get(&read.partition);
        for (offset, value) in &read.records {
            report.read += 1;
            let kept = final_log.and_then(|log| log.get(offset)) == Some(value);
            if !kept {
                report.vanished += 1;
                report.fault(format!(
                    "vanished: reader {} saw {value} at {}/{offset}, not in the final log there",
                    read.reader, read.partition
                ));
            } else if *offset >= read.high_watermark {
                report.vanished += 1;
                report.fault(format!(
                    "vanished: reader {} saw {value} at {}/{offset}, at or above the watermark {} of the same fetch",
                    read.reader, read.partition, read.high_watermark
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;

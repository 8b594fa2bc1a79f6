//! The consumers: each reads every partition on its own, or the members of a group
//! share them; each counts what it receives and, for records of this run, times
//! them from the producer's clock (the bench header) to receipt.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::task::JoinSet;
use tokio::time::Instant;

use rill_client::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset};

use crate::clock::wall_clock_ns;
use crate::error::{Error, Result};
use crate::produce::{histogram, HEADER};
use crate::progress::Counters;

/// A target not known yet (the producers are still running).
const UNKNOWN: u64 = u64::MAX;

/// How the consumers run.
#[derive(Debug, Clone)]
pub(crate) struct ConsumePlan {
    pub addr: String,
    pub topic: String,
    pub consumers: usize,
    pub group: Option<String>,
    /// Read from the first record in the log (else from the end, as the run
    /// starts).
    pub from_beginning: bool,
    /// Count only records of this run (by the bench header), else every record.
    pub run_id: Option<u64>,
    /// Give up when no record came for this long once the target is known.
    pub idle_timeout: Duration,
}

/// State shared by the consumer tasks and the run.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Records each consumer (or the group together) must receive.
    target: AtomicU64,
    /// Records the group received (group mode).
    group_received: AtomicU64,
    /// Consumers whose every partition has a position (read from the end mode).
    ready: AtomicUsize,
    /// Partitions positioned, over all consumers.
    positioned: AtomicUsize,
    /// Consumers holding at least one positioned partition.
    holding: AtomicUsize,
    /// Stop now (the run failed elsewhere).
    stop: AtomicBool,
    counters: Arc<Counters>,
}

impl Shared {
    /// Sets how many records each consumer (or the group) must receive.
    pub fn set_target(&self, target: u64) {
        self.target.store(target, Ordering::Release);
    }

    /// Asks every consumer to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// What one consumer did.
#[derive(Debug)]
pub(crate) struct Consumed {
    pub records: u64,
    pub bytes: u64,
    pub last: Option<Instant>,
    pub latency: Histogram<u64>,
}

/// The running consumers.
pub(crate) struct Consumers {
    pub shared: Arc<Shared>,
    tasks: JoinSet<Result<Consumed>>,
    plan: ConsumePlan,
}

/// Connects and assigns (or subscribes) every consumer and starts its task.
pub(crate) async fn start(plan: ConsumePlan, counters: Arc<Counters>) -> Result<Consumers> {
    let shared = Arc::new(Shared {
        target: AtomicU64::new(UNKNOWN),
        group_received: AtomicU64::new(0),
        ready: AtomicUsize::new(0),
        positioned: AtomicUsize::new(0),
        holding: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        counters,
    });
    let reset = if plan.from_beginning {
        OffsetReset::Earliest
    } else {
        OffsetReset::Latest
    };
    let mut tasks = JoinSet::new();
    for i in 0..plan.consumers {
        // Group members commit when partitions move between them, so the next
        // owner goes on where the last one stopped; the others commit nothing.
        let config = ConsumerConfig::new()
            .client_id(format!("rill-bench-consumer-{i}"))
            .offset_reset(reset)
            .auto_commit(plan.group.is_some())
            .fetch_max_wait(Duration::from_millis(100));
        let mut consumer = Consumer::connect(&plan.addr, config).await?;
        match &plan.group {
            Some(group) => consumer.subscribe(&[plan.topic.as_str()], group).await?,
            None => {
                consumer.assign_topics(&[plan.topic.as_str()]).await?;
                if plan.from_beginning {
                    let partitions: Vec<_> = consumer.assignment().into_iter().collect();
                    consumer.seek_to_beginning(&partitions).await?;
                }
            }
        }
        tasks.spawn(consume(consumer, plan.clone(), shared.clone()));
    }
    Ok(Consumers {
        shared,
        tasks,
        plan,
    })
}

impl Consumers {
    /// Waits until every partition has a position with the consumers (so nothing
    /// written from now on is missed) and, in a group, every member that can have
    /// partitions has some (so the first rebalance is over), up to `timeout`.
    pub async fn ready(&mut self, partitions: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let members = self.plan.consumers.min(partitions);
        loop {
            let ready = match self.plan.group {
                Some(_) => {
                    self.shared.positioned.load(Ordering::Acquire) >= partitions
                        && self.shared.holding.load(Ordering::Acquire) >= members
                }
                None => self.shared.ready.load(Ordering::Acquire) >= self.plan.consumers,
            };
            if ready {
                return Ok(());
            }
            match self.tasks.try_join_next() {
                None => {}
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) => {
                    return Err(Error::Failed {
                        reason: format!("a consumer task failed: {e}"),
                    })
                }
                Some(Ok(Ok(_))) => {
                    return Err(Error::Failed {
                        reason: "a consumer stopped before the run started".to_string(),
                    })
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "the consumers to be assigned every partition".to_string(),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for every consumer to finish and adds up what they did.
    pub async fn finish(mut self) -> Result<Consumed> {
        let mut total = Consumed {
            records: 0,
            bytes: 0,
            last: None,
            latency: histogram()?,
        };
        while let Some(joined) = self.tasks.join_next().await {
            let one = joined.map_err(|e| Error::Failed {
                reason: format!("a consumer task failed: {e}"),
            })??;
            total.records += one.records;
            total.bytes += one.bytes;
            total.last = total.last.max(one.last);
            total.latency.add(&one.latency).map_err(|e| Error::Failed {
                reason: format!("latency histogram: {e:?}"),
            })?;
        }
        Ok(total)
    }
}

/// One consumer's loop: poll until it (or its group) has the target, the run is
/// stopped, or nothing came for the idle timeout once the target is known.
async fn consume(
    mut consumer: Consumer,
    plan: ConsumePlan,
    shared: Arc<Shared>,
) -> Result<Consumed> {
    let mut done = Consumed {
        records: 0,
        bytes: 0,
        last: None,
        latency: histogram()?,
    };
    let mut ready = false;
    let mut positioned = 0;
    let mut idle_since = Instant::now();
    let result = loop {
        let target = shared.target.load(Ordering::Acquire);
        let have = match plan.group {
            Some(_) => shared.group_received.load(Ordering::Acquire),
            None => done.records,
        };
        if have >= target || shared.stop.load(Ordering::Acquire) {
            break Ok(());
        }
        if target != UNKNOWN && idle_since.elapsed() >= plan.idle_timeout {
            break Ok(());
        }
        let records = match consumer.poll(Duration::from_millis(100)).await {
            Ok(records) => records,
            Err(e) => break Err(e),
        };
        let now = Instant::now();
        let wall = wall_clock_ns();
        if !ready {
            let assigned = consumer.assignment();
            let known = assigned
                .iter()
                .filter(|tp| consumer.position(tp).is_some())
                .count();
            if (known > 0) != (positioned > 0) {
                if known > 0 {
                    shared.holding.fetch_add(1, Ordering::AcqRel);
                } else {
                    shared.holding.fetch_sub(1, Ordering::AcqRel);
                }
            }
            if known != positioned {
                if known > positioned {
                    shared
                        .positioned
                        .fetch_add(known - positioned, Ordering::AcqRel);
                } else {
                    shared
                        .positioned
                        .fetch_sub(positioned - known, Ordering::AcqRel);
                }
                positioned = known;
            }
            if plan.group.is_none() && !assigned.is_empty() && known == assigned.len() {
                ready = true;
                shared.ready.fetch_add(1, Ordering::AcqRel);
            }
        }
        let counted = tally(&records, plan.run_id, wall, &mut done);
        if counted > 0 {
            done.last = Some(now);
            idle_since = now;
            shared.counters.add_consumed(counted);
            if plan.group.is_some() {
                shared.group_received.fetch_add(counted, Ordering::AcqRel);
            }
        } else if target == UNKNOWN {
            idle_since = now;
        }
    };
    let closed = consumer.close().await;
    result?;
    closed?;
    Ok(done)
}

/// Counts the records that belong to the run (all of them without a run id) and
/// records their end-to-end latency; returns how many counted (also added to
/// `done`).
fn tally(
    records: &[ConsumerRecord],
    run_id: Option<u64>,
    wall_ns: u64,
    done: &mut Consumed,
) -> u64 {
    let mut counted = 0;
    for record in records {
        let stamp = record
            .headers
            .iter()
            .find(|(key, _)| key == HEADER)
            .and_then(|(_, value)| value.as_deref())
            .filter(|v| v.len() == 16)
            .map(|v| {
                let mut id = [0u8; 8];
                let mut ns = [0u8; 8];
                id.copy_from_slice(&v[..8]);
                ns.copy_from_slice(&v[8..]);
                (u64::from_be_bytes(id), u64::from_be_bytes(ns))
            });
        match (run_id, stamp) {
            (Some(run), Some((id, sent_ns))) if id == run => {
                let us = wall_ns.saturating_sub(sent_ns) / 1000;
                done.latency.saturating_record(us.max(1));
            }
            (Some(_), _) => continue,
            (None, _) => {}
        }
        counted += 1;
        done.records += 1;
        done.bytes += record.value.as_ref().map_or(0, |v| v.len() as u64);
    }
    counted
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn record(header: Option<Vec<u8>>) -> ConsumerRecord {
        ConsumerRecord {
            topic: Arc::from("t"),
            partition: 0,
            offset: 0,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from_static(b"0123456789")),
            headers: header
                .map(|h| vec![(HEADER.to_string(), Some(Bytes::from(h)))])
                .unwrap_or_default(),
        }
    }

    #[test]
    fn only_this_runs_records_count_and_are_timed() {
        let stamp = |run: u64, ns: u64| {
            let mut h = run.to_be_bytes().to_vec();
            h.extend(ns.to_be_bytes());
            Some(h)
        };
        let records = [
            record(stamp(7, 1_000_000)),
            record(stamp(8, 0)),
            record(None),
        ];
        let mut done = Consumed {
            records: 0,
            bytes: 0,
            last: None,
            latency: histogram().expect("histogram"),
        };
        assert_eq!(tally(&records, Some(7), 3_000_000, &mut done), 1);
        assert_eq!(done.latency.len(), 1);
        assert_eq!(done.latency.max(), 2000);
        assert_eq!((done.records, done.bytes), (1, 10));
        assert_eq!(tally(&records, None, 3_000_000, &mut done), 3);
    }
}

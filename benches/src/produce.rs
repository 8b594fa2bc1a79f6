//! The producers: each writes its share of the records (or writes until the
//! deadline) at its share of the rate, stamping every record with a header that
//! carries the run id and the wall clock, and times each record from `enqueue` to
//! the moment its batch was acknowledged.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use rill_client::{Delivery, Producer, ProducerConfig};

use crate::args::Workload;
use crate::clock::wall_clock_ns;
use crate::error::{Error, Result};
use crate::payload::{self, PayloadKind};
use crate::progress::Counters;

/// The header every bench record carries: the run id (8 bytes, big-endian), then
/// the producer's wall clock in ns since the Unix epoch (8 bytes).
pub(crate) const HEADER: &str = "rill-bench";

/// How the producers run.
#[derive(Debug, Clone)]
pub(crate) struct ProducePlan {
    pub addr: String,
    pub topic: String,
    pub config: ProducerConfig,
    pub producers: usize,
    pub workload: Workload,
    /// Records/s in all; 0 = unlimited.
    pub rate: u64,
    pub record_size: usize,
    pub payload: PayloadKind,
    pub run_id: u64,
}

/// What the producers did, all together.
#[derive(Debug)]
pub(crate) struct Produced {
    /// Records acknowledged.
    pub records: u64,
    /// When the producers started writing (all connected).
    pub started: Instant,
    /// From the common start to the last acknowledgement.
    pub elapsed: Duration,
    /// Enqueue-to-acknowledgement latencies, µs.
    pub latency: Histogram<u64>,
}

/// One producer's share.
struct Share {
    /// Records to write; `None`: until the deadline.
    count: Option<u64>,
    deadline: Option<Instant>,
    /// Records/s for this producer; 0 = unlimited.
    rate: f64,
}

/// Deliveries handed to the collector at a time: one channel operation per this
/// many records keeps the hand-off out of the measurement. The collector reads
/// each record's acknowledgement time from its batch, so a record waiting in a
/// chunk is not charged for the wait.
const HANDOFF: usize = 256;

/// A histogram for latencies from 1 µs to an hour, three significant digits.
pub(crate) fn histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).map_err(|e| Error::Failed {
        reason: format!("latency histogram: {e}"),
    })
}

/// Connects every producer, then runs them from one common start and waits for
/// every acknowledgement. Fails with the first record that failed.
pub(crate) async fn run(plan: &ProducePlan, counters: Arc<Counters>) -> Result<Produced> {
    let mut producers = Vec::with_capacity(plan.producers);
    for i in 0..plan.producers {
        let config = plan.config.clone().client_id(format!("rill-bench-{i}"));
        producers.push(Producer::connect(&plan.addr, config).await?);
    }
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, producer) in producers.into_iter().enumerate() {
        let share = Share {
            count: match plan.workload {
                Workload::Count(n) => Some(share_of(n, plan.producers, i)),
                Workload::Duration(_) => None,
            },
            deadline: match plan.workload {
                Workload::Count(_) => None,
                Workload::Duration(d) => Some(start + d),
            },
            rate: plan.rate as f64 / plan.producers as f64,
        };
        let (topic, run_id) = (plan.topic.clone(), plan.run_id);
        let values = payload::values(plan.payload, plan.record_size, run_id);
        let counters = counters.clone();
        tasks.spawn(async move {
            let result = produce(&producer, &topic, &values, run_id, share, start, counters).await;
            let closed = producer.close().await;
            let stats = result?;
            closed?;
            Ok::<_, Error>(stats)
        });
    }
    let mut total = Produced {
        records: 0,
        started: start,
        elapsed: Duration::ZERO,
        latency: histogram()?,
    };
    while let Some(joined) = tasks.join_next().await {
        let (records, last_ack, latency) = joined.map_err(|e| Error::Failed {
            reason: format!("a producer task failed: {e}"),
        })??;
        total.records += records;
        if let Some(at) = last_ack {
            total.elapsed = total.elapsed.max(at.duration_since(start));
        }
        total.latency.add(&latency).map_err(|e| Error::Failed {
            reason: format!("latency histogram: {e:?}"),
        })?;
    }
    Ok(total)
}

/// Producer `i`'s part of `n` records shared by `producers`.
fn share_of(n: u64, producers: usize, i: usize) -> u64 {
    let producers = producers as u64;
    n / producers + u64::from((i as u64) < n % producers)
}

/// One producer: enqueues its records, hands each delivery to a collector task,
/// and returns (records acknowledged, time of the last, latencies).
async fn produce(
    producer: &Producer,
    topic: &str,
    values: &[Vec<u8>],
    run_id: u64,
    share: Share,
    start: Instant,
    counters: Arc<Counters>,
) -> Result<(u64, Option<Instant>, Histogram<u64>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let collector = tokio::spawn(collect(rx, histogram()?, counters));
    let mut header = [0u8; 16];
    header[..8].copy_from_slice(&run_id.to_be_bytes());
    // The header's wall clock is derived from the monotonic clock read for the
    // latency, so each record costs one clock read here.
    let (wall_start_ns, mono_start) = (wall_clock_ns(), Instant::now());
    let paced = share.deadline.is_some() || share.rate > 0.0;
    let mut pending = Vec::with_capacity(HANDOFF);
    let mut n: u64 = 0;
    let mut enqueued = Ok(());
    loop {
        if share.count.is_some_and(|count| n >= count) {
            break;
        }
        if paced {
            let now = Instant::now();
            if share.deadline.is_some_and(|deadline| now >= deadline) {
                break;
            }
            if share.rate > 0.0 {
                let due = start + Duration::from_secs_f64(n as f64 / share.rate);
                if due > now {
                    if share.deadline.is_some_and(|deadline| due >= deadline) {
                        break;
                    }
                    tokio::time::sleep_until(due).await;
                }
            }
        }
        let sent = Instant::now();
        let since_start = u64::try_from((sent - mono_start).as_nanos()).unwrap_or(u64::MAX);
        header[8..].copy_from_slice(&wall_start_ns.saturating_add(since_start).to_be_bytes());
        match producer
            .enqueue(
                topic,
                None,
                Some(&values[n as usize % values.len()]),
                &[(HEADER, &header[..])],
            )
            .await
        {
            Ok(delivery) => {
                pending.push((sent, delivery));
                if pending.len() >= HANDOFF && tx.send(std::mem::take(&mut pending)).is_err() {
                    break;
                }
            }
            Err(e) => {
                enqueued = Err(e);
                break;
            }
        }
        n += 1;
    }
    if !pending.is_empty() {
        let _ = tx.send(pending);
    }
    drop(tx);
    producer.flush().await?;
    let collected = collector.await.map_err(|e| Error::Failed {
        reason: format!("an acknowledgement collector failed: {e}"),
    })?;
    enqueued?;
    collected
}

/// Awaits the deliveries in the order they were enqueued and records each one's
/// latency up to the moment its batch was answered (not the moment this loop gets
/// to it: a record of another partition may have been answered earlier).
async fn collect(
    mut rx: mpsc::UnboundedReceiver<Vec<(Instant, Delivery)>>,
    mut latency: Histogram<u64>,
    counters: Arc<Counters>,
) -> Result<(u64, Option<Instant>, Histogram<u64>)> {
    let mut acked = 0u64;
    let mut last = None;
    let mut first_error = None;
    while let Some(chunk) = rx.recv().await {
        for (sent, mut delivery) in chunk {
            match (&mut delivery).await {
                Ok(_) => {
                    let at = delivery
                        .acknowledged_at()
                        .map_or_else(Instant::now, Instant::from_std);
                    latency.saturating_record(micros(at.saturating_duration_since(sent)));
                    acked += 1;
                    last = last.max(Some(at));
                    counters.add_acked(1);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok((acked, last, latency)),
    }
}

/// A duration in whole µs, at least 1 (the histogram's lowest value).
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        let shares: Vec<u64> = (0..3).map(|i| share_of(10, 3, i)).collect();
        assert_eq!(shares, [4, 3, 3]);
        assert_eq!(share_of(2, 4, 3), 0);
        assert_eq!(micros(Duration::ZERO), 1);
    }
}

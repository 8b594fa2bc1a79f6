//! Fetch: reads stored batches from many partitions, long-polling at the log end.
//!
//! The response holds each partition's batches exactly as stored, starting with the
//! batch that contains `fetch_offset`. `max_bytes` caps the whole response and
//! `partition_max_bytes` each partition, except that the first partition with data
//! always returns at least one whole batch, so a consumer can never get stuck
//! behind a batch larger than its caps.
//!
//! The answer does not hold the record bytes: each partition's batches are a range
//! of a segment file ([`StoredBatches`]) that the connection sends from the file
//! (`crate::sendfile`). Only an answer of at most [`INLINE_MAX_BYTES`] record bytes
//! is read into memory here, where a copy costs less than a `sendfile` round trip.
//! All of a request's partitions are looked up in one go: first in place, reading
//! only what the page cache holds (`ReadMode::Cached`, the usual case for a
//! consumer at the log end), and only if some of it is not cached, again in one
//! call on the blocking pool.
//!
//! When fewer than `min_bytes` are ready the request waits, up to `max_wait_ms`
//! (cut to `limits.max_fetch_wait_ms`), for an append to any of its partitions.
//! The wake-up futures are armed before the data is read, so an append that lands
//! between the read and the wait still wakes the fetch.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use rill_protocol::api::fetch::{
    FetchPartition, FetchPartitionResponse, FetchRequest, FetchResponse, FetchTopicResponse,
};
use rill_protocol::ErrorCode;
use rill_storage::{Error as StorageError, ReadMode, StoredBatches};
use tokio::time::Instant;

use crate::api_error::ApiError;
use crate::partition::{Partition, PartitionError};
use crate::state::Broker;

/// Record bytes up to which an answer is read into memory rather than sent from
/// the segment files.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;

/// One requested partition, resolved.
struct Target {
    request: FetchPartition,
    partition: Result<Arc<Partition>, ApiError>,
}

/// A Fetch answer. Partition `p` of topic `t` in `response` has its records
/// (empty there) in `stored[t][p]` when that is `Some`.
#[derive(Debug)]
pub struct FetchAnswer {
    /// The response, without the records kept in `stored`.
    pub response: FetchResponse,
    /// Per topic, per partition, the batches to send from their segment file.
    pub stored: Vec<Vec<Option<StoredBatches>>>,
}

/// Answers a fetch, waiting for data as the request allows.
pub async fn handle(broker: &Broker, request: FetchRequest) -> FetchAnswer {
    let wait_ms = u64::try_from(request.max_wait_ms)
        .unwrap_or(0)
        .min(broker.config.limits.max_fetch_wait_ms);
    let deadline = Instant::now() + Duration::from_millis(wait_ms);
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(broker.config.limits.max_frame_bytes);
    // A partition listed twice is refused (as in Produce): each entry costs a
    // read on every wake-up, so repeats would let one request multiply that work.
    let repeats = repeated_entries(&request);
    let topics: Arc<Vec<(String, Vec<Target>)>> = Arc::new(
        request
        .topics
        .into_iter()
        .enumerate()
        .map(|(ti, t)| {
            let targets = t
                .partitions
                .into_iter()
                .enumerate()
                .map(|(pi, p)| Target {
                    partition: if repeats.contains(&(ti, pi)) {
                        Err(ApiError::new(
                            ErrorCode::InvalidRequest,
                            format!(
                                "partition {} of topic {:?} is listed more than once in one request",
                                p.partition, t.name
                            ),
                        ))
                    } else {
                        broker.topics.partition(&t.name, p.partition)
                    },
                    request: p,
                })
                .collect();
            (t.name, targets)
        })
        .collect(),
    );
    let mut shutdown = broker.shutdown_signal();
    loop {
        let mut wakeups: Vec<Pin<Box<tokio::sync::futures::Notified<'_>>>> = topics
            .iter()
            .flat_map(|(_, targets)| targets.iter())
            .filter_map(|t| t.partition.as_ref().ok())
            .map(|p| Box::pin(p.appended()))
            .collect();
        for wakeup in &mut wakeups {
            wakeup.as_mut().enable();
        }
        let read = read_all(Arc::clone(&topics), max_bytes).await;
        if read.bytes >= min_bytes
            || read.errors
            || Instant::now() >= deadline
            || *shutdown.borrow()
        {
            for (name, (records, bytes)) in topics.iter().map(|(n, _)| n).zip(read.counts) {
                if bytes > 0 {
                    broker.metrics.fetched(name, records, bytes);
                }
            }
            return read.answer;
        }
        tokio::select! {
            () = any(&mut wakeups) => {}
            () = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Positions (topic entry, partition entry) of every partition listed after its
/// first appearance in the request.
fn repeated_entries(request: &FetchRequest) -> HashSet<(usize, usize)> {
    let mut seen = HashSet::new();
    let mut repeats = HashSet::new();
    for (ti, t) in request.topics.iter().enumerate() {
        for (pi, p) in t.partitions.iter().enumerate() {
            if !seen.insert((t.name.as_str(), p.partition)) {
                repeats.insert((ti, pi));
            }
        }
    }
    repeats
}

/// Completes when any of the futures does.
async fn any<F: Future<Output = ()>>(futures: &mut [Pin<Box<F>>]) {
    std::future::poll_fn(|cx| {
        for f in futures.iter_mut() {
            if f.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await;
}

/// One reading of every target.
struct Read {
    answer: FetchAnswer,
    /// Record bytes in the answer.
    bytes: usize,
    /// Whether any partition answered with an error (which ends the wait).
    errors: bool,
    /// Per topic: offsets and bytes of the batches in the answer, for the metrics.
    counts: Vec<(u64, usize)>,
}

/// Reads every target once: in place if the page cache holds everything the
/// read needs, else in one call on the blocking pool.
async fn read_all(topics: Arc<Vec<(String, Vec<Target>)>>, max_bytes: usize) -> Read {
    if let Ok(read) = read_now(&topics, max_bytes, ReadMode::Cached) {
        return read;
    }
    let shared = Arc::clone(&topics);
    let failure =
        match tokio::task::spawn_blocking(move || read_now(&shared, max_bytes, ReadMode::Wait))
            .await
        {
            Ok(Ok(read)) => return read,
            // A waiting read is never declined; should one be, the request fails.
            Ok(Err(e)) => e.to_string(),
            // The runtime is shutting down.
            Err(e) => format!("broker task failed: {e}"),
        };
    // Every partition gets the error.
    let error = ApiError::new(ErrorCode::Unknown, failure);
    let response = FetchResponse {
        topics: topics
            .iter()
            .map(|(name, targets)| FetchTopicResponse {
                name: name.clone(),
                partitions: targets
                    .iter()
                    .map(|t| error_entry(t.request.partition, &error, -1, -1))
                    .collect(),
            })
            .collect(),
    };
    Read {
        answer: FetchAnswer {
            response,
            stored: Vec::new(),
        },
        bytes: 0,
        errors: true,
        counts: Vec::new(),
    }
}

/// Reads every target: the range of each partition's batches under the caps, read
/// into memory if the whole answer is small. In [`ReadMode::Cached`] it gives up
/// with [`StorageError::NotCached`] as soon as a read would wait for the disk.
fn read_now(
    topics: &[(String, Vec<Target>)],
    max_bytes: usize,
    mode: ReadMode,
) -> Result<Read, StorageError> {
    let mut total = 0usize;
    let mut errors = false;
    let mut out = Vec::with_capacity(topics.len());
    let mut stored = Vec::with_capacity(topics.len());
    let mut counts = Vec::with_capacity(topics.len());
    for (name, targets) in topics {
        let mut partitions = Vec::with_capacity(targets.len());
        let mut topic_stored = Vec::with_capacity(targets.len());
        let (mut records, mut bytes) = (0u64, 0usize);
        for target in targets {
            let index = target.request.partition;
            let mut batches = None;
            let entry = match &target.partition {
                Err(e) => error_entry(index, e, -1, -1),
                Ok(partition) => {
                    let cap = usize::try_from(target.request.partition_max_bytes)
                        .unwrap_or(0)
                        .min(max_bytes.saturating_sub(total));
                    let log = partition.log();
                    if cap == 0 && total > 0 {
                        ok_entry(index, partition.high_watermark(), log.log_start_offset())
                    } else {
                        match partition.read_slice(target.request.fetch_offset, cap.max(1), mode) {
                            Ok(read) => {
                                let len = read
                                    .batches
                                    .as_ref()
                                    .map_or(0, |b| usize::try_from(b.len()).unwrap_or(usize::MAX));
                                // Only the first partition with data may exceed the
                                // caps (with its first batch); later ones must fit.
                                if len > 0 && (total == 0 || len <= cap) {
                                    total += len;
                                    bytes += len;
                                    records += read.batches.as_ref().map_or(0, |b| b.offsets());
                                    batches = read.batches;
                                }
                                ok_entry(index, read.high_watermark, read.log_start_offset)
                            }
                            Err(PartitionError::Storage(e @ StorageError::NotCached { .. })) => {
                                return Err(e)
                            }
                            Err(e) => error_entry(
                                index,
                                &ApiError::from(e),
                                partition.high_watermark(),
                                log.log_start_offset(),
                            ),
                        }
                    }
                }
            };
            errors |= !entry.error_code.is_ok();
            partitions.push(entry);
            topic_stored.push(batches);
        }
        out.push(FetchTopicResponse {
            name: name.clone(),
            partitions,
        });
        stored.push(topic_stored);
        counts.push((records, bytes));
    }
    let mut answer = FetchAnswer {
        response: FetchResponse { topics: out },
        stored,
    };
    if total <= INLINE_MAX_BYTES {
        errors |= inline(&mut answer, mode)?;
    }
    Ok(Read {
        answer,
        bytes: total,
        errors,
        counts,
    })
}

/// Reads every stored range of `answer` into its partition's records. A range
/// that cannot be read makes its partition an error; returns whether one did.
/// Fails only with [`StorageError::NotCached`] (in [`ReadMode::Cached`]).
fn inline(answer: &mut FetchAnswer, mode: ReadMode) -> Result<bool, StorageError> {
    let mut failed = false;
    for (topic, stored) in answer.response.topics.iter_mut().zip(&mut answer.stored) {
        for (entry, slot) in topic.partitions.iter_mut().zip(stored.iter_mut()) {
            let Some(batches) = slot.as_ref() else {
                continue;
            };
            let read = batches.to_vec(mode);
            *slot = None;
            match read {
                Ok(bytes) => entry.records = Bytes::from(bytes),
                Err(e @ StorageError::NotCached { .. }) => return Err(e),
                Err(e) => {
                    let e = ApiError::from(PartitionError::Storage(e));
                    *entry = error_entry(
                        entry.partition,
                        &e,
                        entry.high_watermark,
                        entry.log_start_offset,
                    );
                    failed = true;
                }
            }
        }
    }
    Ok(failed)
}

fn ok_entry(partition: i32, high_watermark: i64, log_start_offset: i64) -> FetchPartitionResponse {
    FetchPartitionResponse {
        partition,
        error_code: ErrorCode::None,
        error_message: None,
        high_watermark,
        log_start_offset,
        records: Bytes::new(),
    }
}

fn error_entry(
    partition: i32,
    e: &ApiError,
    high_watermark: i64,
    log_start_offset: i64,
) -> FetchPartitionResponse {
    FetchPartitionResponse {
        partition,
        error_code: e.code,
        error_message: Some(e.message.clone()),
        high_watermark,
        log_start_offset,
        records: Bytes::new(),
    }
}

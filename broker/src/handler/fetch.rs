//! Fetch: reads stored batches from many partitions, long-polling at the log end.
//!
//! The response holds each partition's batches exactly as stored, starting with the
//! batch that contains `fetch_offset`. `max_bytes` caps the whole response and
//! `partition_max_bytes` each partition, except that the first partition with data
//! always returns at least one whole batch, so a consumer can never get stuck
//! behind a batch larger than its caps.
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
use rill_protocol::{BatchHeader, ErrorCode};
use tokio::time::Instant;

use crate::api_error::ApiError;
use crate::partition::Partition;
use crate::state::Broker;

/// One requested partition, resolved.
struct Target {
    request: FetchPartition,
    partition: Result<Arc<Partition>, ApiError>,
}

/// Answers a fetch, waiting for data as the request allows.
pub async fn handle(broker: &Broker, request: FetchRequest) -> FetchResponse {
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
    let topics: Vec<(String, Vec<Target>)> = request
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
        .collect();
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
        let (response, bytes, errors) = read_all(&topics, max_bytes).await;
        if bytes >= min_bytes || errors || Instant::now() >= deadline || *shutdown.borrow() {
            count(broker, &response);
            return response;
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

/// Adds the response's batches to the metrics.
fn count(broker: &Broker, response: &FetchResponse) {
    for topic in &response.topics {
        let (mut records, mut bytes) = (0u64, 0usize);
        for p in &topic.partitions {
            bytes += p.records.len();
            let mut rest = &p.records[..];
            while let Ok(header) = BatchHeader::parse(rest) {
                records += u64::try_from(header.record_count).unwrap_or(0);
                let Some(len) = header.total_len().filter(|l| *l <= rest.len()) else {
                    break;
                };
                rest = &rest[len..];
            }
        }
        if bytes > 0 {
            broker.metrics.fetched(&topic.name, records, bytes);
        }
    }
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

/// Reads every target once. Returns the response, its record bytes, and whether
/// any partition answered with an error (which ends the wait).
async fn read_all(
    topics: &[(String, Vec<Target>)],
    max_bytes: usize,
) -> (FetchResponse, usize, bool) {
    let mut total = 0usize;
    let mut errors = false;
    let mut out = Vec::with_capacity(topics.len());
    for (name, targets) in topics {
        let mut partitions = Vec::with_capacity(targets.len());
        for target in targets {
            let index = target.request.partition;
            let entry = match &target.partition {
                Err(e) => error_entry(index, e, -1, -1),
                Ok(partition) => {
                    let cap = usize::try_from(target.request.partition_max_bytes)
                        .unwrap_or(0)
                        .min(max_bytes.saturating_sub(total));
                    let log = partition.log();
                    if cap == 0 && total > 0 {
                        ok_entry(
                            index,
                            log.high_watermark(),
                            log.log_start_offset(),
                            Bytes::new(),
                        )
                    } else {
                        match partition
                            .read(target.request.fetch_offset, cap.max(1))
                            .await
                        {
                            Ok(read) => {
                                // Only the first partition with data may exceed the
                                // caps (with its first batch); later ones must fit.
                                let records = if total > 0 && read.bytes.len() > cap {
                                    Bytes::new()
                                } else {
                                    total += read.bytes.len();
                                    Bytes::from(read.bytes)
                                };
                                ok_entry(index, read.high_watermark, read.log_start_offset, records)
                            }
                            Err(e) => error_entry(
                                index,
                                &ApiError::from(e),
                                log.high_watermark(),
                                log.log_start_offset(),
                            ),
                        }
                    }
                }
            };
            errors |= !entry.error_code.is_ok();
            partitions.push(entry);
        }
        out.push(FetchTopicResponse {
            name: name.clone(),
            partitions,
        });
    }
    (FetchResponse { topics: out }, total, errors)
}

fn ok_entry(
    partition: i32,
    high_watermark: i64,
    log_start_offset: i64,
    records: Bytes,
) -> FetchPartitionResponse {
    FetchPartitionResponse {
        partition,
        error_code: ErrorCode::None,
        error_message: None,
        high_watermark,
        log_start_offset,
        records,
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

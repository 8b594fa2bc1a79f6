//! How long a restarting broker takes to serve its partitions again.
//!
//! [`wait_until_served`] connects to a broker that is starting (retrying while the
//! port refuses connections) and asks for the latest offset of every partition of
//! a topic with one ListOffsets request, again and again, until each partition has
//! been answered without an error. It reports when the first answer came and when
//! each partition was first served, measured from a moment the caller gives (the
//! exec of the broker): whether the broker serves partitions that are ready while
//! it still scans others shows as partitions served before the last one.

use std::time::{Duration, SystemTime};

use rill_client::{Connection, ConnectionOptions};
use rill_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
    LATEST_TIMESTAMP,
};
use serde::Serialize;

use crate::error::{Error, Result};

/// Pause between connection attempts while the port refuses them.
const CONNECT_RETRY: Duration = Duration::from_millis(2);

/// Pause between ListOffsets rounds while some partitions are not served yet.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// What to wait for.
#[derive(Debug, Clone)]
pub struct ReadyPlan {
    /// The broker's address.
    pub addr: String,
    /// The topic whose partitions must be served.
    pub topic: String,
    /// Its partitions (0 to `partitions - 1` are asked about).
    pub partitions: i32,
    /// Times are measured from here (the broker's exec).
    pub since: SystemTime,
    /// Longest wait from the call, in all.
    pub timeout: Duration,
}

/// When a restarting broker served what.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadyReport {
    /// Partitions asked about.
    pub partitions: i32,
    /// From `since` to the first ListOffsets answer (whatever it said).
    pub first_answer_ms: f64,
    /// Partitions served without an error in that first answer.
    pub served_at_first_answer: usize,
    /// From `since` to the answer in which the first partition was served.
    pub first_served_ms: f64,
    /// From `since` to the answer in which the last partition was served.
    pub all_served_ms: f64,
    /// From `since` to each partition's first error-free answer, by partition.
    pub served_ms: Vec<f64>,
    /// Sum of the partitions' latest offsets once all were served: records in the
    /// topic, if it starts at offset 0.
    pub records: i64,
}

/// Waits until every partition of `plan.topic` is served; fails after
/// `plan.timeout` (saying how many were served by then) or if `plan.partitions`
/// is not positive.
pub async fn wait_until_served(plan: &ReadyPlan) -> Result<ReadyReport> {
    let partitions = usize::try_from(plan.partitions)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| Error::InvalidArgument("--partitions must be at least 1".to_string()))?;
    let mut progress = Progress {
        served_ms: vec![None; partitions],
        first_answer: None,
        records: 0,
    };
    let waited = tokio::time::timeout(plan.timeout, poll(plan, &mut progress)).await;
    if waited.is_err() {
        let served = progress.served_ms.iter().flatten().count();
        return Err(Error::Timeout {
            what: format!(
                "{} to serve every partition of {:?} ({served} of {partitions} served{})",
                plan.addr,
                plan.topic,
                if progress.first_answer.is_some() {
                    ""
                } else {
                    ", no answer at all"
                }
            ),
            after: plan.timeout,
        });
    }
    let served_ms: Vec<f64> = progress.served_ms.iter().flatten().copied().collect();
    let (first_answer_ms, served_at_first_answer) = progress.first_answer.unwrap_or_default();
    Ok(ReadyReport {
        partitions: plan.partitions,
        first_answer_ms,
        served_at_first_answer,
        first_served_ms: served_ms.iter().copied().fold(f64::INFINITY, f64::min),
        all_served_ms: served_ms.iter().copied().fold(0.0, f64::max),
        served_ms,
        records: progress.records,
    })
}

/// What the polling has seen so far.
struct Progress {
    /// Each partition's first error-free answer, in ms since `since`.
    served_ms: Vec<Option<f64>>,
    /// The first answer's time and how many partitions it served.
    first_answer: Option<(f64, usize)>,
    /// Sum of the latest offsets in the last answer.
    records: i64,
}

/// Asks until every partition is served, reconnecting when a connection fails.
async fn poll(plan: &ReadyPlan, progress: &mut Progress) {
    let request = ListOffsetsRequest {
        topics: vec![ListOffsetsTopic {
            name: plan.topic.clone(),
            partitions: (0..plan.partitions)
                .map(|partition| ListOffsetsPartition {
                    partition,
                    timestamp: LATEST_TIMESTAMP,
                })
                .collect(),
        }],
    };
    let options = ConnectionOptions {
        client_id: Some("rill-probe".to_string()),
        connect_timeout: Duration::from_secs(1),
        // The caller's timeout bounds the whole wait, recovery included.
        request_timeout: plan.timeout,
        ..ConnectionOptions::default()
    };
    loop {
        let Ok(conn) = Connection::connect_with(&plan.addr, options.clone()).await else {
            tokio::time::sleep(CONNECT_RETRY).await;
            continue;
        };
        while let Ok(answer) = conn.call(request.clone()).await {
            let at = ms_since(plan.since);
            if progress.record(&answer, at) {
                return;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        tokio::time::sleep(CONNECT_RETRY).await;
    }
}

impl Progress {
    /// Notes an answer that came `at` ms after `since`; true once all are served.
    fn record(&mut self, answer: &ListOffsetsResponse, at: f64) -> bool {
        let mut served_now = 0;
        let mut records = 0;
        for p in answer.topics.iter().flat_map(|t| &t.partitions) {
            if !p.error_code.is_ok() {
                continue;
            }
            let slot = usize::try_from(p.partition)
                .ok()
                .and_then(|i| self.served_ms.get_mut(i));
            if let Some(slot) = slot {
                slot.get_or_insert(at);
                served_now += 1;
                records += p.offset.max(0);
            }
        }
        self.first_answer.get_or_insert((at, served_now));
        self.records = records;
        self.served_ms.iter().all(Option::is_some)
    }
}

/// Milliseconds from `since` to now (0 if the clock says `since` is later).
fn ms_since(since: SystemTime) -> f64 {
    SystemTime::now()
        .duration_since(since)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::api::list_offsets::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use rill_protocol::ErrorCode;

    fn answer(codes: &[ErrorCode]) -> ListOffsetsResponse {
        ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: "t".to_string(),
                partitions: codes
                    .iter()
                    .enumerate()
                    .map(|(i, &error_code)| ListOffsetsPartitionResponse {
                        partition: i as i32,
                        error_code,
                        error_message: None,
                        timestamp: -1,
                        offset: 10,
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn partitions_are_served_at_their_first_error_free_answer() {
        let mut progress = Progress {
            served_ms: vec![None; 3],
            first_answer: None,
            records: 0,
        };
        let busy = ErrorCode::UnknownTopicOrPartition;
        assert!(!progress.record(&answer(&[ErrorCode::None, busy, busy]), 5.0));
        assert!(!progress.record(&answer(&[ErrorCode::None, ErrorCode::None, busy]), 9.0));
        assert!(progress.record(&answer(&[ErrorCode::None; 3]), 12.0));
        assert_eq!(progress.served_ms, vec![Some(5.0), Some(9.0), Some(12.0)]);
        assert_eq!(progress.first_answer, Some((5.0, 1)));
        assert_eq!(progress.records, 30);
    }
}

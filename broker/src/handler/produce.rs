//! Produce: validates each partition's batch in full, then appends it.
//!
//! A partition's records must be exactly one record batch (as in Kafka's produce
//! v3+), so a partition's write is all or nothing. Nothing is written unless the
//! batch passes `validate_produced` (every check of `validate` — CRC, lengths,
//! record count — plus offset deltas exactly 0..n and the true max timestamp) and
//! fits the topic's `max_batch_bytes`. A partition listed twice in one request is
//! refused, since the two appends would race. The partitions of one request are appended concurrently, so under
//! `fsync = "always"` they share fsyncs with each other and with other
//! connections' appends.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rill_protocol::api::produce::{
    ProducePartition, ProducePartitionResponse, ProduceRequest, ProduceResponse,
    ProduceTopicResponse,
};
use rill_protocol::{BatchHeader, CheckedBatch, ErrorCode, ProducerInfo, RecordBatch};

use crate::api_error::ApiError;
use crate::cluster::partition_group::Durability;
use crate::group::offsets::OFFSETS_TOPIC;
use crate::partition::{Appending, Partition, PartitionError, Stamp};
use crate::producer_ids::{History, ISSUED_EPOCH};
use crate::state::Broker;

/// Starts a Produce: checks each partition's batch and hands it to its
/// partition. Partitions without a Raft group are written (concurrently) before
/// this returns; a replicated partition's batch is handed to its group in
/// request order, and [`PendingProduce::finish`] waits for the commits. So a
/// connection may start its next request while this one's batches replicate,
/// and batches still land in the order they were sent.
pub async fn start(broker: &Broker, request: ProduceRequest) -> PendingProduce {
    let acks_ok = matches!(request.acks, -1..=1);
    let mut seen: HashMap<(&str, i32), usize> = HashMap::new();
    for topic in &request.topics {
        for entry in &topic.partitions {
            *seen
                .entry((topic.name.as_str(), entry.partition))
                .or_default() += 1;
        }
    }
    let duplicated: HashSet<(String, i32)> = seen
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|((name, partition), _)| (name.to_string(), partition))
        .collect();
    await_producer_ids(broker, &request).await;
    // acks = 0 is answered by nothing, acks = 1 once the leader has the batch.
    let durability = match request.acks {
        -1 => Durability::Committed,
        _ => Durability::Leader,
    };
    let mut started = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for entry in topic.partitions {
            let index = entry.partition;
            let job = if !acks_ok {
                Err(ApiError::new(
                    ErrorCode::InvalidRequiredAcks,
                    format!("acks = {}: allowed -1 (all), 0 or 1", request.acks),
                ))
            } else if duplicated.contains(&(topic.name.clone(), index)) {
                Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "partition {index} of topic {:?} is listed more than once in one request",
                        topic.name
                    ),
                ))
            } else {
                start_append(broker, &topic.name, entry, durability).await
            };
            partitions.push((index, job));
        }
        started.push((topic.name, partitions));
    }
    let mut topics = Vec::with_capacity(started.len());
    for (name, partitions) in started {
        let mut jobs = Vec::with_capacity(partitions.len());
        for (index, job) in partitions {
            let job = match job {
                Ok(Job::Local(task, counts)) => {
                    Job::Done(finish_local(broker, &name, task, counts).await)
                }
                Ok(job) => job,
                Err(e) => Job::Done(Err(e)),
            };
            jobs.push((index, job));
        }
        topics.push((name, jobs));
    }
    PendingProduce { topics }
}

/// A Produce whose replicated batches may still be committing.
pub struct PendingProduce {
    topics: Vec<(String, Vec<(i32, Job)>)>,
}

impl PendingProduce {
    /// Whether every partition is answered already (nothing is replicating).
    pub fn is_answered(&self) -> bool {
        self.topics
            .iter()
            .flat_map(|(_, jobs)| jobs)
            .all(|(_, job)| matches!(job, Job::Done(_)))
    }

    /// Waits for every partition's outcome and reports where each batch landed.
    pub async fn finish(self, broker: &Broker) -> ProduceResponse {
        let mut topics = Vec::with_capacity(self.topics.len());
        for (name, jobs) in self.topics {
            let mut answers = Vec::with_capacity(jobs.len());
            for (index, job) in jobs {
                let outcome = match job {
                    Job::Done(outcome) => outcome,
                    Job::Local(task, counts) => finish_local(broker, &name, task, counts).await,
                    Job::Handed {
                        partition,
                        appending,
                        counts: (records, bytes),
                    } => match appending.base_offset().await {
                        Ok(base_offset) => {
                            broker.metrics.appended(&name, records, bytes);
                            Ok((base_offset, partition.log().log_start_offset()))
                        }
                        Err(e) => Err(ApiError::from(e)),
                    },
                };
                answers.push(answer(index, outcome));
            }
            topics.push(ProduceTopicResponse {
                name,
                partitions: answers,
            });
        }
        ProduceResponse { topics }
    }
}

/// One partition's part of a Produce.
enum Job {
    /// Answered: base offset and log start offset, or why not.
    Done(Result<(i64, i64), ApiError>),
    /// Being written on its own task (a partition without a group).
    Local(
        tokio::task::JoinHandle<Result<(i64, i64), ApiError>>,
        Counts,
    ),
    /// Handed to the partition's Raft group.
    Handed {
        partition: Arc<Partition>,
        appending: Appending,
        counts: Counts,
    },
}

/// A batch's record count and size, for the metrics.
type Counts = (i32, usize);

/// Waits for a local append's task and counts what it wrote.
async fn finish_local(
    broker: &Broker,
    topic: &str,
    task: tokio::task::JoinHandle<Result<(i64, i64), ApiError>>,
    (records, bytes): Counts,
) -> Result<(i64, i64), ApiError> {
    let outcome = match task.await {
        Ok(outcome) => outcome,
        Err(e) => Err(ApiError::new(ErrorCode::Unknown, e.to_string())),
    };
    if outcome.is_ok() {
        broker.metrics.appended(topic, records, bytes);
    }
    outcome
}

/// How long a produce waits for this broker's metadata to learn of a producer
/// id it names before refusing the id as never issued.
const PRODUCER_ID_CATCH_UP: Duration = Duration::from_secs(2);

/// In a cluster, waits (at most [`PRODUCER_ID_CATCH_UP`]) until this broker's
/// copy of the metadata has every producer id the request's batches name. Ids
/// are granted by the metadata group, so a partition leader whose metadata
/// replica is behind (just restarted, re-replicating after its disk was wiped)
/// can be asked about an id granted a moment ago elsewhere; it must not refuse
/// that id as unknown.
async fn await_producer_ids(broker: &Broker, request: &ProduceRequest) {
    let Some(cluster) = &broker.cluster else {
        return;
    };
    let newest = request
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .filter_map(|entry| BatchHeader::parse(&entry.records).ok())
        .map(|header| header.producer.producer_id)
        .max();
    let Some(newest) = newest.filter(|id| *id >= 0) else {
        return;
    };
    let mut view = cluster.meta().view();
    let known = view.wait_for(|v| v.state.next_producer_id() > newest);
    // Past the wait, issued_history refuses the id with what it knows.
    let _ = tokio::time::timeout(PRODUCER_ID_CATCH_UP, known).await;
}

/// Resolves and validates a partition's batch, then starts appending it: on
/// its own task for a partition without a group (the partitions of a request
/// are written concurrently and share fsyncs), or by handing it to the
/// partition's group here, so batches reach the group in request order.
async fn start_append(
    broker: &Broker,
    topic: &str,
    entry: ProducePartition,
    durability: Durability,
) -> Result<Job, ApiError> {
    if topic == OFFSETS_TOPIC {
        return Err(ApiError::new(
            ErrorCode::InvalidTopic,
            format!("{OFFSETS_TOPIC} is internal: only the broker writes it"),
        ));
    }
    let topic = broker.topics.topic(topic)?;
    let partition = topic.partition(entry.partition)?;
    let batch = check(entry.records, topic.settings.max_batch_bytes)?;
    let header = *batch.header();
    let producer = header.producer;
    let idempotent = match producer.producer_id {
        id if id < 0 => None,
        _ => Some(Stamp {
            history: issued_history(broker, &producer)?,
            producer,
            records: header.record_count,
        }),
    };
    let counts = (header.record_count, batch.as_bytes().len());
    if partition.replica().is_none() {
        let task = tokio::spawn(async move {
            let base_offset = hand_over(&partition, batch, idempotent, durability)
                .await?
                .base_offset()
                .await?;
            Ok((base_offset, partition.log().log_start_offset()))
        });
        return Ok(Job::Local(task, counts));
    }
    let appending = hand_over(&partition, batch, idempotent, durability).await?;
    Ok(Job::Handed {
        partition,
        appending,
        counts,
    })
}

/// Refuses a producer id this broker never issued (59) and an epoch it was not
/// issued with (47); otherwise says how much of the id's past this broker saw.
/// In a cluster the ids come from the metadata group, any broker may have
/// issued one (the handler first waits for this broker's metadata to catch
/// up), and a partition's leader knows all of its past (its producer state is
/// rebuilt from the log when it starts leading).
fn issued_history(broker: &Broker, producer: &ProducerInfo) -> Result<History, ApiError> {
    if let Some(cluster) = &broker.cluster {
        let next = cluster.meta().view().borrow().state.next_producer_id();
        if !(0..next).contains(&producer.producer_id) {
            return Err(ApiError::new(
                ErrorCode::UnknownProducerId,
                format!(
                    "producer id {} was not issued by the cluster: get one with InitProducerId",
                    producer.producer_id
                ),
            ));
        }
        return check_epoch(producer, ISSUED_EPOCH).map(|()| History::Complete);
    }
    let Some(issued) = broker.producer_ids.issued(producer.producer_id) else {
        return Err(ApiError::new(
            ErrorCode::UnknownProducerId,
            format!(
                "producer id {} was not issued by this broker: get one with InitProducerId",
                producer.producer_id
            ),
        ));
    };
    check_epoch(producer, issued.epoch)?;
    Ok(issued.history)
}

/// Refuses a batch whose producer epoch is not the one its id was issued with.
fn check_epoch(producer: &ProducerInfo, issued: i16) -> Result<(), ApiError> {
    if producer.producer_epoch != issued {
        return Err(ApiError::new(
            ErrorCode::InvalidProducerEpoch,
            format!(
                "producer id {} was issued epoch {issued}, the batch carries epoch {}",
                producer.producer_id, producer.producer_epoch
            ),
        ));
    }
    Ok(())
}

/// Starts appending the batch (through duplicate detection when it comes from
/// an idempotent producer).
async fn hand_over(
    partition: &Arc<Partition>,
    batch: CheckedBatch,
    idempotent: Option<Stamp>,
    durability: Durability,
) -> Result<Appending, PartitionError> {
    match idempotent {
        Some(stamp) => {
            partition
                .start_append_idempotent(batch, stamp, durability)
                .await
        }
        None => partition.start_append(batch, durability).await,
    }
}

/// Checks that `records` is exactly one valid producer batch that fits the
/// topic's `max_batch_bytes`, cheapest checks first. `Vec::from` takes the
/// decoder's buffer over without copying the bytes again.
fn check(records: Bytes, max_batch_bytes: usize) -> Result<CheckedBatch, ApiError> {
    let corrupt = |detail: String| ApiError::new(ErrorCode::CorruptMessage, detail);
    if records.is_empty() {
        return Err(corrupt(
            "no record batch: a produced partition carries exactly one".to_string(),
        ));
    }
    let (batch, rest) = RecordBatch::split_first(&records).map_err(|e| corrupt(e.to_string()))?;
    let len = batch.as_bytes().len();
    if len > max_batch_bytes {
        return Err(ApiError::new(
            ErrorCode::MessageTooLarge,
            format!(
                "record batch is {len} bytes: the topic's max_batch_bytes is {max_batch_bytes}"
            ),
        ));
    }
    if batch.header().is_control() {
        return Err(corrupt(
            "the batch has the control attribute (bit 5): only the broker writes control batches"
                .to_string(),
        ));
    }
    if !rest.is_empty() {
        return Err(corrupt(format!(
            "{} bytes follow the record batch: a produced partition carries exactly one batch",
            rest.len()
        )));
    }
    CheckedBatch::produced(Vec::from(records)).map_err(|e| corrupt(e.to_string()))
}

fn answer(partition: i32, outcome: Result<(i64, i64), ApiError>) -> ProducePartitionResponse {
    match outcome {
        Ok((base_offset, log_start_offset)) => ProducePartitionResponse {
            partition,
            error_code: ErrorCode::None,
            error_message: None,
            base_offset,
            log_append_time_ms: -1,
            log_start_offset,
        },
        Err(e) => ProducePartitionResponse {
            partition,
            error_code: e.code,
            error_message: Some(e.message),
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: -1,
        },
    }
}

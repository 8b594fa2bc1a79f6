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
use crate::group::offsets::OFFSETS_TOPIC;
use crate::partition::Partition;
use crate::producer_ids::{History, ISSUED_EPOCH};
use crate::state::Broker;

/// Appends the request's batches and reports where each one landed.
pub async fn handle(broker: &Broker, request: ProduceRequest) -> ProduceResponse {
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
    let mut pending = Vec::with_capacity(request.topics.len());
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
                start_append(broker, &topic.name, entry)
            };
            partitions.push((index, job));
        }
        pending.push((topic.name, partitions));
    }
    let mut topics = Vec::with_capacity(pending.len());
    for (name, partitions) in pending {
        let mut answers = Vec::with_capacity(partitions.len());
        for (partition, job) in partitions {
            let outcome = match job {
                Ok((handle, (records, bytes))) => match handle.await {
                    Ok(result) => {
                        if result.is_ok() {
                            broker.metrics.appended(&name, records, bytes);
                        }
                        result
                    }
                    Err(e) => Err(ApiError::new(ErrorCode::Unknown, e.to_string())),
                },
                Err(e) => Err(e),
            };
            answers.push(answer(partition, outcome));
        }
        topics.push(ProduceTopicResponse {
            name,
            partitions: answers,
        });
    }
    ProduceResponse { topics }
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

/// A running append, with the batch's record count and size for the metrics.
type AppendJob = (
    tokio::task::JoinHandle<Result<(i64, i64), ApiError>>,
    (i32, usize),
);

/// Resolves and validates a partition's batch, then starts appending it.
fn start_append(
    broker: &Broker,
    topic: &str,
    entry: ProducePartition,
) -> Result<AppendJob, ApiError> {
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
    let job = tokio::spawn(append(partition, batch, idempotent));
    Ok((job, counts))
}

/// An idempotent batch's producer stamp, with what the broker knows of its past.
struct Stamp {
    producer: ProducerInfo,
    records: i32,
    history: History,
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

/// Appends the batch (through duplicate detection when it comes from an
/// idempotent producer); returns its base offset and the log start offset.
async fn append(
    partition: Arc<Partition>,
    batch: CheckedBatch,
    idempotent: Option<Stamp>,
) -> Result<(i64, i64), ApiError> {
    let base_offset = match idempotent {
        Some(stamp) => {
            partition
                .append_idempotent(batch, stamp.producer, stamp.records, stamp.history)
                .await?
        }
        None => partition.append(batch).await?.base_offset,
    };
    Ok((base_offset, partition.log().log_start_offset()))
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

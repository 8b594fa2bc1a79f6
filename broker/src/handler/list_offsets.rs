//! ListOffsets: the earliest offset, the latest (high watermark), or the first
//! offset at or after a timestamp.

use rill_protocol::api::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse,
    ListOffsetsTopicResponse, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP,
};
use rill_protocol::ErrorCode;

use crate::api_error::ApiError;
use crate::state::Broker;

/// Looks up each requested partition's offset.
pub async fn handle(broker: &Broker, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for query in topic.partitions {
            let answer = lookup(broker, &topic.name, query.partition, query.timestamp).await;
            partitions.push(match answer {
                Ok((timestamp, offset)) => ListOffsetsPartitionResponse {
                    partition: query.partition,
                    error_code: ErrorCode::None,
                    error_message: None,
                    timestamp,
                    offset,
                },
                Err(e) => ListOffsetsPartitionResponse {
                    partition: query.partition,
                    error_code: e.code,
                    error_message: Some(e.message),
                    timestamp: -1,
                    offset: -1,
                },
            });
        }
        topics.push(ListOffsetsTopicResponse {
            name: topic.name,
            partitions,
        });
    }
    ListOffsetsResponse { topics }
}

/// Returns (timestamp, offset) for one query.
async fn lookup(
    broker: &Broker,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<(i64, i64), ApiError> {
    let partition = broker.topics.partition(topic, partition)?;
    match timestamp {
        EARLIEST_TIMESTAMP => Ok((-1, partition.log().log_start_offset())),
        LATEST_TIMESTAMP => Ok((-1, partition.high_watermark())),
        t if t >= 0 => Ok(partition
            .offset_for_timestamp(t)
            .await?
            .map_or((-1, -1), |(offset, ts)| (ts, offset))),
        t => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "timestamp {t}: allowed -2 (earliest), -1 (latest) or ms since the epoch (>= 0)"
            ),
        )),
    }
}

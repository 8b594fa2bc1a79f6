//! Request builders for end-to-end tests: typed request bodies addressed to one
//! topic or partition, and encoded frame bodies (header plus body, no length
//! prefix) for tests that write to the socket themselves. [`crate::client`]
//! re-exports the typed builders.

use bytes::{Bytes, BytesMut};
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest, TopicConfig};
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceTopic};
use rill_protocol::header::RequestHeader;
use rill_protocol::message::{Request, RequestBody};

/// The `client_id` put in every request header built here.
pub const CLIENT_ID: &str = "rill-tests";

/// The frame body (header and body, without the length prefix) of a request for
/// `body` at the newest version, with `correlation_id`.
pub fn encode_request(correlation_id: i32, body: RequestBody) -> Vec<u8> {
    let mut frame = BytesMut::new();
    Request::new(correlation_id, Some(CLIENT_ID.to_string()), body).encode(&mut frame);
    frame.to_vec()
}

/// A frame body with a request header for any `api_key` and `api_version`, known
/// to the broker or not, followed by `body` as it is.
pub fn raw_request(api_key: i16, api_version: i16, correlation_id: i32, body: &[u8]) -> Vec<u8> {
    let mut frame = BytesMut::new();
    RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id: Some(CLIENT_ID.to_string()),
    }
    .encode(&mut frame);
    frame.extend_from_slice(body);
    frame.to_vec()
}

/// A CreateTopics request for each `(name, partitions)` in `topics`, every one
/// with the settings `configs`.
pub fn create_topics_request(topics: &[(&str, i32)], configs: &[(&str, &str)]) -> RequestBody {
    RequestBody::CreateTopics(CreateTopicsRequest {
        topics: topics
            .iter()
            .map(|&(name, partitions)| CreatableTopic {
                name: name.to_string(),
                partitions,
                replication_factor: -1,
                configs: configs
                    .iter()
                    .map(|(k, v)| TopicConfig {
                        key: k.to_string(),
                        value: Some(v.to_string()),
                    })
                    .collect(),
            })
            .collect(),
        timeout_ms: 5000,
        validate_only: false,
    })
}

/// A Produce request carrying `records` for one partition.
pub fn produce_request(topic: &str, partition: i32, records: &[u8], acks: i16) -> RequestBody {
    RequestBody::Produce(ProduceRequest {
        acks,
        timeout_ms: 5000,
        topics: vec![ProduceTopic {
            name: topic.to_string(),
            partitions: vec![ProducePartition {
                partition,
                records: Bytes::copy_from_slice(records),
            }],
        }],
    })
}

/// A Fetch request for one partition (1 MiB caps).
pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> RequestBody {
    RequestBody::Fetch(FetchRequest {
        max_wait_ms,
        min_bytes,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            name: topic.to_string(),
            partitions: vec![FetchPartition {
                partition,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
            }],
        }],
    })
}

/// A ListOffsets request for one partition.
pub fn list_offsets_request(topic: &str, partition: i32, timestamp: i64) -> RequestBody {
    RequestBody::ListOffsets(ListOffsetsRequest {
        topics: vec![ListOffsetsTopic {
            name: topic.to_string(),
            partitions: vec![ListOffsetsPartition {
                partition,
                timestamp,
            }],
        }],
    })
}

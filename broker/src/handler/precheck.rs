//! Checks made on a whole request before any handler runs.
//!
//! Produce, Fetch, ListOffsets, OffsetCommit, OffsetFetch and ConsumerGroupHeartbeat
//! answer (or track) every partition separately, and the topic's name goes with each
//! of those answers. The codec lets a name be 32 KiB long, so one request naming
//! such a topic with millions of 4-byte partition entries would make the broker copy
//! that name millions of times. No topic can have a name longer than
//! `limits.max_topic_name_len`, so such a request is refused whole, once, before
//! any work per partition. Metadata, CreateTopics and DeleteTopics answer each name
//! once and report a bad name in that topic's own answer.

use rill_protocol::message::RequestBody;
use rill_protocol::ErrorCode;

use crate::api_error::ApiError;

/// Refuses a request that names a topic longer than `max_name_len` bytes in an
/// API that answers per partition.
pub fn check(body: &RequestBody, max_name_len: usize) -> Result<(), ApiError> {
    let longest = match body {
        RequestBody::Produce(r) => longest(r.topics.iter().map(|t| t.name.len())),
        RequestBody::Fetch(r) => longest(r.topics.iter().map(|t| t.name.len())),
        RequestBody::ListOffsets(r) => longest(r.topics.iter().map(|t| t.name.len())),
        RequestBody::OffsetCommit(r) => longest(r.topics.iter().map(|t| t.name.len())),
        RequestBody::OffsetFetch(r) => longest(r.topics.iter().flatten().map(|t| t.name.len())),
        RequestBody::ConsumerGroupHeartbeat(r) => {
            let subscribed = r.subscribed_topics.iter().flatten().map(String::len);
            let owned = r.owned_partitions.iter().flatten().map(|t| t.name.len());
            longest(subscribed.chain(owned))
        }
        _ => 0,
    };
    if longest > max_name_len {
        return Err(ApiError::new(
            ErrorCode::InvalidTopic,
            format!(
                "a topic name of {longest} bytes: no topic has a name longer than \
                 {max_name_len} bytes"
            ),
        ));
    }
    Ok(())
}

fn longest(lengths: impl Iterator<Item = usize>) -> usize {
    lengths.max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
    use rill_protocol::api::metadata::MetadataRequest;

    fn fetch(name: &str) -> RequestBody {
        RequestBody::Fetch(FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1,
            topics: vec![FetchTopic {
                name: name.to_string(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 0,
                    partition_max_bytes: 1,
                }],
            }],
        })
    }

    #[test]
    fn overlong_names_are_refused_only_where_answers_are_per_partition() {
        assert!(check(&fetch(&"a".repeat(249)), 249).is_ok());
        let refused = check(&fetch(&"a".repeat(250)), 249).expect_err("too long");
        assert_eq!(refused.code, ErrorCode::InvalidTopic);
        assert!(refused.message.contains("250 bytes"), "{}", refused.message);
        let metadata = RequestBody::Metadata(MetadataRequest {
            topics: vec!["a".repeat(250)],
        });
        assert!(
            check(&metadata, 249).is_ok(),
            "Metadata answers the name itself"
        );
    }
}

//! OffsetFetch: a group's committed positions.

use rill_protocol::api::offset_fetch::{
    OffsetFetchPartition, OffsetFetchRequest, OffsetFetchResponse, OffsetFetchTopic,
};
use rill_protocol::ErrorCode;

use crate::state::Broker;

/// Returns the requested partitions' committed offsets (-1 where none), or every
/// committed partition of the group when no topics are named; an empty group id
/// gets 24.
pub fn handle(broker: &Broker, request: OffsetFetchRequest) -> OffsetFetchResponse {
    if request.group_id.is_empty() {
        // No offsets can be committed under an empty id (OffsetCommit gives 24).
        return OffsetFetchResponse {
            error_code: ErrorCode::InvalidGroupId,
            error_message: Some("the group id is empty".to_string()),
            topics: Vec::new(),
        };
    }
    let committed = broker.offsets.group(&request.group_id);
    let entry =
        |partition: i32, found: Option<&crate::group::offsets::Committed>| OffsetFetchPartition {
            partition,
            offset: found.map_or(-1, |c| c.offset),
            metadata: found.and_then(|c| c.metadata.clone()),
            error_code: ErrorCode::None,
            error_message: None,
        };
    let topics = match request.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| OffsetFetchTopic {
                partitions: t
                    .partitions
                    .iter()
                    .map(|&p| entry(p, committed.get(&(t.name.clone(), p))))
                    .collect(),
                name: t.name,
            })
            .collect(),
        None => {
            let mut topics: Vec<OffsetFetchTopic> = Vec::new();
            for ((topic, partition), c) in &committed {
                if topics.last().is_none_or(|t| &t.name != topic) {
                    topics.push(OffsetFetchTopic {
                        name: topic.clone(),
                        partitions: Vec::new(),
                    });
                }
                if let Some(t) = topics.last_mut() {
                    t.partitions.push(entry(*partition, Some(c)));
                }
            }
            topics
        }
    };
    OffsetFetchResponse {
        error_code: ErrorCode::None,
        error_message: None,
        topics,
    }
}

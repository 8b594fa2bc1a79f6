//! OffsetCommit: stores a group's positions, fenced by membership.

use rill_protocol::api::offset_commit::{
    OffsetCommitPartitionResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetCommitTopicResponse,
};
use rill_protocol::ErrorCode;

use crate::api_error::ApiError;
use crate::group::offsets::{Commit, Committed};
use crate::state::Broker;

/// Commits every listed partition as one write, or refuses them all.
pub async fn handle(broker: &Broker, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let outcome = commit(broker, &request).await;
    OffsetCommitResponse {
        topics: request
            .topics
            .iter()
            .map(|t| OffsetCommitTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| {
                        let (error_code, error_message) = match &outcome {
                            Ok(()) => (ErrorCode::None, None),
                            Err(e) => (e.code, Some(e.message.clone())),
                        };
                        OffsetCommitPartitionResponse {
                            partition: p.partition,
                            error_code,
                            error_message,
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

async fn commit(broker: &Broker, request: &OffsetCommitRequest) -> Result<(), ApiError> {
    if request.group_id.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidGroupId,
            "the group id is empty",
        ));
    }
    broker.coordinator.check_commit(
        &request.group_id,
        &request.member_id,
        request.member_epoch,
        std::time::Instant::now(),
    )?;
    let mut commits = Vec::new();
    for topic in &request.topics {
        for p in &topic.partitions {
            // The partition must exist (it may still be recovering); an offset
            // must be a position in a log.
            broker.topics.check_exists(&topic.name, p.partition)?;
            if p.offset < 0 {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "offset {} for {}/{}: must be >= 0",
                        p.offset, topic.name, p.partition
                    ),
                ));
            }
            commits.push(Commit {
                topic: topic.name.clone(),
                partition: p.partition,
                committed: Committed {
                    offset: p.offset,
                    metadata: p.metadata.clone(),
                },
            });
        }
    }
    broker.offsets.commit(&request.group_id, &commits).await
}

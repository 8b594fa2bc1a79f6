//! DeleteTopics: removes each topic and its data independently; in a cluster,
//! through the metadata group (`replication`).

use rill_protocol::api::create_topics::TopicResult;
use rill_protocol::api::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use rill_protocol::ErrorCode;

use crate::api_error::ApiError;
use crate::group::offsets::OFFSETS_TOPIC;
use crate::replication;
use crate::state::Broker;

/// Deletes each requested topic; a missing one gets `UNKNOWN_TOPIC_OR_PARTITION`.
pub async fn handle(broker: &Broker, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for name in request.topics {
        let result = if name == OFFSETS_TOPIC {
            Err(ApiError::new(
                ErrorCode::InvalidTopic,
                format!("{OFFSETS_TOPIC} is internal: it holds every group's committed offsets"),
            ))
        } else {
            match &broker.cluster {
                Some(cluster) => replication::delete_topic(broker, cluster, &name).await,
                None => broker.topics.delete(&name).await,
            }
        };
        let (error_code, error_message) = match result {
            Ok(()) => (ErrorCode::None, None),
            Err(e) => (e.code, Some(e.message)),
        };
        topics.push(TopicResult {
            name,
            error_code,
            error_message,
        });
    }
    DeleteTopicsResponse { topics }
}

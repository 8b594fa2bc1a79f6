//! CreateTopics: validates and creates each topic independently; in a cluster,
//! through the metadata group (`replication`).

use rill_protocol::api::create_topics::{CreateTopicsRequest, CreateTopicsResponse, TopicResult};
use rill_protocol::ErrorCode;

use crate::replication;
use crate::state::Broker;

/// Creates each requested topic; one topic's failure does not affect the others.
pub async fn handle(broker: &Broker, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let configs: Vec<(String, Option<String>)> = topic
            .configs
            .into_iter()
            .map(|c| (c.key, c.value))
            .collect();
        let result = match &broker.cluster {
            Some(cluster) => {
                replication::create_topic(
                    broker,
                    cluster,
                    &topic.name,
                    topic.partitions,
                    &configs,
                    request.validate_only,
                )
                .await
            }
            None => {
                broker
                    .topics
                    .create(
                        &topic.name,
                        topic.partitions,
                        &configs,
                        request.validate_only,
                    )
                    .await
            }
        };
        topics.push(match result {
            Ok(()) => TopicResult {
                name: topic.name,
                error_code: ErrorCode::None,
                error_message: None,
            },
            Err(e) => TopicResult {
                name: topic.name,
                error_code: e.code,
                error_message: Some(e.message),
            },
        });
    }
    CreateTopicsResponse { topics }
}

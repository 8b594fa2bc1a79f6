//! CreateTopics: validates and creates each topic independently; in a cluster,
//! through the metadata group (`replication`).

use rill_protocol::api::create_topics::{CreateTopicsRequest, CreateTopicsResponse, TopicResult};
use rill_protocol::ErrorCode;

use crate::replication::{self, NewTopic};
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
                let new = NewTopic {
                    name: &topic.name,
                    partitions: topic.partitions,
                    replication_factor: topic.replication_factor,
                    configs: &configs,
                };
                replication::create_topic(broker, cluster, new, request.validate_only).await
            }
            // One broker, not in a cluster: the only replica of its partitions.
            None => match replication::replication_factor(topic.replication_factor, 1) {
                Ok(_) => {
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
                Err(e) => Err(e),
            },
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

//! Metadata: this broker's address and the requested (or all) topics.

use rill_protocol::api::metadata::{
    MetadataBroker, MetadataPartition, MetadataRequest, MetadataResponse, MetadataTopic,
};
use rill_protocol::ErrorCode;

use crate::state::Broker;
use crate::topics::Topic;

/// Describes the topics; a requested topic that does not exist gets
/// `UNKNOWN_TOPIC_OR_PARTITION`.
pub fn handle(broker: &Broker, request: MetadataRequest) -> MetadataResponse {
    let node_id = broker.config.node_id;
    let (host, port) = broker.advertised.clone();
    let topics = if request.topics.is_empty() {
        broker
            .topics
            .list()
            .iter()
            .map(|t| describe(t, node_id))
            .collect()
    } else {
        request
            .topics
            .iter()
            .map(|name| match broker.topics.get(name) {
                Some(topic) => describe(&topic, node_id),
                None => MetadataTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition,
                    error_message: Some(format!("topic {name:?} does not exist")),
                    name: name.clone(),
                    partitions: Vec::new(),
                },
            })
            .collect()
    };
    MetadataResponse {
        brokers: vec![MetadataBroker {
            node_id,
            host,
            port,
        }],
        topics,
    }
}

fn describe(topic: &Topic, node_id: i32) -> MetadataTopic {
    MetadataTopic {
        error_code: ErrorCode::None,
        error_message: None,
        name: topic.name.clone(),
        partitions: topic
            .partitions
            .iter()
            .map(|slot| MetadataPartition {
                partition: slot.index(),
                error_code: slot
                    .serving(&topic.name)
                    .map_or_else(|e| e.code, |_| ErrorCode::None),
                leader_id: node_id,
            })
            .collect(),
    }
}

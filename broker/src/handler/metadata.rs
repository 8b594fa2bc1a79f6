//! Metadata: the brokers (this one, and in a cluster every registered one) and
//! the requested (or all) topics.

use rill_protocol::api::metadata::{
    MetadataBroker, MetadataPartition, MetadataRequest, MetadataResponse, MetadataTopic,
};
use rill_protocol::ErrorCode;

use crate::cluster::metadata::RecordedLeader;
use crate::recovery::Slot;
use crate::state::Broker;
use crate::topic_dir::Topic;

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
            .map(|t| describe(broker, t))
            .collect()
    } else {
        request
            .topics
            .iter()
            .map(|name| match broker.topics.get(name) {
                Some(topic) => describe(broker, &topic),
                None => MetadataTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition,
                    error_message: Some(format!("topic {name:?} does not exist")),
                    name: name.clone(),
                    partitions: Vec::new(),
                },
            })
            .collect()
    };
    let me = MetadataBroker {
        node_id,
        host,
        port,
    };
    MetadataResponse {
        brokers: brokers(broker, me),
        topics,
    }
}

/// This broker, and in a cluster every broker registered in the metadata.
pub(crate) fn brokers(broker: &Broker, me: MetadataBroker) -> Vec<MetadataBroker> {
    let Some(cluster) = &broker.cluster else {
        return vec![me];
    };
    let view = cluster.meta().view().borrow().clone();
    let mut list: Vec<MetadataBroker> = view
        .state
        .brokers()
        .iter()
        .filter(|(id, _)| **id != me.node_id as u64)
        .filter_map(|(id, addr)| {
            let (host, port) = addr.rsplit_once(':')?;
            Some(MetadataBroker {
                node_id: i32::try_from(*id).ok()?,
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port: port.parse().ok()?,
            })
        })
        .collect();
    list.push(me);
    list.sort_by_key(|b| b.node_id);
    list
}

/// The leader of a partition this broker does not serve, as far as it knows:
/// the leader its own group member follows, else the one last recorded in the
/// cluster's metadata, else the partition's preferred leader (its first
/// replica), else -1.
fn leader_elsewhere(broker: &Broker, topic: &Topic, slot: &Slot) -> i32 {
    let followed = slot
        .partition()
        .and_then(|p| p.replica())
        .and_then(|group| group.status().leader);
    let recorded = recorded_leader(broker, topic, slot).map(|l| l.node);
    let preferred = usize::try_from(slot.index())
        .ok()
        .and_then(|i| topic.replicas.get(i))
        .and_then(|replicas| replicas.first().copied());
    followed
        .or(recorded)
        .or(preferred)
        .and_then(|id| i32::try_from(id).ok())
        .unwrap_or(-1)
}

fn describe(broker: &Broker, topic: &Topic) -> MetadataTopic {
    let node_id = broker.config.node_id;
    MetadataTopic {
        error_code: ErrorCode::None,
        error_message: None,
        name: topic.name.clone(),
        partitions: topic
            .partitions
            .iter()
            .map(|slot| {
                let (error_code, leader_id) = match topic.partition(slot.index()) {
                    Ok(_) => (ErrorCode::None, node_id),
                    Err(e) if topic.replicas.is_empty() => (e.code, node_id),
                    // Another broker serves it: no error, that broker's id.
                    Err(e) => match leader_elsewhere(broker, topic, slot) {
                        leader if leader >= 0 && e.code == ErrorCode::NotLeaderOrFollower => {
                            (ErrorCode::None, leader)
                        }
                        leader => (ErrorCode::LeaderNotAvailable, leader),
                    },
                };
                let (leader_epoch, replicas) = replication_of(broker, topic, slot, node_id);
                MetadataPartition {
                    partition: slot.index(),
                    error_code,
                    leader_id,
                    leader_epoch,
                    replicas,
                }
            })
            .collect(),
    }
}

/// A partition's leader epoch and replicas as this broker knows them. A topic
/// that is not replicated (any topic outside a cluster; the internal offsets
/// topic): epoch 0, this broker the only replica. A replicated one: the term of
/// the partition's group member here, else the term its last recorded leader
/// was elected in, else -1; the replicas from the topic's assignment.
fn replication_of(broker: &Broker, topic: &Topic, slot: &Slot, node_id: i32) -> (i32, Vec<i32>) {
    if broker.cluster.is_none() || topic.replicas.is_empty() {
        return (0, vec![node_id]);
    }
    let here = slot
        .partition()
        .and_then(|p| p.replica())
        .map(|group| group.term());
    let epoch = here
        .or_else(|| recorded_leader(broker, topic, slot).map(|l| l.term))
        .and_then(|term| i32::try_from(term).ok())
        .unwrap_or(-1);
    let replicas = usize::try_from(slot.index())
        .ok()
        .and_then(|i| topic.replicas.get(i))
        .map(|ids| {
            ids.iter()
                .filter_map(|id| i32::try_from(*id).ok())
                .collect()
        })
        .unwrap_or_default();
    (epoch, replicas)
}

/// The partition's leader as last recorded in the cluster's metadata, if any.
fn recorded_leader(broker: &Broker, topic: &Topic, slot: &Slot) -> Option<RecordedLeader> {
    let view = broker.cluster.as_ref()?.meta().view();
    let leader = view.borrow().state.leader(&topic.name, slot.index());
    leader
}

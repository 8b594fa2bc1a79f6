//! Conversions between the wire's topic/partition lists and the sets of
//! (topic, partition) pairs the group coordinator works with, and the partition
//! counts it assigns from. Shared by the group handlers (heartbeat, describe).

use std::collections::{BTreeMap, BTreeSet};

use rill_protocol::api::TopicPartitions;

use crate::state::Broker;

/// Every topic's partition count now.
pub fn partition_counts(broker: &Broker) -> BTreeMap<String, i32> {
    broker
        .topics
        .list()
        .iter()
        .map(|t| {
            let count = i32::try_from(t.partitions.len()).unwrap_or(i32::MAX);
            (t.name.clone(), count)
        })
        .collect()
}

/// Wire topic/partition lists as a set of pairs.
pub fn from_topic_partitions(list: &[TopicPartitions]) -> BTreeSet<(String, i32)> {
    list.iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
        .collect()
}

/// A set of pairs as wire topic/partition lists (grouped by topic, sorted).
pub fn to_topic_partitions(set: &BTreeSet<(String, i32)>) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = Vec::new();
    for (topic, partition) in set {
        match out.last_mut() {
            Some(last) if &last.name == topic => last.partitions.push(*partition),
            _ => out.push(TopicPartitions {
                name: topic.clone(),
                partitions: vec![*partition],
            }),
        }
    }
    out
}

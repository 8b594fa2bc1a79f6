//! Replicated topics on a clustered broker: creating and deleting them through
//! the cluster's metadata group, and keeping this broker's replicas in step with
//! what that group has committed.
//!
//! A create is decided once, by the metadata group: the broker that takes the
//! request checks it, places each partition's replicas, proposes the topic and
//! answers once the command is committed and this broker holds its replicas.
//! Every broker then runs [`keep_in_step`], which creates the topics the
//! metadata lists and this broker lacks (a log for each partition with a replica
//! here), starts a Raft group member for each local replica and hands it the
//! partition, and removes the topics the metadata dropped. Once this broker's
//! member of a partition group leads it, it records itself as the partition's
//! leader in the metadata, so every broker's Metadata answer names it. A topic
//! is removed
//! only after this process saw it in the metadata, so a broker restarting behind
//! the group never deletes a topic the group still has.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_protocol::cluster::GroupId;
use rill_protocol::ErrorCode;

use crate::api_error::ApiError;
use crate::cluster::meta_store::MetaView;
use crate::cluster::metadata::{MetaCommand, MetaReply, RecordedLeader, TopicAssignment};
use crate::cluster::partition_group::Leadership;
use crate::cluster::raft_node::ProposeFailure;
use crate::cluster::runtime::Cluster;
use crate::locks::lock;
use crate::state::Broker;

/// The replication factor of a topic created without one: three replicas, or
/// every broker of a smaller cluster.
pub const DEFAULT_REPLICATION_FACTOR: usize = 3;

/// How long a create or delete waits for the metadata group and for this
/// broker to apply the change.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`keep_in_step`] looks again without a metadata change (for
/// partition logs that finished opening after a restart).
const RECHECK_EVERY: Duration = Duration::from_millis(100);

/// Places `partitions` partitions of `factor` replicas each on `brokers`
/// (sorted node ids): partition `p`'s replicas are `factor` consecutive brokers
/// starting at `p` plus an offset taken from the topic's name, so leaders
/// (the first replica) and replicas spread evenly over the brokers and topics
/// do not all start on the same one.
pub fn place(name: &str, partitions: i32, factor: usize, brokers: &[u64]) -> Vec<Vec<u64>> {
    let n = brokers.len().max(1);
    let offset = name.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    (0..usize::try_from(partitions).unwrap_or(0))
        .map(|p| {
            (0..factor.min(brokers.len()))
                .map(|i| brokers[(offset.wrapping_add(p).wrapping_add(i)) % n])
                .collect()
        })
        .collect()
}

/// A topic a CreateTopics request asks for.
#[derive(Debug, Clone, Copy)]
pub struct NewTopic<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its partition count.
    pub partitions: i32,
    /// Replicas per partition; -1 for [`DEFAULT_REPLICATION_FACTOR`] (at most
    /// every broker).
    pub replication_factor: i16,
    /// Its settings, as the request names them.
    pub configs: &'a [(String, Option<String>)],
}

/// The replication factor `asked` resolves to in a cluster of `brokers`, or
/// `INVALID_REPLICATION_FACTOR` naming what is allowed.
pub fn replication_factor(asked: i16, brokers: usize) -> Result<usize, ApiError> {
    let allowed = usize::try_from(asked)
        .ok()
        .filter(|n| (1..=brokers).contains(n));
    match (asked, allowed) {
        (-1, _) => Ok(DEFAULT_REPLICATION_FACTOR.min(brokers)),
        (_, Some(factor)) => Ok(factor),
        (n, None) => Err(ApiError::new(
            ErrorCode::InvalidReplicationFactor,
            format!(
                "replication factor {n} is not allowed: 1 to {brokers} (the brokers in the \
                 cluster), or -1 for the default, min({DEFAULT_REPLICATION_FACTOR}, brokers)"
            ),
        )),
    }
}

/// Creates a replicated topic: checks it, proposes it to the metadata group,
/// and waits until this broker holds its replicas. With `validate_only`,
/// checks and proposes nothing.
pub async fn create_topic(
    broker: &Broker,
    cluster: &Cluster,
    topic: NewTopic<'_>,
    validate_only: bool,
) -> Result<(), ApiError> {
    let NewTopic {
        name, partitions, ..
    } = topic;
    let brokers: Vec<u64> = cluster.members().keys().copied().collect();
    let factor = replication_factor(topic.replication_factor, brokers.len())?;
    let settings = broker.topics.check_new(name, partitions, topic.configs)?;
    if cluster.meta().view().borrow().state.topic(name).is_some() {
        return Err(ApiError::new(
            ErrorCode::TopicAlreadyExists,
            format!("topic {name:?} already exists"),
        ));
    }
    if validate_only {
        return Ok(());
    }
    let settings = toml::to_string(&settings).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidConfig,
            format!("the settings of topic {name:?} cannot be written as TOML: {e}"),
        )
    })?;
    let command = MetaCommand::CreateTopic(TopicAssignment {
        name: name.to_string(),
        settings,
        replicas: place(name, partitions, factor, &brokers),
    });
    match cluster
        .meta()
        .propose_anywhere(&command, CHANGE_TIMEOUT)
        .await
    {
        Ok(MetaReply::Refused { reason }) if reason.contains("already exists") => {
            return Err(ApiError::new(ErrorCode::TopicAlreadyExists, reason))
        }
        Ok(MetaReply::Refused { reason }) => {
            return Err(ApiError::new(ErrorCode::InvalidRequest, reason))
        }
        Ok(_) => {}
        Err(failure) => return Err(unavailable("create", name, &failure)),
    }
    wait_until(|| broker.topics.get(name).is_some()).await;
    Ok(())
}

/// Deletes a replicated topic through the metadata group and waits until this
/// broker has removed its replicas.
pub async fn delete_topic(broker: &Broker, cluster: &Cluster, name: &str) -> Result<(), ApiError> {
    if cluster.meta().view().borrow().state.topic(name).is_none() {
        return Err(ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("topic {name:?} does not exist"),
        ));
    }
    let command = MetaCommand::DeleteTopic {
        name: name.to_string(),
    };
    match cluster
        .meta()
        .propose_anywhere(&command, CHANGE_TIMEOUT)
        .await
    {
        Ok(MetaReply::Refused { reason }) => {
            return Err(ApiError::new(ErrorCode::UnknownTopicOrPartition, reason))
        }
        Ok(_) => {}
        Err(failure) => return Err(unavailable("delete", name, &failure)),
    }
    wait_until(|| broker.topics.get(name).is_none()).await;
    Ok(())
}

fn unavailable(what: &str, name: &str, failure: &ProposeFailure) -> ApiError {
    ApiError::new(
        ErrorCode::RequestTimedOut,
        format!(
            "could not {what} topic {name:?}: the cluster's metadata group did not commit it within {} s ({failure:?})",
            CHANGE_TIMEOUT.as_secs()
        ),
    )
}

/// Polls `done` until it holds or [`CHANGE_TIMEOUT`] passes.
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + CHANGE_TIMEOUT;
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Keeps this broker's replicas in step with the metadata until the broker
/// shuts down (see the module docs). Does nothing on a broker without a cluster.
pub async fn keep_in_step(broker: Arc<Broker>) {
    let Some(cluster) = &broker.cluster else {
        return;
    };
    let mut view = cluster.meta().view();
    let mut shutdown = broker.shutdown_signal();
    let mut seen = HashSet::new();
    let mut refused = HashSet::new();
    let recording = Arc::new(Mutex::new(HashSet::new()));
    loop {
        if broker.is_shutting_down() {
            return;
        }
        let current = view.borrow_and_update().clone();
        follow(&broker, cluster, &current, &mut seen, &mut refused).await;
        record_leaders(&broker, cluster, &current, &recording);
        tokio::select! {
            changed = view.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(RECHECK_EVERY) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One pass: create what the metadata has and this broker lacks, drop what it
/// dropped, and start a group member for every local replica without one.
async fn follow(
    broker: &Broker,
    cluster: &Cluster,
    view: &MetaView,
    seen: &mut HashSet<String>,
    refused: &mut HashSet<String>,
) {
    for local in broker.topics.list() {
        let assigned = view.state.topic(&local.name);
        let gone = match assigned {
            None => seen.contains(&local.name),
            Some(topic) => !local.replicas.is_empty() && topic.replicas != local.replicas,
        };
        if gone
            && !local.replicas.is_empty()
            && remove(broker, cluster, &local.name, local.partitions.len()).await
        {
            seen.remove(&local.name);
        }
    }
    for topic in view.state.topics() {
        seen.insert(topic.name.clone());
        if broker.topics.get(&topic.name).is_some() || refused.contains(&topic.name) {
            continue;
        }
        let created = broker
            .topics
            .create_replicated(&topic.name, &topic.settings, &topic.replicas)
            .await;
        if let Err(e) = created {
            tracing::error!(topic = %topic.name, error = %e.message, "cannot create this broker's replicas of a topic");
            refused.insert(topic.name.clone());
        }
    }
    for local in broker.topics.list() {
        for (index, replicas) in local.replicas.iter().enumerate() {
            let Some(partition) = local.partitions.get(index).and_then(|s| s.partition()) else {
                continue;
            };
            if partition.replica().is_some() || broker.is_shutting_down() {
                continue;
            }
            let group = GroupId {
                topic: local.name.clone(),
                partition: partition.index(),
            };
            match cluster
                .start_partition(group, replicas, Arc::clone(partition.log()))
                .await
            {
                Ok(member) => {
                    partition.attach(member);
                }
                Err(e) => {
                    tracing::error!(topic = %local.name, partition = index, error = %e, "cannot start the partition's Raft group member")
                }
            }
        }
    }
}

/// Proposes `RecordLeader` for every partition this broker leads (settled) in
/// a term the metadata does not hold yet; `recording` holds the partitions with
/// a proposal under way, so each is proposed once at a time.
fn record_leaders(
    broker: &Arc<Broker>,
    cluster: &Cluster,
    view: &MetaView,
    recording: &Arc<Mutex<HashSet<(String, i32)>>>,
) {
    let me = cluster.meta().node_id();
    for topic in broker.topics.list() {
        for partition in topic.served_partitions() {
            let Some(group) = partition.replica() else {
                continue;
            };
            if group.leadership() != Leadership::Serving {
                continue;
            }
            let term = group.term();
            let recorded = view.state.leader(&topic.name, partition.index());
            if recorded == Some(RecordedLeader { node: me, term }) {
                continue;
            }
            let key = (topic.name.clone(), partition.index());
            if !lock(recording).insert(key.clone()) {
                continue;
            }
            let command = MetaCommand::RecordLeader {
                topic: key.0.clone(),
                partition: key.1,
                leader: me,
                term,
            };
            let (broker, recording) = (Arc::clone(broker), Arc::clone(recording));
            tokio::spawn(async move {
                if let Some(cluster) = &broker.cluster {
                    let proposed = cluster
                        .meta()
                        .propose_anywhere(&command, CHANGE_TIMEOUT)
                        .await;
                    match proposed {
                        Ok(MetaReply::Done) => broker.metrics.leadership_taken(),
                        Ok(refused) => {
                            tracing::debug!(topic = %key.0, partition = key.1, ?refused, "the metadata did not record this broker as the partition's leader");
                        }
                        Err(failure) => {
                            tracing::warn!(topic = %key.0, partition = key.1, ?failure, "cannot record this broker as the partition's leader yet");
                        }
                    }
                }
                lock(&recording).remove(&key);
            });
        }
    }
}

/// Stops this broker's group members of a topic and removes its replicas;
/// whether they are gone (a failed removal is tried again on the next pass).
async fn remove(broker: &Broker, cluster: &Cluster, name: &str, partitions: usize) -> bool {
    for index in 0..partitions {
        let group = GroupId {
            topic: name.to_string(),
            partition: i32::try_from(index).unwrap_or(i32::MAX),
        };
        cluster.stop_partition(&group).await;
    }
    match broker.topics.delete(name).await {
        Ok(()) => {
            tracing::info!(topic = %name, "removed this broker's replicas of a deleted topic");
            true
        }
        Err(e) => {
            tracing::warn!(topic = %name, error = %e.message, "cannot remove the replicas of a deleted topic yet");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_spreads_leaders_and_never_repeats_a_broker() {
        let brokers = [1, 2, 3];
        let replicas = place("orders", 6, 3, &brokers);
        assert_eq!(replicas.len(), 6);
        for set in &replicas {
            let distinct: HashSet<_> = set.iter().collect();
            assert_eq!(distinct.len(), 3, "{set:?}");
        }
        let mut leaders = [0; 4];
        for set in &replicas {
            leaders[set[0] as usize] += 1;
        }
        assert_eq!(&leaders[1..], &[2, 2, 2]);
        assert_eq!(place("orders", 2, 3, &[7]), vec![vec![7], vec![7]]);
        assert_eq!(place("orders", 1, 1, &brokers)[0].len(), 1);
    }

    #[test]
    fn a_replication_factor_is_the_default_or_one_to_every_broker() {
        assert_eq!(replication_factor(-1, 5).ok(), Some(3));
        assert_eq!(replication_factor(-1, 2).ok(), Some(2));
        assert_eq!(replication_factor(-1, 1).ok(), Some(1));
        assert_eq!(replication_factor(1, 3).ok(), Some(1));
        assert_eq!(replication_factor(3, 3).ok(), Some(3));
        for refused in [0, -2, 4, i16::MAX, i16::MIN] {
            let err = replication_factor(refused, 3).expect_err("outside 1..=3");
            assert_eq!(err.code, ErrorCode::InvalidReplicationFactor);
            assert!(err.message.contains("1 to 3"), "{}", err.message);
        }
    }
}

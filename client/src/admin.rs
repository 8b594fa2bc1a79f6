//! Cluster administration: create, delete, list and describe topics; consumer
//! groups are in [`groups`], a second `impl Admin` block.
//!
//! [`Admin`] wraps a [`Connection`] to the bootstrap broker and turns the
//! CreateTopics, DeleteTopics, Metadata and ListOffsets APIs into calls that either
//! succeed or return an [`Error`] naming the topic and what the broker said. A
//! description includes each partition's log start offset and high watermark, read
//! from the partition's leader with two pipelined ListOffsets requests (earliest
//! and latest) per broker.

pub mod cluster;
pub mod groups;

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::api::create_topics::{
    CreatableTopic, CreateTopicsRequest, TopicConfig, TopicResult,
};
use rill_protocol::api::delete_topics::DeleteTopicsRequest;
use rill_protocol::api::list_offsets::{ListOffsetsResponse, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use rill_protocol::api::metadata::MetadataTopic;
use rill_protocol::message::ResponseBody;

use crate::connection::{Connection, ConnectionOptions};
use crate::consumer::offsets::list_offsets_request;
use crate::consumer::TopicPartition;
use crate::error::{Error, Result};
use crate::routing::{no_leader, Router};

/// How long the broker may take over a topic creation or deletion, in ms.
const ADMIN_TIMEOUT_MS: i32 = 30_000;

/// A topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Its partitions, by index.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// Records currently readable across all partitions (high watermark minus log
    /// start, summed; an upper bound on a compacted topic).
    pub fn records(&self) -> i64 {
        self.partitions.iter().map(PartitionInfo::records).sum()
    }
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// Node id of the broker that leads it.
    pub leader: i32,
    /// The leader's epoch (its Raft term), -1 when the answering broker did not
    /// know it.
    pub leader_epoch: i32,
    /// Node ids of the brokers holding a replica, preferred leader first.
    pub replicas: Vec<i32>,
    /// First offset still in the log; -1 when its leader could not be asked (a
    /// leader is being elected, or the one named is down).
    pub log_start_offset: i64,
    /// Offset after the last record readers may see; -1 when its leader could
    /// not be asked.
    pub high_watermark: i64,
}

impl PartitionInfo {
    /// Records currently readable (high watermark minus log start; 0 when the
    /// offsets are not known).
    pub fn records(&self) -> i64 {
        if self.log_start_offset < 0 || self.high_watermark < 0 {
            return 0;
        }
        self.high_watermark.saturating_sub(self.log_start_offset)
    }
}

/// Administrative operations on one broker.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use rill_client::Admin;
///
/// let addr = "127.0.0.1:9400";
/// let admin = Admin::connect(addr).await?;
/// admin.create_topic("purchases", 6, &[("retention_ms", "604800000")]).await?;
/// let topic = admin.describe_topic("purchases").await?;
/// println!("{} partitions, {} records", topic.partitions.len(), topic.records());
/// for group in admin.list_groups().await? {
///     let lag = admin.describe_group(&group.group_id).await?.total_lag();
///     println!("group {}: {} members, lag {lag}", group.group_id, group.members);
/// }
/// # Ok(())
/// # }
/// ```
///
/// `tests/tests/client_docs.rs` runs this example against an embedded broker.
#[derive(Debug, Clone)]
pub struct Admin {
    conn: Connection,
    /// Each partition's leader, and connections to the other brokers.
    router: Arc<Router>,
}

impl Admin {
    /// Connects to the broker at `addr` (`host:port`).
    pub async fn connect(addr: impl Display) -> Result<Admin> {
        let options = ConnectionOptions {
            client_id: Some("rill-admin".to_string()),
            ..ConnectionOptions::default()
        };
        let list = addr.to_string();
        let conn = Connection::connect_with(&list, options).await?;
        let router = Arc::new(Router::with(&list, conn.clone())?);
        Ok(Admin { conn, router })
    }

    /// Uses an existing connection (its broker is the one bootstrap address).
    pub fn from_connection(conn: Connection) -> Admin {
        let router = Arc::new(Router::for_connection(conn.clone()));
        Admin { conn, router }
    }

    /// The underlying connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Creates `name` with `partitions` partitions and per-topic settings `configs`
    /// (`("fsync", "always")`, `("retention_ms", "60000")`, ...; docs/PROTOCOL.md
    /// §5.3 lists them), each partition with the cluster's default number of
    /// replicas, min(3, brokers). Fails with the broker's reason, e.g.
    /// `TOPIC_ALREADY_EXISTS` or `INVALID_CONFIG` with the allowed values.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        self.create_topic_replicated(name, partitions, -1, configs)
            .await
    }

    /// As [`Admin::create_topic`], with `replication_factor` replicas of each
    /// partition (-1: the cluster's default). A factor above the number of
    /// brokers fails with `INVALID_REPLICATION_FACTOR`.
    pub async fn create_topic_replicated(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) -> Result<()> {
        if name.is_empty() {
            return Err(Error::InvalidArgument("a topic name is required".into()));
        }
        if partitions < 1 {
            return Err(Error::InvalidArgument(format!(
                "topic {name:?} needs at least 1 partition, not {partitions}"
            )));
        }
        if replication_factor < 1 && replication_factor != -1 {
            return Err(Error::InvalidArgument(format!(
                "topic {name:?} needs a replication factor of at least 1 (or -1 for the \
                 default), not {replication_factor}"
            )));
        }
        let request = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.to_string(),
                partitions,
                replication_factor,
                configs: configs
                    .iter()
                    .map(|(k, v)| TopicConfig {
                        key: (*k).to_string(),
                        value: Some((*v).to_string()),
                    })
                    .collect(),
            }],
            timeout_ms: ADMIN_TIMEOUT_MS,
            validate_only: false,
        };
        let response = self.conn.call(request).await?;
        one_topic_result(self.conn.addr(), response.topics, name)
    }

    /// Deletes `name` and its data. Fails with `UNKNOWN_TOPIC_OR_PARTITION` if there
    /// is no such topic.
    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let request = DeleteTopicsRequest {
            topics: vec![name.to_string()],
            timeout_ms: ADMIN_TIMEOUT_MS,
        };
        let response = self.conn.call(request).await?;
        one_topic_result(self.conn.addr(), response.topics, name)
    }

    /// Every topic, sorted by name, with its partitions' offsets. Internal topics
    /// (names starting with `__`, such as `__consumer_offsets`) are left out; use
    /// [`Admin::list_all_topics`] to see them. A topic deleted while the list is
    /// being read is left out.
    pub async fn list_topics(&self) -> Result<Vec<TopicInfo>> {
        self.list(false).await
    }

    /// Like [`Admin::list_topics`], including internal topics.
    pub async fn list_all_topics(&self) -> Result<Vec<TopicInfo>> {
        self.list(true).await
    }

    async fn list(&self, internal: bool) -> Result<Vec<TopicInfo>> {
        let metadata = self.router.refresh(vec![]).await?;
        let topics: Vec<MetadataTopic> = metadata
            .topics
            .into_iter()
            .filter(|t| t.error_code.is_ok() && (internal || !is_internal(&t.name)))
            .collect();
        let offsets = self.offsets(partitions_of(&topics)).await;
        let mut list: Vec<TopicInfo> = topics
            .iter()
            .filter_map(|t| topic_info(t, &offsets).ok())
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// One topic's partitions with their log start offsets and high watermarks.
    /// Fails with `UNKNOWN_TOPIC_OR_PARTITION` if there is no such topic.
    pub async fn describe_topic(&self, name: &str) -> Result<TopicInfo> {
        let metadata = self.router.refresh(vec![name.to_string()]).await?;
        let topic = metadata
            .topics
            .into_iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::Protocol {
                addr: self.conn.addr().to_string(),
                detail: format!("the Metadata response does not mention topic {name:?}"),
            })?;
        if !topic.error_code.is_ok() {
            return Err(Error::broker_at(
                topic.error_code,
                topic.error_message,
                name,
                None,
            ));
        }
        let offsets = self
            .offsets(partitions_of(std::slice::from_ref(&topic)))
            .await;
        topic_info(&topic, &offsets)
    }

    // Consumer groups: `list_groups` and `describe_group` (members, assignments,
    // committed offsets and lag per partition) belong here, built on ListGroups,
    // DescribeGroups, OffsetFetch and the high watermarks read by `offsets` below.

    /// Log start offsets and high watermarks of `partitions`, each read from its
    /// leader with two pipelined ListOffsets requests per broker (the metadata
    /// is asked first when a leader is not known). A partition whose leader is
    /// unknown, cannot be reached or refused it gets its error.
    async fn offsets(&self, partitions: Vec<(String, i32)>) -> OffsetTable {
        let routes = self
            .router
            .route(partitions, partition_key, Duration::ZERO)
            .await;
        let mut table = OffsetTable::default();
        for (topic, partition) in routes.unrouted {
            let error = match &routes.refresh_error {
                Some(e) => e.clone(),
                None => no_leader(&topic, partition),
            };
            table.0.insert((topic, partition), Err(error));
        }
        let routed = routes.routed;
        for (addr, partitions) in routed {
            if let Err(e) = self.offsets_at(&addr, &partitions, &mut table).await {
                self.router.note_failure(&e, &addr);
                for key in partitions {
                    table.0.insert(key, Err(e.clone()));
                }
            }
        }
        table
    }

    /// Reads the offsets of `partitions` from the broker at `addr` into `table`.
    async fn offsets_at(
        &self,
        addr: &str,
        partitions: &[(String, i32)],
        table: &mut OffsetTable,
    ) -> Result<()> {
        let partitions: Vec<TopicPartition> = partitions
            .iter()
            .map(|(topic, partition)| TopicPartition::new(topic, *partition))
            .collect();
        let query = |timestamp| list_offsets_request(&partitions, timestamp);
        let conn = self.router.connection(addr).await?;
        let earliest = conn.submit(query(EARLIEST_TIMESTAMP))?;
        let latest = conn.submit(query(LATEST_TIMESTAMP))?;
        let (earliest, latest) = (earliest.await?, latest.await?);
        for (body, is_start) in [(earliest, true), (latest, false)] {
            let ResponseBody::ListOffsets(ListOffsetsResponse { topics }) = body else {
                return Err(Error::Protocol {
                    addr: addr.to_string(),
                    detail: "expected a ListOffsets response".to_string(),
                });
            };
            for t in topics {
                for p in t.partitions {
                    let entry = table
                        .0
                        .entry((t.name.clone(), p.partition))
                        .or_insert(Ok((-1, -1)));
                    if !p.error_code.is_ok() {
                        let error = Error::broker_at(
                            p.error_code,
                            p.error_message,
                            &t.name,
                            Some(p.partition),
                        );
                        self.router.note_failure(&error, addr);
                        *entry = Err(error);
                    } else if let Ok((start, end)) = entry {
                        if is_start {
                            *start = p.offset;
                        } else {
                            *end = p.offset;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The topic and partition of a `(topic, partition)` pair, borrowed.
fn partition_key((topic, partition): &(String, i32)) -> (&str, i32) {
    (topic.as_str(), *partition)
}

/// Every partition of `topics`, as `(topic, partition)`.
fn partitions_of(topics: &[MetadataTopic]) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.partition)))
        .collect()
}

/// Whether `name` is an internal topic (`__consumer_offsets` and the like).
pub fn is_internal(name: &str) -> bool {
    name.starts_with("__")
}

/// `(log start, high watermark)` or the error, by `(topic, partition)`.
#[derive(Debug, Default)]
struct OffsetTable(HashMap<(String, i32), Result<(i64, i64)>>);

/// A topic's description from its metadata and the offsets read for it.
fn topic_info(topic: &MetadataTopic, offsets: &OffsetTable) -> Result<TopicInfo> {
    let mut partitions = Vec::with_capacity(topic.partitions.len());
    for p in &topic.partitions {
        let (log_start_offset, high_watermark) =
            match offsets.0.get(&(topic.name.clone(), p.partition)) {
                Some(Ok(pair)) => *pair,
                // A leader moving or down: the partition is described without
                // offsets rather than failing the whole topic.
                Some(Err(e)) if e.is_retriable() => (-1, -1),
                Some(Err(e)) => return Err(e.clone()),
                None => (-1, -1),
            };
        partitions.push(PartitionInfo {
            partition: p.partition,
            leader: p.leader_id,
            leader_epoch: p.leader_epoch,
            replicas: p.replicas.clone(),
            log_start_offset,
            high_watermark,
        });
    }
    partitions.sort_by_key(|p| p.partition);
    Ok(TopicInfo {
        name: topic.name.clone(),
        partitions,
    })
}

/// The outcome for `name` in a CreateTopics or DeleteTopics response.
fn one_topic_result(addr: &str, results: Vec<TopicResult>, name: &str) -> Result<()> {
    let result = results
        .into_iter()
        .find(|r| r.name == name)
        .ok_or_else(|| Error::Protocol {
            addr: addr.to_string(),
            detail: format!("the response does not mention topic {name:?}"),
        })?;
    if result.error_code.is_ok() {
        Ok(())
    } else {
        Err(Error::broker_at(
            result.error_code,
            result.error_message,
            name,
            None,
        ))
    }
}

#[cfg(test)]
mod tests {
    use rill_protocol::api::metadata::MetadataPartition;
    use rill_protocol::ErrorCode;

    use super::*;

    #[test]
    fn a_partition_whose_leader_cannot_be_asked_is_described_without_offsets() {
        let topic = MetadataTopic {
            error_code: ErrorCode::None,
            error_message: None,
            name: "shop".into(),
            partitions: (0..3)
                .map(|partition| MetadataPartition {
                    partition,
                    error_code: ErrorCode::None,
                    leader_id: partition + 1,
                    leader_epoch: 1,
                    replicas: vec![partition + 1],
                })
                .collect(),
        };
        let mut offsets = OffsetTable::default();
        offsets.0.insert(("shop".into(), 0), Ok((0, 10)));
        let down = Error::Connect {
            addr: "127.0.0.1:9402".into(),
            reason: "refused".into(),
        };
        offsets.0.insert(("shop".into(), 1), Err(down));
        let moving = Error::broker_at(ErrorCode::NotLeaderOrFollower, None, "shop", Some(2));
        offsets.0.insert(("shop".into(), 2), Err(moving));
        let info = topic_info(&topic, &offsets).expect("described");
        let ends: Vec<(i64, i64)> = info
            .partitions
            .iter()
            .map(|p| (p.log_start_offset, p.high_watermark))
            .collect();
        assert_eq!(ends, vec![(0, 10), (-1, -1), (-1, -1)]);
        assert_eq!(info.records(), 10, "unknown offsets count no records");

        let refused = Error::broker_at(ErrorCode::InvalidRequest, None, "shop", Some(1));
        offsets.0.insert(("shop".into(), 1), Err(refused.clone()));
        assert_eq!(topic_info(&topic, &offsets), Err(refused));
    }
}

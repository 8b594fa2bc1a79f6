//! The APIs of the Rill wire protocol: keys, versions and one module per request
//! type, each with its request and response and a pure `encode`/`decode`.
//!
//! Api keys use Apache Kafka's numbers for the same operations, so traces read
//! familiarly; the bodies are Rill's own (see `docs/PROTOCOL.md`).

pub mod api_versions;
pub mod consumer_group_heartbeat;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_groups;
pub mod fetch;
pub mod init_producer_id;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod produce;

use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// One partition's entry in a message keyed by topic and partition (Produce, Fetch,
/// ListOffsets and their responses).
pub trait PartitionEntry: Sized {
    /// Smallest encoding of one entry, used to bound array counts before allocating.
    const MIN_BYTES: usize;
    /// Appends the entry.
    fn encode(&self, w: &mut Writer<'_>);
    /// Decodes one entry.
    fn decode(r: &mut Reader<'_>) -> Result<Self>;
}

/// Entries grouped by topic:
///
/// ```text
/// array< name string, partitions array<P> >
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicEntries<P> {
    /// Topic name.
    pub name: String,
    /// One entry per partition.
    pub partitions: Vec<P>,
}

impl<P: PartitionEntry> TopicEntries<P> {
    /// Appends `topics` as an array.
    pub fn encode_all(topics: &[Self], w: &mut Writer<'_>) {
        w.array_of(topics, |w, t| {
            w.string(&t.name)
                .array_of(&t.partitions, |w, p| p.encode(w));
        });
    }

    /// Decodes an array of topics.
    pub fn decode_all(r: &mut Reader<'_>) -> Result<Vec<Self>> {
        r.array_of("topics", 6, |r| {
            Ok(TopicEntries {
                name: r.string("topic name")?,
                partitions: r.array_of("partitions", P::MIN_BYTES, P::decode)?,
            })
        })
    }
}

/// A topic and some of its partitions, by index (group assignments, owned partitions,
/// offset queries):
///
/// ```text
/// name        string
/// partitions  array<int32>
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TopicPartitions {
    /// Topic name.
    pub name: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

impl TopicPartitions {
    /// Smallest encoding of one entry (empty name, no partitions), used to bound
    /// array counts before allocating.
    pub const MIN_BYTES: usize = 6;

    /// Appends one entry.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.string(&self.name).array_of(&self.partitions, |w, p| {
            w.i32(*p);
        });
    }

    /// Decodes one entry.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(TopicPartitions {
            name: r.string("topic name")?,
            partitions: r.array_of("partitions", 4, |r| r.i32("partition"))?,
        })
    }

    /// Appends `items` as an array.
    pub fn encode_all(items: &[Self], w: &mut Writer<'_>) {
        w.array_of(items, |w, t| t.encode(w));
    }

    /// Decodes an array, naming it `field` in errors.
    pub fn decode_all(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<Self>> {
        r.array_of(field, Self::MIN_BYTES, Self::decode)
    }

    /// Appends `items` as a nullable array (`None` is count -1).
    pub fn encode_nullable(items: Option<&[Self]>, w: &mut Writer<'_>) {
        w.nullable_array_of(items, |w, t| t.encode(w));
    }

    /// Decodes a nullable array, naming it `field` in errors.
    pub fn decode_nullable(r: &mut Reader<'_>, field: &'static str) -> Result<Option<Vec<Self>>> {
        r.nullable_array_of(field, Self::MIN_BYTES, Self::decode)
    }
}

/// Identifies an API in a request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKey {
    /// Append record batches to partitions.
    Produce,
    /// Read record batches from partitions (long-poll).
    Fetch,
    /// Look up offsets: earliest, latest, or by timestamp.
    ListOffsets,
    /// Describe topics and their partitions.
    Metadata,
    /// List the APIs and versions the broker supports.
    ApiVersions,
    /// Create topics.
    CreateTopics,
    /// Delete topics.
    DeleteTopics,
    /// Commit consumed offsets for a group.
    OffsetCommit,
    /// Read a group's committed offsets.
    OffsetFetch,
    /// Describe groups: state, epoch, members and what they own.
    DescribeGroups,
    /// List the groups the broker knows.
    ListGroups,
    /// Get an idempotent producer identity (producer id and epoch).
    InitProducerId,
    /// Join, heartbeat in, or leave a consumer group; receive assignments.
    ConsumerGroupHeartbeat,
    /// One broker's view of the cluster: brokers, metadata leader, its
    /// replicas' Raft state and, where it leads, its followers' lag.
    DescribeCluster,
}

impl ApiKey {
    /// Every API, in key order.
    pub const ALL: [ApiKey; 14] = [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::DescribeGroups,
        ApiKey::ListGroups,
        ApiKey::ApiVersions,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::InitProducerId,
        ApiKey::DescribeCluster,
        ApiKey::ConsumerGroupHeartbeat,
    ];

    /// The number on the wire.
    pub fn code(self) -> i16 {
        match self {
            ApiKey::Produce => 0,
            ApiKey::Fetch => 1,
            ApiKey::ListOffsets => 2,
            ApiKey::Metadata => 3,
            ApiKey::ApiVersions => 18,
            ApiKey::CreateTopics => 19,
            ApiKey::DeleteTopics => 20,
            ApiKey::OffsetCommit => 8,
            ApiKey::OffsetFetch => 9,
            ApiKey::DescribeGroups => 15,
            ApiKey::ListGroups => 16,
            ApiKey::InitProducerId => 22,
            ApiKey::DescribeCluster => 60,
            ApiKey::ConsumerGroupHeartbeat => 68,
        }
    }

    /// The API for a wire number.
    pub fn from_code(code: i16) -> Result<ApiKey> {
        ApiKey::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .ok_or(Error::UnknownApiKey { key: code })
    }

    /// The API's name, as in docs and errors.
    pub fn name(self) -> &'static str {
        match self {
            ApiKey::Produce => "Produce",
            ApiKey::Fetch => "Fetch",
            ApiKey::ListOffsets => "ListOffsets",
            ApiKey::Metadata => "Metadata",
            ApiKey::ApiVersions => "ApiVersions",
            ApiKey::CreateTopics => "CreateTopics",
            ApiKey::DeleteTopics => "DeleteTopics",
            ApiKey::OffsetCommit => "OffsetCommit",
            ApiKey::OffsetFetch => "OffsetFetch",
            ApiKey::DescribeGroups => "DescribeGroups",
            ApiKey::ListGroups => "ListGroups",
            ApiKey::InitProducerId => "InitProducerId",
            ApiKey::DescribeCluster => "DescribeCluster",
            ApiKey::ConsumerGroupHeartbeat => "ConsumerGroupHeartbeat",
        }
    }

    /// Oldest and newest supported versions.
    pub fn versions(self) -> (i16, i16) {
        match self {
            // v1: replicas and leader epoch per partition (Metadata), a
            // replication factor per topic (CreateTopics).
            ApiKey::Metadata | ApiKey::CreateTopics => (0, 1),
            _ => (0, 0),
        }
    }

    /// Fails unless `version` is supported for this API.
    pub fn check_version(self, version: i16) -> Result<()> {
        let (min, max) = self.versions();
        if (min..=max).contains(&version) {
            Ok(())
        } else {
            Err(Error::UnsupportedVersion {
                api: self.name(),
                version,
                min,
                max,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn api_keys_are_in_key_order_and_round_trip() {
        let codes: Vec<i16> = ApiKey::ALL.iter().map(|k| k.code()).collect();
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        for key in ApiKey::ALL {
            assert_eq!(ApiKey::from_code(key.code()), Ok(key));
            let (min, max) = key.versions();
            assert_eq!(min, 0);
            assert_eq!(
                max,
                i16::from(matches!(key, ApiKey::Metadata | ApiKey::CreateTopics))
            );
        }
        assert_eq!(ApiKey::ConsumerGroupHeartbeat.code(), 68);
        assert_eq!(ApiKey::InitProducerId.name(), "InitProducerId");
    }

    #[test]
    fn topic_partitions_keep_null_apart_from_empty() {
        let some = vec![
            TopicPartitions {
                name: "purchases".to_string(),
                partitions: vec![0, 3],
            },
            TopicPartitions::default(),
        ];
        for items in [None, Some(vec![]), Some(some)] {
            let mut buf = BytesMut::new();
            TopicPartitions::encode_nullable(items.as_deref(), &mut Writer::new(&mut buf));
            let mut r = Reader::new(&buf, "test");
            assert_eq!(
                TopicPartitions::decode_nullable(&mut r, "topics"),
                Ok(items)
            );
            assert_eq!(r.finish(), Ok(()));
        }
    }
}

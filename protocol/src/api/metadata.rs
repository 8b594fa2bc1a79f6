//! Metadata (key 3): the brokers, and the topics with their partitions.
//!
//! ```text
//! MetadataRequest v0 and v1
//!   topics        array<string>   empty = every topic
//!
//! MetadataResponse v0 and v1
//!   brokers       array<
//!     node_id       int32
//!     host          string
//!     port          int32 >
//!   topics        array<
//!     error_code    int16
//!     error_message nullable_string
//!     name          string
//!     partitions    array<
//!       partition     int32
//!       error_code    int16
//!       leader_id     int32
//!       leader_epoch  int32          v1 only: the leader's Raft term, -1 unknown
//!       replicas      array<int32> > >  v1 only: preferred leader first
//! ```
//!
//! A v0 answer has no leader epoch and no replicas: decoded, they are -1 and empty.

use bytes::BytesMut;

use crate::error_code::ErrorCode;
use crate::versioned::Versioned;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Asks for topic metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataRequest {
    /// Topics to describe; empty means all.
    pub topics: Vec<String>,
}

impl MetadataRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf).array_of(&self.topics, |w, t| {
            w.string(t);
        });
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "Metadata request");
        let topics = r.array_of("topics", 2, |r| r.string("topic name"))?;
        r.finish()?;
        Ok(MetadataRequest { topics })
    }
}

/// A broker's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    /// Broker id.
    pub node_id: i32,
    /// Host name or address clients connect to.
    pub host: String,
    /// Port clients connect to.
    pub port: i32,
}

/// One partition's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    /// Partition index.
    pub partition: i32,
    /// `None` when the partition is available.
    pub error_code: ErrorCode,
    /// The broker that leads it.
    pub leader_id: i32,
    /// The leader's epoch (its Raft term in the partition's group), -1 when not
    /// known (a v0 answer). A client that has seen a higher epoch for the
    /// partition holds newer metadata than this answer.
    pub leader_epoch: i32,
    /// The brokers holding a replica, preferred leader first (empty in a v0
    /// answer). One broker, not in a cluster, is the only replica of its partitions.
    pub replicas: Vec<i32>,
}

/// One topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    /// `UnknownTopicOrPartition` for a requested topic that does not exist.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
    /// Topic name.
    pub name: String,
    /// Its partitions.
    pub partitions: Vec<MetadataPartition>,
}

/// The cluster's brokers and topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// Brokers.
    pub brokers: Vec<MetadataBroker>,
    /// Topics.
    pub topics: Vec<MetadataTopic>,
}

impl Versioned for MetadataResponse {
    fn encode_at(&self, version: i16, buf: &mut BytesMut) {
        self.encode(version, buf)
    }

    fn decode_at(version: i16, body: &[u8]) -> Result<Self> {
        Self::decode(version, body)
    }
}

impl MetadataResponse {
    /// Appends the body as `version` lays it out.
    pub fn encode(&self, version: i16, buf: &mut BytesMut) {
        Writer::new(buf)
            .array_of(&self.brokers, |w, b| {
                w.i32(b.node_id).string(&b.host).i32(b.port);
            })
            .array_of(&self.topics, |w, t| {
                w.i16(t.error_code.code())
                    .nullable_string(t.error_message.as_deref())
                    .string(&t.name)
                    .array_of(&t.partitions, |w, p| {
                        w.i32(p.partition).i16(p.error_code.code()).i32(p.leader_id);
                        if version >= 1 {
                            w.i32(p.leader_epoch).array_of(&p.replicas, |w, r| {
                                w.i32(*r);
                            });
                        }
                    });
            });
    }

    /// Decodes a body laid out as `version`.
    pub fn decode(version: i16, body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "Metadata response");
        let brokers = r.array_of("brokers", 10, |r| {
            Ok(MetadataBroker {
                node_id: r.i32("node_id")?,
                host: r.string("host")?,
                port: r.i32("port")?,
            })
        })?;
        let topics = r.array_of("topics", 10, |r| {
            Ok(MetadataTopic {
                error_code: ErrorCode::from_code(r.i16("error_code")?),
                error_message: r.nullable_string("error_message")?,
                name: r.string("topic name")?,
                partitions: r.array_of("partitions", 10, |r| {
                    let partition = r.i32("partition")?;
                    let error_code = ErrorCode::from_code(r.i16("error_code")?);
                    let leader_id = r.i32("leader_id")?;
                    let (leader_epoch, replicas) = if version >= 1 {
                        (
                            r.i32("leader_epoch")?,
                            r.array_of("replicas", 4, |r| r.i32("replica"))?,
                        )
                    } else {
                        (-1, Vec::new())
                    };
                    Ok(MetadataPartition {
                        partition,
                        error_code,
                        leader_id,
                        leader_epoch,
                        replicas,
                    })
                })?,
            })
        })?;
        r.finish()?;
        Ok(MetadataResponse { brokers, topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn response() -> MetadataResponse {
        MetadataResponse {
            brokers: vec![MetadataBroker {
                node_id: 0,
                host: "127.0.0.1".to_string(),
                port: 9400,
            }],
            topics: vec![
                MetadataTopic {
                    error_code: ErrorCode::None,
                    error_message: None,
                    name: "purchases".to_string(),
                    partitions: (0..3)
                        .map(|partition| MetadataPartition {
                            partition,
                            error_code: ErrorCode::None,
                            leader_id: partition,
                            leader_epoch: 7,
                            replicas: vec![partition, (partition + 1) % 3],
                        })
                        .collect(),
                },
                MetadataTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition,
                    error_message: Some("topic nope does not exist".to_string()),
                    name: "nope".to_string(),
                    partitions: vec![],
                },
            ],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        let request = MetadataRequest {
            topics: vec!["purchases".to_string(), "nope".to_string()],
        };
        check_round_trip(&request, MetadataRequest::encode, MetadataRequest::decode);
        check_truncations(&request, MetadataRequest::encode, MetadataRequest::decode);
        check_round_trip(
            &MetadataRequest::default(),
            MetadataRequest::encode,
            MetadataRequest::decode,
        );
        let v1 = |m: &MetadataResponse, buf: &mut BytesMut| m.encode(1, buf);
        check_round_trip(&response(), v1, |b| MetadataResponse::decode(1, b));
        check_truncations(&response(), v1, |b| MetadataResponse::decode(1, b));
    }

    #[test]
    fn a_v0_answer_has_no_epoch_and_no_replicas() {
        let mut buf = BytesMut::new();
        response().encode(0, &mut buf);
        let mut v1 = BytesMut::new();
        response().encode(1, &mut v1);
        assert!(buf.len() < v1.len());
        let decoded = MetadataResponse::decode(0, &buf).expect("a v0 answer decodes");
        let mut expected = response();
        for p in expected.topics.iter_mut().flat_map(|t| &mut t.partitions) {
            p.leader_epoch = -1;
            p.replicas.clear();
        }
        assert_eq!(decoded, expected);
        check_truncations(
            &response(),
            |m, b| m.encode(0, b),
            |b| MetadataResponse::decode(0, b),
        );
    }

    #[test]
    fn invalid_names_and_lying_counts_are_rejected() {
        let mut bad = BytesMut::new();
        Writer::new(&mut bad).i32(1).i16(1);
        bad.extend_from_slice(&[0xc0]);
        assert!(MetadataRequest::decode(&bad).is_err());
        let mut huge = BytesMut::new();
        Writer::new(&mut huge).i32(1 << 30);
        assert!(MetadataRequest::decode(&huge).is_err());
    }
}

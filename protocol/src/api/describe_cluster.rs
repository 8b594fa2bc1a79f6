//! DescribeCluster (key 60): one broker's view of the cluster, for `rill cluster
//! status`. Each broker answers for itself: the brokers the metadata lists, the
//! metadata group's leader as it knows it, and every partition it holds a
//! replica of, with its Raft role there; for the partitions it leads, each
//! follower's lag and whether it is in sync. A tool asks every broker and
//! merges the answers (a broker that does not answer is down).
//!
//! ```text
//! DescribeClusterRequest v0   (empty body)
//!
//! DescribeClusterResponse v0
//!   error_code       int16    NONE, or INVALID_REQUEST on a broker not in a cluster
//!   error_message    nullable_string
//!   node_id          int32    the answering broker
//!   metadata_leader  int32    -1: none known
//!   brokers          array<
//!     node_id          int32
//!     host             string   the client address it registered
//!     port             int32 >
//!   partitions       array<
//!     topic            string
//!     partition        int32
//!     role             string   "leader" | "follower" | "candidate" | "learner" | "shutdown"
//!     serving          int8     1: this broker leads and serves clients
//!     term             int64
//!     leader           int32    -1: none known
//!     replicas         array<int32>
//!     followers        array<   on the leader only; empty elsewhere
//!       node_id          int32
//!       lag_entries      int64    Raft entries (one per batch) it lacks; -1: unknown
//!       in_sync          int8 > >
//! ```

use bytes::BytesMut;

use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Asks a broker for its view of the cluster. It has no fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeClusterRequest;

impl DescribeClusterRequest {
    /// Appends the body.
    pub fn encode(&self, _buf: &mut BytesMut) {}

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        Reader::new(body, "DescribeCluster request").finish()?;
        Ok(DescribeClusterRequest)
    }
}

/// A broker the metadata lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterBroker {
    /// Its node id.
    pub node_id: i32,
    /// The host of the client address it registered.
    pub host: String,
    /// The port of that address.
    pub port: i32,
}

/// How far a partition's leader knows a follower has the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's node id.
    pub node_id: i32,
    /// Raft entries (one per batch) it lacks; -1 when unknown.
    pub lag_entries: i64,
    /// Whether it acknowledged the leader within the maximum election timeout.
    pub in_sync: bool,
}

/// One partition with a replica on the answering broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The answering broker's Raft role in the partition's group.
    pub role: String,
    /// Whether the answering broker leads and serves clients now.
    pub serving: bool,
    /// The group's current term as the answering broker knows it.
    pub term: i64,
    /// The leader the answering broker knows; -1 when none.
    pub leader: i32,
    /// The replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// On the leader, each follower's state; empty elsewhere.
    pub followers: Vec<FollowerState>,
}

/// One broker's view of the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeClusterResponse {
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong, when something did.
    pub error_message: Option<String>,
    /// The answering broker's node id.
    pub node_id: i32,
    /// The metadata group's leader as the answering broker knows it; -1 when
    /// none.
    pub metadata_leader: i32,
    /// The brokers the metadata lists.
    pub brokers: Vec<ClusterBroker>,
    /// The partitions with a replica on the answering broker.
    pub partitions: Vec<PartitionState>,
}

impl DescribeClusterResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref())
            .i32(self.node_id)
            .i32(self.metadata_leader)
            .array_of(&self.brokers, |w, b| {
                w.i32(b.node_id).string(&b.host).i32(b.port);
            })
            .array_of(&self.partitions, |w, p| {
                w.string(&p.topic)
                    .i32(p.partition)
                    .string(&p.role)
                    .i8(i8::from(p.serving))
                    .i64(p.term)
                    .i32(p.leader)
                    .array_of(&p.replicas, |w, r| {
                        w.i32(*r);
                    })
                    .array_of(&p.followers, |w, f| {
                        w.i32(f.node_id).i64(f.lag_entries).i8(i8::from(f.in_sync));
                    });
            });
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "DescribeCluster response");
        let error_code = ErrorCode::from_code(r.i16("error_code")?);
        let error_message = r.nullable_string("error_message")?;
        let node_id = r.i32("node_id")?;
        let metadata_leader = r.i32("metadata_leader")?;
        let brokers = r.array_of("brokers", 10, |r| {
            Ok(ClusterBroker {
                node_id: r.i32("node_id")?,
                host: r.string("host")?,
                port: r.i32("port")?,
            })
        })?;
        let partitions = r.array_of("partitions", 29, |r| {
            Ok(PartitionState {
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
                role: r.string("role")?,
                serving: r.i8("serving")? != 0,
                term: r.i64("term")?,
                leader: r.i32("leader")?,
                replicas: r.array_of("replicas", 4, |r| r.i32("replica"))?,
                followers: r.array_of("followers", 13, |r| {
                    Ok(FollowerState {
                        node_id: r.i32("node_id")?,
                        lag_entries: r.i64("lag_entries")?,
                        in_sync: r.i8("in_sync")? != 0,
                    })
                })?,
            })
        })?;
        r.finish()?;
        Ok(DescribeClusterResponse {
            error_code,
            error_message,
            node_id,
            metadata_leader,
            brokers,
            partitions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn response() -> DescribeClusterResponse {
        DescribeClusterResponse {
            error_code: ErrorCode::None,
            error_message: None,
            node_id: 2,
            metadata_leader: 1,
            brokers: vec![
                ClusterBroker {
                    node_id: 1,
                    host: "rill-1".into(),
                    port: 9400,
                },
                ClusterBroker {
                    node_id: 2,
                    host: "rill-2".into(),
                    port: 9400,
                },
            ],
            partitions: vec![
                PartitionState {
                    topic: "purchases".into(),
                    partition: 0,
                    role: "leader".into(),
                    serving: true,
                    term: 7,
                    leader: 2,
                    replicas: vec![2, 3, 1],
                    followers: vec![
                        FollowerState {
                            node_id: 3,
                            lag_entries: 0,
                            in_sync: true,
                        },
                        FollowerState {
                            node_id: 1,
                            lag_entries: -1,
                            in_sync: false,
                        },
                    ],
                },
                PartitionState {
                    topic: "purchases".into(),
                    partition: 1,
                    role: "follower".into(),
                    serving: false,
                    term: 3,
                    leader: -1,
                    replicas: vec![3, 1, 2],
                    followers: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        let refused = DescribeClusterResponse {
            error_code: ErrorCode::InvalidRequest,
            error_message: Some("not in a cluster".into()),
            ..DescribeClusterResponse::default()
        };
        for response in [response(), refused] {
            check_round_trip(
                &response,
                DescribeClusterResponse::encode,
                DescribeClusterResponse::decode,
            );
            check_truncations(
                &response,
                DescribeClusterResponse::encode,
                DescribeClusterResponse::decode,
            );
        }
        check_round_trip(
            &DescribeClusterRequest,
            DescribeClusterRequest::encode,
            DescribeClusterRequest::decode,
        );
    }
}

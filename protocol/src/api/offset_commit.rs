//! OffsetCommit (key 8): store a group's consumed positions, fenced by member epoch.
//!
//! ```text
//! OffsetCommitRequest v0
//!   group_id      string
//!   member_id     string    "" with member_epoch -1 outside group membership
//!   member_epoch  int32     -1 = no fencing (only while the group has no members)
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition     int32
//!       offset        int64   the next offset to consume
//!       metadata      nullable_string > >
//!
//! OffsetCommitResponse v0
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition     int32
//!       error_code    int16
//!       error_message nullable_string > >
//! ```

use bytes::BytesMut;

use crate::api::{PartitionEntry, TopicEntries};
use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// `member_epoch` of a commit made outside group membership (with an empty
/// `member_id`): no fencing, allowed only while the group has no members.
pub const NO_MEMBER_EPOCH: i32 = -1;

/// One partition's position to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    /// Partition index.
    pub partition: i32,
    /// The next offset to consume.
    pub offset: i64,
    /// Free-form text stored with the offset.
    pub metadata: Option<String>,
}

impl PartitionEntry for OffsetCommitPartition {
    const MIN_BYTES: usize = 14;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition)
            .i64(self.offset)
            .nullable_string(self.metadata.as_deref());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(OffsetCommitPartition {
            partition: r.i32("partition")?,
            offset: r.i64("offset")?,
            metadata: r.nullable_string("metadata")?,
        })
    }
}

/// One topic's positions to store.
pub type OffsetCommitTopic = TopicEntries<OffsetCommitPartition>;

/// Commits offsets for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    /// The group.
    pub group_id: String,
    /// The committing member; empty (with [`NO_MEMBER_EPOCH`]) outside membership.
    pub member_id: String,
    /// The member's current epoch, or [`NO_MEMBER_EPOCH`].
    pub member_epoch: i32,
    /// Positions by topic.
    pub topics: Vec<OffsetCommitTopic>,
}

impl OffsetCommitRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        w.string(&self.group_id)
            .string(&self.member_id)
            .i32(self.member_epoch);
        OffsetCommitTopic::encode_all(&self.topics, &mut w);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "OffsetCommit request");
        let group_id = r.string("group_id")?;
        let member_id = r.string("member_id")?;
        let member_epoch = r.i32("member_epoch")?;
        let topics = OffsetCommitTopic::decode_all(&mut r)?;
        r.finish()?;
        Ok(OffsetCommitRequest {
            group_id,
            member_id,
            member_epoch,
            topics,
        })
    }
}

/// One partition's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitPartitionResponse {
    /// Partition index.
    pub partition: i32,
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
}

impl PartitionEntry for OffsetCommitPartitionResponse {
    const MIN_BYTES: usize = 8;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(OffsetCommitPartitionResponse {
            partition: r.i32("partition")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
        })
    }
}

/// One topic's outcomes.
pub type OffsetCommitTopicResponse = TopicEntries<OffsetCommitPartitionResponse>;

/// Per-partition outcomes of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    /// Outcomes by topic.
    pub topics: Vec<OffsetCommitTopicResponse>,
}

impl OffsetCommitResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        OffsetCommitTopicResponse::encode_all(&self.topics, &mut Writer::new(buf));
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "OffsetCommit response");
        let topics = OffsetCommitTopicResponse::decode_all(&mut r)?;
        r.finish()?;
        Ok(OffsetCommitResponse { topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn request() -> OffsetCommitRequest {
        OffsetCommitRequest {
            group_id: "payment".to_string(),
            member_id: "m-1".to_string(),
            member_epoch: 12,
            topics: vec![
                OffsetCommitTopic {
                    name: "purchases".to_string(),
                    partitions: vec![
                        OffsetCommitPartition {
                            partition: 0,
                            offset: 1042,
                            metadata: None,
                        },
                        OffsetCommitPartition {
                            partition: 3,
                            offset: 0,
                            metadata: Some("host-a".to_string()),
                        },
                    ],
                },
                OffsetCommitTopic {
                    name: "audit".to_string(),
                    partitions: vec![],
                },
            ],
        }
    }

    fn response() -> OffsetCommitResponse {
        OffsetCommitResponse {
            topics: vec![OffsetCommitTopicResponse {
                name: "purchases".to_string(),
                partitions: vec![
                    OffsetCommitPartitionResponse {
                        partition: 0,
                        error_code: ErrorCode::None,
                        error_message: None,
                    },
                    OffsetCommitPartitionResponse {
                        partition: 3,
                        error_code: ErrorCode::FencedMemberEpoch,
                        error_message: Some("member epoch 12 is older than 13".to_string()),
                    },
                ],
            }],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        let manual = OffsetCommitRequest {
            member_id: String::new(),
            member_epoch: NO_MEMBER_EPOCH,
            ..request()
        };
        for request in [request(), manual] {
            check_round_trip(
                &request,
                OffsetCommitRequest::encode,
                OffsetCommitRequest::decode,
            );
            check_truncations(
                &request,
                OffsetCommitRequest::encode,
                OffsetCommitRequest::decode,
            );
        }
        check_round_trip(
            &response(),
            OffsetCommitResponse::encode,
            OffsetCommitResponse::decode,
        );
        check_truncations(
            &response(),
            OffsetCommitResponse::encode,
            OffsetCommitResponse::decode,
        );
    }

    #[test]
    fn lying_counts_and_trailing_bytes_are_rejected() {
        let mut huge = BytesMut::new();
        Writer::new(&mut huge)
            .string("g")
            .string("m")
            .i32(1)
            .i32(1)
            .string("t")
            .i32(i32::MAX);
        assert!(OffsetCommitRequest::decode(&huge).is_err());
        let mut negative = BytesMut::new();
        Writer::new(&mut negative).i32(-1);
        assert!(OffsetCommitResponse::decode(&negative).is_err());
        let mut buf = BytesMut::new();
        request().encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(OffsetCommitRequest::decode(&buf).is_err());
        let mut buf = BytesMut::new();
        response().encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(OffsetCommitResponse::decode(&buf).is_err());
    }
}

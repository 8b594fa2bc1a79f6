//! OffsetFetch (key 9): read a group's committed offsets.
//!
//! ```text
//! OffsetFetchRequest v0
//!   group_id      string
//!   topics        nullable array<   null = every partition with a committed offset
//!     name          string
//!     partitions    array<int32> >
//!
//! OffsetFetchResponse v0
//!   error_code    int16
//!   error_message nullable_string
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition     int32
//!       offset        int64   -1 if none committed
//!       metadata      nullable_string
//!       error_code    int16
//!       error_message nullable_string > >
//! ```

use bytes::BytesMut;

use crate::api::{PartitionEntry, TopicEntries, TopicPartitions};
use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// `offset` of a partition with no committed offset.
pub const NO_OFFSET: i64 = -1;

/// Asks for committed offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    /// The group.
    pub group_id: String,
    /// Partitions to look up; `None` = every partition with a committed offset.
    pub topics: Option<Vec<TopicPartitions>>,
}

impl OffsetFetchRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        w.string(&self.group_id);
        TopicPartitions::encode_nullable(self.topics.as_deref(), &mut w);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "OffsetFetch request");
        let group_id = r.string("group_id")?;
        let topics = TopicPartitions::decode_nullable(&mut r, "topics")?;
        r.finish()?;
        Ok(OffsetFetchRequest { group_id, topics })
    }
}

/// One partition's committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchPartition {
    /// Partition index.
    pub partition: i32,
    /// The next offset to consume, or [`NO_OFFSET`] if none is committed.
    pub offset: i64,
    /// The text committed with the offset.
    pub metadata: Option<String>,
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
}

impl PartitionEntry for OffsetFetchPartition {
    const MIN_BYTES: usize = 18;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition)
            .i64(self.offset)
            .nullable_string(self.metadata.as_deref())
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(OffsetFetchPartition {
            partition: r.i32("partition")?,
            offset: r.i64("offset")?,
            metadata: r.nullable_string("metadata")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
        })
    }
}

/// One topic's committed offsets.
pub type OffsetFetchTopic = TopicEntries<OffsetFetchPartition>;

/// The committed offsets found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    /// `None` unless the whole request failed (for example an invalid group id).
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
    /// Offsets by topic.
    pub topics: Vec<OffsetFetchTopic>,
}

impl OffsetFetchResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        w.i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref());
        OffsetFetchTopic::encode_all(&self.topics, &mut w);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "OffsetFetch response");
        let error_code = ErrorCode::from_code(r.i16("error_code")?);
        let error_message = r.nullable_string("error_message")?;
        let topics = OffsetFetchTopic::decode_all(&mut r)?;
        r.finish()?;
        Ok(OffsetFetchResponse {
            error_code,
            error_message,
            topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn requests() -> [OffsetFetchRequest; 3] {
        [
            OffsetFetchRequest {
                group_id: "payment".to_string(),
                topics: None,
            },
            OffsetFetchRequest {
                group_id: "payment".to_string(),
                topics: Some(vec![]),
            },
            OffsetFetchRequest {
                group_id: "analytics".to_string(),
                topics: Some(vec![TopicPartitions {
                    name: "purchases".to_string(),
                    partitions: vec![0, 1, 5],
                }]),
            },
        ]
    }

    fn response() -> OffsetFetchResponse {
        OffsetFetchResponse {
            error_code: ErrorCode::None,
            error_message: None,
            topics: vec![OffsetFetchTopic {
                name: "purchases".to_string(),
                partitions: vec![
                    OffsetFetchPartition {
                        partition: 0,
                        offset: 1042,
                        metadata: Some("host-a".to_string()),
                        error_code: ErrorCode::None,
                        error_message: None,
                    },
                    OffsetFetchPartition {
                        partition: 5,
                        offset: NO_OFFSET,
                        metadata: None,
                        error_code: ErrorCode::UnknownTopicOrPartition,
                        error_message: Some("no partition 5".to_string()),
                    },
                ],
            }],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        for request in requests() {
            check_round_trip(
                &request,
                OffsetFetchRequest::encode,
                OffsetFetchRequest::decode,
            );
            check_truncations(
                &request,
                OffsetFetchRequest::encode,
                OffsetFetchRequest::decode,
            );
        }
        let refused = OffsetFetchResponse {
            error_code: ErrorCode::InvalidGroupId,
            error_message: Some("group id is empty".to_string()),
            topics: vec![],
        };
        for response in [response(), refused] {
            check_round_trip(
                &response,
                OffsetFetchResponse::encode,
                OffsetFetchResponse::decode,
            );
            check_truncations(
                &response,
                OffsetFetchResponse::encode,
                OffsetFetchResponse::decode,
            );
        }
    }

    #[test]
    fn lying_counts_and_trailing_bytes_are_rejected() {
        for count in [i32::MAX, -2] {
            let mut bad = BytesMut::new();
            Writer::new(&mut bad).string("g").i32(count);
            assert!(OffsetFetchRequest::decode(&bad).is_err(), "{count}");
        }
        let mut huge = BytesMut::new();
        Writer::new(&mut huge)
            .i16(0)
            .i16(-1)
            .i32(1)
            .string("t")
            .i32(1_000_000);
        assert!(OffsetFetchResponse::decode(&huge).is_err());
        for request in requests() {
            let mut buf = BytesMut::new();
            request.encode(&mut buf);
            buf.extend_from_slice(&[0]);
            assert!(OffsetFetchRequest::decode(&buf).is_err());
        }
        let mut buf = BytesMut::new();
        response().encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(OffsetFetchResponse::decode(&buf).is_err());
    }
}

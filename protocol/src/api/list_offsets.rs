//! ListOffsets (key 2): the earliest or latest offset of a partition, or the first
//! offset at or after a timestamp.
//!
//! ```text
//! ListOffsetsRequest v0
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition     int32
//!       timestamp     int64   -2 = earliest, -1 = latest, else ms since the epoch > >
//!
//! ListOffsetsResponse v0
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition     int32
//!       error_code    int16
//!       error_message nullable_string
//!       timestamp     int64   the found record's timestamp, or -1
//!       offset        int64   -1 when no record is at or after the timestamp > >
//! ```

use bytes::BytesMut;

use crate::api::{PartitionEntry, TopicEntries};
use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// `timestamp` value asking for the first offset in the log.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// `timestamp` value asking for the log end (the high watermark).
pub const LATEST_TIMESTAMP: i64 = -1;

/// One partition's query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    /// Partition index.
    pub partition: i32,
    /// [`EARLIEST_TIMESTAMP`], [`LATEST_TIMESTAMP`], or ms since the epoch.
    pub timestamp: i64,
}

impl PartitionEntry for ListOffsetsPartition {
    const MIN_BYTES: usize = 12;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition).i64(self.timestamp);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ListOffsetsPartition {
            partition: r.i32("partition")?,
            timestamp: r.i64("timestamp")?,
        })
    }
}

/// One topic's queries.
pub type ListOffsetsTopic = TopicEntries<ListOffsetsPartition>;

/// Looks up offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsRequest {
    /// Queries by topic.
    pub topics: Vec<ListOffsetsTopic>,
}

impl ListOffsetsRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        ListOffsetsTopic::encode_all(&self.topics, &mut Writer::new(buf));
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "ListOffsets request");
        let topics = ListOffsetsTopic::decode_all(&mut r)?;
        r.finish()?;
        Ok(ListOffsetsRequest { topics })
    }
}

/// One partition's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartitionResponse {
    /// Partition index.
    pub partition: i32,
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
    /// Timestamp of the found record (time queries), else -1.
    pub timestamp: i64,
    /// The offset, or -1 if no record is at or after the timestamp.
    pub offset: i64,
}

impl PartitionEntry for ListOffsetsPartitionResponse {
    const MIN_BYTES: usize = 24;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref())
            .i64(self.timestamp)
            .i64(self.offset);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ListOffsetsPartitionResponse {
            partition: r.i32("partition")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            timestamp: r.i64("timestamp")?,
            offset: r.i64("offset")?,
        })
    }
}

/// One topic's answers.
pub type ListOffsetsTopicResponse = TopicEntries<ListOffsetsPartitionResponse>;

/// The offsets found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    /// Answers by topic.
    pub topics: Vec<ListOffsetsTopicResponse>,
}

impl ListOffsetsResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        ListOffsetsTopicResponse::encode_all(&self.topics, &mut Writer::new(buf));
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "ListOffsets response");
        let topics = ListOffsetsTopicResponse::decode_all(&mut r)?;
        r.finish()?;
        Ok(ListOffsetsResponse { topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn request() -> ListOffsetsRequest {
        ListOffsetsRequest {
            topics: vec![ListOffsetsTopic {
                name: "purchases".to_string(),
                partitions: vec![
                    ListOffsetsPartition {
                        partition: 0,
                        timestamp: EARLIEST_TIMESTAMP,
                    },
                    ListOffsetsPartition {
                        partition: 1,
                        timestamp: 1_700_000_000_000,
                    },
                ],
            }],
        }
    }

    fn response() -> ListOffsetsResponse {
        ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: "purchases".to_string(),
                partitions: vec![
                    ListOffsetsPartitionResponse {
                        partition: 0,
                        error_code: ErrorCode::None,
                        error_message: None,
                        timestamp: -1,
                        offset: 0,
                    },
                    ListOffsetsPartitionResponse {
                        partition: 7,
                        error_code: ErrorCode::UnknownTopicOrPartition,
                        error_message: Some("no partition 7".to_string()),
                        timestamp: -1,
                        offset: -1,
                    },
                ],
            }],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        check_round_trip(
            &request(),
            ListOffsetsRequest::encode,
            ListOffsetsRequest::decode,
        );
        check_truncations(
            &request(),
            ListOffsetsRequest::encode,
            ListOffsetsRequest::decode,
        );
        check_round_trip(
            &response(),
            ListOffsetsResponse::encode,
            ListOffsetsResponse::decode,
        );
        check_truncations(
            &response(),
            ListOffsetsResponse::encode,
            ListOffsetsResponse::decode,
        );
    }

    #[test]
    fn invalid_utf8_names_and_lying_counts_are_rejected() {
        let mut bad = BytesMut::new();
        Writer::new(&mut bad).i32(1).i16(2);
        bad.extend_from_slice(&[0xff, 0xfe]);
        Writer::new(&mut bad).i32(0);
        assert!(ListOffsetsRequest::decode(&bad).is_err());
        let mut huge = BytesMut::new();
        Writer::new(&mut huge).i32(i32::MAX);
        assert!(ListOffsetsRequest::decode(&huge).is_err());
    }
}

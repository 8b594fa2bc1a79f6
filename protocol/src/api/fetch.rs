//! Fetch (key 1): read record batches from partitions, with long-poll.
//!
//! ```text
//! FetchRequest v0
//!   max_wait_ms   int32   longest the broker may hold the request for min_bytes
//!   min_bytes     int32   answer as soon as this many bytes are available
//!   max_bytes     int32   cap on the whole response's record bytes
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition           int32
//!       fetch_offset        int64
//!       partition_max_bytes int32 > >
//!
//! FetchResponse v0
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition         int32
//!       error_code        int16
//!       error_message     nullable_string
//!       high_watermark    int64   offset after the last record a reader may see
//!       log_start_offset  int64
//!       records           bytes   zero or more whole batches, exactly as stored > >
//! ```

use bytes::{Bytes, BytesMut};

use crate::api::{PartitionEntry, TopicEntries};
use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Where to read one partition from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// Partition index.
    pub partition: i32,
    /// Offset to read from.
    pub fetch_offset: i64,
    /// Cap on this partition's record bytes; the first partition with data in a
    /// response gets at least one batch (PROTOCOL.md §5.6).
    pub partition_max_bytes: i32,
}

impl PartitionEntry for FetchPartition {
    const MIN_BYTES: usize = 16;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition)
            .i64(self.fetch_offset)
            .i32(self.partition_max_bytes);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(FetchPartition {
            partition: r.i32("partition")?,
            fetch_offset: r.i64("fetch_offset")?,
            partition_max_bytes: r.i32("partition_max_bytes")?,
        })
    }
}

/// The partitions to read of one topic.
pub type FetchTopic = TopicEntries<FetchPartition>;

/// Reads batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Longest wait for `min_bytes`, in ms.
    pub max_wait_ms: i32,
    /// Bytes that end the wait early.
    pub min_bytes: i32,
    /// Cap on the response's record bytes.
    pub max_bytes: i32,
    /// What to read.
    pub topics: Vec<FetchTopic>,
}

impl FetchRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        w.i32(self.max_wait_ms)
            .i32(self.min_bytes)
            .i32(self.max_bytes);
        FetchTopic::encode_all(&self.topics, &mut w);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "Fetch request");
        let max_wait_ms = r.i32("max_wait_ms")?;
        let min_bytes = r.i32("min_bytes")?;
        let max_bytes = r.i32("max_bytes")?;
        let topics = FetchTopic::decode_all(&mut r)?;
        r.finish()?;
        Ok(FetchRequest {
            max_wait_ms,
            min_bytes,
            max_bytes,
            topics,
        })
    }
}

/// What was read from one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartitionResponse {
    /// Partition index.
    pub partition: i32,
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
    /// Offset after the last record readers may see.
    pub high_watermark: i64,
    /// First offset in the log.
    pub log_start_offset: i64,
    /// Whole batches, as stored.
    pub records: Bytes,
}

impl PartitionEntry for FetchPartitionResponse {
    const MIN_BYTES: usize = 28;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref())
            .i64(self.high_watermark)
            .i64(self.log_start_offset)
            .bytes(&self.records);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(FetchPartitionResponse {
            partition: r.i32("partition")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            high_watermark: r.i64("high_watermark")?,
            log_start_offset: r.i64("log_start_offset")?,
            records: r.shared_bytes("records")?,
        })
    }
}

/// What was read from one topic.
pub type FetchTopicResponse = TopicEntries<FetchPartitionResponse>;

/// The batches read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    /// Per-topic results.
    pub topics: Vec<FetchTopicResponse>,
}

impl FetchResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        FetchTopicResponse::encode_all(&self.topics, &mut Writer::new(buf));
    }

    /// At least the encoded size of the body: names, per partition its fixed
    /// fields and error message, and the record bytes.
    pub fn size_hint(&self) -> usize {
        let topics: usize = self
            .topics
            .iter()
            .map(|t| {
                let partitions: usize = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let message = p.error_message.as_ref().map_or(0, String::len);
                        4 + 2 + 2 + message + 8 + 8 + 4 + p.records.len()
                    })
                    .sum();
                2 + t.name.len() + 4 + partitions
            })
            .sum();
        4 + topics
    }

    /// Decodes a body; the records are copied out of it.
    pub fn decode(body: &[u8]) -> Result<Self> {
        Self::decode_from(Reader::new(body, "Fetch response"))
    }

    /// Decodes a body that lies inside `frame`; the records are slices of `frame`,
    /// not copies (they are nearly all of a fetch answer's bytes).
    pub fn decode_within(frame: &Bytes, body: &[u8]) -> Result<Self> {
        Self::decode_from(Reader::within(frame, body, "Fetch response"))
    }

    fn decode_from(mut r: Reader<'_>) -> Result<Self> {
        let topics = FetchTopicResponse::decode_all(&mut r)?;
        r.finish()?;
        Ok(FetchResponse { topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn request() -> FetchRequest {
        FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                name: "purchases".to_string(),
                partitions: vec![
                    FetchPartition {
                        partition: 0,
                        fetch_offset: 0,
                        partition_max_bytes: 65536,
                    },
                    FetchPartition {
                        partition: 3,
                        fetch_offset: 1_000_000,
                        partition_max_bytes: 1,
                    },
                ],
            }],
        }
    }

    fn response() -> FetchResponse {
        FetchResponse {
            topics: vec![FetchTopicResponse {
                name: "purchases".to_string(),
                partitions: vec![
                    FetchPartitionResponse {
                        partition: 0,
                        error_code: ErrorCode::None,
                        error_message: None,
                        high_watermark: 10,
                        log_start_offset: 0,
                        records: Bytes::from_static(b"stored batch bytes"),
                    },
                    FetchPartitionResponse {
                        partition: 3,
                        error_code: ErrorCode::OffsetOutOfRange,
                        error_message: Some("offset 1000000 is past 10".to_string()),
                        high_watermark: 10,
                        log_start_offset: 0,
                        records: Bytes::new(),
                    },
                ],
            }],
        }
    }

    #[test]
    fn decoding_within_a_frame_shares_the_records_instead_of_copying() {
        let original = response();
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"head");
        original.encode(&mut buf);
        let frame = buf.freeze();
        let decoded = FetchResponse::decode_within(&frame, &frame[4..]).expect("decode");
        assert_eq!(decoded, original);
        assert_eq!(decoded.size_hint(), original.size_hint());
        let records = &decoded.topics[0].partitions[0].records;
        let inside = frame.as_ptr_range();
        assert!(inside.contains(&records.as_ptr()), "records were copied");
        // A body that is not inside the frame is copied, not sliced (no panic).
        let elsewhere = frame[4..].to_vec();
        let copied = FetchResponse::decode_within(&frame, &elsewhere).expect("decode");
        assert_eq!(copied, original);
        assert!(!inside.contains(&copied.topics[0].partitions[0].records.as_ptr()));
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        check_round_trip(&request(), FetchRequest::encode, FetchRequest::decode);
        check_truncations(&request(), FetchRequest::encode, FetchRequest::decode);
        check_round_trip(&response(), FetchResponse::encode, FetchResponse::decode);
        check_truncations(&response(), FetchResponse::encode, FetchResponse::decode);
    }

    #[test]
    fn lying_counts_and_trailing_bytes_are_rejected() {
        let mut huge = BytesMut::new();
        Writer::new(&mut huge).i32(0).i32(0).i32(0).i32(i32::MAX);
        assert!(FetchRequest::decode(&huge).is_err());
        let mut buf = BytesMut::new();
        response().encode(&mut buf);
        buf.extend_from_slice(&[1, 2]);
        assert!(FetchResponse::decode(&buf).is_err());
    }
}

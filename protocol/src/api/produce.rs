//! Produce (key 0): append record batches to partitions.
//!
//! ```text
//! ProduceRequest v0
//!   acks          int16   -1 = after fsync per the topic's policy, 0 = no response
//!                         body is awaited by the client, 1 = after the write
//!   timeout_ms    int32
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition     int32
//!       records       bytes   one or more whole record batches, back to back > >
//!
//! ProduceResponse v0
//!   topics        array<
//!     name          string
//!     partitions    array<
//!       partition         int32
//!       error_code        int16
//!       error_message     nullable_string
//!       base_offset       int64   offset of the first record, -1 on error
//!       log_append_time_ms int64  -1 (create time is kept)
//!       log_start_offset  int64 > >
//! ```

use bytes::{Bytes, BytesMut};

use crate::api::{PartitionEntry, TopicEntries};
use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Batches for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartition {
    /// Partition index.
    pub partition: i32,
    /// Whole record batches, back to back (not parsed by the codec).
    pub records: Bytes,
}

impl PartitionEntry for ProducePartition {
    const MIN_BYTES: usize = 8;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition).bytes(&self.records);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ProducePartition {
            partition: r.i32("partition")?,
            records: Bytes::copy_from_slice(r.bytes("records")?),
        })
    }
}

/// Record sets of at least this many bytes are linked, not copied, by
/// [`ProduceRequest::encode_linked`]: below it a copy costs less than a separate
/// piece of a vectored write.
pub const LINK_MIN_BYTES: usize = 16 * 1024;

/// Batches for one topic.
pub type ProduceTopic = TopicEntries<ProducePartition>;

/// Appends batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    /// -1, 0 or 1 (other values are answered with `InvalidRequiredAcks`).
    pub acks: i16,
    /// Any value: the broker does not use it (PROTOCOL.md §5.5).
    pub timeout_ms: i32,
    /// What to append.
    pub topics: Vec<ProduceTopic>,
}

impl ProduceRequest {
    /// At least the encoded size of the body: fixed fields, names, and per
    /// partition its index, length prefix and record bytes.
    pub fn size_hint(&self) -> usize {
        let topics: usize = self
            .topics
            .iter()
            .map(|t| {
                let partitions: usize = t.partitions.iter().map(|p| 8 + p.records.len()).sum();
                2 + t.name.len() + 4 + partitions
            })
            .sum();
        2 + 4 + 4 + topics
    }

    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        w.i16(self.acks).i32(self.timeout_ms);
        ProduceTopic::encode_all(&self.topics, &mut w);
    }

    /// Encodes the body as [`ProduceRequest::encode`] does, in pieces, so a
    /// vectored write can send record sets from where they already are. Fixed
    /// fields and small record sets are appended to `buf`; for a record set of at
    /// least [`LINK_MIN_BYTES`], what `buf` holds is moved to `parts` and the
    /// record set follows it there as a shared handle (no copy). Afterwards
    /// `parts`, then what is left in `buf`, are exactly `encode`'s bytes.
    pub fn encode_linked(&self, buf: &mut BytesMut, parts: &mut Vec<Bytes>) {
        Writer::new(buf)
            .i16(self.acks)
            .i32(self.timeout_ms)
            .i32(self.topics.len() as i32);
        for topic in &self.topics {
            Writer::new(buf)
                .string(&topic.name)
                .i32(topic.partitions.len() as i32);
            for p in &topic.partitions {
                if p.records.len() < LINK_MIN_BYTES {
                    p.encode(&mut Writer::new(buf));
                    continue;
                }
                Writer::new(buf)
                    .i32(p.partition)
                    .i32(p.records.len() as i32);
                parts.push(buf.split().freeze());
                parts.push(p.records.clone());
            }
        }
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "Produce request");
        let acks = r.i16("acks")?;
        let timeout_ms = r.i32("timeout_ms")?;
        let topics = ProduceTopic::decode_all(&mut r)?;
        r.finish()?;
        Ok(ProduceRequest {
            acks,
            timeout_ms,
            topics,
        })
    }
}

/// The outcome for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducePartitionResponse {
    /// Partition index.
    pub partition: i32,
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
    /// Offset of the first appended record, -1 on error.
    pub base_offset: i64,
    /// Broker append time, or -1.
    pub log_append_time_ms: i64,
    /// First offset in the partition's log.
    pub log_start_offset: i64,
}

impl PartitionEntry for ProducePartitionResponse {
    const MIN_BYTES: usize = 32;
    fn encode(&self, w: &mut Writer<'_>) {
        w.i32(self.partition)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref())
            .i64(self.base_offset)
            .i64(self.log_append_time_ms)
            .i64(self.log_start_offset);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ProducePartitionResponse {
            partition: r.i32("partition")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            base_offset: r.i64("base_offset")?,
            log_append_time_ms: r.i64("log_append_time_ms")?,
            log_start_offset: r.i64("log_start_offset")?,
        })
    }
}

/// The outcome for one topic.
pub type ProduceTopicResponse = TopicEntries<ProducePartitionResponse>;

/// Where the batches landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse {
    /// Per-topic outcomes.
    pub topics: Vec<ProduceTopicResponse>,
}

impl ProduceResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        ProduceTopicResponse::encode_all(&self.topics, &mut Writer::new(buf));
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "Produce response");
        let topics = ProduceTopicResponse::decode_all(&mut r)?;
        r.finish()?;
        Ok(ProduceResponse { topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn request() -> ProduceRequest {
        ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topics: vec![
                ProduceTopic {
                    name: "purchases".to_string(),
                    partitions: vec![
                        ProducePartition {
                            partition: 0,
                            records: Bytes::from_static(b"batch-bytes"),
                        },
                        ProducePartition {
                            partition: 5,
                            records: Bytes::new(),
                        },
                    ],
                },
                ProduceTopic {
                    name: "audit".to_string(),
                    partitions: vec![],
                },
            ],
        }
    }

    fn response() -> ProduceResponse {
        ProduceResponse {
            topics: vec![ProduceTopicResponse {
                name: "purchases".to_string(),
                partitions: vec![
                    ProducePartitionResponse {
                        partition: 0,
                        error_code: ErrorCode::None,
                        error_message: None,
                        base_offset: 42,
                        log_append_time_ms: -1,
                        log_start_offset: 0,
                    },
                    ProducePartitionResponse {
                        partition: 9,
                        error_code: ErrorCode::UnknownTopicOrPartition,
                        error_message: Some("partition 9 of purchases does not exist".to_string()),
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                    },
                ],
            }],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        check_round_trip(&request(), ProduceRequest::encode, ProduceRequest::decode);
        check_truncations(&request(), ProduceRequest::encode, ProduceRequest::decode);
        check_round_trip(
            &response(),
            ProduceResponse::encode,
            ProduceResponse::decode,
        );
        check_truncations(
            &response(),
            ProduceResponse::encode,
            ProduceResponse::decode,
        );
    }

    #[test]
    fn lying_counts_and_trailing_bytes_are_rejected() {
        let mut huge = BytesMut::new();
        Writer::new(&mut huge).i16(1).i32(1000).i32(i32::MAX);
        assert!(ProduceRequest::decode(&huge).is_err());
        let mut buf = BytesMut::new();
        request().encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(ProduceRequest::decode(&buf).is_err());
    }

    proptest::proptest! {
        /// The linked encoding is the plain one, cut into pieces: record sets at or
        /// over the threshold are their own pieces, shared with the request.
        #[test]
        fn linked_encoding_is_the_plain_encoding(
            sizes in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![0..64usize, LINK_MIN_BYTES - 2..LINK_MIN_BYTES + 2],
                    0..4,
                ),
                0..4,
            ),
            prefix in proptest::collection::vec(proptest::num::u8::ANY, 0..8),
        ) {
            let request = ProduceRequest {
                acks: 1,
                timeout_ms: 7,
                topics: sizes
                    .iter()
                    .enumerate()
                    .map(|(t, partitions)| ProduceTopic {
                        name: format!("topic-{t}"),
                        partitions: (0..)
                            .zip(partitions)
                            .map(|(partition, &len)| ProducePartition {
                                partition,
                                records: Bytes::from(vec![partition as u8; len]),
                            })
                            .collect(),
                    })
                    .collect(),
            };
            let mut plain = BytesMut::from(&prefix[..]);
            request.encode(&mut plain);
            let (mut buf, mut parts) = (BytesMut::from(&prefix[..]), Vec::new());
            request.encode_linked(&mut buf, &mut parts);
            let mut joined = parts.concat();
            joined.extend_from_slice(&buf);
            proptest::prop_assert_eq!(&joined[..], &plain[..]);
            let shared = request
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .filter(|p| p.records.len() >= LINK_MIN_BYTES)
                .all(|p| parts.iter().any(|part| part.as_ptr() == p.records.as_ptr()));
            proptest::prop_assert!(shared, "a large record set was copied");
        }
    }
}

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

impl FetchPartitionResponse {
    /// Writes every field up to and including the records' length prefix, which
    /// says `records_len` bytes follow.
    fn encode_head(&self, w: &mut Writer<'_>, records_len: i32) {
        w.i32(self.partition)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref())
            .i64(self.high_watermark)
            .i64(self.log_start_offset)
            .i32(records_len);
    }
}

impl PartitionEntry for FetchPartitionResponse {
    const MIN_BYTES: usize = 28;
    fn encode(&self, w: &mut Writer<'_>) {
        self.encode_head(w, self.records.len() as i32);
        w.raw(&self.records);
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

/// Record bytes an encoding leaves out: `len` bytes that belong at position `at` of
/// the buffer, for partition `partition` of topic `topic` (indexes into the
/// response's lists). See [`FetchResponse::encode_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    /// Position in the encoded buffer where the bytes go.
    pub at: usize,
    /// How many bytes go there.
    pub len: usize,
    /// Index of the topic in [`FetchResponse::topics`].
    pub topic: usize,
    /// Index of the partition in that topic's `partitions`.
    pub partition: usize,
}

impl FetchResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        FetchTopicResponse::encode_all(&self.topics, &mut Writer::new(buf));
    }

    /// Appends the body as [`FetchResponse::encode`] would if each partition's
    /// records were followed by `external(topic, partition)` more bytes (indexes
    /// into the lists), without writing those bytes: the returned splices, in
    /// buffer order, say where each belongs. The buffer with every splice's bytes
    /// inserted at its `at` is exactly the body of the response with those bytes
    /// appended to the records, so a server can send stored batches from a file
    /// between the buffer's pieces. Fails, writing nothing, if a partition's
    /// records would exceed the 2 GiB a length field can say.
    pub fn encode_with(
        &self,
        buf: &mut BytesMut,
        mut external: impl FnMut(usize, usize) -> usize,
    ) -> Result<Vec<Splice>> {
        let mut lens = Vec::new();
        for (ti, t) in self.topics.iter().enumerate() {
            for (pi, p) in t.partitions.iter().enumerate() {
                let extra = external(ti, pi);
                let total = p
                    .records
                    .len()
                    .checked_add(extra)
                    .and_then(|n| i32::try_from(n).ok())
                    .ok_or_else(|| crate::Error::Invalid {
                        what: "Fetch response records",
                        detail: format!(
                            "{} + {extra} record bytes for partition {} of {:?} exceed the 2 GiB a length field holds",
                            p.records.len(),
                            p.partition,
                            t.name
                        ),
                    })?;
                lens.push((total, extra));
            }
        }
        let mut lens = lens.into_iter();
        let mut splices = Vec::new();
        let mut w = Writer::new(buf);
        w.i32(self.topics.len() as i32);
        for (ti, t) in self.topics.iter().enumerate() {
            w.string(&t.name).i32(t.partitions.len() as i32);
            for (pi, p) in t.partitions.iter().enumerate() {
                let (total, extra) = lens.next().unwrap_or_default();
                p.encode_head(&mut w, total);
                w.raw(&p.records);
                if extra > 0 {
                    splices.push(Splice {
                        at: w.len(),
                        len: extra,
                        topic: ti,
                        partition: pi,
                    });
                }
            }
        }
        Ok(splices)
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
    fn encode_with_leaves_out_exactly_the_external_bytes() {
        let mut response = response();
        response.topics.push(FetchTopicResponse {
            name: "returns".to_string(),
            partitions: vec![FetchPartitionResponse {
                partition: 1,
                error_code: ErrorCode::None,
                error_message: None,
                high_watermark: 4,
                log_start_offset: 0,
                records: Bytes::new(),
            }],
        });
        // External bytes for some partitions (after inline ones for the first).
        let external = |t: usize, p: usize| -> Vec<u8> {
            match (t, p) {
                (0, 0) => b"-and-more-from-a-file".to_vec(),
                (1, 0) => vec![7u8; 300],
                _ => Vec::new(),
            }
        };
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"header");
        let splices = response
            .encode_with(&mut buf, |t, p| external(t, p).len())
            .expect("encode");
        assert_eq!(splices.len(), 2);
        let mut sent = Vec::new();
        let mut from = 0;
        for s in &splices {
            assert!(s.at >= from, "splices out of order: {splices:?}");
            sent.extend_from_slice(&buf[from..s.at]);
            let bytes = external(s.topic, s.partition);
            assert_eq!(bytes.len(), s.len);
            sent.extend_from_slice(&bytes);
            from = s.at;
        }
        sent.extend_from_slice(&buf[from..]);
        let mut whole = response.clone();
        for (t, topic) in whole.topics.iter_mut().enumerate() {
            for (p, part) in topic.partitions.iter_mut().enumerate() {
                let mut records = part.records.to_vec();
                records.extend(external(t, p));
                part.records = Bytes::from(records);
            }
        }
        let mut expected = BytesMut::new();
        expected.extend_from_slice(b"header");
        whole.encode(&mut expected);
        assert_eq!(sent, expected.to_vec());
        assert_eq!(FetchResponse::decode(&sent[6..]).expect("decode"), whole);
    }

    #[test]
    fn encode_with_refuses_records_past_a_length_field() {
        let mut buf = BytesMut::new();
        let err = response()
            .encode_with(&mut buf, |_, _| i32::MAX as usize)
            .expect_err("too long");
        assert!(err.to_string().contains("2 GiB"), "{err}");
        assert!(buf.is_empty(), "wrote {} bytes before failing", buf.len());
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

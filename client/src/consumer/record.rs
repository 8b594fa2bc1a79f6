//! What a consumer hands out, and how a partition's fetched bytes become it.
//!
//! A Fetch answer carries whole stored batches, starting with the batch that holds
//! the requested offset, so it may begin with records below it: [`decode`] skips
//! those by offset. Keys, values and header values are zero-copy slices of the
//! response buffer ([`Bytes`]), so a poll's records share one allocation. A batch cut
//! short at the end of the answer (possible when a broker trims to its byte caps) is
//! left for the next fetch; a batch that fails its CRC or structure check is an
//! error, never silently skipped.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use rill_protocol::RecordBatch;

use super::config::ConsumerConfig;
use crate::error::{Error, Result};

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`'s partition `partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// One record read from a partition.
///
/// `key`, `value` and header values are slices of the fetch answer they arrived
/// in, not copies: a record kept alive keeps the buffer that answer was read into
/// (a few times `fetch_max_bytes` at most) in memory. Copy out what you keep for
/// long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic (shared by every record of the partition).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp, ms since the Unix epoch (the producer's clock).
    pub timestamp: i64,
    /// Its key, if it has one.
    pub key: Option<Bytes>,
    /// Its value, if it has one.
    pub value: Option<Bytes>,
    /// Its headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

impl ConsumerRecord {
    /// The partition it came from.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
    }
}

/// The records of one partition from one fetch answer.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// Records at or after the fetch offset, in offset order.
    pub records: Vec<ConsumerRecord>,
    /// Where the next fetch of this partition starts: after the last whole batch
    /// (past any records compaction removed), or the fetch offset if none.
    pub next_offset: i64,
}

/// Decodes the record batches of a partition's fetch answer, keeping records at or
/// after `fetch_offset`.
pub(crate) fn decode(
    topic: &Arc<str>,
    partition: i32,
    fetch_offset: i64,
    data: &Bytes,
    config: &ConsumerConfig,
) -> Result<Decoded> {
    let corrupt = |offset: i64, detail: String| Error::Protocol {
        addr: String::new(),
        detail: format!("corrupt batch at offset {offset} of {topic}/{partition}: {detail}"),
    };
    let mut records = Vec::new();
    let mut next_offset = fetch_offset;
    let mut rest: &[u8] = data;
    while !rest.is_empty() {
        let (batch, after) = match RecordBatch::split_first(rest) {
            Ok(split) => split,
            // A trailing partial batch: fetch it whole next time.
            Err(rill_protocol::Error::Truncated { .. }) => break,
            Err(e) => return Err(corrupt(next_offset, e.to_string())),
        };
        rest = after;
        if batch.next_offset() <= fetch_offset {
            continue;
        }
        if batch.header().is_control() {
            next_offset = next_offset.max(batch.next_offset());
            continue;
        }
        // A compressed batch's records come from their own buffer.
        let decompressed = batch
            .decompressed_records(config.max_decompressed_bytes)
            .map_err(|e| corrupt(batch.base_offset(), e.to_string()))?;
        let (section, source) = match &decompressed {
            Some(owned) => (&owned[..], owned),
            None => (batch.stored_records(), data),
        };
        if config.check_crcs {
            batch
                .validate_section(section)
                .map_err(|e| corrupt(batch.base_offset(), e.to_string()))?;
        }
        for record in batch.records_in(section) {
            let record = record.map_err(|e| corrupt(batch.base_offset(), e.to_string()))?;
            if record.offset < fetch_offset {
                continue;
            }
            records.push(ConsumerRecord {
                topic: topic.clone(),
                partition,
                offset: record.offset,
                timestamp: record.timestamp,
                key: record.key.map(|k| source.slice_ref(k)),
                value: record.value.map(|v| source.slice_ref(v)),
                headers: record
                    .headers
                    .map(|h| (h.key.to_string(), h.value.map(|v| source.slice_ref(v))))
                    .collect(),
            });
        }
        next_offset = next_offset.max(batch.next_offset());
    }
    Ok(Decoded {
        records,
        next_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::{BatchBuilder, ProducerInfo};

    fn batch(base: i64, values: &[&str]) -> Vec<u8> {
        let mut b = BatchBuilder::new(ProducerInfo::NONE);
        for (i, v) in values.iter().enumerate() {
            b.push(1_000 + i as i64, Some(b"k"), Some(v.as_bytes()), &[]);
        }
        let mut bytes = b.finish();
        rill_protocol::batch::stamp_base_offset(&mut bytes, base).expect("stamp");
        bytes
    }

    #[test]
    fn skips_records_below_the_fetch_offset_and_keeps_partial_batches_for_later() {
        let mut data = batch(0, &["a", "b", "c"]);
        data.extend(batch(3, &["d", "e"]));
        let whole = data.len();
        data.extend(&batch(5, &["f"])[..20]);
        let data = Bytes::from(data);
        let topic: Arc<str> = Arc::from("t");
        let d = decode(&topic, 0, 1, &data, &ConsumerConfig::default()).expect("decode");
        let values: Vec<&[u8]> = d
            .records
            .iter()
            .map(|r| &r.value.as_ref().expect("value")[..])
            .collect();
        assert_eq!(values, [&b"b"[..], b"c", b"d", b"e"]);
        assert_eq!(d.records[0].offset, 1);
        assert_eq!(d.next_offset, 5);
        assert_eq!(d.records[3].key.as_deref(), Some(&b"k"[..]));
        assert!(whole < data.len());
    }

    #[test]
    fn control_batches_are_skipped() {
        let mut builder =
            BatchBuilder::new(ProducerInfo::NONE).attributes(rill_protocol::batch::CONTROL_BIT);
        builder.push(1_000, None, Some(b"raft"), &[]);
        let mut control = builder.finish();
        rill_protocol::batch::stamp_base_offset(&mut control, 2).expect("stamp");
        let mut data = batch(0, &["a", "b"]);
        data.extend(control);
        data.extend(batch(3, &["c"]));
        let topic: Arc<str> = Arc::from("t");
        let d =
            decode(&topic, 0, 0, &Bytes::from(data), &ConsumerConfig::default()).expect("decode");
        let offsets: Vec<i64> = d.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1, 3]);
        assert_eq!(d.next_offset, 4);
    }

    #[test]
    fn a_corrupt_batch_is_an_error() {
        let mut data = batch(0, &["a", "b"]);
        let last = data.len() - 1;
        data[last] ^= 0xff;
        let topic: Arc<str> = Arc::from("t");
        let err = decode(&topic, 2, 0, &Bytes::from(data), &ConsumerConfig::default())
            .expect_err("corrupt");
        assert!(err.to_string().contains("t/2"), "{err}");
    }

    #[test]
    fn offsets_at_the_top_of_the_range_do_not_overflow() {
        // A broker (or a hostile proxy) may send any base offset.
        let topic: Arc<str> = Arc::from("t");
        for base in [i64::MAX - 1, i64::MAX] {
            let data = Bytes::from(batch(base, &["a", "b", "c"]));
            let d =
                decode(&topic, 0, i64::MAX - 5, &data, &ConsumerConfig::default()).expect("decode");
            assert_eq!(d.next_offset, i64::MAX, "base {base}");
        }
    }

    #[test]
    fn compressed_batches_yield_the_same_records_within_the_bound() {
        let topic: Arc<str> = Arc::from("t");
        let values: Vec<String> = (0..200)
            .map(|i| format!("purchase {i} of a shop"))
            .collect();
        let plain = {
            let mut b = BatchBuilder::new(ProducerInfo::NONE);
            for (i, v) in values.iter().enumerate() {
                b.push(1_000 + i as i64, Some(b"k"), Some(v.as_bytes()), &[]);
            }
            b.finish()
        };
        let expected = decode(
            &topic,
            0,
            0,
            &Bytes::from(plain),
            &ConsumerConfig::default(),
        )
        .expect("plain");
        for codec in rill_protocol::Compression::ALL {
            let mut b = BatchBuilder::new(ProducerInfo::NONE).compression(codec);
            for (i, v) in values.iter().enumerate() {
                b.push(1_000 + i as i64, Some(b"k"), Some(v.as_bytes()), &[]);
            }
            let data = Bytes::from(b.finish());
            let d = decode(&topic, 0, 0, &data, &ConsumerConfig::default()).expect("decode");
            assert_eq!(d.records, expected.records, "{codec}");
            assert_eq!(d.next_offset, 200, "{codec}");
            if codec != rill_protocol::Compression::None {
                let tight = ConsumerConfig::default().max_decompressed_bytes(100);
                let err = decode(&topic, 0, 0, &data, &tight).expect_err("over the bound");
                assert!(
                    err.to_string().contains("more than 100 bytes"),
                    "{codec}: {err}"
                );
            }
        }
    }
}

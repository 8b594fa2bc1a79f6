//! Building record batches.
//!
//! [`BatchBuilder`] encodes records one at a time into a single buffer that already
//! has room for the header, then fills in the header and CRC in [`BatchBuilder::finish`].
//! Producers use it to batch records; storage's compactor uses it to rewrite batches
//! with explicit (possibly gapped) offset deltas.

use super::compression::Compression;
use super::header::ProducerInfo;
use super::layout::{
    ATTRIBUTES_AT, BATCH_HEADER_LEN, COMPRESSION_MASK, CRC_AT, LOG_OVERHEAD, MAGIC,
};
use crate::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// A record header as the builder writes it: a key and a value that may be null.
/// Implemented for `(&str, Option<&[u8]>)` and, for headers that always have a
/// value, `(&str, &[u8])`, so either form of a caller's slice is used as it is.
trait HeaderField {
    fn key(&self) -> &str;
    fn value(&self) -> Option<&[u8]>;
}

impl HeaderField for (&str, Option<&[u8]>) {
    fn key(&self) -> &str {
        self.0
    }

    fn value(&self) -> Option<&[u8]> {
        self.1
    }
}

impl HeaderField for (&str, &[u8]) {
    fn key(&self) -> &str {
        self.0
    }

    fn value(&self) -> Option<&[u8]> {
        Some(self.1)
    }
}

/// Encodes records into one batch.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    buf: Vec<u8>,
    producer: ProducerInfo,
    attributes: u16,
    compression: Compression,
    first_timestamp: Option<i64>,
    max_timestamp: i64,
    last_offset_delta: i32,
    span_last_offset_delta: i32,
    count: i32,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new(ProducerInfo::NONE)
    }
}

impl BatchBuilder {
    /// A builder for a batch from `producer` (use [`ProducerInfo::NONE`] when not
    /// idempotent).
    pub fn new(producer: ProducerInfo) -> Self {
        Self::with_capacity(producer, 16 * 1024)
    }

    /// Like [`BatchBuilder::new`], reserving `capacity` bytes up front.
    pub fn with_capacity(producer: ProducerInfo, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(BATCH_HEADER_LEN));
        buf.resize(BATCH_HEADER_LEN, 0);
        BatchBuilder {
            buf,
            producer,
            attributes: 0,
            compression: Compression::None,
            first_timestamp: None,
            max_timestamp: i64::MIN,
            last_offset_delta: -1,
            span_last_offset_delta: 0,
            count: 0,
        }
    }

    /// Sets the raw attribute bits other than the codec's (see
    /// [`BatchBuilder::compression`]).
    pub fn attributes(mut self, attributes: u16) -> Self {
        self.attributes = attributes & !COMPRESSION_MASK;
        self
    }

    /// Compresses the records with `codec` when the batch is finished.
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = codec;
        self
    }

    /// Makes the batch span at least `last_offset_delta + 1` offsets and carry at
    /// least `max_timestamp`, and measures record timestamps from `first_timestamp`.
    ///
    /// Compaction uses this to rewrite a batch with fewer records while keeping its
    /// header's offset span and timestamps, so the log stays gap-free between batches.
    /// Call before pushing any record.
    pub fn keep_span(
        mut self,
        first_timestamp: i64,
        last_offset_delta: i32,
        max_timestamp: i64,
    ) -> Self {
        self.first_timestamp = Some(first_timestamp);
        self.span_last_offset_delta = last_offset_delta;
        self.max_timestamp = max_timestamp;
        self
    }

    /// Appends a record with the next offset delta.
    pub fn push(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) {
        let delta = self.last_offset_delta + 1;
        self.push_any(delta, timestamp, key, value, headers);
    }

    /// As [`BatchBuilder::push`], for headers that all have a value (none is null).
    pub fn push_valued(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) {
        let delta = self.last_offset_delta + 1;
        self.push_any(delta, timestamp, key, value, headers);
    }

    /// Appends a record with an explicit offset delta, which must be greater than the
    /// previous record's (compaction keeps the offsets of surviving records).
    pub fn push_with_delta(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
    ) {
        self.push_any(offset_delta, timestamp, key, value, headers);
    }

    fn push_any<H: HeaderField>(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[H],
    ) {
        debug_assert!(offset_delta > self.last_offset_delta);
        let first = *self.first_timestamp.get_or_insert(timestamp);
        let timestamp_delta = timestamp.wrapping_sub(first);
        let body_len = 1
            + varlong_len(timestamp_delta)
            + varint_len(offset_delta)
            + bytes_len(key)
            + bytes_len(value)
            + varint_len(headers.len() as i32)
            + headers
                .iter()
                .map(|h| varint_len(h.key().len() as i32) + h.key().len() + bytes_len(h.value()))
                .sum::<usize>();
        let buf = &mut self.buf;
        put_varint(buf, body_len as i32);
        buf.push(0);
        put_varlong(buf, timestamp_delta);
        put_varint(buf, offset_delta);
        put_bytes(buf, key);
        put_bytes(buf, value);
        put_varint(buf, headers.len() as i32);
        for h in headers {
            put_varint(buf, h.key().len() as i32);
            buf.extend_from_slice(h.key().as_bytes());
            put_bytes(buf, h.value());
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.last_offset_delta = offset_delta;
        self.count += 1;
    }

    /// Number of records pushed so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size in bytes the finished batch will have before compression.
    pub fn size(&self) -> usize {
        self.buf.len()
    }

    /// Fills in the header and CRC and returns the finished batch, with base offset 0
    /// and leader epoch -1 (the broker stamps both).
    /// Compresses the records first when a codec was set.
    pub fn finish(self) -> Vec<u8> {
        let mut buf = self.buf;
        if self.compression != Compression::None {
            let compressed = self.compression.compress(&buf[BATCH_HEADER_LEN..]);
            buf.truncate(BATCH_HEADER_LEN);
            buf.extend_from_slice(&compressed);
        }
        let attributes = self.attributes | u16::from(self.compression.id());
        let first = self.first_timestamp.unwrap_or(-1);
        let max = if self.max_timestamp == i64::MIN {
            -1
        } else {
            self.max_timestamp
        };
        let last_offset_delta = self.last_offset_delta.max(self.span_last_offset_delta);
        let length = (buf.len() - LOG_OVERHEAD) as i32;
        let p = self.producer;
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            buf[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&0i64.to_be_bytes());
        put(&length.to_be_bytes());
        put(&(-1i32).to_be_bytes());
        put(&[MAGIC as u8]);
        put(&0u32.to_be_bytes());
        put(&attributes.to_be_bytes());
        put(&last_offset_delta.to_be_bytes());
        put(&first.to_be_bytes());
        put(&max.to_be_bytes());
        put(&p.producer_id.to_be_bytes());
        put(&p.producer_epoch.to_be_bytes());
        put(&p.base_sequence.to_be_bytes());
        put(&self.count.to_be_bytes());
        debug_assert_eq!(at, BATCH_HEADER_LEN);
        let crc = crc32fast::hash(&buf[ATTRIBUTES_AT..]);
        buf[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        buf
    }
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => varint_len(-1),
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(buf, -1),
        Some(b) => {
            put_varint(buf, b.len() as i32);
            buf.extend_from_slice(b);
        }
    }
}

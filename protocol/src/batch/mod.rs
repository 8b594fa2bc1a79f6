//! The record batch: Rill's unit of production, storage and consumption.
//!
//! A batch is laid out field for field like Apache Kafka's RecordBatch v2 (same order,
//! widths and record encoding) with two differences: the magic byte is Rill's own
//! ([`MAGIC`]) and the checksum is CRC-32 (IEEE, as computed by `crc32fast`) rather
//! than CRC-32C. A Kafka-wire gateway can therefore convert a batch by re-stamping
//! the magic and the CRC without re-encoding any record.
//!
//! All fixed-width integers are big-endian.
//!
//! ```text
//! offset size field
//!      0    8 base_offset          i64   offset of the first record (stamped by the broker)
//!      8    4 length               i32   bytes that follow this field
//!     12    4 leader_epoch         i32   (stamped by the broker)
//!     16    1 magic                i8    = MAGIC
//!     17    4 crc                  u32   CRC-32 of bytes 21..end
//!     21    2 attributes           i16   bits 0-2 compression (0 = none), 3 timestamp type,
//!                                        4 transactional, 5 control, 6 delete horizon
//!     23    4 last_offset_delta    i32   offset of the last record minus base_offset
//!     27    8 first_timestamp      i64   timestamp of the first record (ms since epoch)
//!     35    8 max_timestamp        i64   largest record timestamp
//!     43    8 producer_id          i64   -1 when not idempotent
//!     51    2 producer_epoch       i16
//!     53    4 base_sequence        i32
//!     57    4 record_count         i32
//!     61    … records
//! ```
//!
//! Each record is encoded with zigzag varints ([`crate::varint`]):
//!
//! ```text
//! length varint | attributes i8 | timestamp_delta varlong | offset_delta varint |
//! key_len varint (-1 = null) | key | value_len varint (-1 = null) | value |
//! header_count varint | { key_len varint | key (UTF-8) | value_len varint | value }*
//! ```
//!
//! The CRC does not cover `base_offset`, `length` or `leader_epoch`, so the broker
//! assigns offsets by rewriting them in place ([`stamp_base_offset`]).
//!
//! Invariants of a batch that passed [`RecordBatch::validate`]: the length field
//! matches the bytes, the magic and CRC are right, every record parses and together
//! they fill the batch exactly, offset deltas strictly increase within
//! `0..=last_offset_delta`, and no record is newer than `max_timestamp`. A batch from
//! a producer also passes [`RecordBatch::validate_produced`]: deltas are exactly
//! `0..count` and `max_timestamp` is the newest record's.

mod builder;
mod checked;
mod record;
mod validate;

pub use builder::BatchBuilder;
pub use checked::CheckedBatch;
pub use record::{Header, Headers, Record, Records};

use crate::{Error, Result};

/// Rill's batch format magic byte (Kafka's RecordBatch v2 uses 2).
pub const MAGIC: i8 = 0x52;
/// Size of the fixed batch header, up to and including `record_count`.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the part of the batch that `length` counts: base offset and length.
pub const LOG_OVERHEAD: usize = 12;

pub(crate) const LENGTH_AT: usize = 8;
pub(crate) const LEADER_EPOCH_AT: usize = 12;
pub(crate) const MAGIC_AT: usize = 16;
pub(crate) const CRC_AT: usize = 17;
pub(crate) const ATTRIBUTES_AT: usize = 21;
pub(crate) const LAST_OFFSET_DELTA_AT: usize = 23;
pub(crate) const FIRST_TIMESTAMP_AT: usize = 27;
pub(crate) const MAX_TIMESTAMP_AT: usize = 35;
pub(crate) const PRODUCER_ID_AT: usize = 43;
pub(crate) const PRODUCER_EPOCH_AT: usize = 51;
pub(crate) const BASE_SEQUENCE_AT: usize = 53;
pub(crate) const RECORD_COUNT_AT: usize = 57;

/// Attribute bits 0..=2: the compression codec.
pub const COMPRESSION_MASK: u16 = 0x07;
/// Attribute bit 3: timestamps are log-append time rather than create time.
pub const TIMESTAMP_TYPE_BIT: u16 = 0x08;
/// Attribute bits that the format defines (0..=6).
pub const DEFINED_ATTRIBUTES: u16 = 0x7f;

/// Idempotent-producer identity carried in a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerInfo {
    /// Producer id, or -1 for a non-idempotent producer.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the batch's first record, or -1.
    pub base_sequence: i32,
}

impl ProducerInfo {
    /// The identity of a producer that does not use idempotence.
    pub const NONE: ProducerInfo = ProducerInfo {
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
    };
}

impl Default for ProducerInfo {
    fn default() -> Self {
        Self::NONE
    }
}

/// The fixed-size header of a batch, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes following the length field.
    pub length: i32,
    /// Leader epoch the batch was appended under.
    pub leader_epoch: i32,
    /// Format magic.
    pub magic: i8,
    /// Stored CRC-32.
    pub crc: u32,
    /// Attribute bits.
    pub attributes: u16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub first_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent-producer identity.
    pub producer: ProducerInfo,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// Decodes the fixed header from the front of `bytes` (which may be longer).
    ///
    /// This reads fields only; it checks nothing beyond there being enough bytes.
    pub fn parse(bytes: &[u8]) -> Result<BatchHeader> {
        if bytes.len() < BATCH_HEADER_LEN {
            return Err(Error::Truncated {
                what: "batch header",
                needed: BATCH_HEADER_LEN,
                available: bytes.len(),
            });
        }
        Ok(BatchHeader {
            base_offset: read_i64(bytes, 0),
            length: read_i32(bytes, LENGTH_AT),
            leader_epoch: read_i32(bytes, LEADER_EPOCH_AT),
            magic: bytes[MAGIC_AT] as i8,
            crc: read_i32(bytes, CRC_AT) as u32,
            attributes: read_i16(bytes, ATTRIBUTES_AT) as u16,
            last_offset_delta: read_i32(bytes, LAST_OFFSET_DELTA_AT),
            first_timestamp: read_i64(bytes, FIRST_TIMESTAMP_AT),
            max_timestamp: read_i64(bytes, MAX_TIMESTAMP_AT),
            producer: ProducerInfo {
                producer_id: read_i64(bytes, PRODUCER_ID_AT),
                producer_epoch: read_i16(bytes, PRODUCER_EPOCH_AT),
                base_sequence: read_i32(bytes, BASE_SEQUENCE_AT),
            },
            record_count: read_i32(bytes, RECORD_COUNT_AT),
        })
    }

    /// Total size of the batch on the wire and on disk, if `length` is sane.
    pub fn total_len(&self) -> Option<usize> {
        usize::try_from(self.length).ok()?.checked_add(LOG_OVERHEAD)
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        // Saturating: the base offset may come from the network, unvalidated.
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset right after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }
}

/// A borrowed view of one complete record batch.
///
/// Constructing one with [`RecordBatch::new`] checks only that the bytes hold a
/// header whose length field matches; call [`RecordBatch::validate`] before trusting
/// the contents.
#[derive(Debug, Clone, Copy)]
pub struct RecordBatch<'a> {
    bytes: &'a [u8],
    header: BatchHeader,
}

impl<'a> RecordBatch<'a> {
    /// Wraps `bytes`, which must be exactly one batch.
    pub fn new(bytes: &'a [u8]) -> Result<RecordBatch<'a>> {
        let header = BatchHeader::parse(bytes)?;
        let actual = bytes.len() - LOG_OVERHEAD;
        if usize::try_from(header.length).ok() != Some(actual) {
            return Err(Error::LengthMismatch {
                declared: i64::from(header.length),
                actual,
            });
        }
        Ok(RecordBatch { bytes, header })
    }

    /// Splits the first batch off the front of `bytes`, returning it and the rest.
    ///
    /// Fails if the front is not a whole batch (the header or the body is cut short,
    /// or the length field is smaller than a header).
    pub fn split_first(bytes: &'a [u8]) -> Result<(RecordBatch<'a>, &'a [u8])> {
        let header = BatchHeader::parse(bytes)?;
        let total = header
            .total_len()
            .filter(|&n| n >= BATCH_HEADER_LEN)
            .ok_or_else(|| Error::Invalid {
                what: "batch length",
                detail: format!(
                    "{} is below the minimum of {}",
                    header.length,
                    BATCH_HEADER_LEN - LOG_OVERHEAD
                ),
            })?;
        if bytes.len() < total {
            return Err(Error::Truncated {
                what: "batch",
                needed: total,
                available: bytes.len(),
            });
        }
        let (first, rest) = bytes.split_at(total);
        Ok((
            RecordBatch {
                bytes: first,
                header,
            },
            rest,
        ))
    }

    /// The decoded fixed header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's bytes, exactly as on the wire.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    /// Offset right after this batch.
    pub fn next_offset(&self) -> i64 {
        self.header.next_offset()
    }

    /// Largest record timestamp.
    pub fn max_timestamp(&self) -> i64 {
        self.header.max_timestamp
    }

    /// Number of records the header declares.
    pub fn record_count(&self) -> i32 {
        self.header.record_count
    }

    /// CRC-32 of the bytes the checksum covers (attributes to the end).
    pub fn compute_crc(&self) -> u32 {
        crc32fast::hash(&self.bytes[ATTRIBUTES_AT..])
    }

    /// Iterates the records. Each item is an error if that record is malformed; use
    /// [`RecordBatch::validate`] first to know they all parse.
    pub fn records(&self) -> Records<'a> {
        Records::new(
            &self.bytes[BATCH_HEADER_LEN..],
            self.header.first_timestamp,
            self.header.base_offset,
            self.header.record_count,
        )
    }
}

/// Overwrites the base offset of the batch at the front of `batch`.
///
/// The CRC does not cover this field, so the batch stays valid. Fails, changing
/// nothing, if `batch` is shorter than a batch header.
pub fn stamp_base_offset(batch: &mut [u8], base_offset: i64) -> Result<()> {
    stamp(batch, 0, &base_offset.to_be_bytes())
}

/// Overwrites the leader epoch of the batch at the front of `batch`.
///
/// The CRC does not cover this field, so the batch stays valid. Fails, changing
/// nothing, if `batch` is shorter than a batch header.
pub fn stamp_leader_epoch(batch: &mut [u8], epoch: i32) -> Result<()> {
    stamp(batch, LEADER_EPOCH_AT, &epoch.to_be_bytes())
}

fn stamp(batch: &mut [u8], at: usize, value: &[u8]) -> Result<()> {
    if batch.len() < BATCH_HEADER_LEN {
        return Err(Error::Truncated {
            what: "batch header",
            needed: BATCH_HEADER_LEN,
            available: batch.len(),
        });
    }
    batch[at..at + value.len()].copy_from_slice(value);
    Ok(())
}

pub(crate) fn read_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

pub(crate) fn read_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

pub(crate) fn read_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

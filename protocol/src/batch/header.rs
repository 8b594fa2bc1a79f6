//! The fixed 61-byte batch header, decoded into fields.

use super::layout::{
    read_i16, read_i32, read_i64, ATTRIBUTES_AT, BASE_SEQUENCE_AT, BATCH_HEADER_LEN, CONTROL_BIT,
    CRC_AT, FIRST_TIMESTAMP_AT, LAST_OFFSET_DELTA_AT, LEADER_EPOCH_AT, LENGTH_AT, LOG_OVERHEAD,
    MAGIC_AT, MAX_TIMESTAMP_AT, PRODUCER_EPOCH_AT, PRODUCER_ID_AT, RECORD_COUNT_AT,
};
use crate::error::{Error, Result};

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
    /// Whether this is a control batch ([`CONTROL_BIT`]): the broker's own,
    /// skipped by consumers.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

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

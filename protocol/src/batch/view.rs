//! [`RecordBatch`]: a borrowed view of one complete batch, its header and records.

use super::header::BatchHeader;
use super::layout::{ATTRIBUTES_AT, BATCH_HEADER_LEN, LOG_OVERHEAD};
use super::record::Records;
use crate::error::{Error, Result};

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

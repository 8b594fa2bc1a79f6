//! [`RecordBatch`]: a borrowed view of one complete batch, its header and records.

use std::borrow::Cow;

use bytes::Bytes;

use super::compression::Compression;
use super::header::BatchHeader;
use super::layout::{ATTRIBUTES_AT, BATCH_HEADER_LEN, COMPRESSION_MASK, LOG_OVERHEAD};
use super::record::Records;
use crate::error::{Error, Result};

/// The most bytes a compressed batch's records may decompress to when
/// [`RecordBatch::validate`] checks them: 64 MiB.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

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

    /// The codec of the records (attribute bits 0-2); ids 5-7 are an error.
    pub fn compression(&self) -> Result<Compression> {
        Compression::from_id((self.header.attributes & COMPRESSION_MASK) as u8)
    }

    /// The records section as stored: compressed when the batch is.
    pub fn stored_records(&self) -> &'a [u8] {
        &self.bytes[BATCH_HEADER_LEN..]
    }

    /// The records section decompressed (at most `max` bytes), or `None` when the
    /// batch is not compressed and [`RecordBatch::stored_records`] is it.
    pub fn decompressed_records(&self, max: usize) -> Result<Option<Bytes>> {
        match self.compression()? {
            Compression::None => Ok(None),
            codec => codec
                .decompress(self.stored_records(), max)
                .map(|v| Some(Bytes::from(v))),
        }
    }

    /// The records section uncompressed: borrowed when the batch is not
    /// compressed, decompressed (at most `max` bytes) when it is.
    pub fn records_section(&self, max: usize) -> Result<Cow<'a, [u8]>> {
        match self.compression()? {
            Compression::None => Ok(Cow::Borrowed(self.stored_records())),
            codec => codec.decompress(self.stored_records(), max).map(Cow::Owned),
        }
    }

    /// Iterates the records of `section`, this batch's records section
    /// uncompressed (from [`RecordBatch::records_section`] or
    /// [`RecordBatch::decompressed_records`]).
    pub fn records_in<'s>(&self, section: &'s [u8]) -> Records<'s> {
        Records::new(
            section,
            self.header.first_timestamp,
            self.header.base_offset,
            self.header.record_count,
        )
    }

    /// Iterates the records of an uncompressed batch. Each item is an error if
    /// that record is malformed; use [`RecordBatch::validate`] first to know they
    /// all parse. For a compressed batch the first item is an error: use
    /// [`RecordBatch::records_section`] and [`RecordBatch::records_in`].
    pub fn records(&self) -> Records<'a> {
        match self.compression() {
            Ok(Compression::None) => self.records_in(self.stored_records()),
            Ok(codec) => Records::failing(Error::Decompress {
                codec: codec.name(),
                detail: "the records are compressed: decompress them first".to_string(),
            }),
            Err(e) => Records::failing(e),
        }
    }
}

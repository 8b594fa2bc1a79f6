//! Full validation of a record batch.
//!
//! The broker runs [`RecordBatch::validate`] on every batch before it writes it, and
//! storage runs it on every batch it recovers after a crash. A batch that passes is
//! safe to store, serve and iterate: see the invariants in the parent module.

use super::layout::{DEFINED_ATTRIBUTES, MAGIC};
use super::view::{RecordBatch, MAX_DECOMPRESSED_BYTES};
use crate::error::{Error, Result};

impl RecordBatch<'_> {
    /// Checks the whole batch: magic, CRC, attributes, every record, offset deltas,
    /// the record count and the max timestamp. A compressed batch's records are
    /// decompressed (at most [`MAX_DECOMPRESSED_BYTES`]) and checked the same way.
    ///
    /// This is what any stored batch satisfies, including one rewritten by
    /// compaction: offset deltas strictly increase and stay within
    /// `0..=last_offset_delta` (compaction removes records but keeps the batch's
    /// offset span, so there may be gaps or no records at all), and `max_timestamp`
    /// is at least every record's timestamp. Producers must send more: check that
    /// with [`RecordBatch::validate_produced`].
    pub fn validate(&self) -> Result<()> {
        self.validate_header()?;
        let section = self.records_section(MAX_DECOMPRESSED_BYTES)?;
        self.validate_records(&section)
    }

    /// [`RecordBatch::validate`] for a reader that has decompressed the records
    /// already: `section` must be this batch's records section uncompressed
    /// ([`RecordBatch::records_section`]).
    pub fn validate_section(&self, section: &[u8]) -> Result<()> {
        self.validate_header()?;
        self.validate_records(section)
    }

    /// The checks of [`RecordBatch::validate`] that need no record: magic, CRC,
    /// attributes and the signs of the record count and last offset delta.
    /// Enough for a copy of a batch that was validated in full where it came
    /// from: a matching CRC shows the bytes are the ones validated.
    pub fn validate_header(&self) -> Result<()> {
        let h = self.header();
        if h.magic != MAGIC {
            return Err(Error::BadMagic {
                found: h.magic,
                expected: MAGIC,
            });
        }
        let computed = self.compute_crc();
        if computed != h.crc {
            return Err(Error::CrcMismatch {
                stored: h.crc,
                computed,
            });
        }
        self.compression()?;
        let unknown = h.attributes & !DEFINED_ATTRIBUTES;
        if unknown != 0 {
            return Err(Error::UnknownAttributes { bits: unknown });
        }
        if h.record_count < 0 {
            return Err(Error::RecordCountMismatch {
                declared: h.record_count,
                found: "a count cannot be negative".to_string(),
            });
        }
        if h.last_offset_delta < 0 {
            return Err(Error::LastOffsetDelta {
                declared: h.last_offset_delta,
                expected: "a value >= 0".to_string(),
            });
        }
        Ok(())
    }

    fn validate_records(&self, section: &[u8]) -> Result<()> {
        let h = self.header();
        let mut records = self.records_in(section);
        let mut previous: Option<i32> = None;
        let mut max_timestamp = i64::MIN;
        for (seen, item) in records.by_ref().enumerate() {
            let record = item?;
            let ok = match previous {
                None => record.offset_delta >= 0,
                Some(p) => record.offset_delta > p,
            };
            if !ok || record.offset_delta > h.last_offset_delta {
                return Err(Error::OffsetDelta {
                    index: seen,
                    delta: record.offset_delta,
                    expected: match previous {
                        None => format!("0..={}", h.last_offset_delta),
                        Some(p) => format!("{}..={}", p + 1, h.last_offset_delta),
                    },
                });
            }
            previous = Some(record.offset_delta);
            max_timestamp = max_timestamp.max(record.timestamp);
        }
        let rest = records.rest();
        if !rest.is_empty() {
            return Err(Error::RecordCountMismatch {
                declared: h.record_count,
                found: format!("{} bytes remain after that many records", rest.len()),
            });
        }
        if previous.is_some() && max_timestamp > h.max_timestamp {
            return Err(Error::MaxTimestamp {
                declared: h.max_timestamp,
                actual: max_timestamp,
            });
        }
        Ok(())
    }

    /// Checks what a producer's batch must satisfy on top of [`RecordBatch::validate`]:
    /// at least one record, offset deltas exactly `0, 1, …, count - 1`, and
    /// `max_timestamp` equal to the largest record timestamp.
    ///
    /// Runs the header checks of `validate` itself and then one pass over the
    /// records, so a batch that passes also passes `validate`: there is no need to
    /// call both.
    pub fn validate_produced(&self) -> Result<()> {
        self.validate_header()?;
        let h = self.header();
        if h.record_count < 1 {
            return Err(Error::RecordCountMismatch {
                declared: h.record_count,
                found: "a produced batch needs at least one record".to_string(),
            });
        }
        if h.last_offset_delta != h.record_count - 1 {
            return Err(Error::LastOffsetDelta {
                declared: h.last_offset_delta,
                expected: format!("record count - 1 = {}", h.record_count - 1),
            });
        }
        let mut max_timestamp = i64::MIN;
        let section = self.records_section(MAX_DECOMPRESSED_BYTES)?;
        let mut records = self.records_in(&section);
        for (index, record) in records.by_ref().enumerate() {
            let record = record?;
            if record.offset_delta as usize != index {
                return Err(Error::OffsetDelta {
                    index,
                    delta: record.offset_delta,
                    expected: index.to_string(),
                });
            }
            max_timestamp = max_timestamp.max(record.timestamp);
        }
        let rest = records.rest();
        if !rest.is_empty() {
            return Err(Error::RecordCountMismatch {
                declared: h.record_count,
                found: format!("{} bytes remain after that many records", rest.len()),
            });
        }
        if max_timestamp != h.max_timestamp {
            return Err(Error::MaxTimestamp {
                declared: h.max_timestamp,
                actual: max_timestamp,
            });
        }
        Ok(())
    }
}

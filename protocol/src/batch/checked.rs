//! A batch that has passed validation, held as owned bytes.
//!
//! The broker validates a produced batch in full before it decides to write it;
//! [`CheckedBatch`] carries that result to storage so the log does not walk the
//! same records and compute the same CRC a second time. It can only be made by
//! validating, and its bytes can only change where the CRC does not reach (the base
//! offset, stamped by the log), so a `CheckedBatch` is always valid.

use super::header::BatchHeader;
use super::layout::stamp_base_offset;
use super::view::RecordBatch;
use crate::error::Result;

/// One whole batch that passed [`RecordBatch::validate`] (and, if made with
/// [`CheckedBatch::produced`], [`RecordBatch::validate_produced`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBatch {
    bytes: Vec<u8>,
    header: BatchHeader,
}

impl CheckedBatch {
    /// Takes `bytes`, which must be exactly one batch passing `validate`.
    pub fn stored(bytes: Vec<u8>) -> Result<CheckedBatch> {
        let header = {
            let batch = RecordBatch::new(&bytes)?;
            batch.validate()?;
            *batch.header()
        };
        Ok(CheckedBatch { bytes, header })
    }

    /// Takes `bytes`, which must be exactly one batch passing `validate_produced`
    /// (which includes every check of `validate`).
    pub fn produced(bytes: Vec<u8>) -> Result<CheckedBatch> {
        let header = {
            let batch = RecordBatch::new(&bytes)?;
            batch.validate_produced()?;
            *batch.header()
        };
        Ok(CheckedBatch { bytes, header })
    }

    /// The fixed header, as validated (its base offset is the one last stamped).
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The batch's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The batch's bytes, given up without a copy (to hand the batch on whole, as
    /// a replicated partition does to its Raft group).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Writes `base_offset` into the batch and returns its bytes. The CRC does not
    /// cover the base offset, so the batch stays valid.
    pub fn stamp_base_offset(&mut self, base_offset: i64) -> &[u8] {
        // Cannot fail: a validated batch is longer than a header.
        if stamp_base_offset(&mut self.bytes, base_offset).is_ok() {
            self.header.base_offset = base_offset;
        }
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BatchBuilder, Error};

    fn batch() -> Vec<u8> {
        let mut b = BatchBuilder::default();
        b.push(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]);
        b.push(1_700_000_000_001, None, Some(b"w"), &[]);
        b.finish()
    }

    #[test]
    fn only_valid_batches_are_taken_and_stamping_keeps_them_valid() {
        let mut checked = CheckedBatch::produced(batch()).expect("valid");
        assert_eq!(checked.header().record_count, 2);
        let bytes = checked.stamp_base_offset(41).to_vec();
        let again = RecordBatch::new(&bytes).expect("batch");
        again.validate_produced().expect("still valid");
        assert_eq!(
            (again.base_offset(), checked.header().base_offset),
            (41, 41)
        );

        let mut bad = batch();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(matches!(
            CheckedBatch::stored(bad.clone()),
            Err(Error::CrcMismatch { .. })
        ));
        assert!(CheckedBatch::produced(bad).is_err());
        let mut two = batch();
        two.extend_from_slice(&batch());
        assert!(CheckedBatch::stored(two).is_err(), "exactly one batch");
    }
}

//! Where each field of the batch header sits, and the in-place writes the broker
//! makes to fields the CRC does not cover (see the layout in [`super`]).

use crate::error::{Error, Result};

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
/// Attribute bit 5: a control batch, written by the broker itself (a replicated
/// partition's Raft entries that carry no records of the producers); consumers
/// skip it and producers may not send one.
pub const CONTROL_BIT: u16 = 0x20;
/// Attribute bits that the format defines (0..=6).
pub const DEFINED_ATTRIBUTES: u16 = 0x7f;

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

//! How a Raft entry sits in a record batch, for every group's log store.
//!
//! The entry's term is the batch's leader epoch (an `int32`, so a term above
//! `i32::MAX` cannot be stored and is refused). An entry that carries no
//! producer records (any entry of the metadata group; blank and membership
//! entries of a partition group) is a batch of one record whose value is the
//! entry's payload in the inter-broker layout (`entry_codec`). The helpers for
//! openraft's calls that both log stores make alike live here too.

use std::io;
use std::ops::{Bound, RangeBounds};

use openraft::storage::IOFlushed;
use openraft::type_config::alias::EntryPayloadOf;
use rill_protocol::batch::{stamp_leader_epoch, BatchBuilder, ProducerInfo, RecordBatch};

use super::entry_codec;
use super::types::{LogId, RaftTypes};

/// A Raft entry of any group.
pub type Entry = <RaftTypes as openraft::RaftTypeConfig>::Entry;

/// A batch of one record holding `entry`'s payload, with `attributes` (e.g. the
/// control bit) and the entry's term as its leader epoch.
pub fn payload_batch(entry: &Entry, attributes: u16) -> io::Result<Vec<u8>> {
    let value = entry_codec::encode_payload(&entry.payload);
    let mut builder = BatchBuilder::new(ProducerInfo::NONE).attributes(attributes);
    builder.push(now_ms(), None, Some(&value), &[]);
    let mut batch = builder.finish();
    stamp_term(&mut batch, &entry.log_id)?;
    Ok(batch)
}

/// Writes the term of `log_id` into the leader epoch of `batch`.
pub fn stamp_term(batch: &mut [u8], log_id: &LogId) -> io::Result<()> {
    stamp_leader_epoch(batch, epoch_of(log_id)?).map_err(invalid)
}

/// The leader epoch that holds `log_id`'s term in its batch.
pub fn epoch_of(log_id: &LogId) -> io::Result<i32> {
    i32::try_from(log_id.leader_id.term).map_err(|_| {
        io::Error::other(format!(
            "term {} does not fit a batch's leader epoch (at most {})",
            log_id.leader_id.term,
            i32::MAX
        ))
    })
}

/// The term in `batch`'s leader epoch.
pub fn term_of(batch: &RecordBatch<'_>) -> io::Result<u64> {
    u64::try_from(batch.header().leader_epoch).map_err(|_| {
        invalid(format!(
            "batch at offset {} has a negative term",
            batch.base_offset()
        ))
    })
}

/// The payload in a batch written by [`payload_batch`].
pub fn payload_of(batch: &RecordBatch<'_>) -> io::Result<EntryPayloadOf<RaftTypes>> {
    let record = batch
        .records()
        .next()
        .ok_or_else(|| invalid(format!("batch at offset {} is empty", batch.base_offset())))?
        .map_err(invalid)?;
    let value = record.value.ok_or_else(|| {
        invalid(format!(
            "entry at offset {} has no value",
            batch.base_offset()
        ))
    })?;
    entry_codec::decode_payload(value).map_err(invalid)
}

/// `range` as `start..end` indexes.
pub fn index_range(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&i) => i,
        Bound::Excluded(&i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&i) => i.saturating_add(1),
        Bound::Excluded(&i) => i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

/// Tells openraft how an append ended, and passes the result on.
pub fn report_flushed(callback: IOFlushed<RaftTypes>, result: io::Result<()>) -> io::Result<()> {
    let report = match &result {
        Ok(()) => Ok(()),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    };
    callback.io_completed(report);
    result
}

/// The last log id a log reports: its last entry, or the purged mark when
/// that is as far or the log holds nothing.
pub fn last_log_id(last: Option<LogId>, purged: Option<LogId>) -> Option<LogId> {
    match (last, purged) {
        (Some(last), Some(purged)) if purged.index >= last.index => Some(purged),
        (last, purged) => last.or(purged),
    }
}

/// An `InvalidData` error saying `e`.
pub fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

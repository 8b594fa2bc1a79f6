//! Compaction: keep only the last record per key.
//!
//! A pass first maps every key to the offset of its newest record, reading all
//! segments including the active one (up to what readers can see). It then rewrites
//! each *closed* segment into `*.cleaned` files next to it, keeping a record when it
//! has no key or is the newest for its key, and dropping tombstones (null values)
//! older than `tombstone_retention`. A batch whose records all survive is copied
//! byte for byte; any other batch is re-encoded with the surviving records at their
//! original offsets and with the original header span (base offset, last offset
//! delta, timestamps), so batches stay contiguous even when a batch loses every
//! record. The active segment is never rewritten.
//!
//! The swap is crash-safe: the cleaned files are fsynced, the old indexes deleted,
//! then the `.log` renamed over the old one and the indexes renamed into place. An
//! interrupted swap leaves either the old log or the new one, each whole; leftover
//! `*.cleaned` files are removed on open and missing indexes rebuilt. Readers holding
//! the old segment keep reading its (unlinked) file; new readers see the new one, so
//! every reader sees a consistent log throughout.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rill_protocol::batch::{stamp_base_offset, stamp_leader_epoch, MAX_DECOMPRESSED_BYTES};
use rill_protocol::{BatchBuilder, BatchHeader, Compression, Record, RecordBatch};

use crate::clock::now_ms;
use crate::durable::sync_dir;
use crate::error::IoContext;
use crate::error::{Error, Result};
use crate::locks::{lock, read_lock, write_lock};
use crate::log::Log;
use crate::recovery::open_segment;
use crate::segment::Segment;
use crate::segments::{
    create_segment_with_suffix, delete_segment_files_with_suffix, segment_path, CLEANED_SUFFIX,
};

/// What a compaction pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    /// Closed segments rewritten.
    pub segments_rewritten: usize,
    /// Records removed (superseded values and expired tombstones).
    pub records_removed: u64,
    /// Bytes of the rewritten segments before.
    pub bytes_before: u64,
    /// Bytes of the rewritten segments after.
    pub bytes_after: u64,
}

impl Log {
    /// Compacts the closed segments as of now.
    pub fn compact(&self) -> Result<CompactionReport> {
        self.compact_at(now_ms())
    }

    /// Compacts the closed segments, expiring tombstones older than
    /// `now_ms - tombstone_retention`.
    pub fn compact_at(&self, now_ms: i64) -> Result<CompactionReport> {
        let _maintenance = lock(&self.maintenance);
        let active = {
            let w = lock(&self.writer);
            self.check_open(&w)?;
            Arc::clone(&w.active)
        };
        let all: Vec<Arc<Segment>> = read_lock(&self.segments).values().cloned().collect();
        let closed: Vec<Arc<Segment>> = all
            .iter()
            .filter(|s| s.base_offset < active.base_offset)
            .cloned()
            .collect();
        let mut report = CompactionReport::default();
        if closed.is_empty() {
            return Ok(report);
        }
        let mut latest: HashMap<Vec<u8>, i64> = HashMap::new();
        for segment in all.iter().filter(|s| s.base_offset <= active.base_offset) {
            for_each_batch(segment, |batch| {
                let section = batch
                    .records_section(MAX_DECOMPRESSED_BYTES)
                    .map_err(|e| segment.corrupt_err(0, e))?;
                for record in batch.records_in(&section) {
                    let record = record.map_err(|e| segment.corrupt_err(0, e))?;
                    if let Some(key) = record.key {
                        latest.insert(key.to_vec(), record.offset);
                    }
                }
                Ok(())
            })?;
        }
        let horizon = now_ms.saturating_sub(self.opts.tombstone_retention.as_millis() as i64);
        let keep = |r: &Record<'_>| {
            let newest = r.key.is_none_or(|k| latest.get(k) == Some(&r.offset));
            let expired_tombstone = r.value.is_none() && r.timestamp < horizon;
            newest && !expired_tombstone
        };
        for segment in closed {
            self.rewrite(&segment, &keep, &mut report, now_ms)?;
        }
        Ok(report)
    }

    /// Rewrites one closed segment keeping the records `keep` accepts, then swaps it in.
    fn rewrite(
        &self,
        old: &Segment,
        keep: &impl Fn(&Record<'_>) -> bool,
        report: &mut CompactionReport,
        now_ms: i64,
    ) -> Result<()> {
        let base = old.base_offset;
        let cleaned =
            create_segment_with_suffix(&self.dir, base, &self.opts, now_ms, CLEANED_SUFFIX)?;
        let mut removed = 0u64;
        for_each_batch(old, |batch| {
            let section = batch
                .records_section(MAX_DECOMPRESSED_BYTES)
                .map_err(|e| old.corrupt_err(0, e))?;
            let records: Vec<Record<'_>> = batch
                .records_in(&section)
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| old.corrupt_err(0, e))?;
            let kept: Vec<&Record<'_>> = records.iter().filter(|r| keep(r)).collect();
            removed += (records.len() - kept.len()) as u64;
            if kept.len() == records.len() {
                return cleaned.append(batch.as_bytes(), batch.header(), now_ms);
            }
            let codec = batch.compression().map_err(|e| old.corrupt_err(0, e))?;
            let bytes = reencode(batch.header(), codec, &kept)?;
            let header = *RecordBatch::new(&bytes)
                .map_err(|e| old.corrupt_err(0, e))?
                .header();
            cleaned.append(&bytes, &header, now_ms)
        })?;
        if removed == 0 {
            drop(cleaned);
            return delete_segment_files_with_suffix(&self.dir, base, CLEANED_SUFFIX);
        }
        cleaned.close()?;
        for ext in ["index", "timeindex"] {
            let path = segment_path(&self.dir, base, ext);
            std::fs::remove_file(&path).io("remove old index", &path)?;
        }
        for ext in ["log", "index", "timeindex"] {
            let from = segment_path(&self.dir, base, &format!("{ext}{CLEANED_SUFFIX}"));
            let to = segment_path(&self.dir, base, ext);
            std::fs::rename(&from, &to).io("swap in compacted segment", &to)?;
        }
        sync_dir(&self.dir)?;
        let (fresh, _) = open_segment(&self.dir, base, &self.opts, false, now_ms)?;
        report.segments_rewritten += 1;
        report.records_removed += removed;
        report.bytes_before += old.size();
        report.bytes_after += fresh.size();
        write_lock(&self.segments).insert(base, Arc::new(fresh));
        Ok(())
    }
}

/// Re-encodes a batch with only `kept` records, at their original offsets, keeping
/// the header's span, timestamps, producer, leader epoch and codec.
fn reencode(h: &BatchHeader, codec: Compression, kept: &[&Record<'_>]) -> Result<Vec<u8>> {
    let mut builder = BatchBuilder::new(h.producer)
        .attributes(h.attributes)
        .compression(codec)
        .keep_span(h.first_timestamp, h.last_offset_delta, h.max_timestamp);
    for r in kept {
        let headers: Vec<(&str, Option<&[u8]>)> = r.headers.map(|x| (x.key, x.value)).collect();
        builder.push_with_delta(r.offset_delta, r.timestamp, r.key, r.value, &headers);
    }
    let mut bytes = builder.finish();
    stamp_base_offset(&mut bytes, h.base_offset).map_err(Error::InvalidBatch)?;
    stamp_leader_epoch(&mut bytes, h.leader_epoch).map_err(Error::InvalidBatch)?;
    Ok(bytes)
}

/// Calls `f` with every visible batch of `segment`, in order, each validated.
fn for_each_batch(
    segment: &Segment,
    mut f: impl FnMut(RecordBatch<'_>) -> Result<()>,
) -> Result<()> {
    let limit = segment.visible.load(Ordering::Acquire);
    let mut pos = 0u64;
    while pos < limit {
        let header = segment.header_at(pos, limit)?;
        let chunk = segment.read(pos, &header, 1 << 20)?;
        let mut rest = &chunk[..];
        let mut at = pos;
        while !rest.is_empty() {
            let (batch, tail) =
                RecordBatch::split_first(rest).map_err(|e| segment.corrupt_err(at, e))?;
            batch.validate().map_err(|e| segment.corrupt_err(at, e))?;
            at += batch.as_bytes().len() as u64;
            f(batch)?;
            rest = tail;
        }
        pos += chunk.len() as u64;
    }
    Ok(())
}

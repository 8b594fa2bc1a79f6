//! Rill's storage engine: one append-only, segmented log per topic partition.
//!
//! A [`Log`] is a directory of segments (`{base_offset:020}.log` with sparse
//! memory-mapped `.index` and `.timeindex` files) holding record batches exactly as
//! `rill-protocol` encodes them. It assigns offsets on append, serves reads of whole
//! batches by offset or timestamp, rolls segments by size and age, recovers from
//! crashes by validating every batch after the last checkpoint, and enforces
//! retention and key-based compaction. Durability follows [`FsyncPolicy`]; under
//! `Always`, concurrent appends share fsyncs (group commit).
//!
//! The on-disk format is specified in `docs/STORAGE.md`. This crate does no
//! networking; the broker wraps each `Log` in its partition.

mod checkpoint;
mod compaction;
mod error;
mod index;
mod locks;
mod log;
mod options;
mod recovery;
mod retention;
mod segment;
mod sync;

use std::sync::atomic::{AtomicU64, Ordering};

pub use checkpoint::CHECKPOINT_FILE;
pub use compaction::CompactionReport;
pub use error::{Error, Result};
pub use log::{AppendInfo, Log, ReadBatches, RecoveryReport};
pub use options::{FsyncPolicy, LogOptions};
pub use recovery::{SegmentRecovery, Truncation};
pub use retention::RetentionReport;

/// Internal counters, readable as a [`LogMetrics`] snapshot.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub appends: AtomicU64,
    pub fsyncs: AtomicU64,
    pub index_lookups: AtomicU64,
    pub headers_scanned: AtomicU64,
}

/// A snapshot of a log's counters since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogMetrics {
    /// Batches appended.
    pub appends: u64,
    /// fsync calls made on segment data for durability (group commits count once).
    pub fsyncs: u64,
    /// Offset-index lookups performed by reads and timestamp searches.
    pub index_lookups: u64,
    /// Batch headers read while walking from an index entry to the wanted batch.
    pub headers_scanned: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> LogMetrics {
        LogMetrics {
            appends: self.appends.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            index_lookups: self.index_lookups.load(Ordering::Relaxed),
            headers_scanned: self.headers_scanned.load(Ordering::Relaxed),
        }
    }
}

/// Milliseconds since the Unix epoch, as record timestamps count them.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

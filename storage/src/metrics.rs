//! A log's counters: cheap atomic increments on the hot paths, read as a snapshot.
//!
//! The counters only ever grow and are updated with relaxed ordering: they are
//! statistics, not synchronization, so a snapshot taken while appends run may mix
//! values from slightly different moments.

use std::sync::atomic::{AtomicU64, Ordering};

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
    /// The current values.
    pub(crate) fn snapshot(&self) -> LogMetrics {
        LogMetrics {
            appends: self.appends.load(Ordering::Relaxed),
            fsyncs: self.fsyncs.load(Ordering::Relaxed),
            index_lookups: self.index_lookups.load(Ordering::Relaxed),
            headers_scanned: self.headers_scanned.load(Ordering::Relaxed),
        }
    }
}

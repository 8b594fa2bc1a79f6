//! Retention: deleting the oldest closed segments by age and by total size.
//!
//! Only whole closed segments are deleted, oldest first, and never the active one,
//! so the log start offset always moves to a segment boundary and the log stays
//! contiguous. A segment is too old when its newest record's timestamp is older than
//! `retention_age`; the log is too large while removing its oldest segment would still
//! leave at least `retention_bytes`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::clock::now_ms;
use crate::durable::sync_dir;
use crate::error::Result;
use crate::locks::{lock, read_lock, write_lock};
use crate::log::Log;
use crate::segment::Segment;
use crate::segments::delete_segment_files;

/// What a retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Base offsets of the deleted segments.
    pub deleted_segments: Vec<i64>,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// The log start offset afterwards.
    pub log_start_offset: i64,
}

impl Log {
    /// Applies the retention settings as of now.
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        self.enforce_retention_at(now_ms())
    }

    /// Applies the retention settings as of `now_ms` (ms since the epoch).
    pub fn enforce_retention_at(&self, now_ms: i64) -> Result<RetentionReport> {
        let _maintenance = lock(&self.maintenance);
        let active_base = {
            let w = lock(&self.writer);
            self.check_open(&w)?;
            w.active.base_offset
        };
        let closed: Vec<Arc<Segment>> = read_lock(&self.segments)
            .values()
            .filter(|s| s.base_offset != active_base)
            .cloned()
            .collect();
        let mut total: u64 = self.size_bytes();
        let mut doomed = Vec::new();
        for segment in closed {
            let too_old = self.opts.retention_age.is_some_and(|age| {
                segment.max_timestamp.load(Ordering::Acquire) < now_ms - age.as_millis() as i64
            });
            let too_big = self
                .opts
                .retention_bytes
                .is_some_and(|limit| total - segment.size() >= limit);
            if !(too_old || too_big) {
                break;
            }
            total -= segment.size();
            doomed.push(segment);
        }
        let mut report = RetentionReport::default();
        if let Some(last) = doomed.last() {
            let mut segments = write_lock(&self.segments);
            for s in &doomed {
                segments.remove(&s.base_offset);
            }
            let start = segments
                .keys()
                .next()
                .copied()
                .unwrap_or(last.next_offset());
            self.log_start.store(start, Ordering::Release);
        }
        for s in &doomed {
            delete_segment_files(&self.dir, s.base_offset)?;
            report.bytes_freed += s.size();
            report.deleted_segments.push(s.base_offset);
        }
        if !doomed.is_empty() {
            sync_dir(&self.dir)?;
        }
        report.log_start_offset = self.log_start_offset();
        Ok(report)
    }
}

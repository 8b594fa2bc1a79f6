//! Cutting the log back: [`Log::truncate_to`] drops a suffix (a replica whose
//! uncommitted tail another leader overwrote), [`Log::reset_to`] drops everything
//! and restarts the log at a given offset (a replica that installed a snapshot
//! past its own end).
//!
//! Both hold the maintenance lock and the writer, so no append, retention or
//! compaction runs meanwhile; both leave the log unclean in its checkpoint, so a
//! crash half-way is repaired by the next open's scan.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::checkpoint::{self, Checkpoint};
use crate::clock::now_ms;
use crate::durable::sync_dir;
use crate::error::Result;
use crate::locks::{lock, read_lock, write_lock};
use crate::log::{Log, Writer};
use crate::segment::Segment;
use crate::segments::{create_segment, delete_segment_files};

impl Log {
    /// Removes every record at or after `offset` (whole batches: a batch that
    /// straddles `offset` goes too) and returns the new log end. If `offset` is at or
    /// before the first segment, the log is emptied and restarts at `offset`.
    pub fn truncate_to(&self, offset: i64) -> Result<i64> {
        let _maintenance = lock(&self.maintenance);
        let mut w = lock(&self.writer);
        self.check_writable(&w)?;
        if offset >= w.next_offset {
            return Ok(w.next_offset);
        }
        let doomed: Vec<Arc<Segment>> = read_lock(&self.segments)
            .range(offset..)
            .map(|(_, s)| Arc::clone(s))
            .filter(|s| s.base_offset >= offset)
            .collect();
        let mut segments = write_lock(&self.segments);
        for s in &doomed {
            segments.remove(&s.base_offset);
            delete_segment_files(&self.dir, s.base_offset)?;
        }
        let active = match segments.values().next_back() {
            Some(s) => Arc::clone(s),
            None => {
                let s = Arc::new(create_segment(&self.dir, offset, &self.opts, now_ms())?);
                segments.insert(offset, Arc::clone(&s));
                self.log_start.store(offset, Ordering::Release);
                s
            }
        };
        drop(segments);
        let next = active.truncate_to(offset, &self.counters)?;
        write_lock(&active.index).grow(self.opts.index_max_bytes)?;
        write_lock(&active.time_index).grow(self.opts.index_max_bytes)?;
        self.install_end(&mut w, active, next)
    }

    /// Removes every record and restarts the log at `offset`, which may lie
    /// before, inside or past what it held: the next append gets `offset`, and
    /// the log starts there. Returns `offset`.
    pub fn reset_to(&self, offset: i64) -> Result<i64> {
        let _maintenance = lock(&self.maintenance);
        let mut w = lock(&self.writer);
        self.check_writable(&w)?;
        let mut segments = write_lock(&self.segments);
        let doomed: Vec<i64> = segments.keys().copied().collect();
        for base in doomed {
            segments.remove(&base);
            delete_segment_files(&self.dir, base)?;
        }
        let active = Arc::new(create_segment(&self.dir, offset, &self.opts, now_ms())?);
        segments.insert(offset, Arc::clone(&active));
        self.log_start.store(offset, Ordering::Release);
        drop(segments);
        self.install_end(&mut w, active, offset)
    }

    /// Makes `active` the segment appends go to and `next` the log end, then
    /// records the change durably: the directory and an unclean checkpoint.
    fn install_end(&self, w: &mut Writer, active: Arc<Segment>, next: i64) -> Result<i64> {
        sync_dir(&self.dir)?;
        w.active = active;
        w.next_offset = next;
        self.high_watermark.store(next, Ordering::Release);
        self.commit.reset_to(next);
        checkpoint::write(
            &self.dir,
            Checkpoint {
                recovery_point: w.active.base_offset,
                clean: false,
            },
        )?;
        Ok(next)
    }
}

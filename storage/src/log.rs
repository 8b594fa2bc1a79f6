//! [`Log`]: one partition's segmented, append-only log.
//!
//! Invariants:
//! - Segments are contiguous: each starts at the offset where the previous ends, and
//!   only the last one (the *active* segment) is appended to.
//! - Appends are serialized by the writer lock; reads take no lock beyond a brief
//!   look at the segment map, so they run concurrently with appends and each other.
//! - Readers see offsets below the high watermark only. Under `fsync = "always"` the
//!   high watermark moves after the fsync that covers a batch, so no reader ever sees
//!   data that a crash could take back; under the other policies it moves on write.
//! - Dropping a `Log` without [`Log::close`] is a crash as far as the files are
//!   concerned: the next open recovers from the recovery point.
//! - An open `Log` holds its directory's lock (`dir_lock.rs`), so no other `Log`
//!   touches the files. A successful `close` drops every index mapping and then
//!   the lock; dropping the `Log` drops the segments (and their mappings) before
//!   the lock, because `dir_lock` is its last field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use rill_protocol::batch::stamp_base_offset;
use rill_protocol::{BatchHeader, CheckedBatch, RecordBatch};

use crate::checkpoint::{self, Checkpoint};
use crate::clock::now_ms;
use crate::dir_lock::DirLock;
use crate::error::{Error, IoContext, Result};
use crate::group_commit::GroupCommit;
use crate::locks::{lock, read_lock, write_lock};
use crate::metrics::{Counters, LogMetrics};
use crate::options::{FsyncPolicy, LogOptions};
use crate::read_mode::ReadMode;
use crate::recovery::{recover, Recovered, RecoveryReport};
use crate::segment::Segment;
use crate::segments::{should_roll, start_next_segment};
use crate::slice::{ReadSlice, StoredBatches};

/// Where an appended batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the batch's first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
}

/// The result of a read: whole batches, bytes exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBatches {
    /// Zero or more complete batches, back to back.
    pub bytes: Vec<u8>,
    /// The log's high watermark (next offset readers will see) at read time.
    pub high_watermark: i64,
    /// The first offset in the log at read time.
    pub log_start_offset: i64,
}

pub(crate) struct Writer {
    pub active: Arc<Segment>,
    pub next_offset: i64,
    pub closed: bool,
    pub last_sync: Instant,
}

/// The header of `batch`, which must be exactly one batch passing
/// [`RecordBatch::validate_header`].
pub(crate) fn checked_header(batch: &[u8]) -> Result<BatchHeader> {
    let view = RecordBatch::new(batch).map_err(Error::InvalidBatch)?;
    view.validate_header().map_err(Error::InvalidBatch)?;
    Ok(*view.header())
}

/// A batch's bytes as an append writes them, its base offset stamped: whole,
/// or a stamped copy of its header and then the rest of it.
pub(crate) struct Stamped<'b>(pub(crate) [&'b [u8]; 2]);

impl<'b> Stamped<'b> {
    /// The batch in one piece.
    pub(crate) fn whole(batch: &'b [u8]) -> Self {
        Stamped([batch, &[]])
    }
}

/// One partition's log. Share it between threads with `Arc<Log>`.
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) opts: LogOptions,
    pub(crate) segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    pub(crate) writer: Mutex<Writer>,
    pub(crate) commit: GroupCommit,
    /// Serializes retention, compaction and truncation.
    pub(crate) maintenance: Mutex<()>,
    pub(crate) counters: Counters,
    pub(crate) high_watermark: AtomicI64,
    pub(crate) log_start: AtomicI64,
    recovery: RecoveryReport,
    /// The directory lock, `None` once closed. Last, so that on drop every index
    /// mapping is gone before the lock is released.
    dir_lock: Mutex<Option<DirLock>>,
}

impl Log {
    /// Opens (creating if needed) the log in `dir`, recovering from a crash if the
    /// last run did not close it. Takes the directory's lock first: fails with
    /// [`Error::InUse`] while another `Log`, in this process or another, has `dir`
    /// open.
    pub fn open(dir: impl AsRef<Path>, opts: LogOptions) -> Result<Log> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).io("create log directory", &dir)?;
        let dir_lock = DirLock::acquire(&dir)?;
        let Recovered {
            segments,
            active,
            report,
        } = recover(&dir, &opts)?;
        let next_offset = active.next_offset();
        let log_start = segments.keys().next().copied().unwrap_or(0);
        Ok(Log {
            dir,
            opts,
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                active,
                next_offset,
                closed: false,
                last_sync: Instant::now(),
            }),
            commit: GroupCommit::new(next_offset),
            maintenance: Mutex::new(()),
            counters: Counters::default(),
            high_watermark: AtomicI64::new(next_offset),
            log_start: AtomicI64::new(log_start),
            recovery: report,
            dir_lock: Mutex::new(Some(dir_lock)),
        })
    }

    /// Validates `batch`, assigns it the next offsets (rewriting its base offset in
    /// place) and appends it. Returns once the batch is as durable as the fsync
    /// policy asks.
    pub fn append(&self, batch: &mut [u8]) -> Result<AppendInfo> {
        self.check_size(batch.len())?;
        let checked = RecordBatch::new(batch).and_then(|b| b.validate().map(|()| *b.header()));
        let header = checked.map_err(Error::InvalidBatch)?;
        self.append_valid(header, batch.len(), move |base_offset| {
            stamp_base_offset(batch, base_offset).map_err(Error::InvalidBatch)?;
            Ok(Stamped::whole(batch))
        })
    }

    /// Appends a copy of a batch that another broker validated in full (a Raft
    /// entry of a replicated partition): only its header and CRC are checked,
    /// which shows the bytes are the ones validated, and its records are not
    /// walked (or decompressed) again. Otherwise as [`Log::append`].
    pub fn append_replicated(&self, batch: &mut [u8]) -> Result<AppendInfo> {
        self.check_size(batch.len())?;
        let header = checked_header(batch)?;
        self.append_valid(header, batch.len(), move |base_offset| {
            stamp_base_offset(batch, base_offset).map_err(Error::InvalidBatch)?;
            Ok(Stamped::whole(batch))
        })
    }

    /// As [`Log::append`] for a batch that was validated already: it is not walked
    /// again. Its base offset is rewritten to the offset it got.
    pub fn append_checked(&self, batch: &mut CheckedBatch) -> Result<AppendInfo> {
        let len = batch.as_bytes().len();
        self.check_size(len)?;
        let header = *batch.header();
        self.append_valid(header, len, move |base_offset| {
            Ok(Stamped::whole(batch.stamp_base_offset(base_offset)))
        })
    }

    pub(crate) fn check_size(&self, size: usize) -> Result<()> {
        if size > self.opts.max_batch_bytes {
            return Err(Error::BatchTooLarge {
                size,
                max: self.opts.max_batch_bytes,
            });
        }
        Ok(())
    }

    /// Appends a valid batch of `len` bytes described by `header`: `stamp` writes
    /// the base offset it gets into the batch and returns the bytes to write.
    pub(crate) fn append_valid<'b>(
        &self,
        header: BatchHeader,
        len: usize,
        stamp: impl FnOnce(i64) -> Result<Stamped<'b>>,
    ) -> Result<AppendInfo> {
        let now = now_ms();
        let mut w = lock(&self.writer);
        self.check_writable(&w)?;
        if self.roll_due(&w, len, &header, now) {
            self.roll(&mut w, now)?;
        }
        let info = self.write_locked(&mut w, header, now, stamp)?;
        match self.opts.fsync {
            FsyncPolicy::Always => {
                let target = w.next_offset;
                drop(w);
                self.commit
                    .wait_for(target, || self.sync_active().map_err(|e| e.to_string()))
                    .map_err(|reason| Error::Failed {
                        dir: self.dir.clone(),
                        reason,
                    })?;
            }
            FsyncPolicy::Interval(every) => {
                self.publish_written(&w);
                let due = w.last_sync.elapsed() >= every;
                drop(w);
                if due {
                    self.flush()?;
                }
            }
            FsyncPolicy::Never => self.publish_written(&w),
        }
        Ok(info)
    }

    /// Whether appending a batch of `len` bytes described by `header` must start a
    /// new segment first.
    pub(crate) fn roll_due(&self, w: &Writer, len: usize, header: &BatchHeader, now: i64) -> bool {
        should_roll(
            &w.active,
            &self.opts,
            w.next_offset,
            len as u64,
            header,
            now,
        )
    }

    /// Writes a batch at the log end, under the writer lock: `stamp` writes the
    /// base offset it gets into the batch and returns the bytes to write, in
    /// one or two pieces ([`Stamped`]).
    pub(crate) fn write_locked<'b>(
        &self,
        w: &mut Writer,
        header: BatchHeader,
        now: i64,
        stamp: impl FnOnce(i64) -> Result<Stamped<'b>>,
    ) -> Result<AppendInfo> {
        let base_offset = w.next_offset;
        let batch = stamp(base_offset)?;
        let header = BatchHeader {
            base_offset,
            ..header
        };
        w.active.append_pieces(batch.0, &header, now)?;
        w.next_offset = header.next_offset();
        self.counters.appends.fetch_add(1, Ordering::Relaxed);
        Ok(AppendInfo {
            base_offset,
            last_offset: header.last_offset(),
        })
    }

    /// Makes everything written so far visible to readers, for the policies that
    /// do not wait for an fsync first.
    pub(crate) fn publish_written(&self, w: &Writer) {
        w.active.publish(w.active.size());
        self.high_watermark
            .fetch_max(w.next_offset, Ordering::AcqRel);
    }

    /// Fails once the log is closed: its files may be gone or reused by then.
    pub(crate) fn check_open(&self, w: &Writer) -> Result<()> {
        if w.closed {
            return Err(Error::Closed {
                dir: self.dir.clone(),
            });
        }
        Ok(())
    }

    pub(crate) fn check_writable(&self, w: &Writer) -> Result<()> {
        self.check_open(w)?;
        match self.commit.failure() {
            Some(reason) => Err(Error::Failed {
                dir: self.dir.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Seals the active segment and starts a new one at the log end.
    fn roll(&self, w: &mut Writer, now: i64) -> Result<()> {
        self.fail_on_error(w.active.close())?;
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.commit.mark_synced(w.next_offset);
        self.high_watermark
            .fetch_max(w.next_offset, Ordering::AcqRel);
        let segment = Arc::new(start_next_segment(
            &self.dir,
            w.next_offset,
            &self.opts,
            now,
        )?);
        write_lock(&self.segments).insert(segment.base_offset, Arc::clone(&segment));
        w.active = segment;
        checkpoint::write(
            &self.dir,
            Checkpoint {
                recovery_point: w.next_offset,
                clean: false,
            },
        )
    }

    /// One fsync of everything written so far; returns the offset it covers up to
    /// and makes that much visible to readers.
    fn sync_active(&self) -> Result<i64> {
        let (segment, size, next) = {
            let w = lock(&self.writer);
            (Arc::clone(&w.active), w.active.size(), w.next_offset)
        };
        self.fail_on_error(segment.sync_data())?;
        self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        segment.publish(size);
        self.high_watermark.fetch_max(next, Ordering::AcqRel);
        Ok(next)
    }

    /// Marks the log failed if a durability step (fsync, seal) failed: after that the
    /// log cannot tell what is on disk, so it takes no more writes and is never
    /// checkpointed as clean.
    fn fail_on_error<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            self.commit.fail(e.to_string());
        }
        result
    }

    /// Fsyncs everything written so far.
    pub fn flush(&self) -> Result<()> {
        let next = self.sync_active()?;
        self.commit.mark_synced(next);
        lock(&self.writer).last_sync = Instant::now();
        Ok(())
    }

    /// Under an interval policy, fsyncs if the last fsync is older than the interval.
    /// The owner of the log calls this periodically so idle logs get synced too.
    pub fn flush_if_due(&self) -> Result<()> {
        let FsyncPolicy::Interval(every) = self.opts.fsync else {
            return Ok(());
        };
        let due = lock(&self.writer).last_sync.elapsed() >= every;
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Reads whole batches starting with the one that holds `offset`: at least one
    /// batch (even if larger than `max_bytes`), then as many as fit. Reads stop at a
    /// segment boundary; read again from the next offset to go on. Reading at the
    /// high watermark returns no bytes. The bytes are those of
    /// [`Log::read_slice`]'s range.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadBatches> {
        let slice = self.read_slice(offset, max_bytes)?;
        Ok(ReadBatches {
            bytes: match &slice.batches {
                Some(batches) => batches.to_vec(ReadMode::Wait)?,
                None => Vec::new(),
            },
            high_watermark: slice.high_watermark,
            log_start_offset: slice.log_start_offset,
        })
    }

    /// Finds what [`Log::read`] would return without reading it: the byte range of
    /// the batches in their segment file, to be sent from there (see
    /// [`StoredBatches`]). Only batch headers are read.
    pub fn read_slice(&self, offset: i64, max_bytes: usize) -> Result<ReadSlice> {
        self.read_slice_in(offset, max_bytes, ReadMode::Wait)
    }

    /// [`Log::read_slice`], reading batch headers as `mode` allows: in
    /// [`ReadMode::Cached`] it fails with [`Error::NotCached`] rather than wait
    /// for the disk, so an async task can try it in place.
    pub fn read_slice_in(
        &self,
        offset: i64,
        max_bytes: usize,
        mode: ReadMode,
    ) -> Result<ReadSlice> {
        self.read_slice_below(offset, max_bytes, mode, i64::MAX)
    }

    /// [`Log::read_slice_in`] as if the high watermark were at most `end`: no
    /// batch at or past `end` is returned, and the slice reports the lower of the
    /// two as its high watermark. A replicated partition reads below its committed
    /// offset this way. `end` must fall on a batch boundary (a batch's base offset
    /// or the log end) for every returned batch to end below it.
    pub fn read_slice_below(
        &self,
        offset: i64,
        max_bytes: usize,
        mode: ReadMode,
        end: i64,
    ) -> Result<ReadSlice> {
        let high_watermark = self.high_watermark().min(end);
        let log_start_offset = self.log_start_offset();
        let mut result = ReadSlice {
            batches: None,
            high_watermark,
            log_start_offset,
        };
        if offset < log_start_offset || offset > high_watermark {
            return Err(Error::OffsetOutOfRange {
                offset,
                start: log_start_offset,
                end: high_watermark,
            });
        }
        let mut cursor = offset;
        while cursor < high_watermark {
            let Some(segment) = self.segment_at_or_after(cursor) else {
                break;
            };
            if let Some((pos, header)) = segment.find_batch(offset, &self.counters, mode)? {
                // Appends may have landed since the high watermark was read;
                // answer consistently with the one reported.
                if header.base_offset < high_watermark {
                    let (len, next_offset) = segment.extent(
                        pos,
                        &header,
                        max_bytes,
                        high_watermark,
                        &self.counters,
                        mode,
                    )?;
                    result.batches = Some(StoredBatches {
                        segment,
                        position: pos,
                        len,
                        base_offset: header.base_offset,
                        next_offset,
                    });
                }
                break;
            }
            cursor = segment.next_offset().max(segment.base_offset + 1);
        }
        Ok(result)
    }

    /// The segment holding `offset`, or the first one after it.
    fn segment_at_or_after(&self, offset: i64) -> Option<Arc<Segment>> {
        let segments = read_lock(&self.segments);
        segments
            .range(..=offset)
            .next_back()
            .filter(|(_, s)| s.next_offset() > offset)
            .or_else(|| segments.range(offset + 1..).next())
            .map(|(_, s)| Arc::clone(s))
    }

    /// Offset of the first record whose timestamp is at or after `timestamp`, or
    /// `None` if every record is older.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<i64>> {
        let high_watermark = self.high_watermark();
        let segments: Vec<Arc<Segment>> = read_lock(&self.segments).values().cloned().collect();
        for segment in segments {
            if let Some(offset) = segment.offset_for_timestamp(timestamp, &self.counters)? {
                return Ok((offset < high_watermark).then_some(offset));
            }
        }
        Ok(None)
    }

    /// First offset in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// The offset the next visible record will get: readers see everything below it.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The offset the next append will get (may exceed the high watermark while an
    /// fsync is pending under `fsync = "always"`).
    pub fn log_end_offset(&self) -> i64 {
        lock(&self.writer).next_offset
    }

    /// Flushes everything, seals the indexes and writes the clean-shutdown
    /// checkpoint, so the next open scans nothing. Waits for a running retention,
    /// compaction or truncation to finish; afterwards appends and maintenance fail
    /// with [`Error::Closed`], so the directory can be deleted or reused safely, and
    /// the directory lock is released, so the directory can be opened again. Reads
    /// still work, walking each segment from its start (the index mappings are
    /// dropped with the lock). A log that saw an fsync failure refuses (it returns
    /// the failure), stays unclean, so the next open scans it, and keeps the lock
    /// until it is dropped.
    pub fn close(&self) -> Result<()> {
        let _maintenance = lock(&self.maintenance);
        let mut w = lock(&self.writer);
        if w.closed {
            return Ok(());
        }
        self.check_writable(&w)?;
        self.fail_on_error(w.active.close())?;
        self.commit.mark_synced(w.next_offset);
        self.high_watermark
            .fetch_max(w.next_offset, Ordering::AcqRel);
        checkpoint::write(
            &self.dir,
            Checkpoint {
                recovery_point: w.next_offset,
                clean: true,
            },
        )?;
        w.closed = true;
        drop(w);
        for segment in read_lock(&self.segments).values() {
            segment.unmap_indexes();
        }
        lock(&self.dir_lock).take();
        Ok(())
    }

    /// What opening this log found and repaired.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Counters since the log was opened.
    pub fn metrics(&self) -> LogMetrics {
        self.counters.snapshot()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_bases(&self) -> Vec<i64> {
        read_lock(&self.segments).keys().copied().collect()
    }

    /// Bytes of the log from the batch holding `offset` to its end: what a
    /// replica that has everything before `offset` still lacks. 0 at or past the
    /// high watermark. Reads the batch's position from the segment's index (in
    /// [`ReadMode::Cached`] it fails with `NotCached` rather than wait on the
    /// disk).
    pub fn bytes_from(&self, offset: i64, mode: ReadMode) -> Result<u64> {
        let Some(batches) = self.read_slice_in(offset, 1, mode)?.batches else {
            return Ok(0);
        };
        let segment = &batches.segment;
        let later: u64 = read_lock(&self.segments)
            .range(segment.base_offset + 1..)
            .map(|(_, s)| s.size())
            .sum();
        Ok(segment.size().saturating_sub(batches.position) + later)
    }

    /// Total bytes in all segments.
    pub fn size_bytes(&self) -> u64 {
        read_lock(&self.segments).values().map(|s| s.size()).sum()
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &LogOptions {
        &self.opts
    }
}

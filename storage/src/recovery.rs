//! Opening a log directory: the whole walk from the files on disk to a log ready for
//! appends, repairing what a crash left behind.
//!
//! [`recover`] reads the checkpoint, lists the segments and opens them in offset
//! order. A segment covered by the recovery point (everything in it was fsynced,
//! and its indexes trimmed, before the checkpoint was written) is *trusted*: its
//! index entries are checked for order and range, the last offset-index entry must
//! point at the batch it names, the tail after it must hold no batch that should
//! have had an entry, and the time index must not be empty for a non-empty log.
//! Only that tail is walked. Any other segment, and any trusted
//! one whose check fails, is *scanned*: every batch is read and fully validated (CRC
//! and structure) and must continue the offsets of the one before; the indexes are
//! rebuilt on the way; the file is truncated at the first batch that fails.
//!
//! Invariants of the result: the segments are contiguous (a segment after a cut, or
//! one that does not start where the previous one ends, is deleted with every later
//! one), there is at least one segment, every closed segment is sealed and durable,
//! and the checkpoint names the active segment's base, so a crash from here on scans
//! only the active segment and later ones. A read error is never taken for damage:
//! it fails the open and cuts nothing.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rill_protocol::{RecordBatch, BATCH_HEADER_LEN, LOG_OVERHEAD};

use crate::checkpoint::{self, Checkpoint};
use crate::clock::now_ms;
use crate::durable::sync_dir;
use crate::error::{IoContext, Result};
use crate::locks::{lock, read_lock, write_lock};
use crate::metrics::Counters;
use crate::options::LogOptions;
use crate::segment::{IndexProgress, Segment};
use crate::segments::{create_segment, delete_segment_files, list_segments, open_segment_files};

/// What [`crate::Log::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Whether the previous run closed the log cleanly.
    pub clean_shutdown: bool,
    /// Per-segment findings, by base offset, for segments that needed attention.
    pub segments: Vec<(i64, SegmentRecovery)>,
    /// Segments deleted because an earlier one was cut short.
    pub deleted_segments: Vec<i64>,
    /// Why the checkpoint file was ignored, if it was.
    pub checkpoint_problem: Option<String>,
}

/// What opening one segment found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentRecovery {
    /// Why the indexes were rebuilt, if they were.
    pub rebuilt_indexes: Option<String>,
    /// Where the log was cut and why, if a torn or corrupt batch was found.
    pub truncated: Option<Truncation>,
}

/// A cut made during recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Byte position the segment file was cut at.
    pub position: u64,
    /// Bytes removed.
    pub bytes_removed: u64,
    /// What was wrong with the first removed batch.
    pub reason: String,
}

/// A recovered log directory, ready for the log to take over.
pub(crate) struct Recovered {
    /// Every segment, by base offset; contiguous and never empty.
    pub segments: BTreeMap<i64, Arc<Segment>>,
    /// The last segment, its indexes grown for appends.
    pub active: Arc<Segment>,
    /// What was found and repaired.
    pub report: RecoveryReport,
}

/// Runs the open walk over `dir` (see the module docs). The caller holds the
/// directory lock, so nothing else changes the files meanwhile.
pub(crate) fn recover(dir: &Path, opts: &LogOptions) -> Result<Recovered> {
    let bases = list_segments(dir)?;
    let mut report = RecoveryReport::default();
    let recovery_point = read_recovery_point(dir, &mut report);
    let now = now_ms();
    let mut segments: BTreeMap<i64, Arc<Segment>> = BTreeMap::new();
    let mut cut = false;
    for base in bases {
        let continues = segments
            .values()
            .next_back()
            .is_none_or(|s| s.next_offset() == base);
        if cut || !continues {
            delete_segment_files(dir, base)?;
            report.deleted_segments.push(base);
            cut = true;
            continue;
        }
        // After a clean close the recovery point is the log end, and a segment
        // starting there is empty and sealed: only later ones would need a scan.
        let scan = if report.clean_shutdown {
            base > recovery_point
        } else {
            base >= recovery_point
        };
        let (segment, found) = open_segment(dir, base, opts, scan, now)?;
        cut = found.truncated.is_some();
        if found != SegmentRecovery::default() {
            tracing::warn!(dir = %dir.display(), base, ?found, "recovered segment");
            report.segments.push((base, found));
        }
        segments.insert(base, Arc::new(segment));
    }
    let active = match segments.values().next_back() {
        Some(s) => Arc::clone(s),
        None => {
            let s = Arc::new(create_segment(dir, 0, opts, now)?);
            segments.insert(0, Arc::clone(&s));
            s
        }
    };
    // A scanned segment's indexes were rebuilt at full preallocated size; seal
    // the closed ones so they are trimmed and durable before the checkpoint.
    for (base, found) in &report.segments {
        if *base != active.base_offset && found.rebuilt_indexes.is_some() {
            if let Some(segment) = segments.get(base) {
                segment.close()?;
            }
        }
    }
    write_lock(&active.index).grow(opts.index_max_bytes)?;
    write_lock(&active.time_index).grow(opts.index_max_bytes)?;
    active.sync_data()?;
    sync_dir(dir)?;
    checkpoint::write(
        dir,
        Checkpoint {
            recovery_point: active.base_offset,
            clean: false,
        },
    )?;
    Ok(Recovered {
        segments,
        active,
        report,
    })
}

/// The recovery point from the checkpoint, noting in `report` whether the last run
/// closed cleanly or why the checkpoint was ignored. Without a usable checkpoint
/// every segment is scanned (`i64::MIN`).
fn read_recovery_point(dir: &Path, report: &mut RecoveryReport) -> i64 {
    match checkpoint::read(dir) {
        Ok(Some(cp)) => {
            report.clean_shutdown = cp.clean;
            cp.recovery_point
        }
        Ok(None) => i64::MIN,
        Err(problem) => {
            report.checkpoint_problem = Some(problem);
            i64::MIN
        }
    }
}

/// Opens an existing segment, scanning it if `scan` is set or its indexes fail
/// their check.
pub(crate) fn open_segment(
    dir: &Path,
    base_offset: i64,
    opts: &LogOptions,
    scan: bool,
    now_ms: i64,
) -> Result<(Segment, SegmentRecovery)> {
    let (files, len) = open_segment_files(dir, base_offset)?;
    let segment = Segment::assemble(base_offset, files, opts, now_ms);
    segment.written.store(len, Ordering::Release);
    segment.visible.store(len, Ordering::Release);
    let mut report = SegmentRecovery::default();
    let counters = Counters::default();
    if !scan {
        match load_trusted(&segment, len, &counters) {
            Ok(()) => return Ok((segment, report)),
            Err(reason) => report.rebuilt_indexes = Some(reason),
        }
    } else {
        report.rebuilt_indexes = Some("segment is after the recovery point".to_string());
    }
    report.truncated = scan_segment(&segment, len, opts)?;
    Ok((segment, report))
}

/// Checks the indexes of a trusted segment and walks its tail to learn its next
/// offset and max timestamp. An `Err` says why the segment must be scanned.
fn load_trusted(segment: &Segment, len: u64, counters: &Counters) -> Result<(), String> {
    let base = segment.base_offset;
    read_lock(&segment.index)
        .check(
            |e| i128::from(e.relative_offset),
            |e| i128::from(e.position),
            |e| u64::from(e.position) < len,
        )
        .map_err(|e| format!("offset index: {e}"))?;
    read_lock(&segment.time_index)
        .check(
            |e| i128::from(e.timestamp),
            |e| i128::from(e.relative_offset),
            |_| true,
        )
        .map_err(|e| format!("time index: {e}"))?;
    let (mut pos, mut expected) = match read_lock(&segment.index).last() {
        Some(e) => (u64::from(e.position), base + i64::from(e.relative_offset)),
        None => (0, base),
    };
    let tail_start = pos;
    let mut max_ts = read_lock(&segment.time_index).last().map(|e| e.timestamp);
    let mut offset_of_max = max_ts.map_or(base, |_| {
        read_lock(&segment.time_index)
            .last()
            .map_or(base, |e| base + i64::from(e.relative_offset))
    });
    if len > 0 && read_lock(&segment.time_index).len() == 0 {
        return Err("time index is empty but the log is not".to_string());
    }
    while pos < len {
        // An entry is added before any batch that starts a full interval after
        // the previous entry, so a later tail batch means missing entries.
        if pos - tail_start >= segment.index_interval {
            return Err(format!(
                "offset index has no entry for the batch at byte {pos} \
                 ({} bytes after the last entry)",
                pos - tail_start
            ));
        }
        let h = segment.header_at(pos, len).map_err(|e| e.to_string())?;
        counters.headers_scanned.fetch_add(1, Ordering::Relaxed);
        if h.base_offset != expected {
            return Err(format!(
                "batch at byte {pos} has base offset {} where {expected} was expected",
                h.base_offset
            ));
        }
        if max_ts.is_none_or(|m| h.max_timestamp > m) {
            max_ts = Some(h.max_timestamp);
            offset_of_max = h.base_offset;
        }
        expected = h.next_offset();
        pos += h.total_len().unwrap_or(0) as u64;
    }
    if let Some(e) = read_lock(&segment.time_index).last() {
        if base + i64::from(e.relative_offset) >= expected && len > 0 {
            return Err(format!(
                "time index entry {e:?} is past the log end {expected}"
            ));
        }
    }
    segment.next_offset.store(expected, Ordering::Release);
    segment
        .max_timestamp
        .store(max_ts.unwrap_or(i64::MIN), Ordering::Release);
    *lock(&segment.progress) = IndexProgress::resumed(len - tail_start, max_ts, offset_of_max);
    Ok(())
}

/// Bytes a scan reads from the segment file at a time (more when one batch is
/// larger).
const SCAN_CHUNK: usize = 1 << 20;

/// Validates every batch, rebuilding the indexes, and cuts the file at the first
/// torn or invalid batch. Returns the cut, if one was made.
///
/// The file is read in chunks of [`SCAN_CHUNK`] bytes into one buffer, and each
/// batch is checked where it lies in the buffer; only a batch that straddles two
/// chunks is moved, to the front, before the next read.
fn scan_segment(segment: &Segment, len: u64, opts: &LogOptions) -> Result<Option<Truncation>> {
    write_lock(&segment.index).reset(opts.index_max_bytes)?;
    write_lock(&segment.time_index).reset(opts.index_max_bytes)?;
    *lock(&segment.progress) = IndexProgress::default();
    let mut window = Window::new(segment, len);
    let mut pos = 0u64;
    let mut expected = segment.base_offset;
    let mut failure = None;
    while pos < len {
        let batch = match valid_batch_at(segment, &mut window, pos, expected)? {
            Ok(batch) => batch,
            Err(reason) => {
                failure = Some(reason);
                break;
            }
        };
        let parsed = RecordBatch::new(batch).map_err(|e| segment.corrupt_err(pos, e))?;
        let header = *parsed.header();
        let size = batch.len() as u64;
        segment.track(pos, &header, size);
        expected = header.next_offset();
        pos += size;
    }
    segment.written.store(pos, Ordering::Release);
    segment.visible.store(pos, Ordering::Release);
    segment.next_offset.store(expected, Ordering::Release);
    let Some(reason) = failure else {
        return Ok(None);
    };
    segment
        .file
        .set_len(pos)
        .io("truncate segment", &segment.log_path)?;
    segment
        .file
        .sync_all()
        .io("fsync segment", &segment.log_path)?;
    Ok(Some(Truncation {
        position: pos,
        bytes_removed: len - pos,
        reason,
    }))
}

/// A window onto the first `len` bytes of a segment file: `buf[..filled]` holds
/// the file's bytes from `start`.
struct Window<'a> {
    segment: &'a Segment,
    len: u64,
    buf: Vec<u8>,
    start: u64,
    filled: usize,
}

impl<'a> Window<'a> {
    fn new(segment: &'a Segment, len: u64) -> Self {
        let size = usize::try_from(len).map_or(SCAN_CHUNK, |len| len.min(SCAN_CHUNK));
        Window {
            segment,
            len,
            buf: vec![0; size],
            start: 0,
            filled: 0,
        }
    }

    /// The file's bytes `pos..pos + n`, reading what the window lacks; `pos + n`
    /// must not pass `len`, and `pos` must not be before the window.
    fn bytes(&mut self, pos: u64, n: usize) -> Result<&[u8]> {
        let end = self.start + self.filled as u64;
        if pos + n as u64 > end {
            // Keep the bytes from `pos` on, at the front, and read after them.
            let keep_from = usize::try_from(pos - self.start).unwrap_or(self.filled);
            self.buf.copy_within(keep_from..self.filled, 0);
            self.filled -= keep_from;
            self.start = pos;
            let left = usize::try_from(self.len - pos).unwrap_or(usize::MAX);
            let want = n.max(SCAN_CHUNK).min(left);
            if self.buf.len() < want {
                self.buf.resize(want, 0);
            }
            let at = self.start + self.filled as u64;
            self.segment
                .file
                .read_exact_at(&mut self.buf[self.filled..want], at)
                .io("read segment", &self.segment.log_path)?;
            self.filled = want;
        }
        let from = usize::try_from(pos - self.start).unwrap_or(usize::MAX);
        Ok(&self.buf[from..from + n])
    }
}

/// The batch at `pos`, fully checked. `Ok(Err(reason))` says why the log must end
/// here; an outer `Err` is an I/O failure, which must not be mistaken for damage
/// (the caller stops instead of cutting data).
fn valid_batch_at<'w>(
    segment: &Segment,
    window: &'w mut Window<'_>,
    pos: u64,
    expected: i64,
) -> Result<Result<&'w [u8], String>> {
    let remaining = window.len - pos;
    let length = if remaining >= LOG_OVERHEAD as u64 {
        let prefix = window.bytes(pos, LOG_OVERHEAD)?;
        i32::from_be_bytes([prefix[8], prefix[9], prefix[10], prefix[11]])
    } else {
        0
    };
    let total = u64::try_from(length).map_or(u64::MAX, |l| l + LOG_OVERHEAD as u64);
    if remaining < LOG_OVERHEAD as u64 || total > remaining || total < BATCH_HEADER_LEN as u64 {
        return Ok(Err(format!(
            "batch at byte {pos} with length field {length} does not fit the \
             {remaining} bytes left (torn write)"
        )));
    }
    // `total` fits: it is at most the bytes left in the file.
    let batch = window.bytes(pos, total as usize)?;
    Ok(check_recovered(segment, batch, expected).map(|()| batch))
}

/// Full validation of one recovered batch, plus offset continuity.
fn check_recovered(segment: &Segment, buf: &[u8], expected: i64) -> Result<(), String> {
    let batch = RecordBatch::new(buf).map_err(|e| e.to_string())?;
    batch.validate().map_err(|e| e.to_string())?;
    if batch.base_offset() != expected {
        return Err(format!(
            "base offset {} where {expected} was expected",
            batch.base_offset()
        ));
    }
    if batch.last_offset() - segment.base_offset > i64::from(u32::MAX) {
        return Err("offsets exceed the segment's 32-bit relative range".to_string());
    }
    Ok(())
}

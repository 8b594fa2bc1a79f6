//! Opening a segment that already exists: trusting it cheaply, or scanning it.
//!
//! A segment covered by the log's recovery point (everything in it was fsynced,
//! and its indexes trimmed, before the checkpoint was written) is *trusted*: its
//! index entries are checked for order and range, the last offset-index entry must
//! point at the batch it names, the tail after it must hold no batch that should
//! have had an entry, and the time index must not be empty for a non-empty log.
//! Only that tail is walked. Any other segment, and any trusted
//! one whose check fails, is *scanned*: every batch is read and fully validated (CRC
//! and structure) and must continue the offsets of the one before; the indexes are
//! rebuilt on the way; the file is truncated at the first batch that fails.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::Ordering;

use rill_protocol::{RecordBatch, BATCH_HEADER_LEN, LOG_OVERHEAD};

use crate::error::IoContext;
use crate::locks::{lock, read_lock, write_lock};
use crate::metrics::Counters;
use crate::segment::{IndexProgress, Segment};
use crate::segments::open_segment_files;
use crate::{LogOptions, Result};

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

impl Segment {
    /// Opens an existing segment, scanning it if `scan` is set or its indexes fail
    /// their check.
    pub fn open(
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
            match segment.load_trusted(len, &counters) {
                Ok(()) => return Ok((segment, report)),
                Err(reason) => report.rebuilt_indexes = Some(reason),
            }
        } else {
            report.rebuilt_indexes = Some("segment is after the recovery point".to_string());
        }
        report.truncated = segment.scan(len, opts)?;
        Ok((segment, report))
    }

    /// Checks the indexes of a trusted segment and walks its tail to learn its next
    /// offset and max timestamp. An `Err` says why the segment must be scanned.
    fn load_trusted(&self, len: u64, counters: &Counters) -> Result<(), String> {
        let base = self.base_offset;
        read_lock(&self.index)
            .check(
                |e| i128::from(e.relative_offset),
                |e| i128::from(e.position),
                |e| u64::from(e.position) < len,
            )
            .map_err(|e| format!("offset index: {e}"))?;
        read_lock(&self.time_index)
            .check(
                |e| i128::from(e.timestamp),
                |e| i128::from(e.relative_offset),
                |_| true,
            )
            .map_err(|e| format!("time index: {e}"))?;
        let (mut pos, mut expected) = match read_lock(&self.index).last() {
            Some(e) => (u64::from(e.position), base + i64::from(e.relative_offset)),
            None => (0, base),
        };
        let tail_start = pos;
        let mut max_ts = read_lock(&self.time_index).last().map(|e| e.timestamp);
        let mut offset_of_max = max_ts.map_or(base, |_| {
            read_lock(&self.time_index)
                .last()
                .map_or(base, |e| base + i64::from(e.relative_offset))
        });
        if len > 0 && read_lock(&self.time_index).len() == 0 {
            return Err("time index is empty but the log is not".to_string());
        }
        while pos < len {
            // An entry is added before any batch that starts a full interval after
            // the previous entry, so a later tail batch means missing entries.
            if pos - tail_start >= self.index_interval {
                return Err(format!(
                    "offset index has no entry for the batch at byte {pos} \
                     ({} bytes after the last entry)",
                    pos - tail_start
                ));
            }
            let h = self.header_at(pos, len).map_err(|e| e.to_string())?;
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
        if let Some(e) = read_lock(&self.time_index).last() {
            if base + i64::from(e.relative_offset) >= expected && len > 0 {
                return Err(format!(
                    "time index entry {e:?} is past the log end {expected}"
                ));
            }
        }
        self.next_offset.store(expected, Ordering::Release);
        self.max_timestamp
            .store(max_ts.unwrap_or(i64::MIN), Ordering::Release);
        *lock(&self.progress) = IndexProgress::resumed(len - tail_start, max_ts, offset_of_max);
        Ok(())
    }

    /// Validates every batch, rebuilding the indexes, and cuts the file at the first
    /// torn or invalid batch. Returns the cut, if one was made.
    fn scan(&self, len: u64, opts: &LogOptions) -> Result<Option<Truncation>> {
        write_lock(&self.index).reset(opts.index_max_bytes)?;
        write_lock(&self.time_index).reset(opts.index_max_bytes)?;
        *lock(&self.progress) = IndexProgress::default();
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))
            .io("seek segment", &self.log_path)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut buf = Vec::new();
        let mut pos = 0u64;
        let mut expected = self.base_offset;
        let mut failure = None;
        while pos < len {
            match self.read_valid_batch(&mut reader, &mut buf, pos, len, expected)? {
                Ok(()) => {}
                Err(reason) => {
                    failure = Some(reason);
                    break;
                }
            }
            let batch = RecordBatch::new(&buf).map_err(|e| self.corrupt_err(pos, e))?;
            let header = *batch.header();
            self.track(pos, &header, buf.len() as u64);
            expected = header.next_offset();
            pos += buf.len() as u64;
        }
        self.written.store(pos, Ordering::Release);
        self.visible.store(pos, Ordering::Release);
        self.next_offset.store(expected, Ordering::Release);
        let Some(reason) = failure else {
            return Ok(None);
        };
        self.file
            .set_len(pos)
            .io("truncate segment", &self.log_path)?;
        self.file.sync_all().io("fsync segment", &self.log_path)?;
        Ok(Some(Truncation {
            position: pos,
            bytes_removed: len - pos,
            reason,
        }))
    }

    /// Reads the batch at `pos` into `buf` and checks it fully. `Ok(Err(reason))`
    /// says why the log must end here; an outer `Err` is an I/O failure, which must
    /// not be mistaken for damage (the caller stops instead of cutting data).
    fn read_valid_batch(
        &self,
        reader: &mut impl Read,
        buf: &mut Vec<u8>,
        pos: u64,
        len: u64,
        expected: i64,
    ) -> Result<Result<(), String>> {
        let remaining = len - pos;
        let mut prefix = [0u8; LOG_OVERHEAD];
        if remaining >= LOG_OVERHEAD as u64 {
            reader
                .read_exact(&mut prefix)
                .io("read segment", &self.log_path)?;
        }
        let length = i32::from_be_bytes([prefix[8], prefix[9], prefix[10], prefix[11]]);
        let total = u64::try_from(length).map_or(u64::MAX, |l| l + LOG_OVERHEAD as u64);
        if remaining < LOG_OVERHEAD as u64 || total > remaining || total < BATCH_HEADER_LEN as u64 {
            return Ok(Err(format!(
                "batch at byte {pos} with length field {length} does not fit the \
                 {remaining} bytes left (torn write)"
            )));
        }
        buf.clear();
        buf.extend_from_slice(&prefix);
        buf.resize(total as usize, 0);
        reader
            .read_exact(&mut buf[LOG_OVERHEAD..])
            .io("read segment", &self.log_path)?;
        Ok(self.check_recovered(buf, expected))
    }

    /// Full validation of one recovered batch, plus offset continuity.
    fn check_recovered(&self, buf: &[u8], expected: i64) -> Result<(), String> {
        let batch = RecordBatch::new(buf).map_err(|e| e.to_string())?;
        batch.validate().map_err(|e| e.to_string())?;
        if batch.base_offset() != expected {
            return Err(format!(
                "base offset {} where {expected} was expected",
                batch.base_offset()
            ));
        }
        if batch.last_offset() - self.base_offset > i64::from(u32::MAX) {
            return Err("offsets exceed the segment's 32-bit relative range".to_string());
        }
        Ok(())
    }
}

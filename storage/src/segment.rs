//! One segment of a partition log: a `.log` file of record batches and its two
//! sparse indexes.
//!
//! How the files are named, created, opened and deleted is [`crate::segments`]'
//! business; a `Segment` is handed its open files. Batches are stored exactly
//! as they came over the wire, back to back; the first batch's base offset is the
//! segment's base offset and every following batch starts where the previous one's
//! offsets end (compaction keeps batch offset spans, so this holds after it too).
//!
//! Concurrency: only the log's writer appends, truncates or closes a segment; any
//! number of readers call the `&self` lookups at the same time. Readers never look
//! past `visible`, the byte length the writer has published to them.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use rill_protocol::batch::MAX_DECOMPRESSED_BYTES;
use rill_protocol::{BatchHeader, RecordBatch, BATCH_HEADER_LEN};

use crate::error::IoContext;
use crate::error::{Error, Result};
use crate::index::{MmapIndex, OffsetEntry, TimeEntry};
use crate::locks::{lock, read_lock, write_lock};
use crate::metrics::Counters;
use crate::options::LogOptions;
use crate::read_mode::{read_exact_at, ReadMode};

/// The open files of a segment, before they are assembled into one.
pub(crate) struct SegmentFiles {
    pub log_path: PathBuf,
    pub file: File,
    pub index: MmapIndex<OffsetEntry>,
    pub time_index: MmapIndex<TimeEntry>,
}

/// Writer-side bookkeeping for placing sparse index entries.
#[derive(Debug, Default)]
pub(crate) struct IndexProgress {
    pub since_index: u64,
    pub since_time_index: u64,
    pub max_timestamp: Option<i64>,
    pub offset_of_max_timestamp: i64,
}

/// One segment. See the module docs.
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    pub(crate) log_path: PathBuf,
    pub(crate) file: File,
    /// Bytes written to `file`; advanced only by the writer.
    pub(crate) written: AtomicU64,
    /// Bytes readers may see; at most `written`.
    pub(crate) visible: AtomicU64,
    /// Offset after the last written batch.
    pub(crate) next_offset: AtomicI64,
    /// Largest batch max-timestamp in the segment (`i64::MIN` when empty).
    pub(crate) max_timestamp: AtomicI64,
    /// Wall-clock time (ms since the epoch) the segment's age counts from: its first
    /// append, or, for a segment reopened with data, the moment it was opened.
    pub(crate) roll_reference_ms: AtomicI64,
    pub(crate) index: RwLock<MmapIndex<OffsetEntry>>,
    pub(crate) time_index: RwLock<MmapIndex<TimeEntry>>,
    pub(crate) progress: Mutex<IndexProgress>,
    pub(crate) index_interval: u64,
}

impl Segment {
    /// Builds a segment from its freshly created or opened files: empty as far as
    /// its counters go (recovery fills them in for a segment that has data).
    pub(crate) fn assemble(
        base_offset: i64,
        files: SegmentFiles,
        opts: &LogOptions,
        now_ms: i64,
    ) -> Segment {
        let SegmentFiles {
            log_path,
            file,
            index,
            time_index,
        } = files;
        Segment {
            base_offset,
            log_path,
            file,
            written: AtomicU64::new(0),
            visible: AtomicU64::new(0),
            next_offset: AtomicI64::new(base_offset),
            max_timestamp: AtomicI64::new(i64::MIN),
            roll_reference_ms: AtomicI64::new(now_ms),
            index: RwLock::new(index),
            time_index: RwLock::new(time_index),
            progress: Mutex::new(IndexProgress::default()),
            index_interval: opts.index_interval_bytes,
        }
    }

    /// Bytes written.
    pub fn size(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// Offset after the last written batch.
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Whether either index has no room for another entry.
    pub fn indexes_full(&self) -> bool {
        read_lock(&self.index).is_full() || read_lock(&self.time_index).is_full()
    }

    /// Appends a validated batch whose base offset is already stamped to
    /// `next_offset()`. Readers do not see it until [`Segment::publish`].
    pub fn append(&self, batch: &[u8], header: &BatchHeader, now_ms: i64) -> Result<()> {
        self.append_pieces([batch, &[]], header, now_ms)
    }

    /// As [`Segment::append`] for a batch in two pieces, written one after the
    /// other by one vectored write (a stamped copy of its header, then the
    /// rest from where it is).
    pub fn append_pieces(
        &self,
        batch: [&[u8]; 2],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<()> {
        let pos = self.size();
        write_all_vectored_at(&self.file, batch, pos).io("write segment", &self.log_path)?;
        let at = pos + (batch[0].len() + batch[1].len()) as u64;
        if pos == 0 {
            self.roll_reference_ms.store(now_ms, Ordering::Release);
        }
        self.track(pos, header, at - pos);
        self.written.store(at, Ordering::Release);
        self.next_offset
            .store(header.next_offset(), Ordering::Release);
        Ok(())
    }

    /// Records a batch at `pos` in the indexes and the running max timestamp.
    pub(crate) fn track(&self, pos: u64, h: &BatchHeader, len: u64) {
        let mut p = lock(&self.progress);
        let relative = (h.base_offset - self.base_offset) as u32;
        if p.since_index >= self.index_interval {
            let entry = OffsetEntry {
                relative_offset: relative,
                position: pos as u32,
            };
            if write_lock(&self.index).push(entry) {
                p.since_index = 0;
            }
        }
        p.since_index += len;
        p.since_time_index += len;
        if p.max_timestamp.is_none_or(|m| h.max_timestamp > m) {
            p.max_timestamp = Some(h.max_timestamp);
            p.offset_of_max_timestamp = h.base_offset;
            self.max_timestamp
                .fetch_max(h.max_timestamp, Ordering::AcqRel);
        }
        self.maybe_add_time_entry(&mut p, false);
    }

    fn maybe_add_time_entry(&self, p: &mut IndexProgress, force: bool) {
        let Some(max) = p.max_timestamp else { return };
        let mut time_index = write_lock(&self.time_index);
        let due = force || time_index.len() == 0 || p.since_time_index >= self.index_interval;
        if due && time_index.last().is_none_or(|e| max > e.timestamp) {
            let entry = TimeEntry {
                timestamp: max,
                relative_offset: (p.offset_of_max_timestamp - self.base_offset) as u32,
            };
            if time_index.push(entry) {
                p.since_time_index = 0;
            }
        }
    }

    /// Makes everything written so far visible to readers.
    pub fn publish(&self, upto: u64) {
        self.visible.fetch_max(upto, Ordering::AcqRel);
    }

    /// Forces written data to disk (`fdatasync`).
    pub fn sync_data(&self) -> Result<()> {
        self.file.sync_data().io("fsync segment", &self.log_path)
    }

    /// Seals the segment: a final time-index entry for its max timestamp, indexes
    /// trimmed to their entries, and everything fsynced.
    pub fn close(&self) -> Result<()> {
        self.maybe_add_time_entry(&mut lock(&self.progress), true);
        write_lock(&self.index).trim()?;
        write_lock(&self.time_index).trim()?;
        self.file.sync_all().io("fsync segment", &self.log_path)?;
        self.publish(self.size());
        Ok(())
    }

    /// Drops both index mappings and forgets their entries, leaving the files as
    /// they are: lookups then start at position 0. The log does this on close,
    /// before it gives up the directory lock that makes the mappings sound.
    pub fn unmap_indexes(&self) {
        write_lock(&self.index).unmap();
        write_lock(&self.time_index).unmap();
    }

    /// Reads and parses the batch header at `pos`, which must lie below `limit`.
    pub fn header_at(&self, pos: u64, limit: u64) -> Result<BatchHeader> {
        self.header_in(pos, limit, ReadMode::Wait)
    }

    /// [`Segment::header_at`], reading as `mode` allows.
    fn header_in(&self, pos: u64, limit: u64, mode: ReadMode) -> Result<BatchHeader> {
        let mut buf = [0u8; BATCH_HEADER_LEN];
        if pos + BATCH_HEADER_LEN as u64 > limit {
            return Err(self.corrupt(pos, "batch header runs past the end of the segment"));
        }
        read_exact_at(&self.file, &mut buf, pos, mode, &self.log_path)?;
        let header = BatchHeader::parse(&buf).map_err(|e| self.corrupt_err(pos, e))?;
        match header.total_len() {
            Some(n) if n >= BATCH_HEADER_LEN && pos + n as u64 <= limit => Ok(header),
            _ => Err(self.corrupt(pos, "batch length field runs past the end of the segment")),
        }
    }

    /// Finds the first batch whose last offset is at least `offset`, starting from
    /// the nearest offset-index entry at or below it. Returns its position and header.
    pub fn find_batch(
        &self,
        offset: i64,
        counters: &Counters,
        mode: ReadMode,
    ) -> Result<Option<(u64, BatchHeader)>> {
        let limit = self.visible.load(Ordering::Acquire);
        let start = read_lock(&self.index)
            .floor(|e| self.base_offset + i64::from(e.relative_offset) <= offset)
            .map_or(0, |e| u64::from(e.position));
        counters.index_lookups.fetch_add(1, Ordering::Relaxed);
        self.walk_from(start, limit, counters, mode, |h| h.last_offset() >= offset)
    }

    /// Walks batch headers from `pos` until `stop` holds or `limit` is reached.
    fn walk_from(
        &self,
        mut pos: u64,
        limit: u64,
        counters: &Counters,
        mode: ReadMode,
        stop: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>> {
        while pos < limit {
            let h = self.header_in(pos, limit, mode)?;
            counters.headers_scanned.fetch_add(1, Ordering::Relaxed);
            if stop(&h) {
                return Ok(Some((pos, h)));
            }
            pos += h.total_len().unwrap_or(0) as u64;
        }
        Ok(None)
    }

    /// The extent of a read from `pos` (a batch boundary found by
    /// [`Segment::find_batch`], `first` the header there): at least the first batch,
    /// then every following batch that ends within `max_bytes` of `pos`, stopping at
    /// `visible` and before the first batch starting at or after `end_offset` (the
    /// high watermark). Returns the length in bytes and the offset after the last
    /// batch. An index entry inside the range lets it skip the headers before it,
    /// so the walk reads about `index_interval_bytes` of headers, not all of them.
    pub fn extent(
        &self,
        pos: u64,
        first: &BatchHeader,
        max_bytes: usize,
        end_offset: i64,
        counters: &Counters,
        mode: ReadMode,
    ) -> Result<(u64, i64)> {
        let limit = self.visible.load(Ordering::Acquire);
        let first_len = first.total_len().unwrap_or(0) as u64;
        if first_len == 0 || pos + first_len > limit {
            return Err(self.corrupt(pos, "batch does not fit in the segment"));
        }
        let cap = pos
            .saturating_add(max_bytes as u64)
            .min(limit)
            .max(pos + first_len);
        let mut end = pos + first_len;
        let mut next = first.next_offset();
        let base = self.base_offset;
        let skip = read_lock(&self.index).floor(|e| {
            u64::from(e.position) <= cap && base + i64::from(e.relative_offset) < end_offset
        });
        if let Some(e) = skip.filter(|e| u64::from(e.position) > end) {
            counters.index_lookups.fetch_add(1, Ordering::Relaxed);
            end = u64::from(e.position);
            next = base + i64::from(e.relative_offset);
        }
        while end < cap {
            let h = self.header_in(end, limit, mode)?;
            counters.headers_scanned.fetch_add(1, Ordering::Relaxed);
            let len = h.total_len().unwrap_or(0) as u64;
            if h.base_offset >= end_offset || end + len > cap {
                break;
            }
            end += len;
            next = h.next_offset();
        }
        Ok((end - pos, next))
    }

    /// Reads whole batches starting at `pos` (a batch boundary found by
    /// [`Segment::find_batch`]): at least the first batch, then as many more as fit
    /// in `max_bytes`.
    pub fn read(&self, pos: u64, first: &BatchHeader, max_bytes: usize) -> Result<Vec<u8>> {
        let limit = self.visible.load(Ordering::Acquire);
        let first_len = first.total_len().unwrap_or(0) as u64;
        let want = (max_bytes as u64)
            .max(first_len)
            .min(limit.saturating_sub(pos));
        let mut buf = vec![0u8; want as usize];
        self.file
            .read_exact_at(&mut buf, pos)
            .io("read segment", &self.log_path)?;
        let mut end = 0usize;
        while let Ok(h) = BatchHeader::parse(&buf[end..]) {
            match h.total_len() {
                Some(n) if n >= BATCH_HEADER_LEN && end + n <= buf.len() => end += n,
                _ => break,
            }
        }
        if end == 0 {
            return Err(self.corrupt(pos, "batch does not fit in the segment"));
        }
        buf.truncate(end);
        Ok(buf)
    }

    /// Offset of the first record with a timestamp at or after `timestamp`, if this
    /// segment has one.
    pub fn offset_for_timestamp(&self, timestamp: i64, counters: &Counters) -> Result<Option<i64>> {
        if self.max_timestamp.load(Ordering::Acquire) < timestamp {
            return Ok(None);
        }
        let from_offset = read_lock(&self.time_index)
            .floor(|e| e.timestamp < timestamp)
            .map_or(self.base_offset, |e| {
                self.base_offset + i64::from(e.relative_offset)
            });
        let Some((mut pos, _)) = self.find_batch(from_offset, counters, ReadMode::Wait)? else {
            return Ok(None);
        };
        let limit = self.visible.load(Ordering::Acquire);
        while let Some((at, h)) = self.walk_from(pos, limit, counters, ReadMode::Wait, |h| {
            h.max_timestamp >= timestamp
        })? {
            let bytes = self.read(at, &h, 0)?;
            let batch = RecordBatch::new(&bytes).map_err(|e| self.corrupt_err(at, e))?;
            let section = batch
                .records_section(MAX_DECOMPRESSED_BYTES)
                .map_err(|e| self.corrupt_err(at, e))?;
            for record in batch.records_in(&section) {
                let record = record.map_err(|e| self.corrupt_err(at, e))?;
                if record.timestamp >= timestamp {
                    return Ok(Some(record.offset));
                }
            }
            pos = at + bytes.len() as u64;
        }
        Ok(None)
    }

    /// Removes every batch whose last offset is at least `offset`; returns the new
    /// next offset.
    pub fn truncate_to(&self, offset: i64, counters: &Counters) -> Result<i64> {
        let limit = self.size();
        let cut = self.walk_from(0, limit, counters, ReadMode::Wait, |h| {
            h.last_offset() >= offset
        })?;
        let Some((pos, header)) = cut else {
            return Ok(self.next_offset());
        };
        self.file
            .set_len(pos)
            .io("truncate segment", &self.log_path)?;
        self.file.sync_all().io("fsync segment", &self.log_path)?;
        self.written.store(pos, Ordering::Release);
        self.visible.store(pos, Ordering::Release);
        let next = header.base_offset;
        self.next_offset.store(next, Ordering::Release);
        let base = self.base_offset;
        write_lock(&self.index).truncate_while(|e| u64::from(e.position) < pos);
        write_lock(&self.time_index).truncate_while(|e| base + i64::from(e.relative_offset) < next);
        self.rebuild_progress(counters).map(|()| next)
    }

    /// Recomputes the running max timestamp and index spacing after a truncation by
    /// walking from the last time-index entry to the end.
    fn rebuild_progress(&self, counters: &Counters) -> Result<()> {
        let last_time = read_lock(&self.time_index).last();
        let start = match last_time {
            Some(e) => self
                .find_batch(
                    self.base_offset + i64::from(e.relative_offset),
                    counters,
                    ReadMode::Wait,
                )?
                .map_or(0, |(pos, _)| pos),
            None => 0,
        };
        let limit = self.size();
        let last_entry = read_lock(&self.index)
            .last()
            .map_or(0, |e| u64::from(e.position));
        let mut p = lock(&self.progress);
        *p = IndexProgress::resumed(
            limit - last_entry,
            last_time.map(|e| e.timestamp),
            last_time.map_or(0, |e| self.base_offset + i64::from(e.relative_offset)),
        );
        let mut pos = start;
        while pos < limit {
            let h = self.header_at(pos, limit)?;
            if p.max_timestamp.is_none_or(|m| h.max_timestamp > m) {
                p.max_timestamp = Some(h.max_timestamp);
                p.offset_of_max_timestamp = h.base_offset;
            }
            pos += h.total_len().unwrap_or(0) as u64;
        }
        self.max_timestamp
            .store(p.max_timestamp.unwrap_or(i64::MIN), Ordering::Release);
        Ok(())
    }

    pub(crate) fn corrupt(&self, pos: u64, what: &str) -> Error {
        self.corrupt_err(
            pos,
            rill_protocol::Error::Invalid {
                what: "stored batch",
                detail: what.to_string(),
            },
        )
    }

    pub(crate) fn corrupt_err(&self, pos: u64, source: rill_protocol::Error) -> Error {
        Error::Corrupt {
            path: self.log_path.clone(),
            position: pos,
            source,
        }
    }
}

impl IndexProgress {
    /// Progress for a segment whose last index entry is `since_index` bytes back.
    pub(crate) fn resumed(
        since_index: u64,
        max_timestamp: Option<i64>,
        offset_of_max: i64,
    ) -> Self {
        IndexProgress {
            since_index,
            since_time_index: since_index,
            max_timestamp,
            offset_of_max_timestamp: offset_of_max,
        }
    }
}

/// Writes `pieces`, one after the other, at `pos` of `file`: one `pwritev`
/// unless the kernel takes less, then again from where it stopped.
fn write_all_vectored_at(file: &File, pieces: [&[u8]; 2], pos: u64) -> std::io::Result<()> {
    let [mut first, mut second] = pieces;
    let mut at = pos;
    while !first.is_empty() || !second.is_empty() {
        let slices = [std::io::IoSlice::new(first), std::io::IoSlice::new(second)];
        let written = match rustix::io::pwritev(file, &slices, at) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => written,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        at += written as u64;
        let from_first = written.min(first.len());
        first = &first[from_first..];
        second = &second[written - from_first..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectored_writes_land_one_piece_after_the_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = File::options()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.path().join("f"))
            .expect("open");
        write_all_vectored_at(&file, [b"abc", b"defgh"], 2).expect("write");
        write_all_vectored_at(&file, [b"", b"XY"], 0).expect("write");
        write_all_vectored_at(&file, [b"Z", b""], 10).expect("write");
        write_all_vectored_at(&file, [b"", b""], 20).expect("nothing to write");
        let mut got = vec![0; 11];
        file.read_exact_at(&mut got, 0).expect("read");
        assert_eq!(&got, b"XYabcdefghZ");
        assert_eq!(file.metadata().expect("metadata").len(), 11);
    }
}

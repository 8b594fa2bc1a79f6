//! [`StoredBatches`]: the answer to a read as a byte range of a segment file, so a
//! server can send stored batches to a socket straight from the file (`sendfile`)
//! instead of copying them through a buffer.
//!
//! Invariants:
//! - The range covers whole batches, back to back, exactly as stored: it starts at a
//!   batch boundary and ends at one, inside the bytes that were visible to readers
//!   when it was made, and every batch in it starts below the high watermark the
//!   read reported.
//! - It holds its segment (and with it the open file) alive, so the bytes stay
//!   readable after retention or compaction drop the segment from the log: an
//!   unlinked file keeps its contents while a handle is open. Only `truncate_to`
//!   (which cuts the file in place) can take the bytes away; reading them then
//!   fails, it never returns other bytes.

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::error::Result;
use crate::read_mode::{read_exact_at, ReadMode};
use crate::segment::Segment;

/// Whole stored batches: `len` bytes at `position` of one segment file.
pub struct StoredBatches {
    pub(crate) segment: Arc<Segment>,
    pub(crate) position: u64,
    pub(crate) len: u64,
    pub(crate) base_offset: i64,
    pub(crate) next_offset: i64,
}

impl StoredBatches {
    /// The segment file holding the batches (open for reading; do not write it).
    pub fn file(&self) -> &File {
        &self.segment.file
    }

    /// The segment file's path, for error messages.
    pub fn path(&self) -> &Path {
        &self.segment.log_path
    }

    /// Byte position of the first batch in [`StoredBatches::file`].
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Length of the range in bytes; never 0.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always false: a range holds at least one batch. (For clippy's `len` rule.)
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Base offset of the first batch (may be below the offset that was read: the
    /// first batch is the one holding it).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The offset after the last batch: where the next read goes on.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Offsets the batches span, `next_offset - base_offset`: their record count,
    /// plus any offsets compaction removed from inside them.
    pub fn offsets(&self) -> u64 {
        u64::try_from(self.next_offset.saturating_sub(self.base_offset)).unwrap_or(0)
    }

    /// Reads `buf.len()` bytes of the range, starting `from` bytes into it.
    pub fn read_at(&self, from: u64, buf: &mut [u8]) -> Result<()> {
        self.read_in(from, buf, ReadMode::Wait)
    }

    fn read_in(&self, from: u64, buf: &mut [u8], mode: ReadMode) -> Result<()> {
        read_exact_at(
            &self.segment.file,
            buf,
            self.position + from,
            mode,
            &self.segment.log_path,
        )
    }

    /// Copies the whole range into memory, reading as `mode` allows (in
    /// [`ReadMode::Cached`], failing with [`crate::Error::NotCached`] rather than
    /// wait for the disk).
    pub fn to_vec(&self, mode: ReadMode) -> Result<Vec<u8>> {
        let len = usize::try_from(self.len).unwrap_or(usize::MAX);
        let mut buf = vec![0u8; len];
        self.read_in(0, &mut buf, mode)?;
        Ok(buf)
    }
}

impl fmt::Debug for StoredBatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredBatches")
            .field("path", &self.segment.log_path)
            .field("position", &self.position)
            .field("len", &self.len)
            .field("base_offset", &self.base_offset)
            .field("next_offset", &self.next_offset)
            .finish()
    }
}

/// The result of [`crate::Log::read_slice`]: where the batches are, and the log's
/// bounds at read time.
#[derive(Debug)]
pub struct ReadSlice {
    /// The batches, or `None` when there is nothing to read at the offset.
    pub batches: Option<StoredBatches>,
    /// The log's high watermark (next offset readers will see) at read time.
    pub high_watermark: i64,
    /// The first offset in the log at read time.
    pub log_start_offset: i64,
}

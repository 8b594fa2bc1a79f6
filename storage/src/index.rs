//! Sparse, memory-mapped index files: `.index` (offset → position) and `.timeindex`
//! (timestamp → offset).
//!
//! An index file is an array of fixed-size big-endian entries. While its segment is
//! active the file is preallocated to `index_max_bytes` and mapped read-write; the
//! number of valid entries is kept in memory, and the tail beyond it is zeros. When
//! the segment is closed the file is trimmed to exactly its entries, so a cleanly
//! closed index's length tells its entry count.
//!
//! Entries are sorted by both of their fields (strictly by the first), so every
//! lookup is a binary search over the mapping. [`MmapIndex::check`] verifies that
//! order when an index is loaded from disk; a file that fails is rebuilt from its log.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use memmap2::{Advice, MmapMut};

use crate::error::{IoContext, Result};

/// A fixed-size index entry.
pub(crate) trait Entry: Copy + std::fmt::Debug {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Decodes from exactly `SIZE` bytes.
    fn decode(bytes: &[u8]) -> Self;
    /// Encodes into exactly `SIZE` bytes.
    fn encode(&self, out: &mut [u8]);
}

/// `.index` entry: a batch's base offset relative to the segment base, and the byte
/// position of that batch in the segment's `.log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl Entry for OffsetEntry {
    const SIZE: usize = 8;
    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }
}

/// `.timeindex` entry: the largest timestamp seen in the segment so far, and the
/// relative offset of the batch that first reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

impl Entry for TimeEntry {
    const SIZE: usize = 12;
    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }
}

/// One memory-mapped index file.
pub(crate) struct MmapIndex<E: Entry> {
    path: PathBuf,
    file: File,
    /// `None` when the file is empty (a zero-length mapping is not allowed).
    mmap: Option<MmapMut>,
    entries: usize,
    /// Bytes at the end of the file that do not form a whole entry.
    ragged_tail: u64,
    _entry: PhantomData<E>,
}

impl<E: Entry> MmapIndex<E> {
    /// Opens an existing file (or creates an empty one); every whole entry in it
    /// counts. Call [`MmapIndex::check`] before trusting them.
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .io("open index", path)?;
        let len = file.metadata().io("stat index", path)?.len();
        let mut index = MmapIndex {
            path: path.to_path_buf(),
            file,
            mmap: None,
            entries: (len / E::SIZE as u64) as usize,
            ragged_tail: len % E::SIZE as u64,
            _entry: PhantomData,
        };
        index.remap(len)?;
        Ok(index)
    }

    /// Creates (or empties) the file.
    pub fn create(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .io("create index", path)?;
        Ok(MmapIndex {
            path: path.to_path_buf(),
            file,
            mmap: None,
            entries: 0,
            ragged_tail: 0,
            _entry: PhantomData,
        })
    }

    fn remap(&mut self, len: u64) -> Result<()> {
        self.mmap = None;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: a file mapping is sound only while no one shrinks the file under
        // it. Index files are mapped only by the `Log` holding the partition
        // directory's lock (`dir_lock.rs`; `Log::open` takes it before opening any
        // file), and it holds the lock while any mapping of a file named in the
        // directory exists: `Log::close` unmaps before releasing it, and a dropped
        // `Log` drops its segments before the lock. So no other `Log`, in this
        // process or another, truncates or rewrites these files. Within the log, a
        // file changes size only through the one `MmapIndex` that maps it, and every
        // `set_len` here drops the mapping first; files the log retires are unlinked,
        // never truncated, and a name is only created afresh once no live segment
        // maps it. Mapped reads stay below the entry count, which never exceeds the
        // mapped length.
        let mmap = unsafe { MmapMut::map_mut(&self.file) }.io("mmap index", &self.path)?;
        // Entries are appended 8 or 12 bytes at a time and looked up by binary
        // search: without this, each page fault reads ahead (and zeroes, in the
        // preallocated hole) a large folio, which with many partitions costs more
        // than the appends themselves.
        mmap.advise(Advice::Random).io("advise index", &self.path)?;
        self.mmap = Some(mmap);
        Ok(())
    }

    /// Drops the mapping and forgets every entry; the file is left as it is. After
    /// this the index is empty and full: lookups find nothing and pushes fail.
    pub fn unmap(&mut self) {
        self.mmap = None;
        self.entries = 0;
        self.ragged_tail = 0;
    }

    /// Preallocates the file to `capacity` bytes so entries can be appended.
    pub fn grow(&mut self, capacity: u64) -> Result<()> {
        let capacity = capacity - capacity % E::SIZE as u64;
        let current = self.mmap.as_ref().map_or(0, |m| m.len() as u64);
        if capacity <= current {
            return Ok(());
        }
        self.mmap = None;
        self.file.set_len(capacity).io("grow index", &self.path)?;
        self.remap(capacity)
    }

    /// Drops every entry and preallocates the emptied file to `capacity` bytes.
    pub fn reset(&mut self, capacity: u64) -> Result<()> {
        self.mmap = None;
        self.entries = 0;
        self.ragged_tail = 0;
        self.file.set_len(0).io("empty index", &self.path)?;
        self.grow(capacity)
    }

    /// Flushes and shrinks the file to exactly its entries.
    pub fn trim(&mut self) -> Result<()> {
        self.flush()?;
        let len = (self.entries * E::SIZE) as u64;
        self.mmap = None;
        self.file.set_len(len).io("trim index", &self.path)?;
        self.file.sync_all().io("fsync index", &self.path)?;
        self.remap(len)
    }

    /// Writes dirty pages of the mapping to the file.
    pub fn flush(&self) -> Result<()> {
        match &self.mmap {
            Some(m) => m.flush().io("flush index", &self.path),
            None => Ok(()),
        }
    }

    /// Number of valid entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Entry `i` (< `len()`).
    pub fn get(&self, i: usize) -> E {
        let m = self.mmap.as_ref().map_or(&[][..], |m| &m[..]);
        E::decode(&m[i * E::SIZE..(i + 1) * E::SIZE])
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<E> {
        self.entries.checked_sub(1).map(|i| self.get(i))
    }

    /// Whether no more entries fit in the preallocated file.
    pub fn is_full(&self) -> bool {
        let cap = self.mmap.as_ref().map_or(0, |m| m.len());
        (self.entries + 1) * E::SIZE > cap
    }

    /// Appends an entry; returns false (and appends nothing) when the file is full.
    pub fn push(&mut self, entry: E) -> bool {
        if self.is_full() {
            return false;
        }
        let at = self.entries * E::SIZE;
        if let Some(m) = self.mmap.as_mut() {
            entry.encode(&mut m[at..at + E::SIZE]);
        }
        self.entries += 1;
        true
    }

    /// Keeps only the leading entries for which `keep` holds (a prefix).
    pub fn truncate_while(&mut self, keep: impl Fn(&E) -> bool) {
        let mut n = 0;
        while n < self.entries && keep(&self.get(n)) {
            n += 1;
        }
        self.entries = n;
    }

    /// The last entry for which `le` holds, where `le` is true for a prefix of the
    /// entries and false for the rest (a binary search).
    pub fn floor(&self, le: impl Fn(&E) -> bool) -> Option<E> {
        let (mut lo, mut hi) = (0usize, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if le(&self.get(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.checked_sub(1).map(|i| self.get(i))
    }

    /// Checks that entries are sorted by `key` (strictly) and `second`
    /// (non-decreasing) and that every entry passes `valid`. Returns a description of
    /// the first problem found.
    pub fn check(
        &self,
        key: impl Fn(&E) -> i128,
        second: impl Fn(&E) -> i128,
        valid: impl Fn(&E) -> bool,
    ) -> Result<(), String> {
        if self.ragged_tail != 0 {
            return Err(format!(
                "file ends in {} bytes that are not a whole {}-byte entry",
                self.ragged_tail,
                E::SIZE
            ));
        }
        let mut prev: Option<E> = None;
        for i in 0..self.entries {
            let e = self.get(i);
            if !valid(&e) {
                return Err(format!("entry {i} {e:?} points outside the log"));
            }
            if let Some(p) = prev {
                if key(&e) <= key(&p) || second(&e) < second(&p) {
                    return Err(format!("entry {i} {e:?} is out of order after {p:?}"));
                }
            }
            prev = Some(e);
        }
        Ok(())
    }
}

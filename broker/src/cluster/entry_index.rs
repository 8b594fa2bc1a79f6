//! Where each Raft entry of a partition group sits in the partition's log.
//!
//! A partition's Raft entries are its record batches, one entry per batch, but a
//! batch holds many records and offsets count records: entry `i` is not at offset
//! `i`. This file maps one to the other: after a 16-byte header (magic, then the
//! index of the first entry it maps), one big-endian 8-byte base offset per
//! entry, in index order, so entry `i`'s offset sits at byte
//! `16 + 8 × (i − first)` and a lookup is one positioned read.
//!
//! The partition's log is the truth; this file may lag it (its writes are synced
//! with the log's, and a crash can cut either). A torn last slot (fewer than 8
//! bytes) is ignored on open; the owner then drops slots past the log's end
//! ([`EntryIndex::truncate_from`]) and adds the batches the file lacks.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The file's first 8 bytes.
const MAGIC: &[u8; 8] = b"RILLIDX1";
/// Bytes before the first slot.
const HEADER: u64 = 16;
/// Bytes of one slot.
const SLOT: u64 = 8;

/// An open entry-to-offset map.
#[derive(Debug)]
pub struct EntryIndex {
    file: File,
    path: PathBuf,
    first: u64,
    len: u64,
}

impl EntryIndex {
    /// Opens the map at `path`, creating an empty one starting at entry 0.
    pub fn open(path: &Path) -> io::Result<EntryIndex> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let size = file.metadata()?.len();
        let mut index = EntryIndex {
            file,
            path: path.to_path_buf(),
            first: 0,
            len: 0,
        };
        if size < HEADER {
            index.reset_to(0)?;
            return Ok(index);
        }
        let mut header = [0u8; HEADER as usize];
        index.file.read_exact_at(&mut header, 0)?;
        if &header[..8] != MAGIC {
            return Err(index.corrupt("it does not start with RILLIDX1"));
        }
        let mut first = [0u8; 8];
        first.copy_from_slice(&header[8..]);
        index.first = u64::from_be_bytes(first);
        index.len = (size - HEADER) / SLOT;
        Ok(index)
    }

    fn corrupt(&self, why: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("entry index {}: {why}", self.path.display()),
        )
    }

    /// The first entry the map holds.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// One past the last entry the map holds.
    pub fn end(&self) -> u64 {
        self.first + self.len
    }

    /// Records that entry `index` starts at `base_offset`; `index` must be
    /// [`EntryIndex::end`], or the map must be empty (it then starts there).
    pub fn push(&mut self, index: u64, base_offset: i64) -> io::Result<()> {
        if index != self.end() {
            if self.len != 0 {
                return Err(io::Error::other(format!(
                    "entry {index} does not follow entry {} in {}",
                    self.end().saturating_sub(1),
                    self.path.display()
                )));
            }
            self.reset_to(index)?;
        }
        let at = HEADER + SLOT * self.len;
        self.file.write_all_at(&base_offset.to_be_bytes(), at)?;
        self.len += 1;
        Ok(())
    }

    /// The base offset of entry `index`, or `None` outside `first..end`.
    pub fn offset_of(&self, index: u64) -> io::Result<Option<i64>> {
        if index < self.first || index >= self.end() {
            return Ok(None);
        }
        let mut slot = [0u8; SLOT as usize];
        self.file
            .read_exact_at(&mut slot, HEADER + SLOT * (index - self.first))?;
        Ok(Some(i64::from_be_bytes(slot)))
    }

    /// The last entry whose base offset is below `offset`, if any: the entry
    /// that holds `offset - 1` or ends before it.
    pub fn last_before(&self, offset: i64) -> io::Result<Option<u64>> {
        let (mut lo, mut hi) = (self.first, self.end());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.offset_of(mid)? {
                Some(o) if o < offset => lo = mid + 1,
                _ => hi = mid,
            }
        }
        Ok(lo.checked_sub(1).filter(|i| *i >= self.first))
    }

    /// Forgets entry `index` and every later one.
    pub fn truncate_from(&mut self, index: u64) -> io::Result<()> {
        if index >= self.end() {
            return Ok(());
        }
        self.len = index.saturating_sub(self.first);
        self.file.set_len(HEADER + SLOT * self.len)
    }

    /// Forgets every entry; the next one pushed is `first`.
    pub fn reset_to(&mut self, first: u64) -> io::Result<()> {
        self.file.set_len(0)?;
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..].copy_from_slice(&first.to_be_bytes());
        self.file.write_all_at(&header, 0)?;
        self.first = first;
        self.len = 0;
        Ok(())
    }

    /// Makes every slot written so far durable.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_map_to_offsets_and_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("entries");
        let mut index = EntryIndex::open(&path).expect("open");
        for (i, offset) in [0i64, 5, 9, 100].iter().enumerate() {
            index.push(i as u64, *offset).expect("push");
        }
        assert!(index.push(7, 200).is_err(), "a gap is refused");
        assert_eq!(index.offset_of(2).expect("read"), Some(9));
        assert_eq!(index.offset_of(4).expect("read"), None);
        assert_eq!(index.last_before(9).expect("search"), Some(1));
        assert_eq!(index.last_before(10).expect("search"), Some(2));
        assert_eq!(index.last_before(0).expect("search"), None);
        index.sync().expect("sync");
        drop(index);

        let mut index = EntryIndex::open(&path).expect("reopen");
        assert_eq!((index.first(), index.end()), (0, 4));
        index.truncate_from(2).expect("truncate");
        assert_eq!(index.end(), 2);
        index.push(2, 11).expect("push after truncate");
        assert_eq!(index.offset_of(2).expect("read"), Some(11));
        index.reset_to(50).expect("reset");
        assert_eq!(index.offset_of(1).expect("read"), None);
        index.push(50, 1000).expect("push after reset");
        drop(index);
        let index = EntryIndex::open(&path).expect("reopen");
        assert_eq!((index.first(), index.end()), (50, 51));
        assert_eq!(index.offset_of(50).expect("read"), Some(1000));
    }

    #[test]
    fn a_torn_slot_is_ignored_and_a_foreign_file_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("entries");
        let mut index = EntryIndex::open(&path).expect("open");
        index.push(0, 7).expect("push");
        drop(index);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open raw");
        file.write_all_at(&[1, 2, 3], HEADER + SLOT)
            .expect("torn write");
        let index = EntryIndex::open(&path).expect("reopen");
        assert_eq!(index.end(), 1, "the torn slot is not an entry");
        std::fs::write(&path, b"not an entry index at all").expect("overwrite");
        let err = EntryIndex::open(&path).expect_err("foreign file");
        assert!(err.to_string().contains("RILLIDX1"), "{err}");
    }
}

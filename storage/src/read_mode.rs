//! Whether a read may wait for the disk.
//!
//! A fetch of records that were just written finds them in the page cache; making
//! it on a blocking thread costs two thread wake-ups for a copy that takes
//! microseconds. [`ReadMode::Cached`] lets an async task try such a read in place:
//! it reads with `preadv2(RWF_NOWAIT)`, which copies only what the page cache
//! holds, and fails with [`Error::NotCached`] instead of waiting for the disk. The
//! caller then makes the same read with [`ReadMode::Wait`] on a thread that may
//! block. A file system or kernel without `RWF_NOWAIT` answers every cached read
//! with `NotCached`, so reads still succeed, only never in place.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// How a read may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// Read as usual, waiting for the disk if the bytes are not cached.
    Wait,
    /// Read only bytes the page cache holds; otherwise fail with
    /// [`Error::NotCached`] and wait for nothing.
    Cached,
}

/// Fills `buf` from `file` at `pos`, as `FileExt::read_exact_at` does, waiting or
/// not as `mode` says. `path` names the file in errors.
pub(crate) fn read_exact_at(
    file: &File,
    buf: &mut [u8],
    pos: u64,
    mode: ReadMode,
    path: &Path,
) -> Result<()> {
    match mode {
        ReadMode::Wait => file.read_exact_at(buf, pos).io("read segment", path),
        ReadMode::Cached => read_cached(file, buf, pos, path),
    }
}

#[cfg(target_os = "linux")]
fn read_cached(file: &File, buf: &mut [u8], pos: u64, path: &Path) -> Result<()> {
    use rustix::io::{preadv2, Errno, ReadWriteFlags};
    let mut done = 0;
    while done < buf.len() {
        let mut slices = [std::io::IoSliceMut::new(&mut buf[done..])];
        match preadv2(file, &mut slices, pos + done as u64, ReadWriteFlags::NOWAIT) {
            Ok(0) => {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
                    .io("read segment", path)
            }
            Ok(n) => done += n,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::INVAL) => {
                return Err(Error::NotCached {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(std::io::Error::from(e)).io("read segment", path),
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn read_cached(_file: &File, _buf: &mut [u8], _pos: u64, path: &Path) -> Result<()> {
    Err(Error::NotCached {
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_cached_read_gives_the_bytes_a_waiting_read_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = File::create(&path).expect("create");
        file.write_all(&data).expect("write");
        let file = File::open(&path).expect("open");
        let mut waited = vec![0u8; 70_000];
        read_exact_at(&file, &mut waited, 1_234, ReadMode::Wait, &path).expect("read");
        assert_eq!(waited, data[1_234..71_234]);
        // Just written, so cached; where RWF_NOWAIT is not supported the read
        // declines, and never returns other bytes.
        let mut cached = vec![0u8; 70_000];
        match read_exact_at(&file, &mut cached, 1_234, ReadMode::Cached, &path) {
            Ok(()) => assert_eq!(cached, waited),
            Err(Error::NotCached { .. }) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
        let mut past_end = vec![0u8; 10];
        for mode in [ReadMode::Wait, ReadMode::Cached] {
            let got = read_exact_at(&file, &mut past_end, 199_995, mode, &path);
            assert!(matches!(got, Err(Error::Io { .. })), "{mode:?}: {got:?}");
        }
    }
}

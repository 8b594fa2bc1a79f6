//! The partition directory's lock: at most one open [`crate::Log`] per directory,
//! across threads and processes.
//!
//! `Log::open` takes an exclusive advisory lock (`flock`) on [`LOCK_FILE`] in the
//! directory before it reads anything there, and the log holds it for as long as it
//! may touch the files: until [`crate::Log::close`] succeeds or the `Log` is dropped.
//! Only the holder writes, truncates or deletes the directory's files, and only the
//! holder memory-maps its index files, which is what makes those mappings sound
//! (see `index.rs`). A second open of the same directory while the lock is held
//! fails with [`Error::InUse`] instead of corrupting the first.
//!
//! The lock file is empty and never deleted (removing it while another opener waits
//! on it would let two logs hold locks on different files of one name). Its name has
//! no 20-digit stem, so listing the directory never takes it for a segment. The lock
//! is advisory: it keeps out other `Log`s, not other programs that ignore it.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::{Error, IoContext, Result};

/// Name of the lock file inside a partition directory.
pub const LOCK_FILE: &str = "log.lock";

/// A held directory lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    /// The lock file, open for as long as the lock is held: closing it releases
    /// the lock.
    _file: File,
}

impl DirLock {
    /// Takes the lock of `dir` (which must exist), creating the lock file if needed.
    /// Fails with [`Error::InUse`] when another open log holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .io("open lock file", &path)?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::InUse {
                dir: dir.to_path_buf(),
            }),
            Err(TryLockError::Error(e)) => Err(e).io("lock", &path),
        }
    }
}

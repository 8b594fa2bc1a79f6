//! The one error type of `rill-storage`.

use std::path::PathBuf;

/// What went wrong in the log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call on a log file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "write", "fsync", …).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A batch handed to `append` is malformed.
    #[error("invalid batch: {0}")]
    InvalidBatch(#[source] rill_protocol::Error),
    /// A batch is larger than `max_batch_bytes` allows.
    #[error("batch of {size} bytes exceeds max_batch_bytes = {max}")]
    BatchTooLarge {
        /// Size of the batch.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// A batch read from disk is corrupt (a CRC mismatch or a broken structure).
    #[error("corrupt batch in {path} at byte {position}: {source}")]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte position of the batch in the file.
        position: u64,
        /// What is wrong with it.
        #[source]
        source: rill_protocol::Error,
    },
    /// An offset outside `[log start, log end]` was asked for.
    #[error("offset {offset} is out of range: the log holds offsets {start}..{end}")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: i64,
        /// First offset in the log.
        start: i64,
        /// Offset the next append will get (exclusive end).
        end: i64,
    },
    /// An option has a value that is not allowed.
    #[error("invalid log option {name} = {value}: {allowed}")]
    InvalidOption {
        /// Option name as in the configuration file.
        name: &'static str,
        /// The rejected value.
        value: String,
        /// What is allowed.
        allowed: &'static str,
    },
    /// An earlier fsync failed; the log refuses writes because it can no longer say
    /// what is on disk.
    #[error("log {dir} is failed after an fsync error and accepts no more writes: {reason}")]
    Failed {
        /// The partition directory.
        dir: PathBuf,
        /// The original error.
        reason: String,
    },
    /// Another open log, in this process or another, holds the directory's lock
    /// file: a directory is open in one `Log` at a time.
    #[error("log directory {dir} is in use: another open log holds its lock")]
    InUse {
        /// The partition directory.
        dir: PathBuf,
    },
    /// The log was closed.
    #[error("log {dir} is closed")]
    Closed {
        /// The partition directory.
        dir: PathBuf,
    },
    /// A read in [`crate::ReadMode::Cached`] needed bytes the page cache does not
    /// hold; nothing was waited for. Make the read again in `ReadMode::Wait`.
    #[error("{path}: the bytes to read are not in the page cache; a read that may wait is needed")]
    NotCached {
        /// The segment file.
        path: PathBuf,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches an operation name and a path to an I/O result.
pub(crate) trait IoContext<T> {
    fn io(self, op: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io(self, op: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        })
    }
}

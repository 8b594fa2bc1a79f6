//! The one error type of `rill-broker`: what can stop the broker from starting or
//! running. Errors about one request are answered to the client as error codes
//! (an [`crate::api_error::ApiError`]) and never surface here.

use std::path::PathBuf;

/// Why the broker could not start, or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid {source_name}: {reason}")]
    Config {
        /// Where the configuration came from (a file path, or "configuration").
        source_name: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// A file-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A topic's metadata file exists but cannot be used.
    #[error("topic metadata {path} is unreadable: {reason}")]
    TopicMetadata {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Something that is not a directory sits where a topic's directory goes.
    #[error("{path} is in the way of the topic's directory: it is not a directory and the broker did not make it; move it out of the data directory")]
    InTheWay {
        /// The path the topic's directory needs.
        path: PathBuf,
    },
    /// A small metadata file (a topic's settings, the producer-id reservation)
    /// could not be replaced durably.
    #[error("cannot save {path}: {source}")]
    SaveFile {
        /// The file being replaced.
        path: PathBuf,
        /// What the write, fsync or rename reported.
        #[source]
        source: rill_storage::Error,
    },
    /// The listener failed.
    #[error("listener: {0}")]
    Listener(#[source] std::io::Error),
    /// A partition log failed to open or close.
    #[error("partition {topic}/{partition}: {source}")]
    Storage {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// What the log reported.
        #[source]
        source: rill_storage::Error,
    },
    /// The internal `__consumer_offsets` topic could not be created or read.
    #[error("committed offsets (topic __consumer_offsets): {reason}")]
    OffsetsTopic {
        /// What went wrong.
        reason: String,
    },
    /// The cluster layer (a Raft group, the cluster listener) could not start or
    /// had to stop.
    #[error("cluster: {reason}")]
    Cluster {
        /// What went wrong.
        reason: String,
    },
    /// A blocking task of the broker panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches an operation name and a path to an I/O result.
pub(crate) fn io<T>(
    result: std::io::Result<T>,
    op: &'static str,
    path: &std::path::Path,
) -> Result<T> {
    result.map_err(|source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    })
}

//! The one error type of `rill-bench`: why a benchmark run could not start or
//! finish. `rill bench` and `rill-bench` print it as one line after their name.

use std::time::Duration;

/// Why the benchmark failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client operation failed (connection, broker refusal, timeout, ...).
    #[error(transparent)]
    Client(#[from] rill_client::Error),
    /// The embedded broker could not start or did not stop cleanly.
    #[error("embedded broker: {0}")]
    Embedded(#[source] rill_broker::Error),
    /// A flag, or a combination of flags, the bench cannot run with; the message
    /// names the flag.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The consumers were not ready in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// The run failed: a producer or consumer task died, the consumers did not
    /// receive every record, or it was interrupted.
    #[error("bench: {reason}")]
    Failed {
        /// What failed.
        reason: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

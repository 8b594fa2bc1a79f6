//! The one error type of `rill-cli`: what ends a `rill` command with status 1.
//!
//! Each message reads as the rest of the one line `rill: ...` that the command
//! prints: client errors keep their own words (broker address, error code,
//! topic/partition), the others say what failed.

/// Why a `rill` command or the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A client operation failed (connection, broker refusal, timeout, ...).
    #[error(transparent)]
    Client(#[from] rill_client::Error),
    /// `rill bench` failed.
    #[error(transparent)]
    Bench(#[from] rill_bench::Error),
    /// The demo's embedded broker could not start or did not stop cleanly.
    #[error("embedded broker: {0}")]
    Embedded(#[source] rill_broker::Error),
    /// A flag or input value the command cannot use; nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The demo ran, but a service did not see every event exactly once.
    #[error("demo: {reason}")]
    Demo {
        /// What failed.
        reason: String,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The error a request gets back: a wire error code and a message.
//!
//! Domain code (topics, partitions, groups, idempotent producers) refuses work with
//! an [`ApiError`], and the handlers copy its code and message into the entry of the
//! response it concerns, so one bad topic or partition never fails a whole request.
//! It sits below every module that produces one, so none of them depends on the
//! handlers that answer with it.

use rill_protocol::ErrorCode;

/// An error answered to the client: a code from docs/PROTOCOL.md §4 and a message
/// saying what was wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The wire error code.
    pub code: ErrorCode,
    /// The human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

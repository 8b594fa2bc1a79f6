//! Which failures the consumer rides out inside `poll` (retrying after a backoff)
//! instead of returning them: lost or refused connections, timeouts, and the
//! broker codes of a passing condition.

use rill_protocol::ErrorCode;

use crate::error::Error;

/// Failures that retrying later may fix, handled inside `poll`.
pub(super) fn transient(error: &Error) -> bool {
    match error {
        Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Timeout { .. } => true,
        Error::Broker { code, .. } => {
            matches!(
                code,
                ErrorCode::StorageError
                    | ErrorCode::CoordinatorNotAvailable
                    | ErrorCode::LeaderNotAvailable
                    | ErrorCode::NotLeaderOrFollower
                    | ErrorCode::RequestTimedOut
            )
        }
        _ => false,
    }
}

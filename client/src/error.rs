//! The one error type of `rill-client`.
//!
//! Every fallible call of the library returns [`Error`]. Each variant carries what a
//! person needs to act on it: the broker address for connection problems, the error
//! code, the broker's message and the topic/partition for refusals, the operation and
//! the limit for timeouts. Errors are `Clone` because one failed batch fails every
//! record in it, and each record's sender gets its own copy.

use std::time::Duration;

use rill_protocol::ErrorCode;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a Rill broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The TCP connection to the broker could not be opened.
    #[error("cannot connect to broker at {addr}: {reason}")]
    Connect {
        /// The address that was dialled.
        addr: String,
        /// Why it failed (the operating system's words).
        reason: String,
    },
    /// An open connection failed or was closed; every request waiting on it fails.
    #[error("connection to broker at {addr} failed: {reason}")]
    ConnectionLost {
        /// The broker's address.
        addr: String,
        /// What ended the connection.
        reason: String,
    },
    /// The broker answered with a non-zero error code.
    #[error("{}", broker_error(*.code, .message, .topic.as_deref(), *.partition))]
    Broker {
        /// The error code.
        code: ErrorCode,
        /// The broker's explanation (empty when it sent none).
        message: String,
        /// The topic the error is about, when it is about one.
        topic: Option<String>,
        /// The partition the error is about, when it is about one.
        partition: Option<i32>,
    },
    /// An operation did not finish in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long was waited.
        after: Duration,
    },
    /// The broker sent bytes that are not a valid response to what was asked.
    #[error("broker at {addr} sent an invalid response: {detail}")]
    Protocol {
        /// The broker's address.
        addr: String,
        /// What was wrong with it.
        detail: String,
    },
    /// A caller passed a value the library cannot use; nothing was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The producer (or other handle) was closed before the operation could run.
    #[error("{0} is closed")]
    Closed(&'static str),
}

impl Error {
    /// A broker error about the whole request or a thing without a topic.
    pub fn broker(code: ErrorCode, message: Option<String>) -> Error {
        Error::Broker {
            code,
            message: message.unwrap_or_default(),
            topic: None,
            partition: None,
        }
    }

    /// A broker error about `topic` (and `partition`, when given).
    pub fn broker_at(
        code: ErrorCode,
        message: Option<String>,
        topic: &str,
        partition: Option<i32>,
    ) -> Error {
        Error::Broker {
            code,
            message: message.unwrap_or_default(),
            topic: Some(topic.to_string()),
            partition,
        }
    }

    /// The broker error code, if this is a broker error.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the failure says where a partition is served has changed or
    /// could not be reached: not the leader, no leader yet, a connection
    /// refused or lost. Retrying it needs fresh metadata rather than a broker
    /// given time to recover.
    pub(crate) fn is_leader_move(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::ConnectionLost { .. } => true,
            Error::Broker { code, .. } => matches!(
                code,
                ErrorCode::LeaderNotAvailable | ErrorCode::NotLeaderOrFollower
            ),
            _ => false,
        }
    }

    /// Whether trying the same operation again may succeed: connection losses,
    /// timeouts and the broker codes that describe a passing condition.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Timeout { .. } => true,
            Error::Broker { code, .. } => matches!(
                code,
                ErrorCode::UnknownTopicOrPartition
                    | ErrorCode::LeaderNotAvailable
                    | ErrorCode::NotLeaderOrFollower
                    | ErrorCode::RequestTimedOut
                    | ErrorCode::StorageError
                    | ErrorCode::CoordinatorNotAvailable
            ),
            Error::Protocol { .. } | Error::InvalidArgument(_) | Error::Closed(_) => false,
        }
    }
}

/// The message of [`Error::Broker`]: "UNKNOWN_TOPIC_OR_PARTITION (3) on purchases/2:
/// no such topic".
fn broker_error(
    code: ErrorCode,
    message: &str,
    topic: Option<&str>,
    partition: Option<i32>,
) -> String {
    let mut text = format!("broker error {code}");
    match (topic, partition) {
        (Some(t), Some(p)) => text.push_str(&format!(" on {t}/{p}")),
        (Some(t), None) => text.push_str(&format!(" on topic {t:?}")),
        _ => {}
    }
    if !message.is_empty() {
        text.push_str(": ");
        text.push_str(message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_matters() {
        let e = Error::broker_at(
            ErrorCode::UnknownTopicOrPartition,
            Some("no such topic".into()),
            "purchases",
            Some(2),
        );
        assert_eq!(
            e.to_string(),
            "broker error UNKNOWN_TOPIC_OR_PARTITION (3) on purchases/2: no such topic"
        );
        let e = Error::broker_at(ErrorCode::TopicAlreadyExists, None, "t", None);
        assert_eq!(
            e.to_string(),
            "broker error TOPIC_ALREADY_EXISTS (36) on topic \"t\""
        );
        let e = Error::Connect {
            addr: "10.0.0.1:9400".into(),
            reason: "refused".into(),
        };
        assert!(e.to_string().contains("10.0.0.1:9400"));
        assert!(e.is_retriable());
        assert!(!Error::InvalidArgument("x".into()).is_retriable());
    }
}

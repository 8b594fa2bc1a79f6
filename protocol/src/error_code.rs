//! Error codes carried in responses.
//!
//! Codes reuse Apache Kafka's numbers where the meaning is the same, so a Kafka
//! user recognises them. Every response that can fail carries an `error_code`
//! (int16) and, where the API has one, an `error_message` (nullable string) that says
//! what was wrong and what is allowed.

/// A response error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: success.
    None,
    /// -1: an unexpected server error; the message says more.
    Unknown,
    /// 1: the requested offset is outside the partition's log.
    OffsetOutOfRange,
    /// 2: a record batch failed validation (CRC, structure, offsets).
    CorruptMessage,
    /// 3: the topic or partition does not exist.
    UnknownTopicOrPartition,
    /// 10: a batch or request is larger than the broker accepts.
    MessageTooLarge,
    /// 17: the topic name is not allowed.
    InvalidTopic,
    /// 21: acks is not -1, 0 or 1.
    InvalidRequiredAcks,
    /// 35: the API version is not supported.
    UnsupportedVersion,
    /// 36: the topic already exists.
    TopicAlreadyExists,
    /// 37: the partition count is not allowed.
    InvalidPartitions,
    /// 42: the request is malformed or violates a rule; the message says which.
    InvalidRequest,
    /// 56: the broker's storage failed (for example an fsync error).
    StorageError,
    /// Any code this version does not know, kept as received.
    Other(i16),
}

impl ErrorCode {
    /// Every named code (without `Other`).
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::None,
        ErrorCode::Unknown,
        ErrorCode::OffsetOutOfRange,
        ErrorCode::CorruptMessage,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::MessageTooLarge,
        ErrorCode::InvalidTopic,
        ErrorCode::InvalidRequiredAcks,
        ErrorCode::UnsupportedVersion,
        ErrorCode::TopicAlreadyExists,
        ErrorCode::InvalidPartitions,
        ErrorCode::InvalidRequest,
        ErrorCode::StorageError,
    ];

    /// The number on the wire.
    pub fn code(self) -> i16 {
        match self {
            ErrorCode::None => 0,
            ErrorCode::Unknown => -1,
            ErrorCode::OffsetOutOfRange => 1,
            ErrorCode::CorruptMessage => 2,
            ErrorCode::UnknownTopicOrPartition => 3,
            ErrorCode::MessageTooLarge => 10,
            ErrorCode::InvalidTopic => 17,
            ErrorCode::InvalidRequiredAcks => 21,
            ErrorCode::UnsupportedVersion => 35,
            ErrorCode::TopicAlreadyExists => 36,
            ErrorCode::InvalidPartitions => 37,
            ErrorCode::InvalidRequest => 42,
            ErrorCode::StorageError => 56,
            ErrorCode::Other(code) => code,
        }
    }

    /// The code for a wire number (unknown numbers are kept as `Other`).
    pub fn from_code(code: i16) -> ErrorCode {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.code() == code)
            .unwrap_or(ErrorCode::Other(code))
    }

    /// Whether this is success.
    pub fn is_ok(self) -> bool {
        self == ErrorCode::None
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            ErrorCode::None => "NONE",
            ErrorCode::Unknown => "UNKNOWN_SERVER_ERROR",
            ErrorCode::OffsetOutOfRange => "OFFSET_OUT_OF_RANGE",
            ErrorCode::CorruptMessage => "CORRUPT_MESSAGE",
            ErrorCode::UnknownTopicOrPartition => "UNKNOWN_TOPIC_OR_PARTITION",
            ErrorCode::MessageTooLarge => "MESSAGE_TOO_LARGE",
            ErrorCode::InvalidTopic => "INVALID_TOPIC_EXCEPTION",
            ErrorCode::InvalidRequiredAcks => "INVALID_REQUIRED_ACKS",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            ErrorCode::InvalidPartitions => "INVALID_PARTITIONS",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::StorageError => "KAFKA_STORAGE_ERROR",
            ErrorCode::Other(_) => "UNRECOGNISED",
        };
        write!(f, "{name} ({})", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), c);
        }
        assert_eq!(ErrorCode::from_code(999), ErrorCode::Other(999));
        let mut codes: Vec<i16> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
    }
}

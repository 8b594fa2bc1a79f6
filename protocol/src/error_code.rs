//! Error codes carried in responses.
//!
//! Codes reuse Apache Kafka's numbers where the meaning is the same, so a Kafka
//! user recognises them. Every response that can fail carries an `error_code`
//! (int16) and, where the API has one, an `error_message` (nullable string) that says
//! what was wrong and what is allowed.

/// A response error code. The default is success (`None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: success.
    #[default]
    None,
    /// -1: an unexpected server error; the message says more.
    Unknown,
    /// 1: the requested offset is outside the partition's log.
    OffsetOutOfRange,
    /// 2: a record batch failed validation (CRC, structure, offsets).
    CorruptMessage,
    /// 3: the topic or partition does not exist.
    UnknownTopicOrPartition,
    /// 5: the partition exists but is not being served yet (its log is still being
    /// recovered after an unclean shutdown); retry after a short backoff.
    LeaderNotAvailable,
    /// 6: this broker is not the partition's leader (a replica or no replica at
    /// all): refresh metadata and send to the leader it names.
    NotLeaderOrFollower,
    /// 7: a replicated write was not confirmed as committed in time (quorum lost
    /// or leader changed while it was in flight); it may or may not have been
    /// committed, so retry it with an idempotent producer.
    RequestTimedOut,
    /// 10: a batch or request is larger than the broker accepts.
    MessageTooLarge,
    /// 15: the group coordinator is not available (reserved; Rill does not return it yet).
    CoordinatorNotAvailable,
    /// 17: the topic name is not allowed.
    InvalidTopic,
    /// 21: acks is not -1, 0 or 1.
    InvalidRequiredAcks,
    /// 24: the group id is empty or otherwise not allowed.
    InvalidGroupId,
    /// 25: the member id is not a member of the group.
    UnknownMemberId,
    /// 35: the API version is not supported.
    UnsupportedVersion,
    /// 36: the topic already exists.
    TopicAlreadyExists,
    /// 37: the partition count is not allowed.
    InvalidPartitions,
    /// 38: the replication factor is outside 1 to the number of brokers.
    InvalidReplicationFactor,
    /// 40: a topic setting is unknown or has a value outside its allowed range.
    InvalidConfig,
    /// 42: the request is malformed or violates a rule; the message says which.
    InvalidRequest,
    /// 45: an idempotent producer's batch does not follow its previous sequence number.
    OutOfOrderSequenceNumber,
    /// 46: an idempotent producer's batch repeats an earlier one (reserved: Rill answers
    /// a duplicate with success and the original offset instead).
    DuplicateSequenceNumber,
    /// 47: the producer epoch is older than the producer id's current epoch.
    InvalidProducerEpoch,
    /// 56: the broker's storage failed (for example an fsync error).
    StorageError,
    /// 59: the producer id was never issued by this broker.
    UnknownProducerId,
    /// 69: the group does not exist.
    GroupIdNotFound,
    /// 110: the member epoch is older than the member's current epoch (a fenced member).
    FencedMemberEpoch,
    /// Any code this version does not know, kept as received.
    Other(i16),
}

impl ErrorCode {
    /// Every named code (without `Other`).
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::None,
        ErrorCode::Unknown,
        ErrorCode::OffsetOutOfRange,
        ErrorCode::CorruptMessage,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::LeaderNotAvailable,
        ErrorCode::NotLeaderOrFollower,
        ErrorCode::RequestTimedOut,
        ErrorCode::MessageTooLarge,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::InvalidTopic,
        ErrorCode::InvalidRequiredAcks,
        ErrorCode::InvalidGroupId,
        ErrorCode::UnknownMemberId,
        ErrorCode::UnsupportedVersion,
        ErrorCode::TopicAlreadyExists,
        ErrorCode::InvalidPartitions,
        ErrorCode::InvalidReplicationFactor,
        ErrorCode::InvalidConfig,
        ErrorCode::InvalidRequest,
        ErrorCode::OutOfOrderSequenceNumber,
        ErrorCode::DuplicateSequenceNumber,
        ErrorCode::InvalidProducerEpoch,
        ErrorCode::StorageError,
        ErrorCode::UnknownProducerId,
        ErrorCode::GroupIdNotFound,
        ErrorCode::FencedMemberEpoch,
    ];

    /// The number on the wire.
    pub fn code(self) -> i16 {
        match self {
            ErrorCode::None => 0,
            ErrorCode::Unknown => -1,
            ErrorCode::OffsetOutOfRange => 1,
            ErrorCode::CorruptMessage => 2,
            ErrorCode::UnknownTopicOrPartition => 3,
            ErrorCode::LeaderNotAvailable => 5,
            ErrorCode::NotLeaderOrFollower => 6,
            ErrorCode::RequestTimedOut => 7,
            ErrorCode::MessageTooLarge => 10,
            ErrorCode::CoordinatorNotAvailable => 15,
            ErrorCode::InvalidTopic => 17,
            ErrorCode::InvalidRequiredAcks => 21,
            ErrorCode::InvalidGroupId => 24,
            ErrorCode::UnknownMemberId => 25,
            ErrorCode::UnsupportedVersion => 35,
            ErrorCode::TopicAlreadyExists => 36,
            ErrorCode::InvalidPartitions => 37,
            ErrorCode::InvalidReplicationFactor => 38,
            ErrorCode::InvalidConfig => 40,
            ErrorCode::InvalidRequest => 42,
            ErrorCode::OutOfOrderSequenceNumber => 45,
            ErrorCode::DuplicateSequenceNumber => 46,
            ErrorCode::InvalidProducerEpoch => 47,
            ErrorCode::StorageError => 56,
            ErrorCode::UnknownProducerId => 59,
            ErrorCode::GroupIdNotFound => 69,
            ErrorCode::FencedMemberEpoch => 110,
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
            ErrorCode::LeaderNotAvailable => "LEADER_NOT_AVAILABLE",
            ErrorCode::NotLeaderOrFollower => "NOT_LEADER_OR_FOLLOWER",
            ErrorCode::RequestTimedOut => "REQUEST_TIMED_OUT",
            ErrorCode::MessageTooLarge => "MESSAGE_TOO_LARGE",
            ErrorCode::CoordinatorNotAvailable => "COORDINATOR_NOT_AVAILABLE",
            ErrorCode::InvalidTopic => "INVALID_TOPIC_EXCEPTION",
            ErrorCode::InvalidRequiredAcks => "INVALID_REQUIRED_ACKS",
            ErrorCode::InvalidGroupId => "INVALID_GROUP_ID",
            ErrorCode::UnknownMemberId => "UNKNOWN_MEMBER_ID",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::TopicAlreadyExists => "TOPIC_ALREADY_EXISTS",
            ErrorCode::InvalidPartitions => "INVALID_PARTITIONS",
            ErrorCode::InvalidReplicationFactor => "INVALID_REPLICATION_FACTOR",
            ErrorCode::InvalidConfig => "INVALID_CONFIG",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::OutOfOrderSequenceNumber => "OUT_OF_ORDER_SEQUENCE_NUMBER",
            ErrorCode::DuplicateSequenceNumber => "DUPLICATE_SEQUENCE_NUMBER",
            ErrorCode::InvalidProducerEpoch => "INVALID_PRODUCER_EPOCH",
            ErrorCode::StorageError => "KAFKA_STORAGE_ERROR",
            ErrorCode::UnknownProducerId => "UNKNOWN_PRODUCER_ID",
            ErrorCode::GroupIdNotFound => "GROUP_ID_NOT_FOUND",
            ErrorCode::FencedMemberEpoch => "FENCED_MEMBER_EPOCH",
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

    #[test]
    fn group_and_producer_codes_use_kafkas_numbers_and_names() {
        let expected = [
            (
                ErrorCode::CoordinatorNotAvailable,
                "COORDINATOR_NOT_AVAILABLE (15)",
            ),
            (ErrorCode::InvalidGroupId, "INVALID_GROUP_ID (24)"),
            (ErrorCode::UnknownMemberId, "UNKNOWN_MEMBER_ID (25)"),
            (
                ErrorCode::OutOfOrderSequenceNumber,
                "OUT_OF_ORDER_SEQUENCE_NUMBER (45)",
            ),
            (
                ErrorCode::DuplicateSequenceNumber,
                "DUPLICATE_SEQUENCE_NUMBER (46)",
            ),
            (
                ErrorCode::InvalidProducerEpoch,
                "INVALID_PRODUCER_EPOCH (47)",
            ),
            (ErrorCode::UnknownProducerId, "UNKNOWN_PRODUCER_ID (59)"),
            (ErrorCode::GroupIdNotFound, "GROUP_ID_NOT_FOUND (69)"),
            (ErrorCode::FencedMemberEpoch, "FENCED_MEMBER_EPOCH (110)"),
        ];
        for (code, shown) in expected {
            assert_eq!(code.to_string(), shown);
        }
    }
}

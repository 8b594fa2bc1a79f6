//! ConsumerGroupHeartbeat (key 68): join a consumer group, heartbeat in it, leave it,
//! and receive the partitions the member may own (KIP-848 style: the broker computes
//! the assignment and hands it out incrementally; there is no global barrier).
//!
//! ```text
//! ConsumerGroupHeartbeatRequest v0
//!   group_id              string
//!   member_id             string                 "" to join (the broker assigns one)
//!   member_epoch          int32                  0 = join, -1 = leave, else the epoch
//!                                                last received
//!   subscribed_topics     nullable array<string> null = unchanged; required on join
//!   owned_partitions      nullable array<        null = unchanged; what the member
//!     name                  string                 owns now (has not revoked)
//!     partitions            array<int32> >
//!
//! ConsumerGroupHeartbeatResponse v0
//!   error_code            int16
//!   error_message         nullable_string
//!   member_id             nullable_string
//!   member_epoch          int32
//!   heartbeat_interval_ms int32
//!   assignment            nullable array<        null = unchanged; else the full set
//!     name                  string                 of partitions the member may own
//!     partitions            array<int32> >
//! ```

use bytes::BytesMut;

pub use crate::api::TopicPartitions;
use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// `member_epoch` of a request that joins the group (with an empty `member_id`).
pub const JOIN_EPOCH: i32 = 0;
/// `member_epoch` of a request that leaves the group.
pub const LEAVE_EPOCH: i32 = -1;

/// A join, heartbeat or leave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerGroupHeartbeatRequest {
    /// The group.
    pub group_id: String,
    /// The id the broker gave this member; empty to join.
    pub member_id: String,
    /// [`JOIN_EPOCH`], [`LEAVE_EPOCH`], or the epoch last received from the broker.
    pub member_epoch: i32,
    /// Topics the member subscribes to; `None` = unchanged since the last heartbeat
    /// (required on join).
    pub subscribed_topics: Option<Vec<String>>,
    /// Partitions the member owns now; `None` = unchanged since the last heartbeat.
    pub owned_partitions: Option<Vec<TopicPartitions>>,
}

impl ConsumerGroupHeartbeatRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        w.string(&self.group_id)
            .string(&self.member_id)
            .i32(self.member_epoch)
            .nullable_array_of(self.subscribed_topics.as_deref(), |w, t| {
                w.string(t);
            });
        TopicPartitions::encode_nullable(self.owned_partitions.as_deref(), &mut w);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "ConsumerGroupHeartbeat request");
        let group_id = r.string("group_id")?;
        let member_id = r.string("member_id")?;
        let member_epoch = r.i32("member_epoch")?;
        let subscribed_topics =
            r.nullable_array_of("subscribed_topics", 2, |r| r.string("topic name"))?;
        let owned_partitions = TopicPartitions::decode_nullable(&mut r, "owned_partitions")?;
        r.finish()?;
        Ok(ConsumerGroupHeartbeatRequest {
            group_id,
            member_id,
            member_epoch,
            subscribed_topics,
            owned_partitions,
        })
    }
}

/// The member's identity, epoch and (when it changed) assignment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerGroupHeartbeatResponse {
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
    /// The member's id (assigned on join); `None` on error.
    pub member_id: Option<String>,
    /// The member's new epoch, to send in the next heartbeat.
    pub member_epoch: i32,
    /// How often the member must heartbeat.
    pub heartbeat_interval_ms: i32,
    /// `None` = unchanged; else the full set of partitions the member may now own.
    pub assignment: Option<Vec<TopicPartitions>>,
}

impl ConsumerGroupHeartbeatResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut w = Writer::new(buf);
        w.i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref())
            .nullable_string(self.member_id.as_deref())
            .i32(self.member_epoch)
            .i32(self.heartbeat_interval_ms);
        TopicPartitions::encode_nullable(self.assignment.as_deref(), &mut w);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "ConsumerGroupHeartbeat response");
        let error_code = ErrorCode::from_code(r.i16("error_code")?);
        let error_message = r.nullable_string("error_message")?;
        let member_id = r.nullable_string("member_id")?;
        let member_epoch = r.i32("member_epoch")?;
        let heartbeat_interval_ms = r.i32("heartbeat_interval_ms")?;
        let assignment = TopicPartitions::decode_nullable(&mut r, "assignment")?;
        r.finish()?;
        Ok(ConsumerGroupHeartbeatResponse {
            error_code,
            error_message,
            member_id,
            member_epoch,
            heartbeat_interval_ms,
            assignment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn owned() -> Vec<TopicPartitions> {
        vec![
            TopicPartitions {
                name: "purchases".to_string(),
                partitions: vec![0, 2, 4],
            },
            TopicPartitions {
                name: "audit".to_string(),
                partitions: vec![],
            },
        ]
    }

    fn requests() -> Vec<ConsumerGroupHeartbeatRequest> {
        vec![
            ConsumerGroupHeartbeatRequest {
                group_id: "payment".to_string(),
                member_id: String::new(),
                member_epoch: JOIN_EPOCH,
                subscribed_topics: Some(vec!["purchases".to_string(), "audit".to_string()]),
                owned_partitions: Some(vec![]),
            },
            ConsumerGroupHeartbeatRequest {
                group_id: "payment".to_string(),
                member_id: "m-1".to_string(),
                member_epoch: 7,
                subscribed_topics: None,
                owned_partitions: Some(owned()),
            },
            ConsumerGroupHeartbeatRequest {
                group_id: "payment".to_string(),
                member_id: "m-1".to_string(),
                member_epoch: LEAVE_EPOCH,
                subscribed_topics: Some(vec![]),
                owned_partitions: None,
            },
        ]
    }

    fn responses() -> Vec<ConsumerGroupHeartbeatResponse> {
        vec![
            ConsumerGroupHeartbeatResponse {
                error_code: ErrorCode::None,
                error_message: None,
                member_id: Some("m-1".to_string()),
                member_epoch: 8,
                heartbeat_interval_ms: 1000,
                assignment: Some(owned()),
            },
            ConsumerGroupHeartbeatResponse {
                member_id: Some("m-1".to_string()),
                member_epoch: 8,
                heartbeat_interval_ms: 1000,
                ..Default::default()
            },
            ConsumerGroupHeartbeatResponse {
                error_code: ErrorCode::FencedMemberEpoch,
                error_message: Some("epoch 3 is older than 8: rejoin".to_string()),
                member_id: None,
                member_epoch: -1,
                heartbeat_interval_ms: 0,
                assignment: None,
            },
        ]
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        for request in requests() {
            check_round_trip(
                &request,
                ConsumerGroupHeartbeatRequest::encode,
                ConsumerGroupHeartbeatRequest::decode,
            );
            check_truncations(
                &request,
                ConsumerGroupHeartbeatRequest::encode,
                ConsumerGroupHeartbeatRequest::decode,
            );
        }
        for response in responses() {
            check_round_trip(
                &response,
                ConsumerGroupHeartbeatResponse::encode,
                ConsumerGroupHeartbeatResponse::decode,
            );
            check_truncations(
                &response,
                ConsumerGroupHeartbeatResponse::encode,
                ConsumerGroupHeartbeatResponse::decode,
            );
        }
    }

    #[test]
    fn null_and_empty_arrays_are_distinct_on_the_wire() {
        let mut null = BytesMut::new();
        requests()[2].encode(&mut null);
        assert_eq!(&null[null.len() - 4..], &(-1i32).to_be_bytes());
        let mut empty = BytesMut::new();
        requests()[0].encode(&mut empty);
        assert_eq!(&empty[empty.len() - 4..], &0i32.to_be_bytes());
    }

    #[test]
    fn lying_counts_and_trailing_bytes_are_rejected() {
        for count in [i32::MAX, -2] {
            let mut bad = BytesMut::new();
            Writer::new(&mut bad)
                .string("g")
                .string("")
                .i32(0)
                .i32(count)
                .i32(-1);
            assert!(
                ConsumerGroupHeartbeatRequest::decode(&bad).is_err(),
                "{count}"
            );
            let mut bad = BytesMut::new();
            Writer::new(&mut bad)
                .i16(0)
                .i16(-1)
                .i16(-1)
                .i32(1)
                .i32(1000)
                .i32(1)
                .string("t")
                .i32(count);
            assert!(
                ConsumerGroupHeartbeatResponse::decode(&bad).is_err(),
                "{count}"
            );
        }
        let mut buf = BytesMut::new();
        requests()[1].encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(ConsumerGroupHeartbeatRequest::decode(&buf).is_err());
        let mut buf = BytesMut::new();
        responses()[0].encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(ConsumerGroupHeartbeatResponse::decode(&buf).is_err());
    }
}

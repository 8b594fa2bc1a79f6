//! DescribeGroups (key 15): a group's state, epoch, and each member's subscription
//! and the partitions it owns now.
//!
//! ```text
//! DescribeGroupsRequest v0
//!   groups        array<string>
//!
//! DescribeGroupsResponse v0
//!   groups        array<
//!     group_id      string
//!     error_code    int16             69 GROUP_ID_NOT_FOUND for an unknown group
//!     error_message nullable_string
//!     state         string            as in ListGroups
//!     group_epoch   int32
//!     members       array<
//!       member_id         string
//!       client_id         nullable_string   from the header of its join
//!       member_epoch      int32
//!       subscribed_topics array<string>
//!       assignment        array<       what the member owns now
//!         name              string
//!         partitions        array<int32> > > >
//! ```

use bytes::BytesMut;

use crate::api::TopicPartitions;
use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Asks about groups by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeGroupsRequest {
    /// Group ids to describe.
    pub groups: Vec<String>,
}

impl DescribeGroupsRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf).array_of(&self.groups, |w, g| {
            w.string(g);
        });
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "DescribeGroups request");
        let groups = r.array_of("groups", 2, |r| r.string("group_id"))?;
        r.finish()?;
        Ok(DescribeGroupsRequest { groups })
    }
}

/// One member of a described group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedMember {
    /// The id the broker gave the member.
    pub member_id: String,
    /// The `client_id` in the request header of the member's join.
    pub client_id: Option<String>,
    /// The member's current epoch.
    pub member_epoch: i32,
    /// Topics the member subscribes to.
    pub subscribed_topics: Vec<String>,
    /// Partitions the member owns now (not its target assignment).
    pub assignment: Vec<TopicPartitions>,
}

impl DescribedMember {
    /// Smallest encoding of one member, used to bound array counts.
    const MIN_BYTES: usize = 16;

    fn encode(&self, w: &mut Writer<'_>) {
        w.string(&self.member_id)
            .nullable_string(self.client_id.as_deref())
            .i32(self.member_epoch)
            .array_of(&self.subscribed_topics, |w, t| {
                w.string(t);
            });
        TopicPartitions::encode_all(&self.assignment, w);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(DescribedMember {
            member_id: r.string("member_id")?,
            client_id: r.nullable_string("client_id")?,
            member_epoch: r.i32("member_epoch")?,
            subscribed_topics: r.array_of("subscribed_topics", 2, |r| r.string("topic name"))?,
            assignment: TopicPartitions::decode_all(r, "assignment")?,
        })
    }
}

/// One described group, or why it could not be described.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribedGroup {
    /// The group's id, as requested.
    pub group_id: String,
    /// `None`, or `GroupIdNotFound` for an unknown group.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
    /// As in ListGroups: `"empty"`, `"stable"` or `"reconciling"`.
    pub state: String,
    /// The group's epoch: it grows whenever membership or subscriptions change.
    pub group_epoch: i32,
    /// The members.
    pub members: Vec<DescribedMember>,
}

impl DescribedGroup {
    /// Smallest encoding of one group, used to bound array counts.
    const MIN_BYTES: usize = 16;

    fn encode(&self, w: &mut Writer<'_>) {
        w.string(&self.group_id)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref())
            .string(&self.state)
            .i32(self.group_epoch)
            .array_of(&self.members, |w, m| m.encode(w));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(DescribedGroup {
            group_id: r.string("group_id")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
            state: r.string("state")?,
            group_epoch: r.i32("group_epoch")?,
            members: r.array_of(
                "members",
                DescribedMember::MIN_BYTES,
                DescribedMember::decode,
            )?,
        })
    }
}

/// One entry per requested group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeGroupsResponse {
    /// The groups, in request order.
    pub groups: Vec<DescribedGroup>,
}

impl DescribeGroupsResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf).array_of(&self.groups, |w, g| g.encode(w));
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "DescribeGroups response");
        let groups = r.array_of("groups", DescribedGroup::MIN_BYTES, DescribedGroup::decode)?;
        r.finish()?;
        Ok(DescribeGroupsResponse { groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::list_groups::{STATE_EMPTY, STATE_RECONCILING};
    use crate::testing::{check_round_trip, check_truncations};

    fn request() -> DescribeGroupsRequest {
        DescribeGroupsRequest {
            groups: vec!["payment".to_string(), "nobody".to_string()],
        }
    }

    fn response() -> DescribeGroupsResponse {
        DescribeGroupsResponse {
            groups: vec![
                DescribedGroup {
                    group_id: "payment".to_string(),
                    error_code: ErrorCode::None,
                    error_message: None,
                    state: STATE_RECONCILING.to_string(),
                    group_epoch: 5,
                    members: vec![
                        DescribedMember {
                            member_id: "m-1".to_string(),
                            client_id: Some("payment-1".to_string()),
                            member_epoch: 5,
                            subscribed_topics: vec!["purchases".to_string()],
                            assignment: vec![TopicPartitions {
                                name: "purchases".to_string(),
                                partitions: vec![0, 1, 2],
                            }],
                        },
                        DescribedMember {
                            member_id: "m-2".to_string(),
                            member_epoch: 4,
                            subscribed_topics: vec!["purchases".to_string()],
                            ..Default::default()
                        },
                    ],
                },
                DescribedGroup {
                    group_id: "analytics".to_string(),
                    state: STATE_EMPTY.to_string(),
                    group_epoch: 2,
                    ..Default::default()
                },
                DescribedGroup {
                    group_id: "nobody".to_string(),
                    error_code: ErrorCode::GroupIdNotFound,
                    error_message: Some("no group nobody".to_string()),
                    ..Default::default()
                },
            ],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        check_round_trip(
            &request(),
            DescribeGroupsRequest::encode,
            DescribeGroupsRequest::decode,
        );
        check_truncations(
            &request(),
            DescribeGroupsRequest::encode,
            DescribeGroupsRequest::decode,
        );
        check_round_trip(
            &response(),
            DescribeGroupsResponse::encode,
            DescribeGroupsResponse::decode,
        );
        check_truncations(
            &response(),
            DescribeGroupsResponse::encode,
            DescribeGroupsResponse::decode,
        );
    }

    #[test]
    fn lying_counts_and_trailing_bytes_are_rejected() {
        let mut huge = BytesMut::new();
        Writer::new(&mut huge).i32(i32::MAX);
        assert!(DescribeGroupsRequest::decode(&huge).is_err());
        let mut members = BytesMut::new();
        Writer::new(&mut members)
            .i32(1)
            .string("g")
            .i16(0)
            .i16(-1)
            .string("stable")
            .i32(1)
            .i32(100_000);
        assert!(DescribeGroupsResponse::decode(&members).is_err());
        let mut negative = BytesMut::new();
        Writer::new(&mut negative).i32(-1);
        assert!(DescribeGroupsResponse::decode(&negative).is_err());
        let mut buf = BytesMut::new();
        request().encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(DescribeGroupsRequest::decode(&buf).is_err());
        let mut buf = BytesMut::new();
        response().encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(DescribeGroupsResponse::decode(&buf).is_err());
    }
}

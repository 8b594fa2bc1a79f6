//! ListGroups (key 16): the consumer groups the broker knows, with their state and
//! member count.
//!
//! ```text
//! ListGroupsRequest v0   (empty body)
//!
//! ListGroupsResponse v0
//!   error_code    int16
//!   groups        array<
//!     group_id      string
//!     state         string   "empty" | "stable" | "reconciling"
//!     members       int32 >
//! ```
//!
//! The state names are shared with DescribeGroups: [`STATE_EMPTY`], [`STATE_STABLE`],
//! [`STATE_RECONCILING`]. A client must accept other values (a later broker may add
//! states).

use bytes::BytesMut;

use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Group state: no members (the group exists for its committed offsets).
pub const STATE_EMPTY: &str = "empty";
/// Group state: every member owns exactly its target assignment.
pub const STATE_STABLE: &str = "stable";
/// Group state: some partitions are still being handed over between members.
pub const STATE_RECONCILING: &str = "reconciling";

/// Asks for every group. It has no fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroupsRequest;

impl ListGroupsRequest {
    /// Appends the body.
    pub fn encode(&self, _buf: &mut BytesMut) {}

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        Reader::new(body, "ListGroups request").finish()?;
        Ok(ListGroupsRequest)
    }
}

/// One group in the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group's id.
    pub group_id: String,
    /// [`STATE_EMPTY`], [`STATE_STABLE`] or [`STATE_RECONCILING`].
    pub state: String,
    /// How many members it has now.
    pub members: i32,
}

/// Every group the broker knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListGroupsResponse {
    /// `None` on success.
    pub error_code: ErrorCode,
    /// The groups.
    pub groups: Vec<ListedGroup>,
}

impl ListGroupsResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .i16(self.error_code.code())
            .array_of(&self.groups, |w, g| {
                w.string(&g.group_id).string(&g.state).i32(g.members);
            });
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "ListGroups response");
        let error_code = ErrorCode::from_code(r.i16("error_code")?);
        let groups = r.array_of("groups", 8, |r| {
            Ok(ListedGroup {
                group_id: r.string("group_id")?,
                state: r.string("state")?,
                members: r.i32("members")?,
            })
        })?;
        r.finish()?;
        Ok(ListGroupsResponse { error_code, groups })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn response() -> ListGroupsResponse {
        ListGroupsResponse {
            error_code: ErrorCode::None,
            groups: vec![
                ListedGroup {
                    group_id: "payment".to_string(),
                    state: STATE_STABLE.to_string(),
                    members: 3,
                },
                ListedGroup {
                    group_id: "analytics".to_string(),
                    state: STATE_EMPTY.to_string(),
                    members: 0,
                },
                ListedGroup {
                    group_id: "dispatch".to_string(),
                    state: STATE_RECONCILING.to_string(),
                    members: 2,
                },
            ],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        for response in [response(), ListGroupsResponse::default()] {
            check_round_trip(
                &response,
                ListGroupsResponse::encode,
                ListGroupsResponse::decode,
            );
            check_truncations(
                &response,
                ListGroupsResponse::encode,
                ListGroupsResponse::decode,
            );
        }
        check_round_trip(
            &ListGroupsRequest,
            ListGroupsRequest::encode,
            ListGroupsRequest::decode,
        );
    }

    #[test]
    fn lying_counts_and_trailing_bytes_are_rejected() {
        assert!(ListGroupsRequest::decode(&[0]).is_err(), "trailing bytes");
        for count in [i32::MAX, -1] {
            let mut bad = BytesMut::new();
            Writer::new(&mut bad).i16(0).i32(count);
            assert!(ListGroupsResponse::decode(&bad).is_err(), "{count}");
        }
        let mut buf = BytesMut::new();
        response().encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(ListGroupsResponse::decode(&buf).is_err());
    }
}

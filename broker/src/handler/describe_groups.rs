//! DescribeGroups: state, epoch and members (with what each may own) of groups.

use std::time::Instant;

use rill_protocol::api::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup, DescribedMember,
};
use rill_protocol::ErrorCode;

use crate::handler::topic_partitions::{partition_counts, to_topic_partitions};
use crate::state::Broker;

/// Describes each requested group; an unknown one gets `GROUP_ID_NOT_FOUND`.
pub fn handle(broker: &Broker, request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let counts = partition_counts(broker);
    let now = Instant::now();
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            match broker.coordinator.describe(&group_id, now, &counts) {
                Some(d) => DescribedGroup {
                    error_code: ErrorCode::None,
                    error_message: None,
                    state: d.state.to_string(),
                    group_epoch: d.epoch,
                    members: d
                        .members
                        .into_iter()
                        .map(|m| DescribedMember {
                            member_id: m.member_id,
                            client_id: m.client_id,
                            member_epoch: m.member_epoch,
                            subscribed_topics: m.subscribed.into_iter().collect(),
                            assignment: to_topic_partitions(&m.assignment),
                        })
                        .collect(),
                    group_id,
                },
                // A group known only from its committed offsets has no members.
                None if broker.offsets.has_group(&group_id) => DescribedGroup {
                    group_id,
                    error_code: ErrorCode::None,
                    error_message: None,
                    state: "empty".to_string(),
                    group_epoch: 0,
                    members: Vec::new(),
                },
                None => DescribedGroup {
                    error_message: Some(format!(
                        "group {group_id:?} has no members and no committed offsets"
                    )),
                    group_id,
                    error_code: ErrorCode::GroupIdNotFound,
                    state: String::new(),
                    group_epoch: -1,
                    members: Vec::new(),
                },
            }
        })
        .collect();
    DescribeGroupsResponse { groups }
}

//! ListGroups: every group with members or committed offsets.

use std::collections::BTreeMap;

use rill_protocol::api::list_groups::{ListGroupsResponse, ListedGroup};
use rill_protocol::ErrorCode;

use crate::state::Broker;

/// Lists groups known from membership and from committed offsets.
pub fn handle(broker: &Broker) -> ListGroupsResponse {
    let mut groups: BTreeMap<String, ListedGroup> = broker
        .offsets
        .groups()
        .into_iter()
        .map(|id| {
            let listed = ListedGroup {
                group_id: id.clone(),
                state: "empty".to_string(),
                members: 0,
            };
            (id, listed)
        })
        .collect();
    for (id, description) in broker.coordinator.list() {
        groups.insert(
            id.clone(),
            ListedGroup {
                group_id: id,
                state: description.state.to_string(),
                members: i32::try_from(description.members.len()).unwrap_or(i32::MAX),
            },
        );
    }
    ListGroupsResponse {
        error_code: ErrorCode::None,
        groups: groups.into_values().collect(),
    }
}

//! ConsumerGroupHeartbeat: join, heartbeat and leave, answered by the
//! coordinator (see `group::coordinator` for the hand-over rules).

use std::collections::BTreeSet;
use std::time::Instant;

use rill_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use rill_protocol::ErrorCode;

use crate::group::coordinator::Heartbeat;
use crate::handler::topic_partitions::{
    from_topic_partitions, partition_counts, to_topic_partitions,
};
use crate::state::Broker;

/// Runs one heartbeat through the coordinator.
pub fn handle(
    broker: &Broker,
    client_id: Option<String>,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let interval = i32::try_from(broker.coordinator.timing().heartbeat_interval.as_millis())
        .unwrap_or(i32::MAX);
    let heartbeat = Heartbeat {
        group_id: request.group_id,
        member_id: request.member_id,
        member_epoch: request.member_epoch,
        client_id,
        subscribed: request
            .subscribed_topics
            .map(|topics| topics.into_iter().collect::<BTreeSet<_>>()),
        owned: request
            .owned_partitions
            .as_deref()
            .map(from_topic_partitions),
    };
    let counts = partition_counts(broker);
    match broker
        .coordinator
        .heartbeat(heartbeat, &counts, Instant::now())
    {
        Ok(reply) => ConsumerGroupHeartbeatResponse {
            error_code: ErrorCode::None,
            error_message: None,
            member_id: Some(reply.member_id),
            member_epoch: reply.member_epoch,
            heartbeat_interval_ms: interval,
            assignment: reply.assignment.as_ref().map(to_topic_partitions),
        },
        Err(e) => ConsumerGroupHeartbeatResponse {
            error_code: e.code,
            error_message: Some(e.message),
            member_id: None,
            member_epoch: -1,
            heartbeat_interval_ms: interval,
            assignment: None,
        },
    }
}

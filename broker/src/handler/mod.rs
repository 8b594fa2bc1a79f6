//! Request handlers: one file per API, each turning a decoded request into its
//! response body. Handlers never fail as a whole: a problem with one topic or
//! partition becomes that entry's error code and message, so the rest of the
//! request still succeeds.

mod api_versions;
mod consumer_group_heartbeat;
mod create_topics;
mod delete_topics;
mod describe_groups;
mod fetch;
pub mod precheck;
mod init_producer_id;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
mod produce;
mod topic_partitions;

use rill_protocol::message::{RequestBody, ResponseBody};

use crate::state::Broker;

/// Handles one request from the client named `client_id`. Returns `None` when the
/// request gets no response (a Produce with acks = 0).
pub async fn handle(
    broker: &Broker,
    client_id: Option<String>,
    body: RequestBody,
) -> Option<ResponseBody> {
    Some(match body {
        RequestBody::ApiVersions(_) => ResponseBody::ApiVersions(api_versions::handle()),
        RequestBody::Metadata(r) => ResponseBody::Metadata(metadata::handle(broker, r)),
        RequestBody::CreateTopics(r) => {
            ResponseBody::CreateTopics(create_topics::handle(broker, r).await)
        }
        RequestBody::DeleteTopics(r) => {
            ResponseBody::DeleteTopics(delete_topics::handle(broker, r).await)
        }
        RequestBody::Produce(r) => {
            let acks = r.acks;
            let response = produce::handle(broker, r).await;
            if acks == 0 {
                return None;
            }
            ResponseBody::Produce(response)
        }
        RequestBody::Fetch(r) => ResponseBody::Fetch(fetch::handle(broker, r).await),
        RequestBody::ListOffsets(r) => {
            ResponseBody::ListOffsets(list_offsets::handle(broker, r).await)
        }
        RequestBody::InitProducerId(r) => {
            ResponseBody::InitProducerId(init_producer_id::handle(broker, r).await)
        }
        RequestBody::ConsumerGroupHeartbeat(r) => ResponseBody::ConsumerGroupHeartbeat(
            consumer_group_heartbeat::handle(broker, client_id, r),
        ),
        RequestBody::OffsetCommit(r) => {
            ResponseBody::OffsetCommit(offset_commit::handle(broker, r).await)
        }
        RequestBody::OffsetFetch(r) => ResponseBody::OffsetFetch(offset_fetch::handle(broker, r)),
        RequestBody::ListGroups(_) => ResponseBody::ListGroups(list_groups::handle(broker)),
        RequestBody::DescribeGroups(r) => {
            ResponseBody::DescribeGroups(describe_groups::handle(broker, r))
        }
    })
}

//! Typed requests: [`Connection::call`](super::Connection::call) takes a request
//! struct of `rill_protocol::api` and returns the matching response struct, so
//! callers never match on [`ResponseBody`] themselves.

use rill_protocol::api::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use rill_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use rill_protocol::api::create_topics::{CreateTopicsRequest, CreateTopicsResponse};
use rill_protocol::api::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use rill_protocol::api::describe_groups::{DescribeGroupsRequest, DescribeGroupsResponse};
use rill_protocol::api::fetch::{FetchRequest, FetchResponse};
use rill_protocol::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use rill_protocol::api::list_groups::{ListGroupsRequest, ListGroupsResponse};
use rill_protocol::api::list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use rill_protocol::api::offset_commit::{OffsetCommitRequest, OffsetCommitResponse};
use rill_protocol::api::offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};
use rill_protocol::api::produce::{ProduceRequest, ProduceResponse};
use rill_protocol::api::ApiKey;
use rill_protocol::message::{RequestBody, ResponseBody};

/// A request struct that knows its API and the response it gets.
pub trait Call {
    /// The response struct.
    type Response;
    /// The API.
    const API: ApiKey;
    /// Wraps the request in the dispatcher's enum.
    fn into_body(self) -> RequestBody;
    /// Unwraps the response, or hands back a body of another API.
    fn from_body(body: ResponseBody) -> Result<Self::Response, ResponseBody>;
}

/// Implements [`Call`] for each `Variant => Request, Response`.
macro_rules! calls {
    ($($api:ident => $req:ident, $resp:ident;)*) => {
        $(
            impl Call for $req {
                type Response = $resp;
                const API: ApiKey = ApiKey::$api;
                fn into_body(self) -> RequestBody {
                    RequestBody::$api(self)
                }
                fn from_body(body: ResponseBody) -> Result<$resp, ResponseBody> {
                    match body {
                        ResponseBody::$api(r) => Ok(r),
                        other => Err(other),
                    }
                }
            }
        )*
    };
}

calls! {
    Produce => ProduceRequest, ProduceResponse;
    Fetch => FetchRequest, FetchResponse;
    ListOffsets => ListOffsetsRequest, ListOffsetsResponse;
    Metadata => MetadataRequest, MetadataResponse;
    ApiVersions => ApiVersionsRequest, ApiVersionsResponse;
    CreateTopics => CreateTopicsRequest, CreateTopicsResponse;
    DeleteTopics => DeleteTopicsRequest, DeleteTopicsResponse;
    OffsetCommit => OffsetCommitRequest, OffsetCommitResponse;
    OffsetFetch => OffsetFetchRequest, OffsetFetchResponse;
    DescribeGroups => DescribeGroupsRequest, DescribeGroupsResponse;
    ListGroups => ListGroupsRequest, ListGroupsResponse;
    InitProducerId => InitProducerIdRequest, InitProducerIdResponse;
    ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse;
}

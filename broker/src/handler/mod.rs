//! Request handlers: one file per API, each turning a decoded request into its
//! response body. Handlers never fail as a whole: a problem with one topic or
//! partition becomes that entry's error code and message, so the rest of the
//! request still succeeds.
//!
//! [`handle`] is the one path every decoded request takes: the [`precheck`] (which
//! may refuse the whole request), then the API's handler, then whether the client
//! gets a response at all. A Produce with acks = 0 never does, neither its answer
//! nor a refusal; every other request always does. As in Kafka, an acks = 0
//! Produce that was refused in whole or in part gets its connection closed
//! instead: the only signal such a client can notice.

mod api_versions;
mod consumer_group_heartbeat;
mod create_topics;
mod delete_topics;
mod describe_cluster;
mod describe_groups;
mod fetch;
mod init_producer_id;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
mod precheck;
mod produce;
mod topic_partitions;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use rill_protocol::api::ApiKey;
use rill_protocol::header::{RequestHeader, ResponseHeader};
use rill_protocol::message::{Request, RequestBody, Response, ResponseBody};

use crate::state::Broker;
pub use fetch::FetchAnswer;

/// The outcome of a request that is still being served.
pub type LaterOutcome = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// What the connection does after a request was handled.
pub enum Outcome {
    /// Send this response.
    Reply(Response),
    /// Send this Fetch answer (its records may still be in segment files) under
    /// a successful header with this correlation id.
    Fetch {
        /// The request's correlation id.
        correlation_id: i32,
        /// The answer.
        answer: FetchAnswer,
    },
    /// Send nothing: a Produce with acks = 0 whose every partition was written.
    Silent,
    /// Send nothing and close the connection: a Produce with acks = 0 that was
    /// refused in whole or in part (the reason, for the log).
    Close(String),
    /// What to do once this resolves: a Produce whose batches were handed to
    /// their partitions' Raft groups and are committing. The connection may
    /// read its next request meanwhile; it answers in request order.
    Later(LaterOutcome),
}

/// Answers one decoded request: pre-checks it, runs its handler, and says what
/// the client gets back.
pub async fn handle(broker: &Arc<Broker>, request: Request) -> Outcome {
    let Request { header, body } = request;
    let correlation_id = header.correlation_id;
    let replies = gets_response(&body);
    let max_name_len = broker.config.limits.max_topic_name_len;
    if let Err(refusal) = precheck::check(&body, max_name_len) {
        tracing::debug!(error = %refusal.message, "refusing request");
        if !replies {
            return Outcome::Close(refusal.message);
        }
        return Outcome::Reply(Response {
            header: ResponseHeader {
                correlation_id,
                error_code: refusal.code,
                error_message: Some(refusal.message),
            },
            body: None,
        });
    }
    let started = Instant::now();
    let api = body.api_key().name();
    let body = match dispatch(broker, header.client_id, body).await {
        Reply::Fetch(answer) => {
            broker.metrics.request(api, started.elapsed());
            return Outcome::Fetch {
                correlation_id,
                answer,
            };
        }
        Reply::Body(body) => body,
        Reply::Produce(pending) => {
            let broker = Arc::clone(broker);
            return Outcome::Later(Box::pin(async move {
                let body = ResponseBody::Produce(pending.finish(&broker).await);
                broker.metrics.request(api, started.elapsed());
                reply(correlation_id, replies, body)
            }));
        }
    };
    broker.metrics.request(api, started.elapsed());
    reply(correlation_id, replies, body)
}

/// What the client gets for a handled request's `body`: the response, or for
/// a Produce with acks = 0 (`replies` false) nothing, or a closed connection
/// if a partition refused it.
fn reply(correlation_id: i32, replies: bool, body: ResponseBody) -> Outcome {
    if replies {
        return Outcome::Reply(Response {
            header: ResponseHeader::ok(correlation_id),
            body: Some(body),
        });
    }
    match first_produce_error(&body) {
        Some(reason) => Outcome::Close(reason),
        None => Outcome::Silent,
    }
}

/// The first partition error of a Produce response, as a log line.
fn first_produce_error(body: &ResponseBody) -> Option<String> {
    let ResponseBody::Produce(response) = body else {
        return None;
    };
    response.topics.iter().find_map(|topic| {
        topic.partitions.iter().find_map(|p| {
            (!p.error_code.is_ok()).then(|| {
                format!(
                    "acks 0 produce to {} partition {} refused ({}): {}",
                    topic.name,
                    p.partition,
                    p.error_code,
                    p.error_message.as_deref().unwrap_or("no message")
                )
            })
        })
    })
}

/// Whether a request that did not decode (its header did, so it carries a
/// correlation id) may be answered with an error. Not when it is a Produce whose
/// acks field reads 0, or is too short to read: that client expects no answer, and
/// one would be paired with its next request. Such a request gets the connection
/// closed instead, as Kafka does.
pub fn undecodable_gets_response(frame: &[u8]) -> bool {
    // The api key is the frame's first field.
    let produce = ApiKey::Produce.code().to_be_bytes();
    if frame.get(..2) != Some(&produce[..]) {
        return true;
    }
    let Ok((_, body)) = RequestHeader::decode(frame) else {
        return false;
    };
    // acks is a Produce body's first field.
    body.get(..2)
        .is_some_and(|acks| i16::from_be_bytes([acks[0], acks[1]]) != 0)
}

/// Whether the client expects a response: always, except for a Produce with
/// acks = 0, whose client sends and forgets.
fn gets_response(body: &RequestBody) -> bool {
    !matches!(body, RequestBody::Produce(p) if p.acks == 0)
}

/// What a handler answered.
enum Reply {
    /// A response body.
    Body(ResponseBody),
    /// A Fetch answer, whose records may still be in segment files.
    Fetch(FetchAnswer),
    /// A Produce whose batches are still committing.
    Produce(produce::PendingProduce),
}

/// Runs the handler of the request's API (`client_id` is the request header's).
async fn dispatch(broker: &Broker, client_id: Option<String>, body: RequestBody) -> Reply {
    Reply::Body(match body {
        RequestBody::ApiVersions(_) => ResponseBody::ApiVersions(api_versions::handle()),
        RequestBody::DescribeCluster(_) => {
            ResponseBody::DescribeCluster(describe_cluster::handle(broker).await)
        }
        RequestBody::Metadata(r) => ResponseBody::Metadata(metadata::handle(broker, r)),
        RequestBody::CreateTopics(r) => {
            ResponseBody::CreateTopics(create_topics::handle(broker, r).await)
        }
        RequestBody::DeleteTopics(r) => {
            ResponseBody::DeleteTopics(delete_topics::handle(broker, r).await)
        }
        RequestBody::Produce(r) => {
            let pending = produce::start(broker, r).await;
            if !pending.is_answered() {
                return Reply::Produce(pending);
            }
            ResponseBody::Produce(pending.finish(broker).await)
        }
        RequestBody::Fetch(r) => return Reply::Fetch(fetch::handle(broker, r).await),
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

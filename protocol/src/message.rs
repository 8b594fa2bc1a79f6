//! Whole requests and responses: a header plus the body of the API it names.
//!
//! [`Request::decode`] turns a frame body into a typed request, checking the api
//! key and version before the body. When that fails, [`DecodeFailure`] still carries
//! the correlation id if the header could be read, so the broker can answer with an
//! error response header instead of closing the connection.

use bytes::{Bytes, BytesMut};

use crate::api::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use crate::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use crate::api::create_topics::{CreateTopicsRequest, CreateTopicsResponse};
use crate::api::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use crate::api::describe_cluster::{DescribeClusterRequest, DescribeClusterResponse};
use crate::api::describe_groups::{DescribeGroupsRequest, DescribeGroupsResponse};
use crate::api::fetch::{FetchRequest, FetchResponse};
use crate::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use crate::api::list_groups::{ListGroupsRequest, ListGroupsResponse};
use crate::api::list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
use crate::api::metadata::{MetadataRequest, MetadataResponse};
use crate::api::offset_commit::{OffsetCommitRequest, OffsetCommitResponse};
use crate::api::offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};
use crate::api::produce::{ProduceRequest, ProduceResponse};
use crate::api::ApiKey;
use crate::header::{RequestHeader, ResponseHeader};
use crate::versioned::Versioned;
use crate::{Error, Result};

/// A request struct that knows its API and the response it gets, so a client can
/// send a typed request and get the typed answer back without matching on
/// [`ResponseBody`] itself. Implemented for every request by the API table below.
pub trait Call {
    /// The response struct.
    type Response;
    /// The API.
    const API: ApiKey;
    /// Wraps the request in the dispatcher's enum.
    fn into_body(self) -> RequestBody;
    /// Unwraps the response, or hands back a body of another API.
    fn from_body(body: ResponseBody) -> std::result::Result<Self::Response, ResponseBody>;
}

/// Generates, from one table of `Api => Request, Response`, the request and
/// response enums, their dispatch over every API, and [`Call`] for each request.
macro_rules! messages {
    ($($api:ident => $req:ident, $resp:ident;)*) => {
        /// The body of a request, by API.
        #[derive(Debug, Clone, PartialEq)]
        pub enum RequestBody {
            $(
                #[doc = concat!("A ", stringify!($api), " request.")]
                $api($req),
            )*
        }

        /// The body of a response, by API.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ResponseBody {
            $(
                #[doc = concat!("A ", stringify!($api), " response.")]
                $api($resp),
            )*
        }

        impl RequestBody {
            /// The API this body belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(RequestBody::$api(_) => ApiKey::$api,)*
                }
            }

            /// Appends the body as `version` lays it out.
            pub fn encode(&self, version: i16, buf: &mut BytesMut) {
                match self {
                    $(RequestBody::$api(m) => m.encode_at(version, buf),)*
                }
            }

            /// Decodes the body of `api` at `version`.
            pub fn decode(api: ApiKey, version: i16, body: &[u8]) -> Result<Self> {
                api.check_version(version)?;
                Ok(match api {
                    $(ApiKey::$api => RequestBody::$api($req::decode_at(version, body)?),)*
                })
            }
        }

        $(
            impl Call for $req {
                type Response = $resp;
                const API: ApiKey = ApiKey::$api;
                fn into_body(self) -> RequestBody {
                    RequestBody::$api(self)
                }
                fn from_body(body: ResponseBody) -> std::result::Result<$resp, ResponseBody> {
                    match body {
                        ResponseBody::$api(r) => Ok(r),
                        other => Err(other),
                    }
                }
            }
        )*

        impl ResponseBody {
            /// The API this body belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(ResponseBody::$api(_) => ApiKey::$api,)*
                }
            }

            /// Appends the body as `version` lays it out.
            pub fn encode(&self, version: i16, buf: &mut BytesMut) {
                match self {
                    $(ResponseBody::$api(m) => m.encode_at(version, buf),)*
                }
            }

            /// Decodes the body of a response to `api` at `version`.
            pub fn decode(api: ApiKey, version: i16, body: &[u8]) -> Result<Self> {
                api.check_version(version)?;
                Ok(match api {
                    $(ApiKey::$api => ResponseBody::$api($resp::decode_at(version, body)?),)*
                })
            }
        }
    };
}

/// Implements [`Versioned`] for bodies whose layout is the same at every version,
/// by their own `encode` and `decode`.
macro_rules! same_at_every_version {
    ($($body:ty),* $(,)?) => {
        $(
            impl Versioned for $body {
                fn encode_at(&self, _version: i16, buf: &mut BytesMut) {
                    self.encode(buf)
                }
                fn decode_at(_version: i16, body: &[u8]) -> Result<Self> {
                    Self::decode(body)
                }
            }
        )*
    };
}

same_at_every_version!(
    ProduceRequest,
    ProduceResponse,
    FetchRequest,
    FetchResponse,
    ListOffsetsRequest,
    ListOffsetsResponse,
    MetadataRequest,
    ApiVersionsRequest,
    ApiVersionsResponse,
    CreateTopicsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    OffsetCommitRequest,
    OffsetCommitResponse,
    OffsetFetchRequest,
    OffsetFetchResponse,
    DescribeGroupsRequest,
    DescribeGroupsResponse,
    ListGroupsRequest,
    ListGroupsResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse,
    DescribeClusterRequest,
    DescribeClusterResponse,
);

messages! {
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
    DescribeCluster => DescribeClusterRequest, DescribeClusterResponse;
}

/// A decoded request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The header.
    pub header: RequestHeader,
    /// The body.
    pub body: RequestBody,
}

/// Why a frame did not decode into a [`Request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// The correlation id, when the frame held one: answer with an error response.
    /// `None`: the frame is too short to answer; close the connection.
    pub correlation_id: Option<i32>,
    /// What was wrong.
    pub error: Error,
}

/// What `size_hint` allows for a header and a message without records.
const SMALL_MESSAGE: usize = 256;

impl RequestBody {
    /// How many bytes `encode` will write: at least that for a Produce request
    /// (nearly all of it records), a small allowance for everything else. For
    /// sizing the buffer up front, so a large request is not copied as it grows.
    pub fn size_hint(&self) -> usize {
        match self {
            RequestBody::Produce(produce) => produce.size_hint(),
            _ => SMALL_MESSAGE,
        }
    }
}

impl Request {
    /// A request for `body` with the given correlation id, at the newest version.
    pub fn new(correlation_id: i32, client_id: Option<String>, body: RequestBody) -> Self {
        let api = body.api_key();
        Request {
            header: RequestHeader {
                api_key: api.code(),
                api_version: api.versions().1,
                correlation_id,
                client_id,
            },
            body,
        }
    }

    /// Appends header and body (the frame body, without the length prefix), the
    /// body laid out as the header's version.
    pub fn encode(&self, buf: &mut BytesMut) {
        self.header.encode(buf);
        self.body.encode(self.header.api_version, buf);
    }

    /// Decodes a frame body.
    pub fn decode(frame: &[u8]) -> Result<Request, DecodeFailure> {
        let fail = |error| DecodeFailure {
            correlation_id: RequestHeader::peek_correlation_id(frame),
            error,
        };
        let (header, body) = RequestHeader::decode(frame).map_err(fail)?;
        let api = ApiKey::from_code(header.api_key).map_err(fail)?;
        let body = RequestBody::decode(api, header.api_version, body).map_err(fail)?;
        Ok(Request { header, body })
    }
}

/// A response: header plus, when the header carries no error, a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The header.
    pub header: ResponseHeader,
    /// The body; `None` when the header refuses the request.
    pub body: Option<ResponseBody>,
}

impl Response {
    /// Appends header and body (the frame body, without the length prefix), the
    /// body laid out as `version`, the version of the request it answers.
    pub fn encode(&self, version: i16, buf: &mut BytesMut) {
        self.header.encode(buf);
        if let Some(body) = &self.body {
            body.encode(version, buf);
        }
    }

    /// How many bytes `encode` will write: at least that for a Fetch answer
    /// (nearly all of it records), a small allowance for everything else. For
    /// sizing the buffer up front, so a large answer is not copied as it grows.
    pub fn size_hint(&self) -> usize {
        match &self.body {
            Some(ResponseBody::Fetch(fetch)) => SMALL_MESSAGE + fetch.size_hint(),
            _ => SMALL_MESSAGE,
        }
    }

    /// Decodes a frame body answering a request to `api` at `version`.
    pub fn decode(api: ApiKey, version: i16, frame: &[u8]) -> Result<Response> {
        Self::decode_with(frame, |rest| ResponseBody::decode(api, version, rest))
    }

    /// As [`Response::decode`], but a Fetch answer's records are slices of `frame`
    /// rather than copies.
    pub fn decode_shared(api: ApiKey, version: i16, frame: &Bytes) -> Result<Response> {
        Self::decode_with(frame, |rest| match api {
            ApiKey::Fetch => {
                api.check_version(version)?;
                FetchResponse::decode_within(frame, rest).map(ResponseBody::Fetch)
            }
            _ => ResponseBody::decode(api, version, rest),
        })
    }

    fn decode_with(
        frame: &[u8],
        body: impl FnOnce(&[u8]) -> Result<ResponseBody>,
    ) -> Result<Response> {
        let (header, rest) = ResponseHeader::decode(frame)?;
        let body = if header.error_code.is_ok() {
            Some(body(rest)?)
        } else if rest.is_empty() {
            None
        } else {
            return Err(Error::TrailingBytes {
                what: "error response",
                count: rest.len(),
            });
        };
        Ok(Response { header, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::metadata::MetadataRequest;
    use crate::error_code::ErrorCode;

    #[test]
    fn requests_round_trip_through_the_dispatcher() {
        let request = Request::new(
            9,
            Some("shop".to_string()),
            RequestBody::Metadata(MetadataRequest {
                topics: vec!["purchases".to_string()],
            }),
        );
        let mut buf = BytesMut::new();
        request.encode(&mut buf);
        assert_eq!(Request::decode(&buf), Ok(request));
    }

    #[test]
    fn size_hints_cover_produce_and_fetch_records() {
        use crate::api::fetch::{FetchPartitionResponse, FetchResponse, FetchTopicResponse};
        use crate::api::produce::{ProducePartition, ProduceRequest, ProduceTopic};
        let records = bytes::Bytes::from(vec![7u8; 100_000]);
        let body = RequestBody::Produce(ProduceRequest {
            acks: 1,
            timeout_ms: 1000,
            topics: vec![ProduceTopic {
                name: "purchases".to_string(),
                partitions: (0..6)
                    .map(|partition| ProducePartition {
                        partition,
                        records: records.clone(),
                    })
                    .collect(),
            }],
        });
        let mut buf = BytesMut::new();
        body.encode(0, &mut buf);
        assert_eq!(body.size_hint(), buf.len());

        let response = Response {
            header: ResponseHeader::ok(3),
            body: Some(ResponseBody::Fetch(FetchResponse {
                topics: vec![FetchTopicResponse {
                    name: "purchases".to_string(),
                    partitions: (0..6)
                        .map(|partition| FetchPartitionResponse {
                            partition,
                            error_code: ErrorCode::None,
                            error_message: None,
                            high_watermark: 10,
                            log_start_offset: 0,
                            records: records.clone(),
                        })
                        .collect(),
                }],
            })),
        };
        let mut buf = BytesMut::new();
        response.encode(0, &mut buf);
        assert!(
            response.size_hint() >= buf.len(),
            "{} < {}",
            response.size_hint(),
            buf.len()
        );
    }

    #[test]
    fn unknown_keys_and_versions_fail_with_the_correlation_id() {
        let mut frame = BytesMut::new();
        RequestHeader {
            api_key: 99,
            api_version: 0,
            correlation_id: 41,
            client_id: None,
        }
        .encode(&mut frame);
        let failure = Request::decode(&frame).expect_err("unknown key");
        assert_eq!(failure.correlation_id, Some(41));
        assert_eq!(failure.error, Error::UnknownApiKey { key: 99 });

        let mut frame = BytesMut::new();
        RequestHeader {
            api_key: ApiKey::Fetch.code(),
            api_version: 7,
            correlation_id: 42,
            client_id: None,
        }
        .encode(&mut frame);
        let failure = Request::decode(&frame).expect_err("unsupported version");
        assert!(failure
            .error
            .to_string()
            .contains("supported versions are 0..=0"));
        assert_eq!(
            Request::decode(&[0, 1]).expect_err("short").correlation_id,
            None
        );
    }

    #[test]
    fn error_responses_have_no_body() {
        let response = Response {
            header: ResponseHeader {
                correlation_id: 3,
                error_code: ErrorCode::InvalidRequest,
                error_message: Some("Fetch request: truncated".to_string()),
            },
            body: None,
        };
        let mut buf = BytesMut::new();
        response.encode(0, &mut buf);
        assert_eq!(Response::decode(ApiKey::Fetch, 0, &buf), Ok(response));
        buf.extend_from_slice(&[0]);
        assert!(Response::decode(ApiKey::Fetch, 0, &buf).is_err());
    }
}

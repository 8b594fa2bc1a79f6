//! CreateTopics (key 19): create topics with a partition count and per-topic
//! configuration.
//!
//! ```text
//! CreateTopicsRequest v0 and v1
//!   topics        array<
//!     name          string
//!     partitions    int32
//!     replication_factor int16   v1 only: -1 = the cluster's default
//!     configs       array<
//!       key           string
//!       value         nullable_string > >
//!   timeout_ms    int32
//!   validate_only int8    0 or 1: check the request but create nothing
//!
//! CreateTopicsResponse v0 and v1
//!   topics        array<
//!     name          string
//!     error_code    int16
//!     error_message nullable_string >
//! ```

use bytes::BytesMut;

use crate::error_code::ErrorCode;
use crate::versioned::Versioned;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// One configuration entry of a new topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// Setting name.
    pub key: String,
    /// Value, or null for the default.
    pub value: Option<String>,
}

/// One topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatableTopic {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replicas of each partition; -1 for the cluster's default, min(3, brokers).
    /// A v0 request has no such field and asks for the default.
    pub replication_factor: i16,
    /// Per-topic settings.
    pub configs: Vec<TopicConfig>,
}

/// Creates topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsRequest {
    /// Topics to create.
    pub topics: Vec<CreatableTopic>,
    /// Any value: the broker does not use it (PROTOCOL.md §5.3).
    pub timeout_ms: i32,
    /// Only check; create nothing.
    pub validate_only: bool,
}

impl CreateTopicsRequest {
    /// Appends the body as `version` lays it out.
    pub fn encode(&self, version: i16, buf: &mut BytesMut) {
        Writer::new(buf)
            .array_of(&self.topics, |w, t| {
                w.string(&t.name).i32(t.partitions);
                if version >= 1 {
                    w.i16(t.replication_factor);
                }
                w.array_of(&t.configs, |w, c| {
                    w.string(&c.key).nullable_string(c.value.as_deref());
                });
            })
            .i32(self.timeout_ms)
            .i8(i8::from(self.validate_only));
    }

    /// Decodes a body laid out as `version`.
    pub fn decode(version: i16, body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "CreateTopics request");
        let topics = r.array_of("topics", 10, |r| {
            Ok(CreatableTopic {
                name: r.string("topic name")?,
                partitions: r.i32("partitions")?,
                replication_factor: if version >= 1 {
                    r.i16("replication_factor")?
                } else {
                    -1
                },
                configs: r.array_of("configs", 4, |r| {
                    Ok(TopicConfig {
                        key: r.string("config key")?,
                        value: r.nullable_string("config value")?,
                    })
                })?,
            })
        })?;
        let timeout_ms = r.i32("timeout_ms")?;
        let validate_only = match r.i8("validate_only")? {
            0 => false,
            1 => true,
            other => {
                return Err(Error::Invalid {
                    what: "validate_only",
                    detail: format!("{other}; allowed: 0 or 1"),
                })
            }
        };
        r.finish()?;
        Ok(CreateTopicsRequest {
            topics,
            timeout_ms,
            validate_only,
        })
    }
}

impl Versioned for CreateTopicsRequest {
    fn encode_at(&self, version: i16, buf: &mut BytesMut) {
        self.encode(version, buf)
    }

    fn decode_at(version: i16, body: &[u8]) -> Result<Self> {
        Self::decode(version, body)
    }
}

/// The outcome for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicResult {
    /// Topic name.
    pub name: String,
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong and what is allowed.
    pub error_message: Option<String>,
}

impl TopicResult {
    pub(crate) fn encode_all(results: &[TopicResult], buf: &mut BytesMut) {
        Writer::new(buf).array_of(results, |w, t| {
            w.string(&t.name)
                .i16(t.error_code.code())
                .nullable_string(t.error_message.as_deref());
        });
    }

    pub(crate) fn decode_all(r: &mut Reader<'_>) -> Result<Vec<TopicResult>> {
        r.array_of("topics", 6, |r| {
            Ok(TopicResult {
                name: r.string("topic name")?,
                error_code: ErrorCode::from_code(r.i16("error_code")?),
                error_message: r.nullable_string("error_message")?,
            })
        })
    }
}

/// Per-topic outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateTopicsResponse {
    /// One result per requested topic.
    pub topics: Vec<TopicResult>,
}

impl CreateTopicsResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        TopicResult::encode_all(&self.topics, buf);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "CreateTopics response");
        let topics = TopicResult::decode_all(&mut r)?;
        r.finish()?;
        Ok(CreateTopicsResponse { topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn request() -> CreateTopicsRequest {
        CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "purchases".to_string(),
                partitions: 6,
                replication_factor: 3,
                configs: vec![
                    TopicConfig {
                        key: "cleanup".to_string(),
                        value: Some("compact".to_string()),
                    },
                    TopicConfig {
                        key: "retention_ms".to_string(),
                        value: None,
                    },
                ],
            }],
            timeout_ms: 5000,
            validate_only: true,
        }
    }

    fn response() -> CreateTopicsResponse {
        CreateTopicsResponse {
            topics: vec![
                TopicResult {
                    name: "purchases".to_string(),
                    error_code: ErrorCode::None,
                    error_message: None,
                },
                TopicResult {
                    name: "bad name".to_string(),
                    error_code: ErrorCode::InvalidTopic,
                    error_message: Some("allowed: [a-zA-Z0-9._-]".to_string()),
                },
            ],
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        for version in [0, 1] {
            let mut expected = request();
            if version == 0 {
                expected.topics[0].replication_factor = -1;
            }
            check_round_trip(
                &expected,
                |m, b| m.encode(version, b),
                |b| CreateTopicsRequest::decode(version, b),
            );
            check_truncations(
                &request(),
                |m, b| m.encode(version, b),
                |b| CreateTopicsRequest::decode(version, b),
            );
        }
        check_round_trip(
            &response(),
            CreateTopicsResponse::encode,
            CreateTopicsResponse::decode,
        );
        check_truncations(
            &response(),
            CreateTopicsResponse::encode,
            CreateTopicsResponse::decode,
        );
    }

    #[test]
    fn a_v0_request_asks_for_the_default_replication_factor() {
        let mut v0 = BytesMut::new();
        request().encode(0, &mut v0);
        let mut v1 = BytesMut::new();
        request().encode(1, &mut v1);
        assert_eq!(v1.len(), v0.len() + 2);
        let decoded = CreateTopicsRequest::decode(0, &v0).expect("a v0 request decodes");
        assert_eq!(decoded.topics[0].replication_factor, -1);
        assert!(CreateTopicsRequest::decode(1, &v0).is_err());
    }

    #[test]
    fn validate_only_must_be_zero_or_one() {
        let mut buf = BytesMut::new();
        request().encode(1, &mut buf);
        let last = buf.len() - 1;
        buf[last] = 2;
        let err = CreateTopicsRequest::decode(1, &buf).expect_err("2 is not a bool");
        assert!(err.to_string().contains("allowed: 0 or 1"), "{err}");
    }
}

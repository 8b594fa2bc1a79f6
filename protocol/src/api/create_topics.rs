//! CreateTopics (key 19): create topics with a partition count and per-topic
//! configuration.
//!
//! ```text
//! CreateTopicsRequest v0
//!   topics        array<
//!     name          string
//!     partitions    int32
//!     configs       array<
//!       key           string
//!       value         nullable_string > >
//!   timeout_ms    int32
//!   validate_only int8    0 or 1: check the request but create nothing
//!
//! CreateTopicsResponse v0
//!   topics        array<
//!     name          string
//!     error_code    int16
//!     error_message nullable_string >
//! ```

use bytes::BytesMut;

use crate::error_code::ErrorCode;
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
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .array_of(&self.topics, |w, t| {
                w.string(&t.name)
                    .i32(t.partitions)
                    .array_of(&t.configs, |w, c| {
                        w.string(&c.key).nullable_string(c.value.as_deref());
                    });
            })
            .i32(self.timeout_ms)
            .i8(i8::from(self.validate_only));
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "CreateTopics request");
        let topics = r.array_of("topics", 10, |r| {
            Ok(CreatableTopic {
                name: r.string("topic name")?,
                partitions: r.i32("partitions")?,
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
        check_round_trip(
            &request(),
            CreateTopicsRequest::encode,
            CreateTopicsRequest::decode,
        );
        check_truncations(
            &request(),
            CreateTopicsRequest::encode,
            CreateTopicsRequest::decode,
        );
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
    fn validate_only_must_be_zero_or_one() {
        let mut buf = BytesMut::new();
        request().encode(&mut buf);
        let last = buf.len() - 1;
        buf[last] = 2;
        let err = CreateTopicsRequest::decode(&buf).expect_err("2 is not a bool");
        assert!(err.to_string().contains("allowed: 0 or 1"), "{err}");
    }
}

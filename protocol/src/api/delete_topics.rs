//! DeleteTopics (key 20): delete topics and all their data.
//!
//! ```text
//! DeleteTopicsRequest v0
//!   topics        array<string>
//!   timeout_ms    int32
//!
//! DeleteTopicsResponse v0
//!   topics        array<
//!     name          string
//!     error_code    int16
//!     error_message nullable_string >
//! ```

use bytes::BytesMut;

use crate::api::create_topics::TopicResult;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Deletes topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicsRequest {
    /// Topics to delete.
    pub topics: Vec<String>,
    /// Any value: the broker does not use it (PROTOCOL.md §5.4).
    pub timeout_ms: i32,
}

impl DeleteTopicsRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .array_of(&self.topics, |w, t| {
                w.string(t);
            })
            .i32(self.timeout_ms);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "DeleteTopics request");
        let topics = r.array_of("topics", 2, |r| r.string("topic name"))?;
        let timeout_ms = r.i32("timeout_ms")?;
        r.finish()?;
        Ok(DeleteTopicsRequest { topics, timeout_ms })
    }
}

/// Per-topic outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteTopicsResponse {
    /// One result per requested topic.
    pub topics: Vec<TopicResult>,
}

impl DeleteTopicsResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        TopicResult::encode_all(&self.topics, buf);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "DeleteTopics response");
        let topics = TopicResult::decode_all(&mut r)?;
        r.finish()?;
        Ok(DeleteTopicsResponse { topics })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_code::ErrorCode;
    use crate::testing::{check_round_trip, check_truncations};

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        let request = DeleteTopicsRequest {
            topics: vec!["purchases".to_string(), "old".to_string()],
            timeout_ms: 1000,
        };
        check_round_trip(
            &request,
            DeleteTopicsRequest::encode,
            DeleteTopicsRequest::decode,
        );
        check_truncations(
            &request,
            DeleteTopicsRequest::encode,
            DeleteTopicsRequest::decode,
        );
        let response = DeleteTopicsResponse {
            topics: vec![TopicResult {
                name: "old".to_string(),
                error_code: ErrorCode::UnknownTopicOrPartition,
                error_message: Some("topic old does not exist".to_string()),
            }],
        };
        check_round_trip(
            &response,
            DeleteTopicsResponse::encode,
            DeleteTopicsResponse::decode,
        );
        check_truncations(
            &response,
            DeleteTopicsResponse::encode,
            DeleteTopicsResponse::decode,
        );
    }
}

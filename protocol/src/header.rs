//! Request and response headers.
//!
//! ```text
//! RequestHeader
//!   api_key         int16
//!   api_version     int16
//!   correlation_id  int32
//!   client_id       nullable_string
//!
//! ResponseHeader
//!   correlation_id  int32            copied from the request
//!   error_code      int16            0, or why the request as a whole was refused
//!   error_message   nullable_string  what was wrong and what is allowed
//! ```
//!
//! A frame's body is a header followed by the message body of the API it names. A
//! response whose header carries a non-zero `error_code` has an empty body: the
//! request could not be handled at all (unknown api key, unsupported version, a
//! body that does not decode). Errors about one topic or partition travel in the
//! API's own response body instead, so the rest of the request still succeeds.

use bytes::BytesMut;

use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// The header in front of every request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// Which API the body is for (see [`crate::api::ApiKey`]).
    pub api_key: i16,
    /// Version of that API's body layout.
    pub api_version: i16,
    /// Chosen by the client; echoed in the response so it can match them up.
    pub correlation_id: i32,
    /// Free-form client name for logs and metrics.
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// Appends the header.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .i16(self.api_key)
            .i16(self.api_version)
            .i32(self.correlation_id)
            .nullable_string(self.client_id.as_deref());
    }

    /// Decodes the header from the front of a frame body; returns it and the rest
    /// (the message body).
    pub fn decode(frame: &[u8]) -> Result<(RequestHeader, &[u8])> {
        let mut r = Reader::new(frame, "request header");
        let header = RequestHeader {
            api_key: r.i16("api_key")?,
            api_version: r.i16("api_version")?,
            correlation_id: r.i32("correlation_id")?,
            client_id: r.nullable_string("client_id")?,
        };
        let rest = r.take(r.remaining(), "request body")?;
        Ok((header, rest))
    }

    /// Decodes just the correlation id, if the frame is long enough to hold one: an
    /// error response can then be matched even when the rest of the header is bad.
    pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
        let bytes = frame.get(4..8)?;
        Some(i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// The header in front of every response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's correlation id.
    pub correlation_id: i32,
    /// `None` when a body follows; otherwise why the whole request was refused.
    pub error_code: ErrorCode,
    /// Details of a refusal.
    pub error_message: Option<String>,
}

impl ResponseHeader {
    /// The header of a successful response.
    pub fn ok(correlation_id: i32) -> Self {
        ResponseHeader {
            correlation_id,
            error_code: ErrorCode::None,
            error_message: None,
        }
    }

    /// Appends the header.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .i32(self.correlation_id)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref());
    }

    /// Decodes the header from the front of a frame body; returns it and the rest.
    pub fn decode(frame: &[u8]) -> Result<(ResponseHeader, &[u8])> {
        let mut r = Reader::new(frame, "response header");
        let header = ResponseHeader {
            correlation_id: r.i32("correlation_id")?,
            error_code: ErrorCode::from_code(r.i16("error_code")?),
            error_message: r.nullable_string("error_message")?,
        };
        let rest = r.take(r.remaining(), "response body")?;
        Ok((header, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_header_round_trips_and_rejects_truncation() {
        let h = RequestHeader {
            api_key: 1,
            api_version: 0,
            correlation_id: 77,
            client_id: Some("shop".to_string()),
        };
        let mut buf = BytesMut::new();
        h.encode(&mut buf);
        buf.extend_from_slice(b"body");
        let (decoded, rest) = RequestHeader::decode(&buf).expect("decode");
        assert_eq!((decoded, rest), (h, &b"body"[..]));
        assert_eq!(RequestHeader::peek_correlation_id(&buf), Some(77));
        for cut in 0..buf.len() - 4 {
            assert!(RequestHeader::decode(&buf[..cut]).is_err(), "prefix {cut}");
        }
    }

    #[test]
    fn response_header_round_trips_and_rejects_truncation() {
        let h = ResponseHeader {
            correlation_id: -5,
            error_code: ErrorCode::UnsupportedVersion,
            error_message: Some("Fetch v9: supported 0..=0".to_string()),
        };
        let mut buf = BytesMut::new();
        h.encode(&mut buf);
        let (decoded, rest) = ResponseHeader::decode(&buf).expect("decode");
        assert_eq!((decoded, rest), (h, &b""[..]));
        for cut in 0..buf.len() {
            assert!(ResponseHeader::decode(&buf[..cut]).is_err(), "prefix {cut}");
        }
    }
}

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
//!   correlation_id  int32   (copied from the request)
//! ```
//!
//! A frame's body is a header followed by the message body of the API it names.

use bytes::BytesMut;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's correlation id.
    pub correlation_id: i32,
}

impl ResponseHeader {
    /// Appends the header.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf).i32(self.correlation_id);
    }

    /// Decodes the header from the front of a frame body; returns it and the rest.
    pub fn decode(frame: &[u8]) -> Result<(ResponseHeader, &[u8])> {
        let mut r = Reader::new(frame, "response header");
        let correlation_id = r.i32("correlation_id")?;
        let rest = r.take(r.remaining(), "response body")?;
        Ok((ResponseHeader { correlation_id }, rest))
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
}

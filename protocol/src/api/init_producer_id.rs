//! InitProducerId (key 22): get an idempotent producer identity.
//!
//! A producer that wants the broker to drop its retried duplicates asks once for a
//! producer id, then stamps every batch with that id, the epoch and a per-partition
//! sequence number (the batch header's producer fields).
//!
//! ```text
//! InitProducerIdRequest v0
//!   transactional_id  nullable_string   must be null (no transactions; else 42)
//!   timeout_ms        int32
//!
//! InitProducerIdResponse v0
//!   error_code        int16
//!   error_message     nullable_string
//!   producer_id       int64     >= 0, unique on this broker forever
//!   producer_epoch    int16     0
//! ```

use bytes::BytesMut;

use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Asks for a new producer id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// Must be `None`: transactions are not supported (the broker answers a
    /// non-null id with `InvalidRequest`).
    pub transactional_id: Option<String>,
    /// Transaction timeout; unused while transactions are not supported.
    pub timeout_ms: i32,
}

impl InitProducerIdRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .nullable_string(self.transactional_id.as_deref())
            .i32(self.timeout_ms);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "InitProducerId request");
        let transactional_id = r.nullable_string("transactional_id")?;
        let timeout_ms = r.i32("timeout_ms")?;
        r.finish()?;
        Ok(InitProducerIdRequest {
            transactional_id,
            timeout_ms,
        })
    }
}

/// The producer identity granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// `None` on success.
    pub error_code: ErrorCode,
    /// What went wrong.
    pub error_message: Option<String>,
    /// The new producer id (>= 0, never issued before by this broker), or -1 on error.
    pub producer_id: i64,
    /// The producer epoch: 0 for a new id, -1 on error.
    pub producer_epoch: i16,
}

impl InitProducerIdResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .i16(self.error_code.code())
            .nullable_string(self.error_message.as_deref())
            .i64(self.producer_id)
            .i16(self.producer_epoch);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "InitProducerId response");
        let error_code = ErrorCode::from_code(r.i16("error_code")?);
        let error_message = r.nullable_string("error_message")?;
        let producer_id = r.i64("producer_id")?;
        let producer_epoch = r.i16("producer_epoch")?;
        r.finish()?;
        Ok(InitProducerIdResponse {
            error_code,
            error_message,
            producer_id,
            producer_epoch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{check_round_trip, check_truncations};

    fn requests() -> [InitProducerIdRequest; 2] {
        [
            InitProducerIdRequest {
                transactional_id: None,
                timeout_ms: 60_000,
            },
            InitProducerIdRequest {
                transactional_id: Some("shop-tx".to_string()),
                timeout_ms: 0,
            },
        ]
    }

    fn responses() -> [InitProducerIdResponse; 2] {
        [
            InitProducerIdResponse {
                error_code: ErrorCode::None,
                error_message: None,
                producer_id: 4_000_000_001,
                producer_epoch: 0,
            },
            InitProducerIdResponse {
                error_code: ErrorCode::InvalidRequest,
                error_message: Some("transactions are not supported".to_string()),
                producer_id: -1,
                producer_epoch: -1,
            },
        ]
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        for request in requests() {
            check_round_trip(
                &request,
                InitProducerIdRequest::encode,
                InitProducerIdRequest::decode,
            );
            check_truncations(
                &request,
                InitProducerIdRequest::encode,
                InitProducerIdRequest::decode,
            );
        }
        for response in responses() {
            check_round_trip(
                &response,
                InitProducerIdResponse::encode,
                InitProducerIdResponse::decode,
            );
            check_truncations(
                &response,
                InitProducerIdResponse::encode,
                InitProducerIdResponse::decode,
            );
        }
    }

    #[test]
    fn lying_lengths_and_trailing_bytes_are_rejected() {
        let mut lying = BytesMut::new();
        Writer::new(&mut lying).i16(i16::MAX).i32(0);
        assert!(InitProducerIdRequest::decode(&lying).is_err());
        let mut below_null = BytesMut::new();
        Writer::new(&mut below_null).i16(-2).i32(0);
        assert!(InitProducerIdRequest::decode(&below_null).is_err());
        for request in requests() {
            let mut buf = BytesMut::new();
            request.encode(&mut buf);
            buf.extend_from_slice(&[0]);
            assert!(InitProducerIdRequest::decode(&buf).is_err());
        }
        let mut buf = BytesMut::new();
        responses()[0].encode(&mut buf);
        buf.extend_from_slice(&[0]);
        assert!(InitProducerIdResponse::decode(&buf).is_err());
    }
}

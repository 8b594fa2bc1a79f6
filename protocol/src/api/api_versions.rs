//! ApiVersions (key 18): which APIs and versions the broker supports.
//!
//! ```text
//! ApiVersionsRequest v0  (empty body)
//!
//! ApiVersionsResponse v0
//!   error_code   int16
//!   api_keys     array<
//!     api_key      int16
//!     min_version  int16
//!     max_version  int16 >
//! ```

use bytes::BytesMut;

use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// Asks for the supported APIs. It has no fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionsRequest;

impl ApiVersionsRequest {
    /// Appends the body.
    pub fn encode(&self, _buf: &mut BytesMut) {}

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        Reader::new(body, "ApiVersions request").finish()?;
        Ok(ApiVersionsRequest)
    }
}

/// One supported API and its version range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The api key.
    pub api_key: i16,
    /// Oldest supported version.
    pub min_version: i16,
    /// Newest supported version.
    pub max_version: i16,
}

/// The supported APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    /// `None` (0) on success.
    pub error_code: ErrorCode,
    /// Every supported API.
    pub api_keys: Vec<ApiVersionRange>,
}

impl ApiVersionsResponse {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf)
            .i16(self.error_code.code())
            .array_of(&self.api_keys, |w, k| {
                w.i16(k.api_key).i16(k.min_version).i16(k.max_version);
            });
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "ApiVersions response");
        let error_code = ErrorCode::from_code(r.i16("error_code")?);
        let api_keys = r.array_of("api_keys", 6, |r| {
            Ok(ApiVersionRange {
                api_key: r.i16("api_key")?,
                min_version: r.i16("min_version")?,
                max_version: r.i16("max_version")?,
            })
        })?;
        r.finish()?;
        Ok(ApiVersionsResponse {
            error_code,
            api_keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiKey;
    use crate::testing::{check_round_trip, check_truncations};

    fn sample() -> ApiVersionsResponse {
        ApiVersionsResponse {
            error_code: ErrorCode::None,
            api_keys: ApiKey::ALL
                .iter()
                .map(|k| ApiVersionRange {
                    api_key: k.code(),
                    min_version: k.versions().0,
                    max_version: k.versions().1,
                })
                .collect(),
        }
    }

    #[test]
    fn round_trips_and_rejects_every_truncation() {
        check_round_trip(
            &sample(),
            ApiVersionsResponse::encode,
            ApiVersionsResponse::decode,
        );
        check_truncations(
            &sample(),
            ApiVersionsResponse::encode,
            ApiVersionsResponse::decode,
        );
        check_round_trip(
            &ApiVersionsRequest,
            ApiVersionsRequest::encode,
            ApiVersionsRequest::decode,
        );
        assert!(ApiVersionsRequest::decode(&[0]).is_err(), "trailing bytes");
    }
}

//! ApiVersions: lists every API and the versions this broker speaks.

use rill_protocol::api::api_versions::{ApiVersionRange, ApiVersionsResponse};
use rill_protocol::api::ApiKey;
use rill_protocol::ErrorCode;

/// Every API the codec supports, which is every API the broker serves.
pub fn handle() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::None,
        api_keys: ApiKey::ALL
            .into_iter()
            .map(|api| {
                let (min_version, max_version) = api.versions();
                ApiVersionRange {
                    api_key: api.code(),
                    min_version,
                    max_version,
                }
            })
            .collect(),
    }
}

//! The producer's identity for idempotence: a producer id and epoch from the
//! broker (InitProducerId), asked for at connect and again by the sender when a
//! partition has to start its sequence over.

use rill_protocol::api::init_producer_id::InitProducerIdRequest;
use rill_protocol::ErrorCode;

use super::config::ProducerConfig;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::routing::Router;

/// Asks for a producer id. A broker without InitProducerId is tolerated only when
/// idempotence was not asked for explicitly: the producer then runs without it.
async fn init_producer_id(
    conn: &Connection,
    config: &ProducerConfig,
) -> Result<Option<(i64, i16)>> {
    match request_producer_id(conn, config).await {
        Ok(identity) => Ok(Some(identity)),
        Err(e)
            if config.idempotence.is_none()
                && matches!(
                    e.code(),
                    Some(ErrorCode::InvalidRequest | ErrorCode::UnsupportedVersion)
                ) =>
        {
            tracing::warn!(error = %e, "broker does not grant producer ids; idempotence is off");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Asks the broker for a new producer id and epoch (InitProducerId).
pub(crate) async fn request_producer_id(
    conn: &Connection,
    config: &ProducerConfig,
) -> Result<(i64, i16)> {
    let request = InitProducerIdRequest {
        transactional_id: None,
        timeout_ms: i32::try_from(config.request_timeout.as_millis()).unwrap_or(i32::MAX),
    };
    let r = conn.call(request).await?;
    if r.error_code.is_ok() {
        Ok((r.producer_id, r.producer_epoch))
    } else {
        Err(Error::broker(r.error_code, r.error_message))
    }
}

/// Reaches a broker of `router` and, for an idempotent producer, gets its
/// producer id there. A broker that is lost or cannot grant an id yet (its
/// cluster is electing) is noted and the next one asked, `retries` times with
/// the producer's backoff, as a send would be retried. Fails at once when no
/// broker can be reached at all.
pub(super) async fn identify(
    router: &Router,
    config: &ProducerConfig,
) -> Result<Option<(i64, i16)>> {
    let mut attempts = 0;
    loop {
        let conn = router.any().await?;
        if !config.idempotent() {
            return Ok(None);
        }
        match init_producer_id(&conn, config).await {
            Err(e) if e.is_retriable() && attempts < config.retries => {
                attempts += 1;
                tracing::debug!(broker = conn.addr(), error = %e, attempts, "no producer id yet");
                router.note_failure(&e, conn.addr());
                conn.close();
                tokio::time::sleep(config.backoff(attempts)).await;
            }
            done => return done,
        }
    }
}

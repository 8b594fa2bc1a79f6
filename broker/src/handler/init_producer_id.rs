//! InitProducerId: hands an idempotent producer its id; in a cluster, one
//! reserved through the metadata group, so ids are unique across the brokers and
//! a producer keeps its id when its partitions' leaders move.

use std::time::Duration;

use rill_protocol::api::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use rill_protocol::ErrorCode;

use crate::cluster::metadata::{MetaCommand, MetaReply};
use crate::cluster::runtime::Cluster;
use crate::producer_ids::ISSUED_EPOCH;
use crate::state::Broker;

/// Allocates a producer id (epoch [`ISSUED_EPOCH`]). Transactions are not supported.
pub async fn handle(broker: &Broker, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let refuse = |code, message: String| InitProducerIdResponse {
        error_code: code,
        error_message: Some(message),
        producer_id: -1,
        producer_epoch: -1,
    };
    if let Some(id) = request.transactional_id {
        return refuse(
            ErrorCode::InvalidRequest,
            format!("transactional id {id:?}: transactions are not supported; send null"),
        );
    }
    if let Some(cluster) = &broker.cluster {
        return match from_cluster(cluster).await {
            Ok(producer_id) => InitProducerIdResponse {
                error_code: ErrorCode::None,
                error_message: None,
                producer_id,
                producer_epoch: ISSUED_EPOCH,
            },
            Err(message) => refuse(ErrorCode::RequestTimedOut, message),
        };
    }
    let ids = std::sync::Arc::clone(&broker.producer_ids);
    let allocated = tokio::task::spawn_blocking(move || ids.allocate())
        .await
        .map_err(|e| crate::error::Error::Task(e.to_string()))
        .and_then(|r| r);
    match allocated {
        Ok(producer_id) => InitProducerIdResponse {
            error_code: ErrorCode::None,
            error_message: None,
            producer_id,
            producer_epoch: ISSUED_EPOCH,
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot reserve producer ids");
            refuse(ErrorCode::StorageError, e.to_string())
        }
    }
}

/// Reserves one producer id through the cluster's metadata group.
async fn from_cluster(cluster: &Cluster) -> Result<i64, String> {
    let command = MetaCommand::AllocateProducerIds { count: 1 };
    match cluster
        .meta()
        .propose_anywhere(&command, Duration::from_secs(10))
        .await
    {
        Ok(MetaReply::ProducerIds { first, .. }) => Ok(first),
        Ok(other) => Err(format!(
            "the cluster did not reserve a producer id: {other:?}"
        )),
        Err(failure) => Err(format!(
            "the cluster's metadata group did not reserve a producer id within 10 s: {failure:?}"
        )),
    }
}

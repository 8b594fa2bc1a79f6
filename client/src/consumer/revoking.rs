//! The partitions a consumer has been told to give up but still holds until
//! their positions are committed (see `reconcile.rs` for how they get there and
//! leave). The state lives on the consumer, so a `poll` cancelled mid-commit
//! leaves it for the next one.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::record::TopicPartition;

/// Partitions the group took away whose positions are not committed yet; the
/// consumer still claims them.
#[derive(Debug, Default)]
pub(super) struct Revoking {
    /// Each partition's position (`None`: never positioned, nothing to commit).
    pub(super) positions: BTreeMap<TopicPartition, Option<i64>>,
    /// No new try before this (after a failed commit).
    pub(super) retry_at: Option<Instant>,
    /// The pause after the next failure.
    pub(super) backoff: Duration,
}

impl Revoking {
    /// When the next try of the commit is due, if one waits.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.retry_at.filter(|_| !self.positions.is_empty())
    }

    /// The revoked partitions' positions to commit.
    pub(super) fn positions(&self) -> Vec<(TopicPartition, i64)> {
        self.positions
            .iter()
            .filter_map(|(tp, offset)| offset.map(|o| (tp.clone(), o)))
            .collect()
    }
}

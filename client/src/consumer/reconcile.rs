//! Applying the group's assignment inside `poll` (docs/PROTOCOL.md §5.9, steps 3
//! and 6).
//!
//! A new assignment is applied in two steps. The first does not await: revoked
//! partitions leave the fetcher (nothing more of them is handed out) and wait in
//! [`Revoking`] with their positions; new partitions join the fetcher. The second
//! commits the revoked partitions' positions (the offsets after the last records
//! `poll` returned, with or without auto-commit) and only then *releases* them:
//! reports the smaller owned set to the heartbeat task, so the broker may give them
//! to another member, which starts from the commit.
//!
//! Invariants:
//! - Until a revoked partition is released, the heartbeat keeps claiming it, so
//!   no other member starts on it before its commit landed.
//! - The state lives on the consumer, not in a future: a `poll` dropped in the
//!   middle of the commit leaves the partitions in [`Revoking`], and the next
//!   `poll` (or [`Consumer::close`]) finishes the job. Cancelling never strands a
//!   partition.
//! - A failed commit is retried with backoff while the membership lasts (a lost
//!   connection, a heartbeat that reset the shared connection, a busy broker). A
//!   fence ends it: the partitions are dropped without committing (step 6). Only a
//!   refusal that retrying cannot fix (the topic is gone) releases them uncommitted.

use std::collections::BTreeSet;
use std::time::Duration;

use rill_protocol::ErrorCode;
use tokio::time::Instant;

use super::record::TopicPartition;
use super::revoking::Revoking;
use super::transient::transient;
use super::{Consumer, Mode};
use crate::error::{Error, Result};

/// Longest pause between two tries of a revocation commit.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Consumer {
    /// Applies the group's latest assignment or fence (see the module docs).
    /// Returns whether records may be fetched and handed out: always without a
    /// group; with one, only while the last heartbeat was answered.
    pub(super) async fn reconcile(&mut self) -> Result<bool> {
        let Mode::Group(membership) = &self.mode else {
            return Ok(true);
        };
        if let Some(error) = membership.take_error() {
            return Err(error);
        }
        let snapshot = membership.snapshot();
        if snapshot.fenced {
            // Other members may own the partitions already: drop them all,
            // committing nothing, then rejoin.
            self.fetcher.clear();
            self.revoking = Revoking::default();
            self.seen_assignment = snapshot.assignment_seq;
            membership.ack_fence();
            return Ok(false);
        }
        if snapshot.assignment_seq != self.seen_assignment {
            self.seen_assignment = snapshot.assignment_seq;
            self.apply_assignment(&snapshot.assignment);
        }
        self.finish_revocation().await;
        Ok(snapshot.confirmed)
    }

    /// The first step, without awaiting: revoked partitions move to
    /// [`Revoking`], new ones join the fetcher. A partition assigned again
    /// before its release goes back with its position.
    fn apply_assignment(&mut self, target: &BTreeSet<TopicPartition>) {
        let revoked: Vec<TopicPartition> = self
            .fetcher
            .assigned()
            .filter(|tp| !target.contains(*tp))
            .cloned()
            .collect();
        for tp in &revoked {
            let position = self.fetcher.remove(tp);
            self.revoking.positions.insert(tp.clone(), position);
        }
        for tp in target {
            let kept = self.revoking.positions.remove(tp);
            self.fetcher.add(tp.clone());
            if let Some(Some(offset)) = kept {
                self.fetcher.set_position(tp, offset);
            }
        }
        tracing::debug!(
            revoked = revoked.len(),
            owned = target.len(),
            "reconciling assignment"
        );
        self.report_owned();
    }

    /// The second step: commits the revoked partitions' positions, then releases
    /// them; on a failure that may pass, schedules another try.
    async fn finish_revocation(&mut self) {
        if self.revoking.positions.is_empty()
            || self.revoking.retry_at.is_some_and(|at| Instant::now() < at)
        {
            return;
        }
        let member = match &self.mode {
            Mode::Group(membership) => membership.identity().is_some(),
            Mode::Idle | Mode::Manual => false,
        };
        if !member {
            // Fenced a moment ago: the next reconcile drops the partitions.
            self.revoking.retry_at = Some(Instant::now() + self.config.retry_backoff);
            return;
        }
        let positions = self.revoking.positions();
        match self.commit_offsets(&positions).await {
            Ok(()) => {
                tracing::debug!(
                    released = self.revoking.positions.len(),
                    "committed and released revoked partitions"
                );
                self.release();
            }
            Err(e) if worth_retrying(&e) => {
                let backoff = self.revoking.backoff.max(self.config.retry_backoff);
                tracing::warn!(error = %e, retry_in = ?backoff,
                    "committing revoked partitions failed; retrying before releasing them");
                self.revoking.retry_at = Some(Instant::now() + backoff);
                self.revoking.backoff = (backoff * 2).min(MAX_BACKOFF.max(backoff));
            }
            Err(e) => {
                tracing::warn!(error = %e,
                    "committing revoked partitions was refused; releasing them uncommitted");
                self.release();
            }
        }
    }

    /// Forgets the revoked partitions and reports what is left.
    fn release(&mut self) {
        self.revoking = Revoking::default();
        self.report_owned();
    }

    /// Tells the heartbeat task what this consumer owns: its assigned partitions
    /// and the revoked ones not released yet.
    fn report_owned(&self) {
        if let Mode::Group(membership) = &self.mode {
            let owned = self
                .fetcher
                .assigned()
                .chain(self.revoking.positions.keys())
                .cloned()
                .collect();
            membership.set_owned(owned);
        }
    }

    /// Every position to commit: the assigned partitions' and those of revoked
    /// partitions not released yet.
    pub(super) fn all_positions(&self) -> Vec<(TopicPartition, i64)> {
        let mut positions = self.fetcher.positions();
        positions.extend(self.revoking.positions());
        positions
    }
}

/// Whether a revocation commit should be tried again rather than given up: a
/// failure that may pass, or a fencing refusal (a real fence reaches the
/// heartbeat too, and then drops the partitions; an epoch that moved on is
/// simply tried again with the new one).
fn worth_retrying(error: &Error) -> bool {
    transient(error)
        || matches!(
            error.code(),
            Some(ErrorCode::UnknownMemberId | ErrorCode::FencedMemberEpoch)
        )
}

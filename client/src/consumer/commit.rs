//! Committing positions: synchronously, asynchronously, and in the background
//! (auto-commit).
//!
//! A commit stores, for each partition, the next offset to consume (§5.10). A group
//! member commits with its member id and epoch, so a fenced member's commit is
//! refused; a consumer with a manual assignment commits to
//! [`ConsumerConfig::group_id`](super::ConsumerConfig::group_id) outside membership.
//! Every commit goes over the consumer's one control connection, so commits land in
//! the order they were made; a revocation's commit is answered before the
//! heartbeat that releases the partition is sent (`reconcile`).
//!
//! The consumer remembers what it last committed per partition; auto-commit sends
//! only positions that moved. An asynchronous or automatic commit is remembered as
//! soon as it is sent and forgotten again if the broker refuses it, so the next
//! auto-commit sends it again.

use std::collections::HashMap;

use rill_protocol::api::offset_commit::{OffsetCommitRequest, NO_MEMBER_EPOCH};
use rill_protocol::message::RequestBody;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::offsets::{self, PendingCommit};
use super::record::TopicPartition;
use super::{Consumer, Mode};
use crate::error::{Error, Result};
use crate::locks;

impl Consumer {
    /// Commits the current position of every assigned partition (the offset after
    /// the last record `poll` returned), and of revoked partitions whose hand-over
    /// is not finished, and waits until the broker stored them.
    pub async fn commit(&mut self) -> Result<()> {
        let positions = self.all_positions();
        self.commit_offsets(&positions).await
    }

    /// Commits `offsets` (each the next offset to consume) and waits until the
    /// broker stored them. Fails without storing any if one is refused.
    pub async fn commit_offsets(&mut self, offsets: &[(TopicPartition, i64)]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let request = self.commit_request(offsets)?;
        let conn = self.control.get().await?;
        let response = conn.call(request).await?;
        offsets::commit_result(response)?;
        let mut committed = self.lock_committed();
        for (tp, offset) in offsets {
            committed.insert(tp.clone(), *offset);
        }
        Ok(())
    }

    /// Sends a commit of the current positions and returns once it is queued; the
    /// returned [`PendingCommit`] resolves when the broker answers. Commits are
    /// stored in the order they were made.
    pub async fn commit_async(&mut self) -> Result<PendingCommit> {
        let positions = self.all_positions();
        if positions.is_empty() {
            return Ok(PendingCommit::done());
        }
        let request = self.commit_request(&positions)?;
        let conn = self.control.get().await?;
        let pending = conn.submit(RequestBody::OffsetCommit(request))?;
        Ok(self.watch_commit(PendingCommit::sent(pending, conn.addr()), positions))
    }

    /// Marks `offsets` committed now, so auto-commit does not send them again, and
    /// reads the broker's answer to `sent` in the background: if the commit failed,
    /// the marks that still stand are removed, so the next auto-commit sends those
    /// offsets again. The returned commit resolves with the answer.
    fn watch_commit(
        &self,
        sent: PendingCommit,
        offsets: Vec<(TopicPartition, i64)>,
    ) -> PendingCommit {
        {
            let mut committed = self.lock_committed();
            for (tp, offset) in &offsets {
                committed.insert(tp.clone(), *offset);
            }
        }
        let cache = self.committed.clone();
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let result = sent.await;
            if let Err(e) = &result {
                tracing::warn!(error = %e, "commit failed; its offsets will be sent again");
                let mut committed = locks::lock(&cache);
                for (tp, offset) in offsets {
                    if committed.get(&tp) == Some(&offset) {
                        committed.remove(&tp);
                    }
                }
            }
            let _ = tx.send(result);
        });
        PendingCommit::watched(rx)
    }

    /// The committed offsets of `partitions` in this consumer's group (`None`
    /// where nothing is committed). Fails if the consumer has no group.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<i64>>> {
        let group = self.group_id().ok_or_else(no_group)?;
        let conn = self.control.get().await?;
        offsets::committed(&conn, &group, partitions).await
    }

    /// Commits moved positions in the background once `auto_commit_interval` has
    /// passed. Failures are logged and retried at the next interval.
    pub(super) async fn auto_commit(&mut self) {
        if !self.config.auto_commit || Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        let moved: Vec<(TopicPartition, i64)> = {
            let committed = self.lock_committed();
            self.all_positions()
                .into_iter()
                .filter(|(tp, offset)| committed.get(tp) != Some(offset))
                .collect()
        };
        if moved.is_empty() {
            return;
        }
        let Ok(request) = self.commit_request(&moved) else {
            return; // no group, or not a member right now
        };
        let conn = match self.control.get().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "auto-commit skipped");
                return;
            }
        };
        let pending = match conn.submit(RequestBody::OffsetCommit(request)) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "auto-commit skipped");
                return;
            }
        };
        // The answer is checked in the background (a failure is logged and its
        // offsets sent again next round); nobody waits for it here.
        drop(self.watch_commit(PendingCommit::sent(pending, conn.addr()), moved));
    }

    /// The OffsetCommit request for `offsets` with this consumer's identity.
    fn commit_request(&self, offsets: &[(TopicPartition, i64)]) -> Result<OffsetCommitRequest> {
        if let Some((tp, offset)) = offsets.iter().find(|(_, o)| *o < 0) {
            return Err(Error::InvalidArgument(format!(
                "cannot commit offset {offset} for {tp}: offsets are at least 0"
            )));
        }
        match &self.mode {
            Mode::Group(membership) => {
                let (member_id, epoch) = membership.identity().ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "not a member of group {:?} right now (joining or rejoining); nothing was committed",
                        membership.group_id()
                    ))
                })?;
                Ok(offsets::commit_request(
                    membership.group_id(),
                    &member_id,
                    epoch,
                    offsets,
                ))
            }
            Mode::Idle | Mode::Manual => {
                let group = self.config.group_id.as_deref().ok_or_else(no_group)?;
                Ok(offsets::commit_request(group, "", NO_MEMBER_EPOCH, offsets))
            }
        }
    }
}

fn no_group() -> Error {
    Error::InvalidArgument(
        "this consumer has no group: subscribe, or set ConsumerConfig::group_id".to_string(),
    )
}

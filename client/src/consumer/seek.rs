//! Moving positions: to an offset, the beginning, the end, or a point in time;
//! and looking up where the end is.
//!
//! A seek applies to assigned partitions only, drops what was buffered for them
//! and makes the next `poll` read from the new position (an answer already in
//! flight for the old position is discarded). Time lookups use ListOffsets
//! (§5.7): the first record at or after the timestamp, or the end of the log if
//! there is none.

use std::collections::HashMap;

use rill_protocol::api::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

use super::offsets::list_offsets;
use super::record::TopicPartition;
use super::Consumer;
use crate::error::{Error, Result};

impl Consumer {
    /// Makes `poll` continue `tp` at `offset`. Fails if `tp` is not assigned or
    /// `offset` is negative. An offset past the log end is reset by the
    /// [`OffsetReset`](super::OffsetReset) policy at the next fetch.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        if offset < 0 {
            return Err(Error::InvalidArgument(format!(
                "cannot seek {tp} to offset {offset}: offsets are at least 0"
            )));
        }
        self.targets(std::slice::from_ref(tp))?;
        self.fetcher.seek(tp, offset);
        Ok(())
    }

    /// Moves `partitions` (all assigned ones if empty) to the first record still in
    /// the log.
    pub async fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let targets = self.targets(partitions)?;
        let found = self.lookup(&targets, EARLIEST_TIMESTAMP).await?;
        self.apply(&targets, &found)
    }

    /// Moves `partitions` (all assigned ones if empty) to the end of the log: only
    /// records produced from now on are read.
    pub async fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let targets = self.targets(partitions)?;
        let found = self.lookup(&targets, LATEST_TIMESTAMP).await?;
        self.apply(&targets, &found)
    }

    /// Moves `partitions` (all assigned ones if empty) to their first record with a
    /// timestamp at or after `timestamp_ms` (ms since the Unix epoch); a partition
    /// with no such record moves to its end.
    pub async fn seek_to_timestamp(
        &mut self,
        partitions: &[TopicPartition],
        timestamp_ms: i64,
    ) -> Result<()> {
        if timestamp_ms < 0 {
            return Err(Error::InvalidArgument(format!(
                "timestamp {timestamp_ms} is before 1970; use seek_to_beginning"
            )));
        }
        let targets = self.targets(partitions)?;
        let found = self.offsets_for_time(&targets, timestamp_ms).await?;
        let mut offsets = HashMap::new();
        let mut at_end = Vec::new();
        for tp in &targets {
            match found.get(tp).copied().flatten() {
                Some(offset) => {
                    offsets.insert(tp.clone(), offset);
                }
                None => at_end.push(tp.clone()),
            }
        }
        if !at_end.is_empty() {
            offsets.extend(self.lookup(&at_end, LATEST_TIMESTAMP).await?);
        }
        self.apply(&targets, &offsets)
    }

    /// The log end of each of `partitions` now: its high watermark, the offset
    /// after the last record readers may see (a consumer whose position reaches
    /// it has read everything there was). The partitions need not be assigned.
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        self.lookup(partitions, LATEST_TIMESTAMP).await
    }

    /// The offset of the first record at or after `timestamp_ms` in each of
    /// `partitions` (`None` where there is none). The partitions need not be
    /// assigned.
    pub async fn offsets_for_time(
        &self,
        partitions: &[TopicPartition],
        timestamp_ms: i64,
    ) -> Result<HashMap<TopicPartition, Option<i64>>> {
        let found = self.lookup(partitions, timestamp_ms).await?;
        Ok(found
            .into_iter()
            .map(|(tp, offset)| (tp, (offset >= 0).then_some(offset)))
            .collect())
    }

    /// Offsets of `partitions` at `timestamp` (ListOffsets).
    async fn lookup(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> Result<HashMap<TopicPartition, i64>> {
        if partitions.is_empty() {
            return Ok(HashMap::new());
        }
        list_offsets(&self.routes, partitions, timestamp).await
    }

    /// Seeks each of `targets` to its offset in `found`.
    fn apply(
        &mut self,
        targets: &[TopicPartition],
        found: &HashMap<TopicPartition, i64>,
    ) -> Result<()> {
        for tp in targets {
            let offset = found.get(tp).copied().ok_or_else(|| Error::Protocol {
                addr: self.control.addr().to_string(),
                detail: format!("the ListOffsets answer does not mention {tp}"),
            })?;
            self.fetcher.seek(tp, offset.max(0));
        }
        Ok(())
    }

    /// `partitions`, or every assigned partition if empty; fails on one that is
    /// not assigned.
    fn targets(&self, partitions: &[TopicPartition]) -> Result<Vec<TopicPartition>> {
        if partitions.is_empty() {
            return Ok(self.fetcher.assigned().cloned().collect());
        }
        if let Some(tp) = partitions.iter().find(|tp| !self.fetcher.contains(tp)) {
            return Err(Error::InvalidArgument(format!(
                "{tp} is not assigned to this consumer; assign it (or wait for the group to) before seeking"
            )));
        }
        Ok(partitions.to_vec())
    }
}

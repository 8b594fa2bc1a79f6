//! Appends of a replicated batch whose bytes are shared with others (a Raft
//! entry that openraft also holds to send to followers, or a slice of the
//! frame it arrived in), so they cannot be stamped in place: the batch's
//! header is copied, the copy is stamped with the leader epoch and the base
//! offset, and the segment gets the copy and then the rest of the batch,
//! written from where it is. The bytes on disk are the ones a stamped copy of
//! the whole batch would give, without copying the records.
//!
//! The checks are [`Log::append_replicated`]'s: the header and the CRC, over
//! the shared bytes (neither the base offset nor the leader epoch is under the
//! CRC).

use rill_protocol::batch::{stamp_base_offset, stamp_leader_epoch, BATCH_HEADER_LEN};
use rill_protocol::BatchHeader;

use crate::error::{Error, Result};
use crate::log::{checked_header, AppendInfo, Log, Stamped};
use crate::options::FsyncPolicy;

impl Log {
    /// As [`Log::append_replicated`] for a batch whose bytes are shared: they
    /// are written unchanged but for a stamped copy of the header, which
    /// carries `leader_epoch` and the base offset the batch gets.
    pub fn append_replicated_shared(&self, batch: &[u8], leader_epoch: i32) -> Result<AppendInfo> {
        self.check_size(batch.len())?;
        let (header, mut head, rest) = checked_split(batch, leader_epoch)?;
        self.append_valid(header, batch.len(), |base_offset| {
            stamp_base_offset(&mut head, base_offset).map_err(Error::InvalidBatch)?;
            Ok(Stamped([&head, rest]))
        })
    }

    /// As [`Log::append_replicated_shared`], but only when the write cannot
    /// wait, as [`Log::try_append_checked`] says; `None`: nothing was written,
    /// append with [`Log::append_replicated_shared`] from a thread that may
    /// block.
    pub fn try_append_replicated_shared(
        &self,
        batch: &[u8],
        leader_epoch: i32,
    ) -> Option<Result<AppendInfo>> {
        if self.opts.fsync == FsyncPolicy::Always {
            return None;
        }
        let (header, mut head, rest) = match checked_split(batch, leader_epoch) {
            Ok(split) => split,
            Err(e) => return Some(Err(e)),
        };
        self.try_append_valid(header, batch.len(), |base_offset| {
            stamp_base_offset(&mut head, base_offset).map_err(Error::InvalidBatch)?;
            Ok(Stamped([&head, rest]))
        })
    }
}

/// `batch`'s header, once it and the CRC check out; a copy of the header
/// stamped with `leader_epoch`; and the rest of the batch.
fn checked_split(
    batch: &[u8],
    leader_epoch: i32,
) -> Result<(BatchHeader, [u8; BATCH_HEADER_LEN], &[u8])> {
    let header = checked_header(batch)?;
    // A checked batch is at least a header long.
    let (head, rest) = batch
        .split_first_chunk::<BATCH_HEADER_LEN>()
        .ok_or(Error::InvalidBatch(rill_protocol::Error::Truncated {
            what: "record batch header",
            needed: BATCH_HEADER_LEN,
            available: batch.len(),
        }))?;
    let mut head = *head;
    stamp_leader_epoch(&mut head, leader_epoch).map_err(Error::InvalidBatch)?;
    Ok((header, head, rest))
}

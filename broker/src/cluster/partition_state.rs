//! A partition group's state machine: how far the partition is committed.
//!
//! Applying an entry moves the committed offset past the entry's batch (a
//! producer batch's records, or the one record of a control batch): consumers
//! read below it, and `acks=all` produce is answered with the batch's base
//! offset once its entry is applied. Entries are applied in order with no gaps,
//! so the committed offset before an entry is where its batch starts in every
//! replica's log. The records themselves are already in the partition's log
//! (the log is the Raft log), so the state is one number, and a snapshot is
//! that number: it lets a restart skip applying the entries before it again.
//!
//! ```text
//! snapshot state: committed_offset int64
//! ```

use std::io;

use openraft::EntryPayload;
use rill_protocol::BatchHeader;

use super::entry_batch::{invalid, Entry};
use super::state_store::{GroupState, StateStore};
use super::types::{Applied, LogId, Payload};

/// A partition group's state machine.
pub type PartitionStore = StateStore<PartitionState>;

/// The committed part of a partition.
pub struct PartitionState {
    committed_offset: i64,
}

/// What the rest of the broker sees of a partition group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionView {
    /// Every record below this offset is committed: readers see up to here.
    pub committed_offset: i64,
    /// The index of the last entry applied, if any.
    pub applied_index: Option<u64>,
}

impl PartitionState {
    /// The state of a partition whose first entry starts at `start_offset`,
    /// nothing committed yet (a snapshot, if the store has one, replaces it).
    pub fn new(start_offset: i64) -> PartitionState {
        PartitionState {
            committed_offset: start_offset,
        }
    }
}

impl GroupState for PartitionState {
    type View = PartitionView;

    fn apply(&mut self, entry: &Entry) -> io::Result<Applied> {
        let start = self.committed_offset;
        let records = match &entry.payload {
            EntryPayload::Normal(Payload(batch, _)) => {
                let header = BatchHeader::parse(batch).map_err(invalid)?;
                i64::from(header.last_offset_delta) + 1
            }
            _ => 1,
        };
        self.committed_offset = start + records;
        Ok(match entry.payload {
            EntryPayload::Normal(_) => Applied::Appended { base_offset: start },
            _ => Applied::Nothing,
        })
    }

    fn encode(&self) -> Vec<u8> {
        self.committed_offset.to_be_bytes().to_vec()
    }

    fn restore(&mut self, data: &[u8]) -> io::Result<()> {
        let bytes: [u8; 8] = data.try_into().map_err(|_| {
            invalid(format!(
                "a partition snapshot holds 8 bytes (the committed offset), not {}",
                data.len()
            ))
        })?;
        self.committed_offset = i64::from_be_bytes(bytes);
        Ok(())
    }

    fn view(&self, applied: Option<LogId>) -> PartitionView {
        PartitionView {
            committed_offset: self.committed_offset,
            applied_index: applied.map(|id| id.index),
        }
    }
}

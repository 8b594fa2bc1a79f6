//! A Raft group's log kept in a `rill_storage::Log`: one entry per record batch.
//!
//! The group's directory holds the segmented log (`log/`) and `raft-state`, the
//! vote and the id of the last purged entry (`raft_state`).
//!
//! Each entry is a batch of exactly one record, so entry index `i` is the batch at
//! offset `i`; the entry's term is the batch's leader epoch, and the record's value
//! is the entry's payload (`entry_codec`). The log has no gaps: an append must
//! start at the log end, except into an empty log, which restarts at the first
//! entry's index (after a snapshot the log continues past what it held). Every
//! append is fsynced before openraft is told it is flushed, whatever the topic
//! settings say, because Raft counts a flushed entry towards a commit.
//!
//! Purging only moves the purged mark: the metadata log is small and is never
//! read below the mark again; entries are removed from disk when a later append
//! restarts the log past them (after a snapshot was installed). The latest
//! entries also stay in memory, so replication to followers reads the tail
//! without the disk, including entries whose fsync is still under way.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use rill_protocol::batch::RecordBatch;
use rill_storage::{FsyncPolicy, Log, LogOptions};

use super::entry_batch::{invalid, payload_batch, payload_of, term_of, Entry};
use super::raft_log::{EntryStore, RaftLog};
use super::raft_state::RaftState;
use super::types::LogId;
use crate::locks::lock;

/// A Raft log on disk, one record per entry; cheap to clone (clones share it).
pub type EntryLog = RaftLog<RecordEntries>;

/// The entries of an [`EntryLog`]: one single-record batch each.
pub struct RecordEntries {
    log: Log,
    state: RaftState,
    /// The last entries appended (at most [`RECENT_ENTRIES`]), in index order,
    /// so replication reads the tail without touching the disk.
    recent: Mutex<VecDeque<Entry>>,
}

/// How many of the latest entries stay in memory.
const RECENT_ENTRIES: usize = 1024;

impl RaftLog<RecordEntries> {
    /// Opens (creating if needed) the group log in `dir`.
    pub fn open(dir: &Path) -> io::Result<EntryLog> {
        std::fs::create_dir_all(dir)?;
        let opts = LogOptions::default().fsync(FsyncPolicy::Always);
        let log = Log::open(dir.join("log"), opts).map_err(io::Error::other)?;
        let state = RaftState::open(dir)?;
        Ok(RaftLog::new(RecordEntries {
            log,
            state,
            recent: Mutex::new(VecDeque::new()),
        }))
    }

    /// Flushes and closes the log; later calls fail.
    pub fn close(&self) -> io::Result<()> {
        self.store().log.close().map_err(io::Error::other)
    }
}

impl EntryStore for RecordEntries {
    fn state(&self) -> &RaftState {
        &self.state
    }

    /// The entries with indexes in `start..end` that the log holds and has not
    /// purged: from the recent tail when it covers `start`, else from disk.
    /// Metadata entries are small, so the whole range is returned whatever
    /// `_max_bytes` says.
    fn entries(&self, start: u64, end: u64, _max_bytes: usize) -> io::Result<Vec<Entry>> {
        let end = end.min(self.log.log_end_offset() as u64);
        let purged_to = self.state.purged_to();
        let start = start.max(self.log.log_start_offset() as u64).max(purged_to);
        {
            let recent = lock(&self.recent);
            if let Some(first) = recent.front().map(|e| e.log_id.index) {
                if start >= first {
                    return Ok(recent
                        .iter()
                        .filter(|e| (start..end).contains(&e.log_id.index))
                        .cloned()
                        .collect());
                }
            }
        }
        let mut entries = Vec::new();
        let mut next = start;
        while next < end {
            let read = self
                .log
                .read(next as i64, 1 << 20)
                .map_err(io::Error::other)?;
            let mut rest = read.bytes.as_slice();
            if rest.is_empty() {
                return Err(io::Error::other(format!(
                    "entry {next} is below the log end {end} but could not be read"
                )));
            }
            while !rest.is_empty() && next < end {
                let (batch, after) = RecordBatch::split_first(rest).map_err(invalid)?;
                entries.push(Entry {
                    log_id: openraft::LogId::new_term_index(
                        term_of(&batch)?,
                        batch.base_offset() as u64,
                    ),
                    payload: payload_of(&batch)?,
                });
                next = batch.next_offset() as u64;
                rest = after;
            }
        }
        Ok(entries)
    }

    fn append(&self, entries: Vec<Entry>) -> io::Result<()> {
        for entry in entries {
            let index = entry.log_id.index;
            let end = self.log.log_end_offset() as u64;
            if index != end {
                let start = self.log.log_start_offset() as u64;
                let purged_to = self.state.purged_to();
                if start != end && purged_to < end {
                    return Err(io::Error::other(format!(
                        "entry {index} does not follow the log's last entry {}",
                        end.saturating_sub(1)
                    )));
                }
                self.log.reset_to(index as i64).map_err(io::Error::other)?;
                lock(&self.recent).clear();
            }
            let mut batch = payload_batch(&entry, 0)?;
            let appended = self.log.append(&mut batch).map_err(io::Error::other)?;
            if appended.base_offset as u64 != index {
                return Err(io::Error::other(format!(
                    "entry {index} was stored at offset {}",
                    appended.base_offset
                )));
            }
            let mut recent = lock(&self.recent);
            if recent.len() == RECENT_ENTRIES {
                recent.pop_front();
            }
            recent.push_back(entry);
        }
        self.log.flush().map_err(io::Error::other)
    }

    /// Drops every entry at or after `index`, on disk and in the recent tail.
    fn truncate(&self, index: u64) -> io::Result<()> {
        let start = self.log.log_start_offset() as u64;
        self.log
            .truncate_to(index.max(start) as i64)
            .map_err(io::Error::other)?;
        lock(&self.recent).retain(|e| e.log_id.index < index);
        Ok(())
    }

    fn last_log_id(&self) -> io::Result<Option<LogId>> {
        let end = self.log.log_end_offset() as u64;
        if end == self.log.log_start_offset() as u64 {
            return Ok(None);
        }
        Ok(self.entries(end - 1, end, 1)?.pop().map(|e| e.log_id))
    }
}

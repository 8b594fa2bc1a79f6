//! A partition group's Raft log: the partition's own segmented log, so a
//! produced batch is written once per replica.
//!
//! Each Raft entry is one record batch of the partition, in index order with no
//! gaps; the entry's term is the batch's leader epoch. A normal entry's payload
//! is a producer's batch, stored as it came and never copied: the log stamps
//! its base offset and the entry's term in place when nothing else holds the
//! bytes, else in a copy of its header written ahead of the rest
//! (`Log::append_replicated_shared`). The leader validated its
//! records when it was produced, so every replica's log checks only its header
//! and CRC (`Log::append_replicated`), which shows the bytes are the same.
//! Raft's own entries (blank, membership) are control batches ([`CONTROL_BIT`])
//! of one record whose value is the entry's payload in the inter-broker layout
//! (`entry_codec`); consumers skip them. A batch holds many records, so entry
//! `i` is not at offset `i`: `raft-entries` (`entry_index`) maps each entry to
//! its batch's base offset, and `raft-state` (`raft_state`) holds the vote and
//! the purged mark, both in the partition's directory beside its segments.
//!
//! An append is as durable as the topic's fsync policy makes it before openraft
//! is told it is flushed: a commit counts each replica under its own policy. The
//! entry map is not synced: after a crash it may lag or overrun the log, and
//! opening reconciles it (drops slots past the log's end, maps the batches it
//! lacks). The latest entries also stay in memory (at most [`RECENT_BYTES`]), so
//! replication reads the tail without the disk.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use openraft::EntryPayload;
use rill_protocol::batch::CONTROL_BIT;
use rill_protocol::RecordBatch;
use rill_storage::{AppendInfo, Log};

use super::entry_batch::{
    epoch_of, invalid, payload_batch, payload_of, stamp_term, term_of, Entry,
};
use super::entry_index::EntryIndex;
use super::raft_log::{EntryStore, RaftLog, READ_BYTES};
use super::raft_state::RaftState;
use super::types::{AppendNotice, LogId, Payload};
use crate::locks::{lock, try_lock};

/// The file mapping entries to batch offsets, in the partition's directory.
pub const ENTRIES_FILE: &str = "raft-entries";

/// How many bytes of the latest entries stay in memory.
pub const RECENT_BYTES: usize = 4 << 20;

/// A partition's Raft log; cheap to clone (clones share it).
pub type PartitionLog = RaftLog<BatchEntries>;

/// The entries of a [`PartitionLog`]: the partition's batches, mapped to
/// entry indexes.
pub struct BatchEntries {
    log: Arc<Log>,
    state: RaftState,
    index: Mutex<EntryIndex>,
    recent: Mutex<Recent>,
}

/// The latest entries appended, in index order, and their payload bytes.
#[derive(Default)]
struct Recent {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl Recent {
    fn push(&mut self, entry: Entry) {
        self.bytes += payload_len(&entry);
        self.entries.push_back(entry);
        while self.bytes > RECENT_BYTES && self.entries.len() > 1 {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= payload_len(&old);
            }
        }
    }

    fn retain_below(&mut self, index: u64) {
        while self.entries.back().is_some_and(|e| e.log_id.index >= index) {
            if let Some(gone) = self.entries.pop_back() {
                self.bytes -= payload_len(&gone);
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

fn payload_len(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(p) => p.0.len(),
        _ => 64,
    }
}

impl RaftLog<BatchEntries> {
    /// The Raft log over `log`, with its vote and entry map in the log's
    /// directory; reconciles the map with the log first.
    pub fn open(log: Arc<Log>) -> io::Result<PartitionLog> {
        let dir = log.dir().to_path_buf();
        let state = RaftState::open(&dir)?;
        let mut index = EntryIndex::open(&dir.join(ENTRIES_FILE))?;
        reconcile(&log, &mut index)?;
        Ok(RaftLog::new(BatchEntries {
            log,
            state,
            index: Mutex::new(index),
            recent: Mutex::new(Recent::default()),
        }))
    }

    /// The partition's log.
    pub fn log(&self) -> &Arc<Log> {
        &self.store().log
    }

    /// Where entry `index` starts and where the next batch starts: the offsets
    /// its batch covers are `start..end`. `None` if the log does not hold it.
    pub fn offsets_of(&self, index: u64) -> io::Result<Option<(i64, i64)>> {
        let idx = lock(&self.store().index);
        let Some(start) = idx.offset_of(index)? else {
            return Ok(None);
        };
        let end = match idx.offset_of(index + 1)? {
            Some(next) => next,
            None => self.store().log.log_end_offset(),
        };
        Ok(Some((start, end)))
    }
}

/// Makes `index` map exactly the batches of `log`: drops slots at or past the
/// log's end, checks that the last slot left starts a batch (else maps the
/// whole log again), and maps the batches after it.
fn reconcile(log: &Log, index: &mut EntryIndex) -> io::Result<()> {
    let end = log.log_end_offset();
    match index.last_before(end)? {
        Some(last) => index.truncate_from(last + 1)?,
        None => index.truncate_from(index.first())?,
    }
    let mut next = log.log_start_offset();
    if let Some(last) = index.end().checked_sub(1).filter(|i| *i >= index.first()) {
        let offset = index.offset_of(last)?.unwrap_or(-1);
        match batch_at(log, offset)? {
            Some(next_offset) => next = next_offset,
            None => {
                tracing::warn!(dir = %log.dir().display(), "entry map damaged; mapping the log again");
                index.reset_to(index.first())?;
            }
        }
    }
    while next < end {
        let read = log.read(next, READ_BYTES).map_err(io::Error::other)?;
        let mut rest = read.bytes.as_slice();
        if rest.is_empty() {
            return Err(io::Error::other(format!(
                "{}: offset {next} is below the log end {end} but could not be read",
                log.dir().display()
            )));
        }
        while !rest.is_empty() {
            let (batch, after) = RecordBatch::split_first(rest).map_err(invalid)?;
            index.push(index.end(), batch.base_offset())?;
            next = batch.next_offset();
            rest = after;
        }
    }
    Ok(())
}

/// The offset after the batch that starts exactly at `offset`, or `None` if no
/// batch starts there.
fn batch_at(log: &Log, offset: i64) -> io::Result<Option<i64>> {
    if offset < log.log_start_offset() || offset >= log.log_end_offset() {
        return Ok(None);
    }
    let read = log.read(offset, 1).map_err(io::Error::other)?;
    match RecordBatch::split_first(&read.bytes) {
        Ok((batch, _)) if batch.base_offset() == offset => Ok(Some(batch.next_offset())),
        _ => Ok(None),
    }
}

impl BatchEntries {
    /// The entries with indexes in `start..end` (clipped to what the map holds
    /// and has not purged), at most about `max_bytes` of them (at least one),
    /// if the recent tail covers them; else the clipped range, to read from
    /// disk.
    fn recent_entries(
        &self,
        idx: &EntryIndex,
        start: u64,
        end: u64,
        max_bytes: usize,
    ) -> Result<Vec<Entry>, (u64, u64)> {
        let end = end.min(idx.end());
        let start = start.max(idx.first()).max(self.state.purged_to());
        if start >= end {
            return Ok(Vec::new());
        }
        let recent = lock(&self.recent);
        if recent
            .entries
            .front()
            .is_none_or(|e| e.log_id.index > start)
        {
            return Err((start, end));
        }
        let mut bytes = 0;
        Ok(recent
            .entries
            .iter()
            .filter(|e| (start..end).contains(&e.log_id.index))
            .take_while(|e| {
                let first = bytes == 0;
                bytes += payload_len(e);
                first || bytes <= max_bytes
            })
            .cloned()
            .collect())
    }

    /// Checks that entry `index` follows the map's last entry; a map with no
    /// entries (new, or all purged) starts at `index`.
    fn follow_on(&self, idx: &mut EntryIndex, index: u64) -> io::Result<()> {
        if index == idx.end() {
            return Ok(());
        }
        let empty = idx.end() == idx.first() || self.state.purged_to() >= idx.end();
        if !empty {
            return Err(io::Error::other(format!(
                "entry {index} does not follow the log's last entry {}",
                idx.end().saturating_sub(1)
            )));
        }
        idx.reset_to(index)?;
        lock(&self.recent).clear();
        Ok(())
    }
}

impl EntryStore for BatchEntries {
    fn state(&self) -> &RaftState {
        &self.state
    }

    /// The entries with indexes in `start..end` that the log holds and has not
    /// purged, at most about `max_bytes` of them (at least one): from the recent
    /// tail when it covers `start`, else from disk.
    fn entries(&self, start: u64, end: u64, max_bytes: usize) -> io::Result<Vec<Entry>> {
        let (start, end, offset) = {
            let idx = lock(&self.index);
            match self.recent_entries(&idx, start, end, max_bytes) {
                Ok(found) => return Ok(found),
                Err((start, end)) => (start, end, idx.offset_of(start)?),
            }
        };
        let Some(mut offset) = offset else {
            return Err(io::Error::other(format!("entry {start} is not mapped")));
        };
        let mut entries = Vec::new();
        let mut next = start;
        let mut bytes = 0;
        while next < end && (bytes == 0 || bytes < max_bytes) {
            let read = self
                .log
                .read(offset, READ_BYTES.min(max_bytes))
                .map_err(io::Error::other)?;
            let read = Bytes::from(read.bytes);
            let mut rest = &read[..];
            if rest.is_empty() {
                return Err(io::Error::other(format!(
                    "entry {next} at offset {offset} could not be read"
                )));
            }
            while !rest.is_empty() && next < end {
                let (batch, after) = RecordBatch::split_first(rest).map_err(invalid)?;
                if batch.base_offset() != offset {
                    return Err(invalid(format!(
                        "entry {next} should start at offset {offset}, the batch there starts at {}",
                        batch.base_offset()
                    )));
                }
                bytes += batch.as_bytes().len();
                entries.push(decode_batch(&batch, &read, next)?);
                offset = batch.next_offset();
                next += 1;
                rest = after;
            }
        }
        Ok(entries)
    }

    fn append(&self, entries: Vec<Entry>) -> io::Result<()> {
        let mut idx = lock(&self.index);
        for entry in entries {
            let index = entry.log_id.index;
            self.follow_on(&mut idx, index)?;
            let mut stored = Stored::of(entry)?;
            let appended = stored.append(&self.log).map_err(io::Error::other)?;
            idx.push(index, appended.base_offset)?;
            lock(&self.recent).push(stored.appended_at(appended.base_offset));
        }
        Ok(())
    }

    /// The entries the recent tail holds, when it covers `start` and nothing
    /// else holds the entry map.
    fn try_entries(&self, start: u64, end: u64, max_bytes: usize) -> Option<Vec<Entry>> {
        let idx = try_lock(&self.index)?;
        self.recent_entries(&idx, start, end, max_bytes).ok()
    }

    /// Appends while each batch is a copy into the page cache
    /// ([`Log::try_append_replicated`]) and nothing else holds the entry map.
    fn try_append(&self, entries: Vec<Entry>) -> Result<io::Result<()>, Vec<Entry>> {
        let Some(mut idx) = try_lock(&self.index) else {
            return Err(entries);
        };
        let mut entries = entries.into_iter();
        while let Some(entry) = entries.next() {
            let index = entry.log_id.index;
            let stored = self
                .follow_on(&mut idx, index)
                .and_then(|()| Stored::of(entry));
            let mut stored = match stored {
                Ok(stored) => stored,
                Err(e) => return Ok(Err(e)),
            };
            let appended = match stored.try_append(&self.log) {
                Some(Ok(appended)) => appended,
                Some(Err(e)) => return Ok(Err(io::Error::other(e))),
                None => {
                    let rest = std::iter::once(stored.into_entry()).chain(entries);
                    return Err(rest.collect());
                }
            };
            if let Err(e) = idx.push(index, appended.base_offset) {
                return Ok(Err(e));
            }
            lock(&self.recent).push(stored.appended_at(appended.base_offset));
        }
        Ok(Ok(()))
    }

    /// Drops every entry at or after `index`, on disk and in memory.
    fn truncate(&self, index: u64) -> io::Result<()> {
        let mut idx = lock(&self.index);
        let index = index.max(idx.first());
        if let Some(offset) = idx.offset_of(index)? {
            self.log.truncate_to(offset).map_err(io::Error::other)?;
        }
        idx.truncate_from(index)?;
        lock(&self.recent).retain_below(index);
        Ok(())
    }

    fn last_log_id(&self) -> io::Result<Option<LogId>> {
        let end = lock(&self.index).end();
        let Some(last) = end.checked_sub(1) else {
            return Ok(None);
        };
        Ok(self.entries(last, end, 1)?.pop().map(|e| e.log_id))
    }
}

/// A Raft entry as the batch the partition's log stores: a normal entry's own
/// batch, or a control batch for Raft's entries; its term in the leader epoch.
struct Stored {
    entry: Entry,
    batch: StoredBytes,
    /// Whether `batch` was taken out of the entry's payload.
    taken: bool,
    /// Who to tell once the batch is in the log.
    notice: AppendNotice,
}

/// A stored batch's bytes.
enum StoredBytes {
    /// The batch's own bytes, its term stamped: the append stamps its base
    /// offset in place.
    Owned(BytesMut),
    /// Bytes others hold too (openraft, to send to followers; the frame they
    /// arrived in), left as they are: the append writes a stamped copy of the
    /// header, then the rest from where it is.
    Shared {
        /// The batch.
        bytes: Bytes,
        /// The entry's term, as the leader epoch the stored copy carries.
        epoch: i32,
    },
}

impl Stored {
    /// Makes the batch to store for `entry`. A normal entry's bytes are
    /// never copied: taken over when nothing else holds them (a batch the
    /// leader's produce path handed over), else shared.
    fn of(mut entry: Entry) -> io::Result<Stored> {
        let (bytes, notice) = match std::mem::replace(&mut entry.payload, EntryPayload::Blank) {
            EntryPayload::Normal(Payload(bytes, notice)) => (bytes, notice),
            raft_own => {
                entry.payload = raft_own;
                // Built with the entry's term stamped already.
                let batch = BytesMut::from(payload_batch(&entry, CONTROL_BIT)?.as_slice());
                return Ok(Stored {
                    entry,
                    batch: StoredBytes::Owned(batch),
                    taken: false,
                    notice: AppendNotice::default(),
                });
            }
        };
        let (batch, rest) = RecordBatch::split_first(&bytes).map_err(invalid)?;
        if !rest.is_empty() || batch.header().is_control() {
            return Err(invalid(format!(
                "entry {} is not exactly one producer batch",
                entry.log_id.index
            )));
        }
        let batch = match bytes.try_into_mut() {
            Ok(mut owned) => {
                stamp_term(&mut owned, &entry.log_id)?;
                StoredBytes::Owned(owned)
            }
            Err(bytes) => StoredBytes::Shared {
                bytes,
                epoch: epoch_of(&entry.log_id)?,
            },
        };
        Ok(Stored {
            entry,
            batch,
            taken: true,
            notice,
        })
    }

    /// Appends the batch to `log` ([`Log::append_replicated`]).
    fn append(&mut self, log: &Log) -> rill_storage::Result<AppendInfo> {
        match &mut self.batch {
            StoredBytes::Owned(batch) => log.append_replicated(batch),
            StoredBytes::Shared { bytes, epoch } => log.append_replicated_shared(bytes, *epoch),
        }
    }

    /// Appends the batch to `log` if that cannot block
    /// ([`Log::try_append_replicated`]); `None`: nothing was written.
    fn try_append(&mut self, log: &Log) -> Option<rill_storage::Result<AppendInfo>> {
        match &mut self.batch {
            StoredBytes::Owned(batch) => log.try_append_replicated(batch),
            StoredBytes::Shared { bytes, epoch } => log.try_append_replicated_shared(bytes, *epoch),
        }
    }

    /// The entry, holding the batch as stored when it was taken over (and
    /// whoever is still to be told).
    fn into_entry(self) -> Entry {
        let Stored {
            mut entry,
            batch,
            taken,
            notice,
        } = self;
        if taken {
            let bytes = match batch {
                StoredBytes::Owned(batch) => batch.freeze(),
                StoredBytes::Shared { bytes, .. } => bytes,
            };
            entry.payload = EntryPayload::Normal(Payload(bytes, notice));
        }
        entry
    }

    /// The entry once it is in the log at `base_offset`: its proposer, if
    /// waiting here, is told.
    fn appended_at(self, base_offset: i64) -> Entry {
        self.notice.tell(base_offset);
        let mut entry = self.into_entry();
        if let EntryPayload::Normal(Payload(_, notice)) = &mut entry.payload {
            *notice = AppendNotice::default();
        }
        entry
    }
}

/// The entry `index` that `batch`, a part of `read`, holds (written by
/// [`Stored`]); a producer batch's payload shares `read`'s bytes.
fn decode_batch(batch: &RecordBatch<'_>, read: &Bytes, index: u64) -> io::Result<Entry> {
    let payload = if batch.header().is_control() {
        payload_of(batch)?
    } else {
        EntryPayload::Normal(Payload::new(read.slice_ref(batch.as_bytes())))
    };
    Ok(Entry {
        log_id: openraft::LogId::new_term_index(term_of(batch)?, index),
        payload,
    })
}

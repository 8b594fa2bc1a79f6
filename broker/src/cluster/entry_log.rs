//! A Raft group's log kept in a `rill_storage::Log`: one entry per record batch.
//!
//! The group's directory holds the segmented log (`log/`) and `raft-state`, the
//! vote and the id of the last purged entry, replaced atomically and durably
//! whenever either changes (a vote must survive a crash before it is answered).
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
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::VoteOf;
use rill_protocol::batch::{stamp_leader_epoch, BatchBuilder, ProducerInfo, RecordBatch};
use rill_protocol::wire::{Reader, Writer};
use rill_storage::{FsyncPolicy, Log, LogOptions};

use super::entry_codec;
use super::types::{LogId, RaftTypes};
use crate::locks::lock;

/// The file holding the vote and the purged mark.
pub const STATE_FILE: &str = "raft-state";

type Entry = <RaftTypes as openraft::RaftTypeConfig>::Entry;
type Vote = VoteOf<RaftTypes>;

/// A Raft log on disk; cheap to clone (clones share the log).
#[derive(Clone)]
pub struct EntryLog {
    inner: Arc<Inner>,
}

struct Inner {
    log: Log,
    dir: PathBuf,
    state: Mutex<Persisted>,
    /// The last entries appended (at most [`RECENT_ENTRIES`]), in index order,
    /// so replication reads the tail without touching the disk.
    recent: Mutex<VecDeque<Entry>>,
}

/// How many of the latest entries stay in memory.
const RECENT_ENTRIES: usize = 1024;

/// What `raft-state` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Persisted {
    vote: Option<Vote>,
    purged: Option<LogId>,
}

impl EntryLog {
    /// Opens (creating if needed) the group log in `dir`.
    pub fn open(dir: &Path) -> io::Result<EntryLog> {
        std::fs::create_dir_all(dir)?;
        let opts = LogOptions::default().fsync(FsyncPolicy::Always);
        let log = Log::open(dir.join("log"), opts).map_err(io::Error::other)?;
        let state = match std::fs::read(dir.join(STATE_FILE)) {
            Ok(bytes) => Persisted::decode(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", dir.join(STATE_FILE).display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Persisted::default(),
            Err(e) => return Err(e),
        };
        Ok(EntryLog {
            inner: Arc::new(Inner {
                log,
                dir: dir.to_path_buf(),
                state: Mutex::new(state),
                recent: Mutex::new(VecDeque::new()),
            }),
        })
    }

    /// Flushes and closes the log; later calls fail.
    pub fn close(&self) -> io::Result<()> {
        self.inner.log.close().map_err(io::Error::other)
    }

    /// Runs `job` on the blocking pool with the shared state.
    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || job(&inner))
            .await
            .map_err(|e| io::Error::other(format!("log task failed: {e}")))?
    }
}

impl Inner {
    /// Applies `change` to the vote and purged mark, on disk first: the change
    /// is in memory only once it is durable.
    fn update(&self, change: impl FnOnce(&mut Persisted)) -> io::Result<()> {
        let mut state = lock(&self.state);
        let mut next = state.clone();
        change(&mut next);
        rill_storage::write_file_atomically(&self.dir, STATE_FILE, &next.encode())
            .map_err(io::Error::other)?;
        *state = next;
        Ok(())
    }

    /// The entries with indexes in `start..end` that the log holds and has not
    /// purged: from the recent tail when it covers `start`, else from disk.
    fn entries(&self, start: u64, end: u64) -> io::Result<Vec<Entry>> {
        let end = end.min(self.log.log_end_offset() as u64);
        let purged_to = lock(&self.state).purged.map_or(0, |p| p.index + 1);
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
                entries.push(decode_batch(&batch)?);
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
                let purged_to = lock(&self.state).purged.map_or(0, |p| p.index + 1);
                if start != end && purged_to < end {
                    return Err(io::Error::other(format!(
                        "entry {index} does not follow the log's last entry {}",
                        end.saturating_sub(1)
                    )));
                }
                self.log.reset_to(index as i64).map_err(io::Error::other)?;
                lock(&self.recent).clear();
            }
            let mut batch = encode_batch(&entry)?;
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
}

impl RaftLogReader<RaftTypes> for EntryLog {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => i.saturating_add(1),
            Bound::Excluded(&i) => i,
            Bound::Unbounded => u64::MAX,
        };
        self.blocking(move |inner| inner.entries(start, end)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(lock(&self.inner.state).vote)
    }
}

impl RaftLogStorage<RaftTypes> for EntryLog {
    type LogReader = EntryLog;

    async fn get_log_state(&mut self) -> Result<LogState<RaftTypes>, io::Error> {
        let purged = lock(&self.inner.state).purged;
        let last = self
            .blocking(|inner| {
                let end = inner.log.log_end_offset() as u64;
                if end == inner.log.log_start_offset() as u64 {
                    return Ok(None);
                }
                Ok(inner.entries(end - 1, end)?.pop().map(|e| e.log_id))
            })
            .await?;
        let last = match (last, purged) {
            (Some(last), Some(purged)) if purged.index >= last.index => Some(purged),
            (last, purged) => last.or(purged),
        };
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> EntryLog {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let vote = *vote;
        self.blocking(move |inner| inner.update(|state| state.vote = Some(vote)))
            .await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<RaftTypes>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let result = self.blocking(move |inner| inner.append(entries)).await;
        let report = match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        };
        callback.io_completed(report);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let keep_below = last_log_id.map_or(0, |id| id.index + 1);
        self.blocking(move |inner| inner.truncate(keep_below)).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.blocking(move |inner| inner.update(|state| state.purged = Some(log_id)))
            .await
    }
}

/// `entry` as a batch of one record; its term in the leader epoch.
fn encode_batch(entry: &Entry) -> io::Result<Vec<u8>> {
    let term = i32::try_from(entry.log_id.leader_id.term).map_err(|_| {
        io::Error::other(format!(
            "term {} does not fit a batch's leader epoch (at most {})",
            entry.log_id.leader_id.term,
            i32::MAX
        ))
    })?;
    let value = entry_codec::encode_payload(&entry.payload);
    let mut builder = BatchBuilder::new(ProducerInfo::NONE);
    builder.push(now_ms(), None, Some(&value), &[]);
    let mut batch = builder.finish();
    stamp_leader_epoch(&mut batch, term).map_err(invalid)?;
    Ok(batch)
}

/// The entry a batch written by [`encode_batch`] holds.
fn decode_batch(batch: &RecordBatch<'_>) -> io::Result<Entry> {
    let term = u64::try_from(batch.header().leader_epoch).map_err(|_| {
        invalid(format!(
            "batch at offset {} has a negative term",
            batch.base_offset()
        ))
    })?;
    let record = batch
        .records()
        .next()
        .ok_or_else(|| invalid(format!("batch at offset {} is empty", batch.base_offset())))?
        .map_err(invalid)?;
    let value = record.value.ok_or_else(|| {
        invalid(format!(
            "entry at offset {} has no value",
            batch.base_offset()
        ))
    })?;
    Ok(Entry {
        log_id: openraft::LogId::new_term_index(term, batch.base_offset() as u64),
        payload: entry_codec::decode_payload(value).map_err(invalid)?,
    })
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Persisted {
    fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        w.i8(1);
        match &self.vote {
            Some(v) => {
                w.i8(1)
                    .i64(v.leader_id.term as i64)
                    .i64(v.leader_id.voted_for as i64)
                    .i8(i8::from(v.committed));
            }
            None => {
                w.i8(0);
            }
        }
        match &self.purged {
            Some(id) => {
                w.i8(1).i64(id.leader_id.term as i64).i64(id.index as i64);
            }
            None => {
                w.i8(0);
            }
        }
        buf.to_vec()
    }

    fn decode(bytes: &[u8]) -> rill_protocol::Result<Persisted> {
        let mut r = Reader::new(bytes, STATE_FILE);
        let version = r.i8("version")?;
        if version != 1 {
            return Err(rill_protocol::Error::Invalid {
                what: "raft-state version",
                detail: format!("{version} is not 1"),
            });
        }
        let vote = match r.i8("vote present")? {
            0 => None,
            _ => {
                let term = r.i64("vote term")? as u64;
                let node = r.i64("voted for")? as u64;
                let committed = r.i8("vote committed")? != 0;
                Some(if committed {
                    Vote::new_committed(term, node)
                } else {
                    Vote::new(term, node)
                })
            }
        };
        let purged = match r.i8("purged present")? {
            0 => None,
            _ => {
                let term = r.i64("purged term")? as u64;
                let index = r.i64("purged index")? as u64;
                Some(openraft::LogId::new_term_index(term, index))
            }
        };
        r.finish()?;
        Ok(Persisted { vote, purged })
    }
}

//! The openraft log store every group's log shares: [`RaftLog`] over an
//! [`EntryStore`], which says how a group keeps its entries on disk (the
//! metadata group's `entry_log`, a partition's `partition_log`).
//!
//! Every call runs the store on tokio's blocking pool (the stores fsync and read
//! the disk), except an append the store can make without blocking
//! ([`EntryStore::try_append`]) and a read of entries it holds in memory
//! ([`EntryStore::try_entries`]: the state machine applies, and followers are
//! sent, the latest entries), which saves two thread hand-offs each. An append tells openraft it is flushed only once the store has
//! made it as durable as its log's fsync policy asks; the vote and the purged
//! mark live in the store's [`RaftState`].

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::type_config::alias::VoteOf;

use super::entry_batch::{index_range, last_log_id, report_flushed, Entry};
use super::raft_state::RaftState;
use super::types::{LogId, RaftTypes};

type Vote = VoteOf<RaftTypes>;

/// The most bytes one read for replication returns (at least one entry).
pub const READ_BYTES: usize = 4 << 20;

/// How a group keeps its Raft entries: a log with no gaps, in index order.
pub trait EntryStore: Send + Sync + 'static {
    /// The group's vote and purged mark.
    fn state(&self) -> &RaftState;
    /// The entries with indexes in `start..end` that the store holds and has
    /// not purged, at most about `max_bytes` of them (at least one).
    fn entries(&self, start: u64, end: u64, max_bytes: usize) -> io::Result<Vec<Entry>>;
    /// As [`EntryStore::entries`], but only when they are in memory: `None`
    /// sends the read to a blocking thread.
    fn try_entries(&self, _start: u64, _end: u64, _max_bytes: usize) -> Option<Vec<Entry>> {
        None
    }
    /// Appends `entries`, durably as the store's fsync policy asks.
    fn append(&self, entries: Vec<Entry>) -> io::Result<()>;
    /// As [`EntryStore::append`], but only as far as it cannot block (a copy
    /// into the page cache, no fsync due): `Err` gives back the entries it did
    /// not append, in order, for [`EntryStore::append`] on a blocking thread.
    fn try_append(&self, entries: Vec<Entry>) -> Result<io::Result<()>, Vec<Entry>> {
        Err(entries)
    }
    /// Drops every entry at or after `index`.
    fn truncate(&self, index: u64) -> io::Result<()>;
    /// The id of the last entry held, if any.
    fn last_log_id(&self) -> io::Result<Option<LogId>>;
}

/// A group's Raft log over `S`; cheap to clone (clones share the store).
pub struct RaftLog<S> {
    store: Arc<S>,
}

impl<S> Clone for RaftLog<S> {
    fn clone(&self) -> Self {
        RaftLog {
            store: Arc::clone(&self.store),
        }
    }
}

impl<S: EntryStore> RaftLog<S> {
    /// The log over `store`.
    pub fn new(store: S) -> RaftLog<S> {
        RaftLog {
            store: Arc::new(store),
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Runs `job` on the blocking pool with the store.
    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce(&S) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || job(&store))
            .await
            .map_err(|e| io::Error::other(format!("log task failed: {e}")))?
    }
}

impl<S: EntryStore> RaftLogReader<RaftTypes> for RaftLog<S> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = index_range(&range);
        if let Some(found) = self.store.try_entries(start, end, usize::MAX) {
            return Ok(found);
        }
        self.blocking(move |store| store.entries(start, end, usize::MAX))
            .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.store.state().vote())
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        if let Some(found) = self.store.try_entries(start, end, READ_BYTES) {
            return Ok(found);
        }
        self.blocking(move |store| store.entries(start, end, READ_BYTES))
            .await
    }
}

impl<S: EntryStore> RaftLogStorage<RaftTypes> for RaftLog<S> {
    type LogReader = RaftLog<S>;

    async fn get_log_state(&mut self) -> Result<LogState<RaftTypes>, io::Error> {
        let purged = self.store.state().purged();
        let last = self.blocking(|store| store.last_log_id()).await?;
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last_log_id(last, purged),
        })
    }

    async fn get_log_reader(&mut self) -> RaftLog<S> {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let vote = *vote;
        self.blocking(move |store| store.state().save_vote(vote))
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
        let result = match self.store.try_append(entries) {
            Ok(result) => result,
            Err(rest) => self.blocking(move |store| store.append(rest)).await,
        };
        report_flushed(callback, result)
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let keep_below = last_log_id.map_or(0, |id| id.index + 1);
        self.blocking(move |store| store.truncate(keep_below)).await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.blocking(move |store| store.state().save_purged(log_id))
            .await
    }
}

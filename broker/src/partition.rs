//! One topic partition as the broker serves it: a `rill_storage::Log` plus the
//! notification that wakes long-poll fetches when its high watermark moves.
//!
//! The log's calls block (disk I/O, fsync), so they run on tokio's blocking pool,
//! except an append that is only a copy into the page cache (no fsync, no segment
//! roll, writer free: `Log::try_append_checked`), which the connection's task makes
//! itself, saving two thread wake-ups per batch. Appends are serialized by the log
//! itself; under `fsync = "always"`
//! concurrent appends from different connections share one fsync (group commit).
//! Reads take no lock that appends hold for long, so they run concurrently.
//!
//! In a cluster a partition this broker replicates is attached to its Raft group
//! ([`Partition::attach`]): appends then go through the group and are answered
//! once committed, reads stop at the committed offset, and only the group's
//! serving leader answers clients (others refuse with NOT_LEADER_OR_FOLLOWER or,
//! while a new leader settles, LEADER_NOT_AVAILABLE). A partition with no group
//! is its own leader, as on a broker without cluster settings.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use bytes::Bytes;

use rill_protocol::{CheckedBatch, ErrorCode, ProducerInfo};
use rill_storage::{AppendInfo, Error as StorageError, Log, ReadBatches, ReadMode, ReadSlice};
use tokio::sync::{watch, Notify};

use crate::api_error::ApiError;
use crate::cluster::partition_group::{Durability, Leadership, PartitionGroup, PendingBatch};
use crate::cluster::raft_node::ProposeFailure;
use crate::idempotence::{Landing, ProducerStates, Verdict};
use crate::producer_ids::History;

/// A partition of a topic.
pub struct Partition {
    topic: String,
    index: i32,
    log: Arc<Log>,
    appended: Notify,
    deleted: AtomicBool,
    /// Idempotent producers seen here; held across their check and append.
    producers: tokio::sync::Mutex<Producers>,
    /// The partition's Raft group, when it is replicated.
    replica: OnceLock<Arc<PartitionGroup>>,
}

/// The idempotent producers' state, and for a replicated partition the Raft
/// term whose leadership it was rebuilt for.
#[derive(Default)]
struct Producers {
    states: ProducerStates,
    term: Option<u64>,
}

/// An idempotent batch's producer stamp, with what the broker knows of its past.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// The producer id, epoch and base sequence.
    pub producer: ProducerInfo,
    /// The batch's record count.
    pub records: i32,
    /// How much of the id's past this broker saw.
    pub history: History,
}

/// An append handed to a partition, not yet answered: [`Appending::base_offset`]
/// waits for where the batch landed.
pub enum Appending {
    /// Written at a known offset, or (a producer's retry) where its original
    /// landed or will land.
    Landed(Landing),
    /// Handed to the partition's Raft group, which answers once it commits.
    Replicating(PendingBatch),
    /// An idempotent producer's batch handed to the group; the task records the
    /// outcome in the producers' state and answers with it.
    Recording(tokio::task::JoinHandle<Result<i64, PartitionError>>),
}

impl Appending {
    /// The batch's base offset, once it is as durable as the partition
    /// promises (on a replicated partition: committed).
    pub async fn base_offset(self) -> Result<i64, PartitionError> {
        match self {
            Appending::Landed(landing) => landing.base_offset().await.map_err(|reason| {
                PartitionError::Replication(ProposeFailure::Unavailable { reason })
            }),
            Appending::Replicating(pending) => pending
                .base_offset()
                .await
                .map_err(PartitionError::Replication),
            Appending::Recording(task) => match task.await {
                Ok(outcome) => outcome,
                Err(e) => Err(PartitionError::Task(e.to_string())),
            },
        }
    }
}

/// Why a partition operation failed.
#[derive(Debug)]
pub enum PartitionError {
    /// The log refused or failed.
    Storage(rill_storage::Error),
    /// The blocking task running the call did not finish (runtime shutting down).
    Task(String),
    /// An idempotent batch was refused (sequence gap, stale epoch).
    Refused(ApiError),
    /// The partition's Raft group did not commit the batch.
    Replication(ProposeFailure),
    /// The topic was deleted while the request was using this partition.
    Deleted {
        /// The topic's name.
        topic: String,
    },
}

impl std::fmt::Display for PartitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartitionError::Storage(e) => e.fmt(f),
            PartitionError::Task(e) => write!(f, "broker task failed: {e}"),
            PartitionError::Deleted { topic } => write!(f, "topic {topic:?} was deleted"),
            PartitionError::Refused(e) => f.write_str(&e.message),
            PartitionError::Replication(ProposeFailure::NotLeader { leader }) => match leader {
                Some((id, _)) => write!(
                    f,
                    "this broker does not lead the partition: broker {id} does"
                ),
                None => {
                    f.write_str("this broker does not lead the partition, and no leader is known")
                }
            },
            PartitionError::Replication(ProposeFailure::Unavailable { reason }) => {
                write!(
                    f,
                    "the partition's replicas did not commit the batch: {reason}"
                )
            }
        }
    }
}

/// What a client is told when a partition operation fails. This conversion lives
/// here, not in `api_error`, because [`PartitionError::Refused`] carries an
/// [`ApiError`]: `api_error` stays below this module.
impl From<PartitionError> for ApiError {
    fn from(e: PartitionError) -> ApiError {
        if let PartitionError::Refused(refusal) = e {
            return refusal;
        }
        let code = match &e {
            PartitionError::Storage(s) => match s {
                StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
                StorageError::InvalidBatch(_) => ErrorCode::CorruptMessage,
                StorageError::BatchTooLarge { .. } => ErrorCode::MessageTooLarge,
                StorageError::Closed { .. } => ErrorCode::UnknownTopicOrPartition,
                _ => ErrorCode::StorageError,
            },
            PartitionError::Task(_) => ErrorCode::Unknown,
            PartitionError::Deleted { .. } => ErrorCode::UnknownTopicOrPartition,
            PartitionError::Refused(e) => e.code,
            PartitionError::Replication(ProposeFailure::NotLeader { .. }) => {
                ErrorCode::NotLeaderOrFollower
            }
            // Not known to be committed: the client may retry (idempotently).
            PartitionError::Replication(ProposeFailure::Unavailable { .. }) => {
                ErrorCode::RequestTimedOut
            }
        };
        if code == ErrorCode::StorageError {
            tracing::error!(error = %e, "storage failure");
        }
        ApiError::new(code, e.to_string())
    }
}

impl Partition {
    /// Wraps an opened log.
    pub fn new(topic: &str, index: i32, log: Log) -> Partition {
        Partition {
            topic: topic.to_string(),
            index,
            log: Arc::new(log),
            appended: Notify::new(),
            deleted: AtomicBool::new(false),
            producers: tokio::sync::Mutex::new(Producers::default()),
            replica: OnceLock::new(),
        }
    }

    /// Hands the partition to its Raft group: from now on appends go through
    /// the group and reads stop at its committed offset. Fetches waiting here
    /// wake whenever the committed offset moves. A partition is attached once;
    /// later calls do nothing and return `false`.
    pub fn attach(self: &Arc<Self>, group: Arc<PartitionGroup>) -> bool {
        let mut committed = group.committed();
        if self.replica.set(group).is_err() {
            return false;
        }
        let partition: Weak<Partition> = Arc::downgrade(self);
        tokio::spawn(async move {
            while committed.changed().await.is_ok() {
                let Some(partition) = partition.upgrade() else {
                    return;
                };
                partition.appended.notify_waiters();
            }
        });
        true
    }

    /// The partition's Raft group, when it is replicated.
    pub fn replica(&self) -> Option<&Arc<PartitionGroup>> {
        self.replica.get()
    }

    /// Fails unless this broker serves the partition to clients now: always
    /// without a group; with one, only as its settled leader.
    pub fn check_leader(&self) -> Result<(), ApiError> {
        let Some(group) = self.replica.get() else {
            return Ok(());
        };
        let name = format!("{}/{}", self.topic, self.index);
        match group.leadership() {
            Leadership::Serving => Ok(()),
            Leadership::Settling => Err(ApiError::new(
                ErrorCode::LeaderNotAvailable,
                format!("partition {name}: this broker was just elected its leader and is catching up; retry shortly"),
            )),
            Leadership::Elsewhere(Some(leader)) => Err(ApiError::new(
                ErrorCode::NotLeaderOrFollower,
                format!("partition {name} is led by broker {leader}, not this one: refresh metadata"),
            )),
            Leadership::Elsewhere(None) => Err(ApiError::new(
                ErrorCode::NotLeaderOrFollower,
                format!("partition {name} is not led by this broker and its leader is not known yet: refresh metadata"),
            )),
        }
    }

    /// Readers see every record below this offset: the log's high watermark, or
    /// for a replicated partition its committed offset (never above the log's).
    pub fn high_watermark(&self) -> i64 {
        let written = self.log.high_watermark();
        match self.replica.get() {
            Some(group) => group.committed_offset().min(written),
            None => written,
        }
    }

    /// Marks the partition's topic deleted: later reads and appends through this
    /// handle fail with [`PartitionError::Deleted`], and waiting fetches wake up to
    /// see it.
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        self.appended.notify_waiters();
    }

    fn check_live(&self) -> Result<(), PartitionError> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(PartitionError::Deleted {
                topic: self.topic.clone(),
            });
        }
        Ok(())
    }

    /// The topic's name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition index.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The underlying log.
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }

    /// Appends one validated batch (stamping its offsets) and returns where it
    /// landed, once it is as durable as the log's fsync policy asks (on a
    /// replicated partition: committed). Wakes every fetch waiting on this
    /// partition.
    pub async fn append(&self, batch: CheckedBatch) -> Result<AppendInfo, PartitionError> {
        let last = i64::from(batch.header().last_offset_delta);
        let base_offset = self
            .start_append(batch, Durability::Committed)
            .await?
            .base_offset()
            .await?;
        Ok(AppendInfo {
            base_offset,
            last_offset: base_offset + last,
        })
    }

    /// Starts appending one validated batch: a partition without a group
    /// writes it before returning; a replicated one hands it to its group and
    /// returns while the group makes it as durable as `durability` asks.
    /// Batches started one after another land in the log in that order.
    pub async fn start_append(
        &self,
        mut batch: CheckedBatch,
        durability: Durability,
    ) -> Result<Appending, PartitionError> {
        self.check_live()?;
        if let Some(group) = self.replica.get() {
            let pending = group
                .submit(Bytes::from(batch.into_bytes()), durability)
                .await
                .map_err(PartitionError::Replication)?;
            return Ok(Appending::Replicating(pending));
        }
        let result = match self.log.try_append_checked(&mut batch) {
            Some(result) => result.map_err(PartitionError::Storage),
            None => {
                let log = Arc::clone(&self.log);
                blocking(move || log.append_checked(&mut batch)).await
            }
        };
        self.appended.notify_waiters();
        Ok(Appending::Landed(Landing::At(result?.base_offset)))
    }

    /// Starts appending a batch of an idempotent producer, unless it repeats
    /// one of the producer's last batches (then answers with that batch's base
    /// offset, once known, and writes nothing) or breaks its sequence
    /// (refused). Check and hand-over run under the partition's producer lock,
    /// so a retry racing its original cannot slip in twice, and batches land in
    /// the order they were checked. On a replicated partition the batch is
    /// recorded as pending when handed over; if the group does not commit it,
    /// the producers' state is rebuilt from the log before the next check.
    pub async fn start_append_idempotent(
        self: &Arc<Self>,
        batch: CheckedBatch,
        stamp: Stamp,
        durability: Durability,
    ) -> Result<Appending, PartitionError> {
        let Stamp {
            producer,
            records,
            history,
        } = stamp;
        let mut producers = self.producers.lock().await;
        self.rebuild_producers_for_term(&mut producers).await?;
        let verdict = producers
            .states
            .check(&producer, records, history)
            .map_err(PartitionError::Refused)?;
        if let Verdict::Duplicate(landing) = verdict {
            return Ok(Appending::Landed(landing));
        }
        let pending = match self.start_append(batch, durability).await? {
            Appending::Replicating(pending) => pending,
            landed => {
                if let Appending::Landed(Landing::At(base_offset)) = landed {
                    producers.states.record(&producer, records, base_offset);
                }
                return Ok(landed);
            }
        };
        let (tell, landing) = watch::channel(None);
        producers.states.record_pending(&producer, records, landing);
        let handed_in = producers.term;
        drop(producers);
        // On its own task, so the outcome is recorded even when the client
        // that sent the batch goes away.
        let partition = Arc::clone(self);
        Ok(Appending::Recording(tokio::spawn(async move {
            let outcome = pending.base_offset().await;
            if outcome.is_err() {
                // Rebuilt from the log before the next check, unless a rebuild
                // for a later term (which read the log after this batch's
                // fate was settled) already replaced the state.
                let mut producers = partition.producers.lock().await;
                if producers.term == handed_in {
                    producers.term = None;
                }
            }
            let _ = tell.send(Some(
                outcome
                    .clone()
                    .map_err(|e| PartitionError::Replication(e).to_string()),
            ));
            outcome.map_err(PartitionError::Replication)
        })))
    }

    /// On a replicated partition, rebuilds the producers' state from the log when
    /// this member leads in a term it was not rebuilt for: batches that arrived
    /// by replication while it followed went past it.
    async fn rebuild_producers_for_term(
        &self,
        producers: &mut Producers,
    ) -> Result<(), PartitionError> {
        let Some(group) = self.replica.get() else {
            return Ok(());
        };
        let term = group.term();
        if producers.term == Some(term) {
            return Ok(());
        }
        let log = Arc::clone(&self.log);
        let end = log.log_end_offset();
        producers.states = blocking(move || ProducerStates::from_log(&log, end)).await?;
        producers.term = Some(term);
        Ok(())
    }

    /// Reads whole batches from `offset`, up to about `max_bytes` (at least one).
    pub async fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadBatches, PartitionError> {
        self.check_live()?;
        let log = Arc::clone(&self.log);
        blocking(move || log.read(offset, max_bytes)).await
    }

    /// Finds the whole batches to read from `offset`, up to about `max_bytes` (at
    /// least one), as a range of their segment file. Reads batch headers only; in
    /// [`ReadMode::Wait`] it may wait for the disk (call it on the blocking pool),
    /// in [`ReadMode::Cached`] it fails with `NotCached` instead.
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        mode: ReadMode,
    ) -> Result<ReadSlice, PartitionError> {
        self.check_live()?;
        self.log
            .read_slice_below(offset, max_bytes, mode, self.high_watermark())
            .map_err(PartitionError::Storage)
    }

    /// Offset and timestamp of the first record at or after `timestamp`.
    pub async fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<(i64, i64)>, PartitionError> {
        self.check_live()?;
        let log = Arc::clone(&self.log);
        let high_watermark = self.high_watermark();
        blocking(move || {
            let Some(offset) = log.offset_for_timestamp(timestamp)? else {
                return Ok(None);
            };
            if offset >= high_watermark {
                return Ok(None);
            }
            let found = log.read(offset, 1)?;
            Ok(Some((offset, record_timestamp(&found.bytes, offset))))
        })
        .await
    }

    /// A future that completes at the next append; create it (and `enable` it)
    /// before checking for data so an append in between is not missed.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }
}

/// Timestamp of the record at `offset` in `batches` (the read that starts with the
/// batch holding it), or -1 if it is not there.
fn record_timestamp(batches: &[u8], offset: i64) -> i64 {
    let Ok((batch, _)) = rill_protocol::RecordBatch::split_first(batches) else {
        return -1;
    };
    let Ok(section) = batch.records_section(rill_protocol::batch::MAX_DECOMPRESSED_BYTES) else {
        return -1;
    };
    batch
        .records_in(&section)
        .filter_map(Result::ok)
        .find(|r| r.offset >= offset)
        .map_or(-1, |r| r.timestamp)
}

/// Runs a blocking log call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> rill_storage::Result<T> + Send + 'static,
) -> Result<T, PartitionError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(PartitionError::Storage),
        Err(e) => Err(PartitionError::Task(e.to_string())),
    }
}

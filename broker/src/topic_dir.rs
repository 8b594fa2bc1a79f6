//! A topic on disk, and the topic as the broker holds it in memory.
//!
//! A topic is the directory `<data_dir>/<topic>/` holding one directory per
//! partition kept on this broker (`0/`, `1/`, …, each a `rill_storage::Log`) and
//! `topic.toml`, which records the partition count, the topic's settings and, in
//! a cluster, each partition's replicas. `topic.toml` is written last (to a
//! temporary file, fsynced, renamed, directory fsynced), so it is the commit point
//! of a create: a topic directory without it is a create that never finished and
//! was never acknowledged, and the next create of that name replaces it. A delete
//! renames the directory to `~deleted-<nanos>-<n>` (`~` cannot occur in a topic
//! name) before removing it, and start-up removes any such leftovers, so a crash
//! mid-delete never resurrects the topic.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rill_protocol::ErrorCode;
use rill_storage::Log;
use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;
use crate::config::{TopicSettings, PARTITIONS_CEILING};
use crate::error::{io, Error, Result};
use crate::files::{save_file, sync_dir};
use crate::parallel;
use crate::partition::Partition;
use crate::recovery::Slot;

/// Name of the lock file that keeps two brokers off one data directory.
pub const LOCK_FILE: &str = "rill.lock";

/// Name of a topic's metadata file.
pub const TOPIC_FILE: &str = "topic.toml";
/// Starts the name of a topic directory that is being deleted (older brokers put
/// it after the topic name; `Topics::open` removes both forms).
pub(crate) const DELETED_MARK: &str = "~deleted-";

/// Tells apart directories discarded in the same nanosecond.
static NEXT_DISCARD: AtomicU64 = AtomicU64::new(0);

/// One topic: its settings and partitions.
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// Its settings (broker defaults with the topic's overrides applied).
    pub settings: TopicSettings,
    /// Its partitions, by index: open, still being recovered, or (in a cluster)
    /// replicated on other brokers only.
    pub partitions: Vec<Arc<Slot>>,
    /// In a cluster, each partition's replicas (node ids, the preferred leader
    /// first); empty for a topic that is not replicated.
    pub replicas: Vec<Vec<u64>>,
}

impl Topic {
    /// Partition `index` as clients may use it here: `UNKNOWN_TOPIC_OR_PARTITION`
    /// if there is none, the reason it is not served yet ([`Slot::serving`]), or
    /// why this broker does not lead it ([`Partition::check_leader`]).
    pub fn partition(&self, index: i32) -> Result<Arc<Partition>, ApiError> {
        let partition = self.slot(index)?.serving(&self.name)?;
        if !self.replicas.is_empty() && partition.replica().is_none() {
            return Err(ApiError::new(
                ErrorCode::LeaderNotAvailable,
                format!(
                    "partition {}/{index} is joining its replicas' Raft group on this broker; retry shortly",
                    self.name
                ),
            ));
        }
        partition.check_leader()?;
        Ok(partition)
    }

    /// The slot of partition `index`, served or not, or
    /// `UNKNOWN_TOPIC_OR_PARTITION`.
    pub fn slot(&self, index: i32) -> Result<&Arc<Slot>, ApiError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownTopicOrPartition,
                    format!(
                        "topic {:?} has partitions 0..={}, not {index}",
                        self.name,
                        self.partitions.len().saturating_sub(1)
                    ),
                )
            })
    }

    /// The partitions whose logs are open.
    pub fn served_partitions(&self) -> impl Iterator<Item = &Arc<Partition>> {
        self.partitions.iter().filter_map(|slot| slot.partition())
    }
}

/// What `topic.toml` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TopicFile {
    pub(crate) partitions: i32,
    pub(crate) settings: TopicSettings,
    /// Each partition's replicas in a cluster; absent for a topic that is not
    /// replicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) replicas: Vec<Vec<u64>>,
}

impl TopicFile {
    /// Whether partition `index` keeps its log on broker `node`: every partition
    /// of a topic that is not replicated does, and so does every partition on a
    /// broker without a node id (no cluster settings).
    pub(crate) fn is_local(&self, index: i32, node: Option<u64>) -> bool {
        let replicas = usize::try_from(index)
            .ok()
            .and_then(|i| self.replicas.get(i));
        match (replicas, node) {
            (Some(replicas), Some(node)) => replicas.contains(&node),
            _ => true,
        }
    }
}

/// Takes the exclusive lock on the data directory, or fails if another broker
/// (another process, or another `serve` in this one) holds it.
pub(crate) fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
    let path = data_dir.join(LOCK_FILE);
    let file = io(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path),
        "open",
        &path,
    )?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Config {
            source_name: "data_dir".to_string(),
            reason: format!(
                "{} is in use by another running broker (it holds {LOCK_FILE}); give each broker its own data_dir",
                data_dir.display()
            ),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io {
            op: "lock",
            path,
            source,
        }),
    }
}

/// Reads and checks an existing topic directory's `topic.toml`.
pub(crate) fn load_topic_file(dir: &Path) -> Result<TopicFile> {
    let path = dir.join(TOPIC_FILE);
    let text = io(std::fs::read_to_string(&path), "read", &path)?;
    let file: TopicFile = toml::from_str(&text).map_err(|e| Error::TopicMetadata {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if !(1..=PARTITIONS_CEILING).contains(&file.partitions) {
        return Err(Error::TopicMetadata {
            path,
            reason: format!(
                "partitions = {}: allowed 1 ..= {PARTITIONS_CEILING}",
                file.partitions
            ),
        });
    }
    if let Err(reason) = file.settings.validate() {
        return Err(Error::TopicMetadata { path, reason });
    }
    Ok(file)
}

/// Opens (creating or recovering) the logs of a topic's partitions that are kept
/// on broker `node`, several at once ([`parallel::map`]): recovery after a crash
/// reads and checks every byte written since the last checkpoint, and the
/// partitions share the cores and the disk.
pub(crate) fn open_partitions(
    dir: &Path,
    name: &str,
    file: TopicFile,
    node: Option<u64>,
) -> Result<Topic> {
    let options = file.settings.log_options();
    let indexes: Vec<i32> = (0..file.partitions).collect();
    let partitions = parallel::map(&indexes, parallel::MAX_THREADS, |&index| {
        if !file.is_local(index, node) {
            return Ok(Arc::new(Slot::elsewhere(index)));
        }
        let log = Log::open(dir.join(index.to_string()), options.clone()).map_err(|source| {
            Error::Storage {
                topic: name.to_string(),
                partition: index,
                source,
            }
        })?;
        Ok(Arc::new(Slot::open(Arc::new(Partition::new(
            name, index, log,
        )))))
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    Ok(Topic {
        name: name.to_string(),
        settings: file.settings,
        partitions,
        replicas: file.replicas,
    })
}

/// Creates the partition logs, then commits the topic by writing `topic.toml`.
pub(crate) fn create_topic(
    data_dir: &Path,
    dir: &Path,
    name: &str,
    file: TopicFile,
    node: Option<u64>,
) -> Result<Topic> {
    let found = std::fs::symlink_metadata(dir).ok();
    if found.as_ref().is_some_and(|m| !m.is_dir()) {
        // Not something the broker made: leave it for its owner.
        return Err(Error::InTheWay {
            path: dir.to_path_buf(),
        });
    }
    if found.is_some() {
        tracing::warn!(dir = %dir.display(), "replacing the remains of an unfinished create");
        discard_dir(data_dir, dir)?;
    }
    io(std::fs::create_dir_all(dir), "create topic dir", dir)?;
    // On failure the logs opened so far are dropped (closed) inside the chain,
    // before the directory is removed.
    open_partitions(dir, name, file, node)
        .and_then(|topic| write_topic_file(data_dir, dir, &topic).map(|()| topic))
        .inspect_err(|_| {
            // A failed create leaves nothing behind, as if it had never started.
            if let Err(e) = discard_dir(data_dir, dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a failed create");
            }
        })
}

/// Commits `topic` by writing its `topic.toml` in `dir` durably.
pub(crate) fn write_topic_file(data_dir: &Path, dir: &Path, topic: &Topic) -> Result<()> {
    let text = toml::to_string(&TopicFile {
        partitions: i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
        settings: topic.settings.clone(),
        replicas: topic.replicas.clone(),
    })
    .map_err(|e| Error::TopicMetadata {
        path: dir.join(TOPIC_FILE),
        reason: e.to_string(),
    })?;
    save_file(dir, TOPIC_FILE, text.as_bytes())?;
    sync_dir(data_dir)
}

/// Closes a topic's logs and removes its directory.
pub(crate) fn remove_topic(data_dir: &Path, dir: &Path, topic: &Topic) -> Result<()> {
    for partition in topic.served_partitions() {
        partition.mark_deleted();
        // Waits for a running retention or compaction pass; after it, the old log
        // handle never touches the directory again (a new topic may reuse it).
        // The data is going away: a close failure (a failed fsync) changes nothing.
        if let Err(e) = partition.log().close() {
            tracing::warn!(topic = %topic.name, partition = partition.index(), error = %e, "close before delete failed");
        }
    }
    discard_dir(data_dir, dir)
}

/// Renames `dir` to a deleted name in `data_dir` (durably), then removes it.
///
/// The deleted name holds no part of the topic's (`~deleted-<nanos>-<n>`), so it
/// fits the file system's 255-byte limit on one name however long the topic's name
/// is; `Topics::open` removes any such directory a crash left behind.
pub(crate) fn discard_dir(data_dir: &Path, dir: &Path) -> Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT_DISCARD.fetch_add(1, Ordering::Relaxed);
    let doomed = data_dir.join(format!("{DELETED_MARK}{nanos}-{n}"));
    io(std::fs::rename(dir, &doomed), "rename for delete", dir)?;
    sync_dir(data_dir)?;
    io(std::fs::remove_dir_all(&doomed), "remove", &doomed)
}

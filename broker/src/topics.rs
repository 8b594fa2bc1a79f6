//! The topics this broker serves, persisted so they survive restarts.
//!
//! On disk a topic is the directory `<data_dir>/<topic>/` holding one directory per
//! partition (`0/`, `1/`, …, each a `rill_storage::Log`) and `topic.toml`, which
//! records the partition count and the topic's settings. `topic.toml` is written
//! last (to a temporary file, fsynced, renamed, directory fsynced), so it is the
//! commit point of a create: a topic directory without it is a create that never
//! finished and was never acknowledged, and the next create of that name replaces
//! it. A delete renames the directory to `<topic>~deleted-<nanos>` (`~` cannot occur
//! in a topic name) before removing it, and start-up removes any such leftovers, so
//! a crash mid-delete never resurrects the topic.
//!
//! Creates and deletes are serialized by one async mutex; lookups take a
//! short-lived read lock on the map and never wait for disk I/O.
//!
//! At start-up the topics' metadata is read at once, but only internal topics
//! (`__` names, which the broker itself reads before serving) have their logs
//! opened before [`Topics::open`] returns; every other partition is opened in the
//! background by [`Recovery`] and served as soon as its log is open (see
//! `recovery`). A topic whose partitions are still being recovered cannot be
//! deleted until they are.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use rill_protocol::ErrorCode;
use rill_storage::Log;
use serde::{Deserialize, Serialize};

use crate::api_error::ApiError;
use crate::config::{BrokerConfig, Limits, TopicSettings, PARTITIONS_CEILING};
use crate::error::{io, Error, Result};
use crate::files::{save_file, sync_dir};
use crate::locks;
use crate::parallel;
use crate::partition::Partition;
use crate::recovery::{Pending, Recovery, Slot};

/// Name of the lock file that keeps two brokers off one data directory.
pub const LOCK_FILE: &str = "rill.lock";
/// The directory under the data directory that holds the cluster's metadata
/// group (`[cluster]`); never a topic, and no topic may take its name.
pub const CLUSTER_DIR: &str = "__cluster";

/// Name of a topic's metadata file.
pub const TOPIC_FILE: &str = "topic.toml";
/// Starts the name of a topic directory that is being deleted (older brokers put
/// it after the topic name; [`Topics::open`] removes both forms).
const DELETED_MARK: &str = "~deleted-";

/// Tells apart directories discarded in the same nanosecond.
static NEXT_DISCARD: AtomicU64 = AtomicU64::new(0);

/// One topic: its settings and partitions.
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// Its settings (broker defaults with the topic's overrides applied).
    pub settings: TopicSettings,
    /// Its partitions, by index: open, or still being recovered.
    pub partitions: Vec<Arc<Slot>>,
}

impl Topic {
    /// Partition `index`; `UNKNOWN_TOPIC_OR_PARTITION` if there is none, or the
    /// reason it is not served yet ([`Slot::serving`]).
    pub fn partition(&self, index: i32) -> Result<Arc<Partition>, ApiError> {
        self.slot(index)?.serving(&self.name)
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
struct TopicFile {
    partitions: i32,
    settings: TopicSettings,
}

/// Every topic on this broker.
pub struct Topics {
    data_dir: PathBuf,
    defaults: TopicSettings,
    limits: Limits,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    changes: tokio::sync::Mutex<()>,
    /// Opens the partitions not opened by [`Topics::open`] itself.
    recovery: Recovery,
    /// Holds an exclusive lock on `<data_dir>/rill.lock` while the topics are open.
    _lock: std::fs::File,
}

impl Topics {
    /// Opens every topic under `config.data_dir` (creating the directory if
    /// needed): internal topics' logs before returning, every other partition's
    /// log in the background, [`BrokerConfig::recovery_threads()`] at a time.
    /// Blocking.
    pub fn open(config: &BrokerConfig) -> Result<Topics> {
        let data_dir = config.data_dir.as_path();
        io(
            std::fs::create_dir_all(data_dir),
            "create data dir",
            data_dir,
        )?;
        let lock = lock_data_dir(data_dir)?;
        let mut topics = HashMap::new();
        let mut pending = Vec::new();
        let mut entries = Vec::new();
        for entry in io(std::fs::read_dir(data_dir), "list data dir", data_dir)? {
            entries.push(io(entry, "list data dir", data_dir)?);
        }
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if !path.is_dir() || name == CLUSTER_DIR {
                continue;
            }
            if name.contains(DELETED_MARK) {
                tracing::info!(dir = %path.display(), "removing a topic deleted before the restart");
                io(
                    std::fs::remove_dir_all(&path),
                    "remove deleted topic",
                    &path,
                )?;
                continue;
            }
            if !path.join(TOPIC_FILE).exists() {
                tracing::warn!(dir = %path.display(), "ignoring a directory without {TOPIC_FILE} (an unfinished create, or not a topic)");
                continue;
            }
            let file = load_topic_file(&path)?;
            let topic = if name.starts_with("__") {
                open_partitions(&path, &name, file.partitions, file.settings)?
            } else {
                let options = file.settings.log_options();
                let partitions = (0..file.partitions)
                    .map(|index| {
                        let slot = Arc::new(Slot::recovering(index));
                        pending.push(Pending {
                            topic: name.clone(),
                            dir: path.join(index.to_string()),
                            options: options.clone(),
                            slot: Arc::clone(&slot),
                        });
                        slot
                    })
                    .collect();
                Topic {
                    name: name.clone(),
                    settings: file.settings,
                    partitions,
                }
            };
            tracing::info!(topic = %name, partitions = topic.partitions.len(), "found topic");
            topics.insert(name, Arc::new(topic));
        }
        tracing::info!(
            partitions = pending.len(),
            threads = config.recovery_threads(),
            "opening partition logs in the background"
        );
        Ok(Topics {
            data_dir: data_dir.to_path_buf(),
            defaults: config.log.clone(),
            limits: config.limits.clone(),
            topics: RwLock::new(topics),
            changes: tokio::sync::Mutex::new(()),
            recovery: Recovery::start(
                pending,
                config.recovery_threads(),
                config.recovery_hook.clone(),
            ),
            _lock: lock,
        })
    }

    /// Waits until the background recovery has opened (or failed to open) every
    /// partition. Blocking.
    #[cfg(test)]
    pub fn wait_for_recovery(&self) {
        self.recovery.join();
    }

    /// How many partitions are still to be opened in the background.
    pub fn recovering(&self) -> usize {
        self.recovery.left()
    }

    /// The topic called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.read().get(name).cloned()
    }

    /// Every topic, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<Arc<Topic>> = self.read().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// The topic called `name`, or `UNKNOWN_TOPIC_OR_PARTITION`.
    pub fn topic(&self, name: &str) -> Result<Arc<Topic>, ApiError> {
        self.get(name).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                format!("topic {name:?} does not exist"),
            )
        })
    }

    /// Partition `index` of topic `name`, or `UNKNOWN_TOPIC_OR_PARTITION`.
    pub fn partition(&self, name: &str, index: i32) -> Result<Arc<Partition>, ApiError> {
        self.topic(name)?.partition(index)
    }

    /// `UNKNOWN_TOPIC_OR_PARTITION` unless topic `name` has partition `index`
    /// (served or still being recovered).
    pub fn check_exists(&self, name: &str, index: i32) -> Result<(), ApiError> {
        self.topic(name)?.slot(index).map(|_| ())
    }

    /// Checks a topic name against the naming rules.
    pub fn check_name(&self, name: &str) -> Result<(), ApiError> {
        let max = self.limits.max_topic_name_len;
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if name == CLUSTER_DIR {
            return Err(ApiError::new(
                ErrorCode::InvalidTopic,
                format!("invalid topic name {name:?}: it is reserved for the cluster's metadata"),
            ));
        }
        if name.is_empty() || name.len() > max || !valid_chars || name == "." || name == ".." {
            return Err(ApiError::new(
                ErrorCode::InvalidTopic,
                format!(
                    "invalid topic name {name:?}: use 1 to {max} characters from [A-Za-z0-9._-], not \".\" or \"..\""
                ),
            ));
        }
        Ok(())
    }

    /// Creates a topic with `partitions` partitions and the given setting
    /// overrides; with `validate_only`, checks everything and creates nothing.
    pub async fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(String, Option<String>)],
        validate_only: bool,
    ) -> Result<(), ApiError> {
        self.check_name(name)?;
        let max = self.limits.max_partitions_per_topic;
        if !(1..=max).contains(&partitions) {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                format!("{partitions} partitions requested: allowed 1 ..= {max}"),
            ));
        }
        let mut settings = self.defaults.clone();
        for (key, value) in configs {
            if let Some(value) = value {
                settings
                    .set(key, value)
                    .map_err(|e| ApiError::new(ErrorCode::InvalidConfig, e))?;
            }
        }
        settings
            .validate()
            .map_err(|e| ApiError::new(ErrorCode::InvalidConfig, e))?;
        let _changes = self.changes.lock().await;
        if self.read().contains_key(name) {
            return Err(ApiError::new(
                ErrorCode::TopicAlreadyExists,
                format!("topic {name:?} already exists"),
            ));
        }
        if self.read().len() >= self.limits.max_topics {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "the broker already holds limits.max_topics = {} topics",
                    self.limits.max_topics
                ),
            ));
        }
        if validate_only {
            return Ok(());
        }
        let dir = self.data_dir.join(name);
        let (name_owned, data_dir) = (name.to_string(), self.data_dir.clone());
        let topic = tokio::task::spawn_blocking(move || {
            create_topic(&data_dir, &dir, &name_owned, partitions, settings)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))
        .and_then(|r| r)
        .map_err(|e| ApiError::new(ErrorCode::StorageError, e.to_string()))?;
        tracing::info!(topic = %name, partitions, "created topic");
        self.write().insert(name.to_string(), Arc::new(topic));
        Ok(())
    }

    /// Deletes a topic and all its data.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let _changes = self.changes.lock().await;
        let topic = self.topic(name)?;
        let recovering = topic.partitions.iter().filter(|s| !s.is_settled()).count();
        if recovering > 0 {
            return Err(ApiError::new(
                ErrorCode::LeaderNotAvailable,
                format!(
                    "topic {name:?} has {recovering} partitions whose logs are still being recovered after a restart; delete it once they are served"
                ),
            ));
        }
        self.write().remove(name);
        let (dir, data_dir) = (self.data_dir.join(name), self.data_dir.clone());
        tokio::task::spawn_blocking(move || remove_topic(&data_dir, &dir, &topic))
            .await
            .map_err(|e| Error::Task(e.to_string()))
            .and_then(|r| r)
            .map_err(|e| ApiError::new(ErrorCode::StorageError, e.to_string()))?;
        tracing::info!(topic = %name, "deleted topic");
        Ok(())
    }

    /// Every partition of every topic whose log is open.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.read()
            .values()
            .flat_map(|t| t.served_partitions().cloned().collect::<Vec<_>>())
            .collect()
    }

    /// Flushes and closes every log, writing clean-shutdown checkpoints. Blocking.
    /// Returns the first failure after trying every log.
    ///
    /// Each close waits for fsyncs, so the logs are closed on several threads at
    /// once ([`parallel::map`]): the disk gets many fsyncs to merge instead of one
    /// at a time, and a broker with thousands of partitions stops in seconds.
    /// The background recovery is stopped first: opens under way finish, the
    /// rest are left for the next start.
    pub fn close_all(&self) -> Result<()> {
        self.recovery.stop();
        let partitions = self.all_partitions();
        let closed = parallel::map(&partitions, parallel::MAX_THREADS, |partition| {
            partition.log().close().map_err(|source| {
                tracing::error!(topic = partition.topic(), partition = partition.index(), error = %source, "closing the log failed");
                Error::Storage {
                    topic: partition.topic().to_string(),
                    partition: partition.index(),
                    source,
                }
            })
        });
        closed.into_iter().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Topic>>> {
        locks::read(&self.topics)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Topic>>> {
        locks::write(&self.topics)
    }
}

/// Takes the exclusive lock on the data directory, or fails if another broker
/// (another process, or another `serve` in this one) holds it.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
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
fn load_topic_file(dir: &Path) -> Result<TopicFile> {
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

/// Opens (creating or recovering) a topic's partition logs, several at once
/// ([`parallel::map`]): recovery after a crash reads and checks every byte written
/// since the last checkpoint, and the partitions share the cores and the disk.
fn open_partitions(dir: &Path, name: &str, count: i32, settings: TopicSettings) -> Result<Topic> {
    let options = settings.log_options();
    let indexes: Vec<i32> = (0..count).collect();
    let partitions = parallel::map(&indexes, parallel::MAX_THREADS, |&index| {
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
        settings,
        partitions,
    })
}

/// Creates the partition logs, then commits the topic by writing `topic.toml`.
fn create_topic(
    data_dir: &Path,
    dir: &Path,
    name: &str,
    partitions: i32,
    settings: TopicSettings,
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
    open_partitions(dir, name, partitions, settings)
        .and_then(|topic| write_topic_file(data_dir, dir, &topic).map(|()| topic))
        .inspect_err(|_| {
            // A failed create leaves nothing behind, as if it had never started.
            if let Err(e) = discard_dir(data_dir, dir) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a failed create");
            }
        })
}

/// Commits `topic` by writing its `topic.toml` in `dir` durably.
fn write_topic_file(data_dir: &Path, dir: &Path, topic: &Topic) -> Result<()> {
    let text = toml::to_string(&TopicFile {
        partitions: i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
        settings: topic.settings.clone(),
    })
    .map_err(|e| Error::TopicMetadata {
        path: dir.join(TOPIC_FILE),
        reason: e.to_string(),
    })?;
    save_file(dir, TOPIC_FILE, text.as_bytes())?;
    sync_dir(data_dir)
}

/// Closes a topic's logs and removes its directory.
fn remove_topic(data_dir: &Path, dir: &Path, topic: &Topic) -> Result<()> {
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
/// is; [`Topics::open`] removes any such directory a crash left behind.
fn discard_dir(data_dir: &Path, dir: &Path) -> Result<()> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT_DISCARD.fetch_add(1, Ordering::Relaxed);
    let doomed = data_dir.join(format!("{DELETED_MARK}{nanos}-{n}"));
    io(std::fs::rename(dir, &doomed), "rename for delete", dir)?;
    sync_dir(data_dir)?;
    io(std::fs::remove_dir_all(&doomed), "remove", &doomed)
}

#[cfg(test)]
mod tests;

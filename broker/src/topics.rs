//! The topics this broker serves, persisted so they survive restarts (on disk
//! as `topic_dir` lays them out).
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
//!
//! In a cluster a topic is created here when the cluster's metadata assigns it
//! ([`Topics::create_replicated`]); only the partitions with a replica on this
//! broker get a log, the others a slot that sends clients to their leader.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use rill_protocol::ErrorCode;

use crate::api_error::ApiError;
use crate::config::{BrokerConfig, Limits, TopicSettings, PARTITIONS_CEILING};
use crate::error::{io, Error, Result};
use crate::locks;
use crate::parallel;
use crate::partition::Partition;
use crate::recovery::{Pending, Recovery, Slot};
use crate::topic_dir::{
    create_topic, load_topic_file, lock_data_dir, open_partitions, remove_topic, Topic, TopicFile,
    DELETED_MARK, TOPIC_FILE,
};

/// The directory under the data directory that holds the cluster's metadata
/// group (`[cluster]`); never a topic, and no topic may take its name.
pub const CLUSTER_DIR: &str = "__cluster";

/// Every topic on this broker.
pub struct Topics {
    data_dir: PathBuf,
    /// This broker's node id in a cluster: which replicas are its own.
    node: Option<u64>,
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
        let node = config
            .cluster
            .is_clustered()
            .then(|| u64::try_from(config.node_id).ok())
            .flatten();
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
                open_partitions(&path, &name, file, node)?
            } else {
                let options = file.settings.log_options();
                let partitions = (0..file.partitions)
                    .map(|index| {
                        if !file.is_local(index, node) {
                            return Arc::new(Slot::elsewhere(index));
                        }
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
                    replicas: file.replicas,
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
            node,
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

    /// Checks a new topic's name, partition count and setting overrides, and
    /// returns its settings (the broker's defaults with the overrides applied).
    pub fn check_new(
        &self,
        name: &str,
        partitions: i32,
        configs: &[(String, Option<String>)],
    ) -> Result<TopicSettings, ApiError> {
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
        Ok(settings)
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
        let settings = self.check_new(name, partitions, configs)?;
        let file = TopicFile {
            partitions,
            settings,
            replicas: Vec::new(),
        };
        self.insert(name, file, validate_only).await
    }

    /// Creates, on this broker, the replicas it holds of a topic the cluster's
    /// metadata assigns: a log for each partition with a replica here, nothing
    /// for the others. `settings` is the topic's settings as the metadata holds
    /// them (TOML). A topic this broker already has is left as it is.
    pub async fn create_replicated(
        &self,
        name: &str,
        settings: &str,
        replicas: &[Vec<u64>],
    ) -> Result<(), ApiError> {
        if self.get(name).is_some() {
            return Ok(());
        }
        let invalid = |reason: String| {
            ApiError::new(
                ErrorCode::InvalidConfig,
                format!("topic {name:?} in the cluster's metadata: {reason}"),
            )
        };
        let settings: TopicSettings =
            toml::from_str(settings).map_err(|e| invalid(e.to_string()))?;
        settings.validate().map_err(invalid)?;
        let partitions = i32::try_from(replicas.len())
            .ok()
            .filter(|n| (1..=PARTITIONS_CEILING).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "{} partitions: allowed 1 ..= {PARTITIONS_CEILING}",
                    replicas.len()
                ))
            })?;
        let file = TopicFile {
            partitions,
            settings,
            replicas: replicas.to_vec(),
        };
        self.insert(name, file, false).await
    }

    /// Creates the topic `file` describes, unless one of that name exists or the
    /// broker holds its most topics; with `validate_only`, creates nothing.
    async fn insert(
        &self,
        name: &str,
        file: TopicFile,
        validate_only: bool,
    ) -> Result<(), ApiError> {
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
        let partitions = file.partitions;
        let dir = self.data_dir.join(name);
        let (name_owned, data_dir, node) = (name.to_string(), self.data_dir.clone(), self.node);
        let topic = tokio::task::spawn_blocking(move || {
            create_topic(&data_dir, &dir, &name_owned, file, node)
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

#[cfg(test)]
mod tests;

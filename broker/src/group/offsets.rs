//! Committed consumer offsets, stored in the internal compacted topic
//! `__consumer_offsets` and kept in memory for lookups.
//!
//! A commit appends one record per partition (key: group, topic, partition; value:
//! offset and metadata) as a single batch, and updates memory only after the
//! append returned, so an answered commit is as durable as the topic's fsync
//! policy makes it. Commits are serialized, so memory always matches the log's
//! order. At start-up the whole topic is read back; compaction keeps it to about
//! one record per key.
//!
//! Record layout (big-endian, the wire protocol's primitives):
//! key = `version:int16 (0) group:string topic:string partition:int32`,
//! value = `version:int16 (0) offset:int64 metadata:nullable_string`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use rill_protocol::batch::MAX_DECOMPRESSED_BYTES;
use rill_protocol::wire::{Reader, Writer};
use rill_protocol::{BatchBuilder, CheckedBatch, ProducerInfo, RecordBatch};

use crate::api_error::ApiError;
use crate::error::{Error, Result};
use crate::locks;
use crate::partition::{Partition, PartitionError};
use crate::topics::Topics;

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A committed position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The next offset the group will consume.
    pub offset: i64,
    /// Free-form metadata given with the commit.
    pub metadata: Option<String>,
}

/// One partition's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The position.
    pub committed: Committed,
}

type GroupOffsets = BTreeMap<(String, i32), Committed>;

/// Every group's committed offsets.
pub struct OffsetStore {
    partition: Arc<Partition>,
    committed: Mutex<BTreeMap<String, GroupOffsets>>,
    writes: tokio::sync::Mutex<()>,
}

impl OffsetStore {
    /// Opens the store, creating `__consumer_offsets` (one compacted partition) on
    /// first start and reading back every commit.
    pub async fn open(topics: &Topics) -> Result<OffsetStore> {
        let failed = |reason: String| Error::OffsetsTopic { reason };
        if topics.get(OFFSETS_TOPIC).is_none() {
            let settings = [("cleanup".to_string(), Some("compact".to_string()))];
            topics
                .create(OFFSETS_TOPIC, 1, &settings, false)
                .await
                .map_err(|e| failed(e.message))?;
        }
        let partition = topics
            .partition(OFFSETS_TOPIC, 0)
            .map_err(|e| failed(e.message))?;
        let mut committed: BTreeMap<String, GroupOffsets> = BTreeMap::new();
        let mut offset = partition.log().log_start_offset();
        while offset < partition.log().high_watermark() {
            let read = partition
                .read(offset, 1 << 20)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let mut rest = read.bytes.as_slice();
            if rest.is_empty() {
                break;
            }
            while !rest.is_empty() {
                let (batch, tail) =
                    RecordBatch::split_first(rest).map_err(|e| failed(e.to_string()))?;
                let section = batch
                    .records_section(MAX_DECOMPRESSED_BYTES)
                    .map_err(|e| failed(e.to_string()))?;
                for record in batch.records_in(&section) {
                    let record = record.map_err(|e| failed(e.to_string()))?;
                    let Some(key) = record.key else { continue };
                    let (group, topic, p) = decode_key(key)
                        .map_err(|e| failed(format!("record {}: {e}", record.offset)))?;
                    let offsets = committed.entry(group).or_default();
                    match record.value {
                        Some(value) => {
                            let c = decode_value(value)
                                .map_err(|e| failed(format!("record {}: {e}", record.offset)))?;
                            offsets.insert((topic, p), c);
                        }
                        None => {
                            offsets.remove(&(topic, p));
                        }
                    }
                }
                offset = batch.next_offset();
                rest = tail;
            }
        }
        Ok(OffsetStore {
            partition,
            committed: Mutex::new(committed),
            writes: tokio::sync::Mutex::new(()),
        })
    }

    /// Appends the commits as one batch, then makes them visible.
    pub async fn commit(&self, group: &str, commits: &[Commit]) -> Result<(), ApiError> {
        if commits.is_empty() {
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut batch = BatchBuilder::new(ProducerInfo::NONE);
        for c in commits {
            let key = encode_key(group, &c.topic, c.partition);
            let value = encode_value(&c.committed);
            batch.push(now, Some(&key), Some(&value), &[]);
        }
        let _writes = self.writes.lock().await;
        let batch = CheckedBatch::produced(batch.finish())
            .map_err(|e| PartitionError::Storage(rill_storage::Error::InvalidBatch(e)))?;
        self.partition.append(batch).await?;
        let mut committed = self.lock();
        let offsets = committed.entry(group.to_string()).or_default();
        for c in commits {
            offsets.insert((c.topic.clone(), c.partition), c.committed.clone());
        }
        Ok(())
    }

    /// A group's committed offsets.
    pub fn group(&self, group: &str) -> GroupOffsets {
        self.lock().get(group).cloned().unwrap_or_default()
    }

    /// Every group with committed offsets.
    pub fn groups(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Whether `group` has committed offsets.
    pub fn has_group(&self, group: &str) -> bool {
        self.lock().contains_key(group)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, GroupOffsets>> {
        locks::lock(&self.committed)
    }
}

fn encode_key(group: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut buf = BytesMut::new();
    Writer::new(&mut buf)
        .i16(0)
        .string(group)
        .string(topic)
        .i32(partition);
    buf.to_vec()
}

fn decode_key(key: &[u8]) -> rill_protocol::Result<(String, String, i32)> {
    let mut r = Reader::new(key, "offset commit key");
    let version = r.i16("version")?;
    check_version(version)?;
    let decoded = (r.string("group")?, r.string("topic")?, r.i32("partition")?);
    r.finish()?;
    Ok(decoded)
}

fn encode_value(c: &Committed) -> Vec<u8> {
    let mut buf = BytesMut::new();
    Writer::new(&mut buf)
        .i16(0)
        .i64(c.offset)
        .nullable_string(c.metadata.as_deref());
    buf.to_vec()
}

fn decode_value(value: &[u8]) -> rill_protocol::Result<Committed> {
    let mut r = Reader::new(value, "offset commit value");
    check_version(r.i16("version")?)?;
    let committed = Committed {
        offset: r.i64("offset")?,
        metadata: r.nullable_string("metadata")?,
    };
    r.finish()?;
    Ok(committed)
}

fn check_version(version: i16) -> rill_protocol::Result<()> {
    if version == 0 {
        Ok(())
    } else {
        Err(rill_protocol::Error::Invalid {
            what: "offset record version",
            detail: format!("{version}: only 0 is known"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip_and_reject_garbage() {
        let key = encode_key("payment", "purchases", 5);
        assert_eq!(
            decode_key(&key).expect("key"),
            ("payment".to_string(), "purchases".to_string(), 5)
        );
        let c = Committed {
            offset: 42,
            metadata: Some("m".into()),
        };
        assert_eq!(decode_value(&encode_value(&c)).expect("value"), c);
        for cut in 0..key.len() {
            assert!(decode_key(&key[..cut]).is_err());
        }
        let mut wrong = key.clone();
        wrong[1] = 9;
        assert!(decode_key(&wrong).is_err());
    }
}

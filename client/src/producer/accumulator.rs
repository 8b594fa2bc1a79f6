//! Where records wait to be sent: one open batch per partition, plus the closed
//! batches behind it.
//!
//! `send` appends to the partition's open batch under a short lock; a batch is
//! closed when the next record would push it past `batch_bytes` (the sender also
//! closes it when `linger` expires, on `flush`, and at close). Batch ids increase in
//! creation order, and the set of ids not yet completed tells `flush` when
//! everything before it is done. The topic table doubles as the metadata cache
//! (partition counts); topics are never removed, so a topic's index is a stable key.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rill_protocol::{BatchBuilder, ProducerInfo, RecordBatch, BATCH_HEADER_LEN};

use super::config::ProducerConfig;
use super::delivery::{AckHandle, Delivery};
use super::partitioner::Spread;
use crate::error::{Error, Result};

/// Byte position of the producer id in a batch; epoch and base sequence follow.
const PRODUCER_ID_AT: usize = 43;
/// Byte position of the CRC and of the first byte it covers.
const CRC_AT: usize = 17;

/// A closed batch: encoded, and owned by the accumulator or the sender.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) id: u64,
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) bytes: Bytes,
    /// Records in the batch.
    records: u32,
    /// The outcome every record's delivery waits for.
    ack: AckHandle,
    /// Buffer memory the records hold, returned on completion.
    pub(crate) memory: usize,
    /// Base sequence stamped when the batch first goes onto a live connection
    /// (idempotent producers only); renumbered past refused batches, and from 0
    /// when its partition starts over under a new producer id.
    pub(crate) sequence: Option<i32>,
    /// Whether a request carrying the batch was ever handed to a connection: only
    /// then may the broker have written it.
    pub(crate) sent: bool,
    /// Whether some attempt went out and ended without an answer that says the
    /// batch was not written (a lost connection, a timeout, a storage error): it
    /// may be in the log under its sequence number, whatever later attempts are
    /// told, so giving it up must not free that number.
    pub(crate) in_doubt: bool,
    /// Failed sends so far.
    pub(crate) attempts: u32,
    /// Not to be sent again before this instant.
    pub(crate) retry_at: Option<Instant>,
    /// When its first record arrived: a failure after `delivery_timeout` from
    /// here is final.
    pub(crate) created: Instant,
}

impl Batch {
    /// Number of records.
    pub(crate) fn count(&self) -> i32 {
        i32::try_from(self.records).unwrap_or(i32::MAX)
    }

    /// Writes the producer identity and base sequence into the header and refreshes
    /// the CRC (which covers them).
    pub(crate) fn stamp(&mut self, producer_id: i64, epoch: i16, sequence: i32) -> Result<()> {
        // Unique after the request that carried it is gone, so this does not copy.
        let mut bytes = BytesMut::from(std::mem::take(&mut self.bytes));
        let fields = &mut bytes[PRODUCER_ID_AT..PRODUCER_ID_AT + 14];
        fields[..8].copy_from_slice(&producer_id.to_be_bytes());
        fields[8..10].copy_from_slice(&epoch.to_be_bytes());
        fields[10..14].copy_from_slice(&sequence.to_be_bytes());
        let crc = RecordBatch::new(&bytes).map(|b| b.compute_crc());
        let result = match crc {
            Ok(crc) => {
                bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
                self.sequence = Some(sequence);
                Ok(())
            }
            Err(e) => Err(Error::InvalidArgument(format!(
                "cannot stamp a sequence number into the batch: {e}"
            ))),
        };
        self.bytes = bytes.freeze();
        result
    }

    /// Resolves every record: offsets from `base_offset` (-1 when unknown) or the
    /// error. Returns the buffer memory to give back.
    pub(crate) fn complete(self, result: Result<i64>) -> usize {
        self.ack.complete(result);
        self.memory
    }
}

/// A partition's batch still taking records.
#[derive(Debug)]
pub(crate) struct OpenBatch {
    pub(crate) id: u64,
    builder: BatchBuilder,
    records: u32,
    ack: AckHandle,
    memory: usize,
    pub(crate) created: Instant,
}

impl OpenBatch {
    /// Encoded size so far.
    pub(crate) fn size(&self) -> usize {
        self.builder.size()
    }
}

/// One partition's queue.
#[derive(Debug, Default)]
pub(crate) struct PartitionQueue {
    pub(crate) open: Option<OpenBatch>,
    pub(crate) ready: VecDeque<Batch>,
}

/// One topic: cached metadata, keyless placement state and partition queues.
#[derive(Debug)]
pub(crate) struct TopicQueues {
    pub(crate) name: Arc<str>,
    partition_count: i32,
    stale: bool,
    spread: Spread,
    pub(crate) partitions: Vec<PartitionQueue>,
}

impl TopicQueues {
    /// Closes the open batch of `partition`, if any, onto the back of its queue.
    pub(crate) fn close_open(&mut self, partition: i32) {
        let name = self.name.clone();
        let Some(q) = self.partitions.get_mut(partition as usize) else {
            return;
        };
        if let Some(open) = q.open.take() {
            q.ready.push_back(Batch {
                id: open.id,
                topic: name,
                partition,
                bytes: Bytes::from(open.builder.finish()),
                records: open.records,
                ack: open.ack,
                memory: open.memory,
                sequence: None,
                sent: false,
                in_doubt: false,
                attempts: 0,
                retry_at: None,
                created: open.created,
            });
            self.spread.batch_closed(partition);
        }
    }
}

/// Every topic's queues and the bookkeeping for `flush`.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    pub(crate) topics: Vec<TopicQueues>,
    index: HashMap<String, usize>,
    /// The topic found last: checked before hashing, as a producer usually sends
    /// to one topic.
    last: Cell<usize>,
    next_batch_id: u64,
    incomplete: BTreeSet<u64>,
    /// Open batches with a smaller id are sent without waiting for `linger`.
    pub(crate) flush_before: u64,
    /// Set by `close` (or dropping the producer): send everything, accept nothing.
    pub(crate) closing: bool,
}

/// A record to append, borrowed from the caller of `send`.
pub(crate) struct NewRecord<'a> {
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a [(&'a str, &'a [u8])],
    pub(crate) timestamp: i64,
    pub(crate) memory: usize,
}

impl Accumulator {
    /// The cached partition count of `topic`, unless unknown or marked stale.
    pub(crate) fn partition_count(&self, topic: &str) -> Option<i32> {
        let t = &self.topics[self.find(topic)?];
        (!t.stale).then_some(t.partition_count)
    }

    /// The index of `topic` in `topics`.
    fn find(&self, topic: &str) -> Option<usize> {
        let last = self.last.get();
        if self.topics.get(last).is_some_and(|t| &*t.name == topic) {
            return Some(last);
        }
        let i = *self.index.get(topic)?;
        self.last.set(i);
        Some(i)
    }

    /// Caches `count` partitions for `topic`.
    pub(crate) fn set_partition_count(&mut self, topic: &str, count: i32, seed: u32) {
        let i = match self.find(topic) {
            Some(i) => i,
            None => {
                self.topics.push(TopicQueues {
                    name: Arc::from(topic),
                    partition_count: count,
                    stale: false,
                    spread: Spread::new(seed),
                    partitions: Vec::new(),
                });
                self.index.insert(topic.to_string(), self.topics.len() - 1);
                self.topics.len() - 1
            }
        };
        let t = &mut self.topics[i];
        t.partition_count = count;
        t.stale = false;
        let needed = usize::try_from(count).unwrap_or(0);
        if t.partitions.len() < needed {
            t.partitions.resize_with(needed, PartitionQueue::default);
        }
    }

    /// Makes the next `send` to `topic` read its metadata again.
    pub(crate) fn mark_stale(&mut self, topic: &str) {
        if let Some(i) = self.find(topic) {
            self.topics[i].stale = true;
        }
    }

    /// Appends `record` to its partition's open batch (closing a full one first).
    /// Returns the record's delivery and whether the sender should look again (a
    /// batch was opened or closed).
    pub(crate) fn append(
        &mut self,
        config: &ProducerConfig,
        topic: &str,
        record: NewRecord<'_>,
    ) -> Result<(Delivery, bool)> {
        let Some(ti) = self.find(topic) else {
            return Err(Error::InvalidArgument(format!(
                "no metadata for topic {topic:?}"
            )));
        };
        let t = &mut self.topics[ti];
        let partition =
            t.spread
                .choose(&config.partitioner, topic, record.key, t.partition_count)?;
        let mut wake = false;
        let full = t.partitions[partition as usize]
            .open
            .as_ref()
            .is_some_and(|open| open.size() + record.memory > config.batch_bytes);
        if full {
            t.close_open(partition);
            wake = true;
        }
        let q = &mut t.partitions[partition as usize];
        if q.open.is_none() {
            let id = self.next_batch_id;
            self.next_batch_id += 1;
            self.incomplete.insert(id);
            let capacity = (record.memory + BATCH_HEADER_LEN).max(config.batch_bytes.min(4096));
            q.open = Some(OpenBatch {
                id,
                builder: BatchBuilder::with_capacity(ProducerInfo::NONE, capacity)
                    .compression(config.compression),
                records: 0,
                ack: AckHandle::new(),
                memory: 0,
                created: Instant::now(),
            });
            wake = true;
        }
        let Some(open) = q.open.as_mut() else {
            return Err(Error::InvalidArgument("no open batch".into()));
        };
        open.builder
            .push_valued(record.timestamp, record.key, record.value, record.headers);
        let delivery = open.ack.delivery(open.records, partition, record.timestamp);
        open.records += 1;
        open.memory += record.memory;
        if open.size() >= config.batch_bytes {
            t.close_open(partition);
            wake = true;
        }
        Ok((delivery, wake))
    }

    /// Marks every batch opened so far for sending now; returns the id below which
    /// batches must complete for the flush to finish.
    pub(crate) fn mark_flush(&mut self) -> u64 {
        self.flush_before = self.next_batch_id;
        self.next_batch_id
    }

    /// Whether every batch with an id below `target` has completed.
    pub(crate) fn flushed(&self, target: u64) -> bool {
        self.incomplete.range(..target).next().is_none()
    }

    /// Whether no batch is incomplete.
    pub(crate) fn is_empty(&self) -> bool {
        self.incomplete.is_empty()
    }

    /// Records that batch `id` completed.
    pub(crate) fn batch_done(&mut self, id: u64) {
        self.incomplete.remove(&id);
    }

    /// Whether `topic`/`partition` holds records not yet taken by the sender.
    pub(crate) fn has_queued(&self, topic: &str, partition: i32) -> bool {
        let queue = self.find(topic).and_then(|i| {
            self.topics[i]
                .partitions
                .get(usize::try_from(partition).ok()?)
        });
        queue.is_some_and(|q| q.open.is_some() || !q.ready.is_empty())
    }

    /// Drops every batch still queued, open or closed, which resolves their
    /// deliveries with [`Error::Closed`] (for when the sender has stopped).
    pub(crate) fn discard_queued(&mut self) {
        for topic in &mut self.topics {
            for queue in &mut topic.partitions {
                for id in queue
                    .open
                    .take()
                    .map(|o| o.id)
                    .into_iter()
                    .chain(queue.ready.drain(..).map(|b| b.id))
                {
                    self.incomplete.remove(&id);
                }
            }
        }
    }
}

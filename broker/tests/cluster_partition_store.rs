//! A partition group's log store (the partition's own segmented log) and state
//! machine against openraft's storage test suite, plus what the suite does not
//! cover: producer batches stored once at the offsets every replica agrees on,
//! Raft's own entries as control batches, a deposed leader's tail truncated,
//! and the entry map rebuilt after a crash.

use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{EntryPayload, StorageError};
use rill_broker::cluster::partition_log::{PartitionLog, ENTRIES_FILE};
use rill_broker::cluster::partition_state::{PartitionState, PartitionStore};
use rill_broker::cluster::types::{NodeAddr, Payload, RaftTypes};
use rill_protocol::{BatchBuilder, ProducerInfo, RecordBatch};
use rill_storage::{Log, LogOptions};
use tempfile::TempDir;

type Entry = <RaftTypes as openraft::RaftTypeConfig>::Entry;

struct Builder;

impl StoreBuilder<RaftTypes, PartitionLog, PartitionStore, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, PartitionLog, PartitionStore), StorageError<RaftTypes>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, sm) = open(&dir);
        Ok((dir, log, sm))
    }
}

fn open(dir: &TempDir) -> (PartitionLog, PartitionStore) {
    let log = Log::open(dir.path().join("0"), LogOptions::default()).expect("open partition");
    let log = PartitionLog::open(Arc::new(log)).expect("open raft log");
    let sm = PartitionStore::open(&dir.path().join("0/raft-sm"), PartitionState::new(0))
        .expect("open state machine");
    (log, sm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_openraft_storage_suite() {
    Suite::test_all(Builder)
        .await
        .expect("openraft storage suite");
}

fn entry(term: u64, index: u64, payload: EntryPayload<Payload, u64, NodeAddr>) -> Entry {
    Entry {
        log_id: openraft::LogId::new_term_index(term, index),
        payload,
    }
}

/// A producer batch of `records` records saying `tag`.
fn batch(records: usize, tag: &str) -> Payload {
    let mut builder = BatchBuilder::new(ProducerInfo::NONE);
    for i in 0..records {
        builder.push(1_000, None, Some(format!("{tag}-{i}").as_bytes()), &[]);
    }
    Payload::new(Bytes::from(builder.finish()))
}

fn data(term: u64, index: u64, records: usize, tag: &str) -> Entry {
    entry(term, index, EntryPayload::Normal(batch(records, tag)))
}

/// The record values of a producer batch entry.
fn values(entry: &Entry) -> Vec<Vec<u8>> {
    let EntryPayload::Normal(Payload(bytes, _)) = &entry.payload else {
        panic!("entry {} is not a producer batch", entry.log_id.index);
    };
    let (batch, _) = RecordBatch::split_first(bytes).expect("batch");
    batch
        .records()
        .map(|r| r.expect("record").value.expect("value").to_vec())
        .collect()
}

/// Every batch in the partition's log: (base offset, leader epoch, control?).
fn batches(log: &PartitionLog) -> Vec<(i64, i32, bool)> {
    let read = log.log().read(0, 1 << 20).expect("read");
    let mut rest = read.bytes.as_slice();
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (b, after) = RecordBatch::split_first(rest).expect("batch");
        out.push((
            b.base_offset(),
            b.header().leader_epoch,
            b.header().is_control(),
        ));
        rest = after;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_batches_are_the_raft_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, mut sm) = open(&dir);
    let entries = vec![
        entry(1, 0, EntryPayload::Blank),
        data(1, 1, 3, "a"),
        data(1, 2, 2, "b"),
        entry(2, 3, EntryPayload::Blank),
        data(2, 4, 4, "c"),
    ];
    log.blocking_append(entries.clone()).await.expect("append");
    // Each entry is one batch, written once: control batches for Raft's own
    // entries, the producer's batches as they came, the term in the epoch.
    assert_eq!(
        batches(&log),
        vec![
            (0, 1, true),
            (1, 1, false),
            (4, 1, false),
            (6, 2, true),
            (7, 2, false)
        ]
    );
    assert_eq!(log.offsets_of(2).expect("map"), Some((4, 6)));
    assert_eq!(log.offsets_of(4).expect("map"), Some((7, 11)));
    let read = log.try_get_log_entries(1..5).await.expect("read");
    assert_eq!(read.len(), 4);
    assert_eq!(read[2], entries[3]);
    assert_eq!(values(&read[3]), values(&entries[4]));

    // Applying moves the committed offset to the end of each entry's batch and
    // answers a producer batch with its base offset.
    let stream = futures_util::stream::iter(entries[..3].iter().cloned().map(|e| Ok((e, None))));
    sm.apply(stream).await.expect("apply");
    assert_eq!(sm.subscribe().borrow().committed_offset, 6);
    assert_eq!(sm.subscribe().borrow().applied_index, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leaders_tail_is_cut_and_the_log_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut log, _sm) = open(&dir);
    log.blocking_append(vec![
        entry(1, 0, EntryPayload::Blank),
        data(1, 1, 2, "kept"),
        data(1, 2, 5, "uncommitted"),
        data(1, 3, 5, "uncommitted"),
    ])
    .await
    .expect("append");
    log.truncate_after(Some(openraft::LogId::new_term_index(1, 1)))
        .await
        .expect("truncate");
    assert_eq!(log.log().log_end_offset(), 3);
    log.blocking_append(vec![entry(3, 2, EntryPayload::Blank), data(3, 3, 1, "new")])
        .await
        .expect("append the new leader's entries");
    assert_eq!(
        batches(&log),
        vec![(0, 1, true), (1, 1, false), (3, 3, true), (4, 3, false)]
    );
    let state = log.get_log_state().await.expect("state");
    assert_eq!(
        state.last_log_id,
        Some(openraft::LogId::new_term_index(3, 3))
    );
    // An entry past the end is refused and changes nothing.
    assert!(log
        .blocking_append(vec![data(3, 9, 1, "gap")])
        .await
        .is_err());
    assert_eq!(log.log().log_end_offset(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entry_map_is_rebuilt_from_the_log_after_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let (mut log, _sm) = open(&dir);
        log.blocking_append(vec![
            entry(1, 0, EntryPayload::Blank),
            data(1, 1, 2, "x"),
            data(1, 2, 3, "y"),
            data(1, 3, 4, "z"),
        ])
        .await
        .expect("append");
        log.log().close().expect("close");
    }
    // The map lost its last two slots (a crash before they reached the disk).
    let map = dir.path().join("0").join(ENTRIES_FILE);
    let len = std::fs::metadata(&map).expect("map").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&map)
        .expect("open map")
        .set_len(len - 16)
        .expect("cut");
    let (mut log, _sm) = open(&dir);
    assert_eq!(log.offsets_of(3).expect("map"), Some((6, 10)));
    let read = log.try_get_log_entries(0..4).await.expect("read");
    assert_eq!(read.len(), 4);
    assert_eq!(read[3].log_id, openraft::LogId::new_term_index(1, 3));
    assert_eq!(values(&read[3]), values(&data(1, 3, 4, "z")));

    // A map whose slots point into the middle of batches is rebuilt whole.
    drop(read);
    log.log().close().expect("close");
    drop(log);
    std::fs::write(
        &map,
        [b"RILLIDX1".as_slice(), &[0u8; 8], &[0, 0, 0, 0, 0, 0, 0, 2]].concat(),
    )
    .expect("damage map");
    let (log, _sm) = open(&dir);
    assert_eq!(log.offsets_of(1).expect("map"), Some((1, 3)));
    assert_eq!(log.offsets_of(3).expect("map"), Some((6, 10)));
}

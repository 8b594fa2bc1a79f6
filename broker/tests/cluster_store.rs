//! The metadata group's log store and state machine against openraft's own
//! storage test suite, plus what the suite does not cover: state that must
//! survive a restart (the vote, the entries, the purged mark, the snapshot).

use openraft::storage::{
    RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::alias::VoteOf;
use openraft::{EntryPayload, StorageError};
use rill_broker::cluster::entry_log::EntryLog;
use rill_broker::cluster::meta_store::MetaStore;
use rill_broker::cluster::metadata::{MetaCommand, MetaState, TopicAssignment};
use rill_broker::cluster::types::{Payload, RaftTypes};
use tempfile::TempDir;

type Entry = <RaftTypes as openraft::RaftTypeConfig>::Entry;

struct Builder;

impl StoreBuilder<RaftTypes, EntryLog, MetaStore, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, EntryLog, MetaStore), StorageError<RaftTypes>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = EntryLog::open(&dir.path().join("log")).expect("open log");
        let sm = MetaStore::open(&dir.path().join("sm"), MetaState::default())
            .expect("open state machine");
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_openraft_storage_suite() {
    Suite::test_all(Builder)
        .await
        .expect("openraft storage suite");
}

fn entry(
    term: u64,
    index: u64,
    payload: EntryPayload<Payload, u64, rill_broker::cluster::types::NodeAddr>,
) -> Entry {
    Entry {
        log_id: openraft::LogId::new_term_index(term, index),
        payload,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vote_entries_and_purge_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let command = MetaCommand::CreateTopic(TopicAssignment {
        name: "orders".into(),
        settings: String::new(),
        replicas: vec![vec![1, 2, 3]],
    });
    {
        let mut log = EntryLog::open(dir.path()).expect("open");
        log.save_vote(&VoteOf::<RaftTypes>::new_committed(4, 2))
            .await
            .expect("vote");
        let entries = vec![
            entry(1, 0, EntryPayload::Blank),
            entry(
                1,
                1,
                EntryPayload::Normal(Payload::new(command.encode().into())),
            ),
            entry(4, 2, EntryPayload::Blank),
        ];
        log.blocking_append(entries).await.expect("append");
        log.purge(openraft::LogId::new_term_index(1, 0))
            .await
            .expect("purge");
        log.close().expect("close");
    }
    let mut log = EntryLog::open(dir.path()).expect("reopen");
    assert_eq!(
        log.read_vote().await.expect("read vote"),
        Some(VoteOf::<RaftTypes>::new_committed(4, 2))
    );
    let state = log.get_log_state().await.expect("state");
    assert_eq!(state.last_purged_log_id.map(|id| id.index), Some(0));
    assert_eq!(
        state.last_log_id,
        Some(openraft::LogId::new_term_index(4, 2))
    );
    let read = log.try_get_log_entries(1..3).await.expect("read");
    assert_eq!(read.len(), 2);
    assert_eq!(
        read[0].payload,
        EntryPayload::Normal(Payload::new(command.encode().into()))
    );
    assert_eq!(read[1].log_id, openraft::LogId::new_term_index(4, 2));

    // A deposed leader's tail goes, and the log continues from the kept entry.
    log.truncate_after(Some(openraft::LogId::new_term_index(1, 1)))
        .await
        .expect("truncate");
    let state = log.get_log_state().await.expect("state");
    assert_eq!(
        state.last_log_id,
        Some(openraft::LogId::new_term_index(1, 1))
    );
    log.blocking_append(vec![entry(5, 2, EntryPayload::Blank)])
        .await
        .expect("append after truncate");
    // A gap is refused and changes nothing.
    let gap = log
        .blocking_append(vec![entry(5, 9, EntryPayload::Blank)])
        .await;
    assert!(gap.is_err(), "an entry past the end was taken");
    let state = log.get_log_state().await.expect("state");
    assert_eq!(
        state.last_log_id,
        Some(openraft::LogId::new_term_index(5, 2))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_rebuilds_the_state_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let topic = TopicAssignment {
        name: "payments".into(),
        settings: "retention_ms = 5\n".into(),
        replicas: vec![vec![1], vec![2]],
    };
    {
        let mut sm = MetaStore::open(dir.path(), MetaState::default()).expect("open");
        let mut log = EntryLog::open(&dir.path().join("log")).expect("open log");
        let entries = vec![entry(
            1,
            0,
            EntryPayload::Normal(Payload::new(
                MetaCommand::CreateTopic(topic.clone()).encode().into(),
            )),
        )];
        log.blocking_append(entries.clone()).await.expect("append");
        let stream = futures_util::stream::iter(entries.into_iter().map(|e| Ok((e, None))));
        sm.apply(stream).await.expect("apply");
        let view = sm.subscribe().borrow().clone();
        assert_eq!(view.state.topic("payments"), Some(&topic));
        let mut builder = sm.get_snapshot_builder().await;
        builder.build_snapshot().await.expect("snapshot");
    }
    let mut sm = MetaStore::open(dir.path(), MetaState::default()).expect("reopen");
    let (applied, _) = sm.applied_state().await.expect("applied");
    assert_eq!(applied, Some(openraft::LogId::new_term_index(1, 0)));
    assert_eq!(
        sm.subscribe().borrow().state.topic("payments"),
        Some(&topic)
    );
    std::fs::write(dir.path().join("snapshot"), b"\x01garbage").expect("corrupt");
    let err = MetaStore::open(dir.path(), MetaState::default())
        .err()
        .expect("a corrupt snapshot is refused");
    assert!(err.to_string().contains("snapshot"), "{err}");
}

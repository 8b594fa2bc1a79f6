//! Codes a healthy broker never answers: 56 KAFKA_STORAGE_ERROR, provoked by
//! breaking the data directory under a second broker (a file or directory where
//! the broker must write, a partition directory removed before its log rolls),
//! and CreateTopics' 42 for a broker that holds `max_topics` topics.

use std::path::Path;
use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;

use crate::api_admin::{
    api_versions, create_topic, create_topics, delete_topics, CREATE_TOPICS, DELETE_TOPICS,
};
use crate::api_data::{init_producer_id, produce_one, INIT_PRODUCER_ID, PRODUCE};
use crate::api_groups::{offset_commit, OFFSET_COMMIT};
use crate::batch;
use crate::cases_produce::T0;
use crate::conn::Conn;
use crate::coverage::Coverage;

/// Topics the broker may hold: `__consumer_offsets` and three more.
const MAX_TOPICS: usize = 4;

fn remove(dir: &Path) {
    std::fs::remove_dir_all(dir).expect("the test may remove a broker's directory");
}

/// Removes `dir`, then waits out the 1 ms `segment_ms`, so the next append to
/// that log rolls into a new segment file, which cannot be created.
async fn remove_before_roll(dir: &Path) {
    remove(dir);
    tokio::time::sleep(Duration::from_millis(5)).await;
}

/// Every 56 of §5, and the topic limit's 42.
pub async fn fault_cases(cov: &mut Coverage) {
    let mut config = EmbeddedBroker::fast_groups_config();
    config.log.segment_ms = 1;
    config.limits.max_topics = MAX_TOPICS;
    let mut broker = EmbeddedBroker::builder()
        .config(config)
        .stop_timeout(rill_tests::STOP_TIMEOUT)
        .start()
        .await
        .expect("a second broker starts");
    let data = broker.data_dir().to_path_buf();
    let mut conn = Conn::open(broker.addr()).await;
    // An answer means the broker has opened its data directory (it reads
    // producer-ids at start-up), so what is put in its way now meets a request.
    api_versions(&mut conn).await;

    // The producer-id reservation file cannot replace a directory.
    std::fs::create_dir_all(data.join("producer-ids").join("in-the-way"))
        .expect("a directory where producer-ids goes");
    let refused = init_producer_id(&mut conn, None).await;
    cov.entry(
        INIT_PRODUCER_ID,
        "producer-ids is a directory",
        &refused.status,
        56,
    );
    assert_eq!((refused.producer_id, refused.producer_epoch), (-1, -1));

    // A topic's directory cannot be made where a file is.
    std::fs::write(data.join("blocked"), b"not a directory").expect("a file in the way");
    let blocked = create_topics(&mut conn, &[("blocked", 1, &[])], false).await;
    cov.entry(
        CREATE_TOPICS,
        "a file where the topic goes",
        &blocked[0].status,
        56,
    );

    // A partition whose directory is gone cannot roll its log.
    create_topic(&mut conn, "rolls", 1, &[]).await;
    let good = batch::simple(T0, "k", "v");
    let first = produce_one(&mut conn, "rolls", 0, &good).await;
    assert_eq!(first.status.code, 0, "the first append needs no roll");
    remove_before_roll(&data.join("rolls").join("0")).await;
    let failed = produce_one(&mut conn, "rolls", 0, &good).await;
    cov.entry(
        PRODUCE,
        "the partition directory is gone",
        &failed.status,
        56,
    );

    // The same for __consumer_offsets, which OffsetCommit appends to.
    create_topic(&mut conn, "committed", 1, &[]).await;
    let entries = [("committed", 0, 1, None)];
    let commit = ("g", "", -1, &entries[..]);
    let first = offset_commit(&mut conn, &commit).await;
    assert_eq!(first[0].2.code, 0, "the first commit needs no roll");
    remove_before_roll(&data.join("__consumer_offsets").join("0")).await;
    let failed = offset_commit(&mut conn, &commit).await;
    cov.entry(
        OFFSET_COMMIT,
        "the offsets directory is gone",
        &failed[0].2,
        56,
    );

    // A topic whose directory is gone cannot be renamed away.
    delete_topics(&mut conn, &["rolls"]).await;
    create_topic(&mut conn, "vanished", 1, &[]).await;
    remove(&data.join("vanished"));
    let deleted = delete_topics(&mut conn, &["vanished"]).await;
    cov.entry(
        DELETE_TOPICS,
        "the topic directory is gone",
        &deleted[0].status,
        56,
    );

    // __consumer_offsets and "committed" are held; two more reach the limit.
    for name in ["fill-1", "fill-2"] {
        create_topic(&mut conn, name, 1, &[]).await;
    }
    let over = create_topics(&mut conn, &[("one-too-many", 1, &[])], false).await;
    cov.entry(CREATE_TOPICS, "max_topics topics held", &over[0].status, 42);

    drop(conn);
    // Logs whose directories are gone cannot be checkpointed, so this stop may
    // report that; it still stops the broker.
    let _ = broker.stop().await;
}

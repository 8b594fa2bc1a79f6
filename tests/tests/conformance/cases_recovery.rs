//! §5.2's partitions that are not served yet after a restart: 5
//! LEADER_NOT_AVAILABLE while a log is held in recovery (by the broker's recovery
//! hook, as a slow scan would hold it), 56 KAFKA_STORAGE_ERROR for a log that
//! cannot be opened, and every other partition served meanwhile.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rill_broker::embedded::EmbeddedBroker;
use rill_broker::RecoveryHook;

use crate::api_admin::{create_topic, delete_topics, metadata, DELETE_TOPICS, METADATA};
use crate::api_data::{fetch_one, list_offset, produce_one, FETCH, LIST_OFFSETS, PRODUCE};
use crate::batch;
use crate::cases_produce::T0;
use crate::conn::Conn;
use crate::coverage::Coverage;

/// Holds the recovery thread while closed.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn close(&self) {
        *self.0 .0.lock().expect("gate") = false;
    }

    fn open(&self) {
        *self.0 .0.lock().expect("gate") = true;
        self.0 .1.notify_all();
    }

    fn wait(&self) {
        let (open, changed) = &*self.0;
        let mut open = open.lock().expect("gate");
        while !*open {
            open = changed.wait(open).expect("gate");
        }
    }
}

/// Opens the gate when dropped, so a failing case never leaves the broker's
/// shutdown waiting for the recovery thread.
struct OpenOnDrop(Gate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// Produces to `topic`/0 until it is not 5 (at most 10 s); returns that answer's code.
async fn produce_when_served(conn: &mut Conn, topic: &str, record: &[u8]) -> i16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = produce_one(conn, topic, 0, record).await;
        if answer.status.code != 5 || Instant::now() > deadline {
            return answer.status.code;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every 5 of §5, and 56 on Fetch, ListOffsets and Metadata's partitions.
pub async fn recovery_cases(cov: &mut Coverage) {
    let gate = Gate::default();
    gate.open();
    let held = gate.clone();
    let mut config = EmbeddedBroker::fast_groups_config();
    config.recovery_hook = RecoveryHook(Some(Arc::new(move |topic: &str, _| {
        if topic == "held" {
            held.wait();
        }
    })));
    let mut broker = EmbeddedBroker::builder()
        .config(config)
        .stop_timeout(rill_tests::STOP_TIMEOUT)
        .start()
        .await
        .expect("a third broker starts");
    // Declared after the broker, so dropped (and the gate opened) before it.
    let _release = OpenOnDrop(gate.clone());
    let record = batch::simple(T0, "k", "v");
    let mut conn = Conn::open(broker.addr()).await;
    for topic in ["broken", "held", "ready"] {
        create_topic(&mut conn, topic, 1, &[]).await;
        let written = produce_one(&mut conn, topic, 0, &record).await;
        assert_eq!(written.status.code, 0, "{topic}: {:?}", written.status);
    }
    drop(conn);
    broker.stop().await.expect("the broker stops cleanly");

    // A log directory that is a file cannot be opened.
    let broken = broker.data_dir().join("broken").join("0");
    std::fs::remove_dir_all(&broken).expect("the test may remove a log");
    std::fs::write(&broken, b"not a log").expect("a file where the log was");
    gate.close();
    broker.restart().await.expect("the broker restarts");
    let mut conn = Conn::open(broker.addr()).await;

    assert_eq!(
        produce_when_served(&mut conn, "ready", &record).await,
        0,
        "a partition whose log is open is served while another is held"
    );
    let produced = produce_one(&mut conn, "held", 0, &record).await;
    cov.entry(PRODUCE, "a partition held in recovery", &produced.status, 5);
    assert_eq!(produced.base_offset, -1);
    let fetched = fetch_one(&mut conn, "held", 0, 0).await;
    cov.entry(FETCH, "a partition held in recovery", &fetched.status, 5);
    assert_eq!((fetched.high_watermark, fetched.log_start_offset), (-1, -1));
    assert!(fetched.records.is_empty());
    let listed = list_offset(&mut conn, "held", 0, -1).await;
    cov.entry(
        LIST_OFFSETS,
        "a partition held in recovery",
        &listed.status,
        5,
    );
    let deleted = delete_topics(&mut conn, &["held"]).await;
    cov.entry(
        DELETE_TOPICS,
        "a topic held in recovery",
        &deleted[0].status,
        5,
    );

    let produced = produce_one(&mut conn, "broken", 0, &record).await;
    assert_eq!(produced.status.code, 56, "{:?}", produced.status);
    let fetched = fetch_one(&mut conn, "broken", 0, 0).await;
    cov.entry(FETCH, "a log that cannot be opened", &fetched.status, 56);
    let listed = list_offset(&mut conn, "broken", 0, -1).await;
    cov.entry(
        LIST_OFFSETS,
        "a log that cannot be opened",
        &listed.status,
        56,
    );

    let meta = metadata(&mut conn, &["broken", "held", "ready"]).await;
    let codes: Vec<(String, Vec<i16>)> = meta
        .topics
        .iter()
        .map(|t| (t.name.clone(), t.partitions.iter().map(|p| p.1).collect()))
        .collect();
    assert_eq!(
        codes,
        [
            ("broken".to_string(), vec![56]),
            ("held".to_string(), vec![5]),
            ("ready".to_string(), vec![0]),
        ]
    );
    cov.code_entry(METADATA, "a partition held in recovery", codes[1].1[0], 5);
    cov.code_entry(METADATA, "a log that cannot be opened", codes[0].1[0], 56);

    gate.open();
    assert_eq!(
        produce_when_served(&mut conn, "held", &record).await,
        0,
        "the held partition is served once its log is open"
    );
    let fetched = fetch_one(&mut conn, "held", 0, 0).await;
    assert_eq!(
        (fetched.status.code, fetched.high_watermark),
        (0, 2),
        "the record written before the restart is kept"
    );
    drop(conn);
    broker.stop().await.expect("the broker stops cleanly");
}

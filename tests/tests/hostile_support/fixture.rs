//! The [`Fixture`] every hostile case runs in, the "is the broker unharmed?"
//! check it ends with, and the watch for panics on broker threads.

use std::sync::{Mutex, Once};
use std::time::Duration;

use bytes::Bytes;
use rill_broker::embedded::EmbeddedBroker;
use rill_broker::{BrokerConfig, Limits, TopicSettings};
use rill_protocol::api::api_versions::ApiVersionsRequest;
use rill_protocol::header::ResponseHeader;
use rill_protocol::message::RequestBody;
use rill_protocol::{ErrorCode, RecordBatch};
use rill_tests::client::{split_batches, TestClient};
use tempfile::TempDir;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    connect, honest_batch, within, Hostile, OrFail, KEEP, MAX_FETCH_WAIT_MS, MAX_FRAME,
    MAX_PARTITIONS, SCRATCH, SEEDED_RECORDS,
};

/// The RSS test holds this exclusively so no other test's broker allocates in the
/// same process while it measures; every other test holds it shared.
static RSS_GATE: RwLock<()> = RwLock::const_new(());

/// Panics seen on broker threads (tokio workers and unnamed threads). Test bodies
/// run on threads named after the test, so their own assertion failures are not
/// counted.
static BROKER_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

fn watch_for_broker_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>");
            if name.starts_with("tokio-runtime-worker") || name == "<unnamed>" {
                if let Ok(mut seen) = BROKER_PANICS.lock() {
                    seen.push(format!("thread {name}: {info}"));
                }
            }
            previous(info);
        }));
    });
}

/// Fails if any broker thread of this process has panicked so far.
pub fn assert_no_broker_panics(case: &str) {
    let seen = BROKER_PANICS
        .lock()
        .map(|seen| seen.clone())
        .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
    assert!(
        seen.is_empty(),
        "{case}: the broker panicked (it must never panic on input): {seen:#?}"
    );
}

/// The partition-0 log of [`KEEP`] as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Fetch from offset 0: the records bytes.
    pub records: Bytes,
    /// Fetch's high watermark.
    pub high_watermark: i64,
    /// ListOffsets latest.
    pub latest: i64,
}

async fn snapshot(conn: &mut TestClient, what: &str) -> Snapshot {
    let fetched = conn.fetch(KEEP, 0, 0, 0, 1).await.or_fail(what);
    assert_eq!(
        fetched.error_code,
        ErrorCode::None,
        "{what}: fetch {KEEP}/0 from 0: {:?}",
        fetched.error_message
    );
    let latest = conn.latest(KEEP, 0, what).await;
    assert_eq!(
        latest.error_code,
        ErrorCode::None,
        "{what}: ListOffsets {KEEP}/0: {:?}",
        latest.error_message
    );
    Snapshot {
        records: fetched.records,
        high_watermark: fetched.high_watermark,
        latest: latest.offset,
    }
}

enum Gate {
    Shared(RwLockReadGuard<'static, ()>),
    Exclusive(RwLockWriteGuard<'static, ()>),
}

/// A broker with [`KEEP`] (2 partitions, 3 batches in partition 0) and [`SCRATCH`],
/// and a snapshot of `KEEP/0` taken before any attack.
pub struct Fixture {
    /// The broker, serving in this process on `root/data`.
    pub broker: EmbeddedBroker,
    /// `KEEP/0` before the attack.
    pub before: Snapshot,
    /// A well-behaved connection opened before the attack and kept open.
    pub honest: TestClient,
    /// The temporary directory that holds the data dir `data` and nothing else.
    pub root: TempDir,
    /// Declared last: released only after the broker is gone.
    _gate: Gate,
}

impl Fixture {
    /// A broker with room for 32 connections.
    pub async fn start() -> Fixture {
        Fixture::start_gated(32, Gate::Shared(RSS_GATE.read().await)).await
    }

    /// Like [`Fixture::start`], with another connection limit.
    pub async fn start_with_limit(max_connections: usize) -> Fixture {
        Fixture::start_gated(max_connections, Gate::Shared(RSS_GATE.read().await)).await
    }

    /// Like [`Fixture::start`], while no other test in this process runs a broker.
    pub async fn start_alone() -> Fixture {
        Fixture::start_gated(32, Gate::Exclusive(RSS_GATE.write().await)).await
    }

    async fn start_gated(max_connections: usize, gate: Gate) -> Fixture {
        watch_for_broker_panics();
        let root = tempfile::tempdir().expect("temporary directory for the broker");
        let data_dir = root.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("create the data dir");
        let config = BrokerConfig {
            shutdown_timeout_ms: 2_000,
            limits: Limits {
                max_connections,
                max_frame_bytes: MAX_FRAME,
                max_partitions_per_topic: MAX_PARTITIONS,
                max_fetch_wait_ms: MAX_FETCH_WAIT_MS,
                ..Limits::default()
            },
            log: TopicSettings {
                segment_bytes: 1 << 20,
                ..TopicSettings::default()
            },
            ..BrokerConfig::default()
        };
        let broker = EmbeddedBroker::builder()
            .config(config)
            .data_dir(&data_dir)
            .start()
            .await
            .expect("start the broker on 127.0.0.1:0");
        let mut honest = connect(&broker).await;
        for (name, partitions) in [(KEEP, 2), (SCRATCH, 1)] {
            let result = honest.create_topic(name, partitions).await.or_fail("setup");
            assert_eq!(
                result.error_code,
                ErrorCode::None,
                "setup: create {name}: {:?}",
                result.error_message
            );
        }
        let mut next = 0;
        for (i, count) in [1usize, 2, 3].into_iter().enumerate() {
            let batch = honest_batch(&format!("seed{i}"), count);
            let r = honest.produce_acked(KEEP, 0, &batch, "setup").await;
            assert_eq!(
                r.error_code,
                ErrorCode::None,
                "setup produce: {:?}",
                r.error_message
            );
            assert_eq!(r.base_offset, next, "setup: offsets are assigned in order");
            next += count as i64;
        }
        let before = snapshot(&mut honest, "setup snapshot").await;
        assert_eq!(before.latest, SEEDED_RECORDS, "setup: ListOffsets latest");
        assert_eq!(
            before.high_watermark, SEEDED_RECORDS,
            "setup: high watermark"
        );
        let batches = split_batches(&before.records).or_fail("setup: whole, valid batches");
        assert_eq!(
            batches.len(),
            3,
            "setup: fetch from 0 returns all three batches"
        );
        Fixture {
            broker,
            before,
            honest,
            root,
            _gate: gate,
        }
    }

    /// Opens a connection whose reads give up after [`IO_TIMEOUT`].
    pub async fn connect(&self) -> TestClient {
        connect(&self.broker).await
    }

    /// Opens a connection that answers ApiVersions. While the broker is at its
    /// connection limit it closes new connections at once; connections a test just
    /// dropped free their slots a moment later, so this retries for up to 3 s.
    pub async fn connect_usable(&self, what: &str) -> TestClient {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            let mut conn = self.connect().await;
            let request = RequestBody::ApiVersions(ApiVersionsRequest);
            let correlation_id = conn.queue(request).or_fail(what);
            if within(conn.flush()).await.is_ok() {
                if let Some(frame) = conn.recv_frame_or_close().await.or_fail(what) {
                    let (header, _) = ResponseHeader::decode(&frame)
                        .unwrap_or_else(|e| panic!("{what}: undecodable response header: {e}"));
                    assert_eq!(
                        header.correlation_id, correlation_id,
                        "{what}: correlation id"
                    );
                    return conn;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{what}: new connections are still closed at once after 3 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The checks every hostile case ends with: the broker still runs and has not
    /// panicked, `KEEP/0` reads back byte for byte as before, and an honest new
    /// connection can produce and fetch.
    pub async fn assert_unharmed(&mut self, case: &str) {
        let what = format!("after {case}");
        assert!(
            self.broker.is_serving(),
            "{what}: the broker's serve() has ended"
        );
        assert_no_broker_panics(&what);
        // The connection opened before the attack still works ...
        let still = snapshot(&mut self.honest, &what).await;
        assert_eq!(
            still, self.before,
            "{what}: the log of {KEEP}/0 changed (seen on the pre-attack connection)"
        );
        // ... and so does a new one.
        let mut fresh = self.connect_usable(&what).await;
        let now = snapshot(&mut fresh, &what).await;
        assert_eq!(
            now, self.before,
            "{what}: the log of {KEEP}/0 changed (seen on a new connection)"
        );
        let batch = honest_batch("health", 2);
        let produced = fresh.produce_acked(SCRATCH, 0, &batch, &what).await;
        assert_eq!(
            produced.error_code,
            ErrorCode::None,
            "{what}: honest produce failed: {:?}",
            produced.error_message
        );
        assert!(produced.base_offset >= 0, "{what}: honest produce offset");
        let fetched = fresh
            .fetch(SCRATCH, 0, produced.base_offset, 0, 1)
            .await
            .or_fail(&what);
        assert_eq!(
            fetched.error_code,
            ErrorCode::None,
            "{what}: honest fetch failed: {:?}",
            fetched.error_message
        );
        let (first, _) = RecordBatch::split_first(&fetched.records)
            .unwrap_or_else(|e| panic!("{what}: honest fetch returned no whole batch: {e}"));
        assert_eq!(
            first.base_offset(),
            produced.base_offset,
            "{what}: the fetched batch is the one just produced"
        );
        let stored = first.as_bytes();
        assert_eq!(stored.len(), batch.len(), "{what}: stored batch length");
        assert_eq!(
            (&stored[8..12], &stored[16..]),
            (&batch[8..12], &batch[16..]),
            "{what}: the stored batch holds the bytes produced (only base offset and epoch stamped)"
        );
    }

    /// Closes the connections, stops the broker and checks that `serve` returned
    /// `Ok` within 10 s and nothing panicked.
    pub async fn finish(self) {
        let Fixture {
            mut broker,
            honest,
            root,
            _gate,
            ..
        } = self;
        assert!(
            broker.is_serving(),
            "the broker's serve() ended before it was asked to"
        );
        drop(honest);
        tokio::time::timeout(Duration::from_secs(10), broker.stop())
            .await
            .expect("serve() returns within 10 s of shutdown")
            .expect("serve() returns Ok after a graceful shutdown, without panicking");
        assert_no_broker_panics("shutdown");
        drop((root, _gate));
    }
}

//! Long-poll fetch: a fetch at the end of the log waits for data, wakes as soon as
//! a produce from another connection lands, and otherwise returns empty when its
//! `max_wait_ms` is up.

use std::time::{Duration, Instant};

use rill_broker::embedded::EmbeddedBroker;
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo, RecordBatch};
use rill_tests::client::{split_batches, TestClient};
use rill_tests::STOP_TIMEOUT;

const TOPIC: &str = "long-poll";

/// A one-record batch.
fn one_record(key: &str, value: &str) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    b.push(
        1_700_000_000_000,
        Some(key.as_bytes()),
        Some(value.as_bytes()),
        &[],
    );
    b.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_wakes_when_a_produce_lands() {
    let mut broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start broker");
    let mut admin = TestClient::connect(broker.addr()).await.expect("connect");
    let created = admin.create_topic(TOPIC, 2).await.expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
    let first = one_record("k0", "before the wait");
    let r = admin.produce(TOPIC, 0, &first, 1).await.expect("produce");
    assert_eq!(
        r.map(|r| (r.error_code, r.base_offset)),
        Some((ErrorCode::None, 0))
    );

    // The consumer waits at the log end (offset 1) for up to 5 s.
    let mut consumer = TestClient::connect(broker.addr())
        .await
        .expect("connect consumer");
    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        let r = consumer.fetch(TOPIC, 0, 1, 5_000, 1).await;
        (r, Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the fetch returned before any data arrived"
    );

    let second = one_record("k1", "the awaited record");
    let r = admin.produce(TOPIC, 0, &second, 1).await.expect("produce");
    let landed = Instant::now();
    assert_eq!(
        r.map(|r| (r.error_code, r.base_offset)),
        Some((ErrorCode::None, 1))
    );

    let (fetched, returned) = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the fetch returns within its max wait")
        .expect("fetch task");
    let fetched = fetched.expect("fetch response");
    let woke_after = returned.saturating_duration_since(landed);
    assert!(
        woke_after < Duration::from_secs(1),
        "the fetch returned {woke_after:?} after the produce was acknowledged \
         ({:?} after it started)",
        returned - started
    );
    assert_eq!(fetched.error_code, ErrorCode::None, "{fetched:?}");
    assert_eq!(fetched.high_watermark, 2);
    let batches = split_batches(&fetched.records).expect("valid batches");
    assert_eq!(batches.len(), 1, "{fetched:?}");
    let batch = RecordBatch::new(batches[0]).expect("batch");
    assert_eq!(batch.base_offset(), 1);
    assert_eq!(
        batches[0][8..],
        second[8..],
        "the fetched batch is the produced one"
    );
    let record = batch
        .records()
        .next()
        .expect("one record")
        .expect("record decodes");
    assert_eq!(record.offset, 1);
    assert_eq!(record.value, Some(&b"the awaited record"[..]));

    broker.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_with_nothing_arriving_returns_empty_after_max_wait() {
    let mut broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start broker");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    let created = client.create_topic(TOPIC, 1).await.expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");

    // On an empty partition ...
    let started = Instant::now();
    let r = client.fetch(TOPIC, 0, 0, 300, 1).await.expect("fetch");
    let waited = started.elapsed();
    assert_eq!(r.error_code, ErrorCode::None, "{r:?}");
    assert!(r.records.is_empty(), "{r:?}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "empty fetch with max_wait 300 ms took {waited:?}"
    );

    // ... and at the end of a non-empty one.
    let b = one_record("k", "v");
    let p = client.produce(TOPIC, 0, &b, 1).await.expect("produce");
    assert_eq!(p.map(|p| p.base_offset), Some(0));
    let started = Instant::now();
    let r = client.fetch(TOPIC, 0, 1, 300, 1).await.expect("fetch");
    let waited = started.elapsed();
    assert_eq!(r.error_code, ErrorCode::None, "{r:?}");
    assert_eq!(r.high_watermark, 1);
    assert!(r.records.is_empty(), "{r:?}");
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
        "empty fetch with max_wait 300 ms took {waited:?}"
    );

    // Data that is already there is returned at once, whatever the max wait.
    let started = Instant::now();
    let r = client.fetch(TOPIC, 0, 0, 5_000, 1).await.expect("fetch");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        split_batches(&r.records).expect("batches").len(),
        1,
        "{r:?}"
    );

    broker.stop().await.expect("clean stop");
}

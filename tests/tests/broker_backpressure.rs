//! Backpressure: a client that pipelines fetches and never reads the answers must
//! not make the broker buffer without bound. Past `max_in_flight_bytes` of queued
//! responses the broker stops reading that connection; the client's writes then
//! block, the broker's memory stays flat, and other clients are served as usual.

use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_broker::BrokerConfig;
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo};
use rill_tests::client::{fetch_request, TestClient};
use rill_tests::process::rss_bytes;
use rill_tests::STOP_TIMEOUT;

const FETCHES: usize = 200_000;
/// Allowed growth of the broker's memory: far above the 1 MiB in-flight limit plus
/// socket buffers, far below what buffering the responses would take.
const LIMIT: u64 = 64 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_paused_not_buffered() {
    let mut config = BrokerConfig::default();
    config.limits.max_in_flight_bytes = 1 << 20;
    let broker = EmbeddedBroker::builder()
        .config(config)
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut honest = TestClient::connect(broker.addr()).await.expect("connect");
    let created = honest.create_topic("big", 1).await.expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
    // One 256 KiB batch: every fetch from offset 0 answers with all of it.
    let mut builder = BatchBuilder::new(ProducerInfo::NONE);
    let value = vec![b'x'; 1024];
    for i in 0..256i64 {
        builder.push(1_700_000_000_000 + i, None, Some(&value), &[]);
    }
    let batch = builder.finish();
    let produced = honest
        .produce("big", 0, &batch, 1)
        .await
        .expect("produce")
        .expect("answer");
    assert_eq!(produced.error_code, ErrorCode::None, "{produced:?}");

    let before = rss_bytes().expect("VmRSS");
    let mut greedy = TestClient::connect(broker.addr()).await.expect("connect");
    // Each fetch answers with 256 KiB: a broker that buffered them all would need
    // 50 GiB. The requests (~70 bytes each, 14 MB in all) overflow the kernel's
    // socket buffers, so once the broker stops reading, a write blocks.
    let mut sent = 0usize;
    for _ in 0..FETCHES {
        if sent.is_multiple_of(1000) {
            let grown = rss_bytes().expect("VmRSS").saturating_sub(before);
            assert!(
                grown < LIMIT,
                "broker memory grew by {} MiB after {sent} unread fetches",
                grown >> 20
            );
        }
        greedy
            .queue(fetch_request("big", 0, 0, 0, 1))
            .expect("queue");
        match tokio::time::timeout(Duration::from_millis(500), greedy.flush()).await {
            Ok(result) => result.expect("write"),
            Err(_) => break, // The broker stopped reading: backpressure.
        }
        sent += 1;
    }
    let grown = rss_bytes().expect("VmRSS").saturating_sub(before);
    assert!(
        sent < FETCHES,
        "the broker read all {FETCHES} pipelined fetches of a client that never reads"
    );
    assert!(
        grown < LIMIT,
        "broker memory grew by {} MiB with {sent} unread fetches queued",
        grown >> 20
    );
    // Others are still served while the greedy client sits there.
    let fetched = honest.fetch("big", 0, 0, 0, 1).await.expect("fetch");
    assert_eq!(fetched.records.len(), batch.len());
    eprintln!(
        "writes blocked after {sent} fetches; memory grew {} MiB",
        grown >> 20
    );
}

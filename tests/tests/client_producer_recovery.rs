//! An idempotent producer that gives up on a batch while the broker is out of reach
//! must not leave its partition broken: later sends succeed, and nothing that was
//! acknowledged is lost or stored twice.
//!
//! A fault proxy sits between the producer and the broker and is switched to
//! refuse connections, swallow requests (the producer cannot tell whether they
//! were written; they were not), or forward requests but cut the answers (they
//! were written). Each test gives up on a batch in one of these states, restores
//! the proxy, and checks what the partition holds.

mod common;

use std::time::Duration;

use common::start_broker_behind_proxy;
use rill_broker::embedded::EmbeddedBroker;
use rill_client::{Admin, Connection, Error, Producer, ProducerConfig, RecordMetadata};
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::RecordBatch;
use rill_tests::proxy::FaultProxy;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards both ways.
    Forward,
    /// Listens on nothing: connecting is refused.
    Refuse,
    /// Accepts, reads the request and closes the connection: never written.
    Swallow,
    /// Forwards requests, but closes the connection instead of answering: written,
    /// and the producer never learns it.
    CutAnswers,
}

/// Cuts every connection through `proxy` and switches it to `mode`. Returns once
/// the cut connections are closed and the clients have had time to see it.
async fn switch(proxy: &mut FaultProxy, mode: Mode) {
    // Closing the port cuts every open connection.
    proxy.refuse(true).await.expect("close the proxy's port");
    proxy.cut_every_request(mode == Mode::Swallow);
    proxy.cut_every_answer(mode == Mode::CutAnswers);
    if mode != Mode::Refuse {
        proxy
            .refuse(false)
            .await
            .expect("listen on the proxy's port again");
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
}

const TOPIC: &str = "recovering";

/// A broker with one single-partition topic, a proxy in front of it and an
/// idempotent producer that gives up quickly, through the proxy.
async fn setup() -> (EmbeddedBroker, FaultProxy, Producer) {
    let (broker, proxy) = start_broker_behind_proxy().await;
    Admin::connect(broker.addr())
        .await
        .expect("admin")
        .create_topic(TOPIC, 1, &[])
        .await
        .expect("create topic");
    let config = ProducerConfig::new()
        .retries(2)
        .retry_backoff(Duration::from_millis(20))
        .request_timeout(Duration::from_secs(5))
        .linger(Duration::ZERO);
    let producer = Producer::connect(proxy.addr(), config)
        .await
        .expect("producer");
    assert!(producer.is_idempotent());
    (broker, proxy, producer)
}

async fn send(producer: &Producer, value: &str) -> Result<RecordMetadata, Error> {
    producer
        .send(TOPIC, None, Some(value.as_bytes()), &[])
        .await
}

/// A stored record with the producer identity of its batch.
#[derive(Debug)]
struct Stored {
    offset: i64,
    value: String,
    producer_id: i64,
    sequence: i32,
}

/// Every record of the test partition (a handful: one fetch holds them all).
async fn stored(broker: &EmbeddedBroker) -> Vec<Stored> {
    let conn = Connection::connect(broker.addr()).await.expect("connect");
    let response = conn
        .call(FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                name: TOPIC.to_string(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                }],
            }],
        })
        .await
        .expect("fetch");
    let p = &response.topics[0].partitions[0];
    assert!(p.error_code.is_ok(), "fetch error {:?}", p.error_message);
    let mut out = Vec::new();
    let mut bytes = &p.records[..];
    while !bytes.is_empty() {
        let (batch, rest) = RecordBatch::split_first(bytes).expect("whole batch");
        let producer = batch.header().producer;
        for (i, r) in batch.records().enumerate() {
            let r = r.expect("record");
            out.push(Stored {
                offset: r.offset,
                value: String::from_utf8_lossy(r.value.unwrap_or_default()).into_owned(),
                producer_id: producer.producer_id,
                sequence: producer.base_sequence + i as i32,
            });
        }
        bytes = rest;
    }
    assert_eq!(out.len() as i64, p.high_watermark, "one fetch read it all");
    out
}

/// Gives up on records `lost` while the proxy is in `mode` (each round enqueued
/// at once, and given up before the next), then sends more through a working
/// proxy and returns what the partition holds. Checks that every acknowledged
/// record is stored once, at the offset it was acknowledged with, and that each
/// producer id's sequence numbers run from 0 without a gap.
async fn give_up_then_recover(mode: Mode, lost: &[&[&str]]) -> Vec<Stored> {
    let (broker, mut proxy, producer) = setup().await;
    let mut acknowledged = vec![("before", send(&producer, "before").await.expect("before"))];
    switch(&mut proxy, mode).await;
    for round in lost {
        let mut pending = Vec::new();
        for value in *round {
            let delivery = producer
                .enqueue(TOPIC, None, Some(value.as_bytes()), &[])
                .await
                .expect("enqueue");
            pending.push(delivery);
        }
        for delivery in pending {
            let err = tokio::time::timeout(Duration::from_secs(20), delivery)
                .await
                .expect("given up in time")
                .expect_err("the broker is out of reach");
            assert!(err.is_retriable(), "gave up after retries: {err}");
        }
    }
    switch(&mut proxy, Mode::Forward).await;
    for value in AFTER {
        let meta = send(&producer, value)
            .await
            .unwrap_or_else(|e| panic!("{value} after the proxy is back: {e}"));
        acknowledged.push((value, meta));
    }
    producer.close().await.expect("close");

    let stored = stored(&broker).await;
    for (value, meta) in &acknowledged {
        let at: Vec<i64> = stored
            .iter()
            .filter(|r| r.value == *value)
            .map(|r| r.offset)
            .collect();
        assert_eq!(
            at,
            [meta.offset],
            "{value} is stored once, where acknowledged"
        );
    }
    let mut next: Vec<(i64, i32)> = Vec::new();
    for r in &stored {
        match next.iter_mut().find(|(id, _)| *id == r.producer_id) {
            Some((_, sequence)) => {
                assert_eq!(r.sequence, *sequence, "{r:?} follows its id's last");
                *sequence += 1;
            }
            None => {
                assert_eq!(r.sequence, 0, "{r:?} is its id's first");
                next.push((r.producer_id, 1));
            }
        }
    }
    stored
}

/// What is sent once the proxy forwards again.
const AFTER: [&str; 6] = [
    "after-1", "after-2", "after-3", "after-4", "after-5", "after-6",
];

/// The values stored, in offset order.
fn values(stored: &[Stored]) -> Vec<&str> {
    stored.iter().map(|r| r.value.as_str()).collect()
}

/// The producer ids of the first and the last record stored.
fn first_and_last_producer_id(stored: &[Stored]) -> (i64, i64) {
    let id = |r: Option<&Stored>| r.map(|r| r.producer_id).expect("records");
    (id(stored.first()), id(stored.last()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_given_up_while_connections_are_refused_leaves_no_gap() {
    // The batch never went out, so it took no sequence number: the producer goes
    // on under the same id.
    let stored = give_up_then_recover(Mode::Refuse, &[&["lost-1"], &["lost-2"]]).await;
    let mut expected = vec!["before"];
    expected.extend(AFTER);
    assert_eq!(values(&stored), expected);
    let (before, after) = first_and_last_producer_id(&stored);
    assert_eq!(before, after, "no new producer id was needed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_given_up_unwritten_after_leaving_do_not_block_the_partition() {
    // The requests went out, so the producer cannot know they were not written:
    // it takes a new producer id and starts the partition's sequence again. The
    // second round waits for that id, which cannot be had yet, and is given up.
    let lost: &[&[&str]] = &[&["lost-1", "lost-2", "lost-3"], &["lost-4"]];
    let stored = give_up_then_recover(Mode::Swallow, lost).await;
    let mut expected = vec!["before"];
    expected.extend(AFTER);
    assert_eq!(values(&stored), expected);
    let (before, after) = first_and_last_producer_id(&stored);
    assert_ne!(before, after, "the partition started over under a new id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_given_up_after_being_written_is_stored_once() {
    // Written under the old id but reported as failed (the producer cannot know);
    // what follows goes out under a new id and is not refused.
    let stored = give_up_then_recover(Mode::CutAnswers, &[&["unconfirmed"]]).await;
    let mut expected = vec!["before", "unconfirmed"];
    expected.extend(AFTER);
    assert_eq!(values(&stored), expected);
    let (before, after) = first_and_last_producer_id(&stored);
    assert_ne!(before, after, "the partition started over under a new id");
}

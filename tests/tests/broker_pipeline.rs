//! Pipelining: 1,000 requests of four kinds written back to back on one connection
//! before a single response is read. The answers must come back in request order
//! with matching correlation ids, and the produces must be applied in that order.
//! On a one-broker cluster, whose partitions commit through Raft, pipelined
//! idempotent produces and their retries land once each, in request order.

mod common;

use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::api::list_offsets::LATEST_TIMESTAMP;
use rill_protocol::api::metadata::MetadataRequest;
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo, RecordBatch};
use rill_tests::client::{
    list_offsets_request, only_partition, produce_request, split_batches, TestClient,
};
use rill_tests::STOP_TIMEOUT;

const TOPIC: &str = "pipeline";
const REQUESTS: usize = 1_000;

/// The one-record batch the `n`th produce sends.
fn numbered(n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    let value = format!("record {n}");
    b.push(
        1_700_000_000_000 + n as i64,
        None,
        Some(value.as_bytes()),
        &[],
    );
    b.finish()
}

/// A Fetch of partition 0 from offset 0 with 1-byte caps: the broker must still
/// return the first batch whole.
fn fetch_first() -> RequestBody {
    RequestBody::Fetch(FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1,
        topics: vec![FetchTopic {
            name: TOPIC.to_string(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1,
            }],
        }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pipelined_requests_are_answered_in_order() {
    let mut broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start broker");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    let created = client.create_topic(TOPIC, 2).await.expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");

    // Request i is Metadata, Produce (acks 1), Fetch or ListOffsets by i % 4; the
    // first request is a Metadata, so every Fetch follows at least one Produce.
    let mut sent = Vec::with_capacity(REQUESTS);
    let mut produced = 0;
    for i in 0..REQUESTS {
        let body = match i % 4 {
            0 => RequestBody::Metadata(MetadataRequest {
                topics: vec![TOPIC.to_string()],
            }),
            1 => {
                produced += 1;
                produce_request(TOPIC, 0, &numbered(produced - 1), 1)
            }
            2 => fetch_first(),
            _ => list_offsets_request(TOPIC, 0, LATEST_TIMESTAMP),
        };
        let api = body.api_key();
        let id = client.queue(body).expect("encode request");
        sent.push((api, id));
    }
    client.flush().await.expect("write all requests");

    let first = numbered(0);
    let mut next_offset: i64 = 0;
    let read_all = async {
        for (i, (api, id)) in sent.iter().enumerate() {
            let response = client
                .recv(*api, *id)
                .await
                .unwrap_or_else(|e| panic!("response {i} (request {id}, {api:?}): {e}"));
            assert_eq!(
                response.header.error_code,
                ErrorCode::None,
                "{i}: {response:?}"
            );
            match response.body.expect("a body") {
                ResponseBody::Metadata(m) => {
                    assert_eq!(m.topics.len(), 1, "{i}: {m:?}");
                    assert_eq!(m.topics[0].partitions.len(), 2, "{i}: {m:?}");
                }
                ResponseBody::Produce(p) => {
                    let p = only_partition(p.topics, TOPIC, 0).expect("one partition");
                    assert_eq!(p.error_code, ErrorCode::None, "{i}: {p:?}");
                    // Strictly increasing, and with one record per batch and one
                    // producer, exactly the previous one plus one.
                    assert_eq!(p.base_offset, next_offset, "produce offset at {i}");
                    next_offset += 1;
                }
                ResponseBody::Fetch(f) => {
                    let f = only_partition(f.topics, TOPIC, 0).expect("one partition");
                    assert_eq!(f.error_code, ErrorCode::None, "{i}: {f:?}");
                    let batches = split_batches(&f.records).expect("valid batches");
                    let batch = batches.first().expect("the first batch, over the caps");
                    assert_eq!(batch[..8], 0i64.to_be_bytes(), "{i}");
                    assert_eq!(batch[8..], first[8..], "{i}: not the first batch");
                    assert!(f.high_watermark >= 1, "{i}: {f:?}");
                }
                ResponseBody::ListOffsets(l) => {
                    let l = only_partition(l.topics, TOPIC, 0).expect("one partition");
                    assert_eq!(l.error_code, ErrorCode::None, "{i}: {l:?}");
                    // Every produce before this request on the connection is in.
                    assert_eq!(l.offset, next_offset, "{i}: latest offset {l:?}");
                }
                other => panic!("{i}: unexpected {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("all 1000 responses within 20 s");
    assert_eq!(next_offset, produced as i64);

    // The log holds the produced batches in request order.
    let mut offset = 0;
    while offset < next_offset {
        let r = client.fetch(TOPIC, 0, offset, 0, 0).await.expect("fetch");
        let batches = split_batches(&r.records).expect("valid batches");
        assert!(!batches.is_empty(), "fetch at {offset}: {r:?}");
        for b in batches {
            let n = usize::try_from(offset).expect("offset");
            assert_eq!(b[..8], offset.to_be_bytes(), "base offset");
            assert_eq!(b[8..], numbered(n)[8..], "batch {n}");
            offset = RecordBatch::new(b).expect("batch").next_offset();
        }
    }
    broker.stop().await.expect("clean stop");
}

/// A one-broker cluster: its topics are Raft-replicated partitions (one
/// replica), whose produces answer once committed.
async fn one_broker_cluster() -> EmbeddedBroker {
    EmbeddedBroker::builder()
        .config(common::one_broker_cluster_config())
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start the clustered broker")
}

/// Panics once `deadline` has passed, naming what was still wrong; else sleeps 50 ms.
async fn retry_until(deadline: tokio::time::Instant, still: impl std::fmt::Debug) {
    assert!(
        tokio::time::Instant::now() < deadline,
        "still {still:?} after 10 s"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// One record of an idempotent producer, sequence `n`.
fn stamped(id: i64, epoch: i16, n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo {
        producer_id: id,
        producer_epoch: epoch,
        base_sequence: i32::try_from(n).expect("sequence"),
    });
    let value = format!("record {n}");
    b.push(1_700_000_000_000, None, Some(value.as_bytes()), &[]);
    b.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_produces_to_a_replicated_partition_land_once_in_order() {
    use rill_protocol::api::init_producer_id::InitProducerIdRequest;
    const PRODUCES: usize = 300;
    let mut broker = one_broker_cluster().await;
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match client.create_topic(TOPIC, 1).await {
            Ok(t) if t.error_code == ErrorCode::None => break,
            other => retry_until(deadline, other).await,
        }
    }
    let ResponseBody::InitProducerId(init) = client
        .call(RequestBody::InitProducerId(InitProducerIdRequest {
            transactional_id: None,
            timeout_ms: 1000,
        }))
        .await
        .expect("init")
    else {
        panic!("not an InitProducerId answer");
    };
    assert_eq!(init.error_code, ErrorCode::None, "{init:?}");
    let (id, epoch) = (init.producer_id, init.producer_epoch);
    // Sequence 0 once the partition's leader serves.
    let first = loop {
        match client.produce(TOPIC, 0, &stamped(id, epoch, 0), -1).await {
            Ok(Some(p)) if p.error_code == ErrorCode::None => break p.base_offset,
            other => retry_until(deadline, other).await,
        }
    };

    // Sequences 1..PRODUCES back to back, each sent twice in a row (the copy a
    // retry), with a ListOffsets after every tenth: every copy is answered with
    // its original's offset, offsets rise in request order, and a ListOffsets
    // sees every produce sent before it.
    let mut sent = Vec::new();
    for n in 1..PRODUCES {
        for _ in 0..2 {
            // Odd sequences with acks=1 (answered from the leader's log),
            // even ones with acks=all.
            let acks = if n % 2 == 1 { 1 } else { -1 };
            let body = produce_request(TOPIC, 0, &stamped(id, epoch, n), acks);
            sent.push((n, client.queue(body).expect("encode")));
        }
        if n % 10 == 0 {
            let body = list_offsets_request(TOPIC, 0, LATEST_TIMESTAMP);
            sent.push((0, client.queue(body).expect("encode")));
        }
    }
    client.flush().await.expect("write all requests");
    let mut offsets = vec![first];
    let read_all = async {
        for (n, correlation_id) in &sent {
            let api = if *n == 0 {
                rill_protocol::api::ApiKey::ListOffsets
            } else {
                rill_protocol::api::ApiKey::Produce
            };
            let response = client.recv(api, *correlation_id).await.expect("answer");
            match response.body.expect("a body") {
                ResponseBody::Produce(p) => {
                    let p = only_partition(p.topics, TOPIC, 0).expect("one partition");
                    assert_eq!(p.error_code, ErrorCode::None, "sequence {n}: {p:?}");
                    if offsets.len() == *n {
                        let last = offsets.last().copied().expect("one");
                        assert!(p.base_offset > last, "sequence {n} at {p:?}, after {last}");
                        offsets.push(p.base_offset);
                    } else {
                        assert_eq!(p.base_offset, offsets[*n], "the retry of sequence {n}");
                    }
                }
                ResponseBody::ListOffsets(l) => {
                    let l = only_partition(l.topics, TOPIC, 0).expect("one partition");
                    let last = offsets.last().copied().expect("one");
                    assert!(l.offset > last, "latest offset {l:?} below {last}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .expect("every answer within 30 s");
    assert_eq!(offsets.len(), PRODUCES);

    // The log holds each sequence once, in order (Raft's control batches
    // skipped).
    let mut values = Vec::new();
    let mut offset = 0;
    let end = offsets.last().copied().expect("one") + 1;
    while offset < end {
        let r = client.fetch(TOPIC, 0, offset, 0, 0).await.expect("fetch");
        let batches = split_batches(&r.records).expect("valid batches");
        assert!(!batches.is_empty(), "fetch at {offset}: {r:?}");
        for b in batches {
            let batch = RecordBatch::new(b).expect("batch");
            offset = batch.next_offset();
            if batch.header().is_control() {
                continue;
            }
            let section = batch.records_section(usize::MAX).expect("records");
            for record in batch.records_in(&section) {
                let record = record.expect("record");
                values.push(String::from_utf8_lossy(record.value.unwrap_or_default()).into_owned());
            }
        }
    }
    let expected: Vec<String> = (0..PRODUCES).map(|n| format!("record {n}")).collect();
    assert_eq!(values, expected);
    broker.stop().await.expect("clean stop");
}

//! The broker end to end, over a real socket on 127.0.0.1: create a topic, produce
//! with every acks setting, fetch the exact bytes back, look offsets up by position
//! and by time, read metadata, delete a topic, refuse bad requests as a whole, and
//! find everything (and the deletion) again after a clean restart.

use std::time::{SystemTime, UNIX_EPOCH};

use rill_broker::embedded::EmbeddedBroker;
use rill_broker::{BrokerConfig, FsyncSetting};
use rill_protocol::api::list_offsets::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use rill_protocol::api::metadata::{MetadataBroker, MetadataResponse};
use rill_protocol::api::ApiKey;
use rill_protocol::header::{RequestHeader, ResponseHeader};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo};
use rill_tests::client::{split_batches, TestClient};
use rill_tests::STOP_TIMEOUT;

const TOPIC: &str = "e2e.orders";
const DOOMED: &str = "e2e-doomed";
const NODE_ID: i32 = 7;

/// A batch with one record per timestamp; keys and values name `tag`.
fn batch(tag: &str, timestamps: &[i64]) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    for (i, ts) in timestamps.iter().enumerate() {
        let key = format!("{tag}-{i}");
        let value = format!("{tag}:{i}:{ts}:{}", "x".repeat(20 * i));
        b.push(*ts, Some(key.as_bytes()), Some(value.as_bytes()), &[]);
    }
    b.finish()
}

/// Reads `partition` from offset 0 to its high watermark and checks that it holds
/// exactly `expected` (base offset, batch as produced), byte for byte after the
/// base offset.
async fn assert_log(client: &mut TestClient, partition: i32, expected: &[(i64, Vec<u8>)]) {
    let end = expected.last().map_or(0, |(base, bytes)| {
        let count = rill_protocol::RecordBatch::new(bytes).expect("own batch");
        base + i64::from(count.record_count())
    });
    let mut fetched: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut offset = 0;
    loop {
        let r = client
            .fetch(TOPIC, partition, offset, 0, 0)
            .await
            .expect("fetch");
        assert_eq!(
            r.error_code,
            ErrorCode::None,
            "fetch {partition}@{offset}: {r:?}"
        );
        assert_eq!(
            r.high_watermark, end,
            "high watermark of partition {partition}"
        );
        assert_eq!(r.log_start_offset, 0, "log start of partition {partition}");
        let batches = split_batches(&r.records).expect("whole, valid batches");
        if offset == end {
            assert!(batches.is_empty(), "fetch at the end returned data: {r:?}");
            break;
        }
        assert!(
            !batches.is_empty(),
            "fetch {partition}@{offset} below {end} was empty"
        );
        for b in batches {
            let b = rill_protocol::RecordBatch::new(b).expect("batch");
            offset = b.next_offset();
            fetched.push((b.base_offset(), b.as_bytes().to_vec()));
        }
    }
    assert_eq!(
        fetched.len(),
        expected.len(),
        "batches in partition {partition}"
    );
    for ((got_base, got), (base, sent)) in fetched.iter().zip(expected) {
        assert_eq!(got_base, base, "base offset in partition {partition}");
        assert_eq!(got[..8], base.to_be_bytes(), "stamped base offset");
        let diff = (8..got.len().min(sent.len())).find(|&i| got[i] != sent[i]);
        assert!(
            got.len() == sent.len() && diff.is_none(),
            "batch at {base} differs from what was produced: {} vs {} bytes, first \
             difference at byte {diff:?}",
            got.len(),
            sent.len()
        );
    }
}

/// Checks one ListOffsets answer.
async fn assert_offset(client: &mut TestClient, query: i64, offset: i64, timestamp: i64) {
    let r = client
        .list_offsets(TOPIC, 0, query)
        .await
        .expect("list offsets");
    assert_eq!(r.error_code, ErrorCode::None, "list offsets {query}: {r:?}");
    assert_eq!(
        (r.offset, r.timestamp),
        (offset, timestamp),
        "ListOffsets for {query}"
    );
}

/// Checks that Metadata names this broker and `TOPIC` with its 3 partitions.
fn assert_metadata(m: &MetadataResponse, port: u16) {
    assert_eq!(
        m.brokers,
        vec![MetadataBroker {
            node_id: NODE_ID,
            host: "127.0.0.1".to_string(),
            port: i32::from(port),
        }]
    );
    let topic = m
        .topics
        .iter()
        .find(|t| t.name == TOPIC)
        .expect("the topic is listed");
    assert_eq!(topic.error_code, ErrorCode::None, "{topic:?}");
    let partitions: Vec<(i32, ErrorCode, i32)> = topic
        .partitions
        .iter()
        .map(|p| (p.partition, p.error_code, p.leader_id))
        .collect();
    let none = ErrorCode::None;
    assert_eq!(
        partitions,
        vec![(0, none, NODE_ID), (1, none, NODE_ID), (2, none, NODE_ID)]
    );
}

/// Checks that `DOOMED` is gone for Metadata and Fetch.
async fn assert_deleted(client: &mut TestClient) {
    let m = client.metadata(&[DOOMED]).await.expect("metadata");
    assert_eq!(m.topics.len(), 1, "{m:?}");
    assert_eq!(m.topics[0].name, DOOMED);
    assert_eq!(m.topics[0].error_code, ErrorCode::UnknownTopicOrPartition);
    let all = client.metadata(&[]).await.expect("metadata");
    assert!(all.topics.iter().all(|t| t.name != DOOMED), "{all:?}");
    let f = client.fetch(DOOMED, 0, 0, 0, 0).await.expect("fetch");
    assert_eq!(f.error_code, ErrorCode::UnknownTopicOrPartition, "{f:?}");
}

/// Sends a hand-made request header (plus `body`) and checks the broker refuses
/// the whole request with `code` and an empty body, keeping the connection.
async fn assert_refused(
    client: &mut TestClient,
    api_key: i16,
    version: i16,
    body: &[u8],
    code: ErrorCode,
) {
    let correlation_id = 1_000_000 + i32::from(api_key);
    let mut frame = bytes::BytesMut::new();
    RequestHeader {
        api_key,
        api_version: version,
        correlation_id,
        client_id: None,
    }
    .encode(&mut frame);
    frame.extend_from_slice(body);
    client.send_frame(&frame).await.expect("send frame");
    let answer = client.recv_frame().await.expect("an error response");
    let (header, rest) = ResponseHeader::decode(&answer).expect("response header");
    assert_eq!(header.correlation_id, correlation_id);
    assert_eq!(
        header.error_code, code,
        "api {api_key} v{version}: {header:?}"
    );
    assert!(header.error_message.is_some(), "a refusal says why");
    assert!(rest.is_empty(), "a refused request has no body: {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_records_and_offsets_survive_a_restart() {
    let mut config = BrokerConfig {
        node_id: NODE_ID,
        ..BrokerConfig::default()
    };
    config.log.fsync = FsyncSetting::parse("always").expect("fsync setting");
    let mut broker = EmbeddedBroker::builder()
        .config(config)
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start broker");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");

    let created = client.create_topic(TOPIC, 3).await.expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
    let again = client.create_topic(TOPIC, 3).await.expect("create again");
    assert_eq!(again.error_code, ErrorCode::TopicAlreadyExists, "{again:?}");

    // Distinct, known timestamps a minute in the past (inside any retention).
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    let t = i64::try_from(now).expect("ms fit i64") - 60_000;
    let a = batch("a", &[t, t + 1, t + 2]); // offsets 0..=2
    let b1 = batch("b1", &[t + 100, t + 101]); // 3..=4
    let b2 = batch("b2", &[t + 150]); // 5
    let c = batch("c", &[t + 200]); // 6
    let d = batch("d", &[t + 300, t + 301]); // partition 1: 0..=1

    let r = client.produce(TOPIC, 0, &a, 1).await.expect("produce a");
    let r = r.expect("acks 1 answers");
    assert_eq!((r.error_code, r.base_offset), (ErrorCode::None, 0), "{r:?}");
    // Two batches back to back in one partition's records are refused: a
    // partition carries exactly one batch, so its write is all or nothing.
    let both = [b1.as_slice(), b2.as_slice()].concat();
    let r = client
        .produce(TOPIC, 0, &both, -1)
        .await
        .expect("produce b1+b2");
    let r = r.expect("acks -1 answers");
    assert_eq!(
        (r.error_code, r.base_offset),
        (ErrorCode::CorruptMessage, -1),
        "{r:?}"
    );
    // Acks -1 (fsync always), one batch each.
    let r = client.produce(TOPIC, 0, &b1, -1).await.expect("produce b1");
    let r = r.expect("acks -1 answers");
    assert_eq!((r.error_code, r.base_offset), (ErrorCode::None, 3), "{r:?}");
    let r = client.produce(TOPIC, 0, &b2, -1).await.expect("produce b2");
    let r = r.expect("acks -1 answers");
    assert_eq!((r.error_code, r.base_offset), (ErrorCode::None, 5), "{r:?}");
    let r = client.produce(TOPIC, 0, &c, 1).await.expect("produce c");
    let r = r.expect("acks 1 answers");
    assert_eq!((r.error_code, r.base_offset), (ErrorCode::None, 6), "{r:?}");
    let r = client.produce(TOPIC, 1, &d, 0).await.expect("produce d");
    assert!(r.is_none());
    // Had acks 0 been answered, this would read that answer and fail on the
    // correlation id.
    let m = client
        .metadata(&[TOPIC])
        .await
        .expect("metadata after acks 0");
    assert_metadata(&m, broker.addr().port());
    let all = client.metadata(&[]).await.expect("all topics");
    assert_metadata(&all, broker.addr().port());

    let p0 = vec![
        (0, a.clone()),
        (3, b1.clone()),
        (5, b2.clone()),
        (6, c.clone()),
    ];
    let p1 = vec![(0, d.clone())];
    assert_log(&mut client, 0, &p0).await;
    assert_log(&mut client, 1, &p1).await;
    assert_log(&mut client, 2, &[]).await;

    // A fetch inside a batch starts with that batch; past the end is out of range.
    let mid = client.fetch(TOPIC, 0, 4, 0, 0).await.expect("fetch 4");
    let first = split_batches(&mid.records).expect("batches");
    assert_eq!(first.first().map(|b| &b[8..]), Some(&b1[8..]), "{mid:?}");
    let past = client.fetch(TOPIC, 0, 100, 0, 0).await.expect("fetch 100");
    assert_eq!(past.error_code, ErrorCode::OffsetOutOfRange, "{past:?}");

    let offsets = [
        (EARLIEST_TIMESTAMP, 0, -1),
        (LATEST_TIMESTAMP, 7, -1),
        (t - 5_000, 0, t),
        (t + 1, 1, t + 1),
        (t + 50, 3, t + 100),
        (t + 101, 4, t + 101),
        (t + 150, 5, t + 150),
        (t + 151, 6, t + 200),
        (t + 201, -1, -1),
    ];
    for (query, offset, timestamp) in offsets {
        assert_offset(&mut client, query, offset, timestamp).await;
    }
    let p2 = client
        .list_offsets(TOPIC, 2, LATEST_TIMESTAMP)
        .await
        .expect("latest");
    assert_eq!((p2.error_code, p2.offset), (ErrorCode::None, 0), "{p2:?}");

    // A topic that is created, written and deleted.
    let doomed = client.create_topic(DOOMED, 2).await.expect("create doomed");
    assert_eq!(doomed.error_code, ErrorCode::None, "{doomed:?}");
    let r = client.produce(DOOMED, 1, &c, 1).await.expect("produce");
    assert_eq!(r.map(|r| r.error_code), Some(ErrorCode::None));
    let deleted = client.delete_topic(DOOMED).await.expect("delete");
    assert_eq!(deleted.error_code, ErrorCode::None, "{deleted:?}");
    assert_deleted(&mut client).await;
    let twice = client.delete_topic(DOOMED).await.expect("delete again");
    assert_eq!(twice.error_code, ErrorCode::UnknownTopicOrPartition);

    // Whole requests refused in the header; the connection stays usable.
    assert_refused(&mut client, 99, 0, &[], ErrorCode::InvalidRequest).await;
    let metadata = ApiKey::Metadata.code();
    assert_refused(
        &mut client,
        metadata,
        9,
        &[0, 0, 0, 0],
        ErrorCode::UnsupportedVersion,
    )
    .await;
    assert_refused(&mut client, metadata, 0, &[0, 0], ErrorCode::InvalidRequest).await;

    broker.restart().await.expect("restart");
    let mut client = TestClient::connect(broker.addr()).await.expect("reconnect");
    client
        .wait_until_served()
        .await
        .expect("served after the restart");
    let m = client
        .metadata(&[TOPIC])
        .await
        .expect("metadata after restart");
    assert_metadata(&m, broker.addr().port());
    assert_log(&mut client, 0, &p0).await;
    assert_log(&mut client, 1, &p1).await;
    assert_log(&mut client, 2, &[]).await;
    for (query, offset, timestamp) in offsets {
        assert_offset(&mut client, query, offset, timestamp).await;
    }
    assert_deleted(&mut client).await;
    let again = client
        .create_topic(TOPIC, 3)
        .await
        .expect("create after restart");
    assert_eq!(again.error_code, ErrorCode::TopicAlreadyExists, "{again:?}");

    // Appends continue where the log ended; a re-created topic starts empty.
    let e = batch("e", &[t + 400]);
    let r = client.produce(TOPIC, 0, &e, -1).await.expect("produce e");
    let r = r.expect("acks -1 answers");
    assert_eq!((r.error_code, r.base_offset), (ErrorCode::None, 7), "{r:?}");
    let reborn = client.create_topic(DOOMED, 2).await.expect("re-create");
    assert_eq!(reborn.error_code, ErrorCode::None, "{reborn:?}");
    let end = client
        .list_offsets(DOOMED, 1, LATEST_TIMESTAMP)
        .await
        .expect("latest");
    assert_eq!(
        (end.error_code, end.offset),
        (ErrorCode::None, 0),
        "{end:?}"
    );

    broker.stop().await.expect("clean stop");
}

//! Hostile requests that decode fine but carry bad content: invalid acks, missing
//! topics and partitions, invalid topic names, partition counts and settings,
//! path-like names on DeleteTopics, and fetch and ListOffsets parameters at the
//! extremes.
//!
//! Each case checks the documented error code, that nothing was written (the log
//! of `keep/0` reads back byte for byte, ListOffsets latest unchanged), and that an
//! honest connection still produces and fetches. Corrupt record batches are in
//! `broker_hostile_batches.rs`, framing-level attacks in `broker_hostile.rs`.

mod hostile_support;

use std::time::{Duration, Instant};

use hostile_support::{
    honest_batch, Fixture, Hostile, OrFail, KEEP, MAX_FETCH_WAIT_MS, MAX_PARTITIONS, SEEDED_RECORDS,
};
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::header::ResponseHeader;
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::ErrorCode;
use rill_tests::requests::{create_topics_request, encode_request, fetch_request, produce_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_acks_get_21_and_write_nothing() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    for acks in [2, 5, -2, i16::MIN] {
        let case = format!("acks = {acks}");
        let body = produce_request(KEEP, 0, &honest_batch("acks", 1), acks);
        let ResponseBody::Produce(response) = conn.call(body).await.or_fail(&case) else {
            panic!("{case}: Produce answered with another API");
        };
        let p = &response.topics[0].partitions[0];
        assert_eq!(
            p.error_code,
            ErrorCode::InvalidRequiredAcks,
            "{case}: {:?}",
            p.error_message
        );
        fx.assert_unharmed(&case).await;
    }
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_and_partitions_get_3() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    let targets = [
        ("nope", 0),
        (KEEP, 99),
        (KEEP, 2),
        (KEEP, -1),
        (KEEP, i32::MAX),
    ];
    for (topic, partition) in targets {
        let case = format!("{topic}/{partition}");
        let p = conn
            .produce_acked(
                topic,
                partition,
                &honest_batch("lost", 2),
                &format!("produce to {case}"),
            )
            .await;
        assert_eq!(
            p.error_code,
            ErrorCode::UnknownTopicOrPartition,
            "produce to {case}: {:?}",
            p.error_message
        );
        let f = conn
            .fetch(topic, partition, 0, 0, 1)
            .await
            .or_fail(&format!("fetch {case}"));
        assert_eq!(
            f.error_code,
            ErrorCode::UnknownTopicOrPartition,
            "fetch {case}: {:?}",
            f.error_message
        );
        assert!(f.records.is_empty(), "fetch {case}: no records");
        let l = conn
            .latest(topic, partition, &format!("ListOffsets {case}"))
            .await;
        assert_eq!(
            l.error_code,
            ErrorCode::UnknownTopicOrPartition,
            "ListOffsets {case}: {:?}",
            l.error_message
        );
        fx.assert_unharmed(&format!("requests to {case}")).await;
    }
    assert!(
        !conn.topic_exists("nope", "after producing to it").await,
        "producing to a missing topic must not create it"
    );
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_topic_names_get_17_and_create_nothing() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    let too_long = "a".repeat(250);
    let names: Vec<&str> = vec![
        "",
        ".",
        "..",
        "a/b",
        "../escape",
        "a\\b",
        "a b",
        "a\0b",
        "tópico",
        "😀",
        too_long.as_str(),
        "__cluster",
    ];
    for name in &names {
        let case = format!("CreateTopics {name:?}");
        let result = conn.create_topic(name, 1).await.or_fail(&case);
        assert_eq!(result.name, *name, "{case}: name echoed");
        assert_eq!(
            result.error_code,
            ErrorCode::InvalidTopic,
            "{case}: {:?}",
            result.error_message
        );
    }
    // All at once: each gets its own answer.
    let pairs: Vec<(&str, i32)> = names.iter().map(|n| (*n, 1)).collect();
    let all_at_once = create_topics_request(&pairs, &[]);
    let what = "all invalid names at once";
    let ResponseBody::CreateTopics(response) = conn.call(all_at_once).await.or_fail(what) else {
        panic!("{what}: CreateTopics answered with another API");
    };
    assert_eq!(
        response.topics.len(),
        names.len(),
        "{what}: one result per topic"
    );
    for result in response.topics {
        assert_eq!(
            result.error_code,
            ErrorCode::InvalidTopic,
            "{:?} in a batch of invalid names",
            result.name
        );
    }
    let listed: Vec<String> = conn
        .metadata(&[])
        .await
        .or_fail("after invalid names")
        .topics
        .into_iter()
        .map(|t| t.name)
        .collect();
    for name in &names {
        assert!(
            !listed.iter().any(|l| l == name),
            "invalid name {name:?} was created"
        );
    }
    let outside: Vec<String> = std::fs::read_dir(fx.root.path())
        .expect("list the temp dir")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(outside, ["data"], "nothing is created outside the data dir");
    // The longest allowed name works.
    let longest = "b".repeat(249);
    let ok = conn
        .create_topic(&longest, 1)
        .await
        .or_fail("a 249-char name");
    assert_eq!(ok.error_code, ErrorCode::None, "{:?}", ok.error_message);
    fx.assert_unharmed("invalid topic names").await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_partition_counts_get_37_and_create_nothing() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    let counts = [0, -1, MAX_PARTITIONS + 1, i32::MAX, i32::MIN];
    for (i, count) in counts.into_iter().enumerate() {
        let name = format!("parts-{i}");
        let case = format!("CreateTopics {name} with {count} partitions");
        let result = conn.create_topic(&name, count).await.or_fail(&case);
        assert_eq!(
            result.error_code,
            ErrorCode::InvalidPartitions,
            "{case}: {:?}",
            result.error_message
        );
        assert!(
            !conn.topic_exists(&name, &case).await,
            "{case}: created anyway"
        );
    }
    let ok = conn
        .create_topic("parts-max", MAX_PARTITIONS)
        .await
        .or_fail("the partition limit itself");
    assert_eq!(ok.error_code, ErrorCode::None, "{:?}", ok.error_message);
    fx.assert_unharmed("invalid partition counts").await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_topic_settings_get_40_and_create_nothing() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    let cases = [
        ("segment_bytes", "lots"),
        ("fsync", "sometimes"),
        ("retention.ms", "5"),
        ("segment_bytes", "1"),
    ];
    for (i, (key, value)) in cases.into_iter().enumerate() {
        let name = format!("configured-{i}");
        let case = format!("CreateTopics with {key} = {value:?}");
        let result = conn
            .create_topic_with(&name, 1, &[(key, value)])
            .await
            .or_fail(&case);
        assert_eq!(
            result.error_code,
            ErrorCode::InvalidConfig,
            "{case}: {:?}",
            result.error_message
        );
        assert!(
            !conn.topic_exists(&name, &case).await,
            "{case}: created anyway"
        );
    }
    fx.assert_unharmed("invalid topic settings").await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_topics_with_path_like_names_deletes_nothing() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    let names = ["", ".", "..", "../data", "keep/..", "keep/0", "/", "nope"];
    for name in names {
        let case = format!("DeleteTopics {name:?}");
        let result = conn.delete_topic(name).await.or_fail(&case);
        let code = result.error_code;
        assert!(
            matches!(
                code,
                ErrorCode::UnknownTopicOrPartition | ErrorCode::InvalidTopic
            ),
            "{case}: expected 3 (or 17), got {code:?}: {:?}",
            result.error_message
        );
        assert!(
            fx.broker.data_dir().is_dir(),
            "{case}: the data dir is gone"
        );
        fx.assert_unharmed(&case).await;
    }
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_parameters_at_the_extremes() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    for offset in [-1, i64::MIN, SEEDED_RECORDS + 1, i64::MAX] {
        let case = format!("fetch from offset {offset}");
        let f = conn.fetch(KEEP, 0, offset, 0, 1).await.or_fail(&case);
        assert_eq!(
            f.error_code,
            ErrorCode::OffsetOutOfRange,
            "{case}: {:?}",
            f.error_message
        );
        assert!(f.records.is_empty(), "{case}: no records");
    }

    // A client asking to be held for ~24 days is cut to max_fetch_wait_ms.
    for (max_wait, min_bytes) in [(i32::MAX, 1), (-1, 1), (200, i32::MAX), (i32::MAX, -1)] {
        let case = format!("fetch at the end with max_wait {max_wait}, min_bytes {min_bytes}");
        let request = fetch_request(KEEP, 0, SEEDED_RECORDS, max_wait, min_bytes);
        let started = Instant::now();
        let ResponseBody::Fetch(response) = conn.call(request).await.or_fail(&case) else {
            panic!("{case}: Fetch answered with another API");
        };
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_millis(MAX_FETCH_WAIT_MS) + Duration::from_secs(2),
            "{case}: held for {waited:?}; max_fetch_wait_ms is {MAX_FETCH_WAIT_MS}"
        );
        if max_wait <= 0 || min_bytes <= 0 {
            assert!(
                waited < Duration::from_millis(MAX_FETCH_WAIT_MS * 4 / 5),
                "{case}: min_bytes <= 0 or max_wait_ms <= 0 answers at once, took {waited:?}"
            );
        }
        let p = &response.topics[0].partitions[0];
        assert_eq!(
            p.error_code,
            ErrorCode::None,
            "{case}: {:?}",
            p.error_message
        );
        assert!(p.records.is_empty(), "{case}: nothing to return");
    }

    // Negative byte caps: whatever the answer, it comes, and the connection lives.
    let request = RequestBody::Fetch(FetchRequest {
        max_wait_ms: 0,
        min_bytes: -5,
        max_bytes: -1,
        topics: vec![FetchTopic {
            name: KEEP.to_string(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: i32::MIN,
            }],
        }],
    });
    let frame = encode_request(61, request);
    conn.write_frame(&frame).await.expect("send");
    match conn
        .recv_frame_or_close()
        .await
        .or_fail("fetch with negative byte caps")
    {
        Some(f) => {
            let (header, _) = ResponseHeader::decode(&f).expect("response header");
            assert_eq!(header.correlation_id, 61);
        }
        None => panic!("fetch with negative byte caps closed the connection"),
    }
    conn.assert_usable("after fetches at the extremes").await;

    // ListOffsets: a timestamp below -2 is 42 (docs/PROTOCOL.md §5.7).
    for timestamp in [-3, i64::MIN] {
        let case = format!("ListOffsets with timestamp {timestamp}");
        let p = conn.list_offsets(KEEP, 0, timestamp).await.or_fail(&case);
        assert_eq!(
            p.error_code,
            ErrorCode::InvalidRequest,
            "{case}: {:?}",
            p.error_message
        );
    }
    fx.assert_unharmed("fetch parameters at the extremes").await;
    fx.finish().await;
}

/// A 32,000-byte topic name with as many partition entries as fit in a frame
/// (60,000 of Fetch's 16 bytes; 240,000 of the heartbeat's 4): answered per
/// partition, the name would be copied that many times (2 to 8 GB). The whole
/// request is refused once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_names_repeated_per_partition_are_refused_whole() {
    use rill_protocol::api::consumer_group_heartbeat::ConsumerGroupHeartbeatRequest;
    use rill_protocol::api::TopicPartitions;

    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    let name = "n".repeat(32_000);
    let fetch = RequestBody::Fetch(FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            name: name.clone(),
            partitions: (0..60_000)
                .map(|partition| FetchPartition {
                    partition,
                    fetch_offset: 0,
                    partition_max_bytes: 1024,
                })
                .collect(),
        }],
    });
    let heartbeat = RequestBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest {
        group_id: "g".into(),
        member_id: String::new(),
        member_epoch: 0,
        subscribed_topics: Some(vec![KEEP.to_string()]),
        owned_partitions: Some(vec![TopicPartitions {
            name: name.clone(),
            partitions: (0..240_000).collect(),
        }]),
    });
    for (case, body) in [("Fetch", fetch), ("ConsumerGroupHeartbeat", heartbeat)] {
        let started = Instant::now();
        let response = conn.send(body).await.or_fail(case);
        assert_eq!(
            response.header.error_code,
            ErrorCode::InvalidTopic,
            "{case}: {:?}",
            response.header.error_message
        );
        assert!(response.body.is_none(), "{case}: refused whole");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{case}: took {:?}",
            started.elapsed()
        );
        fx.assert_unharmed(case).await;
    }
    fx.finish().await;
}

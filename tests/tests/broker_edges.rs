//! Edge cases of produce, fetch, delete and shutdown that a careless broker gets
//! wrong: a partition listed twice in one produce or fetch, a multi-partition fetch's byte
//! caps, `timeout_ms` values, a long-poll on a topic that is deleted, a shutdown while a client has
//! stopped reading, and a request in progress when shutdown begins.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rill_broker::embedded::EmbeddedBroker;
use rill_broker::BrokerConfig;
use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest};
use rill_protocol::api::delete_topics::DeleteTopicsRequest;
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceTopic};
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo};
use rill_tests::client::{fetch_request, TestClient};
use rill_tests::STOP_TIMEOUT;

/// A batch of `records` records with 1 KiB values.
fn batch(records: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    let value = vec![b'v'; 1024];
    for i in 0..records {
        b.push(1_900_000_000_000 + i as i64, None, Some(&value), &[]);
    }
    b.finish()
}

/// A Fetch of topic `t`'s partitions `0..offsets.len()`, each from its offset,
/// that does not wait.
fn fetch_of_t(max_bytes: i32, partition_max_bytes: i32, offsets: &[i64]) -> RequestBody {
    RequestBody::Fetch(FetchRequest {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes,
        topics: vec![FetchTopic {
            name: "t".into(),
            partitions: (0..)
                .zip(offsets)
                .map(|(partition, &fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes,
                })
                .collect(),
        }],
    })
}

/// The size of each partition's record set in a Fetch answer for one topic;
/// fails the test if any partition has an error.
fn record_set_sizes(answer: ResponseBody) -> Vec<usize> {
    let ResponseBody::Fetch(f) = answer else {
        panic!("not a fetch response: {answer:?}");
    };
    let partitions = &f.topics[0].partitions;
    assert!(
        partitions.iter().all(|p| p.error_code == ErrorCode::None),
        "{f:?}"
    );
    partitions.iter().map(|p| p.records.len()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_listed_twice_in_one_produce_is_refused_whole() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    let created = client.create_topic("t", 2).await.expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
    let entry = |partition| ProducePartition {
        partition,
        records: Bytes::from(batch(1)),
    };
    let request = RequestBody::Produce(ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topics: vec![
            ProduceTopic {
                name: "t".into(),
                partitions: vec![entry(0), entry(1)],
            },
            ProduceTopic {
                name: "t".into(),
                partitions: vec![entry(0)],
            },
        ],
    });
    let ResponseBody::Produce(answer) = client.call(request).await.expect("produce") else {
        panic!("not a produce response");
    };
    let codes: Vec<(i32, ErrorCode)> = answer
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.error_code)))
        .collect();
    assert_eq!(
        codes,
        [
            (0, ErrorCode::InvalidRequest),
            (1, ErrorCode::None),
            (0, ErrorCode::InvalidRequest)
        ]
    );
    let latest = client.list_offsets("t", 0, -1).await.expect("latest");
    assert_eq!(
        latest.offset, 0,
        "nothing of the duplicated partition was written"
    );
}

/// Every entry of a fetch is read again on each wake-up, so a partition listed
/// twice is refused (its later entries) rather than read twice; the first entry is
/// served, and the refusal ends the wait at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_listed_twice_in_one_fetch_is_served_once() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    client.create_topic("t", 2).await.expect("create");
    let r = client.produce("t", 0, &batch(3), 1).await.expect("produce");
    assert_eq!(r.expect("answer").error_code, ErrorCode::None);
    let entry = |partition| FetchPartition {
        partition,
        fetch_offset: 0,
        partition_max_bytes: 1 << 20,
    };
    let request = RequestBody::Fetch(FetchRequest {
        max_wait_ms: 10_000,
        min_bytes: 1 << 30,
        max_bytes: 1 << 20,
        topics: vec![
            FetchTopic {
                name: "t".into(),
                partitions: vec![entry(0), entry(1), entry(0)],
            },
            FetchTopic {
                name: "t".into(),
                partitions: vec![entry(1)],
            },
        ],
    });
    let started = Instant::now();
    let ResponseBody::Fetch(answer) = client.call(request).await.expect("fetch") else {
        panic!("not a fetch response");
    };
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    let codes: Vec<(i32, ErrorCode, bool)> = answer
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition, p.error_code, p.records.is_empty()))
        })
        .collect();
    assert_eq!(
        codes,
        [
            (0, ErrorCode::None, false),
            (1, ErrorCode::None, true),
            (0, ErrorCode::InvalidRequest, true),
            (1, ErrorCode::InvalidRequest, true)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_first_partition_with_data_may_exceed_max_bytes() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    client.create_topic("t", 2).await.expect("create");
    let b = batch(2);
    for partition in 0..2 {
        let r = client
            .produce("t", partition, &b, 1)
            .await
            .expect("produce");
        assert_eq!(r.expect("answer").error_code, ErrorCode::None);
    }
    // Room for one batch and a bit: the second partition's batch must not come.
    let cap = i32::try_from(b.len() + 10).expect("small");
    let fetch = |max_bytes| fetch_of_t(max_bytes, 1 << 20, &[0, 0]);
    let got = record_set_sizes(client.call(fetch(cap)).await.expect("fetch"));
    assert_eq!(got, [b.len(), 0]);
    // Smaller than one batch: the first still comes whole (no consumer gets stuck).
    let got = record_set_sizes(client.call(fetch(10)).await.expect("fetch"));
    assert_eq!(got, [b.len(), 0]);
    let cap = i32::try_from(2 * b.len()).expect("small");
    let got = record_set_sizes(client.call(fetch(cap)).await.expect("fetch"));
    assert_eq!(got, [b.len(), b.len()]);
}

/// PROTOCOL.md §5.6: `partition_max_bytes` caps each partition, negative caps
/// count as 0, and only the first partition that has data may exceed the caps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_caps_work_as_the_spec_says() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    client.create_topic("t", 3).await.expect("create");
    let b = batch(2);
    for partition in 0..3 {
        for _ in 0..2 {
            let r = client
                .produce("t", partition, &b, 1)
                .await
                .expect("produce");
            assert_eq!(r.expect("answer").error_code, ErrorCode::None);
        }
    }
    let n = b.len();
    let end = 4; // two batches of two records per partition
    let fetch = |max_bytes, partition_max_bytes, offsets: [i64; 3]| {
        fetch_of_t(max_bytes, partition_max_bytes, &offsets)
    };
    let one_batch = i32::try_from(n + 10).expect("small");
    let cases = [
        ("max_bytes 1", fetch(1, 1 << 20, [0; 3]), [n, 0, 0]),
        ("max_bytes negative", fetch(-5, 1 << 20, [0; 3]), [n, 0, 0]),
        (
            "partition cap of one batch",
            fetch(1 << 20, one_batch, [0; 3]),
            [n, n, n],
        ),
        ("partition cap 0", fetch(1 << 20, 0, [0; 3]), [n, 0, 0]),
        (
            "partition cap negative",
            fetch(1 << 20, -1, [0; 3]),
            [n, 0, 0],
        ),
        (
            "first partition at its end",
            fetch(1, 1 << 20, [end, 0, 0]),
            [0, n, 0],
        ),
        (
            "room for all",
            fetch(1 << 20, 1 << 20, [0; 3]),
            [2 * n, 2 * n, 2 * n],
        ),
    ];
    for (case, request, expected) in cases {
        let answer = client.call(request).await.expect(case);
        assert_eq!(record_set_sizes(answer), expected, "{case}");
    }
}

/// PROTOCOL.md §5.3-§5.5: `timeout_ms` of CreateTopics, DeleteTopics and Produce
/// takes any value, and the broker answers when the work is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_ms_takes_any_value() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    for timeout_ms in [i32::MIN, -1, 0, 1, i32::MAX] {
        let create = CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                partitions: 1,
                replication_factor: -1,
                configs: Vec::new(),
            }],
            timeout_ms,
            validate_only: false,
        };
        let ResponseBody::CreateTopics(created) = client
            .call(RequestBody::CreateTopics(create))
            .await
            .expect("create")
        else {
            panic!("not a CreateTopics response");
        };
        assert_eq!(
            created.topics[0].error_code,
            ErrorCode::None,
            "{timeout_ms}"
        );
        let produce = RequestBody::Produce(ProduceRequest {
            acks: -1,
            timeout_ms,
            topics: vec![ProduceTopic {
                name: "t".into(),
                partitions: vec![ProducePartition {
                    partition: 0,
                    records: Bytes::from(batch(1)),
                }],
            }],
        });
        let ResponseBody::Produce(produced) = client.call(produce).await.expect("produce") else {
            panic!("not a Produce response");
        };
        assert_eq!(
            produced.topics[0].partitions[0].error_code,
            ErrorCode::None,
            "{timeout_ms}"
        );
        let delete = DeleteTopicsRequest {
            topics: vec!["t".into()],
            timeout_ms,
        };
        let ResponseBody::DeleteTopics(deleted) = client
            .call(RequestBody::DeleteTopics(delete))
            .await
            .expect("delete")
        else {
            panic!("not a DeleteTopics response");
        };
        assert_eq!(
            deleted.topics[0].error_code,
            ErrorCode::None,
            "{timeout_ms}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_on_a_deleted_topic_ends_with_unknown_topic() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut admin = TestClient::connect(broker.addr()).await.expect("connect");
    admin.create_topic("doomed", 1).await.expect("create");
    let mut waiter = TestClient::connect(broker.addr()).await.expect("connect");
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let answer = waiter.fetch("doomed", 0, 0, 10_000, 1).await;
        (answer, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let deleted = admin.delete_topic("doomed").await.expect("delete");
    assert_eq!(deleted.error_code, ErrorCode::None, "{deleted:?}");
    let (answer, waited) = poll.await.expect("poll task");
    let answer = answer.expect("fetch answer");
    assert_eq!(
        answer.error_code,
        ErrorCode::UnknownTopicOrPartition,
        "{answer:?}"
    );
    assert!(
        waited < Duration::from_secs(2),
        "the fetch waited {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_forever_for_a_client_that_stopped_reading() {
    let mut config = BrokerConfig::default();
    config.limits.max_in_flight_bytes = 1 << 20;
    config.shutdown_timeout_ms = 500;
    let mut broker = EmbeddedBroker::builder()
        .config(config)
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    client.create_topic("t", 1).await.expect("create");
    let big = batch(500);
    let r = client.produce("t", 0, &big, 1).await.expect("produce");
    assert_eq!(r.expect("answer").error_code, ErrorCode::None);
    let mut greedy = TestClient::connect(broker.addr()).await.expect("connect");
    for _ in 0..200 {
        greedy.queue(fetch_request("t", 0, 0, 0, 1)).expect("queue");
    }
    greedy.flush().await.expect("write the fetches");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    broker.stop().await.expect("clean stop");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    // The stuck connection was closed: reading drains what was sent, then ends (a
    // reset, since the broker closed it with requests unread).
    greedy.set_timeout(Duration::from_secs(2));
    let mut frames = 0;
    loop {
        match greedy.recv_frame().await {
            Ok(_) => frames += 1,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                break
            }
            Err(e) => panic!("after {frames} frames the connection neither ended nor sent: {e}"),
        }
    }
    assert!(
        frames < 200,
        "all {frames} answers were sent; the test proved nothing"
    );
}

/// A request being handled when shutdown begins is still answered: a long-poll
/// fetch ends at the shutdown and its (empty) answer reaches the client, every
/// time, rather than the connection closing without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_progress_at_shutdown_is_still_answered() {
    for round in 0..20 {
        let mut broker = EmbeddedBroker::builder()
            .stop_timeout(STOP_TIMEOUT)
            .start()
            .await
            .expect("start");
        let mut client = TestClient::connect(broker.addr()).await.expect("connect");
        client.create_topic("t", 1).await.expect("create");
        let id = client
            .queue(fetch_request("t", 0, 0, 10_000, 1))
            .expect("queue");
        client.flush().await.expect("send the fetch");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (stopped, answer) = tokio::join!(
            broker.stop(),
            client.recv(rill_protocol::api::ApiKey::Fetch, id)
        );
        stopped.expect("clean stop");
        let answer = answer.unwrap_or_else(|e| panic!("round {round}: no answer: {e}"));
        assert_eq!(answer.header.error_code, ErrorCode::None, "round {round}");
    }
}

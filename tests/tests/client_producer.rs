//! The producer against a real in-process broker: ordering, partitioning, read-back,
//! acks modes, backpressure, linger and flush, retries without duplicates, errors.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fetch_all, start_broker, start_broker_behind_proxy, wait_for_records, Stored};
use rill_broker::embedded::EmbeddedBroker;
use rill_client::producer::partitioner::partition_for_key;
use rill_client::{
    Acks, Admin, Connection, Delivery, Error, Partitioner, Producer, ProducerConfig, RecordMetadata,
};
use rill_protocol::ErrorCode;
use rill_tests::proxy::FaultProxy;

/// What a test sent, with where it landed.
struct Sent {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    header: Vec<u8>,
    meta: RecordMetadata,
}

async fn setup(topic: &str, partitions: i32) -> (EmbeddedBroker, Admin) {
    let broker = start_broker().await;
    let admin = Admin::connect(broker.addr()).await.expect("admin");
    admin
        .create_topic(topic, partitions, &[])
        .await
        .expect("create topic");
    (broker, admin)
}

/// Like [`setup`], with the broker advertising a fault proxy in front of it.
async fn setup_behind_proxy(topic: &str, partitions: i32) -> (EmbeddedBroker, FaultProxy) {
    let (broker, proxy) = start_broker_behind_proxy().await;
    Admin::connect(broker.addr())
        .await
        .expect("admin")
        .create_topic(topic, partitions, &[])
        .await
        .expect("create topic");
    (broker, proxy)
}

/// Enqueues `n` records (keyed by `key_of`, if any) and awaits every delivery.
async fn send_many(
    producer: &Producer,
    topic: &str,
    n: usize,
    key_of: impl Fn(usize) -> Option<String>,
) -> Vec<Sent> {
    let mut pending = Vec::new();
    for i in 0..n {
        let key = key_of(i).map(String::into_bytes);
        let value = format!("purchase {i}: item {} for {} cents", i % 31, i * 7).into_bytes();
        let header = i.to_string().into_bytes();
        let delivery: Delivery = producer
            .enqueue(topic, key.as_deref(), Some(&value), &[("seq", &header)])
            .await
            .expect("enqueue");
        pending.push(((key, value, header), delivery));
    }
    let mut sent = Vec::with_capacity(n);
    for ((key, value, header), delivery) in pending {
        let meta = delivery.await.expect("acknowledged");
        sent.push(Sent {
            key,
            value,
            header,
            meta,
        });
    }
    sent
}

/// Checks that offsets are 0, 1, 2, ... per partition in send order, then reads
/// every partition back and compares record by record.
async fn check_read_back(broker: &EmbeddedBroker, topic: &str, partitions: i32, sent: &[Sent]) {
    let mut by_partition: HashMap<i32, Vec<&Sent>> = HashMap::new();
    for s in sent {
        assert!((0..partitions).contains(&s.meta.partition));
        by_partition.entry(s.meta.partition).or_default().push(s);
    }
    let conn = Connection::connect(broker.addr()).await.expect("connect");
    for p in 0..partitions {
        let expected = by_partition.remove(&p).unwrap_or_default();
        for (i, s) in expected.iter().enumerate() {
            assert_eq!(
                s.meta.offset, i as i64,
                "offsets of {topic}/{p} in send order"
            );
        }
        let stored: Vec<Stored> = fetch_all(&conn, topic, p).await;
        assert_eq!(stored.len(), expected.len(), "records in {topic}/{p}");
        for (s, r) in expected.iter().zip(&stored) {
            assert_eq!(r.offset, s.meta.offset);
            assert_eq!(r.timestamp, s.meta.timestamp);
            assert_eq!(r.key, s.key);
            assert_eq!(r.value.as_deref(), Some(&s.value[..]));
            assert_eq!(r.headers, vec![("seq".to_string(), Some(s.header.clone()))]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_keyed_records_keep_key_order_and_read_back() {
    let (broker, _admin) = setup("keyed", 6).await;
    let producer = Producer::connect(broker.addr(), ProducerConfig::new())
        .await
        .expect("producer");
    assert!(producer.is_idempotent(), "acks=All turns idempotence on");
    let sent = send_many(&producer, "keyed", 10_000, |i| {
        Some(format!("user-{}", i % 97))
    })
    .await;
    let mut partition_of_key: HashMap<&[u8], i32> = HashMap::new();
    for s in &sent {
        let key = s.key.as_deref().expect("keyed");
        assert_eq!(s.meta.partition, partition_for_key(key, 6));
        let p = *partition_of_key.entry(key).or_insert(s.meta.partition);
        assert_eq!(p, s.meta.partition, "one key, one partition");
    }
    check_read_back(&broker, "keyed", 6, &sent).await;
    producer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_keyless_records_spread_and_read_back() {
    let (broker, _admin) = setup("keyless", 6).await;
    let producer = Producer::connect(broker.addr(), ProducerConfig::new())
        .await
        .expect("producer");
    let sent = send_many(&producer, "keyless", 10_000, |_| None).await;
    let used: HashSet<i32> = sent.iter().map(|s| s.meta.partition).collect();
    assert_eq!(used.len(), 6, "sticky batches rotate over every partition");
    check_read_back(&broker, "keyless", 6, &sent).await;
    producer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_sent_to_two_topics_in_turn_land_in_their_own_topic() {
    let (broker, admin) = setup("carts", 3).await;
    admin
        .create_topic("orders", 7, &[])
        .await
        .expect("create topic");
    let producer = Producer::connect(broker.addr(), ProducerConfig::new())
        .await
        .expect("producer");
    let mut pending: HashMap<&str, Vec<_>> = HashMap::new();
    for i in 0..2_000 {
        let (topic, partitions) = if i % 2 == 0 {
            ("carts", 3)
        } else {
            ("orders", 7)
        };
        let key = format!("user-{}", i % 13).into_bytes();
        let value = format!("{topic} event {i}").into_bytes();
        let header = i.to_string().into_bytes();
        let delivery = producer
            .enqueue(topic, Some(&key), Some(&value), &[("seq", &header)])
            .await
            .expect("enqueue");
        pending
            .entry(topic)
            .or_default()
            .push((key, value, header, partitions, delivery));
    }
    for (topic, records) in pending {
        let mut sent = Vec::new();
        let mut count = 0;
        for (key, value, header, partitions, delivery) in records {
            let meta = delivery.await.expect("acknowledged");
            assert_eq!(meta.partition, partition_for_key(&key, partitions));
            count = partitions;
            sent.push(Sent {
                key: Some(key),
                value,
                header,
                meta,
            });
        }
        check_read_back(&broker, topic, count, &sent).await;
    }
    producer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acks_mode_writes_everything() {
    let broker = start_broker().await;
    let admin = Admin::connect(broker.addr()).await.expect("admin");
    let conn = Connection::connect(broker.addr()).await.expect("connect");
    for (name, acks) in [
        ("none", Acks::None),
        ("leader", Acks::Leader),
        ("all", Acks::All),
    ] {
        let topic = format!("acks-{name}");
        admin.create_topic(&topic, 3, &[]).await.expect("create");
        let config = ProducerConfig::new().acks(acks);
        let producer = Producer::connect(broker.addr(), config)
            .await
            .expect("producer");
        assert_eq!(producer.is_idempotent(), acks == Acks::All);
        let sent = send_many(&producer, &topic, 2_000, |i| Some(format!("k{}", i % 10))).await;
        producer.close().await.expect("close");
        if acks == Acks::None {
            assert!(
                sent.iter().all(|s| s.meta.offset == -1),
                "no offsets with acks 0"
            );
            let mut per_partition = [0usize; 3];
            for s in &sent {
                per_partition[s.meta.partition as usize] += 1;
            }
            for (p, n) in per_partition.iter().enumerate() {
                wait_for_records(&conn, &topic, p as i32, *n).await;
            }
            let mut values = HashSet::new();
            for p in 0..3 {
                for r in fetch_all(&conn, &topic, p).await {
                    values.insert(r.value.expect("value"));
                }
            }
            assert_eq!(values.len(), 2_000);
        } else {
            check_read_back(&broker, &topic, 3, &sent).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_buffer_makes_enqueue_wait_until_acknowledgements_free_it() {
    let (broker, _admin) = setup("tight", 1).await;
    // Nothing is sent before the 10 s linger, and 4 records fill the buffer.
    let config = ProducerConfig::new()
        .buffer_bytes(4 * 1024)
        .batch_bytes(1 << 20)
        .linger(Duration::from_secs(10));
    let producer = Producer::connect(broker.addr(), config)
        .await
        .expect("producer");
    let value = vec![7u8; 1000];
    let mut deliveries = Vec::new();
    for _ in 0..4 {
        let d = producer
            .enqueue("tight", None, Some(&value), &[])
            .await
            .expect("fits");
        deliveries.push(d);
    }
    let blocked = tokio::time::timeout(
        Duration::from_millis(300),
        producer.enqueue("tight", None, Some(&value), &[]),
    )
    .await;
    assert!(
        blocked.is_err(),
        "the fifth record must wait for buffer space"
    );

    // A flush sends the batch; its acknowledgement frees the buffer.
    let waiting = {
        let producer = producer.clone();
        let value = value.clone();
        tokio::spawn(async move { producer.enqueue("tight", None, Some(&value), &[]).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished());
    producer.flush().await.expect("flush");
    let fifth = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("enqueue resumes")
        .expect("task")
        .expect("enqueued");
    for (i, d) in deliveries.into_iter().enumerate() {
        assert_eq!(d.await.expect("ack").offset, i as i64);
    }
    producer.flush().await.expect("flush");
    assert_eq!(fifth.await.expect("ack").offset, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_buffer_still_carries_a_large_stream() {
    let (broker, _admin) = setup("stream", 4).await;
    let config = ProducerConfig::new()
        .buffer_bytes(8 * 1024)
        .batch_bytes(2 * 1024);
    let producer = Producer::connect(broker.addr(), config)
        .await
        .expect("producer");
    let sent = send_many(&producer, "stream", 5_000, |i| Some(format!("{}", i % 13))).await;
    check_read_back(&broker, "stream", 4, &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linger_holds_a_batch_and_flush_sends_it() {
    let (broker, _admin) = setup("linger", 1).await;
    let config = ProducerConfig::new().linger(Duration::from_secs(10));
    let producer = Producer::connect(broker.addr(), config)
        .await
        .expect("producer");
    let mut delivery = producer
        .enqueue("linger", None, Some(b"hello"), &[])
        .await
        .expect("enqueue");
    let early = tokio::time::timeout(Duration::from_millis(200), &mut delivery).await;
    assert!(early.is_err(), "a lingering batch is not sent yet");
    let started = Instant::now();
    producer.flush().await.expect("flush");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Resolved before flush returned.
    let meta = tokio::time::timeout(Duration::ZERO, delivery)
        .await
        .expect("resolved by flush")
        .expect("ack");
    assert_eq!((meta.partition, meta.offset), (0, 0));

    // `send` is enqueue plus waiting, and works with the default linger too.
    let fast = Producer::connect(broker.addr(), ProducerConfig::new())
        .await
        .expect("producer");
    let meta = fast
        .send("linger", Some(b"k"), Some(b"v"), &[])
        .await
        .expect("send");
    assert_eq!(meta.offset, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_sends_what_is_queued_and_refuses_more() {
    let (broker, _admin) = setup("closing", 2).await;
    let config = ProducerConfig::new().linger(Duration::from_secs(30));
    let producer = Producer::connect(broker.addr(), config)
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..100u32 {
        deliveries.push(
            producer
                .enqueue("closing", Some(&i.to_be_bytes()), Some(b"x"), &[])
                .await
                .expect("enqueue"),
        );
    }
    let clone = producer.clone();
    producer.close().await.expect("close");
    for d in deliveries {
        d.await.expect("sent at close");
    }
    let refused = clone.enqueue("closing", None, Some(b"late"), &[]).await;
    assert!(matches!(refused, Err(Error::Closed(_))), "{refused:?}");
}

/// Two clones closing at once: whichever returns second must not return before
/// the answers are in (nor cut the connection under requests in flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_close_waits_for_the_answers() {
    let (broker, _admin) = setup("closing-twice", 2).await;
    for round in 0..5 {
        let config = ProducerConfig::new().linger(Duration::from_secs(30));
        let producer = Producer::connect(broker.addr(), config)
            .await
            .expect("producer");
        let mut deliveries = Vec::new();
        for i in 0..2_000u32 {
            let value = vec![b'x'; 512];
            deliveries.push(
                producer
                    .enqueue("closing-twice", Some(&i.to_be_bytes()), Some(&value), &[])
                    .await
                    .expect("enqueue"),
            );
        }
        let clone = producer.clone();
        let first = tokio::spawn(async move { producer.close().await });
        // Let the first close take the sender task, then close the clone.
        tokio::time::sleep(Duration::from_millis(1)).await;
        clone.close().await.expect("second close");
        for (i, d) in deliveries.into_iter().enumerate() {
            match tokio::time::timeout(Duration::ZERO, d).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("round {round}: record {i} failed: {e}"),
                Err(_) => panic!("round {round}: record {i} unanswered after a close returned"),
            }
        }
        first.await.expect("first close task").expect("first close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioners_can_be_chosen() {
    let (broker, _admin) = setup("spread", 4).await;
    let config = ProducerConfig::new().partitioner(Partitioner::RoundRobin);
    let producer = Producer::connect(broker.addr(), config)
        .await
        .expect("producer");
    let sent = send_many(&producer, "spread", 8, |_| None).await;
    let first = sent[0].meta.partition;
    for (i, s) in sent.iter().enumerate() {
        assert_eq!(s.meta.partition, (first + i as i32) % 4);
    }
    let last = Partitioner::Custom(Arc::new(|_topic, _key, count| count - 1));
    let producer = Producer::connect(broker.addr(), ProducerConfig::new().partitioner(last))
        .await
        .expect("producer");
    let meta = producer
        .send("spread", Some(b"any"), Some(b"v"), &[])
        .await
        .expect("send");
    assert_eq!(meta.partition, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_answer_is_retried_without_duplicates() {
    let (broker, proxy) = setup_behind_proxy("retried", 3).await;
    // Answers: 1 InitProducerId, 2 Metadata, 3.. Produce. The second Produce answer
    // is lost with its connection: the producer reconnects and sends the batches
    // again with the same sequence numbers.
    proxy.cut_at_response(4);
    let config = ProducerConfig::new()
        .retry_backoff(Duration::from_millis(20))
        .batch_bytes(1024);
    let producer = Producer::connect(proxy.addr(), config)
        .await
        .expect("producer");
    assert!(producer.is_idempotent());
    let sent = send_many(&producer, "retried", 3_000, |i| {
        Some(format!("user-{}", i % 11))
    })
    .await;
    assert!(proxy.connections() >= 2, "the producer reconnected");
    check_read_back(&broker, "retried", 3, &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_idempotence_a_lost_answer_duplicates_records() {
    // The control for the test above: the same failure without producer ids
    // writes the retried batch twice (at-least-once).
    let (broker, proxy) = setup_behind_proxy("duplicated", 1).await;
    proxy.cut_at_response(2);
    let config = ProducerConfig::new()
        .idempotence(false)
        .retry_backoff(Duration::from_millis(20));
    let producer = Producer::connect(proxy.addr(), config)
        .await
        .expect("producer");
    assert!(!producer.is_idempotent());
    let meta = producer
        .send("duplicated", None, Some(b"once"), &[])
        .await
        .expect("acknowledged after a retry");
    assert_eq!(meta.offset, 1, "the first copy took offset 0");
    let conn = Connection::connect(broker.addr()).await.expect("connect");
    assert_eq!(fetch_all(&conn, "duplicated", 0).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_is_wrong() {
    let (broker, _admin) = setup("known", 1).await;
    let producer = Producer::connect(broker.addr(), ProducerConfig::new())
        .await
        .expect("producer");

    let err = producer
        .send("no-such-topic", None, Some(b"v"), &[])
        .await
        .expect_err("unknown topic");
    assert_eq!(
        err.code(),
        Some(ErrorCode::UnknownTopicOrPartition),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-topic"), "{err}");

    let huge = vec![0u8; 40 << 20];
    let err = producer
        .enqueue("known", None, Some(&huge), &[])
        .await
        .expect_err("larger than the buffer");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

    let err = Producer::connect("127.0.0.1:1", ProducerConfig::new())
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");

    let err = Producer::connect(
        broker.addr(),
        ProducerConfig::new().acks(Acks::Leader).idempotence(true),
    )
    .await
    .expect_err("idempotence needs acks=All");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

    // A batch the broker refuses fails its records with the broker's reason.
    let admin = Admin::connect(broker.addr()).await.expect("admin");
    admin
        .create_topic("small", 1, &[("max_batch_bytes", "1024")])
        .await
        .expect("create");
    let first = producer
        .send("small", None, Some(b"first"), &[])
        .await
        .expect("first record");
    assert_eq!(first.offset, 0);
    let err = producer
        .send("small", None, Some(&[1u8; 4096]), &[])
        .await
        .expect_err("batch too large for the topic");
    assert_eq!(err.code(), Some(ErrorCode::MessageTooLarge), "{err}");
    assert!(err.to_string().contains("small/0"), "{err}");
    // The refused batch leaves no gap: the next one is renumbered to follow the
    // first, or the broker would refuse it as out of order.
    let meta = producer
        .send("small", None, Some(b"fits"), &[])
        .await
        .expect("next record");
    assert_eq!(meta.offset, 1);
}

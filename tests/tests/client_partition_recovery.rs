//! After a restart the broker serves each partition as soon as its log is open;
//! until then it answers LEADER_NOT_AVAILABLE. A producer and a consumer ride that
//! out: a record sent to a partition still being recovered is delivered once the
//! partition is served, another partition is served meanwhile, and a consumer
//! reads everything written before and after the restart.
//!
//! The broker's recovery hook holds one partition's log closed for as long as the
//! test wants, as a long scan after a crash would.

mod consumer_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use consumer_support::{consumer_config, read_records};
use rill_broker::embedded::EmbeddedBroker;
use rill_broker::{BrokerConfig, RecoveryHook};
use rill_client::producer::partitioner::partition_for_key;
use rill_client::{Admin, Consumer, Producer, ProducerConfig};

const TOPIC: &str = "purchases";

/// A key that the default partitioner sends to `partition` of two.
fn key_for(partition: i32) -> Vec<u8> {
    (0u32..)
        .map(|i| format!("customer-{i}").into_bytes())
        .find(|key| partition_for_key(key, 2) == partition)
        .expect("some key lands on each partition")
}

/// Sends `value` to `partition` and waits for its acknowledgement; returns its
/// offset.
async fn send(producer: &Producer, partition: i32, value: &str) -> rill_client::Result<i64> {
    let key = key_for(partition);
    let sent = producer
        .send(TOPIC, Some(&key), Some(value.as_bytes()), &[])
        .await?;
    assert_eq!(sent.partition, partition);
    Ok(sent.offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_ride_out_a_partition_that_is_still_recovering() {
    let held = Arc::new(AtomicBool::new(false));
    let hold = Arc::clone(&held);
    let config = BrokerConfig {
        recovery_hook: RecoveryHook(Some(Arc::new(move |topic: &str, partition| {
            while topic == TOPIC && partition == 1 && hold.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }))),
        ..BrokerConfig::default()
    };
    let mut broker = EmbeddedBroker::builder()
        .config(config)
        .stop_timeout(Duration::from_secs(20))
        .start()
        .await
        .expect("start the broker");
    let addr = broker.addr().to_string();
    Admin::connect(&addr)
        .await
        .expect("admin")
        .create_topic(TOPIC, 2, &[])
        .await
        .expect("create");
    let producer = Producer::connect(&addr, ProducerConfig::new())
        .await
        .expect("producer");
    for partition in 0..2 {
        send(&producer, partition, "before").await.expect("sent");
    }
    producer.close().await.expect("close");
    broker.stop().await.expect("stop");

    held.store(true, Ordering::Release);
    broker.restart_on_same_addr().await.expect("restart");
    // The default gives up after 5 retries 100 ms apart; a long recovery needs more.
    let config = ProducerConfig::new()
        .retries(1_000)
        .retry_backoff(Duration::from_millis(20));
    let producer = Producer::connect(&addr, config).await.expect("producer");
    let sent = send(&producer, 0, "after")
        .await
        .expect("partition 0 is served");
    assert_eq!(sent, 1);
    let waiting = {
        let producer = producer.clone();
        tokio::spawn(async move { send(&producer, 1, "after").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a record for a partition held in recovery was answered"
    );
    held.store(false, Ordering::Release);
    let sent = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("delivered once the partition is served")
        .expect("task")
        .expect("delivered");
    assert_eq!(sent, 1, "the record written before the restart is kept");

    let mut consumer = Consumer::connect(&addr, consumer_config("replay"))
        .await
        .expect("consumer");
    consumer.assign_topics(&[TOPIC]).await.expect("assign");
    let mut got: Vec<(i32, i64, Vec<u8>)> = read_records(&mut consumer, 4, Duration::from_secs(20))
        .await
        .into_iter()
        .map(|r| {
            (
                r.partition,
                r.offset,
                r.value.map(|v| v.to_vec()).unwrap_or_default(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(i32, i64, Vec<u8>)> = [
        (0, 0, "before"),
        (0, 1, "after"),
        (1, 0, "before"),
        (1, 1, "after"),
    ]
    .into_iter()
    .map(|(p, o, v)| (p, o, v.as_bytes().to_vec()))
    .collect();
    assert_eq!(got, want);
    producer.close().await.expect("close");
    broker.stop().await.expect("stop");
}

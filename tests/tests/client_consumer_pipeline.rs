//! Several fetches in flight per consumer: every offset still comes out exactly
//! once and in order per partition, also across a seek made while fetches are in
//! flight, and the settings are checked.

mod consumer_support;

use std::collections::BTreeMap;
use std::time::Duration;

use consumer_support::{
    consumer_config, create_topic, produce_range, producer, read_records, start_broker,
};
use rill_client::{Consumer, ConsumerConfig, ConsumerRecord, Error, TopicPartition};

const PARTITIONS: i32 = 4;

/// Settings that make many small fetches, so several are in flight at once.
fn pipelined(in_flight: usize) -> ConsumerConfig {
    consumer_config(&format!("pipelined-{in_flight}"))
        .max_in_flight_fetches(in_flight)
        .partition_max_bytes(16 << 10)
        .fetch_max_bytes(32 << 10)
        .fetch_buffer_bytes(64 << 10)
        .max_poll_records(300)
}

/// Polls until `count` records came (or 60 s passed).
async fn read(consumer: &mut Consumer, count: usize) -> Vec<ConsumerRecord> {
    read_records(consumer, count, Duration::from_secs(60)).await
}

/// The offsets received per partition, in the order received.
fn by_partition(records: &[ConsumerRecord]) -> BTreeMap<i32, Vec<i64>> {
    let mut map: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in records {
        map.entry(r.partition).or_default().push(r.offset);
    }
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_offset_comes_once_and_in_order_with_1_2_and_4_fetches_in_flight() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "many", PARTITIONS).await;
    let shop = producer(&addr).await;
    let total = 100_000u64;
    produce_range(&shop, "many", 0, total).await;
    for in_flight in [1, 2, 4] {
        let mut consumer = Consumer::connect(&addr, pipelined(in_flight))
            .await
            .expect("consumer");
        consumer.assign_topics(&["many"]).await.expect("assign");
        let records = read(&mut consumer, total as usize).await;
        assert_eq!(records.len(), total as usize, "{in_flight} in flight");
        let mut sum = 0u64;
        for (partition, offsets) in by_partition(&records) {
            let want: Vec<i64> = (0..offsets.len() as i64).collect();
            assert!(
                offsets == want,
                "{in_flight} in flight: partition {partition} offsets out of order, skipped or repeated"
            );
            sum += offsets.len() as u64;
        }
        assert_eq!(sum, total);
        let extra = consumer
            .poll(Duration::from_millis(300))
            .await
            .expect("poll");
        assert!(
            extra.is_empty(),
            "{in_flight} in flight: {} records too many",
            extra.len()
        );
        consumer.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seek_while_fetches_are_in_flight_reads_on_from_the_new_offset() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "sought", PARTITIONS).await;
    let shop = producer(&addr).await;
    let total = 20_000u64;
    produce_range(&shop, "sought", 0, total).await;
    let per_partition = (total / PARTITIONS as u64) as i64;
    let mut consumer = Consumer::connect(&addr, pipelined(4))
        .await
        .expect("consumer");
    consumer.assign_topics(&["sought"]).await.expect("assign");
    let mut records = Vec::new();
    while records.len() < 2_000 {
        records.extend(
            consumer
                .poll(Duration::from_millis(200))
                .await
                .expect("poll"),
        );
    }
    // The poll that returned records sent the next fetches: they are in flight.
    let tp = TopicPartition::new("sought", 0);
    let before = by_partition(&records);
    let seen = before.get(&0).map_or(0, Vec::len) as i64;
    let target = (seen + 5_000 / 4).min(per_partition - 1);
    consumer.seek(&tp, target).expect("seek");
    let rest = read(
        &mut consumer,
        (total as usize) - records.len() - (target - seen) as usize,
    )
    .await;
    let after = by_partition(&rest);
    for partition in 0..PARTITIONS {
        let earlier = before.get(&partition).cloned().unwrap_or_default();
        let later = after.get(&partition).cloned().unwrap_or_default();
        let first = if partition == 0 {
            target
        } else {
            earlier.len() as i64
        };
        assert_eq!(earlier, (0..earlier.len() as i64).collect::<Vec<_>>());
        assert_eq!(
            later,
            (first..per_partition).collect::<Vec<_>>(),
            "partition {partition} after the seek"
        );
    }
    consumer.close().await.expect("close");
}

#[tokio::test]
async fn zero_fetches_in_flight_is_refused_with_the_setting_named() {
    let broker = start_broker(10_000).await;
    let config = ConsumerConfig::new().max_in_flight_fetches(0);
    let error = match Consumer::connect(broker.addr().to_string(), config).await {
        Ok(_) => panic!("a consumer with 0 fetches in flight was created"),
        Err(e) => e,
    };
    assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
    assert!(
        error.to_string().contains("max_in_flight_fetches"),
        "{error}"
    );
}

//! Consumers across a broker restart, replaying by offset and by time, commits,
//! and the admin's view of a group.

mod consumer_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use consumer_support::{
    consumer_config, create_topic, produce_range, producer, read_records, start_broker,
    start_broker_behind_proxy, wait_until, Journal, Member,
};
use rill_client::{
    Admin, Consumer, ConsumerConfig, ConsumerRecord, Error, OffsetReset, TopicPartition,
};
use rill_protocol::api::ApiKey;
use rill_protocol::ErrorCode;
use tokio::time::Instant;

/// Committed offsets of `group` by partition.
async fn committed(addr: &str, group: &str) -> BTreeMap<i32, i64> {
    let admin = Admin::connect(addr).await.expect("admin");
    admin
        .describe_group(group)
        .await
        .expect("describe")
        .partitions
        .iter()
        .filter_map(|p| Some((p.partition.partition, p.committed?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_resume_from_committed_offsets_after_a_broker_restart() {
    const PHASE: u64 = 10_000;
    let mut broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "events", 6).await;
    let journal = Arc::new(Journal::default());
    let mut members = Vec::new();
    for id in 0..2 {
        // Slow members, so the restart lands while they are still reading.
        let config = consumer_config(&format!("restart-{id}")).max_poll_records(100);
        let m = Member::spawn(
            &addr,
            "restart",
            "events",
            id,
            config,
            journal.clone(),
            Duration::from_millis(20),
        )
        .await;
        members.push(m);
    }
    let shop = producer(&addr).await;
    produce_range(&shop, "events", 0, PHASE).await;
    shop.close().await.expect("close producer");
    wait_until("some progress", Duration::from_secs(10), || {
        journal.received() >= 2_000
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // an auto-commit or two
    let before = committed(&addr, "restart").await;
    assert_eq!(
        before.len(),
        6,
        "every partition committed before the restart: {before:?}"
    );
    let received_at_stop = journal.received();
    assert!(
        received_at_stop < PHASE as usize,
        "the restart should come mid-stream"
    );
    broker.stop().await.expect("the broker stops cleanly");
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker
        .restart_on_same_addr()
        .await
        .expect("the broker serves again on its address");
    let after = committed(&addr, "restart").await;
    for (partition, offset) in &before {
        let now = after.get(partition).copied().unwrap_or(-1);
        assert!(
            now >= *offset,
            "partition {partition}: committed {offset} before, {now} after"
        );
    }
    let shop = producer(&addr).await;
    produce_range(&shop, "events", PHASE, PHASE).await;
    wait_until("both phases", Duration::from_secs(30), || {
        journal.distinct() as u64 >= 2 * PHASE
    })
    .await;
    for m in members {
        m.close().await;
    }
    let got = journal.got.lock().expect("lock").clone();
    let mut times: BTreeMap<u64, u32> = BTreeMap::new();
    for g in got.iter() {
        *times.entry(g.value).or_default() += 1;
        // Re-read only from the committed offsets on, never from the start.
        if let Some(&from) = before.get(&g.partition) {
            if times[&g.value] > 1 {
                assert!(
                    g.offset >= from,
                    "{}/{} re-read below its commit {from}",
                    g.partition,
                    g.offset
                );
            }
        }
    }
    assert_eq!(times.len() as u64, 2 * PHASE, "every record of both phases");
    let again = times.values().filter(|&&n| n > 1).count();
    let last = committed(&addr, "restart").await;
    assert_eq!(
        last.values().sum::<i64>(),
        2 * PHASE as i64,
        "final commits cover everything: {last:?}"
    );
    println!(
        "restart: {} records; broker restarted after {received_at_stop} were read; commits survived \
         ({} partitions); {again} uncommitted records were read again",
        2 * PHASE,
        before.len()
    );
}

/// Polls until `count` records came (or 10 s passed).
async fn read(consumer: &mut Consumer, count: usize) -> Vec<ConsumerRecord> {
    read_records(consumer, count, Duration::from_secs(10)).await
}

fn values(records: &[ConsumerRecord]) -> Vec<u64> {
    records
        .iter()
        .map(|r| {
            std::str::from_utf8(r.value.as_deref().expect("value"))
                .expect("utf-8")
                .parse()
                .expect("number")
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_the_start_an_offset_and_a_time() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "history", 1).await;
    let shop = producer(&addr).await;
    produce_range(&shop, "history", 0, 1_000).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let middle_time = now_ms();
    tokio::time::sleep(Duration::from_millis(20)).await;
    produce_range(&shop, "history", 1_000, 1_000).await;

    let tp = TopicPartition::new("history", 0);
    let config = ConsumerConfig::new().fetch_max_wait(Duration::from_millis(50));
    let mut consumer = Consumer::connect(&addr, config).await.expect("consumer");
    consumer
        .assign(std::slice::from_ref(&tp))
        .await
        .expect("assign");

    consumer.seek(&tp, 0).expect("seek 0");
    let all = read(&mut consumer, 2_000).await;
    assert_eq!(values(&all), (0..2_000).collect::<Vec<_>>());
    assert!(all.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    assert!(consumer
        .poll(Duration::from_millis(200))
        .await
        .expect("poll")
        .is_empty());

    consumer.seek(&tp, 1_234).expect("seek middle");
    let tail = read(&mut consumer, 766).await;
    assert_eq!(values(&tail), (1_234..2_000).collect::<Vec<_>>());

    consumer
        .seek_to_timestamp(&[], middle_time)
        .await
        .expect("seek time");
    assert_eq!(consumer.position(&tp), Some(1_000));
    let second = read(&mut consumer, 1_000).await;
    assert_eq!(values(&second), (1_000..2_000).collect::<Vec<_>>());
    assert!(second.iter().all(|r| r.timestamp >= middle_time));

    consumer.seek_to_beginning(&[]).await.expect("beginning");
    assert_eq!(consumer.position(&tp), Some(0));
    let ends = consumer
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .expect("end offsets");
    assert_eq!(ends.get(&tp), Some(&2_000), "{ends:?}");
    assert_eq!(consumer.position(&tp), Some(0), "looking is not seeking");
    consumer.seek_to_end(&[]).await.expect("end");
    assert_eq!(consumer.position(&tp), Some(2_000));
    assert!(consumer
        .poll(Duration::from_millis(200))
        .await
        .expect("poll")
        .is_empty());
    consumer
        .seek_to_timestamp(&[], now_ms() + 60_000)
        .await
        .expect("future");
    assert_eq!(consumer.position(&tp), Some(2_000));

    let err = consumer
        .seek(&TopicPartition::new("history", 1), 0)
        .expect_err("unassigned");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    let err = consumer
        .assign(&[TopicPartition::new("nope", 0)])
        .await
        .expect_err("missing topic");
    assert_eq!(
        err.code(),
        Some(ErrorCode::UnknownTopicOrPartition),
        "{err}"
    );
    consumer.close().await.expect("close");
    println!(
        "replay: 2000 records; from 0 (2000), from 1234 (766), from a time (1000) read exactly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_commits_sync_and_async_show_in_the_group_description() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "ledger", 2).await;
    let shop = producer(&addr).await;
    produce_range(&shop, "ledger", 0, 100).await;
    let config = ConsumerConfig::new()
        .group_id("audit")
        .auto_commit(false)
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(50));
    let mut consumer = Consumer::connect(&addr, config.clone())
        .await
        .expect("consumer");
    consumer.assign_topics(&["ledger"]).await.expect("assign");
    let first = read(&mut consumer, 100).await;
    assert_eq!(first.len(), 100);
    let p0 = TopicPartition::new("ledger", 0);
    let p1 = TopicPartition::new("ledger", 1);
    consumer
        .commit_offsets(&[(p0.clone(), 10)])
        .await
        .expect("sync commit");
    assert_eq!(
        consumer
            .committed(&[p0.clone(), p1.clone()])
            .await
            .expect("committed")[&p1],
        None
    );
    consumer
        .commit_async()
        .await
        .expect("queued")
        .await
        .expect("async commit");
    let committed = consumer
        .committed(&[p0.clone(), p1.clone()])
        .await
        .expect("committed");
    assert_eq!(committed[&p0], Some(50));
    assert_eq!(committed[&p1], Some(50));

    let admin = Admin::connect(&addr).await.expect("admin");
    produce_range(&shop, "ledger", 100, 10).await;
    let group = admin.describe_group("audit").await.expect("describe");
    assert_eq!(group.state, "empty");
    let lags: Vec<_> = group
        .partitions
        .iter()
        .map(|p| (p.partition.partition, p.committed, p.log_end, p.lag))
        .collect();
    assert_eq!(
        lags,
        [
            (0, Some(50), Some(55), Some(5)),
            (1, Some(50), Some(55), Some(5))
        ]
    );
    assert_eq!(group.total_lag(), 10);
    let groups = admin.list_groups().await.expect("list");
    assert!(groups
        .iter()
        .any(|g| g.group_id == "audit" && g.members == 0));
    let err = admin
        .describe_group("nobody")
        .await
        .expect_err("unknown group");
    assert_eq!(err.code(), Some(ErrorCode::GroupIdNotFound), "{err}");
    consumer.close().await.expect("close");

    // A new consumer of the group starts where the commits say.
    let mut again = Consumer::connect(&addr, config).await.expect("consumer");
    again.assign_topics(&["ledger"]).await.expect("assign");
    let rest = read(&mut again, 10).await;
    let mut offsets: Vec<(i32, i64)> = rest.iter().map(|r| (r.partition, r.offset)).collect();
    offsets.sort();
    let expected: Vec<(i32, i64)> = (0..2).flat_map(|p| (50..55).map(move |o| (p, o))).collect();
    assert_eq!(offsets, expected);
    again.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_fetch_is_in_flight_while_the_application_processes() {
    let (broker, tap) = start_broker_behind_proxy(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "stream", 1).await;
    let shop = producer(&addr).await;
    produce_range(&shop, "stream", 0, 100).await;
    let fetches_between = |from: Instant, to: Instant| {
        let fetches = tap.requests(ApiKey::Fetch.code());
        fetches
            .iter()
            .filter(|at| (from..=to).contains(*at))
            .count()
    };
    let config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(2_000));
    let mut consumer = Consumer::connect(tap.addr(), config)
        .await
        .expect("consumer");
    consumer.assign_topics(&["stream"]).await.expect("assign");
    let first = read(&mut consumer, 100).await;
    assert_eq!(first.len(), 100);
    let returned = Instant::now();
    // The application works on the batch; meanwhile more records arrive.
    produce_range(&shop, "stream", 100, 100).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let called = Instant::now();
    assert!(
        fetches_between(returned - Duration::from_millis(50), called) >= 1,
        "no fetch was sent ahead of the application"
    );
    let second = consumer.poll(Duration::from_secs(5)).await.expect("poll");
    let waited = called.elapsed();
    assert_eq!(values(&second), (100..200).collect::<Vec<_>>());
    // The answer was already there: no round trip, let alone a 2 s long-poll.
    assert!(waited < Duration::from_millis(50), "poll waited {waited:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let now = Instant::now();
    assert_eq!(
        fetches_between(called, now),
        1,
        "the next fetch goes out with the answer"
    );
    consumer.close().await.expect("close");
}

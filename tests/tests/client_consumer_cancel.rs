//! Cancelling `Consumer::poll` and revocations: a poll dropped at any await
//! (revocation commit, fetch) loses and repeats nothing, a revocation always
//! commits what `poll` returned before the partition moves (with or without
//! auto-commit, and after a failed commit), and every partition stays consumed.

mod consumer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use consumer_support::{
    consumer_config, create_topic, produce_range, producer, start_broker, wait_until,
};
use rill_client::{Consumer, ConsumerRecord, TopicPartition};
use rill_tests::proxy::FaultProxy;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// OffsetCommit's api key.
const OFFSET_COMMIT: i16 = 8;

fn value(record: &ConsumerRecord) -> u64 {
    std::str::from_utf8(record.value.as_deref().expect("value"))
        .expect("utf-8")
        .parse()
        .expect("number")
}

/// Polls `a` and `b` in turn (100 ms each) until they received `count` records
/// together or `limit` passed; returns what each received.
async fn poll_both(
    a: &mut Consumer,
    b: &mut Consumer,
    count: usize,
    limit: Duration,
) -> (Vec<u64>, Vec<u64>) {
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let end = Instant::now() + limit;
    while got_a.len() + got_b.len() < count && Instant::now() < end {
        let records = a.poll(Duration::from_millis(100)).await.expect("poll a");
        got_a.extend(records.iter().map(value));
        let records = b.poll(Duration::from_millis(100)).await.expect("poll b");
        got_b.extend(records.iter().map(value));
    }
    (got_a, got_b)
}

/// Polls `consumer` until it received `count` records.
async fn receive(consumer: &mut Consumer, count: usize) -> Vec<u64> {
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    while got.len() < count {
        assert!(
            Instant::now() < end,
            "only {} of {count} records",
            got.len()
        );
        let records = consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll");
        got.extend(records.iter().map(value));
    }
    got
}

/// Lets `b` join while `a` keeps its partitions without polling, so that `a`'s
/// heartbeat has the revocation waiting when `a` polls next.
async fn join_without_a_polling(b: &mut Consumer) {
    for _ in 0..10 {
        b.poll(Duration::from_millis(200)).await.expect("poll b");
    }
}

/// Regression test (review): a poll dropped while it commits a revocation used
/// to leave the partition claimed by the member but read by nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_cancelled_during_a_revocation_still_hands_the_partition_over() {
    let broker = start_broker(3_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "t", 2).await;
    let producer = producer(&addr).await;
    produce_range(&producer, "t", 0, 20).await;
    // Every answer to A takes 300 ms, so its revocation commit is still on its
    // way when its poll is dropped.
    let slow = FaultProxy::start(broker.addr()).await.expect("proxy");
    slow.delay(Duration::from_millis(300));

    let mut a = Consumer::connect(slow.addr(), consumer_config("a"))
        .await
        .expect("a");
    a.subscribe(&["t"], "g").await.expect("subscribe a");
    let first = receive(&mut a, 20).await;
    assert_eq!(first.len(), 20);
    assert_eq!(a.assignment().len(), 2);

    let mut b = Consumer::connect(&addr, consumer_config("b"))
        .await
        .expect("b");
    b.subscribe(&["t"], "g").await.expect("subscribe b");
    join_without_a_polling(&mut b).await;
    let cancelled =
        tokio::time::timeout(Duration::from_millis(100), a.poll(Duration::from_secs(1))).await;
    assert!(cancelled.is_err(), "the poll should have been cut short");
    assert_eq!(
        a.assignment().len(),
        1,
        "the revoked partition is no longer read by A"
    );

    produce_range(&producer, "t", 20, 20).await;
    let (got_a, got_b) = poll_both(&mut a, &mut b, 20, Duration::from_secs(15)).await;
    let all: BTreeSet<u64> = got_a.iter().chain(&got_b).copied().collect();
    assert_eq!(
        got_b.len(),
        10,
        "B reads the revoked partition from A's commit on: {got_b:?}"
    );
    assert_eq!(got_a.len(), 10, "A keeps its other partition: {got_a:?}");
    assert_eq!(all, (20..40).collect(), "each new record once, none old");
    let (ta, tb) = (a.assignment(), b.assignment());
    assert!(ta.is_disjoint(&tb) && ta.len() + tb.len() == 2);
    a.close().await.expect("close a");
    b.close().await.expect("close b");
}

/// Per §5.9 a revocation commits the revoked positions also without auto-commit,
/// so the next owner continues where the last one stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_commit_a_revocation_still_commits_what_poll_returned() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "t", 2).await;
    let producer = producer(&addr).await;
    produce_range(&producer, "t", 0, 20).await;
    let manual = |id: &str| consumer_config(id).auto_commit(false);

    let mut a = Consumer::connect(&addr, manual("a")).await.expect("a");
    a.subscribe(&["t"], "g").await.expect("subscribe a");
    receive(&mut a, 20).await;
    let mut b = Consumer::connect(&addr, manual("b")).await.expect("b");
    b.subscribe(&["t"], "g").await.expect("subscribe b");
    join_without_a_polling(&mut b).await;

    produce_range(&producer, "t", 20, 20).await;
    let (got_a, got_b) = poll_both(&mut a, &mut b, 20, Duration::from_secs(15)).await;
    assert!(
        got_b.iter().all(|v| *v >= 20) && got_b.len() == 10,
        "B starts where A stopped: {got_b:?}"
    );
    assert_eq!(got_a.len(), 10, "{got_a:?}");
    let moved: Vec<TopicPartition> = b.assignment().into_iter().collect();
    let committed = b.committed(&moved).await.expect("committed");
    assert_eq!(
        committed.values().copied().collect::<Vec<_>>(),
        vec![Some(10)]
    );
}

/// A revocation commit cut off with its connection is retried before the
/// partition is released; it is never released uncommitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_revocation_commit_is_retried_before_the_partition_moves() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "t", 2).await;
    let producer = producer(&addr).await;
    produce_range(&producer, "t", 0, 20).await;
    let proxy = FaultProxy::start(broker.addr()).await.expect("proxy");
    let manual = |id: &str| consumer_config(id).auto_commit(false);

    let mut a = Consumer::connect(proxy.addr(), manual("a"))
        .await
        .expect("a");
    a.subscribe(&["t"], "g").await.expect("subscribe a");
    receive(&mut a, 20).await;
    // A's only commit is the revocation's: its first try loses its connection.
    proxy.cut_next_request(OFFSET_COMMIT);
    let mut b = Consumer::connect(&addr, manual("b")).await.expect("b");
    b.subscribe(&["t"], "g").await.expect("subscribe b");
    join_without_a_polling(&mut b).await;

    produce_range(&producer, "t", 20, 20).await;
    let (got_a, got_b) = poll_both(&mut a, &mut b, 20, Duration::from_secs(15)).await;
    assert_eq!(proxy.cuts(), 1, "the revocation commit was cut once");
    assert!(
        got_b.iter().all(|v| *v >= 20) && got_b.len() == 10,
        "B starts where A stopped: {got_b:?}"
    );
    assert_eq!(got_a.len(), 10, "{got_a:?}");
}

/// xorshift64*: enough randomness for cancellation points, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// `(member, partition, offset, value)` of every record a member received.
type Log = Arc<Mutex<Vec<(usize, i32, i64, u64)>>>;

/// A member whose every poll runs under a random timeout of 0-8 ms.
struct Canceller {
    stop: Arc<AtomicBool>,
    task: JoinHandle<(Consumer, usize)>,
    assignment: Arc<Mutex<BTreeSet<TopicPartition>>>,
}

impl Canceller {
    async fn spawn(addr: &str, id: usize, seed: u64, log: Log) -> Canceller {
        let mut consumer = Consumer::connect(addr, consumer_config(&format!("m{id}")))
            .await
            .expect("consumer");
        consumer.subscribe(&["t"], "g").await.expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(BTreeSet::new()));
        let (stopping, seen) = (stop.clone(), assignment.clone());
        let task = tokio::spawn(async move {
            let mut rng = Rng(seed | 1);
            let mut cancelled = 0;
            while !stopping.load(Ordering::Acquire) {
                let limit = Duration::from_micros(rng.below(8_000));
                match tokio::time::timeout(limit, consumer.poll(Duration::from_millis(30))).await {
                    Ok(records) => {
                        let records = records.expect("poll");
                        let mut log = log.lock().expect("lock");
                        log.extend(
                            records
                                .iter()
                                .map(|r| (id, r.partition, r.offset, value(r))),
                        );
                    }
                    Err(_) => cancelled += 1,
                }
                *seen.lock().expect("lock") = consumer.assignment();
            }
            (consumer, cancelled)
        });
        Canceller {
            stop,
            task,
            assignment,
        }
    }

    async fn close(self) -> usize {
        self.stop.store(true, Ordering::Release);
        let (consumer, cancelled) = self.task.await.expect("member task");
        consumer.close().await.expect("close");
        cancelled
    }
}

/// Members join and leave while every poll is cancelled at a random point: each
/// record arrives exactly once, in order per partition, and every partition keeps
/// being consumed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polls_cancelled_at_random_points_lose_and_repeat_nothing() {
    const TOTAL: u64 = 2_000;
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Rng(seed | 1);
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "t", 4).await;
    // A little latency on every answer, so that commits and fetches are often
    // on their way when a poll is dropped.
    let proxy = FaultProxy::start(broker.addr()).await.expect("proxy");
    proxy.delay(Duration::from_millis(2));
    let through = proxy.addr().to_string();
    let producer = producer(&addr).await;
    let log: Log = Arc::default();

    let m0 = Canceller::spawn(&through, 0, rng.below(u64::MAX), log.clone()).await;
    produce_range(&producer, "t", 0, 500).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m1 = Canceller::spawn(&through, 1, rng.below(u64::MAX), log.clone()).await;
    produce_range(&producer, "t", 500, 500).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let m2 = Canceller::spawn(&through, 2, rng.below(u64::MAX), log.clone()).await;
    produce_range(&producer, "t", 1_000, 500).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let cancelled_1 = m1.close().await;
    produce_range(&producer, "t", 1_500, 500).await;

    let received = || log.lock().expect("lock").len();
    wait_until("every record", Duration::from_secs(30), || {
        received() >= TOTAL as usize
    })
    .await;
    let everything: BTreeSet<TopicPartition> =
        (0..4).map(|p| TopicPartition::new("t", p)).collect();
    wait_until(
        "the two members left to own every partition",
        Duration::from_secs(10),
        || {
            let a = m0.assignment.lock().expect("lock").clone();
            let b = m2.assignment.lock().expect("lock").clone();
            a.is_disjoint(&b) && a.union(&b).cloned().collect::<BTreeSet<_>>() == everything
        },
    )
    .await;
    // Anything late would be a repeat.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancelled = cancelled_1 + m0.close().await + m2.close().await;

    let log = log.lock().expect("lock");
    let values: BTreeSet<u64> = log.iter().map(|g| g.3).collect();
    assert_eq!(values, (0..TOTAL).collect(), "every record arrived");
    assert_eq!(log.len(), TOTAL as usize, "no record arrived twice");
    let mut by_partition: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for &(_, partition, offset, _) in log.iter() {
        by_partition.entry(partition).or_default().push(offset);
    }
    for (partition, offsets) in by_partition {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, expected, "partition {partition} in order");
    }
    let members: BTreeSet<usize> = log.iter().map(|g| g.0).collect();
    assert_eq!(members.len(), 3, "every member consumed");
    assert!(cancelled > 100, "only {cancelled} polls were cancelled");
}

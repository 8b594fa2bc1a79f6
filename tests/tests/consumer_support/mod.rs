//! Shared pieces of the consumer tests: a broker in the test process (a
//! `rill_broker::embedded` broker with quick group timing), a producer helper, and group
//! members running as tasks that log every record they receive, when, and the
//! partitions they were processing between polls.
//!
//! A member's *processing interval* for a partition runs from the moment `poll`
//! returned records of that partition to the moment the member called `poll`
//! again (the application is done with them). Two members must never have
//! overlapping intervals on one partition.

#![allow(dead_code)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_broker::BrokerConfig;
use rill_client::{
    Admin, Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Partitioner, Producer,
    ProducerConfig, TopicPartition,
};
use rill_tests::proxy::FaultProxy;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Starts a broker whose groups heartbeat every 100 ms and expire after
/// `session_ms`, in a temporary data directory (removed when it is dropped). A
/// stop must finish within 20 s.
pub async fn start_broker(session_ms: u64) -> EmbeddedBroker {
    start_with(session_ms, None).await
}

/// Like [`start_broker`], advertising a fault proxy in front of the broker: every
/// client, from any bootstrap address, fetches and produces through the proxy.
pub async fn start_broker_behind_proxy(session_ms: u64) -> (EmbeddedBroker, FaultProxy) {
    let proxy = FaultProxy::bind().await.expect("proxy");
    let broker = start_with(session_ms, Some(proxy.addr().to_string())).await;
    proxy.forward_to(broker.addr());
    (broker, proxy)
}

async fn start_with(session_ms: u64, advertised_addr: Option<String>) -> EmbeddedBroker {
    let mut config = BrokerConfig {
        advertised_addr,
        ..BrokerConfig::default()
    };
    config.groups.heartbeat_interval_ms = 100;
    config.groups.session_timeout_ms = session_ms;
    EmbeddedBroker::builder()
        .config(config)
        .stop_timeout(Duration::from_secs(20))
        .start()
        .await
        .expect("start the embedded broker")
}

/// Creates `topic` with `partitions` partitions.
pub async fn create_topic(addr: &str, topic: &str, partitions: i32) {
    let admin = Admin::connect(addr).await.expect("admin");
    admin
        .create_topic(topic, partitions, &[])
        .await
        .expect("create topic");
}

/// A producer spreading keyless records evenly (round robin).
pub async fn producer(addr: &str) -> Producer {
    let config = ProducerConfig::new()
        .partitioner(Partitioner::RoundRobin)
        .linger(Duration::from_millis(2));
    Producer::connect(addr, config).await.expect("producer")
}

/// Sends records with values `"{first}"..` up to `first + count` and waits for
/// every acknowledgement.
pub async fn produce_range(producer: &Producer, topic: &str, first: u64, count: u64) {
    let mut deliveries = Vec::with_capacity(count as usize);
    for i in first..first + count {
        let value = i.to_string();
        deliveries.push(
            producer
                .enqueue(topic, None, Some(value.as_bytes()), &[])
                .await
                .expect("enqueue"),
        );
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
}

/// Consumer settings for tests: earliest, short waits, frequent auto-commits.
pub fn consumer_config(client_id: &str) -> ConsumerConfig {
    ConsumerConfig::new()
        .client_id(client_id)
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .auto_commit_interval(Duration::from_millis(200))
        .retry_backoff(Duration::from_millis(50))
}

/// One received record.
#[derive(Debug, Clone)]
pub struct Got {
    pub member: usize,
    pub partition: i32,
    pub offset: i64,
    pub value: u64,
    pub at: Instant,
}

/// A member processing a partition between `from` and `to`.
#[derive(Debug, Clone)]
pub struct Interval {
    pub member: usize,
    pub partition: i32,
    pub from: Instant,
    pub to: Instant,
}

/// What the members of a test saw.
#[derive(Debug, Default)]
pub struct Journal {
    pub got: Mutex<Vec<Got>>,
    pub intervals: Mutex<Vec<Interval>>,
    /// Each member's latest assignment.
    pub assignments: Mutex<HashMap<usize, BTreeSet<TopicPartition>>>,
}

impl Journal {
    pub fn received(&self) -> usize {
        self.got.lock().expect("lock").len()
    }

    pub fn assignment(&self, member: usize) -> BTreeSet<TopicPartition> {
        self.assignments
            .lock()
            .expect("lock")
            .get(&member)
            .cloned()
            .unwrap_or_default()
    }

    /// Distinct values received.
    pub fn distinct(&self) -> usize {
        let got = self.got.lock().expect("lock");
        got.iter().map(|g| g.value).collect::<BTreeSet<_>>().len()
    }
}

/// A group member polling in a task.
pub struct Member {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Consumer>,
}

impl Member {
    /// Joins `group` on `topic` as member number `id`, logging into `journal`;
    /// sleeps `work` after each non-empty poll to stand for processing.
    pub async fn spawn(
        addr: &str,
        group: &str,
        topic: &str,
        id: usize,
        config: ConsumerConfig,
        journal: Arc<Journal>,
        work: Duration,
    ) -> Member {
        let mut consumer = Consumer::connect(addr, config).await.expect("consumer");
        consumer
            .subscribe(&[topic], group)
            .await
            .expect("subscribe");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            let mut last: Option<(BTreeSet<i32>, Instant)> = None;
            while !stopping.load(Ordering::Acquire) {
                let called = Instant::now();
                if let Some((partitions, from)) = last.take() {
                    let mut intervals = journal.intervals.lock().expect("lock");
                    for partition in partitions {
                        intervals.push(Interval {
                            member: id,
                            partition,
                            from,
                            to: called,
                        });
                    }
                }
                let records = consumer
                    .poll(Duration::from_millis(100))
                    .await
                    .expect("poll");
                let at = Instant::now();
                journal
                    .assignments
                    .lock()
                    .expect("lock")
                    .insert(id, consumer.assignment());
                if records.is_empty() {
                    continue;
                }
                let mut partitions = BTreeSet::new();
                {
                    let mut got = journal.got.lock().expect("lock");
                    for r in &records {
                        partitions.insert(r.partition);
                        let value = std::str::from_utf8(r.value.as_deref().expect("value"))
                            .expect("utf-8")
                            .parse()
                            .expect("number");
                        got.push(Got {
                            member: id,
                            partition: r.partition,
                            offset: r.offset,
                            value,
                            at,
                        });
                    }
                }
                last = Some((partitions, at));
                if !work.is_zero() {
                    tokio::time::sleep(work).await;
                }
            }
            if let Some((partitions, from)) = last {
                let to = Instant::now();
                let mut intervals = journal.intervals.lock().expect("lock");
                for partition in partitions {
                    intervals.push(Interval {
                        member: id,
                        partition,
                        from,
                        to,
                    });
                }
            }
            consumer
        });
        Member { stop, task }
    }

    /// Stops polling and closes the consumer (commit, leave).
    pub async fn close(self) {
        self.stop.store(true, Ordering::Release);
        let consumer = self.task.await.expect("member task");
        consumer.close().await.expect("close");
    }

    /// Kills the member without leaving: its task (and consumer) is dropped mid-poll.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Polls `consumer` until `count` records arrived or `within` passed.
pub async fn read_records(
    consumer: &mut Consumer,
    count: usize,
    within: Duration,
) -> Vec<ConsumerRecord> {
    let mut out = Vec::with_capacity(count);
    let deadline = Instant::now() + within;
    while out.len() < count && Instant::now() < deadline {
        out.extend(
            consumer
                .poll(Duration::from_millis(200))
                .await
                .expect("poll"),
        );
    }
    out
}

/// Waits until `check` holds, polling every 20 ms, at most `limit`.
pub async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks that no two members processed one partition at overlapping times.
pub fn assert_no_overlap(journal: &Journal) {
    let intervals = journal.intervals.lock().expect("lock");
    let mut by_partition: HashMap<i32, Vec<&Interval>> = HashMap::new();
    for i in intervals.iter() {
        by_partition.entry(i.partition).or_default().push(i);
    }
    for (partition, mut list) in by_partition {
        list.sort_by_key(|i| i.from);
        let mut latest: HashMap<usize, Instant> = HashMap::new();
        for b in list {
            for (member, to) in &latest {
                assert!(
                    *member == b.member || *to <= b.from,
                    "partition {partition}: member {member} processed until {to:?} after member {} started at {:?}",
                    b.member,
                    b.from
                );
            }
            let to = latest.entry(b.member).or_insert(b.to);
            *to = (*to).max(b.to);
        }
    }
}

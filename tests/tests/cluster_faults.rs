//! Fault schedules against three `rill-broker` processes, judged by the
//! checker: while two idempotent producers send unique values with `acks=all`
//! and a consumer reads along, the nemesis kills, pauses, isolates, cuts, delays,
//! restarts and wipes brokers, one fault at a time. After healing, every
//! partition is read whole and each replica's log is read from its disk, and the
//! checker must find no acknowledged record lost, no fork, no duplicate, no
//! reordering, no read of an uncommitted record and no high watermark going back.
//!
//! By default the schedule is at least 50 fault events in at most 3 minutes.
//! `FAULT_MINUTES=N` runs for at least N minutes and 1,000 fault events
//! instead; `FAULT_SEED` replays a schedule; `FAULT_ONLY=kill-leader,...`
//! draws only the faults named (as printed, spaces as dashes). The report (and, for leader
//! kills, the time from the kill to the first acknowledged produce on the
//! partitions it led) is printed; run with `--nocapture` to see it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_client::{
    Consumer, ConsumerConfig, OffsetReset, Partitioner, Producer, ProducerConfig, TopicPartition,
};
use rill_protocol::RecordBatch;
use rill_storage::{Log as StoredLog, LogOptions};
use rill_tests::checker::{self, History, Log, Outcome, Produce, Read};
use rill_tests::cluster::{Cluster, TIMING};
use rill_tests::nemesis::{self, Event, Fault, Nemesis};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

const BROKER: &str = env!("CARGO_BIN_EXE_broker_process");
const TOPIC: &str = "ledger";
const PARTITIONS: i32 = 3;
const WRITERS: usize = 2;
/// Produces a writer may have waiting for their outcome.
const IN_FLIGHT: usize = 256;

/// How long the schedule runs.
struct Schedule {
    faults: usize,
    at_least: Duration,
    at_most: Option<Duration>,
}

fn schedule() -> Schedule {
    match std::env::var("FAULT_MINUTES") {
        Ok(minutes) => {
            let minutes: u64 = minutes
                .parse()
                .unwrap_or_else(|_| panic!("FAULT_MINUTES={minutes:?}: not a number"));
            Schedule {
                faults: 1000,
                at_least: Duration::from_secs(60 * minutes),
                at_most: None,
            }
        }
        Err(_) => Schedule {
            faults: 50,
            at_least: Duration::ZERO,
            at_most: Some(Duration::from_secs(180)),
        },
    }
}

/// The faults a schedule draws from: every one, or those `FAULT_ONLY` names.
fn faults() -> Vec<Fault> {
    let Ok(only) = std::env::var("FAULT_ONLY") else {
        return nemesis::ALL.to_vec();
    };
    let name = |f: &Fault| f.to_string().replace(' ', "-");
    only.split(',')
        .map(|wanted| {
            let wanted = wanted.trim();
            nemesis::ALL
                .into_iter()
                .find(|f| name(f) == wanted)
                .unwrap_or_else(|| {
                    let allowed: Vec<String> = nemesis::ALL.iter().map(name).collect();
                    panic!(
                        "FAULT_ONLY names {wanted:?}; allowed: {}",
                        allowed.join(", ")
                    )
                })
        })
        .collect()
}

/// What the clients saw, shared by their tasks.
#[derive(Default)]
struct Recorder {
    produces: Mutex<Vec<Produce>>,
    reads: Mutex<Vec<Read>>,
}

impl Recorder {
    fn produced(&self, p: Produce) {
        self.produces
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(p);
    }
}

fn all_partitions() -> Vec<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect()
}

/// Sends unique values `w{id}-{n}` until told to stop, then waits for every
/// outcome.
async fn write(
    id: usize,
    producer: Producer,
    recorder: Arc<Recorder>,
    stop: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut outcomes = JoinSet::new();
    let mut n = 0u64;
    while !*stop.borrow() {
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("semaphore");
        let value = format!("w{id}-{n}");
        n += 1;
        let invoked = Instant::now();
        let record = move |value: String, outcome| Produce {
            producer: id,
            value,
            invoked,
            completed: Instant::now(),
            outcome,
        };
        match producer
            .enqueue(TOPIC, None, Some(value.as_bytes()), &[])
            .await
        {
            Ok(delivery) => {
                let recorder = Arc::clone(&recorder);
                outcomes.spawn(async move {
                    let outcome = match delivery.await {
                        Ok(m) => Outcome::Acked {
                            partition: m.partition,
                            offset: m.offset,
                        },
                        Err(e) => Outcome::Failed(e.to_string()),
                    };
                    recorder.produced(record(value, outcome));
                    drop(permit);
                });
            }
            Err(e) => recorder.produced(record(value, Outcome::Failed(e.to_string()))),
        }
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
    while outcomes.join_next().await.is_some() {}
    // Outcomes are all known; a close that cannot reach a broker changes none.
    let _ = producer.close().await;
}

/// Reads every partition from the beginning until told to stop, noting each
/// poll's records and the high watermark of every partition.
async fn read_along(mut consumer: Consumer, recorder: Arc<Recorder>, stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let Ok(records) = consumer.poll(Duration::from_millis(200)).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut reads = Vec::new();
        for tp in all_partitions() {
            let Some(high_watermark) = consumer.high_watermark(&tp) else {
                continue;
            };
            reads.push(Read {
                reader: 0,
                partition: tp.partition,
                high_watermark,
                records: records
                    .iter()
                    .filter(|r| r.partition == tp.partition)
                    .map(|r| (r.offset, value_of(r.value.as_deref())))
                    .collect(),
            });
        }
        recorder
            .reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(reads);
    }
}

fn value_of(value: Option<&[u8]>) -> String {
    String::from_utf8_lossy(value.unwrap_or_default()).into_owned()
}

/// Every partition read whole through a new consumer, and its end offset.
async fn read_whole(bootstrap: &str) -> (BTreeMap<i32, Log>, BTreeMap<i32, i64>) {
    let config = ConsumerConfig::new().offset_reset(OffsetReset::Earliest);
    let mut consumer = Consumer::connect(bootstrap, config)
        .await
        .expect("consumer");
    let all = all_partitions();
    consumer.assign(&all).await.expect("assign");
    let ends = consumer.end_offsets(&all).await.expect("end offsets");
    let mut logs: BTreeMap<i32, Log> = (0..PARTITIONS).map(|p| (p, Log::new())).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while all
        .iter()
        .any(|tp| consumer.position(tp).unwrap_or(0) < ends[tp])
    {
        assert!(
            Instant::now() < deadline,
            "final read incomplete after 60 s"
        );
        for r in consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
        {
            let log = logs.entry(r.partition).or_default();
            log.insert(r.offset, value_of(r.value.as_deref()));
        }
    }
    let ends = ends
        .into_iter()
        .map(|(tp, end)| (tp.partition, end))
        .collect();
    (logs, ends)
}

/// Broker `id`'s log of `partition`, read from its disk (the broker is down):
/// offset to value, control batches skipped.
fn replica_log(cluster: &Cluster, id: usize, partition: i32) -> Log {
    let dir = cluster.dir(id).join(TOPIC).join(partition.to_string());
    let log = StoredLog::open(&dir, LogOptions::default())
        .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()));
    let mut records = Log::new();
    let mut offset = log.log_start_offset();
    loop {
        let read = log.read(offset, 1 << 20).expect("read replica log");
        if read.bytes.is_empty() {
            break;
        }
        let mut rest = &read.bytes[..];
        while !rest.is_empty() {
            let (batch, tail) = RecordBatch::split_first(rest).expect("stored batch");
            rest = tail;
            offset = batch.next_offset();
            if batch.header().is_control() {
                continue;
            }
            let section = batch.records_section(64 << 20).expect("records");
            for record in batch.records_in(&section) {
                let record = record.expect("record");
                records.insert(record.offset, value_of(record.value));
            }
        }
    }
    records
}

/// Waits up to 30 s until every partition has a leader.
async fn led(cluster: &Cluster) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while nemesis::leaders(cluster, TOPIC).await.len() < PARTITIONS as usize {
        assert!(
            Instant::now() < deadline,
            "partitions without a leader after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// For each leader kill, the time from the kill to the first acknowledgement
/// of a record sent after it to a partition the victim led; sorted.
fn failovers(events: &[Event], produces: &[Produce]) -> Vec<Duration> {
    let mut times: Vec<Duration> = events
        .iter()
        .filter(|e| e.fault == Fault::KillLeader && !e.led.is_empty())
        .filter_map(|e| {
            produces
                .iter()
                .filter(|p| p.invoked >= e.at)
                .filter(|p| {
                    matches!(p.outcome, Outcome::Acked { partition, .. } if e.led.contains(&partition))
                })
                .map(|p| p.completed - e.at)
                .min()
        })
        .collect();
    times.sort();
    times
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_acknowledged_record_is_lost_through_faults() {
    let schedule = schedule();
    let faults = faults();
    let seed = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("fault schedule seed {seed} (FAULT_SEED replays it)");
    let mut rng = StdRng::seed_from_u64(seed);

    let data = tempfile::tempdir().expect("tempdir");
    let mut env = TIMING.to_vec();
    env.push(("RUST_LOG", "error"));
    let mut cluster = Cluster::start_linked(BROKER, data.path(), &env).await;
    let mut admin = rill_tests::client::TestClient::connect(cluster.addr(1))
        .await
        .expect("connect");
    admin
        .create_topic(TOPIC, PARTITIONS)
        .await
        .expect("create topic");
    led(&cluster).await;

    let recorder = Arc::new(Recorder::default());
    let (stop_writers, writers_stop) = watch::channel(false);
    let (stop_reader, reader_stop) = watch::channel(false);
    let mut clients = JoinSet::new();
    for id in 0..WRITERS {
        let config = ProducerConfig::new().partitioner(Partitioner::RoundRobin);
        let producer = Producer::connect(cluster.bootstrap(), config)
            .await
            .expect("producer");
        let task = write(id, producer, Arc::clone(&recorder), writers_stop.clone());
        clients.spawn(task);
    }
    let config = ConsumerConfig::new().offset_reset(OffsetReset::Earliest);
    let mut consumer = Consumer::connect(cluster.bootstrap(), config)
        .await
        .expect("consumer");
    consumer.assign(&all_partitions()).await.expect("assign");
    let reader = tokio::spawn(read_along(consumer, Arc::clone(&recorder), reader_stop));

    let mut nemesis = Nemesis::new(TOPIC, StdRng::seed_from_u64(rng.gen()));
    let started = Instant::now();
    let mut events = Vec::new();
    let mut count = 0;
    while count < schedule.faults || started.elapsed() < schedule.at_least {
        let fault = faults[rng.gen_range(0..faults.len())];
        let event = nemesis.strike(&mut cluster, fault).await;
        println!(
            "{:>8.1?} {fault} (broker {}, leading {:?})",
            event.at - started,
            event.victim,
            event.led
        );
        count += event.events;
        events.push(event);
        // One fault at a time: the next strikes a whole cluster, every replica
        // caught up (a wiped broker re-replicated), as an operator would wait.
        let groups = 1 + PARTITIONS as usize;
        let whole = nemesis::replicated(&cluster, groups, 50, Duration::from_secs(30)).await;
        assert!(
            whole.is_some(),
            "not every replica caught up within 30 s of {fault}"
        );
        tokio::time::sleep(Duration::from_millis(rng.gen_range(100..400))).await;
    }
    let faulted_for = started.elapsed();
    cluster.heal();
    let healed = Instant::now();
    led(&cluster).await;
    // The cluster carries on: every partition acknowledges records sent after
    // healing (within 30 s), then the writers stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut waiting = all_partitions();
    while !waiting.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let produces = recorder.produces.lock().expect("produces");
        waiting.retain(|tp| {
            !produces.iter().any(|p| {
                p.invoked >= healed
                    && matches!(p.outcome, Outcome::Acked { partition, .. } if partition == tp.partition)
            })
        });
    }
    let recovered_in = healed.elapsed();
    stop_writers.send_replace(true);
    while let Some(done) = clients.join_next().await {
        done.expect("writer");
    }
    stop_reader.send_replace(true);
    reader.await.expect("reader");

    let (final_logs, final_watermarks) = read_whole(&cluster.bootstrap()).await;
    // Followers learn the last commits with the next heartbeat.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in 1..=3 {
        cluster.kill(id);
    }
    let mut replica_logs = BTreeMap::new();
    for id in 1..=3 {
        for p in 0..PARTITIONS {
            replica_logs.insert((id, p), replica_log(&cluster, id, p));
        }
    }
    let produces = std::mem::take(&mut *recorder.produces.lock().expect("produces"));
    let reads = std::mem::take(&mut *recorder.reads.lock().expect("reads"));
    let failover = failovers(&events, &produces);
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for p in &produces {
        if let Outcome::Failed(reason) = &p.outcome {
            let reason: String = reason.chars().take(70).collect();
            *failures.entry(reason).or_default() += 1;
        }
    }

    let history = History {
        produces,
        reads,
        final_logs,
        final_watermarks,
        replica_logs,
    };
    let report = checker::check(&history);

    let mut by_kind = BTreeMap::new();
    for e in &events {
        *by_kind.entry(e.fault.to_string()).or_insert(0) += e.events;
    }
    println!("{count} fault events in {faulted_for:.1?}: {by_kind:?}");
    println!(
        "leader kill to first ack on its partitions over {} kills: p50 {:?}, p99 {:?}, max {:?}",
        failover.len(),
        percentile(&failover, 0.5),
        percentile(&failover, 0.99),
        failover.last().copied().unwrap_or_default()
    );
    println!("failed produces by reason: {failures:#?}");
    println!("checker: {report}");
    println!("every partition acknowledged again {recovered_in:.1?} after healing");
    assert!(
        waiting.is_empty(),
        "{waiting:?} acknowledged nothing sent in 30 s after healing"
    );
    assert!(report.is_clean(), "{report}");
    assert!(
        report.acked > 1000,
        "too few records acknowledged: {report}"
    );
    if let Some(at_most) = schedule.at_most {
        assert!(
            faulted_for <= at_most,
            "{count} fault events took {faulted_for:?}, over {at_most:?}"
        );
    }
}

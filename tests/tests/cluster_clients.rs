//! The client library against three `rill-broker` processes, given only the
//! bootstrap list: the producer sends each partition to its leader, the consumer
//! fetches from each leader and the admin reads offsets from each, across
//! partitions led by different brokers and through a SIGKILL of one leader, with
//! default retry settings.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rill_client::{
    Admin, ClusterStatus, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig,
    TopicInfo, TopicPartition,
};
use rill_tests::cluster::{Cluster, TIMING};

const BROKER: &str = env!("CARGO_BIN_EXE_broker_process");
const TOPIC: &str = "purchases";
const PARTITIONS: i32 = 3;

/// (partition, offset) to value, for every acknowledged record.
type Acked = BTreeMap<(i32, i64), String>;

/// Waits up to 30 s until `admin` describes every partition with its offsets
/// (each partition's leader answers).
async fn described(admin: &Admin) -> TopicInfo {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match admin.describe_topic(TOPIC).await {
            Ok(info) => return info,
            Err(e) if Instant::now() > deadline => panic!("{TOPIC} not described in 30 s: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Sends `values` to [`TOPIC`] keyed by their index, awaits every delivery and
/// records where each landed.
async fn send_all(producer: &Producer, values: &[String], acked: &mut Acked) {
    send_all_to(producer, TOPIC, values, acked).await;
}

/// As [`send_all`], to `topic`.
async fn send_all_to(producer: &Producer, topic: &str, values: &[String], acked: &mut Acked) {
    let mut deliveries = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let key = format!("customer-{}", i % 17);
        let delivery = producer
            .enqueue(topic, Some(key.as_bytes()), Some(value.as_bytes()), &[])
            .await
            .expect("enqueue");
        deliveries.push((value.clone(), delivery));
    }
    for (value, delivery) in deliveries {
        let meta = delivery
            .await
            .unwrap_or_else(|e| panic!("{value} not acknowledged: {e}"));
        let earlier = acked.insert((meta.partition, meta.offset), value.clone());
        assert!(earlier.is_none(), "{value} acknowledged at a taken offset");
    }
}

/// Polls `consumer` until it has returned `want` records (up to 60 s); what it
/// returned, by (partition, offset).
async fn receive(consumer: &mut Consumer, want: usize, got: &mut Acked) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "received {} of {want} records in 60 s",
            got.len()
        );
        for r in consumer
            .poll(Duration::from_millis(500))
            .await
            .expect("poll")
        {
            let value = String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned();
            let earlier = got.insert((r.partition, r.offset), value);
            assert!(
                earlier.is_none(),
                "{}/{} returned twice",
                r.partition,
                r.offset
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_follow_partition_leaders_through_a_leader_sigkill() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut cluster = Cluster::start(BROKER, data.path(), TIMING).await;
    let bootstrap = cluster.bootstrap();
    let admin = Admin::connect(&bootstrap).await.expect("admin");
    admin
        .create_topic(TOPIC, PARTITIONS, &[])
        .await
        .expect("create");
    // Leaders are wherever the elections put them; the SIGKILL below moves at
    // least one, so the clients must follow leaders either way.
    let info = described(&admin).await;

    let producer = Producer::connect(&bootstrap, ProducerConfig::new())
        .await
        .expect("producer");
    let mut acked = Acked::new();
    let first: Vec<String> = (0..300).map(|i| format!("purchase-{i}")).collect();
    send_all(&producer, &first, &mut acked).await;
    let used: BTreeSet<i32> = acked.keys().map(|(p, _)| *p).collect();
    assert_eq!(
        used.len(),
        PARTITIONS as usize,
        "keys spread over every partition"
    );

    let config = ConsumerConfig::new().offset_reset(OffsetReset::Earliest);
    let mut consumer = Consumer::connect(&bootstrap, config)
        .await
        .expect("consumer");
    let all: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(TOPIC, p))
        .collect();
    consumer.assign(&all).await.expect("assign");
    let mut got = Acked::new();
    receive(&mut consumer, acked.len(), &mut got).await;
    assert_eq!(got, acked, "the consumer reads what was acknowledged");

    // SIGKILL the leader of partition 0; everything keeps working through the
    // same producer and consumer, and a new admin, on the default settings.
    let victim = info
        .partitions
        .iter()
        .find(|p| p.partition == 0)
        .map(|p| p.leader)
        .expect("partition 0");
    cluster.kill(usize::try_from(victim).expect("broker id"));
    // At once, before a new leader is elected, the topic is still described.
    let during = admin
        .describe_topic(TOPIC)
        .await
        .expect("describe, leader down");
    assert_eq!(during.partitions.len(), PARTITIONS as usize);
    let second: Vec<String> = (300..600).map(|i| format!("purchase-{i}")).collect();
    send_all(&producer, &second, &mut acked).await;
    receive(&mut consumer, acked.len(), &mut got).await;
    assert_eq!(
        got, acked,
        "every acknowledged record, once, where it was acknowledged"
    );

    let admin = Admin::connect(cluster.bootstrap()).await.expect("admin");
    let after = described(&admin).await;
    for p in &after.partitions {
        let records = acked.keys().filter(|(q, _)| *q == p.partition).count();
        assert!(
            p.high_watermark >= i64::try_from(records).expect("count"),
            "partition {} ends at {} below its {records} records",
            p.partition,
            p.high_watermark
        );
        assert_ne!(
            p.leader, victim,
            "the killed broker still leads {}",
            p.partition
        );
    }
    producer.close().await.expect("close producer");
    consumer.close().await.expect("close consumer");
}

/// Waits up to 30 s until `admin` describes a cluster for which `ok` holds;
/// the last status otherwise, in the panic.
async fn status_until(admin: &Admin, ok: impl Fn(&ClusterStatus) -> bool) -> ClusterStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = admin.describe_cluster().await;
        match status {
            Ok(status) if ok(&status) => return status,
            other if Instant::now() > deadline => panic!("cluster status after 30 s: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_status_shows_brokers_leaders_and_replicas_in_sync() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut cluster = Cluster::start(BROKER, data.path(), TIMING).await;
    let admin = Admin::connect(cluster.bootstrap()).await.expect("admin");
    admin
        .create_topic(TOPIC, PARTITIONS, &[])
        .await
        .expect("create");

    let healthy = status_until(&admin, |s| {
        s.partitions.iter().filter(|p| p.topic == TOPIC).count() == PARTITIONS as usize
            && s.partitions.iter().all(|p| p.leader.is_some())
            && s.under_replicated() == 0
    })
    .await;
    let ids: Vec<i32> = healthy.brokers.iter().map(|b| b.node_id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert!(
        healthy.brokers.iter().all(|b| b.down.is_none()),
        "{healthy:?}"
    );
    assert!(healthy.metadata_leader.is_some(), "{healthy:?}");
    for p in healthy.partitions.iter().filter(|p| p.topic == TOPIC) {
        let mut replicas = p.replicas.clone();
        replicas.sort_unstable();
        assert_eq!(replicas, vec![1, 2, 3], "{p:?}");
        assert_eq!(p.in_sync, vec![1, 2, 3], "{p:?}");
        assert_eq!(p.lag.len(), 2, "the leader reports both followers: {p:?}");
    }

    // SIGKILL broker 3: it is down, and every partition (each has a replica
    // on it) is under-replicated, with a leader among the other two.
    cluster.kill(3);
    let degraded = status_until(&admin, |s| {
        s.partitions
            .iter()
            .filter(|p| p.topic == TOPIC)
            .all(|p| p.leader.is_some_and(|l| l != 3) && p.in_sync.len() == 2)
    })
    .await;
    let down: Vec<i32> = degraded
        .brokers
        .iter()
        .filter(|b| b.down.is_some())
        .map(|b| b.node_id)
        .collect();
    assert_eq!(down, vec![3], "{degraded:?}");
    assert!(
        degraded.under_replicated() >= PARTITIONS as usize,
        "{degraded:?}"
    );
    for p in degraded.partitions.iter().filter(|p| p.topic == TOPIC) {
        assert!(!p.in_sync.contains(&3), "{p:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cut_off_and_back_does_not_depose_the_leader() {
    let data = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start_linked(BROKER, data.path(), TIMING).await;
    let admin = Admin::connect(cluster.bootstrap()).await.expect("admin");
    admin.create_topic(TOPIC, 1, &[]).await.expect("create");
    let led = |s: &ClusterStatus| {
        s.partitions
            .iter()
            .find(|p| p.topic == TOPIC)
            .is_some_and(|p| p.leader.is_some() && p.in_sync.len() == 3)
    };
    let before = status_until(&admin, led).await;
    let partition = |s: &ClusterStatus| {
        s.partitions
            .iter()
            .find(|p| p.topic == TOPIC)
            .cloned()
            .expect("the partition")
    };
    let (leader, term) = {
        let p = partition(&before);
        (p.leader.expect("a leader"), p.term)
    };
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");

    // Cut off for about ten maximum election timeouts (400 ms each).
    let id = usize::try_from(follower).expect("broker id");
    cluster.isolate(id, true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    cluster.isolate(id, false);

    let after = status_until(&admin, led).await;
    let p = partition(&after);
    assert_eq!(
        (p.leader, p.term),
        (Some(leader), term),
        "broker {follower}, back from being cut off, raised the term or moved the leader: {p:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_get_the_replication_factor_asked_for() {
    let data = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::start(BROKER, data.path(), TIMING).await;
    let admin = Admin::connect(cluster.bootstrap()).await.expect("admin");
    for (name, factor) in [("single", 1), ("pair", 2), ("default", -1)] {
        admin
            .create_topic_replicated(name, 3, factor, &[])
            .await
            .unwrap_or_else(|e| panic!("create {name} with {factor} replicas: {e}"));
    }
    let refused = admin
        .create_topic_replicated("too-many", 1, 4, &[])
        .await
        .expect_err("4 replicas on 3 brokers");
    assert_eq!(
        refused.code(),
        Some(rill_protocol::ErrorCode::InvalidReplicationFactor),
        "{refused}"
    );
    assert!(refused.to_string().contains("1 to 3"), "{refused}");
    assert!(admin.describe_topic("too-many").await.is_err());
    // The internal offsets topic is not replicated: the answering broker is its
    // only replica, at epoch 0.
    let internal = admin
        .describe_topic("__consumer_offsets")
        .await
        .expect("describe the offsets topic");
    for p in &internal.partitions {
        assert_eq!(p.replicas, vec![p.leader], "{p:?}");
        assert_eq!(p.leader_epoch, 0, "{p:?}");
    }

    let producer = Producer::connect(cluster.bootstrap(), ProducerConfig::default())
        .await
        .expect("producer");
    for (name, factor) in [("single", 1), ("pair", 2), ("default", 3)] {
        let values: Vec<String> = (0..30).map(|i| format!("{name}-{i}")).collect();
        let mut acked = Acked::new();
        send_all_to(&producer, name, &values, &mut acked).await;
        assert_eq!(acked.len(), 30);
        // A broker without a replica of a partition learns the leader's epoch
        // once the leader has recorded itself in the metadata, a moment after
        // it starts serving: until then it answers -1 (not known).
        let deadline = Instant::now() + Duration::from_secs(10);
        let info = loop {
            let info = admin.describe_topic(name).await.expect("describe");
            if info.partitions.iter().all(|p| p.leader_epoch >= 0) || Instant::now() > deadline {
                break info;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for p in &info.partitions {
            let distinct: BTreeSet<i32> = p.replicas.iter().copied().collect();
            assert_eq!(p.replicas.len(), factor, "{name}: {p:?}");
            assert_eq!(distinct.len(), factor, "{name}: {p:?}");
            assert!(distinct.is_subset(&BTreeSet::from([1, 2, 3])), "{p:?}");
            assert!(p.replicas.contains(&p.leader), "{name}: {p:?}");
            assert!(p.leader_epoch >= 1, "{name}: {p:?}");
            // Raft's own entries take offsets too (as control records), so
            // the log end is past the last acknowledged record, not at 30.
            let last = acked
                .keys()
                .filter(|(q, _)| *q == p.partition)
                .map(|k| k.1)
                .max();
            assert!(
                last.is_none_or(|last| last < p.high_watermark),
                "{name}: {p:?}"
            );
        }
    }
}

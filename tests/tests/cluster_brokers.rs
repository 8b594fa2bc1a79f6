//! Three `rill-broker` processes configured as one cluster: each registers its
//! client address through the metadata group, so every broker's Metadata answer
//! lists all three; with one broker killed (SIGKILL) the other two still change
//! the metadata, and the killed one, restarted on a new client port, is listed
//! at its new address by the others. A replicated topic keeps every record
//! acknowledged with acks=all through a SIGKILL of its leader, and an
//! idempotent producer's retry to the new leader is not written twice; a
//! delete through one broker removes the topic from every broker.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use rill_protocol::api::init_producer_id::InitProducerIdRequest;
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo, RecordBatch};
use rill_tests::client::{split_batches, TestClient};
use rill_tests::cluster::{lists, Cluster, TIMING};

const BROKER: &str = env!("CARGO_BIN_EXE_broker_process");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_share_metadata_and_survive_a_sigkill() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut cluster = Cluster::start(BROKER, data.path(), TIMING).await;
    let listed = |cluster: &Cluster| -> Vec<(i32, SocketAddr)> {
        (1..=3)
            .filter(|id| cluster.brokers[id - 1].is_some())
            .map(|id| (id as i32, cluster.addr(id)))
            .collect()
    };
    for addr in cluster.addrs() {
        lists(addr, &listed(&cluster)).await;
    }

    // SIGKILL broker 1 and start it again: it comes back on a new client port,
    // registers it, and the others list the new address.
    cluster.kill(1);
    cluster.restart_elsewhere(1);
    for addr in cluster.addrs() {
        lists(addr, &listed(&cluster)).await;
    }

    // With broker 3 gone for good, the other two still agree on changes.
    let broker_3 = (3, cluster.addr(3));
    cluster.kill(3);
    cluster.kill(2);
    cluster.restart(2);
    let mut all = listed(&cluster);
    all.push(broker_3);
    lists(cluster.addr(1), &all).await;
    lists(cluster.addr(2), &all).await;
}

/// Produces one record holding `value` with acks=all to whichever broker of
/// `at` takes it (the partition's leader), retrying every broker for up to
/// 30 s; the acknowledged offset.
async fn produce_acked(at: &[SocketAddr], value: &str) -> i64 {
    produce_batch(at, &batch_of(ProducerInfo::NONE, value)).await
}

/// One batch of one record holding `value`, stamped with `producer`.
fn batch_of(producer: ProducerInfo, value: &str) -> Vec<u8> {
    let mut builder = BatchBuilder::new(producer);
    builder.push(1_700_000_000_000, None, Some(value.as_bytes()), &[]);
    builder.finish()
}

/// Produces `batch` with acks=all to whichever broker of `at` takes it,
/// retrying every broker for up to 30 s; the acknowledged base offset.
async fn produce_batch(at: &[SocketAddr], batch: &[u8]) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        for addr in at {
            let Ok(mut client) = TestClient::connect(*addr).await else {
                continue;
            };
            client.set_timeout(Duration::from_secs(5));
            match client.produce("orders", 0, batch, -1).await {
                Ok(Some(p)) if p.error_code == ErrorCode::None => return p.base_offset,
                other => last = format!("{addr}: {other:?}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no broker acknowledged the batch in 30 s; last answer {last}");
}

/// Every data record of partition orders/0 as the broker at `at` serves it:
/// (offset, value), control batches (the Raft group's own entries) skipped.
async fn read_all(at: SocketAddr) -> io::Result<Vec<(i64, String)>> {
    let mut client = TestClient::connect(at).await?;
    let mut records = Vec::new();
    let mut offset = 0;
    loop {
        let fetched = client.fetch("orders", 0, offset, 0, 0).await?;
        if fetched.error_code != ErrorCode::None {
            return Err(io::Error::other(format!("fetch: {fetched:?}")));
        }
        let batches = split_batches(&fetched.records)?;
        if batches.is_empty() {
            return Ok(records);
        }
        for bytes in batches {
            let (batch, _) = RecordBatch::split_first(bytes).map_err(io::Error::other)?;
            offset = batch.header().base_offset + i64::from(batch.header().last_offset_delta) + 1;
            if batch.header().is_control() {
                continue;
            }
            let section = batch.records_section(1 << 20).map_err(io::Error::other)?;
            for record in batch.records_in(&section) {
                let record = record.map_err(io::Error::other)?;
                let value = String::from_utf8_lossy(record.value.unwrap_or_default());
                records.push((record.offset, value.into_owned()));
            }
        }
    }
}

/// Reads partition orders/0 from whichever broker of `at` serves it, for up to
/// 30 s.
async fn read_from_leader(at: &[SocketAddr]) -> Vec<(i64, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut errors = Vec::new();
    while Instant::now() < deadline {
        for addr in at {
            match read_all(*addr).await {
                Ok(records) => return records,
                Err(e) => errors.push(format!("{addr}: {e}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no broker served orders/0 in 30 s: {:?}", errors.last());
}

/// The index in `at` of the one broker that serves fetches of orders/0; every
/// other one must refuse them with NOT_LEADER_OR_FOLLOWER. While a broker
/// answers LEADER_NOT_AVAILABLE (its replica is starting, or a leader was just
/// elected), asks again, for up to 30 s.
async fn serving(at: &[SocketAddr]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut leader = None;
        let mut settling = Vec::new();
        for (i, addr) in at.iter().enumerate() {
            let mut client = TestClient::connect(*addr).await.expect("connect");
            let fetched = client.fetch("orders", 0, 0, 0, 0).await.expect("fetch");
            match fetched.error_code {
                ErrorCode::None => {
                    assert!(leader.is_none(), "two brokers serve orders/0");
                    leader = Some(i);
                }
                ErrorCode::LeaderNotAvailable => settling.push(fetched),
                code => assert_eq!(code, ErrorCode::NotLeaderOrFollower, "{fetched:?}"),
            }
        }
        match leader {
            Some(leader) if settling.is_empty() => return leader,
            _ if Instant::now() > deadline => {
                panic!("no single broker serves orders/0 after 30 s: {settling:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Three brokers started with `env` in `data`, with the replicated topic
/// `orders` (one partition) created through broker 2.
async fn cluster_with_orders(data: &Path, env: &[(&str, &str)]) -> Cluster {
    let cluster = Cluster::start(BROKER, data, env).await;
    let mut admin = TestClient::connect(cluster.addr(2)).await.expect("connect");
    let created = admin.create_topic("orders", 1).await.expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
    cluster
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_partition_keeps_every_acked_record_through_a_leader_sigkill() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster_with_orders(data.path(), TIMING).await;
    let addrs = cluster.addrs();

    let mut acked = Vec::new();
    for i in 0..30 {
        let value = format!("before-{i}");
        acked.push((produce_acked(&addrs, &value).await, value));
    }
    // Exactly one broker serves the partition; the others refuse with
    // NOT_LEADER_OR_FOLLOWER and name it in Metadata.
    let leader = serving(&addrs).await;
    let follower = addrs[(leader + 1) % 3];
    let mut client = TestClient::connect(follower).await.expect("connect");
    let metadata = client.metadata(&["orders"]).await.expect("metadata");
    let partition = &metadata.topics[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::None, "{metadata:?}");
    assert_eq!(partition.leader_id, leader as i32 + 1, "{metadata:?}");
    let refused = client
        .produce("orders", 0, b"", -1)
        .await
        .expect("produce")
        .expect("answer");
    assert_eq!(
        refused.error_code,
        ErrorCode::NotLeaderOrFollower,
        "{refused:?}"
    );

    // SIGKILL the leader: the survivors elect another and keep every acked record.
    cluster.kill(leader + 1);
    let survivors: Vec<SocketAddr> = (0..3).filter(|i| *i != leader).map(|i| addrs[i]).collect();
    for i in 0..30 {
        let value = format!("after-{i}");
        acked.push((produce_acked(&survivors, &value).await, value));
    }
    let read = read_from_leader(&survivors).await;
    assert_eq!(
        read, acked,
        "the records read are not the ones acknowledged, in order"
    );
    let new_leader = survivors[serving(&survivors).await];
    let new_id = addrs
        .iter()
        .position(|a| *a == new_leader)
        .expect("a broker") as i32
        + 1;
    for addr in &survivors {
        let mut client = TestClient::connect(*addr).await.expect("connect");
        let metadata = client.metadata(&["orders"]).await.expect("metadata");
        assert_eq!(
            metadata.topics[0].partitions[0].leader_id, new_id,
            "{addr}: {metadata:?}"
        );
    }

    // The killed broker rejoins from its own log and the partition goes on.
    cluster.restart(leader + 1);
    let mut everyone = survivors.clone();
    everyone.push(cluster.addr(leader + 1));
    let value = "rejoined".to_string();
    acked.push((produce_acked(&everyone, &value).await, value));
    assert_eq!(read_from_leader(&everyone).await, acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_through_a_failover_is_not_written_twice() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster_with_orders(data.path(), TIMING).await;
    let addrs = cluster.addrs();
    let mut admin = TestClient::connect(addrs[2]).await.expect("connect");
    let request = InitProducerIdRequest {
        transactional_id: None,
        timeout_ms: 1000,
    };
    let ResponseBody::InitProducerId(init) = admin
        .call(RequestBody::InitProducerId(request))
        .await
        .expect("init")
    else {
        panic!("not an InitProducerId answer");
    };
    assert_eq!(init.error_code, ErrorCode::None, "{init:?}");
    let stamp = |base_sequence| ProducerInfo {
        producer_id: init.producer_id,
        producer_epoch: init.producer_epoch,
        base_sequence,
    };
    let first = batch_of(stamp(0), "first");
    let offset = produce_batch(&addrs, &first).await;

    // The leader dies; the producer, not knowing its batch was written, sends
    // it again to the new leader, which knows it from its own log.
    let leader = serving(&addrs).await;
    cluster.kill(leader + 1);
    let survivors: Vec<SocketAddr> = (0..3).filter(|i| *i != leader).map(|i| addrs[i]).collect();
    assert_eq!(produce_batch(&survivors, &first).await, offset);
    let second = produce_batch(&survivors, &batch_of(stamp(1), "second")).await;
    assert!(second > offset);
    let read = read_from_leader(&survivors).await;
    assert_eq!(
        read,
        vec![
            (offset, "first".to_string()),
            (second, "second".to_string())
        ]
    );

    // A delete through one survivor removes the topic from both.
    let mut admin = TestClient::connect(survivors[0]).await.expect("connect");
    let deleted = admin.delete_topic("orders").await.expect("delete");
    assert_eq!(deleted.error_code, ErrorCode::None, "{deleted:?}");
    for addr in &survivors {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut client = TestClient::connect(*addr).await.expect("connect");
            let metadata = client.metadata(&["orders"]).await.expect("metadata");
            if metadata.topics[0].error_code == ErrorCode::UnknownTopicOrPartition {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{addr} still has orders: {metadata:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Failover time with default settings: SIGKILL the leader of orders/0 and
/// time until a survivor acknowledges the next acks=all produce, over
/// `FAILOVER_KILLS` kills (default 20); prints p50, p99 and max and
/// requires p99 under 2 s. A measurement, so not part of the default run:
/// `cargo test -p rill-tests --test cluster_brokers -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --ignored"]
async fn failover_after_a_leader_sigkill_takes_under_two_seconds_at_p99() {
    let kills: usize = std::env::var("FAILOVER_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let data = tempfile::tempdir().expect("tempdir");
    let mut cluster = cluster_with_orders(data.path(), &[]).await;
    let mut took = Vec::with_capacity(kills);
    for kill in 0..kills {
        let addrs = cluster.addrs();
        produce_acked(&addrs, &format!("before-{kill}")).await;
        let leader = serving(&addrs).await;
        let survivors: Vec<SocketAddr> =
            (0..3).filter(|i| *i != leader).map(|i| addrs[i]).collect();
        let killed_at = Instant::now();
        cluster.kill(leader + 1);
        produce_acked(&survivors, &format!("after-{kill}")).await;
        took.push(killed_at.elapsed());
        cluster.restart(leader + 1);
    }
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q).ceil() as usize).clamp(1, took.len()) - 1];
    let (p50, p99, max) = (at(0.50), at(0.99), took[took.len() - 1]);
    println!(
        "failover over {kills} leader SIGKILLs: p50 {} ms, p99 {} ms, max {} ms",
        p50.as_millis(),
        p99.as_millis(),
        max.as_millis()
    );
    assert!(p99 < Duration::from_secs(2), "p99 failover {p99:?}");
}

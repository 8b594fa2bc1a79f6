//! The probes of `rill-probe` against an embedded broker: idle connections are all
//! answered under the connection limit, cannot be opened beyond it, and count as
//! not served once the broker has dropped them; a
//! restarting broker's partitions are seen served, with the records it holds; the
//! `idle` command line waits for SIGUSR1 before it asks.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use rill_bench::idle::IdleConnections;
use rill_bench::ready::{self, ReadyPlan};
use rill_broker::embedded::EmbeddedBroker;
use rill_broker::BrokerConfig;
use rill_client::{Admin, Producer, ProducerConfig};

async fn broker(max_connections: usize) -> EmbeddedBroker {
    let mut config = BrokerConfig::default();
    config.limits.max_connections = max_connections;
    EmbeddedBroker::builder()
        .config(config)
        .start()
        .await
        .expect("the broker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_all_answered_within_the_limit() {
    let mut broker = broker(64).await;
    let addr = broker.addr().to_string();
    let idle = IdleConnections::open(&addr, 50).await.expect("open");
    assert_eq!(idle.len(), 50);
    let served = idle.check(Duration::from_secs(20)).await;
    assert_eq!((served.answered, served.failed), (50, 0), "{served:?}");
    assert_eq!(served.first_failure, None);
    broker.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_not_opened() {
    let mut broker = broker(10).await;
    let addr = broker.addr().to_string();
    let err = IdleConnections::open(&addr, 30)
        .await
        .expect_err("over the limit");
    let why = err.to_string();
    // Closed or reset, depending on when the broker drops it.
    assert!(why.contains("of 30 idle connections to"), "{why}");
    assert!(why.contains(&addr), "{why}");
    broker.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_broker_dropped_count_as_not_served() {
    let mut broker = broker(64).await;
    let addr = broker.addr().to_string();
    let idle = IdleConnections::open(&addr, 10).await.expect("open");
    broker.stop().await.expect("stop");
    let served = idle.check(Duration::from_secs(20)).await;
    assert_eq!(served.connections, 10);
    assert_eq!((served.answered, served.failed), (0, 10), "{served:?}");
    let why = served.first_failure.expect("a reason");
    assert!(why.contains(&addr), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarting_broker_is_seen_serving_every_partition() {
    let mut broker = broker(64).await;
    let addr = broker.addr().to_string();
    let admin = Admin::connect(&addr).await.expect("admin");
    admin.create_topic("t", 3, &[]).await.expect("create");
    let producer = Producer::connect(&addr, ProducerConfig::new())
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..90u32 {
        let key = i.to_be_bytes();
        let delivery = producer
            .enqueue("t", Some(&key[..]), Some(&b"value"[..]), &[])
            .await
            .expect("enqueue");
        deliveries.push(delivery);
    }
    for delivery in deliveries {
        delivery.await.expect("acknowledged");
    }
    producer.close().await.expect("close");
    drop(admin);
    broker.stop().await.expect("stop");

    let plan = ReadyPlan {
        addr: addr.clone(),
        topic: "t".to_string(),
        partitions: 3,
        since: SystemTime::now(),
        timeout: Duration::from_secs(30),
    };
    let waiting = tokio::spawn(async move { ready::wait_until_served(&plan).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    broker.restart_on_same_addr().await.expect("restart");
    let report = waiting.await.expect("task").expect("served");
    assert_eq!(report.records, 90, "{report:?}");
    assert_eq!(report.served_ms.len(), 3);
    assert!(report.first_answer_ms >= 200.0, "{report:?}");
    assert!(report.first_answer_ms <= report.all_served_ms, "{report:?}");
    assert!(report.first_served_ms <= report.all_served_ms, "{report:?}");
    assert!(report.served_at_first_answer <= 3, "{report:?}");

    let missing = ReadyPlan {
        addr,
        topic: "absent".to_string(),
        partitions: 2,
        since: SystemTime::now(),
        timeout: Duration::from_millis(300),
    };
    let err = ready::wait_until_served(&missing)
        .await
        .expect_err("never served");
    assert!(err.to_string().contains("0 of 2 served"), "{err}");
    broker.stop().await.expect("stop");
}

#[test]
fn the_idle_command_waits_for_sigusr1_then_reports_every_answer() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut broker = runtime.block_on(broker(64));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rill-probe"))
        .args(["--broker", &broker.addr().to_string()])
        .args(["idle", "--connections", "20"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run rill-probe");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let open = lines.next().expect("a line").expect("readable");
    assert_eq!(open, r#"{"open":20}"#);
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().expect("status").is_none(), "it waits");
    let signalled = Command::new("kill")
        .args(["-USR1", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    let report = lines.next().expect("a report").expect("readable");
    let json: serde_json::Value = serde_json::from_str(&report).expect("JSON");
    assert_eq!(json["answered"], 20, "{report}");
    assert_eq!(json["failed"], 0, "{report}");
    assert!(child.wait().expect("exit").success());
    runtime.block_on(broker.stop()).expect("stop");
}

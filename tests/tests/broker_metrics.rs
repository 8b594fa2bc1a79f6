//! `/metrics` is scraped over HTTP and its numbers move with the traffic: records
//! and bytes in and out per topic, requests and latency per API, open
//! connections, and consumer-group lag per partition.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_protocol::api::offset_commit::{
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use rill_protocol::message::RequestBody;
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo};
use rill_tests::client::TestClient;
use rill_tests::STOP_TIMEOUT;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP GET; returns the status line and the body.
async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut socket = TcpStream::connect(addr).await.expect("connect to /metrics");
    let request = format!("GET {path} HTTP/1.1\r\nHost: rill\r\n\r\n");
    socket.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_string(&mut response))
        .await
        .expect("answer within 5 s")
        .expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_traffic() {
    let mut broker = EmbeddedBroker::builder()
        .metrics(true)
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start the broker");
    let addr = broker.addr();
    let metrics = broker.metrics_addr().expect("a metrics address");

    let (status, before) = get(metrics, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(sample(&before, "rill_connections"), Some(0.0), "{before}");
    let (status, _) = get(metrics, "/other").await;
    assert!(status.contains("404"), "{status}");

    let mut c = TestClient::connect(addr).await.expect("connect");
    c.create_topic("shop", 1).await.expect("create");
    let mut batch = BatchBuilder::new(ProducerInfo::NONE);
    for i in 0..10 {
        batch.push(1_900_000_000_000 + i, None, Some(b"purchase"), &[]);
    }
    let batch = batch.finish();
    for _ in 0..3 {
        let r = c
            .produce("shop", 0, &batch, 1)
            .await
            .expect("produce")
            .expect("answer");
        assert_eq!(r.error_code, ErrorCode::None);
    }
    let fetched = c.fetch("shop", 0, 0, 0, 1).await.expect("fetch");
    assert_eq!(fetched.records.len(), 3 * batch.len());
    let commit = RequestBody::OffsetCommit(OffsetCommitRequest {
        group_id: "analytics".into(),
        member_id: String::new(),
        member_epoch: -1,
        topics: vec![OffsetCommitTopic {
            name: "shop".into(),
            partitions: vec![OffsetCommitPartition {
                partition: 0,
                offset: 12,
                metadata: None,
            }],
        }],
    });
    c.call(commit).await.expect("commit");

    let (_, after) = get(metrics, "/metrics").await;
    assert_eq!(sample(&after, "rill_connections"), Some(1.0), "{after}");
    assert_eq!(
        sample(&after, "rill_records_in_total{topic=\"shop\"}"),
        Some(30.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, "rill_bytes_in_total{topic=\"shop\"}"),
        Some(3.0 * batch.len() as f64)
    );
    assert_eq!(
        sample(&after, "rill_records_out_total{topic=\"shop\"}"),
        Some(30.0)
    );
    assert_eq!(
        sample(&after, "rill_bytes_out_total{topic=\"shop\"}"),
        Some(3.0 * batch.len() as f64)
    );
    assert_eq!(
        sample(&after, "rill_requests_total{api=\"Produce\"}"),
        Some(3.0)
    );
    assert_eq!(
        sample(&after, "rill_request_duration_seconds_count{api=\"Fetch\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &after,
            "rill_consumer_group_lag{group=\"analytics\",topic=\"shop\",partition=\"0\"}"
        ),
        Some(18.0),
        "{after}"
    );

    drop(c);
    broker.stop().await.expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clustered_broker_reports_its_raft_groups() {
    // Outside a cluster there are no Raft series.
    let mut plain = EmbeddedBroker::builder()
        .metrics(true)
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start the broker");
    let (_, text) = get(plain.metrics_addr().expect("metrics"), "/metrics").await;
    assert!(!text.contains("rill_raft_role{"), "{text}");
    plain.stop().await.expect("stop");

    // A one-broker cluster: its metadata group elects it and says so.
    let mut broker = EmbeddedBroker::builder()
        .config(common::one_broker_cluster_config())
        .metrics(true)
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start the clustered broker");
    let metrics = broker.metrics_addr().expect("metrics");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (_, text) = get(metrics, "/metrics").await;
        let leader = r#"rill_raft_role{group="__cluster/0",role="leader"}"#;
        if sample(&text, leader) == Some(1.0) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the metadata group never showed a leader: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        sample(&text, r#"rill_raft_leader{group="__cluster/0"}"#),
        Some(1.0),
        "{text}"
    );
    let term = sample(&text, r#"rill_raft_term{group="__cluster/0"}"#).expect("a term");
    assert!(term >= 1.0, "{text}");
    let applied = sample(&text, r#"rill_raft_applied_index{group="__cluster/0"}"#);
    assert!(applied.is_some_and(|a| a >= 0.0), "{text}");
    broker.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_leader_reports_replica_lag_and_a_lost_follower() {
    use rill_broker::{BrokerConfig, Peer, Peers};

    let ports: Vec<u16> = (0..3)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .expect("bind")
                .local_addr()
                .expect("addr")
                .port()
        })
        .collect();
    let peers: Vec<Peer> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| Peer::parse(&format!("{}@127.0.0.1:{port}", i + 1)).expect("peer"))
        .collect();
    let mut brokers = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut config = BrokerConfig {
            node_id: i as i32 + 1,
            ..BrokerConfig::default()
        };
        config.cluster.listen = Some(format!("127.0.0.1:{port}").parse().expect("address"));
        config.cluster.peers = Peers(peers.clone());
        let broker = EmbeddedBroker::builder()
            .config(config)
            .metrics(true)
            .stop_timeout(STOP_TIMEOUT)
            .start()
            .await
            .expect("start a clustered broker");
        brokers.push(broker);
    }
    let mut admin = TestClient::connect(brokers[0].addr())
        .await
        .expect("connect");
    let created = admin.create_topic("orders", 1).await.expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");

    // The partition's leader reports both followers, in sync.
    let leader_role = r#"rill_raft_role{group="orders/0",role="leader"}"#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (leader, text) = 'found: loop {
        for (i, broker) in brokers.iter().enumerate() {
            let (_, text) = get(broker.metrics_addr().expect("metrics"), "/metrics").await;
            let both = (1..=3)
                .filter(|n| *n != i + 1)
                .all(|n| text.contains(&format!(r#"replica="{n}""#)));
            if sample(&text, leader_role) == Some(1.0) && both {
                break 'found (i, text);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader of orders/0 reported"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Until both followers have acknowledged the new leader once, it counts the
    // partition under-replicated; then the count settles at 0.
    let metrics = brokers[leader].metrics_addr().expect("metrics");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut text = text;
    while sample(&text, "rill_under_replicated_partitions") != Some(0.0) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never fully replicated: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = get(metrics, "/metrics").await.1;
    }
    // It counts the leadership it took up once the metadata recorded it.
    while sample(&text, "rill_partition_leaderships_total").unwrap_or(0.0) < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leadership was never counted: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = get(metrics, "/metrics").await.1;
    }

    // Stop a follower: the leader soon counts the partition under-replicated.
    let follower = (leader + 1) % 3;
    brokers[follower].stop().await.expect("stop a follower");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = get(metrics, "/metrics").await;
        if sample(&text, "rill_under_replicated_partitions") == Some(1.0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never under-replicated: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Records written while the follower is down: the leader reports that it
    // lacks at least those records and their bytes, the other follower nothing.
    let mut batch = BatchBuilder::new(ProducerInfo::NONE);
    for i in 0..25 {
        batch.push(1_900_000_000_000 + i, None, Some(&[7u8; 200]), &[]);
    }
    let batch = batch.finish();
    let mut producer = TestClient::connect(brokers[leader].addr())
        .await
        .expect("connect to the leader");
    let written = producer
        .produce("orders", 0, &batch, -1)
        .await
        .expect("produce")
        .expect("an answer");
    assert_eq!(written.error_code, ErrorCode::None, "{written:?}");
    let behind = |node: usize, what: &str| {
        format!(r#"rill_replica_lag_{what}{{group="orders/0",replica="{node}"}}"#)
    };
    let (stopped, alive) = (follower + 1, (leader + 2) % 3 + 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, text) = get(metrics, "/metrics").await;
        let records = sample(&text, &behind(stopped, "records"));
        let bytes = sample(&text, &behind(stopped, "bytes"));
        let caught_up = sample(&text, &behind(alive, "bytes"));
        if records.is_some_and(|r| r >= 25.0)
            && bytes.is_some_and(|b| b >= batch.len() as f64)
            && caught_up == Some(0.0)
        {
            assert_eq!(
                sample(&text, &behind(alive, "records")),
                Some(0.0),
                "{text}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no lag of {stopped} in records and bytes: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for broker in &mut brokers {
        if broker.is_running() {
            broker.stop().await.expect("stop");
        }
    }
}

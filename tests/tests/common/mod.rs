//! A broker inside the test process, and raw reads to check what producers wrote.
//!
//! [`start_broker`] starts a `rill_broker::embedded` broker on a `127.0.0.1:0`
//! listener over a temporary data directory; dropping it stops the broker and
//! removes the directory. [`fetch_all`] reads a
//! partition back with plain Fetch requests over a [`Connection`], so tests compare
//! what was acknowledged with what is stored without going through a consumer.

#![allow(dead_code)]

use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_broker::BrokerConfig;
use rill_client::connection::Connection;
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::RecordBatch;
use rill_tests::proxy::FaultProxy;

/// Starts a broker with the default settings on a free port, in a temporary data
/// directory that is removed when the broker is dropped.
pub async fn start_broker() -> EmbeddedBroker {
    EmbeddedBroker::builder()
        .start()
        .await
        .expect("start the embedded broker")
}

/// A broker that advertises a fault proxy in front of it: every client, from any
/// bootstrap address, is sent by Metadata through the proxy for its partitions.
pub async fn start_broker_behind_proxy() -> (EmbeddedBroker, FaultProxy) {
    let proxy = FaultProxy::bind().await.expect("proxy");
    let config = BrokerConfig {
        advertised_addr: Some(proxy.addr().to_string()),
        ..BrokerConfig::default()
    };
    let broker = EmbeddedBroker::builder()
        .config(config)
        .start()
        .await
        .expect("start the embedded broker");
    proxy.forward_to(broker.addr());
    (broker, proxy)
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Every record of `topic`/`partition`, read with Fetch from offset 0 to the high
/// watermark.
pub async fn fetch_all(conn: &Connection, topic: &str, partition: i32) -> Vec<Stored> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let response = conn
            .call(FetchRequest {
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: 4 << 20,
                topics: vec![FetchTopic {
                    name: topic.to_string(),
                    partitions: vec![FetchPartition {
                        partition,
                        fetch_offset: offset,
                        partition_max_bytes: 1 << 20,
                    }],
                }],
            })
            .await
            .expect("fetch");
        let p = &response.topics[0].partitions[0];
        assert!(p.error_code.is_ok(), "fetch error {:?}", p.error_message);
        let mut bytes = &p.records[..];
        while !bytes.is_empty() {
            let (batch, rest) = RecordBatch::split_first(bytes).expect("whole batch");
            batch.validate().expect("valid batch");
            for r in batch.records() {
                let r = r.expect("record");
                if r.offset < offset {
                    continue;
                }
                out.push(Stored {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                    headers: r
                        .headers
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect(),
                });
                offset = r.offset + 1;
            }
            bytes = rest;
        }
        if offset >= p.high_watermark {
            return out;
        }
    }
}

/// Waits until `topic`/`partition` holds at least `count` records (for acks 0,
/// where the producer cannot know), at most 10 s.
pub async fn wait_for_records(conn: &Connection, topic: &str, partition: i32, count: usize) {
    for _ in 0..200 {
        if fetch_all(conn, topic, partition).await.len() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{topic}/{partition} did not reach {count} records");
}

/// The configuration of a broker that is a cluster of one: node 1, its
/// cluster listener on a free port of 127.0.0.1, itself the only peer. Its
/// topics are Raft-replicated partitions with one replica.
pub fn one_broker_cluster_config() -> rill_broker::BrokerConfig {
    use rill_broker::{BrokerConfig, Peer, Peers};
    let listen = format!("127.0.0.1:{}", rill_tests::cluster::free_port());
    let mut config = BrokerConfig {
        node_id: 1,
        ..BrokerConfig::default()
    };
    config.cluster.listen = Some(listen.parse().expect("address"));
    config.cluster.peers = Peers(vec![Peer::parse(&format!("1@{listen}")).expect("peer")]);
    config
}

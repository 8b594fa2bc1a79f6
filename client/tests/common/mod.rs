//! A broker inside the test process, and raw reads to check what producers wrote.
//!
//! [`start_broker`] starts a `rill_broker::embedded` broker on a `127.0.0.1:0`
//! listener over a temporary data directory; dropping it stops the broker and
//! removes the directory. [`fetch_all`] reads a
//! partition back with plain Fetch requests over a [`Connection`], so tests compare
//! what was acknowledged with what is stored without going through a consumer.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_client::connection::Connection;
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::RecordBatch;
use tokio::net::TcpListener;

/// Starts a broker with the default settings on a free port, in a temporary data
/// directory that is removed when the broker is dropped.
pub async fn start_broker() -> EmbeddedBroker {
    EmbeddedBroker::builder()
        .start()
        .await
        .expect("start the embedded broker")
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

/// A TCP proxy in front of a broker that cuts the client's connection instead of
/// forwarding the `cut_at`-th response (counting from 1, over all connections), so
/// a request is carried out by the broker but its answer is lost.
pub struct FlakyProxy {
    addr: SocketAddr,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl FlakyProxy {
    /// Starts the proxy for `broker`.
    pub async fn start(broker: SocketAddr, cut_at: usize) -> FlakyProxy {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpStream;

        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let responses = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                let Ok(upstream) = TcpStream::connect(broker).await else {
                    continue;
                };
                let responses = responses.clone();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut up_read, mut up_write) = upstream.into_split();
                let forward = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut up_write).await;
                });
                tokio::spawn(async move {
                    loop {
                        let mut len = [0u8; 4];
                        if up_read.read_exact(&mut len).await.is_err() {
                            break;
                        }
                        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                        if up_read.read_exact(&mut body).await.is_err() {
                            break;
                        }
                        if responses.fetch_add(1, Ordering::SeqCst) + 1 == cut_at {
                            break;
                        }
                        if client_write.write_all(&len).await.is_err()
                            || client_write.write_all(&body).await.is_err()
                        {
                            break;
                        }
                    }
                    forward.abort();
                });
            }
        });
        FlakyProxy { addr, connections }
    }

    /// Client connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

//! Admin and Connection against a real in-process broker (and a fake one for the
//! failures a real broker does not produce on demand).

mod common;

use std::time::{Duration, Instant};

use common::start_broker;
use rill_client::{Admin, Connection, Error, Producer, ProducerConfig};
use rill_protocol::api::metadata::MetadataRequest;
use rill_protocol::message::RequestBody;
use rill_protocol::ErrorCode;
use rill_tests::proxy::FaultProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_listed_described_and_deleted() {
    let broker = start_broker().await;
    let admin = Admin::connect(broker.addr()).await.expect("admin");
    assert!(admin.list_topics().await.expect("list").is_empty());

    admin.create_topic("orders", 3, &[]).await.expect("create");
    admin
        .create_topic("audit", 1, &[("fsync", "always"), ("retention_ms", "-1")])
        .await
        .expect("create with configs");
    let names: Vec<String> = admin
        .list_topics()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["audit", "orders"]);

    let producer = Producer::connect(broker.addr(), ProducerConfig::new())
        .await
        .expect("producer");
    let mut deliveries = Vec::new();
    for i in 0..30u32 {
        let delivery = producer
            .enqueue("orders", Some(&i.to_be_bytes()), Some(b"o"), &[])
            .await
            .expect("enqueue");
        deliveries.push(delivery);
    }
    for d in deliveries {
        d.await.expect("acknowledged");
    }

    let orders = admin.describe_topic("orders").await.expect("describe");
    assert_eq!(orders.name, "orders");
    assert_eq!(
        orders
            .partitions
            .iter()
            .map(|p| p.partition)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(orders.partitions.iter().all(|p| p.log_start_offset == 0));
    assert_eq!(orders.records(), 30);
    let listed = admin.list_topics().await.expect("list");
    assert_eq!(listed[1], orders, "list and describe agree");

    admin.delete_topic("orders").await.expect("delete");
    let names: Vec<String> = admin
        .list_topics()
        .await
        .expect("list")
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["audit"]);
    let all = admin.list_all_topics().await.expect("list all");
    assert!(all.len() >= names.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_topic_and_the_reason() {
    let broker = start_broker().await;
    let admin = Admin::connect(broker.addr()).await.expect("admin");
    admin.create_topic("t", 1, &[]).await.expect("create");

    let err = admin.create_topic("t", 1, &[]).await.expect_err("exists");
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists), "{err}");
    assert!(err.to_string().contains("\"t\""), "{err}");

    let err = admin
        .create_topic("u", 1, &[("fsync", "sometimes")])
        .await
        .expect_err("bad config");
    assert_eq!(err.code(), Some(ErrorCode::InvalidConfig), "{err}");

    let err = admin
        .create_topic("bad name!", 1, &[])
        .await
        .expect_err("bad name");
    assert_eq!(err.code(), Some(ErrorCode::InvalidTopic), "{err}");

    let err = admin
        .create_topic("v", 0, &[])
        .await
        .expect_err("0 partitions");
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

    for err in [
        admin.describe_topic("missing").await.expect_err("describe"),
        admin.delete_topic("missing").await.expect_err("delete"),
    ] {
        assert_eq!(
            err.code(),
            Some(ErrorCode::UnknownTopicOrPartition),
            "{err}"
        );
        assert!(err.to_string().contains("missing"), "{err}");
    }
}

#[tokio::test]
async fn a_wrong_address_is_named_in_the_error() {
    let err = Admin::connect("127.0.0.1:1").await.expect_err("refused");
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    let err = Connection::connect("no-such-host.invalid:9400")
        .await
        .expect_err("unresolvable");
    assert!(
        err.to_string().contains("no-such-host.invalid:9400"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_requests_share_one_connection() {
    let broker = start_broker().await;
    let conn = Connection::connect(broker.addr()).await.expect("connect");
    Admin::from_connection(conn.clone())
        .create_topic("shared", 2, &[])
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            let mut pending = Vec::new();
            for _ in 0..20 {
                pending.push(
                    conn.submit(RequestBody::Metadata(MetadataRequest {
                        topics: vec!["shared".to_string()],
                    }))
                    .expect("submit"),
                );
            }
            for p in pending {
                p.await.expect("answer");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let metadata = conn
        .call(MetadataRequest { topics: vec![] })
        .await
        .expect("call");
    assert!(metadata.topics.iter().any(|t| t.name == "shared"));
}

async fn read_frame(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    socket.read_exact(&mut len).await.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    socket.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// A fake broker that reads one request and answers `reply` (a frame body), then
/// reads a second and hangs up.
async fn fake_broker(reply: Vec<u8>) -> std::net::SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let Some(request) = read_frame(&mut socket).await else {
            return;
        };
        let mut frame = (reply.len() as u32).to_be_bytes().to_vec();
        let mut body = reply;
        // Echo the request's correlation id (bytes 4..8 of its body).
        body[..4].copy_from_slice(&request[4..8]);
        frame.extend_from_slice(&body);
        let _ = socket.write_all(&frame).await;
        let _ = read_frame(&mut socket).await;
    });
    addr
}

#[tokio::test]
async fn a_refused_request_and_a_lost_connection_become_errors() {
    // Response header: correlation id (patched), error 35, message "v9".
    let reply = vec![0, 0, 0, 0, 0, 35, 0, 2, b'v', b'9'];
    let addr = fake_broker(reply).await;
    let conn = Connection::connect(addr).await.expect("connect");
    let err = conn
        .call(MetadataRequest { topics: vec![] })
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::UnsupportedVersion), "{err}");
    assert!(err.to_string().contains("v9"), "{err}");

    let second = conn
        .submit(RequestBody::Metadata(MetadataRequest { topics: vec![] }))
        .expect("submit");
    let third = conn
        .submit(RequestBody::Metadata(MetadataRequest { topics: vec![] }))
        .expect("submit");
    for pending in [second, third] {
        let err = tokio::time::timeout(Duration::from_secs(5), pending)
            .await
            .expect("fails, not hangs")
            .expect_err("hung up");
        assert!(matches!(err, Error::ConnectionLost { .. }), "{err}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
    assert!(conn.is_closed());
    let err = conn
        .call(MetadataRequest { topics: vec![] })
        .await
        .expect_err("closed");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// A bootstrap broker that stops answering costs one metadata timeout (5 s, not
/// the 30 s request timeout); after that the next broker of the list is asked
/// first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_stops_answering_metadata_is_asked_last() {
    let broker = start_broker().await;
    let proxy = FaultProxy::start(broker.addr()).await.expect("proxy");
    let list = format!("{},{}", proxy.addr(), broker.addr());
    let admin = Admin::connect(&list).await.expect("admin");
    admin.create_topic("t", 1, &[]).await.expect("create");
    proxy.hold(true);
    let started = Instant::now();
    let err = admin.describe_topic("t").await.expect_err("held");
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let again = Instant::now();
    let topic = admin.describe_topic("t").await.expect("asked elsewhere");
    assert_eq!(topic.partitions.len(), 1);
    assert!(
        again.elapsed() < Duration::from_secs(2),
        "{:?}",
        again.elapsed()
    );
}

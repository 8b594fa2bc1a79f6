//! A comma-separated bootstrap list: the client connects to the first broker of
//! the list that answers, and names every address when none does.

mod common;

use std::time::Duration;

use common::start_broker;
use rill_client::{Admin, Consumer, ConsumerConfig, Error, OffsetReset, Producer, ProducerConfig};

/// An address on 127.0.0.1 where nothing listens (bound, read, released).
fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_consumer_and_admin_skip_a_dead_first_entry() {
    let broker = start_broker().await;
    let list = format!("{}, {}", dead_addr(), broker.addr());

    let admin = Admin::connect(&list).await.expect("admin through the list");
    admin.create_topic("orders", 1, &[]).await.expect("create");
    let producer = Producer::connect(&list, ProducerConfig::new())
        .await
        .expect("producer through the list");
    for i in 0..5u8 {
        producer
            .send("orders", None, Some(&[i]), &[])
            .await
            .expect("send");
    }
    let config = ConsumerConfig::new().offset_reset(OffsetReset::Earliest);
    let mut consumer = Consumer::connect(&list, config)
        .await
        .expect("consumer through the list");
    consumer.assign_topics(&["orders"]).await.expect("assign");
    let mut values = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while values.len() < 5 && tokio::time::Instant::now() < deadline {
        for record in consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
        {
            values.push(record.value.expect("value")[0]);
        }
    }
    assert_eq!(values, vec![0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn a_list_of_dead_brokers_names_each_and_bad_lists_are_refused() {
    let (a, b) = (dead_addr(), dead_addr());
    let err = Admin::connect(format!("{a},{b}"))
        .await
        .expect_err("none answers");
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&a) && text.contains(&b), "{text}");
    for bad in ["", "127.0.0.1:1,,127.0.0.1:2", "nocolon"] {
        let err = Admin::connect(bad).await.expect_err(bad);
        assert!(matches!(err, Error::InvalidArgument(_)), "{bad}: {err}");
    }
}

//! A topic with the longest name the broker allows (249 bytes) and the most
//! partitions it allows can be created, written, deleted and created again, before
//! and after a restart: every path the broker derives from a topic name fits the
//! file system's 255-byte limit on one name.

use rill_broker::embedded::EmbeddedBroker;
use rill_broker::BrokerConfig;
use rill_protocol::api::list_offsets::LATEST_TIMESTAMP;
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo};
use rill_tests::client::TestClient;

fn one_record(value: &str) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    b.push(1_700_000_000_000, Some(b"k"), Some(value.as_bytes()), &[]);
    b.finish()
}

/// The log end of `partition`, or the error code of the answer.
async fn log_end(client: &mut TestClient, topic: &str, partition: i32) -> Result<i64, ErrorCode> {
    let r = client
        .list_offsets(topic, partition, LATEST_TIMESTAMP)
        .await
        .expect("list offsets");
    if r.error_code == ErrorCode::None {
        Ok(r.offset)
    } else {
        Err(r.error_code)
    }
}

/// Names in the data directory (topics, and anything a delete left behind).
fn entries(broker: &EmbeddedBroker) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(broker.data_dir())
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_longest_name_with_the_most_partitions_survives_delete_and_restart() {
    let config = BrokerConfig::default();
    let partitions = config.limits.max_partitions_per_topic;
    let name = "q".repeat(config.limits.max_topic_name_len);
    let last = partitions - 1;
    let mut broker = EmbeddedBroker::builder()
        .config(config)
        // A clean stop fsyncs and checkpoints each of the 1,024 partitions.
        .stop_timeout(std::time::Duration::from_secs(120))
        .start()
        .await
        .expect("broker");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    // Creating 1,024 partitions fsyncs thousands of files and directories: on a
    // busy 2-core machine that takes well over the default 10 s.
    client.set_timeout(std::time::Duration::from_secs(120));

    let created = client
        .create_topic(&name, partitions)
        .await
        .expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
    let produced = client
        .produce(&name, last, &one_record("first"), 1)
        .await
        .expect("produce")
        .expect("acks 1 answers");
    assert_eq!(produced.error_code, ErrorCode::None, "{produced:?}");

    let deleted = client.delete_topic(&name).await.expect("delete");
    assert_eq!(deleted.error_code, ErrorCode::None, "{deleted:?}");
    assert!(
        !entries(&broker).iter().any(|e| e.contains(&name)),
        "the deleted topic's directory stayed: {:?}",
        entries(&broker)
    );

    let again = client
        .create_topic(&name, partitions)
        .await
        .expect("create");
    assert_eq!(again.error_code, ErrorCode::None, "{again:?}");
    assert_eq!(
        log_end(&mut client, &name, last).await,
        Ok(0),
        "a new, empty topic"
    );
    client
        .produce(&name, last, &one_record("second"), 1)
        .await
        .expect("produce");

    broker.restart().await.expect("restart");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    client.set_timeout(std::time::Duration::from_secs(120));
    client
        .wait_until_served()
        .await
        .expect("served after the restart");
    assert_eq!(
        log_end(&mut client, &name, last).await,
        Ok(1),
        "kept across a restart"
    );
    let deleted = client.delete_topic(&name).await.expect("delete");
    assert_eq!(deleted.error_code, ErrorCode::None, "{deleted:?}");

    broker.restart().await.expect("restart");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    client.set_timeout(std::time::Duration::from_secs(120));
    client
        .wait_until_served()
        .await
        .expect("served after the restart");
    assert_eq!(
        log_end(&mut client, &name, last).await,
        Err(ErrorCode::UnknownTopicOrPartition),
        "a deleted topic stays deleted across a restart"
    );
    let third = client
        .create_topic(&name, partitions)
        .await
        .expect("create");
    assert_eq!(third.error_code, ErrorCode::None, "{third:?}");
    assert_eq!(log_end(&mut client, &name, last).await, Ok(0));
    broker.stop().await.expect("stop");
}

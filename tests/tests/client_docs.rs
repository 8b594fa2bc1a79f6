//! The examples in the rill-client docs (`Producer`, `Consumer`, `Admin`), run
//! against an embedded broker. The doc examples only compile (`no_run`): the
//! client library does not depend on the broker, even for its tests.

use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_client::{Admin, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test]
async fn the_producer_example_stores_the_event_at_offset_0() -> Result<()> {
    let mut broker = EmbeddedBroker::builder().start().await?;
    let admin = Admin::connect(broker.addr()).await?;
    admin.create_topic("purchases", 6, &[]).await?;

    let producer = Producer::connect(broker.addr(), ProducerConfig::new()).await?;
    let event = r#"{"type":"PurchasedItemOnWebsite","user_id":"user-1","price":12.99}"#;
    let key = "user-1".as_bytes();
    let at = producer
        .send("purchases", Some(key), Some(event.as_bytes()), &[])
        .await?;
    producer.close().await?;
    assert_eq!(at.offset, 0);
    broker.stop().await?;
    Ok(())
}

#[tokio::test]
async fn the_admin_example_creates_six_partitions() -> Result<()> {
    let mut broker = EmbeddedBroker::builder().start().await?;
    let admin = Admin::connect(broker.addr()).await?;
    admin
        .create_topic("purchases", 6, &[("retention_ms", "604800000")])
        .await?;
    let topic = admin.describe_topic("purchases").await?;
    for group in admin.list_groups().await? {
        admin.describe_group(&group.group_id).await?;
    }
    assert_eq!(topic.partitions.len(), 6);
    broker.stop().await?;
    Ok(())
}

#[tokio::test]
async fn the_consumer_example_reads_the_one_purchase() -> Result<()> {
    let config = EmbeddedBroker::fast_groups_config();
    let mut broker = EmbeddedBroker::builder().config(config).start().await?;
    let admin = Admin::connect(broker.addr()).await?;
    admin.create_topic("purchases", 6, &[]).await?;
    let shop = Producer::connect(broker.addr(), ProducerConfig::default()).await?;
    shop.send("purchases", Some(&b"user-1"[..]), Some(&b"{}"[..]), &[])
        .await?;

    let config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .auto_commit(false);
    let mut consumer = Consumer::connect(broker.addr(), config).await?;
    consumer.subscribe(&["purchases"], "payment").await?;
    let records = consumer.poll(Duration::from_secs(5)).await?;
    consumer.commit().await?;
    consumer.close().await?;
    assert_eq!(records.len(), 1);
    broker.stop().await?;
    Ok(())
}

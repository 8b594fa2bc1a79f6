//! The shop: publishes `PurchasedItemOnWebsite` events to the topic `purchases`,
//! keyed by user id so each user's purchases stay in order, and never waits for
//! the services that read them. Run against a broker:
//! `cargo run -p rill-client --example shop -- 127.0.0.1:9400`.

use rill_client::{Admin, Producer, ProducerConfig, RecordMetadata, Result};

const TOPIC: &str = "purchases";

/// Publishes `events` purchases and returns each one's key and where it landed.
pub async fn run(broker: &str, events: u64) -> Result<Vec<(String, RecordMetadata)>> {
    let admin = Admin::connect(broker).await?;
    let topics = admin.list_topics().await?;
    if !topics.iter().any(|t| t.name == TOPIC) {
        admin.create_topic(TOPIC, 6, &[]).await?;
    }
    let producer = Producer::connect(broker, ProducerConfig::new().client_id("shop")).await?;
    // Enqueue every event without waiting, then collect the acknowledgements.
    let mut sent = Vec::new();
    for n in 0..events {
        let user = format!("user-{}", n % 10);
        let event = format!(
            r#"{{"type":"PurchasedItemOnWebsite","item_id":"item-{n}","user_id":"{user}","price":{}.99,"prime":{},"instructions":"ring twice"}}"#,
            10 + n % 90,
            n % 3 == 0,
        );
        let (key, value) = (user.as_bytes(), event.as_bytes());
        let delivery = producer.enqueue(TOPIC, Some(key), Some(value), &[]).await?;
        sent.push((user, delivery));
    }
    let mut landed = Vec::new();
    for (user, delivery) in sent {
        landed.push((user, delivery.await?));
    }
    producer.close().await?;
    if let Some((_, last)) = landed.last() {
        let (partition, offset) = (last.partition, last.offset);
        println!("shop: {events} purchases sent, the last to {TOPIC}/{partition} offset {offset}");
    }
    Ok(landed)
}

#[tokio::main]
async fn main() {
    let broker = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("RILL_BROKER").ok());
    let broker = broker.as_deref().unwrap_or("127.0.0.1:9400");
    if let Err(e) = run(broker, 100).await {
        eprintln!("shop: {e}");
        std::process::exit(1);
    }
}

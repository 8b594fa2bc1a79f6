//! The examples in `client/examples/` run against an embedded broker: the payment
//! service reads exactly the purchases the shop published, and its group's
//! committed offsets reach the log end. So the first code a new user reads keeps
//! working.

use std::collections::BTreeSet;
use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_client::Admin;

#[allow(dead_code)]
#[path = "../../client/examples/shop.rs"]
mod shop;

#[allow(dead_code)]
#[path = "../../client/examples/payment.rs"]
mod payment;

const EVENTS: u64 = 100;

#[tokio::test]
async fn payment_reads_and_commits_every_purchase_the_shop_published() {
    let mut broker = EmbeddedBroker::builder()
        .config(EmbeddedBroker::fast_groups_config())
        .start()
        .await
        .expect("start the embedded broker");
    let addr = broker.addr().to_string();

    let published = shop::run(&addr, EVENTS).await.expect("the shop runs");
    assert_eq!(published.len(), EVENTS as usize);
    let read = payment::run(&addr, EVENTS as usize, Duration::from_secs(30))
        .await
        .expect("the payment service runs");

    // Exactly the published events: same (partition, offset, key), no more, no less.
    let published: BTreeSet<(i32, i64, Vec<u8>)> = published
        .iter()
        .map(|(user, at)| (at.partition, at.offset, user.as_bytes().to_vec()))
        .collect();
    let read_set: BTreeSet<(i32, i64, Vec<u8>)> = read
        .iter()
        .map(|r| {
            let key = r.key.as_deref().expect("every purchase has a key").to_vec();
            (r.partition, r.offset, key)
        })
        .collect();
    assert_eq!(read.len(), EVENTS as usize, "each event read once");
    assert_eq!(read_set, published);
    for r in &read {
        let value = std::str::from_utf8(r.value.as_deref().expect("a value")).expect("UTF-8");
        assert!(
            value.starts_with(r#"{"type":"PurchasedItemOnWebsite""#),
            "{value}"
        );
    }

    // The group committed up to the log end of every partition that has records.
    let admin = Admin::connect(&addr).await.expect("admin connects");
    let topic = admin.describe_topic("purchases").await.expect("describe");
    let group = admin
        .describe_group("payment")
        .await
        .expect("describe group");
    assert_eq!(group.total_lag(), 0, "{group:?}");
    for p in topic.partitions.iter().filter(|p| p.records() > 0) {
        let committed = group
            .partitions
            .iter()
            .find(|g| g.partition.topic == "purchases" && g.partition.partition == p.partition)
            .and_then(|g| g.committed);
        assert_eq!(
            committed,
            Some(p.high_watermark),
            "partition {}",
            p.partition
        );
    }

    broker.stop().await.expect("the broker stops cleanly");
}

//! The client with every codec: a producer set to compress writes batches the
//! consumer reads back record for record, in order, across codecs on one
//! partition.

#[path = "consumer_support/mod.rs"]
mod consumer_support;

use std::time::Duration;

use consumer_support::{create_topic, start_broker};
use rill_client::{
    Compression, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig, TopicPartition,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_reads_every_codec_record_for_record() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "t", 1).await;
    let per_codec = 300;
    for codec in Compression::ALL {
        let config = ProducerConfig::new()
            .compression(codec)
            .linger(Duration::from_millis(1));
        let producer = Producer::connect(&addr, config).await.expect("producer");
        for i in 0..per_codec {
            let value = format!("{codec} event {i}");
            producer
                .send(
                    "t",
                    Some(codec.name().as_bytes()),
                    Some(value.as_bytes()),
                    &[],
                )
                .await
                .expect("acknowledged");
        }
        producer.close().await.expect("close");
    }
    let config = ConsumerConfig::new().offset_reset(OffsetReset::Earliest);
    let mut consumer = Consumer::connect(&addr, config).await.expect("consumer");
    consumer
        .assign(&[TopicPartition::new("t", 0)])
        .await
        .expect("assign");
    let total = per_codec * Compression::ALL.len();
    let mut got = Vec::new();
    while got.len() < total {
        let records = consumer.poll(Duration::from_secs(10)).await.expect("poll");
        assert!(
            !records.is_empty(),
            "no records within 10 s; {} so far",
            got.len()
        );
        got.extend(records);
    }
    for (n, record) in got.iter().enumerate() {
        let codec = Compression::ALL[n / per_codec];
        assert_eq!(record.offset, n as i64);
        assert_eq!(record.key.as_deref(), Some(codec.name().as_bytes()));
        let value = format!("{codec} event {}", n % per_codec);
        assert_eq!(record.value.as_deref(), Some(value.as_bytes()));
    }
}

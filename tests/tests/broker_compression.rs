//! Compressed batches through a real broker: stored and served exactly as the
//! producer sent them, and a codec id Rill does not know is refused with nothing
//! written. (tests/tests/client_compression.rs reads every codec back with the
//! client's consumer.)

use rill_broker::embedded::EmbeddedBroker;
use rill_protocol::batch::stamp_base_offset;
use rill_protocol::{BatchBuilder, Compression, ErrorCode, ProducerInfo, RecordBatch};
use rill_tests::client::TestClient;
use rill_tests::STOP_TIMEOUT;

/// A batch of `n` JSON-like records compressed with `codec`.
fn batch(codec: Compression, n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE).compression(codec);
    for i in 0..n {
        let value = format!(r#"{{"order":{i},"sku":"kettle","city":"Lisbon","qty":1}}"#);
        b.push(
            1_900_000_000_000 + i as i64,
            Some(b"k"),
            Some(value.as_bytes()),
            &[],
        );
    }
    b.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_returns_a_compressed_batch_as_it_was_sent() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    client.create_topic("t", 1).await.expect("create");
    let mut offset = 0;
    for codec in Compression::ALL {
        let sent = batch(codec, 50);
        if codec != Compression::None {
            assert!(
                sent.len() < batch(Compression::None, 50).len(),
                "{codec} shrank nothing"
            );
        }
        let answer = client.produce("t", 0, &sent, 1).await.expect("produce");
        let answer = answer.expect("acks 1 answers");
        assert_eq!(answer.error_code, ErrorCode::None, "{codec}: {answer:?}");
        assert_eq!(answer.base_offset, offset, "{codec}");
        let fetched = client.fetch("t", 0, offset, 0, 1).await.expect("fetch");
        let (got, _) = RecordBatch::split_first(&fetched.records).expect("a batch");
        let mut expected = sent.clone();
        stamp_base_offset(&mut expected, offset).expect("stamp");
        assert_eq!(
            got.as_bytes(),
            &expected[..],
            "{codec}: stored bytes differ"
        );
        offset += 50;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_codec_is_refused_and_nothing_is_written() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    client.create_topic("t", 1).await.expect("create");
    for codec in 5..=7u8 {
        let mut b = batch(Compression::None, 3);
        b[22] |= codec; // attributes' low byte: bits 0-2
        let crc = crc32fast::hash(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        let answer = client.produce("t", 0, &b, 1).await.expect("produce");
        let answer = answer.expect("acks 1 answers");
        assert_eq!(
            answer.error_code,
            ErrorCode::CorruptMessage,
            "codec {codec}"
        );
        let message = answer.error_message.unwrap_or_default();
        assert!(message.contains(&format!("codec {codec}")), "{message}");
        assert!(
            message.contains("4 (zstd)"),
            "names what is allowed: {message}"
        );
    }
    let offsets = client.list_offsets("t", 0, -1).await.expect("list offsets");
    assert_eq!(offsets.offset, 0, "nothing was written");
}

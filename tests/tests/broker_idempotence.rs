//! Idempotent producers over the wire against a real broker: retries are written
//! once, and a batch that does not continue its producer's sequence, carries an
//! epoch that was never issued or an id that was never issued is refused.

use rill_broker::embedded::EmbeddedBroker;
use rill_protocol::api::init_producer_id::InitProducerIdRequest;
use rill_protocol::api::produce::ProducePartitionResponse;
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo};
use rill_tests::client::TestClient;
use rill_tests::STOP_TIMEOUT;

/// A fresh producer id from the broker (epoch 0).
async fn producer_id(c: &mut TestClient) -> i64 {
    let ResponseBody::InitProducerId(id) = c
        .call(RequestBody::InitProducerId(InitProducerIdRequest {
            transactional_id: None,
            timeout_ms: 1000,
        }))
        .await
        .expect("init producer id")
    else {
        panic!("not an init producer id response");
    };
    assert_eq!(
        (id.error_code, id.producer_epoch),
        (ErrorCode::None, 0),
        "{id:?}"
    );
    id.producer_id
}

async fn produce(c: &mut TestClient, partition: i32, batch: &[u8]) -> ProducePartitionResponse {
    c.produce("orders", partition, batch, -1)
        .await
        .expect("produce")
        .expect("acks -1 answers")
}

/// A two-record batch stamped with `producer_id`, epoch 0 and `base_sequence`.
fn idempotent_batch(producer_id: i64, base_sequence: i32, tag: &str) -> Vec<u8> {
    stamped_batch(producer_id, 0, base_sequence, tag)
}

fn stamped_batch(producer_id: i64, producer_epoch: i16, base_sequence: i32, tag: &str) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo {
        producer_id,
        producer_epoch,
        base_sequence,
    });
    b.push(1_900_000_000_000, None, Some(tag.as_bytes()), &[]);
    b.push(1_900_000_000_001, None, Some(tag.as_bytes()), &[]);
    b.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_produce_is_written_once() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut c = TestClient::connect(broker.addr()).await.expect("connect");
    c.create_topic("orders", 1).await.expect("create");
    let pid = producer_id(&mut c).await;

    // The first attempt is written, then its connection is cut before the answer
    // is read; the retry on a new connection gets the same offset.
    let first = idempotent_batch(pid, 0, "first");
    let mut doomed = TestClient::connect(broker.addr()).await.expect("connect");
    doomed
        .queue(rill_tests::client::produce_request("orders", 0, &first, -1))
        .expect("queue");
    doomed.flush().await.expect("write the produce");
    drop(doomed);
    let mut retry = TestClient::connect(broker.addr()).await.expect("connect");
    let answer = retry.produce("orders", 0, &first, -1).await.expect("retry");
    let answer = answer.expect("acks -1 answers");
    assert_eq!(
        (answer.error_code, answer.base_offset),
        (ErrorCode::None, 0),
        "{answer:?}"
    );
    let second = retry
        .produce("orders", 0, &idempotent_batch(pid, 2, "second"), -1)
        .await
        .expect("produce")
        .expect("answer");
    assert_eq!(
        (second.error_code, second.base_offset),
        (ErrorCode::None, 2)
    );
    let end = retry
        .list_offsets("orders", 0, -1)
        .await
        .expect("latest")
        .offset;
    assert_eq!(end, 4, "each batch is in the log exactly once");

    let gap = retry
        .produce("orders", 0, &idempotent_batch(pid, 9, "gap"), -1)
        .await
        .expect("produce")
        .expect("answer");
    assert_eq!(
        gap.error_code,
        ErrorCode::OutOfOrderSequenceNumber,
        "{gap:?}"
    );
    let invented = retry
        .produce("orders", 0, &idempotent_batch(pid + 1_000_000, 0, "x"), -1)
        .await
        .expect("produce")
        .expect("answer");
    assert_eq!(
        invented.error_code,
        ErrorCode::UnknownProducerId,
        "{invented:?}"
    );
    let end = retry
        .list_offsets("orders", 0, -1)
        .await
        .expect("latest")
        .offset;
    assert_eq!(end, 4, "refused batches wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_batch_has_sequence_zero_and_epochs_are_the_issued_one() {
    let mut broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut c = TestClient::connect(broker.addr()).await.expect("connect");
    c.create_topic("orders", 2).await.expect("create");
    let pid = producer_id(&mut c).await;

    let late = produce(&mut c, 0, &idempotent_batch(pid, 5, "late")).await;
    assert_eq!(
        late.error_code,
        ErrorCode::OutOfOrderSequenceNumber,
        "{late:?}"
    );
    assert!(
        late.error_message
            .as_deref()
            .unwrap_or("")
            .contains("sequence 0"),
        "{late:?}"
    );
    let invented_epoch = produce(&mut c, 0, &stamped_batch(pid, 3, 0, "epoch")).await;
    assert_eq!(
        invented_epoch.error_code,
        ErrorCode::InvalidProducerEpoch,
        "{invented_epoch:?}"
    );
    let first = produce(&mut c, 0, &idempotent_batch(pid, 0, "first")).await;
    assert_eq!((first.error_code, first.base_offset), (ErrorCode::None, 0));
    let stale_epoch = produce(&mut c, 0, &stamped_batch(pid, -2, 2, "epoch")).await;
    assert_eq!(stale_epoch.error_code, ErrorCode::InvalidProducerEpoch);
    // Sequences are per partition: partition 1 starts at 0 too.
    let other = produce(&mut c, 1, &idempotent_batch(pid, 2, "other")).await;
    assert_eq!(other.error_code, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(
        c.list_offsets("orders", 0, -1).await.expect("end").offset,
        2
    );
    assert_eq!(
        c.list_offsets("orders", 1, -1).await.expect("end").offset,
        0
    );

    // After a restart the broker no longer knows where an old id's sequence
    // stands, so that id continues where it was; a new id still starts at 0.
    broker.restart().await.expect("restart");
    let mut c = TestClient::connect(broker.addr()).await.expect("connect");
    c.wait_until_served()
        .await
        .expect("served after the restart");
    let resumed = produce(&mut c, 0, &idempotent_batch(pid, 2, "resumed")).await;
    assert_eq!(
        (resumed.error_code, resumed.base_offset),
        (ErrorCode::None, 2)
    );
    let fresh = producer_id(&mut c).await;
    let late = produce(&mut c, 0, &idempotent_batch(fresh, 7, "late")).await;
    assert_eq!(
        late.error_code,
        ErrorCode::OutOfOrderSequenceNumber,
        "{late:?}"
    );
    let epoch = produce(&mut c, 0, &stamped_batch(pid, 1, 4, "epoch")).await;
    assert_eq!(
        epoch.error_code,
        ErrorCode::InvalidProducerEpoch,
        "{epoch:?}"
    );
    assert_eq!(
        c.list_offsets("orders", 0, -1).await.expect("end").offset,
        4
    );
    broker.stop().await.expect("stop");
}

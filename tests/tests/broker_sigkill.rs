//! A real broker process is SIGKILLed while producers with acks = all write to a
//! topic with `fsync = "always"`; after every restart each acknowledged batch must
//! be readable at the offset it was acknowledged with, byte for byte, in order, and
//! the partition's offsets must run from 0 with no gaps.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_protocol::ErrorCode;
use rill_tests::client::{split_batches, TestClient};
use rill_tests::numbered_batch;
use rill_tests::process::BrokerProcess;

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 2;
const PRODUCERS: u64 = 4;
const ROUNDS: usize = 6;

/// Starts the broker with fsync "always", small segments and no retention.
fn start_broker(data_dir: &std::path::Path) -> BrokerProcess {
    BrokerProcess::start(
        env!("CARGO_BIN_EXE_broker_process"),
        data_dir,
        &[
            "--fsync",
            "always",
            "--segment-bytes",
            "65536",
            "--retention-ms",
            "-1",
        ],
    )
    .expect("start the broker process")
}

/// Acknowledged batches: seq -> (partition, base offset).
type Acks = Arc<Mutex<BTreeMap<u64, (i32, i64)>>>;

/// One producer: sends numbered batches with acks = all until the broker dies,
/// recording every acknowledgement.
async fn produce_until_killed(addr: SocketAddr, producer: u64, first_seq: u64, acks: Acks) {
    let Ok(mut client) = TestClient::connect(addr).await else {
        return;
    };
    let mut seq = first_seq + producer;
    loop {
        let partition = (seq % PARTITIONS as u64) as i32;
        match client
            .produce(TOPIC, partition, &numbered_batch(seq), -1)
            .await
        {
            Ok(Some(answer)) if answer.error_code == ErrorCode::None => {
                acks.lock()
                    .expect("acks lock")
                    .insert(seq, (partition, answer.base_offset));
            }
            Ok(answer) => panic!("produce of batch {seq} refused: {answer:?}"),
            Err(_) => return, // The broker was killed.
        }
        seq += PRODUCERS;
    }
}

/// Reads a whole partition: base offset -> batch bytes, checking offsets are dense.
async fn read_partition(client: &mut TestClient, partition: i32) -> BTreeMap<i64, Vec<u8>> {
    let mut batches = BTreeMap::new();
    let end = client
        .list_offsets(TOPIC, partition, -1)
        .await
        .expect("list latest")
        .offset;
    let mut next = 0;
    while next < end {
        let fetched = client
            .fetch(TOPIC, partition, next, 0, 1)
            .await
            .expect("fetch");
        assert_eq!(fetched.error_code, ErrorCode::None, "{fetched:?}");
        for batch in split_batches(&fetched.records).expect("valid batches") {
            let parsed = rill_protocol::RecordBatch::new(batch).expect("batch");
            assert_eq!(
                parsed.base_offset(),
                next,
                "partition {partition}: a gap or overlap in offsets"
            );
            next = parsed.next_offset();
            batches.insert(parsed.base_offset(), batch.to_vec());
        }
    }
    batches
}

#[test]
fn acknowledged_records_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rng = StdRng::seed_from_u64(0x5EED_0006);
    let acks: Acks = Arc::default();
    let mut total_batches = 0;
    // Round ROUNDS only restarts and checks what the last kill left.
    for round in 0..=ROUNDS {
        let mut broker = start_broker(dir.path());
        let addr = broker.addr();
        runtime.block_on(async {
            let mut client = TestClient::connect(addr).await.expect("connect");
            client
                .wait_until_served()
                .await
                .expect("served after the restart");
            if round == 0 {
                let created = client
                    .create_topic(TOPIC, PARTITIONS)
                    .await
                    .expect("create");
                assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
            }
            // Everything acknowledged before every earlier kill is still there.
            let acked = acks.lock().expect("acks lock").clone();
            let mut stored = BTreeMap::new();
            for partition in 0..PARTITIONS {
                stored.insert(partition, read_partition(&mut client, partition).await);
            }
            for (seq, (partition, base)) in &acked {
                let batch = stored[partition].get(base).unwrap_or_else(|| {
                    panic!("round {round}: acked batch {seq} at {partition}/{base} is gone")
                });
                assert_eq!(
                    batch[8..],
                    numbered_batch(*seq)[8..],
                    "round {round}: batch {seq} at {partition}/{base} changed"
                );
            }
            // Each producer's batches to a partition sit in the order it sent them.
            let mut last: BTreeMap<(u64, i32), i64> = BTreeMap::new();
            for (seq, (partition, base)) in &acked {
                let key = (seq % PRODUCERS, *partition);
                if let Some(previous) = last.insert(key, *base) {
                    assert!(
                        previous < *base,
                        "round {round}: batch {seq} overtook an earlier one"
                    );
                }
            }
            total_batches = stored.values().map(BTreeMap::len).sum::<usize>();
            if round == ROUNDS {
                return;
            }
            let first_seq = acked.keys().next_back().map_or(0, |s| s + 1000);
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| tokio::spawn(produce_until_killed(addr, p, first_seq, Arc::clone(&acks))))
                .collect();
            tokio::time::sleep(Duration::from_millis(rng.gen_range(150..600))).await;
            broker.kill().expect("SIGKILL the broker");
            for producer in producers {
                producer.await.expect("producer task");
            }
        });
    }
    let acked = acks.lock().expect("acks lock").len();
    assert!(
        acked > 100,
        "only {acked} batches were acknowledged; the test proved little"
    );
    eprintln!(
        "{acked} acknowledged batches survived {ROUNDS} SIGKILLs ({total_batches} stored in all)"
    );
}

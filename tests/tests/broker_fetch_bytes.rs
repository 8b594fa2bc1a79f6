//! Fetch returns the stored bytes, byte for byte: what pipelined fetches of a
//! multi-partition topic bring back, with caps from a single byte to more than a
//! segment, is checked against the segment files on disk. Answers above the
//! inline size go out by `sendfile`, smaller ones from memory, so both paths and
//! their interleaving on one connection are covered, as are segment boundaries
//! (a read stops at one) and the caps of PROTOCOL.md §5.6.

use std::collections::BTreeMap;
use std::path::Path;

use rill_broker::embedded::EmbeddedBroker;
use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
use rill_protocol::api::ApiKey;
use rill_protocol::message::{RequestBody, Response, ResponseBody};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo, RecordBatch};
use rill_tests::client::TestClient;
use rill_tests::STOP_TIMEOUT;

const PARTITIONS: i32 = 3;
/// Small segments, so reads meet many boundaries.
const SEGMENT_BYTES: usize = 256 * 1024;

/// One stored batch: its segment, offsets and bytes.
#[derive(Debug)]
struct Stored {
    segment: i64,
    next: i64,
    bytes: Vec<u8>,
}

/// The batches of one partition, read from its segment files.
fn stored(dir: &Path) -> Vec<Stored> {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .expect("partition dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    let mut out = Vec::new();
    for path in logs {
        let segment: i64 = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
            .expect("segment name");
        let bytes = std::fs::read(&path).expect("segment");
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (batch, tail) = RecordBatch::split_first(rest).expect("stored batch");
            out.push(Stored {
                segment,
                next: batch.next_offset(),
                bytes: batch.as_bytes().to_vec(),
            });
            rest = tail;
        }
    }
    out
}

/// What a read at `offset` may return with `cap`, as PROTOCOL.md §5.6 says:
/// the batch holding it (if `may_exceed`, whatever its size, else only if it
/// fits), then following batches of its segment while they fit. Returns the bytes
/// and the offset after them (`None` if none).
fn expected(
    batches: &[Stored],
    offset: i64,
    cap: usize,
    may_exceed: bool,
) -> (Vec<u8>, Option<i64>) {
    let mut out = Vec::new();
    let mut next = None;
    let Some(first) = batches.iter().position(|b| b.next > offset) else {
        return (out, next);
    };
    for b in &batches[first..] {
        if b.segment != batches[first].segment {
            break;
        }
        if out.len() + b.bytes.len() > cap && !(out.is_empty() && may_exceed) {
            break;
        }
        out.extend_from_slice(&b.bytes);
        next = Some(b.next);
    }
    (out, next)
}

fn fetch(max_bytes: i32, partition_max_bytes: i32, offsets: &[i64]) -> RequestBody {
    RequestBody::Fetch(FetchRequest {
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes,
        topics: vec![FetchTopic {
            name: "t".into(),
            partitions: (0..)
                .zip(offsets)
                .map(|(partition, &fetch_offset)| FetchPartition {
                    partition,
                    fetch_offset,
                    partition_max_bytes,
                })
                .collect(),
        }],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_fetches_return_the_segment_files_bytes() {
    let broker = EmbeddedBroker::builder()
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut client = TestClient::connect(broker.addr()).await.expect("connect");
    let segment_bytes = SEGMENT_BYTES.to_string();
    let created = client
        .create_topic_with("t", PARTITIONS, &[("segment_bytes", &segment_bytes)])
        .await
        .expect("create");
    assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
    // Batches of 1 to 90 records of 1 KiB (up to ~90 KiB), different per partition.
    for i in 0..60usize {
        for partition in 0..PARTITIONS {
            let records = 1 + (i * 37 + partition as usize * 11) % 90;
            let mut b = BatchBuilder::new(ProducerInfo::NONE);
            for r in 0..records {
                let value = vec![(i + r + partition as usize) as u8; 1024];
                b.push(1_900_000_000_000 + r as i64, Some(b"k"), Some(&value), &[]);
            }
            let answer = client
                .produce("t", partition, &b.finish(), 1)
                .await
                .expect("produce")
                .expect("answer");
            assert_eq!(answer.error_code, ErrorCode::None, "{answer:?}");
        }
    }
    let files: BTreeMap<i32, Vec<Stored>> = (0..PARTITIONS)
        .map(|p| (p, stored(&broker.data_dir().join("t").join(p.to_string()))))
        .collect();
    assert!(
        files.values().all(|b| b.iter().any(|s| s.segment > 0)),
        "every partition should span several segments"
    );
    let ends: Vec<i64> = files
        .values()
        .map(|b| b.last().expect("data").next)
        .collect();

    // (max_bytes, partition_max_bytes): tiny caps (one batch each time, inline),
    // a cap of about one batch, caps above the inline size (sendfile), and caps
    // past a segment (a read stops at the boundary).
    let caps = [
        (1, 1),
        (100_000, 50_000),
        (1 << 20, 200_000),
        (150_000, 1 << 20),
        (8 << 20, 1 << 20),
    ];
    for (max_bytes, partition_max) in caps {
        let mut offsets = vec![0i64; PARTITIONS as usize];
        let mut got: Vec<Vec<u8>> = vec![Vec::new(); PARTITIONS as usize];
        while offsets.iter().zip(&ends).any(|(o, e)| o < e) {
            // Four fetches in flight from the same offsets: the answers must come
            // back in order and alike.
            let request = fetch(max_bytes, partition_max, &offsets);
            let mut ids = Vec::new();
            for _ in 0..4 {
                ids.push(client.queue(request.clone()).expect("queue"));
            }
            client.flush().await.expect("flush");
            let mut answers = Vec::new();
            for id in ids {
                let Response {
                    body: Some(ResponseBody::Fetch(f)),
                    ..
                } = client.recv(ApiKey::Fetch, id).await.expect("answer")
                else {
                    panic!("not a fetch answer");
                };
                answers.push(f);
            }
            assert!(answers.windows(2).all(|w| w[0] == w[1]), "answers differ");
            let answer = &answers[0];
            let mut total = 0usize;
            for (p, entry) in answer.topics[0].partitions.iter().enumerate() {
                assert_eq!(entry.error_code, ErrorCode::None, "{entry:?}");
                let cap = usize::try_from(partition_max)
                    .expect("cap")
                    .min(usize::try_from(max_bytes).expect("max") - total.min(max_bytes as usize));
                let (want, next) = expected(&files[&(p as i32)], offsets[p], cap, total == 0);
                assert!(
                    entry.records[..] == want[..],
                    "caps ({max_bytes}, {partition_max}), partition {p} at {}: got {} bytes, want {}",
                    offsets[p],
                    entry.records.len(),
                    want.len()
                );
                total += want.len();
                got[p].extend_from_slice(&entry.records);
                if let Some(next) = next {
                    offsets[p] = next;
                }
            }
        }
        for (p, bytes) in got.iter().enumerate() {
            let all: Vec<u8> = files[&(p as i32)]
                .iter()
                .flat_map(|b| b.bytes.clone())
                .collect();
            assert!(
                *bytes == all,
                "caps ({max_bytes}, {partition_max}): partition {p} differs"
            );
        }
    }
}

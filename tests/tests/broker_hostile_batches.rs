//! Hostile Produce requests that decode fine but carry corrupt record batches: bad
//! CRC, lying length, lying record count, offset deltas out of order, compression,
//! trailing bytes, ... alone or next to a valid partition in the same request.
//!
//! Each case checks CORRUPT_MESSAGE with a message, that nothing was written (the
//! log of `keep/0` reads back byte for byte, ListOffsets latest unchanged), and that
//! an honest connection still produces and fetches. Other bad request content is in
//! `broker_hostile_requests.rs`, framing-level attacks in `broker_hostile.rs`.

mod hostile_support;

use bytes::Bytes;
use hostile_support::{fix_crc, honest_batch, Fixture, Hostile, OrFail, KEEP};
use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceTopic};
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo, RecordBatch};

/// Overwrites the big-endian i32 at `at`.
fn put_i32(batch: &mut [u8], at: usize, value: i32) {
    batch[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

/// Overwrites the big-endian i64 at `at`.
fn put_i64(batch: &mut [u8], at: usize, value: i64) {
    batch[at..at + 8].copy_from_slice(&value.to_be_bytes());
}

const LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const MAX_TIMESTAMP_AT: usize = 35;
const RECORD_COUNT_AT: usize = 57;
const HEADER_LEN: usize = 61;

/// The honest batch every corruption starts from: 3 records.
fn base() -> Vec<u8> {
    honest_batch("evil", 3)
}

fn with_length(delta: i64) -> Vec<u8> {
    let mut b = base();
    let length = (b.len() - 12) as i64 + delta;
    put_i32(&mut b, LENGTH_AT, length as i32);
    b
}

fn with_count(count: i32) -> Vec<u8> {
    let mut b = base();
    put_i32(&mut b, RECORD_COUNT_AT, count);
    fix_crc(&mut b);
    b
}

/// Two records whose encodings have the same size, swapped so the offset deltas
/// read 1, 0; the CRC is recomputed, so only the order is wrong.
fn deltas_swapped() -> Vec<u8> {
    let mut b = honest_batch("swap", 2);
    let records = b.len() - HEADER_LEN;
    assert_eq!(records % 2, 0, "test bug: the two records differ in size");
    let half = records / 2;
    let (first, second) = b[HEADER_LEN..].split_at_mut(half);
    first.swap_with_slice(second);
    fix_crc(&mut b);
    let batch = RecordBatch::new(&b).expect("test bug: swapped batch framing");
    let deltas: Vec<i32> = batch
        .records()
        .map(|r| r.expect("test bug: swapped records parse").offset_delta)
        .collect();
    assert_eq!(
        deltas,
        [1, 0],
        "test bug: the swap did not reorder the deltas"
    );
    b
}

fn deltas(list: &[i32]) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    for (i, &delta) in list.iter().enumerate() {
        b.push_with_delta(
            delta,
            1_700_000_000_000 + i as i64,
            Some(b"k"),
            Some(b"v"),
            &[],
        );
    }
    b.finish()
}

fn corrupt_cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut cases: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut b = base();
    b[17] ^= 0x01;
    cases.push(("a flipped CRC byte", b));
    let mut b = base();
    let last = b.len() - 1;
    b[last] ^= 0x40;
    cases.push(("a flipped value byte", b));
    cases.push(("length 1 too big", with_length(1)));
    cases.push(("length 100 too big", with_length(100)));
    cases.push(("length 1 too small", with_length(-1)));
    cases.push(("length 20 too small", with_length(-20)));
    let mut b = base();
    put_i32(&mut b, LENGTH_AT, -1);
    cases.push(("length -1", b));
    let mut b = base();
    put_i32(&mut b, LENGTH_AT, i32::MAX);
    cases.push(("length i32::MAX", b));
    let mut b = base();
    put_i32(&mut b, LENGTH_AT, 0);
    cases.push(("length 0", b));
    cases.push(("record count 1 too big", with_count(4)));
    cases.push(("record count 1 too small", with_count(2)));
    cases.push(("record count 0", with_count(0)));
    cases.push(("record count -1", with_count(-1)));
    cases.push(("record count i32::MAX", with_count(i32::MAX)));
    cases.push(("offset deltas out of order", deltas_swapped()));
    cases.push(("offset deltas with a gap (0, 2)", deltas(&[0, 2])));
    cases.push(("offset deltas starting at 1", deltas(&[1, 2])));
    let mut b = base();
    put_i32(&mut b, LAST_OFFSET_DELTA_AT, 5);
    fix_crc(&mut b);
    cases.push(("last offset delta lies", b));
    let mut b = base();
    b[MAGIC_AT] = 2;
    cases.push(("Kafka's magic 2", b));
    let mut b = base();
    put_i64(&mut b, MAX_TIMESTAMP_AT, 1_800_000_000_000);
    fix_crc(&mut b);
    cases.push(("max timestamp newer than every record", b));
    let mut b = base();
    put_i64(&mut b, MAX_TIMESTAMP_AT, 1_600_000_000_000);
    fix_crc(&mut b);
    cases.push(("max timestamp older than the records", b));
    let mut b = base();
    b[ATTRIBUTES_AT + 1] |= 0x01;
    fix_crc(&mut b);
    cases.push(("compression attribute set", b));
    let mut b = base();
    b[ATTRIBUTES_AT + 1] |= 0x20;
    fix_crc(&mut b);
    cases.push((
        "the control attribute set (only the broker writes those)",
        b,
    ));
    cases.push((
        "no records at all",
        BatchBuilder::new(ProducerInfo::NONE).finish(),
    ));
    let mut b = base();
    b.pop();
    cases.push(("the last byte cut off", b));
    let mut bad = base();
    bad[17] ^= 0x01;
    let mut b = honest_batch("good", 2);
    b.extend_from_slice(&bad);
    cases.push(("a valid batch, then a bad CRC", b));
    let mut b = bad.clone();
    b.extend_from_slice(&honest_batch("good", 2));
    cases.push(("a bad CRC, then a valid batch", b));
    let mut b = honest_batch("good", 2);
    b.extend_from_slice(&[1, 2, 3, 4, 5]);
    cases.push(("a valid batch, then 5 stray bytes", b));
    let mut b = honest_batch("good", 2);
    b.extend_from_slice(&honest_batch("next", 2)[..40]);
    cases.push(("a valid batch, then 40 bytes of another", b));
    cases.push(("an empty records field", Vec::new()));
    cases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_batches_get_corrupt_message_and_write_nothing() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    for (case, records) in corrupt_cases() {
        let r = conn.produce_acked(KEEP, 0, &records, case).await;
        assert_eq!(
            r.error_code,
            ErrorCode::CorruptMessage,
            "{case}: partition error code (message {:?})",
            r.error_message
        );
        assert_eq!(r.base_offset, -1, "{case}: base_offset on error");
        assert!(
            r.error_message.as_deref().is_some_and(|m| !m.is_empty()),
            "{case}: the error says what was wrong"
        );
        fx.assert_unharmed(case).await;
    }
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_partition_does_not_spoil_the_rest_of_the_request() {
    let mut fx = Fixture::start().await;
    let mut bad = base();
    bad[17] ^= 0x01;
    let good = honest_batch("other", 3);
    let request = RequestBody::Produce(ProduceRequest {
        acks: 1,
        timeout_ms: 5_000,
        topics: vec![ProduceTopic {
            name: KEEP.to_string(),
            partitions: vec![
                ProducePartition {
                    partition: 0,
                    records: Bytes::from(bad),
                },
                ProducePartition {
                    partition: 1,
                    records: Bytes::from(good),
                },
            ],
        }],
    });
    let mut conn = fx.connect().await;
    let ResponseBody::Produce(response) = conn.call(request).await.or_fail("two partitions") else {
        panic!("Produce answered with another API");
    };
    let codes: Vec<(i32, ErrorCode)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition, p.error_code))
        .collect();
    assert_eq!(
        codes,
        [(0, ErrorCode::CorruptMessage), (1, ErrorCode::None)],
        "only the corrupt partition fails"
    );
    let latest = conn.latest(KEEP, 1, "keep/1").await;
    assert_eq!(latest.offset, 3, "the good partition got its 3 records");
    fx.assert_unharmed("a corrupt and a good partition in one request")
        .await;
    fx.finish().await;
}

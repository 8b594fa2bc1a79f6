//! Criterion benches of the batch codecs: building and compressing a batch of
//! JSON purchase events, and decompressing it again, for each codec.
//!
//! Run with `cargo bench -p rill-bench --bench compression`. One iteration is one
//! 64 KiB batch (the producer's default size) of 320 events of 200 bytes from the
//! bench's `--payload json` pool; throughput counts the uncompressed bytes.
//! - `compress/{codec}`: `BatchBuilder` with the codec, pushing every record
//!   and finishing (what a producer does per batch).
//! - `decompress/{codec}`: `RecordBatch::records_section` of that batch, then a
//!   walk over its records (what a consumer does per batch).
//!
//! Each bench first checks the invariant it relies on: the batch decompresses to
//! exactly the records that went in.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use rill_bench::payload::{self, PayloadKind};
use rill_protocol::batch::MAX_DECOMPRESSED_BYTES;
use rill_protocol::{BatchBuilder, Compression, ProducerInfo, RecordBatch};

/// Records per batch: 320 x 200 B = 64,000 bytes of values.
const RECORDS: usize = 320;
const RECORD_BYTES: usize = 200;

fn build(codec: Compression, values: &[Vec<u8>]) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE).compression(codec);
    for (i, v) in values.iter().enumerate() {
        b.push(1_900_000_000_000 + i as i64, None, Some(v), &[]);
    }
    b.finish()
}

/// Walks the batch's records; returns the bytes of their values.
fn read(batch: &[u8]) -> usize {
    let batch = RecordBatch::new(batch).expect("batch");
    let section = batch
        .records_section(MAX_DECOMPRESSED_BYTES)
        .expect("decompress");
    batch
        .records_in(&section)
        .map(|r| r.expect("record").value.map_or(0, <[u8]>::len))
        .sum()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let values: Vec<Vec<u8>> = payload::values(PayloadKind::Json, RECORD_BYTES, 7)
        .into_iter()
        .take(RECORDS)
        .collect();
    let mut group = c.benchmark_group("compression");
    group.throughput(Throughput::Bytes((RECORDS * RECORD_BYTES) as u64));
    for codec in Compression::ALL {
        let batch = build(codec, &values);
        assert_eq!(read(&batch), RECORDS * RECORD_BYTES, "{codec} round trip");
        eprintln!(
            "{codec}: a batch of {RECORDS} events is {} bytes",
            batch.len()
        );
        group.bench_function(format!("compress/{codec}"), |b| {
            b.iter(|| build(codec, black_box(&values)))
        });
        group.bench_function(format!("decompress/{codec}"), |b| {
            b.iter(|| read(black_box(&batch)))
        });
    }
    group.finish();
    c.final_summary();
}

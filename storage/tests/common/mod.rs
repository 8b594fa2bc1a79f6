//! Helpers shared by the storage integration tests.
#![allow(dead_code)]

use rill_protocol::{BatchBuilder, ProducerInfo, RecordBatch};
use rill_storage::{Log, LogOptions};

pub mod files;

/// A batch of `count` records with keys `key-{i}` (i from `first_key`), values of
/// `value_len` bytes, and timestamps `timestamp, timestamp + 1, …`.
pub fn batch(count: usize, first_key: usize, value_len: usize, timestamp: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    for i in 0..count {
        let key = format!("key-{}", first_key + i);
        let value = vec![(first_key + i) as u8; value_len];
        b.push(
            timestamp + i as i64,
            Some(key.as_bytes()),
            Some(&value),
            &[],
        );
    }
    b.finish()
}

/// A batch of one record with the given key and value (None = tombstone).
pub fn keyed(key: &str, value: Option<&[u8]>, timestamp: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    b.push(timestamp, Some(key.as_bytes()), value, &[]);
    b.finish()
}

/// Reads the whole log from its start, returning every batch's bytes in order.
pub fn read_all(log: &Log) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let read = log.read(offset, 1 << 20).expect("read");
        assert!(
            !read.bytes.is_empty(),
            "empty read at {offset} below the high watermark"
        );
        let mut rest = &read.bytes[..];
        while !rest.is_empty() {
            let (b, tail) = RecordBatch::split_first(rest).expect("whole batch");
            b.validate().expect("valid batch");
            out.push(b.as_bytes().to_vec());
            offset = b.next_offset();
            rest = tail;
        }
    }
    out
}

/// Small segments and a dense index so tests cross many segments quickly.
pub fn small_segments() -> LogOptions {
    LogOptions::default()
        .segment_bytes(64 * 1024)
        .index_interval_bytes(1024)
        .index_max_bytes(64 * 1024)
}

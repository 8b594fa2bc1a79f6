//! `Log::read_slice` names exactly the stored bytes a read must return: whole
//! batches from the one holding the offset, at least one, then as many as fit the
//! cap, never across a segment boundary. Checked against a plain list of the
//! appended batches, and against the segment file's own bytes at the range.

mod common;

use common::batch;
use proptest::prelude::*;
use rill_storage::{Error, Log, LogOptions, ReadMode};

/// One appended batch as the model keeps it.
struct Stored {
    base: i64,
    next: i64,
    bytes: Vec<u8>,
}

/// What a read at `offset` with `max_bytes` must return: the batches' bytes and
/// the offset after the last one.
fn expected(model: &[Stored], segments: &[i64], offset: i64, max_bytes: usize) -> (Vec<u8>, i64) {
    let segment_of = |base: i64| segments.iter().rev().find(|s| **s <= base).copied();
    let first = model
        .iter()
        .position(|b| b.next > offset)
        .expect("offset below the log end");
    let segment = segment_of(model[first].base);
    let mut bytes = model[first].bytes.clone();
    let mut next = model[first].next;
    for b in &model[first + 1..] {
        if segment_of(b.base) != segment || bytes.len() + b.bytes.len() > max_bytes {
            break;
        }
        bytes.extend_from_slice(&b.bytes);
        next = b.next;
    }
    (bytes, next)
}

fn options(index_interval: u64) -> LogOptions {
    LogOptions::default()
        .segment_bytes(16 * 1024)
        .index_interval_bytes(index_interval)
        .index_max_bytes(64 * 1024)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn read_slice_returns_exactly_the_stored_batches(
        sizes in proptest::collection::vec((1usize..12, 0usize..900), 1..120),
        reads in proptest::collection::vec((0u16..1000, 0usize..40_000), 1..40),
        index_interval in prop_oneof![Just(1u64), Just(512), Just(4096)],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::open(dir.path(), options(index_interval)).expect("open");
        let mut model = Vec::new();
        let mut key = 0;
        for (records, value_len) in sizes {
            let mut b = batch(records, key, value_len, 1_000 + key as i64);
            key += records;
            let info = log.append(&mut b).expect("append");
            model.push(Stored { base: info.base_offset, next: info.last_offset + 1, bytes: b });
        }
        let end = log.high_watermark();
        let segments = log.segment_bases();
        for (permille, max_bytes) in reads {
            let offset = end * i64::from(permille) / 1000;
            let slice = log.read_slice(offset, max_bytes).expect("read_slice");
            prop_assert_eq!(slice.high_watermark, end);
            let batches = slice.batches.expect("batches below the high watermark");
            let (want, next) = expected(&model, &segments, offset, max_bytes);
            prop_assert_eq!(batches.next_offset(), next);
            prop_assert!(batches.base_offset() <= offset && offset < next);
            let got = batches.to_vec(ReadMode::Wait).expect("read range");
            prop_assert!(got == want, "read at {} cap {}: {} bytes, want {}", offset, max_bytes, got.len(), want.len());
            // A read that may not wait names and copies the same bytes, or declines.
            match log.read_slice_in(offset, max_bytes, ReadMode::Cached) {
                Ok(cached) => {
                    let cached = cached.batches.expect("batches below the high watermark");
                    prop_assert_eq!(
                        (cached.position(), cached.len()),
                        (batches.position(), batches.len())
                    );
                    match cached.to_vec(ReadMode::Cached) {
                        Ok(bytes) => prop_assert!(bytes == want),
                        Err(e) => prop_assert!(matches!(e, Error::NotCached { .. }), "{}", e),
                    }
                }
                Err(e) => prop_assert!(matches!(e, Error::NotCached { .. }), "{}", e),
            }
            // The range is the segment file's own bytes there.
            let file = std::fs::read(batches.path()).expect("segment file");
            let at = batches.position() as usize;
            prop_assert!(file[at..at + batches.len() as usize] == want[..]);
            // `read` returns the same bytes.
            prop_assert!(log.read(offset, max_bytes).expect("read").bytes == want);
        }
        let at_end = log.read_slice(end, 1 << 20).expect("read at the end");
        prop_assert!(at_end.batches.is_none());
    }
}

#[test]
fn a_slice_stays_readable_after_its_segment_is_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(512).retention_bytes(Some(1));
    let log = Log::open(dir.path(), opts).expect("open");
    let mut first = batch(10, 0, 500, 1_000);
    log.append(&mut first).expect("append");
    let slice = log.read_slice(0, 1 << 20).expect("read_slice");
    // Fill past the first segment, then let retention delete it.
    for i in 0..40 {
        log.append(&mut batch(10, 10 + i * 10, 500, 2_000))
            .expect("append");
    }
    let report = log.enforce_retention().expect("retention");
    assert!(
        log.log_start_offset() > 0,
        "retention removed nothing: {report:?}"
    );
    assert!(!slice.batches.as_ref().expect("batches").path().exists());
    let bytes = slice
        .batches
        .expect("batches")
        .to_vec(ReadMode::Wait)
        .expect("read");
    assert_eq!(bytes, first);
}

#[test]
fn bytes_from_counts_what_a_replica_at_an_offset_still_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), common::small_segments()).expect("open");
    let mut model = Vec::new();
    for i in 0..40 {
        let mut bytes = batch(1 + i % 5, i * 10, 700, 1_000);
        let info = log.append(&mut bytes).expect("append");
        model.push(Stored {
            base: info.base_offset,
            next: info.last_offset + 1,
            bytes,
        });
    }
    assert!(log.segment_bases().len() > 1, "the batches span segments");
    let total: u64 = model.iter().map(|b| b.bytes.len() as u64).sum();
    assert_eq!(log.size_bytes(), total);
    for (i, b) in model.iter().enumerate() {
        let rest: u64 = model[i..].iter().map(|b| b.bytes.len() as u64).sum();
        for offset in b.base..b.next {
            let got = log.bytes_from(offset, ReadMode::Wait).expect("bytes_from");
            assert_eq!(got, rest, "offset {offset} (batch {i})");
        }
    }
    let end = log.log_end_offset();
    assert_eq!(log.bytes_from(end, ReadMode::Wait).expect("at the end"), 0);
    assert!(log.bytes_from(end + 1, ReadMode::Wait).is_err());
}

//! Recovery reads a segment in 1 MiB chunks and checks each batch where it lies.
//! These cases put the damage where the chunks meet: a flipped byte in the second
//! chunk of a batch that straddles the first boundary, a batch larger than a chunk,
//! and a write torn after it.

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::files::{batch_starts, segment_file};
use common::{batch, read_all};
use rill_storage::{Log, LogOptions};

const MIB: usize = 1 << 20;

fn options() -> LogOptions {
    LogOptions {
        max_batch_bytes: 4 * MIB,
        ..LogOptions::default()
    }
}

/// Writes about 3.5 MiB of batches of about 7 KiB, one of them 1.5 MiB, then
/// crashes (drops the log without closing it). Returns the batches as stored.
fn crashed_log(dir: &Path) -> Vec<Vec<u8>> {
    let log = Log::open(dir, options()).expect("open");
    let mut batches = Vec::new();
    let mut key = 0;
    for i in 0..480 {
        let (count, value_len) = if i == 200 { (3, MIB / 2) } else { (7, 1_000) };
        let mut b = batch(count, key, value_len, 1_000 + i);
        key += count;
        log.append(&mut b).expect("append");
        batches.push(b);
    }
    drop(log);
    batches
}

/// The index of the batch that holds byte `at` of the segment, and its start.
fn batch_over(starts: &[usize], at: usize) -> (usize, usize) {
    let k = starts
        .iter()
        .rposition(|&s| s <= at)
        .expect("a batch there");
    assert!(
        starts[k] < at,
        "byte {at} must fall inside a batch, not at its start"
    );
    (k, starts[k])
}

fn reopen_keeps(dir: &Path, batches: &[Vec<u8>], keep: usize, what: &str) {
    let log = Log::open(dir, options()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let got = read_all(&log);
    assert_eq!(got.len(), keep, "{what}: batches kept");
    assert!(got[..] == batches[..keep], "{what}: kept batches differ");
    let next = log.log_end_offset();
    let mut more = batch(2, 1_000_000, 10, 9_999);
    assert_eq!(log.append(&mut more).expect("append").base_offset, next);
}

#[test]
fn an_undamaged_segment_is_recovered_whole_across_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = crashed_log(dir.path());
    let file = std::fs::read(segment_file(dir.path(), 0, "log")).expect("segment");
    assert!(file.len() > 3 * MIB, "the segment must span several chunks");
    assert!(
        batches.iter().any(|b| b.len() > MIB),
        "one batch exceeds a chunk"
    );
    reopen_keeps(dir.path(), &batches, batches.len(), "undamaged");
}

#[test]
fn damage_in_a_batch_across_a_chunk_boundary_cuts_the_log_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = crashed_log(dir.path());
    let path = segment_file(dir.path(), 0, "log");
    let pristine = std::fs::read(&path).expect("segment");
    let starts = batch_starts(&pristine);

    // A flipped byte in the batch over the first chunk boundary, in its second chunk.
    let (k, start) = batch_over(&starts, MIB);
    let mut flipped = pristine.clone();
    flipped[MIB + 1] ^= 0x40;
    std::fs::write(&path, &flipped).expect("write");
    assert!(
        start + batches[k].len() > MIB + 1,
        "the flip is inside batch {k}"
    );
    reopen_keeps(dir.path(), &batches, k, "flipped byte across the boundary");

    // A write torn inside a batch after the one larger than a chunk.
    std::fs::write(&path, &pristine).expect("write");
    let (k, start) = batch_over(&starts, 3 * MIB);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len((3 * MIB + 10) as u64)
        .expect("tear");
    assert!(
        k > 200 && start < 3 * MIB,
        "the tear is after the large batch"
    );
    reopen_keeps(dir.path(), &batches, k, "torn after the large batch");
}

//! Lookups by offset and by timestamp across many segments, and proof that they go
//! through the sparse indexes instead of scanning segments.

mod common;

use common::{batch, small_segments};
use rill_protocol::RecordBatch;
use rill_storage::Log;

/// (offset, timestamp) of every record appended, in order.
fn fill(log: &Log, batches: usize) -> Vec<(i64, i64)> {
    let mut records = Vec::new();
    for i in 0..batches {
        let count = 1 + i % 5;
        // Timestamps rise overall but step back now and then, as producer clocks do.
        let ts = 1_000_000 + (i as i64) * 100 - if i % 7 == 3 { 250 } else { 0 };
        let mut b = batch(count, i, 150, ts);
        let info = log.append(&mut b).expect("append");
        for r in 0..count {
            records.push((info.base_offset + r as i64, ts + r as i64));
        }
    }
    records
}

#[test]
fn every_offset_is_found_in_its_batch_using_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let records = fill(&log, 2000);
    assert!(
        log.segment_bases().len() >= 10,
        "{} segments",
        log.segment_bases().len()
    );
    let before = log.metrics();
    for &(offset, _) in &records {
        let read = log.read(offset, 0).expect("read");
        let (first, _) = RecordBatch::split_first(&read.bytes).expect("a batch");
        assert!(
            first.base_offset() <= offset && offset <= first.last_offset(),
            "offset {offset} answered with batch {}..={}",
            first.base_offset(),
            first.last_offset()
        );
    }
    let after = log.metrics();
    let lookups = after.index_lookups - before.index_lookups;
    let scanned = after.headers_scanned - before.headers_scanned;
    assert_eq!(lookups, records.len() as u64);
    // Batches are ~200-900 bytes and the index has an entry every 1 KiB, so a lookup
    // reads a handful of headers; a full-segment scan would read ~100 on average.
    let per_lookup = scanned as f64 / lookups as f64;
    assert!(
        per_lookup < 8.0,
        "{per_lookup:.1} headers read per lookup: not using the index"
    );
}

#[test]
fn timestamp_lookup_finds_the_first_record_at_or_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let records = fill(&log, 2000);
    let expected = |t: i64| records.iter().find(|&&(_, ts)| ts >= t).map(|&(o, _)| o);
    let last_ts = records.iter().map(|r| r.1).max().expect("records");
    // Only batches and segments whose max timestamp is below t are skipped, so the
    // answer is the first record in offset order with a timestamp >= t, even where
    // timestamps step back.
    let targets: Vec<i64> = (0..300).map(|i| 1_000_000 + i * 661 + 1).collect();
    let before = log.metrics();
    for &t in &targets {
        assert_eq!(
            log.offset_for_timestamp(t).expect("lookup"),
            expected(t),
            "timestamp {t}"
        );
    }
    assert_eq!(log.offset_for_timestamp(i64::MIN).expect("lookup"), Some(0));
    assert_eq!(log.offset_for_timestamp(last_ts + 1).expect("lookup"), None);
    let after = log.metrics();
    let per_lookup = (after.headers_scanned - before.headers_scanned) as f64 / targets.len() as f64;
    assert!(
        per_lookup < 16.0,
        "{per_lookup:.1} headers per timestamp lookup"
    );
}

#[test]
fn lookups_survive_a_clean_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let records = fill(&log, 800);
    let probes: Vec<i64> = (0..50).map(|i| 1_000_000 + i * 1_597).collect();
    let answers: Vec<_> = probes
        .iter()
        .map(|&t| log.offset_for_timestamp(t).expect("ts"))
        .collect();
    log.close().expect("close");
    let log = Log::open(dir.path(), small_segments()).expect("reopen");
    let again: Vec<_> = probes
        .iter()
        .map(|&t| log.offset_for_timestamp(t).expect("ts"))
        .collect();
    assert_eq!(answers, again);
    for &(offset, _) in records.iter().step_by(37) {
        let read = log.read(offset, 0).expect("read");
        let (b, _) = RecordBatch::split_first(&read.bytes).expect("batch");
        assert!(b.base_offset() <= offset && offset <= b.last_offset());
    }
    assert_eq!(log.high_watermark(), records.len() as i64);
}

#[test]
fn deleted_indexes_are_rebuilt_and_used_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let records = fill(&log, 800);
    log.close().expect("close");
    let mut deleted = 0;
    for entry in std::fs::read_dir(dir.path()).expect("list") {
        let path = entry.expect("entry").path();
        let ext = path.extension().and_then(|e| e.to_str());
        if matches!(ext, Some("index" | "timeindex")) {
            std::fs::remove_file(&path).expect("delete index");
            deleted += 1;
        }
    }
    assert!(deleted >= 8);
    let log = Log::open(dir.path(), small_segments()).expect("reopen");
    let rebuilt = log.recovery_report().segments.len();
    assert_eq!(
        rebuilt,
        log.segment_bases().len(),
        "{:?}",
        log.recovery_report()
    );
    let before = log.metrics();
    for &(offset, _) in &records {
        log.read(offset, 0).expect("read");
    }
    let after = log.metrics();
    let per_lookup = (after.headers_scanned - before.headers_scanned) as f64 / records.len() as f64;
    assert!(
        per_lookup < 8.0,
        "{per_lookup:.1} headers per lookup after the rebuild"
    );
    assert!(log
        .offset_for_timestamp(1_000_000 + 50_000)
        .expect("ts")
        .is_some());
}

/// Index files are mapped for random access: a page fault must not read ahead
/// (and zero) a large folio of the preallocated file, which made every first
/// append to a partition cost megabytes of memset and 1,000 partitions crawl.
/// The kernel shows the advice as the `rr` flag of the mapping in smaps.
#[cfg(target_os = "linux")]
#[test]
fn index_mappings_are_advised_for_random_access() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    fill(&log, 50);
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
    let dir_name = dir.path().to_string_lossy().into_owned();
    let mut mappings = 0;
    let mut current: Option<String> = None;
    for line in smaps.lines() {
        let is_header = line
            .split_whitespace()
            .next()
            .is_some_and(|range| range.contains('-') && !range.ends_with(':'));
        if is_header {
            current = line
                .split_whitespace()
                .nth(5)
                .filter(|path| path.starts_with(&dir_name))
                .map(str::to_string);
        } else if let (Some(path), Some(flags)) = (&current, line.strip_prefix("VmFlags:")) {
            mappings += 1;
            assert!(
                flags.split_whitespace().any(|f| f == "rr"),
                "{path} is mapped without random-access advice: {flags}"
            );
        }
    }
    assert!(mappings >= 2, "found {mappings} index mappings of the log");
    drop(log);
}

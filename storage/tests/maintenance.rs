//! Retention, compaction, segment rolling and truncation.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{batch, keyed, read_all, small_segments};
use rill_protocol::batch::MAX_DECOMPRESSED_BYTES;
use rill_protocol::{BatchBuilder, Compression, ProducerInfo, RecordBatch};
use rill_storage::{Error, Log, LogOptions};

const DAY_MS: i64 = 24 * 3600 * 1000;
const NOW: i64 = 1_800_000_000_000;

/// A record as (offset, key, value).
type Owned = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// Every record in the log, in order.
fn records(log: &Log) -> Vec<Owned> {
    let mut out = Vec::new();
    for bytes in read_all(log) {
        let b = RecordBatch::new(&bytes).expect("batch");
        let section = b.records_section(MAX_DECOMPRESSED_BYTES).expect("records");
        for r in b.records_in(&section) {
            let r = r.expect("record");
            out.push((
                r.offset,
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
            ));
        }
    }
    out
}

#[test]
fn retention_by_age_deletes_only_whole_closed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_segments().retention_age(Some(Duration::from_millis(7 * DAY_MS as u64)));
    let log = Log::open(dir.path(), opts.clone()).expect("open");
    for i in 0..300 {
        log.append(&mut batch(2, i, 400, NOW - 10 * DAY_MS))
            .expect("old");
    }
    let old_end = log.log_end_offset();
    for i in 0..300 {
        log.append(&mut batch(2, i, 400, NOW - DAY_MS))
            .expect("new");
    }
    let bases_before = log.segment_bases();
    let report = log.enforce_retention_at(NOW).expect("retention");
    assert!(!report.deleted_segments.is_empty());
    let start = log.log_start_offset();
    assert_eq!(start, report.log_start_offset);
    assert!(
        bases_before.contains(&start),
        "log start {start} is a segment boundary"
    );
    assert!(
        start <= old_end,
        "no segment holding recent data was deleted"
    );
    for base in &report.deleted_segments {
        assert!(!dir.path().join(format!("{base:020}.log")).exists());
    }
    assert!(matches!(
        log.read(start - 1, 100),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert_eq!(records(&log).first().map(|r| r.0), Some(start));

    log.close().expect("close");
    let log = Log::open(dir.path(), opts).expect("reopen");
    assert_eq!(log.log_start_offset(), start);
}

#[test]
fn retention_never_deletes_the_active_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LogOptions::default().retention_age(Some(Duration::from_secs(1)));
    let log = Log::open(dir.path(), opts.retention_bytes(Some(1))).expect("open");
    log.append(&mut batch(5, 0, 100, 0)).expect("ancient data");
    let report = log.enforce_retention_at(NOW).expect("retention");
    assert!(report.deleted_segments.is_empty());
    assert_eq!(records(&log).len(), 5);
}

#[test]
fn retention_by_size_keeps_at_least_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = 200 * 1024;
    let opts = small_segments()
        .retention_age(None)
        .retention_bytes(Some(limit));
    let log = Log::open(dir.path(), opts).expect("open");
    for i in 0..1500 {
        log.append(&mut batch(1, i, 500, NOW)).expect("append");
    }
    let before = log.size_bytes();
    let report = log.enforce_retention_at(NOW).expect("retention");
    let after = log.size_bytes();
    assert!(before > 3 * limit);
    assert!(after >= limit, "{after} < {limit}");
    assert!(
        after < limit + 64 * 1024 + 1024,
        "{after}: more than one segment over the limit"
    );
    assert_eq!(before - after, report.bytes_freed);
}

/// Appends rounds of updates to 40 keys; in the last round every fifth key gets a
/// tombstone. Returns the newest (offset, value) per key.
fn write_updates(
    log: &Log,
    rounds: usize,
    tombstone_ts: i64,
) -> HashMap<String, (i64, Option<Vec<u8>>)> {
    let mut latest = HashMap::new();
    for round in 0..rounds {
        for k in 0..40 {
            let key = format!("user-{k}");
            let last_round = round == rounds - 1;
            let value =
                (!(last_round && k % 5 == 0)).then(|| format!("{key}@{round}").into_bytes());
            let ts = if value.is_none() {
                tombstone_ts
            } else {
                NOW - 10
            };
            let info = log
                .append(&mut keyed(&key, value.as_deref(), ts))
                .expect("append");
            latest.insert(key, (info.base_offset, value));
        }
    }
    latest
}

#[test]
fn compaction_keeps_exactly_the_last_record_per_key_at_its_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_segments().segment_bytes(4096);
    let log = Log::open(dir.path(), opts.clone()).expect("open");
    let latest = write_updates(&log, 12, NOW - 2 * DAY_MS);
    let before = records(&log);
    let end = log.log_end_offset();
    let report = log.compact_at(NOW).expect("compact");
    assert!(report.records_removed > 0 && report.bytes_after < report.bytes_before);
    let after = records(&log);
    let original: HashMap<i64, _> = before.iter().map(|r| (r.0, r.clone())).collect();
    let active_base = *log.segment_bases().last().expect("segments");
    for r in &after {
        assert_eq!(
            original.get(&r.0),
            Some(r),
            "record at offset {} changed",
            r.0
        );
        if r.0 < active_base {
            let key = String::from_utf8(r.1.clone().expect("keyed")).expect("utf8");
            assert_eq!(
                latest[&key].0, r.0,
                "superseded record of {key} survived at {}",
                r.0
            );
        }
    }
    for (key, (offset, value)) in &latest {
        let present = after.iter().any(|r| r.0 == *offset);
        // Tombstones are two days old and tombstone retention is one day: they expire.
        assert_eq!(
            present,
            value.is_some() || *offset >= active_base,
            "newest record of {key}"
        );
    }
    assert_eq!(
        log.log_end_offset(),
        end,
        "compaction never moves the log end"
    );
    assert_eq!(
        log.append(&mut keyed("x", Some(b"y"), NOW))
            .expect("append")
            .base_offset,
        end
    );

    log.close().expect("close");
    let reopened = Log::open(dir.path(), opts).expect("reopen");
    assert!(
        reopened.recovery_report().segments.is_empty(),
        "{:?}",
        reopened.recovery_report()
    );
    assert_eq!(records(&reopened)[..after.len()], after[..]);
}

#[test]
fn compaction_keeps_a_compressed_batch_compressed_with_its_codec() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments().segment_bytes(4096)).expect("open");
    let codecs = [
        Compression::Zstd,
        Compression::Lz4,
        Compression::Gzip,
        Compression::Snappy,
    ];
    for round in 0..40 {
        let codec = codecs[round % codecs.len()];
        let mut b = BatchBuilder::new(ProducerInfo::NONE).compression(codec);
        for key in 0..10 {
            let value = format!("round {round} key {key} {}", "x".repeat(40));
            b.push(
                NOW + round as i64,
                Some(format!("k{key}").as_bytes()),
                Some(value.as_bytes()),
                &[],
            );
        }
        log.append(&mut b.finish()).expect("append");
    }
    let before = records(&log);
    let report = log.compact_at(NOW).expect("compact");
    assert!(report.records_removed > 0, "{report:?}");
    let after = records(&log);
    let kept: HashMap<i64, _> = before.iter().map(|r| (r.0, r.clone())).collect();
    assert!(
        after.iter().all(|r| kept.get(&r.0) == Some(r)),
        "a record changed"
    );
    assert!(after.len() < before.len());
    for bytes in read_all(&log) {
        let b = RecordBatch::new(&bytes).expect("batch");
        let round = (b.base_offset() / 10) as usize;
        assert_eq!(
            b.compression().expect("codec"),
            codecs[round % codecs.len()],
            "batch at {} changed codec",
            b.base_offset()
        );
    }
}

#[test]
fn recent_tombstones_survive_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments().segment_bytes(4096)).expect("open");
    let latest = write_updates(&log, 6, NOW - 1000);
    log.compact_at(NOW).expect("compact");
    let after = records(&log);
    for (offset, value) in latest.values() {
        let r = after
            .iter()
            .find(|r| r.0 == *offset)
            .expect("newest record kept");
        assert_eq!(&r.2, value);
    }
}

#[test]
fn readers_see_a_consistent_log_while_compaction_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(Log::open(dir.path(), small_segments().segment_bytes(8192)).expect("open"));
    let mut latest = write_updates(&log, 10, NOW);
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (log, stop) = (Arc::clone(&log), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut passes = 0;
            while !stop.load(Ordering::Relaxed) || passes < 3 {
                let mut expected_next = log.log_start_offset();
                for bytes in read_all(&log) {
                    let b = RecordBatch::new(&bytes).expect("batch");
                    assert_eq!(b.base_offset(), expected_next, "batches stay contiguous");
                    expected_next = b.next_offset();
                }
                passes += 1;
            }
            passes
        })
    };
    for round in 0..20 {
        for k in 0..40 {
            let key = format!("user-{k}");
            let value = format!("{key}@late{round}").into_bytes();
            let info = log
                .append(&mut keyed(&key, Some(&value), NOW))
                .expect("append");
            latest.insert(key, (info.base_offset, Some(value)));
        }
        log.compact_at(NOW).expect("compact");
        let now: HashMap<i64, Option<Vec<u8>>> =
            records(&log).into_iter().map(|r| (r.0, r.2)).collect();
        for (key, (offset, value)) in &latest {
            assert_eq!(
                now.get(offset),
                Some(value),
                "newest value of {key} visible"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    let passes = reader.join().expect("reader saw a consistent log");
    assert!(passes >= 3);
}

#[test]
fn segments_roll_by_size_and_by_age() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), LogOptions::default().segment_bytes(8192)).expect("open");
    for i in 0..20 {
        log.append(&mut batch(1, i, 1000, NOW)).expect("append");
    }
    let bases = log.segment_bases();
    assert!(bases.len() >= 3, "{bases:?}");
    for base in &bases[..bases.len() - 1] {
        let len = std::fs::metadata(dir.path().join(format!("{base:020}.log")))
            .expect("stat")
            .len();
        assert!(len <= 8192, "segment {base} is {len} bytes");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LogOptions::default().segment_age(Duration::from_millis(50));
    let log = Log::open(dir.path(), opts).expect("open");
    log.append(&mut batch(1, 0, 10, NOW)).expect("append");
    log.append(&mut batch(1, 1, 10, NOW)).expect("append");
    assert_eq!(log.segment_bases().len(), 1);
    std::thread::sleep(Duration::from_millis(60));
    log.append(&mut batch(1, 2, 10, NOW)).expect("append");
    assert_eq!(log.segment_bases(), vec![0, 2]);
}

#[test]
fn truncate_to_removes_the_tail_and_appends_continue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let mut bases = Vec::new();
    for i in 0..600 {
        bases.push(
            log.append(&mut batch(3, i, 200, NOW + i as i64))
                .expect("append")
                .base_offset,
        );
    }
    // Into the middle of a batch: the whole straddling batch goes.
    let cut = bases[300] + 1;
    assert_eq!(log.truncate_to(cut).expect("truncate"), bases[300]);
    assert_eq!(log.high_watermark(), bases[300]);
    assert_eq!(records(&log).last().map(|r| r.0), Some(bases[300] - 1));
    assert_eq!(log.offset_for_timestamp(NOW + 400).expect("ts"), None);
    assert_eq!(
        log.append(&mut batch(1, 0, 5, NOW))
            .expect("append")
            .base_offset,
        bases[300]
    );

    drop(log);
    let log = Log::open(dir.path(), small_segments()).expect("reopen after crash");
    assert_eq!(log.log_end_offset(), bases[300] + 1);

    assert_eq!(log.truncate_to(0).expect("truncate all"), 0);
    assert!(records(&log).is_empty());
    assert_eq!(
        log.append(&mut batch(2, 0, 5, NOW))
            .expect("append")
            .base_offset,
        0
    );
}

#[test]
fn reset_to_restarts_the_log_past_its_end_and_survives_a_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    for i in 0..300 {
        log.append(&mut batch(3, i, 200, NOW)).expect("append");
    }
    assert!(
        log.segment_bases().len() > 1,
        "the test needs several segments"
    );
    let past_end = log.log_end_offset() + 1_000;
    assert_eq!(log.reset_to(past_end).expect("reset"), past_end);
    assert!(records(&log).is_empty());
    assert_eq!(log.log_start_offset(), past_end);
    assert_eq!(log.high_watermark(), past_end);
    assert_eq!(log.segment_bases(), vec![past_end]);
    let appended = log.append(&mut batch(2, 0, 5, NOW)).expect("append");
    assert_eq!(appended.base_offset, past_end);

    drop(log);
    let log = Log::open(dir.path(), small_segments()).expect("reopen after crash");
    assert_eq!(log.log_start_offset(), past_end);
    assert_eq!(log.log_end_offset(), past_end + 2);
    let offsets: Vec<i64> = records(&log).iter().map(|r| r.0).collect();
    assert_eq!(offsets, vec![past_end, past_end + 1]);

    // Back below where it was, too.
    assert_eq!(log.reset_to(7).expect("reset down"), 7);
    assert_eq!(
        log.append(&mut batch(1, 0, 5, NOW))
            .expect("append")
            .base_offset,
        7
    );
}

#[test]
fn invalid_options_and_batches_are_rejected_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Log::open(dir.path(), LogOptions::default().segment_bytes(10)).err();
    assert!(
        matches!(
            err,
            Some(Error::InvalidOption {
                name: "segment_bytes",
                ..
            })
        ),
        "{err:?}"
    );

    let log = Log::open(dir.path(), LogOptions::default()).expect("open");
    log.append(&mut batch(2, 0, 10, NOW)).expect("append");
    let mut bad = batch(2, 0, 10, NOW);
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let err = log.append(&mut bad).expect_err("bad CRC");
    assert!(err.to_string().contains("CRC"), "{err}");
    let mut short = batch(2, 0, 10, NOW);
    short.truncate(40);
    assert!(matches!(
        log.append(&mut short),
        Err(Error::InvalidBatch(_))
    ));
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(records(&log).len(), 2);
}

/// Once closed, a log's directory may be deleted and reused by a new log: the old
/// handle's maintenance must not touch it.
#[test]
fn a_closed_log_refuses_maintenance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = small_segments().retention_age(Some(Duration::from_secs(1)));
    let log = Log::open(dir.path(), opts).expect("open");
    for i in 0..200 {
        log.append(&mut batch(5, i * 5, 100, 0))
            .expect("ancient data");
    }
    assert!(log.segment_bases().len() > 1, "needs closed segments");
    log.close().expect("close");
    assert!(matches!(
        log.enforce_retention_at(NOW),
        Err(Error::Closed { .. })
    ));
    assert!(matches!(log.compact_at(NOW), Err(Error::Closed { .. })));
    assert!(matches!(log.truncate_to(0), Err(Error::Closed { .. })));
    let reopened = Log::open(dir.path(), small_segments()).expect("reopen");
    assert_eq!(reopened.log_end_offset(), 1000, "nothing was deleted");
}

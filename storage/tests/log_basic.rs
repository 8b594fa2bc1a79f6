//! Appending, reading back, reopening, and index-backed lookups across segments.

mod common;

use common::{batch, read_all, small_segments};
use rill_protocol::{CheckedBatch, RecordBatch};
use rill_storage::{Error, Log, LOCK_FILE};

#[test]
fn reopened_log_returns_identical_batches_at_the_same_offsets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let mut written = Vec::new();
    for i in 0..400 {
        let mut b = batch(1 + i % 7, i * 10, 200, 1_000_000 + i as i64 * 10);
        let info = log.append(&mut b).expect("append");
        assert_eq!(
            info.base_offset,
            written
                .iter()
                .map(|(_, b): &(i64, Vec<u8>)| {
                    RecordBatch::new(b).expect("b").header().record_count as i64
                })
                .sum::<i64>()
        );
        written.push((info.base_offset, b));
    }
    assert!(
        log.segment_bases().len() > 5,
        "test must span many segments"
    );
    let before = read_all(&log);
    log.close().expect("close");

    let log = Log::open(dir.path(), small_segments()).expect("reopen");
    assert!(log.recovery_report().clean_shutdown);
    assert!(
        log.recovery_report().segments.is_empty(),
        "{:?}",
        log.recovery_report()
    );
    let after = read_all(&log);
    assert_eq!(before, after);
    let stored: Vec<Vec<u8>> = written.into_iter().map(|(_, b)| b).collect();
    assert_eq!(
        after, stored,
        "stored bytes equal the appended (stamped) bytes"
    );
}

#[test]
fn reads_outside_the_log_are_out_of_range_and_at_the_end_are_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    log.append(&mut batch(5, 0, 10, 1)).expect("append");
    assert!(log.read(5, 1024).expect("at end").bytes.is_empty());
    assert!(matches!(
        log.read(6, 1024),
        Err(Error::OffsetOutOfRange {
            offset: 6,
            start: 0,
            end: 5
        })
    ));
    assert!(matches!(
        log.read(-1, 1024),
        Err(Error::OffsetOutOfRange { .. })
    ));
}

#[test]
fn checked_batches_append_like_raw_ones_and_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let mut expected = Vec::new();
    for i in 0..40 {
        let bytes = batch(3, i * 3, 50, 1_000 + i as i64);
        let info = if i % 2 == 0 {
            let mut raw = bytes.clone();
            log.append(&mut raw).expect("append")
        } else {
            let mut checked = CheckedBatch::produced(bytes.clone()).expect("valid");
            let info = log.append_checked(&mut checked).expect("append checked");
            assert_eq!(checked.header().base_offset, info.base_offset);
            info
        };
        assert_eq!(info.base_offset, i as i64 * 3);
        expected.push(bytes);
    }
    let check = |log: &Log| {
        let stored = read_all(log);
        assert_eq!(stored.len(), expected.len());
        for (i, (got, want)) in stored.iter().zip(&expected).enumerate() {
            assert_eq!(got[8..], want[8..], "batch {i}");
            let parsed = RecordBatch::new(got).expect("batch");
            assert_eq!(parsed.base_offset(), i as i64 * 3);
        }
    };
    check(&log);
    log.close().expect("close");
    drop(log);
    check(&Log::open(dir.path(), small_segments()).expect("reopen"));

    // The size limit holds for checked batches too.
    let tiny = rill_storage::LogOptions {
        max_batch_bytes: 100,
        ..rill_storage::LogOptions::default()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), tiny).expect("open");
    let mut big = CheckedBatch::produced(batch(3, 0, 50, 1)).expect("valid");
    assert!(matches!(
        log.append_checked(&mut big),
        Err(Error::BatchTooLarge { .. })
    ));
}

#[test]
fn a_directory_is_open_in_one_log_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Log::open(dir.path(), small_segments()).expect("open");
    for i in 0..300 {
        first
            .append(&mut batch(2, i * 2, 300, 1_000 + i as i64))
            .expect("append");
    }
    assert!(first.segment_bases().len() > 2, "needs indexed segments");
    assert!(dir.path().join(LOCK_FILE).exists(), "the lock file is made");

    let Err(err) = Log::open(dir.path(), small_segments()) else {
        panic!("a second log opened a directory in use");
    };
    assert!(
        matches!(&err, Error::InUse { dir: d } if d == dir.path()),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "the error names the directory: {err}"
    );
    assert_eq!(
        first.log_end_offset(),
        600,
        "the refused open changed nothing"
    );

    first.close().expect("close");
    let second = Log::open(dir.path(), small_segments()).expect("open after close");
    assert!(second.recovery_report().clean_shutdown);
    assert!(
        second.recovery_report().deleted_segments.is_empty(),
        "the lock file is not taken for a segment: {:?}",
        second.recovery_report()
    );
    assert_eq!(
        read_all(&second),
        read_all(&first),
        "a closed log still reads"
    );
    for timestamp in [1_000, 1_100, 1_299] {
        let expected = second.offset_for_timestamp(timestamp).expect("lookup");
        assert_eq!(
            first.offset_for_timestamp(timestamp).expect("lookup"),
            expected,
            "a closed log still finds timestamp {timestamp}"
        );
    }
    assert_eq!(
        second.offset_for_timestamp(1_100).expect("lookup"),
        Some(199)
    );
    assert!(
        matches!(
            Log::open(dir.path(), small_segments()),
            Err(Error::InUse { .. })
        ),
        "the second log holds the lock now"
    );

    drop(second);
    let third = Log::open(dir.path(), small_segments()).expect("open after drop");
    assert_eq!(third.log_end_offset(), 600);
}

//! `Log::try_append_checked` and `Log::try_append_replicated`: the appends an
//! async task makes in place. Each either writes the batch exactly as its
//! blocking twin would, or declines and writes nothing, whenever the append
//! could wait on the disk (an fsync, a segment roll); `try_append_replicated`
//! checks the header and CRC first, as does `try_append_replicated_shared`,
//! which writes a stamped copy of a shared batch's header and then the rest.

mod common;

use std::time::Duration;

use common::{batch, read_all, small_segments};
use rill_protocol::{CheckedBatch, RecordBatch};
use rill_storage::{Error, FsyncPolicy, Log, LogOptions};

/// A log under fsync = "always", in a directory removed when the first is
/// dropped.
fn always_log() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().expect("tempdir");
    let always = LogOptions {
        fsync: FsyncPolicy::Always,
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), always).expect("open");
    (dir, log)
}

fn checked(count: usize, i: usize) -> CheckedBatch {
    CheckedBatch::produced(batch(count, i * count, 300, 1_000 + i as i64)).expect("valid batch")
}

#[test]
fn in_place_appends_interleave_with_blocking_ones_and_never_roll() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let (mut in_place, mut declined) = (0, 0);
    for i in 0..600 {
        let mut b = checked(2, i);
        let segments = log.segment_bases().len();
        let end = log.log_end_offset();
        let info = match log.try_append_checked(&mut b) {
            Some(result) => {
                in_place += 1;
                assert_eq!(log.segment_bases().len(), segments, "no roll in place");
                result.expect("in-place append")
            }
            None => {
                declined += 1;
                assert_eq!(
                    log.log_end_offset(),
                    end,
                    "a declined append writes nothing"
                );
                log.append_checked(&mut b).expect("blocking append")
            }
        };
        assert_eq!(info.base_offset, i as i64 * 2);
        assert_eq!(
            log.high_watermark(),
            info.last_offset + 1,
            "visible at once"
        );
    }
    let segments = log.segment_bases().len();
    assert!(segments > 5, "the test must cross segment rolls");
    assert!(in_place > 500, "most appends are made in place: {in_place}");
    assert_eq!(
        declined,
        segments - 1,
        "exactly the appends that roll decline"
    );

    let stored = read_all(&log);
    for (i, got) in stored.iter().enumerate() {
        assert_eq!(
            RecordBatch::new(got).expect("batch").base_offset(),
            i as i64 * 2
        );
    }
    log.close().expect("close");
    drop(log);
    let reopened = Log::open(dir.path(), small_segments()).expect("reopen");
    assert_eq!(read_all(&reopened), stored);
}

#[test]
fn fsync_always_is_never_appended_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LogOptions {
        fsync: FsyncPolicy::Always,
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), opts).expect("open");
    assert!(log.try_append_checked(&mut checked(3, 0)).is_none());
    assert_eq!(log.log_end_offset(), 0);
    log.append_checked(&mut checked(3, 0)).expect("append");
    assert!(log.try_append_checked(&mut checked(3, 1)).is_none());
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn an_interval_fsync_that_is_due_declines_until_it_has_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LogOptions {
        fsync: FsyncPolicy::Interval(Duration::from_millis(20)),
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), opts).expect("open");
    std::thread::sleep(Duration::from_millis(40));
    assert!(log.try_append_checked(&mut checked(1, 0)).is_none());
    assert_eq!(log.log_end_offset(), 0);
    // The blocking append runs the due fsync; right after it, appends go in place.
    log.append_checked(&mut checked(1, 0)).expect("append");
    let info = log
        .try_append_checked(&mut checked(1, 1))
        .expect("no fsync due")
        .expect("append");
    assert_eq!(info.base_offset, 1);
}

#[test]
fn in_place_appends_refuse_what_blocking_ones_refuse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tiny = LogOptions {
        max_batch_bytes: 100,
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), tiny).expect("open");
    assert!(matches!(
        log.try_append_checked(&mut checked(3, 0)),
        Some(Err(Error::BatchTooLarge { .. }))
    ));

    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), LogOptions::default()).expect("open");
    log.close().expect("close");
    assert!(matches!(
        log.try_append_checked(&mut checked(1, 0)),
        Some(Err(Error::Closed { .. }))
    ));
}

#[test]
fn a_replicated_in_place_append_checks_the_crc_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let mut written = 0;
    for i in 0..200 {
        let mut b = batch(2, 0, 300, 1_000 + i);
        let info = match log.try_append_replicated(&mut b) {
            Some(result) => result.expect("in-place append"),
            None => log.append_replicated(&mut b).expect("blocking append"),
        };
        assert_eq!(info.base_offset, written);
        assert_eq!(b[..8], written.to_be_bytes(), "the base offset is stamped");
        written += 2;
    }
    assert!(log.segment_bases().len() > 2, "the test must cross rolls");

    // A batch whose CRC does not match is refused and nothing is written.
    let mut corrupt = batch(2, 0, 300, 5_000);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert!(matches!(
        log.try_append_replicated(&mut corrupt),
        Some(Err(Error::InvalidBatch(_)))
    ));
    assert_eq!(log.log_end_offset(), written);

    // Under fsync = "always" every append may wait on the disk: none in place.
    let (_dir, log) = always_log();
    assert!(log.try_append_replicated(&mut batch(1, 0, 10, 1)).is_none());
    assert_eq!(log.log_end_offset(), 0);
}

#[test]
fn a_shared_replicated_batch_is_stored_as_a_stamped_copy_would_be() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared_log = Log::open(dir.path(), small_segments()).expect("open");
    let copy_dir = tempfile::tempdir().expect("tempdir");
    let copy_log = Log::open(copy_dir.path(), small_segments()).expect("open");
    for i in 0..200 {
        let shared = batch(3, 0, 300, 1_000 + i);
        let epoch = 7 + i as i32 % 3;
        let info = match shared_log.try_append_replicated_shared(&shared, epoch) {
            Some(result) => result.expect("in-place append"),
            None => shared_log
                .append_replicated_shared(&shared, epoch)
                .expect("blocking append"),
        };
        assert_eq!(info.base_offset, i * 3);
        assert_eq!(
            shared,
            batch(3, 0, 300, 1_000 + i),
            "the shared bytes are untouched"
        );
        let mut copy = shared.clone();
        rill_protocol::batch::stamp_leader_epoch(&mut copy, epoch).expect("stamp");
        copy_log.append_replicated(&mut copy).expect("copy append");
    }
    assert!(
        shared_log.segment_bases().len() > 2,
        "the test must cross rolls"
    );
    let (stored, copied) = (read_all(&shared_log), read_all(&copy_log));
    assert_eq!(stored, copied, "the same bytes on disk");
    let first = RecordBatch::new(&stored[0]).expect("a batch");
    first.validate().expect("the stored batch checks out");
    assert_eq!(first.header().leader_epoch, 7);

    // A batch whose CRC does not match is refused and nothing is written.
    let end = shared_log.log_end_offset();
    let mut corrupt = batch(2, 0, 300, 5_000);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert!(matches!(
        shared_log.try_append_replicated_shared(&corrupt, 1),
        Some(Err(Error::InvalidBatch(_)))
    ));
    assert!(matches!(
        shared_log.append_replicated_shared(&corrupt, 1),
        Err(Error::InvalidBatch(_))
    ));
    assert!(matches!(
        shared_log.append_replicated_shared(&corrupt[..40], 1),
        Err(Error::InvalidBatch(_))
    ));
    assert_eq!(shared_log.log_end_offset(), end);

    // Under fsync = "always" none is made in place.
    let (_dir, log) = always_log();
    assert!(log
        .try_append_replicated_shared(&batch(1, 0, 10, 1), 1)
        .is_none());
    assert_eq!(log.log_end_offset(), 0);
    log.append_replicated_shared(&batch(1, 0, 10, 1), 1)
        .expect("a blocking append under always");
    assert_eq!(log.log_end_offset(), 1);
}

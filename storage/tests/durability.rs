//! fsync policies: group commit under "always", interval flushing, and durability
//! ordering (an append returns only after the fsync that covers it).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{batch, read_all};
use rill_storage::{FsyncPolicy, Log, LogOptions};

#[test]
fn concurrent_appends_under_always_share_fsyncs() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let opts = LogOptions::default().fsync(FsyncPolicy::Always);
    let log = Arc::new(Log::open(dir.path(), opts).expect("open"));
    let threads = 8;
    let per_thread = 150;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..per_thread {
                    let mut b = batch(3, t * 10_000 + i, 100, 1_000 + i as i64);
                    let info = log.append(&mut b).expect("append");
                    // Under "always" the high watermark moves only after the fsync
                    // that covers a batch: seeing it past our batch proves the batch
                    // was synced before append returned.
                    assert!(
                        log.high_watermark() > info.last_offset,
                        "append of {}..={} returned before it was synced",
                        info.base_offset,
                        info.last_offset
                    );
                    acked.push(info);
                }
                acked
            })
        })
        .collect();
    let mut acked = Vec::new();
    for h in handles {
        acked.extend(h.join().expect("appender thread"));
    }
    let appends = (threads * per_thread) as u64;
    let m = log.metrics();
    assert_eq!(m.appends, appends);
    println!(
        "{} appends from {threads} threads needed {} fsyncs",
        m.appends, m.fsyncs
    );
    assert!(m.fsyncs >= 1);
    assert!(
        m.fsyncs * 2 < appends,
        "group commit should share fsyncs: {} fsyncs for {appends} appends",
        m.fsyncs
    );
    acked.sort_by_key(|a| a.base_offset);
    for pair in acked.windows(2) {
        assert_eq!(
            pair[0].last_offset + 1,
            pair[1].base_offset,
            "offsets are dense"
        );
    }
    assert_eq!(read_all(&log).len(), acked.len());
}

#[test]
fn a_single_appender_under_always_syncs_every_append() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let opts = LogOptions::default().fsync(FsyncPolicy::Always);
    let log = Log::open(dir.path(), opts).expect("open");
    for i in 0..20 {
        log.append(&mut batch(1, i, 10, 5)).expect("append");
    }
    assert_eq!(log.metrics().fsyncs, 20);
}

#[test]
fn never_and_interval_policies_make_data_visible_at_once() {
    for policy in [
        FsyncPolicy::Never,
        FsyncPolicy::Interval(Duration::from_secs(3600)),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::open(dir.path(), LogOptions::default().fsync(policy)).expect("open");
        for i in 0..10 {
            let info = log.append(&mut batch(2, i, 10, 5)).expect("append");
            assert_eq!(log.high_watermark(), info.last_offset + 1);
        }
        assert_eq!(
            log.metrics().fsyncs,
            0,
            "{policy:?} must not fsync per append"
        );
    }
}

#[test]
fn interval_policy_syncs_when_due() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = LogOptions::default().fsync(FsyncPolicy::Interval(Duration::from_millis(30)));
    let log = Log::open(dir.path(), opts).expect("open");
    log.append(&mut batch(1, 0, 10, 5)).expect("append");
    log.flush_if_due().expect("not due yet");
    assert_eq!(log.metrics().fsyncs, 0);
    std::thread::sleep(Duration::from_millis(40));
    log.flush_if_due().expect("due");
    assert_eq!(log.metrics().fsyncs, 1);
    std::thread::sleep(Duration::from_millis(40));
    log.append(&mut batch(1, 1, 10, 5)).expect("append");
    assert_eq!(log.metrics().fsyncs, 2, "an append past the interval syncs");
}

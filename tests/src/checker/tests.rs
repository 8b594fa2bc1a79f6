//! The checker finds each fault it claims to count, and nothing in a clean
//! history.

use std::time::{Duration, Instant};

use super::*;

/// A clean history: producer 0 sends v0..v3 one after another to partition 0
/// (acknowledged at 0, 1, 3, 4; offset 2 is a control batch), v4 fails but
/// lands at 5, v5 fails and does not land; a reader sees 0..2 then 3..5; both
/// replicas hold the whole log.
fn clean() -> History {
    let start = Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    let produce = |i: u64, outcome: Outcome| Produce {
        producer: 0,
        value: format!("v{i}"),
        invoked: at(10 * i),
        completed: at(10 * i + 5),
        outcome,
    };
    let acked = |offset| Outcome::Acked {
        partition: 0,
        offset,
    };
    let log: Log = [(0, "v0"), (1, "v1"), (3, "v2"), (4, "v3"), (5, "v4")]
        .into_iter()
        .map(|(o, v)| (o, v.to_string()))
        .collect();
    let read = |hw: i64, records: &[(i64, &str)]| Read {
        reader: 0,
        partition: 0,
        high_watermark: hw,
        records: records.iter().map(|(o, v)| (*o, v.to_string())).collect(),
    };
    History {
        produces: vec![
            produce(0, acked(0)),
            produce(1, acked(1)),
            produce(2, acked(3)),
            produce(3, acked(4)),
            produce(4, Outcome::Failed("timed out".into())),
            produce(5, Outcome::Failed("timed out".into())),
        ],
        reads: vec![
            read(2, &[(0, "v0"), (1, "v1")]),
            read(6, &[(3, "v2"), (4, "v3"), (5, "v4")]),
        ],
        final_logs: [(0, log.clone())].into_iter().collect(),
        final_watermarks: [(0, 6)].into_iter().collect(),
        replica_logs: [((1, 0), log.clone()), ((2, 0), log)].into_iter().collect(),
    }
}

#[test]
fn a_clean_history_is_clean() {
    let report = check(&clean());
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        (report.acked, report.failed, report.failed_but_present),
        (4, 2, 1)
    );
    assert_eq!(report.read, 5);
}

#[test]
fn an_acknowledged_record_missing_from_the_final_log_is_lost() {
    let mut h = clean();
    h.final_logs.get_mut(&0).expect("p0").remove(&3);
    let report = check(&h);
    assert_eq!(report.lost, 1, "{report}");
    assert!(report.examples[0].contains("v2"), "{report}");
}

#[test]
fn two_values_at_one_offset_are_a_fork() {
    let mut h = clean();
    // A replica's committed log disagrees with the final one.
    h.replica_logs
        .get_mut(&(2, 0))
        .expect("replica")
        .insert(1, "other".into());
    assert_eq!(check(&h).forked, 1);
    // Above the final watermark, a replica's tail is not compared.
    let mut h = clean();
    h.replica_logs
        .get_mut(&(2, 0))
        .expect("replica")
        .insert(6, "tail".into());
    assert!(check(&h).is_clean());
}

#[test]
fn a_value_at_two_offsets_is_a_duplicate() {
    let mut h = clean();
    for log in h.final_logs.values_mut().chain(h.replica_logs.values_mut()) {
        log.insert(6, "v1".into());
    }
    h.final_watermarks.insert(0, 7);
    assert_eq!(check(&h).duplicated, 1);
}

#[test]
fn offsets_against_acknowledgement_order_are_reordered() {
    // One producer's later send below its earlier one.
    let mut h = clean();
    h.produces[1].invoked = h.produces[2].invoked + Duration::from_millis(1);
    h.produces[1].completed = h.produces[1].invoked + Duration::from_millis(1);
    assert!(check(&h).reordered >= 1);
    // Another producer's record, sent after v3 was acknowledged, below it.
    let mut h = clean();
    h.produces[0].producer = 7;
    h.produces[0].invoked = h.produces[3].completed + Duration::from_millis(1);
    let report = check(&h);
    assert_eq!(report.reordered, 1, "{report}");
    assert!(
        report.examples[0].contains("before v0 was sent"),
        "{report}"
    );
}

#[test]
fn a_read_of_what_was_not_committed_vanished() {
    // Seen, then gone from the final log.
    let mut h = clean();
    h.reads[1].records.push((6, "ghost".into()));
    h.reads[1].high_watermark = 7;
    assert_eq!(check(&h).vanished, 1);
    // Returned at the watermark of its own fetch.
    let mut h = clean();
    h.reads[0].records.push((3, "v2".into()));
    assert_eq!(check(&h).vanished, 1);
}

#[test]
fn a_watermark_that_goes_back_is_a_regression() {
    let mut h = clean();
    h.reads.push(Read {
        reader: 0,
        partition: 0,
        high_watermark: 4,
        records: Vec::new(),
    });
    assert_eq!(check(&h).watermark_regressions, 1);
    // Another reader's lower watermark is its own business.
    h.reads.last_mut().expect("read").reader = 1;
    assert!(check(&h).is_clean());
}

#[test]
fn a_replica_without_a_committed_record_is_counted() {
    let mut h = clean();
    h.replica_logs.get_mut(&(1, 0)).expect("replica").remove(&5);
    let report = check(&h);
    assert_eq!(report.missing_on_replica, 1, "{report}");
    assert!(!report.is_clean());
}

//! A model check: random sequences of appends, truncations, clean and unclean
//! reopens and retention, compared after every step with a plain list of batches.

mod common;

use common::{batch, read_all};
use proptest::prelude::*;
use rill_protocol::RecordBatch;
use rill_storage::{Log, LogOptions};

#[derive(Debug, Clone)]
enum Op {
    Append { records: usize, value_len: usize },
    Truncate { permille: u16 },
    Reopen { clean: bool },
    Read { permille: u16 },
    Retention,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1usize..6, 0usize..700).prop_map(|(records, value_len)| Op::Append { records, value_len }),
        1 => (0u16..1000).prop_map(|permille| Op::Truncate { permille }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        2 => (0u16..1000).prop_map(|permille| Op::Read { permille }),
        1 => Just(Op::Retention),
        1 => Just(Op::Compact),
    ]
}

fn options() -> LogOptions {
    LogOptions::default()
        .segment_bytes(4096)
        .index_interval_bytes(512)
        .index_max_bytes(1024)
        .retention_bytes(Some(12 * 1024))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn log_matches_a_list_of_batches(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = Log::open(dir.path(), options()).expect("open");
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut seq = 0usize;
        let mut end = 0i64;
        for op in ops {
            match op {
                Op::Append { records, value_len } => {
                    let mut b = batch(records, seq, value_len, 1_000 + seq as i64);
                    seq += records;
                    let info = log.append(&mut b).expect("append");
                    prop_assert_eq!(info.base_offset, end);
                    end = info.last_offset + 1;
                    model.push(b);
                }
                Op::Truncate { permille } => {
                    let to = end * i64::from(permille) / 1000;
                    let start = log.log_start_offset();
                    let new_end = log.truncate_to(to).expect("truncate");
                    let header = |b: &Vec<u8>| *RecordBatch::new(b).expect("model batch").header();
                    let first_removed = model.iter().map(header).find(|h| h.last_offset() >= to);
                    model.retain(|b| header(b).last_offset() < to);
                    if to < end {
                        end = if to <= start {
                            // At or before the first segment: the log restarts at `to`.
                            to
                        } else {
                            // Whole batches go, so a straddling batch's base is the end.
                            first_removed.map_or(to, |h| h.base_offset)
                        };
                    }
                    prop_assert_eq!(new_end, end);
                }
                Op::Reopen { clean } => {
                    if clean {
                        log.close().expect("close");
                    }
                    drop(log);
                    log = Log::open(dir.path(), options()).expect("reopen");
                    if clean {
                        prop_assert!(log.recovery_report().segments.is_empty(), "{:?}", log.recovery_report());
                    }
                }
                Op::Retention => {
                    let report = log.enforce_retention().expect("retention");
                    model.retain(|b| RecordBatch::new(b).expect("m").base_offset() >= report.log_start_offset);
                }
                Op::Compact => {
                    // Every key is unique, so compaction must keep every record.
                    let report = log.compact().expect("compact");
                    prop_assert_eq!(report.records_removed, 0);
                }
                Op::Read { permille } => {
                    let (start, end) = (log.log_start_offset(), log.high_watermark());
                    if end > start {
                        let offset = start + (end - 1 - start) * i64::from(permille) / 1000;
                        let read = log.read(offset, 100).expect("read");
                        let (first, _) = RecordBatch::split_first(&read.bytes).expect("batch");
                        let want = model.iter().find(|b| RecordBatch::new(b).expect("m").last_offset() >= offset);
                        prop_assert_eq!(Some(first.as_bytes()), want.map(|b| &b[..]));
                    }
                }
            }
            prop_assert_eq!(&read_all(&log), &model);
            prop_assert_eq!(log.log_end_offset(), end);
        }
    }
}

//! Damaged index files and a damaged checkpoint: detected, reported and rebuilt,
//! with every lookup answering as before.

mod common;

use common::files::*;
use common::{batch, read_all, small_segments};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_protocol::RecordBatch;
use rill_storage::{Log, CHECKPOINT_FILE};

/// (offset, timestamp) of every record, and the batches as stored, of a log filled
/// with `n` batches whose timestamps mostly rise but sometimes step back.
fn fill(log: &Log, n: usize, ts0: i64) -> Vec<(i64, i64)> {
    let mut records = Vec::new();
    for i in 0..n {
        let count = 1 + i % 5;
        let ts = ts0 + (i as i64) * 100 - if i % 7 == 3 { 250 } else { 0 };
        let mut b = batch(count, i, 150, ts);
        let info = log.append(&mut b).expect("append");
        for r in 0..count {
            records.push((info.base_offset + r as i64, ts + r as i64));
        }
    }
    records
}

/// Everything the lookups answer: every batch, the batch each sampled offset reads
/// as, and the offset for each probe timestamp.
#[derive(Debug, PartialEq, Eq)]
struct Answers {
    batches: Vec<Vec<u8>>,
    by_offset: Vec<Vec<u8>>,
    by_time: Vec<Option<i64>>,
}

fn answers(log: &Log, records: &[(i64, i64)], probes: &[i64]) -> Answers {
    let by_offset = records
        .iter()
        .step_by(7)
        .map(|&(offset, _)| {
            let read = log.read(offset, 0).expect("read");
            let (b, _) = RecordBatch::split_first(&read.bytes).expect("a batch");
            assert!(b.base_offset() <= offset && offset <= b.last_offset());
            b.as_bytes().to_vec()
        })
        .collect();
    let by_time = probes
        .iter()
        .map(|&t| log.offset_for_timestamp(t).expect("timestamp lookup"))
        .collect();
    Answers {
        batches: read_all(log),
        by_offset,
        by_time,
    }
}

/// A cleanly closed log of several segments with the answers it gave before close.
struct Closed {
    dir: tempfile::TempDir,
    bases: Vec<i64>,
    records: Vec<(i64, i64)>,
    probes: Vec<i64>,
    answers: Answers,
}

fn closed_log() -> Closed {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    let ts0 = now_ms() - 1_000_000;
    let records = fill(&log, 900, ts0);
    let last_ts = records.iter().map(|r| r.1).max().expect("records");
    let mut probes: Vec<i64> = (0..120).map(|i| ts0 - 300 + i * 773).collect();
    probes.extend([i64::MIN, last_ts, last_ts + 1]);
    let answers = answers(&log, &records, &probes);
    let expected = |t: i64| records.iter().find(|&&(_, ts)| ts >= t).map(|&(o, _)| o);
    let want: Vec<_> = probes.iter().map(|&t| expected(t)).collect();
    assert_eq!(answers.by_time, want, "timestamp lookups before the damage");
    let bases = log.segment_bases();
    assert!(bases.len() >= 5, "want several segments, got {bases:?}");
    log.close().expect("close");
    Closed {
        dir,
        bases,
        records,
        probes,
        answers,
    }
}

/// Reopens a damaged closed log; checks every answer is as before, that the damaged
/// segments' indexes were rebuilt (reported, non-empty, trusted on the next clean
/// reopen) and that reads in them use the index rather than a scan.
fn check_rebuilt(c: &Closed, damaged: &[i64], what: &str) {
    let log = Log::open(c.dir.path(), small_segments()).expect("open");
    let report = log.recovery_report().clone();
    assert!(report.clean_shutdown, "{what}");
    assert!(report.deleted_segments.is_empty(), "{what}: {report:?}");
    for &base in damaged {
        let r = segment_report(&report, base)
            .unwrap_or_else(|| panic!("{what}: segment {base} not in report {report:?}"));
        assert!(r.rebuilt_indexes.is_some(), "{what}: segment {base}: {r:?}");
        assert_eq!(r.truncated, None, "{what}: segment {base}");
    }
    for (base, r) in &report.segments {
        assert!(
            damaged.contains(base),
            "{what}: intact segment {base} reported: {r:?}"
        );
    }
    assert_eq!(
        answers(&log, &c.records, &c.probes),
        c.answers,
        "{what}: answers changed"
    );

    // Reads within the damaged segments go through the rebuilt index: batches are
    // ~500-1000 bytes and the index has an entry per KiB, so a lookup reads only a
    // few headers (a scan from the segment start would read ~50 on average).
    let last = *c.bases.last().expect("segments");
    let in_damaged: Vec<i64> = c
        .records
        .iter()
        .map(|r| r.0)
        .filter(|&o| {
            let seg = c.bases.iter().rev().find(|&&b| b <= o).copied();
            seg.is_some_and(|s| damaged.contains(&s) && s != last)
        })
        .collect();
    let before = log.metrics();
    for &o in &in_damaged {
        log.read(o, 0).expect("read");
    }
    let after = log.metrics();
    let per_lookup = (after.headers_scanned - before.headers_scanned) as f64
        / (after.index_lookups - before.index_lookups).max(1) as f64;
    assert!(
        per_lookup < 8.0,
        "{what}: {per_lookup:.1} headers read per lookup in rebuilt segments"
    );
    for &base in damaged {
        for ext in ["index", "timeindex"] {
            let len = std::fs::metadata(segment_file(c.dir.path(), base, ext))
                .map(|m| m.len())
                .unwrap_or(0);
            assert!(
                len > 0,
                "{what}: {base}.{ext} is empty or missing after open"
            );
        }
    }
    log.close().expect("close");

    // The rebuilt indexes were sealed correctly: a clean reopen trusts them all.
    let log = Log::open(c.dir.path(), small_segments()).expect("reopen");
    assert!(
        log.recovery_report().segments.is_empty(),
        "{what}: rebuilt indexes not trusted on the next open: {:?}",
        log.recovery_report()
    );
    assert_eq!(answers(&log, &c.records, &c.probes), c.answers, "{what}");
    log.close().expect("close");
}

#[test]
fn missing_index_files_are_rebuilt() {
    let c = closed_log();
    let b = &c.bases;
    let dir = c.dir.path();
    for base in [b[0], b[1]] {
        std::fs::remove_file(segment_file(dir, base, "index")).expect("rm index");
        std::fs::remove_file(segment_file(dir, base, "timeindex")).expect("rm timeindex");
    }
    std::fs::remove_file(segment_file(dir, b[2], "index")).expect("rm index");
    std::fs::remove_file(segment_file(dir, b[3], "timeindex")).expect("rm timeindex");
    check_rebuilt(&c, &[b[0], b[1], b[2], b[3]], "missing index files");
}

/// How an index file is overwritten with seeded random bytes.
#[derive(Clone, Copy)]
enum Garbage {
    /// The whole file, keeping its length.
    SameLength,
    /// The whole file, replaced by this many bytes.
    Length(usize),
    /// Every entry but the last (entries of this size), so a check of the last
    /// entry alone passes.
    AllButLastEntry(usize),
}

fn garble(c: &Closed, ext: &str, targets: &[(i64, Garbage)], seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for &(base, how) in targets {
        let path = segment_file(c.dir.path(), base, ext);
        let mut bytes = std::fs::read(&path).expect("read index");
        assert!(bytes.len() >= 24, "{ext} of {base} has entries to damage");
        let range = match how {
            Garbage::SameLength => 0..bytes.len(),
            Garbage::Length(n) => {
                bytes.resize(n, 0);
                0..n
            }
            Garbage::AllButLastEntry(size) => 0..bytes.len() - size,
        };
        rng.fill(&mut bytes[range]);
        std::fs::write(&path, bytes).expect("write garbage");
    }
}

#[test]
fn garbage_offset_indexes_are_detected_and_rebuilt() {
    let c = closed_log();
    let b = &c.bases;
    let last = *b.last().expect("segments");
    garble(
        &c,
        "index",
        &[
            (b[0], Garbage::SameLength),
            (b[1], Garbage::Length(13)),
            (b[2], Garbage::AllButLastEntry(8)),
            (b[3], Garbage::Length(4096)),
            (last, Garbage::SameLength),
        ],
        1,
    );
    check_rebuilt(&c, &[b[0], b[1], b[2], b[3], last], "garbage .index");
}

#[test]
fn garbage_time_indexes_are_detected_and_rebuilt() {
    let c = closed_log();
    let b = &c.bases;
    let last = *b.last().expect("segments");
    garble(
        &c,
        "timeindex",
        &[
            (b[0], Garbage::SameLength),
            (b[1], Garbage::AllButLastEntry(12)),
            (b[2], Garbage::Length(13)),
            (b[3], Garbage::Length(1200)),
            (last, Garbage::SameLength),
        ],
        2,
    );
    check_rebuilt(&c, &[b[0], b[1], b[2], b[3], last], "garbage .timeindex");
}

#[test]
fn a_garbage_checkpoint_is_reported_and_everything_is_scanned() {
    let c = closed_log();
    let dir = c.dir.path();
    let snap = snapshot(dir);
    let mut rng = StdRng::seed_from_u64(3);
    let random_text: String = (0..200)
        .map(|_| char::from(rng.gen_range(b' '..=b'~')))
        .collect();
    let random_lines: String = (0..5)
        .map(|_| format!("{}={}\n", rng.gen::<u32>(), rng.gen::<i64>()))
        .collect();
    let random_bytes: Vec<u8> = (0..64).map(|_| rng.gen()).collect();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("random text", random_text.into_bytes()),
        ("random lines", random_lines.into_bytes()),
        ("random bytes", random_bytes),
        ("empty", Vec::new()),
        (
            "bad value",
            b"rill-checkpoint 1\nrecovery_point=banana\nclean=true\n".to_vec(),
        ),
        ("missing field", b"rill-checkpoint 1\nclean=true\n".to_vec()),
        (
            "unknown version",
            b"rill-checkpoint 9\nrecovery_point=0\nclean=true\n".to_vec(),
        ),
    ];
    let end = c.records.len() as i64;
    for (what, content) in variants {
        restore(dir, &snap);
        std::fs::write(dir.join(CHECKPOINT_FILE), &content).expect("write checkpoint");
        let log = Log::open(dir, small_segments()).expect("open with a bad checkpoint");
        let report = log.recovery_report().clone();
        assert!(report.checkpoint_problem.is_some(), "{what}: {report:?}");
        assert!(!report.clean_shutdown, "{what}: not known to be clean");
        assert!(report.deleted_segments.is_empty(), "{what}");
        let scanned: Vec<i64> = report.segments.iter().map(|(b, _)| *b).collect();
        assert_eq!(scanned, c.bases, "{what}: every segment is scanned");
        for (base, r) in &report.segments {
            assert!(r.rebuilt_indexes.is_some(), "{what}: {base}");
            assert_eq!(r.truncated, None, "{what}: {base}");
        }
        assert_eq!(log.high_watermark(), end, "{what}");
        assert_eq!(
            answers(&log, &c.records, &c.probes),
            c.answers,
            "{what}: answers changed"
        );
        let info = log.append(&mut batch(1, 0, 10, now_ms())).expect("append");
        assert_eq!(info.base_offset, end, "{what}");
        log.close().expect("close");

        let log = Log::open(dir, small_segments()).expect("reopen");
        let report = log.recovery_report();
        assert_eq!(
            report.checkpoint_problem, None,
            "{what}: checkpoint rewritten"
        );
        assert!(report.clean_shutdown, "{what}");
        assert!(report.segments.is_empty(), "{what}: {report:?}");
        assert_eq!(log.log_end_offset(), end + 1, "{what}");
        drop(log);
    }
}

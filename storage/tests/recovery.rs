//! Crash recovery: torn tails, bit flips, corruption in earlier segments, damaged
//! index files and a damaged checkpoint.
//!
//! Dropping a `Log` without `close()` is a crash as far as the files are concerned;
//! the next `Log::open` scans every segment at or after the recovery point. The
//! tests below build a log once, take a byte-for-byte snapshot of its directory, and
//! then for each case restore the snapshot, damage it, reopen and check that the log
//! ends exactly at the last intact batch and keeps working from there.

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::files::*;
use common::{batch, read_all, small_segments};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_protocol::RecordBatch;
use rill_storage::{Log, RecoveryReport, CHECKPOINT_FILE};

/// Appends `n` batches of varying record counts and sizes (the last one small, a few
/// hundred bytes) and crashes the log (drops it without `close()`). Returns the
/// batches as stored, i.e. with their base offsets stamped.
fn build_crashed_log(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let log = Log::open(dir, small_segments()).expect("open");
    let ts = now_ms();
    let mut batches = Vec::with_capacity(n);
    for i in 0..n {
        let (count, value_len) = if i == n - 1 {
            (3, 60)
        } else {
            (1 + (i * 7) % 13, 10 + (i * 37) % 190)
        };
        let mut b = batch(count, i * 100, value_len, ts + i as i64 * 10);
        let info = log.append(&mut b).expect("append");
        assert_eq!(info.base_offset, base_offset(&b), "append stamps in place");
        batches.push(b);
    }
    drop(log);
    batches
}

/// Reopens `dir` after it was damaged so that the log must end after the first
/// `keep` batches; checks the log holds exactly those, byte for byte, and that an
/// append continues right after them. `before_append` runs on the freshly opened log.
/// Returns the recovery report.
fn reopen_and_check(
    dir: &Path,
    batches: &[Vec<u8>],
    keep: usize,
    what: &str,
    before_append: impl FnOnce(&Log),
) -> RecoveryReport {
    let log =
        Log::open(dir, small_segments()).unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
    let next = next_after(batches, keep);
    assert_eq!(log.log_start_offset(), 0, "{what}: log start");
    assert_eq!(log.high_watermark(), next, "{what}: high watermark");
    assert_eq!(log.log_end_offset(), next, "{what}: log end offset");
    let got = read_all(&log);
    assert_eq!(got.len(), keep, "{what}: number of batches after recovery");
    assert!(
        got[..] == batches[..keep],
        "{what}: recovered batches differ from the ones written"
    );
    // Timestamp lookups see exactly the kept records: the first record in offset
    // order at or after each probe, and nothing for a probe past them all.
    let records: Vec<(i64, i64)> = batches[..keep]
        .iter()
        .flat_map(|b| {
            let b = RecordBatch::new(b).expect("batch");
            b.records()
                .map(|r| r.map(|r| (r.offset, r.timestamp)).expect("record"))
                .collect::<Vec<_>>()
        })
        .collect();
    let newest = records.iter().map(|r| r.1).max().unwrap_or(i64::MIN);
    for &(_, t) in records.iter().step_by(97).chain(&[(0, newest)]) {
        let want = records.iter().find(|r| r.1 >= t).map(|r| r.0);
        let got = log.offset_for_timestamp(t).expect("timestamp lookup");
        assert_eq!(got, want, "{what}: offset for timestamp {t}");
    }
    if newest < i64::MAX {
        let got = log.offset_for_timestamp(newest + 1).expect("lookup");
        assert_eq!(got, None, "{what}: a timestamp past every kept record");
    }
    before_append(&log);
    let mut extra = batch(2, 7_777_777, 33, now_ms());
    let info = log.append(&mut extra).expect("append after recovery");
    assert_eq!(info.base_offset, next, "{what}: offset of the next append");
    assert_eq!(
        log.high_watermark(),
        next + 2,
        "{what}: high watermark after append"
    );
    let got = read_all(&log);
    assert_eq!(got.len(), keep + 1, "{what}: batches after the append");
    assert!(
        got[..keep] == batches[..keep] && got[keep] == extra,
        "{what}: log after the append is not the kept batches plus the new one"
    );
    let report = log.recovery_report().clone();
    drop(log);
    report
}

#[test]
fn torn_tail_at_every_byte_of_the_last_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = build_crashed_log(dir.path(), 200);
    let bases = segment_bases_on_disk(dir.path());
    assert!(bases.len() >= 3, "want several segments, got {bases:?}");
    let snap = snapshot(dir.path());

    let last_base = *bases.last().expect("segments");
    let last_path = segment_file(dir.path(), last_base, "log");
    let pristine = std::fs::read(&last_path).expect("read last segment");
    let last = batches.last().expect("batches");
    let end = pristine.len();
    let start = end - last.len();
    assert_eq!(
        &pristine[start..],
        &last[..],
        "the file ends with the last batch"
    );
    assert!(start > 0, "the last segment holds more than the last batch");
    assert!(
        last.len() < 400,
        "last batch is small: {} bytes",
        last.len()
    );

    for cut in start..end {
        restore(dir.path(), &snap);
        OpenOptions::new()
            .write(true)
            .open(&last_path)
            .and_then(|f| f.set_len(cut as u64))
            .expect("truncate last segment");
        let what = format!("cut at byte {cut} (last batch spans {start}..{end})");
        let report = reopen_and_check(dir.path(), &batches, batches.len() - 1, &what, |_| {
            assert_eq!(
                file_len(&last_path),
                start as u64,
                "{what}: file cut back to the batch boundary"
            );
        });

        assert!(!report.clean_shutdown, "{what}");
        assert_eq!(report.checkpoint_problem, None, "{what}");
        assert!(report.deleted_segments.is_empty(), "{what}: {report:?}");
        let found = segment_report(&report, last_base)
            .unwrap_or_else(|| panic!("{what}: last segment not in report {report:?}"));
        assert!(found.rebuilt_indexes.is_some(), "{what}: scanned");
        match &found.truncated {
            None => assert_eq!(cut, start, "{what}: a torn batch must be reported"),
            Some(t) => {
                assert!(
                    cut > start,
                    "{what}: nothing to cut at a boundary, got {t:?}"
                );
                assert_eq!(t.position, start as u64, "{what}");
                assert_eq!(t.bytes_removed, (cut - start) as u64, "{what}");
                assert!(!t.reason.is_empty(), "{what}");
            }
        }
        for (base, r) in &report.segments {
            if *base != last_base {
                assert_eq!(r.truncated, None, "{what}: segment {base} was cut");
            }
        }
    }
}

#[test]
fn a_flipped_bit_cuts_the_log_before_the_batch_that_holds_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = build_crashed_log(dir.path(), 200);
    let bases = segment_bases_on_disk(dir.path());
    assert!(bases.len() >= 3, "want several segments, got {bases:?}");
    let snap = snapshot(dir.path());

    let last_base = *bases.last().expect("segments");
    let last_path = segment_file(dir.path(), last_base, "log");
    let pristine = std::fs::read(&last_path).expect("read last segment");
    let starts = batch_starts(&pristine);
    // Index in `batches` of the last segment's first batch.
    let first = batches.len() - starts.len();
    assert_eq!(base_offset(&batches[first]), last_base);
    for (i, &s) in starts.iter().enumerate() {
        let len = batches[first + i].len();
        assert_eq!(&pristine[s..s + len], &batches[first + i][..]);
    }
    // Batch (index within the segment) holding byte `pos`.
    let batch_at = |pos: usize| starts.partition_point(|&s| s <= pos) - 1;

    let mut rng = StdRng::seed_from_u64(0x5EED_B17F);
    // Every header byte of some batch (so each field is hit), then uniformly random
    // positions anywhere in the segment (mostly record bytes).
    let mut positions: Vec<usize> = (0..rill_protocol::BATCH_HEADER_LEN)
        .map(|field_byte| starts[rng.gen_range(0..starts.len())] + field_byte)
        .collect();
    while positions.len() < 300 {
        positions.push(rng.gen_range(0..pristine.len()));
    }
    let mut tested = 0;
    for pos in positions {
        let in_batch = batch_at(pos);
        // The leader epoch (bytes 12..16) is not covered by the CRC, by design (as in
        // Kafka: the broker stamps it in place, like the base offset), and unlike the
        // base offset no continuity check can catch it. A flipped epoch bit is
        // therefore undetectable, so those bytes are excluded. Every other byte is
        // covered: the base offset by offset continuity, the length by the fit and
        // CRC checks, everything from the attributes on by the CRC, the magic and the
        // CRC field itself by their own checks.
        if LEADER_EPOCH.contains(&(pos - starts[in_batch])) {
            continue;
        }
        let bit = 1u8 << rng.gen_range(0..8);
        restore(dir.path(), &snap);
        let mut damaged = pristine.clone();
        damaged[pos] ^= bit;
        std::fs::write(&last_path, &damaged).expect("write damaged segment");

        let keep = first + in_batch;
        let what = format!(
            "bit {bit:#04x} flipped at byte {pos} of the last segment (byte {} of its batch {in_batch})",
            pos - starts[in_batch]
        );
        let report = reopen_and_check(dir.path(), &batches, keep, &what, |_| {
            assert_eq!(file_len(&last_path), starts[in_batch] as u64, "{what}");
        });
        assert!(report.deleted_segments.is_empty(), "{what}: {report:?}");
        let found = segment_report(&report, last_base)
            .unwrap_or_else(|| panic!("{what}: last segment not in report {report:?}"));
        let t = found
            .truncated
            .as_ref()
            .unwrap_or_else(|| panic!("{what}: no truncation reported: {report:?}"));
        assert_eq!(t.position, starts[in_batch] as u64, "{what}");
        assert_eq!(
            t.bytes_removed,
            (pristine.len() - starts[in_batch]) as u64,
            "{what}"
        );
        tested += 1;
    }
    assert!(tested >= 250, "only {tested} flips tested");
}

#[test]
fn a_corrupt_batch_in_an_earlier_segment_cuts_the_log_and_drops_later_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let batches = build_crashed_log(dir.path(), 400);
    let bases = segment_bases_on_disk(dir.path());
    assert!(bases.len() >= 4, "want several segments, got {bases:?}");
    // Scan everything: without a checkpoint there is no recovery point.
    std::fs::remove_file(dir.path().join(CHECKPOINT_FILE)).expect("remove checkpoint");
    let snap = snapshot(dir.path());

    // (segment index, which batch in it, byte within the batch); `MIDDLE` picks the
    // middle batch of the segment or the middle byte of the batch (a record byte).
    const MIDDLE: usize = usize::MAX;
    const LAST: usize = usize::MAX - 1;
    let cases = [
        (1usize, MIDDLE, MIDDLE), // middle of the second segment, a record byte
        (1, MIDDLE, 30),          // its last_offset_delta field
        (0, LAST, 5),             // last batch of the first segment, base offset
        (2, 0, 17),               // first batch of the third segment, its CRC
        (0, 0, 70),               // the very first batch of the log, first record
    ];
    for (seg, which, byte) in cases {
        restore(dir.path(), &snap);
        let base = bases[seg];
        let path = segment_file(dir.path(), base, "log");
        let mut bytes = std::fs::read(&path).expect("read segment");
        let starts = batch_starts(&bytes);
        let in_seg = match which {
            MIDDLE => starts.len() / 2,
            LAST => starts.len() - 1,
            i => i,
        };
        let idx = batches
            .iter()
            .position(|b| base_offset(b) == base)
            .expect("segment's first batch")
            + in_seg;
        let byte = match byte {
            MIDDLE => batches[idx].len() / 2,
            b => b,
        };
        assert!(byte < batches[idx].len());
        assert!(byte >= rill_protocol::BATCH_HEADER_LEN || !LEADER_EPOCH.contains(&byte));
        bytes[starts[in_seg] + byte] ^= 0x10;
        std::fs::write(&path, &bytes).expect("write damaged segment");

        let what = format!("segment {base} batch {in_seg} byte {byte} damaged");
        let report = reopen_and_check(dir.path(), &batches, idx, &what, |log| {
            assert_eq!(log.segment_bases(), bases[..=seg].to_vec(), "{what}");
            assert_eq!(file_len(&path), starts[in_seg] as u64, "{what}");
        });
        assert!(!report.clean_shutdown, "{what}");
        assert_eq!(report.checkpoint_problem, None, "{what}");
        assert_eq!(
            report.deleted_segments,
            bases[seg + 1..].to_vec(),
            "{what}: later segments are deleted"
        );
        for &b in &bases[seg + 1..] {
            for ext in ["log", "index", "timeindex"] {
                assert!(
                    !segment_file(dir.path(), b, ext).exists(),
                    "{what}: {b}.{ext} still exists"
                );
            }
        }
        for &b in &bases[..seg] {
            let r = segment_report(&report, b).expect("earlier segment scanned");
            assert!(
                r.rebuilt_indexes.is_some() && r.truncated.is_none(),
                "{what}"
            );
        }
        let found = segment_report(&report, base).expect("damaged segment in report");
        let t = found.truncated.as_ref().expect("truncation reported");
        assert_eq!(t.position, starts[in_seg] as u64, "{what}");
        assert_eq!(
            t.bytes_removed,
            (bytes.len() - starts[in_seg]) as u64,
            "{what}"
        );

        // The repaired log is stable: a clean close and reopen keep it as it is.
        let log = Log::open(dir.path(), small_segments()).expect("reopen");
        assert_eq!(log.segment_bases(), bases[..=seg].to_vec(), "{what}");
        let all = read_all(&log);
        assert_eq!(all.len(), idx + 1, "{what}");
        assert!(all[..idx] == batches[..idx], "{what}");
        log.close().expect("close");
        let log = Log::open(dir.path(), small_segments()).expect("reopen clean");
        assert!(log.recovery_report().clean_shutdown, "{what}");
        assert!(log.recovery_report().segments.is_empty(), "{what}");
        assert_eq!(read_all(&log), all, "{what}");
    }

    // Zeros after the last batch of the first segment, as a file system may leave
    // when a crash follows a size update: every batch is intact, yet the scan cuts
    // there and, as in Kafka, a cut ends the log, so later segments go even though
    // they would continue its offsets.
    restore(dir.path(), &snap);
    let path = segment_file(dir.path(), bases[0], "log");
    let mut bytes = std::fs::read(&path).expect("read segment");
    let len = bytes.len();
    let keep = batch_starts(&bytes).len();
    bytes.resize(len + 100, 0);
    std::fs::write(&path, &bytes).expect("write segment");
    let what = "zeros after the first segment";
    let report = reopen_and_check(dir.path(), &batches, keep, what, |log| {
        assert_eq!(log.segment_bases(), vec![bases[0]], "{what}");
        assert_eq!(file_len(&path), len as u64, "{what}");
    });
    assert_eq!(report.deleted_segments, bases[1..].to_vec(), "{what}");
    let t = segment_report(&report, bases[0])
        .and_then(|r| r.truncated.clone())
        .expect("truncation reported");
    assert_eq!((t.position, t.bytes_removed), (len as u64, 100), "{what}");
}

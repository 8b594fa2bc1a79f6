//! Helpers that inspect and damage a log directory's files.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rill_protocol::RecordBatch;
use rill_storage::{RecoveryReport, SegmentRecovery};

/// Bytes 12..16 of a batch: the leader epoch.
pub const LEADER_EPOCH: std::ops::Range<usize> = 12..16;

/// Milliseconds since the epoch, for record timestamps near the present.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

pub fn segment_file(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// Every file in `dir`, by name, with its bytes.
pub type Snapshot = BTreeMap<OsString, Vec<u8>>;

pub fn snapshot(dir: &Path) -> Snapshot {
    std::fs::read_dir(dir)
        .expect("list dir")
        .map(|e| {
            let e = e.expect("dir entry");
            let bytes = std::fs::read(e.path()).expect("read file");
            (e.file_name(), bytes)
        })
        .collect()
}

/// Makes `dir` hold exactly the files of `snap`: removes files the snapshot does not
/// have and rewrites those whose bytes differ. The log must not be open.
pub fn restore(dir: &Path, snap: &Snapshot) {
    for e in std::fs::read_dir(dir).expect("list dir") {
        let e = e.expect("dir entry");
        if !snap.contains_key(&e.file_name()) {
            std::fs::remove_file(e.path()).expect("remove extra file");
        }
    }
    for (name, bytes) in snap {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_ref() != Some(bytes) {
            std::fs::write(&path, bytes).expect("restore file");
        }
    }
}

/// Base offsets of the `.log` files in `dir`, sorted.
pub fn segment_bases_on_disk(dir: &Path) -> Vec<i64> {
    let mut bases: Vec<i64> = std::fs::read_dir(dir)
        .expect("list dir")
        .filter_map(|e| {
            let name = e.expect("dir entry").file_name();
            let name = name.to_str()?.to_string();
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    bases.sort_unstable();
    bases
}

/// Byte positions of the batches in a segment file, which must be whole batches.
pub fn batch_starts(file: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos < file.len() {
        let (b, _) = RecordBatch::split_first(&file[pos..]).expect("whole batch in segment");
        starts.push(pos);
        pos += b.as_bytes().len();
    }
    starts
}

pub fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").len()
}

pub fn base_offset(batch: &[u8]) -> i64 {
    RecordBatch::new(batch).expect("batch").base_offset()
}

/// The offset after the first `k` batches of a log that starts at 0.
pub fn next_after(batches: &[Vec<u8>], k: usize) -> i64 {
    match k {
        0 => 0,
        _ => RecordBatch::new(&batches[k - 1])
            .expect("batch")
            .next_offset(),
    }
}

pub fn segment_report(report: &RecoveryReport, base: i64) -> Option<&SegmentRecovery> {
    report
        .segments
        .iter()
        .find(|(b, _)| *b == base)
        .map(|(_, r)| r)
}

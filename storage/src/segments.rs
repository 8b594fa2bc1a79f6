//! The segment set on disk: how a segment's files are named, finding them in the
//! partition directory, creating, opening and deleting them, and when the log rolls
//! to a new segment.
//!
//! A segment is three files sharing a base offset, zero-padded to 20 digits:
//! `{base:020}.log`, `.index` and `.timeindex`. A name is a segment file only if the
//! part before its first `.` is exactly 20 characters that parse as an `i64`, so the
//! checkpoint, the directory lock file and anything else in the directory are never
//! taken for a segment. Compaction writes a replacement segment under the same names
//! plus [`CLEANED_SUFFIX`]; such files are leftovers whenever the directory is
//! listed, because a finished compaction has renamed them into place.
//!
//! Everything here works on names in a directory; what a segment holds and how it is
//! read or written is [`crate::segment`]'s business.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use rill_protocol::BatchHeader;

use crate::durable::sync_dir;
use crate::error::{IoContext, Result};
use crate::index::MmapIndex;
use crate::options::LogOptions;
use crate::segment::{Segment, SegmentFiles};

/// The extensions of a segment's three files.
const EXTENSIONS: [&str; 3] = ["log", "index", "timeindex"];

/// Appended to each file name of a segment that compaction is writing.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";

/// Where a segment's file with extension `ext` lives.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// Base offsets of the `.log` files in `dir`, sorted. Leftovers of an interrupted
/// compaction (`*.cleaned`) and index files without a log are removed.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for entry in std::fs::read_dir(dir).io("list log directory", dir)? {
        let path = entry.io("list log directory", dir)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let base = (stem.len() == 20)
            .then(|| stem.parse::<i64>().ok())
            .flatten();
        match (base, ext) {
            (Some(base), "log") => bases.push(base),
            (Some(base), "index" | "timeindex") => indexes.push((base, path)),
            (Some(_), "log.cleaned" | "index.cleaned" | "timeindex.cleaned") => {
                std::fs::remove_file(&path).io("remove leftover", &path)?
            }
            _ => {}
        }
    }
    bases.sort_unstable();
    for (base, path) in indexes {
        if bases.binary_search(&base).is_err() {
            std::fs::remove_file(&path).io("remove orphan index", &path)?;
        }
    }
    Ok(bases)
}

/// Creates a new, empty segment at `base_offset` (replacing any files of that name)
/// ready for appends, its indexes preallocated.
pub(crate) fn create_segment(
    dir: &Path,
    base_offset: i64,
    opts: &LogOptions,
    now_ms: i64,
) -> Result<Segment> {
    create_segment_with_suffix(dir, base_offset, opts, now_ms, "")
}

/// Like [`create_segment`], with `suffix` appended to each file name (the compactor
/// writes `*.cleaned` files next to the segment it replaces).
pub(crate) fn create_segment_with_suffix(
    dir: &Path,
    base_offset: i64,
    opts: &LogOptions,
    now_ms: i64,
    suffix: &str,
) -> Result<Segment> {
    let path = |ext: &str| segment_path(dir, base_offset, &format!("{ext}{suffix}"));
    let log_path = path("log");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&log_path)
        .io("create segment", &log_path)?;
    let mut files = SegmentFiles {
        log_path,
        file,
        index: MmapIndex::create(&path("index"))?,
        time_index: MmapIndex::create(&path("timeindex"))?,
    };
    files.index.grow(opts.index_max_bytes)?;
    files.time_index.grow(opts.index_max_bytes)?;
    Ok(Segment::assemble(base_offset, files, opts, now_ms))
}

/// Opens the files of an existing segment: its `.log` must exist, a missing index
/// file is created empty. Returns them with the `.log`'s length. Nothing is checked;
/// recovery decides whether the contents can be trusted.
pub(crate) fn open_segment_files(dir: &Path, base_offset: i64) -> Result<(SegmentFiles, u64)> {
    let log_path = segment_path(dir, base_offset, "log");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log_path)
        .io("open segment", &log_path)?;
    let len = file.metadata().io("stat segment", &log_path)?.len();
    let files = SegmentFiles {
        log_path,
        file,
        index: MmapIndex::open(&segment_path(dir, base_offset, "index"))?,
        time_index: MmapIndex::open(&segment_path(dir, base_offset, "timeindex"))?,
    };
    Ok((files, len))
}

/// Deletes a segment's three files; missing ones are fine. Open handles (readers)
/// keep working on the unlinked files.
pub(crate) fn delete_segment_files(dir: &Path, base: i64) -> Result<()> {
    delete_segment_files_with_suffix(dir, base, "")
}

/// Deletes a segment's three files named with `suffix`; missing ones are fine.
pub(crate) fn delete_segment_files_with_suffix(dir: &Path, base: i64, suffix: &str) -> Result<()> {
    for ext in EXTENSIONS {
        let path = segment_path(dir, base, &format!("{ext}{suffix}"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).io("delete segment file", &path),
        }
    }
    Ok(())
}

/// Whether appending a batch of `len` bytes described by `header` at `next_offset`
/// must first roll the `active` segment: never when it is empty; otherwise when the
/// batch would take it past `segment_bytes`, when it is older than `segment_age`,
/// when either index is full, or when the batch's last offset would not fit the
/// segment's 32-bit relative offsets.
pub(crate) fn should_roll(
    active: &Segment,
    opts: &LogOptions,
    next_offset: i64,
    len: u64,
    header: &BatchHeader,
    now_ms: i64,
) -> bool {
    let size = active.size();
    if size == 0 {
        return false;
    }
    let age_ms = now_ms.saturating_sub(active.roll_reference_ms.load(Ordering::Acquire));
    let relative_end = next_offset + i64::from(header.last_offset_delta) - active.base_offset;
    size + len > opts.segment_bytes
        || age_ms >= opts.segment_age.as_millis() as i64
        || active.indexes_full()
        || relative_end > i64::from(u32::MAX)
}

/// The file half of a roll, once the active segment is sealed: creates the next
/// segment at `base_offset` (the log end) and fsyncs the directory so its files
/// survive a crash.
pub(crate) fn start_next_segment(
    dir: &Path,
    base_offset: i64,
    opts: &LogOptions,
    now_ms: i64,
) -> Result<Segment> {
    let segment = create_segment(dir, base_offset, opts, now_ms)?;
    sync_dir(dir)?;
    Ok(segment)
}

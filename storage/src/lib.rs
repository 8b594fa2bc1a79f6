//! Rill's storage engine: one append-only, segmented log per topic partition.
//!
//! A [`Log`] is a directory of segments (`{base_offset:020}.log` with sparse
//! memory-mapped `.index` and `.timeindex` files) holding record batches exactly as
//! `rill-protocol` encodes them. It assigns offsets on append, serves reads of whole
//! batches by offset or timestamp, rolls segments by size and age, recovers from
//! crashes by validating every batch after the last checkpoint, and enforces
//! retention and key-based compaction. Durability follows [`FsyncPolicy`]; under
//! `Always`, concurrent appends share fsyncs (group commit).
//!
//! A directory is open in one `Log` at a time: [`Log::open`] takes an exclusive lock
//! on its [`LOCK_FILE`] and fails with [`Error::InUse`] while another log holds it.
//! [`write_file_atomically`] and [`sync_dir`] are the crate's durable small-file
//! helpers, public for other crates' metadata files.
//!
//! The on-disk format, and a map of this crate's files from the bottom up, are in
//! `docs/STORAGE.md`. This crate does no networking; the broker wraps each `Log` in
//! its partition. This file only declares modules and re-exports.

mod checkpoint;
mod clock;
mod compaction;
mod dir_lock;
mod durable;
mod error;
mod group_commit;
mod in_place;
mod index;
mod locks;
mod log;
mod metrics;
mod options;
mod read_mode;
mod recovery;
mod retention;
mod segment;
mod segments;
mod shared_append;
mod slice;
mod truncation;

pub use checkpoint::CHECKPOINT_FILE;
pub use compaction::CompactionReport;
pub use dir_lock::LOCK_FILE;
pub use durable::{sync_dir, write_file_atomically};
pub use error::{Error, Result};
pub use log::{AppendInfo, Log, ReadBatches};
pub use metrics::LogMetrics;
pub use options::{FsyncPolicy, LogOptions};
pub use read_mode::ReadMode;
pub use recovery::{RecoveryReport, SegmentRecovery, Truncation};
pub use retention::RetentionReport;
pub use slice::{ReadSlice, StoredBatches};

//! Criterion benches of the storage engine: append under each fsync policy and
//! sequential read.
//!
//! Run with `cargo bench -p rill-bench --bench storage` (add a filter such as
//! `append/never` to run a subset). Logs live in temporary directories under the
//! workspace's `target/` so they sit on the real disk rather than a tmpfs; set
//! `RILL_BENCH_DIR` to put them elsewhere.
//!
//! Benchmarks (one iteration = one batch appended, or one whole-log read):
//! - `append/never/{100B,1KiB}`: one appender, `FsyncPolicy::Never`, ~16 KiB batches.
//!   Segments roll at the default 1 GiB and a roll fsyncs the sealed segment, so the
//!   figure is sustained (disk-bound) throughput, not page-cache speed. The log is
//!   thrown away and reopened (outside the timed region) after its second roll so
//!   the disk never holds more than ~2 GiB of it.
//! - `append/never/{100B,1KiB}/sample-fdatasync`: the same, but each sample's time
//!   also covers a final `Log::flush`, so all it wrote is on disk when the clock
//!   stops: the like-for-like comparison with `dd ... conv=fdatasync`.
//! - `append/always/{100B,1KiB}/1-appender`: one appender, `FsyncPolicy::Always`:
//!   every append waits for its own fdatasync.
//! - `append/always/{100B,1KiB}/8-appenders`: eight threads appending concurrently to
//!   one log (group commit); the throughput counts the batches of all threads.
//! - `read/sequential/1KiB`: ~1 GiB of 16 KiB batches of 1 KiB records written once,
//!   then read from offset 0 to the end in `read(offset, 1 MiB)` calls, page cache warm.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use rill_bench::batch_of;
use rill_protocol::{BatchHeader, RecordBatch};
use rill_storage::{FsyncPolicy, Log, LogOptions};
use tempfile::TempDir;

const BATCH_BYTES: usize = 16 * 1024;
const READ_CHUNK: usize = 1 << 20;
const READ_LOG_BYTES: usize = 1 << 30;
const APPENDERS: usize = 8;
/// Throw a log away once it holds this much (checked between measurements).
const MAX_LOG_BYTES: u64 = 2 << 30;

/// Where the temporary log directories go: the real disk, not /tmp.
fn bench_root() -> PathBuf {
    let root = std::env::var_os("RILL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    std::fs::create_dir_all(&root).expect("create bench root");
    root
}

/// A log in its own temporary directory, opened on first use (so benchmarks left
/// out by a filter create nothing) and thrown away and reopened empty on demand.
struct Target {
    opts: LogOptions,
    log: Option<Arc<Log>>,
    dir: Option<TempDir>,
}

impl Target {
    fn new(fsync: FsyncPolicy) -> Target {
        Target {
            opts: LogOptions::default().fsync(fsync),
            log: None,
            dir: None,
        }
    }

    /// Drops the current log (without the close-time fsync) and deletes its files,
    /// then opens a fresh empty log in a new directory.
    fn reopen(&mut self) {
        self.log = None;
        self.dir = None;
        let dir = tempfile::Builder::new()
            .prefix("rill-bench-")
            .tempdir_in(bench_root())
            .expect("create temp dir");
        let log = Log::open(dir.path(), self.opts.clone()).expect("open log");
        self.log = Some(Arc::new(log));
        self.dir = Some(dir);
    }

    /// The log, opened if it is not yet.
    fn log(&mut self) -> Arc<Log> {
        if self.log.is_none() {
            self.reopen();
        }
        Arc::clone(self.log.as_ref().expect("log is open"))
    }

    /// Reopens if the log has grown past [`MAX_LOG_BYTES`].
    fn reopen_if_large(&mut self) {
        if self.log().size_bytes() >= MAX_LOG_BYTES {
            self.reopen();
        }
    }

    /// Prints how many appends shared each fsync since the log was last reopened.
    fn report_fsyncs(&self, name: &str) {
        if let Some(log) = &self.log {
            let m = log.metrics();
            eprintln!(
                "{name}: {} appends, {} fsyncs, {:.2} appends per fsync",
                m.appends,
                m.fsyncs,
                m.appends as f64 / m.fsyncs.max(1) as f64
            );
        }
    }
}

fn record_count(batch: &[u8]) -> usize {
    RecordBatch::new(batch)
        .expect("valid batch")
        .record_count()
        .try_into()
        .expect("non-negative count")
}

fn describe(name: &str, batch: &[u8]) {
    eprintln!(
        "{name}: batch {} bytes, {} records",
        batch.len(),
        record_count(batch)
    );
}

const SIZES: [(&str, usize); 2] = [("100B", 100), ("1KiB", 1024)];

/// Appends `iters` batches to `target` (reopening it, untimed, after every second
/// segment roll) and returns the time spent appending. With `durable_end`, the time
/// also covers a final `flush()`, so everything the sample wrote is on disk when the
/// clock stops, as with `dd conv=fdatasync`.
fn append_never_sample(
    target: &mut Target,
    batch: &mut [u8],
    iters: u64,
    durable_end: bool,
) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut left = iters;
    loop {
        let log = target.log();
        let start = Instant::now();
        // Under `Never` the only fsyncs are segment rolls: stop after the second (so
        // both sealed segments' fsyncs are timed) and reopen.
        while left > 0 && log.metrics().fsyncs < 2 {
            // The same buffer every time: append re-stamps the base offset, which the
            // CRC does not cover.
            black_box(log.append(batch).expect("append"));
            left -= 1;
        }
        if left == 0 {
            if durable_end {
                log.flush().expect("flush");
            }
            return elapsed + start.elapsed();
        }
        elapsed += start.elapsed();
        drop(log);
        target.reopen();
    }
}

/// `append/never/*`: one appender, no fsync except on segment roll; the
/// `*/sample-fdatasync` variants also time a flush at the end of each sample.
fn append_never(c: &mut Criterion) {
    let mut group = c.benchmark_group("append/never");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for (name, record_bytes) in SIZES {
        let mut batch = batch_of(record_bytes, BATCH_BYTES);
        describe(&format!("append/never/{name}"), &batch);
        let mut target = Target::new(FsyncPolicy::Never);
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| append_never_sample(&mut target, &mut batch, iters, false))
        });
        group.bench_function(format!("{name}/sample-fdatasync"), |b| {
            b.iter_custom(|iters| append_never_sample(&mut target, &mut batch, iters, true))
        });
    }
    group.finish();
}

/// `append/always/*`: every append waits for an fsync covering it; one appender,
/// then eight sharing fsyncs through group commit.
fn append_always(c: &mut Criterion) {
    let mut group = c.benchmark_group("append/always");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    for (name, record_bytes) in SIZES {
        let batch = batch_of(record_bytes, BATCH_BYTES);
        describe(&format!("append/always/{name}"), &batch);
        let mut target = Target::new(FsyncPolicy::Always);
        group.throughput(Throughput::Bytes(batch.len() as u64));

        let mut single = batch.clone();
        group.bench_function(format!("{name}/1-appender"), |b| {
            b.iter_custom(|iters| {
                target.reopen_if_large();
                let log = target.log();
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(log.append(&mut single).expect("append"));
                }
                start.elapsed()
            })
        });

        target.report_fsyncs(&format!("append/always/{name}/1-appender"));

        // Fresh counters for the group-commit run (the new log opens on first use).
        target = Target::new(FsyncPolicy::Always);
        let mut buffers: Vec<Vec<u8>> = (0..APPENDERS).map(|_| batch.clone()).collect();
        group.bench_function(format!("{name}/{APPENDERS}-appenders"), |b| {
            b.iter_custom(|iters| {
                target.reopen_if_large();
                let log = target.log();
                let log = &*log;
                let per = iters / APPENDERS as u64;
                let extra = iters % APPENDERS as u64;
                let barrier = Barrier::new(APPENDERS + 1);
                std::thread::scope(|s| {
                    let handles: Vec<_> = buffers
                        .iter_mut()
                        .enumerate()
                        .map(|(i, buf)| {
                            let n = per + u64::from((i as u64) < extra);
                            let barrier = &barrier;
                            s.spawn(move || {
                                barrier.wait();
                                for _ in 0..n {
                                    black_box(log.append(buf).expect("append"));
                                }
                            })
                        })
                        .collect();
                    barrier.wait();
                    let start = Instant::now();
                    for h in handles {
                        h.join().expect("appender thread");
                    }
                    start.elapsed()
                })
            })
        });
        target.report_fsyncs(&format!("append/always/{name}/{APPENDERS}-appenders"));
    }
    group.finish();
}

/// Reads the whole log from offset 0 in `READ_CHUNK` reads; returns bytes read.
fn read_all(log: &Log) -> usize {
    let end = log.high_watermark();
    let mut offset = log.log_start_offset();
    let mut total = 0;
    while offset < end {
        let got = log.read(offset, READ_CHUNK).expect("read");
        let bytes = got.bytes;
        let mut pos = 0;
        while pos < bytes.len() {
            let h = BatchHeader::parse(&bytes[pos..]).expect("batch header");
            offset = h.next_offset();
            pos += h.total_len().expect("batch length");
        }
        assert!(pos > 0, "read at {offset} returned nothing");
        total += black_box(bytes).len();
    }
    total
}

/// `read/sequential/1KiB`: whole-log sequential read, page cache warm.
fn read_sequential(c: &mut Criterion) {
    let mut batch = batch_of(1024, BATCH_BYTES);
    let batches = READ_LOG_BYTES / batch.len();
    let size = batches * batch.len();
    let mut target = Target::new(FsyncPolicy::Never);
    let mut written = false;

    let mut group = c.benchmark_group("read/sequential");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(size as u64));
    group.bench_function("1KiB", |b| {
        let log = target.log();
        if !written {
            describe("read/sequential/1KiB", &batch);
            for _ in 0..batches {
                log.append(&mut batch).expect("append");
            }
            log.flush().expect("flush");
            assert_eq!(read_all(&log), size, "whole log read back"); // warms the cache
            eprintln!(
                "read/sequential/1KiB: log of {size} bytes, {batches} batches, {} segment(s)",
                log.segment_bases().len()
            );
            written = true;
        }
        b.iter(|| read_all(&log))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    append_never(&mut c);
    append_always(&mut c);
    read_sequential(&mut c);
    c.final_summary();
}

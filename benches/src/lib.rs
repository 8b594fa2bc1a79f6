//! The throughput and latency benchmark behind `rill bench` and `rill-bench`, in
//! the spirit of kafka-producer-perf-test and iggy-bench.
//!
//! Producers (each its own [`Producer`](rill_client::Producer) and connection) write
//! keyless records of `--record-size` bytes to one topic, as fast as they can or at
//! `--rate` records/s in total, for `--count` records or `--duration` seconds.
//! Consumers (each its own [`Consumer`](rill_client::Consumer)) read the topic at the same
//! time: every consumer all partitions, or the members of `--group` a share each.
//! With `--consume-only` the consumers read a topic from the beginning instead —
//! an existing one, or one the bench fills first — to measure reads of data that is
//! already written.
//!
//! What is measured:
//! - produce: records acknowledged per second and MB/s (10^6 bytes of record
//!   values), from the first enqueue to the last acknowledgement; the latency of
//!   each record from the call to `enqueue` to its acknowledgement;
//! - consume: records received per second and MB/s, summed over consumers, from
//!   the start (of the producers, or of the consumers with `--consume-only`) to
//!   the last record received; the end-to-end latency of each record
//!   from the producer's clock (a record header) to its receipt by a consumer.
//!
//! Latencies go into HDR histograms (`hdrhistogram`, microsecond resolution, three
//! significant digits) and are reported as p50/p99/p99.9/max.
//!
//! The bench runs against `--broker ADDR`, or else an embedded broker
//! ([`rill_broker::embedded`]) in this process (which then shares the machine's cores with the clients). The report
//! carries the settings and the machine (cores, CPU model, kernel, build profile).

//!
//! `rill-probe` ([`probe`]) measures what `benches/compare.sh` needs beside
//! `rill-bench`: [`idle`] connections and how soon a restarting broker is
//! [`ready`].
//!
//! The crate also holds the workload generators of the criterion micro-benches
//! of the storage engine (`benches/storage.rs`): [`batch_of`].

pub mod args;
mod batches;
pub mod clock;
mod consume;
pub mod error;
pub mod idle;
mod machine;
pub mod payload;
pub mod probe;
mod produce;
mod progress;
pub mod ready;
pub mod report;
mod run;
mod runner;

pub use args::{AckMode, BenchArgs, BenchCli, DEFAULT_COUNT};
pub use batches::batch_of;
pub use error::{Error, Result};
pub use machine::Machine;
pub use report::{BenchReport, ConsumeReport, LatencyReport, ProduceReport, Settings};
pub use run::{run, run_cli};

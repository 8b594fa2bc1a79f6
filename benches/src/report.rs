//! What a run measured, with its settings and machine: the text summary and the
//! shape of the `--json` object (every struct here serializes as is).

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::machine::Machine;

/// A latency distribution, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyReport {
    /// Samples (one per record).
    pub samples: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl LatencyReport {
    /// Summarises a histogram of microseconds; `None` when it is empty.
    pub(crate) fn from_micros(h: &Histogram<u64>) -> Option<LatencyReport> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(LatencyReport {
            samples: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        })
    }

    /// "p50 1.234 ms  p99 ..." for the text summary.
    fn line(&self) -> String {
        format!(
            "p50 {}  p99 {}  p99.9 {}  max {}  (mean {}, {} samples)",
            millis(self.p50_ms),
            millis(self.p99_ms),
            millis(self.p999_ms),
            millis(self.max_ms),
            millis(self.mean_ms),
            self.samples
        )
    }
}

/// The produce side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProduceReport {
    /// Records acknowledged (sent, with acks none).
    pub records: u64,
    /// Bytes of their values.
    pub bytes: u64,
    /// From the first enqueue to the last acknowledgement.
    pub seconds: f64,
    /// `records / seconds`.
    pub records_per_sec: f64,
    /// `bytes / seconds / 10^6`.
    pub mb_per_sec: f64,
    /// From `enqueue` to acknowledgement, per record.
    pub latency: Option<LatencyReport>,
}

/// The consume side (summed over consumers).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumeReport {
    /// Consumers that ran.
    pub consumers: usize,
    /// Records every consumer (or the group together) should receive, in all.
    pub expected: u64,
    /// Records received, in all.
    pub records: u64,
    /// Bytes of their values.
    pub bytes: u64,
    /// From the start (of the producers; with `--consume-only`, of the consumers,
    /// which then includes joining a group) to the last record received.
    pub seconds: f64,
    /// `records / seconds`.
    pub records_per_sec: f64,
    /// `bytes / seconds / 10^6`.
    pub mb_per_sec: f64,
    /// From the producer's clock (a record header) to receipt, per record; none
    /// when reading data written before the run (`--consume-only`).
    pub end_to_end_latency: Option<LatencyReport>,
}

/// The settings of a run, as used (defaults filled in).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// `produce`, `produce+consume` or `consume-only`.
    pub mode: &'static str,
    /// The broker's address.
    pub broker: String,
    /// Whether the broker ran inside the bench's process.
    pub embedded_broker: bool,
    /// The topic.
    pub topic: String,
    /// Whether the bench created it.
    pub topic_created: bool,
    /// Its partitions.
    pub partitions: i32,
    /// Producers.
    pub producers: usize,
    /// Consumers.
    pub consumers: usize,
    /// The consumers' group, if they were one.
    pub group: Option<String>,
    /// Bytes of each record's value.
    pub record_size: usize,
    /// `random` or `json`.
    pub payload: &'static str,
    /// The producers' codec.
    pub compression: &'static str,
    /// The producers' batch size.
    pub batch_bytes: usize,
    /// The producers' linger.
    pub linger_ms: u64,
    /// Produce requests each producer keeps in flight at most.
    pub max_in_flight: usize,
    /// Whether the producers are idempotent.
    pub idempotence: bool,
    /// `all`, `leader` or `none`.
    pub acks: &'static str,
    /// The topic's fsync setting when the bench created it with one (`always`,
    /// `never` or an interval in ms); `None`: the broker's default, or an existing
    /// topic's own setting.
    pub fsync: Option<String>,
    /// Records to write, when a count was asked for.
    pub count: Option<u64>,
    /// Seconds to write, when a duration was asked for.
    pub duration_secs: Option<f64>,
    /// Records/s asked for in all; 0 = unlimited.
    pub rate: u64,
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchReport {
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// How it ran.
    pub settings: Settings,
    /// Where it ran.
    pub machine: Machine,
    /// The producers' figures; with `--consume-only`, those of filling the topic,
    /// if the bench did.
    pub produce: Option<ProduceReport>,
    /// The consumers' figures, if there were consumers.
    pub consume: Option<ConsumeReport>,
}

impl BenchReport {
    /// The `--json` form: one line, one object, every figure and setting.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of numbers and strings cannot fail; the
        // fallback keeps the output valid JSON regardless.
        serde_json::to_string(self)
            .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string())
    }

    /// The human-readable report: settings, machine, then the figures.
    pub fn summary(&self) -> String {
        let s = &self.settings;
        let m = &self.machine;
        let mut out = String::new();
        let what = match (s.count, s.duration_secs) {
            (Some(n), _) => format!("{n} records"),
            (None, Some(secs)) => format!("{secs} s"),
            (None, None) => "?".to_string(),
        };
        let rate = match s.rate {
            0 => "unlimited".to_string(),
            r => format!("{r} records/s"),
        };
        let broker = if s.embedded_broker {
            format!("embedded in this process ({})", s.broker)
        } else {
            s.broker.clone()
        };
        let group = s
            .group
            .as_deref()
            .map_or(String::new(), |g| format!(" in group {g}"));
        let _ = writeln!(
            out,
            "settings  {} of {what}, {} B records, rate {rate}",
            s.mode, s.record_size
        );
        let _ = writeln!(
            out,
            "          {} producer(s), {} consumer(s){group}; acks {}, batch {} B, linger {} ms, {} in flight{}",
            s.producers,
            s.consumers,
            s.acks,
            s.batch_bytes,
            s.linger_ms,
            s.max_in_flight,
            if s.idempotence { ", idempotent" } else { "" }
        );
        let _ = writeln!(
            out,
            "          topic {} ({} partitions, fsync {}{}); broker {broker}",
            s.topic,
            s.partitions,
            match (&s.fsync, s.topic_created) {
                (Some(fsync), _) => fsync.as_str(),
                (None, true) => "broker default",
                (None, false) => "its own",
            },
            if s.topic_created { "" } else { ", existing" },
        );
        let _ = writeln!(
            out,
            "machine   {} cores, {}, {}; {} build, rill {}; started {}",
            m.cores, m.cpu_model, m.os, m.build, m.version, self.started_at
        );
        if let Some(p) = &self.produce {
            let _ = writeln!(
                out,
                "produce   {} records in {:.3} s: {} records/s, {:.2} MB/s",
                p.records,
                p.seconds,
                thousands(p.records_per_sec),
                p.mb_per_sec
            );
            if let Some(l) = &p.latency {
                let _ = writeln!(out, "  latency (enqueue to ack)  {}", l.line());
            }
        }
        if let Some(c) = &self.consume {
            let _ = writeln!(
                out,
                "consume   {} of {} records in {:.3} s: {} records/s, {:.2} MB/s",
                c.records,
                c.expected,
                c.seconds,
                thousands(c.records_per_sec),
                c.mb_per_sec
            );
            if let Some(l) = &c.end_to_end_latency {
                let _ = writeln!(out, "  end-to-end latency        {}", l.line());
            }
        }
        if m.build == "debug" {
            let _ = writeln!(
                out,
                "note      a debug build: use --release for figures that mean anything"
            );
        }
        out
    }
}

/// Records and bytes over a time span, as (records/s, MB/s).
pub(crate) fn rates(records: u64, bytes: u64, elapsed: Duration) -> (f64, f64) {
    let secs = elapsed.as_secs_f64().max(1e-6);
    (records as f64 / secs, bytes as f64 / secs / 1e6)
}

/// 1234567.8 as "1,234,568".
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency in ms with three significant-ish digits: "0.412 ms", "12.3 ms".
fn millis(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else if ms < 100.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567.8), "1,234,568");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(millis(0.4123), "0.412 ms");
        assert_eq!(millis(123.45), "123.5 ms");
        let (rps, mbps) = rates(1_000, 100_000, Duration::from_millis(500));
        assert_eq!((rps, mbps), (2_000.0, 0.2));
    }

    #[test]
    fn percentiles_come_from_the_histogram_in_order() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for us in 1..=10_000u64 {
            h.saturating_record(us);
        }
        let l = LatencyReport::from_micros(&h).expect("samples");
        assert_eq!(l.samples, 10_000);
        assert!(l.p50_ms <= l.p99_ms && l.p99_ms <= l.p999_ms && l.p999_ms <= l.max_ms);
        assert!((l.p50_ms - 5.0).abs() < 0.01, "{l:?}");
        let empty = Histogram::<u64>::new_with_bounds(1, 1000, 3).expect("bounds");
        assert!(LatencyReport::from_micros(&empty).is_none());
    }
}

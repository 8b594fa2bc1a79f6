//! The benchmark end to end on an embedded broker: a small run completes, reports
//! throughput and ordered latency percentiles for both sides, and its `--json`
//! form parses with every figure and setting in it.

use std::time::{Duration, Instant};

use rill_bench::{self as bench, AckMode, BenchArgs, LatencyReport};

fn ordered(l: &LatencyReport) {
    assert!(l.samples > 0, "{l:?}");
    assert!(l.p50_ms > 0.0, "{l:?}");
    assert!(
        l.p50_ms <= l.p99_ms && l.p99_ms <= l.p999_ms && l.p999_ms <= l.max_ms,
        "{l:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_run_reports_throughput_and_ordered_percentiles() {
    let started = Instant::now();
    let args = BenchArgs {
        count: Some(20_000),
        producers: 1,
        consumers: 1,
        ..BenchArgs::default()
    };
    let report = tokio::time::timeout(Duration::from_secs(60), bench::run(None, args, false))
        .await
        .expect("the bench finishes")
        .expect("the bench runs");

    let produce = report.produce.as_ref().expect("produce figures");
    assert_eq!(produce.records, 20_000);
    assert_eq!(produce.bytes, 20_000 * 100);
    assert!(produce.records_per_sec > 0.0 && produce.mb_per_sec > 0.0);
    let latency = produce.latency.as_ref().expect("produce latency");
    assert_eq!(latency.samples, 20_000);
    ordered(latency);

    let consume = report.consume.as_ref().expect("consume figures");
    assert_eq!((consume.records, consume.expected), (20_000, 20_000));
    assert!(consume.records_per_sec > 0.0 && consume.mb_per_sec > 0.0);
    let e2e = consume
        .end_to_end_latency
        .as_ref()
        .expect("end-to-end latency");
    assert_eq!(e2e.samples, 20_000);
    ordered(e2e);

    let s = &report.settings;
    assert_eq!(
        (s.mode, s.embedded_broker, s.partitions),
        ("produce+consume", true, 6)
    );
    assert_eq!(
        (s.acks, s.record_size, s.count),
        ("leader", 100, Some(20_000))
    );
    assert!(report.machine.cores >= 1);
    assert!(report.summary().contains("end-to-end latency"));

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("JSON");
    assert_eq!(json["produce"]["records"], 20_000);
    assert!(
        json["produce"]["records_per_sec"]
            .as_f64()
            .expect("a number")
            > 0.0
    );
    assert!(json["consume"]["end_to_end_latency"]["p999_ms"].is_number());
    assert_eq!(json["settings"]["producers"], 1);
    assert_eq!(json["settings"]["topic"], s.topic.as_str());
    assert!(json["machine"]["cpu_model"].is_string());
    assert!(!report.to_json().contains('\n'));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_only_reads_what_was_written_with_a_group() {
    let args = BenchArgs {
        count: Some(5_000),
        consumers: 2,
        group: Some("bench-readers".to_string()),
        consume_only: true,
        acks: AckMode::All,
        fsync: Some(rill_broker::FsyncSetting::Always),
        partitions: 3,
        ..BenchArgs::default()
    };
    let report = tokio::time::timeout(Duration::from_secs(60), bench::run(None, args, false))
        .await
        .expect("the bench finishes")
        .expect("the bench runs");
    assert_eq!(report.settings.mode, "consume-only");
    assert_eq!(report.settings.fsync.as_deref(), Some("always"));
    assert_eq!(report.produce.as_ref().map(|p| p.records), Some(5_000));
    let consume = report.consume.expect("consume figures");
    assert_eq!((consume.records, consume.expected), (5_000, 5_000));
    assert!(consume.records_per_sec > 0.0);
    assert!(consume.end_to_end_latency.is_none());
}

#[tokio::test]
async fn bad_flags_are_refused_before_anything_runs() {
    let args = BenchArgs {
        producers: 0,
        ..BenchArgs::default()
    };
    let err = bench::run(Some("127.0.0.1:1".into()), args, false)
        .await
        .expect_err("no producers");
    assert!(err.to_string().contains("--producers"), "{err}");
}

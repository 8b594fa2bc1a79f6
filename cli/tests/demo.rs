//! `rill demo` end to end: the embedded broker, the shop, four services of two
//! members each, and analytics' replays; the summary must say every service saw
//! every event exactly once, and the binary must exit 0.

mod rill_command;

use std::time::Duration;

use rill_cli::demo::{self, DemoOptions, SERVICES};
use rill_command::rill_command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_sees_every_event_exactly_once() {
    let report = demo::run(DemoOptions {
        events: 3_000,
        progress: false,
        timeout: Duration::from_secs(60),
        ..DemoOptions::default()
    })
    .await
    .expect("the demo runs");
    assert!(report.ok(), "{}", report.summary());
    assert_eq!(report.services.len(), SERVICES.len());
    for s in &report.services {
        assert_eq!((s.received, s.duplicates), (3_000, 0), "{s:?}");
    }
    assert_eq!(report.replays[0].received, 3_000);
    assert!(report.replays[1].expected > 0 && report.replays[1].expected < 3_000);
    assert!(report
        .summary()
        .contains("OK: every service saw every event exactly once"));
}

#[test]
fn the_binary_runs_the_demo_and_exits_zero() {
    let out = rill_command(["demo", "--events", "1000"])
        .output()
        .expect("run rill demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for service in SERVICES {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(service) && l.contains(" 1000 ")),
            "{service} row missing or short:\n{stdout}"
        );
    }
}

#[test]
fn bad_demo_flags_are_one_line() {
    let out = rill_command(["demo", "--events", "lots"])
        .output()
        .expect("run rill demo");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

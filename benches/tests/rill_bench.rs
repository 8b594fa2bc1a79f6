//! The `rill-bench` binary: a small run with `--json` prints one JSON object with
//! the figures and settings; bad flags exit with status 2.

use std::process::Command;

#[test]
fn json_output_is_one_object_with_every_figure() {
    let out = Command::new(env!("CARGO_BIN_EXE_rill-bench"))
        .args([
            "--count",
            "3000",
            "--consumers",
            "1",
            "--partitions",
            "2",
            "--json",
        ])
        .env_remove("RILL_BROKER")
        .output()
        .expect("run rill-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim().lines().count(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON");
    assert_eq!(json["produce"]["records"], 3000);
    assert_eq!(json["consume"]["records"], 3000);
    for side in ["produce", "consume"] {
        assert!(json[side]["records_per_sec"]
            .as_f64()
            .is_some_and(|r| r > 0.0));
    }
    let latency = &json["produce"]["latency"];
    let p = |k: &str| latency[k].as_f64().expect("a number");
    assert!(
        p("p50_ms") <= p("p99_ms") && p("p99_ms") <= p("p999_ms") && p("p999_ms") <= p("max_ms")
    );
    assert_eq!(json["settings"]["partitions"], 2);
    assert!(json["machine"]["cores"].as_u64().is_some_and(|c| c >= 1));
}

#[test]
fn bad_flags_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_rill-bench"))
        .args(["--acks", "sometimes"])
        .output()
        .expect("run rill-bench");
    assert_eq!(out.status.code(), Some(2));
}

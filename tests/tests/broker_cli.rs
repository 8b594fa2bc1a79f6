//! The `rill-broker` command line as an operator meets it: environment variables
//! are read, and a bad flag, variable, config file or address stops the broker
//! with one clear line naming what was wrong, before it touches any data.

use std::process::{Command, Output};
use std::time::Duration;

use rill_protocol::ErrorCode;
use rill_tests::client::TestClient;
use rill_tests::process::BrokerProcess;

const BROKER: &str = env!("CARGO_BIN_EXE_broker_process");

/// Runs the broker to completion (it must fail fast) and returns its output.
fn run_failing(args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = Command::new(BROKER)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run the broker");
    assert!(
        !output.status.success(),
        "the broker accepted {args:?} {env:?}"
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn bad_settings_fail_fast_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_arg = data.to_str().expect("utf-8 path");

    let out = run_failing(&["--data-dir", data_arg], &[("RILL_FSYNC", "sometimes")]);
    assert!(stderr(&out).contains("fsync must be"), "{}", stderr(&out));

    let out = run_failing(&["--data-dir", data_arg, "--listen", "nowhere"], &[]);
    assert!(stderr(&out).contains("--listen"), "{}", stderr(&out));

    let config = dir.path().join("rill.toml");
    std::fs::write(&config, "[limits]\nmax_conections = 3\n").expect("write config");
    let out = run_failing(
        &[
            "--data-dir",
            data_arg,
            "--config",
            config.to_str().expect("utf-8"),
        ],
        &[],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("max_conections") && err.contains("rill.toml"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line, not {err:?}");

    let out = run_failing(&["--data-dir", data_arg, "--segment-bytes", "12"], &[]);
    assert!(stderr(&out).contains("segment_bytes"), "{}", stderr(&out));

    // An unknown RILL_* variable is refused as an unknown key in the file is.
    let out = run_failing(
        &["--data-dir", data_arg],
        &[("RILL_RETENTION_CHECK_INTERVAL", "60000")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unknown variable RILL_RETENTION_CHECK_INTERVAL")
            && err.contains("did you mean RILL_RETENTION_CHECK_INTERVAL_MS?"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line, not {err:?}");
    let out = run_failing(
        &["--data-dir", data_arg],
        &[("RILL_LIMITS_MAX_TOPICS", "lots")],
    );
    let err = stderr(&out);
    assert!(
        err.contains("RILL_LIMITS_MAX_TOPICS = \"lots\"") && err.contains("expected usize"),
        "{err}"
    );

    // None of that created the data directory.
    assert!(!data.exists(), "a refused start touched the data directory");
}

#[test]
fn a_busy_address_or_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = BrokerProcess::start(BROKER, dir.path(), &[]).expect("first broker");
    let other = tempfile::tempdir().expect("tempdir");
    let busy = first.addr().to_string();
    let out = run_failing(
        &[
            "--data-dir",
            other.path().to_str().expect("utf-8"),
            "--listen",
            &busy,
        ],
        &[],
    );
    assert!(
        stderr(&out).contains("cannot listen on"),
        "{}",
        stderr(&out)
    );
    let out = run_failing(
        &[
            "--data-dir",
            dir.path().to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    assert!(
        stderr(&out).contains("in use by another running broker"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn environment_variables_configure_the_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = BrokerProcess::start_with_env(
        BROKER,
        dir.path(),
        &[],
        &[
            ("RILL_MAX_CONNECTIONS", "1"),
            ("RILL_NODE_ID", "42"),
            ("RILL_RETENTION_CHECK_INTERVAL_MS", "60000"),
            ("RILL_LIMITS_MAX_PARTITIONS_PER_TOPIC", "2"),
        ],
    )
    .expect("start");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut first = TestClient::connect(broker.addr()).await.expect("connect");
        let metadata = first.metadata(&[]).await.expect("metadata");
        assert_eq!(metadata.brokers[0].node_id, 42, "RILL_NODE_ID was not read");
        let mut second = TestClient::connect(broker.addr()).await.expect("connect");
        second.set_timeout(Duration::from_secs(2));
        let refused = second.metadata(&[]).await;
        assert!(
            refused.is_err(),
            "RILL_MAX_CONNECTIONS=1 let a second client in"
        );
        let created = first.create_topic("still-served", 1).await.expect("create");
        assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
        let wide = first.create_topic("wide", 3).await.expect("create");
        assert_eq!(
            wide.error_code,
            ErrorCode::InvalidPartitions,
            "RILL_LIMITS_MAX_PARTITIONS_PER_TOPIC=2 let 3 partitions in: {wide:?}"
        );
        let narrow = first.create_topic("narrow", 2).await.expect("create");
        assert_eq!(narrow.error_code, ErrorCode::None, "{narrow:?}");
    });
}

/// A log written to a file or a pipe is plain text: no ANSI colour codes.
#[test]
fn a_log_that_is_not_a_terminal_has_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("broker.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let data = dir.path().join("data");
    let mut child = Command::new(BROKER)
        .args([
            "--data-dir",
            data.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the broker");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&log_path).expect("read the log");
        if text.contains("broker serving") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -TERM {}", child.id());
    let status = child.wait().expect("wait for the broker");
    assert!(text.contains("broker serving"), "no start-up line: {text}");
    assert!(
        !text.contains('\x1b'),
        "colour codes in a log file: {text:?}"
    );
    assert!(status.success(), "the broker exited with {status}");
}

//! `rill produce` when the input goes wrong partway: what was read before the bad
//! line is stored, the error names the line, and values are bytes, not text. And
//! a failed write to standard output says why.

// The client's test support (a broker, reading partitions back), shared with
// the client tests rather than copied.
#[path = "../../tests/tests/common/mod.rs"]
mod common;

mod rill_command;

use std::io::Write;
use std::process::{Output, Stdio};

use common::{fetch_all, start_broker};
use rill_broker::embedded::EmbeddedBroker;
use rill_client::{Admin, Connection};
use rill_command::rill_command;

/// Runs `rill --broker addr args...` with `stdin` as its input, off the runtime.
async fn rill(addr: String, args: &[&str], stdin: Vec<u8>) -> Output {
    let mut full = vec!["--broker".to_string(), addr];
    full.extend(args.iter().map(|a| (*a).to_string()));
    tokio::task::spawn_blocking(move || {
        let mut child = rill_command(&full)
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn rill");
        let mut input = child.stdin.take().expect("stdin");
        // rill stops reading at a bad line, so the rest may not be taken.
        let _ = input.write_all(&stdin);
        drop(input);
        child.wait_with_output().expect("rill output")
    })
    .await
    .expect("blocking task")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `count` lines "0", "1", ... as input.
fn numbered_lines(count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

/// A broker with topic `topic` (one partition).
async fn broker_with(topic: &str) -> EmbeddedBroker {
    let broker = start_broker().await;
    create_topic(&broker, topic).await;
    broker
}

/// Creates `topic` with one partition.
async fn create_topic(broker: &EmbeddedBroker, topic: &str) {
    Admin::connect(broker.addr())
        .await
        .expect("admin")
        .create_topic(topic, 1, &[])
        .await
        .expect("create topic");
}

/// The `(key, value)` of every record of `topic`/0.
async fn stored(broker: &EmbeddedBroker, topic: &str) -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    let conn = Connection::connect(broker.addr()).await.expect("connect");
    fetch_all(&conn, topic, 0)
        .await
        .into_iter()
        .map(|r| (r.key, r.value.unwrap_or_default()))
        .collect()
}

/// Expects exit status 1 and one line on stderr naming `line` and `written`.
fn assert_failed_at(out: &Output, line: u64, written: u64) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with(&format!("rill: line {line}: ")), "{err:?}");
    assert!(
        err.contains(&format!("({written} records written)")),
        "{err:?}"
    );
    err
}

/// Checks that the values stored are "0" to "count - 1", in order.
fn assert_numbered(values: &[(Option<Vec<u8>>, Vec<u8>)], count: usize) {
    assert_eq!(values.len(), count);
    for (i, (_, value)) in values.iter().enumerate() {
        assert_eq!(value, i.to_string().as_bytes(), "record {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_too_long_stops_the_input_but_keeps_what_came_before() {
    let broker = broker_with("big").await;
    let mut input = numbered_lines(3000);
    input.extend(vec![b'x'; 2 << 20]);
    input.push(b'\n');
    input.extend(b"after-1\nafter-2\n");
    let out = rill(broker.addr().to_string(), &["produce", "big"], input).await;
    let err = assert_failed_at(&out, 3001, 3000);
    assert!(err.contains("longer than the largest record"), "{err}");
    // The producer's limit: 1 MiB requests, less a record's overhead.
    assert!(err.contains("1048556 bytes"), "{err}");
    assert_numbered(&stored(&broker, "big").await, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_need_not_be_utf8() {
    let broker = broker_with("bytes").await;
    let mut input = numbered_lines(3000);
    input.extend(b"\xff\xfe\x00binary\n");
    let out = rill(broker.addr().to_string(), &["produce", "bytes"], input).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let values = stored(&broker, "bytes").await;
    assert_numbered(&values[..3000], 3000);
    assert_eq!(values.len(), 3001);
    assert_eq!(values[3000], (None, b"\xff\xfe\x00binary".to_vec()));

    // Keys split at the separator's bytes, whatever surrounds them.
    create_topic(&broker, "keyed").await;
    let input = b"\xffkey=>\xfevalue\r\nplain=>=>v\n".to_vec();
    let args = ["produce", "keyed", "--key-separator", "=>"];
    let out = rill(broker.addr().to_string(), &args, input).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stored(&broker, "keyed").await,
        [
            (Some(b"\xffkey".to_vec()), b"\xfevalue".to_vec()),
            (Some(b"plain".to_vec()), b"=>v".to_vec()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_without_the_separator_stops_the_input_but_keeps_what_came_before() {
    let broker = broker_with("keys").await;
    let mut input: Vec<u8> = (0..3000)
        .flat_map(|i| format!("k:{i}\n").into_bytes())
        .collect();
    input.extend(b"no separator here\nk:after\n");
    let args = ["produce", "keys", "--key-separator", ":"];
    let out = rill(broker.addr().to_string(), &args, input).await;
    let err = assert_failed_at(&out, 3001, 3000);
    assert!(err.contains("no key separator \":\""), "{err}");
    assert_numbered(&stored(&broker, "keys").await, 3000);
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_to_standard_output_says_why() {
    let broker = broker_with("listed").await;
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let addr = broker.addr().to_string();
    let out = tokio::task::spawn_blocking(move || {
        rill_command(["--broker", &addr, "topic", "list"])
            .stdout(full)
            .output()
            .expect("rill output")
    })
    .await
    .expect("blocking task");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(
        err.starts_with("rill: cannot write to standard output: No space left on device"),
        "{err:?}"
    );
}

//! `rill consume` and Ctrl-C: the first one closes cleanly (commit, leave) and
//! exits 130, a second one while closing exits 130 at once; `--from-time` refuses
//! a bare number that looks like seconds.

// The client's test support (a broker, producer helpers), shared with the client
// tests rather than copied.
#[path = "../../tests/tests/consumer_support/mod.rs"]
mod consumer_support;

mod rill_command;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output};
use std::time::Duration;

use consumer_support::{create_topic, produce_range, producer, start_broker};
use rill_client::{Consumer, ConsumerConfig, TopicPartition};
use rill_command::rill_command;
use rill_tests::proxy::FaultProxy;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// `rill consume` running with its standard output read line by line.
struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = rill_command(args).spawn().expect("spawn rill");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// Waits for `count` lines of output.
    async fn read(&mut self, count: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < count {
            let line = tokio::time::timeout(Duration::from_secs(20), self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} of {count} lines", got.len()))
                .expect("rill ended early");
            got.push(line);
        }
        got
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the exit, at most `limit`.
    async fn exit(self, limit: Duration) -> Output {
        let child = self.child;
        let waited = tokio::task::spawn_blocking(move || child.wait_with_output());
        tokio::time::timeout(limit, waited)
            .await
            .unwrap_or_else(|_| panic!("rill did not exit within {limit:?}"))
            .expect("wait task")
            .expect("rill output")
    }
}

/// The group's committed offsets of `t`'s `partitions` partitions, summed.
async fn committed_total(addr: &str, group: &str, partitions: i32) -> i64 {
    let config = ConsumerConfig::new().group_id(group);
    let consumer = Consumer::connect(addr, config).await.expect("consumer");
    let all: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new("t", p))
        .collect();
    let committed = consumer.committed(&all).await.expect("committed");
    committed.values().map(|o| o.unwrap_or(0)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_closes_cleanly_commits_what_was_printed_and_exits_130() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "t", 2).await;
    produce_range(&producer(&addr).await, "t", 0, 10).await;
    let mut rill = Running::start(&[
        "--broker",
        &addr,
        "consume",
        "t",
        "--group",
        "g",
        "--from-beginning",
    ]);
    let lines = rill.read(10).await;
    assert_eq!(lines.len(), 10);
    rill.interrupt();
    let out = rill.exit(Duration::from_secs(10)).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {err}");
    assert!(err.is_empty(), "a clean close says nothing: {err:?}");
    assert_eq!(committed_total(&addr, "g", 2).await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_while_closing_exits_130_at_once() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "t", 1).await;
    produce_range(&producer(&addr).await, "t", 0, 3).await;
    let proxy = FaultProxy::start(broker.addr()).await.expect("proxy");
    let through = proxy.addr().to_string();
    let mut rill = Running::start(&[
        "--broker",
        &through,
        "consume",
        "t",
        "--group",
        "g",
        "--from-beginning",
    ]);
    rill.read(3).await;
    // The broker stops answering: the close after the first Ctrl-C hangs in
    // its commit.
    proxy.hold(true);
    rill.interrupt();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Instant::now();
    rill.interrupt();
    let out = rill.exit(Duration::from_secs(10)).await;
    let took = second.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "stderr: {err}");
    assert!(err.contains("interrupted while closing"), "{err:?}");
    assert!(
        took < Duration::from_secs(1),
        "exited {took:?} after Ctrl-C"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_time_refuses_seconds() {
    let out = tokio::task::spawn_blocking(|| {
        rill_command(["consume", "t", "--from-time", "1700000000", "--max", "1"])
            .output()
            .expect("rill")
    })
    .await
    .expect("blocking task");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("rill: "), "{err:?}");
    assert!(err.contains("looks like seconds"), "{err:?}");
    assert!(err.contains("RFC 3339"), "{err:?}");
}

//! `rill consume --to-end`: prints what the partitions held when it started and
//! exits 0 by itself (at once when there is nothing to read), by partition and
//! offset, from the beginning, by time and as a group member; records produced
//! after it started are not printed; and `--max` still wins when it comes first.

// The client's test support (a broker, producer helpers), shared with the client
// tests rather than copied.
#[path = "../../tests/tests/consumer_support/mod.rs"]
mod consumer_support;

mod rill_command;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use consumer_support::{create_topic, produce_range, producer, start_broker};
use rill_client::Producer;
use rill_command::rill_command;

/// How long a `--to-end` consume may take; without the flag it would wait for
/// new records forever.
const LIMIT: Duration = Duration::from_secs(5);

/// Runs `rill --broker addr args...` and returns its output; fails the test if
/// it has not exited within [`LIMIT`] (killing it first).
async fn rill(addr: &str, args: &[&str]) -> Output {
    let mut full = vec!["--broker".to_string(), addr.to_string()];
    full.extend(args.iter().map(|a| (*a).to_string()));
    tokio::task::spawn_blocking(move || {
        let mut child = rill_command(&full).spawn().expect("spawn rill");
        let started = Instant::now();
        while child.try_wait().expect("try_wait").is_none() {
            if started.elapsed() > LIMIT {
                child.kill().expect("kill rill");
                let out = child.wait_with_output().expect("rill output");
                panic!(
                    "rill {full:?} still running after {LIMIT:?}; printed {:?}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().expect("rill output")
    })
    .await
    .expect("blocking task")
}

/// The lines `rill ... args` printed; fails unless it exited 0.
async fn lines(addr: &str, args: &[&str]) -> Vec<String> {
    let out = rill(addr, args).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "rill {args:?}: {:?} {err}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn strings(values: impl IntoIterator<Item = u64>) -> Vec<String> {
    values.into_iter().map(|v| v.to_string()).collect()
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort_by_key(|l| l.parse::<u64>().expect("a number"));
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_the_records_there_are_and_exits() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "three", 1).await;
    produce_range(&producer(&addr).await, "three", 0, 3).await;

    let got = lines(
        &addr,
        &[
            "consume",
            "three",
            "--partition",
            "0",
            "--offset",
            "0",
            "--max",
            "10",
            "--to-end",
        ],
    )
    .await;
    assert_eq!(got, strings(0..3));
    let got = lines(&addr, &["consume", "three", "--from-beginning", "-e"]).await;
    assert_eq!(got, strings(0..3));
    let got = lines(
        &addr,
        &[
            "consume",
            "three",
            "--from-time",
            "2000-01-01T00:00:00Z",
            "--to-end",
        ],
    )
    .await;
    assert_eq!(got, strings(0..3));
    // --max still stops first when it comes first.
    let got = lines(
        &addr,
        &["consume", "three", "--from-beginning", "--max", "2", "-e"],
    )
    .await;
    assert_eq!(got, strings(0..2));
    // Starting at the end (an explicit offset, or the default) prints nothing.
    for start in [&["--partition", "0", "--offset", "3"][..], &[]] {
        let mut args = vec!["consume", "three", "--to-end"];
        args.extend_from_slice(start);
        assert_eq!(lines(&addr, &args).await, Vec::<String>::new(), "{args:?}");
    }

    // Every partition of a topic, each to its own end.
    create_topic(&addr, "spread", 3).await;
    produce_range(&producer(&addr).await, "spread", 0, 10).await;
    let got = lines(&addr, &["consume", "spread", "--from-beginning", "-e"]).await;
    assert_eq!(sorted(got), strings(0..10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_partition_ends_at_once() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "empty", 2).await;
    for args in [
        &["--partition", "0", "--offset", "0"][..],
        &["--partition", "1", "--from-beginning"],
        &["--from-beginning"],
        &[],
    ] {
        let mut full = vec!["consume", "empty", "--to-end"];
        full.extend_from_slice(args);
        let started = Instant::now();
        assert_eq!(lines(&addr, &full).await, Vec::<String>::new(), "{full:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{full:?} took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_member_reads_its_partitions_to_the_end_and_commits() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "orders", 3).await;
    let shop = producer(&addr).await;
    produce_range(&shop, "orders", 0, 10).await;

    let group = [
        "consume",
        "orders",
        "--group",
        "billing",
        "--from-beginning",
    ];
    let mut args = group.to_vec();
    args.push("--to-end");
    assert_eq!(sorted(lines(&addr, &args).await), strings(0..10));
    // What was printed is committed: the next run has nothing left to read ...
    assert_eq!(lines(&addr, &args).await, Vec::<String>::new());
    // ... until more arrives, and then it reads exactly that.
    produce_range(&shop, "orders", 10, 4).await;
    assert_eq!(sorted(lines(&addr, &args).await), strings(10..14));

    // With --max first, the rest stays for the next run.
    produce_range(&shop, "orders", 14, 3).await;
    let mut capped = args.clone();
    capped.extend(["--max", "1"]);
    let first = lines(&addr, &capped).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let rest = lines(&addr, &args).await;
    assert_eq!(sorted([first, rest].concat()), strings(14..17));
}

/// Sends records `first..first + count` to partition 0 of `topic`, each value the
/// number zero-padded to 1000 bytes.
async fn produce_wide(producer: &Producer, topic: &str, first: u64, count: u64) {
    let mut deliveries = Vec::new();
    for i in first..first + count {
        let value = format!("{i:0>1000}");
        let delivery = producer
            .enqueue(topic, None, Some(value.as_bytes()), &[])
            .await
            .expect("enqueue");
        deliveries.push(delivery);
    }
    for d in deliveries {
        d.await.expect("delivered");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_produced_after_the_start_are_not_printed() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    create_topic(&addr, "wide", 1).await;
    let shop = producer(&addr).await;
    // 3 MB: several fetches of at most 1 MB each, far more than a pipe holds.
    produce_wide(&shop, "wide", 0, 3_000).await;

    let mut child = rill_command(["--broker", &addr, "consume", "wide", "--from-beginning"])
        .arg("--to-end")
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn rill");
    let pid = child.id();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let (out, first) = tokio::task::spawn_blocking(move || {
        let mut first = String::new();
        out.read_line(&mut first).expect("first line");
        (out, first)
    })
    .await
    .expect("blocking task");
    // rill has read the log end (3000) and printed; it now waits for the full
    // pipe while these records arrive. Its fetches from the last of the first
    // 3000 on see them.
    produce_wide(&shop, "wide", 3_000, 1_000).await;
    let rest = tokio::task::spawn_blocking(move || {
        let mut out = out;
        let mut rest = String::new();
        out.read_to_string(&mut rest).expect("the rest");
        let status = child.wait().expect("wait");
        (rest, status)
    });
    let Ok(finished) = tokio::time::timeout(Duration::from_secs(20), rest).await else {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("rill did not exit after printing the 3000 records");
    };
    let (rest, status) = finished.expect("blocking task");
    assert!(status.success(), "{status:?}");
    let printed: Vec<u64> = first
        .lines()
        .chain(rest.lines())
        .map(|l| l.parse().expect("a number"))
        .collect();
    assert_eq!(printed.len(), 3_000, "last: {:?}", printed.last());
    assert!(printed.iter().copied().eq(0..3_000));
}

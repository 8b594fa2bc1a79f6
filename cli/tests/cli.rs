//! The `rill` binary against a real broker: topics, produce from stdin, consume,
//! groups with lag, and one-line errors.

// The client's test support (a broker, producer helpers), shared with the client
// tests rather than copied.
#[path = "../../tests/tests/consumer_support/mod.rs"]
mod consumer_support;

mod rill_command;

use std::io::Write;
use std::process::{Output, Stdio};

use consumer_support::start_broker;
use rill_command::rill_command;

/// Runs `rill` with `args` (and `stdin`), off the async runtime.
async fn rill(args: &[&str], stdin: &str, env_broker: Option<&str>) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_string()).collect();
    let (stdin, env_broker) = (stdin.to_string(), env_broker.map(str::to_string));
    tokio::task::spawn_blocking(move || {
        let mut command = rill_command(&args);
        command.stdin(Stdio::piped());
        if let Some(addr) = env_broker {
            command.env("RILL_BROKER", addr);
        }
        let mut child = command.spawn().expect("spawn rill");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("write stdin");
        drop(input);
        child.wait_with_output().expect("rill output")
    })
    .await
    .expect("blocking task")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `rill --broker addr args...`, expecting success.
async fn ok(addr: &str, args: &[&str], stdin: &str) -> String {
    let mut full = vec!["--broker", addr];
    full.extend_from_slice(args);
    let out = rill(&full, stdin, None).await;
    assert!(
        out.status.success(),
        "rill {args:?} failed: {}",
        stderr(&out)
    );
    stdout(&out)
}

/// Expects failure with exit status `code` and one line `rill: ...` containing
/// `needle` on stderr.
fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line, got: {err:?}");
    assert!(err.starts_with("rill: "), "{err:?}");
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
}

/// `(partition, committed, log end, lag)` rows of `rill group describe`.
fn lag_rows(table: &str) -> Vec<(String, String, String, String)> {
    table
        .lines()
        .skip_while(|l| !l.starts_with("TOPIC"))
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (
                cells[1].into(),
                cells[2].into(),
                cells[3].into(),
                cells[4].into(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_produce_consume_and_group_lag_round_trip() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    let out = ok(&addr, &["topic", "create", "shop", "--partitions", "3"], "").await;
    assert!(out.contains("created topic shop"), "{out}");
    let list = rill(&["topic", "list"], "", Some(&addr)).await; // address from RILL_BROKER
    assert!(list.status.success(), "{}", stderr(&list));
    let cells = |line: &str| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let listed = stdout(&list);
    // Log end minus log start is a count of offsets, not of records: a
    // compacted partition holds fewer records than that.
    assert_eq!(
        listed.lines().next().map(cells),
        Some(cells("TOPIC PARTITIONS OFFSETS")),
        "{listed}"
    );
    assert!(listed.lines().any(|l| cells(l) == ["shop", "3", "0"]));

    let input: String = (0..10).map(|i| format!("user{i}:item-{i}\n")).collect();
    ok(&addr, &["produce", "shop", "--key-separator", ":"], &input).await;
    let described = ok(&addr, &["topic", "describe", "shop"], "").await;
    assert_eq!(
        described.lines().next().map(cells),
        Some(cells(
            "TOPIC PARTITION LEADER EPOCH REPLICAS LOG-START LOG-END"
        )),
        "{described}"
    );
    // One broker, not in a cluster: it leads every partition at epoch 0 and is
    // its only replica.
    for line in described.lines().skip(1) {
        let row = cells(line);
        assert_eq!(row[3], "0", "{described}");
        assert_eq!(row[4], row[2], "{described}");
    }
    let offsets: i64 = described
        .lines()
        .skip(1)
        .map(|l| {
            let number = |i: usize| cells(l)[i].parse::<i64>().expect("number");
            number(6) - number(5)
        })
        .sum();
    assert_eq!(offsets, 10, "{described}");

    let mut expected: Vec<String> = (0..10).map(|i| format!("item-{i}")).collect();
    expected.sort();
    let out = ok(
        &addr,
        &["consume", "shop", "--from-beginning", "--max", "10"],
        "",
    )
    .await;
    let mut got: Vec<String> = out.lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, expected);

    let out = ok(
        &addr,
        &[
            "consume",
            "shop",
            "--from-beginning",
            "--max",
            "3",
            "--key-separator",
            "=",
        ],
        "",
    )
    .await;
    assert_eq!(out.lines().count(), 3);
    assert!(
        out.lines()
            .all(|l| l.starts_with("user") && l.contains("=item-")),
        "{out}"
    );

    let out = ok(
        &addr,
        &[
            "consume",
            "shop",
            "--group",
            "billing",
            "--from-beginning",
            "--max",
            "10",
        ],
        "",
    )
    .await;
    assert_eq!(out.lines().count(), 10);
    let table = ok(&addr, &["group", "describe", "billing"], "").await;
    let rows = lag_rows(&table);
    assert_eq!(rows.len(), 3, "{table}");
    for (partition, committed, end, lag) in &rows {
        assert_eq!(lag, "0", "partition {partition}: {table}");
        assert_eq!(committed, end, "{table}");
    }
    // With --max, exactly what was printed is committed.
    let out = ok(
        &addr,
        &[
            "consume",
            "shop",
            "--group",
            "audit",
            "--from-beginning",
            "--max",
            "4",
        ],
        "",
    )
    .await;
    assert_eq!(out.lines().count(), 4);
    let rows = lag_rows(&ok(&addr, &["group", "describe", "audit"], "").await);
    let lag: i64 = rows.iter().map(|r| r.3.parse::<i64>().expect("lag")).sum();
    assert_eq!(lag, 6, "{rows:?}");
    let groups = ok(&addr, &["group", "list"], "").await;
    assert!(
        groups
            .lines()
            .any(|l| l.starts_with("billing ") && l.contains("empty")),
        "{groups}"
    );

    // One partition from an offset, and by time.
    let p0 = ok(
        &addr,
        &[
            "consume",
            "shop",
            "--partition",
            "0",
            "--from-beginning",
            "--idle-timeout-ms",
            "500",
        ],
        "",
    )
    .await;
    let from1 = ok(
        &addr,
        &[
            "consume",
            "shop",
            "--partition",
            "0",
            "--offset",
            "1",
            "--idle-timeout-ms",
            "500",
        ],
        "",
    )
    .await;
    assert_eq!(
        from1.lines().collect::<Vec<_>>(),
        p0.lines().skip(1).collect::<Vec<_>>()
    );
    let all = ok(
        &addr,
        &[
            "consume",
            "shop",
            "--from-time",
            "2000-01-01T00:00:00+01:00",
            "--max",
            "10",
        ],
        "",
    )
    .await;
    assert_eq!(all.lines().count(), 10);
    let none = ok(
        &addr,
        &[
            "consume",
            "shop",
            "--from-time",
            "2999-01-01T00:00:00Z",
            "--idle-timeout-ms",
            "300",
        ],
        "",
    )
    .await;
    assert_eq!(none, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_one_clear_line() {
    let broker = start_broker(10_000).await;
    let addr = broker.addr().to_string();
    ok(&addr, &["topic", "create", "shop"], "").await;

    let out = rill(&["--broker", "127.0.0.1:1", "topic", "list"], "", None).await;
    assert_one_line_error(&out, 1, "127.0.0.1:1");
    // A bootstrap list skips the dead entry and finds the broker.
    let list = format!("127.0.0.1:1,{addr}");
    let out = ok(&list, &["topic", "list"], "").await;
    assert!(out.contains("shop"), "{out}");
    let out = rill(
        &["--broker", "127.0.0.1:1", "consume", "shop", "--max", "1"],
        "",
        None,
    )
    .await;
    assert_one_line_error(&out, 1, "cannot connect");
    let out = rill(
        &["--broker", &addr, "consume", "nope", "--max", "1"],
        "",
        None,
    )
    .await;
    assert_one_line_error(&out, 1, "nope");
    let out = rill(&["--broker", &addr, "produce", "nope"], "x\n", None).await;
    assert_one_line_error(&out, 1, "UNKNOWN_TOPIC_OR_PARTITION");
    let out = rill(&["--broker", &addr, "topic", "describe", "nope"], "", None).await;
    assert_one_line_error(&out, 1, "nope");
    let out = rill(&["--broker", &addr, "topic", "create", "shop"], "", None).await;
    assert_one_line_error(&out, 1, "TOPIC_ALREADY_EXISTS");
    // One broker outside a cluster holds the only replica.
    let args = ["topic", "create", "wide", "--replication-factor", "2"];
    let out = rill(
        &[&["--broker", addr.as_str()], &args[..]].concat(),
        "",
        None,
    )
    .await;
    assert_one_line_error(&out, 1, "INVALID_REPLICATION_FACTOR");
    ok(
        &addr,
        &["topic", "create", "single", "--replication-factor", "1"],
        "",
    )
    .await;
    let out = rill(&["--broker", &addr, "group", "describe", "ghost"], "", None).await;
    assert_one_line_error(&out, 1, "GROUP_ID_NOT_FOUND");
    let out = rill(
        &["--broker", &addr, "produce", "shop", "--key-separator", ":"],
        "no separator\n",
        None,
    )
    .await;
    assert_one_line_error(&out, 1, "key separator");

    for (args, needle) in [
        (vec!["topic", "create"], "NAME"),
        (vec!["topic", "create", "x", "--partitions", "many"], "many"),
        (
            vec!["topic", "create", "x", "--replication-factor", "0"],
            "0",
        ),
        (vec!["consume", "shop", "--offset", "3"], "--partition"),
        (
            vec!["consume", "shop", "--from-time", "yesterday"],
            "RFC 3339",
        ),
        (
            vec![
                "consume",
                "shop",
                "--group",
                "g",
                "--offset",
                "1",
                "--partition",
                "0",
            ],
            "--offset",
        ),
        (vec!["consume", "shop", "--bogus"], "--bogus"),
        (vec!["frobnicate"], "frobnicate"),
    ] {
        let mut full = vec!["--broker", addr.as_str()];
        full.extend(args);
        let out = rill(&full, "", None).await;
        assert_one_line_error(&out, 2, needle);
    }
}

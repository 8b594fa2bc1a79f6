//! Graceful shutdown of a real broker process: on SIGTERM or SIGINT it finishes
//! what it is doing, fsyncs and checkpoints every log, and exits 0; the next open
//! of each log finds a clean shutdown and scans nothing.

use std::time::Duration;

use rill_protocol::ErrorCode;
use rill_storage::{Log, LogOptions};
use rill_tests::client::TestClient;
use rill_tests::process::BrokerProcess;
use rill_tests::{numbered_batch, records_in};

fn stop_with(signal: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = BrokerProcess::start(env!("CARGO_BIN_EXE_broker_process"), dir.path(), &[])
        .expect("start the broker");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut client = TestClient::connect(broker.addr()).await.expect("connect");
        let created = client.create_topic("audit", 2).await.expect("create");
        assert_eq!(created.error_code, ErrorCode::None, "{created:?}");
        for seq in 0..50u64 {
            let partition = (seq % 2) as i32;
            let answer = client
                .produce("audit", partition, &numbered_batch(seq), 1)
                .await
                .expect("produce")
                .expect("acks=1 answers");
            assert_eq!(answer.error_code, ErrorCode::None, "{answer:?}");
        }
        // A long-poll in flight must not hold the shutdown up for its whole wait.
        let end = client
            .list_offsets("audit", 0, -1)
            .await
            .expect("latest")
            .offset;
        let waiter = tokio::spawn(async move {
            let mut idle = client;
            idle.set_timeout(Duration::from_secs(20));
            idle.fetch("audit", 0, end, 20_000, 1).await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = std::process::Command::new("kill")
            .args([signal, &broker.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill {signal} failed");
        let started = std::time::Instant::now();
        let fetched = waiter.await.expect("waiter task");
        // The pending fetch is answered (empty) or its connection closed — quickly.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "shutdown waited out the long-poll"
        );
        if let Ok(f) = fetched {
            assert!(
                f.records.is_empty(),
                "{} bytes at the log end",
                f.records.len()
            );
        }
    });
    let status = broker.wait().expect("wait for the broker");
    assert!(status.success(), "broker exited with {status}");
    for partition in 0..2 {
        let path = dir.path().join("audit").join(partition.to_string());
        let log = Log::open(path, LogOptions::default()).expect("reopen the log");
        let report = log.recovery_report();
        assert!(report.clean_shutdown, "partition {partition}: {report:?}");
        let records: usize = (0..50u64)
            .filter(|seq| seq % 2 == partition)
            .map(records_in)
            .sum();
        assert_eq!(
            log.log_end_offset(),
            records as i64,
            "partition {partition}"
        );
        assert_eq!(
            log.high_watermark(),
            records as i64,
            "partition {partition}"
        );
    }
}

#[test]
fn sigterm_drains_and_checkpoints() {
    stop_with("-TERM");
}

#[test]
fn sigint_drains_and_checkpoints() {
    stop_with("-INT");
}

//! A real process crash: a child appends with `fsync = "always"` and reports every
//! acknowledged batch; it is SIGKILLed at random moments, and after each kill the
//! log is reopened and must hold every acknowledged batch, intact, at the offsets
//! that were acknowledged.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_protocol::batch::stamp_base_offset;
use rill_protocol::RecordBatch;
use rill_storage::{FsyncPolicy, Log, LogOptions};
use rill_tests::{numbered_batch, records_in};

const ROUNDS: u64 = 24;
const THREADS: u64 = 4;

/// Must match the child's options.
fn options() -> LogOptions {
    LogOptions::default()
        .segment_bytes(256 * 1024)
        .fsync(FsyncPolicy::Always)
}

/// Kills and reaps the child even when an assertion fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the child for `run_for`, SIGKILLs it, and returns seq -> (base, last) of
/// every batch it acknowledged.
fn run_and_kill(
    dir: &std::path::Path,
    first_seq: u64,
    run_for: Duration,
) -> BTreeMap<u64, (i64, i64)> {
    let child = Command::new(env!("CARGO_BIN_EXE_crash_appender"))
        .arg(dir)
        .arg(first_seq.to_string())
        .arg(THREADS.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start crash_appender");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("child stdout");
    let reader = std::thread::spawn(move || {
        let mut acks = BTreeMap::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let ["ack", seq, base, last] = fields.as_slice() {
                let parse = |s: &str| s.parse::<i64>().expect("number in ack line");
                acks.insert(parse(seq) as u64, (parse(base), parse(last)));
            }
        }
        acks
    });
    std::thread::sleep(run_for);
    // std's kill() sends SIGKILL on Unix: no destructor, no close, no flush.
    child.0.kill().expect("SIGKILL the child");
    let status = child.0.wait().expect("reap the child");
    assert!(
        !status.success(),
        "the child must die by the signal, not exit: {status:?}"
    );
    reader.join().expect("ack reader")
}

#[test]
fn acknowledged_batches_survive_sigkill() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut acked: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
    let mut next_seq = 0u64;
    let mut rounds_with_acks = 0;
    for round in 0..ROUNDS {
        let run_for = Duration::from_millis(rng.gen_range(20..200));
        let acks = run_and_kill(dir.path(), next_seq, run_for);
        rounds_with_acks += usize::from(!acks.is_empty());
        next_seq = acks.keys().max().map_or(next_seq, |&m| m + 1) + THREADS * 1_000;
        acked.extend(acks);

        let log = Log::open(dir.path(), options()).expect("reopen after SIGKILL");
        for (&seq, &(base, last)) in &acked {
            let read = log
                .read(base, 0)
                .unwrap_or_else(|e| panic!("round {round}: batch {seq} at {base}: {e}"));
            let (batch, _) = RecordBatch::split_first(&read.bytes).expect("a whole batch");
            batch.validate().expect("acknowledged batch passes its CRC");
            let mut expected = numbered_batch(seq);
            stamp_base_offset(&mut expected, base).expect("stamp");
            assert_eq!(
                batch.as_bytes(),
                &expected[..],
                "round {round}: batch {seq} at {base} differs"
            );
            assert_eq!(batch.last_offset(), last);
            assert_eq!(batch.record_count() as usize, records_in(seq));
        }
        // Offsets are dense from the start of the log to its end.
        let mut offset = log.log_start_offset();
        while offset < log.high_watermark() {
            let read = log.read(offset, 1 << 20).expect("read");
            let mut rest = &read.bytes[..];
            while !rest.is_empty() {
                let (b, tail) = RecordBatch::split_first(rest).expect("whole batch");
                b.validate().expect("valid batch");
                assert_eq!(
                    b.base_offset(),
                    offset,
                    "round {round}: gap or overlap at {offset}"
                );
                offset = b.next_offset();
                rest = tail;
            }
        }
        // Half the rounds close cleanly before the next child opens the log.
        if round % 2 == 0 {
            log.close().expect("close");
        }
    }
    println!("{} batches acknowledged over {ROUNDS} kills", acked.len());
    assert!(
        rounds_with_acks >= ROUNDS as usize / 2,
        "only {rounds_with_acks} rounds acknowledged anything"
    );
    assert!(
        acked.len() > 100,
        "only {} acknowledged batches: the test proves little",
        acked.len()
    );
}

//! A child process for crash tests: appends numbered batches to a log with
//! `fsync = "always"` from several threads and prints `ack <seq> <base> <last>` on
//! stdout after each append returns, until it is killed.
//!
//! Usage: `crash_appender DIR FIRST_SEQ THREADS`. Thread `t` appends sequence
//! numbers `FIRST_SEQ + t`, `FIRST_SEQ + t + THREADS`, … so every batch is unique.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use rill_storage::{FsyncPolicy, Log, LogOptions};
use rill_tests::numbered_batch;

/// Options shared with the test that reopens the log.
fn options() -> LogOptions {
    LogOptions::default()
        .segment_bytes(256 * 1024)
        .fsync(FsyncPolicy::Always)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = match args.as_slice() {
        [_, dir, first, threads] => first
            .parse::<u64>()
            .ok()
            .zip(threads.parse::<u64>().ok())
            .map(|(first, threads)| (dir.clone(), first, threads.max(1))),
        _ => None,
    };
    let Some((dir, first, threads)) = parsed else {
        eprintln!("usage: crash_appender DIR FIRST_SEQ THREADS");
        return ExitCode::from(2);
    };
    let log = match Log::open(&dir, options()) {
        Ok(log) => Arc::new(log),
        Err(e) => {
            eprintln!("crash_appender: cannot open {dir}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (log, stdout) = (Arc::clone(&log), Arc::clone(&stdout));
            std::thread::spawn(move || -> Result<(), String> {
                let mut seq = first + t;
                loop {
                    let mut batch = numbered_batch(seq);
                    let info = log.append(&mut batch).map_err(|e| e.to_string())?;
                    let mut out = stdout.lock().map_err(|e| e.to_string())?;
                    writeln!(out, "ack {seq} {} {}", info.base_offset, info.last_offset)
                        .and_then(|()| out.flush())
                        .map_err(|e| e.to_string())?;
                    seq += threads;
                }
            })
        })
        .collect();
    for worker in workers {
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("crash_appender: {e}");
                return ExitCode::FAILURE;
            }
            Err(_) => return ExitCode::FAILURE,
        }
    }
    ExitCode::SUCCESS
}

//! Processes: a real `rill-broker` process for tests that kill or signal it, and
//! the memory of the test process itself.
//!
//! [`BrokerProcess`] runs `tests/src/bin/broker_process.rs`, which is the product
//! binary's entry point (`rill_cli::broker::main`) built inside this crate so tests
//! can find it. It listens on port 0 and the first line it prints tells the port.
//! [`rss_bytes`] is this process's resident memory; an embedded broker
//! (`rill_broker::embedded`) runs in the test process, so it includes whatever
//! that broker holds.

use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};

/// A broker process; killed and reaped when dropped, even if a test panics.
#[derive(Debug)]
pub struct BrokerProcess {
    child: Child,
    addr: SocketAddr,
}

impl BrokerProcess {
    /// Starts `binary` (pass `env!("CARGO_BIN_EXE_broker_process")`) on `data_dir`
    /// with the extra flags `args`, and waits until it listens.
    pub fn start(binary: impl Into<PathBuf>, data_dir: &Path, args: &[&str]) -> io::Result<Self> {
        BrokerProcess::start_with_env(binary, data_dir, args, &[])
    }

    /// Like [`BrokerProcess::start`], with extra environment variables.
    pub fn start_with_env(
        binary: impl Into<PathBuf>,
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> io::Result<Self> {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        BrokerProcess::start_on(binary, data_dir, any_port, args, env)
    }

    /// Like [`BrokerProcess::start_with_env`], listening for clients on
    /// `listen` (port 0: any free port).
    pub fn start_on(
        binary: impl Into<PathBuf>,
        data_dir: &Path,
        listen: SocketAddr,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> io::Result<Self> {
        let mut child = Command::new(binary.into())
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(listen.to_string())
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("broker stdout was not captured"))?;
        // Own the child before anything can fail, so it is reaped.
        let mut process = BrokerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        process.addr = line
            .trim()
            .strip_prefix("rill-broker listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line {line:?}")))?;
        Ok(process)
    }

    /// The address the broker listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the broker and reaps it.
    pub fn kill(&mut self) -> io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(drop)
    }

    /// Waits for the broker to exit.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait()
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of this process in bytes (`VmRSS` in `/proc/self/status`,
/// Linux only). An embedded broker runs in the test process, so this includes
/// whatever the broker holds.
pub fn rss_bytes() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "no readable VmRSS line in /proc/self/status",
            )
        })
}

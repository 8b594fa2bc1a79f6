//! The `rill` binary under test, started the same way by every CLI test.
//!
//! A developer's `RILL_BROKER` or `RUST_LOG` would change what `rill` prints or
//! where it connects, so both are removed; a test that wants one sets it again.
//! Standard input is empty and both outputs are captured unless the test sets
//! them otherwise on the returned command.

use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// `rill args...` with a clean environment, no input and captured output.
pub fn rill_command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_rill"));
    command
        .args(args)
        .env_remove("RILL_BROKER")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

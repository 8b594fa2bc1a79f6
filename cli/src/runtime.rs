//! The binaries' one way to run their async main: a multi-threaded tokio runtime,
//! the error printed as `program: message` on stderr, and the exit status.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// Runs `main` to completion on a new multi-threaded runtime. Exits with success
/// when it returns `Ok`, and with failure after printing `program: error` when it
/// returns an error or the runtime cannot start.
pub fn run<E: Display>(program: &str, main: impl Future<Output = Result<(), E>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{program}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{program}: {e}");
            ExitCode::FAILURE
        }
    }
}

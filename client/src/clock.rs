//! The client's wall clock: the one place the library reads the system time.
//! A clock before the Unix epoch reads as 0; nothing here fails or panics.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The nanoseconds within the current second: a cheap value that differs between
/// producers, used to seed where keyless records start spreading.
pub(crate) fn subsec_nanos() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

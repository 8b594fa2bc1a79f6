//! The wall clock, read in the unit record timestamps use.
//!
//! Segment age, retention and tombstone expiry compare against record timestamps,
//! which count milliseconds since the Unix epoch; every part of the crate reads "now"
//! through [`now_ms`] so they all agree on that unit. A clock set before 1970 reads
//! as 0 rather than failing.

/// Milliseconds since the Unix epoch, as record timestamps count them.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

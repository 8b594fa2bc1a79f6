//! The one way the client takes a `std::sync::Mutex`.
//!
//! The client's locks guard bookkeeping (queues of waiters, batch acknowledgements,
//! committed offsets) that every step leaves consistent before it can panic, so a
//! lock poisoned by a panicking holder is taken anyway: the rest of the client
//! keeps working instead of panicking in turn.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, ignoring poisoning.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

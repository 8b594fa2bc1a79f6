//! The broker's one way to take a `std::sync` lock: poison-tolerant.
//!
//! A lock is poisoned when a thread panicked while holding it. The broker's locks
//! guard in-memory state shared by every connection (topics, group membership,
//! committed offsets, producer ids); refusing the guard after one request panicked
//! would make every later request that needs the same state fail too. So the guard
//! is taken anyway, and the state is used as the panicking request left it.
//!
//! Async locks (`tokio::sync::Mutex`) do not poison and are taken directly.

use std::sync::{
    Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError,
};

/// Locks `mutex`, also when a panic poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks `mutex` if no one holds it (also when a panic poisoned it).
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Takes `lock` for reading, also when a panic poisoned it.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

/// Takes `lock` for writing, also when a panic poisoned it.
pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

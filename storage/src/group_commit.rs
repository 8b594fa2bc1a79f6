//! Group commit: many appenders, one fsync.
//!
//! Under `fsync = "always"` every appender must wait until an fsync covers its batch.
//! Instead of each calling fsync, an appender asks [`GroupCommit::wait_for`] to make
//! its offset durable. If no fsync is running, it becomes the leader: it runs one
//! fsync that covers everything written up to that moment (its own batch and every
//! batch appended meanwhile), then wakes the others. If one is running, it waits
//! for it; when that ends it either finds its offset covered or leads the next one.
//! So with N concurrent appenders there are at most about two fsyncs per "round"
//! instead of N.
//!
//! An fsync error is sticky: after it, the writer can no longer know what is on disk
//! (a failed fsync may drop dirty pages), so every waiter and every later call gets
//! the error.

use std::sync::{Condvar, Mutex};

use crate::locks::{lock, wait};

#[derive(Debug, Default)]
struct State {
    /// Every offset below this is durable.
    synced: i64,
    /// Whether some thread is running an fsync now.
    running: bool,
    /// The first fsync error, if any.
    failed: Option<String>,
    /// Bumped by every truncation: an fsync that started before one must not
    /// advance `synced`, since the offsets it covered were removed and may be reused.
    epoch: u64,
}

/// Coordinates fsyncs between concurrent appenders. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    done: Condvar,
}

impl GroupCommit {
    /// Starts with every offset below `synced` durable.
    pub fn new(synced: i64) -> Self {
        GroupCommit {
            state: Mutex::new(State {
                synced,
                ..State::default()
            }),
            done: Condvar::new(),
        }
    }

    /// Returns once every offset below `target` is durable. `sync` performs one fsync
    /// of everything written so far and returns the offset it covered up to.
    pub fn wait_for(
        &self,
        target: i64,
        sync: impl Fn() -> Result<i64, String>,
    ) -> Result<(), String> {
        let mut state = lock(&self.state);
        loop {
            if let Some(e) = &state.failed {
                return Err(e.clone());
            }
            if state.synced >= target {
                return Ok(());
            }
            if !state.running {
                break;
            }
            state = wait(&self.done, state);
        }
        state.running = true;
        let epoch = state.epoch;
        drop(state);
        let result = sync();
        let mut state = lock(&self.state);
        state.running = false;
        match result {
            Ok(covered) if state.epoch == epoch => state.synced = state.synced.max(covered),
            Ok(_) => {}
            Err(e) => state.failed = Some(e),
        }
        self.done.notify_all();
        match &state.failed {
            Some(e) => Err(e.clone()),
            None if state.synced >= target => Ok(()),
            None => {
                drop(state);
                // A truncation raced with this fsync; sync again in the new epoch.
                self.wait_for(target, sync)
            }
        }
    }

    /// Records that everything below `offset` is durable (after a roll or flush).
    pub fn mark_synced(&self, offset: i64) {
        let mut state = lock(&self.state);
        state.synced = state.synced.max(offset);
        self.done.notify_all();
    }

    /// Sets the durable point after a truncation moved the log end back.
    pub fn reset_to(&self, offset: i64) {
        let mut state = lock(&self.state);
        state.synced = offset;
        state.epoch += 1;
    }

    /// Records an fsync failure; the log accepts no more writes.
    pub fn fail(&self, reason: String) {
        let mut state = lock(&self.state);
        state.failed.get_or_insert(reason);
        self.done.notify_all();
    }

    /// The fsync failure, if one happened.
    pub fn failure(&self) -> Option<String> {
        lock(&self.state).failed.clone()
    }
}

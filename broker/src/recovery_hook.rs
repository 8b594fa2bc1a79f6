//! The recovery hook: a function the broker's background recovery calls before
//! opening each partition log. It lives in the configuration but is not a file
//! setting; tests use it to hold a partition in recovery.

use std::sync::Arc;

/// What a [`RecoveryHook`] calls: the partition's topic and index.
pub type HookFn = dyn Fn(&str, i32) + Send + Sync;

/// A function the background recovery calls with each partition's topic and index
/// just before it opens that partition's log, on the recovery thread; it may block.
/// Tests use it to hold a partition in recovery and see how the broker answers
/// for it meanwhile. The default calls nothing. Hooks are not compared: two
/// configurations that differ only in their hooks are equal.
#[derive(Clone, Default)]
pub struct RecoveryHook(pub Option<Arc<HookFn>>);

impl RecoveryHook {
    /// Calls the hook, if there is one.
    pub fn call(&self, topic: &str, partition: i32) {
        if let Some(hook) = &self.0 {
            hook(topic, partition);
        }
    }
}

impl std::fmt::Debug for RecoveryHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "RecoveryHook(set)"
        } else {
            "RecoveryHook(none)"
        })
    }
}

impl PartialEq for RecoveryHook {
    fn eq(&self, _: &RecoveryHook) -> bool {
        true
    }
}

impl Eq for RecoveryHook {}

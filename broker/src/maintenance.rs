//! Background upkeep of every partition log: interval fsyncs, retention and
//! compaction.
//!
//! Under `fsync = { interval_ms = N }` a log syncs on append when the last fsync is
//! older than N, but an idle log would never sync; a tick every
//! [`FLUSH_TICK`] calls `flush_if_due` on every log so the data of the last append
//! is on disk about N ms later. Retention (topics with `cleanup = "delete"`) and
//! compaction (`cleanup = "compact"`) run every `retention_check_interval_ms`.
//! The two run as separate tasks, so a long compaction never delays an interval
//! fsync. All disk work runs on the blocking pool; a failure is logged and retried
//! at the next tick, and a log whose fsync failed refuses writes on its own.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Cleanup;
use crate::state::Broker;

/// How often interval-policy logs are checked for a due fsync.
pub const FLUSH_TICK: Duration = Duration::from_millis(100);

/// Runs the interval-fsync and cleanup loops until the broker shuts down; returns
/// once neither touches a log any more, so the server can close them.
pub async fn run(broker: Arc<Broker>) {
    let flush = tokio::spawn(every(Arc::clone(&broker), FLUSH_TICK, flush_due));
    let cleanup_interval = Duration::from_millis(broker.config.retention_check_interval_ms);
    let clean = tokio::spawn(every(broker, cleanup_interval, clean));
    for task in [flush, clean] {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "maintenance task failed");
        }
    }
}

/// Runs `job` on the blocking pool every `period` (first at once) until shutdown.
/// A job in progress is waited for; jobs check the shutdown signal between
/// partitions, so that wait is one partition's work at most.
async fn every(broker: Arc<Broker>, period: Duration, job: fn(&Broker)) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = broker.shutdown_signal();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let broker = Arc::clone(&broker);
        if let Err(e) = tokio::task::spawn_blocking(move || job(&broker)).await {
            tracing::error!(error = %e, "maintenance job failed");
        }
    }
}

fn flush_due(broker: &Broker) {
    for partition in broker.topics.all_partitions() {
        if broker.is_shutting_down() {
            return;
        }
        if let Err(e) = partition.log().flush_if_due() {
            tracing::error!(topic = partition.topic(), partition = partition.index(), error = %e, "interval fsync failed");
        }
    }
}

fn clean(broker: &Broker) {
    // A replicated partition's log is its Raft group's log, which keeps every
    // entry a lagging replica may still need: retention and compaction do not
    // run on it (docs/REPLICATION.md).
    for topic in broker
        .topics
        .list()
        .iter()
        .filter(|t| t.replicas.is_empty())
    {
        for partition in topic.served_partitions() {
            if broker.is_shutting_down() {
                return;
            }
            let log = partition.log();
            let result = match topic.settings.cleanup {
                Cleanup::Delete => log.enforce_retention().map(|r| format!("{r:?}")),
                Cleanup::Compact => log.compact().map(|r| format!("{r:?}")),
            };
            match result {
                Ok(report) => {
                    tracing::debug!(topic = %topic.name, partition = partition.index(), %report, "cleanup")
                }
                // The topic was deleted during the pass.
                Err(rill_storage::Error::Closed { .. }) => {}
                Err(e) => {
                    tracing::error!(topic = %topic.name, partition = partition.index(), error = %e, "cleanup failed")
                }
            }
        }
    }
}

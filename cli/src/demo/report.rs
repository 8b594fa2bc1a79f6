//! What the demo saw, and its summary table.

use std::fmt::Write;
use std::time::Duration;

/// One service's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceReport {
    /// The service (its group id).
    pub name: &'static str,
    /// Members in its group.
    pub members: usize,
    /// Distinct events received.
    pub received: u64,
    /// Extra copies received.
    pub duplicates: u64,
    /// When its last event arrived, counted from the start of the run.
    pub done_after: Option<Duration>,
}

/// One of analytics' replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Where it started: "offset 0" or a time.
    pub from: String,
    /// Events of this run it should see.
    pub expected: u64,
    /// Distinct events of this run it saw.
    pub received: u64,
    /// Extra copies.
    pub duplicates: u64,
    /// Records read in all (including other runs' events on a shared broker).
    pub read: u64,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// The broker used.
    pub broker: String,
    /// Events published.
    pub events: u64,
    /// Partitions of `purchases`.
    pub partitions: usize,
    /// Time the shop took to hand every event to its producer.
    pub shop_enqueued: Duration,
    /// Time until the broker had acknowledged every event.
    pub shop_acked: Duration,
    /// Each service.
    pub services: Vec<ServiceReport>,
    /// Analytics' replays.
    pub replays: Vec<ReplayReport>,
    /// Errors of service members.
    pub failures: Vec<String>,
    /// Wall-clock time of the whole run.
    pub took: Duration,
}

impl DemoReport {
    /// Whether every service saw every event exactly once and every replay read
    /// exactly what it should.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
            && self
                .services
                .iter()
                .all(|s| s.received == self.events && s.duplicates == 0)
            && self
                .replays
                .iter()
                .all(|r| r.received == r.expected && r.duplicates == 0)
    }

    /// The summary table.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
        let _ = writeln!(
            out,
            "\nshop: {} PurchasedItemOnWebsite events to `purchases` ({} partitions) on {}; \
             handed over in {}, all acknowledged after {} (it never waited for a service)\n",
            self.events,
            self.partitions,
            self.broker,
            secs(self.shop_enqueued),
            secs(self.shop_acked)
        );
        let _ = writeln!(
            out,
            "{:<10} {:>7} {:>9} {:>10} {:>8} {:>11}",
            "SERVICE", "MEMBERS", "RECEIVED", "DUPLICATES", "MISSING", "ALL AFTER"
        );
        for s in &self.services {
            let _ = writeln!(
                out,
                "{:<10} {:>7} {:>9} {:>10} {:>8} {:>11}",
                s.name,
                s.members,
                s.received,
                s.duplicates,
                self.events.saturating_sub(s.received),
                s.done_after.map_or_else(|| "-".to_string(), secs)
            );
        }
        out.push('\n');
        for r in &self.replays {
            let _ = writeln!(
                out,
                "analytics replay from {}: {} of {} expected events, {} duplicates",
                r.from, r.received, r.expected, r.duplicates
            );
        }
        for f in &self.failures {
            let _ = writeln!(out, "failure: {f}");
        }
        let _ = writeln!(
            out,
            "\n{} in {}",
            if self.ok() {
                "OK: every service saw every event exactly once, and the replays read exactly the history"
            } else {
                "FAILED: see the rows above"
            },
            secs(self.took)
        );
        out
    }
}

//! Where the sender's batches go: each partition's leader, as the router knows
//! it, with a metadata refresh for partitions whose leader is not known.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use rill_protocol::ErrorCode;

use super::{Route, Sender};
use crate::error::Error;

/// Where the batches waiting to be sent go.
#[derive(Debug, Default)]
struct Targets {
    /// Addresses of the brokers leading partitions with batches waiting.
    leaders: BTreeSet<String>,
    /// Topics with a partition whose batches wait for a leader to be known.
    unrouted: BTreeSet<Arc<str>>,
}

impl Sender {
    /// Sends what is due to each partition's leader, up to `max_in_flight`
    /// requests per broker. Partitions with no known leader get a metadata
    /// refresh (at most one per `retry_backoff`); their due batches fail an
    /// attempt unstamped if there still is none.
    pub(super) async fn send_ready(&mut self, wake_at: &mut Option<Instant>) {
        let shared = self.shared.clone();
        let router = &shared.router;
        let mut targets = self.targets();
        if !targets.unrouted.is_empty() {
            let topics: Vec<String> = targets.unrouted.iter().map(|t| t.to_string()).collect();
            let interval = shared.config.retry_backoff;
            match router.refresh_if_due(topics, interval).await {
                Ok(true) => {
                    self.refresh_error = None;
                    targets = self.targets();
                }
                Ok(false) => {}
                Err(e) => self.refresh_error = Some(e),
            }
            let retry = Instant::now() + interval;
            *wake_at = Some(wake_at.map_or(retry, |w| w.min(retry)));
            let unrouted = |t: &str, p: i32| router.with_leader(t, p, |a| a.is_none());
            let batches = self.drain(Route::Unreachable, &unrouted, wake_at);
            for b in batches {
                let error = self.refresh_error.clone().unwrap_or_else(|| {
                    Error::broker_at(
                        ErrorCode::LeaderNotAvailable,
                        Some("the metadata names no leader for it yet".into()),
                        &b.topic,
                        Some(b.partition),
                    )
                });
                self.finish(b, Err(error));
            }
        }
        let max_in_flight = shared.config.max_in_flight;
        for addr in targets.leaders {
            let led_by = |t: &str, p: i32| router.with_leader(t, p, |a| a == Some(addr.as_str()));
            while self.in_flight_to(&addr) < max_in_flight {
                let conn = match router.connection(&addr).await {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Whatever is due fails this attempt, unstamped, and waits
                        // for its backoff; the next refresh says where it goes.
                        let batches = self.drain(Route::Unreachable, &led_by, wake_at);
                        router.forget_broker(&addr);
                        self.fail_all(batches, e);
                        break;
                    }
                };
                if !self.renew_identity(&conn, wake_at).await {
                    // Asking failed and closed the connection: open another.
                    continue;
                }
                let batches = self.drain(Route::Live(conn.id()), &led_by, wake_at);
                if batches.is_empty() {
                    break;
                }
                self.send(conn, batches);
            }
        }
    }

    /// The brokers leading partitions that have batches waiting, and the topics
    /// of such partitions whose leader is not known.
    fn targets(&self) -> Targets {
        let router = &self.shared.router;
        let acc = self.shared.lock();
        let mut targets = Targets::default();
        for topic in &acc.topics {
            for (pi, queue) in topic.partitions.iter().enumerate() {
                let partition = i32::try_from(pi).unwrap_or(i32::MAX);
                let waiting = queue.open.is_some()
                    || !queue.ready.is_empty()
                    || self
                        .flows
                        .get(&(topic.name.clone(), partition))
                        .is_some_and(|f| !f.retry.is_empty());
                if !waiting {
                    continue;
                }
                router.with_leader(&topic.name, partition, |addr| match addr {
                    Some(addr) if !targets.leaders.contains(addr) => {
                        targets.leaders.insert(addr.to_string());
                    }
                    Some(_) => {}
                    None => {
                        targets.unrouted.insert(topic.name.clone());
                    }
                });
            }
        }
        targets
    }

    /// Requests awaiting answers from the broker at `addr`.
    fn in_flight_to(&self, addr: &str) -> usize {
        self.in_flight
            .iter()
            .filter(|r| r.conn.addr() == addr)
            .count()
    }
}

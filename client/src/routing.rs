//! Which broker leads each partition, and one connection per broker.
//!
//! A client is given a bootstrap list (`a:9400,b:9400,c:9400`); in a cluster any
//! broker may lead any partition, and only the leader takes produce and fetch for
//! it (docs/PROTOCOL.md, Metadata in a cluster). [`Router`] keeps what the last
//! Metadata answer said (the brokers' addresses and each partition's leader) and a
//! pool with one [`Connection`] per broker address, reopened after it fails.
//!
//! Invariants: a leader is only believed when Metadata names a broker it also
//! lists; a partition whose leader refused it (NOT_LEADER_OR_FOLLOWER,
//! LEADER_NOT_AVAILABLE) or whose leader could not be reached is forgotten until
//! the next refresh, so nothing is sent to a broker known to be wrong; a refresh
//! asks any broker that answers, seeds first.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use rill_protocol::ErrorCode;

use crate::bootstrap;
use crate::connection::{Connection, ConnectionOptions};
use crate::error::{Error, Result};
use crate::locks;

/// The cluster as a client sees it, and its connections.
#[derive(Debug)]
pub(crate) struct Router {
    /// The bootstrap entries, in the order given.
    seeds: Vec<String>,
    options: ConnectionOptions,
    /// Shared with the router's siblings.
    view: Arc<Mutex<View>>,
    pool: tokio::sync::Mutex<HashMap<String, Connection>>,
}

/// Items grouped by the address of their partition's leader.
#[derive(Debug)]
pub(crate) struct Routes<T> {
    /// By leader address.
    pub(crate) routed: BTreeMap<String, Vec<T>>,
    /// Those whose leader is not known.
    pub(crate) unrouted: Vec<T>,
    /// Why the metadata could not be asked, if it could not.
    pub(crate) refresh_error: Option<Error>,
}

impl<T> Routes<T> {
    /// Why some items have no leader: the failed refresh, else
    /// LEADER_NOT_AVAILABLE for the first of them (`key` names its partition).
    pub(crate) fn failure(&self, key: impl Fn(&T) -> (&str, i32)) -> Option<Error> {
        let item = self.unrouted.first()?;
        let (topic, partition) = key(item);
        Some(
            self.refresh_error
                .clone()
                .unwrap_or_else(|| no_leader(topic, partition)),
        )
    }
}

/// LEADER_NOT_AVAILABLE for `topic`/`partition`: the metadata names no leader.
pub(crate) fn no_leader(topic: &str, partition: i32) -> Error {
    Error::broker_at(
        ErrorCode::LeaderNotAvailable,
        Some("the metadata names no leader for it yet".into()),
        topic,
        Some(partition),
    )
}

/// What the last Metadata answers said.
#[derive(Debug, Default)]
struct View {
    /// Broker id to `host:port`.
    brokers: HashMap<i32, String>,
    /// Per topic, the leader's broker id by partition index (`None`: unknown).
    leaders: HashMap<String, Vec<Option<i32>>>,
    /// When the last refresh was asked for.
    refreshed_at: Option<Instant>,
    /// Brokers whose last metadata answer failed or did not come in time: asked
    /// last, until one answers again.
    suspects: BTreeSet<String>,
}

/// The longest wait for a Metadata answer (or the request timeout, if shorter):
/// a paused or overloaded broker must not hold up finding the others for long.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

impl Router {
    /// A router over the comma-separated bootstrap `list`; connects to nothing yet.
    pub(crate) fn new(list: &str, options: ConnectionOptions) -> Result<Router> {
        let seeds = bootstrap::parse(list)?
            .into_iter()
            .map(str::to_string)
            .collect();
        Ok(Router {
            seeds,
            options,
            view: Arc::new(Mutex::new(View::default())),
            pool: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// A router over the bootstrap `list` whose pool starts with `conn`, the
    /// broker it was bootstrapped from.
    pub(crate) fn with(list: &str, conn: Connection) -> Result<Router> {
        let router = Router::new(list, conn.options().clone())?;
        Ok(router.pooling(conn))
    }

    /// A router whose only seed is `conn`'s broker, pooling `conn`.
    pub(crate) fn for_connection(conn: Connection) -> Router {
        let router = Router {
            seeds: vec![conn.addr().to_string()],
            options: conn.options().clone(),
            view: Arc::new(Mutex::new(View::default())),
            pool: tokio::sync::Mutex::new(HashMap::new()),
        };
        router.pooling(conn)
    }

    /// This router with `conn` in its pool.
    fn pooling(mut self, conn: Connection) -> Router {
        self.pool.get_mut().insert(conn.addr().to_string(), conn);
        self
    }

    /// A router that shares this one's view of the cluster but opens connections
    /// of its own (long-polling fetches must not delay short requests).
    pub(crate) fn sibling(&self) -> Router {
        Router {
            seeds: self.seeds.clone(),
            options: self.options.clone(),
            view: Arc::clone(&self.view),
            pool: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// An open connection to the broker at `addr`, from the pool or newly opened.
    pub(crate) async fn connection(&self, addr: &str) -> Result<Connection> {
        let mut pool = self.pool.lock().await;
        if let Some(conn) = pool.get(addr).filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        pool.remove(addr);
        drop(pool);
        let conn = Connection::connect_with(addr, self.options.clone()).await?;
        let mut pool = self.pool.lock().await;
        // Another caller may have connected meanwhile: keep one, close the other.
        if let Some(open) = pool.get(addr).filter(|c| !c.is_closed()) {
            conn.close();
            return Ok(open.clone());
        }
        pool.insert(addr.to_string(), conn.clone());
        Ok(conn)
    }

    /// An open connection to any broker: an open one from the pool (seeds first),
    /// else the first of the seeds and then the known brokers that answers. When
    /// none answers, the error names each address tried and why it failed.
    pub(crate) async fn any(&self) -> Result<Connection> {
        let candidates = self.candidates();
        {
            let pool = self.pool.lock().await;
            if let Some(conn) = candidates
                .iter()
                .find_map(|a| pool.get(a).filter(|c| !c.is_closed()))
            {
                return Ok(conn.clone());
            }
        }
        let mut failures = Vec::new();
        for addr in &candidates {
            match self.connection(addr).await {
                Ok(conn) => return Ok(conn),
                Err(Error::Connect { reason, .. }) => failures.push(format!("{addr}: {reason}")),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Connect {
            addr: candidates.join(","),
            reason: format!("no broker answered ({})", failures.join("; ")),
        })
    }

    /// The seeds, then every other broker the metadata named; suspects last.
    fn candidates(&self) -> Vec<String> {
        let mut out = self.seeds.clone();
        let view = locks::lock(&self.view);
        let mut known: Vec<(&i32, &String)> = view.brokers.iter().collect();
        known.sort();
        for (_, addr) in known {
            if !out.contains(addr) {
                out.push(addr.clone());
            }
        }
        // A stable sort: the order among the trusted, and among the suspects, stays.
        out.sort_by_key(|addr| view.suspects.contains(addr));
        out
    }

    /// Asks any broker for the metadata of `topics` (all topics when empty) and
    /// believes what it says about the brokers and those topics' leaders.
    pub(crate) async fn refresh(&self, topics: Vec<String>) -> Result<MetadataResponse> {
        locks::lock(&self.view).refreshed_at = Some(Instant::now());
        let conn = self.any().await?;
        let wait = METADATA_TIMEOUT.min(self.options.request_timeout);
        let answer = match tokio::time::timeout(wait, conn.call(MetadataRequest { topics })).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::Timeout {
                what: format!("a Metadata answer from {}", conn.addr()),
                after: wait,
            }),
        };
        let metadata = match answer {
            Ok(m) => m,
            Err(e) => {
                if !matches!(e, Error::Broker { .. }) {
                    conn.close();
                    locks::lock(&self.view)
                        .suspects
                        .insert(conn.addr().to_string());
                }
                return Err(e);
            }
        };
        locks::lock(&self.view).suspects.remove(conn.addr());
        self.absorb(&metadata);
        Ok(metadata)
    }

    /// Refreshes `topics` unless the last refresh was less than `interval` ago.
    /// Returns whether it asked, or why the ask failed.
    pub(crate) async fn refresh_if_due(
        &self,
        topics: Vec<String>,
        interval: Duration,
    ) -> Result<bool> {
        let due = locks::lock(&self.view)
            .refreshed_at
            .is_none_or(|at| at.elapsed() >= interval);
        if !due {
            return Ok(false);
        }
        self.refresh(topics).await.map(|_| true)
    }

    /// Takes in a Metadata answer.
    fn absorb(&self, metadata: &MetadataResponse) {
        let mut view = locks::lock(&self.view);
        for b in &metadata.brokers {
            view.brokers
                .insert(b.node_id, format!("{}:{}", b.host, b.port));
        }
        for t in &metadata.topics {
            if !t.error_code.is_ok() {
                view.leaders.remove(&t.name);
                continue;
            }
            let known = |id: i32| view.brokers.contains_key(&id).then_some(id);
            let count = t.partitions.len();
            let mut leaders = vec![None; count];
            for p in &t.partitions {
                let slot = usize::try_from(p.partition)
                    .ok()
                    .and_then(|i| leaders.get_mut(i));
                if let Some(slot) = slot {
                    *slot = p.error_code.is_ok().then(|| known(p.leader_id)).flatten();
                }
            }
            view.leaders.insert(t.name.clone(), leaders);
        }
    }

    /// The address of the broker leading `topic`/`partition`, if known.
    pub(crate) fn leader(&self, topic: &str, partition: i32) -> Option<String> {
        self.with_leader(topic, partition, |addr| addr.map(str::to_string))
    }

    /// `f` of the address of the broker leading `topic`/`partition`, if known,
    /// read in place: the senders ask this for every partition on every round,
    /// so it copies nothing.
    pub(crate) fn with_leader<R>(
        &self,
        topic: &str,
        partition: i32,
        f: impl FnOnce(Option<&str>) -> R,
    ) -> R {
        let view = locks::lock(&self.view);
        let id = view
            .leaders
            .get(topic)
            .zip(usize::try_from(partition).ok())
            .and_then(|(leaders, at)| leaders.get(at).copied().flatten());
        f(id.and_then(|id| view.brokers.get(&id)).map(String::as_str))
    }

    /// Forgets the leader of `topic`/`partition` (it refused the partition).
    pub(crate) fn forget_leader(&self, topic: &str, partition: i32) {
        let mut view = locks::lock(&self.view);
        let slot = view
            .leaders
            .get_mut(topic)
            .and_then(|ls| ls.get_mut(usize::try_from(partition).ok()?));
        if let Some(slot) = slot {
            *slot = None;
        }
    }

    /// Forgets every partition led by the broker at `addr` (it could not be
    /// reached), so the next refresh decides where they went.
    pub(crate) fn forget_broker(&self, addr: &str) {
        let mut view = locks::lock(&self.view);
        let ids: Vec<i32> = view
            .brokers
            .iter()
            .filter(|(_, a)| a.as_str() == addr)
            .map(|(id, _)| *id)
            .collect();
        for leaders in view.leaders.values_mut() {
            for slot in leaders.iter_mut() {
                if slot.is_some_and(|id| ids.contains(&id)) {
                    *slot = None;
                }
            }
        }
    }

    /// `items` grouped by the address of their partition's leader (`key` names
    /// the partition), and those whose leader is not known.
    pub(crate) fn split<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        key: impl Fn(&T) -> (&str, i32),
    ) -> (BTreeMap<String, Vec<T>>, Vec<T>) {
        let mut routed: BTreeMap<String, Vec<T>> = BTreeMap::new();
        let mut unrouted = Vec::new();
        for item in items {
            let (topic, partition) = key(&item);
            match self.leader(topic, partition) {
                Some(addr) => routed.entry(addr).or_default().push(item),
                None => unrouted.push(item),
            }
        }
        (routed, unrouted)
    }

    /// Like [`Router::split`], first asking the metadata for the topics of items
    /// whose leader is not known, unless it was asked less than `interval` ago.
    pub(crate) async fn route<T>(
        &self,
        items: Vec<T>,
        key: impl Fn(&T) -> (&str, i32),
        interval: Duration,
    ) -> Routes<T> {
        let (mut routed, mut unrouted) = self.split(items, &key);
        let mut refresh_error = None;
        if !unrouted.is_empty() {
            let topics: BTreeSet<String> = unrouted.iter().map(|i| key(i).0.to_string()).collect();
            match self
                .refresh_if_due(topics.into_iter().collect(), interval)
                .await
            {
                Ok(true) => {
                    let (more, still) = self.split(unrouted, &key);
                    for (addr, items) in more {
                        routed.entry(addr).or_default().extend(items);
                    }
                    unrouted = still;
                }
                Ok(false) => {}
                Err(e) => refresh_error = Some(e),
            }
        }
        Routes {
            routed,
            unrouted,
            refresh_error,
        }
    }

    /// Like [`Router::route`], always asking; fails if an item still has no
    /// known leader (with LEADER_NOT_AVAILABLE, which callers retry, or why the
    /// metadata could not be had).
    pub(crate) async fn by_leader<T>(
        &self,
        items: Vec<T>,
        key: impl Fn(&T) -> (&str, i32),
    ) -> Result<BTreeMap<String, Vec<T>>> {
        let routes = self.route(items, &key, Duration::ZERO).await;
        match routes.failure(key) {
            Some(e) => Err(e),
            None => Ok(routes.routed),
        }
    }

    /// Learns from `error`, met talking to the broker at `addr`: a partition it
    /// refused is forgotten, and so is every partition it leads when it could not
    /// be reached or did not answer.
    pub(crate) fn note_failure(&self, error: &Error, addr: &str) {
        match error {
            Error::Broker {
                code:
                    ErrorCode::NotLeaderOrFollower
                    | ErrorCode::LeaderNotAvailable
                    | ErrorCode::RequestTimedOut,
                topic: Some(topic),
                partition: Some(partition),
                ..
            } => self.forget_leader(topic, *partition),
            Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Timeout { .. } => {
                self.forget_broker(addr);
            }
            _ => {}
        }
    }

    /// Closes every pooled connection.
    pub(crate) async fn close(&self) {
        for (_, conn) in self.pool.lock().await.drain() {
            conn.close();
        }
    }
}

/// Polls the oldest of `requests` on each connection (`conn` names a request's
/// connection) and returns the place and output of the first that is ready.
/// Answers on one connection come in the order its requests were sent; this
/// keeps that order per connection while a slow broker holds up no other's.
pub(crate) fn poll_oldest_per_connection<T, O>(
    requests: &mut VecDeque<T>,
    cx: &mut Context<'_>,
    conn: impl Fn(&T) -> u64,
    mut poll: impl FnMut(&mut T, &mut Context<'_>) -> Poll<O>,
) -> Poll<(usize, O)> {
    let mut polled: Vec<u64> = Vec::new();
    for (at, request) in requests.iter_mut().enumerate() {
        let id = conn(request);
        if polled.contains(&id) {
            continue;
        }
        polled.push(id);
        if let Poll::Ready(out) = poll(request, cx) {
            return Poll::Ready((at, out));
        }
    }
    Poll::Pending
}

#[cfg(test)]
mod tests {
    use rill_protocol::api::metadata::{MetadataBroker, MetadataPartition, MetadataTopic};
    use rill_protocol::ErrorCode;

    use super::*;

    fn metadata(leaders: &[(i32, ErrorCode, i32)]) -> MetadataResponse {
        MetadataResponse {
            brokers: (1..=3)
                .map(|id| MetadataBroker {
                    node_id: id,
                    host: "127.0.0.1".into(),
                    port: 9400 + id,
                })
                .collect(),
            topics: vec![MetadataTopic {
                error_code: ErrorCode::None,
                error_message: None,
                name: "orders".into(),
                partitions: leaders
                    .iter()
                    .map(|&(partition, error_code, leader_id)| MetadataPartition {
                        partition,
                        error_code,
                        leader_id,
                        leader_epoch: 1,
                        replicas: vec![leader_id],
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn leaders_are_believed_only_for_listed_brokers_and_healthy_partitions() {
        let router = Router::new("127.0.0.1:9401", ConnectionOptions::default()).expect("list");
        router.absorb(&metadata(&[
            (0, ErrorCode::None, 2),
            (1, ErrorCode::None, 7),
            (2, ErrorCode::LeaderNotAvailable, 3),
            (9, ErrorCode::None, 1),
        ]));
        assert_eq!(
            router.leader("orders", 0).as_deref(),
            Some("127.0.0.1:9402")
        );
        assert_eq!(router.leader("orders", 1), None, "broker 7 is not listed");
        assert_eq!(router.leader("orders", 2), None, "no leader");
        assert_eq!(router.leader("orders", 3), None, "out of range");
        assert_eq!(router.leader("orders", -1), None);
        assert_eq!(router.leader("other", 0), None);
    }

    #[test]
    fn a_refused_or_unreachable_leader_is_forgotten() {
        let router = Router::new("127.0.0.1:9401", ConnectionOptions::default()).expect("list");
        router.absorb(&metadata(&[
            (0, ErrorCode::None, 1),
            (1, ErrorCode::None, 2),
            (2, ErrorCode::None, 2),
        ]));
        router.forget_leader("orders", 0);
        assert_eq!(router.leader("orders", 0), None);
        router.forget_broker("127.0.0.1:9402");
        assert_eq!(router.leader("orders", 1), None);
        assert_eq!(router.leader("orders", 2), None);
        router.absorb(&metadata(&[(0, ErrorCode::None, 3)]));
        assert_eq!(
            router.leader("orders", 0).as_deref(),
            Some("127.0.0.1:9403")
        );
        assert_eq!(
            router.candidates(),
            vec!["127.0.0.1:9401", "127.0.0.1:9402", "127.0.0.1:9403"]
        );
    }
}

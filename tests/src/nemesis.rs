//! The faults a fault-schedule test throws at a three-broker [`Cluster`]
//! started with [`Cluster::start_linked`], one at a time: each is applied, held
//! for a while, and healed before [`Nemesis::strike`] returns.
//!
//! Victims are picked from the cluster's own view: a partition's leader comes
//! from Metadata asked of a running broker, and its followers are the other two
//! brokers (every partition is replicated to all three). When no broker names a
//! leader (an election under way), a random broker stands in.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::client::TestClient;
use crate::cluster::Cluster;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// SIGKILL a partition's leader, start it again after the hold.
    KillLeader,
    /// SIGKILL a follower, start it again after the hold.
    KillFollower,
    /// SIGSTOP a leader past the election timeout, then SIGCONT it: it must
    /// step down and drop what it did not commit.
    PauseLeader,
    /// Cut every link to and from a leader while clients still reach it.
    IsolateLeader,
    /// Cut one direction of the link between a leader and a follower.
    CutOneWay,
    /// Delay every answer on the links of one broker.
    DelayLinks,
    /// Restart all three brokers one after another (three fault events).
    RollingRestart,
    /// SIGKILL a follower, delete its data directory and start it again: it
    /// must get its partitions back from the others.
    WipeFollower,
}

/// Every fault, in the order a schedule cycles through them.
pub const ALL: [Fault; 8] = [
    Fault::KillLeader,
    Fault::KillFollower,
    Fault::PauseLeader,
    Fault::IsolateLeader,
    Fault::CutOneWay,
    Fault::DelayLinks,
    Fault::RollingRestart,
    Fault::WipeFollower,
];

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Fault::KillLeader => "kill leader",
            Fault::KillFollower => "kill follower",
            Fault::PauseLeader => "pause leader",
            Fault::IsolateLeader => "isolate leader",
            Fault::CutOneWay => "cut one way",
            Fault::DelayLinks => "delay links",
            Fault::RollingRestart => "rolling restart",
            Fault::WipeFollower => "wipe follower",
        };
        f.write_str(name)
    }
}

/// One fault as it happened.
#[derive(Debug, Clone)]
pub struct Event {
    /// What was done.
    pub fault: Fault,
    /// When it was applied.
    pub at: Instant,
    /// The broker it was done to.
    pub victim: usize,
    /// The partitions the victim led when it was struck, as far as known.
    pub led: Vec<i32>,
    /// How many fault events it counts for (a rolling restart is three).
    pub events: usize,
}

/// Picks victims and applies faults.
pub struct Nemesis {
    rng: StdRng,
    topic: String,
}

impl Nemesis {
    /// A nemesis for `topic` drawing its choices from `rng`.
    pub fn new(topic: &str, rng: StdRng) -> Nemesis {
        Nemesis {
            rng,
            topic: topic.to_string(),
        }
    }

    /// Applies `fault`, holds it for a random time and heals it.
    pub async fn strike(&mut self, cluster: &mut Cluster, fault: Fault) -> Event {
        let leaders = leaders(cluster, &self.topic).await;
        let leader = match leaders.choose(&mut self.rng) {
            Some((_, id)) => *id,
            None => self.rng.gen_range(1..=3),
        };
        let follower = if self.rng.gen_bool(0.5) {
            leader % 3 + 1
        } else {
            (leader + 1) % 3 + 1
        };
        let victim = match fault {
            Fault::KillFollower | Fault::WipeFollower => follower,
            _ => leader,
        };
        let led = leaders
            .iter()
            .filter(|(_, id)| *id == victim)
            .map(|(p, _)| *p)
            .collect();
        let hold = Duration::from_millis(self.rng.gen_range(300..1200));
        let at = Instant::now();
        let mut events = 1;
        match fault {
            Fault::KillLeader | Fault::KillFollower => {
                cluster.kill(victim);
                tokio::time::sleep(hold).await;
                cluster.restart(victim);
            }
            Fault::PauseLeader => {
                cluster.pause(victim, true);
                // Past the longest election timeout, so the others elect.
                tokio::time::sleep(hold + Duration::from_millis(500)).await;
                cluster.pause(victim, false);
            }
            Fault::IsolateLeader => {
                cluster.isolate(victim, true);
                tokio::time::sleep(hold + Duration::from_millis(500)).await;
                cluster.isolate(victim, false);
            }
            Fault::CutOneWay => {
                let link = if self.rng.gen_bool(0.5) {
                    cluster.link(leader, follower)
                } else {
                    cluster.link(follower, leader)
                };
                link.partition(true);
                tokio::time::sleep(hold).await;
                link.partition(false);
            }
            Fault::DelayLinks => {
                let delay = Duration::from_millis(self.rng.gen_range(20..200));
                for other in (1..=3).filter(|o| *o != victim) {
                    cluster.link(victim, other).delay(delay);
                    cluster.link(other, victim).delay(delay);
                }
                tokio::time::sleep(hold).await;
                cluster.heal();
            }
            Fault::RollingRestart => {
                events = 3;
                for id in 1..=3 {
                    cluster.kill(id);
                    cluster.restart(id);
                    tokio::time::sleep(hold / 2).await;
                }
            }
            Fault::WipeFollower => {
                cluster.kill(victim);
                cluster.wipe(victim);
                tokio::time::sleep(hold).await;
                cluster.restart(victim);
            }
        }
        Event {
            fault,
            at,
            victim,
            led,
            events,
        }
    }
}

/// Waits up to `timeout` until the cluster is whole again: all three brokers
/// run, every one of the `groups` Raft groups (the metadata group and each
/// partition) has a leader reporting both followers at most `slack` entries
/// behind (`rill_replica_lag_entries`), and every broker has applied each
/// group to within `slack` entries of the others (`rill_raft_applied_index`).
/// The second test matters after a wipe: a leader keeps a wiped follower's old
/// progress until it next hears from it, so its lag alone looks whole. Returns
/// how long that took, or `None` if it did not happen in time.
pub async fn replicated(
    cluster: &Cluster,
    groups: usize,
    slack: i64,
    timeout: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let mut lags = Vec::new();
        let mut applied: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for id in 1..=3 {
            let Some(text) = cluster.metrics(id).await else {
                continue;
            };
            for line in text.lines() {
                let Some((name, value)) = line.rsplit_once(' ') else {
                    continue;
                };
                let Ok(value) = value.parse::<i64>() else {
                    continue;
                };
                if name.starts_with("rill_replica_lag_entries{") {
                    lags.push(value);
                } else if let Some(labels) = name.strip_prefix("rill_raft_applied_index") {
                    applied.entry(labels.to_string()).or_default().push(value);
                }
            }
        }
        let lag_ok = lags.len() == 2 * groups && lags.iter().all(|lag| (0..=slack).contains(lag));
        let applied_ok = applied.len() == groups
            && applied.values().all(|at| {
                at.len() == 3
                    && at
                        .iter()
                        .max()
                        .zip(at.iter().min())
                        .is_some_and(|(hi, lo)| *lo >= 0 && hi - lo <= slack)
            });
        if lag_ok && applied_ok {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Each partition of `topic` with a leader, and the leader's id, as the first
/// running broker that answers Metadata within a second tells it.
pub async fn leaders(cluster: &Cluster, topic: &str) -> Vec<(i32, usize)> {
    for addr in cluster.addrs() {
        if let Some(found) = ask_leaders(addr, topic).await {
            return found;
        }
    }
    Vec::new()
}

async fn ask_leaders(addr: SocketAddr, topic: &str) -> Option<Vec<(i32, usize)>> {
    let ask = async {
        let mut client = TestClient::connect(addr).await.ok()?;
        client.metadata(&[topic]).await.ok()
    };
    let metadata = tokio::time::timeout(Duration::from_secs(1), ask)
        .await
        .ok()
        .flatten()?;
    let topic = metadata.topics.into_iter().find(|t| t.name == topic)?;
    Some(
        topic
            .partitions
            .iter()
            .filter_map(|p| Some((p.partition, usize::try_from(p.leader_id).ok()?)))
            .filter(|(_, id)| (1..=3).contains(id))
            .collect(),
    )
}

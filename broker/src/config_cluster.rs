//! The `[cluster]` section of the configuration: how a broker joins a cluster.
//!
//! With no `listen` and no `peers` (the default) the broker is a one-node broker
//! and behaves exactly as it did before clusters existed. With both, it runs the
//! cluster listener on `listen` and a member of the metadata group whose voters
//! are `peers` (every broker's cluster listener, this one included, each named by
//! its node id). `validate` checks the section against the broker's `node_id`.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The most brokers a cluster may list in `peers`.
pub const MAX_PEERS: usize = 64;

/// The `[cluster]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Address of the inter-broker listener. Default: none (a one-node broker).
    pub listen: Option<SocketAddr>,
    /// Every broker's cluster listener, this one included: an array of
    /// `"ID@HOST:PORT"`, or one string of them separated by commas. Default: none.
    pub peers: Peers,
    /// Where this broker dials some peers instead of their address in `peers`
    /// (through a NAT, a tunnel or a test's fault proxy): `"ID@HOST:PORT"` entries
    /// in the form of `peers`, each naming another broker of `peers`. The
    /// cluster still knows each broker by its `peers` address. Default: none.
    pub dial: Peers,
    /// How often a Raft leader sends heartbeats, in ms. Default 50; allowed
    /// 10 ..= 10000.
    pub heartbeat_ms: u64,
    /// A follower that hears no leader for a random time between
    /// `election_min_ms` and `election_max_ms` starts an election. Defaults 200 and
    /// 400; the minimum must be at least twice the heartbeat and below the maximum.
    pub election_min_ms: u64,
    /// See `election_min_ms`. Default 400; at most 60000.
    pub election_max_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            listen: None,
            peers: Peers::default(),
            dial: Peers::default(),
            heartbeat_ms: 50,
            election_min_ms: 200,
            election_max_ms: 400,
        }
    }
}

/// One broker of the cluster: its node id and cluster listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The broker's node id.
    pub id: u64,
    /// `host:port` of its cluster listener (a host name or an IP address).
    pub addr: String,
}

impl Peer {
    /// Parses `ID@HOST:PORT`.
    pub fn parse(text: &str) -> Result<Peer, String> {
        let text = text.trim();
        let allowed = "expected ID@HOST:PORT, e.g. 1@rill-1:9500";
        let (id, addr) = text
            .split_once('@')
            .ok_or_else(|| format!("peer {text:?}: no '@'; {allowed}"))?;
        let id: u64 = id.parse().map_err(|_| {
            format!("peer {text:?}: node id {id:?} is not a number 0 or more; {allowed}")
        })?;
        if id > i32::MAX as u64 {
            return Err(format!("peer {text:?}: node id {id} is above {}", i32::MAX));
        }
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("peer {text:?}: no port; {allowed}"))?;
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!(
                "peer {text:?}: the host is empty or has spaces; {allowed}"
            ));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("peer {text:?}: port {port:?} is not 1 ..= 65535")),
        }
        Ok(Peer {
            id,
            addr: addr.to_string(),
        })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.id, self.addr)
    }
}

/// The peers, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PeersToml", into = "PeersToml")]
pub struct Peers(pub Vec<Peer>);

/// The TOML shapes of [`Peers`]: an array of strings or one comma-separated
/// string (the form of `--peers` and `RILL_CLUSTER_PEERS`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum PeersToml {
    List(Vec<String>),
    Joined(String),
    Other(toml::Value),
}

impl TryFrom<PeersToml> for Peers {
    type Error = String;

    fn try_from(value: PeersToml) -> Result<Peers, String> {
        let entries: Vec<String> = match value {
            PeersToml::List(list) => list,
            PeersToml::Joined(text) if text.trim().is_empty() => Vec::new(),
            PeersToml::Joined(text) => text.split(',').map(str::to_string).collect(),
            PeersToml::Other(other) => {
                return Err(format!(
                    "peers must be an array of \"ID@HOST:PORT\" or one comma-separated string of them, not {other}"
                ))
            }
        };
        entries
            .iter()
            .map(|e| Peer::parse(e))
            .collect::<Result<_, _>>()
            .map(Peers)
    }
}

impl From<Peers> for PeersToml {
    fn from(value: Peers) -> PeersToml {
        PeersToml::List(value.0.iter().map(Peer::to_string).collect())
    }
}

impl ClusterConfig {
    /// Whether the section makes this broker part of a cluster.
    pub fn is_clustered(&self) -> bool {
        self.listen.is_some() || !self.peers.0.is_empty()
    }

    /// Checks the section for a broker whose node id is `node_id`.
    pub fn validate(&self, node_id: i32) -> Result<(), String> {
        if !self.is_clustered() {
            return Ok(());
        }
        let peers = &self.peers.0;
        if self.listen.is_none() {
            return Err("cluster.peers is set but cluster.listen is not: a broker in a cluster needs its inter-broker listener".to_string());
        }
        if peers.is_empty() {
            return Err("cluster.listen is set but cluster.peers is empty: list every broker's cluster listener as ID@HOST:PORT, this one included".to_string());
        }
        if peers.len() > MAX_PEERS {
            return Err(format!(
                "cluster.peers lists {} brokers: allowed at most {MAX_PEERS}",
                peers.len()
            ));
        }
        for (i, peer) in peers.iter().enumerate() {
            if let Some(twin) = peers[..i].iter().find(|p| p.id == peer.id) {
                return Err(format!(
                    "cluster.peers: node id {} appears twice ({twin} and {peer})",
                    peer.id
                ));
            }
            if let Some(twin) = peers[..i].iter().find(|p| p.addr == peer.addr) {
                return Err(format!(
                    "cluster.peers: address {} appears twice ({twin} and {peer})",
                    peer.addr
                ));
            }
        }
        let me = u64::try_from(node_id).map_err(|_| {
            format!("node_id = {node_id}: a broker in a cluster needs a node id of 0 or more")
        })?;
        if !peers.iter().any(|p| p.id == me) {
            return Err(format!(
                "node_id = {node_id} is not in cluster.peers ({}): list this broker too",
                peers
                    .iter()
                    .map(Peer::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.validate_dial(me)?;
        if !(10..=10_000).contains(&self.heartbeat_ms) {
            return Err(format!(
                "cluster.heartbeat_ms = {}: allowed 10 ..= 10000",
                self.heartbeat_ms
            ));
        }
        if self.election_min_ms < 2 * self.heartbeat_ms
            || self.election_max_ms <= self.election_min_ms
            || self.election_max_ms > 60_000
        {
            return Err(format!(
                "cluster.election_min_ms = {} and cluster.election_max_ms = {}: the minimum must be at least twice cluster.heartbeat_ms ({}), the maximum above the minimum and at most 60000",
                self.election_min_ms, self.election_max_ms, self.heartbeat_ms
            ));
        }
        Ok(())
    }
}

impl ClusterConfig {
    /// Checks `dial`: each entry names another broker of `peers`, once.
    fn validate_dial(&self, me: u64) -> Result<(), String> {
        let dial = &self.dial.0;
        for (i, entry) in dial.iter().enumerate() {
            if entry.id == me {
                return Err(format!(
                    "cluster.dial: {entry} names this broker (node_id = {me}); list only the peers it dials elsewhere"
                ));
            }
            if !self.peers.0.iter().any(|p| p.id == entry.id) {
                return Err(format!(
                    "cluster.dial: {entry} names node {}, which is not in cluster.peers",
                    entry.id
                ));
            }
            if dial[..i].iter().any(|d| d.id == entry.id) {
                return Err(format!("cluster.dial: node {} appears twice", entry.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clustered(peers: &str) -> ClusterConfig {
        ClusterConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9500))),
            peers: Peers::try_from(PeersToml::Joined(peers.to_string())).expect("peers parse"),
            ..ClusterConfig::default()
        }
    }

    #[test]
    fn peers_parse_from_a_list_or_a_joined_string() {
        let joined = clustered(" 1@rill-1:9500, 2@10.0.0.2:9500 ,3@rill-3:9500");
        assert_eq!(joined.peers.0.len(), 3);
        assert_eq!(
            joined.peers.0[1],
            Peer {
                id: 2,
                addr: "10.0.0.2:9500".into()
            }
        );
        let text = "[cluster]\nlisten = \"127.0.0.1:9500\"\npeers = [\"1@a:1\", \"2@b:2\"]\n";
        #[derive(Deserialize)]
        struct File {
            cluster: ClusterConfig,
        }
        let file: File = toml::from_str(text).expect("toml");
        assert_eq!(
            file.cluster
                .peers
                .0
                .iter()
                .map(|p| p.id)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        let back = toml::to_string(&file.cluster).expect("serialize");
        assert!(back.contains("peers = [\"1@a:1\", \"2@b:2\"]"), "{back}");
    }

    #[test]
    fn malformed_peers_name_themselves() {
        for (bad, says) in [
            ("2@", "no port"),
            ("x@h:1", "\"x\" is not a number"),
            ("2@h:99999", "not 1 ..= 65535"),
            ("2h:1", "no '@'"),
            ("2@:1", "host is empty"),
        ] {
            let err = Peers::try_from(PeersToml::Joined(bad.into())).expect_err(bad);
            assert!(err.contains(bad) && err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn every_rule_is_checked() {
        assert_eq!(ClusterConfig::default().validate(0), Ok(()));
        let ok = clustered("1@a:1,2@b:2,3@c:3");
        assert_eq!(ok.validate(2), Ok(()));
        let cases: Vec<(ClusterConfig, i32, &str)> = vec![
            (
                ClusterConfig {
                    listen: None,
                    ..ok.clone()
                },
                1,
                "cluster.listen is not",
            ),
            (
                ClusterConfig {
                    peers: Peers::default(),
                    ..ok.clone()
                },
                1,
                "peers is empty",
            ),
            (clustered("1@a:1,1@b:2"), 1, "node id 1 appears twice"),
            (clustered("1@a:1,2@a:1"), 1, "address a:1 appears twice"),
            (ok.clone(), 4, "node_id = 4 is not in cluster.peers"),
            (ok.clone(), -1, "node id of 0 or more"),
            (
                ClusterConfig {
                    dial: Peers(vec![Peer::parse("2@proxy:7").expect("peer")]),
                    ..ok.clone()
                },
                2,
                "2@proxy:7 names this broker",
            ),
            (
                ClusterConfig {
                    dial: Peers(vec![Peer::parse("9@proxy:7").expect("peer")]),
                    ..ok.clone()
                },
                1,
                "names node 9, which is not in cluster.peers",
            ),
            (
                ClusterConfig {
                    dial: Peers(vec![
                        Peer::parse("2@proxy:7").expect("peer"),
                        Peer::parse("2@proxy:8").expect("peer"),
                    ]),
                    ..ok.clone()
                },
                1,
                "node 2 appears twice",
            ),
            (
                ClusterConfig {
                    heartbeat_ms: 5,
                    ..ok.clone()
                },
                1,
                "heartbeat_ms = 5",
            ),
            (
                ClusterConfig {
                    election_min_ms: 90,
                    ..ok.clone()
                },
                1,
                "election_min_ms = 90",
            ),
            (
                ClusterConfig {
                    election_max_ms: 200,
                    ..ok.clone()
                },
                1,
                "election_max_ms = 200",
            ),
        ];
        for (config, node_id, says) in cases {
            let err = config.validate(node_id).expect_err(says);
            assert!(err.contains(says), "{says}: {err}");
        }
        let many = (0..=MAX_PEERS)
            .map(|i| format!("{i}@h:{}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let err = clustered(&many).validate(0).expect_err("too many");
        assert!(err.contains("at most 64"), "{err}");
    }
}

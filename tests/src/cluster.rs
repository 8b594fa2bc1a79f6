//! Three `rill-broker` processes configured as one cluster on 127.0.0.1, each
//! with its own client port, cluster port and data directory, for tests that
//! kill brokers with SIGKILL and start them again.
//!
//! Cluster ports are chosen once (bound, read and released) and kept across
//! restarts, since the peers list names them. A broker's client port is the one
//! it first listened on, kept across restarts too, as a real broker keeps its
//! address: clients that knew it find it again.
//!
//! [`Cluster::start_linked`] puts every inter-broker link through a fault proxy
//! of its own: broker `a` dials broker `b` at the proxy `link(a, b)`
//! (`cluster.dial`), so a test can cut one direction of one pair, isolate a
//! broker from the others while clients still reach it, or delay a link. A
//! link carries the requests its dialler sends and their answers, so cutting
//! `link(a, b)` stops `a`'s Raft requests to `b` while `b`'s to `a` still flow.
//! Brokers can also be paused (SIGSTOP) and resumed (SIGCONT), and a broker's
//! data directory wiped while it is down.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::client::TestClient;
use crate::process::BrokerProcess;
use crate::proxy::FaultProxy;

/// Raft timing for tests that do not measure it: the defaults, spelled out so
/// the tests do not move when the defaults do.
pub const TIMING: &[(&str, &str)] = &[
    ("RILL_CLUSTER_HEARTBEAT_MS", "50"),
    ("RILL_CLUSTER_ELECTION_MIN_MS", "200"),
    ("RILL_CLUSTER_ELECTION_MAX_MS", "400"),
];

/// A port on 127.0.0.1 that is free now and that no other call in this
/// process has returned, for a listener that binds it later.
///
/// It is picked below the kernel's ephemeral range (ip_local_port_range),
/// from which listeners and proxies bound to port 0 get theirs: a port picked
/// there and released could be taken by one of them before its broker binds
/// it (seen: a broker refused to start with "Address already in use", and
/// another's proxy answered in its place).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    let below = ephemeral_from.max(12_000);
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    for _ in 0..10_000 {
        let port = rand::thread_rng().gen_range(10_000..below);
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 in 10000..{below}");
}

/// Three broker processes forming one cluster.
#[derive(Debug)]
pub struct Cluster {
    binary: PathBuf,
    data: PathBuf,
    env: Vec<(String, String)>,
    /// The cluster (Raft) port of broker `i + 1`.
    pub ports: [u16; 3],
    /// Broker `i + 1`, or `None` while it is down.
    pub brokers: Vec<Option<BrokerProcess>>,
    /// The client address broker `i + 1` first listened on.
    clients: Vec<SocketAddr>,
    /// Where broker `i + 1` serves `/metrics`.
    metrics: [u16; 3],
    /// The link from broker `a` to broker `b` at `links[a - 1][b - 1]` when the
    /// links are proxied (`None` on the diagonal).
    links: Vec<Vec<Option<FaultProxy>>>,
}

impl Cluster {
    /// Starts brokers 1 to 3 of `binary` in `data` with the extra environment
    /// `env`, and waits until broker 1 lists all three.
    pub async fn start(binary: &str, data: &Path, env: &[(&str, &str)]) -> Cluster {
        Cluster::launch(binary, data, env, false).await
    }

    /// Like [`Cluster::start`], with every inter-broker link through its own
    /// fault proxy ([`Cluster::link`]).
    pub async fn start_linked(binary: &str, data: &Path, env: &[(&str, &str)]) -> Cluster {
        Cluster::launch(binary, data, env, true).await
    }

    async fn launch(binary: &str, data: &Path, env: &[(&str, &str)], linked: bool) -> Cluster {
        let ports = [free_port(), free_port(), free_port()];
        let mut links = Vec::new();
        for from in 0..3 {
            let mut row = Vec::new();
            for (to, port) in ports.iter().enumerate() {
                row.push(if linked && from != to {
                    let upstream = SocketAddr::from(([127, 0, 0, 1], *port));
                    Some(FaultProxy::start(upstream).await.expect("link proxy"))
                } else {
                    None
                });
            }
            links.push(row);
        }
        let mut cluster = Cluster {
            binary: PathBuf::from(binary),
            data: data.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ports,
            brokers: Vec::new(),
            clients: Vec::new(),
            metrics: [free_port(), free_port(), free_port()],
            links,
        };
        for id in 1..=3 {
            let broker = cluster.spawn(id);
            cluster.clients.push(broker.addr());
            cluster.brokers.push(Some(broker));
        }
        let all: Vec<(i32, SocketAddr)> = (1..=3).zip(cluster.addrs()).collect();
        lists(cluster.addrs()[0], &all).await;
        cluster
    }

    /// Starts broker `id` (1 to 3) in its directory under the data directory.
    fn spawn(&self, id: usize) -> BrokerProcess {
        let peers = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let listen = format!("127.0.0.1:{}", self.ports[id - 1]);
        let node_id = id.to_string();
        let args = [
            "--node-id",
            node_id.as_str(),
            "--cluster-listen",
            listen.as_str(),
            "--peers",
            peers.as_str(),
        ];
        let dial = self.links[id - 1]
            .iter()
            .enumerate()
            .filter_map(|(to, link)| link.as_ref().map(|l| format!("{}@{}", to + 1, l.addr())))
            .collect::<Vec<_>>()
            .join(",");
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if !dial.is_empty() {
            env.push(("RILL_CLUSTER_DIAL", dial.as_str()));
        }
        let metrics = format!("127.0.0.1:{}", self.metrics[id - 1]);
        env.push(("RILL_METRICS_LISTEN", metrics.as_str()));
        let dir = self.dir(id);
        let listen = self
            .clients
            .get(id - 1)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        BrokerProcess::start_on(&self.binary, &dir, listen, &args, &env).expect("start broker")
    }

    /// The client address of broker `id` (1 to 3), which must be running.
    pub fn addr(&self, id: usize) -> SocketAddr {
        self.brokers[id - 1]
            .as_ref()
            .map(BrokerProcess::addr)
            .unwrap_or_else(|| panic!("broker {id} is down"))
    }

    /// The client addresses of the running brokers, in id order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.brokers
            .iter()
            .flatten()
            .map(BrokerProcess::addr)
            .collect()
    }

    /// The running brokers' client addresses as a bootstrap list (`a,b,c`).
    pub fn bootstrap(&self) -> String {
        self.addrs()
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// SIGKILLs broker `id` (1 to 3).
    pub fn kill(&mut self, id: usize) {
        if let Some(mut broker) = self.brokers[id - 1].take() {
            broker.kill().expect("kill broker");
        }
    }

    /// Starts broker `id` (1 to 3) again on its data directory and client port.
    pub fn restart(&mut self, id: usize) {
        let broker = self.spawn(id);
        self.brokers[id - 1] = Some(broker);
    }

    /// Starts broker `id` (1 to 3) again on its data directory and a new client
    /// port, as a broker moved to another address.
    pub fn restart_elsewhere(&mut self, id: usize) {
        self.clients[id - 1] = SocketAddr::from(([127, 0, 0, 1], 0));
        let broker = self.spawn(id);
        self.clients[id - 1] = broker.addr();
        self.brokers[id - 1] = Some(broker);
    }

    /// Broker `id`'s Prometheus metrics text, if it is running and answers
    /// within a second.
    pub async fn metrics(&self, id: usize) -> Option<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.brokers[id - 1].as_ref()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.metrics[id - 1]));
        let get = async {
            let mut socket = tokio::net::TcpStream::connect(addr).await.ok()?;
            let request = "GET /metrics HTTP/1.1\r\nHost: rill\r\nConnection: close\r\n\r\n";
            socket.write_all(request.as_bytes()).await.ok()?;
            let mut response = String::new();
            socket.read_to_string(&mut response).await.ok()?;
            response
                .split_once("\r\n\r\n")
                .map(|(_, body)| body.to_string())
        };
        tokio::time::timeout(Duration::from_secs(1), get)
            .await
            .ok()
            .flatten()
    }

    /// Broker `id`'s data directory.
    pub fn dir(&self, id: usize) -> PathBuf {
        self.data.join(format!("broker-{id}"))
    }

    /// Deletes the data directory of broker `id`, which must be down.
    pub fn wipe(&mut self, id: usize) {
        assert!(self.brokers[id - 1].is_none(), "broker {id} is running");
        match std::fs::remove_dir_all(self.dir(id)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("wipe broker {id}: {e}"),
        }
    }

    /// Stops broker `id` with SIGSTOP (`true`) or lets it go on with SIGCONT
    /// (`false`); it keeps its sockets and answers nothing while stopped.
    pub fn pause(&self, id: usize, on: bool) {
        let Some(broker) = &self.brokers[id - 1] else {
            panic!("broker {id} is down");
        };
        let signal = if on { "-STOP" } else { "-CONT" };
        let status = std::process::Command::new("kill")
            .args([signal, &broker.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} broker {id}: {status}");
    }

    /// The proxy that broker `from` dials broker `to` through (clusters started
    /// with [`Cluster::start_linked`]).
    pub fn link(&self, from: usize, to: usize) -> &FaultProxy {
        self.links[from - 1][to - 1]
            .as_ref()
            .unwrap_or_else(|| panic!("no link {from} -> {to}: not started linked"))
    }

    /// Cuts (`true`) or heals every link to and from broker `id`: the other two
    /// still reach each other and clients still reach `id`.
    pub fn isolate(&self, id: usize, on: bool) {
        for other in (1..=3).filter(|o| *o != id) {
            self.link(id, other).partition(on);
            self.link(other, id).partition(on);
        }
    }

    /// Heals every link and takes away every delay.
    pub fn heal(&self) {
        for link in self.links.iter().flatten().flatten() {
            link.partition(false);
            link.delay(Duration::ZERO);
        }
    }
}

/// Waits up to 30 s until the broker at `at` lists exactly `want` (node id,
/// client address).
pub async fn lists(at: SocketAddr, want: &[(i32, SocketAddr)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    let wanted: Vec<(i32, String)> = want.iter().map(|(id, a)| (*id, a.to_string())).collect();
    while Instant::now() < deadline {
        if let Ok(mut client) = TestClient::connect(at).await {
            if let Ok(metadata) = client.metadata(&[]).await {
                last = metadata
                    .brokers
                    .iter()
                    .map(|b| (b.node_id, format!("{}:{}", b.host, b.port)))
                    .collect::<Vec<_>>();
                if last == wanted {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("broker {at} lists {last:?}, not {want:?}");
}

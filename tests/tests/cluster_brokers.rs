//! Three `rill-broker` processes configured as one cluster: each registers its
//! client address through the metadata group, so every broker's Metadata answer
//! lists all three; with one broker killed (SIGKILL) the other two still change
//! the metadata, and the killed one, restarted on a new client port, is listed
//! at its new address by the others.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use rill_tests::client::TestClient;
use rill_tests::process::BrokerProcess;

const BROKER: &str = env!("CARGO_BIN_EXE_broker_process");

/// A free port on 127.0.0.1 (bound, read and released).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn start(id: u64, ports: &[u16; 3], data: &Path) -> BrokerProcess {
    let peers = ports
        .iter()
        .enumerate()
        .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let listen = format!("127.0.0.1:{}", ports[(id - 1) as usize]);
    let node_id = id.to_string();
    let args = [
        "--node-id",
        node_id.as_str(),
        "--cluster-listen",
        listen.as_str(),
        "--peers",
        peers.as_str(),
    ];
    let dir = data.join(format!("broker-{id}"));
    BrokerProcess::start_with_env(
        BROKER,
        &dir,
        &args,
        &[
            ("RILL_CLUSTER_HEARTBEAT_MS", "50"),
            ("RILL_CLUSTER_ELECTION_MIN_MS", "200"),
            ("RILL_CLUSTER_ELECTION_MAX_MS", "400"),
        ],
    )
    .expect("start broker")
}

/// Waits until the broker at `at` lists exactly `want` (node id, client address).
async fn lists(at: SocketAddr, want: &[(i32, SocketAddr)]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = Vec::new();
    while Instant::now() < deadline {
        if let Ok(mut client) = TestClient::connect(at).await {
            if let Ok(metadata) = client.metadata(&[]).await {
                last = metadata
                    .brokers
                    .iter()
                    .map(|b| (b.node_id, format!("{}:{}", b.host, b.port)))
                    .collect::<Vec<_>>();
                let wanted: Vec<(i32, String)> =
                    want.iter().map(|(id, a)| (*id, a.to_string())).collect();
                if last == wanted {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("broker {at} lists {last:?}, not {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_brokers_share_metadata_and_survive_a_sigkill() {
    let data = tempfile::tempdir().expect("tempdir");
    let ports = [free_port(), free_port(), free_port()];
    let mut brokers: Vec<BrokerProcess> =
        (1..=3).map(|id| start(id, &ports, data.path())).collect();
    let mut all: Vec<(i32, SocketAddr)> = brokers
        .iter()
        .enumerate()
        .map(|(i, b)| (i as i32 + 1, b.addr()))
        .collect();
    for broker in &brokers {
        lists(broker.addr(), &all).await;
    }

    // SIGKILL broker 1 and start it again: it comes back on a new client port,
    // registers it, and the others list the new address.
    brokers[0].kill().expect("kill broker 1");
    brokers[0] = start(1, &ports, data.path());
    all[0] = (1, brokers[0].addr());
    for broker in &brokers {
        lists(broker.addr(), &all).await;
    }

    // With broker 3 gone for good, the other two still agree on changes.
    brokers[2].kill().expect("kill broker 3");
    brokers[1].kill().expect("kill broker 2");
    brokers[1] = start(2, &ports, data.path());
    all[1] = (2, brokers[1].addr());
    lists(brokers[0].addr(), &all[..]).await;
    lists(brokers[1].addr(), &all[..]).await;
}

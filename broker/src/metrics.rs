//! The broker's metrics registry: every counter, gauge and histogram it exports.
//!
//! Counters are updated on the request path (cheap atomic adds). Consumer-group lag
//! is not tracked as it changes: whoever renders the registry passes the lag of
//! every committed partition at that moment (see `metrics_http`). The exposition
//! (OpenMetrics text) is done by the `prometheus-client` crate.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of per-topic counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    /// Topic name.
    pub topic: String,
}

/// Labels of per-API request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    /// API name, as in docs/PROTOCOL.md.
    pub api: String,
}

/// Labels of consumer-group lag.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LagLabels {
    /// Group id.
    pub group: String,
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

/// Labels of a Raft group's gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    /// The group: `__cluster/0` for the metadata group, else `topic/partition`.
    pub group: String,
}

/// Labels of a Raft group's role gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    /// The group, as in [`GroupLabels`].
    pub group: String,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: String,
}

/// One Raft group member's state, as rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftGauges {
    /// The group, as in [`GroupLabels`].
    pub group: String,
    /// Its role on this broker.
    pub role: &'static str,
    /// Its current term.
    pub term: u64,
    /// The leader this broker knows, if any.
    pub leader: Option<u64>,
    /// The last entry applied here, if any.
    pub applied_index: Option<u64>,
    /// On the leader, each follower's lag and whether it is in sync.
    pub followers: Vec<FollowerGauges>,
    /// Whether the group is a partition's (not the metadata group).
    pub is_partition: bool,
}

/// One follower of a group, as its leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerGauges {
    /// Its node id.
    pub node: u64,
    /// Raft entries it lacks.
    pub entries: u64,
    /// Records (offsets) and bytes of the partition's log it lacks, when the
    /// leader's log can tell (partition groups only).
    pub records_bytes: Option<(u64, u64)>,
    /// Whether it acknowledged the leader recently enough to count in sync.
    pub in_sync: bool,
}

/// Labels of one follower of one group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReplicaLabels {
    /// The group (`topic/partition`).
    pub group: String,
    /// The follower's node id.
    pub replica: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric the broker exports.
pub struct Metrics {
    registry: Registry,
    records_in: Family<TopicLabels, Counter>,
    bytes_in: Family<TopicLabels, Counter>,
    records_out: Family<TopicLabels, Counter>,
    bytes_out: Family<TopicLabels, Counter>,
    requests: Family<ApiLabels, Counter>,
    latency: Family<ApiLabels, Histogram, fn() -> Histogram>,
    connections: Gauge,
    lag: Family<LagLabels, Gauge>,
    recovering: Gauge,
    raft_role: Family<RoleLabels, Gauge>,
    raft_term: Family<GroupLabels, Gauge>,
    raft_leader: Family<GroupLabels, Gauge>,
    raft_applied: Family<GroupLabels, Gauge>,
    replica_lag: Family<ReplicaLabels, Gauge>,
    replica_lag_records: Family<ReplicaLabels, Gauge>,
    replica_lag_bytes: Family<ReplicaLabels, Gauge>,
    under_replicated: Gauge,
    leaders_elected: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rill");
        let m = Metrics {
            records_in: Family::default(),
            bytes_in: Family::default(),
            records_out: Family::default(),
            bytes_out: Family::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            connections: Gauge::default(),
            lag: Family::default(),
            recovering: Gauge::default(),
            raft_role: Family::default(),
            raft_term: Family::default(),
            raft_leader: Family::default(),
            raft_applied: Family::default(),
            replica_lag: Family::default(),
            replica_lag_records: Family::default(),
            replica_lag_bytes: Family::default(),
            under_replicated: Gauge::default(),
            leaders_elected: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "records_in",
            "Records appended, by topic",
            m.records_in.clone(),
        );
        registry.register(
            "bytes_in",
            "Record-batch bytes appended, by topic",
            m.bytes_in.clone(),
        );
        registry.register(
            "records_out",
            "Records sent to fetchers, by topic",
            m.records_out.clone(),
        );
        registry.register(
            "bytes_out",
            "Record-batch bytes sent to fetchers, by topic",
            m.bytes_out.clone(),
        );
        registry.register("requests", "Requests handled, by API", m.requests.clone());
        registry.register(
            "request_duration_seconds",
            "Time from a request's arrival to its response being ready, by API",
            m.latency.clone(),
        );
        registry.register(
            "connections",
            "Open client connections",
            m.connections.clone(),
        );
        registry.register(
            "consumer_group_lag",
            "High watermark minus the committed offset, by group and partition",
            m.lag.clone(),
        );
        registry.register(
            "partitions_recovering",
            "Partitions whose logs are still being opened after start-up (not served yet)",
            m.recovering.clone(),
        );
        registry.register(
            "raft_role",
            "1 for each Raft group this broker is a member of, labelled with its role here",
            m.raft_role.clone(),
        );
        registry.register(
            "raft_term",
            "The current Raft term of each group this broker is a member of",
            m.raft_term.clone(),
        );
        registry.register(
            "raft_leader",
            "The broker id each group's member here knows as leader (-1: none)",
            m.raft_leader.clone(),
        );
        registry.register(
            "raft_applied_index",
            "The index of the last Raft entry applied here, by group (-1: none)",
            m.raft_applied.clone(),
        );
        registry.register(
            "replica_lag_entries",
            "Raft entries (one per batch) a follower lacks, by group and follower, on the group's leader",
            m.replica_lag.clone(),
        );
        registry.register(
            "replica_lag_records",
            "Offsets of a partition's log (records, Raft's control records included) a follower lacks, by group and follower, on the partition's leader",
            m.replica_lag_records.clone(),
        );
        registry.register(
            "replica_lag_bytes",
            "Bytes of a partition's log a follower lacks, by group and follower, on the partition's leader",
            m.replica_lag_bytes.clone(),
        );
        registry.register(
            "under_replicated_partitions",
            "Groups led here with a follower out of sync (no acknowledgement within the maximum election timeout)",
            m.under_replicated.clone(),
        );
        registry.register(
            "partition_leaderships",
            "Partition leaderships this broker has taken up since it started (one per term it was elected and began serving in)",
            m.leaders_elected.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts a partition leadership taken up here: elected for a new term and
    /// serving.
    pub fn leadership_taken(&self) {
        self.leaders_elected.inc();
    }

    /// Counts an appended batch.
    pub fn appended(&self, topic: &str, records: i32, bytes: usize) {
        let labels = TopicLabels {
            topic: topic.to_string(),
        };
        self.records_in
            .get_or_create(&labels)
            .inc_by(u64::try_from(records).unwrap_or(0));
        self.bytes_in.get_or_create(&labels).inc_by(bytes as u64);
    }

    /// Counts fetched batches.
    pub fn fetched(&self, topic: &str, records: u64, bytes: usize) {
        let labels = TopicLabels {
            topic: topic.to_string(),
        };
        self.records_out.get_or_create(&labels).inc_by(records);
        self.bytes_out.get_or_create(&labels).inc_by(bytes as u64);
    }

    /// Counts a handled request and its latency.
    pub fn request(&self, api: &str, took: Duration) {
        let labels = ApiLabels {
            api: api.to_string(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    fn set_raft(&self, raft: &[RaftGauges]) {
        self.raft_role.clear();
        self.raft_term.clear();
        self.raft_leader.clear();
        self.raft_applied.clear();
        self.replica_lag.clear();
        self.replica_lag_records.clear();
        self.replica_lag_bytes.clear();
        let mut under_replicated = 0;
        let signed = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
        for g in raft {
            let labels = GroupLabels {
                group: g.group.clone(),
            };
            let role = RoleLabels {
                group: g.group.clone(),
                role: g.role.to_string(),
            };
            self.raft_role.get_or_create(&role).set(1);
            self.raft_term
                .get_or_create(&labels)
                .set(signed(Some(g.term)));
            self.raft_leader
                .get_or_create(&labels)
                .set(signed(g.leader));
            self.raft_applied
                .get_or_create(&labels)
                .set(signed(g.applied_index));
            for f in &g.followers {
                let replica = ReplicaLabels {
                    group: g.group.clone(),
                    replica: f.node.to_string(),
                };
                self.replica_lag
                    .get_or_create(&replica)
                    .set(signed(Some(f.entries)));
                if let Some((records, bytes)) = f.records_bytes {
                    self.replica_lag_records
                        .get_or_create(&replica)
                        .set(signed(Some(records)));
                    self.replica_lag_bytes
                        .get_or_create(&replica)
                        .set(signed(Some(bytes)));
                }
            }
            if g.is_partition && g.followers.iter().any(|f| !f.in_sync) {
                under_replicated += 1;
            }
        }
        self.under_replicated.set(under_replicated);
    }

    /// A connection opened (+1) or closed (-1).
    pub fn connection(&self, delta: i64) {
        self.connections.inc_by(delta);
    }

    /// The text exposition, with consumer-group lag set to `lag` (one entry per
    /// group and partition; groups and partitions not listed are left out), the
    /// count of partitions still `recovering`, and the state of each Raft group
    /// member in `raft` (none for a broker outside a cluster).
    pub fn render(
        &self,
        lag: impl IntoIterator<Item = (LagLabels, i64)>,
        recovering: usize,
        raft: &[RaftGauges],
    ) -> String {
        self.set_raft(raft);
        self.recovering
            .set(i64::try_from(recovering).unwrap_or(i64::MAX));
        self.lag.clear();
        for (labels, value) in lag {
            self.lag.get_or_create(&labels).set(value);
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        text
    }
}

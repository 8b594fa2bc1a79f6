//! The broker's metrics, and the HTTP endpoint that serves them to Prometheus.
//!
//! Counters are updated on the request path (cheap atomic adds); consumer-group lag
//! is computed when `/metrics` is scraped, from the committed offsets and each
//! partition's high watermark. The exposition (OpenMetrics text) is done by the
//! `prometheus-client` crate. The HTTP side is deliberately tiny: it reads one
//! request head (at most 8 KiB), answers `GET /metrics` with the text and anything
//! else with 404, and closes the connection.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::state::Broker;

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
        Metrics { registry, ..m }
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

    /// A connection opened (+1) or closed (-1).
    pub fn connection(&self, delta: i64) {
        self.connections.inc_by(delta);
    }

    /// The text exposition, with group lag computed now.
    pub fn render(&self, broker: &Broker) -> String {
        self.lag.clear();
        for group in broker.offsets.groups() {
            for ((topic, partition), committed) in broker.offsets.group(&group) {
                let Ok(p) = broker.topics.partition(&topic, partition) else {
                    continue;
                };
                let lag = (p.log().high_watermark() - committed.offset).max(0);
                self.lag
                    .get_or_create(&LagLabels {
                        group: group.clone(),
                        topic,
                        partition,
                    })
                    .set(lag);
            }
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        text
    }
}

/// Serves `GET /metrics` on `listener` until the broker shuts down.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>) {
    let mut shutdown = broker.shutdown_signal();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((socket, _)) => {
                let broker = Arc::clone(&broker);
                tokio::spawn(async move {
                    if let Err(e) = answer(socket, &broker).await {
                        tracing::debug!(error = %e, "metrics request failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads one request head and answers it.
async fn answer(mut socket: TcpStream, broker: &Broker) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let (status, content_type, body) = if head.starts_with(b"GET /metrics ") {
        let text = broker.metrics.render(broker);
        (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            text,
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "only GET /metrics is served here\n".to_string(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}

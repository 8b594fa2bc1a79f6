//! The four services as consumer-group members, analytics' replays, and the live
//! progress display.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rill_bench::clock::rfc3339;
use rill_client::{Consumer, ConsumerConfig, Error, OffsetReset, Result, TopicPartition};

use super::events::{SERVICES, TOPIC};
use super::report::ReplayReport;
use super::tally::Tally;

/// One member of `service`'s group: consumes until the service has every event.
pub async fn member(
    addr: String,
    service: &'static str,
    index: usize,
    tally: Arc<Tally>,
    deadline: Instant,
) -> Result<()> {
    let config = ConsumerConfig::new()
        .client_id(format!("{service}-{index}"))
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100));
    let mut consumer = Consumer::connect(&addr, config).await?;
    consumer.subscribe(&[TOPIC], service).await?;
    while !tally.complete() {
        if Instant::now() >= deadline {
            consumer.close().await?;
            return Err(Error::Timeout {
                what: format!("{service} waiting for every event"),
                after: Duration::ZERO,
            });
        }
        for record in consumer.poll(Duration::from_millis(100)).await? {
            tally.record(&record);
        }
    }
    consumer.close().await
}

/// Reads all of `purchases` (outside any group) from offset 0, or from the first
/// record at or after `from_ms`, up to the log end as it is now.
pub async fn replay(
    addr: &str,
    run: u64,
    events: u64,
    from_ms: Option<i64>,
    deadline: Instant,
) -> Result<ReplayReport> {
    let config = ConsumerConfig::new()
        .client_id("analytics-replay")
        .auto_commit(false);
    let mut consumer = Consumer::connect(addr, config).await?;
    consumer.assign_topics(&[TOPIC]).await?;
    let parts: Vec<TopicPartition> = consumer.assignment().into_iter().collect();
    consumer.seek_to_end(&parts).await?;
    let ends: BTreeMap<TopicPartition, i64> = parts
        .iter()
        .map(|tp| (tp.clone(), consumer.position(tp).unwrap_or(0)))
        .collect();
    match from_ms {
        None => consumer.seek_to_beginning(&parts).await?,
        Some(ms) => consumer.seek_to_timestamp(&parts, ms).await?,
    }
    let tally = Tally::new(run, events);
    let mut read = 0u64;
    while ends
        .iter()
        .any(|(tp, end)| consumer.position(tp).unwrap_or(0) < *end)
    {
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: "analytics replay".to_string(),
                after: Duration::ZERO,
            });
        }
        for record in consumer.poll(Duration::from_millis(100)).await? {
            if record.offset < ends.get(&record.topic_partition()).copied().unwrap_or(0) {
                tally.record(&record);
                read += 1;
            }
        }
    }
    consumer.close().await?;
    Ok(ReplayReport {
        from: match from_ms {
            None => "offset 0".to_string(),
            Some(ms) => rfc3339(ms),
        },
        expected: events,
        received: tally.received(),
        duplicates: tally.duplicates(),
        read,
    })
}

/// Live per-service progress bars on standard error (hidden when it is not a
/// terminal, or when progress is off).
pub struct Progress {
    bars: Option<(MultiProgress, ProgressBar, Vec<ProgressBar>)>,
    enqueued: Arc<AtomicU64>,
}

/// The task updating the bars; [`Ticker::finish`] stops it.
pub struct Ticker {
    task: Option<tokio::task::JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Progress {
    /// Bars for the shop and each service, each counting to `events`.
    pub fn new(show: bool, events: u64) -> Progress {
        let enqueued = Arc::new(AtomicU64::new(0));
        if !show {
            return Progress {
                bars: None,
                enqueued,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos:>8}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = |name: &str| {
            let bar = multi.add(ProgressBar::new(events));
            bar.set_style(style.clone());
            bar.set_prefix(name.to_string());
            bar
        };
        let shop = bar("shop");
        let services = SERVICES.iter().map(|s| bar(s)).collect();
        Progress {
            bars: Some((multi, shop, services)),
            enqueued,
        }
    }

    /// The shop has enqueued `n` events.
    pub fn shop_enqueued(&self, n: u64) {
        self.enqueued.store(n, Ordering::Relaxed);
    }

    /// Starts redrawing every 100 ms from the tallies.
    pub fn start(&self, tallies: Vec<Arc<Tally>>) -> Ticker {
        let Some((_, shop, services)) = self.bars.clone() else {
            return Ticker {
                task: None,
                stop: None,
            };
        };
        let enqueued = Arc::clone(&self.enqueued);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                shop.set_position(enqueued.load(Ordering::Relaxed));
                for (bar, tally) in services.iter().zip(&tallies) {
                    bar.set_position(tally.received());
                    if tally.complete() && !bar.is_finished() {
                        bar.finish_with_message("every event");
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = &mut stopped => break,
                }
            }
            shop.finish_with_message("published");
            for bar in &services {
                if !bar.is_finished() {
                    bar.abandon_with_message("incomplete");
                }
            }
        });
        Ticker {
            task: Some(task),
            stop: Some(stop),
        }
    }
}

impl Ticker {
    /// Draws the final state and stops.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

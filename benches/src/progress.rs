//! Live counters of a run, and the progress bars drawn from them on standard error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::report::thousands;

/// Records acknowledged and received so far, updated by the producer and
/// consumer tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Records the broker acknowledged.
    pub acked: AtomicU64,
    /// Records the consumers received (all of them together).
    pub consumed: AtomicU64,
}

impl Counters {
    /// Counts `n` more acknowledged records.
    pub fn add_acked(&self, n: u64) {
        self.acked.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` more received records.
    pub fn add_consumed(&self, n: u64) {
        self.consumed.fetch_add(n, Ordering::Relaxed);
    }
}

/// The bars and the task redrawing them every 100 ms; [`Bars::finish`] stops it.
pub(crate) struct Bars {
    task: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Bars {
    /// Draws a bar per side that runs: `produce` counting to `produce_total`
    /// records (unknown: a counter), `consume` to `consume_total`. Draws nothing
    /// unless `show`.
    pub fn start(
        show: bool,
        counters: Arc<Counters>,
        produce_total: Option<Option<u64>>,
        consume_total: Option<Option<u64>>,
    ) -> Bars {
        if !show || (produce_total.is_none() && consume_total.is_none()) {
            return Bars {
                task: None,
                stop: None,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let bar_style = ProgressStyle::with_template(
            "{prefix:>8} [{bar:40}] {human_pos:>11}/{human_len} {msg:>16} {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let count_style =
            ProgressStyle::with_template("{prefix:>8} {human_pos:>11} records {msg:>16} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = |name: &str, total: Option<u64>| {
            let bar = match total {
                Some(n) => multi.add(ProgressBar::new(n)).with_style(bar_style.clone()),
                None => multi
                    .add(ProgressBar::no_length())
                    .with_style(count_style.clone()),
            };
            bar.set_prefix(name.to_string());
            bar
        };
        let produce = produce_total.map(|t| bar("produce", t));
        let consume = consume_total.map(|t| bar("consume", t));
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let show = |bar: &ProgressBar, records: u64| {
                bar.set_position(records);
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!("{} records/s", thousands(records as f64 / secs)));
            };
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                let done = tokio::select! {
                    _ = tick.tick() => false,
                    _ = &mut stopped => true,
                };
                if let Some(bar) = &produce {
                    show(bar, counters.acked.load(Ordering::Relaxed));
                }
                if let Some(bar) = &consume {
                    show(bar, counters.consumed.load(Ordering::Relaxed));
                }
                if done {
                    break;
                }
            }
            for bar in produce.iter().chain(consume.iter()) {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        });
        Bars {
            task: Some(task),
            stop: Some(stop),
        }
    }

    /// Stops redrawing and clears the bars.
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

//! One blocking job per item, run on a few scoped threads: opening and closing
//! partition logs, where each job waits on the disk (reads while recovering,
//! fsyncs while closing) and a broker may hold thousands of partitions. Many jobs
//! in flight let the disk merge their I/O and use every core; one at a time, a
//! broker with 1,000 partitions took 13 s to stop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::locks;

/// The threads [`map`] is given for closing logs and creating topics.
pub const MAX_THREADS: usize = 16;

/// `job` applied to every item on up to `threads` threads (at least one); the
/// results in item order. Returns when every job has; a panicking job panics the
/// caller.
pub fn map<T: Sync, R: Send>(items: &[T], threads: usize, job: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(i) else {
            break;
        };
        let result = job(item);
        *locks::lock(&results[i]) = Some(result);
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(items.len()) {
            scope.spawn(work);
        }
    });
    results
        .into_iter()
        .filter_map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn every_item_is_mapped_once_in_order_and_jobs_overlap() {
        let items: Vec<u64> = (0..200).collect();
        let running = std::sync::atomic::AtomicUsize::new(0);
        let most = std::sync::atomic::AtomicUsize::new(0);
        let out = super::map(&items, super::MAX_THREADS, |&i| {
            let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            most.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            i * 3
        });
        assert_eq!(out, items.iter().map(|i| i * 3).collect::<Vec<_>>());
        assert!(most.into_inner() > 1, "jobs ran one at a time");
        assert!(super::map(&[] as &[u8], 4, |_| 0).is_empty());
    }
}

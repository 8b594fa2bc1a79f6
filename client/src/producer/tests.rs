//! Unit tests of the producer's parts that need no broker: trusting Metadata's
//! partition lists, and a sender that stops by panicking.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify, Semaphore};

use super::accumulator::Accumulator;
use super::config::ProducerConfig;
use super::sender::StopGuard;
use super::shared::{partition_count, Shared, MAX_PARTITIONS};
use super::{Handle, Producer};
use crate::connection::ConnectionOptions;
use crate::error::Error;
use crate::routing::Router;

#[test]
fn partition_lists_must_be_exactly_zero_to_n() {
    assert_eq!(partition_count(&[0]), Ok(1));
    assert_eq!(partition_count(&[2, 0, 1]), Ok(3));
    let refused: [&[i32]; 5] = [&[], &[1], &[0, 2], &[0, 0], &[-1, 0]];
    for numbers in refused {
        assert!(partition_count(numbers).is_err(), "{numbers:?}");
    }
    let err = partition_count(&[0, 7]).expect_err("a gap");
    assert!(err.contains("partition 7"), "{err}");
    // A huge partition number is refused without allocating for it.
    let err = partition_count(&[i32::MAX]).expect_err("not 0");
    assert!(err.contains(&i32::MAX.to_string()), "{err}");
    let too_many: Vec<i32> = (0..=MAX_PARTITIONS as i32).collect();
    let err = partition_count(&too_many).expect_err("above the broker's limit");
    assert!(err.contains("at most 1000000"), "{err}");
    let most: Vec<i32> = (0..MAX_PARTITIONS as i32).rev().collect();
    assert_eq!(partition_count(&most), Ok(MAX_PARTITIONS as i32));
}

/// A producer for topic `t` (one partition) whose sender only holds the stop
/// guard and panics when `panic` is sent.
fn producer_with_failing_sender(config: ProducerConfig) -> (Producer, oneshot::Sender<()>) {
    let shared = Arc::new(Shared {
        memory: Semaphore::new(config.buffer_bytes),
        config,
        addr: "127.0.0.1:1".to_string(),
        identity: None,
        router: Router::new("127.0.0.1:1", ConnectionOptions::default()).expect("one address"),
        acc: Mutex::new(Accumulator::default()),
        wake: Notify::new(),
        done: Notify::new(),
        stopped: AtomicBool::new(false),
    });
    shared.lock().set_partition_count("t", 1, 0);
    let (panic, panicked) = oneshot::channel::<()>();
    let guarded = shared.clone();
    let task = tokio::spawn(async move {
        let _guard = StopGuard(guarded);
        let _ = panicked.await;
        panic!("the sender failed (on purpose, in a test)");
    });
    let producer = Producer {
        handle: Arc::new(Handle {
            shared,
            task: Mutex::new(Some(task)),
        }),
    };
    (producer, panic)
}

#[tokio::test]
async fn a_panicked_sender_releases_callers_waiting_for_memory() {
    let config = ProducerConfig::new()
        .buffer_bytes(200)
        .linger(Duration::from_secs(3600));
    let (producer, panic) = producer_with_failing_sender(config);
    let value = [7u8; 150];
    let queued = producer
        .enqueue("t", None, Some(&value), &[])
        .await
        .expect("fits in the buffer");
    let waiting = tokio::spawn({
        let producer = producer.clone();
        async move { producer.enqueue("t", None, Some(&value), &[]).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "the buffer is full: enqueue waits");

    panic.send(()).expect("the sender is running");
    let result = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("enqueue returns once the sender is gone")
        .expect("enqueue task");
    assert!(matches!(result, Err(Error::Closed(_))), "{result:?}");
    let delivered = tokio::time::timeout(Duration::from_secs(5), queued)
        .await
        .expect("the queued record's delivery resolves");
    assert!(matches!(delivered, Err(Error::Closed(_))), "{delivered:?}");
    let again = producer.enqueue("t", None, Some(b"more"), &[]).await;
    assert!(matches!(again, Err(Error::Closed(_))), "{again:?}");
    // The dropped records count as done (their deliveries said why): flush
    // returns at once instead of waiting for a sender that is gone.
    tokio::time::timeout(Duration::from_secs(5), producer.flush())
        .await
        .expect("flush returns")
        .ok();
}

#[test]
fn retry_waits_double_up_to_the_maximum() {
    let config = ProducerConfig::new();
    let waits: Vec<u128> = (1..=6).map(|n| config.backoff(n).as_millis()).collect();
    assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
    let flat = ProducerConfig::new()
        .retry_backoff(Duration::from_secs(2))
        .retry_backoff_max(Duration::from_millis(10));
    assert_eq!(
        flat.backoff(3),
        Duration::from_secs(2),
        "never below the first wait"
    );
    assert_eq!(config.backoff(u32::MAX), Duration::from_secs(1));
}

#[test]
fn a_delivery_timeout_shorter_than_one_attempt_is_refused() {
    let short = ProducerConfig::new().delivery_timeout(Duration::from_secs(10));
    let message = short.validate().expect_err("refused").to_string();
    assert!(
        message.contains("delivery_timeout is 10s") && message.contains("30.005s"),
        "{message}"
    );
    assert!(ProducerConfig::new().validate().is_ok());
}

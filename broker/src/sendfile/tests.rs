//! The bytes a spliced frame puts on a real socket, by `sendfile` and by the copy
//! fallback, against the frame assembled in memory.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rill_protocol::{BatchBuilder, ProducerInfo};
use rill_storage::{Log, LogOptions, ReadMode};

use super::*;

/// A log of `batches` batches of about 64 KiB each in 1 MiB segments.
fn log_with(dir: &std::path::Path, batches: usize) -> Log {
    let opts = LogOptions::default().segment_bytes(1 << 20);
    let log = Log::open(dir, opts).expect("open");
    for i in 0..batches {
        let mut b = BatchBuilder::new(ProducerInfo::NONE);
        for r in 0..64u8 {
            let value = vec![(i as u8).wrapping_mul(31).wrapping_add(r); 1000];
            b.push(1_000 + i as i64, Some(b"k"), Some(&value), &[]);
        }
        log.append(&mut b.finish()).expect("append");
    }
    log
}

/// A frame of head pieces around `ranges`, and the bytes it stands for.
fn frame(log: &Log, ranges: &[(i64, usize)]) -> (Spliced, Vec<u8>) {
    let mut head = Vec::new();
    let mut parts = Vec::new();
    let mut whole = Vec::new();
    for (i, &(offset, max)) in ranges.iter().enumerate() {
        let piece = format!("head piece {i} before {offset}").into_bytes();
        head.extend_from_slice(&piece);
        whole.extend_from_slice(&piece);
        let batches = log
            .read_slice(offset, max)
            .expect("read_slice")
            .batches
            .expect("batches");
        whole.extend(batches.to_vec(ReadMode::Wait).expect("read"));
        parts.push(Part {
            at: head.len(),
            batches,
        });
    }
    head.extend_from_slice(b"tail");
    whole.extend_from_slice(b"tail");
    let head = Bytes::from(head);
    (Spliced { head, parts }, whole)
}

/// A connected pair on loopback with small socket buffers (so a send of a few
/// MiB must wait for the peer), the sender non-blocking as the broker's are.
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    rustix::net::sockopt::set_socket_recv_buffer_size(&listener, 64 * 1024).expect("rcvbuf");
    let sender = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    rustix::net::sockopt::set_socket_send_buffer_size(&sender, 64 * 1024).expect("sndbuf");
    let (receiver, _) = listener.accept().expect("accept");
    sender.set_nonblocking(true).expect("nonblocking");
    (sender, receiver)
}

/// What `send` puts on a non-blocking socket, as the peer reads it.
fn received(frame: &Spliced, use_sendfile: bool) -> Vec<u8> {
    let (sender, mut receiver) = pair();
    let reading = std::thread::spawn(move || {
        let mut got = Vec::new();
        receiver.read_to_end(&mut got).expect("read");
        got
    });
    send_spliced_by(sender.as_fd(), frame, use_sendfile, &AtomicBool::new(false)).expect("send");
    sender
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    reading.join().expect("reader")
}

#[test]
fn sendfile_and_copy_put_the_same_bytes_on_the_wire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = log_with(dir.path(), 100);
    let bases = log.segment_bases();
    assert!(bases.len() >= 4, "want several segments, got {bases:?}");
    // Ranges in several segments, whole segments, a single batch, and a cap
    // smaller than one batch (which still returns that batch).
    let (frame, whole) = frame(
        &log,
        &[
            (0, 1 << 30),
            (bases[1] + 3, 200_000),
            (bases[2], 10),
            (bases[3] - 1, 1 << 20),
        ],
    );
    assert!(
        whole.len() > 1 << 20,
        "too small to fill the socket buffers"
    );
    assert_eq!(frame.len(), whole.len());
    let by_sendfile = received(&frame, true);
    assert!(by_sendfile == whole, "sendfile sent other bytes");
    let by_copy = received(&frame, false);
    assert!(by_copy == whole, "the copy sent other bytes");
}

#[test]
fn a_peer_that_stops_reading_is_given_up_on_when_told() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = log_with(dir.path(), 100);
    let (frame, _) = frame(&log, &[(0, 1 << 30), (40, 1 << 30), (80, 1 << 30)]);
    let (sender, _receiver) = pair();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Release);
        });
        let err = send_spliced(&sender, &frame, &stop).expect_err("peer never reads");
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err}");
    });
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

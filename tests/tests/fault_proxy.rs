//! The fault proxy does what each switch says, against a frame echo server, so a
//! test that uses it to break a link knows the link was broken as asked.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_tests::proxy::FaultProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server that answers every frame with the same frame; counts frames seen.
async fn echo_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                while let Some(frame) = read(&mut socket).await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    if socket.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A frame whose body starts with api key `api`.
fn frame(api: i16) -> Vec<u8> {
    let mut f = 6u32.to_be_bytes().to_vec();
    f.extend_from_slice(&api.to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4]);
    f
}

async fn read(socket: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 4];
    socket.read_exact(&mut len).await.ok()?;
    let mut f = len.to_vec();
    f.resize(4 + u32::from_be_bytes(len) as usize, 0);
    socket.read_exact(&mut f[4..]).await.ok()?;
    Some(f)
}

async fn round_trip(socket: &mut TcpStream, api: i16) -> Option<Vec<u8>> {
    socket.write_all(&frame(api)).await.ok()?;
    tokio::time::timeout(Duration::from_secs(5), read(socket))
        .await
        .expect("an answer or a closed connection within 5 s")
}

#[tokio::test]
async fn cut_request_never_reaches_upstream_and_cut_answer_is_lost() {
    let (upstream, seen) = echo_server().await;
    let proxy = FaultProxy::start(upstream).await.expect("proxy");
    let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut a, 1).await, Some(frame(1)));

    proxy.cut_next_request(8);
    assert_eq!(
        round_trip(&mut a, 1).await,
        Some(frame(1)),
        "another api passes"
    );
    assert_eq!(round_trip(&mut a, 8).await, None, "the cut closes the link");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "the cut request never arrived"
    );

    let mut b = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(
        round_trip(&mut b, 8).await,
        Some(frame(8)),
        "a cut fires once"
    );
    proxy.cut_at_response(2);
    assert_eq!(round_trip(&mut b, 0).await, Some(frame(0)));
    assert_eq!(
        round_trip(&mut b, 0).await,
        None,
        "the second answer is cut"
    );
    assert_eq!(
        seen.load(Ordering::SeqCst),
        5,
        "upstream saw the cut-answer request"
    );
    assert_eq!((proxy.cuts(), proxy.connections()), (2, 2));
}

#[tokio::test]
async fn delay_hold_and_partition_act_on_live_links() {
    let (upstream, _) = echo_server().await;
    let proxy = FaultProxy::start(upstream).await.expect("proxy");
    let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");

    proxy.delay(Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(round_trip(&mut a, 1).await, Some(frame(1)));
    assert!(start.elapsed() >= Duration::from_millis(200));
    proxy.delay(Duration::ZERO);

    proxy.hold(true);
    a.write_all(&frame(2)).await.expect("write");
    let held = tokio::time::timeout(Duration::from_millis(300), read(&mut a)).await;
    assert!(held.is_err(), "no answer while held");
    proxy.hold(false);
    assert_eq!(read(&mut a).await, Some(frame(2)), "released");

    proxy.partition(true);
    assert_eq!(
        round_trip(&mut a, 3).await,
        None,
        "a partition cuts live links"
    );
    let mut b = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut b, 3).await, None, "and refuses new ones");
    proxy.partition(false);
    let mut c = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut c, 3).await, Some(frame(3)), "healed");
}

#[tokio::test]
async fn requests_that_pass_are_noted_with_their_api_and_time() {
    let (upstream, _) = echo_server().await;
    let proxy = FaultProxy::start(upstream).await.expect("proxy");
    let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");
    let before = tokio::time::Instant::now();
    for api in [1, 3, 1] {
        assert_eq!(round_trip(&mut a, api).await, Some(frame(api)));
    }
    proxy.cut_next_request(1);
    assert_eq!(round_trip(&mut a, 1).await, None, "cut");
    let after = tokio::time::Instant::now();
    let ones = proxy.requests(1);
    assert_eq!(ones.len(), 2, "the cut request did not pass: {ones:?}");
    assert!(before <= ones[0] && ones[0] <= ones[1] && ones[1] <= after);
    assert_eq!(proxy.requests(3).len(), 1);
    assert!(proxy.requests(8).is_empty());
}

#[tokio::test]
async fn every_request_or_answer_can_be_cut_and_the_port_closed() {
    let (upstream, seen) = echo_server().await;
    let mut proxy = FaultProxy::start(upstream).await.expect("proxy");

    proxy.cut_every_request(true);
    for _ in 0..2 {
        let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut a, 0).await, None, "the request is cut");
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0, "no request arrived");
    proxy.cut_every_request(false);

    proxy.cut_every_answer(true);
    for _ in 0..2 {
        let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(round_trip(&mut a, 0).await, None, "the answer is cut");
    }
    assert_eq!(seen.load(Ordering::SeqCst), 2, "the requests arrived");
    proxy.cut_every_answer(false);
    assert_eq!((proxy.cuts(), proxy.connections()), (4, 4));

    let mut open = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(round_trip(&mut open, 0).await, Some(frame(0)));
    proxy.refuse(true).await.expect("close the port");
    assert_eq!(round_trip(&mut open, 0).await, None, "open links are cut");
    let refused = TcpStream::connect(proxy.addr()).await.expect_err("refused");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    proxy.refuse(false).await.expect("listen again");
    let mut again = TcpStream::connect(proxy.addr()).await.expect("connect");
    assert_eq!(
        round_trip(&mut again, 0).await,
        Some(frame(0)),
        "forwarding"
    );
}

//! A plain TCP connection to the broker that sends hand-built frames and reads
//! frames back (docs/PROTOCOL.md §1), matching each answer to its request by
//! correlation id (§3).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::wire::{request, response_header, ResponseHeader};

/// The client_id of every request this test sends (DescribeGroups echoes it).
pub const CLIENT_ID: &str = "conformance";

/// Longest wait for an answer, or for the broker to close a connection.
const WAIT: Duration = Duration::from_secs(10);

/// One connection.
pub struct Conn {
    stream: TcpStream,
    next_id: i32,
}

impl Conn {
    /// Connects to the broker.
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr)
            .await
            .expect("the broker accepts connections");
        Conn { stream, next_id: 1 }
    }

    /// A fresh correlation id.
    pub fn next_id(&mut self) -> i32 {
        self.next_id += 1;
        self.next_id
    }

    /// Writes bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("the broker reads requests");
    }

    /// The next frame's body, or `None` if the broker closed the connection
    /// between frames.
    pub async fn recv_or_close(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        let read = tokio::time::timeout(WAIT, self.stream.read_exact(&mut len))
            .await
            .expect("an answer, or a close, within 10 s");
        match read {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                return None
            }
            Err(e) => panic!("reading a frame length: {e}"),
        }
        let len = usize::try_from(u32::from_be_bytes(len)).expect("a usize holds a u32");
        let mut body = vec![0u8; len];
        tokio::time::timeout(WAIT, self.stream.read_exact(&mut body))
            .await
            .expect("the whole frame within 10 s")
            .expect("a frame is never cut short");
        Some(body)
    }

    /// The next frame's body; the connection must stay open.
    pub async fn recv(&mut self) -> Vec<u8> {
        self.recv_or_close()
            .await
            .expect("an answer, but the broker closed the connection")
    }

    /// Sends `body` as api `api_key` v0 and returns the api-specific response
    /// bytes, after checking the header: the same correlation id, error_code 0
    /// and a null error_message.
    pub async fn call(&mut self, api_key: i16, body: &[u8]) -> Vec<u8> {
        self.call_at(api_key, 0, body).await
    }

    /// As [`Conn::call`], at `version` of the api.
    pub async fn call_at(&mut self, api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
        let id = self.next_id();
        self.send(&request(api_key, version, id, Some(CLIENT_ID), body))
            .await;
        let frame = self.recv().await;
        let (header, rest) = response_header(&frame);
        assert_eq!(
            header,
            ResponseHeader {
                correlation_id: id,
                error_code: 0,
                error_message: None
            },
            "api {api_key}: the response header of an accepted request"
        );
        rest.rest().to_vec()
    }

    /// Sends a request that is refused as a whole and returns its response header,
    /// after checking that it carries the correlation id and no body (§3).
    pub async fn call_refused(&mut self, frame_of: impl FnOnce(i32) -> Vec<u8>) -> ResponseHeader {
        let id = self.next_id();
        self.send(&frame_of(id)).await;
        let frame = self.recv().await;
        let (header, rest) = response_header(&frame);
        assert_eq!(header.correlation_id, id, "the refusal echoes the id");
        rest.end();
        header
    }

    /// Ends this side of the connection: the broker reads EOF.
    pub async fn shutdown_writes(&mut self) {
        self.stream
            .shutdown()
            .await
            .expect("the socket can be shut for writing");
    }

    /// Fails unless the broker closes the connection without sending anything.
    pub async fn expect_closed(&mut self, case: &str) {
        if let Some(frame) = self.recv_or_close().await {
            panic!("{case}: the broker answered {frame:02x?} instead of closing the connection");
        }
    }
}

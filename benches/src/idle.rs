//! Idle client connections, for measuring what a broker pays for connections that
//! send nothing (memory, and the throughput of a producer beside them) and whether
//! it still serves every one of them afterwards.
//!
//! [`IdleConnections::open`] opens TCP connections and, as a Kafka client does
//! first, asks one ApiVersions on each: an answer proves that the broker accepted
//! the connection (a handshake alone does not: when the listen queue overflows, the
//! kernel may keep a connection half-open until the client sends something). Then
//! they stay silent. [`IdleConnections::check`] sends one more ApiVersions on
//! every connection at once and counts the well-formed answers. A connection the
//! broker dropped meanwhile counts as not served, with the reason. Plain sockets
//! rather than [`Connection`](rill_client::Connection)s keep the prober's own
//! footprint small: two tasks and a 64 KiB buffer per connection would be 10,000 ×
//! that.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use rill_protocol::api::api_versions::ApiVersionsRequest;
use rill_protocol::api::ApiKey;
use rill_protocol::frame::LENGTH_PREFIX;
use rill_protocol::message::{Request, RequestBody, Response, ResponseBody};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::error::{Error, Result};

/// Connections opened at the same time while opening many (below a typical listen
/// backlog of 128).
const OPEN_CONCURRENCY: usize = 64;

/// Largest answer to ApiVersions accepted (the real one is a few hundred bytes).
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Correlation id of the request each connection sends when it opens.
const HELLO: i32 = 1;

/// Correlation id of the request [`IdleConnections::check`] sends.
const CHECK: i32 = 2;

/// Open TCP connections to a broker that have sent nothing yet.
#[derive(Debug)]
pub struct IdleConnections {
    addr: String,
    streams: Vec<TcpStream>,
}

/// What [`IdleConnections::check`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Served {
    /// Connections asked.
    pub connections: usize,
    /// Connections that got a well-formed, error-free ApiVersions answer.
    pub answered: usize,
    /// Connections that did not (closed, timed out, or a bad answer).
    pub failed: usize,
    /// Why the first of those failed, if any did.
    pub first_failure: Option<String>,
    /// From sending the requests to the last answer (or the timeout).
    pub seconds: f64,
}

impl IdleConnections {
    /// Opens `count` TCP connections to `addr`, up to 64 at a time, each answered
    /// once (ApiVersions). Fails if any cannot be opened or is not answered, saying
    /// how many were (out of file descriptors, refused, over the broker's limit).
    pub async fn open(addr: &str, count: usize) -> Result<IdleConnections> {
        let hello = api_versions_frame(HELLO);
        let mut streams = Vec::with_capacity(count);
        let mut opening = JoinSet::new();
        let mut started = 0;
        while streams.len() < count {
            while started < count && opening.len() < OPEN_CONCURRENCY {
                let (addr, hello) = (addr.to_string(), hello.clone());
                opening.spawn(async move {
                    let mut stream = TcpStream::connect(addr)
                        .await
                        .map_err(|e| format!("connect failed: {e}"))?;
                    ask(&mut stream, &hello, HELLO).await?;
                    Ok::<_, String>(stream)
                });
                started += 1;
            }
            let Some(joined) = opening.join_next().await else {
                break;
            };
            let opened = joined.map_err(|e| e.to_string()).and_then(|r| r);
            match opened {
                Ok(stream) => streams.push(stream),
                Err(reason) => {
                    return Err(Error::Failed {
                        reason: format!(
                            "opened {} of {count} idle connections to {addr}, then: {reason}",
                            streams.len()
                        ),
                    })
                }
            }
        }
        Ok(IdleConnections {
            addr: addr.to_string(),
            streams,
        })
    }

    /// Connections held open.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether none are held.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Sends one ApiVersions request on every connection at once and waits at most
    /// `timeout` for all the answers; then closes the connections.
    pub async fn check(self, timeout: Duration) -> Served {
        let connections = self.streams.len();
        let frame = api_versions_frame(CHECK);
        let started = Instant::now();
        let mut asking = JoinSet::new();
        for mut stream in self.streams {
            let frame = frame.clone();
            asking.spawn(async move { ask(&mut stream, &frame, CHECK).await });
        }
        let mut answered = 0;
        let mut failures = Vec::new();
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = asking.join_next() => match joined {
                    None => break,
                    Some(Ok(Ok(()))) => answered += 1,
                    Some(Ok(Err(reason))) => failures.push(reason),
                    Some(Err(e)) => failures.push(format!("task failed: {e}")),
                },
                () = &mut deadline => {
                    failures.push(format!(
                        "{} connections had no answer within {timeout:?}",
                        asking.len()
                    ));
                    break;
                }
            }
        }
        let failed = connections - answered;
        Served {
            connections,
            answered,
            failed,
            first_failure: failures
                .into_iter()
                .next()
                .map(|reason| format!("{}: {reason}", self.addr)),
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// A whole ApiVersions request frame with `correlation_id`, length prefix included.
fn api_versions_frame(correlation_id: i32) -> Bytes {
    let request = Request::new(
        correlation_id,
        Some("rill-probe".to_string()),
        RequestBody::ApiVersions(ApiVersionsRequest),
    );
    let mut buf = BytesMut::new();
    buf.put_u32(0);
    request.encode(&mut buf);
    let len = u32::try_from(buf.len() - LENGTH_PREFIX).unwrap_or(u32::MAX);
    buf[..LENGTH_PREFIX].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// Sends `frame` (carrying `correlation_id`) on `stream` and reads one answer;
/// `Err` says what went wrong.
async fn ask(
    stream: &mut TcpStream,
    frame: &[u8],
    correlation_id: i32,
) -> std::result::Result<(), String> {
    stream
        .write_all(frame)
        .await
        .map_err(|e| format!("write failed: {e}"))?;
    let mut prefix = [0u8; LENGTH_PREFIX];
    stream.read_exact(&mut prefix).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "the broker closed the connection without answering".to_string()
        } else {
            format!("read failed: {e}")
        }
    })?;
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_ANSWER_BYTES {
        return Err(format!("an answer of {len} bytes to ApiVersions"));
    }
    let mut body = vec![0u8; len];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| format!("read failed mid-answer: {e}"))?;
    check_answer(&body, correlation_id)
}

/// Whether `body` is an error-free ApiVersions answer to `correlation_id`.
fn check_answer(body: &[u8], correlation_id: i32) -> std::result::Result<(), String> {
    let version = ApiKey::ApiVersions.versions().1;
    let response = Response::decode(ApiKey::ApiVersions, version, body)
        .map_err(|e| format!("a malformed ApiVersions answer: {e}"))?;
    if response.header.correlation_id != correlation_id {
        return Err(format!(
            "the answer carries correlation id {}, expected {correlation_id}",
            response.header.correlation_id
        ));
    }
    match response.body {
        Some(ResponseBody::ApiVersions(answer)) if answer.error_code.is_ok() => Ok(()),
        Some(ResponseBody::ApiVersions(answer)) => {
            Err(format!("ApiVersions answered {:?}", answer.error_code))
        }
        Some(other) => Err(format!("a {} answer", other.api_key().name())),
        None => Err(format!(
            "the request was refused: {:?} {}",
            response.header.error_code,
            response.header.error_message.unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rill_protocol::api::api_versions::ApiVersionsResponse;
    use rill_protocol::header::ResponseHeader;
    use rill_protocol::ErrorCode;

    fn answer(correlation_id: i32, error_code: ErrorCode) -> Vec<u8> {
        let response = Response {
            header: ResponseHeader::ok(correlation_id),
            body: Some(ResponseBody::ApiVersions(ApiVersionsResponse {
                error_code,
                api_keys: Vec::new(),
            })),
        };
        let mut buf = BytesMut::new();
        response.encode(0, &mut buf);
        buf.to_vec()
    }

    #[test]
    fn the_request_frame_decodes_as_api_versions() {
        let frame = api_versions_frame(CHECK);
        let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(len, frame.len() - LENGTH_PREFIX);
        let request = Request::decode(&frame[LENGTH_PREFIX..]).expect("a valid request");
        assert_eq!(request.header.correlation_id, CHECK);
        assert_eq!(request.body, RequestBody::ApiVersions(ApiVersionsRequest));
    }

    #[test]
    fn only_an_error_free_answer_to_our_request_counts() {
        assert_eq!(check_answer(&answer(CHECK, ErrorCode::None), CHECK), Ok(()));
        let wrong_id = check_answer(&answer(HELLO, ErrorCode::None), CHECK).expect_err("wrong id");
        assert!(wrong_id.contains("correlation id 1"), "{wrong_id}");
        assert!(check_answer(&answer(CHECK, ErrorCode::UnsupportedVersion), CHECK).is_err());
        assert!(check_answer(&[0, 0], CHECK).is_err());
    }
}

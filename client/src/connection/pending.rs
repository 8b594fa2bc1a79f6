//! The futures a [`Connection`](super::Connection) hands out for queued requests:
//! [`PendingResponse`] for an answer, [`Written`] for a request without one. Both turn
//! a connection that ended first into an error naming the broker.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use rill_protocol::message::ResponseBody;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// The answer to a request queued with [`Connection::submit`](super::Connection::submit).
#[derive(Debug)]
pub struct PendingResponse {
    rx: oneshot::Receiver<Result<ResponseBody>>,
    addr: String,
}

impl PendingResponse {
    pub(super) fn new(rx: oneshot::Receiver<Result<ResponseBody>>, addr: String) -> Self {
        PendingResponse { rx, addr }
    }
}

impl Future for PendingResponse {
    type Output = Result<ResponseBody>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(_)) => Poll::Ready(Err(Error::ConnectionLost {
                addr: self.addr.clone(),
                reason: "the connection ended before the answer arrived".to_string(),
            })),
        }
    }
}

/// Resolves when a frame queued with [`Connection::send_no_response`](super::Connection::send_no_response) is written.
#[derive(Debug)]
pub struct Written {
    rx: oneshot::Receiver<()>,
    addr: String,
}

impl Written {
    pub(super) fn new(rx: oneshot::Receiver<()>, addr: String) -> Self {
        Written { rx, addr }
    }
}

impl Future for Written {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(_)) => Poll::Ready(Err(Error::ConnectionLost {
                addr: self.addr.clone(),
                reason: "the connection ended before the request was written".to_string(),
            })),
        }
    }
}

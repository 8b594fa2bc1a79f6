//! A connection that reopens itself.
//!
//! A consumer lives longer than any one TCP connection: the broker may restart, a
//! socket may break. [`Link`] holds the current [`Connection`] and opens a new one
//! the next time it is asked after the old one failed, so callers simply retry.
//! The consumer and its heartbeat task share one link, to the bootstrap broker,
//! for group requests and commits; fetches, which long-poll and would delay
//! everything behind them on the same connection (docs/PROTOCOL.md §1), go to
//! each partition's leader on connections of their own (`fetcher.rs`).

use tokio::sync::Mutex;

use crate::connection::{Connection, ConnectionOptions};
use crate::error::Result;

/// A lazily (re)opened connection to one broker.
#[derive(Debug)]
pub(crate) struct Link {
    addr: String,
    options: ConnectionOptions,
    conn: Mutex<Option<Connection>>,
}

impl Link {
    /// A link starting with an open connection.
    pub(crate) fn with(conn: Connection, options: ConnectionOptions) -> Link {
        Link {
            addr: conn.addr().to_string(),
            options,
            conn: Mutex::new(Some(conn)),
        }
    }

    /// The broker's address.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// The current connection, opening a new one if there is none or it failed.
    pub(crate) async fn get(&self) -> Result<Connection> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        let conn = Connection::connect_with(&self.addr, self.options.clone()).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Closes the current connection (after a timeout); the next `get` reconnects.
    pub(crate) async fn reset(&self) {
        if let Some(conn) = self.conn.lock().await.take() {
            conn.close();
        }
    }

    /// Closes `conn` (a request on it timed out) if it is still the current
    /// connection; a newer one, which others may be using, is left alone.
    pub(crate) async fn reset_if(&self, conn: &Connection) {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_some_and(|c| c.id() == conn.id()) {
            *slot = None;
        }
        conn.close();
    }
}

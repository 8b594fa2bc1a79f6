//! Writing a response whose record bytes stay in segment files: the encoded
//! pieces from memory, and between them each stored range straight from its file
//! to the socket with `sendfile`, so the records are never copied into the broker.
//!
//! [`send_spliced`] is one blocking call for the whole response (run it on the
//! blocking pool: reading a file that is not in the page cache waits for the disk).
//! The socket is the connection's own, non-blocking one; while its send buffer is
//! full the call waits in `poll`, waking every [`POLL_SLICE`] to check `stop`, so a
//! connection that is given up on never leaves a thread behind. Where `sendfile`
//! cannot serve a file (a file system without it) the range is copied instead, in
//! chunks of at most [`COPY_CHUNK`] bytes, which gives the same bytes.
//!
//! Invariant: on success exactly `head` with every part's range inserted at its
//! position was written, in order; on failure the connection is unusable (part of
//! a frame may be on the wire) and must be closed.

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use rill_storage::StoredBatches;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{send, SendFlags};

/// Longest single wait for the socket to take more bytes before `stop` is checked.
pub const POLL_SLICE: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 200_000_000,
};

/// Largest buffer the copy fallback reads a range through.
pub const COPY_CHUNK: usize = 256 * 1024;

/// Largest count passed to one `sendfile` call (Linux moves at most ~2 GiB).
const SENDFILE_CHUNK: usize = 1 << 30;

/// A response frame whose records are partly in segment files.
#[derive(Debug)]
pub struct Spliced {
    /// The frame's encoded bytes (length prefix included) without the ranges.
    pub head: Bytes,
    /// Each range and the position in `head` it goes before, in ascending order.
    pub parts: Vec<Part>,
}

/// One stored range of a [`Spliced`] frame.
#[derive(Debug)]
pub struct Part {
    /// Position in [`Spliced::head`] the range's bytes are written before.
    pub at: usize,
    /// The batches.
    pub batches: StoredBatches,
}

impl Spliced {
    /// Bytes the whole frame puts on the wire.
    pub fn len(&self) -> usize {
        let stored: u64 = self.parts.iter().map(|p| p.batches.len()).sum();
        self.head
            .len()
            .saturating_add(usize::try_from(stored).unwrap_or(usize::MAX))
    }
}

/// Writes `frame` to `socket` (see the module docs); gives up with an error when
/// `stop` is set while waiting for the socket.
pub fn send_spliced(socket: impl AsFd, frame: &Spliced, stop: &AtomicBool) -> io::Result<()> {
    send_spliced_by(socket.as_fd(), frame, true, stop)
}

/// [`send_spliced`], moving the ranges with `sendfile` or, if not `use_sendfile`,
/// by the copy its fallback makes.
fn send_spliced_by(
    socket: std::os::fd::BorrowedFd<'_>,
    frame: &Spliced,
    use_sendfile: bool,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut from = 0;
    for part in &frame.parts {
        let piece = frame.head.get(from..part.at).ok_or_else(|| {
            io::Error::other(format!(
                "splice position {} is outside the {}-byte frame head",
                part.at,
                frame.head.len()
            ))
        })?;
        // More follows: let the kernel put the head and the records in full packets.
        send_all(socket, piece, SendFlags::MORE, stop)?;
        if use_sendfile {
            send_file(socket, &part.batches, stop)?;
        } else {
            copy_range(socket, &part.batches, 0, stop)?;
        }
        from = part.at;
    }
    send_all(socket, &frame.head[from..], SendFlags::empty(), stop)
}

/// Sends all of `buf`.
fn send_all(
    socket: std::os::fd::BorrowedFd<'_>,
    mut buf: &[u8],
    flags: SendFlags,
    stop: &AtomicBool,
) -> io::Result<()> {
    while !buf.is_empty() {
        match send(socket, buf, flags | SendFlags::NOSIGNAL) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::AGAIN) => wait_writable(socket, stop)?,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Sends a stored range with `sendfile`; copies what is left of it if the file
/// system does not support that.
fn send_file(
    socket: std::os::fd::BorrowedFd<'_>,
    batches: &StoredBatches,
    stop: &AtomicBool,
) -> io::Result<()> {
    let mut offset = batches.position();
    let end = batches.position() + batches.len();
    while offset < end {
        let count = usize::try_from(end - offset)
            .unwrap_or(usize::MAX)
            .min(SENDFILE_CHUNK);
        match rustix::fs::sendfile(socket, batches.file(), Some(&mut offset), count) {
            Ok(0) => return Err(cut_short(batches, offset)),
            Ok(_) => {}
            Err(Errno::AGAIN) => wait_writable(socket, stop)?,
            Err(Errno::INTR) => {}
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                return copy_range(socket, batches, offset - batches.position(), stop);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Sends a stored range from `from` bytes into it to its end, through a buffer.
fn copy_range(
    socket: std::os::fd::BorrowedFd<'_>,
    batches: &StoredBatches,
    mut from: u64,
    stop: &AtomicBool,
) -> io::Result<()> {
    let left = batches.len().saturating_sub(from);
    let mut buf = vec![0u8; usize::try_from(left).unwrap_or(COPY_CHUNK).min(COPY_CHUNK)];
    while from < batches.len() {
        let n = usize::try_from(batches.len() - from)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        batches
            .read_at(from, &mut buf[..n])
            .map_err(|e| io::Error::other(e.to_string()))?;
        send_all(socket, &buf[..n], SendFlags::empty(), stop)?;
        from += n as u64;
    }
    Ok(())
}

/// The error for a file that ended inside a range (`truncate_to` cut it).
fn cut_short(batches: &StoredBatches, at: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "{} ended at byte {at}, inside the range {}..{} being sent",
            batches.path().display(),
            batches.position(),
            batches.position() + batches.len()
        ),
    )
}

/// Waits until the socket takes more bytes, or fails once `stop` is set.
fn wait_writable(socket: std::os::fd::BorrowedFd<'_>, stop: &AtomicBool) -> io::Result<()> {
    loop {
        if stop.load(Ordering::Acquire) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the connection was given up on while a response was being sent",
            ));
        }
        let mut fds = [PollFd::new(&socket, PollFlags::OUT)];
        match poll(&mut fds, Some(&POLL_SLICE)) {
            Ok(0) | Err(Errno::INTR) => {}
            // Writable, or an error/hang-up that the next send reports.
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests;

//! Appends an async task makes in place: [`Log::try_append_checked`] and
//! [`Log::try_append_replicated`] write a batch only when that cannot wait on the disk or
//! on another thread (no fsync or segment roll due, the writer free), so the
//! write is a copy into the page cache; otherwise they write nothing and the
//! caller appends from a thread that may block.

use rill_protocol::batch::stamp_base_offset;
use rill_protocol::{BatchHeader, CheckedBatch};

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::locks::try_lock;
use crate::log::{checked_header, AppendInfo, Log, Stamped};
use crate::options::FsyncPolicy;

impl Log {
    /// As [`Log::append_checked`], but only if that cannot wait on the disk or on
    /// another thread: the fsync policy is not `always`, no interval fsync and no
    /// segment roll is due, and no other append holds the writer. The write is
    /// then a copy into the page cache, cheap enough for an async task to make
    /// in place of a hand-off to a blocking thread. `None`: nothing was written;
    /// append with [`Log::append_checked`] from a thread that may block.
    pub fn try_append_checked(&self, batch: &mut CheckedBatch) -> Option<Result<AppendInfo>> {
        if self.opts.fsync == FsyncPolicy::Always {
            return None;
        }
        let header = *batch.header();
        let len = batch.as_bytes().len();
        self.try_append_valid(header, len, |base_offset| {
            Ok(Stamped::whole(batch.stamp_base_offset(base_offset)))
        })
    }

    /// As [`Log::append_replicated`], but only when the write cannot wait, as
    /// [`Log::try_append_checked`] says; `None`: nothing was written, append
    /// with [`Log::append_replicated`] from a thread that may block.
    pub fn try_append_replicated(&self, batch: &mut [u8]) -> Option<Result<AppendInfo>> {
        if self.opts.fsync == FsyncPolicy::Always {
            return None;
        }
        let header = match checked_header(batch) {
            Ok(header) => header,
            Err(e) => return Some(Err(e)),
        };
        let len = batch.len();
        self.try_append_valid(header, len, move |base_offset| {
            stamp_base_offset(batch, base_offset).map_err(Error::InvalidBatch)?;
            Ok(Stamped::whole(batch))
        })
    }

    /// The common part of the `try_append` calls, for a valid batch of `len`
    /// bytes described by `header` (`stamp` as in [`Log::append_valid`]).
    pub(crate) fn try_append_valid<'b>(
        &self,
        header: BatchHeader,
        len: usize,
        stamp: impl FnOnce(i64) -> Result<Stamped<'b>>,
    ) -> Option<Result<AppendInfo>> {
        if let Err(e) = self.check_size(len) {
            return Some(Err(e));
        }
        let now = now_ms();
        let mut w = try_lock(&self.writer)?;
        if let Err(e) = self.check_writable(&w) {
            return Some(Err(e));
        }
        let sync_due = match self.opts.fsync {
            FsyncPolicy::Interval(every) => w.last_sync.elapsed() >= every,
            FsyncPolicy::Always | FsyncPolicy::Never => false,
        };
        if sync_due || self.roll_due(&w, len, &header, now) {
            return None;
        }
        let info = self.write_locked(&mut w, header, now, stamp);
        Some(info.inspect(|_| self.publish_written(&w)))
    }
}

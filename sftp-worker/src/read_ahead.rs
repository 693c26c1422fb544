//! Pipelined reads of one file over SFTP: what keeps a backfill at the link's speed when
//! the game server is far away.
//!
//! A read of `len` bytes is asked for as [`READ_CHUNK`]-byte requests all sent at once, so
//! it costs one round trip plus the transfer, not a round trip per chunk; exactly the
//! bytes asked for are requested (a library's read-ahead past the end of a range is bytes
//! the link carries for nothing). The file's handle stays open between the reads of one
//! poll, and a large read also asks for the [`READ_AHEAD`] bytes after it, so the link does
//! not idle between steps: the worker's reader reads a backfill in 4 MiB steps, one after
//! the other. Past the end of the file those requests are answered "end of file", which
//! carries no data.
//!
//! Requests run as tasks on the connection's raw channel: the answers arrive whether or not
//! the caller is waiting. What was read ahead and not used (the caller stopped, or read
//! elsewhere) is dropped; the handle is closed when the reads end.

use std::collections::VecDeque;
use std::sync::Arc;

use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use tokio::task::JoinHandle;

/// Bytes asked for in one request: well under the 256 KiB packets that OpenSSH and
/// russh-sftp accept.
pub const READ_CHUNK: u64 = 64 * 1024;
/// How far ahead of the caller a sequential read keeps requests in flight: 4 MiB, more
/// than a 50 ms × 100 Mbit/s path holds.
pub const READ_AHEAD: u64 = 4 << 20;
/// The most one read returns (a length from a damaged cursor must not size a buffer).
pub const MAX_READ_LEN: usize = 16 << 20;
/// A read at least this large is taken as part of a sequential read (read ahead).
const SEQUENTIAL: usize = 1 << 20;

type Answer = JoinHandle<Result<Vec<u8>, SftpError>>;

/// One request sent and its answer to come.
struct Request {
    offset: u64,
    len: u64,
    answer: Answer,
}

/// The open file and the requests in flight, in file order.
struct Open {
    path: String,
    handle: String,
    pending: VecDeque<Request>,
    /// Where the next request starts.
    next: u64,
}

/// The reads of one poll (or command) on one connection.
pub struct ReadAhead {
    raw: Arc<RawSftpSession>,
    open: tokio::sync::Mutex<Option<Open>>,
}

impl ReadAhead {
    pub fn new(raw: Arc<RawSftpSession>) -> Self {
        Self {
            raw,
            open: tokio::sync::Mutex::new(None),
        }
    }

    /// Up to `len` bytes of `path` from `offset` (at most [`MAX_READ_LEN`]): all of them
    /// unless the file ends first. A server that answers a request with less than asked
    /// is asked again for the rest, as OpenSSH's own client does.
    pub async fn read(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, SftpError> {
        let len = len.min(MAX_READ_LEN);
        let end = offset.saturating_add(len as u64);
        let mut guard = self.open.lock().await;
        if guard.as_ref().is_some_and(|open| open.path != path)
            && let Some(old) = guard.take()
        {
            self.close(old);
        }
        let open = match guard.as_mut() {
            Some(open) => open,
            None => {
                let handle = self
                    .raw
                    .open(path, OpenFlags::READ, FileAttributes::default())
                    .await?
                    .handle;
                guard.insert(Open {
                    path: path.to_owned(),
                    handle,
                    pending: VecDeque::new(),
                    next: offset,
                })
            }
        };
        self.align(open, offset);
        // A large read keeps the next READ_AHEAD bytes asked for from the start, so the
        // link stays busy while this read's answers are taken and the caller works.
        let ahead = if len >= SEQUENTIAL { READ_AHEAD } else { 0 };
        let mut out = Vec::with_capacity(len);
        let mut pos = offset;
        while pos < end {
            self.request_until(open, end.saturating_add(ahead));
            let Some(request) = open.pending.pop_front() else {
                break;
            };
            let mut data = match request.answer.await {
                Ok(Ok(data)) => data,
                Ok(Err(SftpError::Status(s))) if s.status_code == StatusCode::Eof => Vec::new(),
                Ok(Err(e)) => {
                    self.forget(&mut guard);
                    return Err(e);
                }
                Err(_) => {
                    self.forget(&mut guard);
                    return Err(SftpError::UnexpectedBehavior(
                        "a read request's task ended without an answer".to_owned(),
                    ));
                }
            };
            // Never more than asked: extra bytes would land at the wrong offsets.
            data.truncate(usize::try_from(request.len).unwrap_or(usize::MAX));
            let answered_to = request.offset + data.len() as u64;
            // This read's part of the answer: from `pos` (a request may start before it)
            // up to `end` (the last one may go past it).
            let Some(from) = pos.checked_sub(request.offset) else {
                // Not where this read stands (cannot happen once aligned): ask afresh.
                open.pending.clear();
                open.next = pos;
                continue;
            };
            if answered_to > pos {
                let to = end.min(answered_to) - request.offset;
                let part = usize::try_from(from)
                    .ok()
                    .zip(usize::try_from(to).ok())
                    .and_then(|(from, to)| data.get(from..to));
                if let Some(part) = part {
                    out.extend_from_slice(part);
                    pos = request.offset + to;
                }
            }
            if data.is_empty() {
                // The end of the file.
                open.pending.clear();
                open.next = pos;
                break;
            }
            if answered_to < request.offset + request.len {
                // Answered short: what was asked after it starts at the wrong place. Ask
                // again from where the answer ended (at the end of the file, the answer
                // to that is "end of file").
                open.pending.clear();
                open.next = answered_to;
            }
        }
        Ok(out)
    }

    /// Makes the requests in flight start at `offset`: those wholly before it are dropped,
    /// and a gap before the first (the caller reads on from the end of its last whole
    /// line, a little before where its last read ended) is asked for in front.
    fn align(&self, open: &mut Open, offset: u64) {
        while open
            .pending
            .front()
            .is_some_and(|r| r.offset + r.len <= offset)
        {
            open.pending.pop_front();
        }
        let Some(first) = open.pending.front().map(|r| r.offset) else {
            open.next = offset;
            return;
        };
        if offset >= first {
            return;
        }
        if first - offset > READ_AHEAD {
            // Far back: what is in flight is of no use.
            open.pending.clear();
            open.next = offset;
            return;
        }
        let mut gap = Vec::new();
        let mut at = offset;
        while at < first {
            let len = READ_CHUNK.min(first - at);
            gap.push(self.request(&open.handle, at, len));
            at += len;
        }
        for request in gap.into_iter().rev() {
            open.pending.push_front(request);
        }
    }

    /// Sends requests from where the last one ended up to `end`.
    fn request_until(&self, open: &mut Open, end: u64) {
        while open.next < end {
            let len = READ_CHUNK.min(end - open.next);
            let request = self.request(&open.handle, open.next, len);
            open.pending.push_back(request);
            open.next += len;
        }
    }

    /// Sends one request of at most [`READ_CHUNK`] bytes.
    fn request(&self, handle: &str, offset: u64, len: u64) -> Request {
        let raw = Arc::clone(&self.raw);
        let handle = handle.to_owned();
        // `len` is at most READ_CHUNK, so it fits a u32.
        let asked = u32::try_from(len).unwrap_or(u32::MAX);
        let answer =
            tokio::spawn(async move { raw.read(handle, offset, asked).await.map(|d| d.data) });
        Request {
            offset,
            len,
            answer,
        }
    }

    /// Drops the open file after a failure (its handle closed in the background).
    fn forget(&self, guard: &mut Option<Open>) {
        if let Some(open) = guard.take() {
            self.close(open);
        }
    }

    /// Closes a file's handle in the background: nothing waits for the answer.
    fn close(&self, open: Open) {
        let raw = Arc::clone(&self.raw);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = raw.close(open.handle).await;
            });
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        if let Some(open) = self.open.get_mut().take() {
            self.close(open);
        }
    }
}

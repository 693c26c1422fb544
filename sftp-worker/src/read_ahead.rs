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

    /// Up to `len` bytes of `path` from `offset`; fewer at the end of the file, or when the
    /// server answered a request short (the caller reads on from where this ended).
    pub async fn read(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, SftpError> {
        let mut guard = self.open.lock().await;
        // Another file, or elsewhere in this one: what is in flight is of no use.
        if let Some(open) = guard.as_mut() {
            if open.path != path {
                if let Some(old) = guard.take() {
                    self.close(old);
                }
            } else if open.pending.front().map_or(open.next, |r| r.offset) != offset {
                open.pending.clear();
                open.next = offset;
            }
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
        let end = offset + len as u64;
        // A large read keeps the next READ_AHEAD bytes asked for from the start, so the
        // link stays busy while this read's answers are taken and the caller works.
        let ahead = if len >= SEQUENTIAL { READ_AHEAD } else { 0 };
        self.request_until(open, end + ahead);
        let mut out = Vec::with_capacity(len);
        while let Some(front) = open.pending.front() {
            if front.offset >= end {
                break;
            }
            let Some(request) = open.pending.pop_front() else {
                break;
            };
            let data = match request.answer.await {
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
            let short = (data.len() as u64) < request.len;
            out.extend_from_slice(&data);
            if short {
                // The end of the file, or a server that answers less than asked: the
                // requests after this one start at the wrong place.
                open.pending.clear();
                open.next = request.offset + data.len() as u64;
                break;
            }
        }
        Ok(out)
    }

    /// Sends requests from where the last one ended up to `end`.
    fn request_until(&self, open: &mut Open, end: u64) {
        while open.next < end {
            let len = READ_CHUNK.min(end - open.next);
            let raw = Arc::clone(&self.raw);
            let handle = open.handle.clone();
            let offset = open.next;
            // `len` is at most READ_CHUNK, so it fits a u32.
            let asked = u32::try_from(len).unwrap_or(u32::MAX);
            let answer =
                tokio::spawn(async move { raw.read(handle, offset, asked).await.map(|d| d.data) });
            open.pending.push_back(Request {
                offset,
                len,
                answer,
            });
            open.next += len;
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

//! An SFTP session as a [`ByteSource`]: what the incremental reader and discovery use.
//! Every operation is bounded by the operation timeout, and a listing also by
//! [`MAX_LIST_ENTRIES`] and [`MAX_LIST_BYTES`]: a hostile server could otherwise send
//! millions of names and pin a worker core and its memory.

use std::sync::Arc;
use std::time::Duration;

use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;
use tower_ingest::source::{ByteSource, FileMeta, SourceError, SourceErrorKind};

use crate::read_ahead::ReadAhead;

/// The most entries one listing takes: a Deadside killfeed folder holds one file a day.
pub const MAX_LIST_ENTRIES: usize = 20_000;
/// The most bytes of names one listing takes.
pub const MAX_LIST_BYTES: usize = 8 << 20;

pub struct SftpSource<'a> {
    /// The connection's SFTP channel: listings and stats.
    pub raw: &'a RawSftpSession,
    /// Reads, pipelined on the raw channel ([`ReadAhead`]).
    reads: ReadAhead,
    pub timeout: Duration,
}

fn error(path: &str, e: &SftpError) -> SourceError {
    let kind = match e {
        SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile => {
            SourceErrorKind::NotFound
        }
        SftpError::Status(s) if s.status_code == StatusCode::PermissionDenied => {
            SourceErrorKind::PermissionDenied
        }
        SftpError::Timeout => SourceErrorKind::Timeout,
        _ => SourceErrorKind::Io,
    };
    SourceError {
        kind,
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn timed_out(path: &str, limit: Duration) -> SourceError {
    SourceError {
        kind: SourceErrorKind::Timeout,
        path: path.to_owned(),
        message: format!("no answer within {}s", limit.as_secs()),
    }
}

fn join(dir: &str, name: &str) -> String {
    match dir {
        "" | "." => name.to_owned(),
        d => format!("{}/{name}", d.trim_end_matches('/')),
    }
}

fn meta(name: String, path: String, attrs: &russh_sftp::protocol::FileAttributes) -> FileMeta {
    FileMeta {
        name,
        path,
        size: attrs.size.unwrap_or(0),
        mtime: i64::from(attrs.mtime.unwrap_or(0)),
        is_dir: attrs.is_dir(),
    }
}

impl<'a> SftpSource<'a> {
    /// The source of one poll or command: its reads of a file share one handle and read
    /// ahead, until it is dropped.
    pub fn new(raw: &'a Arc<RawSftpSession>, timeout: Duration) -> Self {
        Self {
            raw,
            reads: ReadAhead::new(Arc::clone(raw)),
            timeout,
        }
    }

    /// Reads a folder batch by batch, stopping with [`SourceErrorKind::TooLarge`] past the
    /// bounds; the handle is closed either way.
    async fn list_bounded(&self, listing: &str, dir: &str) -> Result<Vec<FileMeta>, SourceError> {
        let handle = self
            .raw
            .opendir(listing)
            .await
            .map_err(|e| error(dir, &e))?
            .handle;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let result = loop {
            let batch = match self.raw.readdir(handle.as_str()).await {
                Ok(batch) => batch,
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break Ok(()),
                Err(e) => break Err(error(dir, &e)),
            };
            for f in batch.files {
                bytes = bytes.saturating_add(f.filename.len() + f.longname.len());
                if f.filename == "." || f.filename == ".." {
                    continue;
                }
                let path = join(dir, &f.filename);
                out.push(meta(f.filename, path, &f.attrs));
            }
            if out.len() > MAX_LIST_ENTRIES || bytes > MAX_LIST_BYTES {
                break Err(SourceError {
                    kind: SourceErrorKind::TooLarge,
                    path: dir.to_owned(),
                    message: format!(
                        "the folder lists more than {MAX_LIST_ENTRIES} entries or {} MiB of \
                         names; the bot stops there (is this the game server's folder?)",
                        MAX_LIST_BYTES >> 20
                    ),
                });
            }
        };
        let _ = self.raw.close(handle.as_str()).await;
        result.map(|()| out)
    }

    async fn bounded<T>(
        &self,
        path: &str,
        f: impl Future<Output = Result<T, SftpError>>,
    ) -> Result<T, SourceError> {
        match tokio::time::timeout(self.timeout, f).await {
            Ok(r) => r.map_err(|e| error(path, &e)),
            Err(_) => Err(timed_out(path, self.timeout)),
        }
    }
}

impl ByteSource for SftpSource<'_> {
    async fn list(&self, dir: &str) -> Result<Vec<FileMeta>, SourceError> {
        let listing = if dir.is_empty() { "." } else { dir };
        // One deadline for the whole listing, however many batches the server sends.
        let mut out =
            match tokio::time::timeout(self.timeout, self.list_bounded(listing, dir)).await {
                Ok(r) => r?,
                Err(_) => return Err(timed_out(dir, self.timeout)),
            };
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn stat(&self, path: &str) -> Result<FileMeta, SourceError> {
        let attrs = self
            .bounded(path, async { self.raw.stat(path).await.map(|a| a.attrs) })
            .await?;
        let name = path.rsplit('/').next().unwrap_or(path).to_owned();
        Ok(meta(name, path.to_owned(), &attrs))
    }

    async fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, SourceError> {
        let limit = self.timeout + Duration::from_secs((len as u64) >> 20);
        match tokio::time::timeout(limit, self.reads.read(path, offset, len)).await {
            Ok(r) => r.map_err(|e| error(path, &e)),
            Err(_) => Err(timed_out(path, limit)),
        }
    }
}

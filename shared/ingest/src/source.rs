//! Where log bytes come from: a folder on this machine (tools, tests) or an SFTP server
//! (the sftp-worker). The incremental reader only needs to list, stat and read a range.

use std::path::{Path, PathBuf};

/// A file or folder as a byte source lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The file name alone, e.g. `2025.05.01-00.00.00.csv`.
    pub name: String,
    /// The path to pass back to [`ByteSource::read_at`].
    pub path: String,
    pub size: u64,
    /// Modification time, whole Unix seconds (what SFTP reports).
    pub mtime: i64,
    pub is_dir: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    NotFound,
    PermissionDenied,
    Timeout,
    Io,
    /// A listing over the bounds a game server's folder never needs (a hostile or
    /// misconfigured server).
    TooLarge,
}

/// Why a source could not list, stat or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SourceError {
    pub kind: SourceErrorKind,
    pub path: String,
    pub message: String,
}

/// Listing, stat and ranged reads.
pub trait ByteSource {
    fn list(&self, dir: &str) -> impl Future<Output = Result<Vec<FileMeta>, SourceError>> + Send;
    fn stat(&self, path: &str) -> impl Future<Output = Result<FileMeta, SourceError>> + Send;
    /// Up to `len` bytes from `offset` (fewer at the end of the file).
    fn read_at(
        &self,
        path: &str,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = Result<Vec<u8>, SourceError>> + Send;
}

/// Files under a local folder; paths are relative to it.
#[derive(Debug, Clone)]
pub struct LocalSource {
    root: PathBuf,
}

impl LocalSource {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn full(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

fn io_error(path: &str, e: &std::io::Error) -> SourceError {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => SourceErrorKind::NotFound,
        std::io::ErrorKind::PermissionDenied => SourceErrorKind::PermissionDenied,
        std::io::ErrorKind::TimedOut => SourceErrorKind::Timeout,
        _ => SourceErrorKind::Io,
    };
    SourceError {
        kind,
        path: path.to_owned(),
        message: e.to_string(),
    }
}

fn meta_of(name: String, path: String, m: &std::fs::Metadata) -> FileMeta {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    FileMeta {
        name,
        path,
        size: m.len(),
        mtime,
        is_dir: m.is_dir(),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

// Blocking `std::fs` inside the async calls: a local folder is for tools and tests
// (`towerctl`, the ingest tests), where a short block is fine and the ingest core stays
// free of an async runtime.
impl ByteSource for LocalSource {
    async fn list(&self, dir: &str) -> Result<Vec<FileMeta>, SourceError> {
        let entries = std::fs::read_dir(self.full(dir)).map_err(|e| io_error(dir, &e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(dir, &e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let meta = entry.metadata().map_err(|e| io_error(dir, &e))?;
            out.push(meta_of(name.clone(), join(dir, &name), &meta));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn stat(&self, path: &str) -> Result<FileMeta, SourceError> {
        let meta = std::fs::metadata(self.full(path)).map_err(|e| io_error(path, &e))?;
        let name = Path::new(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(meta_of(name, path.to_owned(), &meta))
    }

    async fn read_at(&self, path: &str, offset: u64, len: usize) -> Result<Vec<u8>, SourceError> {
        use std::io::{Read, Seek};
        let mut file = std::fs::File::open(self.full(path)).map_err(|e| io_error(path, &e))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .map_err(|e| io_error(path, &e))?;
        let mut buf = Vec::with_capacity(len.min(1 << 22));
        file.take(len as u64)
            .read_to_end(&mut buf)
            .map_err(|e| io_error(path, &e))?;
        Ok(buf)
    }
}

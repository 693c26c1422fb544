//! Per-file cursors and what to read next (PRODUCT.md §3, "Reading incrementally").
//!
//! Killfeed: CSV files are named by their start time and never change once a newer one
//! exists, so the cursor is (newest file read, offset): keep reading it, then every newer
//! file from 0, in name order. `Deadside.log` grows and is replaced on restart: a smaller
//! size, or different first bytes, means a new log to read from 0.

use serde::{Deserialize, Serialize};

use crate::source::{ByteSource, FileMeta, SourceError};

/// How many first bytes identify a log file.
pub const HEAD_LEN: u64 = 256;

/// Where reading of one file stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCursor {
    pub file: String,
    /// Bytes consumed: always at a line start.
    pub offset: u64,
    /// Size and mtime when last read.
    pub size: u64,
    pub mtime: i64,
    /// SHA-256 (hex, first 16 bytes) of the first `head_len` bytes.
    pub head_hash: String,
    pub head_len: u64,
    /// Logs only: which log this is, in keys that must not change while the log grows or
    /// when a read is retried (its notices' keys): see [`log_id`]. Empty until known.
    #[serde(default)]
    pub log_id: String,
}

/// A position in a killfeed folder's reading order: a file (named by its time) and an
/// offset in it.
///
/// Ordered as reading goes: by file name, then offset.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReadPoint {
    pub file: String,
    pub offset: u64,
}

impl ReadPoint {
    /// Reading has got this far (or further).
    pub fn reached_by(&self, cursor: &FileCursor) -> bool {
        (cursor.file.as_str(), cursor.offset) >= (self.file.as_str(), self.offset)
    }

    /// A batch ending at `cursor` lies wholly before this point.
    pub fn covers(&self, cursor: &FileCursor) -> bool {
        (cursor.file.as_str(), cursor.offset) <= (self.file.as_str(), self.offset)
    }
}

/// Why a log is read again from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogRestart {
    /// No cursor yet.
    New,
    /// Smaller than what was read.
    Truncated,
    /// Same size or larger, different first bytes.
    Replaced,
}

/// The next read of a killfeed folder: which file, from where, and whether it is final
/// (a newer file exists, so its last line is complete even without a newline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillfeedRead {
    pub file: FileMeta,
    pub from: u64,
    pub is_final: bool,
}

/// The killfeed CSV files of a listing, in name (= time) order.
pub fn csv_files(listing: &[FileMeta]) -> Vec<FileMeta> {
    let mut files: Vec<FileMeta> = listing
        .iter()
        .filter(|f| !f.is_dir && f.name.to_ascii_lowercase().ends_with(".csv"))
        .cloned()
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// Where a re-read of the files written since `since` (Unix seconds) starts: the first
/// file, in reading order, last written then or later (it holds lines from then on), or
/// whose modification time the server does not tell (0: read again rather than left out).
/// `None` when every file is older. A file copied in with its old mtime kept is read again
/// only by a re-read that reaches back to that time.
pub fn first_written_since(files: &[FileMeta], since: i64) -> Option<&FileMeta> {
    files.iter().find(|f| f.mtime == 0 || f.mtime >= since)
}

/// What to read next in a killfeed folder, given the cursor; `None` when up to date.
pub fn next_killfeed_read(cursor: Option<&FileCursor>, files: &[FileMeta]) -> Option<KillfeedRead> {
    let is_final = |i: usize| i + 1 < files.len();
    match cursor {
        None => files.first().map(|f| KillfeedRead {
            file: f.clone(),
            from: 0,
            is_final: is_final(0),
        }),
        Some(c) => {
            if let Some(i) = files.iter().position(|f| f.name == c.file) {
                let f = &files[i];
                // Shorter than what was read: replaced. Read again from its start; the
                // lines already counted are known by their identities and dropped.
                if f.size < c.offset {
                    return Some(KillfeedRead {
                        file: f.clone(),
                        from: 0,
                        is_final: is_final(i),
                    });
                }
                // More bytes, or a now-final file whose unterminated last line is due.
                if f.size > c.offset {
                    return Some(KillfeedRead {
                        file: f.clone(),
                        from: c.offset,
                        is_final: is_final(i),
                    });
                }
            }
            let i = files.iter().position(|f| f.name > c.file)?;
            Some(KillfeedRead {
                file: files[i].clone(),
                from: 0,
                is_final: is_final(i),
            })
        }
    }
}

/// Whether the killfeed file the cursor is in was replaced by one as long or longer (its
/// first bytes differ from those read): it is then read again from its start. Checked
/// only when the file changed since it was read, and only for cursors that know the
/// file's first bytes (cursors of earlier builds do not).
pub async fn killfeed_replaced<S: ByteSource>(
    source: &S,
    cursor: &FileCursor,
    files: &[FileMeta],
) -> Result<bool, SourceError> {
    let Some(now) = files.iter().find(|f| f.name == cursor.file) else {
        return Ok(false);
    };
    if cursor.head_len == 0 || (now.size == cursor.size && now.mtime == cursor.mtime) {
        return Ok(false);
    }
    if now.size < cursor.offset {
        return Ok(true);
    }
    let len = usize::try_from(cursor.head_len).unwrap_or(usize::MAX);
    let head = source.read_at(&now.path, 0, len).await?;
    Ok(head.len() != len || head_hash(&head) != cursor.head_hash)
}

/// The head hash of `bytes` (the first bytes of a file).
pub fn head_hash(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    crate::hex::encode(&digest.as_ref()[..16])
}

/// A log's identity from its first bytes: the hash of its first line (Deadside's
/// `Log file open, <time>`), or of the first [`HEAD_LEN`] bytes when that line is longer.
/// `None` while the first line is still partial; no line of the log is complete then, so
/// nothing needs a key yet. Unlike the head hash, it is the same however far the log has
/// grown when it is read.
pub fn log_id(head: &[u8]) -> Option<String> {
    match head.iter().position(|&b| b == b'\n') {
        Some(nl) => Some(head_hash(&head[..=nl])),
        None if head.len() as u64 >= HEAD_LEN => Some(head_hash(&head[..HEAD_LEN as usize])),
        None => None,
    }
}

/// Whether the log at `now` is the one the cursor was reading, reading its first bytes
/// when needed. `Ok(None)`: same file, continue from the cursor.
pub async fn log_restart<S: ByteSource>(
    source: &S,
    cursor: Option<&FileCursor>,
    now: &FileMeta,
) -> Result<Option<LogRestart>, SourceError> {
    let Some(c) = cursor else {
        return Ok(Some(LogRestart::New));
    };
    if now.size < c.offset {
        return Ok(Some(LogRestart::Truncated));
    }
    if now.size == c.size && now.mtime == c.mtime {
        return Ok(None);
    }
    let head = source.read_at(&now.path, 0, c.head_len as usize).await?;
    if head.len() as u64 != c.head_len || head_hash(&head) != c.head_hash {
        return Ok(Some(LogRestart::Replaced));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64) -> FileMeta {
        FileMeta {
            name: name.to_owned(),
            path: format!("d/{name}"),
            size,
            mtime: 0,
            is_dir: false,
        }
    }

    fn cursor(name: &str, offset: u64) -> FileCursor {
        FileCursor {
            file: name.to_owned(),
            offset,
            ..FileCursor::default()
        }
    }

    #[test]
    fn a_logs_id_is_the_same_however_far_it_has_grown() {
        let log = format!("Log file open, 05/03/25 02:00:00\n{}", "x".repeat(600));
        let first_line = 33;
        assert_eq!(
            log_id(&log.as_bytes()[..20]),
            None,
            "first line still partial"
        );
        let id = log_id(&log.as_bytes()[..first_line]);
        assert!(id.is_some());
        for len in [first_line + 1, 100, 255, 256, 600] {
            let head = &log.as_bytes()[..len.min(HEAD_LEN as usize)];
            assert_eq!(log_id(head), id, "after {len} bytes");
        }
        let other = "Log file open, 05/03/25 03:00:00\n";
        assert_ne!(log_id(other.as_bytes()), id, "another log, another id");
        let no_newline = "y".repeat(300);
        assert_eq!(
            log_id(&no_newline.as_bytes()[..HEAD_LEN as usize]),
            Some(head_hash(&no_newline.as_bytes()[..HEAD_LEN as usize]))
        );
    }

    #[test]
    fn killfeed_reads_the_current_file_then_newer_ones_in_order() {
        let files = csv_files(&[
            file("b.csv", 50),
            file("a.csv", 100),
            file("notes.txt", 9),
            file("c.csv", 0),
        ]);
        assert_eq!(
            files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["a.csv", "b.csv", "c.csv"]
        );
        let first = next_killfeed_read(None, &files);
        assert_eq!(
            first.map(|r| (r.file.name, r.from, r.is_final)),
            Some(("a.csv".to_owned(), 0, true))
        );
        let more = next_killfeed_read(Some(&cursor("a.csv", 60)), &files);
        assert_eq!(
            more.map(|r| (r.file.name, r.from)),
            Some(("a.csv".to_owned(), 60))
        );
        let next = next_killfeed_read(Some(&cursor("a.csv", 100)), &files);
        assert_eq!(
            next.map(|r| (r.file.name, r.from)),
            Some(("b.csv".to_owned(), 0))
        );
        // An empty newest file is read (nothing) and becomes the cursor's file.
        let last = next_killfeed_read(Some(&cursor("b.csv", 50)), &files);
        assert_eq!(
            last.map(|r| (r.file.name, r.is_final)),
            Some(("c.csv".to_owned(), false))
        );
        assert_eq!(next_killfeed_read(Some(&cursor("c.csv", 0)), &files), None);
        // Older files never change: a cursor past them ignores them.
        assert_eq!(next_killfeed_read(Some(&cursor("z.csv", 0)), &files), None);
        // The current file is now shorter than what was read: it was replaced, and is
        // read again from its start.
        let replaced = next_killfeed_read(Some(&cursor("b.csv", 70)), &files);
        assert_eq!(
            replaced.map(|r| (r.file.name, r.from)),
            Some(("b.csv".to_owned(), 0))
        );
    }

    #[test]
    fn a_reread_starts_at_the_first_file_written_since_then() {
        let dated = |name: &str, mtime: i64| FileMeta {
            mtime,
            ..file(name, 10)
        };
        let files = [
            dated("a.csv", 100),
            dated("b.csv", 200),
            dated("c.csv", 300),
        ];
        let from = |since| first_written_since(&files, since).map(|f| f.name.as_str());
        // b.csv was still written to at 150: it holds lines from then on.
        assert_eq!(from(150), Some("b.csv"));
        assert_eq!(from(200), Some("b.csv"));
        assert_eq!(from(0), Some("a.csv"));
        assert_eq!(from(301), None);
        // A server that tells no modification times: everything is read again.
        let untold = [file("a.csv", 10), file("b.csv", 10)];
        assert_eq!(
            first_written_since(&untold, 1_000).map(|f| f.name.as_str()),
            Some("a.csv")
        );
        assert!(
            ReadPoint {
                file: "a.csv".into(),
                offset: 900
            } < ReadPoint {
                file: "b.csv".into(),
                offset: 0
            }
        );
    }
}

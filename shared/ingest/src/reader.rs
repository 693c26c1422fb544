//! Incremental reading of a game server's killfeed folder and `Deadside.log` over any
//! [`ByteSource`]: only bytes past the cursor are read, partial trailing lines wait for
//! their newline, new CSV files are picked up in order, a replaced or truncated log is
//! read again from 0.
//!
//! What is read goes to a sink that applies it and records the cursor it returns to; the
//! cursor only moves once the sink has succeeded, so a failure re-reads rather than loses.

use crate::cursor::{
    FileCursor, HEAD_LEN, LogRestart, ReadPoint, csv_files, head_hash, killfeed_replaced, log_id,
    log_restart, next_killfeed_read,
};
use crate::earlier_position::EarlierPosition;
use crate::ingest::{Chunk, consumed_by, parse_killfeed_chunk};
use crate::lines::complete_lines;
use crate::server_log::{LogRecord, parse_log_line};
use crate::source::{ByteSource, FileMeta, SourceError};

/// Largest single read; bigger files take several steps (and batches).
pub const MAX_READ: usize = 4 << 20;

/// The most killfeed bytes one batch holds, unless the worker is configured otherwise.
/// Small files (a day is a few hundred lines) are gathered into one batch, so a backfill
/// updates each player's statistics once per batch instead of once per file.
pub const BATCH_BYTES: usize = 4 << 20;

/// Applies what was read: a batch, the chunks of one or more files in reading order. The
/// sink makes the batch durable together with `cursor`, the position after its last chunk.
pub trait KillfeedSink {
    type Error;
    /// The folder's killfeed files, in reading order, and the cursor reading starts
    /// from: called once per poll, before any batch (a backfill's totals come from it).
    fn listed(&mut self, _files: &[FileMeta], _cursor: Option<&FileCursor>) {}
    /// Where to read from instead of `cursor`, when files already read are to be read
    /// again (`/historical_parse days`): the sink drops the lines it had counted. Called
    /// once per poll, before [`KillfeedSink::listed`]; `None`: from the cursor.
    fn read_again_from(
        &mut self,
        _files: &[FileMeta],
        _cursor: Option<&FileCursor>,
    ) -> Option<FileCursor> {
        None
    }
    /// Where history ends, if the sink keeps some lines quiet: no batch crosses it, so
    /// every batch is wholly history or wholly new.
    fn history_end(&self) -> Option<&ReadPoint> {
        None
    }
    /// Where the earlier bot stopped reading this folder, while it is still to be found
    /// in bytes (before the folder's first read).
    fn earlier_position(&self) -> Option<&EarlierPosition> {
        None
    }
    /// [`KillfeedSink::earlier_position`] found: history ends at `point`. Called before
    /// [`KillfeedSink::listed`].
    fn earlier_position_found(&mut self, _point: ReadPoint) {}
    fn apply(
        &mut self,
        batch: &[Chunk<'_>],
        cursor: &FileCursor,
    ) -> impl Future<Output = Result<(), Self::Error>>;
}

pub trait LogSink {
    type Error;
    fn apply(
        &mut self,
        restart: Option<LogRestart>,
        records: &[(u64, LogRecord<'_>)],
        cursor: &FileCursor,
    ) -> impl Future<Output = Result<(), Self::Error>>;
}

/// Why a poll stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PollError<E> {
    #[error("reading the server's files: {0}")]
    Source(#[from] SourceError),
    #[error("applying what was read: {0}")]
    Sink(E),
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    pub bytes: u64,
    pub lines: u64,
    pub batches: u64,
}

/// Reads everything new in the killfeed folder `dir`, in batches of up to `batch_bytes`
/// ([`BATCH_BYTES`] unless configured); returns the cursor reached.
pub async fn poll_killfeed<S: ByteSource, K: KillfeedSink>(
    source: &S,
    dir: &str,
    batch_bytes: usize,
    mut cursor: Option<FileCursor>,
    sink: &mut K,
    outcome: &mut PollOutcome,
) -> Result<Option<FileCursor>, PollError<K::Error>> {
    let files = csv_files(&source.list(dir).await?);
    if let Some(c) = &cursor
        && killfeed_replaced(source, c, &files).await?
    {
        // Read again from its start (the identities of counted lines drop them).
        cursor = Some(FileCursor {
            file: c.file.clone(),
            ..FileCursor::default()
        });
    }
    if cursor.is_none()
        && let Some(earlier) = sink.earlier_position().cloned()
    {
        let point = crate::earlier_position::locate(source, &files, &earlier).await?;
        sink.earlier_position_found(point);
    }
    if let Some(from) = sink.read_again_from(&files, cursor.as_ref()) {
        cursor = Some(from);
    }
    sink.listed(&files, cursor.as_ref());
    loop {
        let stop = sink.history_end().cloned();
        let reads =
            gather_reads(source, cursor.as_ref(), &files, batch_bytes, stop.as_ref()).await?;
        let Some(next) = reads.last().map(|r| r.cursor.clone()) else {
            break;
        };
        let batch: Vec<Chunk<'_>> = reads
            .iter()
            .map(|r| parse_killfeed_chunk(&r.path, &r.bytes, r.from, r.at_eof))
            .collect();
        sink.apply(&batch, &next).await.map_err(PollError::Sink)?;
        for chunk in &batch {
            outcome.bytes += chunk.consumed as u64;
            outcome.lines += chunk.lines;
        }
        outcome.batches += 1;
        cursor = Some(next);
    }
    Ok(cursor)
}

/// One file's bytes read for a batch, and the cursor after them.
struct BatchRead {
    path: String,
    from: u64,
    bytes: Vec<u8>,
    at_eof: bool,
    cursor: FileCursor,
}

/// The reads of the next batch: from `cursor` on, file after file, until `batch_bytes`
/// or nothing new. Empty when only a partial line is new (it waits for its newline).
async fn gather_reads<S: ByteSource>(
    source: &S,
    mut cursor: Option<&FileCursor>,
    files: &[FileMeta],
    batch_bytes: usize,
    stop: Option<&ReadPoint>,
) -> Result<Vec<BatchRead>, SourceError> {
    let mut reads: Vec<BatchRead> = Vec::new();
    let mut budget = batch_bytes;
    while let Some(read) = next_killfeed_read(cursor, files) {
        let start = FileCursor {
            file: read.file.name.clone(),
            offset: read.from,
            ..FileCursor::default()
        };
        // A batch of history ends where history does.
        if let (Some(stop), Some(last)) = (stop, reads.last())
            && stop.covers(&last.cursor)
            && stop.reached_by(&start)
        {
            break;
        }
        let left = usize::try_from(read.file.size.saturating_sub(read.from)).unwrap_or(usize::MAX);
        // The first read is whole whatever the budget, so that a long line still moves
        // the cursor (see `lines::MAX_PENDING`).
        let want = match reads.is_empty() {
            true => left.min(MAX_READ),
            false if budget == 0 => break,
            false => left.min(budget).min(MAX_READ),
        };
        // An empty file is not opened (a host with many of them, or one deleted meanwhile).
        let mut bytes = match want {
            0 => Vec::new(),
            _ => source.read_at(&read.file.path, read.from, want).await?,
        };
        // Reading past the end of history: cut at the last whole line before it, and end
        // the batch there. A line across the end (partial when history was marked) goes
        // with what follows.
        let mut at_history_end = false;
        if let Some(stop) = stop.filter(|s| s.file == read.file.name && s.offset > read.from) {
            let cap = usize::try_from(stop.offset - read.from).unwrap_or(usize::MAX);
            if bytes.len() > cap && consumed_by(&bytes[..cap], read.from, false) > 0 {
                bytes.truncate(cap);
                at_history_end = true;
            }
        }
        let at_eof =
            !at_history_end && read.is_final && read.from + bytes.len() as u64 >= read.file.size;
        let consumed = consumed_by(&bytes, read.from, at_eof);
        // An empty file that is not the newest (a quiet hour between two rotations) has
        // nothing to wait for: read past it, or the files after it would wait forever.
        let empty_and_done = at_eof && bytes.is_empty();
        if consumed == 0 && !empty_and_done {
            // Only a partial line: it waits for its newline, or (cut by the budget) for
            // the next batch.
            break;
        }
        budget = budget.saturating_sub(bytes.len());
        // The file's first bytes, so that a replacement is noticed: known when this read
        // starts the file, carried on from the cursor when it continues it.
        let (head_hash, head_len) = match cursor {
            _ if read.from == 0 => {
                let head = &bytes[..bytes.len().min(HEAD_LEN as usize)];
                (crate::cursor::head_hash(head), head.len() as u64)
            }
            Some(c) if c.file == read.file.name => (c.head_hash.clone(), c.head_len),
            _ => (String::new(), 0),
        };
        reads.push(BatchRead {
            path: read.file.path.clone(),
            from: read.from,
            cursor: FileCursor {
                file: read.file.name.clone(),
                offset: read.from + consumed as u64,
                size: read.file.size,
                mtime: read.file.mtime,
                head_hash,
                head_len,
                log_id: String::new(),
            },
            bytes,
            at_eof,
        });
        if at_history_end {
            break;
        }
        cursor = reads.last().map(|r| &r.cursor);
    }
    Ok(reads)
}

/// Reads everything new in the log at `path`; returns the cursor reached.
pub async fn poll_log<S: ByteSource, L: LogSink>(
    source: &S,
    path: &str,
    mut cursor: Option<FileCursor>,
    sink: &mut L,
    outcome: &mut PollOutcome,
) -> Result<Option<FileCursor>, PollError<L::Error>> {
    let now = source.stat(path).await?;
    let previous_id = cursor.as_ref().map(|c| c.log_id.clone());
    let mut restart = log_restart(source, cursor.as_ref(), &now).await?;
    if restart.is_some() {
        cursor = None;
    }
    // The log's identity is its first HEAD_LEN bytes. A log first seen shorter than that
    // gets its identity completed as it grows (checking the part already known).
    let mut head = cursor.as_ref().map(|c| (c.head_hash.clone(), c.head_len));
    let mut id = cursor
        .as_ref()
        .map(|c| c.log_id.clone())
        .unwrap_or_default();
    if head
        .as_ref()
        .is_none_or(|(_, len)| *len < HEAD_LEN && now.size > *len)
    {
        let bytes = source.read_at(path, 0, HEAD_LEN as usize).await?;
        if let Some((hash, len)) = &head {
            let known = usize::try_from(*len).unwrap_or(usize::MAX);
            if bytes.len() < known || head_hash(&bytes[..known]) != *hash {
                restart = Some(LogRestart::Replaced);
                cursor = None;
                id.clear();
            }
        }
        head = Some((head_hash(&bytes), bytes.len() as u64));
        if id.is_empty() {
            id = log_id(&bytes).unwrap_or_default();
        }
    }
    let head = head.unwrap_or_default();
    if id.is_empty() && head.1 >= HEAD_LEN {
        // A cursor of an earlier build: its whole head hash was its notices' key.
        id = head.0.clone();
    }
    // A new log whose first line is the same as the old one's (a restart within the
    // second, a host that writes a generic first line) must not reuse its notices' keys.
    if matches!(restart, Some(LogRestart::Truncated | LogRestart::Replaced))
        && let Some(previous) = previous_id.filter(|p| !p.is_empty() && *p == id)
    {
        id = next_log_id(&previous);
    }
    let head = (head.0, head.1, id);
    let mut offset = cursor.as_ref().map_or(0, |c| c.offset);
    while offset < now.size {
        let want = usize::try_from(now.size - offset)
            .unwrap_or(MAX_READ)
            .min(MAX_READ);
        let bytes = source.read_at(path, offset, want).await?;
        let lines = complete_lines(&bytes, offset);
        let consumed = lines.consumed();
        if consumed == 0 {
            break;
        }
        let mut count = 0;
        let records: Vec<(u64, LogRecord<'_>)> = lines
            .inspect(|_| count += 1)
            .filter_map(|l| Some((l.offset, parse_log_line(l.bytes)?)))
            .collect();
        let next = log_cursor(&now, offset + consumed as u64, &head);
        sink.apply(restart.take(), &records, &next)
            .await
            .map_err(PollError::Sink)?;
        outcome.bytes += consumed as u64;
        outcome.lines += count;
        outcome.batches += 1;
        offset = next.offset;
        cursor = Some(next);
    }
    if let Some(r) = restart {
        // A new, still empty (or partial-line) log: record it so it is not "new" again.
        let next = log_cursor(&now, 0, &head);
        sink.apply(Some(r), &[], &next)
            .await
            .map_err(PollError::Sink)?;
        cursor = Some(next);
    }
    Ok(cursor)
}

/// The id of a log that replaced one with the same first line: `id.1`, then `id.2`, …
fn next_log_id(previous: &str) -> String {
    match previous.rsplit_once('.') {
        Some((base, n)) if n.parse::<u64>().is_ok() => {
            format!("{base}.{}", n.parse::<u64>().unwrap_or(0).saturating_add(1))
        }
        _ => format!("{previous}.1"),
    }
}

fn log_cursor(now: &FileMeta, offset: u64, head: &(String, u64, String)) -> FileCursor {
    FileCursor {
        file: now.name.clone(),
        offset,
        size: now.size,
        mtime: now.mtime,
        head_hash: head.0.clone(),
        head_len: head.1,
        log_id: head.2.clone(),
    }
}

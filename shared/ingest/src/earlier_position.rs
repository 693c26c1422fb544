//! Where the earlier (Python) bot stopped reading a killfeed folder, in its own terms, and
//! the byte position in this reader's terms that it stands for.
//!
//! The earlier bot kept, per game server, how many CSV records of each file it had read
//! (`csv_processor_state.line_positions`, keyed by the file's name). `towerctl
//! import-legacy` stores the newest of them with the server's cursor; the first read of
//! the server then keeps quiet exactly what the earlier bot had already posted, and
//! announces the rest, so a community switching bots neither sees kills again nor misses
//! the ones written while it switched.
//!
//! A record is what Python's `csv.reader` (delimiter `;`) counts: a physical line, unless
//! a field opened with `"` runs over a newline. Deadside writes no quotes, so for its files
//! records and lines agree; the quote rule is kept so a stray quote cannot shift the
//! position.

use serde::{Deserialize, Serialize};

use crate::cursor::ReadPoint;
use crate::reader::MAX_READ;
use crate::source::{ByteSource, FileMeta, SourceError};

/// How far the earlier bot had read one file of a killfeed folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierPosition {
    /// The file's name, e.g. `2025.05.10-00.00.00.csv`.
    pub file: String,
    /// CSV records of that file the earlier bot had read (and posted).
    pub records: u64,
    /// When it was imported (Unix seconds): a position much older than the switch-over
    /// would announce days of old kills, so it is only used while fresh.
    #[serde(default)]
    pub recorded_unix: i64,
}

/// Counts CSV records as Python's `csv.reader` does, over bytes fed in pieces.
#[derive(Debug, Default)]
struct RecordCounter {
    records: u64,
    /// Inside a field that opened with `"`.
    quoted: bool,
    /// The last byte was a `"` inside a quoted field: a second one is a literal quote,
    /// anything else closes the field.
    quote_pending: bool,
    /// The next byte starts a field.
    field_start: bool,
}

impl RecordCounter {
    fn new() -> Self {
        Self {
            field_start: true,
            ..Self::default()
        }
    }

    /// Feeds `bytes`; the index just past the record that made `target` records, if
    /// it is in them.
    fn feed(&mut self, bytes: &[u8], target: u64) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            if self.quote_pending {
                self.quote_pending = false;
                if b == b'"' {
                    continue;
                }
                self.quoted = false;
            }
            if self.quoted {
                if b == b'"' {
                    self.quote_pending = true;
                }
                continue;
            }
            match b {
                b'\n' => {
                    self.records += 1;
                    self.field_start = true;
                    if self.records == target {
                        return Some(i + 1);
                    }
                    continue;
                }
                b'"' if self.field_start => self.quoted = true,
                _ => {}
            }
            self.field_start = b == b';';
        }
        None
    }
}

/// The point in the folder's reading order where the earlier bot stopped: in `earlier`'s
/// file, just past its `records`-th record. Lines before the point (in every file named
/// before it too) were posted by the earlier bot; lines after it were not.
///
/// A file no longer listed stands for its place in name order (everything named after
/// it is new). A file with fewer records than the earlier bot counted (replaced, or its
/// last line unterminated then) was read to its end.
pub async fn locate<S: ByteSource>(
    source: &S,
    files: &[FileMeta],
    earlier: &EarlierPosition,
) -> Result<ReadPoint, SourceError> {
    let at = |offset| ReadPoint {
        file: earlier.file.clone(),
        offset,
    };
    let Some(file) = files.iter().find(|f| f.name == earlier.file) else {
        return Ok(at(0));
    };
    if earlier.records == 0 {
        return Ok(at(0));
    }
    let mut counter = RecordCounter::new();
    let mut offset = 0u64;
    while offset < file.size {
        let want = usize::try_from(file.size - offset)
            .unwrap_or(usize::MAX)
            .min(MAX_READ);
        let bytes = source.read_at(&file.path, offset, want).await?;
        if bytes.is_empty() {
            break;
        }
        if let Some(end) = counter.feed(&bytes, earlier.records) {
            return Ok(at(offset + end as u64));
        }
        offset += bytes.len() as u64;
    }
    Ok(at(file.size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::LocalSource;

    fn records_in(text: &str, target: u64) -> Option<usize> {
        RecordCounter::new().feed(text.as_bytes(), target)
    }

    #[test]
    fn a_record_is_a_line_unless_a_quoted_field_runs_over_a_newline() {
        let plain = "a;b\nc;d\ne;f\n";
        assert_eq!(records_in(plain, 2), Some(8));
        // A blank line is a record, as csv.reader counts it.
        assert_eq!(records_in("a\n\nb\n", 2), Some(3));
        // A quoted field holding a newline and an escaped quote: one record.
        let quoted = "x;\"two\nlines \"\"q\"\"\";y\nnext\n";
        assert_eq!(records_in(quoted, 1), Some(22));
        assert_eq!(records_in(quoted, 2), Some(quoted.len()));
        // A quote inside a field is a character like any other.
        assert_eq!(records_in("ab\"c\nd\n", 1), Some(5));
        // Fed in pieces, the same.
        let mut counter = RecordCounter::new();
        assert_eq!(counter.feed(&quoted.as_bytes()[..5], 1), None);
        assert_eq!(counter.feed(&quoted.as_bytes()[5..], 1), Some(17));
    }

    #[tokio::test]
    async fn the_earlier_bots_line_count_becomes_a_byte_position()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("earlier_position_{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let lines = "2026.01.02-00.00.00;A;a;B;b;AK;10;PC;PC;\n".repeat(6);
        std::fs::write(dir.join("2026.01.02-00.00.00.csv"), &lines)?;
        let source = LocalSource::new(&dir);
        let files = crate::cursor::csv_files(&source.list("").await?);
        let line = lines.len() as u64 / 6;
        let at = |file: &str, records| EarlierPosition {
            file: file.to_owned(),
            records,
            recorded_unix: 0,
        };
        let read = locate(&source, &files, &at("2026.01.02-00.00.00.csv", 4)).await?;
        assert_eq!(read.offset, 4 * line);
        // More than the file holds now: all of it was read.
        let read = locate(&source, &files, &at("2026.01.02-00.00.00.csv", 9)).await?;
        assert_eq!(read.offset, 6 * line);
        // A file gone from the folder: its place in name order.
        let gone = locate(&source, &files, &at("2026.01.01-00.00.00.csv", 40)).await?;
        assert_eq!(
            (gone.file.as_str(), gone.offset),
            ("2026.01.01-00.00.00.csv", 0)
        );
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}

//! Bytes read from a killfeed file at a cursor's offset, turned into events and malformed
//! line reports. The sftp-worker's poller and `towerctl analyze` both go through here, so
//! the numbers an admin sees offline are the numbers the bot posts.

use crate::killfeed::{KillfeedLine, Malformed, parse_line};
use crate::lines::complete_lines;

/// A line that was skipped, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedLine {
    pub file: String,
    pub offset: u64,
    pub reason: Malformed,
}

/// What one chunk of a killfeed file held.
#[derive(Debug, Default)]
pub struct Chunk<'a> {
    /// The file the chunk was read from (as the source names it).
    pub path: String,
    /// The file offset of the chunk's first byte.
    pub from: u64,
    /// Whether a last line without a newline was counted (the file is final).
    pub at_eof: bool,
    pub events: Vec<KillfeedLine<'a>>,
    /// The raw bytes of each event's line, in the same order (for line identities).
    pub raw: Vec<&'a [u8]>,
    pub malformed: Vec<MalformedLine>,
    /// The raw bytes of each malformed line, in the same order (a malformed line read
    /// twice is counted once too).
    pub malformed_raw: Vec<&'a [u8]>,
    /// Lines read, malformed included (blank lines are not lines).
    pub lines: u64,
    /// Bytes covered by complete lines: the cursor advances by this much.
    pub consumed: usize,
    /// The chunk's lines were recorded by an admin (`/rivalry record_kill`), not read from
    /// the game server: counted like any line and shown as recorded by hand.
    pub recorded: Option<Recorded>,
}

/// Who recorded a kill by hand, and where they said it happened (Deadside's killfeed has
/// no location).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The admin's Discord user id.
    pub by: u64,
    pub location: Option<String>,
}

/// Parses the complete lines of `buf`, read from `file` at offset `base`. With `at_eof`
/// (a file that will not grow, as offline analysis reads), a last line without a newline
/// counts too.
pub fn parse_killfeed_chunk<'a>(file: &str, buf: &'a [u8], base: u64, at_eof: bool) -> Chunk<'a> {
    // Real lines are 100 to 130 bytes: room for them all up front saves copying every
    // event again each time the vectors would grow.
    let expected_lines = buf.len() / 112 + 1;
    let mut chunk = Chunk {
        path: file.to_owned(),
        from: base,
        at_eof,
        events: Vec::with_capacity(expected_lines),
        raw: Vec::with_capacity(expected_lines),
        ..Chunk::default()
    };
    let lines = complete_lines(buf, base);
    chunk.consumed = lines.consumed();
    let handle = |offset: u64, bytes: &'a [u8], chunk: &mut Chunk<'a>| {
        chunk.lines += 1;
        match parse_line(bytes) {
            Ok(event) => {
                chunk.events.push(event);
                chunk.raw.push(bytes);
            }
            Err(reason) => {
                chunk.malformed_raw.push(bytes);
                chunk.malformed.push(MalformedLine {
                    file: file.to_owned(),
                    offset,
                    reason,
                });
            }
        }
    };
    for line in lines {
        handle(line.offset, line.bytes, &mut chunk);
    }
    if at_eof && chunk.consumed < buf.len() {
        let start = chunk
            .consumed
            .max(if base == 0 && buf.starts_with(crate::lines::BOM) {
                3
            } else {
                0
            });
        let rest = &buf[start..];
        let trimmed = rest.strip_suffix(b"\r").unwrap_or(rest);
        if !trimmed.iter().all(u8::is_ascii_whitespace) {
            handle(base + start as u64, trimmed, &mut chunk);
        }
        chunk.consumed = buf.len();
    }
    chunk
}

/// How many bytes of `buf` (read at `base`) [`parse_killfeed_chunk`] consumes: what a
/// reader needs to know where the next read starts, without parsing first.
pub fn consumed_by(buf: &[u8], base: u64, at_eof: bool) -> usize {
    if at_eof {
        buf.len()
    } else {
        complete_lines(buf, base).consumed()
    }
}

/// The events of a batch (its chunks in reading order) with their raw lines. A batch's
/// lines are numbered in this order.
pub fn batch_events<'c, 'a>(
    chunks: &'c [Chunk<'a>],
) -> impl Iterator<Item = (&'c KillfeedLine<'a>, &'a [u8])> + 'c {
    chunks
        .iter()
        .flat_map(|c| c.events.iter().zip(c.raw.iter().copied()))
}

/// The lines a batch counted, in order, with their identities: `kept` holds their indexes
/// in [`batch_events`] (what the statistics store kept of the batch).
pub fn kept_lines<'c, 'a>(
    batch: &'c [Chunk<'a>],
    kept: &'c [(usize, String)],
) -> Vec<(&'c KillfeedLine<'a>, &'c str)> {
    let events: Vec<&KillfeedLine<'a>> = batch_events(batch).map(|(e, _)| e).collect();
    kept.iter()
        .filter_map(|(i, id)| Some((*events.get(*i)?, id.as_str())))
        .collect()
}

/// Who recorded each event of a batch by hand (none: read from the game server), in the
/// order of [`batch_events`].
pub fn batch_recorded<'c>(chunks: &'c [Chunk<'_>]) -> Vec<Option<&'c Recorded>> {
    chunks
        .iter()
        .flat_map(|c| std::iter::repeat_n(c.recorded.as_ref(), c.events.len()))
        .collect()
}

impl<'a> Chunk<'a> {
    /// Drops the events whose line identity `seen` already holds, recording the rest:
    /// a replayed or overlapping line counts once. Returns how many were dropped.
    pub fn dedupe(
        &mut self,
        guild_id: u64,
        server_id: &str,
        seen: &mut std::collections::HashSet<[u8; 16]>,
    ) -> usize {
        let keep: Vec<bool> = self
            .raw
            .iter()
            .map(|raw| seen.insert(crate::killfeed::line_identity(guild_id, server_id, raw)))
            .collect();
        let before = self.events.len();
        let mut flags = keep.iter();
        self.events
            .retain(|_| flags.next().copied().unwrap_or(true));
        let mut flags = keep.iter();
        self.raw.retain(|_| flags.next().copied().unwrap_or(true));
        before - self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "2025.03.27-10.42.35;K;0002ca35475e48e28fdf97e052dc130f;V;00024afed387453195c040bb85708405;AK;1;";

    #[test]
    fn malformed_lines_are_reported_with_file_and_offset_and_do_not_stop_the_file() {
        let text = format!("{LINE}\nnot a line\n{LINE}\n");
        let chunk = parse_killfeed_chunk("a.csv", text.as_bytes(), 1000, false);
        assert_eq!(chunk.events.len(), 2);
        assert_eq!(chunk.lines, 3);
        assert_eq!(
            chunk.malformed,
            vec![MalformedLine {
                file: "a.csv".to_owned(),
                offset: 1000 + LINE.len() as u64 + 1,
                reason: Malformed::Unterminated,
            }]
        );
        assert_eq!(chunk.consumed, text.len());
    }

    #[test]
    fn a_line_read_twice_counts_once() {
        let text = format!("{LINE}\n{LINE}\n");
        let mut seen = std::collections::HashSet::new();
        let mut first = parse_killfeed_chunk("a.csv", text.as_bytes(), 0, false);
        assert_eq!(first.dedupe(1, "7020", &mut seen), 1);
        assert_eq!((first.events.len(), first.raw.len()), (1, 1));
        let mut again = parse_killfeed_chunk("b.csv", text.as_bytes(), 0, false);
        assert_eq!(again.dedupe(1, "7020", &mut seen), 2);
        // Another server's identical line is another kill.
        let mut other = parse_killfeed_chunk("a.csv", text.as_bytes(), 0, false);
        assert_eq!(other.dedupe(1, "7021", &mut seen), 1);
    }

    #[test]
    fn a_reader_knows_what_the_parser_will_consume() {
        let text = format!("\u{feff}{LINE}\r\n\n{LINE}\n{LINE}");
        for base in [0, 7] {
            for at_eof in [false, true] {
                for end in 0..=text.len() {
                    let buf = &text.as_bytes()[..end];
                    assert_eq!(
                        consumed_by(buf, base, at_eof),
                        parse_killfeed_chunk("a.csv", buf, base, at_eof).consumed,
                        "{end} bytes from {base}, at_eof {at_eof}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_last_line_counts_at_eof_only() {
        let text = format!("{LINE}\n{LINE}");
        assert_eq!(
            parse_killfeed_chunk("a.csv", text.as_bytes(), 0, false)
                .events
                .len(),
            1
        );
        let at_eof = parse_killfeed_chunk("a.csv", text.as_bytes(), 0, true);
        assert_eq!((at_eof.events.len(), at_eof.consumed), (2, text.len()));
    }
}

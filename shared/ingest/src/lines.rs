//! Complete lines out of a buffer read from a cursor's offset.
//!
//! Stateless on purpose: a trailing line without its `\n` is not returned and not
//! consumed, so the cursor stays at its start and the next read picks it up whole. A file
//! starting with a UTF-8 BOM has it skipped; blank lines are skipped; a `\r` before the
//! `\n` is dropped.

/// The UTF-8 byte order mark some editors and servers write first.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A partial line longer than this is given up on (consumed and reported) rather than
/// held back forever.
pub const MAX_PENDING: usize = 1 << 20;

/// One complete line and where it starts in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub offset: u64,
    pub bytes: &'a [u8],
}

/// The complete lines of `buf`, which was read from file offset `base`.
#[derive(Debug)]
pub struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    end: usize,
}

/// Splits `buf` (read at file offset `base`) into complete lines.
pub fn complete_lines(buf: &[u8], base: u64) -> Lines<'_> {
    let pos = if base == 0 && buf.starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    let end = match memchr_last(buf) {
        Some(i) => i + 1,
        // No newline at all: nothing is complete, unless it is hopelessly long.
        None if buf.len() > MAX_PENDING => buf.len(),
        None => 0,
    };
    Lines {
        buf,
        pos: pos.min(end.max(pos)),
        base,
        end,
    }
}

impl<'a> Lines<'a> {
    /// Bytes of `buf` covered by complete lines (and a skipped BOM): the cursor advances
    /// by this much.
    pub fn consumed(&self) -> usize {
        self.end
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        while self.pos < self.end {
            let rest = &self.buf[self.pos..self.end];
            let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
            let start = self.pos;
            self.pos += len + 1;
            let mut bytes = &rest[..len];
            if let Some((b'\r', stripped)) = bytes.split_last() {
                bytes = stripped;
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(Line {
                offset: self.base + start as u64,
                bytes,
            });
        }
        None
    }
}

fn memchr_last(buf: &[u8]) -> Option<usize> {
    memchr::memrchr(b'\n', buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(buf: &[u8], base: u64) -> (Vec<(u64, String)>, usize) {
        let lines = complete_lines(buf, base);
        let consumed = lines.consumed();
        (
            lines
                .map(|l| (l.offset, String::from_utf8_lossy(l.bytes).into_owned()))
                .collect(),
            consumed,
        )
    }

    #[test]
    fn a_partial_last_line_is_held_back() {
        let (lines, consumed) = collect(b"a;\nbb;\r\ncc", 100);
        assert_eq!(lines, vec![(100, "a;".to_owned()), (103, "bb;".to_owned())]);
        assert_eq!(consumed, 8);
    }

    #[test]
    fn bom_blank_lines_and_crlf() {
        let (lines, consumed) = collect(b"\xEF\xBB\xBFx;\r\n\r\n \n", 0);
        assert_eq!(lines, vec![(3, "x;".to_owned())]);
        assert_eq!(consumed, 11);
        // A BOM is only a BOM at the start of the file.
        let (lines, _) = collect(b"\xEF\xBB\xBFx;\n", 5);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].1.starts_with('\u{feff}'));
    }

    #[test]
    fn nothing_complete_consumes_nothing() {
        assert_eq!(collect(b"no newline yet", 0), (vec![], 0));
        assert_eq!(collect(b"", 0), (vec![], 0));
    }

    #[test]
    fn a_hopelessly_long_partial_line_is_given_up() {
        let buf = vec![b'x'; MAX_PENDING + 1];
        let (lines, consumed) = collect(&buf, 0);
        assert_eq!(consumed, buf.len());
        assert_eq!(lines.len(), 1);
    }
}

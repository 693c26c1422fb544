//! A one-line progress display on stderr, shown only when stderr is a terminal and the
//! input is large enough to wait for.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    total: u64,
    done: u64,
    shown: bool,
    last: Instant,
}

/// Inputs smaller than this finish before a bar would be worth drawing.
const WORTH_SHOWING: u64 = 8 << 20;

impl Progress {
    pub fn new(total_bytes: u64) -> Self {
        Self {
            total: total_bytes,
            done: 0,
            shown: total_bytes >= WORTH_SHOWING && std::io::stderr().is_terminal(),
            last: Instant::now(),
        }
    }

    pub fn advance(&mut self, bytes: u64, files_done: usize, files: usize) {
        self.done += bytes;
        if !self.shown || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let pct = self.done * 100 / self.total.max(1);
        let width = 30;
        let filled = (pct as usize * width / 100).min(width);
        eprint!(
            "\r[{}{}] {pct:3}%  {files_done}/{files} files  {:.1}/{:.1} MiB",
            "#".repeat(filled),
            " ".repeat(width - filled),
            self.done as f64 / 1_048_576.0,
            self.total as f64 / 1_048_576.0,
        );
        let _ = std::io::stderr().flush();
    }

    pub fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

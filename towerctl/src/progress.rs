//! The progress of a long offline analysis on stderr (indicatif: drawn only on a
//! terminal, at a bounded rate), for inputs large enough to wait for.

use indicatif::{ProgressBar, ProgressStyle};

/// Inputs smaller than this finish before a bar would be worth drawing.
const WORTH_SHOWING: u64 = 8 << 20;

pub struct Progress(ProgressBar);

impl Progress {
    pub fn new(total_bytes: u64) -> Self {
        if total_bytes < WORTH_SHOWING {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(total_bytes);
        if let Ok(style) = ProgressStyle::with_template(
            "[{bar:30}] {percent:>3}%  {msg} files  {binary_bytes}/{binary_total_bytes}",
        ) {
            bar.set_style(style.progress_chars("# "));
        }
        Self(bar)
    }

    pub fn advance(&mut self, bytes: u64, files_done: usize, files: usize) {
        self.0.set_message(format!("{files_done}/{files}"));
        self.0.inc(bytes);
    }

    pub fn finish(&self) {
        self.0.finish();
    }
}

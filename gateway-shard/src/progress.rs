//! A command's progress while it works (`/setup addserver` testing the connection): each
//! step edits the interaction's original response, at most once every
//! [`PROGRESS_EDIT_EVERY`], until the answer replaces it. A progress title ends with "…",
//! so it cannot be taken for an answer.

use std::time::Duration;

use tokio::sync::watch;

use crate::reply::Reply;

/// The least time between two progress edits of one response: Discord limits how often
/// an interaction's response may be edited, and a backfill's figures read well at this
/// pace.
pub const PROGRESS_EDIT_EVERY: Duration = Duration::from_secs(2);

/// Where a command shows its progress; shown only once the interaction is acknowledged
/// (a command that answers at once shows none).
#[derive(Debug)]
pub struct Progress(watch::Sender<Option<Reply>>);

impl Progress {
    /// A progress handle and what the interaction's task reads it from.
    pub fn channel() -> (Self, watch::Receiver<Option<Reply>>) {
        let (tx, rx) = watch::channel(None);
        (Self(tx), rx)
    }

    /// Progress nobody shows (a command run outside an interaction).
    pub fn unseen() -> Self {
        Self::channel().0
    }

    /// Shows `title` (ending with "…") and `description` as the command's current step.
    pub fn step(&self, title: &str, description: impl Into<String>) {
        debug_assert!(title.ends_with('…'), "a progress title ends with …");
        // No receiver (the answer is already out): nothing to show.
        let _ = self.0.send(Some(Reply::progress(title, description)));
    }
}

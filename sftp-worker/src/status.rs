//! `server_status`: what each poll of a server did (last poll, lag, duration, breaker,
//! error, bytes and lines read, polls and connections counted), for `/log_status`,
//! operators and tests.
//!
//! Polls report here and the reports go to MongoDB together, once a second, as one
//! `update` command: a worker polling 500 servers every 30 s would otherwise spend a
//! write round trip per poll on bookkeeping alone. A server polled twice within a second
//! is written once, with its latest state and both polls counted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use mongodb::bson::{Document, doc};
use tower_daemon::shutdown::Shutdown;
use tower_store::db::{Database, collections};

/// How often reports are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Reports not yet written, by `server_status` `_id`.
#[derive(Default)]
struct Pending {
    /// Fields to set (the latest poll's).
    set: Document,
    polls: i64,
    connections_opened: i64,
    /// Running totals to add ([`Counter`]).
    counts: HashMap<Counter, i64>,
}

/// Running totals kept per server beside polls and connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Killfeed lines counted but not announced (history: a first read, a backfill).
    QuietLines,
    /// Bytes of interrupted batches that could no longer be re-read.
    LostBytes,
}

impl Counter {
    fn field(self) -> &'static str {
        match self {
            Self::QuietLines => "quiet_lines",
            Self::LostBytes => "lost_bytes",
        }
    }
}

pub struct StatusWriter {
    db: Database,
    pending: Mutex<HashMap<String, Pending>>,
}

impl StatusWriter {
    pub fn new(db: &Database) -> Self {
        Self {
            db: db.clone(),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// A poll of `id` ended: `set` is its state.
    pub fn polled(&self, id: String, set: Document) {
        self.with(id, |p| {
            p.set.extend(set);
            p.polls += 1;
        });
    }

    /// Adds `n` to one of `id`'s running totals.
    pub fn add(&self, id: String, counter: Counter, n: u64) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.with(id, |p| {
            let total = p.counts.entry(counter).or_default();
            *total = total.saturating_add(n);
        });
    }

    /// `id`'s state changed without a poll (`set`: the fields that changed).
    pub fn noted(&self, id: String, set: Document) {
        self.with(id, |p| p.set.extend(set));
    }

    /// A new SFTP connection was opened for `id` (steady state opens none).
    pub fn connection_opened(&self, id: String) {
        self.with(id, |p| p.connections_opened += 1);
    }

    fn with(&self, id: String, change: impl FnOnce(&mut Pending)) {
        if let Ok(mut pending) = self.pending.lock() {
            change(pending.entry(id).or_default());
        }
    }

    /// Writes reports every [`FLUSH_EVERY`] until shutdown. The owner flushes once more
    /// after its last polls have ended.
    pub async fn run(&self, shutdown: Shutdown) {
        let mut every = tokio::time::interval(FLUSH_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.wait() => break,
            }
            self.flush().await;
        }
    }

    /// Writes what is pending in one command. Reports that could not be written are put
    /// back for the next flush: their poll and connection counts are running totals.
    pub async fn flush(&self) {
        let batch: Vec<(String, Pending)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            return;
        }
        let statements: Vec<Document> = batch
            .iter()
            .map(|(id, p)| {
                let mut inc = doc! { "polls": p.polls, "connections_opened": p.connections_opened };
                for (counter, n) in &p.counts {
                    inc.insert(counter.field(), *n);
                }
                let mut update = doc! { "$inc": inc };
                if !p.set.is_empty() {
                    update.insert("$set", p.set.clone());
                }
                doc! { "q": { "_id": id }, "u": update, "upsert": true }
            })
            .collect();
        let n = statements.len();
        let failed: Vec<usize> = match self
            .db
            .update_statements(collections::SERVER_STATUS, &statements)
            .await
        {
            Ok(refused) => {
                if let Some((_, _, first)) = refused.first() {
                    tracing::warn!(servers = n, refused = refused.len(), first = %first, "some server status reports not written; kept for the next try");
                }
                refused.into_iter().map(|(i, _, _)| i).collect()
            }
            Err(e) => {
                tracing::warn!(servers = n, error = %e, "server status reports not written; kept for the next try");
                (0..n).collect()
            }
        };
        self.put_back(batch, &failed);
    }

    /// Puts unwritten reports back under what came in meanwhile: counts add up, and the
    /// newer state of a server wins.
    fn put_back(&self, batch: Vec<(String, Pending)>, failed: &[usize]) {
        if failed.is_empty() {
            return;
        }
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        for (i, (id, mut older)) in batch.into_iter().enumerate() {
            if !failed.contains(&i) {
                continue;
            }
            let slot = pending.entry(id).or_default();
            older.set.extend(std::mem::take(&mut slot.set));
            slot.set = older.set;
            slot.polls += older.polls;
            slot.connections_opened += older.connections_opened;
            for (counter, n) in older.counts {
                let total = slot.counts.entry(counter).or_default();
                *total = total.saturating_add(n);
            }
        }
    }
}

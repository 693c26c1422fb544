//! Discord's identify limit across every process that shares the bot token: at most
//! `max_concurrency` IDENTIFYs per 5 s, one per rate-limit bucket (`shard % max_concurrency`).
//! Each bucket is a document in `gateway_state` holding when it is free again; a shard
//! claims it with one atomic update, so two processes never identify in the same bucket
//! within 5 s.

use std::time::Duration;

use mongodb::bson::{DateTime, Document, doc};
use tokio::sync::oneshot;
use twilight_gateway::queue::Queue;

use tower_store::db::{Database, collections, is_duplicate_key};

/// Discord's identify window per bucket.
const WINDOW: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct IdentifyQueue {
    state: mongodb::Collection<Document>,
    application: String,
    max_concurrency: u32,
}

impl std::fmt::Debug for IdentifyQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentifyQueue")
            .field("max_concurrency", &self.max_concurrency)
            .finish()
    }
}

impl IdentifyQueue {
    pub fn new(db: &Database, application: String, max_concurrency: u16) -> Self {
        Self {
            state: db.raw().collection(collections::GATEWAY_STATE),
            application,
            max_concurrency: u32::from(max_concurrency.max(1)),
        }
    }

    /// Waits until this process holds the shard's bucket for the next 5 s. Clocks of the
    /// processes sharing a token are assumed in step (NTP); a skewed host would claim
    /// early by its skew.
    async fn claim(&self, shard: u32, gone: &oneshot::Sender<()>) {
        let id = format!(
            "identify:{}:{}",
            self.application,
            shard % self.max_concurrency
        );
        loop {
            if gone.is_closed() {
                return; // the shard stopped waiting (shutdown)
            }
            let now = DateTime::now();
            let until = DateTime::from_millis(now.timestamp_millis() + WINDOW.as_millis() as i64);
            let claimed = self
                .state
                .update_one(
                    // A bucket document without a date (never claimed, or damaged) is free.
                    doc! { "_id": &id, "$or": [{ "free_at": { "$lte": now } }, { "free_at": { "$exists": false } }] },
                    doc! { "$set": { "free_at": until } },
                )
                .upsert(true)
                .await;
            match claimed {
                Ok(_) => return,
                // The bucket is held: the upsert hit the existing document.
                Err(e) if is_duplicate_key(&e) => {}
                Err(e) => tracing::warn!(shard, error = %e, "identify bucket unreadable; waiting"),
            }
            let free_at = self
                .state
                .find_one(doc! { "_id": &id })
                .await
                .ok()
                .flatten()
                .and_then(|d| d.get_datetime("free_at").ok().copied());
            let wait = free_at
                .map(|t| t.timestamp_millis() - DateTime::now().timestamp_millis())
                .map_or(WINDOW, |ms| {
                    Duration::from_millis(u64::try_from(ms.max(50)).unwrap_or(50))
                })
                .min(WINDOW);
            tracing::info!(
                shard,
                wait_ms = wait.as_millis() as u64,
                "identify bucket taken (by this or another process); waiting"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

impl Queue for IdentifyQueue {
    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let this = self.clone();
        tokio::spawn(async move {
            this.claim(shard, &tx).await;
            let _ = tx.send(());
        });
        rx
    }
}

//! A guild's SFTP connection quota across every worker (`connection_slots`).
//!
//! Each open SSH session of a guild — kept between polls or in use, by a poll, a
//! `/test_sftp` or a listing — holds one of its tier's slots, numbered `0..quota`, leased in
//! MongoDB by the worker that opened it. A worker's own semaphores ([`crate::pool`]) keep
//! its polls fair; the slots make the quota hold when a guild's servers are polled by
//! several workers, or a command lands on another worker than its polls.
//!
//! - A slot is taken when a connection is opened and given back when it is closed; a
//!   worker that dies stops renewing and its slots run out after [`SLOT_TTL`]. When none
//!   is free, waiters queue (`queue:<guild>`) and are served in the order they came,
//!   whichever worker they are on: a poll never starves a command, nor one worker another.
//! - Every [`RENEW_EVERY`] the worker renews all its slots in one command and learns which
//!   guilds another worker is waiting for: it closes its kept (idle) connections of those
//!   guilds, so a session kept open here never starves a poll or a command elsewhere.
//! - A tier change takes effect at once: only slots below the new quota can be taken, and
//!   connections holding a slot above it are closed when next returned to the pool.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::{FindOneAndUpdateOptions, InsertManyOptions, ReturnDocument};

use tower_store::db::collections;
use tower_store::schema::SCHEMA_VERSION;

/// How long a new connection (a poll's, a command's) waits for one of its guild's slots.
pub const SLOT_WAIT: Duration = Duration::from_secs(20);
/// A waiter in a queue longer than this is gone (its process died while it waited).
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long a slot stays held without renewal.
pub const SLOT_TTL: Duration = Duration::from_secs(30);
/// How often held slots are renewed and other workers' waits looked at.
pub const RENEW_EVERY: Duration = Duration::from_secs(2);

/// The slot store of one worker.
pub struct Slots {
    collection: mongodb::Collection<Document>,
    me: String,
    shared: Arc<Held>,
}

/// What this worker holds, shared with every [`Slot`].
#[derive(Default)]
struct Held {
    /// The tokens of the slots held.
    tokens: Mutex<HashSet<String>>,
    /// Numbers tokens (with the worker's instance name, unique per process start).
    next: std::sync::atomic::AtomicU64,
    /// Tokens whose slot ran out and went to another worker: their connections close.
    lost: Mutex<HashSet<String>>,
    /// The number of slot documents known to exist per guild.
    created: Mutex<HashMap<u64, u32>>,
}

/// One held slot; given back (in the background) when dropped, so drop it only once its
/// connection is closed.
pub struct Slot {
    shared: Arc<Held>,
    collection: mongodb::Collection<Document>,
    id: String,
    token: String,
    n: u32,
}

impl Slot {
    /// True when this worker no longer holds the slot (it ran out unrenewed).
    pub fn lost(&self) -> bool {
        self.shared
            .lost
            .lock()
            .is_ok_and(|l| l.contains(&self.token))
    }

    /// Whether the slot is within `quota` (a downgrade may leave it above).
    pub fn within(&self, quota: u32) -> bool {
        self.n < quota
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut tokens) = self.shared.tokens.lock() {
            tokens.remove(&self.token);
        }
        if let Ok(mut lost) = self.shared.lost.lock() {
            lost.remove(&self.token);
        }
        let (collection, id, token) = (
            self.collection.clone(),
            std::mem::take(&mut self.id),
            std::mem::take(&mut self.token),
        );
        // Not given back (no runtime: the process is ending): it runs out after SLOT_TTL.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released = collection
                    .update_one(
                        doc! { "_id": &id, "token": &token },
                        doc! { "$set": { "holder": null, "token": null } },
                    )
                    .await;
                if let Err(e) = released {
                    tracing::warn!(slot = %id, error = %e, "connection slot not given back; it runs out by itself");
                }
            });
        }
    }
}

/// Why no slot could be had.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error(
        "all {quota} of the guild's SFTP connections are in use (by other polls or commands); \
         none came free within {waited:?}"
    )]
    Busy { quota: u32, waited: Duration },
    #[error("database: {0}")]
    Db(#[from] mongodb::error::Error),
}

impl Slots {
    pub fn new(db: &mongodb::Database, me: &str) -> Self {
        Self {
            collection: db.collection(collections::CONNECTION_SLOTS),
            me: me.to_owned(),
            shared: Arc::new(Held::default()),
        }
    }

    /// Takes one of `guild`'s `quota` slots, waiting up to [`SLOT_WAIT`] for one to come
    /// free. Waiters are served first come, first served, whichever worker they are on,
    /// and the workers holding the guild's slots are told one is wanted.
    pub async fn take(&self, guild: u64, quota: u32) -> Result<Slot, SlotError> {
        let wait = SLOT_WAIT;
        let n = self
            .shared
            .next
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = format!("{}#{n}", self.me);
        if self.queue(guild).await?.is_empty()
            && let Some(slot) = self.try_take(guild, quota, &token).await?
        {
            return Ok(slot);
        }
        let started = tokio::time::Instant::now();
        // In the queue from here on: left in the background however this ends (taken,
        // given up, an error, or the caller gone), so a waiter never blocks the line.
        let _in_line = InLine {
            collection: self.collection.clone(),
            queue: queue_id(guild),
            token: token.clone(),
        };
        self.collection
            .update_one(
                doc! { "_id": queue_id(guild) },
                doc! {
                    "$push": { "waiters": { "token": &token, "at": DateTime::now() } },
                },
            )
            .upsert(true)
            .await?;
        let mut pause = Duration::from_millis(100);
        loop {
            self.want(guild).await?;
            if self.queue(guild).await?.first() == Some(&token)
                && let Some(slot) = self.try_take(guild, quota, &token).await?
            {
                return Ok(slot);
            }
            if started.elapsed() + pause > wait {
                return Err(SlotError::Busy {
                    quota,
                    waited: started.elapsed(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RENEW_EVERY / 2);
        }
    }

    /// The tokens waiting for one of `guild`'s slots, first come first; waiters older than
    /// [`MAX_WAIT`] (their process died) do not count.
    async fn queue(&self, guild: u64) -> Result<Vec<String>, mongodb::error::Error> {
        let since = tower_store::db::ago(MAX_WAIT);
        let queue = self
            .collection
            .find_one(doc! { "_id": queue_id(guild) })
            .await?;
        let mut waiters: Vec<(DateTime, String)> = queue
            .as_ref()
            .and_then(|q| q.get_array("waiters").ok())
            .map(|w| {
                w.iter()
                    .filter_map(|w| {
                        let w = w.as_document()?;
                        Some((
                            *w.get_datetime("at").ok()?,
                            w.get_str("token").ok()?.to_owned(),
                        ))
                    })
                    .filter(|(at, _)| *at > since)
                    .collect()
            })
            .unwrap_or_default();
        waiters.sort();
        Ok(waiters.into_iter().map(|(_, token)| token).collect())
    }

    async fn try_take(
        &self,
        guild: u64,
        quota: u32,
        token: &str,
    ) -> Result<Option<Slot>, SlotError> {
        self.create(guild, quota).await?;
        let now = DateTime::now();
        let token = token.to_owned();
        let taken = self
            .collection
            .find_one_and_update(
                doc! {
                    "guild_id": guild.to_string(),
                    "n": { "$lt": i64::from(quota) },
                    "$or": [{ "holder": null }, { "expires_at": { "$lt": now } }],
                },
                doc! { "$set": {
                    "holder": &self.me,
                    "token": &token,
                    "expires_at": tower_store::db::from_now(SLOT_TTL),
                } },
            )
            .with_options(
                FindOneAndUpdateOptions::builder()
                    .sort(doc! { "n": 1 })
                    .return_document(ReturnDocument::After)
                    .build(),
            )
            .await?;
        let Some(taken) = taken else { return Ok(None) };
        let id = taken.get_str("_id").unwrap_or_default().to_owned();
        let n = taken
            .get_i64("n")
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(u32::MAX);
        if let Ok(mut tokens) = self.shared.tokens.lock() {
            tokens.insert(token.clone());
        }
        Ok(Some(Slot {
            shared: Arc::clone(&self.shared),
            collection: self.collection.clone(),
            id,
            token,
            n,
        }))
    }

    /// Makes sure slot documents `0..quota` exist for `guild` (once per guild and quota).
    async fn create(&self, guild: u64, quota: u32) -> Result<(), mongodb::error::Error> {
        let known = self
            .shared
            .created
            .lock()
            .map(|c| c.get(&guild).copied().unwrap_or(0))
            .unwrap_or(0);
        if known >= quota {
            return Ok(());
        }
        let docs: Vec<Document> = (0..quota)
            .map(|n| {
                doc! {
                    "_id": format!("{guild}:{n}"),
                    "guild_id": guild.to_string(),
                    "n": i64::from(n),
                    "holder": null,
                    "schema_version": SCHEMA_VERSION,
                }
            })
            .collect();
        match self
            .collection
            .insert_many(docs)
            .with_options(InsertManyOptions::builder().ordered(false).build())
            .await
        {
            Ok(_) => {}
            Err(e) if tower_store::db::is_duplicate_key(&e) => {}
            Err(e) => return Err(e),
        }
        if let Ok(mut created) = self.shared.created.lock() {
            created.insert(guild, quota);
        }
        Ok(())
    }

    /// Tells the workers holding `guild`'s slots that one is wanted.
    async fn want(&self, guild: u64) -> Result<(), mongodb::error::Error> {
        self.collection
            .update_many(
                doc! { "guild_id": guild.to_string(), "holder": { "$ne": null } },
                doc! { "$set": { "wanted_at": DateTime::now() } },
            )
            .await?;
        Ok(())
    }

    /// Renews every slot this worker holds (one command) and returns the guilds another
    /// worker is waiting for: their kept connections here should close. Slots that ran
    /// out and were taken meanwhile are marked lost.
    pub async fn renew(&self) -> Result<HashSet<u64>, mongodb::error::Error> {
        let tokens: Vec<String> = self
            .shared
            .tokens
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        if tokens.is_empty() {
            return Ok(HashSet::new());
        }
        let renewed = self
            .collection
            .update_many(
                doc! { "token": { "$in": &tokens } },
                doc! { "$set": { "expires_at": tower_store::db::from_now(SLOT_TTL) } },
            )
            .await?;
        let since = tower_store::db::ago(2 * RENEW_EVERY);
        let mine: Vec<Document> = self
            .collection
            .find(doc! { "holder": &self.me })
            .projection(doc! { "token": 1, "guild_id": 1, "wanted_at": 1 })
            .await?
            .try_collect()
            .await?;
        if usize::try_from(renewed.matched_count).unwrap_or(0) < tokens.len() {
            let still: HashSet<&str> = mine
                .iter()
                .filter_map(|d| d.get_str("token").ok())
                .collect();
            let lost: Vec<&String> = tokens
                .iter()
                .filter(|t| !still.contains(t.as_str()))
                .collect();
            tracing::warn!(
                count = lost.len(),
                "connection slots ran out and were taken by another worker; closing their connections"
            );
            // Only slots still held: one dropped meanwhile was given back, not lost.
            if let (Ok(held), Ok(mut l)) = (self.shared.tokens.lock(), self.shared.lost.lock()) {
                l.extend(lost.into_iter().filter(|t| held.contains(*t)).cloned());
            }
        }
        Ok(mine
            .iter()
            .filter(|d| d.get_datetime("wanted_at").is_ok_and(|w| *w > since))
            .filter_map(|d| d.get_str("guild_id").ok()?.parse().ok())
            .collect())
    }
}

/// A waiter's place in a guild's queue, left when dropped.
struct InLine {
    collection: mongodb::Collection<Document>,
    queue: String,
    token: String,
}

impl Drop for InLine {
    fn drop(&mut self) {
        let (collection, queue, token) = (
            self.collection.clone(),
            std::mem::take(&mut self.queue),
            std::mem::take(&mut self.token),
        );
        let since = tower_store::db::ago(MAX_WAIT);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                // This waiter, then any whose process died waiting.
                let mut left = collection
                    .update_one(
                        doc! { "_id": &queue },
                        doc! { "$pull": { "waiters": { "token": &token } } },
                    )
                    .await;
                if left.is_ok() {
                    left = collection
                        .update_one(
                            doc! { "_id": &queue },
                            doc! { "$pull": { "waiters": { "at": { "$lt": since } } } },
                        )
                        .await;
                }
                if let Err(e) = left {
                    tracing::warn!(error = %e, "a slot waiter not taken off its queue; it ages out");
                }
            });
        }
    }
}

/// The `_id` of the document listing who waits for `guild`'s slots.
fn queue_id(guild: u64) -> String {
    format!("queue:{guild}")
}

//! The delayed killfeed (issue #19, tier 2): a server's posts held back for a delay its
//! admins set (0 to 60 minutes, `/killfeed delay`), so a fight is not revealed while it
//! lasts.
//!
//! A batch whose server has a delay stores what it would post in `held_notices` instead of
//! the outbox, each notice under its own key with the time it is due. Every worker releases
//! what is due into the outbox ([`HeldPosts::release_until`]) under the same keys, and
//! deletes the held copy only after that: the outbox stores a key once, so a notice is
//! posted once however many workers release it, or how often a release is cut short. Held
//! notices are in MongoDB, so a delay survives restarts: one that fell due while no worker
//! ran goes out when one starts, once.

use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::error::Error as MongoError;

use crate::db::{Database, collections, insert_once};
use crate::outbox::{Notice, Outbox};
use crate::schema::SCHEMA_VERSION;

/// The longest delay an admin can set.
pub const MAX_DELAY_SECS: i64 = 3600;
/// How often each worker looks for held notices that are due.
pub const RELEASE_EVERY: Duration = Duration::from_secs(2);
/// Notices released per look at most (the rest at the next).
const RELEASE_MAX: i64 = 500;
/// How long a release's claim on its notices lasts: one cut short is taken over after.
pub const CLAIM_SECS: i64 = 30;

/// The kinds a held notice can have (a [`Notice`]'s kind is a static name).
const KINDS: [&str; 10] = [
    "kill",
    "suicide",
    "environment",
    "event",
    "connection",
    "player_count",
    "bounty",
    "jackpot",
    "rivalry",
    "highlight",
];

/// Held notices, and each server's delay.
#[derive(Clone)]
pub struct HeldPosts {
    held: mongodb::Collection<Document>,
    servers: mongodb::Collection<Document>,
    outbox: Outbox,
}

impl HeldPosts {
    pub fn new(db: &Database) -> Self {
        Self {
            held: db.raw().collection(collections::HELD_NOTICES),
            servers: db.raw().collection(collections::GAME_SERVERS),
            outbox: Outbox::new(db),
        }
    }

    /// The server's killfeed delay in seconds (0: none).
    pub async fn delay_of(&self, guild_id: u64, server_id: &str) -> Result<i64, MongoError> {
        Ok(self
            .servers
            .find_one(doc! { "guild_id": guild_id.to_string(), "server_id": server_id })
            .projection(doc! { "killfeed_delay_secs": 1 })
            .await?
            .and_then(|d| crate::stats_store::get_i64(&d, "killfeed_delay_secs"))
            .map_or(0, |s| s.clamp(0, MAX_DELAY_SECS)))
    }

    /// Holds `notices` until `delay_secs` from now. Holding the same notices again (a
    /// batch finished again after a crash) keeps the first hold.
    pub async fn hold(&self, notices: Vec<Notice>, delay_secs: i64) -> Result<(), MongoError> {
        if notices.is_empty() {
            return Ok(());
        }
        let now = DateTime::now();
        let due = DateTime::from_millis(
            now.timestamp_millis()
                .saturating_add(delay_secs.clamp(0, MAX_DELAY_SECS) * 1000),
        );
        let docs: Vec<Document> = notices
            .into_iter()
            .map(|n| {
                doc! {
                    "_id": n.key,
                    "guild_id": n.guild_id.to_string(),
                    "server_id": n.server_id,
                    "kind": n.kind,
                    "at_ms": n.at_ms,
                    "data": n.data,
                    "held_at": now,
                    "due_at": due,
                    "schema_version": SCHEMA_VERSION,
                }
            })
            .collect();
        insert_once(&self.held, docs).await
    }

    /// A server's delay changed to `delay_secs`: what it holds falls due that long after it
    /// was held, if that is sooner, so a shortened delay does not post newer kills before
    /// older ones. How many notices moved.
    pub async fn shorten(
        &self,
        guild_id: u64,
        server_id: &str,
        delay_secs: i64,
    ) -> Result<u64, MongoError> {
        let delay_ms = delay_secs.clamp(0, MAX_DELAY_SECS) * 1000;
        let moved = self
            .held
            .update_many(
                doc! { "guild_id": guild_id.to_string(), "server_id": server_id },
                vec![doc! { "$set": { "due_at": { "$min": [
                    "$due_at",
                    { "$add": ["$held_at", delay_ms] },
                ] } } }],
            )
            .await?;
        Ok(moved.modified_count)
    }

    /// Moves held notices that are due into the outbox; how many.
    ///
    /// They are claimed first (each by one release at a time, for [`CLAIM_SECS`]), so
    /// workers releasing at once do not each reserve outbox numbers for the same notices:
    /// numbers reserved and never stored hold subscribers up at every gap.
    pub async fn release_due(&self) -> Result<u64, MongoError> {
        let now = DateTime::now();
        let unclaimed = doc! { "$or": [
            { "claimed_until": { "$exists": false } },
            { "claimed_until": { "$lt": now } },
        ] };
        let mut due_filter = doc! { "due_at": { "$lte": now } };
        due_filter.extend(unclaimed.clone());
        let candidates: Vec<Document> = self
            .held
            .find(due_filter)
            .projection(doc! { "_id": 1 })
            .sort(doc! { "due_at": 1 })
            .limit(RELEASE_MAX)
            .await?
            .try_collect()
            .await?;
        if candidates.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = candidates
            .iter()
            .filter_map(|d| d.get_str("_id").ok())
            .collect();
        // Unique to this release (process, time and a counter).
        let claim = mongodb::bson::oid::ObjectId::new().to_hex();
        let until = DateTime::from_millis(now.timestamp_millis() + CLAIM_SECS * 1000);
        let mut claimable = doc! { "_id": { "$in": &ids } };
        claimable.extend(unclaimed);
        self.held
            .update_many(
                claimable,
                doc! { "$set": { "claim": &claim, "claimed_until": until } },
            )
            .await?;
        let mine: Vec<Document> = self
            .held
            .find(doc! { "_id": { "$in": &ids }, "claim": &claim })
            .sort(doc! { "due_at": 1 })
            .await?
            .try_collect()
            .await?;
        let notices: Vec<Notice> = mine.into_iter().filter_map(notice_of).collect();
        if notices.is_empty() {
            return Ok(0);
        }
        let released: Vec<String> = notices.iter().map(|n| n.key.clone()).collect();
        self.outbox.add(notices).await?;
        // Only now: a release cut short before this is done again (after its claim
        // lapses), and the outbox stores each key once.
        self.held
            .delete_many(doc! { "_id": { "$in": &released } })
            .await?;
        Ok(released.len() as u64)
    }

    /// Releases what is due every [`RELEASE_EVERY`] until `stop` resolves.
    pub async fn release_until(self, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = tokio::time::sleep(RELEASE_EVERY) => {}
                () = &mut stop => return,
            }
            match self.release_due().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(released = n, "held killfeed posts released"),
                Err(e) => {
                    tracing::warn!(error = %e, "releasing held killfeed posts failed; trying again");
                }
            }
        }
    }
}

/// A held notice as it was to be stored; `None` for a document that is not one (a kind
/// this build does not know, held by a newer one: left for a build that posts it).
fn notice_of(d: Document) -> Option<Notice> {
    let stored = d.get_str("kind").ok()?;
    let kind = KINDS.into_iter().find(|k| *k == stored)?;
    Some(Notice {
        key: d.get_str("_id").ok()?.to_owned(),
        guild_id: d.get_str("guild_id").ok()?.parse().ok()?,
        server_id: d.get_str("server_id").ok()?.to_owned(),
        kind,
        at_ms: crate::stats_store::get_i64(&d, "at_ms").unwrap_or(0),
        data: d.get_document("data").ok()?.clone(),
    })
}

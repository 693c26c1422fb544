//! Channels the bot may not post in (`channel_blocks`): a post Discord refused with 403 or
//! 404 (the bot lost Send Messages or View Channel, or the channel is gone) blocks the
//! channel, so a guild that took the bot's permission costs one invalid request, not one
//! per kill. Discord bans a bot's IP for every guild at 10,000 invalid requests in ten
//! minutes.
//!
//! A block ends when an admin saves the guild's channels again (`/setup channels`), or
//! after [`RETRY_AFTER`], when one post tries again (the permission re-check). Admins are
//! told in `/killfeed status` and `/events status`, and once ([`crate::admin_alerts`]): in
//! the guild's admin channel, or privately the next time one of them runs a command.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use tokio::time::Instant;

use tower_store::db::{Database, collections};
use tower_store::schema::SCHEMA_VERSION;

/// How long a refused channel is left alone before one post tries it again (doubling with
/// each refusal in a row, up to [`MAX_RETRY_AFTER`]).
pub const RETRY_AFTER: Duration = Duration::from_secs(600);
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A channel the bot may not post in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub channel: u64,
    /// Discord's answer: 403 (missing permission) or 404 (unknown channel).
    pub status: u16,
    pub reason: String,
    pub since_unix: i64,
}

pub struct ChannelBlocks {
    blocks: mongodb::Collection<Document>,
    /// channel → when to try it again.
    known: Mutex<HashMap<u64, Instant>>,
    /// Channels whose re-check post is under way.
    retrying: Mutex<std::collections::HashSet<u64>>,
}

impl ChannelBlocks {
    pub fn new(db: &Database) -> Self {
        Self {
            blocks: db.raw().collection(collections::CHANNEL_BLOCKS),
            known: Mutex::new(HashMap::new()),
            retrying: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// Records that Discord refused a post to `channel` of `guild`. Each refusal in a row
    /// doubles the wait before the next re-check ([`RETRY_AFTER`], up to a day), so a
    /// channel that stays refused costs few invalid requests.
    pub async fn block(
        &self,
        guild: u64,
        channel: u64,
        status: u16,
        reason: &str,
    ) -> Result<(), mongodb::error::Error> {
        let stored = self
            .blocks
            .find_one_and_update(
                doc! { "_id": id(channel) },
                doc! {
                    "$set": {
                        "guild_id": guild.to_string(),
                        "status": i32::from(status),
                        "reason": reason,
                        "schema_version": SCHEMA_VERSION,
                    },
                    "$inc": { "refusals": 1 },
                    "$setOnInsert": { "since": DateTime::now(), "told": false },
                },
            )
            .upsert(true)
            .return_document(mongodb::options::ReturnDocument::After)
            .await?;
        let refusals = stored
            .and_then(|d| d.get_i32("refusals").ok())
            .unwrap_or(1)
            .clamp(1, 16);
        let wait = RETRY_AFTER
            .saturating_mul(1 << (refusals - 1))
            .min(MAX_RETRY_AFTER);
        if let Ok(mut known) = self.known.lock() {
            known.insert(channel, Instant::now() + wait);
        }
        Ok(())
    }

    /// Whether posts to `channel` are held back now. Past [`RETRY_AFTER`] one post may try
    /// again. A block in memory is confirmed in MongoDB each time (blocked channels are
    /// few), so one an admin cleared ends at once: no kill is held back by a stale memory.
    pub async fn is_blocked(&self, channel: u64) -> Result<bool, mongodb::error::Error> {
        let now = Instant::now();
        let Some(retry_at) = self
            .known
            .lock()
            .ok()
            .and_then(|k| k.get(&channel).copied())
        else {
            return Ok(false);
        };
        let still = now < retry_at
            && self
                .blocks
                .find_one(doc! { "_id": id(channel) })
                .await?
                .is_some();
        if !still && let Ok(mut known) = self.known.lock() {
            // Cleared, or time for the re-check: this post goes out, and a refusal
            // blocks the channel again (its success ends the block in MongoDB).
            known.remove(&channel);
            if now >= retry_at
                && let Ok(mut retrying) = self.retrying.lock()
            {
                retrying.insert(channel);
            }
        }
        Ok(still)
    }

    /// A post to `channel` went through: it is not blocked (any more).
    pub async fn posted(&self, channel: u64) -> Result<(), mongodb::error::Error> {
        let known = self
            .known
            .lock()
            .map(|mut k| k.remove(&channel).is_some())
            .unwrap_or(true);
        let retried = self
            .retrying
            .lock()
            .map(|mut r| r.remove(&channel))
            .unwrap_or(true);
        if known || retried {
            self.blocks.delete_one(doc! { "_id": id(channel) }).await?;
        }
        Ok(())
    }

    /// Loads the blocks MongoDB holds (at start: another process of this bot may have
    /// recorded some).
    pub async fn load(&self) -> Result<(), mongodb::error::Error> {
        let docs: Vec<Document> = self.blocks.find(doc! {}).await?.try_collect().await?;
        let now = Instant::now();
        if let Ok(mut known) = self.known.lock() {
            for d in docs {
                if let Ok(channel) = d.get_i64("_id") {
                    known.insert(channel as u64, now + RETRY_AFTER);
                }
            }
        }
        Ok(())
    }

    /// The guild's blocked channels.
    pub async fn of_guild(&self, guild: u64) -> Result<Vec<Block>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .blocks
            .find(doc! { "guild_id": guild.to_string() })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(block).collect())
    }

    /// The guild's blocked channels no admin has been told of yet, now marked told: each
    /// claimed one by one, so two admins at once are not both told, and a block recorded
    /// meanwhile waits for the next admin.
    pub async fn tell(&self, guild: u64) -> Result<Vec<Block>, mongodb::error::Error> {
        let filter = doc! { "guild_id": guild.to_string(), "told": false };
        let docs: Vec<Document> = self.blocks.find(filter).await?.try_collect().await?;
        let mut told = Vec::new();
        for d in docs {
            let Ok(id) = d.get_i64("_id") else {
                continue;
            };
            let claimed = self
                .blocks
                .update_one(
                    doc! { "_id": id, "told": false },
                    doc! { "$set": { "told": true } },
                )
                .await?;
            if claimed.modified_count == 1
                && let Some(b) = block(&d)
            {
                told.push(b);
            }
        }
        Ok(told)
    }

    /// The note of `channel`'s block did not reach the admins: the next may tell it.
    pub async fn untell(&self, channel: u64) -> Result<(), mongodb::error::Error> {
        self.blocks
            .update_one(
                doc! { "_id": id(channel), "told": true },
                doc! { "$set": { "told": false } },
            )
            .await?;
        Ok(())
    }

    /// Whether a block of `channel` is recorded (by any process), without the memory
    /// [`Self::is_blocked`] keeps for posting.
    pub async fn is_recorded(&self, channel: u64) -> Result<bool, mongodb::error::Error> {
        Ok(self
            .blocks
            .find_one(doc! { "_id": id(channel) })
            .await?
            .is_some())
    }

    /// The guilds with a block no admin has been told of.
    pub async fn untold_guilds(&self) -> Result<Vec<u64>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .blocks
            .find(doc! { "told": false })
            .projection(doc! { "guild_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("guild_id").ok()?.parse().ok())
            .collect())
    }

    /// An admin saved the guild's channels: every block of the guild ends.
    pub async fn clear_guild(&self, guild: u64) -> Result<(), mongodb::error::Error> {
        self.blocks
            .delete_many(doc! { "guild_id": guild.to_string() })
            .await?;
        Ok(())
    }
}

fn id(channel: u64) -> i64 {
    i64::try_from(channel).unwrap_or(i64::MAX)
}

fn block(d: &Document) -> Option<Block> {
    Some(Block {
        channel: u64::try_from(d.get_i64("_id").ok()?).ok()?,
        status: u16::try_from(d.get_i32("status").unwrap_or(0)).unwrap_or(0),
        reason: d.get_str("reason").unwrap_or_default().to_owned(),
        since_unix: d
            .get_datetime("since")
            .map_or(0, |t| t.timestamp_millis() / 1000),
    })
}

/// How a block reads to an admin: the channel, what Discord said, and what fixes it.
pub fn describe(b: &Block) -> String {
    let what = match b.status {
        404 => "the channel is gone or the bot cannot see it",
        _ => "the bot lacks View Channel, Send Messages or Embed Links there",
    };
    format!(
        "⚠️ Cannot post in <#{}> since <t:{}:R>: {what} ({}). Fix the permissions, then run \
         /setup channels.",
        b.channel, b.since_unix, b.reason
    )
}

//! Guild settings (`guilds`): for now, the premium tier. A guild without a document, or
//! with a tier this build does not know, is tier 0.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

use crate::db::{Database, collections};
use crate::tier::Tier;

#[derive(Clone)]
pub struct GuildStore {
    guilds: mongodb::Collection<Document>,
}

/// The tier stored in a guild document (`premium_tier`, as the earlier bot wrote it).
fn stored_tier(d: &Document) -> Option<Tier> {
    let n = d
        .get_i32("premium_tier")
        .map(i64::from)
        .or_else(|_| d.get_i64("premium_tier"))
        .ok()?;
    Tier::new(u8::try_from(n).ok()?)
}

impl GuildStore {
    pub fn new(db: &Database) -> Self {
        Self {
            guilds: db.raw().collection(collections::GUILDS),
        }
    }

    pub async fn tier(&self, guild_id: u64) -> Result<Tier, mongodb::error::Error> {
        let guild = self
            .guilds
            .find_one(doc! { "guild_id": guild_id.to_string() })
            .await?;
        Ok(guild.as_ref().and_then(stored_tier).unwrap_or_default())
    }

    /// Every guild's tier that is above 0.
    pub async fn tiers(&self) -> Result<HashMap<u64, Tier>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .guilds
            .find(doc! {})
            .projection(doc! { "guild_id": 1, "premium_tier": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| Some((d.get_str("guild_id").ok()?.parse().ok()?, stored_tier(d)?)))
            .collect())
    }
}

//! Links between Discord users and in-game players (`player_links`), per guild and game
//! server: `/link`, `/unlink`, `/myplayers`. A user has at most one player per server.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};

use crate::db::{Database, collections};
use crate::schema::SCHEMA_VERSION;

/// One linked player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerLink {
    pub server_id: String,
    pub player_id: String,
    pub player_name: String,
}

#[derive(Clone)]
pub struct PlayerLinks {
    links: mongodb::Collection<Document>,
}

impl PlayerLinks {
    pub fn new(db: &Database) -> Self {
        Self {
            links: db.raw().collection(collections::PLAYER_LINKS),
        }
    }

    /// Links (or re-links) a user's player on one server. Linking the player already
    /// linked keeps its `linked_at` (who linked a player first is who holds it).
    pub async fn link(
        &self,
        guild_id: u64,
        discord_id: u64,
        link: &PlayerLink,
    ) -> Result<(), mongodb::error::Error> {
        let changed = self
            .links
            .update_one(
                doc! {
                    "guild_id": guild_id.to_string(), "discord_id": discord_id.to_string(),
                    "server_id": &link.server_id, "player_id": { "$ne": &link.player_id },
                },
                doc! { "$set": {
                    "player_id": &link.player_id,
                    "player_name": &link.player_name,
                    "linked_at": DateTime::now(),
                    "schema_version": SCHEMA_VERSION,
                } },
            )
            .upsert(true)
            .await;
        match changed {
            Ok(_) => Ok(()),
            // Already this player: the upsert's insert met the user's link on the server.
            Err(e) if crate::db::is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Links a user's player on one server unless the user already has a player there;
    /// whether it linked. (An import never replaces what a user chose here.)
    pub async fn link_if_absent(
        &self,
        guild_id: u64,
        discord_id: u64,
        link: &PlayerLink,
    ) -> Result<bool, mongodb::error::Error> {
        let done = self
            .links
            .update_one(
                doc! { "guild_id": guild_id.to_string(), "discord_id": discord_id.to_string(), "server_id": &link.server_id },
                doc! { "$setOnInsert": {
                    "player_id": &link.player_id,
                    "player_name": &link.player_name,
                    "linked_at": DateTime::now(),
                    "schema_version": SCHEMA_VERSION,
                } },
            )
            .upsert(true)
            .await?;
        Ok(done.upserted_id.is_some())
    }

    /// Removes a user's links: on one server, or all of them in this guild. Returns how
    /// many were removed.
    pub async fn unlink(
        &self,
        guild_id: u64,
        discord_id: u64,
        server_id: Option<&str>,
    ) -> Result<u64, mongodb::error::Error> {
        let mut filter =
            doc! { "guild_id": guild_id.to_string(), "discord_id": discord_id.to_string() };
        if let Some(server) = server_id {
            filter.insert("server_id", server);
        }
        Ok(self.links.delete_many(filter).await?.deleted_count)
    }

    /// The Discord user a player is linked to on one server: the first who linked it,
    /// if two did at once (each linker checks after writing, and the later one steps
    /// back).
    pub async fn holder(
        &self,
        guild_id: u64,
        server_id: &str,
        player_id: &str,
    ) -> Result<Option<u64>, mongodb::error::Error> {
        let first = self
            .links
            .find_one(doc! { "guild_id": guild_id.to_string(), "server_id": server_id, "player_id": player_id })
            .sort(doc! { "linked_at": 1, "discord_id": 1 })
            .await?;
        Ok(first.and_then(|d| d.get_str("discord_id").ok()?.parse().ok()))
    }

    /// The Discord users some players are linked to on one server (the first linker of
    /// each, as [`PlayerLinks::holder`]), in one query; players linked to nobody are absent.
    pub async fn holders(
        &self,
        guild_id: u64,
        server_id: &str,
        player_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, u64>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .links
            .find(doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "player_id": { "$in": player_ids },
            })
            .projection(doc! { "player_id": 1, "discord_id": 1, "linked_at": 1 })
            .await?
            .try_collect()
            .await?;
        // The first linker holds the player (by time, then id): chosen here rather than by
        // a sort in the query, which the server would do in memory over the whole `$in`.
        // (Ids compare as stored, as strings, as `holder` sorts them.)
        let mut first = std::collections::HashMap::<&str, (i64, &str)>::new();
        for d in &docs {
            if let (Ok(player), Ok(user)) = (d.get_str("player_id"), d.get_str("discord_id")) {
                let at = d
                    .get_datetime("linked_at")
                    .map_or(i64::MAX, |t| t.timestamp_millis());
                let held = first.entry(player).or_insert((at, user));
                *held = (*held).min((at, user));
            }
        }
        Ok(first
            .into_iter()
            .filter_map(|(player, (_, user))| Some((player.to_owned(), user.parse().ok()?)))
            .collect())
    }

    /// A user's links in one guild, by server.
    pub async fn of_user(
        &self,
        guild_id: u64,
        discord_id: u64,
    ) -> Result<Vec<PlayerLink>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .links
            .find(doc! { "guild_id": guild_id.to_string(), "discord_id": discord_id.to_string() })
            .sort(doc! { "server_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some(PlayerLink {
                    server_id: d.get_str("server_id").ok()?.to_owned(),
                    player_id: d.get_str("player_id").ok()?.to_owned(),
                    player_name: d.get_str("player_name").unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }
}

//! Players' name changes: a player who joins a server under another name than its
//! statistics last knew. Found when the join is read from the server log, shown on the
//! connection post ("joined as NewName (was OldName)"), and kept (once per join) for
//! `/admin renamed`.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::error::Error as MongoError;

use crate::db::{Database, collections, is_duplicate_key};
use crate::schema::SCHEMA_VERSION;

/// One name change, as seen at a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub player_id: String,
    pub from: String,
    pub to: String,
    /// When the join was (Unix ms).
    pub at_ms: i64,
}

#[derive(Clone)]
pub struct Renames {
    players: Collection<Document>,
    renames: Collection<Document>,
}

impl Renames {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            players: raw.collection(collections::PLAYER_STATS),
            renames: raw.collection(collections::RENAMES),
        }
    }

    /// Of players joining under `names` (EOS id → name as joining), those the server's
    /// statistics know by another name: EOS id → that name. One query.
    pub async fn earlier_names(
        &self,
        guild_id: u64,
        server_id: &str,
        names: &HashMap<String, String>,
    ) -> Result<HashMap<String, String>, MongoError> {
        if names.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<&String> = names.keys().collect();
        let known: Vec<Document> = self
            .players
            .find(doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "player_id": { "$in": ids },
            })
            .projection(doc! { "player_id": 1, "name": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(known
            .iter()
            .filter_map(|d| {
                let id = d.get_str("player_id").ok()?;
                let was = d.get_str("name").ok()?.trim();
                let now = names.get(id)?.trim();
                (!was.is_empty() && !now.is_empty() && was != now)
                    .then(|| (id.to_owned(), was.to_owned()))
            })
            .collect())
    }

    /// Keeps a rename seen at the join `key` (a join read again is kept once).
    pub async fn record(
        &self,
        (guild_id, server_id): (u64, &str),
        key: &str,
        rename: &Rename,
    ) -> Result<(), MongoError> {
        let inserted = self
            .renames
            .insert_one(doc! {
                "_id": key,
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "player_id": &rename.player_id,
                "from": &rename.from,
                "to": &rename.to,
                "at": DateTime::from_millis(rename.at_ms),
                "schema_version": SCHEMA_VERSION,
            })
            .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A server's latest renames, newest first.
    pub async fn recent(
        &self,
        guild_id: u64,
        server_id: &str,
        limit: i64,
    ) -> Result<Vec<Rename>, MongoError> {
        let docs: Vec<Document> = self
            .renames
            .find(doc! { "guild_id": guild_id.to_string(), "server_id": server_id })
            .sort(doc! { "at": -1, "_id": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| {
                Some(Rename {
                    player_id: d.get_str("player_id").ok()?.to_owned(),
                    from: d.get_str("from").ok()?.to_owned(),
                    to: d.get_str("to").ok()?.to_owned(),
                    at_ms: d.get_datetime("at").ok()?.timestamp_millis(),
                })
            })
            .collect())
    }
}

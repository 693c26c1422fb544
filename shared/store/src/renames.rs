//! Players' name changes: a player who joins a server under another name than they were
//! last known by there (their last join's name, else the killfeed's). Found when the join
//! is read from the server log, shown on the connection post ("joined the server (was
//! OldName)"), and kept (once per join, for 90 days) for `/admin renamed`.

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
    /// Per player and server, the name of their last join.
    joins: Collection<Document>,
}

impl Renames {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            players: raw.collection(collections::PLAYER_STATS),
            renames: raw.collection(collections::RENAMES),
            joins: raw.collection(collections::JOIN_NAMES),
        }
    }

    /// The names `ids` were last known by on the server: the name of their last join
    /// read from the log, else the one the killfeed last showed. At most two queries.
    pub async fn known_names(
        &self,
        guild_id: u64,
        server_id: &str,
        ids: &[String],
    ) -> Result<HashMap<String, String>, MongoError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let key = |id: &str| format!("{guild_id}:{server_id}:{id}");
        let by_id = |docs: Vec<Document>| -> HashMap<String, String> {
            docs.iter()
                .filter_map(|d| {
                    let id = d.get_str("player_id").ok()?;
                    let name = d.get_str("name").ok()?.trim();
                    (!name.is_empty()).then(|| (id.to_owned(), name.to_owned()))
                })
                .collect()
        };
        let keys: Vec<String> = ids.iter().map(|id| key(id)).collect();
        let mut known = by_id(
            self.joins
                .find(doc! { "_id": { "$in": &keys } })
                .projection(doc! { "player_id": 1, "name": 1 })
                .await?
                .try_collect()
                .await?,
        );
        let rest: Vec<String> = ids
            .iter()
            .filter(|id| !known.contains_key(*id))
            .map(|id| key(id))
            .collect();
        if !rest.is_empty() {
            let from_stats = by_id(
                self.players
                    .find(doc! { "_id": { "$in": rest } })
                    .projection(doc! { "player_id": 1, "name": 1 })
                    .await?
                    .try_collect()
                    .await?,
            );
            known.extend(from_stats);
        }
        Ok(known)
    }

    /// After a poll's notices are stored: the names its players last joined under, and
    /// the renames it found (each kept once, by its join's notice key). Written after the
    /// notices, so a poll read again after a failure finds the same names as the first.
    pub async fn remember(
        &self,
        (guild_id, server_id): (u64, &str),
        last_joined: &HashMap<String, String>,
        found: &[(String, Rename)],
    ) -> Result<(), MongoError> {
        for (id, name) in last_joined {
            self.joins
                .update_one(
                    doc! { "_id": format!("{guild_id}:{server_id}:{id}") },
                    doc! { "$set": {
                        "player_id": id,
                        "name": name,
                        "at": DateTime::now(),
                        "schema_version": SCHEMA_VERSION,
                    } },
                )
                .upsert(true)
                .await?;
        }
        for (key, rename) in found {
            self.record((guild_id, server_id), key, rename).await?;
        }
        Ok(())
    }

    /// Keeps a rename seen at the join `key` (a join read again is kept once).
    async fn record(
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
            .sort(doc! { "at": -1 })
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

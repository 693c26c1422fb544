//! Statistics seasons (`/reset_stats`, `/stats season`): a server's statistics closed
//! under a label (its top players on every leaderboard, its totals and weapons, every
//! player's line as it stood), then started again from zero.
//!
//! A close is run by the worker that holds the server, between two of its polls and only
//! while no batch of the server is pending (interrupted), so no batch is half in one
//! season and half in the next. The season records the last batch it holds
//! (`after_batch`, from the cursors): the new season is every kill line of a later batch,
//! which is what [`crate::recount`] counts. It goes in steps recorded on the season
//! document (`archiving` → `archived` → `closed`); a close cut short is finished
//! ([`SeasonStore::finish_unfinished`]) before the server's next batch, and never archives
//! a half-deleted season.

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;

use crate::db::{Database, collections, is_duplicate_key};
use crate::schema::SCHEMA_VERSION;
use crate::stats_query::{PlayerRow, literal};
use crate::stats_store::{StatsStore, get_i64, get_u64, player_from};
use tower_ingest::stats::Leaderboard;

/// Players on each leaderboard a season keeps as its champions.
pub const CHAMPIONS: usize = 3;
/// Weapons a season keeps, most kills first.
const WEAPONS_KEPT: usize = 5;
/// The longest season label.
pub const MAX_LABEL_CHARS: usize = 40;
/// Archived players written per command.
const COPY_CHUNK: usize = 1_000;

/// One leaderboard's top players when a season closed.
#[derive(Debug, Clone, PartialEq)]
pub struct Champion {
    pub player_id: String,
    pub name: String,
    /// As shown (`1.63`, `412`).
    pub value: String,
}

/// A closed (or closing) season of one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Season {
    pub id: String,
    pub label: String,
    /// 1 for a server's first season.
    pub number: i64,
    pub closed_at_unix: i64,
    pub closed_by: u64,
    /// The last batch of kill lines counted in it.
    pub after_batch: i64,
    pub players: u64,
    pub kills: u64,
    pub deaths: u64,
    pub suicides: u64,
    /// Per leaderboard key (`kills`, `kdr`, …), its top [`CHAMPIONS`].
    pub champions: Vec<(String, Vec<Champion>)>,
    /// The most used weapons and their kills.
    pub weapons: Vec<(String, u64)>,
    /// The server's factions' records in the season (deleted ones too), most kills first.
    pub factions: Vec<FactionStanding>,
    /// `archiving`, `archived` or `closed`.
    pub state: String,
}

/// A faction's record in a closed season.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactionStanding {
    pub name: String,
    pub tag: String,
    pub kills: i64,
    pub deaths: i64,
    pub friendly_kills: i64,
    /// Deleted by the time the season closed.
    pub deleted: bool,
}

/// What [`SeasonStore::close`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CloseOutcome {
    /// The season was closed now (or an interrupted close of it finished).
    Closed(Season),
    /// A season of that label was closed before: nothing changed.
    AlreadyClosed(Season),
}

#[derive(Clone)]
pub struct SeasonStore {
    db: Database,
    seasons: Collection<Document>,
    players: Collection<Document>,
}

impl SeasonStore {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            db: db.clone(),
            seasons: raw.collection(collections::SEASONS),
            players: raw.collection(collections::SEASON_PLAYERS),
        }
    }

    /// A server's seasons, first first.
    pub async fn list(&self, guild_id: u64, server_id: &str) -> Result<Vec<Season>, MongoError> {
        let docs: Vec<Document> = self
            .seasons
            .find(doc! { "guild_id": guild_id.to_string(), "server_id": server_id })
            .sort(doc! { "number": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(season_from).collect())
    }

    /// A server's closed season by label (any case), or by number (`3`, `#3`).
    pub async fn find(
        &self,
        guild_id: u64,
        server_id: &str,
        label: &str,
    ) -> Result<Option<Season>, MongoError> {
        let wanted = label.trim();
        let number = wanted.trim_start_matches('#').parse::<i64>().ok();
        Ok(self
            .list(guild_id, server_id)
            .await?
            .into_iter()
            .filter(|s| s.state == "closed")
            .find(|s| s.label.eq_ignore_ascii_case(wanted) || Some(s.number) == number))
    }

    /// The last batch of the server's latest closed season (0: none closed): the current
    /// season counts the kill lines of later batches.
    pub async fn current_after_batch(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<i64, MongoError> {
        Ok(self
            .list(guild_id, server_id)
            .await?
            .iter()
            .filter(|s| s.state == "closed")
            .map(|s| s.after_batch)
            .max()
            .unwrap_or(0))
    }

    /// A player's line in a closed season, by exact name, then any case.
    pub async fn player(
        &self,
        season: &Season,
        name: &str,
    ) -> Result<Option<PlayerRow>, MongoError> {
        let exact = doc! { "season_id": &season.id, "name": name };
        let found = match self.players.find_one(exact).await? {
            Some(d) => Some(d),
            None => {
                let pattern = format!("^{}$", literal(name));
                self.players
                    .find_one(doc! {
                        "season_id": &season.id,
                        "name": { "$regex": pattern, "$options": "i" },
                    })
                    .await?
            }
        };
        Ok(found.and_then(|d| {
            Some(PlayerRow {
                player_id: d.get_str("player_id").ok()?.to_owned(),
                stats: player_from(&d),
            })
        }))
    }

    /// Names of a closed season's players starting with `typed` (any case), most kills
    /// first: suggestions while a user types.
    pub async fn players_named(
        &self,
        season: &Season,
        typed: &str,
        limit: i64,
    ) -> Result<Vec<String>, MongoError> {
        let docs: Vec<Document> = self
            .players
            .find(doc! {
                "season_id": &season.id,
                "name": { "$regex": format!("^{}", literal(typed)), "$options": "i" },
            })
            .projection(doc! { "name": 1 })
            .sort(doc! { "kills": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().map(|d| text(d, "name")).collect())
    }

    /// A player's rank by kills in a closed season (1 = most).
    pub async fn kills_rank(&self, season: &Season, kills: u64) -> Result<u64, MongoError> {
        let above = self
            .players
            .count_documents(doc! {
                "season_id": &season.id,
                "kills": { "$gt": i64::try_from(kills).unwrap_or(i64::MAX) },
            })
            .await?;
        Ok(above + 1)
    }

    /// Finishes a close of the server that was cut short (a crash, a database failure):
    /// the worker calls this before the first batch under a new lease. The season, if any.
    pub async fn finish_unfinished(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<Option<Season>, MongoError> {
        let unfinished = self
            .list(guild_id, server_id)
            .await?
            .into_iter()
            .find(|s| s.state != "closed");
        match unfinished {
            Some(s) => Ok(Some(self.finish(guild_id, server_id, s).await?)),
            None => Ok(None),
        }
    }

    /// Closes the server's current season as `label` (default "Season N"), holding every
    /// batch up to `after_batch`, and starts the next from zero. Only the worker holding
    /// the server calls this, between two polls, with no batch pending.
    pub async fn close(
        &self,
        guild_id: u64,
        server_id: &str,
        label: Option<&str>,
        closed_by: u64,
        after_batch: i64,
    ) -> Result<CloseOutcome, MongoError> {
        self.finish_unfinished(guild_id, server_id).await?;
        let seasons = self.list(guild_id, server_id).await?;
        let label = label.map(str::trim).filter(|l| !l.is_empty());
        if let Some(done) = label.and_then(|l| {
            seasons
                .iter()
                .find(|s| s.label.eq_ignore_ascii_case(l))
                .cloned()
        }) {
            return Ok(CloseOutcome::AlreadyClosed(done));
        }
        let number = seasons.iter().map(|s| s.number).max().unwrap_or(0) + 1;
        let label = label.map_or_else(
            || format!("Season {number}"),
            |l| l.chars().take(MAX_LABEL_CHARS).collect(),
        );
        let season = self
            .begin(guild_id, server_id, label, number, closed_by, after_batch)
            .await?;
        Ok(CloseOutcome::Closed(
            self.finish(guild_id, server_id, season).await?,
        ))
    }

    /// Records the season with its champions and totals, as `archiving`.
    async fn begin(
        &self,
        guild_id: u64,
        server_id: &str,
        label: String,
        number: i64,
        closed_by: u64,
        after_batch: i64,
    ) -> Result<Season, MongoError> {
        let guild = guild_id.to_string();
        let stats = StatsStore::new(&self.db).load(guild_id, server_id).await?;
        let champions = Leaderboard::ALL
            .iter()
            .map(|board| {
                let top = stats
                    .leaderboard(*board, CHAMPIONS)
                    .into_iter()
                    .map(|(id, p)| Champion {
                        player_id: id.to_owned(),
                        name: p.name.clone(),
                        value: board.shown(p),
                    })
                    .collect();
                (board.key().to_owned(), top)
            })
            .collect();
        let mut weapons: Vec<(String, u64)> = stats
            .weapons
            .iter()
            .map(|(w, t)| (w.clone(), t.kills))
            .collect();
        weapons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        weapons.truncate(WEAPONS_KEPT);
        let season = Season {
            id: format!("{guild}:{server_id}:{number}"),
            label,
            number,
            closed_at_unix: DateTime::now().timestamp_millis() / 1000,
            closed_by,
            after_batch,
            players: stats.players.len() as u64,
            kills: stats.totals.kills,
            deaths: stats.players.values().map(|p| p.deaths).sum(),
            suicides: stats.totals.suicides.total(),
            champions,
            weapons,
            // Worked out while archiving (`finish`), once the season is recorded.
            factions: Vec::new(),
            state: "archiving".to_owned(),
        };
        let mut d = season_doc(&season);
        d.insert("guild_id", &guild);
        d.insert("server_id", server_id);
        match self.seasons.insert_one(d).await {
            Ok(_) => Ok(season),
            // Recorded by a close that was cut short just after: it goes on from there.
            Err(e) if is_duplicate_key(&e) => Ok(season),
            Err(e) => Err(e),
        }
    }

    /// Copies the players (while `archiving`), then empties the current statistics (once
    /// `archived`): each step done once, so running it again finishes what was cut short.
    async fn finish(
        &self,
        guild_id: u64,
        server_id: &str,
        mut season: Season,
    ) -> Result<Season, MongoError> {
        let guild = guild_id.to_string();
        let scope = doc! { "guild_id": &guild, "server_id": server_id };
        let raw = self.db.raw();
        if season.state == "archiving" {
            // Every faction's record from the season before's last batch to this one's
            // (the kill lines stay: a close finished again works it out the same).
            let before = self
                .list(guild_id, server_id)
                .await?
                .iter()
                .filter(|s| s.state == "closed" && s.number < season.number)
                .map(|s| s.after_batch)
                .max()
                .unwrap_or(0);
            season.factions = crate::factions::Factions::new(&self.db)
                .season_standings(guild_id, server_id, before, season.after_batch)
                .await?;
            let standings = season_doc(&season)
                .get("factions")
                .cloned()
                .unwrap_or(Bson::Array(Vec::new()));
            self.seasons
                .update_one(
                    doc! { "_id": &season.id },
                    doc! { "$set": { "factions": standings } },
                )
                .await?;
            let mut cursor = raw
                .collection::<Document>(collections::PLAYER_STATS)
                .find(scope.clone())
                .await?;
            let mut chunk = Vec::with_capacity(COPY_CHUNK);
            while let Some(mut d) = cursor.try_next().await? {
                let player = d.get_str("player_id").unwrap_or_default().to_owned();
                d.insert("_id", format!("{}:{player}", season.id));
                d.insert("season_id", &season.id);
                chunk.push(d);
                if chunk.len() == COPY_CHUNK {
                    self.copy(std::mem::take(&mut chunk)).await?;
                }
            }
            self.copy(chunk).await?;
            self.set_state(&mut season, "archived").await?;
        }
        if season.state == "archived" {
            for collection in [
                collections::PLAYER_STATS,
                collections::PLAYER_WEAPONS,
                collections::MATCHUPS,
                collections::RIVALRIES,
                collections::WEAPON_STATS,
                collections::SERVER_STATS,
                collections::PERIOD_TOTALS,
                collections::PLATFORM_KILLS,
            ] {
                raw.collection::<Document>(collection)
                    .delete_many(scope.clone())
                    .await?;
            }
            self.set_state(&mut season, "closed").await?;
        }
        Ok(season)
    }

    /// Archived players; those a cut-short close already wrote are left as they are.
    async fn copy(&self, docs: Vec<Document>) -> Result<(), MongoError> {
        crate::db::insert_once(&self.players, docs).await
    }

    async fn set_state(&self, season: &mut Season, state: &str) -> Result<(), MongoError> {
        self.seasons
            .update_one(
                doc! { "_id": &season.id },
                doc! { "$set": { "state": state, "schema_version": SCHEMA_VERSION } },
            )
            .await?;
        state.clone_into(&mut season.state);
        Ok(())
    }
}

fn season_doc(s: &Season) -> Document {
    let champions: Document = s
        .champions
        .iter()
        .map(|(board, top)| {
            let list: Vec<Bson> = top
                .iter()
                .map(|c| {
                    Bson::Document(doc! {
                        "player_id": &c.player_id, "name": &c.name, "value": &c.value,
                    })
                })
                .collect();
            (board.clone(), Bson::Array(list))
        })
        .collect();
    let weapons: Vec<Bson> = s
        .weapons
        .iter()
        .map(|(w, k)| Bson::Document(doc! { "weapon": w, "kills": to_i64(*k) }))
        .collect();
    doc! {
        "_id": &s.id,
        "label": &s.label,
        "number": s.number,
        "closed_at": DateTime::from_millis(s.closed_at_unix.saturating_mul(1000)),
        "closed_by": s.closed_by.to_string(),
        "after_batch": s.after_batch,
        "players": to_i64(s.players),
        "kills": to_i64(s.kills),
        "deaths": to_i64(s.deaths),
        "suicides": to_i64(s.suicides),
        "champions": champions,
        "weapons": weapons,
        "factions": s.factions.iter().map(|f| Bson::Document(doc! {
            "name": &f.name, "tag": &f.tag, "kills": f.kills, "deaths": f.deaths,
            "friendly_kills": f.friendly_kills, "deleted": f.deleted,
        })).collect::<Vec<_>>(),
        "state": &s.state,
        "schema_version": SCHEMA_VERSION,
    }
}

fn season_from(d: &Document) -> Option<Season> {
    let champions = d
        .get_document("champions")
        .map(|c| {
            c.iter()
                .map(|(board, list)| {
                    let top = list
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Bson::as_document)
                                .map(|c| Champion {
                                    player_id: text(c, "player_id"),
                                    name: text(c, "name"),
                                    value: text(c, "value"),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (board.clone(), top)
                })
                .collect()
        })
        .unwrap_or_default();
    let weapons = d
        .get_array("weapons")
        .map(|a| {
            a.iter()
                .filter_map(Bson::as_document)
                .map(|w| (text(w, "weapon"), get_u64(w, "kills")))
                .collect()
        })
        .unwrap_or_default();
    Some(Season {
        id: d.get_str("_id").ok()?.to_owned(),
        label: d.get_str("label").ok()?.to_owned(),
        number: get_i64(d, "number")?,
        closed_at_unix: d
            .get_datetime("closed_at")
            .map(|t| t.timestamp_millis() / 1000)
            .unwrap_or(0),
        closed_by: d
            .get_str("closed_by")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        after_batch: get_i64(d, "after_batch").unwrap_or(0),
        players: get_u64(d, "players"),
        kills: get_u64(d, "kills"),
        deaths: get_u64(d, "deaths"),
        suicides: get_u64(d, "suicides"),
        champions,
        weapons,
        factions: d
            .get_array("factions")
            .map(|a| {
                a.iter()
                    .filter_map(Bson::as_document)
                    .map(|f| FactionStanding {
                        name: text(f, "name"),
                        tag: text(f, "tag"),
                        kills: get_i64(f, "kills").unwrap_or(0),
                        deaths: get_i64(f, "deaths").unwrap_or(0),
                        friendly_kills: get_i64(f, "friendly_kills").unwrap_or(0),
                        deleted: f.get_bool("deleted").unwrap_or(false),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        state: text(d, "state"),
    })
}

fn text(d: &Document, key: &str) -> String {
    d.get_str(key).unwrap_or_default().to_owned()
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

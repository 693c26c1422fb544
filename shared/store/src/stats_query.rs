//! Reading statistics back for `/stats`: one player, leaderboards, weapons, matchups
//! (nemesis and prey), server totals and kills by platform. Each query is served by an
//! index (migrations `0002_killfeed_stats` and `0024_platform_kills`); every one is scoped
//! to one guild and one of its servers.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Document, doc};
use mongodb::error::Error as MongoError;

use crate::db::{Database, collections};
use crate::stats_store::{get_u64, player_from, suicides_from};
use tower_ingest::stats::{Leaderboard, PlayerStats};

pub use tower_ingest::stats::{DEFAULT_LIMIT, MAX_LIMIT};

/// The stored field a leaderboard sorts by (each has an index of migration
/// `0002_killfeed_stats`).
fn field(board: Leaderboard) -> &'static str {
    match board {
        Leaderboard::Kills => "kills",
        Leaderboard::Deaths => "deaths",
        Leaderboard::Kdr => "kdr",
        Leaderboard::LongestShot => "longest_kill_m",
        Leaderboard::HighestKillstreak => "best_killstreak",
        Leaderboard::Suicides => "suicides_total",
    }
}

/// A player with their id.
#[derive(Debug, Clone)]
pub struct PlayerRow {
    pub player_id: String,
    pub stats: PlayerStats,
}

/// One PvP kill a player took part in, from the stored kill lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encounter {
    /// Unix seconds, game time.
    pub at: i64,
    /// The player killed (rather than died).
    pub won: bool,
    pub opponent: String,
}

/// The most stored lines an encounter query reads (a week of a busy server).
const ENCOUNTER_LINES: usize = 200_000;

/// A weapon's totals on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeaponRow {
    pub weapon: String,
    pub kills: u64,
    pub longest_m: u64,
    /// The sum of the distances of `distance_kills` of the kills (those since distances
    /// were summed), and the shortest of them.
    pub distance_sum_m: u64,
    pub distance_kills: u64,
    pub shortest_m: Option<u64>,
}

/// A server's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTotals {
    pub kills: u64,
    pub roadkills: u64,
    pub suicides: u64,
    pub environment_deaths: u64,
    pub malformed_lines: u64,
    pub players: u64,
    /// (distance in metres, killer id, weapon).
    pub longest_kill: Option<(u64, String, String)>,
}

/// Read access to one deployment's statistics.
#[derive(Clone)]
pub struct StatsQuery {
    kills: Collection<Document>,
    players: Collection<Document>,
    player_weapons: Collection<Document>,
    matchups: Collection<Document>,
    weapons: Collection<Document>,
    servers: Collection<Document>,
    platforms: Collection<Document>,
    seasons: crate::seasons::SeasonStore,
}

/// One server's documents of a statistics collection.
pub(crate) fn scope(guild_id: u64, server_id: &str) -> Document {
    doc! { "guild_id": guild_id.to_string(), "server_id": server_id }
}

/// A case-insensitive match on text typed by a user: "starts with", or the whole text.
fn matching(text: &str, whole: bool) -> Document {
    let mut pattern = String::from("^");
    pattern.push_str(&literal(text));
    if whole {
        pattern.push('$');
    }
    doc! { "$regex": pattern, "$options": "i" }
}

/// Text typed by a user as a regular expression that matches only that text.
pub(crate) fn literal(text: &str) -> String {
    let mut pattern = String::new();
    for c in text.chars().filter(|c| *c != '\0') {
        if "\\^$.|?*+()[]{}/-".contains(c) {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

impl StatsQuery {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            kills: raw.collection(collections::KILLS),
            players: raw.collection(collections::PLAYER_STATS),
            player_weapons: raw.collection(collections::PLAYER_WEAPONS),
            matchups: raw.collection(collections::MATCHUPS),
            weapons: raw.collection(collections::WEAPON_STATS),
            servers: raw.collection(collections::SERVER_STATS),
            platforms: raw.collection(collections::PLATFORM_KILLS),
            seasons: crate::seasons::SeasonStore::new(db),
        }
    }

    /// A player by EOS id or by name (exact, then case-insensitive).
    pub async fn player(
        &self,
        guild_id: u64,
        server_id: &str,
        id_or_name: &str,
    ) -> Result<Option<PlayerRow>, MongoError> {
        let base = scope(guild_id, server_id);
        let mut by_id = base.clone();
        by_id.insert("player_id", id_or_name);
        let mut by_name = base.clone();
        by_name.insert("name", id_or_name);
        let mut by_any_case = base;
        by_any_case.insert("name", matching(id_or_name, true));
        for filter in [by_id, by_name, by_any_case] {
            if let Some(d) = self
                .players
                .find_one(filter)
                .sort(doc! { "last_seen": -1 })
                .await?
            {
                return Ok(Some(row(&d)));
            }
        }
        Ok(None)
    }

    /// Players whose name starts with `typed` (autocomplete), most active first.
    pub async fn players_named(
        &self,
        guild_id: u64,
        server_id: Option<&str>,
        typed: &str,
        limit: u32,
    ) -> Result<Vec<PlayerRow>, MongoError> {
        let mut filter = doc! { "guild_id": guild_id.to_string() };
        if let Some(server) = server_id {
            filter.insert("server_id", server);
        }
        if !typed.is_empty() {
            filter.insert("name", matching(typed, false));
        }
        self.rows(filter, doc! { "kills": -1 }, limit).await
    }

    pub async fn leaderboard(
        &self,
        guild_id: u64,
        server_id: &str,
        stat: Leaderboard,
        limit: u32,
    ) -> Result<Vec<PlayerRow>, MongoError> {
        self.leaderboard_on(guild_id, server_id, stat, limit, None)
            .await
    }

    /// [`StatsQuery::leaderboard`] of the players last seen on `platform` (as the log
    /// writes it: `PS5`, `XSX`, …, in any case), or of every player.
    pub async fn leaderboard_on(
        &self,
        guild_id: u64,
        server_id: &str,
        stat: Leaderboard,
        limit: u32,
        platform: Option<&str>,
    ) -> Result<Vec<PlayerRow>, MongoError> {
        self.ranked(guild_id, server_id, (stat, platform), limit, 0)
            .await
    }

    /// [`StatsQuery::leaderboard`] where a player needs `kdr_floor` kills to be ranked by
    /// K/D (an auto-posted board's floor, so a 1–0 player does not top it).
    pub async fn leaderboard_floored(
        &self,
        guild_id: u64,
        server_id: &str,
        stat: Leaderboard,
        limit: u32,
        kdr_floor: u64,
    ) -> Result<Vec<PlayerRow>, MongoError> {
        self.ranked(guild_id, server_id, (stat, None), limit, kdr_floor)
            .await
    }

    async fn ranked(
        &self,
        guild_id: u64,
        server_id: &str,
        (stat, platform): (Leaderboard, Option<&str>),
        limit: u32,
        kdr_floor: u64,
    ) -> Result<Vec<PlayerRow>, MongoError> {
        let mut filter = scope(guild_id, server_id);
        if let Some(p) = platform {
            filter.insert("platform", matching(p, true));
        }
        // A board of zeros says nothing: only players who have the stat.
        filter.insert(field(stat), doc! { "$gt": 0 });
        if stat == Leaderboard::Kdr && kdr_floor > 0 {
            filter.insert(
                "kills",
                doc! { "$gte": i64::try_from(kdr_floor).unwrap_or(i64::MAX) },
            );
        }
        let sort = doc! { field(stat): -1, "kills": -1, "player_id": 1 };
        self.rows(filter, sort, limit.clamp(1, MAX_LIMIT)).await
    }

    async fn rows(
        &self,
        filter: Document,
        sort: Document,
        limit: u32,
    ) -> Result<Vec<PlayerRow>, MongoError> {
        let docs = top(&self.players, filter, sort, limit).await?;
        Ok(docs.iter().map(row).collect())
    }

    /// The ids of the players last seen on `platform` (in any case).
    pub async fn players_on(
        &self,
        guild_id: u64,
        server_id: &str,
        platform: &str,
    ) -> Result<std::collections::HashSet<String>, MongoError> {
        let mut filter = scope(guild_id, server_id);
        filter.insert("platform", matching(platform, true));
        let docs: Vec<Document> = self
            .players
            .find(filter)
            .projection(doc! { "player_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .iter()
            .filter_map(|d| d.get_str("player_id").ok().map(str::to_owned))
            .collect())
    }

    /// PvP kills per pair of platforms (killer's, victim's; `""` where the log gives
    /// none), most first.
    pub async fn platform_kills(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<Vec<(String, String, u64)>, MongoError> {
        let docs: Vec<Document> = self
            .platforms
            .find(scope(guild_id, server_id))
            .await?
            .try_collect()
            .await?;
        let mut pairs: Vec<(String, String, u64)> = docs
            .iter()
            .map(|d| {
                let text = |k: &str| d.get_str(k).unwrap_or_default().to_owned();
                (
                    text("killer_platform"),
                    text("victim_platform"),
                    get_u64(d, "kills"),
                )
            })
            .filter(|p| p.2 > 0)
            .collect();
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        Ok(pairs)
    }

    /// Names for player ids (ids without a stored name map to themselves).
    pub async fn names(
        &self,
        guild_id: u64,
        server_id: &str,
        ids: &[String],
    ) -> Result<HashMap<String, String>, MongoError> {
        let mut filter = scope(guild_id, server_id);
        filter.insert("player_id", doc! { "$in": ids });
        let docs: Vec<Document> = self
            .players
            .find(filter)
            .projection(doc! { "player_id": 1, "name": 1 })
            .await?
            .try_collect()
            .await?;
        let mut names: HashMap<String, String> =
            ids.iter().map(|i| (i.clone(), i.clone())).collect();
        for d in &docs {
            if let (Ok(id), Ok(name)) = (d.get_str("player_id"), d.get_str("name")) {
                names.insert(id.to_owned(), name.to_owned());
            }
        }
        Ok(names)
    }

    /// A player's kills per weapon, most first.
    pub async fn player_weapons(
        &self,
        guild_id: u64,
        server_id: &str,
        player_id: &str,
        limit: u32,
    ) -> Result<Vec<(String, u64)>, MongoError> {
        let at = (guild_id, server_id, "player_id", player_id);
        ranked(&self.player_weapons, at, "weapon", limit).await
    }

    /// Whom a player killed most (prey) or who killed them most (nemesis): (id, kills).
    pub async fn matchups(
        &self,
        guild_id: u64,
        server_id: &str,
        player_id: &str,
        nemesis: bool,
        limit: u32,
    ) -> Result<Vec<(String, u64)>, MongoError> {
        let (me, other) = if nemesis {
            ("victim_id", "killer_id")
        } else {
            ("killer_id", "victim_id")
        };
        ranked(
            &self.matchups,
            (guild_id, server_id, me, player_id),
            other,
            limit,
        )
        .await
    }

    /// A player's PvP kills and deaths of the current season since `since` (Unix seconds,
    /// game time), oldest first, from the stored kill lines (for the history and recent form of `/stats
    /// player`). Reads at most [`ENCOUNTER_LINES`] lines.
    pub async fn encounters(
        &self,
        guild_id: u64,
        server_id: &str,
        player_id: &str,
        since: i64,
    ) -> Result<Vec<Encounter>, MongoError> {
        let since_date = mongodb::bson::DateTime::from_millis(since.saturating_mul(1000));
        let mut filter = scope(guild_id, server_id);
        filter.insert("at", doc! { "$gte": since_date });
        // Only the current season's lines (a season closed by /reset_stats is archived).
        let after = self
            .seasons
            .current_after_batch(guild_id, server_id)
            .await?;
        if after > 0 {
            filter.insert("batch", doc! { "$gt": after });
        }
        let mut cursor = self
            .kills
            .find(filter)
            .projection(doc! {
                "lines.at": 1, "lines.kind": 1, "lines.killer_id": 1, "lines.victim_id": 1,
            })
            // Newest first: past the bound, what is left out is the oldest.
            .sort(doc! { "at": -1 })
            .await?;
        let mut out = Vec::new();
        let mut read = 0;
        while let Some(d) = cursor.try_next().await? {
            let Ok(lines) = d.get_array("lines") else {
                continue;
            };
            read += lines.len();
            for l in lines.iter().filter_map(|l| l.as_document()) {
                let at = match l.get_datetime("at") {
                    Ok(t) => t.timestamp_millis().div_euclid(1000),
                    Err(_) => continue,
                };
                if at < since || l.get_str("kind").ok() != Some("kill") {
                    continue;
                }
                let (killer, victim) = (
                    l.get_str("killer_id").unwrap_or_default(),
                    l.get_str("victim_id").unwrap_or_default(),
                );
                if killer == player_id {
                    out.push(Encounter {
                        at,
                        won: true,
                        opponent: victim.to_owned(),
                    });
                } else if victim == player_id {
                    out.push(Encounter {
                        at,
                        won: false,
                        opponent: killer.to_owned(),
                    });
                }
            }
            if read >= ENCOUNTER_LINES {
                break;
            }
        }
        out.sort_by_key(|e| e.at);
        Ok(out)
    }

    /// Players with the most kills with one weapon: (id, kills).
    pub async fn weapon_leaders(
        &self,
        guild_id: u64,
        server_id: &str,
        weapon: &str,
        limit: u32,
    ) -> Result<Vec<(String, u64)>, MongoError> {
        let at = (guild_id, server_id, "weapon", weapon);
        ranked(&self.player_weapons, at, "player_id", limit).await
    }

    /// A server's weapons, most kills first; `typed` filters by name prefix.
    pub async fn weapons(
        &self,
        guild_id: u64,
        server_id: &str,
        typed: Option<&str>,
        limit: u32,
    ) -> Result<Vec<WeaponRow>, MongoError> {
        let name = typed.filter(|t| !t.is_empty()).map(|t| matching(t, false));
        self.weapons_named(guild_id, server_id, name, limit).await
    }

    /// A server's weapons whose name contains `text` (any case), most kills first.
    pub async fn weapons_containing(
        &self,
        guild_id: u64,
        server_id: &str,
        text: &str,
        limit: u32,
    ) -> Result<Vec<WeaponRow>, MongoError> {
        let name = doc! { "$regex": literal(text), "$options": "i" };
        self.weapons_named(guild_id, server_id, Some(name), limit)
            .await
    }

    /// A server's weapons whose name matches `name` (any, without), most kills first.
    async fn weapons_named(
        &self,
        guild_id: u64,
        server_id: &str,
        name: Option<Document>,
        limit: u32,
    ) -> Result<Vec<WeaponRow>, MongoError> {
        let mut filter = scope(guild_id, server_id);
        if let Some(name) = name {
            filter.insert("weapon", name);
        }
        let docs = top(
            &self.weapons,
            filter,
            doc! { "kills": -1, "weapon": 1 },
            limit,
        )
        .await?;
        Ok(docs.iter().filter_map(weapon_row).collect())
    }

    /// How many players killed with a weapon.
    pub async fn weapon_users(
        &self,
        guild_id: u64,
        server_id: &str,
        weapon: &str,
    ) -> Result<u64, MongoError> {
        let mut filter = scope(guild_id, server_id);
        filter.insert("weapon", weapon);
        self.player_weapons.count_documents(filter).await
    }

    /// One weapon by exact name, then case-insensitively.
    pub async fn weapon(
        &self,
        guild_id: u64,
        server_id: &str,
        name: &str,
    ) -> Result<Option<WeaponRow>, MongoError> {
        let mut exact = scope(guild_id, server_id);
        exact.insert("weapon", name);
        if let Some(d) = self.weapons.find_one(exact).await? {
            return Ok(weapon_row(&d));
        }
        let mut any_case = scope(guild_id, server_id);
        any_case.insert("weapon", matching(name, true));
        Ok(self
            .weapons
            .find_one(any_case)
            .await?
            .as_ref()
            .and_then(weapon_row))
    }

    /// Unreadable (malformed) killfeed lines of a server first read at or after `since`
    /// (Unix seconds): one document per batch that had any, found by index.
    pub async fn unreadable_since(
        &self,
        guild_id: u64,
        server_id: &str,
        since: i64,
    ) -> Result<u64, MongoError> {
        let mut filter = scope(guild_id, server_id);
        filter.insert(
            "read_at",
            doc! { "$gte": mongodb::bson::DateTime::from_millis(since.saturating_mul(1000)) },
        );
        filter.insert("kind", "malformed");
        let batches: Vec<Document> = self
            .kills
            .find(filter)
            .projection(doc! { "count": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(batches
            .iter()
            .filter_map(|d| crate::stats_store::get_i64(d, "count"))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .fold(0, u64::saturating_add))
    }

    pub async fn server(
        &self,
        guild_id: u64,
        server_id: &str,
    ) -> Result<Option<ServerTotals>, MongoError> {
        let Some(d) = self.servers.find_one(scope(guild_id, server_id)).await? else {
            return Ok(None);
        };
        let longest_kill = d.get_document("longest_kill").ok().and_then(|l| {
            Some((
                get_u64(l, "distance_m"),
                l.get_str("killer_id").ok()?.to_owned(),
                l.get_str("weapon").unwrap_or_default().to_owned(),
            ))
        });
        let players = self
            .players
            .count_documents(scope(guild_id, server_id))
            .await?;
        Ok(Some(ServerTotals {
            kills: get_u64(&d, "kills"),
            roadkills: get_u64(&d, "roadkills"),
            suicides: suicides_from(&d).total(),
            environment_deaths: get_u64(&d, "environment_deaths"),
            malformed_lines: get_u64(&d, "malformed_lines"),
            players,
            longest_kill,
        }))
    }
}

/// The first `limit` documents matching `filter` in `sort` order.
async fn top(
    collection: &Collection<Document>,
    filter: Document,
    sort: Document,
    limit: u32,
) -> Result<Vec<Document>, MongoError> {
    collection
        .find(filter)
        .sort(sort)
        .limit(i64::from(limit))
        .await?
        .try_collect()
        .await
}

/// Counter documents of one server where `key` is `value`, as (`by`, kills), most kills
/// first (ties by `by`).
async fn ranked(
    collection: &Collection<Document>,
    (guild_id, server_id, key, value): (u64, &str, &str, &str),
    by: &str,
    limit: u32,
) -> Result<Vec<(String, u64)>, MongoError> {
    let mut filter = scope(guild_id, server_id);
    filter.insert(key, value);
    let docs = top(collection, filter, doc! { "kills": -1, by: 1 }, limit).await?;
    Ok(kills_by(&docs, by))
}

/// `(document[key], document.kills)` for each document that has the key.
fn kills_by(docs: &[Document], key: &str) -> Vec<(String, u64)> {
    docs.iter()
        .filter_map(|d| Some((d.get_str(key).ok()?.to_owned(), get_u64(d, "kills"))))
        .collect()
}

fn row(d: &Document) -> PlayerRow {
    PlayerRow {
        player_id: d.get_str("player_id").unwrap_or_default().to_owned(),
        stats: player_from(d),
    }
}

fn weapon_row(d: &Document) -> Option<WeaponRow> {
    Some(WeaponRow {
        weapon: d.get_str("weapon").ok()?.to_owned(),
        kills: get_u64(d, "kills"),
        longest_m: get_u64(d, "longest_m"),
        distance_sum_m: get_u64(d, "distance_sum_m"),
        distance_kills: get_u64(d, "distance_kills"),
        shortest_m: d.get("shortest_m").map(|_| get_u64(d, "shortest_m")),
    })
}

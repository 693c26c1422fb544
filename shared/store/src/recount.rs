//! Statistics counted again from the stored kill lines (`kills`), for `towerctl verify`:
//! what the statistics are when every counted line is applied once, batch by batch in the
//! order the worker applied them; where the stored statistics differ; and the repair.
//!
//! Compared: every counter, longest kills, streaks, first and last seen, per player, per
//! weapon, per killer–victim pair and per server, and every rivalry (its kills and last
//! kill; a server read before rivalries were kept gets them from the repair), and the
//! hours and days of the time windows not yet expired (likewise). Not compared nor
//! repaired: platforms (a player's, and `platform_kills`) and unreadable lines, which the
//! kill lines do not keep.
//!
//! A batch whose lines for a player are all older than that player's newest counted line
//! is late here ([`tower_ingest::stats::Runs::apply_late`]): the store decides so for
//! history only ([`crate::stats_store::StatsStore::apply_history_batch`]), so after a live
//! batch older by the game's clock (its clock set back) `verify` shows that player's
//! current streaks as different.
//!
//! The repair adds the differences of counters (`$inc`), so a worker applying a batch at
//! the same moment loses nothing, and sets the other fields to the counted values.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;
use tower_ingest::killfeed::{KillfeedEvent, KillfeedLine, PlayerRef, SuicideKind};
use tower_ingest::stats::{PlayerStats, ServerStats, Suicides};

use crate::db::{Database, collections};
use crate::schema::SCHEMA_VERSION;

/// One stored line, owned (what [`KillfeedLine`] borrows from).
#[derive(Debug, Default)]
struct StoredLine {
    at: i64,
    kind: String,
    killer_id: String,
    killer_name: String,
    victim_id: String,
    victim_name: String,
    weapon: String,
    distance_m: u32,
    roadkill: bool,
}

impl StoredLine {
    fn read(d: &Document) -> Option<Self> {
        let text = |k: &str| d.get_str(k).unwrap_or_default().to_owned();
        Some(Self {
            at: d
                .get_datetime("at")
                .ok()?
                .timestamp_millis()
                .div_euclid(1000),
            kind: d.get_str("kind").ok()?.to_owned(),
            killer_id: text("killer_id"),
            killer_name: text("killer_name"),
            victim_id: d.get_str("victim_id").ok()?.to_owned(),
            victim_name: text("victim_name"),
            weapon: text("weapon"),
            distance_m: match d.get("distance_m") {
                Some(Bson::Int64(n)) => u32::try_from(*n).unwrap_or(0),
                Some(Bson::Int32(n)) => u32::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            roadkill: d.get_bool("roadkill").unwrap_or(false),
        })
    }

    fn event(&self) -> Option<KillfeedLine<'_>> {
        let event = match self.kind.as_str() {
            "kill" => KillfeedEvent::Kill {
                killer: player(&self.killer_id, &self.killer_name),
                victim: player(&self.victim_id, &self.victim_name),
                weapon: self.weapon.as_str().into(),
                distance_m: self.distance_m,
                roadkill: self.roadkill,
            },
            "suicide" => KillfeedEvent::Suicide {
                player: player(&self.victim_id, &self.victim_name),
                kind: SuicideKind::of_weapon(&self.weapon),
                cause: self.weapon.as_str().into(),
            },
            "environment" => KillfeedEvent::EnvironmentDeath {
                victim: player(&self.victim_id, &self.victim_name),
            },
            _ => return None,
        };
        Some(KillfeedLine { at: self.at, event })
    }
}

/// A player of a stored line (which keeps no platform).
fn player<'a>(id: &'a str, name: &'a str) -> PlayerRef<'a> {
    PlayerRef {
        name: name.into(),
        id,
        platform: None,
    }
}

/// The keys of two maps, each once, in order.
fn both<'a>(
    a: impl Iterator<Item = &'a String>,
    b: impl Iterator<Item = &'a String>,
) -> BTreeSet<&'a String> {
    a.chain(b).collect()
}

/// A server's statistics of the current season counted from its stored kill lines; how
/// many lines.
pub async fn recount(
    db: &Database,
    guild_id: u64,
    server_id: &str,
) -> Result<(ServerStats, u64), MongoError> {
    let counted = recount_all(db, guild_id, server_id).await?;
    Ok((counted.stats, counted.lines))
}

/// What a server's stored kill lines of the current season count to.
#[derive(Debug, Default)]
pub struct Recounted {
    pub stats: ServerStats,
    /// The rivalries the same lines make.
    pub pairs: crate::rivalries::Pairs,
    /// Their hours and days for the time windows (those not expired).
    pub periods: crate::windows::Periods,
    pub lines: u64,
}

/// [`recount`], with the rivalries and time-window periods the same lines make.
pub async fn recount_all(
    db: &Database,
    guild_id: u64,
    server_id: &str,
) -> Result<Recounted, MongoError> {
    let kills = db.raw().collection::<Document>(collections::KILLS);
    // The current season: the lines of batches after the last closed season's.
    let after = crate::seasons::SeasonStore::new(db)
        .current_after_batch(guild_id, server_id)
        .await?;
    // No index orders a server's documents by batch: a large server's sort spills to disk.
    let mut filter = doc! { "guild_id": guild_id.to_string(), "server_id": server_id };
    if after > 0 {
        filter.insert("batch", doc! { "$gt": after });
    }
    let mut cursor = kills
        .find(filter)
        .sort(doc! { "batch": 1, "from": 1, "_id": 1 })
        .allow_disk_use(true)
        .await?;
    let mut stats = ServerStats::default();
    let mut pairs = crate::rivalries::Pairs::new();
    let mut periods = crate::windows::Periods::new();
    let now = DateTime::now().timestamp_millis() / 1000;
    let mut batch_lines: Vec<StoredLine> = Vec::new();
    let mut batch = None;
    let mut count = 0;
    let mut apply = |stats: &mut ServerStats, lines: &[StoredLine]| {
        let events: Vec<KillfeedLine<'_>> = lines.iter().filter_map(StoredLine::event).collect();
        stats.apply(&events);
        let delta = tower_ingest::stats::BatchDelta::from_events(&events);
        crate::rivalries::merge(&mut pairs, delta.rivalries);
        crate::windows::add_lines(&mut periods, &events, now);
    };
    while let Some(d) = cursor.try_next().await? {
        let this = d.get("batch").cloned();
        if batch.as_ref() != Some(&this) {
            apply(&mut stats, &batch_lines);
            batch_lines.clear();
            batch = Some(this);
        }
        for line in d.get_array("lines").map(Vec::as_slice).unwrap_or_default() {
            if let Some(line) = line.as_document().and_then(StoredLine::read) {
                batch_lines.push(line);
                count += 1;
            }
        }
    }
    apply(&mut stats, &batch_lines);
    Ok(Recounted {
        stats,
        pairs,
        periods,
        lines: count,
    })
}

/// One field whose stored value differs from the counted one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// What it is: `player <id> kills`, `weapon <name> kills`, `server kills`, …
    pub what: String,
    pub stored: String,
    pub counted: String,
}

/// Where `stored` differs from `counted`.
pub fn differences(stored: &ServerStats, counted: &ServerStats) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut check = |what: String, stored: String, counted: String| {
        if stored != counted {
            out.push(Difference {
                what,
                stored,
                counted,
            });
        }
    };
    let (s, c) = (&stored.totals, &counted.totals);
    for (name, a, b) in [
        ("kills", s.kills, c.kills),
        ("roadkills", s.roadkills, c.roadkills),
        (
            "environment_deaths",
            s.environment_deaths,
            c.environment_deaths,
        ),
    ] {
        check(format!("server {name}"), a.to_string(), b.to_string());
    }
    check(
        "server suicides".to_owned(),
        format!("{:?}", s.suicides),
        format!("{:?}", c.suicides),
    );
    check(
        "server longest_kill".to_owned(),
        format!("{:?}", s.longest_kill.as_ref().map(|l| l.distance_m)),
        format!("{:?}", c.longest_kill.as_ref().map(|l| l.distance_m)),
    );
    let ids = both(stored.players.keys(), counted.players.keys());
    let none = PlayerStats::default();
    for id in ids {
        let a = stored.players.get(id).unwrap_or(&none);
        let b = counted.players.get(id).unwrap_or(&none);
        for (name, x, y) in counters(a)
            .into_iter()
            .zip(counters(b))
            .map(|((n, x), (_, y))| (n, x, y))
        {
            check(format!("player {id} {name}"), x.to_string(), y.to_string());
        }
        for (name, x, y) in [
            (
                "longest_kill_m",
                format!("{:?}", a.longest_kill_m),
                format!("{:?}", b.longest_kill_m),
            ),
            (
                "first_seen",
                a.first_seen.to_string(),
                b.first_seen.to_string(),
            ),
            (
                "last_seen",
                a.last_seen.to_string(),
                b.last_seen.to_string(),
            ),
        ] {
            check(format!("player {id} {name}"), x, y);
        }
        for (map, x, y) in [
            ("weapon", &a.weapons, &b.weapons),
            ("killed", &a.killed, &b.killed),
        ] {
            let keys = both(x.keys(), y.keys());
            for k in keys {
                check(
                    format!("player {id} {map} {k}"),
                    x.get(k).copied().unwrap_or(0).to_string(),
                    y.get(k).copied().unwrap_or(0).to_string(),
                );
            }
        }
    }
    let weapons = both(stored.weapons.keys(), counted.weapons.keys());
    for w in weapons {
        let a = stored.weapons.get(w).copied().unwrap_or_default();
        let b = counted.weapons.get(w).copied().unwrap_or_default();
        check(
            format!("weapon {w} kills"),
            a.kills.to_string(),
            b.kills.to_string(),
        );
        check(
            format!("weapon {w} longest_m"),
            a.longest_m.to_string(),
            b.longest_m.to_string(),
        );
    }
    out
}

/// A player's counters, by stored field name.
fn counters(p: &PlayerStats) -> [(&'static str, u64); 11] {
    let Suicides {
        menu,
        fall,
        vehicle,
        other,
    } = p.suicides;
    [
        ("kills", p.kills),
        ("deaths", p.deaths),
        ("suicides.menu", menu),
        ("suicides.fall", fall),
        ("suicides.vehicle", vehicle),
        ("suicides.other", other),
        ("environment_deaths", p.environment_deaths),
        ("current_killstreak", p.current_killstreak),
        ("best_killstreak", p.best_killstreak),
        ("current_deathstreak", p.current_deathstreak),
        ("worst_deathstreak", p.worst_deathstreak),
    ]
}

/// Counters added to, by stored field name; streaks are set.
const ADDED: [&str; 7] = [
    "kills",
    "deaths",
    "suicides.menu",
    "suicides.fall",
    "suicides.vehicle",
    "suicides.other",
    "environment_deaths",
];

fn diff(stored: u64, counted: u64) -> i64 {
    i64::try_from(counted).unwrap_or(i64::MAX) - i64::try_from(stored).unwrap_or(i64::MAX)
}

/// Writes `counted` where `stored` differs; how many documents it changed.
pub async fn repair(
    db: &Database,
    guild_id: u64,
    server_id: &str,
    stored: &ServerStats,
    counted: &ServerStats,
) -> Result<u64, MongoError> {
    let raw = db.raw();
    let guild = guild_id.to_string();
    // `last_batch: 0`: a document the repair creates still takes every later batch.
    let scope = doc! {
        "guild_id": &guild, "server_id": server_id,
        "schema_version": SCHEMA_VERSION, "last_batch": 0_i64,
    };
    let mut changed = 0;
    let mut deleted = 0;
    let mut write = async |collection: &str, id: String, update: Document| {
        let done = raw
            .collection::<Document>(collection)
            .update_one(doc! { "_id": id }, update)
            .upsert(true)
            .await?;
        changed += done.modified_count + u64::from(done.upserted_id.is_some());
        Ok::<(), MongoError>(())
    };
    let none = PlayerStats::default();
    let ids = both(stored.players.keys(), counted.players.keys());
    for id in ids {
        let a = stored.players.get(id).unwrap_or(&none);
        let Some(b) = counted.players.get(id) else {
            // In no counted line: the player's documents go (matchups against them go
            // with their killers' below).
            let of = |key: &str| {
                doc! { "guild_id": &guild, "server_id": server_id, key: id.as_str() }
            };
            for (collection, filter) in [
                (collections::PLAYER_STATS, of("player_id")),
                (collections::PLAYER_WEAPONS, of("player_id")),
                (collections::MATCHUPS, of("killer_id")),
            ] {
                deleted += raw
                    .collection::<Document>(collection)
                    .delete_many(filter)
                    .await?
                    .deleted_count;
            }
            continue;
        };
        let mut inc = Document::new();
        let mut set = Document::new();
        let mut unset = Document::new();
        for ((name, x), (_, y)) in counters(a).into_iter().zip(counters(b)) {
            match (ADDED.contains(&name), x == y) {
                (_, true) => {}
                (true, false) => {
                    inc.insert(name, diff(x, y));
                }
                (false, false) => {
                    set.insert(name, i64::try_from(y).unwrap_or(i64::MAX));
                }
            }
        }
        // Fields the batches derive from the counters, kept in step: the stored total
        // itself is read, as it may disagree with the stored kinds.
        if !inc.is_empty() || !set.is_empty() {
            let total = raw
                .collection::<Document>(collections::PLAYER_STATS)
                .find_one(doc! { "_id": format!("{guild}:{server_id}:{id}") })
                .projection(doc! { "suicides_total": 1 })
                .await?
                .map_or(0, |d| crate::stats_store::get_u64(&d, "suicides_total"));
            if total != b.suicides.total() {
                inc.insert("suicides_total", diff(total, b.suicides.total()));
            }
        }
        if (a.kills, a.deaths) != (b.kills, b.deaths) {
            set.insert("kdr", tower_ingest::stats::kdr(b.kills, b.deaths));
        }
        if a.longest_kill_m != b.longest_kill_m {
            match b.longest_kill_m {
                Some(m) => set.insert("longest_kill_m", i64::from(m)),
                None => unset.insert("longest_kill_m", ""),
            };
        }
        if (a.first_seen, a.last_seen) != (b.first_seen, b.last_seen) {
            set.insert(
                "first_seen",
                DateTime::from_millis(b.first_seen.saturating_mul(1000)),
            );
            set.insert(
                "last_seen",
                DateTime::from_millis(b.last_seen.saturating_mul(1000)),
            );
        }
        if !inc.is_empty() || !set.is_empty() || !unset.is_empty() {
            let mut insert = scope.clone();
            insert.insert("player_id", id.as_str());
            insert.insert("name", b.name.as_str());
            insert.insert("names", b.names.clone());
            for k in set.keys().chain(inc.keys()) {
                insert.remove(k);
            }
            let mut update = doc! { "$setOnInsert": insert };
            if !inc.is_empty() {
                update.insert("$inc", inc);
            }
            if !set.is_empty() {
                update.insert("$set", set);
            }
            if !unset.is_empty() {
                update.insert("$unset", unset);
            }
            write(
                collections::PLAYER_STATS,
                format!("{guild}:{server_id}:{id}"),
                update,
            )
            .await?;
        }
        for (map, collection, x, y) in [
            (
                "weapon",
                collections::PLAYER_WEAPONS,
                &a.weapons,
                &b.weapons,
            ),
            ("victim_id", collections::MATCHUPS, &a.killed, &b.killed),
        ] {
            let keys = both(x.keys(), y.keys());
            for k in keys {
                let (m, n) = (
                    x.get(k).copied().unwrap_or(0),
                    y.get(k).copied().unwrap_or(0),
                );
                if m == n {
                    continue;
                }
                let mut insert = scope.clone();
                let first = if map == "weapon" {
                    "player_id"
                } else {
                    "killer_id"
                };
                insert.insert(first, id.as_str());
                insert.insert(map, k.as_str());
                write(
                    collection,
                    format!("{guild}:{server_id}:{id}:{k}"),
                    doc! { "$setOnInsert": insert, "$inc": { "kills": diff(m, n) } },
                )
                .await?;
            }
        }
    }
    let weapons = both(stored.weapons.keys(), counted.weapons.keys());
    for w in weapons {
        let a = stored.weapons.get(w).copied().unwrap_or_default();
        let b = counted.weapons.get(w).copied().unwrap_or_default();
        if (a.kills, a.longest_m) == (b.kills, b.longest_m) {
            continue;
        }
        let mut insert = scope.clone();
        insert.insert("weapon", w.as_str());
        write(
            collections::WEAPON_STATS,
            format!("{guild}:{server_id}:{w}"),
            doc! {
                "$setOnInsert": insert,
                "$inc": { "kills": diff(a.kills, b.kills) },
                "$set": { "longest_m": i64::from(b.longest_m) },
            },
        )
        .await?;
    }
    let (s, c) = (&stored.totals, &counted.totals);
    let mut inc = Document::new();
    for (name, x, y) in [
        ("kills", s.kills, c.kills),
        ("roadkills", s.roadkills, c.roadkills),
        ("suicides.menu", s.suicides.menu, c.suicides.menu),
        ("suicides.fall", s.suicides.fall, c.suicides.fall),
        ("suicides.vehicle", s.suicides.vehicle, c.suicides.vehicle),
        ("suicides.other", s.suicides.other, c.suicides.other),
        (
            "environment_deaths",
            s.environment_deaths,
            c.environment_deaths,
        ),
    ] {
        if x != y {
            inc.insert(name, diff(x, y));
        }
    }
    let longest = |t: &tower_ingest::stats::Totals| t.longest_kill.as_ref().map(|l| l.distance_m);
    if !inc.is_empty() || longest(s) != longest(c) {
        let mut update = doc! { "$setOnInsert": scope.clone() };
        if !inc.is_empty() {
            update.insert("$inc", inc);
        }
        if longest(s) != longest(c) {
            match &c.longest_kill {
                Some(l) => update.insert(
                    "$set",
                    doc! { "longest_kill": { "distance_m": i64::from(l.distance_m), "killer_id": &l.killer_id, "weapon": &l.weapon } },
                ),
                None => update.insert("$unset", doc! { "longest_kill": "" }),
            };
        }
        write(
            collections::SERVER_STATS,
            format!("{guild}:{server_id}"),
            update,
        )
        .await?;
    }
    Ok(changed + deleted)
}

//! Time windows on the statistics (issue #19): `/stats leaderboard` and `/stats player`
//! for today, this week or this month, in the guild's time zone.
//!
//! Each player's kills, PvP deaths, suicides and longest kill are kept per hour and per
//! day of the server's game clock (`period_totals`, one document per server and period,
//! a map of EOS id → count per statistic, so a leaderboard reads only the maps it ranks
//! by). The batch that counts a killfeed line adds it there too, under
//! the same `last_batch` guard as every other statistic, so a line read twice counts
//! once. A window is summed from the days it holds whole and the hours of the day it starts
//! in: at most 31 day documents and 23 hour documents, however many lines the server has.
//!
//! Lines carry the game server's clock; a window's start (a midnight in the guild's time
//! zone) is moved onto it by the server's measured clock offset, rounded to the hour (the
//! offset is measured from file times, so it is a whole number of hours less the few
//! seconds between a line's time and its file's; a server clock on a half-hour zone is
//! taken to the nearest hour).

use std::collections::{BTreeMap, HashMap};

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;
use tower_ingest::killfeed::{KillfeedEvent, KillfeedLine};
use tower_ingest::stats::{Leaderboard, PlayerStats, Suicides};
use tower_ingest::timestamp::{civil_from_days, days_from_civil};

use crate::cursor_store::CursorStore;
use crate::db::{Database, collections};
use crate::schema::SCHEMA_VERSION;
use crate::stats_query::{PlayerRow, StatsQuery};

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// Hour documents are only read for the day a window starts in: kept 40 days.
pub const HOURS_KEPT_SECS: i64 = 40 * DAY;
/// Day documents: kept 400 days.
pub const DAYS_KEPT_SECS: i64 = 400 * DAY;

fn kept_secs(span: &str) -> i64 {
    match span {
        "hour" => HOURS_KEPT_SECS,
        _ => DAYS_KEPT_SECS,
    }
}

/// Kills a player needs in a window to be ranked by K/D, so that one kill without a death
/// does not top the board.
pub const KDR_MIN_KILLS: u64 = 5;

/// A stretch of time the statistics can be read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    All,
    Today,
    Week,
    Month,
}

impl Window {
    pub const ALL: [Window; 4] = [Self::All, Self::Today, Self::Week, Self::Month];

    /// The name users pick it by (`window:`).
    pub fn key(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Today => "today",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// As shown in a title: "Kills — today".
    pub fn label(self) -> &'static str {
        match self {
            Self::All => "all time",
            Self::Today => "today",
            Self::Week => "this week",
            Self::Month => "this month",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|w| w.key() == key)
    }

    /// When the window started (Unix seconds) at `now`, for a guild `offset_secs` east of
    /// UTC: its midnight today, on Monday of this week, or on the 1st of this month.
    /// `None` for all time.
    pub fn start(self, now: i64, offset_secs: i64) -> Option<i64> {
        let today = (now + offset_secs).div_euclid(DAY);
        let first_day = match self {
            Self::All => return None,
            Self::Today => today,
            // 1970-01-01 was a Thursday: day 0 is 3 days after a Monday.
            Self::Week => today - (today + 3).rem_euclid(7),
            Self::Month => {
                let (year, month, _) = civil_from_days(today);
                days_from_civil(year, month, 1)
            }
        };
        Some(first_day * DAY - offset_secs)
    }
}

/// A player's totals in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowStats {
    pub kills: u64,
    /// PvP deaths, as the all-time statistics count them.
    pub deaths: u64,
    pub suicides: u64,
    /// `None` until the player has a kill in the window.
    pub longest_kill_m: Option<u32>,
}

impl WindowStats {
    fn add(&mut self, o: &WindowStats) {
        self.kills += o.kills;
        self.deaths += o.deaths;
        self.suicides += o.suicides;
        self.longest_kill_m = match (self.longest_kill_m, o.longest_kill_m) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// As the all-time statistics, for the leaderboard's ranking and display (suicides
    /// are kept as one number per period, not by kind).
    fn as_player(&self, name: String) -> PlayerStats {
        PlayerStats {
            name,
            kills: self.kills,
            deaths: self.deaths,
            suicides: Suicides {
                other: self.suicides,
                ..Suicides::default()
            },
            longest_kill_m: self.longest_kill_m,
            ..PlayerStats::default()
        }
    }
}

/// Each player's totals per period: (span, start) → player id → totals.
pub type Periods = BTreeMap<(String, i64), BTreeMap<String, WindowStats>>;

/// What `lines` add to each hour and day they fall in.
fn periods_of<'a, 'b: 'a>(
    lines: impl IntoIterator<Item = &'a KillfeedLine<'b>>,
) -> BTreeMap<(&'static str, i64), BTreeMap<&'a str, WindowStats>> {
    let mut periods: BTreeMap<(&'static str, i64), BTreeMap<&'a str, WindowStats>> =
        BTreeMap::new();
    for line in lines {
        for (span, length) in [("hour", HOUR), ("day", DAY)] {
            let players = periods
                .entry((span, line.at.div_euclid(length) * length))
                .or_default();
            match &line.event {
                KillfeedEvent::Kill {
                    killer,
                    victim,
                    distance_m,
                    ..
                } => {
                    let k = players.entry(killer.id).or_default();
                    k.kills += 1;
                    k.longest_kill_m = Some(k.longest_kill_m.unwrap_or(0).max(*distance_m));
                    players.entry(victim.id).or_default().deaths += 1;
                }
                KillfeedEvent::Suicide { player, .. } => {
                    players.entry(player.id).or_default().suicides += 1;
                }
                KillfeedEvent::EnvironmentDeath { .. } => {}
            }
        }
    }
    periods.retain(|_, players| !players.is_empty());
    periods
}

/// Adds `lines` to `into` (the recount of `towerctl verify`), leaving out periods already
/// past their expiry at `now`.
pub fn add_lines<'a, 'b: 'a>(
    into: &mut Periods,
    lines: impl IntoIterator<Item = &'a KillfeedLine<'b>>,
    now: i64,
) {
    for ((span, start), players) in periods_of(lines) {
        if start + kept_secs(span) <= now {
            continue;
        }
        let period = into.entry((span.to_owned(), start)).or_default();
        for (id, s) in players {
            period.entry(id.to_owned()).or_default().add(&s);
        }
    }
}

/// The per-period statements a batch adds (one guarded upsert per hour and per day its
/// counted lines fall in, unless already expired), for `period_totals`: sent by [`crate::stats_store`] with the
/// batch's other updates (and by the windows bench to fill a server).
pub fn statements<'a, 'b: 'a>(
    guild: &str,
    server_id: &str,
    batch: i64,
    lines: impl IntoIterator<Item = &'a KillfeedLine<'b>>,
) -> Vec<Document> {
    let now = DateTime::now();
    let now_secs = now.timestamp_millis() / 1000;
    periods_of(lines)
        .into_iter()
        // A period already past its expiry (old history read for the first time) would
        // only be deleted again: no window reaches back to it.
        .filter(|((span, start), _)| start + kept_secs(span) > now_secs)
        .map(|((span, start), players)| {
            let mut inc = Document::new();
            let mut max = Document::new();
            for (id, s) in players {
                let key = player_key(id);
                for (field, n) in [(KILLS, s.kills), (DEATHS, s.deaths), (SUICIDES, s.suicides)] {
                    if n > 0 {
                        inc.insert(format!("{field}.{key}"), to_i64(n));
                    }
                }
                if let Some(m) = s.longest_kill_m {
                    max.insert(format!("{LONGEST}.{key}"), i64::from(m));
                }
            }
            let mut u = doc! {
                "$set": { "last_batch": batch, "updated_at": now, "schema_version": SCHEMA_VERSION },
                "$setOnInsert": period_fields(guild, server_id, span, start),
            };
            if !inc.is_empty() {
                u.insert("$inc", inc);
            }
            if !max.is_empty() {
                u.insert("$max", max);
            }
            doc! {
                "q": { "_id": period_id(guild, server_id, span, start), "last_batch": { "$lt": batch } },
                "u": u,
                "upsert": true,
            }
        })
        .collect()
}

fn period_id(guild: &str, server_id: &str, span: &str, start: i64) -> String {
    format!("{guild}:{server_id}:{span}:{start}")
}

/// What a new period document holds besides its players.
fn period_fields(guild: &str, server_id: &str, span: &str, start: i64) -> Document {
    doc! {
        "guild_id": guild,
        "server_id": server_id,
        "span": span,
        "start": start,
        "expires": DateTime::from_millis(
            start.saturating_add(kept_secs(span)).saturating_mul(1000),
        ),
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The maps a period keeps, one per statistic (player key → count, or metres for the
/// longest kill), so a leaderboard reads only the ones it ranks by.
const KILLS: &str = "k";
const DEATHS: &str = "d";
const SUICIDES: &str = "s";
const LONGEST: &str = "l";
const STATISTICS: [&str; 4] = [KILLS, DEATHS, SUICIDES, LONGEST];

/// Adds a period's players as stored (the statistics it was read with) to `into`.
fn add_stored(d: &Document, into: &mut HashMap<String, WindowStats>) {
    for field in STATISTICS {
        let Ok(players) = d.get_document(field) else {
            continue;
        };
        for (key, value) in players {
            let n = match value {
                Bson::Int64(n) => *n,
                Bson::Int32(n) => i64::from(*n),
                _ => continue,
            };
            let s = into.entry(player_of(key)).or_default();
            let count = u64::try_from(n).unwrap_or(0);
            match field {
                KILLS => s.kills += count,
                DEATHS => s.deaths += count,
                SUICIDES => s.suicides += count,
                _ => {
                    let m = u32::try_from(n).unwrap_or(0);
                    s.longest_kill_m = Some(s.longest_kill_m.unwrap_or(0).max(m));
                }
            }
        }
    }
}

/// A player's EOS id as a field name: `.`, `$` and `%` escaped (EOS ids are hex, so this
/// only matters for ids the game never writes).
fn player_key(id: &str) -> String {
    let mut key = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            '%' => key.push_str("%25"),
            '.' => key.push_str("%2E"),
            '$' => key.push_str("%24"),
            c => key.push(c),
        }
    }
    key
}

fn player_of(key: &str) -> String {
    key.replace("%2E", ".")
        .replace("%24", "$")
        .replace("%25", "%")
}

/// Reading windows back, for `/stats`.
#[derive(Clone)]
pub struct Windows {
    totals: Collection<Document>,
    cursors: CursorStore,
    stats: StatsQuery,
}

impl Windows {
    pub fn new(db: &Database) -> Self {
        Self {
            totals: db.raw().collection(collections::PERIOD_TOTALS),
            cursors: CursorStore::new(db),
            stats: StatsQuery::new(db),
        }
    }

    /// Where a window that started at `start` (Unix seconds) starts on the server's game
    /// clock, to the hour.
    pub async fn game_start(
        &self,
        guild_id: u64,
        server_id: &str,
        start: i64,
    ) -> Result<i64, MongoError> {
        let ahead = self
            .cursors
            .load(guild_id, server_id)
            .await?
            .clock_ahead
            .unwrap_or(0);
        let ahead = (ahead + HOUR / 2).div_euclid(HOUR) * HOUR;
        Ok((start + ahead).div_euclid(HOUR) * HOUR)
    }

    /// Every player's totals since `from` (game clock, a whole hour), or one player's.
    pub async fn totals(
        &self,
        guild_id: u64,
        server_id: &str,
        from: i64,
        player_id: Option<&str>,
    ) -> Result<HashMap<String, WindowStats>, MongoError> {
        let mut projection = Document::new();
        for field in STATISTICS {
            match player_id {
                Some(id) => projection.insert(format!("{field}.{}", player_key(id)), 1),
                None => projection.insert(field, 1),
            };
        }
        self.sum(guild_id, server_id, from, projection).await
    }

    /// The statistics in `projection` of every player since `from`.
    async fn sum(
        &self,
        guild_id: u64,
        server_id: &str,
        from: i64,
        projection: Document,
    ) -> Result<HashMap<String, WindowStats>, MongoError> {
        let whole_days_from = (from + DAY - 1).div_euclid(DAY) * DAY;
        let scope = |span: &str, range: Document| {
            doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "span": span,
                "start": range,
            }
        };
        let (hours, days) = tokio::try_join!(
            self.read(
                scope("hour", doc! { "$gte": from, "$lt": whole_days_from }),
                &projection
            ),
            self.read(scope("day", doc! { "$gte": whole_days_from }), &projection),
        )?;
        let mut totals: HashMap<String, WindowStats> = HashMap::new();
        for d in hours.iter().chain(&days) {
            add_stored(d, &mut totals);
        }
        Ok(totals)
    }

    async fn read(
        &self,
        filter: Document,
        projection: &Document,
    ) -> Result<Vec<Document>, MongoError> {
        self.totals
            .find(filter)
            .projection(projection.clone())
            .await?
            .try_collect()
            .await
    }

    /// A leaderboard over the window since `from` (game clock): only players who have the
    /// statistic (K/D: at least [`KDR_MIN_KILLS`] kills), ranked as the all-time board;
    /// with `platform`, only players last seen on it. Best killstreaks are kept for all
    /// time only: that board is empty here.
    pub async fn leaderboard(
        &self,
        guild_id: u64,
        server_id: &str,
        (stat, platform): (Leaderboard, Option<&str>),
        from: i64,
        limit: u32,
    ) -> Result<Vec<PlayerRow>, MongoError> {
        self.leaderboard_floored(
            guild_id,
            server_id,
            (stat, platform),
            from,
            limit,
            KDR_MIN_KILLS,
        )
        .await
    }

    /// [`Windows::leaderboard`] where a player needs `kdr_floor` kills to be ranked by K/D
    /// (an auto-posted board's own floor).
    pub async fn leaderboard_floored(
        &self,
        guild_id: u64,
        server_id: &str,
        (stat, platform): (Leaderboard, Option<&str>),
        from: i64,
        limit: u32,
        kdr_floor: u64,
    ) -> Result<Vec<PlayerRow>, MongoError> {
        // The maps the board ranks by, and kills (ties go to the player with more).
        let ranked_by = match stat {
            Leaderboard::Kills => KILLS,
            Leaderboard::Deaths | Leaderboard::Kdr => DEATHS,
            Leaderboard::LongestShot => LONGEST,
            Leaderboard::Suicides => SUICIDES,
            Leaderboard::HighestKillstreak => return Ok(Vec::new()),
        };
        let projection = doc! { KILLS: 1, ranked_by: 1 };
        let mut totals = self.sum(guild_id, server_id, from, projection).await?;
        if let Some(p) = platform {
            let on = self.stats.players_on(guild_id, server_id, p).await?;
            totals.retain(|id, _| on.contains(id));
        }
        let mut rows: Vec<(String, PlayerStats)> = totals
            .into_iter()
            .map(|(id, s)| {
                let p = s.as_player(String::new());
                (id, p)
            })
            .filter(|(_, p)| {
                stat.value(p) > 0.0 && (stat != Leaderboard::Kdr || p.kills >= kdr_floor)
            })
            .collect();
        rows.sort_by(|(a_id, a), (b_id, b)| {
            stat.value(b)
                .total_cmp(&stat.value(a))
                .then(b.kills.cmp(&a.kills))
                .then(a_id.cmp(b_id))
        });
        rows.truncate(limit.clamp(1, crate::stats_query::MAX_LIMIT) as usize);
        let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        let names = self.stats.names(guild_id, server_id, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|(player_id, mut stats)| {
                stats.name = names.get(&player_id).cloned().unwrap_or_default();
                PlayerRow { player_id, stats }
            })
            .collect())
    }
}

impl Windows {
    /// A server's periods as stored that have not expired at `now` (`towerctl verify`).
    pub async fn load(
        &self,
        guild_id: u64,
        server_id: &str,
        now: i64,
    ) -> Result<Periods, MongoError> {
        let mut cursor = self
            .totals
            .find(doc! { "guild_id": guild_id.to_string(), "server_id": server_id })
            .await?;
        let mut periods = Periods::new();
        while let Some(d) = cursor.try_next().await? {
            let (Ok(span), Some(start)) =
                (d.get_str("span"), crate::stats_store::get_i64(&d, "start"))
            else {
                continue;
            };
            if start + kept_secs(span) <= now {
                continue;
            }
            let mut read = HashMap::new();
            add_stored(&d, &mut read);
            let players: BTreeMap<String, WindowStats> = read
                .into_iter()
                .filter(|(_, s)| *s != WindowStats::default())
                .collect();
            if !players.is_empty() {
                periods.insert((span.to_owned(), start), players);
            }
        }
        Ok(periods)
    }

    /// Writes the `counted` periods where `stored` differs (a server read before windows
    /// were kept gets them here): counters by their difference, so a batch applied at the
    /// same moment loses nothing. How many documents it changed.
    pub async fn repair(
        &self,
        guild_id: u64,
        server_id: &str,
        stored: &Periods,
        counted: &Periods,
    ) -> Result<u64, MongoError> {
        let guild = guild_id.to_string();
        let none = BTreeMap::new();
        let mut changed = 0;
        let mut keys: Vec<&(String, i64)> = stored.keys().chain(counted.keys()).collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            let (have, want) = (
                stored.get(key).unwrap_or(&none),
                counted.get(key).unwrap_or(&none),
            );
            if have == want {
                continue;
            }
            let (mut inc, mut set, mut unset) = (Document::new(), Document::new(), Document::new());
            let mut players: Vec<&String> = have.keys().chain(want.keys()).collect();
            players.sort_unstable();
            players.dedup();
            let zero = WindowStats::default();
            for id in players {
                let (a, b) = (have.get(id).unwrap_or(&zero), want.get(id).unwrap_or(&zero));
                if a == b {
                    continue;
                }
                let key = player_key(id);
                if *b == zero {
                    for field in STATISTICS {
                        unset.insert(format!("{field}.{key}"), "");
                    }
                    continue;
                }
                for (field, x, y) in [
                    (KILLS, a.kills, b.kills),
                    (DEATHS, a.deaths, b.deaths),
                    (SUICIDES, a.suicides, b.suicides),
                ] {
                    if x != y {
                        inc.insert(format!("{field}.{key}"), to_i64(y) - to_i64(x));
                    }
                }
                if a.longest_kill_m != b.longest_kill_m {
                    match b.longest_kill_m {
                        Some(m) => set.insert(format!("{LONGEST}.{key}"), i64::from(m)),
                        None => unset.insert(format!("{LONGEST}.{key}"), ""),
                    };
                }
            }
            let (span, start) = (key.0.as_str(), key.1);
            let mut insert = period_fields(&guild, server_id, span, start);
            // A document the repair creates still takes every later batch.
            insert.insert("last_batch", 0_i64);
            insert.insert("schema_version", SCHEMA_VERSION);
            let mut update = doc! { "$setOnInsert": insert };
            for (op, d) in [("$inc", inc), ("$set", set), ("$unset", unset)] {
                if !d.is_empty() {
                    update.insert(op, d);
                }
            }
            let done = self
                .totals
                .update_one(
                    doc! { "_id": period_id(&guild, server_id, span, start) },
                    update,
                )
                .upsert(true)
                .await?;
            changed += done.modified_count + u64::from(done.upserted_id.is_some());
        }
        Ok(changed)
    }
}

/// A UTC offset as users type it ("UTC", "+2", "+02:00", "-05:00"), in seconds east of
/// UTC; whole hours from −12 to +14, because periods are kept by the hour.
pub fn parse_utc_offset(text: &str) -> Result<i64, &'static str> {
    let t = text.trim();
    let t = t
        .strip_prefix("UTC")
        .or_else(|| t.strip_prefix("utc"))
        .or_else(|| t.strip_prefix("GMT"))
        .unwrap_or(t)
        .trim();
    if t.is_empty() {
        return Ok(0);
    }
    let (sign, rest) = if let Some(r) = t.strip_prefix('+') {
        (1, r)
    } else if let Some(r) = t.strip_prefix('-').or_else(|| t.strip_prefix('\u{2212}')) {
        (-1, r)
    } else {
        return Err("start it with + or -, as +02:00 or -05:00");
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "00"));
    let number = |text: &str| -> Result<i64, &'static str> {
        if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("write it as +HH:MM, as +02:00 or -05:00");
        }
        text.parse()
            .map_err(|_| "write it as +HH:MM, as +02:00 or -05:00")
    };
    let (hours, minutes) = (number(hours)?, number(minutes)?);
    if minutes != 0 {
        return Err("only whole hours are kept: pick the nearest, as +05:00 for +05:30");
    }
    let offset = sign * hours * HOUR;
    if !(-12 * HOUR..=14 * HOUR).contains(&offset) {
        return Err("offsets run from -12:00 to +14:00");
    }
    Ok(offset)
}

/// An offset as shown: "UTC", "UTC+02:00", "UTC-05:00".
pub fn shown_utc_offset(offset_secs: i64) -> String {
    if offset_secs == 0 {
        return "UTC".to_owned();
    }
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let h = offset_secs.abs() / HOUR;
    let m = offset_secs.abs() % HOUR / 60;
    format!("UTC{sign}{h:02}:{m:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-02 (a Wednesday) 10:30 UTC.
    const NOW: i64 = 1_796_207_400;

    #[test]
    fn windows_start_at_the_guilds_midnight_monday_and_first() {
        assert_eq!(civil_from_days(NOW.div_euclid(DAY)), (2026, 12, 2));
        assert_eq!(Window::All.start(NOW, 0), None);
        assert_eq!(Window::Today.start(NOW, 0), Some(1_796_169_600)); // 12-02 00:00
        assert_eq!(Window::Week.start(NOW, 0), Some(1_795_996_800)); // Monday 11-30
        assert_eq!(Window::Month.start(NOW, 0), Some(1_796_083_200)); // 12-01
        assert_eq!(civil_from_days(1_795_996_800 / DAY), (2026, 11, 30));
    }

    #[test]
    fn a_guild_east_of_utc_is_already_in_its_next_day() {
        // 23:30 UTC on 12-02 is 01:30 on 12-03 at +02:00: today began at 22:00 UTC.
        let late = 1_796_254_200;
        assert_eq!(Window::Today.start(late, 2 * HOUR), Some(1_796_248_800));
        // West of UTC the day began 5 hours after UTC's.
        assert_eq!(
            Window::Today.start(NOW, -5 * HOUR),
            Some(1_796_169_600 + 5 * HOUR)
        );
        // At 03:00 UTC on 12-02 it is still 12-01 at -05:00.
        assert_eq!(
            Window::Today.start(1_796_180_400, -5 * HOUR),
            Some(1_796_101_200)
        );
    }

    #[test]
    fn months_start_on_the_first_across_years_and_leap_days() {
        for (y, m, d) in [(2024, 2, 29), (2000, 3, 1), (1999, 12, 31), (2026, 1, 1)] {
            let days = days_from_civil(y, m, d);
            assert_eq!(civil_from_days(days), (y, m, d));
        }
        let march_2024 = days_from_civil(2024, 3, 15) * DAY + 5;
        assert_eq!(
            Window::Month.start(march_2024, 0),
            Some(days_from_civil(2024, 3, 1) * DAY)
        );
    }

    #[test]
    fn offsets_are_whole_hours_users_can_type() {
        assert_eq!(parse_utc_offset("UTC"), Ok(0));
        assert_eq!(parse_utc_offset("+2"), Ok(7200));
        assert_eq!(parse_utc_offset("UTC-05:00"), Ok(-18_000));
        assert!(parse_utc_offset("+05:30").is_err());
        assert!(parse_utc_offset("Europe/Berlin").is_err());
        assert!(parse_utc_offset("+15").is_err());
        assert!(parse_utc_offset("--5").is_err());
        assert!(parse_utc_offset("+1152921504606846978").is_err());
        assert_eq!(parse_utc_offset("\u{2212}03:00"), Ok(-10_800));
        assert_eq!(shown_utc_offset(-18_000), "UTC-05:00");
    }

    #[test]
    fn player_ids_become_field_names_and_back() {
        for id in ["0002a1b2c3", "odd.id$with%", "$x"] {
            let key = player_key(id);
            assert!(!key.contains('.') && !key.contains('$'));
            assert_eq!(player_of(&key), id);
        }
    }
}

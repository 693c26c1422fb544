//! Rivalries (issue #18; EARLIER-BOT.md §2.12): two players' PvP kills of each other on one
//! server, with the last kill between them.
//!
//! A rivalry is one document per pair (the pair in EOS id order), written by the
//! statistics in the same exactly-once batch as the pair's matchups
//! ([`crate::stats_store`]), so its numbers are the statistics' own. Every query here is
//! served by an index: a player's rivalries by either side (`0017_rivalries`), the most
//! intense by [`Rivalry::strength`], the closest by their rank (lead, then kills), the most
//! recent by last kill (`0018_rivalry_ranks`).
//!
//! The ordered lists never ask the server to sort: a server that cannot sort by an index
//! (SecantusDB fetches every match, then sorts) would read all of a server's pairs for a
//! top 10. They read the index in ranges instead, best range first, each range an index
//! scan of only the pairs in it, and stop as soon as no pair further down could make the
//! list ([`Rivalries::top`], [`Rivalries::closest`], [`Rivalries::recent`]).

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;
use tower_ingest::stats::PairDelta;

use crate::db::{Database, collections};
use crate::stats_query::scope;

/// Every rivalry of a server by pair (in EOS id order), as counted or stored.
pub type Pairs = BTreeMap<(String, String), PairDelta>;

/// Adds one batch's rivalries to those before it.
pub fn merge(into: &mut Pairs, batch: Pairs) {
    for (pair, d) in batch {
        let r = into.entry(pair).or_default();
        r.first_kills += d.first_kills;
        r.second_kills += d.second_kills;
        if d.last_at >= r.last_at {
            r.last_at = d.last_at;
            r.last_weapon = d.last_weapon;
            r.last_by_first = d.last_by_first;
        }
    }
}

/// A rivalry counts for `top` and `closest` above this many kills (the earlier bot's).
pub const SETTLED_ABOVE: i64 = 5;

/// The closest rank of a rivalry: its lead, then the most kills first, as one number.
const RANK_PER_LEAD: i64 = 1_000_000;

/// The stored sort keys of a rivalry, computed by the server from the kills it holds (a
/// batch adds kills with `$inc`-like updates, never knowing the totals): `total` and
/// `lead`, then, for a settled rivalry only (more than [`SETTLED_ABOVE`] kills, else
/// null, so the lists skip it), its [`Rivalry::strength`] and its closest rank
/// (lead × 1,000,000 + 999,999 − total). One pipeline stage, computed from the kills
/// the stage before left (a stage per key costs the Python test server a copy of the
/// document each).
pub fn sort_keys() -> Vec<Document> {
    let total = doc! { "$add": ["$first_kills", "$second_kills"] };
    let lead = doc! { "$abs": { "$subtract": ["$first_kills", "$second_kills"] } };
    let low = doc! { "$min": ["$first_kills", "$second_kills"] };
    let high = doc! { "$max": ["$first_kills", "$second_kills"] };
    // `intensity_base`, in the server's words.
    let base = doc! { "$cond": [
        { "$lt": [total.clone(), 5] },
        { "$multiply": [5, total.clone()] },
        { "$cond": [
            { "$lt": [total.clone(), 20] },
            { "$add": [20, total.clone()] },
            { "$add": [40, { "$min": [20, { "$floor": { "$divide": [{ "$subtract": [total.clone(), 20] }, 2] } }] }] },
        ] },
    ] };
    let balance = doc! { "$cond": [
        { "$gt": [low.clone(), 0] },
        { "$floor": { "$divide": [{ "$multiply": [20, low] }, high] } },
        0,
    ] };
    let settled = doc! { "$gt": [total.clone(), SETTLED_ABOVE] };
    vec![doc! { "$set": {
        "total": total.clone(),
        "lead": lead.clone(),
        "strength": { "$cond": [settled.clone(), { "$toLong": { "$add": [base, balance] } }, Bson::Null] },
        "close_rank": { "$cond": [settled, { "$add": [
            { "$multiply": [lead, RANK_PER_LEAD] },
            { "$subtract": [RANK_PER_LEAD - 1, { "$min": [total, RANK_PER_LEAD - 1] }] },
        ] }, Bson::Null] },
    } }]
}

/// Two players' kills of each other on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rivalry {
    /// The pair, in EOS id order.
    pub first_id: String,
    pub second_id: String,
    pub first_kills: i64,
    pub second_kills: i64,
    /// The last kill between them: when (Unix seconds, game time), with what, by which.
    pub last: Option<LastKill>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastKill {
    pub at_unix: i64,
    pub weapon: String,
    pub by_first: bool,
    /// Recorded by an admin (`/rivalry record_kill`), not logged by the game.
    pub recorded: Option<RecordedBy>,
}

/// Who recorded a kill by hand, and where they said it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBy {
    pub user_id: u64,
    pub location: Option<String>,
}

impl Rivalry {
    pub fn total(&self) -> i64 {
        self.first_kills + self.second_kills
    }

    /// The earlier bot's intensity, 0 to 100 (`models/rivalry.py`): how many kills, how
    /// even ([`Rivalry::strength`]), how recent (against `now_unix`, at most 20).
    pub fn intensity(&self, now_unix: i64) -> i64 {
        let age = self
            .last
            .as_ref()
            .map_or(i64::MAX, |l| now_unix.saturating_sub(l.at_unix));
        let recency = match age {
            a if a < 86_400 => 20,
            a if a < 3 * 86_400 => 15,
            a if a < 7 * 86_400 => 10,
            a if a < 30 * 86_400 => 5,
            _ => 0,
        };
        self.strength() + recency
    }

    /// The intensity's part that does not age, 0 to 80: how many kills, how even. Stored
    /// with a settled rivalry ([`sort_keys`]) for [`Rivalries::top`].
    pub fn strength(&self) -> i64 {
        let (low, high) = (
            self.first_kills.min(self.second_kills),
            self.first_kills.max(self.second_kills),
        );
        let balance = if low > 0 { 20 * low / high } else { 0 };
        intensity_base(self.total()) + balance
    }

    /// The other player of the pair, seen from `player_id`, with both sides' kills
    /// (theirs first).
    pub fn against(&self, player_id: &str) -> (&str, i64, i64) {
        if self.first_id == player_id {
            (&self.second_id, self.first_kills, self.second_kills)
        } else {
            (&self.first_id, self.second_kills, self.first_kills)
        }
    }
}

/// The part of the intensity that only grows with the total: 5 a kill up to 5, then 1 a
/// kill up to 20, then 1 every two kills (at most 20 more).
fn intensity_base(total: i64) -> i64 {
    if total < 5 {
        5 * total
    } else if total < 20 {
        25 + (total - 5)
    } else {
        40 + ((total - 20) / 2).min(20)
    }
}

#[derive(Clone)]
pub struct Rivalries {
    rivalries: Collection<Document>,
}

impl Rivalries {
    pub fn new(db: &Database) -> Self {
        Self {
            rivalries: db.raw().collection(collections::RIVALRIES),
        }
    }

    /// One pair's rivalry, if they ever killed each other.
    pub async fn between(
        &self,
        guild_id: u64,
        server_id: &str,
        a: &str,
        b: &str,
    ) -> Result<Option<Rivalry>, MongoError> {
        let (first, second) = if a < b { (a, b) } else { (b, a) };
        let id = format!("{guild_id}:{server_id}:{first}:{second}");
        Ok(self
            .rivalries
            .find_one(doc! { "_id": id })
            .await?
            .as_ref()
            .and_then(rivalry_of))
    }

    /// A player's rivalries, most kills first.
    pub async fn of_player(
        &self,
        guild_id: u64,
        server_id: &str,
        player_id: &str,
        limit: i64,
    ) -> Result<Vec<Rivalry>, MongoError> {
        let mut out = Vec::new();
        for side in ["first_id", "second_id"] {
            let mut filter = scope(guild_id, server_id);
            filter.insert(side, player_id);
            out.extend(self.list(filter, doc! { "total": -1 }, limit).await?);
        }
        out.sort_by(|a, b| b.total().cmp(&a.total()).then(a.first_id.cmp(&b.first_id)));
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    /// The most intense rivalries of more than [`SETTLED_ABOVE`] kills, the most kills
    /// first among equals. Read by stored strength in ranges, strongest first, until no
    /// rivalry further down could make the list: the intensity adds at most
    /// [`MAX_RECENCY`] to the strength.
    pub async fn top(
        &self,
        guild_id: u64,
        server_id: &str,
        limit: usize,
        now_unix: i64,
    ) -> Result<Vec<Rivalry>, MongoError> {
        // Strength ranges (from, below): a settled rivalry's is at least 26 (six kills).
        const RANGES: [(i64, Option<i64>); 6] = [
            (70, None),
            (60, Some(70)),
            (50, Some(60)),
            (40, Some(50)),
            (30, Some(40)),
            (0, Some(30)),
        ];
        let mut best: Vec<(i64, Rivalry)> = Vec::new();
        for (from, below) in RANGES {
            if best.len() >= limit
                && let (Some(floor), Some(below)) = (best.last().map(|(i, _)| *i), below)
                && below - 1 + MAX_RECENCY < floor
            {
                break;
            }
            let range = self
                .in_range(guild_id, server_id, "strength", Some(from), below)
                .await?;
            best.extend(range.into_iter().map(|r| (r.intensity(now_unix), r)));
            best.sort_by(|a, b| {
                b.0.cmp(&a.0)
                    .then(b.1.total().cmp(&a.1.total()))
                    .then_with(|| pair(&a.1).cmp(&pair(&b.1)))
            });
            best.truncate(limit);
        }
        Ok(best.into_iter().map(|(_, r)| r).collect())
    }

    /// The closest rivalries of more than [`SETTLED_ABOVE`] kills: the smallest lead
    /// first, then the most kills. Read by stored rank in ranges, closest first, until the
    /// list is full.
    pub async fn closest(
        &self,
        guild_id: u64,
        server_id: &str,
        limit: usize,
    ) -> Result<Vec<Rivalry>, MongoError> {
        let mut found: Vec<Rivalry> = Vec::new();
        for (from, below) in closest_ranges() {
            if found.len() >= limit {
                break;
            }
            found.extend(
                self.in_range(guild_id, server_id, "close_rank", Some(from), below)
                    .await?,
            );
        }
        found.sort_by(|a, b| close(a).cmp(&close(b)).then_with(|| pair(a).cmp(&pair(b))));
        found.truncate(limit);
        Ok(found)
    }

    /// Rivalries with a kill since `since_unix` (game time), the latest first. Read by
    /// last kill in ranges, latest first, until the list is full.
    pub async fn recent(
        &self,
        guild_id: u64,
        server_id: &str,
        since_unix: i64,
        now_unix: i64,
        limit: usize,
    ) -> Result<Vec<Rivalry>, MongoError> {
        let at = |unix: i64| DateTime::from_millis(unix.saturating_mul(1000));
        let mut found: Vec<Rivalry> = Vec::new();
        // Back from now an hour, then six, a day, three, a week, a month, …, to `since`;
        // the first range is open above (a game clock ahead of this one).
        let mut below: Option<i64> = None;
        for back in [
            3_600,
            6 * 3_600,
            86_400,
            3 * 86_400,
            7 * 86_400,
            30 * 86_400,
        ]
        .into_iter()
        .map(|b| now_unix.saturating_sub(b).max(since_unix))
        .chain(std::iter::once(since_unix))
        {
            if found.len() >= limit || below.is_some_and(|b| b <= since_unix) {
                break;
            }
            if below.is_some_and(|b| back >= b) {
                continue;
            }
            let mut filter = scope(guild_id, server_id);
            let mut range = doc! { "$gte": at(back) };
            if let Some(b) = below {
                range.insert("$lt", at(b));
            }
            filter.insert("last_at", range);
            found.extend(self.matching(filter).await?);
            below = Some(back);
        }
        found.sort_by(|a, b| {
            let at = |r: &Rivalry| r.last.as_ref().map_or(i64::MIN, |l| l.at_unix);
            at(b).cmp(&at(a)).then_with(|| pair(a).cmp(&pair(b)))
        });
        found.truncate(limit);
        Ok(found)
    }

    /// Every rivalry of a server, as stored (for `towerctl verify`).
    pub async fn load(&self, guild_id: u64, server_id: &str) -> Result<Pairs, MongoError> {
        let mut cursor = self.rivalries.find(scope(guild_id, server_id)).await?;
        let mut out = Pairs::new();
        while let Some(d) = cursor.try_next().await? {
            let Some(r) = rivalry_of(&d) else { continue };
            let last = r.last.unwrap_or(LastKill {
                at_unix: 0,
                weapon: String::new(),
                by_first: false,
                recorded: None,
            });
            out.insert(
                (r.first_id, r.second_id),
                PairDelta {
                    first_kills: u64::try_from(r.first_kills).unwrap_or(0),
                    second_kills: u64::try_from(r.second_kills).unwrap_or(0),
                    last_at: last.at_unix,
                    last_weapon: last.weapon,
                    last_by_first: last.by_first,
                },
            );
        }
        Ok(out)
    }

    /// Writes the rivalries of `counted` that `stored` lacks or has otherwise, and deletes
    /// those no counted line makes; how many documents it changed. The kills are set as
    /// differences (`$inc`), so a batch applied meanwhile loses nothing.
    pub async fn repair(
        &self,
        guild_id: u64,
        server_id: &str,
        stored: &Pairs,
        counted: &Pairs,
    ) -> Result<u64, MongoError> {
        let guild = guild_id.to_string();
        let mut changed = 0;
        let none = PairDelta::default();
        for (pair, want) in counted {
            let have = stored.get(pair).unwrap_or(&none);
            if have == want {
                continue;
            }
            let diff = |w: u64, h: u64| {
                i64::try_from(w).unwrap_or(i64::MAX) - i64::try_from(h).unwrap_or(i64::MAX)
            };
            let id = format!("{guild}:{server_id}:{}:{}", pair.0, pair.1);
            let inc = doc! {
                "first_kills": diff(want.first_kills, have.first_kills),
                "second_kills": diff(want.second_kills, have.second_kills),
            };
            let set = doc! {
                "guild_id": &guild,
                "server_id": server_id,
                "first_id": &pair.0,
                "second_id": &pair.1,
                "last_at": DateTime::from_millis(want.last_at.saturating_mul(1000)),
                "last_weapon": &want.last_weapon,
                "last_by_first": want.last_by_first,
                "schema_version": crate::schema::SCHEMA_VERSION,
            };
            // `last_batch: 0` on a document the repair creates: every later batch applies.
            self.rivalries
                .update_one(
                    doc! { "_id": &id },
                    doc! { "$inc": inc, "$set": set, "$setOnInsert": { "last_batch": 0_i64 } },
                )
                .upsert(true)
                .await?;
            // The sort keys, from the kills now stored.
            self.rivalries
                .update_one(doc! { "_id": &id }, sort_keys())
                .await?;
            changed += 1;
        }
        for pair in stored.keys().filter(|p| !counted.contains_key(*p)) {
            let id = format!("{guild}:{server_id}:{}:{}", pair.0, pair.1);
            changed += self
                .rivalries
                .delete_one(doc! { "_id": id })
                .await?
                .deleted_count;
        }
        Ok(changed)
    }

    async fn list(
        &self,
        filter: Document,
        sort: Document,
        limit: i64,
    ) -> Result<Vec<Rivalry>, MongoError> {
        let docs: Vec<Document> = self
            .rivalries
            .find(filter)
            .sort(sort)
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(rivalry_of).collect())
    }

    /// A server's rivalries whose `key` is at least `from` and below `below`: one index
    /// scan of just those.
    async fn in_range(
        &self,
        guild_id: u64,
        server_id: &str,
        key: &str,
        from: Option<i64>,
        below: Option<i64>,
    ) -> Result<Vec<Rivalry>, MongoError> {
        let mut range = Document::new();
        if let Some(from) = from {
            range.insert("$gte", from);
        }
        if let Some(below) = below {
            range.insert("$lt", below);
        }
        let mut filter = scope(guild_id, server_id);
        filter.insert(key, range);
        self.matching(filter).await
    }

    async fn matching(&self, filter: Document) -> Result<Vec<Rivalry>, MongoError> {
        let docs: Vec<Document> = self.rivalries.find(filter).await?.try_collect().await?;
        Ok(docs.iter().filter_map(rivalry_of).collect())
    }
}

/// The most recency adds to a rivalry's strength (a kill within a day).
pub const MAX_RECENCY: i64 = 20;

/// The closest ranks to read, closest first, as (from, below): each of the first leads
/// alone, split by kills (the most first), then leads in growing groups, then the rest.
fn closest_ranges() -> Vec<(i64, Option<i64>)> {
    let mut ranges = Vec::new();
    for lead in 0..4 {
        let start = lead * RANK_PER_LEAD;
        let next = start + RANK_PER_LEAD;
        // The most kills first: at least 50, at least 20, then the rest.
        let cuts = [start, next - 50, next - 20, next];
        ranges.extend(cuts.windows(2).map(|w| (w[0], Some(w[1]))));
    }
    let mut lead = 4;
    while lead < 64 {
        ranges.push((lead * RANK_PER_LEAD, Some(2 * lead * RANK_PER_LEAD)));
        lead *= 2;
    }
    ranges.push((lead * RANK_PER_LEAD, None));
    ranges
}

/// Pair order, for a stable list among equals.
fn pair(r: &Rivalry) -> (&str, &str) {
    (&r.first_id, &r.second_id)
}

/// The closest order: smallest lead, then most kills.
fn close(r: &Rivalry) -> (i64, std::cmp::Reverse<i64>) {
    (
        (r.first_kills - r.second_kills).abs(),
        std::cmp::Reverse(r.total()),
    )
}

fn rivalry_of(d: &Document) -> Option<Rivalry> {
    let int = |k: &str| match d.get(k) {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(f)) => *f as i64,
        _ => 0,
    };
    Some(Rivalry {
        first_id: d.get_str("first_id").ok()?.to_owned(),
        second_id: d.get_str("second_id").ok()?.to_owned(),
        first_kills: int("first_kills"),
        second_kills: int("second_kills"),
        last: d.get_datetime("last_at").ok().map(|at| LastKill {
            at_unix: at.timestamp_millis() / 1000,
            weapon: d.get_str("last_weapon").unwrap_or_default().to_owned(),
            by_first: d.get_bool("last_by_first").unwrap_or(false),
            recorded: d.get_document("last_recorded").ok().map(|r| RecordedBy {
                user_id: r
                    .get_str("by")
                    .ok()
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(0),
                location: r.get_str("location").ok().map(str::to_owned),
            }),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rivalry(first_kills: i64, second_kills: i64, age_secs: Option<i64>) -> Rivalry {
        Rivalry {
            first_id: "a".to_owned(),
            second_id: "b".to_owned(),
            first_kills,
            second_kills,
            last: age_secs.map(|age| LastKill {
                at_unix: 1_000_000 - age,
                weapon: "AK-74".to_owned(),
                by_first: true,
                recorded: None,
            }),
        }
    }

    #[test]
    fn intensity_is_the_earlier_bots() {
        // 3 kills, one-sided, a year ago: 15.
        assert_eq!(rivalry(3, 0, Some(365 * 86_400)).intensity(1_000_000), 15);
        // 10 kills, 6–4, an hour ago: 25 + 5, + 20·4/6 = 13, + 20.
        assert_eq!(rivalry(6, 4, Some(3_600)).intensity(1_000_000), 63);
        // 100 kills, even, two days ago: 40 + 20, + 20, + 15: the most it reaches is 100.
        assert_eq!(rivalry(50, 50, Some(2 * 86_400)).intensity(1_000_000), 95);
        assert_eq!(rivalry(50, 50, Some(60)).intensity(1_000_000), 100);
        // Never dated (no last kill): no recency.
        assert_eq!(rivalry(1, 1, None).intensity(1_000_000), 30);
    }
}

//! Highlights (issue #19): the kills worth a post of their own in the killfeed channel,
//! worked out with the batch that counts them.
//!
//! - **Streak**: a player's kill streak reaches a milestone ([`is_milestone`]: 3, 5, 10,
//!   15, 20, 25, 30, then every 5).
//! - **Streak ended**: a kill ends a streak of at least [`STREAK_END_MIN`] kills.
//! - **Revenge**: a kill of the player's nemesis: the rival who leads their rivalry with at
//!   least [`NEMESIS_MIN`] kills and made the pair's last kill before this one.
//! - **Long shot**: a kill from the server's long-shot distance or farther (300 m unless
//!   set, never under [`LONG_SHOT_FLOOR_M`]).
//!
//! Each kind is off until a server's admins turn it on (`/killfeed highlights`): only the
//! kinds on are worked out (a batch of a server with none on reads one settings document
//! more, nothing else), and the gateway checks again when it posts.
//!
//! What the players and pairs were before the batch is what the batch's own updates kept
//! (`killstreak_before` on each player, `last_by_first_before` on each rivalry, written
//! only by the batch that applies them), and the pairs' kills before it are their kills
//! after it less the batch's. So a batch finished again after a crash works out the same
//! highlights, under the same keys (the line's identity and the kind): each is posted once.

use std::collections::{BTreeMap, HashMap};

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::Error as MongoError;
use tower_ingest::ingest::{Chunk, kept_lines};
use tower_ingest::killfeed::{KillfeedEvent, KillfeedLine};

use crate::db::{Database, collections};
use crate::outbox::Notice;

/// The shortest streak whose end is posted.
pub const STREAK_END_MIN: u64 = 5;
/// The fewest kills of a player that make their killer a nemesis.
pub const NEMESIS_MIN: i64 = 3;
/// The shortest long-shot distance a server may set.
pub const LONG_SHOT_FLOOR_M: u32 = 100;
/// The long-shot distance of a server that set none.
pub const LONG_SHOT_DEFAULT_M: u32 = 300;

/// A server's long-shot distance from its stored `long_shot_m`: the default when unset,
/// not a number, or under [`LONG_SHOT_FLOOR_M`] (the worker and the gateway read it alike).
pub fn long_shot_distance(stored: Option<&Bson>) -> u32 {
    let metres = match stored {
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Double(f)) if f.is_finite() => *f as i64,
        _ => 0,
    };
    u32::try_from(metres)
        .ok()
        .filter(|m| *m >= LONG_SHOT_FLOOR_M)
        .unwrap_or(LONG_SHOT_DEFAULT_M)
}

/// Whether a kill streak of `n` is posted.
pub fn is_milestone(n: u64) -> bool {
    matches!(n, 3 | 5 | 10 | 15 | 20 | 25) || (n >= 30 && n.is_multiple_of(5))
}

/// What a highlight is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Streak,
    StreakEnd,
    Revenge,
    LongShot,
}

impl Kind {
    /// The stored name, which is also the server's switch for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Streak => "streak",
            Kind::StreakEnd => "streak_end",
            Kind::Revenge => "revenge",
            Kind::LongShot => "long_shot",
        }
    }
}

/// One highlight of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Highlight<'a> {
    pub kind: Kind,
    /// The kill's position among the batch's counted lines.
    pub line: usize,
    pub at: i64,
    /// The killer, as (id, name).
    pub player: (&'a str, &'a str),
    /// The victim, as (id, name).
    pub other: (&'a str, &'a str),
    /// The streak reached (`Streak`) or ended (`StreakEnd`); the nemesis's kills of the
    /// player (`Revenge`).
    pub count: u64,
    pub weapon: &'a str,
    pub distance_m: u32,
}

/// A pair of players before the batch, in EOS id order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairBefore {
    pub first_kills: i64,
    pub second_kills: i64,
    /// Who made the pair's last kill (none: they never met), and when (game time).
    pub last_by_first: Option<bool>,
    pub last_at: i64,
}

/// What the batch's players and pairs were before it. A player or pair missing is not
/// known: nothing is posted that depends on it.
#[derive(Debug, Clone, Default)]
pub struct Before {
    pub streaks: HashMap<String, u64>,
    pub pairs: HashMap<(String, String), PairBefore>,
}

/// The highlights of the counted `lines`, in order, from what was `before` them (the
/// stats' own rules: a kill adds one to the killer's streak; any death of a player,
/// suicides and deaths to the world included, ends theirs).
pub fn highlights<'a>(lines: &[&'a KillfeedLine<'a>], before: &Before) -> Vec<Highlight<'a>> {
    let mut streaks: HashMap<&str, Option<u64>> = HashMap::new();
    let mut pairs: HashMap<(&str, &str), Option<PairBefore>> = HashMap::new();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut streak_of = |id: &'a str| -> Option<u64> {
            *streaks
                .entry(id)
                .or_insert_with(|| before.streaks.get(id).copied())
        };
        match &line.event {
            KillfeedEvent::Kill {
                killer,
                victim,
                weapon,
                distance_m,
                ..
            } => {
                let killer_streak = streak_of(killer.id).map(|n| n + 1);
                let victim_streak = streak_of(victim.id);
                let highlight = |kind, count| Highlight {
                    kind,
                    line: i,
                    at: line.at,
                    player: (killer.id, killer.name.as_ref()),
                    other: (victim.id, victim.name.as_ref()),
                    count,
                    weapon: weapon.as_ref(),
                    distance_m: *distance_m,
                };
                if let Some(n) = victim_streak.filter(|n| *n >= STREAK_END_MIN) {
                    out.push(highlight(Kind::StreakEnd, n));
                }
                if let Some(n) = killer_streak.filter(|n| is_milestone(*n)) {
                    out.push(highlight(Kind::Streak, n));
                }
                let by_first = killer.id < victim.id;
                let key = match by_first {
                    true => (killer.id, victim.id),
                    false => (victim.id, killer.id),
                };
                let pair = pairs.entry(key).or_insert_with(|| {
                    before
                        .pairs
                        .get(&(key.0.to_owned(), key.1.to_owned()))
                        .copied()
                });
                if let Some(p) = pair.as_mut() {
                    let (mine, theirs) = match by_first {
                        true => (p.first_kills, p.second_kills),
                        false => (p.second_kills, p.first_kills),
                    };
                    // Their last kill was of me, and they lead: my nemesis. A line older
                    // than the pair's last kill (read late, from another folder) is no
                    // answer to it.
                    let later = line.at >= p.last_at;
                    if later
                        && p.last_by_first == Some(!by_first)
                        && theirs >= NEMESIS_MIN
                        && theirs > mine
                    {
                        out.push(highlight(Kind::Revenge, u64::try_from(theirs).unwrap_or(0)));
                    }
                    match by_first {
                        true => p.first_kills = p.first_kills.saturating_add(1),
                        false => p.second_kills = p.second_kills.saturating_add(1),
                    }
                    // The last kill is the latest in time, as the rivalry keeps it.
                    if later {
                        p.last_by_first = Some(by_first);
                        p.last_at = line.at;
                    }
                }
                if *distance_m >= LONG_SHOT_FLOOR_M {
                    out.push(highlight(Kind::LongShot, 0));
                }
                streaks.insert(killer.id, killer_streak);
                streaks.insert(victim.id, Some(0));
            }
            KillfeedEvent::Suicide { player, .. } => {
                streaks.insert(player.id, Some(0));
            }
            KillfeedEvent::EnvironmentDeath { victim } => {
                streaks.insert(victim.id, Some(0));
            }
        }
    }
    out
}

/// Reads what [`highlights`] needs and turns highlights into notices.
#[derive(Clone)]
pub struct Highlights {
    servers: mongodb::Collection<Document>,
    players: mongodb::Collection<Document>,
    rivalries: mongodb::Collection<Document>,
}

/// The highlights a server's admins turned on, and its long-shot distance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub on: Vec<Kind>,
    pub long_shot_m: u32,
}

impl Settings {
    /// From a game server document's `notify` switches and `long_shot_m`.
    pub fn of(server: &Document) -> Self {
        let notify = server.get_document("notify").ok();
        let on = [Kind::Streak, Kind::StreakEnd, Kind::Revenge, Kind::LongShot]
            .into_iter()
            .filter(|k| notify.is_some_and(|n| n.get_bool(k.as_str()).ok() == Some(true)))
            .collect();
        let long_shot_m = long_shot_distance(server.get("long_shot_m"));
        Self { on, long_shot_m }
    }

    fn wants(&self, h: &Highlight<'_>) -> bool {
        self.on.contains(&h.kind) && (h.kind != Kind::LongShot || h.distance_m >= self.long_shot_m)
    }
}

impl Highlights {
    pub fn new(db: &Database) -> Self {
        Self {
            servers: db.raw().collection(collections::GAME_SERVERS),
            players: db.raw().collection(collections::PLAYER_STATS),
            rivalries: db.raw().collection(collections::RIVALRIES),
        }
    }

    /// The highlight posts of batch number `batch_no`'s counted (`kept`) lines, read after
    /// the batch was applied.
    pub async fn notices(
        &self,
        guild_id: u64,
        server_id: &str,
        batch_no: i64,
        batch: &[Chunk<'_>],
        kept: &[(usize, String)],
    ) -> Result<Vec<Notice>, MongoError> {
        let lines = kept_lines(batch, kept);
        // Only kills make highlights.
        if !lines
            .iter()
            .any(|(l, _)| matches!(l.event, KillfeedEvent::Kill { .. }))
        {
            return Ok(Vec::new());
        }
        let settings = self
            .servers
            .find_one(doc! { "guild_id": guild_id.to_string(), "server_id": server_id })
            .projection(doc! { "notify": 1, "long_shot_m": 1 })
            .await?
            .map(|d| Settings::of(&d))
            .unwrap_or_default();
        if settings.on.is_empty() {
            return Ok(Vec::new());
        }
        let before = self
            .before(
                (guild_id, server_id, batch_no),
                &settings,
                lines.iter().map(|(l, _)| *l),
            )
            .await?;
        let ordered: Vec<&KillfeedLine<'_>> = lines.iter().map(|(l, _)| *l).collect();
        let player = |(id, name): (&str, &str)| doc! { "id": id, "name": name };
        Ok(highlights(&ordered, &before)
            .into_iter()
            .filter(|h| settings.wants(h))
            .filter_map(|h| {
                let line_id = lines.get(h.line)?.1;
                Some(Notice {
                    key: format!("h:{guild_id}:{server_id}:{line_id}:{}", h.kind.as_str()),
                    guild_id,
                    server_id: server_id.to_owned(),
                    kind: "highlight",
                    at_ms: h.at.saturating_mul(1000),
                    data: doc! {
                        "kind": h.kind.as_str(),
                        "player": player(h.player),
                        "other": player(h.other),
                        "count": i64::try_from(h.count).unwrap_or(i64::MAX),
                        "weapon": h.weapon,
                        "distance_m": i64::from(h.distance_m),
                    },
                })
            })
            .collect())
    }

    /// The streaks and pairs of the batch's players as they were before it, from what its
    /// own updates kept (a document a later batch changed tells nothing of this one); each
    /// read only when a kind that is on needs it.
    async fn before<'l, 'a: 'l>(
        &self,
        (guild_id, server_id, batch_no): (u64, &str, i64),
        settings: &Settings,
        lines: impl Iterator<Item = &'l KillfeedLine<'a>>,
    ) -> Result<Before, MongoError> {
        let streaks = settings.on.contains(&Kind::Streak) || settings.on.contains(&Kind::StreakEnd);
        let revenge = settings.on.contains(&Kind::Revenge);
        let mut players: Vec<&str> = Vec::new();
        // (first, second) → the batch's kills of each other.
        let mut pairs: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
        for line in lines {
            match &line.event {
                KillfeedEvent::Kill { killer, victim, .. } => {
                    players.extend([killer.id, victim.id]);
                    let by_first = killer.id < victim.id;
                    let key = match by_first {
                        true => (killer.id, victim.id),
                        false => (victim.id, killer.id),
                    };
                    let p = pairs.entry(key).or_default();
                    match by_first {
                        true => p.0 += 1,
                        false => p.1 += 1,
                    }
                }
                KillfeedEvent::Suicide { player, .. } => players.push(player.id),
                KillfeedEvent::EnvironmentDeath { victim } => players.push(victim.id),
            }
        }
        players.sort_unstable();
        players.dedup();
        let ours = |d: &Document| int(d, "last_batch") == batch_no;
        let mut before = Before::default();
        if streaks {
            let ids: Vec<String> = players
                .iter()
                .map(|p| format!("{guild_id}:{server_id}:{p}"))
                .collect();
            let mut found = self
                .players
                .find(doc! { "_id": { "$in": &ids } })
                .projection(doc! { "player_id": 1, "killstreak_before": 1, "last_batch": 1 })
                .await?;
            while let Some(d) = found.try_next().await? {
                if let (true, Ok(id)) = (ours(&d), d.get_str("player_id")) {
                    let n = u64::try_from(int(&d, "killstreak_before")).unwrap_or(0);
                    before.streaks.insert(id.to_owned(), n);
                }
            }
        }
        if !revenge || pairs.is_empty() {
            return Ok(before);
        }
        let ids: Vec<String> = pairs
            .keys()
            .map(|(a, b)| format!("{guild_id}:{server_id}:{a}:{b}"))
            .collect();
        let mut found = self
            .rivalries
            .find(doc! { "_id": { "$in": &ids } })
            .projection(doc! {
                "first_id": 1, "second_id": 1, "first_kills": 1, "second_kills": 1,
                "last_batch": 1, "last_by_first_before": 1, "last_at_before": 1,
            })
            .await?;
        while let Some(d) = found.try_next().await? {
            let (Ok(first), Ok(second)) = (d.get_str("first_id"), d.get_str("second_id")) else {
                continue;
            };
            let Some(kills) = pairs.get(&(first, second)).filter(|_| ours(&d)) else {
                continue;
            };
            before.pairs.insert(
                (first.to_owned(), second.to_owned()),
                PairBefore {
                    first_kills: int(&d, "first_kills").saturating_sub(kills.0),
                    second_kills: int(&d, "second_kills").saturating_sub(kills.1),
                    last_by_first: d.get_bool("last_by_first_before").ok(),
                    last_at: d
                        .get_datetime("last_at_before")
                        .map_or(i64::MIN, |t| t.timestamp_millis().div_euclid(1000)),
                },
            );
        }
        Ok(before)
    }
}

/// An integer field as stored; 0 when absent.
fn int(d: &Document, k: &str) -> i64 {
    crate::stats_store::get_i64(d, k).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_ingest::killfeed::parse_line;

    const A: &str = "0002aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "0002bbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const C: &str = "0002cccccccccccccccccccccccccccc";

    fn kill(minute: u32, (killer, k): (&str, &str), (victim, v): (&str, &str), m: u32) -> String {
        format!("2025.05.03-02.{minute:02}.00;{killer};{k};{victim};{v};AK-74;{m};")
    }

    fn run(raw: &[String], before: &Before) -> Vec<(Kind, String, u64)> {
        let lines: Vec<KillfeedLine<'_>> = raw
            .iter()
            .map(|l| parse_line(l.as_bytes()).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        let refs: Vec<&KillfeedLine<'_>> = lines.iter().collect();
        highlights(&refs, before)
            .into_iter()
            .map(|h| (h.kind, h.player.1.to_owned(), h.count))
            .collect()
    }

    #[test]
    fn milestones_are_the_issues() {
        let posted: Vec<u64> = (1..=41).filter(|n| is_milestone(*n)).collect();
        assert_eq!(posted, vec![3, 5, 10, 15, 20, 25, 30, 35, 40]);
    }

    #[test]
    fn a_streak_is_posted_at_its_milestones_and_its_end_names_its_length() {
        let mut before = Before::default();
        // Alpha comes in on 2 kills; Bravo and Charlie on none.
        before.streaks.insert(A.to_owned(), 2);
        before.streaks.insert(B.to_owned(), 0);
        before.streaks.insert(C.to_owned(), 0);
        let (a, b, c) = (("Alpha", A), ("Bravo", B), ("Charlie", C));
        let mut raw: Vec<String> = (0..3).map(|i| kill(i, a, b, 10)).collect();
        // Bravo suicides in between: his streak (0) ends, Alpha's goes on.
        raw.push(format!(
            "2025.05.03-02.10.00;Bravo;{B};Bravo;{B};suicide_by_relocation;0;"
        ));
        raw.push(kill(11, c, a, 12));
        let posted = run(&raw, &before);
        assert_eq!(
            posted,
            vec![
                (Kind::Streak, "Alpha".to_owned(), 3),
                (Kind::Streak, "Alpha".to_owned(), 5),
                (Kind::StreakEnd, "Charlie".to_owned(), 5),
            ]
        );
    }

    #[test]
    fn revenge_is_a_kill_of_the_rival_who_leads_and_killed_last() {
        let (a, b) = (("Alpha", A), ("Bravo", B));
        let mut before = Before::default();
        // Bravo (second) leads 4–1 and made the last kill.
        before.pairs.insert(
            (A.to_owned(), B.to_owned()),
            PairBefore {
                first_kills: 1,
                second_kills: 4,
                last_by_first: Some(false),
                last_at: 0,
            },
        );
        let posted = run(&[kill(0, a, b, 10), kill(1, a, b, 10)], &before);
        // The first kill is revenge; the second is not (Alpha made the last kill).
        assert_eq!(posted, vec![(Kind::Revenge, "Alpha".to_owned(), 4)]);
        // Unknown pair, or a nemesis with too few kills: nothing.
        assert!(run(&[kill(0, a, b, 10)], &Before::default()).is_empty());
        before.pairs.insert(
            (A.to_owned(), B.to_owned()),
            PairBefore {
                first_kills: 0,
                second_kills: 2,
                last_by_first: Some(false),
                last_at: 0,
            },
        );
        assert!(run(&[kill(0, a, b, 10)], &before).is_empty());
    }

    #[test]
    fn only_the_kinds_turned_on_are_wanted_and_long_shots_from_the_servers_distance() {
        let (a, b) = (("Alpha", A), ("Bravo", B));
        let raw = [kill(0, a, b, 299), kill(1, a, b, 300)];
        let lines: Vec<KillfeedLine<'_>> = raw
            .iter()
            .filter_map(|l| parse_line(l.as_bytes()).ok())
            .collect();
        let refs: Vec<&KillfeedLine<'_>> = lines.iter().collect();
        let found = highlights(&refs, &Before::default());
        let none = Settings::of(&doc! {});
        assert_eq!(none.on, Vec::<Kind>::new());
        assert_eq!(none.long_shot_m, LONG_SHOT_DEFAULT_M);
        let on = Settings::of(
            &doc! { "notify": { "long_shot": true, "streak": false, "mission": true } },
        );
        assert_eq!(on.on, vec![Kind::LongShot]);
        let wanted: Vec<u32> = found
            .iter()
            .filter(|h| on.wants(h))
            .map(|h| h.distance_m)
            .collect();
        assert_eq!(wanted, vec![300]);
        // A distance under the floor (written by hand) counts as unset.
        let low = Settings::of(&doc! { "long_shot_m": 20 });
        assert_eq!(low.long_shot_m, LONG_SHOT_DEFAULT_M);
    }

    #[test]
    fn a_kill_older_than_the_pairs_last_is_no_revenge() {
        let (a, b) = (("Alpha", A), ("Bravo", B));
        let mut before = Before::default();
        // Bravo leads 4–1; his last kill was at 02:30.
        let at = |line: &str| parse_line(line.as_bytes()).map_or(0, |l| l.at);
        before.pairs.insert(
            (A.to_owned(), B.to_owned()),
            PairBefore {
                first_kills: 1,
                second_kills: 4,
                last_by_first: Some(false),
                last_at: at(&kill(30, b, a, 10)),
            },
        );
        // Alpha's kill at 02:20, read late (another folder): no revenge, and Bravo's kill
        // stays the last, so Alpha's kill at 02:40 is.
        let posted = run(&[kill(20, a, b, 10), kill(40, a, b, 10)], &before);
        assert_eq!(posted, vec![(Kind::Revenge, "Alpha".to_owned(), 4)]);
    }

    #[test]
    fn a_long_shot_is_marked_from_the_floor() {
        let (a, b) = (("Alpha", A), ("Bravo", B));
        let posted = run(
            &[
                kill(0, a, b, LONG_SHOT_FLOOR_M - 1),
                kill(1, a, b, LONG_SHOT_FLOOR_M),
            ],
            &Before::default(),
        );
        assert_eq!(posted, vec![(Kind::LongShot, "Alpha".to_owned(), 0)]);
    }
}

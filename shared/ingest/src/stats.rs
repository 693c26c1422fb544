//! PvP statistics of one game server (PRODUCT.md §4), computed from killfeed events.
//!
//! Events are applied in batches: [`BatchDelta::from_events`] folds a batch into one
//! delta per player (counts, and the shape of the kill and death runs), and
//! [`ServerStats::merge`] applies it. The MongoDB store applies the same deltas with the
//! same formulas as server-side updates, so a batch changes a player with one update
//! whatever its size, and the two can be checked against each other. Splitting a stream
//! of events into batches any way gives the same statistics (a property test holds us to it).

use std::collections::{BTreeMap, HashMap};

use crate::killfeed::{KillfeedEvent, KillfeedLine, SuicideKind};

/// Suicides by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suicides {
    pub menu: u64,
    pub fall: u64,
    pub vehicle: u64,
    pub other: u64,
}

impl Suicides {
    pub fn add(&mut self, kind: SuicideKind, n: u64) {
        match kind {
            SuicideKind::Menu => self.menu += n,
            SuicideKind::Fall => self.fall += n,
            SuicideKind::Vehicle => self.vehicle += n,
            SuicideKind::Other => self.other += n,
        }
    }

    pub fn total(&self) -> u64 {
        self.menu + self.fall + self.vehicle + self.other
    }

    fn merge(&mut self, o: &Suicides) {
        self.menu += o.menu;
        self.fall += o.fall;
        self.vehicle += o.vehicle;
        self.other += o.other;
    }
}

/// One player's statistics on one server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayerStats {
    /// The name last seen for this id.
    pub name: String,
    /// Every name seen for this id.
    pub names: Vec<String>,
    pub platform: Option<String>,
    pub kills: u64,
    /// PvP deaths only.
    pub deaths: u64,
    pub suicides: Suicides,
    pub environment_deaths: u64,
    /// `None` until the player has a kill.
    pub longest_kill_m: Option<u32>,
    pub current_killstreak: u64,
    pub best_killstreak: u64,
    pub current_deathstreak: u64,
    pub worst_deathstreak: u64,
    pub weapons: BTreeMap<String, u64>,
    /// Victim id → kills of that victim by this player.
    pub killed: BTreeMap<String, u64>,
    /// Killer id → deaths of this player to that killer.
    pub killed_by: BTreeMap<String, u64>,
    pub first_seen: i64,
    pub last_seen: i64,
}

impl PlayerStats {
    /// Kills per PvP death, or kills when never killed; rounded to 2 decimals half up.
    pub fn kdr(&self) -> f64 {
        kdr(self.kills, self.deaths)
    }

    /// Who killed this player most (ties: the smaller id).
    pub fn nemesis(&self) -> Option<(&str, u64)> {
        most(&self.killed_by)
    }

    /// Whom this player killed most (ties: the smaller id).
    pub fn prey(&self) -> Option<(&str, u64)> {
        most(&self.killed)
    }
}

pub fn kdr(kills: u64, deaths: u64) -> f64 {
    if deaths == 0 {
        kills as f64
    } else {
        (kills as f64 / deaths as f64 * 100.0).round() / 100.0
    }
}

fn most(map: &BTreeMap<String, u64>) -> Option<(&str, u64)> {
    // BTreeMap iterates ids in order; keep the first of equal counts.
    map.iter()
        .fold(None, |best: Option<(&str, u64)>, (id, &n)| match best {
            Some((_, m)) if m >= n => best,
            _ => Some((id.as_str(), n)),
        })
}

/// Kills and their distances with one weapon across the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeaponTotals {
    pub kills: u64,
    pub longest_m: u32,
    /// The sum of the kills' distances (for the average).
    pub distance_sum_m: u64,
    pub shortest_m: Option<u32>,
}

/// The longest PvP kill on the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LongestKill {
    pub distance_m: u32,
    pub killer_id: String,
    pub weapon: String,
}

/// Server-wide totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    pub kills: u64,
    pub roadkills: u64,
    pub suicides: Suicides,
    pub environment_deaths: u64,
    pub malformed_lines: u64,
    pub longest_kill: Option<LongestKill>,
}

/// All statistics of one game server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerStats {
    pub players: HashMap<String, PlayerStats>,
    pub weapons: BTreeMap<String, WeaponTotals>,
    pub totals: Totals,
}

/// The run structure of one player's lives within a batch: enough to update current and
/// best streaks without replaying the events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Runs {
    /// Events of the counted kind before the first breaking event.
    pub lead: u64,
    /// Whether a breaking event happened in the batch.
    pub broken: bool,
    /// The counted events after the last breaking event.
    pub trail: u64,
    /// The longest run after the first breaking event (including `trail`).
    pub longest_after_break: u64,
}

impl Runs {
    fn count(&mut self) {
        if self.broken {
            self.trail += 1;
            self.longest_after_break = self.longest_after_break.max(self.trail);
        } else {
            self.lead += 1;
        }
    }

    fn break_run(&mut self) {
        self.broken = true;
        self.trail = 0;
    }

    /// `(new current, new best)` from the stored `(current, best)`.
    pub fn apply(&self, current: u64, best: u64) -> (u64, u64) {
        let best = best.max(current + self.lead).max(self.longest_after_break);
        let current = if self.broken {
            self.trail
        } else {
            current + self.lead
        };
        (current, best)
    }

    /// [`Runs::apply`] for runs that came before the stored current one (late lines): it
    /// stays, and they count toward the best on their own.
    pub fn apply_late(&self, current: u64, best: u64) -> (u64, u64) {
        (current, best.max(self.lead).max(self.longest_after_break))
    }
}

/// What one batch adds to one player.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayerDelta {
    pub name: String,
    pub names: Vec<String>,
    pub platform: Option<String>,
    pub kills: u64,
    pub deaths: u64,
    pub suicides: Suicides,
    pub environment_deaths: u64,
    pub longest_kill_m: Option<u32>,
    /// Kill streak runs: kills counted, any death of the player breaks.
    pub kill_runs: Runs,
    /// Death streak runs: deaths (PvP, suicide, environment) counted, a kill breaks.
    pub death_runs: Runs,
    pub weapons: BTreeMap<String, u64>,
    pub killed: BTreeMap<String, u64>,
    pub killed_by: BTreeMap<String, u64>,
    pub first_seen: i64,
    pub last_seen: i64,
}

impl PlayerDelta {
    fn seen(&mut self, name: &str, platform: Option<&str>, at: i64) {
        if self.names.is_empty() {
            self.first_seen = at;
            self.last_seen = at;
        }
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
        if self.name != name {
            self.name = name.to_owned();
        }
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_owned());
        }
        if let Some(p) = platform {
            self.platform = Some(p.to_owned());
        }
    }

    fn died(&mut self) {
        self.kill_runs.break_run();
        self.death_runs.count();
    }
}

/// What one batch of events adds to a server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchDelta {
    pub players: BTreeMap<String, PlayerDelta>,
    pub weapons: BTreeMap<String, WeaponTotals>,
    /// (killer id, victim id) → kills.
    pub matchups: BTreeMap<(String, String), u64>,
    /// The rivalries: (lower id, higher id) → their kills of each other, the last kill.
    pub rivalries: BTreeMap<(String, String), PairDelta>,
    /// (killer's platform, victim's platform) → PvP kills; `""` where the line gives none
    /// (7-field lines, or an empty field).
    pub platform_kills: BTreeMap<(String, String), u64>,
    pub totals: Totals,
}

/// What one batch adds to a rivalry: two players' PvP kills of each other, the pair in id
/// order (the first has the lower EOS id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairDelta {
    /// Kills of the second by the first.
    pub first_kills: u64,
    /// Kills of the first by the second.
    pub second_kills: u64,
    /// The batch's last kill between them: when (Unix seconds), with what, by which.
    pub last_at: i64,
    pub last_weapon: String,
    pub last_by_first: bool,
}

impl BatchDelta {
    /// Folds events, in order, into one delta.
    pub fn from_events<'a, 'b: 'a>(events: impl IntoIterator<Item = &'a KillfeedLine<'b>>) -> Self {
        let mut delta = BatchDelta::default();
        for line in events {
            delta.add(line);
        }
        delta
    }

    pub fn add(&mut self, line: &KillfeedLine<'_>) {
        let at = line.at;
        match &line.event {
            KillfeedEvent::Kill {
                killer,
                victim,
                weapon,
                distance_m,
                roadkill,
            } => {
                *self
                    .platform_kills
                    .entry((
                        killer.platform.unwrap_or_default().to_owned(),
                        victim.platform.unwrap_or_default().to_owned(),
                    ))
                    .or_default() += 1;
                let k = self.players.entry(killer.id.to_owned()).or_default();
                k.seen(&killer.name, killer.platform, at);
                k.kills += 1;
                k.longest_kill_m = Some(k.longest_kill_m.unwrap_or(0).max(*distance_m));
                k.kill_runs.count();
                k.death_runs.break_run();
                *k.weapons.entry(weapon.to_string()).or_default() += 1;
                *k.killed.entry(victim.id.to_owned()).or_default() += 1;

                let v = self.players.entry(victim.id.to_owned()).or_default();
                v.seen(&victim.name, victim.platform, at);
                v.deaths += 1;
                v.died();
                *v.killed_by.entry(killer.id.to_owned()).or_default() += 1;

                let w = self.weapons.entry(weapon.to_string()).or_default();
                w.kills += 1;
                w.longest_m = w.longest_m.max(*distance_m);
                w.distance_sum_m += u64::from(*distance_m);
                w.shortest_m = Some(w.shortest_m.map_or(*distance_m, |s| s.min(*distance_m)));
                *self
                    .matchups
                    .entry((killer.id.to_owned(), victim.id.to_owned()))
                    .or_default() += 1;
                let by_first = killer.id < victim.id;
                let pair = if by_first {
                    (killer.id.to_owned(), victim.id.to_owned())
                } else {
                    (victim.id.to_owned(), killer.id.to_owned())
                };
                let r = self.rivalries.entry(pair).or_default();
                if by_first {
                    r.first_kills += 1;
                } else {
                    r.second_kills += 1;
                }
                // Lines come in order: a later one (or one as late) is the last kill.
                if at >= r.last_at {
                    r.last_at = at;
                    r.last_weapon = weapon.to_string();
                    r.last_by_first = by_first;
                }
                self.totals.kills += 1;
                self.totals.roadkills += u64::from(*roadkill);
                if self
                    .totals
                    .longest_kill
                    .as_ref()
                    .is_none_or(|l| *distance_m > l.distance_m)
                {
                    self.totals.longest_kill = Some(LongestKill {
                        distance_m: *distance_m,
                        killer_id: killer.id.to_owned(),
                        weapon: weapon.to_string(),
                    });
                }
            }
            KillfeedEvent::Suicide { player, kind, .. } => {
                let p = self.players.entry(player.id.to_owned()).or_default();
                p.seen(&player.name, player.platform, at);
                p.suicides.add(*kind, 1);
                p.died();
                self.totals.suicides.add(*kind, 1);
            }
            KillfeedEvent::EnvironmentDeath { victim } => {
                let p = self.players.entry(victim.id.to_owned()).or_default();
                p.seen(&victim.name, victim.platform, at);
                p.environment_deaths += 1;
                p.died();
                self.totals.environment_deaths += 1;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.players.is_empty() && self.totals.malformed_lines == 0
    }
}

impl ServerStats {
    /// Applies one batch's delta.
    pub fn merge(&mut self, delta: &BatchDelta) {
        for (id, d) in &delta.players {
            let p = self.players.entry(id.clone()).or_default();
            // Lines all older than the player's newest (a file that appeared late): they
            // did not follow the current streaks (the store's rule for history).
            let late = !p.names.is_empty() && d.last_seen < p.last_seen;
            if p.names.is_empty() {
                p.first_seen = d.first_seen;
                p.last_seen = d.last_seen;
            }
            p.first_seen = p.first_seen.min(d.first_seen);
            if d.last_seen >= p.last_seen {
                p.last_seen = d.last_seen;
                p.name = d.name.clone();
            }
            for n in &d.names {
                if !p.names.contains(n) {
                    p.names.push(n.clone());
                }
            }
            if d.platform.is_some() && !late {
                p.platform = d.platform.clone();
            }
            p.kills += d.kills;
            p.deaths += d.deaths;
            p.suicides.merge(&d.suicides);
            p.environment_deaths += d.environment_deaths;
            p.longest_kill_m = match (p.longest_kill_m, d.longest_kill_m) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            let runs = match late {
                true => Runs::apply_late,
                false => Runs::apply,
            };
            (p.current_killstreak, p.best_killstreak) =
                runs(&d.kill_runs, p.current_killstreak, p.best_killstreak);
            (p.current_deathstreak, p.worst_deathstreak) =
                runs(&d.death_runs, p.current_deathstreak, p.worst_deathstreak);
            for (w, n) in &d.weapons {
                *p.weapons.entry(w.clone()).or_default() += n;
            }
            for (v, n) in &d.killed {
                *p.killed.entry(v.clone()).or_default() += n;
            }
            for (k, n) in &d.killed_by {
                *p.killed_by.entry(k.clone()).or_default() += n;
            }
        }
        for (w, t) in &delta.weapons {
            let s = self.weapons.entry(w.clone()).or_default();
            s.kills += t.kills;
            s.longest_m = s.longest_m.max(t.longest_m);
            s.distance_sum_m += t.distance_sum_m;
            s.shortest_m = match (s.shortest_m, t.shortest_m) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let t = &mut self.totals;
        t.kills += delta.totals.kills;
        t.roadkills += delta.totals.roadkills;
        t.suicides.merge(&delta.totals.suicides);
        t.environment_deaths += delta.totals.environment_deaths;
        t.malformed_lines += delta.totals.malformed_lines;
        if let Some(l) = &delta.totals.longest_kill
            && t.longest_kill
                .as_ref()
                .is_none_or(|c| l.distance_m > c.distance_m)
        {
            t.longest_kill = Some(l.clone());
        }
    }

    /// Applies events as one batch.
    pub fn apply<'a, 'b: 'a>(&mut self, events: impl IntoIterator<Item = &'a KillfeedLine<'b>>) {
        self.merge(&BatchDelta::from_events(events));
    }

    /// A leaderboard: players by `stat`, best first, at most `limit` (1 to 25).
    pub fn leaderboard(&self, stat: Leaderboard, limit: usize) -> Vec<(&str, &PlayerStats)> {
        let mut rows: Vec<(&str, &PlayerStats)> = self
            .players
            .iter()
            .map(|(id, p)| (id.as_str(), p))
            .filter(|(_, p)| stat.value(p) > 0.0)
            .collect();
        rows.sort_by(|a, b| {
            stat.value(b.1)
                .total_cmp(&stat.value(a.1))
                .then_with(|| a.0.cmp(b.0))
        });
        rows.truncate(limit.clamp(1, MAX_LIMIT as usize));
        rows
    }
}

/// Leaderboard entries shown when no limit is given, and the most ever shown (PRODUCT.md §4).
pub const DEFAULT_LIMIT: u32 = 10;
pub const MAX_LIMIT: u32 = 25;

/// The leaderboards of PRODUCT.md §4 (weapon kills is per weapon: see `weapons`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaderboard {
    Kills,
    Deaths,
    Kdr,
    LongestShot,
    HighestKillstreak,
    Suicides,
}

impl Leaderboard {
    pub const ALL: [Leaderboard; 6] = [
        Self::Kills,
        Self::Deaths,
        Self::Kdr,
        Self::LongestShot,
        Self::HighestKillstreak,
        Self::Suicides,
    ];

    /// The name users pick it by (`/stats leaderboard stat:`), as the earlier bot named it.
    pub fn key(self) -> &'static str {
        match self {
            Self::Kills => "kills",
            Self::Deaths => "deaths",
            Self::Kdr => "kdr",
            Self::LongestShot => "longest_shot",
            Self::HighestKillstreak => "highest_killstreak",
            Self::Suicides => "suicides",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Kills => "Kills",
            Self::Deaths => "Deaths",
            Self::Kdr => "K/D ratio",
            Self::LongestShot => "Longest shot",
            Self::HighestKillstreak => "Highest killstreak",
            Self::Suicides => "Suicides",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }

    /// The value as shown: K/D with two decimals, the others whole.
    pub fn shown(self, p: &PlayerStats) -> String {
        match self {
            Self::Kdr => format!("{:.2}", p.kdr()),
            other => format!("{}", other.value(p)),
        }
    }

    pub fn value(self, p: &PlayerStats) -> f64 {
        match self {
            Leaderboard::Kills => p.kills as f64,
            Leaderboard::Deaths => p.deaths as f64,
            Leaderboard::Kdr => p.kdr(),
            Leaderboard::LongestShot => f64::from(p.longest_kill_m.unwrap_or(0)),
            Leaderboard::HighestKillstreak => p.best_killstreak as f64,
            Leaderboard::Suicides => p.suicides.total() as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::killfeed::parse_line;

    const A: &str = "000000000000000000000000000000aa";
    const B: &str = "000000000000000000000000000000bb";

    fn kill(k: &str, v: &str) -> String {
        format!("2025.01.01-00.00.00;K;{k};V;{v};AK;10;")
    }

    fn suicide(p: &str) -> String {
        format!("2025.01.01-00.00.00;P;{p};P;{p};falling;0;")
    }

    fn stats_of(lines: &[String]) -> ServerStats {
        let parsed: Vec<_> = lines
            .iter()
            .filter_map(|l| parse_line(l.as_bytes()).ok())
            .collect();
        let mut s = ServerStats::default();
        s.apply(&parsed);
        s
    }

    #[test]
    fn streaks_end_with_any_death() {
        let lines = vec![
            kill(A, B),
            kill(A, B),
            kill(A, B),
            suicide(A),
            kill(A, B),
            kill(B, A),
            kill(B, A),
        ];
        let s = stats_of(&lines);
        let a = &s.players[A];
        assert_eq!((a.kills, a.deaths, a.suicides.fall), (4, 2, 1));
        assert_eq!((a.current_killstreak, a.best_killstreak), (0, 3));
        // Death streak: suicide (1), then a kill breaks it, then two PvP deaths.
        assert_eq!((a.current_deathstreak, a.worst_deathstreak), (2, 2));
        let b = &s.players[B];
        assert_eq!((b.current_killstreak, b.best_killstreak), (2, 2));
        assert_eq!((b.current_deathstreak, b.worst_deathstreak), (0, 4));
        assert_eq!(a.kdr(), 2.0);
        assert_eq!(b.nemesis(), Some((A, 4)));
    }

    #[test]
    fn kdr_rounds_half_up_and_is_kills_without_deaths() {
        assert_eq!(kdr(13, 8), 1.63);
        assert_eq!(kdr(9, 8), 1.13);
        assert_eq!(kdr(7, 0), 7.0);
        assert_eq!(kdr(0, 0), 0.0);
    }
}

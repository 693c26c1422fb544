//! The demo game server's life, one step at a time: the real killfeed of a live server
//! (`fixtures/deadside/killfeed/2025.05.01-00.00.00.csv`, 258 lines) replayed with fresh
//! timestamps, and the `Deadside.log` lines such a server writes around it: a player joins
//! before their first kill or death, someone leaves now and then, missions become ready and
//! airdrops fly. No real `Deadside.log` is public, so its lines follow PRODUCT.md §3.

use std::collections::BTreeMap;

use tower_ingest::timestamp::format_seconds;

/// The real killfeed the demo replays, line after line (wrapping around at its end).
const FIXTURE: &str = include_str!("../../fixtures/deadside/killfeed/2025.05.01-00.00.00.csv");

/// Missions the events feed announces (level 3 and 4), in the order they become ready.
const MISSIONS: [&str; 4] = [
    "GA_Military_02_mis1",
    "GA_Kamensk_Ind_01",
    "GA_Airport_mis2",
    "GA_Bunker_01_mis1",
];

/// Every how many steps a mission becomes ready, an airdrop flies, a player leaves.
const MISSION_EVERY: u64 = 7;
const AIRDROP_EVERY: u64 = 11;
const LEAVE_EVERY: u64 = 5;

/// What one step appends to the server's files.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Lines {
    /// Killfeed lines (with `\n`), for today's CSV.
    pub killfeed: String,
    /// `Deadside.log` lines (with `\n`).
    pub log: String,
}

/// One player of the fixture.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Player {
    name: String,
    eos_id: String,
    platform: String,
}

/// One fixture kill line, split at its first field (the time, replaced on replay).
struct FixtureLine<'a> {
    rest: &'a str,
    killer: Player,
    victim: Player,
}

/// The replay's position and who is online now.
pub struct Replay {
    lines: Vec<FixtureLine<'static>>,
    next: usize,
    step: u64,
    /// Online players by EOS id.
    online: BTreeMap<String, Player>,
}

impl Default for Replay {
    fn default() -> Self {
        Self::new()
    }
}

impl Replay {
    pub fn new() -> Self {
        let lines = FIXTURE.lines().filter_map(fixture_line).collect();
        Self {
            lines,
            next: 0,
            step: 0,
            online: BTreeMap::new(),
        }
    }

    /// The server's log as it opens (a restart), at `now` (Unix seconds).
    pub fn log_opened(now: i64) -> String {
        let stamp = format_seconds(now);
        // "Log file open, 05/03/25 02:00:00": month/day/two-digit year, from the stamp.
        let (date, time) = stamp.split_once('-').unwrap_or((&stamp, "00.00.00"));
        let mut parts = date.split('.');
        let (y, m, d) = (
            parts.next().unwrap_or("2026"),
            parts.next().unwrap_or("01"),
            parts.next().unwrap_or("01"),
        );
        let yy = y.get(2..).unwrap_or(y);
        format!("Log file open, {m}/{d}/{yy} {}\n", time.replace('.', ":"))
    }

    /// The next step, as it happens at `now` (Unix seconds).
    pub fn step(&mut self, now: i64) -> Lines {
        let mut out = Lines::default();
        if self.lines.is_empty() {
            return out;
        }
        self.step += 1;
        let line = &self.lines[self.next % self.lines.len()];
        self.next = (self.next + 1) % self.lines.len();
        let stamp = format_seconds(now);
        let (killer, victim) = (line.killer.clone(), line.victim.clone());

        // Someone who is not in this kill leaves now and then.
        if self.step.is_multiple_of(LEAVE_EVERY) {
            let leaving = self
                .online
                .keys()
                .find(|id| **id != killer.eos_id && **id != victim.eos_id)
                .cloned();
            if let Some(id) = leaving {
                self.online.remove(&id);
                out.log.push_str(&log_line(
                    &stamp,
                    &format!(
                        "UChannel::Close: Sending CloseBunch. ChIndex == 0. UniqueId: EOS:|{id}"
                    ),
                ));
            }
        }
        // Nobody kills or dies on a server they have not joined.
        for player in [killer, victim] {
            // (An environment death has no killer.)
            if player.eos_id.is_empty() || self.online.contains_key(&player.eos_id) {
                continue;
            }
            out.log.push_str(&log_line(
                &stamp,
                &format!(
                    "LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login={name}&Name={name}&eosid=|{id}&platformid={platform}:0",
                    name = url_encoded(&player.name),
                    id = player.eos_id,
                    platform = player.platform,
                ),
            ));
            out.log.push_str(&log_line(
                &stamp,
                &format!(
                    "LogOnline: Warning: Player |{} successfully registered!",
                    player.eos_id
                ),
            ));
            self.online.insert(player.eos_id.clone(), player);
        }
        if self.step.is_multiple_of(MISSION_EVERY) {
            let which = usize::try_from(self.step / MISSION_EVERY).unwrap_or(0) % MISSIONS.len();
            out.log.push_str(&log_line(
                &stamp,
                &format!("LogSFPS: Mission {} switched to READY", MISSIONS[which]),
            ));
        }
        if self.step.is_multiple_of(AIRDROP_EVERY) {
            out.log
                .push_str(&log_line(&stamp, "LogSFPS: AirDrop switched to Flying"));
        }
        out.killfeed = format!("{stamp};{}\n", line.rest);
        out
    }
}

/// `[2026.12.02-03.40.00:000][  1]message`.
fn log_line(stamp: &str, message: &str) -> String {
    format!("[{stamp}:000][  1]{message}\n")
}

/// A player name as the join request's query string carries it.
fn url_encoded(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A fixture line split into the part kept on replay and its two players.
fn fixture_line(line: &'static str) -> Option<FixtureLine<'static>> {
    let (_, rest) = line.split_once(';')?;
    let f: Vec<&str> = rest.split(';').collect();
    let platform = |i: usize| {
        f.get(i)
            .filter(|p| !p.is_empty())
            .map_or("PS5", |p| p)
            .to_owned()
    };
    let player = |name: usize, id: usize, platform_at: usize| {
        Some(Player {
            name: (*f.get(name)?).to_owned(),
            eos_id: (*f.get(id)?).to_owned(),
            platform: platform(platform_at),
        })
    };
    Some(FixtureLine {
        rest: rest.trim_end_matches(['\r', '\n']),
        killer: player(0, 1, 6)?,
        victim: player(2, 3, 7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_ingest::server_log::{LogEvent, parse_log_line};

    const NOW: i64 = 1_796_183_200; // 2026-12-02 03:46:40 UTC

    #[test]
    fn every_replayed_line_parses_with_the_fresh_time() {
        let mut replay = Replay::new();
        let (mut kills, mut joins, mut leaves, mut missions, mut airdrops) = (0, 0, 0, 0, 0);
        for i in 0..300 {
            let lines = replay.step(NOW + i);
            let kill = tower_ingest::killfeed::parse_line(lines.killfeed.trim_end().as_bytes());
            let Ok(kill) = kill else {
                panic!(
                    "replayed killfeed line does not parse: {:?}",
                    lines.killfeed
                );
            };
            assert_eq!(kill.at, NOW + i, "{}", lines.killfeed);
            kills += 1;
            for line in lines.log.lines() {
                let Some(record) = parse_log_line(line.as_bytes()) else {
                    panic!("replayed log line does not parse: {line}");
                };
                assert_eq!(record.at_ms, Some((NOW + i) * 1000), "{line}");
                match record.event {
                    LogEvent::Queued { .. } => joins += 1,
                    LogEvent::Left { .. } => leaves += 1,
                    LogEvent::Mission { .. } if record.event.is_announced() => missions += 1,
                    LogEvent::Airdrop { .. } if record.event.is_announced() => airdrops += 1,
                    _ => {}
                }
            }
        }
        assert_eq!(kills, 300);
        assert!(joins > 0 && leaves > 0, "joins {joins}, leaves {leaves}");
        // Every 7th and 11th step: all announced by the events feed.
        assert_eq!((missions, airdrops), (300 / 7, 300 / 11));
    }

    #[test]
    fn the_log_opens_with_a_restart_at_that_time() {
        let line = Replay::log_opened(NOW);
        assert_eq!(line, "Log file open, 12/02/26 03:46:40\n");
        let record = parse_log_line(line.trim_end().as_bytes());
        assert_eq!(record.map(|r| r.event), Some(LogEvent::Restart));
    }
}

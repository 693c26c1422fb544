//! `Deadside.log`: connections, missions, airdrops, helicrashes, traders, convoys and
//! restarts (PRODUCT.md §3), and the online/queue counts that follow from them.
//!
//! ```text
//! [2025.05.03-02.01.50:297][ 42]LogNet: Join request: /Game/Maps/world_0/World_0?...&Name=Njshh&eosid=|0002e69a…
//! [2025.05.03-02.01.52:004][ 43]LogOnline: Warning: Player |0002e69a… successfully registered!
//! [2025.05.03-02.31.07:511][912]UChannel::Close: Sending CloseBunch. ChIndex == 0. UniqueId: EOS:|0002e69a…
//! [2025.05.03-03.00.00:000][ 12]LogSFPS: Mission GA_Military_02_mis1 switched to READY
//! ```
//! Lines of no interest give `None`; nothing here panics, whatever the bytes.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorldEventKind {
    Helicrash,
    Trader,
    Convoy,
}

/// Something the server log says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent<'a> {
    /// A join request: the player is in the queue.
    Queued {
        eos_id: String,
        name: String,
        platform: Option<String>,
    },
    /// Registered: the player is on the server.
    Joined {
        eos_id: String,
    },
    /// The player's channel closed: they left.
    Left {
        eos_id: String,
    },
    Mission {
        name: &'a str,
        state: &'a str,
        level: u8,
    },
    Airdrop {
        state: &'a str,
    },
    WorldEvent {
        kind: WorldEventKind,
        name: &'a str,
        state: &'a str,
    },
    /// The log was (re)opened: the server restarted.
    Restart,
}

impl LogEvent<'_> {
    /// Whether the events feed announces it: missions becoming READY at level 3 or more,
    /// airdrops Flying, helicrashes, traders and convoys ACTIVE, restarts.
    pub fn is_announced(&self) -> bool {
        match self {
            LogEvent::Mission { state, level, .. } => *state == "READY" && *level >= 3,
            LogEvent::Airdrop { state } => *state == "Flying",
            LogEvent::WorldEvent { state, .. } => *state == "ACTIVE",
            LogEvent::Restart => true,
            LogEvent::Queued { .. } | LogEvent::Joined { .. } | LogEvent::Left { .. } => false,
        }
    }
}

/// A log line that matters, with its time when the line has the usual prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// Unix milliseconds, server time read as UTC.
    pub at_ms: Option<i64>,
    pub event: LogEvent<'a>,
}

/// Mission level by name (PRODUCT.md §3).
pub fn mission_level(name: &str) -> u8 {
    let lower = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["airport", "military", "bunker"]) {
        4
    } else if has(&["industrial", "chemical", "kamensk"]) {
        3
    } else if has(&["settlement", "sawmill"]) {
        2
    } else {
        1
    }
}

/// Parses one line (without its line ending).
pub fn parse_log_line(line: &[u8]) -> Option<LogRecord<'_>> {
    let text = std::str::from_utf8(line.strip_suffix(b"\r").unwrap_or(line)).ok()?;
    let (at_ms, message) = split_prefix(text);
    let event = parse_message(message)?;
    Some(LogRecord { at_ms, event })
}

/// `[2025.05.03-02.01.50:297][ 42]message` → (time, message); other lines are all message.
fn split_prefix(text: &str) -> (Option<i64>, &str) {
    let Some(rest) = text.strip_prefix('[') else {
        return (None, text);
    };
    let Some((stamp, rest)) = rest.split_once(']') else {
        return (None, text);
    };
    let at = timestamp::parse_millis(stamp.as_bytes());
    let message = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((_, m)) => m,
        None => rest,
    };
    (at, message)
}

fn parse_message(m: &str) -> Option<LogEvent<'_>> {
    if m.contains("Log file open") {
        return Some(LogEvent::Restart);
    }
    if let Some(rest) = m.strip_prefix("LogNet: Join request: ") {
        return join_request(rest);
    }
    if let Some(rest) = m.strip_prefix("LogOnline: Warning: Player |") {
        let id = rest.strip_suffix(" successfully registered!")?;
        return Some(LogEvent::Joined {
            eos_id: eos_id(id)?,
        });
    }
    if m.starts_with("UChannel::Close:") {
        let (_, id) = m.split_once("UniqueId: EOS:|")?;
        return Some(LogEvent::Left {
            eos_id: eos_id(id.split_whitespace().next()?)?,
        });
    }
    let rest = m.strip_prefix("LogSFPS: ")?;
    let (subject, state) = rest.split_once(" switched to ")?;
    let state = state.trim();
    if let Some(name) = subject.strip_prefix("Mission ") {
        return Some(LogEvent::Mission {
            name,
            state,
            level: mission_level(name),
        });
    }
    if subject == "AirDrop" {
        return Some(LogEvent::Airdrop { state });
    }
    let name = subject.strip_prefix("GameplayEvent ")?;
    let kind = if name.contains("HelicrashEvent") {
        WorldEventKind::Helicrash
    } else if name.contains("RoamingTraderEvent") {
        WorldEventKind::Trader
    } else if name.contains("ConvoyEvent") {
        WorldEventKind::Convoy
    } else {
        return None;
    };
    Some(LogEvent::WorldEvent { kind, name, state })
}

fn join_request(url: &str) -> Option<LogEvent<'static>> {
    let (_, query) = url.split_once('?')?;
    let query = query.split_whitespace().next().unwrap_or(query);
    let (mut name, mut login, mut id, mut platform) = (None, None, None, None);
    for pair in query.split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            continue;
        };
        match key {
            "Name" => name = Some(percent_decode(value)),
            "login" => login = Some(percent_decode(value)),
            "eosid" => id = eos_id(value.trim_start_matches('|')),
            "platformid" => {
                platform = value
                    .split(':')
                    .next()
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
            }
            _ => {}
        }
    }
    Some(LogEvent::Queued {
        eos_id: id?,
        name: name.or(login).unwrap_or_default(),
        platform,
    })
}

/// 32 hex characters, lowercased.
fn eos_id(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// `%41` → `A`, `+` → space; anything undecodable is kept as written.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8_lossy(&out) {
        Cow::Borrowed(s) => s.to_owned(),
        Cow::Owned(s) => s,
    }
}

/// Who is online and who is queued, since the last restart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlayerCounts {
    online: HashSet<String>,
    queued: HashSet<String>,
}

/// The most players counted online (or queued) at once. A Deadside server holds at most
/// a few hundred; a log claiming more (a hostile or broken one) would otherwise grow the
/// set saved with the log cursor until the document passes MongoDB's 16 MB.
pub const MAX_PLAYERS: usize = 2_000;

impl PlayerCounts {
    /// Counts as saved with a log cursor.
    pub fn from_ids(online: Vec<String>, queued: Vec<String>) -> Self {
        Self {
            online: online.into_iter().collect(),
            queued: queued.into_iter().collect(),
        }
    }

    /// Who is online and who is queued, sorted (to save with the log cursor).
    pub fn ids(&self) -> (Vec<String>, Vec<String>) {
        let mut online: Vec<String> = self.online.iter().cloned().collect();
        let mut queued: Vec<String> = self.queued.iter().cloned().collect();
        online.sort();
        queued.sort();
        (online, queued)
    }

    /// Applies a connection event or a restart; returns whether the counts changed.
    pub fn apply(&mut self, event: &LogEvent<'_>) -> bool {
        let before = (self.online.len(), self.queued.len());
        match event {
            LogEvent::Queued { eos_id, .. }
                if !self.online.contains(eos_id) && self.queued.len() < MAX_PLAYERS =>
            {
                self.queued.insert(eos_id.clone());
            }
            LogEvent::Joined { eos_id } => {
                self.queued.remove(eos_id);
                if self.online.len() < MAX_PLAYERS {
                    self.online.insert(eos_id.clone());
                }
            }
            LogEvent::Left { eos_id } => {
                self.queued.remove(eos_id);
                self.online.remove(eos_id);
            }
            LogEvent::Restart => {
                self.online.clear();
                self.queued.clear();
            }
            _ => {}
        }
        before != (self.online.len(), self.queued.len())
    }

    pub fn online(&self) -> usize {
        self.online.len()
    }

    pub fn queued(&self) -> usize {
        self.queued.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0002e69a65204b669c20238266782d7b";

    fn event(line: &str) -> Option<LogEvent<'_>> {
        parse_log_line(line.as_bytes()).map(|r| r.event)
    }

    #[test]
    fn connections_queue_join_leave() {
        let line = format!(
            "[2025.05.03-02.01.50:297][ 42]LogNet: Join request: /Game/Maps/world_0/World_0?logintype=eos&login=Nj%20shh&Name=Nj%20shh%E2%98%A0&eosid=|{ID}&platformid=PS5:123"
        );
        let record = parse_log_line(line.as_bytes());
        assert_eq!(
            record.as_ref().and_then(|r| r.at_ms),
            Some(1_746_237_710_297)
        );
        assert_eq!(
            record.map(|r| r.event),
            Some(LogEvent::Queued {
                eos_id: ID.to_owned(),
                name: "Nj shh☠".to_owned(),
                platform: Some("PS5".to_owned())
            })
        );
        assert_eq!(
            event(&format!(
                "[2025.05.03-02.01.52:004][ 43]LogOnline: Warning: Player |{ID} successfully registered!"
            )),
            Some(LogEvent::Joined {
                eos_id: ID.to_owned()
            })
        );
        assert_eq!(
            event(&format!(
                "[2025.05.03-02.31.07:511][912]UChannel::Close: Sending CloseBunch. ChIndex == 0. UniqueId: EOS:|{ID}"
            )),
            Some(LogEvent::Left {
                eos_id: ID.to_owned()
            })
        );
    }

    #[test]
    fn missions_airdrops_and_world_events() {
        assert_eq!(
            event(
                "[2025.05.03-03.00.00:000][ 12]LogSFPS: Mission GA_Military_02_mis1 switched to READY"
            ),
            Some(LogEvent::Mission {
                name: "GA_Military_02_mis1",
                state: "READY",
                level: 4
            })
        );
        assert_eq!(mission_level("GA_Kamensk_Ind_01"), 3);
        assert_eq!(mission_level("GA_Sawmill_mis"), 2);
        assert_eq!(mission_level("GA_Beach_mis"), 1);
        let airdrop = event("LogSFPS: AirDrop switched to Flying");
        assert!(airdrop.as_ref().is_some_and(LogEvent::is_announced));
        for (name, kind) in [
            ("BP_HelicrashEvent_C_1", WorldEventKind::Helicrash),
            ("BP_RoamingTraderEvent_C_2", WorldEventKind::Trader),
            ("BP_ConvoyEvent_C_0", WorldEventKind::Convoy),
        ] {
            let line = format!("LogSFPS: GameplayEvent {name} switched to ACTIVE");
            assert!(
                matches!(event(&line), Some(LogEvent::WorldEvent { kind: k, .. }) if k == kind)
            );
        }
        let low = event("LogSFPS: Mission GA_Beach_mis switched to READY");
        assert!(low.is_some_and(|e| !e.is_announced()));
        assert_eq!(
            event("Log file open, 05/03/25 02:01:50"),
            Some(LogEvent::Restart)
        );
        assert_eq!(
            event("[2025.05.03-03.00.00:000][ 12]LogTemp: nothing"),
            None
        );
    }

    #[test]
    fn a_log_claiming_more_players_than_a_server_holds_is_capped() {
        let mut counts = PlayerCounts::default();
        for i in 0..(MAX_PLAYERS + 500) {
            counts.apply(&LogEvent::Joined {
                eos_id: format!("{i:032x}"),
            });
            counts.apply(&LogEvent::Queued {
                eos_id: format!("q{i:031x}"),
                name: String::new(),
                platform: None,
            });
        }
        assert_eq!(
            (counts.online(), counts.queued()),
            (MAX_PLAYERS, MAX_PLAYERS)
        );
        let (online, queued) = counts.ids();
        assert_eq!((online.len(), queued.len()), (MAX_PLAYERS, MAX_PLAYERS));
    }

    #[test]
    fn counts_follow_joins_leaves_and_restarts() {
        let other = "0002aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut counts = PlayerCounts::default();
        counts.apply(&LogEvent::Queued {
            eos_id: ID.into(),
            name: String::new(),
            platform: None,
        });
        counts.apply(&LogEvent::Queued {
            eos_id: other.into(),
            name: String::new(),
            platform: None,
        });
        assert_eq!((counts.online(), counts.queued()), (0, 2));
        counts.apply(&LogEvent::Joined { eos_id: ID.into() });
        assert_eq!((counts.online(), counts.queued()), (1, 1));
        // A second join of the same player is not a second player.
        assert!(!counts.apply(&LogEvent::Joined { eos_id: ID.into() }));
        counts.apply(&LogEvent::Left {
            eos_id: other.into(),
        });
        assert_eq!((counts.online(), counts.queued()), (1, 0));
        counts.apply(&LogEvent::Restart);
        assert_eq!((counts.online(), counts.queued()), (0, 0));
    }
}

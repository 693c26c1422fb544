//! Auto-bounties (EARLIER-BOT.md §2.13), computed at ingest from the same killfeed lines
//! as the statistics: a killer who reaches the guild's kill threshold within its time
//! window without dying, or kills the same victim its repeat threshold of times within
//! it, gets a bounty placed by the bot (unless one is active on them already). The earlier
//! bot scanned every five minutes; here it happens in the batch that counts the kill.
//!
//! Each server keeps its recent kills (the longest window's worth) in one `bounty_watch`
//! document: a batch reads it, finds what its kills trigger, places those bounties under
//! ids made from the triggering line (so a batch finished again after a crash places the
//! same ones, once, and announces them), then saves the window. A batch counts its own
//! lines afresh, and a line of another batch is never counted twice.

use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::Error as MongoError;

use crate::bounties::{Bounties, BountySettings};
use crate::db::{Database, collections};
use crate::outbox::Notice;
use crate::schema::SCHEMA_VERSION;

/// Kills a server's window keeps at most (a busy server's half hour).
const WATCHED_MOST: usize = 2_000;

/// A kill as the watch keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedKill {
    /// The killfeed line's identity.
    pub line: String,
    pub killer_id: String,
    pub killer_name: String,
    pub victim_id: String,
    pub victim_name: String,
    /// Game time, Unix seconds.
    pub at: i64,
}

/// What an auto-bounty is placed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The line that reached the threshold.
    pub line: String,
    pub killer_id: String,
    pub killer_name: String,
    pub reason: String,
}

#[derive(Clone)]
pub struct AutoBounties {
    watch: Collection<Document>,
    bounties: Bounties,
}

impl AutoBounties {
    pub fn new(db: &Database) -> Self {
        Self {
            watch: db.raw().collection(collections::BOUNTY_WATCH),
            bounties: Bounties::new(db),
        }
    }

    /// Watches a live batch's counted PvP kills (in order) on a server whose guild has
    /// auto-bounties on; places what they trigger. The notices of the bounties placed.
    pub async fn watch(
        &self,
        guild_id: u64,
        server_id: &str,
        settings: &BountySettings,
        kills: &[WatchedKill],
    ) -> Result<Vec<Notice>, MongoError> {
        if kills.is_empty() || !settings.auto_bounty {
            return Ok(Vec::new());
        }
        let id = format!("{guild_id}:{server_id}");
        let stored = self.watch.find_one(doc! { "_id": &id }).await?;
        let mut window: Vec<WatchedKill> = stored
            .as_ref()
            .and_then(|d| d.get_array("kills").ok())
            .map(|kills| {
                kills
                    .iter()
                    .filter_map(Bson::as_document)
                    .filter_map(watched_of)
                    .collect()
            })
            .unwrap_or_default();
        // A batch finished again after a crash counts its own lines again (its window may
        // have been saved before the crash): the same bounties, found placed, announced.
        let own: std::collections::HashSet<&str> = kills.iter().map(|k| k.line.as_str()).collect();
        window.retain(|k| !own.contains(k.line.as_str()));
        let triggers = triggered(&mut window, kills, settings);
        let mut notices = Vec::new();
        for t in &triggers {
            if let Some(n) = self
                .bounties
                .place_auto(guild_id, server_id, t, settings.reward_amount)
                .await?
            {
                notices.push(n);
            }
        }
        // Only the longest window's worth is kept.
        let newest = window.iter().map(|k| k.at).max().unwrap_or(0);
        let keep_from = newest - 30 * 60;
        window.retain(|k| k.at >= keep_from);
        let skip = window.len().saturating_sub(WATCHED_MOST);
        let kept: Vec<Document> = window.iter().skip(skip).map(watched_doc).collect();
        self.watch
            .replace_one(
                doc! { "_id": &id },
                doc! { "_id": &id, "kills": kept, "updated_at": DateTime::now(), "schema_version": SCHEMA_VERSION },
            )
            .upsert(true)
            .await?;
        Ok(notices)
    }
}

/// Adds the kills not in `window` yet to it, in order, and returns what they trigger:
/// a killer reaching `kill_threshold` kills within the window since their last death in
/// it, or `repeat_threshold` kills of one victim within it. Each threshold triggers when
/// it is reached, not again for every kill beyond it.
pub fn triggered(
    window: &mut Vec<WatchedKill>,
    kills: &[WatchedKill],
    settings: &BountySettings,
) -> Vec<Trigger> {
    let span = settings.time_window * 60;
    let mut seen: std::collections::HashSet<String> =
        window.iter().map(|k| k.line.clone()).collect();
    let mut out = Vec::new();
    for kill in kills {
        if !seen.insert(kill.line.clone()) {
            continue;
        }
        window.push(kill.clone());
        let from = kill.at - span;
        let recent: Vec<&WatchedKill> = window.iter().filter(|k| k.at >= from).collect();
        // The killer's kills since they last died within the window.
        let last_death = recent
            .iter()
            .rposition(|k| k.victim_id == kill.killer_id)
            .map_or(0, |i| i + 1);
        let streak = recent[last_death..]
            .iter()
            .filter(|k| k.killer_id == kill.killer_id)
            .count() as i64;
        let fixation = recent
            .iter()
            .filter(|k| k.killer_id == kill.killer_id && k.victim_id == kill.victim_id)
            .count() as i64;
        let reason = if streak == settings.kill_threshold {
            Some(format!(
                "Killstreak of {streak} in {} minutes",
                settings.time_window
            ))
        } else if fixation == settings.repeat_threshold {
            Some(format!(
                "Target fixation on {} ({fixation} kills)",
                kill.victim_name
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            out.push(Trigger {
                line: kill.line.clone(),
                killer_id: kill.killer_id.clone(),
                killer_name: kill.killer_name.clone(),
                reason,
            });
        }
    }
    out
}

fn watched_doc(k: &WatchedKill) -> Document {
    doc! {
        "line": &k.line,
        "killer_id": &k.killer_id,
        "killer_name": &k.killer_name,
        "victim_id": &k.victim_id,
        "victim_name": &k.victim_name,
        "at": k.at,
    }
}

fn watched_of(d: &Document) -> Option<WatchedKill> {
    Some(WatchedKill {
        line: d.get_str("line").ok()?.to_owned(),
        killer_id: d.get_str("killer_id").ok()?.to_owned(),
        killer_name: d.get_str("killer_name").unwrap_or_default().to_owned(),
        victim_id: d.get_str("victim_id").ok()?.to_owned(),
        victim_name: d.get_str("victim_name").unwrap_or_default().to_owned(),
        at: crate::stats_store::get_i64(d, "at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kill(line: &str, killer: &str, victim: &str, at: i64) -> WatchedKill {
        WatchedKill {
            line: line.to_owned(),
            killer_id: killer.to_owned(),
            killer_name: killer.to_uppercase(),
            victim_id: victim.to_owned(),
            victim_name: victim.to_uppercase(),
            at,
        }
    }

    #[test]
    fn thresholds_trigger_once_within_the_window() {
        let settings = BountySettings {
            auto_bounty: true,
            kill_threshold: 3,
            repeat_threshold: 2,
            time_window: 10,
            reward_amount: 100,
        };
        let mut window = Vec::new();
        // a kills b, c, d within 10 minutes: a streak of 3 (b twice: a fixation first).
        let kills = [
            kill("1", "a", "b", 0),
            kill("2", "a", "c", 60),
            kill("3", "a", "b", 120),
            kill("4", "a", "d", 180),
            kill("5", "a", "e", 240),
        ];
        let t = triggered(&mut window, &kills, &settings);
        let reasons: Vec<&str> = t.iter().map(|t| t.reason.as_str()).collect();
        // The third kill reaches both thresholds: one bounty.
        assert_eq!(reasons, ["Killstreak of 3 in 10 minutes"]);
        assert_eq!(t[0].line, "3", "reached on the third kill, not again after");
        // A fixation alone.
        let mut window = Vec::new();
        let twice = [
            kill("1", "a", "b", 0),
            kill("2", "b", "c", 10),
            kill("3", "a", "b", 20),
        ];
        let t = triggered(&mut window, &twice, &settings);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].reason, "Target fixation on B (2 kills)");
        // The same lines again (a batch finished after a crash): nothing new.
        assert!(triggered(&mut window, &twice, &settings).is_empty());
        // Outside the window, or after dying, counting starts again.
        let mut window = Vec::new();
        let spread = [
            kill("1", "a", "b", 0),
            kill("2", "a", "c", 400),
            kill("3", "x", "a", 500),
            kill("4", "a", "d", 700),
            kill("5", "a", "e", 1_300),
        ];
        assert!(triggered(&mut window, &spread, &settings).is_empty());
    }
}

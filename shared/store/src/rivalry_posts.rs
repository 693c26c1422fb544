//! Rivalry posts (issue #18): after a batch, the rivalries it changed that are worth a post
//! in the killfeed channel: the lead changed hands (or was levelled), or the rivalry's
//! intensity crossed a threshold ([`THRESHOLDS`]). At most one post per pair per batch.
//!
//! What a rivalry was before the batch is worked out from what is stored after it (the
//! batch's kills taken off again), so a batch finished again after a crash finds the same
//! posts, under the same keys: each is posted once. Read once per batch that counted a
//! PvP kill: the pairs it touched, by `_id`.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::Error as MongoError;
use tower_ingest::ingest::{Chunk, kept_lines};
use tower_ingest::killfeed::KillfeedEvent;

use crate::db::{Database, collections};
use crate::outbox::Notice;
use crate::rivalries::{Rivalry, SETTLED_ABOVE};

/// Intensities a rivalry is announced at when it reaches them, with their names.
pub const THRESHOLDS: [(i64, &str); 3] = [(50, "heated"), (75, "fierce"), (90, "legendary")];

/// Why a rivalry is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Its intensity reached this threshold of [`THRESHOLDS`].
    Threshold(i64),
    /// A player took the lead (`true`: the first of the pair).
    Lead(bool),
    /// The player who was behind drew level (`true`: the first of the pair).
    Level(bool),
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Threshold(_) => "threshold",
            Change::Lead(_) => "lead",
            Change::Level(_) => "level",
        }
    }
}

/// A pair's kills of each other: (the first's, the second's).
type Kills = (i64, i64);

/// One pair's part of a batch: its kills, and its last kill (by the first?, names, weapon,
/// time).
struct PairInBatch<'a> {
    kills: Kills,
    by_first: bool,
    first: (&'a str, &'a str),
    second: (&'a str, &'a str),
    weapon: &'a str,
    at: i64,
}

#[derive(Clone)]
pub struct RivalryPosts {
    rivalries: mongodb::Collection<Document>,
}

impl RivalryPosts {
    pub fn new(db: &Database) -> Self {
        Self {
            rivalries: db.raw().collection(collections::RIVALRIES),
        }
    }

    /// The thresholds `notices` announce, by rivalry id.
    pub fn announcing(notices: &[Notice]) -> Vec<(String, i64)> {
        notices
            .iter()
            .filter(|n| n.kind == "rivalry")
            .filter_map(|n| {
                let t = n.data.get_i64("threshold").ok()?;
                Some((rivalry_id(&n.key)?.to_owned(), t))
            })
            .collect()
    }

    /// Remembers the thresholds announced on their rivalries ([`RivalryPosts::announcing`]),
    /// once their notices are stored: a batch finished again after a crash before this
    /// finds its notices stored, whatever it works out.
    pub async fn remember_announced(&self, announced: &[(String, i64)]) -> Result<(), MongoError> {
        for (pair, t) in announced {
            self.rivalries
                .update_one(doc! { "_id": pair }, doc! { "$max": { "announced": t } })
                .await?;
        }
        Ok(())
    }

    /// The posts for batch number `batch_no`'s counted (`kept`) lines, read after the batch
    /// was applied.
    pub async fn notices(
        &self,
        guild_id: u64,
        server_id: &str,
        batch_no: i64,
        batch: &[Chunk<'_>],
        kept: &[(usize, String)],
    ) -> Result<Vec<Notice>, MongoError> {
        let pairs = pairs_in(batch, kept);
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let id = |(a, b): &(&str, &str)| format!("{guild_id}:{server_id}:{a}:{b}");
        let ids: Vec<String> = pairs.keys().map(id).collect();
        let stored: Vec<Document> = self
            .rivalries
            .find(doc! { "_id": { "$in": &ids } })
            .projection(doc! { "first_kills": 1, "second_kills": 1, "last_batch": 1, "last_at": 1, "announced": 1 })
            .await?
            .try_collect()
            .await?;
        let stored: BTreeMap<&str, &Document> = stored
            .iter()
            .filter_map(|d| Some((d.get_str("_id").ok()?, d)))
            .collect();
        let mut notices = Vec::new();
        for (pair, p) in &pairs {
            let key = id(pair);
            // Only this batch's own write tells what it changed (a later batch's would
            // hide it: then nothing is posted for this one).
            let Some(d) = stored
                .get(key.as_str())
                .filter(|d| int(d, "last_batch") == batch_no)
            else {
                continue;
            };
            let after = (int(d, "first_kills"), int(d, "second_kills"));
            let before = (after.0 - p.kills.0, after.1 - p.kills.1);
            // The pair's last kill before this batch is not kept: the threshold is judged
            // as if both fights were live, so time alone never makes a post.
            let Some(change) = change(before, after, int(d, "announced")) else {
                continue;
            };
            let player = |(id, name): (&str, &str)| doc! { "id": id, "name": name };
            let mut data = doc! {
                "first": player(p.first),
                "second": player(p.second),
                "first_kills": after.0,
                "second_kills": after.1,
                "change": change.as_str(),
                "by_first": p.by_first,
                "weapon": p.weapon,
                "intensity": rivalry(after).strength() + crate::rivalries::MAX_RECENCY,
            };
            match change {
                Change::Threshold(t) => {
                    data.insert("threshold", t);
                }
                Change::Lead(first) | Change::Level(first) => {
                    data.insert("mover_first", first);
                }
            }
            notices.push(Notice {
                key: format!("r:{key}:{batch_no}"),
                guild_id,
                server_id: server_id.to_owned(),
                kind: "rivalry",
                at_ms: p.at.saturating_mul(1000),
                data,
            });
        }
        Ok(notices)
    }
}

/// The rivalry id in a rivalry notice's key (`r:{id}:{batch}`).
fn rivalry_id(key: &str) -> Option<&str> {
    key.strip_prefix("r:")?.rsplit_once(':').map(|(id, _)| id)
}

/// Why a rivalry that went from `before` to `after` kills is posted, if it is. A rivalry
/// of more than [`SETTLED_ABOVE`] kills only (the batch that settles it announces the
/// highest threshold it reached); a threshold reached wins over a lead change, and one
/// `announced` before is not announced again (intensity dips as a lead grows, and may
/// cross it again). The lead is judged on the batch's outcome: who leads after it, or who
/// was behind and is level.
pub fn change(before: Kills, after: Kills, announced: i64) -> Option<Change> {
    let settled = |k: Kills| k.0 + k.1 > SETTLED_ABOVE;
    if !settled(after) {
        return None;
    }
    let live = |k: Kills| rivalry(k).strength() + crate::rivalries::MAX_RECENCY;
    let was = if settled(before) { live(before) } else { 0 }.max(announced);
    let now = live(after);
    if let Some((t, _)) = THRESHOLDS.iter().rev().find(|(t, _)| was < *t && *t <= now) {
        return Some(Change::Threshold(*t));
    }
    let lead = |k: Kills| (k.0 - k.1).signum();
    let (from, to) = (lead(before), lead(after));
    match to {
        _ if from == to => None,
        0 => Some(Change::Level(from < 0)),
        t => Some(Change::Lead(t > 0)),
    }
}

fn rivalry((first_kills, second_kills): Kills) -> Rivalry {
    Rivalry {
        first_id: String::new(),
        second_id: String::new(),
        first_kills,
        second_kills,
        last: None,
    }
}

fn int(d: &Document, k: &str) -> i64 {
    match d.get(k) {
        Some(Bson::Int64(n)) => *n,
        Some(Bson::Int32(n)) => i64::from(*n),
        Some(Bson::Double(f)) => *f as i64,
        _ => 0,
    }
}

/// The batch's counted PvP kills by pair (in EOS id order), the last kill of each.
fn pairs_in<'c, 'a>(
    batch: &'c [Chunk<'a>],
    kept: &'c [(usize, String)],
) -> BTreeMap<(&'c str, &'c str), PairInBatch<'c>> {
    let mut pairs: BTreeMap<(&str, &str), PairInBatch<'_>> = BTreeMap::new();
    for (line, _) in kept_lines(batch, kept) {
        let KillfeedEvent::Kill {
            killer,
            victim,
            weapon,
            ..
        } = &line.event
        else {
            continue;
        };
        if killer.id == victim.id {
            continue;
        }
        let by_first = killer.id < victim.id;
        let (first, second) = match by_first {
            true => (killer, victim),
            false => (victim, killer),
        };
        let p = pairs
            .entry((first.id, second.id))
            .or_insert_with(|| PairInBatch {
                kills: (0, 0),
                by_first,
                first: (first.id, first.name.as_ref()),
                second: (second.id, second.name.as_ref()),
                weapon: weapon.as_ref(),
                at: line.at,
            });
        match by_first {
            true => p.kills.0 += 1,
            false => p.kills.1 += 1,
        }
        if line.at >= p.at {
            p.at = line.at;
            p.by_first = by_first;
            p.first = (first.id, first.name.as_ref());
            p.second = (second.id, second.name.as_ref());
            p.weapon = weapon.as_ref();
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_when_the_lead_changes_hands_or_is_levelled() {
        // 3–3 to 4–3: the first takes the lead.
        assert_eq!(change((3, 3), (4, 3), 0), Some(Change::Lead(true)));
        // 3–4 to 4–4: the first, behind, draws level.
        assert_eq!(change((3, 4), (4, 4), 0), Some(Change::Level(true)));
        // 4–3 to 5–3: was ahead already.
        assert_eq!(change((4, 3), (5, 3), 0), None);
        // 4–5 to 7–6 in one batch (three kills, then one back): the first leads now.
        assert_eq!(change((4, 5), (7, 6), 0), Some(Change::Lead(true)));
        // 5–4 to 6–6 (two back, one more): the second, behind, drew level.
        assert_eq!(change((5, 4), (6, 6), 0), Some(Change::Level(false)));
        // Unsettled (5 kills or fewer): never posted.
        assert_eq!(change((2, 2), (3, 2), 0), None);
    }

    #[test]
    fn posts_a_threshold_once_it_is_reached() {
        // 6–5 is 31 + 16 + 20 = 67 live; 5–5 was 30 + 20 + 20 = 70: nothing crossed,
        // and the first took the lead.
        assert_eq!(change((5, 5), (6, 5), 0), Some(Change::Lead(true)));
        // 14–14 is 44 + 20 + 20 = 84 live, 14–13 was 43 + 18 + 20 = 81: crossed nothing.
        assert_eq!(change((14, 13), (14, 14), 0), Some(Change::Level(false)));
        // 3–2 (unsettled) to 3–3 (66 live): the settling batch announces heated.
        assert_eq!(change((3, 2), (3, 3), 0), Some(Change::Threshold(50)));
        // A first batch of 30–30: legendary at once (the highest reached).
        assert_eq!(change((0, 0), (30, 30), 0), Some(Change::Threshold(90)));
        // 8–8 (76 live: fierce, announced) to 12–8 (73) to 12–11 (79): not fierce again.
        assert_eq!(change((8, 8), (12, 8), 75), Some(Change::Lead(true)));
        assert_eq!(change((12, 8), (12, 11), 75), None);
        assert_eq!(change((12, 8), (12, 11), 0), Some(Change::Threshold(75)));
    }
}

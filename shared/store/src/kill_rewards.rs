//! Kill rewards (issue #17; the earlier bot's amounts, EARLIER-BOT.md §1.1): a PvP kill on
//! the live killfeed pays the Discord user linked to the killer on that server 10 credits,
//! plus a distance bonus of a tenth of the metres (at most 50) from 100 m, plus a
//! killstreak bonus (15 from 3 kills, 25 at 5, 50 at 10, 100 at 15, 200 at 20, 300 from
//! 25). Paid at ingest, in the batch that counts the line, through the ledger under the
//! line's identity: a line read twice (a replay, a backfill, a worker that took over)
//! pays once. History (a first read, a backfill) pays nothing.
//!
//! A kill's streak is the killer's current streak before the batch plus their kills in
//! the batch up to that line (a death resets it), as the statistics count it. The streaks
//! before the batch are read before it is applied ([`KillRewards::prepare`]).

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::error::Error as MongoError;
use tower_ingest::ingest::{Chunk, batch_events};
use tower_ingest::killfeed::KillfeedEvent;

use crate::db::{Database, collections};
use crate::ledger::{AccountId, Entry, Ledger, Posted, Source};
use crate::player_links::PlayerLinks;

/// Credits for any PvP kill.
pub const KILL_CREDITS: i64 = 10;

/// What one kill pays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reward {
    pub base: i64,
    pub distance_bonus: i64,
    pub streak_bonus: i64,
    /// The killer's streak with this kill.
    pub streak: u64,
}

impl Reward {
    pub fn total(&self) -> i64 {
        self.base + self.distance_bonus + self.streak_bonus
    }
}

/// The earlier bot's reward for a kill at `distance_m` that makes a streak of `streak`.
pub fn reward(distance_m: u32, streak: u64) -> Reward {
    let distance_bonus = if distance_m >= 100 {
        i64::from(distance_m / 10).min(50)
    } else {
        0
    };
    let streak_bonus = match streak {
        5 => 25,
        10 => 50,
        15 => 100,
        20 => 200,
        s if s >= 25 => 300,
        s if s >= 3 => 15,
        _ => 0,
    };
    Reward {
        base: KILL_CREDITS,
        distance_bonus,
        streak_bonus,
        streak,
    }
}

/// A reward paid for one line: to whom, what, and their balance after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paid {
    pub user_id: u64,
    pub reward: Reward,
    pub balance: Option<i64>,
}

/// What [`KillRewards::prepare`] read before a batch is applied.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Killer EOS id → linked Discord user.
    holders: HashMap<String, u64>,
    /// Linked killer → (current kill streak, last batch) before this batch, as stored.
    before: HashMap<String, (u64, i64)>,
}

#[derive(Clone)]
pub struct KillRewards {
    ledger: Ledger,
    links: PlayerLinks,
    players: mongodb::Collection<Document>,
}

impl KillRewards {
    pub fn new(db: &Database) -> Self {
        Self {
            ledger: Ledger::new(db),
            links: PlayerLinks::new(db),
            players: db.raw().collection(collections::PLAYER_STATS),
        }
    }

    /// Before a batch is applied: who the killers in it are linked to, and their streaks.
    /// Nothing is read when no line is a PvP kill; one query more when a killer is linked.
    pub async fn prepare(
        &self,
        guild_id: u64,
        server_id: &str,
        batch: &[Chunk<'_>],
    ) -> Result<Prepared, MongoError> {
        let mut killers: Vec<&str> = batch_events(batch)
            .filter_map(|(line, _)| match &line.event {
                KillfeedEvent::Kill { killer, .. } => Some(killer.id),
                _ => None,
            })
            .collect();
        killers.sort_unstable();
        killers.dedup();
        if killers.is_empty() {
            return Ok(Prepared::default());
        }
        let holders = self.links.holders(guild_id, server_id, &killers).await?;
        if holders.is_empty() {
            return Ok(Prepared::default());
        }
        let linked: Vec<&str> = holders.keys().map(String::as_str).collect();
        let docs: Vec<Document> = self
            .players
            .find(doc! {
                "guild_id": guild_id.to_string(),
                "server_id": server_id,
                "player_id": { "$in": linked },
            })
            .projection(doc! { "player_id": 1, "current_killstreak": 1, "last_batch": 1 })
            .await?
            .try_collect()
            .await?;
        let before = docs
            .iter()
            .filter_map(|d| {
                Some((
                    d.get_str("player_id").ok()?.to_owned(),
                    (
                        crate::stats_store::get_u64(d, "current_killstreak"),
                        crate::stats_store::get_i64(d, "last_batch").unwrap_or(0),
                    ),
                ))
            })
            .collect();
        Ok(Prepared { holders, before })
    }

    /// After batch number `batch_no` is applied: pays each counted (`kept`) kill of a
    /// linked killer, once per line. The payments by line id.
    pub async fn pay(
        &self,
        guild_id: u64,
        server_id: &str,
        batch_no: i64,
        batch: &[Chunk<'_>],
        kept: &[(usize, String)],
        prepared: &Prepared,
    ) -> Result<HashMap<String, Paid>, MongoError> {
        let mut paid = HashMap::new();
        if prepared.holders.is_empty() {
            return Ok(paid);
        }
        let events: Vec<_> = batch_events(batch).map(|(e, _)| e).collect();
        let counted: Vec<(&tower_ingest::killfeed::KillfeedLine<'_>, &String)> = kept
            .iter()
            .filter_map(|(i, id)| Some((*events.get(*i)?, id)))
            .collect();
        let streaks = streaks_in_batch(&counted, prepared, batch_no);
        for ((line, id), streak) in counted.iter().zip(streaks) {
            let KillfeedEvent::Kill {
                killer,
                victim,
                weapon,
                distance_m,
                ..
            } = &line.event
            else {
                continue;
            };
            let Some(&user_id) = prepared.holders.get(killer.id) else {
                continue;
            };
            let r = reward(*distance_m, streak);
            let account = AccountId {
                guild_id,
                server_id: server_id.to_owned(),
                user_id,
            };
            let mut balance = None;
            let kill = Entry {
                key: format!("kill:{guild_id}:{server_id}:{id}"),
                account: account.clone(),
                amount: r.base + r.distance_bonus,
                source: Source::KillReward,
                details: format!(
                    "Killed {} ({}, {} m)",
                    victim.name.as_ref(),
                    weapon.as_ref(),
                    distance_m
                ),
                reference: (*id).clone(),
            };
            if let Posted::Applied { balance_after, .. } = self.ledger.post(&kill).await? {
                balance = balance_after;
            }
            if r.streak_bonus > 0 {
                let bonus = Entry {
                    key: format!("streak:{guild_id}:{server_id}:{id}"),
                    account,
                    amount: r.streak_bonus,
                    source: Source::KillstreakBonus,
                    details: format!("Killstreak x{}", r.streak),
                    reference: (*id).clone(),
                };
                if let Posted::Applied { balance_after, .. } = self.ledger.post(&bonus).await? {
                    balance = balance_after;
                }
            }
            paid.insert(
                (*id).clone(),
                Paid {
                    user_id,
                    reward: r,
                    balance,
                },
            );
        }
        Ok(paid)
    }
}

/// Each counted line's killer streak with it (0 for lines that are not kills). A linked
/// killer's streak before the batch is what was stored before it; when the stored
/// document already holds this batch (a batch finished after a crash), it is the stored
/// streak less the batch's own kills when the killer did not die in it, else counted
/// from 0 (the kills before that death are then counted from 0 too: the only case where a
/// bonus can differ from an uninterrupted run).
fn streaks_in_batch(
    counted: &[(&tower_ingest::killfeed::KillfeedLine<'_>, &String)],
    prepared: &Prepared,
    batch_no: i64,
) -> Vec<u64> {
    // Kills of each killer before their first death in the batch, and whether they died.
    let mut lead: HashMap<&str, (u64, bool)> = HashMap::new();
    for (line, _) in counted {
        match &line.event {
            KillfeedEvent::Kill { killer, victim, .. } => {
                let k = lead.entry(killer.id).or_default();
                if !k.1 {
                    k.0 += 1;
                }
                lead.entry(victim.id).or_default().1 = true;
            }
            KillfeedEvent::Suicide { player, .. } => lead.entry(player.id).or_default().1 = true,
            KillfeedEvent::EnvironmentDeath { victim } => {
                lead.entry(victim.id).or_default().1 = true;
            }
        }
    }
    let mut now: HashMap<&str, u64> = HashMap::new();
    let start = |id: &str| -> u64 {
        match prepared.before.get(id) {
            None => 0,
            Some(&(streak, last)) if last < batch_no => streak,
            Some(&(streak, _)) => match lead.get(id) {
                Some(&(kills, false)) => streak.saturating_sub(kills),
                _ => 0,
            },
        }
    };
    counted
        .iter()
        .map(|(line, _)| match &line.event {
            KillfeedEvent::Kill { killer, victim, .. } => {
                let s = now.entry(killer.id).or_insert_with(|| start(killer.id));
                *s += 1;
                let streak = *s;
                now.insert(victim.id, 0);
                streak
            }
            KillfeedEvent::Suicide { player, .. } => {
                now.insert(player.id, 0);
                0
            }
            KillfeedEvent::EnvironmentDeath { victim } => {
                now.insert(victim.id, 0);
                0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewards_are_the_earlier_bots() {
        assert_eq!(reward(50, 1).total(), 10);
        assert_eq!(reward(99, 2).total(), 10);
        assert_eq!(reward(100, 1).distance_bonus, 10);
        assert_eq!(reward(437, 1).distance_bonus, 43);
        assert_eq!(reward(2_000, 1).distance_bonus, 50, "capped");
        let bonus = |s| reward(0, s).streak_bonus;
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 9, 10, 11, 15, 16, 20, 21, 25, 40].map(bonus),
            [0, 0, 15, 15, 25, 15, 15, 50, 15, 100, 15, 200, 15, 300, 300]
        );
    }
}

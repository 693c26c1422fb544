//! Kill rewards (issue #17; the earlier bot's amounts, EARLIER-BOT.md §1.1): a PvP kill on
//! the live killfeed pays the Discord user linked to the killer on that server 10 credits,
//! plus a distance bonus of a tenth of the metres (at most 50) from 100 m, plus a
//! killstreak bonus (15 from 3 kills, 25 at 5, 50 at 10, 100 at 15, 200 at 20, 300 from
//! 25). Paid at ingest, in the batch that counts the line, through the ledger under the
//! line's identity: a line read twice (a replay, a backfill, a worker that took over)
//! pays once. History (a first read, a backfill) pays nothing.
//!
//! A kill's streak is the killer's current streak before the batch plus their kills in
//! the batch up to that line (a death resets it), as the statistics count it. Who the
//! killers are linked to and their streaks before the batch are read before it is applied
//! ([`KillRewards::prepare`]) and kept with the pending batch, so a batch finished again
//! after a crash pays the same users the same amounts.
//!
//! A kill read more than [`FRESH_FOR_SECS`] after it happened (a worker catching up after
//! downtime) is late: it claims and triggers no bounty, and pays only where the guild pays
//! history. A line's time is the game server's clock; how far that runs from UTC is
//! measured from the killfeed file's mtime ([`Prepared::clock_ahead`]), so a server in any
//! time zone is judged alike.
//!
//! A batch pays each user once ([`crate::ledger::Ledger::post_credits`]): one record with
//! the sum of their kills' rewards, keyed by the batch (the statistics count a line in one
//! batch only, so a line pays once), in a constant number of round trips however many
//! kills the batch holds. What each user is paid is fixed with the pending batch before
//! any account changes ([`Prepared::credits`]): that is the payment's intent, so the
//! ledger records each payment once, after it is applied.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::error::Error as MongoError;
use serde::{Deserialize, Serialize};
use tower_ingest::ingest::{Chunk, batch_events};
use tower_ingest::killfeed::KillfeedEvent;

use crate::db::{Database, collections};
use crate::ledger::{AccountId, Entry, Ledger, Source};
use crate::player_links::PlayerLinks;

/// Credits for any PvP kill.
pub const KILL_CREDITS: i64 = 10;

/// How long after it happened a kill is read and still fresh: the gateway's default
/// freshness for posts (`TOWER_NOTICE_MAX_AGE_SECS`), so a kill too old to be posted is
/// not paid either.
pub const FRESH_FOR_SECS: i64 = 600;

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
    reward_from(KILL_CREDITS, distance_m, streak)
}

/// The reward for a kill when a kill itself pays `base` (a guild's `kill_reward`).
pub fn reward_from(base: i64, distance_m: u32, streak: u64) -> Reward {
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
        base,
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

/// What a batch's live kills paid: the rewards by line id, and the bounties they claimed
/// (as notices to post with the batch's).
#[derive(Debug, Default)]
pub struct Payouts {
    pub paid: HashMap<String, Paid>,
    pub bounties: Vec<crate::outbox::Notice>,
}

/// What [`KillRewards::prepare`] read before a batch is applied, stored with the pending
/// batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepared {
    /// The batch's killers linked to a Discord user on this server.
    pub killers: Vec<LinkedKiller>,
    /// The guild's bounty settings when the batch has kills (auto-bounties).
    #[serde(default)]
    pub bounty: Option<crate::bounties::BountySettings>,
    /// What a kill pays before its bonuses (the guild's `kill_reward`; absent: 10).
    #[serde(default)]
    pub kill_credits: Option<i64>,
    /// The batch is history paid because the guild asked (`pay_history`): its kills pay
    /// their killers but claim no bounty and trigger none (they may predate them).
    #[serde(default)]
    pub history: bool,
    /// Late kills pay too (the guild's `pay_history`).
    #[serde(default)]
    pub pays_late: bool,
    /// When the batch was read (Unix seconds; 0: not known, every kill is fresh).
    #[serde(default)]
    pub read_at: i64,
    /// How far the game server's clock ran ahead of UTC then (seconds).
    #[serde(default)]
    pub clock_ahead: i64,
    /// What the batch pays each user, fixed once its lines are counted and before any
    /// account changes ([`KillRewards::credits`]): a batch finished again pays these,
    /// whatever it reads again.
    #[serde(default)]
    pub credits: Option<Vec<KillCredit>>,
}

impl Prepared {
    /// Whether a kill at `at` (the game server's time) was read more than
    /// [`FRESH_FOR_SECS`] after it happened.
    pub fn late(&self, at: i64) -> bool {
        self.read_at > 0 && self.read_at - (at - self.clock_ahead) > FRESH_FOR_SECS
    }

    /// When a kill at `at` (the game server's time) happened, in UTC; `i64::MAX` where the
    /// read's time is not known. A claim takes no kill as later than it is read
    /// ([`crate::bounties::KillSeen::at_unix`]), which also bounds a clock not measured yet
    /// that runs ahead.
    pub fn utc(&self, at: i64) -> i64 {
        if self.read_at > 0 {
            at - self.clock_ahead
        } else {
            i64::MAX
        }
    }
}

/// One user's kill rewards in one batch, as fixed before they are paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillCredit {
    /// The Discord user (a string: Discord ids use all 64 bits).
    pub user_id: String,
    pub amount: i64,
    /// The history's line ("Killed X (AK, 120 m); … (4 kills) · Killstreak x5 +25").
    pub details: String,
}

/// A killer the batch may pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedKiller {
    /// EOS id.
    pub player_id: String,
    /// The linked Discord user (a string: Discord ids use all 64 bits).
    pub user_id: String,
    /// Their kill streak before the batch, and the batch that last changed it, as stored.
    #[serde(default)]
    pub streak: i64,
    #[serde(default)]
    pub last_batch: i64,
}

#[derive(Clone)]
pub struct KillRewards {
    ledger: Ledger,
    bounties: crate::bounties::Bounties,
    auto_bounties: crate::auto_bounties::AutoBounties,
    guilds: crate::guilds::GuildStore,
    links: PlayerLinks,
    players: mongodb::Collection<Document>,
}

impl KillRewards {
    pub fn new(db: &Database) -> Self {
        Self {
            ledger: Ledger::new(db),
            bounties: crate::bounties::Bounties::new(db),
            auto_bounties: crate::auto_bounties::AutoBounties::new(db),
            guilds: crate::guilds::GuildStore::new(db),
            links: PlayerLinks::new(db),
            players: db.raw().collection(collections::PLAYER_STATS),
        }
    }

    /// Before a batch is applied: who the killers in it are linked to, and their streaks.
    /// Nothing is read when no line is a PvP kill; one query more when a killer is linked.
    /// A batch read as `history` (a first read, a backfill) pays only where the guild's
    /// admins turned that on (`pay_history`): `None` where it pays nothing.
    pub async fn prepare(
        &self,
        guild_id: u64,
        server_id: &str,
        batch: &[Chunk<'_>],
        history: bool,
    ) -> Result<Option<Prepared>, MongoError> {
        let mut prepared = self
            .read_before(guild_id, server_id, batch, history)
            .await?;
        if let Some(p) = prepared.as_mut() {
            p.history = history;
        }
        Ok(prepared)
    }

    async fn read_before(
        &self,
        guild_id: u64,
        server_id: &str,
        batch: &[Chunk<'_>],
        history: bool,
    ) -> Result<Option<Prepared>, MongoError> {
        let mut killers: Vec<&str> = batch_events(batch)
            .filter_map(|(line, _)| match &line.event {
                KillfeedEvent::Kill { killer, .. } => Some(killer.id),
                _ => None,
            })
            .collect();
        killers.sort_unstable();
        killers.dedup();
        if killers.is_empty() {
            return Ok(Some(Prepared::default()));
        }
        let guild = self.guilds.settings(guild_id).await?;
        if history && !guild.economy.pay_history {
            return Ok(None);
        }
        let bounty = Some(guild.bounty);
        let kill_credits = guild.economy.kill_reward;
        let holders = self.links.holders(guild_id, server_id, &killers).await?;
        if holders.is_empty() {
            return Ok(Some(Prepared {
                bounty,
                kill_credits,
                pays_late: guild.economy.pay_history,
                ..Prepared::default()
            }));
        }
        let mut linked: Vec<&str> = holders.keys().map(String::as_str).collect();
        linked.sort_unstable();
        // By `_id`: no index has the player's id after the server's, so a find by
        // `player_id` would go through every player of the server, each batch.
        let guild_key = guild_id.to_string();
        let ids: Vec<String> = linked
            .iter()
            .map(|p| crate::stats_store::player_doc_id(&guild_key, server_id, p))
            .collect();
        let docs: Vec<Document> = self
            .players
            .find(doc! { "_id": { "$in": &ids } })
            .projection(doc! { "player_id": 1, "current_killstreak": 1, "last_batch": 1 })
            .await?
            .try_collect()
            .await?;
        let before: HashMap<&str, &Document> = docs
            .iter()
            .filter_map(|d| Some((d.get_str("player_id").ok()?, d)))
            .collect();
        let killers = linked
            .iter()
            .filter_map(|id| {
                let d = before.get(id);
                Some(LinkedKiller {
                    player_id: (*id).to_owned(),
                    user_id: holders.get(*id)?.to_string(),
                    streak: d.map_or(0, |d| {
                        i64::try_from(crate::stats_store::get_u64(d, "current_killstreak"))
                            .unwrap_or(i64::MAX)
                    }),
                    last_batch: d.map_or(0, |d| {
                        crate::stats_store::get_i64(d, "last_batch").unwrap_or(0)
                    }),
                })
            })
            .collect();
        Ok(Some(Prepared {
            killers,
            bounty,
            kill_credits,
            pays_late: guild.economy.pay_history,
            ..Prepared::default()
        }))
    }

    /// Pays the credits fixed for batch number `batch_no` (before its lines are read
    /// again after a crash); nothing when none were fixed. Paying them again later
    /// changes nothing.
    pub async fn pay_fixed(
        &self,
        guild_id: u64,
        server_id: &str,
        batch_no: i64,
        prepared: &Prepared,
    ) -> Result<(), MongoError> {
        if let Some(credits) = prepared.credits.as_ref().filter(|c| !c.is_empty()) {
            self.ledger
                .post_credits(
                    batch_no,
                    &credit_entries(guild_id, server_id, batch_no, credits),
                )
                .await?;
        }
        Ok(())
    }

    /// What batch number `batch_no`'s counted (`kept`) kills pay each user, to keep with
    /// the pending batch before [`KillRewards::pay`] changes any account.
    pub fn credits(
        batch: &[Chunk<'_>],
        kept: &[(usize, String)],
        prepared: &Prepared,
        batch_no: i64,
    ) -> Vec<KillCredit> {
        plan(&counted(batch, kept), prepared, batch_no).1
    }

    /// After batch number `batch_no` is applied: pays each counted (`kept`) kill of a
    /// linked killer, once per line, one record per user, and claims the bounties on the
    /// victims. The payments by line id, each with the user's balance right after that
    /// line's reward.
    pub async fn pay(
        &self,
        guild_id: u64,
        server_id: &str,
        batch_no: i64,
        batch: &[Chunk<'_>],
        kept: &[(usize, String)],
        prepared: &Prepared,
    ) -> Result<Payouts, MongoError> {
        let holders = holders(prepared);
        let counted = counted(batch, kept);
        // Late kills claim and trigger no bounty (they may predate it).
        let fresh: Vec<_> = counted
            .iter()
            .filter(|(line, _)| !prepared.late(line.at))
            .collect();
        let kills: Vec<crate::bounties::KillSeen<'_>> = fresh
            .iter()
            .filter_map(|(line, id)| match &line.event {
                KillfeedEvent::Kill { killer, victim, .. } => Some(crate::bounties::KillSeen {
                    line: id.as_str(),
                    at_unix: prepared.utc(line.at),
                    killer_id: killer.id,
                    killer_name: killer.name.as_ref(),
                    victim_id: victim.id,
                }),
                _ => None,
            })
            .collect();
        let mut bounties = match prepared.history {
            true => Vec::new(),
            false => {
                self.bounties
                    .claim(guild_id, server_id, &kills, &holders)
                    .await?
            }
        };
        if let Some(settings) = prepared
            .bounty
            .filter(|s| s.auto_bounty && !prepared.history)
        {
            let watched: Vec<crate::auto_bounties::WatchedKill> = fresh
                .iter()
                .filter_map(|(line, id)| match &line.event {
                    KillfeedEvent::Kill { killer, victim, .. } => {
                        Some(crate::auto_bounties::WatchedKill {
                            line: (*id).clone(),
                            killer_id: killer.id.to_owned(),
                            killer_name: killer.name.as_ref().to_owned(),
                            victim_id: victim.id.to_owned(),
                            victim_name: victim.name.as_ref().to_owned(),
                            at: line.at,
                        })
                    }
                    _ => None,
                })
                .collect();
            bounties.extend(
                self.auto_bounties
                    .watch(guild_id, server_id, &settings, &watched)
                    .await?,
            );
        }
        if holders.is_empty() {
            return Ok(Payouts {
                paid: HashMap::new(),
                bounties,
            });
        }
        let (lines, planned) = plan(&counted, prepared, batch_no);
        let credits = prepared.credits.as_ref().unwrap_or(&planned);
        let entries = credit_entries(guild_id, server_id, batch_no, credits);
        let after = self.ledger.post_credits(batch_no, &entries).await?;
        // Each line's balance: the credit's balance after, less the user's later lines.
        let mut running: HashMap<u64, Option<i64>> = entries
            .iter()
            .zip(after)
            .map(|(e, balance)| (e.account.user_id, balance))
            .collect();
        let mut paid = HashMap::with_capacity(lines.len());
        for (id, user_id, r) in lines.into_iter().rev() {
            let balance = running.get(&user_id).copied().flatten();
            running.insert(user_id, balance.map(|b| b - r.total()));
            paid.insert(
                id.clone(),
                Paid {
                    user_id,
                    reward: r,
                    balance,
                },
            );
        }
        Ok(Payouts { paid, bounties })
    }
}

/// The ledger's entries for a batch's credits: one per user, keyed by the batch.
fn credit_entries(
    guild_id: u64,
    server_id: &str,
    batch_no: i64,
    credits: &[KillCredit],
) -> Vec<Entry> {
    credits
        .iter()
        .filter_map(|c| {
            let user_id: u64 = c.user_id.parse().ok()?;
            Some(Entry {
                key: format!("kills:{guild_id}:{server_id}:{batch_no}:{user_id}"),
                account: AccountId {
                    guild_id,
                    server_id: server_id.to_owned(),
                    user_id,
                },
                amount: c.amount,
                source: Source::KillReward,
                details: c.details.clone(),
                reference: format!("batch {batch_no}"),
            })
        })
        .collect()
}

/// The linked killers' users by EOS id.
fn holders(prepared: &Prepared) -> HashMap<&str, u64> {
    prepared
        .killers
        .iter()
        .filter_map(|k| Some((k.player_id.as_str(), k.user_id.parse().ok()?)))
        .collect()
}

/// The batch's counted lines (`kept`), each with its id.
fn counted<'c, 'a, 'k>(
    batch: &'c [Chunk<'a>],
    kept: &'k [(usize, String)],
) -> Vec<(&'c tower_ingest::killfeed::KillfeedLine<'a>, &'k String)> {
    let events: Vec<_> = batch_events(batch).map(|(e, _)| e).collect();
    kept.iter()
        .filter_map(|(i, id)| Some((*events.get(*i)?, id)))
        .collect()
}

/// One user's paid kills in a batch, while it is planned.
#[derive(Default)]
struct UserKills {
    user_id: u64,
    amount: i64,
    /// Each kill as the history shows it.
    kills: Vec<String>,
    /// Each streak bonus: its text and amount.
    bonuses: Vec<(String, i64)>,
}

/// What the counted lines pay: each paid line (its id, the user, the reward) in batch
/// order, and each user's credit.
fn plan<'k>(
    counted: &[(&tower_ingest::killfeed::KillfeedLine<'_>, &'k String)],
    prepared: &Prepared,
    batch_no: i64,
) -> (Vec<(&'k String, u64, Reward)>, Vec<KillCredit>) {
    let holders = holders(prepared);
    let streaks = streaks_in_batch(counted, prepared, batch_no);
    let mut lines = Vec::new();
    // Each user's kills (their history text) and streak bonuses, in order of first kill.
    let mut users: Vec<UserKills> = Vec::new();
    let mut user_at: HashMap<u64, usize> = HashMap::new();
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
        let Some(&user_id) = holders.get(killer.id) else {
            continue;
        };
        if prepared.late(line.at) && !prepared.pays_late {
            continue;
        }
        let r = reward_from(
            prepared.kill_credits.unwrap_or(KILL_CREDITS),
            *distance_m,
            streak,
        );
        let at = *user_at.entry(user_id).or_insert_with(|| {
            users.push(UserKills {
                user_id,
                ..UserKills::default()
            });
            users.len() - 1
        });
        let user = &mut users[at];
        user.amount += r.total();
        user.kills.push(format!(
            "Killed {} ({}, {} m)",
            victim.name.as_ref(),
            weapon.as_ref(),
            distance_m
        ));
        if r.streak_bonus > 0 {
            user.bonuses
                .push((format!("Killstreak x{}", r.streak), r.streak_bonus));
        }
        lines.push((*id, user_id, r));
    }
    let credits = users
        .into_iter()
        .map(|u| KillCredit {
            user_id: u.user_id.to_string(),
            amount: u.amount,
            details: credit_details(&u.kills, &u.bonuses),
        })
        .collect();
    (lines, credits)
}

/// A batch's rewards for one user, as the history shows them: the first few kills, how
/// many when more than one, and the streak bonuses.
fn credit_details(kills: &[String], bonuses: &[(String, i64)]) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<&str> = kills.iter().take(SHOWN).map(String::as_str).collect();
    let mut text = shown.join("; ");
    if kills.len() > SHOWN {
        text.push_str("; …");
    }
    if kills.len() > 1 {
        text.push_str(&format!(" ({} kills)", kills.len()));
    }
    if let Some((last, _)) = bonuses.last() {
        let total: i64 = bonuses.iter().map(|(_, amount)| amount).sum();
        text.push_str(&format!(" · {last} +{total}"));
    }
    text
}

/// Each counted line's killer streak with it (0 for lines that are not kills). A linked
/// killer's streak before the batch is what was read before it (kept with the pending
/// batch). Only when it was read after the batch was applied (a batch recorded pending by
/// an older build, finished after a crash) does the stored document already hold the
/// batch: then it is the stored streak less the batch's own kills when the killer did not
/// die in it, else counted from 0.
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
    let before: HashMap<&str, (u64, i64)> = prepared
        .killers
        .iter()
        .map(|k| {
            (
                k.player_id.as_str(),
                (u64::try_from(k.streak).unwrap_or(0), k.last_batch),
            )
        })
        .collect();
    let mut now: HashMap<&str, u64> = HashMap::new();
    let start = |id: &str| -> u64 {
        match before.get(id) {
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

//! The durable notification outbox (`notifications`): what the gateway-shards post —
//! kills, suicides, environment deaths, game events, connections, player counts.
//!
//! Each notification has a stable `_id` derived from what it reports (a kill line's
//! identity, a log line's position in its log), so writing it twice — a replayed batch, a
//! worker taking over a server — stores it once. Each also gets a global, increasing `seq`
//! from a counter: subscribers read in `seq` order and resume after what they acknowledged
//! (see [`crate::subscription`]). Numbers are reserved before the insert, so a higher number
//! can be stored before a lower one; a reader passes such a gap and keeps looking for the
//! lower number. A writer whose reservation is older than [`RESERVATION_TTL`] when it
//! stores takes fresh numbers, so a number a reader has stopped looking for
//! ([`crate::subscription::GAP_MEMORY`]) is never stored.

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::{FindOneAndUpdateOptions, InsertManyOptions, ReturnDocument};

use crate::db::{Database, collections};
use crate::schema::SCHEMA_VERSION;
use tower_ingest::ingest::{Chunk, batch_events};
use tower_ingest::killfeed::KillfeedEvent;

/// One notification to store.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Stable identity (see the module docs).
    pub key: String,
    pub guild_id: u64,
    pub server_id: String,
    /// `kill`, `suicide`, `environment`, `event`, `connection`, `player_count`, `bounty`,
    /// `jackpot`, `rivalry`, `highlight`.
    pub kind: &'static str,
    pub at_ms: i64,
    pub data: Document,
}

/// A stored notification, as [`Outbox::recent`] reads it back.
#[derive(Debug, Clone)]
pub struct RecentNotice {
    pub at_ms: i64,
    pub data: Document,
}

/// How long reserved sequence numbers stay usable: a writer stalled longer (a paused
/// process, a slow database) reserves again, well before readers stop looking for them.
pub const RESERVATION_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Notices with their sequence numbers reserved, ready to be stored ([`Reserved::store`]).
pub struct Reserved<'a> {
    outbox: &'a Outbox,
    notices: Vec<Notice>,
    /// The last of the reserved numbers (the first is `last - len + 1`).
    last: i64,
    at: std::time::Instant,
}

#[derive(Clone)]
pub struct Outbox {
    notifications: mongodb::Collection<Document>,
    counters: mongodb::Collection<Document>,
}

impl Outbox {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            notifications: raw.collection(collections::NOTIFICATIONS),
            counters: raw.collection(collections::COUNTERS),
        }
    }

    /// Notices for the killfeed lines a batch counted, with the rewards `paid` for them.
    pub fn kill_notices(
        guild_id: u64,
        server_id: &str,
        batch: &[Chunk<'_>],
        kept: &[(usize, String)],
        paid: &std::collections::HashMap<String, crate::kill_rewards::Paid>,
    ) -> Vec<Notice> {
        let events: Vec<_> = batch_events(batch).map(|(e, _)| e).collect();
        let recorded = tower_ingest::ingest::batch_recorded(batch);
        kept.iter()
            .filter_map(|(i, id)| Some((*events.get(*i)?, id, recorded.get(*i).copied().flatten())))
            .map(|(line, id, recorded)| {
                let key = format!("k:{id}");
                let (kind, data) = match &line.event {
                    KillfeedEvent::Kill { killer, victim, weapon, distance_m, roadkill } => (
                        "kill",
                        doc! {
                            "killer": { "id": killer.id, "name": killer.name.as_ref(), "platform": killer.platform },
                            "victim": { "id": victim.id, "name": victim.name.as_ref(), "platform": victim.platform },
                            "weapon": weapon.as_ref(), "distance_m": i64::from(*distance_m), "roadkill": *roadkill,
                        },
                    ),
                    KillfeedEvent::Suicide { player, kind, cause } => (
                        "suicide",
                        doc! {
                            "player": { "id": player.id, "name": player.name.as_ref(), "platform": player.platform },
                            "suicide_kind": kind.as_str(), "cause": cause.as_ref(),
                        },
                    ),
                    KillfeedEvent::EnvironmentDeath { victim } => (
                        "environment",
                        doc! { "player": { "id": victim.id, "name": victim.name.as_ref(), "platform": victim.platform } },
                    ),
                };
                let mut data = data;
                if let Some(r) = recorded {
                    data.insert("recorded", doc! { "by": r.by.to_string(), "location": r.location.as_deref() });
                }
                if let Some(p) = paid.get(id.as_str()) {
                    let mut reward = doc! {
                        "user_id": p.user_id.to_string(),
                        "credits": p.reward.base,
                        "distance_bonus": p.reward.distance_bonus,
                        "streak_bonus": p.reward.streak_bonus,
                        "streak": i64::try_from(p.reward.streak).unwrap_or(i64::MAX),
                    };
                    if let Some(b) = p.balance {
                        reward.insert("balance", b);
                    }
                    data.insert("reward", reward);
                }
                Notice { key, guild_id, server_id: server_id.to_owned(), kind, at_ms: line.at.saturating_mul(1000), data }
            })
            .collect()
    }

    /// Stores notices (each once, whatever the retries).
    pub async fn add(&self, notices: Vec<Notice>) -> Result<(), mongodb::error::Error> {
        match self.reserve(notices).await? {
            Some(reserved) => reserved.store().await,
            None => Ok(()),
        }
    }

    /// Reserves sequence numbers for the notices not stored yet (`None`: all are).
    pub async fn reserve(
        &self,
        notices: Vec<Notice>,
    ) -> Result<Option<Reserved<'_>>, mongodb::error::Error> {
        if notices.is_empty() {
            return Ok(None);
        }
        // Already stored (a replay): not given a new sequence number, which would leave a
        // gap that subscribers look for.
        let keys: Vec<&str> = notices.iter().map(|n| n.key.as_str()).collect();
        let existing: std::collections::HashSet<String> = self
            .notifications
            .find(doc! { "_id": { "$in": keys } })
            .projection(doc! { "_id": 1 })
            .await?
            .try_collect::<Vec<Document>>()
            .await?
            .into_iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect();
        let notices: Vec<Notice> = notices
            .into_iter()
            .filter(|n| !existing.contains(&n.key))
            .collect();
        if notices.is_empty() {
            return Ok(None);
        }
        let last = self.reserve_numbers(notices.len()).await?;
        Ok(Some(Reserved {
            outbox: self,
            notices,
            last,
            at: std::time::Instant::now(),
        }))
    }

    /// Reserves `n` sequence numbers; returns the last of them.
    async fn reserve_numbers(&self, n: usize) -> Result<i64, mongodb::error::Error> {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let counter = self
            .counters
            .find_one_and_update(
                doc! { "_id": "notifications" },
                doc! { "$inc": { "seq": n } },
            )
            .with_options(
                FindOneAndUpdateOptions::builder()
                    .upsert(true)
                    .return_document(ReturnDocument::After)
                    .build(),
            )
            .await?;
        Ok(counter.and_then(|c| c.get_i64("seq").ok()).unwrap_or(n))
    }

    /// A server's notifications of one kind stamped from `from_ms` to `until_ms` (game
    /// clock, both included), oldest first, at most `limit`; and how many there are.
    pub async fn between(
        &self,
        (guild_id, server_id): (u64, &str),
        kind: &str,
        (from_ms, until_ms): (i64, i64),
        limit: i64,
    ) -> Result<(Vec<RecentNotice>, u64), mongodb::error::Error> {
        let filter = doc! {
            "guild_id": guild_id.to_string(), "server_id": server_id, "kind": kind,
            "at": { "$gte": DateTime::from_millis(from_ms), "$lte": DateTime::from_millis(until_ms) },
        };
        let count = self.notifications.count_documents(filter.clone()).await?;
        let docs: Vec<Document> = self
            .notifications
            .find(filter)
            .sort(doc! { "at": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        let notices = docs
            .into_iter()
            .map(|d| RecentNotice {
                at_ms: d.get_datetime("at").map_or(0, |t| t.timestamp_millis()),
                data: d.get_document("data").cloned().unwrap_or_default(),
            })
            .collect();
        Ok((notices, count))
    }

    /// A server's latest notifications of one kind (`event`, `connection`, …), newest first;
    /// `event` narrows game events to one type (`mission`, `airdrop`, …).
    pub async fn recent(
        &self,
        guild_id: u64,
        server_id: &str,
        kind: &str,
        event: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RecentNotice>, mongodb::error::Error> {
        let mut filter =
            doc! { "guild_id": guild_id.to_string(), "server_id": server_id, "kind": kind };
        if let Some(event) = event {
            filter.insert("data.event", event);
        }
        let docs: Vec<Document> = self
            .notifications
            .find(filter)
            .sort(doc! { "at": -1 })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        Ok(docs
            .into_iter()
            .map(|d| RecentNotice {
                at_ms: d.get_datetime("at").map_or(0, |t| t.timestamp_millis()),
                data: d.get_document("data").cloned().unwrap_or_default(),
            })
            .collect())
    }
}

impl Reserved<'_> {
    /// Stores the notices under their numbers — fresh ones if the reservation is older than
    /// [`RESERVATION_TTL`], as readers may have stopped looking for the old ones.
    pub async fn store(self) -> Result<(), mongodb::error::Error> {
        let n = i64::try_from(self.notices.len()).unwrap_or(i64::MAX);
        let last = if self.at.elapsed() > RESERVATION_TTL {
            tracing::info!(
                count = n,
                "notification numbers reserved too long ago; reserving again"
            );
            self.outbox.reserve_numbers(self.notices.len()).await?
        } else {
            self.last
        };
        let now = DateTime::now();
        let docs: Vec<Document> = self
            .notices
            .into_iter()
            .zip(last - n + 1..)
            .map(|(notice, seq)| {
                doc! {
                    "_id": notice.key,
                    "seq": seq,
                    "guild_id": notice.guild_id.to_string(),
                    "server_id": notice.server_id,
                    "kind": notice.kind,
                    "at": DateTime::from_millis(notice.at_ms),
                    "data": notice.data,
                    "created_at": now,
                    "schema_version": SCHEMA_VERSION,
                }
            })
            .collect();
        match self
            .outbox
            .notifications
            .insert_many(docs)
            .with_options(InsertManyOptions::builder().ordered(false).build())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if crate::db::is_duplicate_key(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

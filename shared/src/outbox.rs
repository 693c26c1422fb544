//! The durable notification outbox (`notifications`): what the gateway-shards post —
//! kills, suicides, environment deaths, game events, connections, player counts.
//!
//! Each notification has a stable `_id` derived from what it reports (a kill line's
//! identity, a log line's position in its log), so writing it twice — a replayed batch, a
//! worker taking over a server — stores it once. Each also gets a global, increasing `seq`
//! from a counter: subscribers read in `seq` order and resume after the last one they
//! acknowledged. Numbers are reserved before the insert, so for a moment a higher number
//! can be stored before a lower one: readers wait at a gap ([`GAP_GRACE`] at most, after
//! which the reservation counts as abandoned, e.g. by a worker that died in between).
//!
//! [`GAP_GRACE`]: GAP_GRACE

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::options::{FindOneAndUpdateOptions, InsertManyOptions, ReturnDocument};

use crate::db::{Database, collections};
use crate::ingest::{Chunk, batch_events};
use crate::killfeed::KillfeedEvent;
use crate::schema::SCHEMA_VERSION;

/// One notification to store.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Stable identity (see the module docs).
    pub key: String,
    pub guild_id: u64,
    pub server_id: String,
    /// `kill`, `suicide`, `environment`, `event`, `connection`, `player_count`.
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

/// How long a subscriber's acknowledgement counts for a new subscriber of its family: well
/// within the week delivery records are kept, so what was posted is still recognised.
const FAMILY_MEMORY: std::time::Duration = std::time::Duration::from_secs(3 * 24 * 3600);

/// `text` with the characters that mean something in a regular expression escaped.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.^$|?*+()[]{}".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// How long a reader waits for a missing sequence number before skipping it.
pub const GAP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub struct Outbox {
    notifications: mongodb::Collection<Document>,
    counters: mongodb::Collection<Document>,
    acks: mongodb::Collection<Document>,
}

impl Outbox {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            notifications: raw.collection(collections::NOTIFICATIONS),
            counters: raw.collection(collections::COUNTERS),
            acks: raw.collection(collections::NOTIFICATION_ACKS),
        }
    }

    /// Notices for the killfeed lines a batch counted.
    pub fn kill_notices(
        guild_id: u64,
        server_id: &str,
        batch: &[Chunk<'_>],
        kept: &[(usize, String)],
    ) -> Vec<Notice> {
        let events: Vec<_> = batch_events(batch).map(|(e, _)| e).collect();
        kept.iter()
            .filter_map(|(i, id)| Some((*events.get(*i)?, id)))
            .map(|(line, id)| {
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
                Notice { key, guild_id, server_id: server_id.to_owned(), kind, at_ms: line.at.saturating_mul(1000), data }
            })
            .collect()
    }

    /// Stores notices (each once, whatever the retries).
    pub async fn add(&self, notices: Vec<Notice>) -> Result<(), mongodb::error::Error> {
        if notices.is_empty() {
            return Ok(());
        }
        // Already stored (a replay): not given a new sequence number, which would leave a
        // gap that subscribers wait on.
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
            return Ok(());
        }
        let n = i64::try_from(notices.len()).unwrap_or(i64::MAX);
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
        let last = counter.and_then(|c| c.get_i64("seq").ok()).unwrap_or(n);
        let docs: Vec<Document> = notices
            .into_iter()
            .enumerate()
            .map(|(i, notice)| {
                doc! {
                    "_id": notice.key,
                    "seq": last - n + 1 + i as i64,
                    "guild_id": notice.guild_id.to_string(),
                    "server_id": notice.server_id,
                    "kind": notice.kind,
                    "at": DateTime::from_millis(notice.at_ms),
                    "data": notice.data,
                    "created_at": DateTime::now(),
                    "schema_version": SCHEMA_VERSION,
                }
            })
            .collect();
        match self
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

    /// Notifications after `seq`, oldest first.
    pub async fn after(
        &self,
        seq: i64,
        limit: i64,
    ) -> Result<Vec<Document>, mongodb::error::Error> {
        self.notifications
            .find(doc! { "seq": { "$gt": seq } })
            .sort(doc! { "seq": 1 })
            .limit(limit)
            .await?
            .try_collect()
            .await
    }

    /// Where a subscriber resumes: after its last acknowledged `seq`. A subscriber that never
    /// acknowledged starts where the slowest subscriber of its family (`gateway:…`, other
    /// shard layouts of the same bot) acknowledged within the last three days: after re-sharding,
    /// every guild the new layout serves resumes after what its old layout posted (what
    /// was posted already is skipped by its delivery record). With no such subscriber it
    /// starts after the newest notification stored now (a new bot is not sent the whole
    /// history). The point is recorded at once as its acknowledgement, so that a reconnect
    /// before its first ack does not skip what came meanwhile.
    pub async fn resume_point(&self, subscriber: &str) -> Result<i64, mongodb::error::Error> {
        if let Some(seq) = self
            .acks
            .find_one(doc! { "_id": subscriber })
            .await?
            .and_then(|d| d.get_i64("seq").ok())
        {
            return Ok(seq);
        }
        let week_ago = DateTime::from_millis(
            DateTime::now()
                .timestamp_millis()
                .saturating_sub(FAMILY_MEMORY.as_millis() as i64),
        );
        let family = subscriber
            .split_once(':')
            .map(|(family, _)| format!("^{}:", regex_escape(family)));
        let earliest = match family {
            Some(prefix) => self
                .acks
                .find_one(doc! {
                    "_id": { "$regex": prefix },
                    // Acknowledgements of earlier builds carry no time: they count.
                    "$or": [{ "at": { "$gte": week_ago } }, { "at": { "$exists": false } }],
                })
                .sort(doc! { "seq": 1 })
                .await?
                .and_then(|d| d.get_i64("seq").ok()),
            None => None,
        };
        let start = match earliest {
            Some(seq) => seq,
            None => self
                .notifications
                .find_one(doc! {})
                .sort(doc! { "seq": -1 })
                .projection(doc! { "seq": 1 })
                .await?
                .and_then(|d| d.get_i64("seq").ok())
                .unwrap_or(0),
        };
        self.ack(subscriber, start).await?;
        Ok(start)
    }

    /// Records that a subscriber has everything up to `seq` (never moves back).
    pub async fn ack(&self, subscriber: &str, seq: i64) -> Result<(), mongodb::error::Error> {
        self.acks
            .update_one(
                doc! { "_id": subscriber },
                doc! {
                    "$max": { "seq": Bson::Int64(seq) },
                    "$set": { "at": DateTime::now(), "schema_version": SCHEMA_VERSION },
                },
            )
            .upsert(true)
            .await?;
        Ok(())
    }
}

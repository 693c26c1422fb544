//! Delivery records and claims: which message carries which notifications, so that each
//! notification is posted once — across crashes, and across two gateway processes serving
//! the same shards (a rolling deploy), which batch the same notifications differently.
//!
//! A message is posted only by whoever claims every notification it carries:
//! 1. its record (`deliveries`, `_id` = the message's nonce, with its channel and body) is
//!    written in state `claiming`;
//! 2. one claim per notification (`delivery_claims`, `_id` = the notification's cursor,
//!    holding the nonce) is inserted. `_id` is unique, so one notification is claimed by
//!    one message. A message some of whose notifications another message claimed is
//!    [`Claim::Contended`]: its own claims are released, its record `dropped`, and the
//!    batch is planned again without what the other carries;
//! 3. state `sending`, the post (nonce, `enforce_nonce`), state `sent`.
//!
//! A record `claiming` or `sending` for less than the claim timeout (`gateway.claim_timeout_secs`) is a live process's
//! work in flight: its notifications count as carried. Older, its process died: a
//! `sending` one is finished — Discord recognises a nonce for a few minutes only, so the
//! channel's recent messages are checked before it is posted again (`posting`) — and a
//! `claiming` one is finished if it holds all of its claims, else released. Records are
//! met again when their notifications come again, and swept ([`Deliveries::interrupted`]).

use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::InsertManyOptions;

use tower_store::db::{Database, collections};
use tower_store::schema::SCHEMA_VERSION;

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Record written, claims being inserted.
    Claiming,
    /// Claims held; being posted (or interrupted while posted).
    Sending,
    /// Posted.
    Sent,
    /// Not posted, and not to be: too old, or its channel refuses the bot.
    Unposted,
    /// Given up for another message that carries some of the same notifications.
    Dropped,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Claiming => "claiming",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Unposted => "unposted",
            Self::Dropped => "dropped",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "claiming" => Self::Claiming,
            "sending" => Self::Sending,
            "dropped" => Self::Dropped,
            "sent" => Self::Sent,
            _ => Self::Unposted,
        }
    }
}

/// One message's delivery record.
#[derive(Debug, Clone)]
pub struct Record {
    pub nonce: String,
    pub channel: u64,
    pub guild: u64,
    pub cursors: Vec<String>,
    pub body: String,
    pub state: State,
    /// When the record was written.
    pub at: DateTime,
}

impl Record {
    fn parse(d: &Document) -> Option<Self> {
        Some(Self {
            nonce: d.get_str("_id").ok()?.to_owned(),
            channel: d
                .get_i64("channel")
                .ok()
                .and_then(|c| u64::try_from(c).ok())
                .unwrap_or(0),
            guild: d
                .get_str("guild_id")
                .ok()
                .and_then(|g| g.parse().ok())
                .unwrap_or(0),
            cursors: d
                .get_array("cursors")
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            body: d.get_str("body").unwrap_or_default().to_owned(),
            state: State::parse(d.get_str("state").unwrap_or_default()),
            at: d
                .get_datetime("at")
                .copied()
                .unwrap_or_else(|_| DateTime::from_millis(0)),
        })
    }
}

/// A message about to be claimed.
pub struct Outgoing<'a> {
    pub subscriber: &'a str,
    pub nonce: &'a str,
    pub channel: u64,
    pub guild: u64,
    pub cursors: &'a [&'a str],
    pub body: &'a str,
}

/// What claiming a message gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// Every notification is this message's: post it.
    Held,
    /// Another message holds some of them: not posted; plan the batch again.
    Contended,
}

#[derive(Clone)]
pub struct Deliveries {
    records: mongodb::Collection<Document>,
    claims: mongodb::Collection<Document>,
    /// How long a message may stay claimed and unsent (`claiming`, `sending`) before any
    /// process settles it (`gateway.claim_timeout_secs`): until then it is some live
    /// process's work in flight (claiming takes two round trips; each post attempt renews
    /// the time), later its process died.
    claim_timeout: Duration,
}

impl Deliveries {
    pub fn new(db: &Database, claim_timeout: Duration) -> Self {
        Self {
            records: db.raw().collection(collections::DELIVERIES),
            claims: db.raw().collection(collections::DELIVERY_CLAIMS),
            claim_timeout,
        }
    }

    /// True while a claimed, unsent message may still be a live process's work.
    pub fn in_flight(&self, record: &Record) -> bool {
        let age_ms = DateTime::now()
            .timestamp_millis()
            .saturating_sub(record.at.timestamp_millis());
        matches!(record.state, State::Claiming | State::Sending)
            && u128::try_from(age_ms).unwrap_or(0) < self.claim_timeout.as_millis()
    }

    /// The records of messages that carry any of `cursors`, whoever wrote them: after
    /// re-sharding, the new layout skips what the old one posted.
    pub async fn carrying(&self, cursors: &[&str]) -> Result<Vec<Record>, mongodb::error::Error> {
        let docs: Vec<Document> = self
            .records
            .find(doc! { "cursors": { "$in": cursors } })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(Record::parse).collect())
    }

    /// Messages left claimed and unsent for longer than the claim timeout, whoever wrote
    /// them (another shard layout too): their process died, or a restart acknowledged past
    /// them while they were in flight. Settling one starts with [`Self::take_over`].
    pub async fn interrupted(&self) -> Result<Vec<Record>, mongodb::error::Error> {
        let before = tower_store::db::ago(self.claim_timeout);
        let docs: Vec<Document> = self
            .records
            .find(doc! {
                "state": { "$in": ["claiming", "sending"] },
                "at": { "$lt": before },
            })
            .limit(100)
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(Record::parse).collect())
    }

    /// Claims every notification of `message` for it (see the module docs).
    pub async fn claim(&self, message: &Outgoing<'_>) -> Result<Claim, mongodb::error::Error> {
        // A new record, or one dropped earlier; any other record with this nonce is the
        // same message in someone's hands (the upsert then fails on `_id`).
        let written = self
            .records
            .update_one(
                doc! { "_id": message.nonce, "state": "dropped" },
                doc! { "$set": {
                    "subscriber": message.subscriber,
                    "channel": i64::try_from(message.channel).unwrap_or(i64::MAX),
                    "guild_id": message.guild.to_string(),
                    "cursors": message.cursors,
                    "body": message.body,
                    "state": "claiming",
                    "at": DateTime::now(),
                    "schema_version": SCHEMA_VERSION,
                } },
            )
            .upsert(true)
            .await;
        match written {
            Ok(_) => {}
            Err(e) if tower_store::db::is_duplicate_key(&e) => return Ok(Claim::Contended),
            Err(e) => return Err(e),
        }
        let now = DateTime::now();
        let claims: Vec<Document> = message
            .cursors
            .iter()
            .map(|c| doc! { "_id": *c, "nonce": message.nonce, "at": now })
            .collect();
        for attempt in 0..2 {
            let inserted = self
                .claims
                .insert_many(claims.clone())
                .with_options(InsertManyOptions::builder().ordered(false).build())
                .await;
            match inserted {
                Ok(_) => break,
                Err(e) if tower_store::db::is_duplicate_key(&e) => {
                    // Claimed before: by this message (a retry), by a message that was
                    // given up but not yet cleared, or by a live one.
                    if self.holds_all(message.nonce, message.cursors).await? {
                        break;
                    }
                    if attempt == 0 && self.clear_stale(message.nonce, message.cursors).await? {
                        continue;
                    }
                    self.release(message.nonce).await?;
                    return Ok(Claim::Contended);
                }
                Err(e) => return Err(e),
            }
        }
        // Only from `claiming`: another process may have settled this record as released.
        if self.advance(message.nonce, "claiming", "sending").await? {
            Ok(Claim::Held)
        } else {
            Ok(Claim::Contended)
        }
    }

    /// Deletes claims on `cursors` held by messages that were given up (dropped, or with no
    /// record): a release interrupted between its two steps. `true` if any went.
    async fn clear_stale(
        &self,
        nonce: &str,
        cursors: &[&str],
    ) -> Result<bool, mongodb::error::Error> {
        let others: Vec<Document> = self
            .claims
            .find(doc! { "_id": { "$in": cursors }, "nonce": { "$ne": nonce } })
            .await?
            .try_collect()
            .await?;
        let mut nonces: Vec<&str> = others
            .iter()
            .filter_map(|c| c.get_str("nonce").ok())
            .collect();
        nonces.sort_unstable();
        nonces.dedup();
        let mut cleared = false;
        for other in nonces {
            let live = self
                .records
                .find_one(doc! { "_id": other, "state": { "$ne": "dropped" } })
                .await?
                .is_some();
            if !live {
                self.claims.delete_many(doc! { "nonce": other }).await?;
                cleared = true;
            }
        }
        Ok(cleared)
    }

    /// Takes a message left in flight by a process that died, so that one process settles
    /// it: `true` if this one won (its time is renewed, so no one else takes it meanwhile).
    pub async fn take_over(&self, record: &Record) -> Result<bool, mongodb::error::Error> {
        let taken = self
            .records
            .update_one(
                doc! { "_id": &record.nonce, "state": record.state.as_str(), "at": record.at },
                doc! { "$set": { "at": DateTime::now() } },
            )
            .await?;
        Ok(taken.matched_count == 1)
    }

    /// Renews a message's time while it is being posted: it is still in flight.
    pub async fn touch(&self, nonce: &str) -> Result<(), mongodb::error::Error> {
        self.records
            .update_one(
                doc! { "_id": nonce, "state": "sending" },
                doc! { "$set": { "at": DateTime::now() } },
            )
            .await?;
        Ok(())
    }

    /// Settles a record left `claiming` by a process that died: `true` (now `sending`, to
    /// be finished) if it holds every claim, else released.
    pub async fn settle(&self, record: &Record) -> Result<bool, mongodb::error::Error> {
        let cursors: Vec<&str> = record.cursors.iter().map(String::as_str).collect();
        if self.holds_all(&record.nonce, &cursors).await? {
            self.advance(&record.nonce, "claiming", "sending").await
        } else {
            self.release(&record.nonce).await?;
            Ok(false)
        }
    }

    /// Records that the message went out (or can never go out).
    pub async fn sent(&self, nonce: &str) -> Result<(), mongodb::error::Error> {
        self.set_state(nonce, "sent").await
    }

    /// Records notifications that are not to be posted (`state`: why), once: `false` if
    /// `id` was recorded before.
    pub async fn record_unposted(
        &self,
        subscriber: &str,
        id: &str,
        cursors: &[&str],
        state: &str,
    ) -> Result<bool, mongodb::error::Error> {
        let recorded = self
            .records
            .update_one(
                doc! { "_id": id },
                doc! { "$setOnInsert": {
                    "subscriber": subscriber,
                    "channel": 0i64,
                    "cursors": cursors,
                    "state": state,
                    "at": DateTime::now(),
                    "schema_version": SCHEMA_VERSION,
                } },
            )
            .upsert(true)
            .await?;
        Ok(recorded.upserted_id.is_some())
    }

    async fn holds_all(
        &self,
        nonce: &str,
        cursors: &[&str],
    ) -> Result<bool, mongodb::error::Error> {
        let held = self
            .claims
            .count_documents(doc! { "_id": { "$in": cursors }, "nonce": nonce })
            .await?;
        Ok(usize::try_from(held).unwrap_or(0) == cursors.len())
    }

    /// Gives up a message still `claiming`: its record `dropped`, then its claims deleted
    /// (a crash between leaves claims of a dropped message, which the next claimant
    /// clears). A message that has moved on (being posted) is left alone.
    async fn release(&self, nonce: &str) -> Result<(), mongodb::error::Error> {
        if self.advance(nonce, "claiming", "dropped").await? {
            self.claims.delete_many(doc! { "nonce": nonce }).await?;
        }
        Ok(())
    }

    /// Moves a record from state `from` to `to` (renewing its time); `false` if it was no
    /// longer in `from`.
    async fn advance(
        &self,
        nonce: &str,
        from: &str,
        to: &str,
    ) -> Result<bool, mongodb::error::Error> {
        let moved = self
            .records
            .update_one(
                doc! { "_id": nonce, "state": from },
                doc! { "$set": { "state": to, "at": DateTime::now() } },
            )
            .await?;
        Ok(moved.matched_count == 1)
    }

    async fn set_state(&self, nonce: &str, state: &str) -> Result<(), mongodb::error::Error> {
        self.records
            .update_one(doc! { "_id": nonce }, doc! { "$set": { "state": state } })
            .await?;
        Ok(())
    }
}

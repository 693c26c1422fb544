//! A durable subscriber's reading of the notification outbox: in `seq` order, past numbers
//! that are not stored yet, and back to them when they are.
//!
//! Writers reserve sequence numbers before they insert ([`crate::outbox`]), so a reader can
//! see 7 before 6. It waits briefly ([`GAP_WAIT`]) for the lower number — the usual case
//! is a concurrent writer a few milliseconds behind — then reads on, so one stalled writer
//! never holds up every guild. The missing number stays *open*: looked for on every read
//! and delivered when it appears, for [`GAP_MEMORY`] (far longer than a writer may use a
//! reservation, [`crate::outbox::RESERVATION_TTL`]). Open numbers are saved with the
//! subscriber's acknowledgement, so a reconnect or a restart of the reading worker keeps
//! looking for them too; an acknowledged number is taken off the list.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::bson::{Bson, DateTime, Document, doc};

use crate::db::{Database, collections};
use crate::schema::SCHEMA_VERSION;

/// How long a reader waits at a missing number before reading past it.
pub const GAP_WAIT: Duration = Duration::from_secs(2);
/// How long a missing number is looked for: ten times a reservation's life.
pub const GAP_MEMORY: Duration = Duration::from_secs(600);
/// Open numbers kept per subscriber at most (the oldest are given up first).
const MAX_OPEN: usize = 10_000;
/// Notifications read per query.
const PAGE: i64 = 500;

/// How long a subscriber's acknowledgement counts for a new subscriber of its family: well
/// within the week delivery records are kept, so what was posted is still recognised.
const FAMILY_MEMORY: Duration = Duration::from_secs(3 * 24 * 3600);

/// One subscriber's position in the outbox.
pub struct Subscription {
    notifications: mongodb::Collection<Document>,
    acks: mongodb::Collection<Document>,
    subscriber: String,
    /// The highest number read.
    high: i64,
    /// Numbers below `high` not stored when read past, and since when they are looked for.
    open: BTreeMap<i64, Instant>,
    /// Since when the reader has been waiting at a missing number.
    waiting_since: Option<Instant>,
}

impl Subscription {
    /// Where `subscriber` resumes: after its last acknowledged number, still looking for
    /// the numbers it had read past. A subscriber that never acknowledged starts where the
    /// slowest subscriber of its family (`gateway:…`, other shard layouts of the same bot)
    /// acknowledged within the last three days: after re-sharding, every guild the new
    /// layout serves resumes after what its old layout posted (what was posted already is
    /// skipped by its delivery record). With no such subscriber it starts after the newest
    /// notification stored now (a new bot is not sent the whole history). The point is
    /// recorded at once as its acknowledgement, so that a reconnect before its first ack
    /// does not skip what came meanwhile. `after` (a cursor the subscriber holds) overrides
    /// the stored point.
    pub async fn resume(
        db: &Database,
        subscriber: &str,
        after: Option<i64>,
    ) -> Result<Self, mongodb::error::Error> {
        let raw = db.raw();
        let mut this = Self {
            notifications: raw.collection(collections::NOTIFICATIONS),
            acks: raw.collection(collections::NOTIFICATION_ACKS),
            subscriber: subscriber.to_owned(),
            high: 0,
            open: BTreeMap::new(),
            waiting_since: None,
        };
        let (point, open) = match this.acks.find_one(doc! { "_id": subscriber }).await? {
            Some(own) => (own.get_i64("seq").ok(), open_numbers(&own)),
            None => match this.family_point().await? {
                Some(family) => (family.get_i64("seq").ok(), open_numbers(&family)),
                None => (None, Vec::new()),
            },
        };
        let start = match (after, point) {
            (Some(after), _) => after,
            (None, Some(seq)) => seq,
            (None, None) => this.newest().await?,
        };
        let now = Instant::now();
        // Numbers above the start are read again anyway.
        this.open = open
            .into_iter()
            .filter(|seq| *seq <= start)
            .map(|seq| (seq, now))
            .collect();
        this.high = start;
        this.acks
            .update_one(
                doc! { "_id": subscriber },
                doc! {
                    "$max": { "seq": Bson::Int64(start) },
                    "$addToSet": { "open": { "$each": this.open.keys().copied().collect::<Vec<i64>>() } },
                    "$set": { "at": DateTime::now(), "schema_version": SCHEMA_VERSION },
                },
            )
            .upsert(true)
            .await?;
        Ok(this)
    }

    /// The acknowledgement of the slowest subscriber of this one's family in the last three
    /// days.
    async fn family_point(&self) -> Result<Option<Document>, mongodb::error::Error> {
        let Some((family, _)) = self.subscriber.split_once(':') else {
            return Ok(None);
        };
        let since = crate::db::ago(FAMILY_MEMORY);
        self.acks
            .find_one(doc! {
                "_id": { "$regex": format!("^{}:", regex_escape(family)) },
                // Acknowledgements of earlier builds carry no time: they count.
                "$or": [{ "at": { "$gte": since } }, { "at": { "$exists": false } }],
            })
            .sort(doc! { "seq": 1 })
            .await
    }

    /// The newest number stored.
    async fn newest(&self) -> Result<i64, mongodb::error::Error> {
        Ok(self
            .notifications
            .find_one(doc! {})
            .sort(doc! { "seq": -1 })
            .projection(doc! { "seq": 1 })
            .await?
            .and_then(|d| d.get_i64("seq").ok())
            .unwrap_or(0))
    }

    /// The numbers still looked for.
    pub fn open(&self) -> impl Iterator<Item = i64> + '_ {
        self.open.keys().copied()
    }

    /// The next notifications to deliver: numbers read past that have appeared, then new
    /// ones in order. Empty when there is nothing new.
    pub async fn next(&mut self) -> Result<Vec<Document>, mongodb::error::Error> {
        let mut out = self.found_open().await?;
        let fresh: Vec<Document> = self
            .notifications
            .find(doc! { "seq": { "$gt": self.high } })
            .sort(doc! { "seq": 1 })
            .limit(PAGE)
            .await?
            .try_collect()
            .await?;
        let mut passed = Vec::new();
        for d in fresh {
            let Ok(seq) = d.get_i64("seq") else { continue };
            if seq > self.high + 1 {
                let since = *self.waiting_since.get_or_insert_with(Instant::now);
                if since.elapsed() < GAP_WAIT {
                    break; // most likely a writer a moment behind: wait for it
                }
                // A jump by more than the cap is not a writer behind (a reader far behind
                // what is still stored): only the newest numbers are worth looking for.
                let first = (self.high + 1).max(seq.saturating_sub(MAX_OPEN as i64));
                passed.extend(first..seq);
            }
            self.waiting_since = None;
            self.high = seq;
            out.push(d);
        }
        if !passed.is_empty() {
            self.keep_open(passed).await?;
        }
        self.forget_old().await?;
        Ok(out)
    }

    /// Open numbers that are stored now, taken off the list (they are delivered).
    async fn found_open(&mut self) -> Result<Vec<Document>, mongodb::error::Error> {
        if self.open.is_empty() {
            return Ok(Vec::new());
        }
        let open: Vec<i64> = self.open.keys().copied().collect();
        let found: Vec<Document> = self
            .notifications
            .find(doc! { "seq": { "$in": &open } })
            .sort(doc! { "seq": 1 })
            .await?
            .try_collect()
            .await?;
        for d in &found {
            if let Ok(seq) = d.get_i64("seq") {
                tracing::info!(
                    subscriber = %self.subscriber,
                    seq,
                    "a notification stored late is delivered"
                );
                self.open.remove(&seq);
            }
        }
        Ok(found)
    }

    /// Records numbers read past, before anything after them is delivered (so an
    /// acknowledgement past them never loses them). The saved list only grows here; a
    /// number leaves it when it is acknowledged or given up, never by being found (its
    /// post may still fail).
    async fn keep_open(&mut self, passed: Vec<i64>) -> Result<(), mongodb::error::Error> {
        let now = Instant::now();
        tracing::info!(
            subscriber = %self.subscriber,
            first = passed.first().copied(),
            count = passed.len(),
            "read past notifications not stored yet; still looking for them"
        );
        self.open.extend(passed.iter().map(|seq| (*seq, now)));
        let mut dropped = Vec::new();
        while self.open.len() > MAX_OPEN {
            dropped.extend(self.open.pop_first().map(|(seq, _)| seq));
        }
        self.acks
            .update_one(
                doc! { "_id": &self.subscriber },
                doc! { "$addToSet": { "open": { "$each": passed } } },
            )
            .upsert(true)
            .await?;
        self.give_up(dropped).await
    }

    /// Gives up numbers looked for longer than [`GAP_MEMORY`] (their writer is gone).
    async fn forget_old(&mut self) -> Result<(), mongodb::error::Error> {
        let old: Vec<i64> = self
            .open
            .iter()
            .filter(|(_, since)| since.elapsed() >= GAP_MEMORY)
            .map(|(seq, _)| *seq)
            .collect();
        for seq in &old {
            self.open.remove(seq);
        }
        self.give_up(old).await
    }

    /// Takes numbers off the saved list without their being delivered.
    async fn give_up(&self, seqs: Vec<i64>) -> Result<(), mongodb::error::Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            subscriber = %self.subscriber,
            given_up = seqs.len(),
            "notification numbers never stored; no longer looked for"
        );
        self.acks
            .update_one(
                doc! { "_id": &self.subscriber },
                doc! { "$pull": { "open": { "$in": seqs } } },
            )
            .await?;
        Ok(())
    }
}

/// Records that a subscriber has delivered these numbers: the highest moves its resume
/// point (never back), and each is taken off its open list.
pub async fn acknowledge(
    db: &Database,
    subscriber: &str,
    seqs: &[i64],
) -> Result<(), mongodb::error::Error> {
    let Some(max) = seqs.iter().max() else {
        return Ok(());
    };
    db.raw()
        .collection::<Document>(collections::NOTIFICATION_ACKS)
        .update_one(
            doc! { "_id": subscriber },
            doc! {
                "$max": { "seq": Bson::Int64(*max) },
                "$pull": { "open": { "$in": seqs } },
                "$set": { "at": DateTime::now(), "schema_version": SCHEMA_VERSION },
            },
        )
        .upsert(true)
        .await?;
    Ok(())
}

fn open_numbers(ack: &Document) -> Vec<i64> {
    ack.get_array("open")
        .map(|a| a.iter().filter_map(Bson::as_i64).collect())
        .unwrap_or_default()
}

/// `text` with the characters that mean something in a regular expression escaped.
fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.^$|?*+()[]{}".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

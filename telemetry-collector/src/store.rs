//! Where telemetry lives in MongoDB.
//!
//! - `telemetry_events`: one document per occurrence, `_id` = its error id, with context.
//! - `telemetry_groups`: one document per fingerprint: count, first/last seen, last id.
//! - `telemetry_reporters`: each process that reported, with first and last report.
//!
//! Counts are `$inc`remented on the server, never read-modified-written here.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::InsertManyOptions;
use tower_daemon::telemetry::new_error_id;
use tower_proto::v1::{
    ErrorContext, ErrorGroup, Level, ProcessInfo, ProcessRecord, TelemetryEvent,
};
use tower_store::db::{Database, already_stored, collections};
use tower_store::schema::SCHEMA_VERSION;

use crate::fingerprint::{fingerprint, normalize};

/// Longest message kept; longer ones are cut (and marked) so one bad report cannot bloat
/// the store.
pub const MAX_MESSAGE: usize = 4_000;
const MAX_SHORT_FIELD: usize = 200;
const MAX_ATTRIBUTES: usize = 32;

/// How stale a reporter's `last_seen` may get: it is written at most this often per
/// process, so a busy reporter's batches cost no extra round trip each.
const REPORTER_REFRESH: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub struct TelemetryStore {
    events: Collection<Document>,
    groups: Collection<Document>,
    reporters: Collection<Document>,
    /// When each reporter's document was last written by this collector.
    reporters_written: Arc<Mutex<HashMap<String, Instant>>>,
}

impl TelemetryStore {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw().clone();
        Self {
            events: raw.collection(collections::TELEMETRY_EVENTS),
            groups: raw.collection(collections::TELEMETRY_GROUPS),
            reporters: raw.collection(collections::TELEMETRY_REPORTERS),
            reporters_written: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// True when `instance`'s reporter document is due a write (and notes it as written).
    fn reporter_due(&self, instance: &str) -> bool {
        let Ok(mut written) = self.reporters_written.lock() else {
            return true;
        };
        match written.get(instance) {
            Some(at) if at.elapsed() < REPORTER_REFRESH => false,
            _ => {
                written.insert(instance.to_owned(), Instant::now());
                true
            }
        }
    }

    /// Forgets that `instance` was written, so its next batch writes it (after a failure).
    fn reporter_unwritten(&self, instance: &str) {
        if let Ok(mut written) = self.reporters_written.lock() {
            written.remove(instance);
        }
    }

    /// Stores a batch; returns the error id of each event, in order. A replayed batch (same
    /// error ids) is stored once.
    pub async fn record(
        &self,
        process: &ProcessInfo,
        events: Vec<TelemetryEvent>,
    ) -> Result<Vec<String>, mongodb::error::Error> {
        let now = DateTime::now();
        if self.reporter_due(&process.instance) {
            self.write_reporter(process, now).await.inspect_err(|_| {
                self.reporter_unwritten(&process.instance);
            })?;
        }
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.record_events(process, events).await
    }

    async fn write_reporter(
        &self,
        process: &ProcessInfo,
        now: DateTime,
    ) -> Result<(), mongodb::error::Error> {
        self.reporters
            .update_one(
                doc! { "_id": &process.instance },
                doc! {
                    "$set": {
                        "kind": process.kind,
                        "host": &process.host,
                        "version": &process.version,
                        "last_seen": now,
                        "schema_version": SCHEMA_VERSION,
                    },
                    "$setOnInsert": { "first_seen": now },
                },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// The events of a batch (one command) and their groups (one update per group, sent
    /// together).
    async fn record_events(
        &self,
        process: &ProcessInfo,
        events: Vec<TelemetryEvent>,
    ) -> Result<Vec<String>, mongodb::error::Error> {
        let prepared: Vec<Prepared> = events.into_iter().map(Prepared::from).collect();
        let ids: Vec<String> = prepared.iter().map(|p| p.error_id.clone()).collect();
        let docs: Vec<Document> = prepared.iter().map(|p| p.to_document(process)).collect();
        let inserted = self
            .events
            .insert_many(docs)
            .with_options(InsertManyOptions::builder().ordered(false).build())
            .await;
        // A retried batch may hold occurrences stored already (same error ids): those are
        // not counted again; the rest of the batch is.
        let stored_before: HashSet<usize> = match inserted {
            Ok(_) => HashSet::new(),
            Err(e) => already_stored(&e).ok_or(e)?,
        };
        let mut groups: HashMap<String, GroupUpdate> = HashMap::new();
        for (i, p) in prepared.iter().enumerate() {
            if stored_before.contains(&i) {
                continue;
            }
            groups
                .entry(p.fingerprint.clone())
                .or_insert_with(|| GroupUpdate::first(p))
                .add(p);
        }
        // One update per group, all sent at once: each a retryable write, so a failover
        // or a dropped connection mid-batch is retried by the driver instead of losing
        // the counts (the events are stored by then, and a resent batch skips them).
        let updates = groups.iter().map(|(fp, g)| {
            self.groups
                .update_one(
                    doc! { "_id": fp },
                    doc! {
                        "$inc": { "count": g.count },
                        "$min": { "first_seen": g.first_seen },
                        "$max": { "last_seen": g.last_seen, "level": g.level },
                        "$set": {
                            "last_error_id": &g.last_error_id,
                            "last_context": context_doc(g.last_context.as_ref()),
                            "schema_version": SCHEMA_VERSION,
                        },
                        "$setOnInsert": {
                            "kind": &g.kind,
                            "category": g.category,
                            "message": &g.normalized,
                            "location": &g.location,
                        },
                    },
                )
                .upsert(true)
                .into_future()
        });
        for result in futures_util::future::join_all(updates).await {
            result?;
        }
        Ok(ids)
    }

    /// The groups with most occurrences: all time, or within the last `window_secs`.
    pub async fn top_errors(
        &self,
        window_secs: u32,
        limit: u32,
    ) -> Result<Vec<ErrorGroup>, mongodb::error::Error> {
        let limit = i64::from(limit.clamp(1, 100));
        let min_level = Level::Warn as i32;
        if window_secs == 0 {
            let cursor = self
                .groups
                .find(doc! { "level": { "$gte": min_level } })
                .sort(doc! { "count": -1, "last_seen": -1 })
                .limit(limit)
                .await?;
            let docs: Vec<Document> = cursor.try_collect().await?;
            return Ok(docs.iter().map(group_from_doc).collect());
        }
        let since = DateTime::from_millis(
            DateTime::now().timestamp_millis() - i64::from(window_secs) * 1000,
        );
        let pipeline = vec![
            doc! { "$match": { "occurred_at": { "$gte": since }, "level": { "$gte": min_level } } },
            doc! { "$group": { "_id": "$fingerprint", "count": { "$sum": 1 }, "last_seen": { "$max": "$occurred_at" } } },
            doc! { "$sort": { "count": -1, "last_seen": -1 } },
            doc! { "$limit": limit },
        ];
        let counted: Vec<Document> = self.events.aggregate(pipeline).await?.try_collect().await?;
        let mut out = Vec::with_capacity(counted.len());
        for c in counted {
            let Ok(fp) = c.get_str("_id") else { continue };
            let Some(group) = self.groups.find_one(doc! { "_id": fp }).await? else {
                continue;
            };
            let mut g = group_from_doc(&group);
            g.count = count_of(&c);
            out.push(g);
        }
        Ok(out)
    }

    /// One occurrence by error id, with its group's totals.
    /// The error with this id and its group; with `guild`, only if it occurred there.
    pub async fn get_error(
        &self,
        error_id: &str,
        guild: Option<u64>,
    ) -> Result<Option<ErrorGroup>, mongodb::error::Error> {
        let mut filter = doc! { "_id": error_id };
        if let Some(guild) = guild {
            filter.insert("context.guild_id", guild.to_string());
        }
        let Some(event) = self.events.find_one(filter).await? else {
            return Ok(None);
        };
        let group = match event.get_str("fingerprint") {
            Ok(fp) => self.groups.find_one(doc! { "_id": fp }).await?,
            Err(_) => None,
        };
        Ok(Some(occurrence(&event, group.as_ref())))
    }

    /// A guild's most recent errors, newest first.
    pub async fn guild_errors(
        &self,
        guild_id: u64,
        limit: u32,
    ) -> Result<Vec<ErrorGroup>, mongodb::error::Error> {
        let cursor = self
            .events
            .find(doc! {
                "context.guild_id": guild_id.to_string(),
                "level": { "$gte": Level::Warn as i32 },
            })
            .sort(doc! { "occurred_at": -1 })
            .limit(i64::from(limit.clamp(1, 50)))
            .await?;
        let events: Vec<Document> = cursor.try_collect().await?;
        let mut out = Vec::with_capacity(events.len());
        for event in &events {
            let group = match event.get_str("fingerprint") {
                Ok(fp) => self.groups.find_one(doc! { "_id": fp }).await?,
                Err(_) => None,
            };
            out.push(occurrence(event, group.as_ref()));
        }
        Ok(out)
    }

    /// Processes that have reported, most recently seen first.
    pub async fn processes(&self, kind: i32) -> Result<Vec<ProcessRecord>, mongodb::error::Error> {
        let filter = if kind == 0 {
            doc! {}
        } else {
            doc! { "kind": kind }
        };
        let cursor = self
            .reporters
            .find(filter)
            .sort(doc! { "last_seen": -1 })
            .limit(500)
            .await?;
        let docs: Vec<Document> = cursor.try_collect().await?;
        Ok(docs
            .iter()
            .map(|d| ProcessRecord {
                process: Some(ProcessInfo {
                    kind: d.get_i32("kind").unwrap_or_default(),
                    instance: d.get_str("_id").unwrap_or_default().to_owned(),
                    version: d.get_str("version").unwrap_or_default().to_owned(),
                    host: d.get_str("host").unwrap_or_default().to_owned(),
                }),
                started_unix_ms: millis(d, "first_seen"),
                last_seen_unix_ms: millis(d, "last_seen"),
            })
            .collect())
    }
}

/// An event after validation and normalization.
struct Prepared {
    error_id: String,
    /// From the raw message (normalizing turns a 429 into `#`), for the event and its group.
    category: &'static str,
    fingerprint: String,
    normalized: String,
    event: TelemetryEvent,
    occurred_at: DateTime,
}

impl From<TelemetryEvent> for Prepared {
    fn from(mut event: TelemetryEvent) -> Self {
        if event.kind.trim().is_empty() {
            event.kind = "unknown".to_owned();
        }
        truncate(&mut event.kind, MAX_SHORT_FIELD);
        truncate(&mut event.location, MAX_SHORT_FIELD);
        // Whoever sent it, nothing secret is stored; redacted whole, then cut (a secret cut
        // in half would no longer be recognised).
        tower_daemon::redaction::redact_event(&mut event);
        truncate(&mut event.message, MAX_MESSAGE);
        if event.attributes.len() > MAX_ATTRIBUTES {
            let keep: Vec<String> = {
                let mut keys: Vec<&String> = event.attributes.keys().collect();
                keys.sort();
                keys.into_iter().take(MAX_ATTRIBUTES).cloned().collect()
            };
            event.attributes.retain(|k, _| keep.contains(k));
        }
        for value in event.attributes.values_mut() {
            truncate(value, MAX_SHORT_FIELD);
        }
        let valid_id = event.error_id.len() <= 40
            && !event.error_id.is_empty()
            && event
                .error_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let error_id = if valid_id {
            event.error_id.clone()
        } else {
            new_error_id()
        };
        let normalized = normalize(&event.message);
        let fingerprint = fingerprint(&event.kind, &normalized, &event.location);
        // A reporter's clock ahead of ours must not put an event in every later window.
        let now = DateTime::now();
        let occurred_at = if event.occurred_unix_ms > 0 {
            DateTime::from_millis(event.occurred_unix_ms.min(now.timestamp_millis()))
        } else {
            now
        };
        let category = crate::category::category(&event.kind, &event.message);
        Self {
            error_id,
            category,
            fingerprint,
            normalized,
            event,
            occurred_at,
        }
    }
}

impl Prepared {
    fn to_document(&self, process: &ProcessInfo) -> Document {
        let attributes: Document = self
            .event
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), mongodb::bson::Bson::String(v.clone())))
            .collect();
        doc! {
            "_id": &self.error_id,
            "fingerprint": &self.fingerprint,
            "level": level_of(self.event.level),
            "kind": &self.event.kind,
            "category": self.category,
            "message": &self.event.message,
            "location": &self.event.location,
            "context": context_doc(self.event.context.as_ref()),
            "occurred_at": self.occurred_at,
            "received_at": DateTime::now(),
            "process": { "kind": process.kind, "instance": &process.instance, "version": &process.version, "host": &process.host },
            "attributes": attributes,
            "schema_version": SCHEMA_VERSION,
        }
    }
}

/// What one batch adds to one group.
struct GroupUpdate {
    kind: String,
    category: &'static str,
    normalized: String,
    location: String,
    level: i32,
    count: i64,
    first_seen: DateTime,
    last_seen: DateTime,
    last_error_id: String,
    last_context: Option<ErrorContext>,
}

impl GroupUpdate {
    fn first(p: &Prepared) -> Self {
        Self {
            kind: p.event.kind.clone(),
            category: p.category,
            normalized: p.normalized.clone(),
            location: p.event.location.clone(),
            level: level_of(p.event.level),
            count: 0,
            first_seen: p.occurred_at,
            last_seen: p.occurred_at,
            last_error_id: p.error_id.clone(),
            last_context: p.event.context.clone(),
        }
    }

    fn add(&mut self, p: &Prepared) {
        self.count += 1;
        self.level = self.level.max(level_of(p.event.level));
        self.first_seen = self.first_seen.min(p.occurred_at);
        if p.occurred_at >= self.last_seen {
            self.last_seen = p.occurred_at;
            self.last_error_id = p.error_id.clone();
            self.last_context = p.event.context.clone();
        }
    }
}

fn level_of(level: i32) -> i32 {
    Level::try_from(level).map_or(Level::Error as i32, |l| l as i32)
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

/// Guild ids are stored as strings, as everywhere in the database.
fn context_doc(context: Option<&ErrorContext>) -> Document {
    match context {
        None => Document::new(),
        Some(c) => {
            let mut d = Document::new();
            if c.guild_id != 0 {
                d.insert("guild_id", c.guild_id.to_string());
            }
            if !c.server_id.is_empty() {
                d.insert("server_id", &c.server_id);
            }
            if !c.command.is_empty() {
                d.insert("command", &c.command);
            }
            if let Some(shard) = c.shard {
                d.insert("shard", shard);
            }
            d
        }
    }
}

fn context_from_doc(d: Option<&Document>) -> Option<ErrorContext> {
    let d = d?;
    Some(ErrorContext {
        guild_id: d
            .get_str("guild_id")
            .ok()
            .and_then(|g| g.parse().ok())
            .unwrap_or_default(),
        server_id: d.get_str("server_id").unwrap_or_default().to_owned(),
        command: d.get_str("command").unwrap_or_default().to_owned(),
        shard: d.get_i32("shard").ok(),
    })
}

fn millis(d: &Document, key: &str) -> i64 {
    d.get_datetime(key)
        .map(|t| t.timestamp_millis())
        .unwrap_or_default()
}

fn count_of(d: &Document) -> u64 {
    d.get_i64("count")
        .ok()
        .or_else(|| d.get_i32("count").ok().map(i64::from))
        .and_then(|c| u64::try_from(c).ok())
        .unwrap_or_default()
}

fn group_from_doc(d: &Document) -> ErrorGroup {
    ErrorGroup {
        fingerprint: d.get_str("_id").unwrap_or_default().to_owned(),
        kind: d.get_str("kind").unwrap_or_default().to_owned(),
        message: d.get_str("message").unwrap_or_default().to_owned(),
        location: d.get_str("location").unwrap_or_default().to_owned(),
        count: count_of(d),
        first_seen_unix_ms: millis(d, "first_seen"),
        last_seen_unix_ms: millis(d, "last_seen"),
        last_error_id: d.get_str("last_error_id").unwrap_or_default().to_owned(),
        last_context: context_from_doc(d.get_document("last_context").ok()),
        level: d.get_i32("level").unwrap_or_default(),
        // Groups stored before categories have none: worked out from the kind.
        category: d.get_str("category").map_or_else(
            |_| {
                crate::category::category(
                    d.get_str("kind").unwrap_or_default(),
                    d.get_str("message").unwrap_or_default(),
                )
                .to_owned()
            },
            str::to_owned,
        ),
    }
}

/// One occurrence shown with its group's totals: the message is the occurrence's own.
fn occurrence(event: &Document, group: Option<&Document>) -> ErrorGroup {
    let mut g = group.map(group_from_doc).unwrap_or_default();
    g.fingerprint = event.get_str("fingerprint").unwrap_or_default().to_owned();
    g.kind = event.get_str("kind").unwrap_or_default().to_owned();
    g.message = event.get_str("message").unwrap_or_default().to_owned();
    g.location = event.get_str("location").unwrap_or_default().to_owned();
    g.last_error_id = event.get_str("_id").unwrap_or_default().to_owned();
    g.last_context = context_from_doc(event.get_document("context").ok());
    g.level = event.get_i32("level").unwrap_or_default();
    if g.count == 0 {
        g.count = 1;
    }
    g
}

//! What the collector notices in the errors it stores, every `collector.detect_every_secs`:
//!
//! - **spike**: an error (fingerprint) seen at least [`SPIKE_MIN`] times in the last 10
//!   minutes, and [`SPIKE_FACTOR`] times more often than its rate over the 6 hours before;
//! - **one_guild**: one Discord server producing most ([`ONE_GUILD_SHARE`]) of an error in
//!   the last hour, naming the game server too when one makes most of it: its own setup,
//!   not the bot, is the likely cause;
//! - **host_down**: an SFTP host that every server on it failed to reach in the last 15
//!   minutes (unreachable, timed out, no SSH, no address; servers of two guilds or more):
//!   the game host is down, not anyone's settings;
//! - **discord_ban_risk**: the gateways' invalid Discord requests (401, 403, 404, 429) of
//!   the last ten minutes, each process's latest count summed per host, at
//!   [`BAN_RISK_AT`] or more: Discord bans an address for an hour at 10,000.
//!
//! Each is stored in `telemetry_detections` under a stable id (kind and key), so a problem
//! that lasts is one detection whose `last_detected` moves; it expires an hour after it was
//! last seen (a TTL index on `expires_at`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::Collection;
use mongodb::bson::{Bson, DateTime, Document, doc};
use tower_proto::v1::Detection;
use tower_store::db::{Database, collections};
use tower_store::schema::SCHEMA_VERSION;

/// The window a spike is counted in.
pub const SPIKE_WINDOW: Duration = Duration::from_secs(600);
/// The window before it that gives the error's usual rate.
pub const BASELINE_WINDOW: Duration = Duration::from_secs(6 * 3600);
/// Fewer occurrences than this in the window are never a spike.
pub const SPIKE_MIN: u64 = 20;
/// How many times its usual rate makes a spike.
pub const SPIKE_FACTOR: f64 = 5.0;
/// The window an error's guilds are counted in.
pub const ONE_GUILD_WINDOW: Duration = Duration::from_secs(3600);
/// The share of an error one guild must produce.
pub const ONE_GUILD_SHARE: f64 = 0.8;
/// The window SFTP failures per host are counted in.
pub const HOST_WINDOW: Duration = Duration::from_secs(900);
/// The invalid requests in ten minutes, all gateways together, worth a detection.
pub const BAN_RISK_AT: u64 = 2_000;
/// The window Discord counts invalid requests in.
pub const INVALID_WINDOW: Duration = Duration::from_secs(600);
/// The failures that say a host is down or unreachable: not a wrong password, a changed
/// key or a private address (each guild's own settings), nor the worker's own database or
/// connection limits.
pub const HOST_FAILURES: &[&str] = &[
    "sftp.unreachable",
    "sftp.timeout",
    "sftp.handshake",
    "sftp.unresolved",
];
/// How long a detection stays after it was last seen.
pub const KEEP: Duration = Duration::from_secs(3600);

/// Errors and warnings (levels 2 and 3), not informational events.
const MIN_LEVEL: i32 = 2;

pub struct Detector {
    events: Collection<Document>,
    groups: Collection<Document>,
    servers: Collection<Document>,
    detections: Collection<Document>,
}

/// One thing noticed, before it is stored.
struct Found {
    kind: &'static str,
    key: String,
    summary: String,
    count: u64,
}

fn ago(now: DateTime, d: Duration) -> DateTime {
    DateTime::from_millis(
        now.timestamp_millis()
            .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    )
}

fn count_of(d: &Document) -> u64 {
    match d.get("count") {
        Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
        Some(Bson::Double(n)) if *n >= 0.0 => *n as u64,
        _ => 0,
    }
}

impl Detector {
    pub fn new(db: &Database) -> Self {
        let raw = db.raw();
        Self {
            events: raw.collection(collections::TELEMETRY_EVENTS),
            groups: raw.collection(collections::TELEMETRY_GROUPS),
            servers: raw.collection(collections::GAME_SERVERS),
            detections: raw.collection(collections::TELEMETRY_DETECTIONS),
        }
    }

    /// Looks every `every` until `stop` resolves; a failed look is logged and retried at
    /// the next tick (the database may be away).
    pub async fn run(self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {
                    if let Err(e) = self.detect(DateTime::now()).await {
                        tracing::warn!(error = %e, "looking for error detections failed");
                    }
                }
            }
        }
    }

    /// One look at the stored errors as of `now`; stores and returns what it found.
    pub async fn detect(&self, now: DateTime) -> Result<usize, mongodb::error::Error> {
        // Each on its own: one that fails (the database busy) does not hide the others.
        let mut found = Vec::new();
        for (name, result) in [
            ("discord_ban_risk", self.ban_risk(now).await),
            ("host_down", self.hosts_down(now).await),
            ("spike", self.spikes(now).await),
            ("one_guild", self.one_guild(now).await),
        ] {
            match result {
                Ok(f) => found.extend(f),
                Err(e) => tracing::warn!(detection = name, error = %e, "a detection failed"),
            }
        }
        let expires = DateTime::from_millis(
            now.timestamp_millis()
                .saturating_add(i64::try_from(KEEP.as_millis()).unwrap_or(i64::MAX)),
        );
        for f in &found {
            self.detections
                .update_one(
                    doc! { "_id": format!("{}:{}", f.kind, f.key) },
                    doc! {
                        "$set": {
                            "kind": f.kind,
                            "key": &f.key,
                            "summary": &f.summary,
                            "count": i64::try_from(f.count).unwrap_or(i64::MAX),
                            "last_detected": now,
                            "expires_at": expires,
                            "schema_version": SCHEMA_VERSION,
                        },
                        "$setOnInsert": { "first_detected": now },
                    },
                )
                .upsert(true)
                .await?;
        }
        Ok(found.len())
    }

    /// What an error group is, in a few words: its kind and message.
    async fn describe(&self, fingerprint: &str) -> Result<String, mongodb::error::Error> {
        Ok(
            match self.groups.find_one(doc! { "_id": fingerprint }).await? {
                Some(g) => format!(
                    "{}: {}",
                    g.get_str("kind").unwrap_or("?"),
                    g.get_str("message")
                        .unwrap_or_default()
                        .chars()
                        .take(120)
                        .collect::<String>()
                ),
                None => fingerprint.to_owned(),
            },
        )
    }

    /// Occurrences per fingerprint since `since` (errors and warnings).
    async fn counts_since(
        &self,
        since: DateTime,
    ) -> Result<Vec<(String, u64)>, mongodb::error::Error> {
        let mut cursor = self
            .events
            .aggregate(vec![
                doc! { "$match": { "occurred_at": { "$gte": since }, "level": { "$gte": MIN_LEVEL } } },
                doc! { "$group": { "_id": "$fingerprint", "count": { "$sum": 1 } } },
            ])
            .await?;
        let mut out = Vec::new();
        while let Some(d) = cursor.try_next().await? {
            if let Ok(fp) = d.get_str("_id") {
                out.push((fp.to_owned(), count_of(&d)));
            }
        }
        Ok(out)
    }

    async fn spikes(&self, now: DateTime) -> Result<Vec<Found>, mongodb::error::Error> {
        let window_start = ago(now, SPIKE_WINDOW);
        let baseline_start = ago(now, SPIKE_WINDOW + BASELINE_WINDOW);
        let windows = BASELINE_WINDOW.as_secs_f64() / SPIKE_WINDOW.as_secs_f64();
        let mut found = Vec::new();
        for (fp, count) in self.counts_since(window_start).await? {
            if count < SPIKE_MIN {
                continue;
            }
            let before = self
                .events
                .count_documents(doc! {
                    "fingerprint": &fp,
                    "occurred_at": { "$gte": baseline_start, "$lt": window_start },
                    "level": { "$gte": MIN_LEVEL },
                })
                .await?;
            let usual = before as f64 / windows;
            if (count as f64) < SPIKE_FACTOR * usual.max(1.0) {
                continue;
            }
            found.push(Found {
                kind: "spike",
                summary: format!(
                    "{count} times in the last {} min against about {usual:.1} usually — {}",
                    SPIKE_WINDOW.as_secs() / 60,
                    self.describe(&fp).await?
                ),
                key: fp,
                count,
            });
        }
        Ok(found)
    }

    async fn one_guild(&self, now: DateTime) -> Result<Vec<Found>, mongodb::error::Error> {
        let mut cursor = self
            .events
            .aggregate(vec![
                doc! { "$match": {
                    "occurred_at": { "$gte": ago(now, ONE_GUILD_WINDOW) },
                    "level": { "$gte": MIN_LEVEL },
                } },
                doc! { "$group": {
                    "_id": {
                        "fingerprint": "$fingerprint",
                        "guild": "$context.guild_id",
                        "server": "$context.server_id",
                    },
                    "count": { "$sum": 1 },
                } },
            ])
            .await?;
        // fingerprint → guild → occurrences; and (fingerprint, guild) → server → occurrences.
        let mut by_error: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
        let mut by_server: HashMap<(String, String), BTreeMap<String, u64>> = HashMap::new();
        while let Some(d) = cursor.try_next().await? {
            let Ok(id) = d.get_document("_id") else {
                continue;
            };
            let Ok(fp) = id.get_str("fingerprint") else {
                continue;
            };
            let guild = id.get_str("guild").unwrap_or_default().to_owned();
            let server = id.get_str("server").unwrap_or_default().to_owned();
            if !server.is_empty() {
                *by_server
                    .entry((fp.to_owned(), guild.clone()))
                    .or_default()
                    .entry(server)
                    .or_default() += count_of(&d);
            }
            *by_error
                .entry(fp.to_owned())
                .or_default()
                .entry(guild)
                .or_default() += count_of(&d);
        }
        let mut found = Vec::new();
        for (fp, guilds) in by_error {
            let total: u64 = guilds.values().sum();
            let Some((guild, most)) = guilds
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .max_by_key(|(_, n)| **n)
            else {
                continue;
            };
            if total < SPIKE_MIN || (*most as f64) < ONE_GUILD_SHARE * total as f64 {
                continue;
            }
            // One of its game servers alone, when one makes most of it too.
            let server = by_server
                .get(&(fp.clone(), guild.clone()))
                .and_then(|servers| servers.iter().max_by_key(|(_, n)| **n))
                .filter(|(_, n)| (**n as f64) >= ONE_GUILD_SHARE * total as f64)
                .map(|(server, n)| format!(", game server {server} alone {n}"))
                .unwrap_or_default();
            found.push(Found {
                kind: "one_guild",
                summary: format!(
                    "guild {guild} produced {most} of {total} in the last hour{server} ({} \
                     guild(s) in all) — {}",
                    guilds.keys().filter(|g| !g.is_empty()).count(),
                    self.describe(&fp).await?
                ),
                key: format!("{fp}/{guild}"),
                count: *most,
            });
        }
        Ok(found)
    }

    async fn hosts_down(&self, now: DateTime) -> Result<Vec<Found>, mongodb::error::Error> {
        // The servers whose SFTP failed lately…
        let mut cursor = self
            .events
            .aggregate(vec![
                doc! { "$match": {
                    "kind": { "$in": HOST_FAILURES },
                    "occurred_at": { "$gte": ago(now, HOST_WINDOW) },
                } },
                doc! { "$group": {
                    "_id": { "guild": "$context.guild_id", "server": "$context.server_id" },
                    "count": { "$sum": 1 },
                } },
            ])
            .await?;
        let mut failing: Vec<(String, String, u64)> = Vec::new();
        while let Some(d) = cursor.try_next().await? {
            if let Ok(id) = d.get_document("_id")
                && let (Ok(guild), Ok(server)) = (id.get_str("guild"), id.get_str("server"))
            {
                failing.push((guild.to_owned(), server.to_owned(), count_of(&d)));
            }
        }
        // …by the host they are on (one query for all of them)…
        let ids: Vec<&str> = failing
            .iter()
            .map(|(_, server, _)| server.as_str())
            .collect();
        let mut cursor = self
            .servers
            .find(doc! { "server_id": { "$in": ids } })
            .await?;
        let mut host_of: HashMap<(String, String), String> = HashMap::new();
        while let Some(s) = cursor.try_next().await? {
            if let (Ok(guild), Ok(server), Some(host)) = (
                s.get_str("guild_id"),
                s.get_str("server_id"),
                s.get_document("sftp")
                    .ok()
                    .and_then(|sftp| sftp.get_str("host").ok()),
            ) {
                host_of.insert((guild.to_owned(), server.to_owned()), host.to_owned());
            }
        }
        let mut failing_by_host: BTreeMap<String, (BTreeSet<(String, String)>, u64)> =
            BTreeMap::new();
        for (guild, server, count) in failing {
            let key = (guild, server);
            let Some(host) = host_of.get(&key) else {
                continue;
            };
            let entry = failing_by_host.entry(host.clone()).or_default();
            entry.0.insert(key);
            entry.1 += count;
        }
        // …against every server on the host: all of them failing, in two guilds or more.
        let mut found = Vec::new();
        for (host, (servers, count)) in failing_by_host {
            let guilds: BTreeSet<&String> = servers.iter().map(|(g, _)| g).collect();
            if guilds.len() < 2 {
                continue;
            }
            let mut on_host = BTreeSet::new();
            let mut cursor = self
                .servers
                .find(doc! { "sftp.host": &host, "enabled": { "$ne": false } })
                .await?;
            while let Some(s) = cursor.try_next().await? {
                if let (Ok(g), Ok(id)) = (s.get_str("guild_id"), s.get_str("server_id")) {
                    on_host.insert((g.to_owned(), id.to_owned()));
                }
            }
            if !on_host.is_subset(&servers) {
                continue;
            }
            found.push(Found {
                kind: "host_down",
                summary: format!(
                    "SFTP to {host} failed for every server on it ({} servers of {} guilds, \
                     {count} errors in the last {} min): the game host, not their settings",
                    servers.len(),
                    guilds.len(),
                    HOST_WINDOW.as_secs() / 60
                ),
                key: host,
                count,
            });
        }
        Ok(found)
    }

    async fn ban_risk(&self, now: DateTime) -> Result<Vec<Found>, mongodb::error::Error> {
        let mut cursor = self
            .events
            .find(doc! {
                "kind": "discord.invalid_requests",
                "occurred_at": { "$gte": ago(now, INVALID_WINDOW) },
            })
            .await?;
        // Each process's latest count (they are counts over the same sliding window),
        // summed per host: Discord counts per address.
        let mut latest: BTreeMap<(String, String), (i64, u64)> = BTreeMap::new();
        while let Some(e) = cursor.try_next().await? {
            let process = e.get_document("process").ok();
            let field = |k: &str| {
                process
                    .and_then(|p| p.get_str(k).ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            let instance = (field("host"), field("instance"));
            let at = e
                .get_datetime("occurred_at")
                .map_or(0, |t| t.timestamp_millis());
            let count = e
                .get_document("attributes")
                .ok()
                .and_then(|a| a.get_str("count").ok())
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(0);
            let slot = latest.entry(instance).or_insert((at, count));
            if at >= slot.0 {
                *slot = (at, count);
            }
        }
        let mut by_host: BTreeMap<&str, (u64, usize)> = BTreeMap::new();
        for ((host, _), (_, count)) in &latest {
            let entry = by_host.entry(host.as_str()).or_default();
            entry.0 += count;
            entry.1 += 1;
        }
        Ok(by_host
            .into_iter()
            .filter(|(_, (total, _))| *total >= BAN_RISK_AT)
            .map(|(host, (total, processes))| Found {
                kind: "discord_ban_risk",
                key: format!("invalid_requests/{host}"),
                summary: format!(
                    "{total} invalid Discord requests in the last ten minutes from {processes} \
                     gateway process(es) on {host}; Discord bans an address at 10,000"
                ),
                count: total,
            })
            .collect())
    }

    /// The stored detections that have not expired, newest first.
    pub async fn current(&self) -> Result<Vec<Detection>, mongodb::error::Error> {
        let mut cursor = self
            .detections
            .find(doc! { "expires_at": { "$gt": DateTime::now() } })
            .sort(doc! { "last_detected": -1 })
            .await?;
        let millis = |d: &Document, k: &str| d.get_datetime(k).map_or(0, |t| t.timestamp_millis());
        let mut out = Vec::new();
        while let Some(d) = cursor.try_next().await? {
            out.push(Detection {
                kind: d.get_str("kind").unwrap_or_default().to_owned(),
                key: d.get_str("key").unwrap_or_default().to_owned(),
                summary: d.get_str("summary").unwrap_or_default().to_owned(),
                count: count_of(&d),
                first_detected_unix_ms: millis(&d, "first_detected"),
                last_detected_unix_ms: millis(&d, "last_detected"),
                expires_unix_ms: millis(&d, "expires_at"),
            });
        }
        Ok(out)
    }
}

//! The MongoDB connection every process opens.
//!
//! One [`Database`] per process; the driver pools connections inside it. Collections are
//! named in [`collections`] so every process and migration agrees on them.

use std::time::Duration;

use mongodb::bson::{Document, doc};
use mongodb::options::ClientOptions;

use serde::Deserialize;

use crate::secret::Redacted;

/// Where the database is (`[mongodb]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MongoConfig {
    /// `MONGODB_URI`.
    pub uri: Redacted<String>,
    /// `TOWER_MONGODB_DATABASE`.
    pub database: String,
    /// How long to wait for a usable server before a call fails.
    pub server_selection_timeout_secs: u64,
}

impl Default for MongoConfig {
    fn default() -> Self {
        Self {
            uri: Redacted::new("mongodb://127.0.0.1:27017".to_owned()),
            database: "tower".to_owned(),
            server_selection_timeout_secs: 10,
        }
    }
}

/// Collection names. The earlier bot's names are kept where the data is the same (§7).
pub mod collections {
    /// Migrations applied to this database (see `schema`).
    pub const SCHEMA_MIGRATIONS: &str = "schema_migrations";
    /// Deployment-wide settings: home guild, the secret key check.
    pub const BOT_CONFIG: &str = "bot_config";
    /// Running processes and their heartbeats.
    pub const PROCESSES: &str = "processes";
    /// Guild settings: tier, admin role, theme.
    pub const GUILDS: &str = "guilds";
    /// Game servers, one document per (guild, server id).
    pub const GAME_SERVERS: &str = "game_servers";
    /// Every killfeed line recorded: up to 1,000 lines (`lines.id` = identity) per document
    /// spanning at most a day; malformed lines counted per batch (one document each), and
    /// per server the identities of its last malformed lines.
    pub const KILLS: &str = "kills";
    /// Per (guild, server, player): the player's statistics.
    pub const PLAYER_STATS: &str = "player_stats";
    /// Per (guild, server, player, weapon): kills.
    pub const PLAYER_WEAPONS: &str = "player_weapons";
    /// Per (guild, server, killer, victim): kills (nemesis and prey).
    pub const MATCHUPS: &str = "matchups";
    /// Per (guild, server, pair of players in id order): their kills of each other and
    /// the last kill (`/rivalry`).
    pub const RIVALRIES: &str = "rivalries";
    /// Per faction of a server: name, tag, leader (`/faction`).
    pub const FACTIONS: &str = "factions";
    /// Per (guild, server, Discord user): the faction they are in, one at most.
    pub const FACTION_MEMBERS: &str = "faction_members";
    /// A faction membership that ended, with its time (faction statistics).
    pub const FACTION_PERIODS: &str = "faction_periods";
    /// Per (guild, server, weapon): kills and longest shot.
    pub const WEAPON_STATS: &str = "weapon_stats";
    /// Per (guild, server): totals.
    pub const SERVER_STATS: &str = "server_stats";
    /// Per (guild, server): where killfeed reading stopped, and a pending batch.
    pub const INGEST_CURSORS: &str = "ingest_cursors";
    /// The notification outbox the gateway-shards post from.
    pub const NOTIFICATIONS: &str = "notifications";
    /// Per subscriber: the last notification it acknowledged, and the lower numbers it
    /// read past while they were not stored yet.
    pub const NOTIFICATION_ACKS: &str = "notification_acks";
    /// Named counters (notification sequence numbers).
    pub const COUNTERS: &str = "counters";
    /// Per (guild, server): which worker polls it, until when, and its fencing token.
    pub const SERVER_LEASES: &str = "server_leases";
    /// Per (guild, server): last poll, lag, breaker, online counts — what `/csv_status` shows.
    pub const SERVER_STATUS: &str = "server_status";
    /// Which reading problem of each server its admins were last told of.
    pub const ADMIN_ALERTS: &str = "admin_alerts";
    /// Discord users' links to in-game players, per guild and server.
    pub const PLAYER_LINKS: &str = "player_links";
    /// Premium grants and refused permission or premium checks.
    pub const AUDIT_LOG: &str = "audit_log";
    /// Messages the gateway-shards post: which notifications each carries, sent or not.
    pub const DELIVERIES: &str = "deliveries";
    /// One per notification being posted: which message claimed it.
    pub const DELIVERY_CLAIMS: &str = "delivery_claims";
    /// Per guild: its SFTP connection slots (`0..quota`), each held by the worker whose
    /// connection uses it.
    pub const CONNECTION_SLOTS: &str = "connection_slots";
    /// Per guild and clock hour: what its servers read (the tier's ingest budget).
    pub const INGEST_BUDGET: &str = "ingest_budget";
    /// Channels Discord refused a post to (403/404): not posted to until fixed.
    pub const CHANNEL_BLOCKS: &str = "channel_blocks";
    /// Global state of the gateway-shards: the registered command set's hash, saved
    /// sessions, identify buckets.
    pub const GATEWAY_STATE: &str = "gateway_state";
    /// Telemetry: one document per error fingerprint.
    pub const TELEMETRY_GROUPS: &str = "telemetry_groups";
    /// Telemetry: one document per reported occurrence (error id).
    pub const TELEMETRY_EVENTS: &str = "telemetry_events";
    /// Telemetry: processes that have reported to the collector.
    pub const TELEMETRY_REPORTERS: &str = "telemetry_reporters";
    /// What the collector detected (spikes, one guild's errors, hosts down); they expire.
    pub const TELEMETRY_DETECTIONS: &str = "telemetry_detections";
    /// Closed statistics seasons of a server (`/reset_stats`): label, champions, totals.
    pub const SEASONS: &str = "seasons";
    /// The player statistics of each closed season, as they stood when it closed.
    pub const SEASON_PLAYERS: &str = "season_players";
    /// Economy balances, one per (guild, game server, Discord user).
    pub const ECONOMY_ACCOUNTS: &str = "economy_accounts";
    /// Every change of a balance, keyed by what caused it (the ledger).
    pub const ECONOMY_TRANSACTIONS: &str = "economy_transactions";
    /// Bounties placed on game players, active to settled.
    pub const BOUNTIES: &str = "bounties";
    /// Each server's recent kills, watched for auto-bounties.
    pub const BOUNTY_WATCH: &str = "bounty_watch";
    /// Blackjack, slots and roulette games, from the bet taken to the return paid.
    pub const GAMBLING_GAMES: &str = "gambling_games";
    /// Each `/rivalry record_kill` request's killfeed line, fixed by its first attempt.
    pub const RECORDED_KILLS: &str = "recorded_kills";
    /// Players who joined a server under another name than they were known by.
    pub const RENAMES: &str = "renames";
    /// The name each player last joined a server under.
    pub const JOIN_NAMES: &str = "join_names";
    /// Per (guild, server, hour) and (guild, server, day) of the game clock: each player's
    /// kills, deaths, suicides and longest kill (time windows on `/stats`).
    pub const PERIOD_TOTALS: &str = "period_totals";
    /// Notices of servers with a killfeed delay, held until they are due.
    pub const HELD_NOTICES: &str = "held_notices";
    /// Per (guild, server, killer's platform, victim's platform): PvP kills (`/stats
    /// server`'s table of platforms).
    pub const PLATFORM_KILLS: &str = "platform_kills";
    /// Messages kept current by editing them in place: auto-posted leaderboards and
    /// servers' live status.
    pub const LIVE_POSTS: &str = "live_posts";
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("MONGODB_URI is not a valid MongoDB connection string: {0}")]
    Uri(mongodb::error::Error),
    #[error("MongoDB at {hosts} did not answer: {source}")]
    Unreachable {
        hosts: String,
        source: mongodb::error::Error,
    },
    #[error("MongoDB: {0}")]
    Query(#[from] mongodb::error::Error),
    #[error(
        "the database was migrated by a newer build (migration {migration}); \
         run the newer build, or restore a backup from before the upgrade"
    )]
    NewerSchema { migration: String },
}

/// A connected database.
#[derive(Debug, Clone)]
pub struct Database {
    db: mongodb::Database,
}

impl Database {
    /// Connects and pings: an unreachable or misconfigured server fails here, at start,
    /// with the host named (never the password).
    pub async fn connect(config: &MongoConfig, app_name: &str) -> Result<Self, DbError> {
        let mut options = ClientOptions::parse(config.uri.expose())
            .await
            .map_err(DbError::Uri)?;
        options.app_name = Some(app_name.to_owned());
        options.server_selection_timeout = Some(Duration::from_secs(
            config.server_selection_timeout_secs.max(1),
        ));
        options.connect_timeout = Some(Duration::from_secs(5));
        let hosts = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let client = mongodb::Client::with_options(options).map_err(DbError::Uri)?;
        let db = client.database(&config.database);
        db.run_command(doc! { "ping": 1 })
            .await
            .map_err(|source| DbError::Unreachable { hosts, source })?;
        Ok(Self { db })
    }

    /// A database on a client set up elsewhere (a test's, watching the commands sent).
    pub fn from_handle(db: mongodb::Database) -> Self {
        Self { db }
    }

    /// The driver's database handle, for collections and commands.
    pub fn raw(&self) -> &mongodb::Database {
        &self.db
    }

    /// Runs update statements (`{q, u, upsert}`) as one unordered `update` command: one
    /// round trip whatever their number, on every MongoDB version (the `bulkWrite`
    /// command needs 8.0, and was 4x slower on SecantusDB). Returns the statements
    /// refused, as (index, code, message); a write-concern failure is an error.
    pub async fn update_statements(
        &self,
        collection: &str,
        statements: &[Document],
    ) -> Result<Vec<(usize, i32, String)>, mongodb::error::Error> {
        let reply = self
            .db
            .run_command(doc! { "update": collection, "updates": statements, "ordered": false })
            .await?;
        if let Ok(wc) = reply.get_document("writeConcernError") {
            return Err(mongodb::error::Error::custom(format!(
                "write concern not met on {collection}: {wc}"
            )));
        }
        Ok(reply
            .get_array("writeErrors")
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| {
                        let e = e.as_document()?;
                        Some((
                            usize::try_from(e.get_i32("index").ok()?).ok()?,
                            e.get_i32("code").unwrap_or_default(),
                            e.get_str("errmsg")
                                .unwrap_or("unknown write error")
                                .to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn ping(&self) -> Result<(), DbError> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }
}

/// True when `e` is a duplicate-key error (E11000): an insert lost a race or was a replay.
/// For an unordered `insert_many` refused only because some documents were stored
/// already: which of them (their indexes in the batch). `None` for any other failure.
pub fn already_stored(e: &mongodb::error::Error) -> Option<std::collections::HashSet<usize>> {
    match e.kind.as_ref() {
        mongodb::error::ErrorKind::InsertMany(m)
            if m.write_concern_error.is_none() && is_duplicate_key(e) =>
        {
            Some(m.write_errors.iter().flatten().map(|w| w.index).collect())
        }
        _ => None,
    }
}

/// Inserts `docs` (unordered); those stored already under their `_id` (a replay, a step
/// repeated after a crash) are left as they are.
pub async fn insert_once(
    collection: &mongodb::Collection<Document>,
    docs: Vec<Document>,
) -> Result<(), mongodb::error::Error> {
    if docs.is_empty() {
        return Ok(());
    }
    match collection
        .insert_many(docs)
        .with_options(
            mongodb::options::InsertManyOptions::builder()
                .ordered(false)
                .build(),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if already_stored(&e).is_some() => Ok(()),
        Err(e) => Err(e),
    }
}

pub fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::Command(c) => c.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|errs| errs.iter().all(|w| w.code == 11000)),
        _ => false,
    }
}

/// The time `d` ago, as stored (lease expiries, claim and waiter ages compare with it).
pub fn ago(d: Duration) -> mongodb::bson::DateTime {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    mongodb::bson::DateTime::from_millis(
        mongodb::bson::DateTime::now()
            .timestamp_millis()
            .saturating_sub(ms),
    )
}

/// The time `d` from now, as stored.
pub fn from_now(d: Duration) -> mongodb::bson::DateTime {
    let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    mongodb::bson::DateTime::from_millis(
        mongodb::bson::DateTime::now()
            .timestamp_millis()
            .saturating_add(ms),
    )
}

//! Library code every Tower of Temptation process shares.
//!
//! Map of the modules:
//! - [`config`]: the configuration file plus environment overrides, validated at start.
//! - [`cli`]: the command-line flags every daemon takes.
//! - [`ids`]: Discord and game identifiers in the product's words (guild, server, shard).
//! - [`guilds`]: guild settings (premium tier, admin role) and the bot's home guild.
//! - [`player_links`]: Discord users linked to in-game players.
//! - [`audit`]: premium grants and refused checks, audited.
//! - [`game_servers`]: registered game servers, credentials sealed, always per guild.
//! - [`timestamp`]: Deadside's timestamps, parsed by hand on the hot path.
//! - [`killfeed`]: the killfeed CSV line parser and death classification.
//! - [`ingest`]: killfeed bytes at a cursor → events and malformed-line reports.
//! - [`server_log`]: the Deadside.log parser and online/queue counts.
//! - [`source`]: where log bytes come from (a local folder now, SFTP in the worker).
//! - [`cursor`]: per-file cursors and what to read next.
//! - [`cursor_store`]: cursors in MongoDB; a batch interrupted by a crash is finished, not lost or doubled.
//! - [`outbox`]: the durable notification outbox the gateway-shards post from.
//! - [`subscription`]: a subscriber reading the outbox in order, never skipping a late write.
//! - [`retention`]: old notifications, error occurrences and audit records deleted.
//! - [`reader`]: incremental reading of a killfeed folder and a server log.
//! - [`lines`]: complete lines out of a buffer read at a cursor's offset.
//! - [`stats`]: PvP statistics per game server, applied in batches of deltas.
//! - [`stats_store`]: the same statistics in MongoDB, each line counted exactly once.
//! - [`stats_query`]: reading them back: players, leaderboards, weapons, matchups.
//! - [`tier`]: the premium tier table (PRODUCT.md §5) and which tier unlocks each feature.
//! - [`hex`]: hex text for ids and digests.
//! - [`db`]: the MongoDB connection, many updates in one command, duplicate-key answers; [`schema`]: `schema_version`, migrations and indexes.
//! - [`secret`]: encryption at rest for SFTP passwords and other secrets, and redaction.
//! - [`address_guard`]: which SFTP hosts may be connected to (no internal addresses).
//! - [`auth`]: role tokens on inter-process gRPC calls (gateway, worker), checked by digest.
//! - [`grpc`]: serving and calling tower.v1 services (listener, TLS, health, auth, channels).
//! - [`process`]: who this process is, and its registration heartbeat in MongoDB.
//! - [`telemetry`]: batched, non-blocking reports to the telemetry-collector.
//! - [`logging`]: tracing output, human-readable or JSON.
//! - [`shutdown`]: Ctrl-C / SIGTERM turned into a signal every task can await.
//! - [`startup`]: why a daemon could not start ([`startup::StartError`]).

pub mod address_guard;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cursor;
pub mod cursor_store;
pub mod db;
pub mod game_servers;
pub mod grpc;
pub mod guilds;
pub mod hex;
pub mod ids;
pub mod ingest;
pub mod key_check;
pub mod killfeed;
pub mod lines;
pub mod logging;
pub mod outbox;
pub mod player_links;
pub mod process;
pub mod reader;
pub mod retention;
pub mod schema;
pub mod secret;
pub mod server_log;
pub mod shutdown;
pub mod source;
pub mod startup;
pub mod stats;
pub mod stats_query;
pub mod stats_store;
pub mod subscription;
pub mod telemetry;
pub mod tier;
pub mod timestamp;

/// The version every process reports, from Cargo.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

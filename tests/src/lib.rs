//! The system-test harness, and the local sandbox built on it.
//!
//! Tests drive real processes: a MongoDB-wire server and an OpenSSH sshd started by
//! `deploy/local/test` (their addresses arrive in `TOWER_TEST_*` variables), the project's
//! own daemons started here on free ports, and [`discord_sim`], a protocol-level Discord.
//!
//! - [`backing`]: the real servers the test command started, and a private database per test.
//! - [`daemon`]: start one of our binaries, read its logs, await its address and health,
//!   stop it with SIGTERM; its logs are printed when a test fails.
//! - [`stack`]: collector, worker and gateway wired together, as the sandbox runs them.
//! - [`discord_sim`]: the Discord gateway and REST simulator.
//! - [`sftp_home`]: game servers' files laid out in the SFTP test user's home;
//!   [`guild_setup`]: a game server set up through the bot's commands, kills to write.
//! - [`sockets`]: the TCP connections a process holds (SSH sessions seen from outside).
//! - [`delay_line`]: a network path with latency and a bandwidth limit, for benches.
//! - [`otlp_receiver`]: an OTLP/gRPC receiver standing in for an OpenTelemetry collector.
//! - [`live_reading`]: killfeed files read live in steps through the worker's store, with
//!   a crash mid-batch, for tests of what batches post.
//! - [`support`]: helpers every test uses (fixtures, expected statistics, settings).
//!
//! - [`sandbox`]: the README's run command (`tower-local`): [`stack`] with a simulator, a
//!   demo guild and game server, and a console that shows what a Discord user would see.

pub mod backing;
pub mod daemon;
pub mod delay_line;
pub mod discord_sim;
pub mod guild_setup;
pub mod live_reading;
pub mod otlp_receiver;
pub mod sandbox;
pub mod sftp_home;
pub mod sockets;
pub mod stack;
pub mod support;

/// A bounded wait: how long a test waits for any single thing before it fails.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(30);

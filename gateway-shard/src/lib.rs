//! gateway-shard: the only process that talks to Discord. It runs a range of gateway
//! shards, answers slash commands, autocomplete and buttons, and posts killfeed, event and
//! connection messages for the guilds on its shards.
//!
//! Map of the modules:
//! - [`shards`]: connecting the shards and their receive loops (nothing slow runs there);
//!   [`identify_queue`]: Discord's identify limit shared by every process of the bot.
//! - [`events`]: each gateway event, handled on its own task.
//! - [`interactions`]: answering within Discord's deadline (respond, defer, edit).
//! - [`commands`]: the slash-command schema and every command; [`options`] reads their
//!   options, [`access`] checks admins and premium tiers (and audits refusals) with the
//!   settings [`guild_settings`] keeps for a few seconds.
//! - [`reply`]: what a command answers and how its failures read.
//! - [`embeds`]: the killfeed, suicide, event and connection messages; Discord's limits.
//! - [`posting`]: the workers' notification stream → channel messages, exactly once
//!   ([`deliveries`]: which message claimed which notification);
//!   [`channel_blocks`]: channels Discord refused, left alone until an admin fixes them;
//!   [`channel_permissions`]: what the bot may do in a channel, read from Discord.
//! - [`error_fixes`]: what an admin does about an error, by its kind (for `/debug` and
//!   the alerts).
//! - [`admin_alerts`]: problems only an admin fixes (a server not read, a refused
//!   channel, a failed backfill), told once each: in the guild's admin channel, or
//!   privately to the next admin who runs a command.
//! - [`live_posts`]: messages kept current by editing them in place (auto-posted
//!   leaderboards, a server's live status), refreshed when due by the gateway of their
//!   guild.
//! - [`voice_status`]: the player-count channel name within Discord's rename limit.
//! - [`registration`]: registering the command set only when it changed.
//! - [`rest`]: Discord REST calls with 429 handling; [`workers`]: calling sftp-workers.
//! - [`bot`]: what all of these share.

pub mod access;
pub mod admin_alerts;
pub mod bot;
pub mod channel_blocks;
pub mod channel_permissions;
pub mod commands;
pub mod deliveries;
pub mod embeds;
pub mod error_fixes;
pub mod events;
pub mod guild_settings;
pub mod identify_queue;
pub mod interactions;
pub mod live_posts;
pub mod options;
pub mod posting;
pub mod progress;
pub mod registration;
pub mod reply;
pub mod rest;
pub mod shards;
pub mod voice_status;
pub mod workers;

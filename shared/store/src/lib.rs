//! What Tower of Temptation keeps in MongoDB: one owner per collection, and the types they
//! store — identifiers in the product's words, premium tiers, sealed secrets.
//!
//! Map of the modules:
//! - [`db`]: the MongoDB connection, collection names, many updates in one command,
//!   duplicate-key answers; [`schema`]: `schema_version`, migrations and indexes.
//! - [`ids`]: Discord and game identifiers (guild, server, shard).
//! - [`tier`]: the premium tier table (PRODUCT.md §5) and which tier unlocks each feature.
//! - [`secret`]: sealing SFTP passwords and other secrets at rest, and `Redacted`;
//!   [`key_check`]: a deployment always starts with the key its secrets were sealed with.
//! - [`guilds`]: guild settings (premium tier, admin role, theme, default server) and the
//!   home guild.
//! - [`game_servers`]: registered game servers, credentials sealed, always per guild.
//! - [`player_links`]: Discord users linked to in-game players; [`renames`]: players
//!   who joined under another name than their statistics knew.
//! - [`audit`]: premium grants and refused checks, audited.
//! - [`ledger`]: the economy's balances, every change a transaction applied exactly once;
//!   [`kill_rewards`]: what a kill on the live killfeed pays the killer's linked user;
//!   [`bounties`]: rewards placed on players, claimed by a kill, refunded when they expire;
//!   [`auto_bounties`]: bounties the bot places on killstreaks and target fixation;
//!   [`games`]: the rules of blackjack, slots and roulette; [`gambling`]: games played for
//!   credits, the bet taken and the return paid once.
//! - [`stats_store`]: killfeed statistics, each line counted exactly once;
//!   [`stats_query`]: reading them back (players, leaderboards, weapons, matchups);
//!   [`rivalries`]: two players' kills of each other, kept by the same batches;
//!   [`rivalry_posts`]: the rivalries a batch changed worth a post (lead, intensity);
//!   [`highlights`]: the kills a batch counted worth a post (streaks, streak ends,
//!   revenge, long shots);
//!   [`factions`]: groups of players on a server, one faction per member, the lead
//!   handed over atomically;
//!   [`recount`]: counting them again from the stored kill lines, and repairing;
//!   [`seasons`]: a server's statistics closed under a label and started again;
//!   [`windows`]: the statistics of today, this week, this month, kept per hour and day.
//! - [`live_posts`]: messages kept current in place (auto-posted leaderboards, a server's
//!   live status): what each shows, when it is due, its message, claimed per refresh.
//! - [`cursor_store`]: cursors; a batch interrupted by a crash is finished, not lost or doubled.
//! - [`outbox`]: the durable notification outbox the gateway-shards post from;
//!   [`delayed_killfeed`]: a server's posts held for the delay its admins set;
//!   [`subscription`]: a subscriber reading it in order, never skipping a late write.
//! - [`retention`]: old notifications, error occurrences and audit records deleted;
//!   [`sweep`]: the worker's periodic sweeps that finish what a stopped process left.

pub mod audit;
pub mod auto_bounties;
pub mod bounties;
pub mod cursor_store;
pub mod db;
pub mod delayed_killfeed;
pub mod factions;
pub mod gambling;
pub mod game_servers;
pub mod games;
pub mod guilds;
pub mod highlights;
pub mod ids;
pub mod key_check;
pub mod kill_rewards;
pub mod ledger;
pub mod live_posts;
pub mod outbox;
pub mod player_links;
pub mod recount;
pub mod renames;
pub mod retention;
pub mod rivalries;
pub mod rivalry_posts;
pub mod schema;
pub mod seasons;
pub mod secret;
pub mod stats_query;
pub mod stats_store;
pub mod subscription;
pub mod sweep;
pub mod tier;
pub mod windows;

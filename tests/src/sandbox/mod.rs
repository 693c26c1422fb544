//! The sandbox: the whole product on one machine with no Discord token and no game server
//! of the user's own (`tower-local`, the README's run command).
//!
//! - [`replay`]: the demo game server's life: a live server's real killfeed replayed with
//!   fresh timestamps, and the joins, leaves, missions and airdrops its log gets.
//! - [`demo_server`]: its files on the local sshd, growing in real time.
//! - [`demo_guild`]: the guild "Sandbox", set up as its owner and admin would, through the
//!   bot's own commands.
//! - [`command_line`]: a typed slash command read against the registered schema.
//! - [`render`]: what a Discord user would see, as terminal text.
//! - [`console`]: the prompt's and `--script`'s lines, one at a time.
//! - [`prompt`]: line editing and history; [`completion`]: Tab, the bot's autocomplete
//!   included.

pub mod command_line;
pub mod completion;
pub mod console;
pub mod demo_guild;
pub mod demo_server;
pub mod prompt;
pub mod render;
pub mod replay;

/// The guild "Sandbox".
pub const GUILD_ID: u64 = 800_000_000_000_007_020;
/// The sandbox's admin (Administrator permission) and a plain member.
pub const ADMIN_USER: u64 = 800_000_000_000_000_101;
pub const MEMBER_USER: u64 = 800_000_000_000_000_102;

/// The demo game server.
pub const SERVER_ID: &str = "7020";
pub const SERVER_NAME: &str = "Sandbox Deadside";

/// A channel of the guild.
#[derive(Debug, Clone, Copy)]
pub struct Channel {
    pub name: &'static str,
    pub id: u64,
}

/// A sandbox channel's id by name.
pub fn channel_id(name: &str) -> Option<u64> {
    CHANNELS.iter().find(|c| c.name == name).map(|c| c.id)
}

/// The channels the demo server's feeds post to; `players` is the voice channel the bot
/// renames with the player count; `leaderboards` and `status` are free for
/// `/leaderboard_channel` and `/status_channel`.
pub const CHANNELS: [Channel; 6] = [
    Channel {
        name: "killfeed",
        id: 800_000_000_000_001_001,
    },
    Channel {
        name: "events",
        id: 800_000_000_000_001_002,
    },
    Channel {
        name: "connections",
        id: 800_000_000_000_001_003,
    },
    Channel {
        name: "players",
        id: 800_000_000_000_001_004,
    },
    Channel {
        name: "leaderboards",
        id: 800_000_000_000_001_005,
    },
    Channel {
        name: "status",
        id: 800_000_000_000_001_006,
    },
];

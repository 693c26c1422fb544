//! Every slash command (PRODUCT.md §6): the schema registered with Discord ([`schema`]),
//! who may run each one ([`Access`]), and the code that runs it ([`run`]).
//!
//! One file per command family: [`setup`], [`killfeed`], [`events`], [`stats`] (with
//! [`weapons`] and [`player_form`]), [`link`], [`premium`] (with `/admin`), [`sftp`] (the
//! SFTP diagnostics and backfill), [`removal`] (the confirmation of `/setup
//! removeserver`), [`help`]; [`buttons`]: who may press a message's buttons and menus,
//! and until when; [`autocomplete`] answers server, player and weapon suggestions.

pub mod autocomplete;
pub mod bounties;
pub mod buttons;
pub mod debug;
pub mod economy;
pub mod error_guide;
pub mod events;
pub mod factions;
pub mod gambling;
pub mod help;
pub mod killfeed;
pub mod link;
pub mod live_posts;
pub mod log_files;
pub mod manual_reads;
pub mod player_form;
pub mod premium;
pub mod removal;
pub mod renames;
pub mod rivalry;
pub mod seasons;
pub mod settings;
pub mod setup;
pub mod setup_check;
pub mod sftp;
pub mod stats;
pub mod weapons;

use twilight_model::application::command::{Command, CommandOptionType, CommandType};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::channel::ChannelType;
use twilight_util::builder::command::{
    BooleanBuilder, ChannelBuilder, CommandBuilder, IntegerBuilder, RoleBuilder, StringBuilder,
    SubCommandBuilder, UserBuilder,
};

use tower_store::game_servers::GameServer;
use tower_store::guilds::GuildSettings;
use tower_store::live_posts::MAX_BOARD_EVERY_SECS;
use tower_store::tier::Feature;
use twilight_model::channel::message::Embed;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use crate::access::{Access, Caller};
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};
use crate::options::Invocation;
use crate::progress::Progress;
use crate::reply::{CommandError, Reply};

/// How a command is run.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub access: Access,
    pub feature: Feature,
    /// Talks to SFTP or reads a lot: answer "working…" at once, then edit.
    pub slow: bool,
    /// Only the caller sees the answer (it names hosts or the caller's own links).
    pub private: bool,
}

const fn spec(access: Access, feature: Feature) -> Spec {
    Spec {
        access,
        feature,
        slow: false,
        private: false,
    }
}

/// The rules for a command path, `None` for a path this build does not have.
pub fn spec_of(path: &str) -> Option<Spec> {
    use Access::*;
    use Feature::*;
    let s = match path {
        "setup addserver" => Spec {
            private: true,
            ..spec(Admin, ServerSetup)
        },
        "setup removeserver" | "setup channels" => spec(Admin, ServerSetup),
        // Private: it names hosts, folders and errors; slow: it tests SFTP.
        "setup check" => Spec {
            private: true,
            slow: true,
            ..spec(Admin, Diagnostics)
        },
        "setup list_servers" => spec(Anyone, ServerSetup),
        "killfeed start" | "killfeed stop" | "killfeed highlights" => spec(Admin, Killfeed),
        "killfeed status" => spec(Anyone, Killfeed),
        "killfeed delay" => spec(Admin, DelayedKillfeed),
        "events start" | "events stop" | "events config" | "events fights" => {
            spec(Admin, EventsFeed)
        }
        "events conn_config" => spec(Admin, ConnectionsFeed),
        "events suicide_config" => spec(Admin, Killfeed),
        "events list" => spec(Anyone, EventsFeed),
        "events players" => spec(Anyone, ConnectionsFeed),
        "events status" => spec(Anyone, Killfeed),
        "stats player" | "stats server" | "stats season" => spec(Anyone, Stats),
        // Private: the warning and its buttons concern the admin who asked.
        "reset_stats" => Spec {
            private: true,
            ..spec(Admin, Seasons)
        },
        "stats leaderboard" => spec(Anyone, Leaderboards),
        "leaderboard_channel set" | "leaderboard_channel remove" | "leaderboard_channel list" => {
            spec(Admin, Leaderboards)
        }
        "status_channel set" | "status_channel remove" => spec(Admin, Stats),
        "stats weapon" | "stats weapon_categories" => spec(Anyone, WeaponStats),
        "link" | "unlink" | "myplayers" => Spec {
            private: true,
            ..spec(Anyone, PlayerLinking)
        },
        "premium tiers" | "premium status" | "premium features" | "premium upgrade" => {
            spec(Anyone, PremiumInfo)
        }
        "premium theme" => spec(Admin, CustomThemes),
        "admin help" | "events help" => spec(Anyone, Help),
        "admin premium" => spec(PremiumGranter, PremiumInfo),
        "admin sethomeguild" => spec(BotOwner, PremiumInfo),
        "admin setrole" | "admin status" => spec(Admin, PremiumInfo),
        "admin renamed" => spec(Admin, Stats),
        // Private: the answers show the SFTP user, the resolved address and paths.
        "test_sftp" | "list_sftp_files" => Spec {
            slow: true,
            private: true,
            ..spec(Admin, Diagnostics)
        },
        "historical_parse" => Spec {
            slow: true,
            ..spec(Admin, Backfill)
        },
        "csv_status" | "log_status" => spec(Admin, Diagnostics),
        // The earlier bot's manual re-reads: a poll now (slow: it waits for the poll).
        "process_csv" | "process_logs" => Spec {
            slow: true,
            ..spec(Admin, Backfill)
        },
        "clear_csv_cache" => spec(Admin, Backfill),
        // Private: log names and paths.
        "get_latest_logs" => Spec {
            slow: true,
            private: true,
            ..spec(Admin, Diagnostics)
        },
        "download_log" => Spec {
            private: true,
            ..spec(Admin, Diagnostics)
        },
        // Private: errors name servers, hosts and paths.
        "debug" => Spec {
            private: true,
            ..spec(Admin, Diagnostics)
        },
        "commands" => Spec {
            private: true,
            ..spec(Anyone, Help)
        },
        "error_guide" => spec(Anyone, Help),
        "settings" => spec(Admin, ServerSetup),
        "economy balance" | "economy daily" | "economy leaderboard" | "economy give" => {
            spec(Anyone, Economy)
        }
        // Private: a member's money history.
        "economy transactions" => Spec {
            private: true,
            ..spec(Anyone, Economy)
        },
        "economy adjust" | "economy stats" | "economy settings" => spec(Admin, Economy),
        "bounty place" | "bounty active" => spec(Anyone, Bounties),
        "rivalry list" | "rivalry player" | "rivalry top" | "rivalry closest"
        | "rivalry recent" | "rivalry between" => spec(Anyone, Rivalries),
        // A member's rivalries, shown only to who asked (as the earlier bot did).
        rivalry::VIEW_RIVALRIES => Spec {
            private: true,
            ..spec(Anyone, Rivalries)
        },
        "rivalry posts" | "rivalry record_kill" => spec(Admin, Rivalries),
        // Leader-or-admin subcommands check the leader themselves.
        "faction create"
        | "faction info"
        | "faction list"
        | "faction join"
        | "faction leave"
        | "faction promote"
        | "faction edit"
        | "faction stats"
        | "faction delete"
        | "faction set_require_approval" => spec(Anyone, Factions),
        "faction add" | "faction remove" => spec(Admin, Factions),
        // A member's faction, shown only to who asked (as "View Rivalries").
        factions::VIEW_FACTION => Spec {
            private: true,
            ..spec(Anyone, Factions)
        },
        "bounty settings" => spec(Admin, Bounties),
        "gambling blackjack" | "gambling slots" | "gambling roulette" => spec(Anyone, Gambling),
        "gambling limits" => spec(Admin, Gambling),
        // Private, as the earlier bot answered it.
        "bounty my" => Spec {
            private: true,
            ..spec(Anyone, Bounties)
        },
        _ => return None,
    };
    Some(s)
}

/// Runs a command that [`Bot::admit`] let through; `guild` is the caller's guild settings
/// it read.
pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
    progress: &Progress,
) -> Result<Reply, CommandError> {
    let family = inv.path.split(' ').next().unwrap_or_default();
    match family {
        "setup" => setup::run(bot, caller, guild, inv, progress).await,
        "killfeed" => killfeed::run(bot, caller, inv).await,
        "events" => events::run(bot, caller, inv).await,
        "stats" => stats::run(bot, caller, guild, inv).await,
        "leaderboard_channel" | "status_channel" => live_posts::run(bot, caller, guild, inv).await,
        "link" | "unlink" | "myplayers" => link::run(bot, caller, inv).await,
        "admin" if inv.path == "admin renamed" => renames::renamed(bot, caller, inv).await,
        "premium" | "admin" => premium::run(bot, caller, guild, inv).await,
        "test_sftp" | "list_sftp_files" | "historical_parse" | "csv_status" | "log_status" => {
            sftp::run(bot, caller, inv, progress).await
        }
        "debug" => debug::run(bot, caller, inv).await,
        "commands" => Ok(help::commands(caller.user_id)),
        "error_guide" => error_guide::run(bot, inv),
        "settings" => settings::run(bot, caller, guild, inv).await,
        "economy" => economy::run(bot, caller, guild, inv).await,
        "bounty" => bounties::run(bot, caller, guild, inv).await,
        "rivalry" => rivalry::run(bot, caller, inv).await,
        _ if inv.path == rivalry::VIEW_RIVALRIES => rivalry::of_member(bot, caller, inv).await,
        "faction" => factions::run(bot, caller, guild, inv).await,
        _ if inv.path == factions::VIEW_FACTION => factions::of_member(bot, caller, inv).await,
        "gambling" => gambling::run(bot, caller, guild, inv).await,
        "reset_stats" => seasons::ask(bot, caller, inv).await,
        "process_csv" | "process_logs" | "clear_csv_cache" => {
            manual_reads::run(bot, caller, inv).await
        }
        "get_latest_logs" | "download_log" => log_files::run(bot, caller, inv).await,
        _ => Err(unknown(&inv.path)),
    }
}

pub fn unknown(path: &str) -> CommandError {
    CommandError::invalid(
        format!("`/{path}` is not a command of this bot."),
        "Discord may still show an old command list; it updates within a minute. See /commands.",
    )
}

/// What a command does when its `server_id` is omitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenOmitted {
    EveryServer,
    /// The guild's default server (`/settings default_server`) while it is one of the
    /// guild's servers, else every server.
    DefaultServer,
}

/// The game server named by the optional `server_id` option, or as `omitted` says.
/// Refused when the guild has none.
pub async fn chosen_servers(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    omitted: WhenOmitted,
) -> Result<Vec<GameServer>, CommandError> {
    let guild = tower_store::ids::GuildId(caller.guild_id);
    let servers = match inv.opt_server_id("server_id")? {
        Some(id) => vec![bot.servers.get(guild, &id).await?],
        None => {
            let all = bot.servers.list(guild).await?;
            // Read afresh, not from the access checks' cache: a change applies at once.
            let default = match omitted {
                WhenOmitted::DefaultServer => {
                    bot.guilds
                        .settings(caller.guild_id)
                        .await
                        .map_err(|e| CommandError::failed("Could not read the settings", e))?
                        .default_server
                }
                WhenOmitted::EveryServer => None,
            };
            let default = default.and_then(|d| all.iter().find(|s| s.server.as_str() == d));
            match default {
                Some(s) => vec![s.clone()],
                None => all,
            }
        }
    };
    if servers.is_empty() {
        return Err(CommandError::invalid(
            "This Discord server has no game server yet.",
            "An admin adds one with /setup addserver.",
        ));
    }
    Ok(servers)
}

/// One field per game server (`name (id)` → `describe(server)`), or `empty` when the guild
/// has none, spread over as many embeds as Discord's limits need ([`field_embeds`]).
pub fn servers_reply(
    title: &str,
    servers: &[GameServer],
    description: Option<String>,
    empty: &str,
    describe: impl Fn(&GameServer) -> String,
) -> Reply {
    if servers.is_empty() {
        return Reply::embed(
            EmbedBuilder::new()
                .title(title)
                .color(colour::INFO)
                .description(empty)
                .build(),
        );
    }
    let fields = servers
        .iter()
        .map(|s| (server_label(s), describe(s)))
        .collect();
    Reply::embeds(field_embeds(title, colour::INFO, description, fields))
}

/// A game server as a field name: its name (escaped) and id.
pub fn server_label(s: &GameServer) -> String {
    clip(&format!("{} ({})", shown(&s.name, 100), s.server), 256)
}

/// Discord's limits an embed of [`field_embeds`] keeps within: 25 fields, and 6,000
/// characters for a whole message (so an embed never needs more than one message).
const FIELDS_PER_EMBED: usize = 25;
const CHARS_PER_EMBED: usize = 5_800;

/// A list answer: `fields` (name → value, each clipped to Discord's field limits) over as
/// many embeds as needed, the later ones titled "… (continued)". [`Reply::messages`] then
/// spreads the embeds over follow-up messages, so no list is ever cut short.
pub fn field_embeds(
    title: &str,
    colour: u32,
    description: Option<String>,
    fields: Vec<(String, String)>,
) -> Vec<Embed> {
    let new_embed = |first: bool| {
        let mut b = EmbedBuilder::new().color(colour);
        let mut used = 0;
        if first {
            b = b.title(clip(title, 256));
            used += title.chars().count().min(256);
            if let Some(d) = &description {
                let d = clip(d, 4096);
                used += d.chars().count();
                b = b.description(d);
            }
        } else {
            let t = clip(&format!("{title} (continued)"), 256);
            used += t.chars().count();
            b = b.title(t);
        }
        (b, used, 0usize)
    };
    let mut embeds = Vec::new();
    let (mut b, mut used, mut count) = new_embed(true);
    for (name, value) in fields {
        let name = clip(non_blank(&name), 256);
        let value = clip(non_blank(&value), 1024);
        let size = name.chars().count() + value.chars().count();
        if count == FIELDS_PER_EMBED || (count > 0 && used + size > CHARS_PER_EMBED) {
            embeds.push(b.build());
            (b, used, count) = new_embed(false);
        }
        b = b.field(EmbedFieldBuilder::new(name, value));
        used += size;
        count += 1;
    }
    embeds.push(b.build());
    embeds
}

/// Discord refuses an empty field name or value.
fn non_blank(text: &str) -> &str {
    if text.trim().is_empty() { "—" } else { text }
}

/// The guild's channels Discord refused posts to, as a warning for a status answer.
pub async fn refused_channels(bot: &Bot, guild: u64) -> Result<Option<String>, CommandError> {
    let blocks = bot
        .channel_blocks
        .of_guild(guild)
        .await
        .map_err(|e| CommandError::failed("Could not read the refused channels", e))?;
    Ok((!blocks.is_empty()).then(|| {
        blocks
            .iter()
            .map(crate::channel_blocks::describe)
            .collect::<Vec<_>>()
            .join("\n")
    }))
}

/// The text for a list: its lines, or `empty` when there are none.
pub fn lines_or(lines: &[String], empty: &str) -> String {
    if lines.is_empty() {
        empty.to_owned()
    } else {
        lines.join("\n")
    }
}

/// A feed's state: "on in #channel", "on, but no channel", "stopped".
pub fn feed_state(on: bool, channel: Option<u64>) -> String {
    match (on, channel) {
        (true, Some(c)) => format!("on in <#{c}>"),
        (true, None) => "on, but no channel (/setup channels)".to_owned(),
        (false, _) => "stopped".to_owned(),
    }
}

fn sub(name: &str, description: &str) -> SubCommandBuilder {
    SubCommandBuilder::new(name, description)
}

fn server(name: &str, required: bool) -> StringBuilder {
    StringBuilder::new(name, "The game server (its server_id)")
        .required(required)
        .autocomplete(true)
        .max_length(32)
}

/// How many rivalries a `/rivalry` list shows.
/// A faction by name or tag (required), completed from the server's factions.
fn faction_name(name: &str) -> StringBuilder {
    text(name, "The faction's name or tag", true)
        .autocomplete(true)
        .max_length(32)
}

fn rivalry_limit() -> IntegerBuilder {
    IntegerBuilder::new("limit", "How many (default 10, at most 25)")
        .min_value(1)
        .max_value(25)
}

/// `window`: all time (the default), today, this week or this month.
fn window() -> StringBuilder {
    StringBuilder::new("window", "Which time (default: all time)").choices([
        ("All time", "all"),
        ("Today", "today"),
        ("This week", "week"),
        ("This month", "month"),
    ])
}

fn text(name: &str, description: &str, required: bool) -> StringBuilder {
    StringBuilder::new(name, description).required(required)
}

fn switch(name: &str, description: &str) -> BooleanBuilder {
    BooleanBuilder::new(name, description)
}

fn channel(name: &str, description: &str, kinds: &[ChannelType]) -> ChannelBuilder {
    ChannelBuilder::new(name, description).channel_types(kinds.iter().copied())
}

fn command(name: &str, description: &str) -> CommandBuilder {
    CommandBuilder::new(name, description, CommandType::ChatInput)
        .contexts([InteractionContextType::Guild])
}

/// A button pressed or a menu value chosen: the command it belongs to (by its
/// `custom_id`'s prefix), whose access
/// and tier are checked again before [`press`].
pub fn button_command(custom_id: &str) -> Option<&'static str> {
    match custom_id.split('|').next()? {
        "sp" => Some("stats player"),
        help::HelpMenu::PREFIX => Some("commands"),
        weapons::WeaponPage::PREFIX => Some("stats weapon"),
        removal::RemovalButton::PREFIX => Some("setup removeserver"),
        seasons::ResetButton::PREFIX => Some("reset_stats"),
        factions::FactionButton::PREFIX => Some("faction leave"),
        // Every game's controls: access and tier as for the games.
        gambling::GameButton::PREFIX => Some("gambling blackjack"),
        _ => None,
    }
}

/// Runs a pressed button or a chosen menu value of `path` ([`button_command`]).
pub async fn press(
    bot: &Bot,
    caller: &Caller,
    path: &str,
    custom_id: &str,
    values: &[String],
) -> Result<Reply, CommandError> {
    match path {
        "commands" => help::chosen(&schema(), caller.user_id, custom_id, values),
        "stats player" => stats::page_button(bot, caller, custom_id).await,
        "stats weapon" => weapons::page_button(bot, caller, custom_id).await,
        "setup removeserver" => removal::pressed(bot, caller, custom_id).await,
        "reset_stats" => seasons::pressed(bot, caller, custom_id).await,
        "faction leave" => factions::pressed(bot, caller, custom_id).await,
        "gambling blackjack" => gambling::pressed(bot, caller, custom_id, values).await,
        other => Err(unknown(other)),
    }
}

/// The global command set, in the order `/commands` lists it.
pub fn schema() -> Vec<Command> {
    let text_channels = [ChannelType::GuildText, ChannelType::GuildAnnouncement];
    vec![
        command("setup", "Set up game servers and channels")
            .option(
                sub("addserver", "Add a game server (SFTP access to its logs)")
                    .option(
                        text("server_name", "A name to show for the server", true).max_length(100),
                    )
                    .option(text("host", "SFTP host name or address", true).max_length(253))
                    .option(
                        IntegerBuilder::new("port", "SFTP port")
                            .required(true)
                            .min_value(1)
                            .max_value(65535),
                    )
                    .option(text("username", "SFTP user name", true).max_length(128))
                    .option(
                        text("password", "SFTP password (stored encrypted)", true).max_length(256),
                    )
                    .option(
                        text(
                            "server_id",
                            "The game server's id (the number in its folder name)",
                            true,
                        )
                        .max_length(32),
                    ),
            )
            .option(sub("removeserver", "Remove a game server").option(server("server_id", true)))
            .option(
                sub(
                    "check",
                    "Why is nothing posting? Checks SFTP, files, reading, feeds and permissions",
                )
                .option(server("server_id", true)),
            )
            .option(sub(
                "list_servers",
                "List this Discord server's game servers",
            ))
            .option(
                sub("channels", "Choose where a game server's messages go")
                    .option(server("server_id", true))
                    .option(channel(
                        "killfeed_channel",
                        "Kills and suicides",
                        &text_channels,
                    ))
                    .option(channel(
                        "events_channel",
                        "Missions, airdrops, crashes, traders, convoys, restarts",
                        &text_channels,
                    ))
                    .option(channel(
                        "connections_channel",
                        "Players joining and leaving",
                        &text_channels,
                    ))
                    .option(channel(
                        "voice_status_channel",
                        "A voice channel renamed to the player count",
                        &[ChannelType::GuildVoice],
                    ))
                    .option(channel(
                        "admin_channel",
                        "Where admins are told of problems only they can fix (all servers)",
                        &text_channels,
                    ))
                    .option(channel(
                        "bounty_channel",
                        "Bounties placed, claimed and expired",
                        &text_channels,
                    ))
                    .option(channel(
                        "economy_channel",
                        "The economy's announcements: gambling's big wins",
                        &text_channels,
                    )),
            )
            .build(),
        command("killfeed", "The live killfeed")
            .option(
                sub("start", "Start posting a server's killfeed").option(server("server_id", true)),
            )
            .option(
                sub("stop", "Stop posting a server's killfeed").option(server("server_id", true)),
            )
            .option(sub("status", "Killfeed state of every game server"))
            .option(
                sub(
                    "highlights",
                    "Choose which highlights the killfeed posts: streaks, revenge, long shots",
                )
                .option(server("server_id", true))
                .option(switch("streaks", "Kill streaks at 3, 5, 10, 15, … kills"))
                .option(switch("streak_ends", "Streaks of 5 or more ended"))
                .option(switch("revenge", "Kills of a player's nemesis"))
                .option(switch(
                    "long_shots",
                    "Kills from the long-shot distance or farther",
                ))
                .option(
                    IntegerBuilder::new(
                        "long_shot_m",
                        "Long-shot distance in metres (default 300)",
                    )
                    .min_value(i64::from(tower_store::highlights::LONG_SHOT_FLOOR_M))
                    .max_value(2000),
                ),
            )
            .option(
                sub(
                    "delay",
                    "Hold a server's killfeed back for a while, so fights are not revealed live",
                )
                .option(server("server_id", true))
                .option(
                    IntegerBuilder::new("minutes", "Minutes from 0 (posted at once) to 60")
                        .min_value(0)
                        .max_value(killfeed::MAX_DELAY_MINUTES),
                ),
            )
            .build(),
        command("events", "Game events and connections")
            .option(
                sub("start", "Start posting a server's events and connections")
                    .option(server("server_id", true)),
            )
            .option(
                sub(
                    "fights",
                    "Edit airdrop, mission and convoy posts with the kills that followed them",
                )
                .option(server("server_id", true))
                .option(
                    IntegerBuilder::new("minutes", "How long after the event (0: off)")
                        .min_value(0)
                        .max_value(events::MAX_FIGHTS_MINUTES),
                ),
            )
            .option(
                sub("stop", "Stop posting a server's events and connections")
                    .option(server("server_id", true)),
            )
            .option(
                sub("list", "Recent events of a server")
                    .option(server("server_id", true))
                    .option(
                        // The earlier bot's choices and values (EARLIER-BOT.md §2.11).
                        StringBuilder::new("event_type", "Only this kind of event").choices([
                            ("All", "all"),
                            ("Mission", "mission"),
                            ("Airdrop", "airdrop"),
                            ("Helicopter crash", "crash"),
                            ("Trader", "trader"),
                            ("Convoy", "convoy"),
                            ("Encounter", "encounter"),
                            ("Server restart", "server_restart"),
                        ]),
                    )
                    .option(
                        IntegerBuilder::new("limit", "How many (at most 20)")
                            .min_value(1)
                            .max_value(20),
                    ),
            )
            .option(
                sub("config", "Choose which events are posted")
                    .option(server("server_id", true))
                    .option(switch("mission", "Missions"))
                    .option(switch("airdrop", "Airdrops"))
                    .option(switch("crash", "Helicopter crashes"))
                    .option(switch("trader", "Traders"))
                    .option(switch("convoy", "Convoys"))
                    .option(switch("encounter", "Encounters"))
                    .option(switch("server_restart", "Server restarts")),
            )
            .option(
                sub("conn_config", "Choose which connections are posted")
                    .option(server("server_id", true))
                    .option(switch("connect", "Players joining"))
                    .option(switch("disconnect", "Players leaving")),
            )
            .option(
                sub("suicide_config", "Choose which suicides the killfeed posts")
                    .option(server("server_id", true))
                    .option(switch("menu", "Suicides from the menu"))
                    .option(switch("fall", "Falls"))
                    .option(switch("other", "Other suicides (vehicles, …)")),
            )
            .option(sub("players", "Players online now").option(server("server_id", true)))
            .option(sub(
                "status",
                "Event and connection feeds of every game server",
            ))
            .option(sub("help", "The events commands and how to configure them"))
            .build(),
        command("stats", "PvP statistics")
            .option(
                sub("player", "A player's statistics")
                    .option(server("server_id", true))
                    .option(
                        text("player_name", "The player", true)
                            .autocomplete(true)
                            .max_length(100),
                    )
                    .option(window()),
            )
            .option(sub("server", "A game server's totals").option(server("server_id", true)))
            .option(
                sub("leaderboard", "The best players by one statistic")
                    .option(server("server_id", true))
                    .option(
                        StringBuilder::new("stat", "Rank by")
                            .required(true)
                            .choices([
                                ("Kills", "kills"),
                                ("Deaths", "deaths"),
                                ("K/D ratio", "kdr"),
                                ("Longest shot", "longest_shot"),
                                ("Highest killstreak", "highest_killstreak"),
                                ("Suicides", "suicides"),
                            ]),
                    )
                    .option(
                        IntegerBuilder::new("limit", "How many (default 10, at most 25)")
                            .min_value(1)
                            .max_value(25),
                    )
                    .option(window())
                    .option(
                        text(
                            "platform",
                            "Only players last seen on this platform, as the log writes it (PS5, XSX, …)",
                            false,
                        )
                        .max_length(16),
                    ),
            )
            .option(
                sub("weapon", "A weapon's statistics")
                    .option(server("server_id", true))
                    .option(
                        text("weapon_name", "The weapon", true)
                            .autocomplete(true)
                            .max_length(100),
                    ),
            )
            .option(sub("weapon_categories", "Kills by weapon").option(server("server_id", true)))
            .option(
                sub("season", "Closed seasons: their champions and players")
                    .option(server("server_id", true))
                    .option(
                        text("season", "The season (its name or number)", false)
                            .autocomplete(true)
                            .max_length(40),
                    )
                    .option(
                        text("player_name", "A player's line in that season", false)
                            .autocomplete(true)
                            .max_length(100),
                    ),
            )
            .build(),
        command(
            "leaderboard_channel",
            "Leaderboards posted in a channel and kept current by editing them in place",
        )
        .option(
            sub("set", "Post a server's leaderboard in a channel, edited on each refresh")
                .option(server("server_id", true))
                .option(channel("channel", "Where the board is posted", &text_channels).required(true))
                .option(
                    text(
                        "stats",
                        "Rankings, comma-separated: kills, deaths, kdr, longest_shot, highest_killstreak, suicides, weapons",
                        false,
                    )
                    .max_length(200),
                )
                .option(window())
                .option(
                    IntegerBuilder::new("interval", "Minutes between refreshes (default 15)")
                        .min_value(5)
                        .max_value(MAX_BOARD_EVERY_SECS / 60),
                )
                .option(switch("podium", "Show the top three apart, with medals"))
                .option(
                    IntegerBuilder::new("rows", "Players per ranking (default 10, at most 25)")
                        .min_value(1)
                        .max_value(25),
                )
                .option(
                    IntegerBuilder::new(
                        "kd_min_kills",
                        "Kills a player needs to be ranked by K/D (default 5)",
                    )
                    .min_value(0)
                    .max_value(1000),
                ),
        )
        .option(
            sub("remove", "Stop a board and delete its message")
                .option(server("server_id", true))
                .option(channel("channel", "The board's channel", &text_channels).required(true)),
        )
        .option(sub("list", "Every auto-posted leaderboard and live status"))
        .build(),
        command(
            "status_channel",
            "A server's live status in a channel, edited every minute",
        )
        .option(
            sub(
                "set",
                "Post a server's live status: players, last kills, restarts, killfeed health",
            )
            .option(server("server_id", true))
            .option(channel("channel", "Where the status is posted", &text_channels).required(true)),
        )
        .option(
            sub("remove", "Stop a server's live status and delete its message")
                .option(server("server_id", true)),
        )
        .build(),
        command("link", "Link your Discord account to your in-game player")
            .option(
                text("player_name", "Your in-game name", true)
                    .autocomplete(true)
                    .max_length(100),
            )
            .option(server("server_id", false))
            .build(),
        command(
            "unlink",
            "Unlink an in-game player from your Discord account",
        )
        .option(
            text("player_name", "The in-game player name to unlink", true)
                .autocomplete(true)
                .max_length(100),
        )
        .option(server("server_id", false))
        .build(),
        command(
            "myplayers",
            "Your linked players, with their kills and deaths",
        )
        .option(server("server_id", false))
        .build(),
        command("economy", "Credits earned on the killfeed, per game server")
            .option(sub("balance", "Your balance").option(server("server_id", true)))
            .option(sub("daily", "Claim your daily reward").option(server("server_id", true)))
            .option(sub("leaderboard", "The richest players").option(server("server_id", true)))
            .option(
                sub("give", "Give credits to another member")
                    .option(server("server_id", true))
                    .option(UserBuilder::new("user", "Who gets them").required(true))
                    .option(
                        IntegerBuilder::new("amount", "How many credits")
                            .required(true)
                            .min_value(1),
                    ),
            )
            .option(
                sub("adjust", "Add or remove a member's credits (admin)")
                    .option(server("server_id", true))
                    .option(UserBuilder::new("user", "Whose credits").required(true))
                    .option(
                        IntegerBuilder::new("amount", "Credits to add (negative: to remove)")
                            .required(true),
                    )
                    .option(text("reason", "Why (shown in their history)", false).max_length(200)),
            )
            .option(
                sub("stats", "The server's economy and games in figures (admin)")
                    .option(server("server_id", true)),
            )
            .option(
                sub(
                    "settings",
                    "The daily reward, kill rewards, history pay, the money's name (admin)",
                )
                .option(StringBuilder::new("setting", "Which setting").choices([
                    ("Daily reward amount", "daily_amount"),
                    ("Credits for a kill", "kill_reward"),
                    ("Pay kills read as history or late (on/off)", "pay_history"),
                    ("Currency name", "currency_name"),
                ]))
                .option(
                    text("value", "A number, a name, default, or on/off", false).max_length(20),
                ),
            )
            .option(
                sub("transactions", "A balance's history")
                    .option(server("server_id", true))
                    .option(UserBuilder::new("user", "Whose (admins: anyone's)"))
                    .option(
                        IntegerBuilder::new("limit", "How many (default 10, at most 25)")
                            .min_value(1)
                            .max_value(25),
                    ),
            )
            .build(),
        command("bounty", "Rewards on players, claimed by killing them")
            .option(
                sub(
                    "place",
                    "Place a bounty on a player, paid from your balance",
                )
                .option(server("server_id", true))
                .option(
                    text("player_name", "The player to hunt", true)
                        .autocomplete(true)
                        .max_length(100),
                )
                .option(
                    IntegerBuilder::new("reward", "Coins for the hunter (50 to 10000)")
                        .required(true)
                        .min_value(tower_store::bounties::MIN_REWARD)
                        .max_value(tower_store::bounties::MAX_REWARD),
                )
                .option(text("reason", "Why (shown on the bounty)", false).max_length(200)),
            )
            .option(sub("active", "The active bounties").option(server("server_id", true)))
            .option(
                sub("my", "Bounties you placed or claimed")
                    .option(server("server_id", true))
                    .option(
                        StringBuilder::new("view_type", "Which (default: placed)").choices([
                            ("Bounties I've Placed", "placed"),
                            ("Bounties I've Claimed", "claimed"),
                        ]),
                    ),
            )
            .option(
                sub("settings", "Auto-bounties and the bounty channel (admin)")
                    .option(
                        StringBuilder::new("setting", "Which setting")
                            .required(true)
                            .choices([
                                ("Auto-Bounty System (On/Off)", "auto_bounty"),
                                ("Kill Threshold for Auto-Bounties", "kill_threshold"),
                                ("Target Fixation Threshold", "repeat_threshold"),
                                ("Time Window (minutes)", "time_window"),
                                ("Auto-Bounty Reward Amount", "reward_amount"),
                                ("Bounty Announcement Channel", "bounty_channel"),
                            ]),
                    )
                    .option(
                        text("value", "The new value (on/off, or a number)", false).max_length(10),
                    )
                    .option(channel(
                        "channel",
                        "For the announcement channel",
                        &text_channels,
                    )),
            )
            .build(),
        command("rivalry", "Who fights whom: players' kills of each other")
            .option(
                sub("list", "Your rivalries")
                    .option(server("server_id", false))
                    .option(rivalry_limit()),
            )
            .option(
                sub("player", "A player's rivalries")
                    .option(
                        text("player_name", "The player", true)
                            .autocomplete(true)
                            .max_length(100),
                    )
                    .option(server("server_id", false)),
            )
            .option(
                sub("top", "The most intense rivalries")
                    .option(server("server_id", false))
                    .option(rivalry_limit()),
            )
            .option(
                sub("closest", "The closest rivalries")
                    .option(server("server_id", false))
                    .option(rivalry_limit()),
            )
            .option(
                sub("recent", "Rivalries with recent kills")
                    .option(server("server_id", false))
                    .option(rivalry_limit())
                    .option(
                        IntegerBuilder::new("days", "Within how many days (default 7)")
                            .min_value(1)
                            .max_value(365),
                    ),
            )
            .option(
                sub("between", "The rivalry between two players")
                    .option(
                        text("player1", "One player", true)
                            .autocomplete(true)
                            .max_length(100),
                    )
                    .option(
                        text("player2", "The other", true)
                            .autocomplete(true)
                            .max_length(100),
                    )
                    .option(server("server_id", false)),
            )
            .option(
                sub(
                    "posts",
                    "Post in the killfeed when a rivalry's lead changes or it heats up",
                )
                .option(server("server_id", true))
                .option(switch("enabled", "On or off (default on)")),
            )
            .option(
                sub("record_kill", "Record a kill by hand (admin)")
                    .option(server("server_id", true))
                    .option(
                        text("killer", "The player who made the kill", true)
                            .autocomplete(true)
                            .max_length(100),
                    )
                    .option(
                        text("victim", "The player who was killed", true)
                            .autocomplete(true)
                            .max_length(100),
                    )
                    .option(text("weapon", "The weapon used", false).max_length(64))
                    .option(text("location", "Where it happened", false).max_length(100)),
            )
            .build(),
        // The user context menu on a member ("Apps → View Rivalries").
        CommandBuilder::new(rivalry::VIEW_RIVALRIES, "", CommandType::User)
            .contexts([InteractionContextType::Guild])
            .build(),
        command("faction", "Player factions: groups that fight together")
            .option(
                sub("create", "Create a faction, led by you")
                    .option(text("name", "Its name (3–32 characters)", true).max_length(32))
                    .option(text("tag", "Its tag (2–10 characters)", true).max_length(10))
                    .option(server("server_id", false))
                    .option(text("description", "What it is about", false).max_length(1000))
                    .option(
                        text(
                            "color",
                            "#RRGGBB or red, blue, green, gold, purple, orange, teal, dark_blue",
                            false,
                        )
                        .max_length(16),
                    ),
            )
            .option(
                sub("info", "A faction's details")
                    .option(faction_name("name"))
                    .option(server("server_id", false)),
            )
            .option(sub("list", "The server's factions").option(server("server_id", false)))
            .option(
                sub("join", "Join a faction")
                    .option(faction_name("name"))
                    .option(server("server_id", false)),
            )
            .option(sub("leave", "Leave your faction").option(server("server_id", false)))
            .option(
                sub("add", "Add a player to a faction")
                    .option(faction_name("faction_name"))
                    .option(
                        text("player_name", "The player", true)
                            .autocomplete(true)
                            .max_length(100),
                    )
                    .option(server("server_id", false))
                    .option(switch(
                        "count_earlier_kills",
                        "Count their kills and deaths from before they joined (default no)",
                    )),
            )
            .option(
                sub("remove", "Remove a player from a faction")
                    .option(faction_name("faction_name"))
                    .option(
                        text("player_name", "The player", true)
                            .autocomplete(true)
                            .max_length(100),
                    )
                    .option(server("server_id", false)),
            )
            .option(
                sub(
                    "promote",
                    "Change a member's role (leader: hand the lead over)",
                )
                .option(faction_name("faction_name"))
                .option(
                    text("player_name", "The member", true)
                        .autocomplete(true)
                        .max_length(100),
                )
                .option(server("server_id", false))
                .option(
                    StringBuilder::new("role", "The new role (default officer)").choices([
                        ("Member", "member"),
                        ("Officer", "officer"),
                        ("Leader", "leader"),
                    ]),
                ),
            )
            .option(
                sub("edit", "Change a faction's name, tag, description or color")
                    .option(faction_name("faction_name"))
                    .option(server("server_id", false))
                    .option(text("new_name", "A new name (3–32 characters)", false).max_length(32))
                    .option(text("new_tag", "A new tag (2–10 characters)", false).max_length(10))
                    .option(text("description", "A new description", false).max_length(1000))
                    .option(text("color", "#RRGGBB or a color name", false).max_length(16)),
            )
            .option(
                sub("stats", "A faction's kills and deaths (yours by default)")
                    .option(server("server_id", false))
                    .option(
                        text("faction_name", "The faction", false)
                            .autocomplete(true)
                            .max_length(32),
                    ),
            )
            .option(
                sub("delete", "Delete a faction")
                    .option(faction_name("faction_name"))
                    .option(server("server_id", false)),
            )
            .option(
                sub(
                    "set_require_approval",
                    "Whether joining needs the leader's approval",
                )
                .option(faction_name("faction_name"))
                .option(switch("require_approval", "On or off").required(true))
                .option(server("server_id", false)),
            )
            .build(),
        // The user context menu on a member ("Apps → View Faction").
        CommandBuilder::new(factions::VIEW_FACTION, "", CommandType::User)
            .contexts([InteractionContextType::Guild])
            .build(),
        command("gambling", "Blackjack, slots and roulette for credits")
            .option(
                sub("blackjack", "Beat the dealer to 21")
                    .option(server("server_id", true))
                    .option(IntegerBuilder::new("bet", "Credits to bet (default 10)").min_value(1)),
            )
            .option(
                sub("slots", "Spin the salvage machine")
                    .option(server("server_id", true))
                    .option(IntegerBuilder::new("bet", "Credits to bet (default 10)").min_value(1)),
            )
            .option(
                sub("roulette", "Bet on where the ball lands")
                    .option(server("server_id", true))
                    .option(IntegerBuilder::new("bet", "Credits to bet (default 10)").min_value(1))
                    .option(
                        IntegerBuilder::new("number", "A straight bet on one number (35 to 1)")
                            .min_value(0)
                            .max_value(36),
                    ),
            )
            .option(
                sub("limits", "The smallest and largest bet (admin)")
                    .option(IntegerBuilder::new("min_bet", "The smallest bet").min_value(1))
                    .option(IntegerBuilder::new("max_bet", "The largest bet").min_value(1)),
            )
            .build(),
        command("premium", "Premium tiers")
            .option(sub("tiers", "What each tier gives"))
            .option(sub("status", "This Discord server's tier and use"))
            .option(sub("features", "Which tier unlocks each feature"))
            .option(sub(
                "upgrade",
                "Ask the bot's administrators for the next tier",
            ))
            .option(
                sub("theme", "The colours of this Discord server's messages").option(
                    StringBuilder::new("theme", "The theme")
                        .required(true)
                        .choices(crate::embeds::Theme::CHOICES),
                ),
            )
            .build(),
        command("admin", "Bot administration")
            .option(
                sub("premium", "Grant a premium tier (home server admins)")
                    .option(text("guild_id", "The Discord server's id", true).max_length(20))
                    .option(
                        IntegerBuilder::new("tier", "The tier")
                            .required(true)
                            .choices([
                                ("0 Scavenger", 0),
                                ("1 Survivor", 1),
                                ("2 Mercenary", 2),
                                ("3 Warlord", 3),
                                ("4 Overseer", 4),
                            ]),
                    ),
            )
            .option(sub(
                "sethomeguild",
                "Make this the bot's home server (bot owner)",
            ))
            .option(
                sub("setrole", "Members with this role count as bot admins here")
                    .option(RoleBuilder::new("role", "The role").required(true)),
            )
            .option(sub("status", "Bot status for this Discord server"))
            .option(sub("help", "The admin commands and who may use them"))
            .option(
                sub("renamed", "Players who joined under another name lately")
                    .option(server("server_id", true)),
            )
            .build(),
        command("test_sftp", "Test the SFTP connection to a game server")
            .option(server("server", true))
            .build(),
        command("list_sftp_files", "List files on a game server's SFTP")
            .option(server("server", true))
            .option(text("path", "Folder (default: the killfeed folder)", false).max_length(512))
            .option(
                text(
                    "pattern",
                    "Only names matching this glob, e.g. *.csv",
                    false,
                )
                .max_length(100),
            )
            .build(),
        command(
            "historical_parse",
            "Read the killfeed files not read yet now, with progress (backfill)",
        )
        .option(server("server_id", false))
        .option(
            IntegerBuilder::new(
                "days",
                "Also read again the files of the last N days: what was missed is counted, nothing twice",
            )
            .min_value(1)
            .max_value(3650),
        )
        .build(),
        command(
            "reset_stats",
            "Close the statistics season: archive it, then start again from zero",
        )
        .option(server("server_id", false))
        .option(
            text(
                "season_name",
                "The name it is archived under (default: Season N)",
                false,
            )
            .max_length(40),
        )
        .build(),
        command(
            "process_csv",
            "Read a server's new killfeed lines now (they are also read all the time)",
        )
        .option(server("server_id", false))
        .option(
            IntegerBuilder::new("hours", "Kept from the earlier bot: everything new is read")
                .min_value(1)
                .max_value(8760),
        )
        .build(),
        command(
            "process_logs",
            "Read a server's log now (it is also read all the time)",
        )
        .option(server("server_id", false))
        .option(
            IntegerBuilder::new(
                "minutes",
                "Kept from the earlier bot: everything new is read",
            )
            .min_value(1)
            .max_value(1440),
        )
        .build(),
        command(
            "clear_csv_cache",
            "Clear the CSV parser cache (kept from the earlier bot)",
        )
        .build(),
        command("get_latest_logs", "List a game server's latest log files")
            .option(server("server", true))
            .option(
                IntegerBuilder::new("hours", "Changed in the last N hours (default 24)")
                    .min_value(1)
                    .max_value(8760),
            )
            .option(
                IntegerBuilder::new("count", "How many (default 5, at most 20)")
                    .min_value(1)
                    .max_value(20),
            )
            .build(),
        command("download_log", "How to download a game server's log file")
            .option(server("server", true))
            .option(text("path", "The file (from /get_latest_logs)", true).max_length(512))
            .build(),
        command("csv_status", "Killfeed reading state of every game server").build(),
        command(
            "log_status",
            "Server log reading state of every game server",
        )
        .build(),
        command(
            "debug",
            "Look up an error by its id, or this server's recent errors",
        )
        .option(
            text(
                "error_id",
                "The id an error message gave, like E-7K2M9Q4XRD",
                false,
            )
            .max_length(20),
        )
        .option(switch(
            "show_recent",
            "This Discord server's most recent errors",
        ))
        .build(),
        command("commands", "Every command of this bot").build(),
        command("settings", "View or modify server settings")
            .option(
                StringBuilder::new("setting", "Setting to modify")
                    .choices(settings::SETTINGS.iter().copied()),
            )
            .option(
                text(
                    "value",
                    "New value (default_server: a server id, or none)",
                    false,
                )
                .max_length(100)
                .autocomplete(true),
            )
            .build(),
        command("error_guide", "How to resolve a problem, step by step")
            .option(
                StringBuilder::new("error_type", "What kind of problem")
                    .required(true)
                    .choices(error_guide::GUIDES.iter().copied()),
            )
            .option(
                text(
                    "command",
                    "For command_usage: the command to explain",
                    false,
                )
                .max_length(60)
                .autocomplete(true),
            )
            .build(),
    ]
}

/// Every command and subcommand path of `schema` ("setup addserver", "debug").
pub fn command_paths(schema: &[Command]) -> Vec<String> {
    let mut out = Vec::new();
    for c in schema {
        let subs: Vec<_> = c
            .options
            .iter()
            .filter(|o| o.kind == CommandOptionType::SubCommand)
            .collect();
        if subs.is_empty() {
            out.push(c.name.clone());
        }
        for s in subs {
            out.push(format!("{} {}", c.name, s.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Vec<String> {
        command_paths(&schema())
    }

    #[test]
    fn every_command_in_the_schema_has_rules() {
        for path in paths() {
            assert!(spec_of(&path).is_some(), "/{path} has no access rules");
        }
        assert_eq!(paths().len(), 98);
    }

    #[test]
    fn schema_is_valid_for_discord() {
        for c in schema() {
            if let Err(e) = twilight_validate::command::command(&c) {
                panic!("/{} is not valid: {e}", c.name);
            }
        }
    }

    /// The registered command set is committed in `gateway-shard/commands.json`; a change
    /// to it must be made on purpose: `UPDATE_COMMANDS=1 cargo test -p gateway-shard`.
    #[test]
    fn registered_schema_matches_the_committed_file() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/commands.json");
        let now = crate::registration::schema_json(&schema());
        if std::env::var_os("UPDATE_COMMANDS").is_some() {
            if let Err(e) = std::fs::write(path, &now) {
                panic!("cannot write {path}: {e}");
            }
            // Written, not checked: a run that updates the file must not count as a pass.
            panic!("{path} updated; run the tests again without UPDATE_COMMANDS");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == now,
            "the slash-command schema changed; if on purpose, run UPDATE_COMMANDS=1 cargo test -p gateway-shard and commit commands.json"
        );
    }
}

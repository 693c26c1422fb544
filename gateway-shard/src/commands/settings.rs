//! `/settings [setting] [value]`, the earlier bot's guild settings (EARLIER-BOT.md §2.10).
//! `default_server` is the game server a command uses when its `server_id` is omitted
//! (`/historical_parse`, `/process_csv`, `/process_logs`); `faction_tags` (new) shows
//! faction tags beside names in kill posts. The earlier bot's other
//! settings are answered with what replaced them: channels are chosen per game server with
//! `/setup channels`, and slash commands have no prefix.

use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use tower_store::guilds::GuildSettings;
use tower_store::ids::{GuildId, ServerId};

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// The earlier bot's setting names, as the command's choices.
pub const SETTINGS: [(&str, &str); 7] = [
    ("log_channel", "log_channel"),
    ("killfeed_channel", "killfeed_channel"),
    ("announcements_channel", "announcements_channel"),
    ("prefix", "prefix"),
    ("default_server", "default_server"),
    ("faction_tags", "faction_tags"),
    ("time_zone", "time_zone"),
];

/// A `value` that clears the default server.
const CLEARED: [&str; 3] = ["none", "clear", "-"];

/// What replaced a setting this bot no longer keeps.
fn replaced_by(setting: &str) -> Option<&'static str> {
    match setting {
        "log_channel" => Some(
            "Problems are posted to the admin channel: `/setup channels server_id admin_channel`.",
        ),
        "killfeed_channel" => {
            Some("Each game server has its own: `/setup channels server_id killfeed_channel`.")
        }
        "announcements_channel" => Some(
            "Events and connections have their own channels per game server: `/setup channels server_id events_channel connections_channel`.",
        ),
        "prefix" => Some("This bot only has slash commands, so there is no prefix."),
        _ => None,
    }
}

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let setting = inv.opt_str("setting")?;
    let value = inv.opt_str("value")?.map(str::trim);
    match (setting, value) {
        (None, None) => overview(bot, caller, guild).await,
        (None, Some(_)) => Err(CommandError::invalid(
            "A value needs a setting.",
            "Choose the setting too: /settings setting:default_server value:<server_id>.",
        )),
        (Some(setting), value) => {
            if let Some(instead) = replaced_by(setting) {
                return Ok(Reply::embed(
                    EmbedBuilder::new()
                        .title(format!("`{setting}` is not a setting here"))
                        .description(instead)
                        .color(colour::INFO)
                        .build(),
                ));
            }
            if setting == "faction_tags" {
                return faction_tags(bot, caller, guild, value).await;
            }
            if setting == "time_zone" {
                return time_zone(bot, caller, guild, value).await;
            }
            if setting != "default_server" {
                return Err(CommandError::invalid(
                    format!("`{}` is not a setting.", shown(setting, 40)),
                    "Choose one from the list: default_server, faction_tags, time_zone.",
                ));
            }
            match value {
                None => Ok(Reply::done(
                    "Default Server",
                    format!(
                        "Current value of `default_server`: {}\n\nUse `/settings default_server [new value]` to change it.",
                        describe_default(bot, caller, guild).await?
                    ),
                )),
                Some(v) => set_default(bot, caller, v).await,
            }
        }
    }
}

/// `faction_tags`: shown, or switched with `on` or `off`.
async fn faction_tags(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    value: Option<&str>,
) -> Result<Reply, CommandError> {
    let shown_state = |on: bool| if on { "on" } else { "off" };
    let on = match value.map(str::to_lowercase).as_deref() {
        None => {
            return Ok(Reply::done(
                "Faction Tags",
                format!(
                    "Faction tags beside names in kill posts: {}.\n\nUse `/settings faction_tags on` or `off` to change it.",
                    shown_state(guild.faction_tags)
                ),
            ));
        }
        Some("on" | "true" | "yes") => true,
        Some("off" | "false" | "no") => false,
        Some(other) => {
            return Err(CommandError::invalid(
                format!("`{}` is not on or off.", shown(other, 20)),
                "Use /settings faction_tags on, or off.",
            ));
        }
    };
    let saved = bot.guilds.set_faction_tags(caller.guild_id, on).await;
    updated(
        bot,
        caller,
        saved,
        format!(
            "Faction tags beside names in kill posts: {}.",
            shown_state(on)
        ),
    )
}

/// A guild setting saved (`saved`): the guild's cached settings dropped, so the change
/// applies to the next command, and the admin told what it now is.
fn updated(
    bot: &Bot,
    caller: &Caller,
    saved: Result<(), mongodb::error::Error>,
    now: String,
) -> Result<Reply, CommandError> {
    saved.map_err(|e| CommandError::failed("The setting could not be saved", e))?;
    bot.settings.forget(caller.guild_id);
    Ok(Reply::done("Setting Updated", now))
}

/// `time_zone`: shown, or set as a UTC offset ("+02:00"); where the guild's days, weeks
/// and months begin for `/stats … window`.
async fn time_zone(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    value: Option<&str>,
) -> Result<Reply, CommandError> {
    use tower_store::windows::{parse_utc_offset, shown_utc_offset};
    let Some(value) = value else {
        return Ok(Reply::done(
            "Time Zone",
            format!(
                "Days, weeks and months of the statistics begin at midnight {}.\n\nUse `/settings setting:time_zone value:+02:00` (or `-05:00`, `UTC`) to change it.",
                shown_utc_offset(guild.utc_offset_secs)
            ),
        ));
    };
    let offset = parse_utc_offset(value).map_err(|why| {
        CommandError::invalid(
            format!(
                "`{}` is not a time zone this bot keeps: {why}.",
                shown(value, 20)
            ),
            "Use /settings setting:time_zone value:+02:00 (or -05:00, UTC).",
        )
    })?;
    let saved = bot.guilds.set_utc_offset(caller.guild_id, offset).await;
    updated(
        bot,
        caller,
        saved,
        format!(
            "Days, weeks and months of the statistics now begin at midnight {}.",
            shown_utc_offset(offset)
        ),
    )
}

/// The default server as the settings show it.
async fn describe_default(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
) -> Result<String, CommandError> {
    let Some(id) = &guild.default_server else {
        return Ok("None (a command without server_id uses every game server)".to_owned());
    };
    let Ok(parsed) = ServerId::parse(id) else {
        return Ok(format!("`{}` (not a server id)", shown(id, 32)));
    };
    Ok(
        match bot.servers.get(GuildId(caller.guild_id), &parsed).await {
            Ok(s) => format!("{} (`{}`)", shown(&s.name, 100), s.server),
            Err(_) => format!("`{parsed}` (no longer a game server here: every server is used)"),
        },
    )
}

async fn overview(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
) -> Result<Reply, CommandError> {
    let servers = bot.servers.list(GuildId(caller.guild_id)).await?;
    let listed = if servers.is_empty() {
        "No servers configured".to_owned()
    } else {
        servers
            .iter()
            .map(|s| format!("• {} (`{}`)", shown(&s.name, 80), s.server))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let channels = "Per game server: /setup channels (killfeed, events, connections, voice status)";
    let embed = EmbedBuilder::new()
        .title("Server Settings")
        .description("Current bot configuration for this server")
        .color(colour::INFO)
        .field(
            EmbedFieldBuilder::new(
                "Default Server",
                describe_default(bot, caller, guild).await?,
            )
            .inline(),
        )
        .field(
            EmbedFieldBuilder::new(
                "Admin Channel",
                guild
                    .admin_channel
                    .map_or_else(|| "Not set".to_owned(), |c| format!("<#{c}>")),
            )
            .inline(),
        )
        .field(EmbedFieldBuilder::new("Channels", channels))
        .field(EmbedFieldBuilder::new(
            "Configured Servers",
            crate::embeds::clip(&listed, 1024),
        ))
        .footer(EmbedFooterBuilder::new(
            "Use /settings [setting] [value] to modify a setting",
        ))
        .build();
    Ok(Reply::embed(embed))
}

async fn set_default(bot: &Bot, caller: &Caller, value: &str) -> Result<Reply, CommandError> {
    if CLEARED.contains(&value.to_lowercase().as_str()) {
        bot.guilds
            .set_default_server(caller.guild_id, None)
            .await
            .map_err(|e| CommandError::failed("Could not save the setting", e))?;
        bot.settings.forget(caller.guild_id);
        return Ok(Reply::done(
            "Setting updated",
            "Setting `default_server` cleared: a command without server_id uses every game server.",
        ));
    }
    let id = ServerId::parse(value).map_err(|_| {
        CommandError::invalid(
            format!("`{}` is not a server id.", shown(value, 40)),
            "Pick one of the suggestions, or `none` to clear it.",
        )
    })?;
    // Refused unless it is one of this guild's servers.
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    bot.guilds
        .set_default_server(caller.guild_id, Some(id.as_str()))
        .await
        .map_err(|e| CommandError::failed("Could not save the setting", e))?;
    // This process shows the new value at once (others within the cache's seconds).
    bot.settings.forget(caller.guild_id);
    Ok(Reply::done(
        "Setting updated",
        format!(
            "Setting `default_server` updated to `{id}` ({}).",
            shown(&server.name, 100)
        ),
    ))
}

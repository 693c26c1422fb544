//! `/events`: the game-event and connection feeds of a server, which kinds are posted,
//! the recent events, who is online, and how long after an event its post shows the
//! fights that followed ([`crate::live_posts::fights`]).

use twilight_util::builder::embed::EmbedBuilder;

use tower_store::game_servers::HIGHLIGHT_SWITCHES;
use tower_store::game_servers::{CONNECTION_SWITCHES, EVENT_SWITCHES, SUICIDE_SWITCHES};
use tower_store::ids::GuildId;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown as escaped};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let guild = GuildId(caller.guild_id);
    match inv.path.as_str() {
        "events start" | "events stop" => {
            let on = inv.path.ends_with("start");
            let id = inv.server_id("server_id")?;
            let s = bot
                .servers
                .set_feeds(guild, &id, &[("events", on), ("connections", on)])
                .await?;
            let mut text = if on {
                format!("Events and connections of `{id}` are posted.")
            } else {
                format!("Events and connections of `{id}` are no longer posted.")
            };
            if on && (s.channels.events.is_none() || s.channels.connections.is_none()) {
                text.push_str(&format!(
                    "\nChoose their channels with `/setup channels {id}` (events_channel, connections_channel)."
                ));
            }
            let title = if on {
                "Events started"
            } else {
                "Events stopped"
            };
            Ok(Reply::done(title, text))
        }
        "events config" => switches(bot, caller, inv, &EVENT_SWITCHES).await,
        "events conn_config" => switches(bot, caller, inv, &CONNECTION_SWITCHES).await,
        "events suicide_config" => switches(bot, caller, inv, &SUICIDE_SWITCHES).await,
        "events list" => list(bot, caller, inv).await,
        "events help" => Ok(super::help::events()),
        "events players" => players(bot, caller, inv).await,
        "events fights" => fights(bot, guild, inv).await,
        "events status" => {
            let servers = bot.servers.list(guild).await?;
            Ok(super::servers_reply(
                "Event feeds",
                &servers,
                super::refused_channels(bot, guild.0).await?,
                "No game server is set up yet (/setup addserver).",
                |s| {
                    let mut text = format!(
                        "events {} · connections {}",
                        super::feed_state(s.feeds.events, s.channels.events),
                        super::feed_state(s.feeds.connections, s.channels.connections),
                    );
                    // Highlights are the killfeed's (`/killfeed highlights`).
                    let muted: Vec<&str> = s
                        .muted
                        .iter()
                        .map(String::as_str)
                        .filter(|m| !HIGHLIGHT_SWITCHES.iter().any(|(_, h)| h == m))
                        .collect();
                    if !muted.is_empty() {
                        text.push_str(&format!("\nmuted: {}", muted.join(", ")));
                    }
                    text
                },
            ))
        }
        other => Err(super::unknown(other)),
    }
}

/// Sets the switches given as options (option name → stored switch name).
async fn switches(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    names: &[(&str, &str)],
) -> Result<Reply, CommandError> {
    let guild = GuildId(caller.guild_id);
    let id = inv.server_id("server_id")?;
    let mut set = Vec::new();
    for (option, switch) in names {
        if let Some(on) = inv.opt_bool(option)? {
            set.push((*switch, on));
        }
    }
    let s = bot.servers.set_switches(guild, &id, &set).await?;
    let state: Vec<String> = names
        .iter()
        .map(|(option, switch)| {
            format!(
                "{option}: {}",
                if s.notifies(switch) { "on" } else { "off" }
            )
        })
        .collect();
    Ok(Reply::done(
        if set.is_empty() {
            "Settings"
        } else {
            "Settings saved"
        },
        format!("`{id}` — {}", state.join(" · ")),
    ))
}

async fn list(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let limit = inv.opt_int("limit")?.unwrap_or(10).clamp(1, 20);
    // As the earlier bot named them: `all` is every type, `crash` the helicopter crash
    // (stored as `helicrash`, which a client with the old command list may still send).
    let event_type = match inv.opt_str("event_type")? {
        None | Some("all") => None,
        Some("crash" | "helicrash") => Some("helicrash"),
        Some(other) => Some(other),
    };
    let events = bot
        .outbox
        .recent(caller.guild_id, id.as_str(), "event", event_type, limit)
        .await?;
    let lines: Vec<String> = events
        .iter()
        .map(|e| {
            let text = |k: &str| e.data.get_str(k).unwrap_or_default();
            clip(
                &format!(
                    "<t:{}:R> **{}** {} {}",
                    e.at_ms / 1000,
                    text("event"),
                    escaped(text("name"), 60),
                    escaped(&text("state").to_lowercase(), 40)
                ),
                200,
            )
        })
        .collect();
    let description = super::lines_or(
        &lines,
        "No events yet. They come from the server's Deadside.log.",
    );
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title(clip(
                &format!("Recent events — {}", escaped(&server.name, 100)),
                256,
            ))
            .description(description)
            .color(colour::INFO)
            .build(),
    ))
}

async fn players(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let state = bot.cursors.load_log(caller.guild_id, id.as_str()).await?;
    let (online, queued) = (state.online, state.queued);
    let names = bot
        .stats
        .names(caller.guild_id, id.as_str(), &online)
        .await?;
    // `names` has every online id (ids without a known name as themselves).
    let mut shown: Vec<&str> = names.values().map(String::as_str).collect();
    shown.sort_unstable();
    let list = if shown.is_empty() {
        "Nobody is online (as of the last log read).".to_owned()
    } else {
        clip(
            &shown
                .iter()
                .map(|n| escaped(n, 64))
                .collect::<Vec<_>>()
                .join(", "),
            3500,
        )
    };
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title(clip(
                &format!("Players online — {}", escaped(&server.name, 100)),
                256,
            ))
            .description(format!(
                "**{}** online · **{}** in queue\n\n{list}",
                online.len(),
                queued.len()
            ))
            .color(colour::INFO)
            .build(),
    ))
}

/// `/events fights`: how many minutes after an airdrop, mission or convoy its post is
/// edited with the kills that followed it (0: not edited); without `minutes`, says.
async fn fights(bot: &Bot, guild: GuildId, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let minutes = inv.opt_int("minutes")?;
    let server = match minutes {
        Some(m) => {
            bot.servers
                .set_fights_after(guild, &id, m.clamp(0, MAX_FIGHTS_MINUTES) * 60)
                .await?
        }
        None => bot.servers.get(guild, &id).await?,
    };
    let text = match server.fights_after_secs / 60 {
        0 => format!("Event posts of `{id}` are not edited with the fights that followed them."),
        m => format!(
            "{m} minute{} after an airdrop, mission or convoy on `{id}`, its post is edited with the kills that followed it on the server.",
            if m == 1 { "" } else { "s" }
        ),
    };
    Ok(Reply::done(
        if minutes.is_some() {
            "Fights after events saved"
        } else {
            "Fights after events"
        },
        text,
    ))
}

/// The longest wait an admin can set, in minutes.
pub const MAX_FIGHTS_MINUTES: i64 = tower_store::live_posts::MAX_FIGHTS_AFTER_SECS / 60;

//! `/killfeed start|stop|status`: whether a server's kills and suicides are posted.
//! Polling and statistics go on either way. `/killfeed highlights`: which highlight posts
//! (streaks, streak ends, revenge, long shots: [`tower_store::highlights`]) go with them.
//! `/killfeed delay` (tier 2): how long the server's posts are held back
//! ([`tower_store::delayed_killfeed`]).

use tower_store::game_servers::HIGHLIGHT_SWITCHES;
use tower_store::highlights::{LONG_SHOT_DEFAULT_M, LONG_SHOT_FLOOR_M};
use tower_store::ids::GuildId;

use crate::access::Caller;
use crate::bot::Bot;
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let guild = GuildId(caller.guild_id);
    match inv.path.as_str() {
        "killfeed start" | "killfeed stop" => {
            let on = inv.path.ends_with("start");
            let id = inv.server_id("server_id")?;
            let server = bot
                .servers
                .set_feeds(guild, &id, &[("killfeed", on)])
                .await?;
            let text = match (on, server.channels.killfeed) {
                (true, Some(ch)) => format!("Kills on `{id}` are posted in <#{ch}>."),
                (true, None) => format!(
                    "The killfeed of `{id}` is on, but it has no channel yet: choose one with `/setup channels {id} killfeed_channel:`."
                ),
                (false, _) => {
                    format!("Kills on `{id}` are no longer posted. Statistics keep counting.")
                }
            };
            Ok(Reply::done(
                if on {
                    "Killfeed started"
                } else {
                    "Killfeed stopped"
                },
                text,
            ))
        }
        "killfeed status" => {
            let servers = bot.servers.list(guild).await?;
            Ok(super::servers_reply(
                "Killfeed",
                &servers,
                super::refused_channels(bot, guild.0).await?,
                "No game server is set up yet (/setup addserver).",
                |s| {
                    let state = super::feed_state(s.feeds.killfeed, s.channels.killfeed);
                    match s.killfeed_delay_secs / 60 {
                        0 => state,
                        m => format!("{state} · {m} min delay"),
                    }
                },
            ))
        }
        "killfeed highlights" => highlights(bot, guild, inv).await,
        "killfeed delay" => delay(bot, guild, inv).await,
        other => Err(super::unknown(other)),
    }
}

/// `/killfeed delay`: sets how many minutes the server's posts are held back; without
/// `minutes`, says how long they are.
async fn delay(bot: &Bot, guild: GuildId, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let minutes = inv.opt_int("minutes")?;
    let server = match minutes {
        Some(m) => {
            let secs = m.clamp(0, MAX_DELAY_MINUTES) * 60;
            let server = bot.servers.set_killfeed_delay(guild, &id, secs).await?;
            // What is held already goes out no later than the new delay says.
            tower_store::delayed_killfeed::HeldPosts::new(&bot.db)
                .shorten(guild.0, id.as_str(), secs)
                .await
                .map_err(|e| CommandError::failed("The held posts could not be rescheduled", e))?;
            server
        }
        None => bot.servers.get(guild, &id).await?,
    };
    let text = match server.killfeed_delay_secs / 60 {
        0 => format!("Kills on `{id}` are posted as soon as they are read."),
        m => format!(
            "Kill posts of `{id}` go out {m} minute{} after they are read, so a fight is not revealed while it lasts (statistics still count at once). Posts held across a restart still go out, once.",
            if m == 1 { "" } else { "s" }
        ),
    };
    Ok(Reply::done(
        if minutes.is_some() {
            "Killfeed delay saved"
        } else {
            "Killfeed delay"
        },
        text,
    ))
}

/// The longest delay an admin can set, in minutes.
pub const MAX_DELAY_MINUTES: i64 = tower_store::delayed_killfeed::MAX_DELAY_SECS / 60;

/// `/killfeed highlights`: switches each kind of highlight post and sets the long-shot
/// distance; without options, says how they are.
async fn highlights(bot: &Bot, guild: GuildId, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let mut set = Vec::new();
    for (option, switch) in HIGHLIGHT_SWITCHES {
        if let Some(on) = inv.opt_bool(option)? {
            set.push((switch, on));
        }
    }
    let mut server = bot.servers.set_switches(guild, &id, &set).await?;
    let metres = inv.opt_int("long_shot_m")?;
    if let Some(m) = metres {
        let m = u32::try_from(m.clamp(i64::from(LONG_SHOT_FLOOR_M), 2000))
            .unwrap_or(LONG_SHOT_DEFAULT_M);
        server = bot.servers.set_long_shot(guild, &id, m).await?;
    }
    let state: Vec<String> = HIGHLIGHT_SWITCHES
        .iter()
        .map(|(option, switch)| {
            format!(
                "{option}: {}",
                if server.opted_in(switch) { "on" } else { "off" }
            )
        })
        .collect();
    Ok(Reply::done(
        if set.is_empty() && metres.is_none() {
            "Highlights"
        } else {
            "Highlights saved"
        },
        format!(
            "`{id}` — {} · long shots from {} m",
            state.join(" · "),
            server.long_shot_m
        ),
    ))
}

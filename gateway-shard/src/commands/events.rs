//! `/events`: the game-event and connection feeds of a server, which kinds are posted,
//! the recent events, and who is online.

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use tower_shared::db::collections;
use tower_shared::ids::GuildId;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let guild = GuildId(caller.guild_id);
    match inv.path.as_str() {
        "events start" | "events stop" => {
            let on = inv.path.ends_with("start");
            let id = inv.server_id("server_id")?;
            bot.servers.set_feed(guild, &id, "events", on).await?;
            bot.servers.set_feed(guild, &id, "connections", on).await?;
            let s = bot.servers.get(guild, &id).await?;
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
            Ok(Reply::done(
                if on {
                    "Events started"
                } else {
                    "Events stopped"
                },
                text,
            ))
        }
        "events config" => {
            switches(
                bot,
                caller,
                inv,
                &[
                    ("mission", "mission"),
                    ("airdrop", "airdrop"),
                    ("crash", "crash"),
                    ("trader", "trader"),
                    ("convoy", "convoy"),
                    ("encounter", "encounter"),
                    ("server_restart", "server_restart"),
                ],
            )
            .await
        }
        "events conn_config" => {
            switches(
                bot,
                caller,
                inv,
                &[("connect", "connect"), ("disconnect", "disconnect")],
            )
            .await
        }
        "events suicide_config" => {
            switches(
                bot,
                caller,
                inv,
                &[
                    ("menu", "suicide_menu"),
                    ("fall", "suicide_fall"),
                    ("other", "suicide_other"),
                ],
            )
            .await
        }
        "events list" => list(bot, caller, inv).await,
        "events players" => players(bot, caller, inv).await,
        "events status" => {
            let servers = bot.servers.list(guild).await?;
            let mut b = EmbedBuilder::new().title("Event feeds").color(colour::INFO);
            if servers.is_empty() {
                b = b.description("No game server is set up yet (/setup addserver).");
            }
            for s in servers.iter().take(25) {
                let show = |on: bool, ch: Option<u64>| match (on, ch) {
                    (true, Some(c)) => format!("on in <#{c}>"),
                    (true, None) => "on, no channel".to_owned(),
                    (false, _) => "off".to_owned(),
                };
                let off: Vec<&str> = s.muted.iter().map(String::as_str).collect();
                b = b.field(EmbedFieldBuilder::new(
                    clip(&format!("{} ({})", s.name, s.server), 256),
                    format!(
                        "events {} · connections {}{}",
                        show(s.feeds.events, s.channels.events),
                        show(s.feeds.connections, s.channels.connections),
                        if off.is_empty() {
                            String::new()
                        } else {
                            format!("\nmuted: {}", off.join(", "))
                        }
                    ),
                ));
            }
            Ok(Reply::embed(b.build()))
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
    bot.servers.set_switches(guild, &id, &set).await?;
    let s = bot.servers.get(guild, &id).await?;
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
    let mut filter =
        doc! { "guild_id": caller.guild_id.to_string(), "server_id": id.as_str(), "kind": "event" };
    if let Some(kind) = inv.opt_str("event_type")? {
        filter.insert("data.event", kind);
    }
    let events: Vec<Document> = bot
        .db
        .raw()
        .collection::<Document>(collections::NOTIFICATIONS)
        .find(filter)
        .sort(doc! { "at_ms": -1 })
        .limit(limit)
        .await?
        .try_collect()
        .await?;
    let mut lines = Vec::new();
    for e in &events {
        let data = e.get_document("data").ok();
        let text = |k: &str| data.and_then(|d| d.get_str(k).ok()).unwrap_or_default();
        let at = e.get_i64("at_ms").unwrap_or(0) / 1000;
        lines.push(clip(
            &format!(
                "<t:{at}:R> **{}** {} {}",
                text("event"),
                clip(text("name"), 60),
                text("state").to_lowercase()
            ),
            200,
        ));
    }
    let description = if lines.is_empty() {
        "No events yet. They come from the server's Deadside.log.".to_owned()
    } else {
        lines.join("\n")
    };
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title(clip(&format!("Recent events — {}", server.name), 256))
            .description(description)
            .color(colour::INFO)
            .build(),
    ))
}

async fn players(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let state = tower_shared::cursor_store::CursorStore::new(&bot.db)
        .load_log(caller.guild_id, id.as_str())
        .await?;
    let (online, queued) = (state.online, state.queued);
    let names = bot
        .stats
        .names(caller.guild_id, id.as_str(), &online)
        .await?;
    let mut shown: Vec<&str> = online
        .iter()
        .map(|i| names.get(i).map(String::as_str).unwrap_or(i))
        .collect();
    shown.sort_unstable();
    let list = if shown.is_empty() {
        "Nobody is online (as of the last log read).".to_owned()
    } else {
        clip(&shown.join(", "), 3500)
    };
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title(clip(&format!("Players online — {}", server.name), 256))
            .description(format!(
                "**{}** online · **{}** in queue\n\n{list}",
                online.len(),
                queued.len()
            ))
            .color(colour::INFO)
            .build(),
    ))
}

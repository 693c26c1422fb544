//! `/killfeed start|stop|status`: whether a server's kills and suicides are posted.
//! Polling and statistics go on either way.

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
                |s| super::feed_state(s.feeds.killfeed, s.channels.killfeed),
            ))
        }
        other => Err(super::unknown(other)),
    }
}

//! `/killfeed start|stop|status`: whether a server's kills and suicides are posted.
//! Polling and statistics go on either way.

use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use tower_shared::ids::GuildId;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let guild = GuildId(caller.guild_id);
    match inv.path.as_str() {
        "killfeed start" | "killfeed stop" => {
            let on = inv.path.ends_with("start");
            let id = inv.server_id("server_id")?;
            bot.servers.set_feed(guild, &id, "killfeed", on).await?;
            let server = bot.servers.get(guild, &id).await?;
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
            let mut b = EmbedBuilder::new().title("Killfeed").color(colour::INFO);
            if servers.is_empty() {
                b = b.description("No game server is set up yet (/setup addserver).");
            }
            for s in servers.iter().take(25) {
                let state = match (s.feeds.killfeed, s.channels.killfeed) {
                    (true, Some(ch)) => format!("posting in <#{ch}>"),
                    (true, None) => "on, but no channel (/setup channels)".to_owned(),
                    (false, _) => "stopped".to_owned(),
                };
                b = b.field(EmbedFieldBuilder::new(
                    clip(&format!("{} ({})", s.name, s.server), 256),
                    state,
                ));
            }
            Ok(Reply::embed(b.build()))
        }
        other => Err(super::unknown(other)),
    }
}

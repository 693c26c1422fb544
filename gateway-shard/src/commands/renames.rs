//! `/admin renamed server_id`: the players who lately joined a game server under another
//! name than its statistics knew ([`tower_store::renames`]), newest first.

use twilight_util::builder::embed::{EmbedBuilder, EmbedFooterBuilder};

use tower_store::renames::Renames;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// Renames listed.
const LISTED: i64 = 20;

pub async fn renamed(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let server = bot
        .servers
        .get(tower_store::ids::GuildId(caller.guild_id), &id)
        .await?;
    let renames = Renames::new(&bot.db)
        .recent(caller.guild_id, server.server.as_str(), LISTED)
        .await
        .map_err(|e| CommandError::failed("The renames could not be read", e))?;
    let lines: Vec<String> = renames
        .iter()
        .map(|r| {
            format!(
                "**{}** → **{}** · <t:{}:R>",
                shown(&r.from, 60),
                shown(&r.to, 60),
                r.at_ms / 1000
            )
        })
        .collect();
    let description = if lines.is_empty() {
        "No player has joined under another name yet.".to_owned()
    } else {
        clip(&lines.join("\n"), 4096)
    };
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title(clip(
                &format!("Renamed players — {}", shown(&server.name, 100)),
                256,
            ))
            .description(description)
            .color(colour::INFO)
            .footer(EmbedFooterBuilder::new(
                "A join under another name than the killfeed last showed",
            ))
            .build(),
    ))
}

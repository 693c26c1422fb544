//! `/link`, `/unlink`, `/myplayers`: a Discord user's in-game players, per game server.
//! Their answers are private (`Spec::private`).

use twilight_util::builder::embed::EmbedBuilder;

use tower_store::player_links::PlayerLink;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{code, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    match inv.path.as_str() {
        "link" => link(bot, caller, inv).await,
        "unlink" => {
            let server = inv.opt_server_id("server_id")?;
            let removed = bot
                .links
                .unlink(
                    caller.guild_id,
                    caller.user_id,
                    server.as_ref().map(|s| s.as_str()),
                )
                .await?;
            if removed == 0 {
                return Err(CommandError::invalid(
                    "You have no linked player here.",
                    "Link one with /link player_name.",
                ));
            }
            Ok(Reply::done(
                "Unlinked",
                format!("{removed} link(s) removed."),
            ))
        }
        "myplayers" => {
            let links = bot.links.of_user(caller.guild_id, caller.user_id).await?;
            let lines: Vec<String> = links
                .iter()
                .map(|l| {
                    format!(
                        "`{}` — **{}** ({})",
                        l.server_id,
                        shown(&l.player_name, 60),
                        l.player_id
                    )
                })
                .collect();
            let text = super::lines_or(
                &lines,
                "You have no linked player here. Link one with /link player_name.",
            );
            Ok(Reply::embed(
                EmbedBuilder::new()
                    .title("Your players")
                    .description(text)
                    .color(colour::INFO)
                    .build(),
            ))
        }
        other => Err(super::unknown(other)),
    }
}

async fn link(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let name = inv.str("player_name")?.trim();
    let servers = super::chosen_servers(bot, caller, inv).await?;
    let mut linked = Vec::new();
    for server in &servers {
        if let Some(row) = bot
            .stats
            .player(caller.guild_id, server.server.as_str(), name)
            .await?
        {
            let link = PlayerLink {
                server_id: server.server.as_str().to_owned(),
                player_id: row.player_id.clone(),
                player_name: row.stats.name.clone(),
            };
            bot.links
                .link(caller.guild_id, caller.user_id, &link)
                .await?;
            linked.push(link);
        }
    }
    if linked.is_empty() {
        return Err(CommandError::invalid(
            format!("No player named `{}` has been seen yet.", code(name, 60)),
            "Players appear after their first kill or death. Pick a name from the suggestions.",
        ));
    }
    let lines: Vec<String> = linked
        .iter()
        .map(|l| format!("`{}` — **{}**", l.server_id, shown(&l.player_name, 60)))
        .collect();
    Ok(Reply::done("Linked", lines.join("\n")))
}

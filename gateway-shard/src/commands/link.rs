//! `/link player_name [server_id]`, `/unlink player_name [server_id]`, `/myplayers
//! [server_id]`: a Discord user's in-game players, per game server, with the earlier bot's
//! options and messages. A player is linked to one Discord user per server: the first to
//! link it keeps it. Their answers are private (`Spec::private`).

use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use tower_store::game_servers::GameServer;
use tower_store::player_links::PlayerLink;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{code, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// Discord's limit of fields in one embed.
const MAX_FIELDS: usize = 25;

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    match inv.path.as_str() {
        "link" => link(bot, caller, inv).await,
        "unlink" => unlink(bot, caller, inv).await,
        "myplayers" => my_players(bot, caller, inv).await,
        other => Err(super::unknown(other)),
    }
}

/// Where the options point: one server, or every server of the guild.
fn on_where(servers: &[GameServer], chosen: bool) -> String {
    match (chosen, servers.first()) {
        (true, Some(s)) => format!("on server `{}`", s.server),
        _ => "on any server here".to_owned(),
    }
}

async fn link(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let name = inv.str("player_name")?.trim();
    let servers = super::chosen_servers(bot, caller, inv, super::WhenOmitted::EveryServer).await?;
    // The caller's links before this command: read once, not per server.
    let mine = bot.links.of_user(caller.guild_id, caller.user_id).await?;
    let mut linked = Vec::new();
    let mut taken = 0;
    for server in &servers {
        let server_id = server.server.as_str();
        let Some(row) = bot.stats.player(caller.guild_id, server_id, name).await? else {
            continue;
        };
        let link = PlayerLink {
            server_id: server_id.to_owned(),
            player_id: row.player_id.clone(),
            player_name: row.stats.name.clone(),
        };
        let holder = bot.links.holder(caller.guild_id, server_id, &row.player_id);
        if holder.await?.is_some_and(|h| h != caller.user_id) {
            taken += 1;
            continue;
        }
        let before = mine.iter().find(|l| l.server_id == server_id);
        bot.links
            .link(caller.guild_id, caller.user_id, &link)
            .await?;
        // Two users linking one player at once: the first link stands; the other's
        // earlier link on this server comes back.
        let holder = bot.links.holder(caller.guild_id, server_id, &row.player_id);
        if holder.await?.is_some_and(|h| h != caller.user_id) {
            match before {
                Some(previous) => {
                    bot.links
                        .link(caller.guild_id, caller.user_id, previous)
                        .await?
                }
                None => {
                    bot.links
                        .unlink(caller.guild_id, caller.user_id, Some(server_id))
                        .await?;
                }
            }
            taken += 1;
            continue;
        }
        linked.push(link);
    }
    if linked.is_empty() && taken > 0 {
        return Err(CommandError::invalid(
            format!(
                "Player `{}` is already linked to another Discord user.",
                code(name, 60)
            ),
            "If it is yours, ask that user to /unlink it, or an admin.",
        ));
    }
    if linked.is_empty() {
        return Err(CommandError::invalid(
            format!(
                "Player `{}` not found {}.",
                code(name, 60),
                on_where(&servers, inv.opt_str("server_id")?.is_some())
            ),
            "Players appear after their first kill or death. Pick a name from the suggestions.",
        ));
    }
    let lines: Vec<String> = linked
        .iter()
        .map(|l| {
            format!(
                "Successfully linked your Discord account to player `{}` on server `{}`.",
                code(&l.player_name, 60),
                l.server_id
            )
        })
        .collect();
    let mut lines = lines;
    // Bounties this player claimed before they were linked are paid now.
    for l in &linked {
        let paid = bot
            .bounties
            .pay_held(caller.guild_id, &l.server_id, &l.player_id, caller.user_id)
            .await
            .map_err(|e| CommandError::failed("The held bounty rewards could not be paid", e))?;
        if paid > 0 {
            let guild = bot.settings.get(caller.guild_id).await.map_err(|e| {
                CommandError::failed("The Discord server's settings could not be read", e)
            })?;
            lines.push(format!(
                "🎯 {paid} {} of bounties claimed by `{}` on `{}` were paid to you.",
                guild.economy.currency.coins(),
                code(&l.player_name, 60),
                l.server_id
            ));
        }
    }
    Ok(Reply::done("Player Linked", lines.join("\n")))
}

async fn unlink(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let name = inv.str("player_name")?.trim();
    let servers = super::chosen_servers(bot, caller, inv, super::WhenOmitted::EveryServer).await?;
    let chosen = inv.opt_str("server_id")?.is_some();
    let mine = bot.links.of_user(caller.guild_id, caller.user_id).await?;
    let mut unlinked = Vec::new();
    let mut seen = false;
    let mut someone_else = false;
    for server in &servers {
        let server_id = server.server.as_str();
        // The caller's own link, by the name it was linked under or the player's now.
        let row = bot.stats.player(caller.guild_id, server_id, name).await?;
        let own = mine.iter().find(|l| {
            l.server_id == server_id
                && (l.player_name.eq_ignore_ascii_case(name)
                    || row.as_ref().is_some_and(|r| r.player_id == l.player_id))
        });
        if let Some(own) = own {
            bot.links
                .unlink(caller.guild_id, caller.user_id, Some(server_id))
                .await?;
            unlinked.push(own.clone());
            continue;
        }
        let Some(row) = row else { continue };
        seen = true;
        let holder = bot.links.holder(caller.guild_id, server_id, &row.player_id);
        someone_else |= holder.await?.is_some();
    }
    if !unlinked.is_empty() {
        let lines: Vec<String> = unlinked
            .iter()
            .map(|l| {
                format!(
                    "Successfully unlinked your Discord account from player `{}` on server `{}`.",
                    code(&l.player_name, 60),
                    l.server_id
                )
            })
            .collect();
        return Ok(Reply::done("Player Unlinked", lines.join("\n")));
    }
    let shown_name = code(name, 60);
    Err(match (seen, someone_else) {
        (false, _) => CommandError::invalid(
            format!(
                "Player `{shown_name}` not found {}.",
                on_where(&servers, chosen)
            ),
            "Check the name: /myplayers lists the players linked to you.",
        ),
        (true, true) => CommandError::invalid(
            format!("Player `{shown_name}` is linked to another Discord user."),
            "Only the user who linked it can unlink it.",
        ),
        (true, false) => CommandError::invalid(
            format!("Player `{shown_name}` is not linked to any Discord user."),
            "/myplayers lists the players linked to you.",
        ),
    })
}

async fn my_players(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let chosen = inv.opt_server_id("server_id")?;
    let servers = bot
        .servers
        .list(tower_store::ids::GuildId(caller.guild_id))
        .await?;
    let links: Vec<PlayerLink> = bot
        .links
        .of_user(caller.guild_id, caller.user_id)
        .await?
        .into_iter()
        .filter(|l| chosen.as_ref().is_none_or(|c| c.as_str() == l.server_id))
        .collect();
    let place = match &chosen {
        Some(c) => format!("on server `{c}`"),
        None => "on this Discord server".to_owned(),
    };
    if links.is_empty() {
        return Ok(Reply::embed(
            EmbedBuilder::new()
                .title("No Linked Players")
                .description(format!(
                    "You don't have any players linked {place}. Link one with /link player_name."
                ))
                .color(colour::INFO)
                .build(),
        ));
    }
    let mut embed = EmbedBuilder::new()
        .title("Your Linked Players")
        .description(format!("Players linked to your Discord account {place}"))
        .color(colour::INFO);
    let several = links.iter().any(|l| l.server_id != links[0].server_id);
    for l in links.iter().take(MAX_FIELDS) {
        let row = bot
            .stats
            .player(caller.guild_id, &l.server_id, &l.player_id)
            .await?;
        let (kills, deaths, kd) = row
            .map(|r| (r.stats.kills, r.stats.deaths, r.stats.kdr()))
            .unwrap_or_default();
        let server_name = servers
            .iter()
            .find(|s| s.server.as_str() == l.server_id)
            .map_or(l.server_id.as_str(), |s| s.name.as_str());
        let name = match several {
            true => format!("{} ({})", shown(&l.player_name, 60), shown(server_name, 60)),
            false => shown(&l.player_name, 100),
        };
        embed = embed.field(
            EmbedFieldBuilder::new(
                name,
                format!("Kills: {kills}\nDeaths: {deaths}\nK/D: {kd:.2}"),
            )
            .inline(),
        );
    }
    Ok(Reply::embed(embed.build()))
}

//! `/rivalry list|player|top|closest|recent|between` (EARLIER-BOT.md §2.12): two players'
//! kills of each other on a server, from the statistics' own rivalry documents
//! ([`tower_store::rivalries`]). Names, options, orders and messages are the earlier
//! bot's; `server_id` may be omitted (the guild's default server, else its first).
//! `/rivalry posts` (admin, new) switches a server's rivalry posts in its killfeed
//! ([`tower_store::rivalry_posts`]). `/rivalry record_kill` (admin) has the worker that
//! holds the server count a kill by hand, as a killfeed line of its own kind that every
//! count includes and every view marks as recorded by hand.

use std::collections::HashMap;

use twilight_model::channel::message::Embed;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use tower_store::game_servers::RIVALRY_SWITCH;
use tower_store::rivalries::{Rivalry, SETTLED_ABOVE};

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// The user context menu's name (a member → Apps → View Rivalries).
pub const VIEW_RIVALRIES: &str = "View Rivalries";

/// The earlier bot's red for rivalries.
const RED: u32 = 0xE7_4C_3C;
/// Rivalries listed when `limit` is not given, and the most (one embed each, ten a
/// message, as Discord allows).
const LISTED: i64 = 10;
const LISTED_MOST: i64 = 25;

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    if inv.path == "rivalry posts" {
        return posts(bot, caller, inv).await;
    }
    if inv.path == "rivalry record_kill" {
        return record_kill(bot, caller, inv).await;
    }
    let servers =
        super::chosen_servers(bot, caller, inv, super::WhenOmitted::DefaultServer).await?;
    let Some(server) = servers.first() else {
        return Err(super::unknown(&inv.path));
    };
    let limit = inv
        .opt_int("limit")?
        .unwrap_or(LISTED)
        .clamp(1, LISTED_MOST);
    let listed = usize::try_from(limit).unwrap_or(1);
    let server_id = server.server.as_str();
    let failed = |e| CommandError::failed("The rivalries could not be read", e);
    let rivalries = &bot.rivalries;
    let found = match inv.path.as_str() {
        "rivalry list" => {
            let links = bot
                .links
                .of_user(caller.guild_id, caller.user_id)
                .await
                .map_err(|e| CommandError::failed("Your linked players could not be read", e))?;
            if links.is_empty() {
                return Ok(notice(
                    "No Linked Player",
                    "You don't have any linked players. Use `/link player` to link your in-game player first.",
                ));
            }
            let Some(mine) = links.iter().find(|l| l.server_id == server_id) else {
                return Ok(notice(
                    "No Player on Server",
                    format!(
                        "You don't have a linked player on server `{}`. Use `/link` with that server.",
                        shown(&server.name, 100)
                    ),
                ));
            };
            let list = rivalries
                .of_player(caller.guild_id, server_id, &mine.player_id, limit)
                .await
                .map_err(failed)?;
            if list.is_empty() {
                return Ok(notice(
                    "No Rivalries",
                    "You don't have any rivalries yet. Play more and engage with other players!",
                ));
            }
            list
        }
        "rivalry player" => {
            let name = inv.str("player_name")?.trim();
            let Some(player) = bot
                .stats
                .player(caller.guild_id, server_id, name)
                .await
                .map_err(failed)?
            else {
                return Ok(notice(
                    "Player Not Found",
                    format!(
                        "No player named `{}` on server `{}`.",
                        shown(name, 100),
                        shown(&server.name, 100)
                    ),
                ));
            };
            let list = rivalries
                .of_player(caller.guild_id, server_id, &player.player_id, limit)
                .await
                .map_err(failed)?;
            if list.is_empty() {
                return Ok(notice(
                    "No Rivalries",
                    format!(
                        "`{}` doesn't have any rivalries yet.",
                        shown(&player.stats.name, 100)
                    ),
                ));
            }
            list
        }
        "rivalry top" | "rivalry closest" => {
            let list = if inv.path == "rivalry top" {
                rivalries
                    .top(caller.guild_id, server_id, listed, now_unix())
                    .await
            } else {
                rivalries.closest(caller.guild_id, server_id, listed).await
            }
            .map_err(failed)?;
            if list.is_empty() {
                return Ok(notice(
                    "No Rivalries",
                    format!(
                        "There are no rivalries of more than {SETTLED_ABOVE} kills on server `{}` yet.",
                        shown(&server.name, 100)
                    ),
                ));
            }
            list
        }
        "rivalry recent" => {
            let days = inv.opt_int("days")?.unwrap_or(7).clamp(1, 365);
            let list = rivalries
                .recent(
                    caller.guild_id,
                    server_id,
                    now_unix() - days * 86_400,
                    now_unix(),
                    listed,
                )
                .await
                .map_err(failed)?;
            if list.is_empty() {
                return Ok(notice(
                    "No Recent Rivalries",
                    format!(
                        "There are no rivalries active in the last {days} days on server `{}`.",
                        shown(&server.name, 100)
                    ),
                ));
            }
            list
        }
        "rivalry between" => {
            let (a, b) = (inv.str("player1")?.trim(), inv.str("player2")?.trim());
            let find = async |name: &str| {
                bot.stats
                    .player(caller.guild_id, server_id, name)
                    .await
                    .map_err(failed)
            };
            let found = match (find(a).await?, find(b).await?) {
                (Some(x), Some(y)) => rivalries
                    .between(caller.guild_id, server_id, &x.player_id, &y.player_id)
                    .await
                    .map_err(failed)?,
                _ => None,
            };
            let Some(r) = found else {
                return Ok(notice(
                    "No Rivalry",
                    format!(
                        "There is no rivalry between `{}` and `{}` on server `{}`.",
                        shown(a, 100),
                        shown(b, 100),
                        shown(&server.name, 100)
                    ),
                ));
            };
            vec![r]
        }
        other => return Err(super::unknown(other)),
    };
    Ok(Reply::embeds(
        embeds(bot, caller.guild_id, server_id, &found).await?,
    ))
}

/// The rivalries' embeds, with the players' current names.
async fn embeds(
    bot: &Bot,
    guild_id: u64,
    server_id: &str,
    rivalries: &[Rivalry],
) -> Result<Vec<Embed>, CommandError> {
    let mut ids: Vec<String> = rivalries
        .iter()
        .flat_map(|r| [r.first_id.clone(), r.second_id.clone()])
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let names = bot
        .stats
        .names(guild_id, server_id, &ids)
        .await
        .map_err(|e| CommandError::failed("The players' names could not be read", e))?;
    Ok(rivalries.iter().map(|r| rivalry_embed(r, &names)).collect())
}

/// "View Rivalries" on a member: their linked players' rivalries on the guild's default
/// server (else on each of its servers), most kills first.
pub async fn of_member(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let Some(member) = inv.target_user else {
        return Err(super::unknown(&inv.path));
    };
    let servers =
        super::chosen_servers(bot, caller, inv, super::WhenOmitted::DefaultServer).await?;
    let links = bot
        .links
        .of_user(caller.guild_id, member)
        .await
        .map_err(|e| CommandError::failed("The member's linked players could not be read", e))?;
    let failed = |e| CommandError::failed("The rivalries could not be read", e);
    let mut found = Vec::new();
    for server in &servers {
        let server_id = server.server.as_str();
        let Some(link) = links.iter().find(|l| l.server_id == server_id) else {
            continue;
        };
        let list = bot
            .rivalries
            .of_player(caller.guild_id, server_id, &link.player_id, LISTED)
            .await
            .map_err(failed)?;
        found.extend(embeds(bot, caller.guild_id, server_id, &list).await?);
    }
    if found.is_empty() {
        let text = if links.is_empty() {
            format!("<@{member}> has no linked player.")
        } else {
            format!("<@{member}> doesn't have any rivalries yet.")
        };
        return Ok(notice("No Rivalries", text));
    }
    Ok(Reply::embeds(found))
}

fn now_unix() -> i64 {
    mongodb::bson::DateTime::now().timestamp_millis() / 1000
}

fn notice(title: &str, text: impl Into<String>) -> Reply {
    Reply::embed(
        EmbedBuilder::new()
            .title(title)
            .description(text)
            .color(colour::INFO)
            .build(),
    )
}

/// The earlier bot's rivalry embed: who leads by how much, each side's kills, the last
/// kill between them (Deadside logs no location).
pub fn rivalry_embed(r: &Rivalry, names: &HashMap<String, String>) -> Embed {
    let name = |id: &str| shown(names.get(id).map_or(id, String::as_str), 100);
    let (first, second) = (name(&r.first_id), name(&r.second_id));
    let lead = (r.first_kills - r.second_kills).abs();
    let standing = match lead {
        l if l > 10 => "Dominating!",
        l if l > 5 => "Significant Lead",
        l if l > 1 => "Leading",
        _ => "Close Match",
    };
    let description = if lead == 0 {
        format!("The rivalry is tied. ({standing})")
    } else {
        let leader = if r.first_kills > r.second_kills {
            &first
        } else {
            &second
        };
        format!("{leader} is ahead by {lead} kills. ({standing})")
    };
    let mut e = EmbedBuilder::new()
        .title(clip(&format!("⚔️ Rivalry: {first} vs {second}"), 256))
        .description(description)
        .color(RED)
        .field(EmbedFieldBuilder::new(first.clone(), format!("{} kills", r.first_kills)).inline())
        .field(EmbedFieldBuilder::new(second.clone(), format!("{} kills", r.second_kills)).inline())
        .field(EmbedFieldBuilder::new("Total Kills", r.total().to_string()).inline());
    if let Some(last) = &r.last {
        let by = if last.by_first { &first } else { &second };
        let location = last
            .recorded
            .as_ref()
            .and_then(|h| h.location.as_deref())
            .map_or("Unknown".to_owned(), |l| shown(l, 100));
        let mut text = format!(
            "**When:** <t:{}:R>\n**By:** {by}\n**Weapon:** {}\n**Location:** {location}",
            last.at_unix,
            shown(&last.weapon, 100)
        );
        if let Some(h) = &last.recorded {
            text.push_str(&format!("\n📝 Recorded by hand by <@{}>", h.user_id));
        }
        e = e.field(EmbedFieldBuilder::new("Last Kill", text));
    }
    e.footer(EmbedFooterBuilder::new(
        "Tower of Temptation PvP Statistics",
    ))
    .build()
}

/// `/rivalry posts`: switches a server's rivalry posts (a lead taken or levelled, an
/// intensity reached) in its killfeed channel; without `enabled`, says how they are.
async fn posts(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let guild = tower_store::ids::GuildId(caller.guild_id);
    let id = inv.server_id("server_id")?;
    let set: Vec<(&str, bool)> = inv
        .opt_bool("enabled")?
        .map(|on| (RIVALRY_SWITCH, on))
        .into_iter()
        .collect();
    let server = bot.servers.set_switches(guild, &id, &set).await?;
    let on = server.notifies(RIVALRY_SWITCH);
    let channel = server
        .channels
        .killfeed
        .map_or("no killfeed channel set yet".to_owned(), |c| {
            format!("<#{c}>")
        });
    Ok(Reply::done(
        if set.is_empty() {
            "Rivalry posts"
        } else {
            "Rivalry posts saved"
        },
        format!(
            "`{id}` — rivalry posts {} ({channel})",
            if on { "on" } else { "off" }
        ),
    ))
}

/// `/rivalry record_kill server_id killer victim [weapon] [location]`: the worker that
/// holds the server counts the kill between two polls; the answer is the earlier bot's
/// "Kill Recorded" and the rivalry as it stands now.
async fn record_kill(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let server = bot
        .servers
        .get(tower_store::ids::GuildId(caller.guild_id), &id)
        .await?;
    let server_id = server.server.as_str();
    let failed = |e| CommandError::failed("The players could not be read", e);
    let (killer_name, victim_name) = (inv.str("killer")?.trim(), inv.str("victim")?.trim());
    let find = async |name: &str| {
        bot.stats
            .player(caller.guild_id, server_id, name)
            .await
            .map_err(failed)
    };
    let (killer, victim) = match (find(killer_name).await?, find(victim_name).await?) {
        (Some(k), Some(v)) => (k, v),
        (k, _) => {
            let missing = if k.is_none() {
                killer_name
            } else {
                victim_name
            };
            return Ok(notice(
                "Player Not Found",
                format!(
                    "No player named `{}` on server `{}`. A kill is recorded between players the killfeed has seen.",
                    shown(missing, 100),
                    shown(&server.name, 100)
                ),
            ));
        }
    };
    if killer.player_id == victim.player_id {
        return Ok(notice(
            "Same Player",
            "The killer and the victim are the same player: that is a suicide, not a kill.",
        ));
    }
    let weapon = inv.opt_str("weapon")?.map(str::trim).unwrap_or_default();
    let location = inv.opt_str("location")?.map(str::trim).unwrap_or_default();
    let request = tower_proto::v1::RecordKillRequest {
        server: Some(tower_proto::v1::ServerRef {
            guild_id: caller.guild_id,
            server_id: server_id.to_owned(),
        }),
        killer_id: killer.player_id.clone(),
        killer_name: killer.stats.name.clone(),
        victim_id: victim.player_id.clone(),
        victim_name: victim.stats.name.clone(),
        weapon: weapon.to_owned(),
        location: location.to_owned(),
        recorded_by: caller.user_id,
        asked_at_unix: now_unix(),
        // A worker asked again after another failed counts the line the first one fixed.
        request_id: inv.interaction_id.to_string(),
    };
    let recorded = bot
        .workers
        .call_holder(|mut w| {
            let request = request.clone();
            async move { w.record_kill(request).await }
        })
        .await;
    let recorded = match recorded {
        Ok(r) => r.into_inner(),
        // Waiting for the server's poll: it is counted when that poll succeeds.
        Err(status) if status.code() == tonic::Code::DeadlineExceeded => {
            return Ok(notice("Kill Waiting", status.message()));
        }
        Err(status) => return Err(status.into()),
    };
    let (k, v) = (
        shown(&killer.stats.name, 100),
        shown(&victim.stats.name, 100),
    );
    let done = EmbedBuilder::new()
        .title(if recorded.counted {
            "Kill Recorded"
        } else {
            "Already Recorded"
        })
        .description(if recorded.counted {
            format!("Successfully recorded kill: `{k}` killed `{v}`")
        } else {
            format!("This kill of `{v}` by `{k}` was recorded already; nothing changed.")
        })
        .color(if recorded.counted {
            colour::SUCCESS
        } else {
            colour::INFO
        })
        .field(
            EmbedFieldBuilder::new(
                "Weapon",
                shown(if weapon.is_empty() { "Unknown" } else { weapon }, 64),
            )
            .inline(),
        )
        .field(
            EmbedFieldBuilder::new(
                "Location",
                shown(
                    if location.is_empty() {
                        "Unknown"
                    } else {
                        location
                    },
                    100,
                ),
            )
            .inline(),
        )
        .build();
    let mut out = vec![done];
    let rivalry = bot
        .rivalries
        .between(
            caller.guild_id,
            server_id,
            &killer.player_id,
            &victim.player_id,
        )
        .await
        .map_err(|e| CommandError::failed("The rivalry could not be read", e))?;
    if let Some(r) = rivalry {
        out.extend(embeds(bot, caller.guild_id, server_id, &[r]).await?);
    }
    Ok(Reply::embeds(out))
}

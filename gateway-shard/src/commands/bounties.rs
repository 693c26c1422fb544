//! `/bounty place|active|my|settings` (EARLIER-BOT.md §2.13): rewards on game players, paid from
//! the placer's balance, claimed by a kill on the live killfeed ([`tower_store::bounties`]).
//! Names, options, limits and messages are the earlier bot's; unlike it, an expired bounty
//! is refunded, and says so.

use twilight_model::channel::message::Embed;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use tower_store::bounties::{Bounty, MAX_REWARD, MIN_REWARD, NewBounty, Placed, Status};
use tower_store::game_servers::GameServer;
use tower_store::ids::GuildId;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// The earlier bot's gold.
const GOLD: u32 = 0xF1_C4_0F;
/// Active bounties shown per page, and the most of a user's listed.
const PAGE: usize = 5;
const MINE_SHOWN: i64 = 10;

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &tower_store::guilds::GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    if inv.path == "bounty settings" {
        return settings(bot, caller, guild, inv).await;
    }
    let coins = guild.economy.currency.coins();
    let id = inv.server_id("server_id")?;
    // Also proves the server is the caller's guild's.
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    match inv.path.as_str() {
        "bounty place" => place(bot, caller, inv, &server, coins).await,
        "bounty active" => active(bot, caller, &server, coins).await,
        "bounty my" => mine(bot, caller, inv, &server, coins).await,
        other => Err(super::unknown(other)),
    }
}

/// `/bounty settings setting [value] [channel]` (admin): the earlier bot's settings, with
/// their ranges; a value out of range is refused (the earlier bot's stray `return`s made
/// some of them never save).
async fn settings(
    bot: &Bot,
    caller: &Caller,
    guild: &tower_store::guilds::GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    use mongodb::bson::Bson;
    let coins = guild.economy.currency.coins();
    let setting = inv.str("setting")?;
    let value = inv.opt_str("value")?.map(str::trim);
    let (stored, text) = match setting {
        "auto_bounty" => {
            let on = match value.map(str::to_lowercase).as_deref() {
                None | Some("") => !guild.bounty.auto_bounty,
                Some("true" | "on" | "yes" | "1") => true,
                Some("false" | "off" | "no" | "0") => false,
                Some(other) => {
                    return Err(CommandError::invalid(
                        format!("`{}` is not on or off.", shown(other, 20)),
                        "Use on or off, or leave the value out to switch it.",
                    ));
                }
            };
            (
                Bson::Boolean(on),
                format!(
                    "Auto-bounty system {}.",
                    if on { "enabled" } else { "disabled" }
                ),
            )
        }
        "bounty_channel" => {
            let Some(channel) = inv.opt_channel("channel")? else {
                return Err(CommandError::invalid(
                    "No channel given.",
                    "Pick the channel in the `channel` option.",
                ));
            };
            (
                Bson::String(channel.to_string()),
                format!(
                    "Bounty announcements will be posted in <#{channel}> (a game server's own `/setup channels bounty_channel` comes first)."
                ),
            )
        }
        name => {
            let Some(&(_, lo, hi)) = tower_store::bounties::NUMERIC_SETTINGS
                .iter()
                .find(|(n, ..)| *n == name)
            else {
                return Err(super::unknown(name));
            };
            let n = value.and_then(|v| v.parse::<i64>().ok());
            let Some(n) = n.filter(|n| (lo..=hi).contains(n)) else {
                return Err(CommandError::invalid(
                    format!("`{name}` takes a whole number from {lo} to {hi}."),
                    "Give it in the `value` option.",
                ));
            };
            let text = match name {
                "kill_threshold" => format!("Kill threshold for auto-bounties set to {n}."),
                "repeat_threshold" => format!("Target fixation threshold set to {n}."),
                "time_window" => format!("Time window for auto-bounties set to {n} minutes."),
                _ => format!("Auto-bounty reward amount set to {n} {coins}."),
            };
            (Bson::Int64(n), text)
        }
    };
    bot.guilds
        .set_bounty_setting(caller.guild_id, setting, stored)
        .await
        .map_err(|e| CommandError::failed("Could not save the bounty settings", e))?;
    bot.settings.forget(caller.guild_id);
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title("Bounty Settings Updated")
            .description(text)
            .color(GOLD)
            .build(),
    ))
}

fn failed(e: mongodb::error::Error) -> CommandError {
    CommandError::failed("The bounties could not be read", e)
}

/// An error as the earlier bot showed it: "Error: …" in red.
fn error(text: String) -> Reply {
    Reply::embed(
        EmbedBuilder::new()
            .title("Error")
            .description(text)
            .color(colour::ERROR)
            .build(),
    )
}

async fn place(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    server: &GameServer,
    coins: &str,
) -> Result<Reply, CommandError> {
    let name = inv.str("player_name")?.trim();
    if name.is_empty() {
        return Err(CommandError::invalid(
            "No player name given.",
            "Pick the player from the suggestions.",
        ));
    }
    let reward = inv.int("reward")?;
    let reason = inv
        .opt_str("reason")?
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("No reason provided");
    if reward < MIN_REWARD {
        return Ok(error(format!(
            "Error: Minimum bounty amount is {MIN_REWARD} {coins}."
        )));
    }
    if reward > MAX_REWARD {
        return Ok(error(format!(
            "Error: Maximum bounty amount is {MAX_REWARD} {coins}."
        )));
    }
    let server_id = server.server.as_str();
    // Exact or any case first, then the most active player whose name starts so.
    let target = match bot.stats.player(caller.guild_id, server_id, name).await? {
        Some(p) => Some(p),
        None => bot
            .stats
            .players_named(caller.guild_id, Some(server_id), name, 1)
            .await?
            .into_iter()
            .next(),
    };
    let Some(target) = target else {
        return Ok(error(format!(
            "Error: Could not find player with name '{}' on this server.",
            shown(name, 100)
        )));
    };
    let holder = bot
        .links
        .holder(caller.guild_id, server_id, &target.player_id)
        .await
        .map_err(failed)?;
    if holder == Some(caller.user_id) {
        return Ok(error(
            "Error: You cannot place a bounty on yourself.".to_owned(),
        ));
    }
    let new = NewBounty {
        id: super::buttons::radix36(inv.interaction_id),
        guild_id: caller.guild_id,
        server_id: server_id.to_owned(),
        target_id: target.player_id.clone(),
        target_name: target.stats.name.clone(),
        reward,
        reason: reason.chars().take(200).collect(),
        placed_by: caller.user_id,
    };
    match bot.bounties.place(&new).await.map_err(|e| {
        CommandError::failed(
            "The bounty was recorded but not finished; it completes within a minute by itself. Check /bounty my before placing it again",
            e,
        )
    })? {
        Placed::InsufficientFunds { balance } => Ok(error(format!(
            "Error: You don't have enough currency. Current balance: {balance} {coins}."
        ))),
        Placed::Active(b) => Ok(Reply::embed(bounty_embed(&b, "placed", &server.name, coins))),
    }
}

/// Minutes from now until `unix`, at least 0.
fn minutes_left(unix: i64) -> i64 {
    let now = tower_daemon::telemetry::now_unix_ms() / 1000;
    ((unix - now).max(0) + 59) / 60
}

/// The bounty embed, as the earlier bot posted it, for each change of a bounty: `event` is
/// placed, claimed, paid, expired or unclaimed.
pub fn bounty_embed(b: &Bounty, event: &str, server_name: &str, coins: &str) -> Embed {
    let (title, description) = match (event, b.placed_by) {
        ("placed", Some(_)) => ("Bounty Placed", "💰 **Bounty Placed** 💰".to_owned()),
        ("placed", None) => (
            "Auto-Bounty Created",
            "💀 **Auto-Bounty Alert** 💀".to_owned(),
        ),
        ("claimed" | "paid", _) => {
            let hunter = b
                .claim
                .as_ref()
                .map_or("Someone", |c| c.hunter_name.as_str());
            (
                "Bounty Claimed",
                format!(
                    "🎯 **{}** claimed the bounty on **{}**",
                    shown(hunter, 100),
                    shown(&b.target_name, 100)
                ),
            )
        }
        ("unclaimed", None) => (
            "Bounty Lapsed",
            format!(
                "The hunter of **{}** never linked a Discord account: the bot's bounty lapsed.",
                shown(&b.target_name, 100)
            ),
        ),
        ("unclaimed", Some(_)) => (
            "Bounty Refunded",
            format!(
                "The hunter of **{}** never linked a Discord account: the reward went back to the placer.",
                shown(&b.target_name, 100)
            ),
        ),
        _ => (
            "Bounty Expired",
            format!(
                "Nobody claimed the bounty on **{}** in time.",
                shown(&b.target_name, 100)
            ),
        ),
    };
    let mut e = EmbedBuilder::new()
        .title(title)
        .description(description)
        .color(GOLD)
        .field(EmbedFieldBuilder::new("Target", shown(&b.target_name, 100)).inline())
        .field(EmbedFieldBuilder::new("Reward", format!("{} {coins}", b.reward)).inline())
        .field(EmbedFieldBuilder::new("Reason", shown(&b.reason, 200)));
    match event {
        "placed" => {
            e = e.field(
                EmbedFieldBuilder::new(
                    "Expires",
                    format!("In {} minutes", minutes_left(b.expires_at_unix)),
                )
                .inline(),
            );
        }
        "claimed" | "paid" => {
            let paid = match b.claim.as_ref() {
                Some(c) if c.paid => match c.user_id {
                    Some(u) => format!("Paid to <@{u}>"),
                    None => "Paid".to_owned(),
                },
                _ => "Held until the hunter links their Discord account (`/link`)".to_owned(),
            };
            e = e.field(EmbedFieldBuilder::new("Payout", paid));
        }
        _ => {
            let refund = match b.placed_by {
                Some(u) => format!("{} {coins} returned to <@{u}>", b.reward),
                None => "Placed by the bot: nothing to return".to_owned(),
            };
            e = e.field(EmbedFieldBuilder::new("Refund", refund));
        }
    }
    if let Some(u) = b.placed_by
        && event == "placed"
    {
        e = e.field(EmbedFieldBuilder::new("Placed By", format!("<@{u}>")).inline());
    }
    e.footer(EmbedFooterBuilder::new(format!(
        "Bounty ID: {} · {}",
        b.id,
        shown(server_name, 60)
    )))
    .build()
}

async fn active(
    bot: &Bot,
    caller: &Caller,
    server: &GameServer,
    coins: &str,
) -> Result<Reply, CommandError> {
    let list = bot
        .bounties
        .active(caller.guild_id, server.server.as_str())
        .await
        .map_err(failed)?;
    Ok(Reply::embeds(active_embeds(&list, coins)))
}

/// The earlier bot's "Active Bounties" pages (or "No Active Bounties") for `list`, the
/// soonest to expire first.
pub fn active_embeds(list: &[Bounty], coins: &str) -> Vec<Embed> {
    if list.is_empty() {
        return vec![
            EmbedBuilder::new()
                .title("No Active Bounties")
                .description("There are no active bounties at this time.")
                .color(GOLD)
                .build(),
        ];
    }
    // Every page, not only the first (the earlier bot's TODO), up to Discord's ten
    // embeds.
    let shown_count = list.len().min(PAGE * 10);
    let pages = shown_count.div_ceil(PAGE);
    list[..shown_count]
        .chunks(PAGE)
        .enumerate()
        .map(|(i, page)| {
            let mut e = EmbedBuilder::new()
                .title(format!("Active Bounties (Page {}/{pages})", i + 1))
                .description("Here are the currently active bounties:")
                .color(GOLD);
            for b in page {
                let placed_by = b
                    .placed_by
                    .map_or_else(|| "Auto-bounty".to_owned(), |u| format!("<@{u}>"));
                e = e.field(EmbedFieldBuilder::new(
                    format!(
                        "💰 {} (ID: {})",
                        shown(&b.target_name, 100),
                        b.id.get(..6).unwrap_or(&b.id)
                    ),
                    format!(
                        "**Reward:** {} {coins}\n**Reason:** {}\n**Expires:** In {} minutes\n**Placed By:** {placed_by}",
                        b.reward,
                        shown(&b.reason, 200),
                        minutes_left(b.expires_at_unix)
                    ),
                ));
            }
            e.build()
        })
        .collect()
}

async fn mine(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    server: &GameServer,
    coins: &str,
) -> Result<Reply, CommandError> {
    let claimed = inv.opt_str("view_type")? == Some("claimed");
    let server_id = server.server.as_str();
    let list = if claimed {
        bot.bounties
            .claimed_by(caller.guild_id, server_id, caller.user_id, MINE_SHOWN)
            .await
    } else {
        bot.bounties
            .placed_by(caller.guild_id, server_id, caller.user_id, MINE_SHOWN)
            .await
    }
    .map_err(failed)?;
    Ok(mine_reply(&list, claimed, coins))
}

/// `/bounty my`: the bounties the member placed, or those they claimed (`claimed`).
pub fn mine_reply(list: &[Bounty], claimed: bool, coins: &str) -> Reply {
    let title = if claimed {
        "Bounties I've Claimed"
    } else {
        "Bounties I've Placed"
    };
    if list.is_empty() {
        return Reply::done(
            title,
            if claimed {
                "You have not claimed any bounty on this server."
            } else {
                "You have not placed any bounty on this server."
            },
        );
    }
    let mut e = EmbedBuilder::new().title(title).color(GOLD);
    for (i, b) in list.iter().enumerate() {
        let value = if claimed {
            let at = b.claim.as_ref().map_or(0, |c| c.at_unix);
            let placed_by = b
                .placed_by
                .map_or_else(|| "Auto-bounty".to_owned(), |u| format!("<@{u}>"));
            format!(
                "**Reward:** {} {coins}\n**Placed By:** {placed_by}\n**Claimed:** <t:{at}:R>",
                b.reward
            )
        } else {
            let status = match (b.status, &b.claim) {
                (Status::Active, _) => format!(
                    "Active (Expires in {} minutes)",
                    minutes_left(b.expires_at_unix)
                ),
                (Status::Claimed, Some(c)) if b.refunded => format!(
                    "Claimed by {}, who never linked a Discord account: refunded",
                    shown(&c.hunter_name, 100)
                ),
                (Status::Claimed, Some(c)) => format!("Claimed by {}", shown(&c.hunter_name, 100)),
                (_, _) if b.refunded => "Expired (refunded)".to_owned(),
                _ => "Expired".to_owned(),
            };
            format!(
                "**Reward:** {} {coins}\n**Reason:** {}\n**Status:** {status}\n**Placed:** <t:{}:R>",
                b.reward,
                shown(&b.reason, 200),
                b.placed_at_unix
            )
        };
        e = e.field(EmbedFieldBuilder::new(
            format!("#{}: Target: {}", i + 1, shown(&b.target_name, 100)),
            value,
        ));
    }
    Reply::embed(e.build())
}

//! `/economy balance|daily|leaderboard|give|adjust|transactions|stats|settings`
//! (EARLIER-BOT.md §2.15):
//! balances per Discord user and game server, every change a transaction of the ledger
//! ([`tower_store::ledger`]), so a command run twice or two at once never pays twice or
//! overdraws. Names, options and messages are the earlier bot's.

use tower_store::gambling::{GameKind, HouseStats};
use twilight_model::channel::message::Embed;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use tower_daemon::telemetry::now_unix_ms;
use tower_store::game_servers::GameServer;
use tower_store::guilds::{CURRENCY_NAME_MAX, Currency, GuildSettings};
use tower_store::ids::GuildId;
use tower_store::ledger::{AccountId, Entry, Posted, Source, Transferred};
use tower_store::tier::Tier;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// The earlier bot's gold.
const GOLD: u32 = 0xF1_C4_0F;
/// Transactions shown at once, and the most asked for.
const HISTORY_SHOWN: i64 = 10;
const HISTORY_MOST: i64 = 25;
/// The richest players listed.
const RICHEST: i64 = 10;

/// The daily reward by tier, as the earlier bot paid it.
pub fn daily_amount(tier: Tier) -> i64 {
    if tier >= Tier::WARLORD {
        200
    } else if tier >= Tier::MERCENARY {
        150
    } else {
        100
    }
}

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    if inv.path == "economy settings" {
        return settings(bot, caller, guild, inv).await;
    }
    let money = guild.economy.currency.credits();
    let id = inv.server_id("server_id")?;
    // Also proves the server is the caller's guild's.
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let mine = AccountId {
        guild_id: caller.guild_id,
        server_id: id.as_str().to_owned(),
        user_id: caller.user_id,
    };
    match inv.path.as_str() {
        "economy balance" => balance(bot, caller, &server, &mine, money).await,
        "economy daily" => {
            let amount = guild
                .economy
                .daily_amount
                .unwrap_or(daily_amount(guild.tier));
            daily(bot, &mine, amount, money).await
        }
        "economy leaderboard" => leaderboard(bot, caller, &server, money).await,
        "economy give" => give(bot, caller, inv, &mine, money).await,
        "economy adjust" => adjust(bot, caller, inv, &mine, money).await,
        "economy transactions" => transactions(bot, caller, guild, inv, &server, &mine).await,
        "economy stats" => stats(bot, caller, &server, money).await,
        other => Err(super::unknown(other)),
    }
}

fn ledger_failed(e: mongodb::error::Error) -> CommandError {
    CommandError::failed("The economy could not be read", e)
}

/// A change that may be half done: it was recorded, and the worker completes it within
/// a minute, so running the command again would make it twice.
fn change_failed(e: mongodb::error::Error) -> CommandError {
    CommandError::failed(
        "The change was recorded but not finished; it completes within a minute by itself. Check /economy transactions before running the command again",
        e,
    )
}

async fn balance(
    bot: &Bot,
    caller: &Caller,
    server: &GameServer,
    mine: &AccountId,
    money: &str,
) -> Result<Reply, CommandError> {
    let account = bot.ledger.account(mine).await.map_err(ledger_failed)?;
    let played = bot
        .gambling
        .house(
            caller.guild_id,
            server.server.as_str(),
            Some(caller.user_id),
        )
        .await
        .map_err(ledger_failed)?;
    Ok(Reply::embed(balance_embed(
        &server.name,
        caller.user_id,
        &account,
        &played,
        money,
    )))
}

/// The earlier bot's "💰 Your Balance", with a line per game played.
pub fn balance_embed(
    server_name: &str,
    user: u64,
    account: &tower_store::ledger::Account,
    played: &[(GameKind, HouseStats)],
    money: &str,
) -> Embed {
    let mut embed = EmbedBuilder::new()
        .title("💰 Your Balance")
        .description(format!("Server: {}", shown(server_name, 100)))
        .color(GOLD)
        .field(EmbedFieldBuilder::new("Balance", format!("{} {money}", account.balance)).inline())
        .field(
            EmbedFieldBuilder::new("Lifetime Earnings", format!("{} {money}", account.lifetime))
                .inline(),
        );
    for (kind, h) in played {
        embed = embed.field(EmbedFieldBuilder::new(
            format!("{} Stats", kind.title()),
            format!(
                "Wins: {}, Losses: {}\nNet Earnings: {} {money}",
                h.wins, h.losses, h.player_net
            ),
        ));
    }
    embed
        .footer(EmbedFooterBuilder::new(format!("User ID: {user}")))
        .build()
}

/// `/economy settings [setting] [value]` (admin): the daily reward, what a kill pays, and
/// whether kills read as history pay; without options, the current ones.
async fn settings(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    use mongodb::bson::Bson;
    let e = &guild.economy;
    let money = e.currency.credits();
    let Some(setting) = inv.opt_str("setting")? else {
        let daily = match e.daily_amount {
            Some(n) => format!("{n} {money}"),
            None => format!("{} {money} (by tier)", daily_amount(guild.tier)),
        };
        return Ok(Reply::done(
            "Economy Settings",
            format!(
                "daily_amount: {daily}\nkill_reward: {} {money} a kill, before the distance and streak bonuses\npay_history: {} (kills read as history: a first read, a backfill; or read more than 10 minutes after they happened)\ncurrency_name: {}",
                e.kill_reward
                    .unwrap_or(tower_store::kill_rewards::KILL_CREDITS),
                if e.pay_history { "on" } else { "off" },
                e.currency
                    .name()
                    .unwrap_or("default (credits, and coins on bounties)"),
            ),
        ));
    };
    let value = inv.opt_str("value")?.map(str::trim).unwrap_or_default();
    let (stored, text) = match setting {
        "pay_history" => {
            let on = match value.to_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => true,
                "off" | "false" | "no" | "0" => false,
                _ => {
                    return Err(CommandError::invalid(
                        "`pay_history` is on or off.",
                        "Give on or off in `value`.",
                    ));
                }
            };
            (
                Bson::Boolean(on),
                format!(
                    "Kills read as history or late {} pay their killers.",
                    if on { "now" } else { "no longer" }
                ),
            )
        }
        "daily_amount" | "kill_reward" => {
            let (lo, hi) = if setting == "daily_amount" {
                (1, 1_000_000)
            } else {
                (0, 10_000)
            };
            if value.eq_ignore_ascii_case("default") {
                (
                    Bson::Null,
                    format!("`{setting}` is back to the earlier bot's amount."),
                )
            } else {
                let Some(n) = value.parse::<i64>().ok().filter(|n| (lo..=hi).contains(n)) else {
                    return Err(CommandError::invalid(
                        format!("`{setting}` takes a whole number from {lo} to {hi}, or default."),
                        "Give it in `value`.",
                    ));
                };
                (Bson::Int64(n), format!("`{setting}` set to {n} {money}."))
            }
        }
        "currency_name" => {
            if value.is_empty() || value.eq_ignore_ascii_case("default") {
                (
                    Bson::Null,
                    "The money is called as the earlier bot called it again: credits, and coins on bounties.".to_owned(),
                )
            } else {
                let Some(name) = Currency::parse(value).and_then(|c| c.name().map(str::to_owned))
                else {
                    return Err(CommandError::invalid(
                        format!(
                            "A currency name has 1 to {CURRENCY_NAME_MAX} characters, without markdown, mentions or line breaks."
                        ),
                        "Give it in `value`, or default.",
                    ));
                };
                let text = format!("The money is now called {name}.");
                (Bson::String(name), text)
            }
        }
        other => return Err(super::unknown(other)),
    };
    bot.guilds
        .set_economy_setting(caller.guild_id, setting, stored)
        .await
        .map_err(|e| CommandError::failed("Could not save the economy settings", e))?;
    bot.settings.forget(caller.guild_id);
    Ok(Reply::done("Economy Settings Updated", text))
}

/// `/economy stats` (admin): the server's economy and the house's games, as the earlier
/// bot's "Economy Statistics".
async fn stats(
    bot: &Bot,
    caller: &Caller,
    server: &GameServer,
    money: &str,
) -> Result<Reply, CommandError> {
    let server_id = server.server.as_str();
    let figures = bot
        .ledger
        .server_stats(caller.guild_id, server_id)
        .await
        .map_err(ledger_failed)?;
    let house = bot
        .gambling
        .house(caller.guild_id, server_id, None)
        .await
        .map_err(ledger_failed)?;
    Ok(Reply::embed(stats_embed(
        &server.name,
        &figures,
        &house,
        money,
    )))
}

/// The earlier bot's "Economy Statistics": the server's economy, the house's games, the
/// top transaction sources.
pub fn stats_embed(
    server_name: &str,
    figures: &tower_store::ledger::EconomyStats,
    house: &[(GameKind, HouseStats)],
    money: &str,
) -> Embed {
    let general = format!(
        "Total Currency: {} {money}\nLifetime Earnings: {} {money}\nActive Accounts: {}",
        figures.total_balance, figures.lifetime, figures.accounts
    );
    let games = if house.is_empty() {
        "No games played yet.".to_owned()
    } else {
        let lines: Vec<String> = house
            .iter()
            .map(|(kind, h)| {
                let rate = if h.games > 0 {
                    h.wins as f64 * 100.0 / h.games as f64
                } else {
                    0.0
                };
                format!(
                    "**{}**: {} games, {} wins, {} losses ({rate:.1}% win rate), player earnings {} {money}",
                    kind.title(),
                    h.games,
                    h.wins,
                    h.losses,
                    h.player_net
                )
            })
            .collect();
        lines.join("\n")
    };
    let sources = if figures.sources.is_empty() {
        "No transactions yet.".to_owned()
    } else {
        let lines: Vec<String> = figures
            .sources
            .iter()
            .map(|s| {
                let name = match Source::parse(&s.source) {
                    Some(known) => source_label(known).to_owned(),
                    None => s.source.clone(),
                };
                format!(
                    "**{name}**: Count {}, Credits In {}, Credits Out {}",
                    s.count, s.credits_in, s.credits_out
                )
            })
            .collect();
        lines.join("\n")
    };
    EmbedBuilder::new()
        .title("Economy Statistics")
        .description(format!("Server: {}", shown(server_name, 100)))
        .color(GOLD)
        .field(EmbedFieldBuilder::new("General Statistics", general))
        .field(EmbedFieldBuilder::new("Gambling Statistics", games))
        .field(EmbedFieldBuilder::new("Top Transaction Sources", sources))
        .build()
}

/// The start of the next UTC day, in Unix seconds.
fn next_day(now_unix: i64) -> i64 {
    (now_unix.div_euclid(86_400) + 1) * 86_400
}

async fn daily(
    bot: &Bot,
    mine: &AccountId,
    amount: i64,
    money: &str,
) -> Result<Reply, CommandError> {
    let now = now_unix_ms() / 1000;
    // One claim per account and UTC day: the day is in the key.
    let entry = Entry {
        key: format!(
            "daily:{}:{}:{}:{}",
            mine.guild_id,
            mine.server_id,
            mine.user_id,
            now.div_euclid(86_400)
        ),
        account: mine.clone(),
        amount,
        source: Source::DailyReward,
        details: "Daily reward claimed".to_owned(),
        reference: String::new(),
    };
    let posted = bot.ledger.post(&entry).await.map_err(change_failed)?;
    let balance = match posted {
        Posted::Applied {
            earlier: false,
            balance_after: Some(b),
        } => b,
        Posted::Applied { earlier: false, .. } => {
            bot.ledger
                .account(mine)
                .await
                .map_err(ledger_failed)?
                .balance
        }
        // Claimed before today (or by the same command an instant ago).
        Posted::Applied { earlier: true, .. } | Posted::Refused { .. } => {
            return Ok(Reply::embed(daily_claimed_embed(next_day(now))));
        }
    };
    Ok(Reply::embed(daily_embed(amount, balance, money)))
}

/// The earlier bot's "💰 Daily Reward".
pub fn daily_embed(amount: i64, balance: i64, money: &str) -> Embed {
    EmbedBuilder::new()
        .title("💰 Daily Reward")
        .description(format!(
            "You received {amount} {money}! Your balance is now {balance} {money}."
        ))
        .color(GOLD)
        .build()
}

/// "❌ Daily Reward": claimed today already; claimable again at `next_unix`.
pub fn daily_claimed_embed(next_unix: i64) -> Embed {
    EmbedBuilder::new()
        .title("❌ Daily Reward")
        .description(format!(
            "You already claimed today's reward. Claim again <t:{next_unix}:R>."
        ))
        .color(colour::ERROR)
        .build()
}

async fn leaderboard(
    bot: &Bot,
    caller: &Caller,
    server: &GameServer,
    money: &str,
) -> Result<Reply, CommandError> {
    let richest = bot
        .ledger
        .richest(caller.guild_id, server.server.as_str(), RICHEST)
        .await
        .map_err(ledger_failed)?;
    Ok(Reply::embed(richest_embed(&server.name, &richest, money)))
}

/// The earlier bot's "Richest Players" (or "No Data").
pub fn richest_embed(
    server_name: &str,
    richest: &[(u64, tower_store::ledger::Account)],
    money: &str,
) -> Embed {
    let name = shown(server_name, 100);
    if richest.is_empty() {
        return EmbedBuilder::new()
            .title("No Data")
            .description(format!("No player economy data found for server {name}."))
            .color(colour::INFO)
            .build();
    }
    let lines: Vec<String> = richest
        .iter()
        .enumerate()
        .map(|(i, (user, a))| {
            format!(
                "#{} <@{user}>: {} {money} (Lifetime: {})",
                i + 1,
                a.balance,
                a.lifetime
            )
        })
        .collect();
    EmbedBuilder::new()
        .title("Richest Players")
        .description(clip(
            &format!("Server: {name}\n\n{}", lines.join("\n")),
            4096,
        ))
        .color(GOLD)
        .build()
}

/// A positive amount of credits from the `amount` option.
fn positive(inv: &Invocation) -> Result<i64, CommandError> {
    let amount = inv.int("amount")?;
    if amount <= 0 {
        return Err(CommandError::invalid(
            "The amount must be more than 0.",
            "Give a whole number of credits, like 50.",
        ));
    }
    Ok(amount)
}

/// A unique key for a command's transaction: its interaction (Discord delivers an
/// interaction once, but a retried run of it applies its ledger changes once each).
fn command_key(kind: &str, inv: &Invocation) -> String {
    format!("{kind}:{}", inv.interaction_id)
}

async fn give(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    mine: &AccountId,
    money: &str,
) -> Result<Reply, CommandError> {
    let to = inv.user("user")?;
    let amount = positive(inv)?;
    // A bot never spends what it is given: the giver's money would be lost.
    let refused = if to == caller.user_id {
        Some("yourself")
    } else if inv.is_bot(to) {
        Some("a bot")
    } else {
        None
    };
    if let Some(whom) = refused {
        return Ok(Reply::embed(invalid_recipient_embed(whom, money)));
    }
    let theirs = AccountId {
        user_id: to,
        ..mine.clone()
    };
    let done = bot
        .ledger
        .transfer(
            &command_key("give", inv),
            mine,
            &theirs,
            amount,
            format!("To <@{to}>"),
            format!("From <@{}>", caller.user_id),
        )
        .await
        .map_err(change_failed)?;
    match done {
        Transferred::CalledOff => Err(CommandError::refused(
            format!("The transfer took too long and was called off: no {money} moved."),
            "Run the command again.",
        )),
        Transferred::InsufficientFunds { balance } => {
            Ok(Reply::embed(insufficient_funds_embed(balance, money)))
        }
        Transferred::Done { from_balance } => {
            let balance = match from_balance {
                Some(b) => b,
                None => {
                    bot.ledger
                        .account(mine)
                        .await
                        .map_err(ledger_failed)?
                        .balance
                }
            };
            Ok(Reply::embed(transfer_embed(amount, to, balance, money)))
        }
    }
}

/// "Invalid Recipient": `whom` ("yourself", "a bot") cannot be given money.
pub fn invalid_recipient_embed(whom: &str, money: &str) -> Embed {
    EmbedBuilder::new()
        .title("Invalid Recipient")
        .description(format!("You can't give {money} to {whom}."))
        .color(colour::ERROR)
        .build()
}

/// "Insufficient Funds" for a transfer the giver's `balance` does not cover.
pub fn insufficient_funds_embed(balance: i64, money: &str) -> Embed {
    EmbedBuilder::new()
        .title("Insufficient Funds")
        .description(format!(
            "You don't have enough {money}. You have {balance} {money}."
        ))
        .color(colour::ERROR)
        .build()
}

/// The earlier bot's "Credits Transfer" to user `to`, with the giver's new balance.
pub fn transfer_embed(amount: i64, to: u64, balance: i64, money: &str) -> Embed {
    EmbedBuilder::new()
        .title("Credits Transfer")
        .description(format!(
            "Successfully transferred {amount} {money} to <@{to}>"
        ))
        .color(GOLD)
        .field(EmbedFieldBuilder::new(
            "Your New Balance",
            format!("{balance} {money}"),
        ))
        .build()
}

async fn adjust(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    mine: &AccountId,
    money: &str,
) -> Result<Reply, CommandError> {
    let user = inv.user("user")?;
    let amount = inv.int("amount")?;
    if amount == 0 {
        return Err(CommandError::invalid(
            "The amount cannot be 0.",
            "A positive amount adds credits, a negative one removes them.",
        ));
    }
    let reason = inv
        .opt_str("reason")?
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or("Admin adjustment");
    let theirs = AccountId {
        user_id: user,
        ..mine.clone()
    };
    let before = bot.ledger.account(&theirs).await.map_err(ledger_failed)?;
    let posted = bot
        .ledger
        .post(&Entry {
            key: command_key("adjust", inv),
            account: theirs.clone(),
            amount,
            source: Source::AdminAdjustment,
            details: format!("By <@{}>: {}", caller.user_id, clip(reason, 200)),
            reference: String::new(),
        })
        .await
        .map_err(change_failed)?;
    match posted {
        Posted::Refused { balance } => {
            Ok(Reply::embed(cannot_remove_embed(balance, -amount, money)))
        }
        Posted::Applied { balance_after, .. } => {
            let after = match balance_after {
                Some(b) => b,
                None => {
                    bot.ledger
                        .account(&theirs)
                        .await
                        .map_err(ledger_failed)?
                        .balance
                }
            };
            Ok(Reply::embed(adjustment_embed(
                Adjustment {
                    user,
                    amount,
                    before: before.balance,
                    after,
                    reason,
                },
                money,
            )))
        }
    }
}

/// "Insufficient Funds" for an adjustment removing more than the player's `balance`.
pub fn cannot_remove_embed(balance: i64, removing: i64, money: &str) -> Embed {
    EmbedBuilder::new()
        .title("Insufficient Funds")
        .description(format!(
            "Player only has {balance} {money}. Cannot remove {removing} {money}."
        ))
        .color(colour::ERROR)
        .build()
}

/// An admin's change of a member's balance, as made.
pub struct Adjustment<'a> {
    pub user: u64,
    /// Positive added, negative removed.
    pub amount: i64,
    pub before: i64,
    pub after: i64,
    pub reason: &'a str,
}

/// The earlier bot's "Credits Adjustment".
pub fn adjustment_embed(a: Adjustment<'_>, money: &str) -> Embed {
    let (verb, to) = if a.amount > 0 {
        ("Added", "to")
    } else {
        ("Removed", "from")
    };
    EmbedBuilder::new()
        .title("Credits Adjustment")
        .description(format!(
            "{verb} {} {money} {to} <@{}>",
            a.amount.abs(),
            a.user
        ))
        .color(GOLD)
        .field(EmbedFieldBuilder::new("Previous Balance", format!("{} {money}", a.before)).inline())
        .field(EmbedFieldBuilder::new("New Balance", format!("{} {money}", a.after)).inline())
        .field(EmbedFieldBuilder::new("Reason", clip(a.reason, 1024)))
        .build()
}

async fn transactions(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
    server: &GameServer,
    mine: &AccountId,
) -> Result<Reply, CommandError> {
    let user = inv.opt_user("user")?.unwrap_or(caller.user_id);
    if user != caller.user_id && !bot.is_admin(caller, guild) {
        return Ok(Reply::embed(
            EmbedBuilder::new()
                .title("Permission Denied")
                .description("You can only view your own transactions unless you're an admin.")
                .color(colour::ERROR)
                .build(),
        ));
    }
    let limit = inv
        .opt_int("limit")?
        .unwrap_or(HISTORY_SHOWN)
        .clamp(1, HISTORY_MOST);
    let whose = AccountId {
        user_id: user,
        ..mine.clone()
    };
    let account = bot.ledger.account(&whose).await.map_err(ledger_failed)?;
    let (history, total) = bot
        .ledger
        .history(&whose, limit)
        .await
        .map_err(ledger_failed)?;
    Ok(Reply::embed(history_embed(
        &server.name,
        user,
        account.balance,
        &history,
        total,
        guild.economy.currency.credits(),
    )))
}

/// The earlier bot's "Transaction History": a field per transaction, newest first.
pub fn history_embed(
    server_name: &str,
    user: u64,
    balance: i64,
    history: &[tower_store::ledger::Transaction],
    total: u64,
    money: &str,
) -> Embed {
    let mut description = format!(
        "Recent transactions for <@{user}> on {}",
        shown(server_name, 100)
    );
    if total > history.len() as u64 {
        description.push_str(&format!(
            "\n\nShowing {} of {total} transactions.",
            history.len()
        ));
    }
    // The balance in the description: 25 transactions take Discord's 25 fields.
    description.push_str(&format!("\n\n**Current Balance**: {balance} {money}"));
    let mut embed = EmbedBuilder::new()
        .title("Transaction History")
        .description(description)
        .color(GOLD);
    for (i, t) in history.iter().enumerate() {
        let sign = if t.amount >= 0 { "+" } else { "-" };
        let source = t.source.map_or("Other", source_label);
        let after = t
            .balance_after
            .map_or_else(String::new, |b| format!("\nBalance: {b} {money}"));
        embed = embed.field(EmbedFieldBuilder::new(
            format!(
                "{}. {sign}{} {money} - <t:{}:R>",
                i + 1,
                t.amount.abs(),
                t.at_unix
            ),
            // 25 of them stay within Discord's 6,000 characters a message.
            clip(
                &format!("**{source}**: {}{after}", clip(&t.details, 150)),
                200,
            ),
        ));
    }
    if history.is_empty() {
        embed = embed.field(EmbedFieldBuilder::new("No transactions", "Nothing yet."));
    }
    embed.build()
}

/// A transaction source as the history shows it.
fn source_label(source: Source) -> &'static str {
    match source {
        Source::KillReward => "Kill Reward",
        Source::KillstreakBonus => "Killstreak Bonus",
        Source::DailyReward => "Daily Reward",
        Source::Transfer => "Transfer",
        Source::Received => "Received",
        Source::AdminAdjustment => "Admin Adjustment",
        Source::Gambling => "Gambling",
        Source::BountyPlaced => "Bounty Placed",
        Source::BountyRefund => "Bounty Refund",
        Source::BountyClaimed => "Bounty Claimed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_reward_grows_with_the_tier_and_resets_at_midnight_utc() {
        assert_eq!(daily_amount(Tier::SURVIVOR), 100);
        assert_eq!(daily_amount(Tier::MERCENARY), 150);
        assert_eq!(daily_amount(Tier::OVERSEER), 200);
        assert_eq!(next_day(86_400 * 3 + 5), 86_400 * 4);
        assert_eq!(next_day(86_400 * 3), 86_400 * 4);
    }
}

//! `/leaderboard_channel set|remove|list` (admin): leaderboards auto-posted in a channel
//! and edited in place on each refresh; `/status_channel set|remove` (admin): a server's
//! live status, edited at most once a minute. Both are kept current by
//! [`crate::live_posts`]; this file only stores what admins ask for.

use std::future::IntoFuture;

use tower_store::ids::GuildId;
use tower_store::live_posts::{
    Board, BoardStat, DEFAULT_BOARD_EVERY_SECS, DEFAULT_BOARD_ROWS, DEFAULT_KDR_FLOOR, LivePost,
    LivePostError, LivePosts, MAX_BOARD_EVERY_SECS, MAX_BOARD_ROWS, MAX_BOARDS_PER_GUILD,
    STATUS_EVERY_SECS, Shows, min_board_every_secs,
};
use tower_store::tier::Tier;
use tower_store::windows::Window;
use twilight_model::id::Id;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::code;
use crate::live_posts::every_label;
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &tower_store::guilds::GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let store = LivePosts::new(&bot.db);
    match inv.path.as_str() {
        "leaderboard_channel set" => set_board(bot, &store, caller, guild.tier, inv).await,
        "leaderboard_channel remove" => {
            let channel = required_channel(inv)?;
            remove(bot, &store, caller, inv, Some(channel)).await
        }
        "leaderboard_channel list" => list(&store, caller).await,
        "status_channel set" => {
            let id = inv.server_id("server_id")?;
            bot.servers.get(GuildId(caller.guild_id), &id).await?;
            let channel = required_channel(inv)?;
            let (_, moved) = store
                .set(
                    caller.guild_id,
                    id.as_str(),
                    channel,
                    Shows::Status,
                    STATUS_EVERY_SECS,
                )
                .await
                .map_err(stored)?;
            // The status moved: the old message would go stale, so it goes.
            if let Some((old_channel, message)) = moved {
                delete_message(bot, old_channel, message).await;
            }
            Ok(Reply::done(
                "Live status saved",
                format!(
                    "The live status of `{id}` appears in <#{channel}> within a few seconds and is edited every minute: players online and queued, the last kills, the last restart, and whether the killfeed is being read."
                ),
            ))
        }
        "status_channel remove" => remove(bot, &store, caller, inv, None).await,
        other => Err(super::unknown(other)),
    }
}

fn required_channel(inv: &Invocation) -> Result<u64, CommandError> {
    inv.opt_channel("channel")?.ok_or_else(|| {
        CommandError::invalid(
            "No channel was given.",
            "Pick the channel in the `channel` option.",
        )
    })
}

fn stored(e: LivePostError) -> CommandError {
    match e {
        LivePostError::TooMany => CommandError::refused(
            format!(
                "This Discord server has {MAX_BOARDS_PER_GUILD} auto-posted leaderboards already."
            ),
            "Remove one with /leaderboard_channel remove, or put more rankings on one board (stats:).",
        ),
        LivePostError::Db(e) => CommandError::failed("Could not save it", e),
    }
}

/// The `stats` option: names separated by commas or spaces, in the order given.
pub fn parse_stats(text: &str) -> Result<Vec<BoardStat>, CommandError> {
    let mut stats = Vec::new();
    for word in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        let stat = BoardStat::parse(word).ok_or_else(|| {
            CommandError::invalid(
                format!("`{}` is not a ranking a board can show.", code(word, 30)),
                format!(
                    "Use some of: {}, separated by commas.",
                    BoardStat::ALL.map(|s| s.key()).join(", ")
                ),
            )
        })?;
        if !stats.contains(&stat) {
            stats.push(stat);
        }
    }
    if stats.is_empty() {
        return Err(CommandError::invalid(
            "No ranking was given.",
            "Name at least one, as `kills, kdr, longest_shot`.",
        ));
    }
    Ok(stats)
}

async fn set_board(
    bot: &Bot,
    store: &LivePosts,
    caller: &Caller,
    tier: Tier,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let channel = required_channel(inv)?;
    let defaults = Board::default();
    let stats = match inv.opt_str("stats")? {
        Some(text) => parse_stats(text)?,
        None => defaults.stats,
    };
    let window = match inv.opt_str("window")? {
        None => Window::All,
        Some(key) => Window::parse(key).ok_or_else(|| {
            CommandError::invalid(
                format!("`{}` is not a time window.", code(key, 20)),
                "Pick one of: all, today, week, month.",
            )
        })?,
    };
    if window != Window::All
        && let Some(s) = stats.iter().find(|s| s.all_time_only())
    {
        return Err(CommandError::invalid(
            format!("`{}` is kept for all time only, not per day.", s.key()),
            "Leave it out of stats:, or use window: all.",
        ));
    }
    let floor = min_board_every_secs(tier);
    let every = match inv.opt_int("interval")? {
        None => DEFAULT_BOARD_EVERY_SECS.max(floor),
        Some(minutes) => {
            let secs = minutes.saturating_mul(60);
            if secs < floor {
                let faster = Tier::all()
                    .find(|t| min_board_every_secs(*t) < floor)
                    .map(|t| {
                        format!(
                            " {} (tier {}) refreshes {}.",
                            bot.tiers.limits(t).name,
                            t.get(),
                            every_label(min_board_every_secs(t))
                        )
                    })
                    .unwrap_or_default();
                return Err(CommandError::refused(
                    format!(
                        "At this server's tier ({}) a board is refreshed at most {}.",
                        bot.tiers.limits(tier).name,
                        every_label(floor)
                    ),
                    format!("Use interval: {} or more.{faster}", floor / 60),
                ));
            }
            secs.min(MAX_BOARD_EVERY_SECS)
        }
    };
    let board = Board {
        stats,
        window,
        podium: inv.opt_bool("podium")?.unwrap_or(false),
        rows: inv.opt_int("rows")?.map_or(DEFAULT_BOARD_ROWS, |n| {
            n.clamp(1, i64::from(MAX_BOARD_ROWS)) as u32
        }),
        kdr_floor: inv
            .opt_int("kd_min_kills")?
            .map_or(DEFAULT_KDR_FLOOR, |n| n.clamp(0, 1000) as u64),
    };
    let (post, _) = store
        .set(
            caller.guild_id,
            id.as_str(),
            channel,
            Shows::Leaderboard(board),
            every,
        )
        .await
        .map_err(stored)?;
    let how = describe(&post);
    let when = match post.message_id {
        Some(_) => "Its message is edited with the new settings within a few seconds",
        None => "It appears within a few seconds",
    };
    Ok(Reply::done(
        "Leaderboard saved",
        format!(
            "**{}** (`{id}`) in <#{channel}>: {how}.\n{when}, then is edited in place {} (never posted again unless its message is deleted).",
            crate::embeds::shown(&server.name, 100),
            every_label(every)
        ),
    ))
}

/// "kills, kdr · this week · 10 rows · podium".
fn describe(post: &LivePost) -> String {
    match &post.shows {
        Shows::Leaderboard(b) => {
            let mut parts = vec![
                b.stats
                    .iter()
                    .map(|s| s.key())
                    .collect::<Vec<_>>()
                    .join(", "),
                b.window.label().to_owned(),
                format!("{} rows", b.rows),
            ];
            if b.podium {
                parts.push("podium".to_owned());
            }
            parts.join(" · ")
        }
        Shows::Status => "live status".to_owned(),
        Shows::Fights(_) => "event post, to show its fights".to_owned(),
    }
}

async fn remove(
    bot: &Bot,
    store: &LivePosts,
    caller: &Caller,
    inv: &Invocation,
    channel: Option<u64>,
) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let removed = store
        .remove(caller.guild_id, id.as_str(), channel)
        .await
        .map_err(|e| CommandError::failed("Could not remove it", e))?;
    let Some(post) = removed else {
        return Err(CommandError::invalid(
            match channel {
                Some(c) => format!("`{id}` has no auto-posted leaderboard in <#{c}>."),
                None => format!("`{id}` has no live status post."),
            },
            "/leaderboard_channel list shows what there is.",
        ));
    };
    if let Some(message) = post.message_id {
        delete_message(bot, post.channel_id, message).await;
    }
    Ok(Reply::done(
        "Removed",
        format!(
            "The {} of `{id}` in <#{}> is no longer kept current, and its message is deleted.",
            describe(&post),
            post.channel_id
        ),
    ))
}

async fn list(store: &LivePosts, caller: &Caller) -> Result<Reply, CommandError> {
    let mut posts = store
        .of_guild(caller.guild_id)
        .await
        .map_err(|e| CommandError::failed("Could not read the live posts", e))?;
    // Event posts waiting for their fights come and go on their own.
    posts.retain(|p| !matches!(p.shows, Shows::Fights(_)));
    let lines: Vec<String> = posts
        .iter()
        .map(|p| {
            let every = match p.shows {
                Shows::Status | Shows::Fights(_) => STATUS_EVERY_SECS,
                Shows::Leaderboard(_) => p.every_secs,
            };
            format!(
                "`{}` → <#{}>: {} · {}",
                p.server_id,
                p.channel_id,
                describe(p),
                every_label(every)
            )
        })
        .collect();
    Ok(Reply::done(
        "Auto-posted leaderboards and live status",
        super::lines_or(
            &lines,
            "None yet. /leaderboard_channel set posts a leaderboard that keeps itself current; /status_channel set does the same for a server's live status.",
        ),
    ))
}

/// Deletes a message the bot posted; a failure is only logged (the message just stays).
async fn delete_message(bot: &Bot, channel: u64, message: u64) {
    let (Some(c), Some(m)) = (Id::new_checked(channel), Id::new_checked(message)) else {
        return;
    };
    if let Err(e) = bot
        .rate_limits
        .send(|| bot.http.delete_message(c, m).into_future())
        .await
    {
        tracing::info!(channel, message, error = %e, "a live post's message was not deleted");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_ingest::stats::Leaderboard;

    #[test]
    fn stats_are_read_in_order_once_each() {
        assert_eq!(
            parse_stats("kills, kd  longest_kill,kills").ok(),
            Some(vec![
                BoardStat::Players(Leaderboard::Kills),
                BoardStat::Players(Leaderboard::Kdr),
                BoardStat::Players(Leaderboard::LongestShot),
            ])
        );
        assert!(parse_stats("kills, headshots").is_err());
        assert!(parse_stats(" , ").is_err());
    }
}

//! Live posts kept current (issue #19): every [`LOOK_EVERY`], the posts of this process's
//! guilds that are due ([`tower_store::live_posts`]) are claimed, drawn again
//! ([`board`]: an auto-posted leaderboard; [`status`]: a server's live status; [`fights`]:
//! an event post with the kills that followed it, edited once) and shown by editing their
//! message in place. A post with no message yet, or whose message was
//! deleted, is posted anew and the new message remembered. Every call goes through
//! [`crate::rest::RateLimits`], so it counts toward Discord's limits and stops at the
//! invalid-request brake; a channel Discord refuses is blocked as a feed's would be.

pub mod board;
pub mod fights;
pub mod status;

use std::future::IntoFuture;

use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

use twilight_model::channel::message::Embed;
use twilight_model::id::Id;

use tower_daemon::shutdown::Shutdown;
use tower_store::game_servers::GameServerError;
use tower_store::ids::{GuildId, ServerId};
use tower_store::live_posts::{LivePost, LivePosts, STATUS_EVERY_SECS, Shows};
use tower_store::tier::Feature;

use crate::bot::Bot;
use crate::rest::{RestError, UNKNOWN_MESSAGE};

/// How often this process looks for due posts.
pub const LOOK_EVERY: Duration = Duration::from_secs(5);
/// Posts refreshed at once (each claimed on its own).
const REFRESHES_AT_ONCE: usize = 4;
/// When a refresh that failed is tried again.
pub(crate) const RETRY_SECS: i64 = 60;
/// When a post of a guild whose tier no longer has the feature is looked at again.
const LOCKED_RETRY_SECS: i64 = 3600;

/// What one refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// The message was edited in place.
    Edited(u64),
    /// A new message was posted (the first, or the last one was deleted).
    Posted(u64),
    /// Not shown now; due again later (the channel refuses posts, the tier lacks the
    /// feature, Discord failed).
    Later,
    /// Its server is gone: the post was forgotten, its message left as it was.
    Forgotten,
    /// Another refresh took it over (this one's claim lapsed).
    TakenOver,
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("MongoDB: {0}")]
    Db(#[from] mongodb::error::Error),
    #[error("the game server could not be read: {0}")]
    Server(#[from] GameServerError),
}

/// Keeps the live posts of this process's guilds current until shutdown.
pub async fn keep_current(bot: Arc<Bot>, shutdown: Shutdown) {
    let store = LivePosts::new(&bot.db);
    let mut tick = tokio::time::interval(LOOK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return,
        }
        let due = match store.due(|g| bot.shards.contains_guild(GuildId(g))).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "live posts not looked at; trying again");
                continue;
            }
        };
        // A full look leaves more due: the next one follows at once.
        if due.len() >= tower_store::live_posts::DUE_MAX {
            tick.reset_immediately();
        }
        // A few at once: a refresh mostly waits on the database and Discord.
        futures_util::stream::iter(due)
            .for_each_concurrent(REFRESHES_AT_ONCE, |post| {
                claim_and_refresh(&bot, &store, post)
            })
            .await;
    }
}

/// Claims a due post (only now, so the claim does not lapse while others are shown) and
/// refreshes it; a failed refresh is tried again later.
async fn claim_and_refresh(bot: &Bot, store: &LivePosts, post: LivePost) {
    let post = match store.claim(&post).await {
        Ok(Some(post)) => post,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(post = %post.id, error = %e, "live post not claimed");
            return;
        }
    };
    if let Err(e) = refresh(bot, store, &post).await {
        tracing::warn!(post = %post.id, error = %e, "live post not refreshed");
        if let Err(e) = store.retry_later(&post, RETRY_SECS).await {
            tracing::warn!(post = %post.id, error = %e, "live post stays claimed until its claim lapses");
        }
    }
}

/// Draws a claimed post again and shows it: edited in place, or posted anew.
pub async fn refresh(
    bot: &Bot,
    store: &LivePosts,
    post: &LivePost,
) -> Result<Refreshed, RefreshError> {
    // A board, or (None) the live status; fights are edited once, by their own rules.
    let board = match &post.shows {
        Shows::Fights(f) => return fights::refresh(bot, store, post, f).await,
        Shows::Leaderboard(b) => Some(b),
        Shows::Status => None,
    };
    // The access checks' settings, kept a few seconds: a tier change shows soon enough.
    let settings = bot.settings.get(post.guild_id).await?;
    let (feature, every) = match board {
        Some(_) => (
            Feature::Leaderboards,
            post.every_secs
                .max(tower_store::live_posts::min_board_every_secs(settings.tier)),
        ),
        None => (Feature::Stats, STATUS_EVERY_SECS),
    };
    if !feature.is_unlocked_at(settings.tier) {
        store.retry_later(post, LOCKED_RETRY_SECS).await?;
        return Ok(Refreshed::Later);
    }
    let server = match ServerId::parse(&post.server_id) {
        Ok(id) => bot.servers.get(GuildId(post.guild_id), &id).await.map(Some),
        Err(_) => Ok(None),
    };
    let server = match server {
        Ok(Some(s)) => s,
        Ok(None) | Err(GameServerError::NotFound(_)) => {
            store.forget(&post.id).await?;
            return Ok(Refreshed::Forgotten);
        }
        Err(e) => return Err(e.into()),
    };
    if bot.channel_blocks.is_blocked(post.channel_id).await? {
        store.retry_later(post, RETRY_SECS).await?;
        return Ok(Refreshed::Later);
    }
    let embeds = match board {
        Some(b) => board::draw(bot, &settings, &server, b, every).await?,
        None => status::draw(bot, &settings, &server).await?,
    };
    show(bot, store, post, &embeds, every).await
}

/// Edits the post's message, or posts a new one where there is none (or it was deleted).
async fn show(
    bot: &Bot,
    store: &LivePosts,
    post: &LivePost,
    embeds: &[Embed],
    every: i64,
) -> Result<Refreshed, RefreshError> {
    let Some(channel) = Id::new_checked(post.channel_id) else {
        store.forget(&post.id).await?;
        return Ok(Refreshed::Forgotten);
    };
    let mut post = post.clone();
    if let Some(message) = post.message_id.and_then(Id::new_checked) {
        let edited = bot
            .rate_limits
            .send(|| {
                bot.http
                    .update_message(channel, message)
                    .embeds(Some(embeds))
                    .into_future()
            })
            .await;
        match edited {
            Ok(_) => {
                bot.channel_blocks.posted(post.channel_id).await?;
                return Ok(
                    match store.shown(&post, message.get(), false, every).await? {
                        true => Refreshed::Edited(message.get()),
                        false => Refreshed::TakenOver,
                    },
                );
            }
            // Deleted by someone: posted again below, under a new nonce; unless this
            // refresh no longer holds the post (removed or moved meanwhile).
            Err(e) if e.code() == Some(UNKNOWN_MESSAGE) => {
                if !store.message_gone(&post).await? {
                    return Ok(Refreshed::TakenOver);
                }
                tracing::info!(post = %post.id, "a live post's message was deleted; posting it again");
                post.message_id = None;
                post.posts += 1;
            }
            Err(e) => return failed(bot, store, &post, &e).await,
        }
    }
    // The nonce stays the same until a message is recorded: a post cut short and done
    // again is answered with the message Discord already has.
    let body = serde_json::json!({
        "embeds": embeds,
        "nonce": post.nonce(),
        "enforce_nonce": true,
    })
    .to_string();
    let posted = bot
        .rate_limits
        .send(|| {
            bot.http
                .create_message(channel)
                .payload_json(body.as_bytes())
                .into_future()
        })
        .await;
    let message = match posted {
        Ok(response) => response.model().await.map_err(RestError::from),
        Err(e) => Err(e),
    };
    match message {
        Ok(m) => {
            bot.channel_blocks.posted(post.channel_id).await?;
            if store.shown(&post, m.id.get(), true, every).await? {
                return Ok(Refreshed::Posted(m.id.get()));
            }
            // Removed, moved or taken over while this was posted: a message no post
            // holds would never be edited or removed, so it goes.
            if !store.may_hold(&post, m.id.get()).await? {
                let deleted = bot
                    .rate_limits
                    .send(|| bot.http.delete_message(channel, m.id).into_future())
                    .await;
                if let Err(e) = deleted {
                    tracing::warn!(post = %post.id, error = %e, "a live post's stray message was not deleted");
                }
            }
            Ok(Refreshed::TakenOver)
        }
        Err(e) => failed(bot, store, &post, &e).await,
    }
}

/// A refused channel is blocked (the admins are told, as for a feed's); any failure is
/// tried again later.
async fn failed(
    bot: &Bot,
    store: &LivePosts,
    post: &LivePost,
    e: &RestError,
) -> Result<Refreshed, RefreshError> {
    tracing::warn!(post = %post.id, channel = post.channel_id, error = %e, "live post not shown");
    if let Some(status @ (403 | 404)) = e.status() {
        bot.channel_blocks
            .block(post.guild_id, post.channel_id, status, &e.to_string())
            .await?;
    }
    store.retry_later(post, RETRY_SECS).await?;
    Ok(Refreshed::Later)
}

/// A kill notice as a live post lists it: "Killer → Victim (weapon, 120 m)".
pub fn kill_line(k: &tower_store::outbox::RecentNotice) -> String {
    let name = |who: &str| {
        crate::embeds::shown(
            k.data
                .get_document(who)
                .ok()
                .and_then(|p| p.get_str("name").ok())
                .unwrap_or("?"),
            32,
        )
    };
    let weapon = crate::embeds::shown(k.data.get_str("weapon").unwrap_or_default(), 32);
    let metres = k.data.get_i64("distance_m").unwrap_or(0);
    format!(
        "{} → {} ({weapon}, {metres} m)",
        name("killer"),
        name("victim")
    )
}

/// "every 15 min", "every hour", "every minute".
pub fn every_label(secs: i64) -> String {
    match secs {
        s if s % 3600 == 0 && s >= 3600 => match s / 3600 {
            1 => "every hour".to_owned(),
            h => format!("every {h} hours"),
        },
        s => match (s / 60).max(1) {
            1 => "every minute".to_owned(),
            m => format!("every {m} min"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_read_as_people_say_them() {
        assert_eq!(every_label(60), "every minute");
        assert_eq!(every_label(900), "every 15 min");
        assert_eq!(every_label(3600), "every hour");
        assert_eq!(every_label(7200), "every 2 hours");
        assert_eq!(every_label(5400), "every 90 min");
    }
}

//! Fights around events (issue #19): an airdrop, mission or convoy post is edited once,
//! the server's `/events fights` minutes after it, with the kills that followed it on
//! that server (each event its own server's, when a channel takes several servers'). Deadside's logs carry no coordinates, so this stands in for a heatmap:
//! the killfeed says who fought after the drop landed.
//!
//! The message's embeds are kept as posted ([`tower_store::live_posts::Fights`]); each
//! event's embed gets a field with the kills stamped between the event and that many
//! minutes after (game clock, from the outbox: a delayed killfeed's kills are there once
//! released). A message deleted meanwhile is not posted again: the edit was its only use.

use std::future::IntoFuture;

use twilight_model::channel::message::Embed;
use twilight_model::channel::message::embed::EmbedField;
use twilight_model::id::Id;

use tower_store::live_posts::{Fights, LivePost, LivePosts};
use tower_store::outbox::RecentNotice;
use tower_store::tier::Feature;

use super::{RETRY_SECS, RefreshError, Refreshed};
use crate::bot::Bot;
use crate::embeds::clip;
use crate::rest::UNKNOWN_MESSAGE;

/// Kills listed under an event (the rest are counted).
const LISTED: i64 = 8;
/// Discord's limits: characters in a message's embeds, fields per embed, a field's value.
const MESSAGE_LIMIT: usize = 5_900;
const FIELDS_MAX: usize = 25;
const FIELD_VALUE_MAX: usize = 1024;

/// The characters Discord counts toward a message's 6,000.
fn characters(e: &Embed) -> usize {
    let text = |t: Option<&str>| t.map_or(0, |t| t.chars().count());
    text(e.title.as_deref())
        + text(e.description.as_deref())
        + text(e.footer.as_ref().map(|f| f.text.as_str()))
        + text(e.author.as_ref().map(|a| a.name.as_str()))
        + e.fields
            .iter()
            .map(|f| f.name.chars().count() + f.value.chars().count())
            .sum::<usize>()
}

/// Edits the message once with each event's fights, then forgets it.
pub async fn refresh(
    bot: &Bot,
    store: &LivePosts,
    post: &LivePost,
    fights: &Fights,
) -> Result<Refreshed, RefreshError> {
    let settings = bot.settings.get(post.guild_id).await?;
    let (Some(channel), Some(message)) = (
        Id::new_checked(post.channel_id),
        post.message_id.and_then(Id::new_checked),
    ) else {
        store.forget(&post.id).await?;
        return Ok(Refreshed::Forgotten);
    };
    let Ok(mut embeds) = serde_json::from_str::<Vec<Embed>>(&fights.embeds_json) else {
        store.forget(&post.id).await?;
        return Ok(Refreshed::Forgotten);
    };
    if !Feature::EventsFeed.is_unlocked_at(settings.tier) {
        store.forget(&post.id).await?;
        return Ok(Refreshed::Forgotten);
    }
    // What the message may still take: Discord refuses one over 6,000 characters.
    let room = MESSAGE_LIMIT.saturating_sub(embeds.iter().map(characters).sum::<usize>());
    let per_event = (room / fights.events.len().max(1)).min(FIELD_VALUE_MAX + 40);
    for event in &fights.events {
        let fits = embeds
            .get(event.index)
            .is_some_and(|e| e.fields.len() < FIELDS_MAX);
        if !fits || per_event < 80 {
            continue;
        }
        let (kills, count) = bot
            .outbox
            .between(
                (
                    post.guild_id,
                    event.server_id.as_deref().unwrap_or(&post.server_id),
                ),
                "kill",
                (event.from_ms, event.until_ms),
                LISTED,
            )
            .await?;
        let minutes = (event.until_ms - event.from_ms) / 60_000;
        if let Some(embed) = embeds.get_mut(event.index) {
            let name = format!("Fights in the {minutes} min after");
            let value = clip(
                &field(event.from_ms, &kills, count),
                per_event.saturating_sub(name.chars().count()),
            );
            embed.fields.push(EmbedField {
                inline: false,
                name,
                value,
            });
        }
    }
    let edited = bot
        .rate_limits
        .send(|| {
            bot.http
                .update_message(channel, message)
                .embeds(Some(&embeds))
                .into_future()
        })
        .await;
    match edited {
        Ok(_) => {
            store.forget(&post.id).await?;
            Ok(Refreshed::Edited(message.get()))
        }
        // Deleted, the channel refuses the bot, or Discord refuses this edit (400): it
        // will not go through later either.
        Err(e)
            if e.code() == Some(UNKNOWN_MESSAGE) || matches!(e.status(), Some(400 | 403 | 404)) =>
        {
            if e.code() != Some(UNKNOWN_MESSAGE)
                && let Some(status @ (403 | 404)) = e.status()
            {
                bot.channel_blocks
                    .block(post.guild_id, post.channel_id, status, &e.to_string())
                    .await?;
            }
            store.forget(&post.id).await?;
            Ok(Refreshed::Forgotten)
        }
        Err(e) => {
            tracing::warn!(post = %post.id, error = %e, "event post not edited with its fights; trying again");
            store.retry_later(post, RETRY_SECS).await?;
            Ok(Refreshed::Later)
        }
    }
}

/// The kills after an event, each with how long after it came.
pub fn field(from_ms: i64, kills: &[RecentNotice], count: u64) -> String {
    if kills.is_empty() {
        return "No kills on the server.".to_owned();
    }
    let mut lines: Vec<String> = kills
        .iter()
        .map(|k| {
            format!(
                "+{} min · {}",
                (k.at_ms - from_ms).max(0) / 60_000,
                super::kill_line(k)
            )
        })
        .collect();
    let more = count.saturating_sub(kills.len() as u64);
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    clip(&lines.join("\n"), FIELD_VALUE_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    #[test]
    fn kills_after_an_event_say_when_and_how_many_more() {
        let kill = |min: i64| RecentNotice {
            at_ms: 1_000_000 + min * 60_000,
            data: doc! {
                "killer": { "name": "Alpha" }, "victim": { "name": "Bravo_*" },
                "weapon": "AK-74", "distance_m": 120_i64,
            },
        };
        assert_eq!(
            field(1_000_000, &[kill(0), kill(7)], 5),
            "+0 min · Alpha → Bravo\\_\\* (AK-74, 120 m)\n+7 min · Alpha → Bravo\\_\\* (AK-74, 120 m)\n… and 3 more"
        );
        assert_eq!(field(1_000_000, &[], 0), "No kills on the server.");
    }
}

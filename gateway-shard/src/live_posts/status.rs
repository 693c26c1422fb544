//! A server's live status drawn: players online and queued, the last kills, the last
//! restart, and whether the killfeed is being read ("killfeed current to 12 s ago · 0
//! unreadable lines today"), so a quiet killfeed can be told from a broken one.
//!
//! Everything comes from what is stored already: the latest player count and kills in the
//! outbox (so a delayed killfeed's kills show only once posted), the unreadable lines read
//! since the guild's midnight, and the server's poll status.

use mongodb::bson::{Document, doc};
use twilight_model::channel::message::Embed;
use twilight_model::util::Timestamp;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use tower_store::db::collections;
use tower_store::game_servers::GameServer;
use tower_store::guilds::GuildSettings;
use tower_store::outbox::RecentNotice;
use tower_store::windows::Window;

use super::RefreshError;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};

/// Kills the post lists.
const LAST_KILLS: i64 = 5;

/// What the status post shows, read from the stores.
#[derive(Debug, Default, Clone)]
pub struct Status {
    /// (online, queued) at the latest count.
    pub players: Option<(i64, i64)>,
    pub last_kills: Vec<RecentNotice>,
    pub last_restart_ms: Option<i64>,
    /// The last poll (ms), and what it failed with ("" when it did not).
    pub last_poll_ms: Option<i64>,
    pub last_error: String,
    /// Read since the guild's midnight.
    pub unreadable_today: u64,
}

pub async fn draw(
    bot: &Bot,
    settings: &GuildSettings,
    server: &GameServer,
) -> Result<Vec<Embed>, RefreshError> {
    let (guild, id) = (server.guild.0, server.server.as_str());
    let now = tower_daemon::telemetry::now_unix_ms() / 1000;
    let count = bot
        .outbox
        .recent(guild, id, "player_count", None, 1)
        .await?;
    let players = count.first().map(|n| {
        (
            n.data.get_i64("online").unwrap_or(0),
            n.data.get_i64("queued").unwrap_or(0),
        )
    });
    let last_kills = bot
        .outbox
        .recent(guild, id, "kill", None, LAST_KILLS)
        .await?;
    let restart = bot
        .outbox
        .recent(guild, id, "event", Some("server_restart"), 1)
        .await?;
    let poll: Option<Document> = bot
        .db
        .raw()
        .collection::<Document>(collections::SERVER_STATUS)
        .find_one(doc! { "_id": format!("{guild}:{id}") })
        .projection(doc! { "last_poll": 1, "last_error": 1 })
        .await?;
    let midnight = Window::Today
        .start(now, settings.utc_offset_secs)
        .unwrap_or(now);
    let unreadable_today = bot.stats.unreadable_since(guild, id, midnight).await?;
    let status = Status {
        players,
        last_kills,
        last_restart_ms: restart.first().map(|r| r.at_ms),
        last_poll_ms: poll
            .as_ref()
            .and_then(|p| p.get_datetime("last_poll").ok())
            .map(|t| t.timestamp_millis()),
        last_error: poll
            .as_ref()
            .and_then(|p| p.get_str("last_error").ok())
            .unwrap_or_default()
            .to_owned(),
        unreadable_today,
    };
    Ok(vec![embed(&server.name, &status, now)])
}

/// The status embed.
pub fn embed(server_name: &str, s: &Status, updated_unix: i64) -> Embed {
    let players = match s.players {
        Some((online, 0)) => format!("{online} online"),
        Some((online, queued)) => format!("{online} online · {queued} queued"),
        None => "No count yet (the server log has not been read).".to_owned(),
    };
    let kills: Vec<String> = s
        .last_kills
        .iter()
        .map(|k| format!("{} <t:{}:R>", super::kill_line(k), k.at_ms / 1000))
        .collect();
    let restart = s.last_restart_ms.map_or_else(
        || "None seen in the log yet.".to_owned(),
        |ms| format!("<t:{}:R>", ms / 1000),
    );
    let unreadable = match s.unreadable_today {
        1 => "1 unreadable line today".to_owned(),
        n => format!("{n} unreadable lines today"),
    };
    let health = match (s.last_poll_ms, s.last_error.is_empty()) {
        (None, _) => "Not read yet.".to_owned(),
        (Some(ms), true) => format!("Killfeed current to <t:{}:R> · {unreadable}", ms / 1000),
        (Some(ms), false) => format!(
            "⚠️ The last read <t:{}:R> failed: {} · {unreadable}",
            ms / 1000,
            clip(&shown(&s.last_error, 200), 200)
        ),
    };
    let mut b = EmbedBuilder::new()
        .title(clip(
            &format!("{} — live status", shown(server_name, 100)),
            256,
        ))
        .color(colour::INFO)
        .field(EmbedFieldBuilder::new("Players", players).inline())
        .field(EmbedFieldBuilder::new("Last restart", restart).inline())
        .field(EmbedFieldBuilder::new(
            "Last kills",
            clip(&crate::commands::lines_or(&kills, "No kills yet."), 1024),
        ))
        .field(EmbedFieldBuilder::new("Ingestion", health))
        .footer(EmbedFooterBuilder::new("Updated every minute"));
    if let Ok(t) = Timestamp::from_secs(updated_unix) {
        b = b.timestamp(t);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_health_line_says_how_current_the_killfeed_is() {
        let s = Status {
            players: Some((12, 3)),
            last_poll_ms: Some(1_700_000_000_000),
            ..Status::default()
        };
        let e = embed("Alpha", &s, 1_700_000_000);
        let field = |name: &str| {
            e.fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.value.clone())
                .unwrap_or_default()
        };
        assert_eq!(field("Players"), "12 online · 3 queued");
        assert_eq!(
            field("Ingestion"),
            "Killfeed current to <t:1700000000:R> · 0 unreadable lines today"
        );
        assert_eq!(field("Last kills"), "No kills yet.");
        let failing = embed(
            "Alpha",
            &Status {
                last_poll_ms: Some(1_700_000_000_000),
                last_error: "authentication failed".to_owned(),
                unreadable_today: 1,
                ..Status::default()
            },
            1_700_000_000,
        );
        assert!(failing.fields.iter().any(|f| f.value
            == "⚠️ The last read <t:1700000000:R> failed: authentication failed · 1 unreadable line today"));
    }
}

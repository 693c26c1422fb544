//! `/reset_stats [server_id] [season_name]` and `/stats season server_id [season]
//! [player_name]`: the earlier bot's statistics reset, as a season close. The statistics
//! are archived under the season's name (its champions on every leaderboard, its totals
//! and every player's line) before they start again from zero, and stay readable.
//!
//! The reset asks first (Confirm Reset / Cancel, only for the admin who ran it, for three
//! minutes), as the earlier bot did; the close itself is run by the worker that holds each
//! server, between two of its polls (`CloseSeason`).

use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use tower_daemon::telemetry::now_unix_ms;
use tower_ingest::stats::Leaderboard;
use tower_proto::v1::{CloseSeasonRequest, ServerRef};
use tower_store::game_servers::GameServer;
use tower_store::ids::{GuildId, ServerId};
use tower_store::seasons::{MAX_LABEL_CHARS, Season};

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// How long the buttons work.
const CONFIRM_FOR_SECS: i64 = 180;
/// Medals for a season's champions.
const MEDALS: [&str; 3] = ["🥇", "🥈", "🥉"];

/// What a Confirm Reset or Cancel button stands for, carried in its `custom_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetButton {
    pub confirm: bool,
    pub caller: u64,
    pub expires_unix: i64,
    /// Empty: every server of the guild.
    pub server: String,
    /// Empty: "Season N".
    pub label: String,
}

impl ResetButton {
    pub const PREFIX: &'static str = "rs";

    pub fn custom_id(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            Self::PREFIX,
            if self.confirm { "y" } else { "n" },
            super::buttons::radix36(self.caller),
            super::buttons::radix36_time(self.expires_unix),
            self.server,
            self.label
        )
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let mut parts = custom_id.splitn(6, '|');
        if parts.next()? != Self::PREFIX {
            return None;
        }
        let confirm = match parts.next()? {
            "y" => true,
            "n" => false,
            _ => return None,
        };
        let caller = super::buttons::from_radix36(parts.next()?)?;
        let expires_unix = i64::try_from(super::buttons::from_radix36(parts.next()?)?).ok()?;
        Some(Self {
            confirm,
            caller,
            expires_unix,
            server: parts.next()?.to_owned(),
            label: parts.next()?.to_owned(),
        })
    }
}

/// The season name typed, checked: at most [`MAX_LABEL_CHARS`], no `|` (the buttons carry
/// it), not only a number (numbers pick seasons in `/stats season`).
fn season_name(inv: &Invocation) -> Result<String, CommandError> {
    let label = inv.opt_str("season_name")?.unwrap_or_default().trim();
    if label.chars().count() > MAX_LABEL_CHARS || label.contains('|') {
        return Err(CommandError::invalid(
            format!("A season name has at most {MAX_LABEL_CHARS} characters and no `|`."),
            "Choose a shorter name, like \"Wipe 12\" or \"Summer 2026\".",
        ));
    }
    if !label.is_empty() && label.trim_start_matches('#').parse::<u64>().is_ok() {
        return Err(CommandError::invalid(
            "A season name cannot be only a number.",
            "Leave it out to get \"Season N\", or add a word: \"Wipe 12\".",
        ));
    }
    Ok(label.to_owned())
}

/// `/reset_stats`: the warning, with its buttons.
pub async fn ask(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let label = season_name(inv)?;
    let servers = super::chosen_servers(bot, caller, inv, super::WhenOmitted::EveryServer).await?;
    let server = inv
        .opt_server_id("server_id")?
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let button = |confirm| ResetButton {
        confirm,
        caller: caller.user_id,
        expires_unix: now_unix_ms() / 1000 + CONFIRM_FOR_SECS,
        server: server.clone(),
        label: label.clone(),
    };
    let row = super::buttons::confirm_row(
        "Confirm Reset",
        button(true).custom_id(),
        button(false).custom_id(),
    );
    let listed: Vec<String> = servers
        .iter()
        .map(|s| format!("• {} (`{}`)", shown(&s.name, 80), s.server))
        .collect();
    let named = if label.is_empty() {
        "the next season number (\"Season N\")".to_owned()
    } else {
        format!("**{}**", shown(&label, MAX_LABEL_CHARS))
    };
    let embed = EmbedBuilder::new()
        .title("⚠️ Reset All Player Statistics?")
        .description(clip(
            &format!(
                "This will completely reset ALL statistics for the following server(s):\n\n{}\n\n\
                 The current statistics are archived first as {named}: its champions and every \
                 player's line stay readable with /stats season.\n\n\
                 **This action cannot be undone.** Are you sure?",
                listed.join("\n")
            ),
            4096,
        ))
        .color(colour::WARNING)
        .build();
    Ok(Reply::embed(embed).with_components(vec![row]).ephemeral())
}

/// A Confirm Reset or Cancel button pressed.
pub async fn pressed(bot: &Bot, caller: &Caller, custom_id: &str) -> Result<Reply, CommandError> {
    let button = ResetButton::parse(custom_id).ok_or_else(super::buttons::not_ours)?;
    let rules = super::buttons::PressRules {
        owner: button.caller,
        expires_unix: button.expires_unix,
        noun: "buttons",
        not_yours: "Only the admin who ran this /reset_stats can confirm or cancel it.",
        expired: "Nothing was reset. Run /reset_stats again.",
    };
    if let Some(refusal) = rules.refusal(caller.user_id) {
        return Ok(refusal);
    }
    if !button.confirm {
        return Ok(Reply::done(
            "Reset Cancelled",
            "Statistics reset operation was cancelled.",
        ));
    }
    let guild = GuildId(caller.guild_id);
    let servers: Vec<GameServer> = if button.server.is_empty() {
        bot.servers.list(guild).await?
    } else {
        let id = ServerId::parse(&button.server).map_err(|_| super::buttons::not_ours())?;
        vec![bot.servers.get(guild, &id).await?]
    };
    let mut lines = Vec::with_capacity(servers.len());
    let mut failed = false;
    for server in &servers {
        let request = CloseSeasonRequest {
            server: Some(ServerRef {
                guild_id: caller.guild_id,
                server_id: server.server.as_str().to_owned(),
            }),
            label: button.label.clone(),
            closed_by: caller.user_id,
        };
        let closed = bot
            .workers
            .call_holder(|mut w| {
                let request = request.clone();
                async move { w.close_season(request).await }
            })
            .await;
        let name = shown(&server.name, 80);
        lines.push(match closed {
            Ok(r) => {
                let r = r.into_inner();
                if r.already_closed {
                    failed = true;
                    format!(
                        "• **{name}**: a season named **{}** was closed before; nothing was reset (choose another name)",
                        shown(&r.label, MAX_LABEL_CHARS)
                    )
                } else {
                    format!(
                        "• **{name}**: archived as **{}** ({} players, {} kills); statistics start again from zero",
                        shown(&r.label, MAX_LABEL_CHARS),
                        r.players,
                        r.kills
                    )
                }
            }
            Err(status) => {
                failed = true;
                format!(
                    "• **{}**: Error - {}",
                    server.server,
                    clip(status.message(), 300)
                )
            }
        });
    }
    let embed = EmbedBuilder::new()
        .title("Statistics Reset Complete")
        .description(clip(
            &format!(
                "Successfully processed server statistics:\n\n{}",
                lines.join("\n")
            ),
            4096,
        ))
        .color(if failed {
            colour::WARNING
        } else {
            colour::SUCCESS
        })
        .footer(EmbedFooterBuilder::new(
            "Earlier seasons: /stats season server_id",
        ))
        .build();
    Ok(Reply::embed(embed))
}

/// `/stats season server_id [season] [player_name]`: the seasons, one season's champions,
/// or a player's line in it.
pub async fn season(
    bot: &Bot,
    caller: &Caller,
    server: &GameServer,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let server_id = server.server.as_str();
    let Some(wanted) = inv.opt_str("season")?.map(str::trim) else {
        if inv.opt_str("player_name")?.is_some() {
            return Err(CommandError::invalid(
                "A player's line is read from one season.",
                "Choose the season too (Discord suggests them while you type).",
            ));
        }
        return list(bot, caller, server).await;
    };
    let Some(season) = bot.seasons.find(caller.guild_id, server_id, wanted).await? else {
        return Err(CommandError::invalid(
            format!(
                "`{}` has no closed season named `{}`.",
                server_id,
                shown(wanted, MAX_LABEL_CHARS)
            ),
            "/stats season server_id lists its seasons.",
        ));
    };
    match inv.opt_str("player_name")?.map(str::trim) {
        Some(name) => player_line(bot, server, &season, name).await,
        None => Ok(Reply::embed(champions(&server.name, &season))),
    }
}

async fn list(bot: &Bot, caller: &Caller, server: &GameServer) -> Result<Reply, CommandError> {
    let seasons: Vec<Season> = bot
        .seasons
        .list(caller.guild_id, server.server.as_str())
        .await?
        .into_iter()
        .filter(|s| s.state == "closed")
        .collect();
    let title = format!("Seasons of {}", shown(&server.name, 100));
    if seasons.is_empty() {
        return Ok(Reply::embed(
            EmbedBuilder::new()
                .title(clip(&title, 256))
                .description(
                    "No season has been closed yet. An admin closes one with /reset_stats.",
                )
                .color(colour::INFO)
                .build(),
        ));
    }
    let fields = seasons
        .iter()
        .rev()
        .map(|s| {
            let top = top_of(s, Leaderboard::Kills)
                .first()
                .map(|c| format!(" · top killer {} ({})", shown(&c.name, 60), c.value))
                .unwrap_or_default();
            (
                format!("#{} {}", s.number, s.label),
                format!(
                    "closed <t:{}:D> · {} kills · {} players{top}",
                    s.closed_at_unix, s.kills, s.players
                ),
            )
        })
        .collect();
    Ok(Reply::embeds(super::field_embeds(
        &title,
        colour::INFO,
        Some("Newest first. /stats season server_id season shows a season's champions.".into()),
        fields,
    )))
}

fn top_of(season: &Season, board: Leaderboard) -> &[tower_store::seasons::Champion] {
    season
        .champions
        .iter()
        .find(|(k, _)| k == board.key())
        .map(|(_, top)| top.as_slice())
        .unwrap_or_default()
}

/// A season's champions on every leaderboard, its totals, weapons and factions.
pub fn champions(server_name: &str, season: &Season) -> twilight_model::channel::message::Embed {
    let mut b = EmbedBuilder::new()
        .title(clip(
            &format!("{} — {}", season.label, shown(server_name, 100)),
            256,
        ))
        .description(format!(
            "Season #{} closed <t:{}:D>: {} kills, {} deaths, {} suicides, {} players.",
            season.number,
            season.closed_at_unix,
            season.kills,
            season.deaths,
            season.suicides,
            season.players
        ))
        .color(colour::INFO);
    for board in Leaderboard::ALL {
        let top = top_of(season, board);
        let value = if top.is_empty() {
            "—".to_owned()
        } else {
            top.iter()
                .zip(MEDALS)
                .map(|(c, medal)| format!("{medal} {} — {}", shown(&c.name, 60), c.value))
                .collect::<Vec<_>>()
                .join("\n")
        };
        b = b.field(EmbedFieldBuilder::new(board.label(), clip(&value, 1024)).inline());
    }
    if !season.weapons.is_empty() {
        let weapons = season
            .weapons
            .iter()
            .map(|(w, k)| format!("{} — {k}", shown(w, 60)))
            .collect::<Vec<_>>()
            .join("\n");
        b = b.field(EmbedFieldBuilder::new("Top Weapons", clip(&weapons, 1024)));
    }
    if !season.factions.is_empty() {
        let factions = season
            .factions
            .iter()
            .take(5)
            .map(|f| {
                format!(
                    "**{}** [{}] — {} kills, {} deaths{}{}",
                    shown(&f.name, 32),
                    shown(&f.tag, 10),
                    f.kills,
                    f.deaths,
                    if f.friendly_kills > 0 {
                        format!(", {} friendly", f.friendly_kills)
                    } else {
                        String::new()
                    },
                    if f.deleted { " (disbanded)" } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        b = b.field(EmbedFieldBuilder::new("Factions", clip(&factions, 1024)));
    }
    b.footer(EmbedFooterBuilder::new(
        "A player's line: /stats season server_id season player_name",
    ))
    .build()
}

async fn player_line(
    bot: &Bot,
    server: &GameServer,
    season: &Season,
    name: &str,
) -> Result<Reply, CommandError> {
    let Some(row) = bot.seasons.player(season, name).await? else {
        return Err(CommandError::invalid(
            format!(
                "No player named `{}` played in {} on `{}`.",
                shown(name, 60),
                shown(&season.label, MAX_LABEL_CHARS),
                server.server
            ),
            "Check the name: /stats season server_id season lists the champions.",
        ));
    };
    let p = &row.stats;
    let rank = bot.seasons.kills_rank(season, p.kills).await?;
    let embed = EmbedBuilder::new()
        .title(clip(
            &format!("{} — {}", shown(&p.name, 100), season.label),
            256,
        ))
        .description(format!(
            "{} · season #{} · #{rank} by kills of {} players",
            shown(&server.name, 100),
            season.number,
            season.players
        ))
        .color(colour::INFO)
        .field(EmbedFieldBuilder::new("Kills", p.kills.to_string()).inline())
        .field(EmbedFieldBuilder::new("Deaths", p.deaths.to_string()).inline())
        .field(EmbedFieldBuilder::new("K/D", format!("{:.2}", p.kdr())).inline())
        .field(EmbedFieldBuilder::new("Suicides", p.suicides.total().to_string()).inline())
        .field(
            EmbedFieldBuilder::new(
                "Longest Kill",
                p.longest_kill_m
                    .map_or_else(|| "—".to_owned(), |m| format!("{m} m")),
            )
            .inline(),
        )
        .field(EmbedFieldBuilder::new("Best Streak", p.best_killstreak.to_string()).inline())
        .build();
    Ok(Reply::embed(embed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_buttons_round_trip_within_discords_100_characters() {
        let b = ResetButton {
            confirm: true,
            caller: u64::MAX,
            expires_unix: 4_102_444_800,
            server: "9".repeat(ServerId::MAX_LEN),
            label: "é".repeat(MAX_LABEL_CHARS / 2),
        };
        let id = b.custom_id();
        assert!(id.chars().count() <= 100, "{} characters", id.len());
        assert_eq!(ResetButton::parse(&id), Some(b));
        let all = ResetButton {
            confirm: false,
            caller: 7,
            expires_unix: 1,
            server: String::new(),
            label: String::new(),
        };
        assert_eq!(ResetButton::parse(&all.custom_id()), Some(all));
        assert_eq!(ResetButton::parse("rm|y|1|1|s|x"), None);
    }
}

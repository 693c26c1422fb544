//! An auto-posted leaderboard drawn: one embed per ranking, in one message (so it is
//! edited as one), within Discord's 6,000 characters for a whole message.

use twilight_model::channel::message::Embed;
use twilight_model::util::Timestamp;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFooterBuilder};

use tower_daemon::telemetry::now_unix_ms;
use tower_ingest::stats::Leaderboard;
use tower_store::game_servers::GameServer;
use tower_store::guilds::GuildSettings;
use tower_store::live_posts::{Board, BoardStat};
use tower_store::windows::{Window, Windows};

use super::RefreshError;
use crate::bot::Bot;
use crate::embeds::{clip, colour, shown};

/// What the embeds of one message may hold together, with room for titles and footer.
const MESSAGE_BUDGET: usize = 5_600;
const MEDALS: [&str; 3] = ["🥇", "🥈", "🥉"];

/// One ranking's rows: (who, value as shown).
pub type Rows = Vec<(String, String)>;

/// Reads the rankings a board shows and draws them.
pub async fn draw(
    bot: &Bot,
    settings: &GuildSettings,
    server: &GameServer,
    board: &Board,
    every_secs: i64,
) -> Result<Vec<Embed>, RefreshError> {
    let (guild, server_id) = (server.guild.0, server.server.as_str());
    let now = now_unix_ms() / 1000;
    let started = board.window.start(now, settings.utc_offset_secs);
    let windows = Windows::new(&bot.db);
    let from = match started {
        Some(s) => Some(windows.game_start(guild, server_id, s).await?),
        None => None,
    };
    let mut rankings = Vec::with_capacity(board.stats.len());
    for stat in &board.stats {
        let rows: Rows = match (*stat, from) {
            (BoardStat::Weapons, _) => bot
                .stats
                .weapons(guild, server_id, None, board.rows)
                .await?
                .into_iter()
                .map(|w| (shown(&w.weapon, 40), kills(w.kills)))
                .collect(),
            (BoardStat::Players(l), None) => bot
                .stats
                .leaderboard_floored(guild, server_id, l, board.rows, board.kdr_floor)
                .await?
                .iter()
                .map(|r| (shown(&r.stats.name, 40), value(l, &r.stats)))
                .collect(),
            // Kept for all time only; a board with a window was refused such a ranking.
            (BoardStat::Players(Leaderboard::HighestKillstreak), Some(_)) => Vec::new(),
            (BoardStat::Players(l), Some(from)) => windows
                .leaderboard_floored(
                    guild,
                    server_id,
                    (l, None),
                    from,
                    board.rows,
                    board.kdr_floor,
                )
                .await?
                .iter()
                .map(|r| (shown(&r.stats.name, 40), value(l, &r.stats)))
                .collect(),
        };
        rankings.push((*stat, rows));
    }
    Ok(embeds(
        &server.name,
        board,
        &rankings,
        started,
        (every_secs, now),
    ))
}

fn kills(n: u64) -> String {
    format!("{n} kill{}", if n == 1 { "" } else { "s" })
}

fn value(stat: Leaderboard, p: &tower_ingest::stats::PlayerStats) -> String {
    match stat {
        Leaderboard::LongestShot => format!("{} m", stat.shown(p)),
        _ => stat.shown(p),
    }
}

fn title(stat: BoardStat) -> &'static str {
    match stat {
        BoardStat::Players(l) => l.label(),
        BoardStat::Weapons => "Weapons",
    }
}

/// The board's embeds: each ranking's title says what it ranks and over which time; the
/// podium sets the top three apart; the last embed says how often it is refreshed.
pub fn embeds(
    server_name: &str,
    board: &Board,
    rankings: &[(BoardStat, Rows)],
    started_unix: Option<i64>,
    (every_secs, updated_unix): (i64, i64),
) -> Vec<Embed> {
    let per_embed = MESSAGE_BUDGET / rankings.len().max(1);
    let count = rankings.len();
    rankings
        .iter()
        .enumerate()
        .map(|(i, (stat, rows))| {
            let window = match (stat.all_time_only(), board.window) {
                (true, _) | (_, Window::All) => "all time".to_owned(),
                (false, w) => w.label().to_owned(),
            };
            let head = format!("{} ({window}) — {}", title(*stat), shown(server_name, 100));
            let mut lines = Vec::new();
            let mut used = head.chars().count() + 64;
            for (rank, (who, value)) in rows.iter().enumerate() {
                let line = match (board.podium, MEDALS.get(rank)) {
                    (true, Some(medal)) => format!("{medal} **{who}** — {value}"),
                    _ => format!("**{}.** {who} — {value}", rank + 1),
                };
                used += line.chars().count() + 1;
                if used > per_embed {
                    break;
                }
                // A blank line under the podium sets it apart from the rest.
                if board.podium && rank == MEDALS.len() {
                    lines.push(String::new());
                }
                lines.push(line);
            }
            let mut description = match lines.is_empty() {
                true => "Nobody yet.".to_owned(),
                false => lines.join("\n"),
            };
            if let (Some(start), 0, false) = (started_unix, i, stat.all_time_only()) {
                description = format!("Since <t:{start}:f>\n\n{description}");
            }
            if *stat == BoardStat::Players(Leaderboard::Kdr) && board.kdr_floor > 1 {
                description.push_str(&format!(
                    "\n-# Players with {} kills or more.",
                    board.kdr_floor
                ));
            }
            let mut b = EmbedBuilder::new()
                .title(clip(&head, 256))
                .description(clip(&description, 4096))
                .color(colour::INFO);
            if i + 1 == count {
                b = b.footer(EmbedFooterBuilder::new(format!(
                    "Updated {}",
                    super::every_label(every_secs)
                )));
                if let Ok(t) = Timestamp::from_secs(updated_unix) {
                    b = b.timestamp(t);
                }
            }
            b.build()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Rows {
        (0..n)
            .map(|i| {
                (
                    format!("Player{i:02}_with_a_long_name"),
                    format!("{} kills", 100 - i),
                )
            })
            .collect()
    }

    #[test]
    fn a_podium_sets_the_top_three_apart() {
        let board = Board {
            podium: true,
            ..Board::default()
        };
        let e = embeds(
            "Alpha",
            &board,
            &[(BoardStat::Players(Leaderboard::Kills), rows(5))],
            None,
            (900, 1_700_000_000),
        );
        let d = e[0].description.clone().unwrap_or_default();
        assert!(
            d.starts_with("🥇 **Player00_with_a_long_name** — 100 kills\n🥈"),
            "{d}"
        );
        assert!(
            d.contains("🥉 **Player02_with_a_long_name** — 98 kills\n\n**4.** Player03"),
            "{d}"
        );
        assert_eq!(e[0].title.as_deref(), Some("Kills (all time) — Alpha"));
        assert_eq!(
            e[0].footer.as_ref().map(|f| f.text.as_str()),
            Some("Updated every 15 min")
        );
    }

    #[test]
    fn every_ranking_of_a_full_board_fits_one_message() {
        let board = Board {
            stats: BoardStat::ALL.to_vec(),
            rows: 25,
            window: Window::Week,
            ..Board::default()
        };
        let rankings: Vec<(BoardStat, Rows)> =
            BoardStat::ALL.iter().map(|s| (*s, rows(25))).collect();
        let e = embeds(
            "Alpha",
            &board,
            &rankings,
            Some(1_700_000_000),
            (300, 1_700_000_000),
        );
        assert_eq!(e.len(), 7);
        let total: usize = e
            .iter()
            .map(|e| {
                e.title.as_deref().unwrap_or_default().chars().count()
                    + e.description.as_deref().unwrap_or_default().chars().count()
                    + e.footer.as_ref().map_or(0, |f| f.text.chars().count())
            })
            .sum();
        assert!(total <= 6000, "{total} characters");
        for e in &e {
            assert!(crate::embeds::validate(e).is_ok(), "{e:?}");
        }
        // A ranking kept for all time only says so, under a weekly board.
        assert_eq!(e[6].title.as_deref(), Some("Weapons (all time) — Alpha"));
        assert_eq!(e[0].title.as_deref(), Some("Kills (this week) — Alpha"));
        assert!(
            e[0].description
                .as_deref()
                .unwrap_or_default()
                .starts_with("Since <t:1700000000:f>")
        );
    }
}

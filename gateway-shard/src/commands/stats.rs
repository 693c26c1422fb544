//! `/stats`: a player (paged: overview, weapons, matchups), a server's totals,
//! leaderboards, and weapons; a player and leaderboards also for today, this week or this
//! month (`window`, [`tower_store::windows`]).
//!
//! The page buttons carry everything they need in their `custom_id` (page, caller, expiry,
//! server, player), so they keep working across restarts and any gateway process can
//! answer them; only the caller can use them, until they expire.

use twilight_model::channel::message::Component;
use twilight_model::channel::message::component::ButtonStyle;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};
use twilight_util::builder::message::{ActionRowBuilder, ButtonBuilder};

use tower_daemon::telemetry::now_unix_ms;
use tower_ingest::stats::Leaderboard;
use tower_store::ids::{GuildId, ServerId};
use tower_store::stats_query::{DEFAULT_LIMIT, MAX_LIMIT, PlayerRow};
use tower_store::windows::{Window, WindowStats, Windows};

use super::buttons::{PressRules, from_radix36, radix36, radix36_time};
use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, code, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// How long the page buttons of `/stats player` work.
pub const PAGE_BUTTONS_TTL_SECS: i64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Overview,
    Weapons,
    Matchups,
    History,
}

impl Page {
    pub const ALL: [Page; 4] = [Page::Overview, Page::Weapons, Page::Matchups, Page::History];

    fn key(self) -> &'static str {
        match self {
            Self::Overview => "o",
            Self::Weapons => "w",
            Self::Matchups => "m",
            Self::History => "h",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Overview => "Overview",
            Self::Weapons => "Weapons",
            Self::Matchups => "Matchups",
            Self::History => "History",
        }
    }
}

/// How far back the recent form and the history read the kill lines.
const FORM_DAYS: i64 = 30;

/// What a page button stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageButton {
    pub page: Page,
    pub caller: u64,
    pub expires_unix: i64,
    pub server: String,
    pub player_id: String,
}

impl PageButton {
    pub fn custom_id(&self) -> String {
        format!(
            "sp|{}|{}|{}|{}|{}",
            self.page.key(),
            radix36(self.caller),
            radix36_time(self.expires_unix),
            self.server,
            self.player_id
        )
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let mut parts = custom_id.split('|');
        if parts.next()? != "sp" {
            return None;
        }
        let key = parts.next()?;
        let page = Page::ALL.into_iter().find(|p| p.key() == key)?;
        let caller = from_radix36(parts.next()?)?;
        let expires_unix = i64::try_from(from_radix36(parts.next()?)?).ok()?;
        let server = parts.next()?.to_owned();
        let player_id = parts.next()?.to_owned();
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            page,
            caller,
            expires_unix,
            server,
            player_id,
        })
    }
}

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &tower_store::guilds::GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    // Also proves the server belongs to the caller's guild.
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    match inv.path.as_str() {
        "stats player" => {
            let name = inv.str("player_name")?;
            let Some(row) = bot
                .stats
                .player(caller.guild_id, id.as_str(), name.trim())
                .await?
            else {
                return Err(CommandError::invalid(
                    format!(
                        "No player named `{}` has a kill or death on `{id}` yet.",
                        code(name, 60)
                    ),
                    "Pick a name from the list Discord suggests while you type.",
                ));
            };
            if let Some(window) = chosen_window(inv)? {
                return player_window(
                    bot,
                    caller,
                    guild,
                    (id.as_str(), &server.name),
                    &row,
                    window,
                )
                .await;
            }
            let button = PageButton {
                page: Page::Overview,
                caller: caller.user_id,
                expires_unix: now_unix_ms() / 1000 + PAGE_BUTTONS_TTL_SECS,
                server: id.as_str().to_owned(),
                player_id: row.player_id.clone(),
            };
            player_page(bot, caller.guild_id, &server.name, &row, &button).await
        }
        "stats server" => {
            let totals = bot
                .stats
                .server(caller.guild_id, id.as_str())
                .await?
                .unwrap_or_default();
            let mut b = EmbedBuilder::new()
                .title(clip(&format!("{} — totals", shown(&server.name, 100)), 256))
                .color(colour::INFO)
                .field(EmbedFieldBuilder::new("Kills", totals.kills.to_string()).inline())
                .field(EmbedFieldBuilder::new("Roadkills", totals.roadkills.to_string()).inline())
                .field(EmbedFieldBuilder::new("Suicides", totals.suicides.to_string()).inline())
                .field(
                    EmbedFieldBuilder::new(
                        "Environment deaths",
                        totals.environment_deaths.to_string(),
                    )
                    .inline(),
                )
                .field(EmbedFieldBuilder::new("Players", totals.players.to_string()).inline());
            if let Some((m, killer, weapon)) = &totals.longest_kill {
                let names = bot
                    .stats
                    .names(caller.guild_id, id.as_str(), std::slice::from_ref(killer))
                    .await?;
                let who = shown(names.get(killer).map(String::as_str).unwrap_or(killer), 64);
                let weapon = shown(weapon, 100);
                b = b.field(EmbedFieldBuilder::new(
                    "Longest kill",
                    clip(&format!("{m} m by {who} ({weapon})"), 1024),
                ));
            }
            // As the earlier bot: the top five killers and weapons, the last three events.
            let killers = bot
                .stats
                .leaderboard(caller.guild_id, id.as_str(), Leaderboard::Kills, 5)
                .await?;
            let lines: Vec<String> = killers
                .iter()
                .filter(|r| r.stats.kills > 0)
                .enumerate()
                .map(|(i, r)| {
                    format!(
                        "{}. {}: {} kills",
                        i + 1,
                        shown(&r.stats.name, 40),
                        r.stats.kills
                    )
                })
                .collect();
            b = b.field(EmbedFieldBuilder::new(
                "Top Killers",
                super::lines_or(&lines, "No kills yet."),
            ));
            let weapons = bot
                .stats
                .weapons(caller.guild_id, id.as_str(), None, 5)
                .await?;
            let lines: Vec<String> = weapons
                .iter()
                .enumerate()
                .map(|(i, w)| format!("{}. {}: {} kills", i + 1, shown(&w.weapon, 40), w.kills))
                .collect();
            b = b.field(EmbedFieldBuilder::new(
                "Top Weapons",
                super::lines_or(&lines, "No kills yet."),
            ));
            // Who kills whom across platforms (crossplay servers).
            let pairs = bot
                .stats
                .platform_kills(caller.guild_id, id.as_str())
                .await?;
            if pairs.iter().any(|(k, v, _)| !k.is_empty() || !v.is_empty()) {
                let lines: Vec<String> = pairs
                    .iter()
                    .take(8)
                    .map(|(k, v, n)| {
                        format!(
                            "{} → {}: {n} kill{}",
                            shown(platform_label(k), 16),
                            shown(platform_label(v), 16),
                            if *n == 1 { "" } else { "s" }
                        )
                    })
                    .collect();
                b = b.field(EmbedFieldBuilder::new(
                    "Kills by platform (killer → victim)",
                    clip(&lines.join("\n"), 1024),
                ));
            }
            let events = bot
                .outbox
                .recent(caller.guild_id, id.as_str(), "event", None, 3)
                .await?;
            let lines: Vec<String> = events
                .iter()
                .map(|e| {
                    format!(
                        "{}: <t:{}:R>",
                        shown(e.data.get_str("event").unwrap_or_default(), 40),
                        e.at_ms / 1000
                    )
                })
                .collect();
            b = b.field(EmbedFieldBuilder::new(
                "Recent Events",
                super::lines_or(&lines, "No events yet."),
            ));
            if totals.malformed_lines > 0 {
                b = b.footer(EmbedFooterBuilder::new(format!(
                    "{} unreadable log lines skipped",
                    totals.malformed_lines
                )));
            }
            Ok(Reply::embed(b.build()))
        }
        "stats leaderboard" => {
            let key = inv.str("stat")?;
            let stat = Leaderboard::parse(key).ok_or_else(|| {
                CommandError::invalid(
                    format!("`{}` is not a leaderboard.", code(key, 40)),
                    "Pick one of: kills, deaths, kdr, longest_shot, highest_killstreak, suicides.",
                )
            })?;
            let limit = inv
                .opt_int("limit")?
                .map(|n| n.clamp(1, i64::from(MAX_LIMIT)) as u32)
                .unwrap_or(DEFAULT_LIMIT);
            let window = chosen_window(inv)?;
            let platform = chosen_platform(inv)?;
            let rows = match window {
                None => {
                    bot.stats
                        .leaderboard_on(caller.guild_id, id.as_str(), stat, limit, platform)
                        .await?
                }
                Some(_) if stat == Leaderboard::HighestKillstreak => {
                    return Err(CommandError::invalid(
                        "Killstreaks are kept for all time only.",
                        "Leave out window, or rank by kills, deaths, kdr, longest_shot or suicides.",
                    ));
                }
                Some(window) => {
                    let windows = Windows::new(&bot.db);
                    let (_, from) =
                        window_start(&windows, caller.guild_id, id.as_str(), guild, window).await?;
                    windows
                        .leaderboard(caller.guild_id, id.as_str(), (stat, platform), from, limit)
                        .await?
                }
            };
            // Faction tags beside the names, where the guild shows them.
            let tags = match guild.faction_tags {
                true => {
                    let ids: Vec<&str> = rows.iter().map(|r| r.player_id.as_str()).collect();
                    tower_store::factions::Factions::new(&bot.db)
                        .of_players(caller.guild_id, id.as_str(), &ids)
                        .await?
                }
                false => Default::default(),
            };
            Ok(Reply::embed(leaderboard_embed(
                &server.name,
                (stat, window.unwrap_or(Window::All), platform),
                &rows,
                &tags,
            )))
        }
        "stats weapon" => {
            super::weapons::weapon(bot, caller, &server, inv.str("weapon_name")?).await
        }
        "stats weapon_categories" => super::weapons::categories(bot, caller, &server).await,
        "stats season" => super::seasons::season(bot, caller, &server, inv).await,
        other => Err(super::unknown(other)),
    }
}

/// The `platform` option, as the log writes platforms (a short word).
fn chosen_platform(inv: &Invocation) -> Result<Option<&str>, CommandError> {
    match inv.opt_str("platform")?.map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) if p.len() <= 16 && p.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(Some(p)),
        Some(p) => Err(CommandError::invalid(
            format!("`{}` is not a platform the log writes.", code(p, 20)),
            "Use the platform as the killfeed writes it, as PS5 or XSX; /stats server lists them.",
        )),
    }
}

/// A platform as shown: the log's word, or that the log gave none.
fn platform_label(p: &str) -> &str {
    if p.is_empty() { "none given" } else { p }
}

/// The `window` option: `None` for all time.
fn chosen_window(inv: &Invocation) -> Result<Option<Window>, CommandError> {
    match inv.opt_str("window")? {
        None => Ok(None),
        Some(key) => match Window::parse(key) {
            Some(Window::All) => Ok(None),
            Some(w) => Ok(Some(w)),
            None => Err(CommandError::invalid(
                format!("`{}` is not a time window.", code(key, 20)),
                "Pick one of: all, today, week, month.",
            )),
        },
    }
}

/// When `window` began in the guild's time zone (Unix seconds), and where that is on the
/// server's game clock.
async fn window_start(
    windows: &Windows,
    guild_id: u64,
    server_id: &str,
    guild: &tower_store::guilds::GuildSettings,
    window: Window,
) -> Result<(i64, i64), CommandError> {
    let start = window
        .start(now_unix_ms() / 1000, guild.utc_offset_secs)
        .unwrap_or(0);
    Ok((start, windows.game_start(guild_id, server_id, start).await?))
}

/// `/stats player … window`: the player's totals since the window began.
async fn player_window(
    bot: &Bot,
    caller: &Caller,
    guild: &tower_store::guilds::GuildSettings,
    (server_id, server_name): (&str, &str),
    row: &PlayerRow,
    window: Window,
) -> Result<Reply, CommandError> {
    let windows = Windows::new(&bot.db);
    let (started, from) = window_start(&windows, caller.guild_id, server_id, guild, window).await?;
    let totals = windows
        .totals(caller.guild_id, server_id, from, Some(&row.player_id))
        .await?;
    let s = totals.get(&row.player_id).copied().unwrap_or_default();
    Ok(Reply::embed(player_window_embed(
        server_name,
        &row.stats.name,
        window,
        started,
        &s,
    )))
}

/// A player's totals in a window, as `/stats player … window` shows them.
pub fn player_window_embed(
    server_name: &str,
    player_name: &str,
    window: Window,
    started_unix: i64,
    s: &WindowStats,
) -> twilight_model::channel::message::Embed {
    let longest = s
        .longest_kill_m
        .map_or_else(|| "—".to_owned(), |m| format!("{m} m"));
    EmbedBuilder::new()
        .title(clip(
            &format!(
                "{} — {} on {}",
                shown(player_name, 64),
                window.label(),
                shown(server_name, 100)
            ),
            256,
        ))
        .description(format!("Since <t:{started_unix}:f>"))
        .color(colour::INFO)
        .field(EmbedFieldBuilder::new("Kills", s.kills.to_string()).inline())
        .field(EmbedFieldBuilder::new("Deaths", s.deaths.to_string()).inline())
        .field(
            EmbedFieldBuilder::new(
                "K/D",
                format!("{:.2}", tower_ingest::stats::kdr(s.kills, s.deaths)),
            )
            .inline(),
        )
        .field(EmbedFieldBuilder::new("Suicides", s.suicides.to_string()).inline())
        .field(EmbedFieldBuilder::new("Longest kill", longest).inline())
        .build()
}

/// A `/stats player` page's title and footer: the player, the page, the server.
fn page_frame(server_name: &str, row: &PlayerRow, page: Page) -> EmbedBuilder {
    EmbedBuilder::new()
        .title(clip(
            &format!("{} — {}", shown(&row.stats.name, 64), page.label()),
            256,
        ))
        .color(colour::INFO)
        .footer(EmbedFooterBuilder::new(clip(
            &format!("{server_name} · {}", row.player_id),
            200,
        )))
}

/// A `/stats player` page as rendered from what it read: `page`'s embed for `row`.
pub fn page_embed(
    server_name: &str,
    row: &PlayerRow,
    page: Page,
    read: &PageData,
) -> twilight_model::channel::message::Embed {
    let b = page_frame(server_name, row, page);
    match page {
        Page::Overview => overview(b, row),
        Page::Weapons => weapons_page(b, &read.weapons),
        Page::Matchups => matchups_page(
            b,
            row,
            &read.nemesis,
            &read.prey,
            &read.encounters,
            &read.names,
        ),
        Page::History => history_page(b, &read.encounters, read.now),
    }
    .build()
}

/// What the `/stats player` pages read besides the player's statistics.
#[derive(Debug, Default, Clone)]
pub struct PageData {
    /// (weapon, kills), most first.
    pub weapons: Vec<(String, u64)>,
    /// (player id, kills), most first.
    pub nemesis: Vec<(String, u64)>,
    pub prey: Vec<(String, u64)>,
    pub encounters: Vec<tower_store::stats_query::Encounter>,
    /// Player id → name.
    pub names: std::collections::HashMap<String, String>,
    /// Unix seconds.
    pub now: i64,
}

/// The weapons page: the top 15, the combat profile and categories.
fn weapons_page(b: EmbedBuilder, weapons: &[(String, u64)]) -> EmbedBuilder {
    let lines: Vec<String> = weapons
        .iter()
        .take(15)
        .map(|(w, k)| format!("{} — {k}", shown(w, 60)))
        .collect();
    let mut b = b.description(super::lines_or(&lines, "No kills yet."));
    if let Some(profile) = super::weapons::combat_profile(weapons) {
        b = b
            .field(EmbedFieldBuilder::new("Combat Profile", profile.summary))
            .field(EmbedFieldBuilder::new(
                "Weapon Categories",
                profile.categories,
            ));
    }
    b
}

/// The matchups page: nemesis and prey, recent performance and matchups.
fn matchups_page(
    b: EmbedBuilder,
    row: &PlayerRow,
    nemesis: &[(String, u64)],
    prey: &[(String, u64)],
    encounters: &[tower_store::stats_query::Encounter],
    names: &std::collections::HashMap<String, String>,
) -> EmbedBuilder {
    let name = |p: &str| shown(names.get(p).map(String::as_str).unwrap_or(p), 40);
    let show = |list: &[(String, u64)], verb: &str| -> String {
        if list.is_empty() {
            return "—".to_owned();
        }
        list.iter()
            .map(|(p, k)| format!("{} — {verb} {k}×", name(p)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut b = b
        .field(EmbedFieldBuilder::new(
            "Nemesis (killed you most)",
            show(nemesis, "killed you"),
        ))
        .field(EmbedFieldBuilder::new(
            "Prey (you killed most)",
            show(prey, "killed"),
        ));
    if let Some(text) = super::player_form::recent_performance(encounters, row.stats.kdr()) {
        b = b.field(EmbedFieldBuilder::new("Recent Performance", text));
    }
    let met = super::player_form::recent_matchups(encounters);
    if !met.is_empty() {
        let lines: Vec<String> = met
            .iter()
            .map(|(p, k, d)| format!("{} — {k} kills, {d} deaths", name(p)))
            .collect();
        b = b.field(EmbedFieldBuilder::new("Recent Matchups", lines.join("\n")));
    }
    b
}

/// The history page: kills and deaths per day of the last week.
fn history_page(
    b: EmbedBuilder,
    encounters: &[tower_store::stats_query::Encounter],
    now: i64,
) -> EmbedBuilder {
    b.description(match super::player_form::daily_kills(encounters, now) {
        Some(days) => super::player_form::history_text(&days),
        None => "Not enough history yet: kills or deaths on more than two of the last seven days are needed.".to_owned(),
    })
}

/// The overview page's fields: totals, streaks, activity, earlier names.
fn overview(b: EmbedBuilder, row: &PlayerRow) -> EmbedBuilder {
    let s = &row.stats;
    let mut b = b
        .field(EmbedFieldBuilder::new("Kills", s.kills.to_string()).inline())
        .field(EmbedFieldBuilder::new("Deaths", s.deaths.to_string()).inline())
        .field(EmbedFieldBuilder::new("K/D", format!("{:.2}", s.kdr())).inline())
        .field(EmbedFieldBuilder::new("Suicides", s.suicides.total().to_string()).inline())
        .field(
            EmbedFieldBuilder::new("Environment deaths", s.environment_deaths.to_string()).inline(),
        )
        .field(
            EmbedFieldBuilder::new(
                "Longest kill",
                format!("{} m", s.longest_kill_m.unwrap_or(0)),
            )
            .inline(),
        )
        .field(
            EmbedFieldBuilder::new(
                "Killstreak",
                format!("{} now · {} best", s.current_killstreak, s.best_killstreak),
            )
            .inline(),
        )
        .field(
            EmbedFieldBuilder::new(
                "Deathstreak",
                format!(
                    "{} now · {} worst",
                    s.current_deathstreak, s.worst_deathstreak
                ),
            )
            .inline(),
        );
    // Game time, read as UTC (what the killfeed writes).
    if s.last_seen > 0 {
        b = b.field(EmbedFieldBuilder::new(
            "Activity",
            format!(
                "First seen <t:{}:f>\nLast seen <t:{}:R>",
                s.first_seen, s.last_seen
            ),
        ));
    }
    if s.names.len() > 1 {
        b = b.field(EmbedFieldBuilder::new(
            "Also known as",
            clip(
                &s.names
                    .iter()
                    .map(|n| shown(n, 64))
                    .collect::<Vec<_>>()
                    .join(", "),
                1024,
            ),
        ));
    }
    b
}

/// A `/stats leaderboard` answer: the rows in order, each with its faction tag (by EOS
/// id: (faction id, tag)) where the guild shows them.
pub fn leaderboard_embed(
    server_name: &str,
    (stat, window, platform): (Leaderboard, Window, Option<&str>),
    rows: &[PlayerRow],
    tags: &std::collections::HashMap<String, (String, String)>,
) -> twilight_model::channel::message::Embed {
    let lines: Vec<String> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let tag = tags
                .get(&r.player_id)
                .map_or(String::new(), |(_, t)| format!("[{}] ", shown(t, 10)));
            format!(
                "**{}.** {tag}{} — {}",
                i + 1,
                shown(&r.stats.name, 40),
                value(stat, r)
            )
        })
        .collect();
    // "Kills (this week, PS5) — Server": what the board is narrowed to, if anything.
    let narrowed: Vec<String> = [
        (window != Window::All).then(|| window.label().to_owned()),
        platform.map(|p| shown(p, 16)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let (description, title) = match narrowed.is_empty() {
        true => (
            super::lines_or(&lines, "No player has this statistic yet."),
            format!("{} — {}", stat.label(), shown(server_name, 100)),
        ),
        false => (
            super::lines_or(&lines, "No player has this statistic here yet."),
            format!(
                "{} ({}) — {}",
                stat.label(),
                narrowed.join(", "),
                shown(server_name, 100)
            ),
        ),
    };
    EmbedBuilder::new()
        .title(clip(&title, 256))
        .description(description)
        .color(colour::INFO)
        .build()
}

fn value(stat: Leaderboard, r: &PlayerRow) -> String {
    let shown = stat.shown(&r.stats);
    if stat == Leaderboard::LongestShot {
        format!("{shown} m")
    } else {
        shown
    }
}

/// A page button pressed: the page, or a private refusal.
pub async fn page_button(
    bot: &Bot,
    caller: &Caller,
    custom_id: &str,
) -> Result<Reply, CommandError> {
    let button = PageButton::parse(custom_id).ok_or_else(super::buttons::not_ours)?;
    let rules = PressRules {
        owner: button.caller,
        expires_unix: button.expires_unix,
        noun: "buttons",
        not_yours: "Only the person who ran this /stats player can turn its pages. Run /stats player yourself.",
        expired: "Run /stats player again for fresh numbers.",
    };
    if let Some(refusal) = rules.refusal(caller.user_id) {
        return Ok(refusal);
    }
    let id = ServerId::parse(&button.server).map_err(|_| {
        CommandError::invalid("This button names no server.", "Run the command again.")
    })?;
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let Some(row) = bot
        .stats
        .player(caller.guild_id, id.as_str(), &button.player_id)
        .await?
    else {
        return Err(CommandError::invalid(
            "This player is no longer in the statistics.",
            "Run /stats player again.",
        ));
    };
    player_page(bot, caller.guild_id, &server.name, &row, &button).await
}

async fn player_page(
    bot: &Bot,
    guild_id: u64,
    server_name: &str,
    row: &PlayerRow,
    button: &PageButton,
) -> Result<Reply, CommandError> {
    let mut b = page_frame(server_name, row, button.page);
    match button.page {
        Page::Overview => b = overview(b, row),
        Page::Weapons => {
            // Every weapon (a player uses a few dozen at most), the top 15 listed.
            let weapons = bot
                .stats
                .player_weapons(guild_id, &button.server, &row.player_id, 500)
                .await?;
            b = weapons_page(b, &weapons);
        }
        Page::Matchups => {
            let nemesis = bot
                .stats
                .matchups(guild_id, &button.server, &row.player_id, true, 5)
                .await?;
            let prey = bot
                .stats
                .matchups(guild_id, &button.server, &row.player_id, false, 5)
                .await?;
            let ids: Vec<String> = nemesis
                .iter()
                .chain(&prey)
                .map(|(p, _)| p.clone())
                .collect();
            let mut names = bot.stats.names(guild_id, &button.server, &ids).await?;
            let now = now_unix_ms() / 1000;
            let encounters = bot
                .stats
                .encounters(
                    guild_id,
                    &button.server,
                    &row.player_id,
                    now - FORM_DAYS * 86_400,
                )
                .await?;
            let met: Vec<String> = super::player_form::recent_matchups(&encounters)
                .into_iter()
                .map(|(p, ..)| p)
                .filter(|p| !names.contains_key(p))
                .collect();
            if !met.is_empty() {
                names.extend(bot.stats.names(guild_id, &button.server, &met).await?);
            }
            b = matchups_page(b, row, &nemesis, &prey, &encounters, &names);
        }
        Page::History => {
            let now = now_unix_ms() / 1000;
            let encounters = bot
                .stats
                .encounters(
                    guild_id,
                    &button.server,
                    &row.player_id,
                    now - super::player_form::DAYS * 86_400,
                )
                .await?;
            b = history_page(b, &encounters, now);
        }
    }
    let buttons: Vec<Component> = Page::ALL
        .iter()
        .map(|p| {
            let id = PageButton {
                page: *p,
                ..button.clone()
            }
            .custom_id();
            Component::Button(
                ButtonBuilder::new(if *p == button.page {
                    ButtonStyle::Primary
                } else {
                    ButtonStyle::Secondary
                })
                .label(p.label())
                .custom_id(id)
                .disabled(*p == button.page)
                .build(),
            )
        })
        .collect();
    let row = Component::ActionRow(
        ActionRowBuilder::new()
            .component(buttons[0].clone())
            .component(buttons[1].clone())
            .component(buttons[2].clone())
            .component(buttons[3].clone())
            .build(),
    );
    Ok(Reply::embed(b.build()).with_components(vec![row]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_buttons_round_trip_within_discords_100_characters() {
        let b = PageButton {
            page: Page::Matchups,
            caller: u64::MAX,
            expires_unix: 4_102_444_800,
            server: "s".repeat(ServerId::MAX_LEN),
            player_id: "0".repeat(32),
        };
        let id = b.custom_id();
        assert!(id.len() <= 100, "{} characters", id.len());
        assert_eq!(PageButton::parse(&id), Some(b));
        assert_eq!(PageButton::parse("sp|x|1|1|s|p"), None);
        assert_eq!(PageButton::parse("other"), None);
    }
}

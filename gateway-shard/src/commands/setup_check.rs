//! `/setup check server_id`: "why is nothing posting?" answered in one reply. It goes
//! through everything a game server's messages depend on, in the order they flow: the tier
//! (is the server within its slots), SFTP (as `/test_sftp`), the killfeed folders and how
//! fresh their newest file is, the worker's reading (last poll, lag, breaker), the feeds'
//! switches and channels, and the bot's permissions in each configured channel, read from
//! Discord. Every problem found comes with its fix.

use tower_daemon::telemetry::now_unix_ms;

use twilight_model::channel::ChannelType;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use tower_proto::v1::{BreakerState, ServerRef, ServerStatus, TestServerReply, TestServerRequest};
use tower_store::game_servers::{GameServer, within_slots};
use tower_store::guilds::GuildSettings;
use tower_store::ids::{GuildId, ServerId};
use tower_store::tier::{Feature, Tier};

use crate::access::Caller;
use crate::bot::Bot;
use crate::channel_permissions::{BotInGuild, ChannelAccess, TO_POST, TO_RENAME};
use crate::embeds::{clip, code, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// A killfeed whose newest file is older than this is worth a word: the game writes a new
/// file at every restart and appends to it all day.
const STALE_SECS: i64 = 24 * 3600;

/// A problem found, and what an admin does about it.
struct Problem {
    what: String,
    fix: String,
}

/// What the check found, section by section, and the problems.
#[derive(Default)]
struct Findings {
    sections: Vec<(String, String)>,
    problems: Vec<Problem>,
}

impl Findings {
    fn section(&mut self, name: &str, text: String) {
        self.sections.push((name.to_owned(), text));
    }

    fn problem(&mut self, what: impl Into<String>, fix: impl Into<String>) {
        self.problems.push(Problem {
            what: what.into(),
            fix: fix.into(),
        });
    }
}

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
) -> Result<Reply, CommandError> {
    let id = inv.server_id("server_id")?;
    let server = bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let mut found = Findings::default();
    tier(bot, caller, guild, &server, &mut found).await?;
    let test = sftp(bot, caller, &id, &mut found).await;
    if let Some(test) = &test {
        files(&server, test, &mut found);
    }
    reading(bot, caller, &server, &mut found).await;
    feeds(&server, guild.tier, &mut found);
    permissions(bot, caller, &server, &mut found).await;
    Ok(Reply::embeds(render(&server, found)))
}

/// The tier: a server beyond the tier's slots is not read at all.
async fn tier(
    bot: &Bot,
    caller: &Caller,
    guild: &GuildSettings,
    server: &GameServer,
    found: &mut Findings,
) -> Result<(), CommandError> {
    let limits = bot.tiers.limits(guild.tier);
    let servers = bot.servers.list(GuildId(caller.guild_id)).await?;
    let covered = within_slots(&servers, limits.game_servers)
        .iter()
        .any(|s| s.server == server.server);
    found.section(
        "Tier",
        format!(
            "{} · {} of {} game server(s) · read every {} s",
            limits.name,
            servers.len(),
            limits.game_servers,
            limits.killfeed_poll_secs
        ),
    );
    if !covered {
        found.problem(
            format!(
                "This server is beyond the {} game server(s) of the {} tier, so it is not read.",
                limits.game_servers, limits.name
            ),
            "Remove a server you no longer need (/setup removeserver), or upgrade (/premium).",
        );
    }
    if !server.enabled {
        found.problem(
            "This server is switched off, so it is not read.",
            "Remove it (/setup removeserver) and add it again (/setup addserver); its \
             statistics are kept. Or ask the bot's operator.",
        );
    }
    Ok(())
}

/// The SFTP steps, as `/test_sftp` shows them. `None` when the test could not run.
async fn sftp(
    bot: &Bot,
    caller: &Caller,
    id: &ServerId,
    found: &mut Findings,
) -> Option<TestServerReply> {
    let answer = bot
        .workers
        .call(|mut w| async move {
            w.test_server(TestServerRequest {
                server: Some(ServerRef {
                    guild_id: caller.guild_id,
                    server_id: id.as_str().to_owned(),
                }),
            })
            .await
        })
        .await;
    let reply = match answer {
        Ok(r) => r.into_inner(),
        Err(status) => {
            found.section(
                "SFTP",
                format!("not tested: {}", clip(status.message(), 300)),
            );
            if status.code() == tonic::Code::Unavailable {
                found.problem(
                    "No sftp-worker answered, so nothing is being read for this server.",
                    "This is on the bot's side: tell the bot's operator.",
                );
            } else {
                found.problem(
                    format!("The SFTP test failed: {}", clip(status.message(), 300)),
                    "Try again in a minute; if it stays, tell the bot's operator.",
                );
            }
            return None;
        }
    };
    let mut lines = super::sftp::step_lines(&reply);
    if lines.is_empty() {
        // It failed before its first step (no connection slot free, credentials that
        // cannot be opened).
        lines.push("no step ran".to_owned());
    }
    if !reply.error_id.is_empty() {
        lines.push(format!("Error id {}", reply.error_id));
    }
    found.section("SFTP", lines.join("\n"));
    // A missing server log matters only to events and connections (see `files`).
    if let Some(step) = reply.steps.iter().find(|s| !s.ok && s.name != "find_log") {
        found.problem(
            format!(
                "SFTP step **{}** failed: {}",
                step.name,
                clip(&step.detail, 300)
            ),
            step_fix(&step.name),
        );
    } else if !reply.ok {
        found.problem(
            "The SFTP test could not run.",
            format!(
                "Try again in a minute; if it stays, an admin runs /debug {} and tells the bot's \
                 operator.",
                reply.error_id
            ),
        );
    }
    Some(reply)
}

/// What to do when an SFTP step fails.
fn step_fix(step: &str) -> &'static str {
    match step {
        "resolve" => {
            "The host cannot be used: its name does not resolve, or it is an address the bot \
             may not connect to (a private network). Check the host in your game host's panel \
             and add the server again with /setup addserver."
        }
        "connect" => {
            "Nothing answers at that host and port: check the SFTP port in your game host's \
             panel (often 22 or 8822; not the game port) and that the server is online."
        }
        "handshake" => {
            "The SSH handshake failed: if the host's key changed (a new machine), an admin \
             removes and adds the server again to trust the new key."
        }
        "auth" => {
            "The user name or password was refused: copy them again from your game host's panel \
             and add the server again with /setup addserver."
        }
        "sftp" => "The host does not offer SFTP to this user: ask your game host to enable it.",
        "find_killfeed" => {
            "No killfeed folder was found: the game writes kills to \
             `<host>_<server_id>/actual1/deathlogs/world_*/`; check the server id (the number \
             in that folder's name) with /list_sftp_files."
        }
        "find_log" => {
            "No Deadside.log was found: events and connections come from \
             `<host>_<server_id>/Logs/Deadside.log`; check the server id with /list_sftp_files."
        }
        _ => "Run /test_sftp for details.",
    }
}

/// The killfeed folders found and how fresh their newest file is.
fn files(server: &GameServer, test: &TestServerReply, found: &mut Findings) {
    if !test.ok && test.killfeed_folders.is_empty() {
        return;
    }
    let now = now_unix_ms() / 1000;
    let mut lines: Vec<String> = test
        .killfeed_folders
        .iter()
        .map(super::sftp::folder_line)
        .collect();
    let newest = test
        .killfeed_folders
        .iter()
        .filter(|f| !f.newest_file.is_empty())
        .map(|f| f.newest_mtime_unix)
        .max()
        .unwrap_or(0);
    if test.log_path.is_empty() {
        lines.push("server log: not found".to_owned());
    } else {
        lines.push(format!("server log: `{}`", code(&test.log_path, 200)));
    }
    found.section("Killfeed files", lines.join("\n"));
    if test.ok && test.csv_files == 0 {
        found.problem(
            "The killfeed folder has no CSV file yet.",
            "The game writes one when the server starts: restart the game server, or check that \
             its killfeed logging is on in your game host's panel.",
        );
    } else if newest > 0 && now.saturating_sub(newest) > STALE_SECS {
        found.problem(
            format!(
                "The newest killfeed file was last written <t:{newest}:R>: nothing new to post."
            ),
            "Check that the game server is running and has players; after a move to another \
             machine the game may write under a new server id (see /list_sftp_files).",
        );
    }
    if test.log_path.is_empty() && (server.feeds.events || server.feeds.connections) {
        found.problem(
            "Events or connections are on, but the server log was not found.",
            step_fix("find_log"),
        );
    }
}

/// What the worker reading the server reports: last poll, lag, breaker, last error.
async fn reading(bot: &Bot, caller: &Caller, server: &GameServer, found: &mut Findings) {
    let id = &server.server;
    let answer = super::sftp::reading_status(bot, caller.guild_id, id.as_str()).await;
    let status: Option<ServerStatus> = answer.ok().and_then(|r| {
        r.servers.into_iter().find(|s| {
            s.server
                .as_ref()
                .is_some_and(|r| r.server_id == id.as_str())
        })
    });
    let Some(s) = status else {
        found.section("Reading", "no status reported yet".to_owned());
        return;
    };
    let last_poll = super::sftp::last_read(s.last_poll_unix_ms);
    let breaker = BreakerState::try_from(s.breaker).unwrap_or(BreakerState::Unspecified);
    let mut text = format!(
        "every {} s · last read {last_poll} · lag {} ms · {}",
        s.poll_interval_secs,
        s.lag_ms,
        super::sftp::reading_state(s.breaker).1
    );
    if !s.last_error.is_empty() {
        text.push_str(&format!("\nlast error: {}", clip(&s.last_error, 200)));
    }
    found.section("Reading", text);
    if breaker == BreakerState::Open {
        found.problem(
            format!(
                "Reading is paused after repeated failures: {}",
                clip(&s.last_error, 200)
            ),
            "Fix what the SFTP steps show; reading resumes by itself within a few minutes of \
             the next success.",
        );
    } else if !s.paused.is_empty() {
        found.problem(
            format!("Reading is paused: {}", clip(&s.paused, 300)),
            "This lifts at the next clock hour, or with a higher tier (/premium).",
        );
    } else if s.enabled
        && now_unix_ms().saturating_sub(s.last_poll_unix_ms.max(server.created_at_ms))
            > stale_after(&s)
    {
        // Nobody has read it for several intervals: no worker holds it, or its reads hang.
        found.problem(
            format!("This server has not been read for a while (last read {last_poll})."),
            "If it stays so for a few more minutes, tell the bot's operator: no worker may be \
             reading it.",
        );
    }
}

/// How long without a read is worth a word: three intervals, at least two minutes (a
/// server just added waits for a worker to pick it up).
fn stale_after(s: &ServerStatus) -> i64 {
    i64::from(s.poll_interval_secs.max(1))
        .saturating_mul(3_000)
        .max(120_000)
}

/// The feeds' switches and channels, and whether the tier unlocks them.
fn feeds(server: &GameServer, tier: Tier, found: &mut Findings) {
    let c = &server.channels;
    let feed = |on: bool, channel: Option<u64>| match (on, channel) {
        (true, Some(ch)) => format!("on → <#{ch}>"),
        (true, None) => "on, no channel".to_owned(),
        (false, Some(ch)) => format!("off (<#{ch}>)"),
        (false, None) => "off".to_owned(),
    };
    found.section(
        "Feeds",
        format!(
            "killfeed {} · events {} · connections {} · player count {}",
            feed(server.feeds.killfeed, c.killfeed),
            feed(server.feeds.events, c.events),
            feed(server.feeds.connections, c.connections),
            c.voice_status
                .map_or_else(|| "—".to_owned(), |ch| format!("<#{ch}>"))
        ),
    );
    let id = &server.server;
    let checks = [
        (
            "killfeed",
            Feature::Killfeed,
            server.feeds.killfeed,
            c.killfeed,
            "killfeed_channel",
            format!("/killfeed start server_id:{id}"),
        ),
        (
            "events",
            Feature::EventsFeed,
            server.feeds.events,
            c.events,
            "events_channel",
            format!("/events start server_id:{id}"),
        ),
        (
            "connections",
            Feature::ConnectionsFeed,
            server.feeds.connections,
            c.connections,
            "connections_channel",
            format!("/events start server_id:{id}"),
        ),
    ];
    for (name, feature, on, channel, option, start) in checks {
        if (on || channel.is_some()) && !feature.is_unlocked_at(tier) {
            found.problem(
                format!(
                    "The {name} feed needs a higher tier than this server has, so it is not posted."
                ),
                "See /premium features; the feed starts again once the tier allows it.",
            );
            continue;
        }
        match (on, channel) {
            (true, None) => found.problem(
                format!("The {name} feed is on but has no channel."),
                format!("/setup channels server_id:{id} {option}:#your-channel"),
            ),
            (false, Some(ch)) => found.problem(
                format!("The {name} feed has a channel (<#{ch}>) but is switched off."),
                start,
            ),
            (false, None) if name == "killfeed" => found.problem(
                "The killfeed is off and has no channel.",
                format!(
                    "/setup channels server_id:{id} killfeed_channel:#your-channel, then \
                     /killfeed start server_id:{id}"
                ),
            ),
            _ => {}
        }
    }
    if c.voice_status.is_some() && !Feature::VoicePlayerCount.is_unlocked_at(tier) {
        found.problem(
            "The player-count channel needs a higher tier than this server has, so it is not \
             renamed.",
            "See /premium features.",
        );
    }
}

/// The bot's permissions in every configured channel, read from Discord.
async fn permissions(bot: &Bot, caller: &Caller, server: &GameServer, found: &mut Findings) {
    let c = &server.channels;
    let mut channels: Vec<(&str, u64, bool)> = Vec::new();
    for (name, channel) in [
        ("killfeed", c.killfeed),
        ("events", c.events),
        ("connections", c.connections),
    ] {
        if let Some(ch) = channel
            && !channels.iter().any(|(_, seen, _)| *seen == ch)
        {
            channels.push((name, ch, false));
        }
    }
    if let Some(ch) = c.voice_status {
        channels.push(("player count", ch, true));
    }
    if channels.is_empty() {
        return;
    }
    let me = match BotInGuild::read(bot, caller.guild_id).await {
        Ok(me) => me,
        Err(e) => {
            found.section(
                "Bot's permissions",
                format!("not read: {}", clip(&e.to_string(), 300)),
            );
            if matches!(e.status(), Some(403 | 404)) {
                found.problem(
                    "The bot is not a member of this Discord server: its commands work, but it \
                     cannot post.",
                    "Invite the bot again with its invite link (the `bot` scope, not only \
                     `applications.commands`).",
                );
            } else {
                found.problem(
                    "The bot's permissions could not be read from Discord.",
                    "Run /setup check again in a minute.",
                );
            }
            return;
        }
    };
    if me.timed_out {
        found.problem(
            "The bot is timed out in this Discord server, so it cannot post.",
            "Remove the bot's timeout (its member menu → Remove Timeout).",
        );
    }
    // Channels Discord refused a post to (the posting side leaves them alone a while).
    let blocked = match bot.channel_blocks.of_guild(caller.guild_id).await {
        Ok(blocked) => blocked,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the refused channels");
            Vec::new()
        }
    };
    let mut lines = Vec::new();
    for (name, channel, voice) in channels {
        let refused = (!voice)
            .then(|| blocked.iter().find(|b| b.channel == channel))
            .flatten();
        let resume = format!(
            "then run /setup channels server_id:{} once, so posting there starts again at once",
            server.server
        );
        let access = match me.in_channel(bot, channel).await {
            Ok(access) => access,
            Err(e) => {
                lines.push(format!(
                    "<#{channel}> ({name}): not read: {}",
                    clip(&e.to_string(), 200)
                ));
                found.problem(
                    format!("The bot's permissions in <#{channel}> ({name}) could not be read."),
                    "Run /setup check again in a minute.",
                );
                continue;
            }
        };
        let needed = if voice { TO_RENAME } else { TO_POST };
        let missing = access.missing(needed);
        match &access {
            ChannelAccess::Unseen { .. } => {
                lines.push(format!("❌ <#{channel}> ({name}): the bot cannot see it"));
                found.problem(
                    format!(
                        "The bot cannot see the {name} channel <#{channel}> (deleted, or hidden \
                         from it)."
                    ),
                    format!(
                        "Choose a channel that exists with /setup channels, or give the bot {} \
                         there (channel settings → Permissions); {resume}.",
                        names(needed)
                    ),
                );
            }
            ChannelAccess::Seen { denied_to_bot, .. } if !missing.is_empty() => {
                lines.push(format!(
                    "❌ <#{channel}> ({name}): missing {}",
                    missing.join(", ")
                ));
                let on_bot: Vec<&str> = needed
                    .iter()
                    .filter(|(p, n)| missing.contains(n) && denied_to_bot.contains(*p))
                    .map(|(_, n)| *n)
                    .collect();
                let fix = if on_bot.is_empty() {
                    format!(
                        "In <#{channel}>'s settings → Permissions, allow the bot's role {}; \
                         {resume}.",
                        missing.join(", ")
                    )
                } else {
                    format!(
                        "In <#{channel}>'s settings → Permissions, the entry for the bot itself \
                         denies {}: remove that deny (it beats any role); {resume}.",
                        on_bot.join(", ")
                    )
                };
                found.problem(
                    format!(
                        "The bot lacks {} in <#{channel}> ({name}).",
                        missing.join(", ")
                    ),
                    fix,
                );
            }
            ChannelAccess::Seen { kind, .. } => {
                lines.push(format!("✅ <#{channel}> ({name}): {}", names(needed)));
                if voice && !matches!(kind, ChannelType::GuildVoice | ChannelType::GuildStageVoice)
                {
                    found.problem(
                        format!("The player-count channel <#{channel}> is not a voice channel."),
                        "Choose a voice channel as voice_status_channel in /setup channels.",
                    );
                } else if let Some(block) = refused {
                    found.problem(
                        format!(
                            "Discord refused a post to <#{channel}> ({name}) earlier ({}), so the \
                             bot is holding its posts there; the permissions look right now.",
                            block.status
                        ),
                        format!(
                            "Run /setup channels server_id:{} once: posting there starts again at \
                             once (otherwise the bot tries again by itself later).",
                            server.server
                        ),
                    );
                }
            }
        }
    }
    found.section("Bot's permissions", lines.join("\n"));
}

fn names(needed: &[(twilight_model::guild::Permissions, &str)]) -> String {
    needed
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Problems shown at most (each an embed field; the rest are counted).
const PROBLEMS_SHOWN: usize = 6;

fn render(server: &GameServer, found: Findings) -> Vec<twilight_model::channel::message::Embed> {
    let title = clip(&format!("Setup check — {}", shown(&server.name, 100)), 256);
    let (colour, summary) = if found.problems.is_empty() {
        (
            colour::SUCCESS,
            "✅ Nothing wrong found: new kills post within one read interval.".to_owned(),
        )
    } else {
        (
            colour::ERROR,
            format!(
                "❌ {} problem(s) found, each with its fix:",
                found.problems.len()
            ),
        )
    };
    let mut b = EmbedBuilder::new()
        .title(title)
        .color(colour)
        .description(summary);
    // The problem goes in the value: Discord shows channel mentions and times there, not
    // in a field's name. At most 6 × 800 characters, well inside an embed's 6,000.
    for (i, p) in found.problems.iter().enumerate().take(PROBLEMS_SHOWN) {
        b = b.field(EmbedFieldBuilder::new(
            format!("Problem {}", i + 1),
            clip(&format!("{}\n**Fix:** {}", p.what, p.fix), 800),
        ));
    }
    if found.problems.len() > PROBLEMS_SHOWN {
        b = b.field(EmbedFieldBuilder::new(
            "More",
            format!(
                "…and {} more: fix these, then run /setup check again.",
                found.problems.len() - PROBLEMS_SHOWN
            ),
        ));
    }
    let mut embeds = vec![b.build()];
    // The details, packed into as many embeds as Discord's 6,000 characters need.
    let mut details = EmbedBuilder::new()
        .title("What was checked")
        .color(colour::INFO);
    let mut size = 0;
    for (name, text) in found.sections {
        let value = clip(&text, 1000);
        let len = name.chars().count() + value.chars().count();
        if size + len > 5500 {
            embeds.push(details.build());
            details = EmbedBuilder::new().color(colour::INFO);
            size = 0;
        }
        size += len;
        details = details.field(EmbedFieldBuilder::new(name, value));
    }
    embeds.push(details.build());
    embeds
}

//! The SFTP commands: `/test_sftp`, `/list_sftp_files`, `/historical_parse`,
//! `/csv_status`, `/log_status`. Only the sftp-workers talk to SFTP; these ask them.

use std::time::Duration;

use futures_util::StreamExt;
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use tower_proto::v1::{
    BackfillProgress, BackfillState, BreakerState, KillfeedFolder, ListFilesRequest, ServerRef,
    ServerStatusReply, ServerStatusRequest, StartBackfillRequest, TestServerReply,
    TestServerRequest, WatchBackfillRequest,
};
use tower_store::ids::{GuildId, ServerId};

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, code, colour, shown};
use crate::options::Invocation;
use crate::progress::Progress;
use crate::reply::{CommandError, Reply};

/// How long to wait for a worker to pick up a server that was just added.
const PICKUP_WAIT: Duration = Duration::from_secs(30);

pub async fn run(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    progress: &Progress,
) -> Result<Reply, CommandError> {
    match inv.path.as_str() {
        "test_sftp" => test(bot, caller, &inv.server_id("server")?).await,
        "list_sftp_files" => list(bot, caller, inv).await,
        "historical_parse" => backfill(bot, caller, inv, progress).await,
        "csv_status" | "log_status" => status(bot, caller, inv.path == "csv_status").await,
        other => Err(super::unknown(other)),
    }
}

fn server_ref(caller: &Caller, id: &ServerId) -> Option<ServerRef> {
    Some(ServerRef {
        guild_id: caller.guild_id,
        server_id: id.as_str().to_owned(),
    })
}

/// A worker's SFTP test of a stored server: each step, the folders and log it found.
pub async fn test_reply(
    bot: &Bot,
    caller: &Caller,
    id: &ServerId,
) -> Result<TestServerReply, CommandError> {
    Ok(bot
        .workers
        .call(|mut w| async move {
            w.test_server(TestServerRequest {
                server: server_ref(caller, id),
            })
            .await
        })
        .await?
        .into_inner())
}

async fn test(bot: &Bot, caller: &Caller, id: &ServerId) -> Result<Reply, CommandError> {
    let server = bot.servers.get(GuildId(caller.guild_id), id).await?;
    let reply = test_reply(bot, caller, id).await?;
    let steps = step_lines(&reply);
    let mut b = EmbedBuilder::new()
        .title(clip(
            &format!("SFTP test — {}", shown(&server.name, 100)),
            256,
        ))
        .color(if reply.ok {
            colour::SUCCESS
        } else {
            colour::ERROR
        })
        .description(steps.join("\n"));
    if reply.ok {
        // Every folder is read; which ones hold recent files tells an admin where the
        // game writes today.
        let folders: Vec<String> = reply.killfeed_folders.iter().map(folder_line).collect();
        let dirs = if folders.is_empty() {
            "none found".to_owned()
        } else {
            clip(&folders.join("\n"), 1000)
        };
        b = b
            .field(EmbedFieldBuilder::new("Killfeed folders", dirs))
            .field(EmbedFieldBuilder::new("CSV files", reply.csv_files.to_string()).inline())
            .field(
                EmbedFieldBuilder::new(
                    "Server log",
                    if reply.log_path.is_empty() {
                        "not found".to_owned()
                    } else {
                        format!("`{}`", code(&reply.log_path, 1000))
                    },
                )
                .inline(),
            );
    }
    if !reply.host_key_sha256.is_empty() {
        b = b.field(EmbedFieldBuilder::new(
            "Host key",
            clip(&reply.host_key_sha256, 1000),
        ));
    }
    if !reply.error_id.is_empty() {
        b = b.field(EmbedFieldBuilder::new(
            "Error id",
            format!("{} · admins: /debug {}", reply.error_id, reply.error_id),
        ));
    }
    Ok(Reply::embed(b.build()))
}

/// A killfeed folder a test found: how many CSV files, the newest and when it was written.
pub fn folder_line(f: &KillfeedFolder) -> String {
    match f.newest_file.as_str() {
        "" => format!("`{}` — no CSV file", code(&f.path, 120)),
        newest => format!(
            "`{}` — {} files, newest `{}` (<t:{}:R>)",
            code(&f.path, 120),
            f.csv_files,
            code(newest, 40),
            f.newest_mtime_unix
        ),
    }
}

/// One line per SFTP step of a test: ✅ or ❌, its name, how long it took and its detail.
pub fn step_lines(reply: &TestServerReply) -> Vec<String> {
    reply
        .steps
        .iter()
        .map(|s| {
            let mark = if s.ok { "✅" } else { "❌" };
            let detail = if s.detail.is_empty() {
                String::new()
            } else {
                format!(" — {}", clip(&s.detail, 200))
            };
            format!("{mark} **{}** ({} ms){detail}", s.name, s.elapsed_ms)
        })
        .collect()
}

async fn list(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let id = inv.server_id("server")?;
    // Checked here too: an unknown id gets the setup hint even when no worker answers.
    bot.servers.get(GuildId(caller.guild_id), &id).await?;
    let path = inv.opt_str("path")?.unwrap_or_default().to_owned();
    let pattern = inv.opt_str("pattern")?.unwrap_or_default().to_owned();
    let reply = bot
        .workers
        .call(|mut w| {
            let (path, pattern) = (path.clone(), pattern.clone());
            let id = &id;
            async move {
                w.list_files(ListFilesRequest {
                    server: server_ref(caller, id),
                    path,
                    pattern,
                    limit: 50,
                    log_folder: false,
                })
                .await
            }
        })
        .await?
        .into_inner();
    let lines: Vec<String> = reply
        .entries
        .iter()
        .map(|e| {
            if e.is_dir {
                format!("📁 `{}`", code(&e.path, 150))
            } else {
                format!("📄 `{}` — {} bytes", code(&e.path, 150), e.size)
            }
        })
        .collect();
    let mut text = if lines.is_empty() {
        "No files match.".to_owned()
    } else {
        clip(&lines.join("\n"), 3800)
    };
    if reply.truncated {
        text.push_str("\n… more files; narrow it with `pattern`.");
    }
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title(format!("Files on `{id}`"))
            .description(text)
            .color(colour::INFO)
            .build(),
    ))
}

/// `/historical_parse`: each chosen server's history read, its progress shown as it goes
/// (files, bytes and lines), then the earlier bot's summary per server.
async fn backfill(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
    progress: &Progress,
) -> Result<Reply, CommandError> {
    let servers =
        super::chosen_servers(bot, caller, inv, super::WhenOmitted::DefaultServer).await?;
    let days = inv
        .opt_int("days")?
        .map(|d| u32::try_from(d.max(0)).unwrap_or(0))
        .unwrap_or(0);
    let mut colour = colour::SUCCESS;
    let mut fields = Vec::with_capacity(servers.len());
    for (i, server) in servers.iter().enumerate() {
        let label = super::server_label(server);
        let show_step = |p: &BackfillProgress| {
            // Queued: nothing known yet (the "Working…" stays).
            if p.files_total == 0 && p.state == BackfillState::Queued as i32 {
                return;
            }
            progress.step(
                "Reading the history…",
                format!(
                    "{label} ({} of {})\n{} of {} files · {} of {} · {} lines",
                    i + 1,
                    servers.len(),
                    p.files_done,
                    p.files_total,
                    size(p.bytes_done),
                    size(p.bytes_total),
                    p.lines
                ),
            );
        };
        let last = backfill_of(bot, caller, &server.server, days, Some(&show_step)).await?;
        let line = match last {
            Some(p)
                if p.state == BackfillState::Done as i32 && p.files_total == 0 && p.days == 0 =>
            {
                "up to date: every killfeed file had already been read".to_owned()
            }
            Some(p) if p.state == BackfillState::Done as i32 && p.files_total == 0 => format!(
                "up to date: no killfeed file was written in the last {}",
                days_text(p.days)
            ),
            Some(p) if p.state == BackfillState::Done as i32 => summary(&p),
            Some(p) => {
                colour = colour::ERROR;
                format!("failed: {} (error id {})", clip(&p.error, 300), p.error_id)
            }
            None => "no progress reported".to_owned(),
        };
        fields.push((label, line));
    }
    Ok(Reply::embeds(super::field_embeds(
        "Historical parse",
        colour,
        None,
        fields,
    )))
}

/// Reads a server now, on the worker that holds it (every killfeed file not yet counted,
/// and its log); the last progress it reported.
pub async fn read_now(
    bot: &Bot,
    caller: &Caller,
    id: &ServerId,
) -> Result<Option<BackfillProgress>, CommandError> {
    backfill_of(bot, caller, id, 0, None).await
}

/// The earlier bot's "Historical Parsing Complete": files, kills, suicides with their
/// share of the deaths, unique players, active killers and victims; and the lines. A
/// backfill of N days adds what it found that had not been counted.
fn summary(p: &BackfillProgress) -> String {
    let deaths = p.kills.saturating_add(p.suicides);
    let share = match deaths {
        0 => 0.0,
        d => p.suicides as f64 * 100.0 / d as f64,
    };
    format!(
        "{} of {} files · **{}** kills · **{}** suicides ({share:.1}%)\n\
         **{}** unique players · **{}** active killers · **{}** victims\n\
         {} lines ({} unreadable)",
        p.files_done,
        p.files_total,
        p.kills,
        p.suicides,
        p.players,
        p.killers,
        p.victims,
        p.lines,
        p.malformed_lines
    ) + &match p.days {
        0 => String::new(),
        days => format!(
            "\nRead again: the files written in the last {} · **{}** lines counted for the first time, {} already counted",
            days_text(days),
            p.counted,
            p.already_counted
        ),
    }
}

/// `1 day`, `30 days`.
fn days_text(days: u32) -> String {
    match days {
        1 => "day".to_owned(),
        n => format!("{n} days"),
    }
}

/// Bytes for people: `532 B`, `14.2 KiB`, `3.1 MiB`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// Starts a backfill of a server on the worker that holds it and follows it to its end:
/// the last progress (each one shown to `shown` as it comes).
async fn backfill_of(
    bot: &Bot,
    caller: &Caller,
    id: &ServerId,
    days: u32,
    shown: Option<&(dyn Fn(&BackfillProgress) + Sync)>,
) -> Result<Option<BackfillProgress>, CommandError> {
    let request = StartBackfillRequest {
        server: server_ref(caller, id),
        days,
    };
    // A server that was just added may not have a worker yet: retry for a while.
    let deadline = tokio::time::Instant::now() + PICKUP_WAIT;
    let mut stream = loop {
        match bot
            .workers
            .call_holder(|mut w| {
                let request = request.clone();
                async move { w.start_backfill(request).await }
            })
            .await
        {
            Ok(s) => break s.into_inner(),
            Err(s)
                if s.code() == tonic::Code::FailedPrecondition
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            // Another backfill of the server runs (one reading fewer days again).
            Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                return Err(CommandError::refused(
                    s.message().to_owned(),
                    "Ask again when it ends (a few minutes at most for recent days).",
                ));
            }
            Err(s) => return Err(s.into()),
        }
    };
    let mut last: Option<BackfillProgress> = None;
    let mut attempts = 0;
    loop {
        let mut dropped = None;
        while let Some(p) = stream.next().await {
            match p {
                Ok(p) => {
                    if let Some(shown) = shown {
                        shown(&p);
                    }
                    last = Some(p);
                }
                Err(s) => {
                    dropped = Some(s);
                    break;
                }
            }
        }
        if last.as_ref().is_some_and(BackfillProgress::has_ended) {
            return Ok(last);
        }
        // The stream broke before the end (a connection to the worker dropped): the
        // backfill goes on there, and is followed again by its id.
        let Some(id) = last.as_ref().map(|p| p.backfill_id.clone()) else {
            return dropped.map_or(Ok(None), |s| Err(s.into()));
        };
        stream = watch_again(bot, &id, &mut attempts, dropped).await?;
    }
}

/// Follows a backfill again by its id (`WatchBackfill`) after its progress stream broke:
/// tried again while the worker cannot be reached, up to [`FOLLOW_AGAIN_MAX`] attempts in
/// all (`attempts` counts them across breaks).
async fn watch_again(
    bot: &Bot,
    id: &str,
    attempts: &mut u64,
    mut dropped: Option<tonic::Status>,
) -> Result<tonic::Streaming<BackfillProgress>, CommandError> {
    loop {
        if *attempts == FOLLOW_AGAIN_MAX {
            return Err(match dropped {
                Some(s) => s.into(),
                None => CommandError::failed("The backfill's progress stopped coming", id),
            });
        }
        *attempts += 1;
        tokio::time::sleep(Duration::from_millis(500 * *attempts)).await;
        let watched = bot
            .workers
            .call_holder(|mut w| {
                let request = WatchBackfillRequest {
                    backfill_id: id.to_owned(),
                };
                async move { w.watch_backfill(request).await }
            })
            .await;
        match watched {
            Ok(s) => return Ok(s.into_inner()),
            // The worker no longer runs it: it restarted, or the server moved.
            Err(s) if s.code() == tonic::Code::NotFound => {
                return Err(CommandError::failed(
                    "The worker reading this server stopped the backfill part-way (it \
                     restarted, or another worker took the server); what it counted stays \
                     counted: ask again to read the rest",
                    s.message(),
                ));
            }
            Err(s) if s.code() == tonic::Code::Unavailable => dropped = Some(s),
            Err(s) => return Err(s.into()),
        }
    }
}

/// How many times a backfill whose progress stream broke is followed again.
const FOLLOW_AGAIN_MAX: u64 = 5;

/// The reading status of a guild's servers (`server_id` empty) or of one, from the workers.
pub async fn reading_status(
    bot: &Bot,
    guild_id: u64,
    server_id: &str,
) -> Result<ServerStatusReply, tonic::Status> {
    Ok(bot
        .workers
        .call(|mut w| async move {
            w.server_status(ServerStatusRequest {
                guild_id,
                server_id: server_id.to_owned(),
            })
            .await
        })
        .await?
        .into_inner())
}

/// How a server's reading stands, from its breaker: an icon and the words.
pub fn reading_state(breaker: i32) -> (&'static str, &'static str) {
    match BreakerState::try_from(breaker) {
        Ok(BreakerState::Open) => ("❌", "paused after repeated failures"),
        Ok(BreakerState::HalfOpen) => ("⚠️", "retrying"),
        _ => ("✅", "ok"),
    }
}

/// When a server was last read, as a Discord relative time ("never" before its first).
pub fn last_read(unix_ms: i64) -> String {
    if unix_ms > 0 {
        format!("<t:{}:R>", unix_ms / 1000)
    } else {
        "never".to_owned()
    }
}

async fn status(bot: &Bot, caller: &Caller, killfeed: bool) -> Result<Reply, CommandError> {
    let reply = reading_status(bot, caller.guild_id, "").await?;
    let kind = if killfeed { "killfeed" } else { "log" };
    let title = if killfeed {
        "Killfeed (CSV) reading"
    } else {
        "Server log reading"
    };
    let description = reply
        .servers
        .is_empty()
        .then(|| "No game server is set up yet (/setup addserver).".to_owned());
    let mut fields = Vec::with_capacity(reply.servers.len() + 1);
    for s in &reply.servers {
        let name = s
            .server
            .as_ref()
            .map(|r| r.server_id.clone())
            .unwrap_or_default();
        let cursors: Vec<String> = s
            .cursors
            .iter()
            .filter(|c| c.kind.starts_with(kind) || (killfeed && c.kind.is_empty()))
            .map(|c| {
                // A second killfeed folder's slot is `killfeed:<folder>`: name the folder.
                let folder = c
                    .kind
                    .split_once(':')
                    .and_then(|(_, dir)| dir.rsplit('/').next())
                    .map(|d| format!("{} ", shown(d, 30)))
                    .unwrap_or_default();
                format!(
                    "{folder}`{}` at {} of {} bytes",
                    code(&c.file, 80),
                    c.offset,
                    c.size
                )
            })
            .collect();
        let (_, breaker) = reading_state(s.breaker);
        let last_poll = last_read(s.last_poll_unix_ms);
        let mut text = format!(
            "{} · every {} s · last read {last_poll} · lag {} ms · {breaker}",
            if s.enabled { "polled" } else { "disabled" },
            s.poll_interval_secs,
            s.lag_ms
        );
        if !cursors.is_empty() {
            text.push('\n');
            text.push_str(&cursors.join("\n"));
        }
        if !s.paused.is_empty() {
            text.push_str(&format!("\npaused: {}", clip(&s.paused, 300)));
        }
        if !s.last_error.is_empty() {
            text.push_str(&format!("\nlast error: {}", clip(&s.last_error, 200)));
        }
        if killfeed && s.quiet_lines > 0 {
            text.push_str(&format!(
                "\n{} lines of history counted without posts",
                s.quiet_lines
            ));
        }
        if killfeed && s.lost_bytes > 0 {
            text.push_str(&format!(
                "\n{} bytes lost: an interrupted read whose file shrank or vanished before it \
                 could be finished",
                s.lost_bytes
            ));
        }
        if s.blocked_notices > 0 {
            text.push_str(&format!(
                "\n{} notifications not posted: their channel refuses the bot (see /killfeed status)",
                s.blocked_notices
            ));
        }
        if s.stale_notices > 0 {
            text.push_str(&format!(
                "\n{} stale notifications not posted (older than the freshness limit)",
                s.stale_notices
            ));
        }
        fields.push((name, text));
    }
    if let Some(pool) = &reply.pool {
        fields.push((
            "SFTP connections".to_owned(),
            format!(
                "{} open, {} busy, limit {}",
                pool.open, pool.busy, pool.limit
            ),
        ));
    }
    Ok(Reply::embeds(super::field_embeds(
        title,
        colour::INFO,
        description,
        fields,
    )))
}

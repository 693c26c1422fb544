//! `/debug [error_id] [show_recent]`: the error behind an id that an error message gave
//! ("Error id E-… · admins: /debug E-…") with what to do about it, this Discord server's
//! recent errors, or with neither option an overview: the last 7 days' errors by kind, each
//! game server's reading health (last read, lag, breaker, connections) and the shard that
//! serves the guild. Errors come from the telemetry-collector; an admin sees only their own
//! server's, and the bot owner may look up any id.

use tower_proto::v1::{ErrorGroup, GetErrorRequest, GuildErrorsRequest};
use tower_store::ids::{GuildId, ShardRange};
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder};

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{clip, code, colour, shown};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// Recent errors listed at most.
const RECENT: u32 = 10;

pub async fn run(bot: &Bot, caller: &Caller, inv: &Invocation) -> Result<Reply, CommandError> {
    let error_id = inv
        .opt_str("error_id")?
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match (error_id, inv.opt_bool("show_recent")?) {
        (Some(id), _) => one(bot, caller, id).await,
        (None, Some(true)) => recent(bot, caller).await,
        (None, _) => overview(bot, caller).await,
    }
}

/// One error, scoped to the caller's Discord server unless the caller owns the bot.
async fn one(bot: &Bot, caller: &Caller, id: &str) -> Result<Reply, CommandError> {
    let guild_id = if bot.is_owner(caller.user_id) {
        0
    } else {
        caller.guild_id
    };
    let found = bot
        .collector
        .clone()
        .get_error(GetErrorRequest {
            error_id: id.to_owned(),
            guild_id,
        })
        .await;
    let group = match found {
        Ok(g) => g.into_inner(),
        Err(s) if s.code() == tonic::Code::NotFound => {
            return Err(CommandError::invalid(
                format!(
                    "No error `{}` happened in this Discord server.",
                    code(id, 20)
                ),
                "Copy the id from the error message (it starts with E-). Ids are kept for the \
                 collector's retention period; /debug show_recent lists the recent ones.",
            ));
        }
        Err(s) => {
            return Err(CommandError::failed(
                "The error log did not answer",
                s.message(),
            ));
        }
    };
    let mut embed = EmbedBuilder::new()
        .title(format!("Error {}", code(id, 20)))
        .color(colour::ERROR)
        .description(clip(&shown(&group.message, 1000), 1000));
    for (name, value) in facts(&group) {
        embed = embed.field(EmbedFieldBuilder::new(name, value).inline());
    }
    embed = embed.field(EmbedFieldBuilder::new(
        "What to do",
        crate::error_fixes::fix_for(&group.kind),
    ));
    Ok(Reply::embed(embed.build()))
}

/// What an error group says, as embed fields.
fn facts(g: &ErrorGroup) -> Vec<(&'static str, String)> {
    let when = |ms: i64| {
        if ms > 0 {
            format!("<t:{}:R>", ms / 1000)
        } else {
            "unknown".to_owned()
        }
    };
    let mut out = vec![
        ("Kind", format!("`{}`", code(&g.kind, 100))),
        ("Seen", format!("{} times", g.count)),
        ("First", when(g.first_seen_unix_ms)),
        ("Last", when(g.last_seen_unix_ms)),
    ];
    if let Some(c) = &g.last_context {
        if !c.server_id.is_empty() {
            out.push(("Game server", format!("`{}`", code(&c.server_id, 40))));
        }
        if !c.command.is_empty() {
            out.push(("Command", format!("`/{}`", code(&c.command, 60))));
        }
    }
    out
}

/// This Discord server's most recent errors.
async fn recent(bot: &Bot, caller: &Caller) -> Result<Reply, CommandError> {
    let errors = bot
        .collector
        .clone()
        .guild_errors(GuildErrorsRequest {
            guild_id: caller.guild_id,
            limit: RECENT,
        })
        .await
        .map_err(|s| CommandError::failed("The error log did not answer", s.message()))?
        .into_inner()
        .errors;
    let description = if errors.is_empty() {
        "No errors recorded for this Discord server.".to_owned()
    } else {
        errors
            .iter()
            .map(|e| {
                format!(
                    "`{}` {} — {}",
                    code(&e.last_error_id, 20),
                    if e.last_seen_unix_ms > 0 {
                        format!("<t:{}:R>", e.last_seen_unix_ms / 1000)
                    } else {
                        String::new()
                    },
                    clip(&shown(&e.message, 150), 150)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    Ok(Reply::embed(
        EmbedBuilder::new()
            .title("Recent errors")
            .color(colour::INFO)
            .description(clip(&description, 4000))
            .build(),
    ))
}

/// The 7 days the overview counts errors over.
const OVERVIEW_DAYS: i64 = 7;
/// Error groups read for the overview.
const OVERVIEW_GROUPS: u32 = 200;

/// With neither option: this guild's errors of the last 7 days by kind, each game server's
/// reading health, and the shard that serves the guild.
async fn overview(bot: &Bot, caller: &Caller) -> Result<Reply, CommandError> {
    let since =
        tower_daemon::telemetry::now_unix_ms().saturating_sub(OVERVIEW_DAYS * 24 * 3600 * 1000);
    let mut b = EmbedBuilder::new()
        .title("Diagnostics")
        .color(colour::INFO)
        .description(
            "`/debug error_id` explains one error; `/debug show_recent` lists the latest; \
             `/setup check server_id` checks a server end to end.",
        );
    let errors = match bot
        .collector
        .clone()
        .guild_errors(GuildErrorsRequest {
            guild_id: caller.guild_id,
            limit: OVERVIEW_GROUPS,
        })
        .await
    {
        Ok(r) => {
            let recent: Vec<ErrorGroup> = r
                .into_inner()
                .errors
                .into_iter()
                .filter(|e| e.last_seen_unix_ms >= since)
                .collect();
            error_summary(&recent)
        }
        Err(s) => format!("the error log did not answer: {}", clip(s.message(), 200)),
    };
    b = b.field(EmbedFieldBuilder::new(
        format!("Errors, last {OVERVIEW_DAYS} days"),
        clip(&errors, 1024),
    ));
    let status = super::sftp::reading_status(bot, caller.guild_id, "").await;
    let (servers, pool) = match status {
        Ok(r) => {
            let lines: Vec<String> = r
                .servers
                .iter()
                .map(|s| {
                    let id = s
                        .server
                        .as_ref()
                        .map(|r| r.server_id.as_str())
                        .unwrap_or("?");
                    let (icon, state) = super::sftp::reading_state(s.breaker);
                    let mut line = format!(
                        "`{}` {icon} {state} · last read {} · lag {} ms",
                        code(id, 32),
                        super::sftp::last_read(s.last_poll_unix_ms),
                        s.lag_ms
                    );
                    if !s.last_error.is_empty() {
                        line.push_str(&format!(" · {}", clip(&s.last_error, 80)));
                    }
                    line
                })
                .collect();
            let pool = r
                .pool
                .map(|p| format!("{} open, {} busy, limit {}", p.open, p.busy, p.limit));
            let servers = if lines.is_empty() {
                "No game server is set up (/setup addserver).".to_owned()
            } else {
                lines.join("\n")
            };
            (servers, pool)
        }
        Err(s) => (
            format!("no sftp-worker answered: {}", clip(s.message(), 200)),
            None,
        ),
    };
    b = b.field(EmbedFieldBuilder::new("Game servers", clip(&servers, 1024)));
    if let Some(pool) = pool {
        b = b.field(EmbedFieldBuilder::new("SFTP connections", pool).inline());
    }
    let shard = ShardRange::shard_of(GuildId(caller.guild_id), bot.shards.total);
    b = b.field(
        EmbedFieldBuilder::new(
            "Shard",
            format!(
                "{shard} of {} (this process runs {}–{})",
                bot.shards.total, bot.shards.first, bot.shards.last
            ),
        )
        .inline(),
    );
    Ok(Reply::embed(b.build()))
}

/// Error groups by kind: how many kinds, how often each was seen, the latest id of each.
fn error_summary(groups: &[ErrorGroup]) -> String {
    if groups.is_empty() {
        return "None.".to_owned();
    }
    let mut by_area: std::collections::BTreeMap<&str, (usize, u64)> = Default::default();
    for g in groups {
        let area = match g.kind.split('.').next().unwrap_or_default() {
            "sftp" | "poll" => "SFTP and reading",
            "posting" => "posting to Discord",
            "command" => "commands",
            _ => "other",
        };
        let entry = by_area.entry(area).or_default();
        entry.0 += 1;
        entry.1 += g.count;
    }
    let mut lines: Vec<String> = by_area
        .iter()
        .map(|(area, (kinds, seen))| {
            format!(
                "**{area}**: {kinds} kind(s) of error, {seen} occurrences since each first appeared"
            )
        })
        .collect();
    for g in groups.iter().take(5) {
        lines.push(format!(
            "`{}` {} — {}",
            code(&g.last_error_id, 20),
            code(&g.kind, 40),
            clip(&shown(&g.message, 100), 100)
        ));
    }
    lines.join("\n")
}

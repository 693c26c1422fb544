//! `/debug [error_id] [show_recent]`: the error behind an id that an error message gave
//! ("Error id E-… · admins: /debug E-…"), or this Discord server's recent errors, from the
//! telemetry-collector. An admin sees only their own server's errors; the bot owner may look
//! up any id.

use tower_proto::v1::{ErrorGroup, GetErrorRequest, GuildErrorsRequest};
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
    match error_id {
        Some(id) => one(bot, caller, id).await,
        // Without an id, the recent errors are the answer (`show_recent` or not).
        None => recent(bot, caller).await,
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

//! Answering interactions within Discord's deadline (3 s for the first response).
//!
//! A slash command runs on its own task. Fast commands answer directly; when one is still
//! running after [`DEFER_AFTER`] the interaction is deferred and the answer edits the
//! original response. Slow commands (SFTP) answer "working…" at once and edit it when done.
//! A failed command edits the response with a clear error and an error id.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

use twilight_model::application::command::CommandOptionChoice;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};

use tower_proto::v1::ErrorContext;

use crate::access::Caller;
use crate::bot::Bot;
use crate::commands::{self, Access};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};
use crate::rest::RestError;

/// How long a command may run before the interaction is deferred; well inside Discord's
/// 3 s, leaving room for the defer call itself.
pub const DEFER_AFTER: Duration = Duration::from_millis(1500);

/// The longest a command may run before it is reported as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn handle(bot: Arc<Bot>, shard: u32, interaction: Interaction) {
    match interaction.kind {
        InteractionType::ApplicationCommand => command(bot, shard, interaction).await,
        InteractionType::ApplicationCommandAutocomplete => autocomplete(bot, interaction).await,
        InteractionType::MessageComponent => component(bot, shard, interaction).await,
        other => tracing::debug!(kind = ?other, "interaction not handled"),
    }
}

async fn command(bot: Arc<Bot>, shard: u32, interaction: Interaction) {
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        tracing::warn!(id = %interaction.id, "command interaction without command data; ignored");
        return;
    };
    let inv = Invocation::from_data(data);
    let started = std::time::Instant::now();
    let Some(caller) = Caller::of(&interaction) else {
        let reply = Reply::done(
            "Servers only",
            "This bot's commands work in Discord servers, not in direct messages.",
        )
        .ephemeral();
        respond(&bot, &interaction, &reply).await;
        return;
    };
    let Some(spec) = commands::spec_of(&inv.path) else {
        let e = commands::unknown(&inv.path);
        let reply = failure(&bot, shard, &caller, &inv, &e);
        respond(&bot, &interaction, &reply).await;
        return;
    };

    if spec.slow {
        // Answer at once; the work edits this message.
        let working = Reply::done(
            "Working…",
            "This can take a little while; this message updates when it is done.",
        );
        if !respond(&bot, &interaction, &working).await {
            return;
        }
        let reply = run_checked(&bot, shard, &caller, &inv, spec).await;
        edit(&bot, &interaction, &reply).await;
    } else {
        let work = tokio::spawn({
            let bot = Arc::clone(&bot);
            let (caller, inv) = (caller.clone(), inv.clone());
            async move { run_checked(&bot, shard, &caller, &inv, spec).await }
        });
        tokio::pin!(work);
        tokio::select! {
            done = &mut work => {
                let reply = done.unwrap_or_else(|e| panicked(&bot, shard, &caller, &inv, &e));
                respond(&bot, &interaction, &reply).await;
            }
            () = tokio::time::sleep(DEFER_AFTER) => {
                if !defer(&bot, &interaction).await {
                    work.abort();
                    return;
                }
                let reply = work.await.unwrap_or_else(|e| panicked(&bot, shard, &caller, &inv, &e));
                edit(&bot, &interaction, &reply).await;
            }
        }
    }
    tracing::info!(command = %inv.path, guild = caller.guild_id, ms = started.elapsed().as_millis() as u64, "command answered");
}

/// Checks access and the premium tier, then runs the command; a failure becomes the
/// error reply (reported to telemetry with its error id).
async fn run_checked(
    bot: &Bot,
    shard: u32,
    caller: &Caller,
    inv: &Invocation,
    spec: commands::Spec,
) -> Reply {
    let result = async {
        match spec.access {
            Access::Anyone => {}
            Access::Admin => bot.require_admin(caller, &inv.path).await?,
            Access::PremiumGranter => bot.require_premium_granter(caller, &inv.path).await?,
            Access::BotOwner => bot.require_bot_owner(caller, &inv.path).await?,
        }
        bot.require_feature(caller, &inv.path, spec.feature).await?;
        match tokio::time::timeout(COMMAND_TIMEOUT, commands::run(bot, caller, inv)).await {
            Ok(r) => r,
            Err(_) => Err(CommandError::failed(
                "The command took too long and was stopped",
                "timeout",
            )),
        }
    }
    .await;
    match result {
        Ok(reply) => match reply.to_data() {
            Ok(_) => reply,
            Err(e) => failure(bot, shard, caller, inv, &e),
        },
        Err(e) => failure(bot, shard, caller, inv, &e),
    }
}

/// Reports a failure to telemetry and returns what the user sees.
pub fn failure(
    bot: &Bot,
    shard: u32,
    caller: &Caller,
    inv: &Invocation,
    e: &CommandError,
) -> Reply {
    let server_id = inv
        .opt_str("server_id")
        .ok()
        .flatten()
        .or_else(|| inv.opt_str("server").ok().flatten())
        .unwrap_or_default()
        .to_owned();
    let error_id = bot.telemetry.error(
        e.kind().as_str(),
        e.to_string(),
        &format!("gateway-shard/commands/{}", inv.path.replace(' ', "/")),
        Some(ErrorContext {
            guild_id: caller.guild_id,
            server_id,
            command: inv.path.clone(),
            shard: i32::try_from(shard).ok(),
        }),
    );
    if e.kind() == crate::reply::CommandErrorKind::Failed {
        tracing::warn!(command = %inv.path, guild = caller.guild_id, %error_id, error = %e, "command failed");
    }
    e.to_reply(&error_id)
}

fn panicked(
    bot: &Bot,
    shard: u32,
    caller: &Caller,
    inv: &Invocation,
    e: &tokio::task::JoinError,
) -> Reply {
    failure(
        bot,
        shard,
        caller,
        inv,
        &CommandError::failed("The command stopped unexpectedly", e),
    )
}

/// The first response. Returns whether Discord took it.
async fn respond(bot: &Bot, interaction: &Interaction, reply: &Reply) -> bool {
    let data = match reply.to_data() {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "a reply did not fit Discord's limits");
            return false;
        }
    };
    send_response(
        bot,
        interaction,
        InteractionResponseType::ChannelMessageWithSource,
        Some(data),
    )
    .await
}

async fn defer(bot: &Bot, interaction: &Interaction) -> bool {
    send_response(
        bot,
        interaction,
        InteractionResponseType::DeferredChannelMessageWithSource,
        None,
    )
    .await
}

async fn send_response(
    bot: &Bot,
    interaction: &Interaction,
    kind: InteractionResponseType,
    data: Option<InteractionResponseData>,
) -> bool {
    let response = InteractionResponse { kind, data };
    let client = bot.http.interaction(bot.application_id);
    let sent = bot
        .rate_limits
        .send(|| {
            client
                .create_response(interaction.id, &interaction.token, &response)
                .into_future()
        })
        .await;
    log_sent(sent.map(|_| ()), "respond to the interaction")
}

/// Replaces the original response (after a defer or a "working…").
async fn edit(bot: &Bot, interaction: &Interaction, reply: &Reply) -> bool {
    let client = bot.http.interaction(bot.application_id);
    let content = reply.content.as_deref();
    let sent = bot
        .rate_limits
        .send(|| {
            client
                .update_response(&interaction.token)
                .content(Some(content.unwrap_or_default()))
                .embeds(Some(&reply.embeds))
                .components(Some(&reply.components))
                .into_future()
        })
        .await;
    log_sent(sent.map(|_| ()), "edit the interaction response")
}

fn log_sent(result: Result<(), RestError>, what: &str) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not {what}");
            false
        }
    }
}

async fn autocomplete(bot: Arc<Bot>, interaction: Interaction) {
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        return;
    };
    let choices: Vec<CommandOptionChoice> = match Caller::of(&interaction) {
        Some(caller) => {
            let inv = Invocation::from_data(data);
            commands::autocomplete::suggest(&bot, &caller, &inv)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "autocomplete failed; suggesting nothing");
                    Vec::new()
                })
        }
        None => Vec::new(),
    };
    let data = InteractionResponseData {
        choices: Some(choices),
        ..InteractionResponseData::default()
    };
    send_response(
        &bot,
        &interaction,
        InteractionResponseType::ApplicationCommandAutocompleteResult,
        Some(data),
    )
    .await;
}

async fn component(bot: Arc<Bot>, shard: u32, interaction: Interaction) {
    let Some(InteractionData::MessageComponent(data)) = &interaction.data else {
        return;
    };
    let Some(caller) = Caller::of(&interaction) else {
        return;
    };
    let inv = Invocation {
        path: "stats player".to_owned(),
        options: Vec::new(),
    };
    let reply = match commands::stats::page_button(&bot, &caller, &data.custom_id).await {
        Ok(r) => r,
        Err(e) => failure(&bot, shard, &caller, &inv, &e),
    };
    let data = match reply.to_data() {
        Ok(d) => d,
        Err(_) => return,
    };
    // The caller's own button updates the message; a refusal is a private message.
    let kind = if reply.ephemeral {
        InteractionResponseType::ChannelMessageWithSource
    } else {
        InteractionResponseType::UpdateMessage
    };
    send_response(&bot, &interaction, kind, Some(data)).await;
}

//! Answering interactions within Discord's deadline (3 s for the first response).
//!
//! Access and premium are checked first: a refusal is answered at once, privately. The
//! command then runs on its own task. Fast commands answer directly; when one is still
//! running after [`DEFER_AFTER`] the interaction is deferred and the answer edits the
//! original response. Slow commands (SFTP) answer "working…" at once and edit it when done.
//! A failed command answers with a clear error and an error id, privately. Commands whose
//! answer is private are deferred privately too, since an edit cannot make a message
//! private; a private answer to a command acknowledged in public (an error) replaces the
//! public acknowledgement with a private follow-up.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument as _;

use twilight_model::application::command::CommandOptionChoice;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};

use tower_proto::v1::ErrorContext;
use tower_store::guilds::GuildSettings;
use twilight_model::channel::message::{Component, Embed, MessageFlags};

use crate::access::Caller;
use crate::bot::Bot;
use crate::commands;
use crate::options::Invocation;
use crate::progress::{PROGRESS_EDIT_EVERY, Progress};
use crate::reply::{CommandError, Reply};
use crate::rest::RestError;

/// How long a command may run before the interaction is deferred: short, so that the
/// user sees at once that the command was taken even while MongoDB is busy (under a
/// backfill a read can wait a second), while a quick command still answers in one message.
pub const DEFER_AFTER: Duration = Duration::from_millis(100);

/// A button press still working after this is acknowledged, then its message edited:
/// well within Discord's three seconds, and long enough that a page answered from the
/// statistics (milliseconds) updates in one step.
pub const PRESS_DEFER_AFTER: Duration = Duration::from_millis(1500);

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
    let mut inv = Invocation::from_data(data);
    inv.interaction_id = interaction.id.get();
    let started = std::time::Instant::now();
    let Some(caller) = Caller::of(&interaction) else {
        let reply = Reply::done(
            "Servers only",
            "This bot's commands work in Discord servers, not in direct messages.",
        )
        .ephemeral();
        respond(&bot, &interaction, &checked(reply)).await;
        return;
    };
    let Some(spec) = commands::spec_of(&inv.path) else {
        let e = commands::unknown(&inv.path);
        let reply = failure(&bot, shard, &caller, &inv, &e);
        respond(&bot, &interaction, &checked(reply)).await;
        return;
    };
    // Checked before anything is shown, so a refusal is answered at once and privately.
    let guild = match bot
        .admit(&caller, &inv.path, spec.access, spec.feature)
        .await
    {
        Ok(guild) => guild,
        Err(refusal) => {
            let reply = checked(failure(&bot, shard, &caller, &inv, &refusal.error));
            // Answered while the refusal is audited: the user does not wait on MongoDB.
            tokio::join!(
                respond(&bot, &interaction, &reply),
                bot.audit_refusal(&caller, &inv.path, &refusal)
            );
            return;
        }
    };

    let admin_channel = guild.admin_channel;
    let (progress, mut progress_shown) = Progress::channel();
    // One trace per command when OTLP export is on.
    let span = tracing::info_span!("command", command = %inv.path, guild = caller.guild_id);
    let work = tokio::spawn(
        {
            let bot = Arc::clone(&bot);
            let (caller, inv) = (caller.clone(), inv.clone());
            async move { run(&bot, shard, &caller, &guild, &inv, spec, &progress).await }
        }
        .instrument(span),
    );
    tokio::pin!(work);
    // Slow commands acknowledge at once; others only if they are still running at
    // DEFER_AFTER.
    let acknowledge_after = if spec.slow {
        Duration::ZERO
    } else {
        DEFER_AFTER
    };
    let (first_response, deferred) = tokio::select! {
        biased;
        done = &mut work => {
            let messages = done.unwrap_or_else(|e| panicked(&bot, shard, &caller, &inv, &e));
            let (first, rest) = split_first(messages);
            if respond(&bot, &interaction, &first).await {
                follow_up(&bot, &interaction, &rest).await;
            }
            (started.elapsed(), false)
        }
        // Not a zero-length timer for slow commands: it waits for the timer's next tick
        // (a millisecond), time enough for a quick failure to skip the "Working…".
        () = async {
            if !acknowledge_after.is_zero() {
                tokio::time::sleep(acknowledge_after).await;
            }
        } => {
            if !acknowledge(&bot, &interaction, spec).await {
                work.abort();
                return;
            }
            let acknowledged = started.elapsed();
            let messages = show_progress(&bot, &interaction, &mut work, &mut progress_shown)
                .await
                .unwrap_or_else(|e| panicked(&bot, shard, &caller, &inv, &e));
            let (first, rest) = split_first(messages);
            if finish(&bot, &interaction, spec, &first).await {
                follow_up(&bot, &interaction, &rest).await;
            }
            (acknowledged, true)
        }
    };
    // Problems only admins can fix: told once, here when the guild has no admin channel.
    if spec.access == crate::access::Access::Admin {
        tell_admin(&bot, &interaction, caller.guild_id, admin_channel).await;
    }
    tower_daemon::metrics::instruments().commands.add(
        1,
        &[tower_daemon::metrics::KeyValue::new(
            "command",
            inv.path.clone(),
        )],
    );
    // `first_ms`: until Discord had a first response (what the user waits for to see the
    // command taken); `ms`: until the answer was complete.
    tracing::info!(
        command = %inv.path,
        guild = caller.guild_id,
        first_ms = first_response.as_millis() as u64,
        deferred,
        ms = started.elapsed().as_millis() as u64,
        "command answered"
    );
}

/// Waits for an acknowledged command's answer, editing the response with each step of
/// its progress meanwhile (at most once every [`PROGRESS_EDIT_EVERY`]).
async fn show_progress(
    bot: &Bot,
    interaction: &Interaction,
    work: &mut std::pin::Pin<&mut tokio::task::JoinHandle<Vec<InteractionResponseData>>>,
    shown: &mut tokio::sync::watch::Receiver<Option<Reply>>,
) -> Result<Vec<InteractionResponseData>, tokio::task::JoinError> {
    let mut next_edit = tokio::time::Instant::now();
    loop {
        tokio::select! {
            biased;
            done = &mut *work => return done,
            changed = shown.changed() => {
                if changed.is_err() {
                    // The command is done with its progress: its answer follows.
                    return work.await;
                }
            }
        }
        tokio::select! {
            biased;
            done = &mut *work => return done,
            () = tokio::time::sleep_until(next_edit) => {}
        }
        let step = shown.borrow_and_update().clone();
        if let Some(step) = step {
            edit(bot, interaction, &checked(step)).await;
            next_edit = tokio::time::Instant::now() + PROGRESS_EDIT_EVERY;
        }
    }
}

/// Runs an admitted command; its reply, or its failure (reported to telemetry with its
/// error id), as messages that fit Discord's limits (a long list takes several).
async fn run(
    bot: &Bot,
    shard: u32,
    caller: &Caller,
    guild: &GuildSettings,
    inv: &Invocation,
    spec: commands::Spec,
    progress: &Progress,
) -> Vec<InteractionResponseData> {
    let result = match tokio::time::timeout(
        COMMAND_TIMEOUT,
        commands::run(bot, caller, guild, inv, progress),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(CommandError::failed(
            "The command took too long and was stopped",
            "timeout",
        )),
    };
    let reply = match result {
        Ok(mut reply) => {
            reply.ephemeral |= spec.private;
            match reply.messages() {
                Ok(messages) => return messages,
                Err(e) => failure(bot, shard, caller, inv, &e),
            }
        }
        Err(e) => failure(bot, shard, caller, inv, &e),
    };
    vec![checked(reply)]
}

/// Sends the admin who just ran a command a private note of the guild's problems only an
/// admin can fix that no admin has been told of, unless the guild's admin channel gets
/// them ([`crate::admin_alerts`]).
async fn tell_admin(bot: &Bot, interaction: &Interaction, guild: u64, admin_channel: Option<u64>) {
    let alerts = crate::admin_alerts::AdminAlerts::new(&bot.db);
    let due = async {
        if crate::admin_alerts::usable_admin_channel(bot, admin_channel)
            .await?
            .is_some()
        {
            return Ok(Vec::new());
        }
        alerts.due(&bot.channel_blocks, guild).await
    };
    let due = match due.await {
        Ok(due) if !due.is_empty() => due,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(guild, error = %e, "could not read the problems admins fix");
            return;
        }
    };
    // One follow-up per kind of note: those not sent are given back to be told later.
    let mut unsent = crate::admin_alerts::messages(&due).into_iter();
    while let Some((embed, notes)) = unsent.next() {
        let note = checked(Reply::embed(embed).ephemeral());
        if !follow_up(bot, interaction, &[note]).await {
            let rest: Vec<crate::admin_alerts::Alert> = notes
                .into_iter()
                .chain(unsent.by_ref().flat_map(|(_, n)| n))
                .collect();
            alerts.release(&bot.channel_blocks, &rest).await;
            return;
        }
    }
}

/// The first message of an answer, and the follow-ups.
fn split_first(
    mut messages: Vec<InteractionResponseData>,
) -> (InteractionResponseData, Vec<InteractionResponseData>) {
    if messages.is_empty() {
        return (InteractionResponseData::default(), Vec::new());
    }
    let first = messages.remove(0);
    (first, messages)
}

/// The rest of a long answer, in order, each as private as the answer.
/// Whether every one went out.
async fn follow_up(bot: &Bot, interaction: &Interaction, rest: &[InteractionResponseData]) -> bool {
    let client = bot.http.interaction(bot.application_id);
    for data in rest {
        let (content, embeds, components) = message_parts(data);
        let sent = bot
            .rate_limits
            .send_unheld(|| {
                let mut followup = client
                    .create_followup(&interaction.token)
                    .content(content)
                    .embeds(embeds)
                    .components(components);
                if let Some(flags) = data.flags {
                    followup = followup.flags(flags);
                }
                followup.into_future()
            })
            .await;
        if !log_sent(sent.map(|_| ()), "send the rest of a long answer") {
            return false;
        }
    }
    true
}

/// A reply of ours as response data. Error and notice replies are short and always fit;
/// should one not, a plain line stands in for it.
fn checked(reply: Reply) -> InteractionResponseData {
    reply.to_data().unwrap_or_else(|e| {
        tracing::error!(error = %e, "a reply did not fit Discord's limits");
        InteractionResponseData {
            content: Some("Something went wrong showing this answer.".to_owned()),
            flags: Some(MessageFlags::EPHEMERAL),
            ..InteractionResponseData::default()
        }
    })
}

/// Tells Discord the answer is coming: "Working…" for slow commands, a defer (Discord's
/// "thinking…") for others; private when the answer will be. Returns whether it took it.
async fn acknowledge(bot: &Bot, interaction: &Interaction, spec: commands::Spec) -> bool {
    let flags = spec.private.then_some(MessageFlags::EPHEMERAL);
    if spec.slow {
        let mut working = Reply::done(
            "Working…",
            "This can take a little while; this message updates when it is done.",
        );
        working.ephemeral = spec.private;
        return respond(bot, interaction, &checked(working)).await;
    }
    let data = InteractionResponseData {
        flags,
        ..InteractionResponseData::default()
    };
    send_response(
        bot,
        interaction,
        InteractionResponseType::DeferredChannelMessageWithSource,
        Some(data),
    )
    .await
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
) -> Vec<InteractionResponseData> {
    vec![checked(failure(
        bot,
        shard,
        caller,
        inv,
        &CommandError::failed("The command stopped unexpectedly", e),
    ))]
}

/// The first response, a message. Returns whether Discord took it.
async fn respond(bot: &Bot, interaction: &Interaction, data: &InteractionResponseData) -> bool {
    send_response(
        bot,
        interaction,
        InteractionResponseType::ChannelMessageWithSource,
        Some(data.clone()),
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
    // Interaction callbacks do not count against the bot's global limit.
    let sent = bot
        .rate_limits
        .send_unheld(|| {
            client
                .create_response(interaction.id, &interaction.token, &response)
                .into_future()
        })
        .await;
    log_sent(sent.map(|_| ()), "respond to the interaction")
}

/// Completes an acknowledged command with its answer. An edit cannot make a message
/// private: a private answer (an error, say) to a command acknowledged in public replaces
/// the public "thinking…" or "Working…" message with a private follow-up.
async fn finish(
    bot: &Bot,
    interaction: &Interaction,
    spec: commands::Spec,
    data: &InteractionResponseData,
) -> bool {
    let private = data
        .flags
        .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL));
    if !private || spec.private {
        return edit(bot, interaction, data).await;
    }
    let client = bot.http.interaction(bot.application_id);
    let deleted = bot
        .rate_limits
        .send_unheld(|| client.delete_response(&interaction.token).into_future())
        .await;
    log_sent(deleted.map(|_| ()), "remove the public acknowledgement");
    let (content, embeds, components) = message_parts(data);
    let sent = bot
        .rate_limits
        .send_unheld(|| {
            client
                .create_followup(&interaction.token)
                .flags(MessageFlags::EPHEMERAL)
                .content(content)
                .embeds(embeds)
                .components(components)
                .into_future()
        })
        .await;
    log_sent(sent.map(|_| ()), "send the private answer")
}

/// A response's text, embeds and components, empty where it has none.
fn message_parts(data: &InteractionResponseData) -> (&str, &[Embed], &[Component]) {
    (
        data.content.as_deref().unwrap_or_default(),
        data.embeds.as_deref().unwrap_or_default(),
        data.components.as_deref().unwrap_or_default(),
    )
}

async fn edit(bot: &Bot, interaction: &Interaction, data: &InteractionResponseData) -> bool {
    let client = bot.http.interaction(bot.application_id);
    let (content, embeds, components) = message_parts(data);
    let sent = bot
        .rate_limits
        .send_unheld(|| {
            client
                .update_response(&interaction.token)
                .content(Some(content))
                .embeds(Some(embeds))
                .components(Some(components))
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
    let (custom_id, values) = (data.custom_id.clone(), data.values.clone());
    let work = tokio::spawn({
        let bot = Arc::clone(&bot);
        async move { pressed(&bot, shard, &caller, &custom_id, &values).await }
    });
    tokio::pin!(work);
    let failed = |e: tokio::task::JoinError| {
        tracing::error!(error = %e, "a button's work panicked");
        Reply::done("Something went wrong", "Try again in a minute.").ephemeral()
    };
    tokio::select! {
        biased;
        done = &mut work => {
            let reply = done.unwrap_or_else(failed);
            // The caller's own button updates the message; a refusal is a private message.
            let kind = if reply.ephemeral {
                InteractionResponseType::ChannelMessageWithSource
            } else {
                InteractionResponseType::UpdateMessage
            };
            send_response(&bot, &interaction, kind, Some(checked(reply))).await;
        }
        // A page that reads much (a player's history) acknowledges first, within Discord's
        // three seconds, then edits the message in.
        () = tokio::time::sleep(PRESS_DEFER_AFTER) => {
            let kind = InteractionResponseType::DeferredUpdateMessage;
            if !send_response(&bot, &interaction, kind, None).await {
                work.abort();
                return;
            }
            let reply = work.await.unwrap_or_else(failed);
            let private = reply.ephemeral;
            let data = checked(reply);
            if private {
                follow_up(&bot, &interaction, std::slice::from_ref(&data)).await;
            } else {
                edit(&bot, &interaction, &data).await;
            }
        }
    }
}

/// What a pressed button or a chosen menu value answers: its command's page, or a
/// refusal (access and tier are checked again: the guild may have been downgraded since
/// the message was sent).
async fn pressed(
    bot: &Bot,
    shard: u32,
    caller: &Caller,
    custom_id: &str,
    values: &[String],
) -> Reply {
    let inv = Invocation {
        path: commands::button_command(custom_id)
            .unwrap_or("unknown button")
            .to_owned(),
        options: Vec::new(),
        interaction_id: 0,
        target_user: None,
        bots: Vec::new(),
    };
    match commands::spec_of(&inv.path) {
        Some(spec) => match bot
            .admit(caller, &inv.path, spec.access, spec.feature)
            .await
        {
            Ok(_) => match commands::press(bot, caller, &inv.path, custom_id, values).await {
                Ok(r) => r,
                Err(e) => failure(bot, shard, caller, &inv, &e),
            },
            Err(refusal) => {
                bot.audit_refusal(caller, &inv.path, &refusal).await;
                failure(bot, shard, caller, &inv, &refusal.error)
            }
        },
        None => failure(bot, shard, caller, &inv, &commands::unknown(&inv.path)),
    }
}

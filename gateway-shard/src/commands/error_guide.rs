//! `/error_guide error_type [command]`: how to resolve the usual problems, written from
//! this bot's own facts (the game server's file layout, `/test_sftp`'s steps, the
//! permissions the bot needs, the tier table). `command_usage` explains one command from
//! the registered schema, so it cannot drift from what Discord shows.

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionType, CommandType,
};
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};

use tower_store::tier::{Tier, TierTable};

use crate::access::Access;
use crate::bot::Bot;
use crate::embeds::{clip, code, colour};
use crate::options::Invocation;
use crate::reply::{CommandError, Reply};

/// The guides, as the earlier bot named them (its option's choices).
pub const GUIDES: &[(&str, &str)] = &[
    ("SFTP Connection Issues", "sftp_connection"),
    ("Command Usage Help", "command_usage"),
    ("Rate Limit Information", "rate_limit"),
    ("Permission Problems", "missing_permission"),
    ("General Troubleshooting", "general"),
];

const FOOTER: &str = "Still stuck? Admins: /setup check server_id, then /debug with the error id";

pub fn run(bot: &Bot, inv: &Invocation) -> Result<Reply, CommandError> {
    let embed = match inv.str("error_type")? {
        "sftp_connection" => sftp_connection(),
        "command_usage" => {
            let schema = super::schema();
            command_usage(&schema, &bot.tiers, inv.opt_str("command")?)?
        }
        "rate_limit" => rate_limit(&bot.tiers),
        "missing_permission" => missing_permission(),
        "general" => general(),
        other => {
            return Err(CommandError::invalid(
                format!("There is no guide called `{}`.", code(other, 40)),
                "Pick one of the choices Discord offers for error_type.",
            ));
        }
    };
    Ok(Reply::embed(embed))
}

fn guide(title: &str, description: &str, fields: &[(&str, String)]) -> EmbedBuilder {
    let mut b = EmbedBuilder::new()
        .title(title)
        .color(colour::INFO)
        .description(description)
        .footer(EmbedFooterBuilder::new(FOOTER));
    for (name, value) in fields {
        b = b.field(EmbedFieldBuilder::new(*name, clip(value, 1024)));
    }
    b
}

fn sftp_connection() -> twilight_model::channel::message::Embed {
    guide(
        "📁 SFTP Connection Troubleshooting Guide",
        "The bot reads your game server's log files over SFTP, with the details an admin gave \
         `/setup addserver`. `/test_sftp server` tries every step and shows which one fails.",
        &[
            (
                "1. The server's details",
                "Host, SFTP port, user name and password come from your game host's panel. The \
                 SFTP port is often 22 or 8822, never the game port. `/setup list_servers` shows \
                 what the bot has; to change them, `/setup removeserver` and `/setup addserver` \
                 again (statistics are kept)."
                    .to_owned(),
            ),
            (
                "2. What each failed step means",
                "**resolve**: the host name does not exist · **connect**: nothing answers at \
                 that host and port (wrong port, server offline, a firewall) · **handshake**: \
                 not an SSH server, or its host key changed · **auth**: user name or password \
                 refused · **sftp**: the host gives this user no SFTP · **find_killfeed**: the \
                 killfeed folder is not where the game writes it (below)."
                    .to_owned(),
            ),
            (
                "3. The files the bot reads",
                "Kills: `<host>_<server_id>/actual1/deathlogs/world_*/YYYY.MM.DD-HH.MM.SS.csv`; \
                 events and connections: `<host>_<server_id>/Logs/Deadside.log`. The server_id \
                 is the number in that folder's name. `/list_sftp_files` shows what the bot \
                 sees."
                    .to_owned(),
            ),
            (
                "4. A changed host key",
                "The bot trusts a server's host key on first connection and refuses a different \
                 one afterwards (someone could be in the middle). If your host really moved the \
                 server, remove and add it again."
                    .to_owned(),
            ),
            (
                "5. Try another client",
                "If FileZilla or `sftp` with the same details fails too, the details or the \
                 server are the problem; if they work and the bot does not, run /setup check and \
                 give the bot's operator the error id."
                    .to_owned(),
            ),
        ],
    )
    .build()
}

/// One command explained from the schema: what it does, its options, who may run it and
/// the tier it needs.
fn command_usage(
    schema: &[Command],
    tiers: &TierTable,
    wanted: Option<&str>,
) -> Result<twilight_model::channel::message::Embed, CommandError> {
    let paths = super::command_paths(schema);
    let Some(wanted) = wanted.map(|w| w.trim().trim_start_matches('/').to_lowercase()) else {
        let list = paths
            .iter()
            .map(|p| format!("`/{p}`"))
            .collect::<Vec<_>>()
            .join(" · ");
        return Ok(guide(
            "❓ Command Usage Guide",
            "Give a command in the `command` option (it suggests them as you type) to see its \
             options, who may run it and the tier it needs.",
            &[("Commands", list)],
        )
        .build());
    };
    let Some((command, sub)) = find(schema, &wanted) else {
        return Err(CommandError::invalid(
            format!("`/{}` is not a command of this bot.", code(&wanted, 60)),
            "Pick one of the suggestions in the command option, or see /commands.",
        ));
    };
    let (path, description, options) = match sub {
        Some(s) => (
            format!("{} {}", command.name, s.name),
            s.description.clone(),
            s.options.clone().unwrap_or_default(),
        ),
        None => (
            command.name.clone(),
            command.description.clone(),
            command.options.clone(),
        ),
    };
    let syntax = std::iter::once(format!("/{path}"))
        .chain(options.iter().map(|o| {
            if o.required == Some(true) {
                format!("{}:", o.name)
            } else {
                format!("[{}:]", o.name)
            }
        }))
        .collect::<Vec<_>>()
        .join(" ");
    let params = if options.is_empty() {
        "none".to_owned()
    } else {
        options
            .iter()
            .map(option_line)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let who = match super::spec_of(&path) {
        Some(spec) => {
            let access = match spec.access {
                Access::Anyone => "anyone",
                Access::Admin => {
                    "admins: Administrator, the bot admin role (/admin setrole) or the bot owner"
                }
                Access::PremiumGranter => "admins of the bot's home server, or the bot owner",
                Access::BotOwner => "the bot owner",
            };
            let tier = spec.feature.min_tier();
            format!(
                "{access} · needs the {} tier or higher",
                tier_name(tiers, tier)
            )
        }
        None => "—".to_owned(),
    };
    Ok(guide(
        &format!("❓ Command Usage Guide: /{path}"),
        &description,
        &[
            ("Syntax", format!("`{}`", code(&syntax, 1000))),
            ("Parameters", params),
            ("Who may use it", who),
        ],
    )
    .build())
}

/// The command or subcommand at `path` ("setup addserver", "debug").
fn find<'a>(schema: &'a [Command], path: &str) -> Option<(&'a Command, Option<&'a CommandOption>)> {
    // A context-menu command is named as shown ("View Rivalries"), spaces and all.
    if let Some(menu) = schema
        .iter()
        .find(|c| c.kind != CommandType::ChatInput && c.name.eq_ignore_ascii_case(path))
    {
        return Some((menu, None));
    }
    let mut words = path.split_whitespace();
    let name = words.next()?;
    let command = schema.iter().find(|c| c.name == name)?;
    match words.next() {
        None => {
            let has_subs = command
                .options
                .iter()
                .any(|o| o.kind == CommandOptionType::SubCommand);
            // A command with subcommands cannot run alone: explain its first.
            let first = command
                .options
                .iter()
                .find(|o| o.kind == CommandOptionType::SubCommand);
            Some((command, if has_subs { first } else { None }))
        }
        Some(sub) => {
            let s = command
                .options
                .iter()
                .find(|o| o.kind == CommandOptionType::SubCommand && o.name == sub)?;
            Some((command, Some(s)))
        }
    }
}

fn option_line(o: &CommandOption) -> String {
    let kind = match o.kind {
        CommandOptionType::String => "text",
        CommandOptionType::Integer => "whole number",
        CommandOptionType::Number => "number",
        CommandOptionType::Boolean => "true/false",
        CommandOptionType::User => "user",
        CommandOptionType::Channel => "channel",
        CommandOptionType::Role => "role",
        CommandOptionType::Mentionable => "user or role",
        CommandOptionType::Attachment => "file",
        _ => "value",
    };
    let required = if o.required == Some(true) {
        "required"
    } else {
        "optional"
    };
    let choices = o
        .choices
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| {
            format!(
                "; one of {}",
                c.iter()
                    .map(|c| format!("`{}`", c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .unwrap_or_default();
    let suggests = if o.autocomplete == Some(true) {
        "; suggests values as you type"
    } else {
        ""
    };
    format!(
        "**{}** ({kind}, {required}): {}{choices}{suggests}",
        o.name, o.description
    )
}

fn tier_name(tiers: &TierTable, tier: Tier) -> String {
    tiers.limits(tier).name.clone()
}

fn rate_limit(tiers: &TierTable) -> twilight_model::channel::message::Embed {
    let rows = tiers
        .rows()
        .iter()
        .map(|t| {
            format!(
                "**{}**: read every {} s · {} MiB and {} lines per hour · {} SFTP connection(s)",
                t.name,
                t.killfeed_poll_secs,
                t.ingest_mib_per_hour,
                t.ingest_lines_per_hour,
                t.sftp_connections
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    guide(
        "⏱️ Rate Limit Information",
        "Two kinds of limit can slow the bot down; neither loses a kill.",
        &[
            (
                "Discord's limits",
                "Discord limits how fast a bot may post and rename channels. The bot waits them \
                 out and posts everything, in order, as soon as Discord allows; a player-count \
                 channel is renamed at most twice in 10 minutes (Discord's limit), so its name \
                 can lag the count."
                    .to_owned(),
            ),
            (
                "Reading limits by tier",
                format!(
                    "{rows}\nPast an hour's allowance, reading pauses until the next clock hour \
                     and then goes on from where it stopped: nothing is skipped. /csv_status \
                     says when a server is paused."
                ),
            ),
            (
                "How to resolve",
                "Wait: the bot catches up by itself. A backfill of a long history \
                 (/historical_parse) uses the same allowance, so it can take several hours on \
                 the lower tiers; /premium shows the tiers."
                    .to_owned(),
            ),
        ],
    )
    .build()
}

fn missing_permission() -> twilight_model::channel::message::Embed {
    guide(
        "🔒 Permission Problems",
        "Two kinds: what the bot may do in your channels, and what you may do with the bot.",
        &[
            (
                "1. The bot in its channels",
                "In every killfeed, events and connections channel the bot's role needs **View \
                 Channel**, **Send Messages** and **Embed Links**; in the player-count voice \
                 channel, **View Channel**, **Connect** and **Manage Channels**. `/setup check server_id` \
                 reads them from Discord and names what is missing where."
                    .to_owned(),
            ),
            (
                "2. After fixing a channel",
                "When Discord refuses a post, the bot stops posting to that channel (each refusal \
                 counts against the bot with Discord) and tells the admins. Once the permissions \
                 are right, run `/setup channels server_id` once: posting there starts again."
                    .to_owned(),
            ),
            (
                "3. Admin commands",
                "Setting up servers and channels, feeds, backfills and diagnostics need the \
                 Administrator permission, the bot admin role (`/admin setrole`), or the bot's \
                 owner."
                    .to_owned(),
            ),
            (
                "4. Premium features",
                "Some commands need a tier: `/error_guide command_usage` shows which for each \
                 command, and `/premium features` lists them all."
                    .to_owned(),
            ),
        ],
    )
    .build()
}

fn general() -> twilight_model::channel::message::Embed {
    guide(
        "❓ Troubleshooting Guide",
        "Follow these steps to resolve your issue:",
        &[
            (
                "1. Nothing is posting",
                "`/setup check server_id` goes through everything a server's messages depend \
                 on (tier, SFTP, the killfeed files, the reading, the feeds, the bot's \
                 permissions) and gives the fix for each problem."
                    .to_owned(),
            ),
            (
                "2. Check the command",
                "`/error_guide command_usage command:` explains any command: its options, who \
                 may use it and the tier it needs. `/commands` lists them."
                    .to_owned(),
            ),
            (
                "3. An error message",
                "Every failure ends with an error id (E-…). An admin runs `/debug error_id` to \
                 see what happened and what to do; `/debug show_recent` lists this server's \
                 recent errors."
                    .to_owned(),
            ),
            (
                "4. Reading status",
                "`/csv_status` and `/log_status` show, for each game server, the file and \
                 position being read, when it was last read and any error."
                    .to_owned(),
            ),
        ],
    )
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_usage_explains_a_command_from_the_schema() {
        let schema = super::super::schema();
        let tiers = TierTable::default();
        let Ok(embed) = command_usage(&schema, &tiers, Some("/setup addserver")) else {
            panic!("setup addserver is a command");
        };
        assert_eq!(
            embed.title.as_deref(),
            Some("❓ Command Usage Guide: /setup addserver")
        );
        let text: String = embed
            .fields
            .iter()
            .map(|f| format!("{}\n{}\n", f.name, f.value))
            .collect();
        assert!(text.contains("**port** (whole number, required)"), "{text}");
        assert!(text.contains("admins"), "{text}");
        assert!(command_usage(&schema, &tiers, Some("no_such_command")).is_err());
        // Every path of the schema can be explained.
        for path in super::super::command_paths(&schema) {
            assert!(
                command_usage(&schema, &tiers, Some(&path)).is_ok(),
                "{path}"
            );
        }
    }

    #[test]
    fn every_guide_fits_in_a_discord_embed() {
        let tiers = TierTable::default();
        for embed in [
            sftp_connection(),
            rate_limit(&tiers),
            missing_permission(),
            general(),
        ] {
            assert!(twilight_validate::embed::embed(&embed).is_ok(), "{embed:?}");
        }
    }
}

//! `/commands`: getting started and a menu of command categories (each listing its
//! commands from the registered schema); `/admin help` and `/events help`; as the earlier
//! bot had them.

use twilight_model::application::command::{Command, CommandOptionType};
use twilight_model::channel::message::component::SelectMenuType;
use twilight_model::channel::message::{Component, Embed, EmojiReactionType};
use twilight_util::builder::embed::{EmbedBuilder, EmbedFieldBuilder, EmbedFooterBuilder};
use twilight_util::builder::message::{
    ActionRowBuilder, SelectMenuBuilder, SelectMenuOptionBuilder,
};

use tower_daemon::telemetry::now_unix_ms;

use crate::embeds::{clip, colour};
use crate::reply::{CommandError, Reply};

/// The help menu's categories, as the earlier bot grouped its commands: (key, label,
/// emoji, top-level commands).
pub const CATEGORIES: [(&str, &str, &str, &[&str]); 8] = [
    (
        "admin",
        "Admin",
        "🛡️",
        &["admin", "debug", "error_guide", "commands"],
    ),
    (
        "setup",
        "Setup",
        "⚙️",
        &[
            "setup",
            "settings",
            "test_sftp",
            "list_sftp_files",
            "get_latest_logs",
            "download_log",
        ],
    ),
    (
        "killfeed",
        "Killfeed",
        "☠️",
        &["killfeed", "link", "unlink", "myplayers"],
    ),
    ("events", "Events", "🔔", &["events"]),
    (
        "stats",
        "Stats",
        "📊",
        &[
            "stats",
            "leaderboard_channel",
            "status_channel",
            "rivalry",
            "View Rivalries",
            "faction",
            "View Faction",
        ],
    ),
    (
        "economy",
        "Economy",
        "💰",
        &["economy", "bounty", "gambling"],
    ),
    ("premium", "Premium", "✨", &["premium"]),
    (
        "parser",
        "Parser",
        "📋",
        &[
            "historical_parse",
            "process_csv",
            "process_logs",
            "clear_csv_cache",
            "reset_stats",
            "csv_status",
            "log_status",
        ],
    ),
];

/// How long the menu answers (the earlier bot's 10 minutes).
const MENU_FOR_SECS: i64 = 600;

/// The category menu of a `/commands` answer, carried in its `custom_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpMenu {
    pub caller: u64,
    pub expires_unix: i64,
}

impl HelpMenu {
    pub const PREFIX: &'static str = "hm";

    pub fn custom_id(&self) -> String {
        format!(
            "{}|{}|{}",
            Self::PREFIX,
            super::buttons::radix36(self.caller),
            super::buttons::radix36_time(self.expires_unix)
        )
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let mut parts = custom_id.split('|');
        if parts.next()? != Self::PREFIX {
            return None;
        }
        let caller = super::buttons::from_radix36(parts.next()?)?;
        let expires_unix = i64::try_from(super::buttons::from_radix36(parts.next()?)?).ok()?;
        parts.next().is_none().then_some(Self {
            caller,
            expires_unix,
        })
    }

    fn component(&self) -> Component {
        let mut menu = SelectMenuBuilder::new(self.custom_id(), SelectMenuType::Text)
            .placeholder("Choose a category");
        for (key, label, emoji, _) in CATEGORIES {
            menu = menu.option(
                SelectMenuOptionBuilder::new(label, key)
                    .emoji(EmojiReactionType::Unicode {
                        name: emoji.to_owned(),
                    })
                    .build(),
            );
        }
        Component::ActionRow(
            ActionRowBuilder::new()
                .component(Component::SelectMenu(menu.build()))
                .build(),
        )
    }
}

/// `/commands`: getting started, where premium is explained, and a menu of categories
/// that only the caller can use.
pub fn commands(caller: u64) -> Reply {
    let menu = HelpMenu {
        caller,
        expires_unix: now_unix_ms() / 1000 + MENU_FOR_SECS,
    };
    let embed = EmbedBuilder::new()
        .title("Tower of Temptation — Commands")
        .description(
            "Use the dropdown menu below to navigate through different command categories.",
        )
        .color(colour::INFO)
        .field(EmbedFieldBuilder::new(
            "Getting Started",
            "1️⃣ Add a game server with `/setup addserver`\n\
             2️⃣ Choose its channels with `/setup channels`\n\
             3️⃣ Start posting with `/killfeed start` and `/events start`",
        ))
        .field(EmbedFieldBuilder::new(
            "Premium Features",
            "What each tier unlocks: `/premium features`.",
        ))
        .footer(EmbedFooterBuilder::new(
            "Use /commands to see this help menu again",
        ))
        .build();
    Reply::embed(embed).with_components(vec![menu.component()])
}

/// One category's commands, each subcommand on its line, from the registered schema.
pub fn category(schema: &[Command], key: &str) -> Option<Embed> {
    let (_, label, emoji, names) = CATEGORIES.iter().find(|(k, ..)| *k == key)?;
    let mut b = EmbedBuilder::new()
        .title(format!("{emoji} {label} Commands"))
        .color(colour::INFO)
        .footer(EmbedFooterBuilder::new(
            "Server and player options suggest values as you type. Admin commands need the Administrator permission or the bot admin role.",
        ));
    for c in schema.iter().filter(|c| names.contains(&c.name.as_str())) {
        if c.kind == twilight_model::application::command::CommandType::User {
            b = b.field(EmbedFieldBuilder::new(
                c.name.clone(),
                "On a member: right-click (or long-press) → Apps",
            ));
            continue;
        }
        let subs: Vec<String> = c
            .options
            .iter()
            .filter(|o| o.kind == CommandOptionType::SubCommand)
            .map(|o| format!("`/{} {}` — {}", c.name, o.name, o.description))
            .collect();
        let text = if subs.is_empty() {
            c.description.clone()
        } else {
            subs.join("\n")
        };
        b = b.field(EmbedFieldBuilder::new(
            format!("/{}", c.name),
            clip(&text, 1024),
        ));
    }
    Some(b.build())
}

/// A category chosen in the menu: the message shows it, the menu stays.
pub fn chosen(
    schema: &[Command],
    caller: u64,
    custom_id: &str,
    values: &[String],
) -> Result<Reply, CommandError> {
    let menu = HelpMenu::parse(custom_id).ok_or_else(super::buttons::not_ours)?;
    let rules = super::buttons::PressRules {
        owner: menu.caller,
        expires_unix: menu.expires_unix,
        noun: "menu",
        not_yours: "This menu is not for you. Run /commands yourself.",
        expired: "Run /commands again.",
    };
    if let Some(refusal) = rules.refusal(caller) {
        return Ok(refusal);
    }
    let key = values.first().map(String::as_str).unwrap_or_default();
    let embed = category(schema, key).ok_or_else(|| {
        CommandError::invalid(
            "That is not a category of this menu.",
            "Run /commands again.",
        )
    })?;
    Ok(Reply::embed(embed).with_components(vec![menu.component()]))
}

/// `/admin help`: the admin commands and who may use each, as the earlier bot listed them.
pub fn admin() -> Reply {
    Reply::embed(
        EmbedBuilder::new()
            .title("Admin Commands Help")
            .description("List of available admin commands and their usage")
            .color(colour::INFO)
            .field(EmbedFieldBuilder::new(
                "`/admin setrole <role>`",
                "Members with this role count as bot admins here (besides the owner and the Administrator permission).",
            ))
            .field(EmbedFieldBuilder::new(
                "`/admin premium <guild_id> <tier>`",
                "Grants a Discord server a premium tier. Admins of the home server only.",
            ))
            .field(EmbedFieldBuilder::new(
                "`/admin sethomeguild`",
                "Makes this Discord server the home server, whose admins grant premium. The bot owner only.",
            ))
            .field(EmbedFieldBuilder::new(
                "`/admin status`",
                "This Discord server's tier, game servers, admin role and the bot's version.",
            ))
            .build(),
    )
}

/// `/events help`: the events commands, how to configure what is posted, and tips.
pub fn events() -> Reply {
    Reply::embed(
        EmbedBuilder::new()
            .title("Events Commands Help")
            .description(
                "Use these commands to manage event monitoring and notifications for your servers.",
            )
            .color(colour::INFO)
            .field(EmbedFieldBuilder::new(
                "📊 Basic Commands",
                "`/events start server_id` — post the server's events and connections\n\
                 `/events stop server_id` — stop posting them\n\
                 `/events status` — which servers post events\n\
                 `/events list server_id [event_type] [limit]` — the recent events\n\
                 `/events players server_id` — who is online and queued",
            ))
            .field(EmbedFieldBuilder::new(
                "⚙️ Notification Configuration",
                "`/events config server_id [mission] [airdrop] [crash] [trader] [convoy] [encounter] [server_restart]` — which game events are posted\n\
                 `/events conn_config server_id [connect] [disconnect]` — which connections are posted\n\
                 `/events suicide_config server_id [menu] [fall] [other]` — which suicides the killfeed posts\n\
                 `/killfeed highlights server_id [streaks] [streak_ends] [revenge] [long_shots] [long_shot_m]` — which highlights the killfeed posts\n\
                 `/events fights server_id [minutes]` — airdrop, mission and convoy posts edited with the kills that followed",
            ))
            .field(EmbedFieldBuilder::new(
                "💡 Tips",
                "• Turn off connections on busy servers to keep the channel readable.\n\
                 • Keep the rare events (helicopter crashes, convoys) on: players look for them.\n\
                 • Silence menu suicides if respawns flood the killfeed.\n\
                 • Configuring events needs an admin.",
            ))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_command_is_in_one_category_and_menus_round_trip() {
        for c in super::super::schema() {
            let homes = CATEGORIES
                .iter()
                .filter(|(.., names)| names.contains(&c.name.as_str()))
                .count();
            assert_eq!(homes, 1, "/{} in {homes} categories", c.name);
        }
        let menu = HelpMenu {
            caller: u64::MAX,
            expires_unix: 4_102_444_800,
        };
        assert_eq!(HelpMenu::parse(&menu.custom_id()), Some(menu));
        assert_eq!(HelpMenu::parse("hm|1"), None);
    }
}

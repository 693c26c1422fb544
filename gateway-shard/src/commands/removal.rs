//! `/setup removeserver`'s confirmation: Confirm and Cancel buttons only the admin who ran
//! it can press, for three minutes, as the earlier bot asked before removing a server.
//! Removal stops polling and forgets the server's settings and SFTP credentials; its
//! statistics are kept, so adding it again continues them (the earlier bot deleted them;
//! a removal by mistake should not cost a community its history).

use twilight_util::builder::embed::EmbedBuilder;

use tower_daemon::telemetry::now_unix_ms;
use tower_store::ids::{GuildId, ServerId};

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::{colour, shown};
use crate::reply::{CommandError, Reply};

/// How long the buttons work (the earlier bot's view timeout).
const CONFIRM_FOR_SECS: i64 = 180;

/// What a Confirm or Cancel button stands for, carried in its `custom_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalButton {
    pub confirm: bool,
    pub caller: u64,
    pub expires_unix: i64,
    pub server: String,
}

impl RemovalButton {
    /// The `custom_id` prefix of these buttons.
    pub const PREFIX: &'static str = "rm";

    pub fn custom_id(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            Self::PREFIX,
            if self.confirm { "y" } else { "n" },
            super::buttons::radix36(self.caller),
            super::buttons::radix36_time(self.expires_unix),
            self.server
        )
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let mut parts = custom_id.split('|');
        if parts.next()? != Self::PREFIX {
            return None;
        }
        let confirm = match parts.next()? {
            "y" => true,
            "n" => false,
            _ => return None,
        };
        let caller = super::buttons::from_radix36(parts.next()?)?;
        let expires_unix = i64::try_from(super::buttons::from_radix36(parts.next()?)?).ok()?;
        let server = parts.next()?.to_owned();
        if parts.next().is_some() {
            return None;
        }
        Some(Self {
            confirm,
            caller,
            expires_unix,
            server,
        })
    }
}

/// `/setup removeserver server_id`: the question, with its buttons.
pub async fn ask(bot: &Bot, caller: &Caller, server: &ServerId) -> Result<Reply, CommandError> {
    let found = bot.servers.get(GuildId(caller.guild_id), server).await?;
    let button = |confirm| RemovalButton {
        confirm,
        caller: caller.user_id,
        expires_unix: now_unix_ms() / 1000 + CONFIRM_FOR_SECS,
        server: server.as_str().to_owned(),
    };
    let row = super::buttons::confirm_row(
        "Confirm",
        button(true).custom_id(),
        button(false).custom_id(),
    );
    let embed = EmbedBuilder::new()
        .title("Confirm Server Removal")
        .description(format!(
            "Are you sure you want to remove server '{}' (ID: {server})?\n\n\
             This will remove all server configurations and stop monitoring. Its statistics \
             are kept: adding it again continues them.",
            shown(&found.name, 100)
        ))
        .color(colour::WARNING)
        .build();
    Ok(Reply::embed(embed).with_components(vec![row]))
}

/// A Confirm or Cancel button pressed: the message edited to the outcome, or a private
/// refusal.
pub async fn pressed(bot: &Bot, caller: &Caller, custom_id: &str) -> Result<Reply, CommandError> {
    let button = RemovalButton::parse(custom_id).ok_or_else(super::buttons::not_ours)?;
    let rules = super::buttons::PressRules {
        owner: button.caller,
        expires_unix: button.expires_unix,
        noun: "buttons",
        not_yours: "Only the admin who ran this /setup removeserver can confirm or cancel it.",
        expired: "Nothing was removed. Run /setup removeserver again.",
    };
    if let Some(refusal) = rules.refusal(caller.user_id) {
        return Ok(refusal);
    }
    let id = ServerId::parse(&button.server).map_err(|_| {
        CommandError::invalid("This button names no server.", "Run the command again.")
    })?;
    if !button.confirm {
        return Ok(Reply::done(
            "Removal cancelled",
            format!("Server `{id}` was not removed."),
        ));
    }
    bot.servers.remove(GuildId(caller.guild_id), &id).await?;
    bot.guilds
        .forget_default_server(caller.guild_id, id.as_str())
        .await
        .map_err(|e| CommandError::failed("Could not clear the default server", e))?;
    bot.settings.forget(caller.guild_id);
    Ok(Reply::done(
        "Server removed",
        format!(
            "`{id}` is no longer polled. Its statistics are kept; adding it again continues them."
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_buttons_round_trip_within_discords_100_characters() {
        let b = RemovalButton {
            confirm: true,
            caller: u64::MAX,
            expires_unix: 4_102_444_800,
            server: "9".repeat(ServerId::MAX_LEN),
        };
        let id = b.custom_id();
        assert!(id.len() <= 100, "{} characters", id.len());
        assert_eq!(RemovalButton::parse(&id), Some(b));
        assert_eq!(RemovalButton::parse("rm|x|1|1|s"), None);
        assert_eq!(RemovalButton::parse("sp|y|1|1|s"), None);
    }
}

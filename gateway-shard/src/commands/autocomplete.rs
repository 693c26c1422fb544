//! Suggestions while a user types: server ids, player names and weapon names, always
//! from the caller's own guild; command names for `/error_guide`.

use twilight_model::application::command::{CommandOptionChoice, CommandOptionChoiceValue};

use tower_store::ids::GuildId;

use crate::access::Caller;
use crate::bot::Bot;
use crate::embeds::clip;
use crate::options::Invocation;
use crate::reply::CommandError;

/// Discord shows at most 25 suggestions.
const MAX_CHOICES: usize = 25;

/// A suggestion, or `None` for a value Discord would refuse (empty, or over 100 characters):
/// one bad choice makes Discord reject the whole answer. A blank label shows the value.
fn choice(name: String, value: String) -> Option<CommandOptionChoice> {
    let length = value.chars().count();
    if value.trim().is_empty() || length > 100 {
        return None;
    }
    let name = if name.trim().is_empty() {
        &value
    } else {
        &name
    };
    Some(CommandOptionChoice {
        name: clip(name, 100),
        name_localizations: None,
        value: CommandOptionChoiceValue::String(value),
    })
}

pub async fn suggest(
    bot: &Bot,
    caller: &Caller,
    inv: &Invocation,
) -> Result<Vec<CommandOptionChoice>, CommandError> {
    let Some((option, typed)) = inv.focused() else {
        return Ok(Vec::new());
    };
    let typed = typed.trim();
    // The server chosen in another option of the same command, if any.
    let server = ["server_id", "server"]
        .into_iter()
        .filter(|o| *o != option)
        .find_map(|o| inv.opt_str(o).ok().flatten())
        .map(str::to_owned);
    if option == "value" && inv.opt_str("setting").ok().flatten() != Some("default_server") {
        return Ok(Vec::new());
    }
    let choices = match option {
        // `/settings default_server <value>`: a server id, like any server option.
        "server_id" | "server" | "value" => {
            let lower = typed.to_lowercase();
            bot.servers
                .list(GuildId(caller.guild_id))
                .await?
                .into_iter()
                .filter(|s| {
                    lower.is_empty()
                        || s.server.as_str().to_lowercase().contains(&lower)
                        || s.name.to_lowercase().contains(&lower)
                })
                .take(MAX_CHOICES)
                .filter_map(|s| {
                    choice(
                        format!("{} ({})", s.name, s.server),
                        s.server.as_str().to_owned(),
                    )
                })
                .collect()
        }
        // `/unlink`: the caller's own players.
        "player_name" if inv.path == "unlink" => {
            let lower = typed.to_lowercase();
            bot.links
                .of_user(caller.guild_id, caller.user_id)
                .await?
                .into_iter()
                .filter(|l| server.as_deref().is_none_or(|s| s == l.server_id))
                .filter(|l| l.player_name.to_lowercase().contains(&lower))
                .take(MAX_CHOICES)
                .filter_map(|l| choice(l.player_name.clone(), l.player_name))
                .collect()
        }
        // `/stats season`: the players of the season chosen.
        "player_name" if inv.path == "stats season" => {
            let season = match (server.as_deref(), inv.opt_str("season").ok().flatten()) {
                (Some(s), Some(wanted)) => bot.seasons.find(caller.guild_id, s, wanted).await?,
                _ => None,
            };
            match season {
                Some(season) => bot
                    .seasons
                    .players_named(&season, typed, MAX_CHOICES as i64)
                    .await?
                    .into_iter()
                    .filter_map(|n| choice(n.clone(), n))
                    .collect(),
                None => Vec::new(),
            }
        }
        "season" => match server.as_deref() {
            Some(s) => {
                let lower = typed.to_lowercase();
                bot.seasons
                    .list(caller.guild_id, s)
                    .await?
                    .into_iter()
                    .rev()
                    .filter(|x| x.state == "closed")
                    .filter(|x| lower.is_empty() || x.label.to_lowercase().contains(&lower))
                    .take(MAX_CHOICES)
                    .filter_map(|x| choice(format!("#{} {}", x.number, x.label), x.label))
                    .collect()
            }
            None => Vec::new(),
        },
        "player_name" | "player1" | "player2" | "killer" | "victim" => bot
            .stats
            .players_named(
                caller.guild_id,
                server.as_deref(),
                typed,
                MAX_CHOICES as u32,
            )
            .await?
            .into_iter()
            .filter_map(|p| choice(p.stats.name.clone(), p.stats.name))
            .collect(),
        "faction_name" | "name" if inv.path.starts_with("faction ") => match server.as_deref() {
            Some(s) => {
                let lower = typed.to_lowercase();
                tower_store::factions::Factions::new(&bot.db)
                    .list(caller.guild_id, s)
                    .await?
                    .into_iter()
                    .filter(|f| {
                        lower.is_empty()
                            || f.name.to_lowercase().contains(&lower)
                            || f.tag.to_lowercase().contains(&lower)
                    })
                    .take(MAX_CHOICES)
                    .filter_map(|f| choice(format!("{} [{}]", f.name, f.tag), f.name))
                    .collect()
            }
            None => Vec::new(),
        },
        "weapon_name" => match server.as_deref() {
            Some(s) => bot
                .stats
                .weapons(caller.guild_id, s, Some(typed), MAX_CHOICES as u32)
                .await?
                .into_iter()
                .filter_map(|w| choice(format!("{} ({} kills)", w.weapon, w.kills), w.weapon))
                .collect(),
            None => Vec::new(),
        },
        // `/error_guide command_usage`: the commands of the registered schema.
        "command" => {
            let lower = typed.trim_start_matches('/').to_lowercase();
            super::command_paths(&super::schema())
                .into_iter()
                .filter(|p| p.contains(&lower))
                .take(MAX_CHOICES)
                .filter_map(|p| choice(format!("/{p}"), p))
                .collect()
        }
        _ => Vec::new(),
    };
    Ok(dedupe(choices))
}

/// One suggestion per value (a name on two servers shows once).
fn dedupe(choices: Vec<CommandOptionChoice>) -> Vec<CommandOptionChoice> {
    let mut seen = std::collections::HashSet::new();
    choices
        .into_iter()
        .filter(|c| match &c.value {
            CommandOptionChoiceValue::String(v) => seen.insert(v.clone()),
            _ => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_discord_would_refuse_are_left_out() {
        assert!(choice(String::new(), String::new()).is_none());
        assert!(choice("  ".into(), " ".into()).is_none());
        assert!(choice("x".into(), "n".repeat(101)).is_none());
        let Some(named) = choice(String::new(), "Bob".into()) else {
            panic!("a choice")
        };
        assert_eq!(named.name, "Bob", "a blank label shows the value");
        let Some(long) = choice("l".repeat(300), "v".into()) else {
            panic!("a choice")
        };
        assert_eq!(long.name.chars().count(), 100);
    }
}

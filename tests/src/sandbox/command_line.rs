//! A slash command as a user types it, read against the command set the bot registered:
//! `/stats leaderboard server_id:7020 stat:kills`, `/stats player server_id:7020
//! player_name:"Alpha One"`. Subcommand names come first, then `name:value` options whose
//! values take the registered option's type; `#killfeed` names a sandbox channel. The
//! simulator then checks choices and required options as Discord does.

use serde_json::Value;

use crate::discord_sim::interactions::Opt;

/// A command ready to send.
#[derive(Debug, Clone)]
pub struct Typed {
    /// Command and subcommand names (`"stats player"`).
    pub path: String,
    pub options: Vec<(String, Opt)>,
}

impl Typed {
    /// The options as the simulator takes them.
    pub fn option_refs(&self) -> Vec<(&str, Opt)> {
        self.options
            .iter()
            .map(|(n, o)| (n.as_str(), o.clone()))
            .collect()
    }
}

/// Reads `line` (starting with `/`) against `registered` (the bot's command set);
/// `channel` turns a `#name` into the sandbox channel's id.
pub fn parse(
    line: &str,
    registered: &Value,
    channel: &dyn Fn(&str) -> Option<u64>,
) -> Result<Typed, String> {
    let words = split_words(line.trim().trim_start_matches('/'))?;
    let mut words = words.into_iter().peekable();
    let top = words.next().ok_or("type a command after /")?;
    let commands = registered
        .as_array()
        .ok_or("the bot has registered no commands")?;
    let mut node = commands
        .iter()
        .find(|c| c["name"] == top.as_str())
        .ok_or_else(|| format!("/{top}: no such command (type help for the list)"))?;
    let mut path = top.clone();
    // Subcommand groups (2) and subcommands (1) come before any option.
    while let Some(subs) = node["options"]
        .as_array()
        .filter(|o| o.iter().any(|o| matches!(o["type"].as_u64(), Some(1 | 2))))
    {
        let Some(sub) = words.next_if(|w| !w.contains(':')) else {
            let names: Vec<&str> = subs.iter().filter_map(|o| o["name"].as_str()).collect();
            return Err(format!("/{path} needs one of: {}", names.join(", ")));
        };
        node = subs
            .iter()
            .find(|o| o["name"] == sub.as_str())
            .ok_or_else(|| format!("/{path}: no subcommand {sub}"))?;
        path = format!("{path} {sub}");
    }
    let schema = node["options"].as_array().cloned().unwrap_or_default();
    let mut options = Vec::new();
    for word in words {
        let Some((name, value)) = word.split_once(':') else {
            return Err(format!(
                "/{path}: write options as name:value, not {word:?}"
            ));
        };
        let option = schema.iter().find(|o| o["name"] == name).ok_or_else(|| {
            let names: Vec<&str> = schema.iter().filter_map(|o| o["name"].as_str()).collect();
            format!("/{path}: no option {name} (it takes: {})", names.join(", "))
        })?;
        let kind = option["type"].as_u64().unwrap_or(3);
        options.push((
            name.to_owned(),
            typed_value(&path, name, kind, value, channel)?,
        ));
    }
    Ok(Typed { path, options })
}

/// A value as the registered option type wants it.
fn typed_value(
    path: &str,
    name: &str,
    kind: u64,
    value: &str,
    channel: &dyn Fn(&str) -> Option<u64>,
) -> Result<Opt, String> {
    let wrong = |what: &str| format!("/{path}: {name} takes {what}, not {value:?}");
    Ok(match kind {
        4 => Opt::Int(value.parse().map_err(|_| wrong("a whole number"))?),
        5 => match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => Opt::Bool(true),
            "false" | "no" | "off" => Opt::Bool(false),
            _ => return Err(wrong("true or false")),
        },
        7 => match value.strip_prefix('#') {
            Some(channel_name) => {
                Opt::Channel(channel(channel_name).ok_or_else(|| wrong("a sandbox channel"))?)
            }
            None => Opt::Channel(
                value
                    .parse()
                    .map_err(|_| wrong("#channel or a channel id"))?,
            ),
        },
        8 => Opt::Role(value.parse().map_err(|_| wrong("a role id"))?),
        _ => Opt::str(value),
    })
}

/// Words split at spaces, a `"…"` span kept whole (quotes removed).
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if quoted {
        return Err("a quote is not closed".to_owned());
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

/// Every command path the bot registered (`"stats player"`), for `help` and completion.
pub fn command_paths(registered: &Value) -> Vec<String> {
    fn walk(node: &Value, prefix: &str, out: &mut Vec<String>) {
        let subs: Vec<&Value> = node["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| matches!(o["type"].as_u64(), Some(1 | 2)))
            .collect();
        if subs.is_empty() {
            out.push(prefix.to_owned());
        }
        for sub in subs {
            let name = sub["name"].as_str().unwrap_or_default();
            walk(sub, &format!("{prefix} {name}"), out);
        }
    }
    let mut out = Vec::new();
    for command in registered.as_array().into_iter().flatten() {
        walk(
            command,
            command["name"].as_str().unwrap_or_default(),
            &mut out,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registered() -> Value {
        json!([{ "name": "stats", "options": [{ "name": "player", "type": 1, "options": [
            { "name": "server_id", "type": 3, "required": true },
            { "name": "player_name", "type": 3 },
            { "name": "limit", "type": 4 },
        ]}]}, { "name": "setup", "options": [{ "name": "channels", "type": 1, "options": [
            { "name": "killfeed_channel", "type": 7 },
        ]}]}])
    }

    fn no_channel(_: &str) -> Option<u64> {
        None
    }

    #[test]
    fn options_take_their_registered_types() {
        let typed = parse(
            r#"/stats player server_id:7020 player_name:"Alpha One" limit:5"#,
            &registered(),
            &no_channel,
        );
        let Ok(typed) = typed else {
            panic!("{typed:?}")
        };
        assert_eq!(typed.path, "stats player");
        let shown: Vec<String> = typed
            .options
            .iter()
            .map(|(n, o)| format!("{n}={o:?}"))
            .collect();
        assert_eq!(
            shown,
            [
                r#"server_id=Str("7020")"#,
                r#"player_name=Str("Alpha One")"#,
                "limit=Int(5)"
            ]
        );
        let channel = |name: &str| (name == "killfeed").then_some(42);
        let typed = parse(
            "/setup channels killfeed_channel:#killfeed",
            &registered(),
            &channel,
        );
        assert!(
            matches!(&typed, Ok(t) if matches!(t.options[0].1, Opt::Channel(42))),
            "{typed:?}"
        );
    }

    #[test]
    fn mistakes_are_explained() {
        let err = |line: &str| {
            parse(line, &registered(), &no_channel)
                .err()
                .unwrap_or_default()
        };
        assert_eq!(
            err("/nope"),
            "/nope: no such command (type help for the list)"
        );
        assert_eq!(err("/stats"), "/stats needs one of: player");
        assert_eq!(
            err("/stats player limit:five"),
            "/stats player: limit takes a whole number, not \"five\""
        );
        assert_eq!(
            err("/stats player colour:red"),
            "/stats player: no option colour (it takes: server_id, player_name, limit)"
        );
        assert_eq!(
            err(r#"/stats player player_name:"Al"#),
            "a quote is not closed"
        );
    }

    #[test]
    fn every_leaf_command_is_listed() {
        assert_eq!(
            command_paths(&registered()),
            ["stats player", "setup channels"]
        );
    }
}

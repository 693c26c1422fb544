//! Tab completion at the sandbox prompt, from what the bot registered: command names,
//! subcommands, option names, the values of options with choices, true/false, sandbox
//! channels, and, for options the bot autocompletes (`server_id`, `player_name`, …), the
//! bot's own suggestions, asked for through the simulator as Discord asks.

use serde_json::Value;

use crate::discord_sim::interactions::Opt;

use super::{CHANNELS, command_line};

/// The console's own words.
const CONSOLE_WORDS: [&str; 8] = [
    "help",
    "commands",
    "press",
    "wait-post",
    "sleep",
    "as",
    "quit",
    "/",
];

/// What the bot suggests for a focused option: `(path, options typed so far, focused
/// option name, what is typed of it)` → suggested values.
pub type AskBot<'a> = dyn Fn(&str, Vec<(String, Opt)>, &str, &str) -> Vec<String> + 'a;

/// Completions of `line` up to the cursor: where the completed word starts, and the
/// candidates for it.
pub fn complete(before: &str, registered: &Value, ask_bot: &AskBot<'_>) -> (usize, Vec<String>) {
    let start = before.rfind(char::is_whitespace).map_or(0, |i| {
        i + before[i..].chars().next().map_or(1, char::len_utf8)
    });
    let word = &before[start..];
    let starts = |candidates: Vec<String>| -> Vec<String> {
        candidates
            .into_iter()
            .filter(|c| c.starts_with(word))
            .collect()
    };
    if !before.trim_start().starts_with('/') {
        if start == 0 {
            return (start, starts(CONSOLE_WORDS.map(str::to_owned).to_vec()));
        }
        let first = before.split_whitespace().next().unwrap_or_default();
        let words: Vec<String> = match first {
            "wait-post" => CHANNELS.iter().map(|c| c.name.to_owned()).collect(),
            "as" => vec!["admin".to_owned(), "member".to_owned()],
            _ => Vec::new(),
        };
        return (start, starts(words));
    }
    let Some(commands) = registered.as_array() else {
        return (start, Vec::new());
    };
    if start == 0 {
        let names = commands
            .iter()
            .filter_map(|c| c["name"].as_str())
            .map(|n| format!("/{n}"))
            .collect();
        return (start, starts(names));
    }
    // Walk the words before this one down the command tree.
    let done: Vec<&str> = before[..start].split_whitespace().collect();
    let top = done
        .first()
        .map(|w| w.trim_start_matches('/'))
        .unwrap_or_default();
    let Some(mut node) = commands.iter().find(|c| c["name"] == top) else {
        return (start, Vec::new());
    };
    let mut path = top.to_owned();
    let mut typed = Vec::new();
    for w in &done[1..] {
        if w.contains(':') {
            typed.push(*w);
            continue;
        }
        match node["options"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["name"] == *w))
        {
            Some(sub) => {
                node = sub;
                path = format!("{path} {w}");
            }
            None => return (start, Vec::new()),
        }
    }
    let options = node["options"].as_array().cloned().unwrap_or_default();
    let subs: Vec<String> = options
        .iter()
        .filter(|o| matches!(o["type"].as_u64(), Some(1 | 2)))
        .filter_map(|o| o["name"].as_str().map(str::to_owned))
        .collect();
    if !subs.is_empty() {
        return (start, starts(subs));
    }
    let Some((name, value)) = word.split_once(':') else {
        // An option's name, unless it is typed already.
        let names = options
            .iter()
            .filter_map(|o| o["name"].as_str())
            .filter(|n| !typed.iter().any(|t| t.starts_with(&format!("{n}:"))))
            .map(|n| format!("{n}:"))
            .collect();
        return (start, starts(names));
    };
    let Some(option) = options.iter().find(|o| o["name"] == name) else {
        return (start, Vec::new());
    };
    let values: Vec<String> = match option["type"].as_u64() {
        _ if option["choices"].as_array().is_some_and(|c| !c.is_empty()) => option["choices"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| match &c["value"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(5) => vec!["true".to_owned(), "false".to_owned()],
        Some(7) => CHANNELS.iter().map(|c| format!("#{}", c.name)).collect(),
        _ if option["autocomplete"] == Value::Bool(true) => {
            // The options typed before this one, as the bot will see them.
            let line = format!("/{path} {}", typed.join(" "));
            let earlier = command_line::parse(&line, registered, &super::channel_id)
                .map(|t| t.options)
                .unwrap_or_default();
            // The bot has matched what is typed already (in its own way: any case, any
            // part of a name), so its suggestions are all kept.
            let suggested = ask_bot(&path, earlier, name, value);
            return (
                start,
                suggested.iter().map(|v| option_value(name, v)).collect(),
            );
        }
        _ => Vec::new(),
    };
    let values = values.iter().map(|v| option_value(name, v)).collect();
    (start, starts(values))
}

/// `name:value`, the value quoted when it has spaces.
fn option_value(name: &str, value: &str) -> String {
    match value.contains(char::is_whitespace) {
        true => format!("{name}:\"{value}\""),
        false => format!("{name}:{value}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registered() -> Value {
        json!([{ "name": "stats", "options": [
            { "name": "player", "type": 1, "options": [
                { "name": "server_id", "type": 3, "required": true, "autocomplete": true },
                { "name": "player_name", "type": 3, "autocomplete": true },
            ]},
            { "name": "leaderboard", "type": 1, "options": [
                { "name": "server_id", "type": 3, "required": true },
                { "name": "stat", "type": 3, "choices": [
                    { "name": "Kills", "value": "kills" }, { "name": "K/D", "value": "kd" },
                ]},
            ]},
        ]}])
    }

    fn shown(before: &str) -> (usize, Vec<String>) {
        let bot = |path: &str, earlier: Vec<(String, Opt)>, name: &str, typed: &str| {
            // The bot is asked with what was typed before, and for the focused option.
            let earlier: Vec<String> = earlier.iter().map(|(n, o)| format!("{n}={o:?}")).collect();
            vec![format!("{path}|{}|{name}|{typed}", earlier.join(","))]
        };
        complete(before, &registered(), &bot)
    }

    #[test]
    fn commands_subcommands_and_options_complete() {
        assert_eq!(shown("/st"), (0, vec!["/stats".to_owned()]));
        assert_eq!(shown("/stats l"), (7, vec!["leaderboard".to_owned()]));
        assert_eq!(
            shown("/stats leaderboard server_id:7020 "),
            (34, vec!["stat:".to_owned()])
        );
        assert_eq!(
            shown("/stats leaderboard server_id:7020 stat:k"),
            (34, vec!["stat:kills".to_owned(), "stat:kd".to_owned()])
        );
        assert_eq!(shown("wa"), (0, vec!["wait-post".to_owned()]));
        assert_eq!(shown("wait-post ki"), (10, vec!["killfeed".to_owned()]));
    }

    #[test]
    fn an_autocompleted_option_asks_the_bot() {
        let (start, got) = shown("/stats player server_id:7020 player_name:Hal");
        assert_eq!(start, 29);
        assert_eq!(
            got,
            vec!["player_name:\"stats player|server_id=Str(\"7020\")|player_name|Hal\"".to_owned()]
        );
    }
}

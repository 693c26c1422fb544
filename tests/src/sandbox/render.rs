//! What a Discord user would see, as terminal text: a message's content and embeds (title,
//! description, fields, footer, with the embed's colour as a marker), its buttons numbered
//! for `press N`, and a voice channel's new name.
//!
//! On a terminal the marker is the colour itself; in plain text (`--script`, a pipe) it is
//! the colour's hex code, so the output stays readable in a log.

use serde_json::Value;

/// How to draw.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// 24-bit colour escapes (a terminal), or plain text.
    pub colour: bool,
}

impl Style {
    /// Colour when standard output is a terminal.
    pub fn for_stdout() -> Self {
        use std::io::IsTerminal as _;
        Self {
            colour: std::io::stdout().is_terminal(),
        }
    }

    fn marker(self, colour: Option<u64>) -> String {
        let rgb = colour.unwrap_or(0x99_aa_b5);
        if self.colour {
            let (r, g, b) = ((rgb >> 16) & 0xff, (rgb >> 8) & 0xff, rgb & 0xff);
            format!("\x1b[38;2;{r};{g};{b}m▌\x1b[0m")
        } else {
            format!("[#{rgb:06x}]")
        }
    }

    fn bold(self, text: &str) -> String {
        if self.colour {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// A message (a post, or the data of an interaction answer) under a heading such as
/// `#killfeed` or `answer`, indented below it.
pub fn message(heading: &str, body: &Value, style: Style) -> String {
    let mut out = format!("{}\n", style.bold(heading));
    if let Some(content) = body
        .get("content")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        for line in unescape(content).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    for embed in body
        .get("embeds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&self::embed(embed, style));
    }
    let buttons = buttons(body);
    if !buttons.is_empty() {
        let labels: Vec<String> = buttons
            .iter()
            .enumerate()
            .map(|(i, (label, disabled))| {
                let off = if *disabled { " (this page)" } else { "" };
                format!("[{}: {label}{off}]", i + 1)
            })
            .collect();
        out.push_str(&format!("  {}   (press N)\n", labels.join(" ")));
    }
    if body
        .get("flags")
        .and_then(Value::as_u64)
        .is_some_and(|f| f & 64 != 0)
    {
        out.push_str("  (only you can see this)\n");
    }
    out
}

/// One embed, each line behind its colour marker.
fn embed(embed: &Value, style: Style) -> String {
    let marker = style.marker(embed.get("color").and_then(Value::as_u64));
    let text = |key: &str| {
        embed
            .get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(unescape)
    };
    let mut lines = Vec::new();
    if let Some(author) = embed.pointer("/author/name").and_then(Value::as_str) {
        lines.push(unescape(author));
    }
    if let Some(title) = text("title") {
        lines.push(style.bold(&title));
    }
    if let Some(description) = text("description") {
        lines.extend(description.lines().map(str::to_owned));
    }
    for field in embed
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = field.get("name").and_then(Value::as_str).unwrap_or("");
        let value = field.get("value").and_then(Value::as_str).unwrap_or("");
        let mut value_lines = unescape(value)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if value_lines.len() <= 1 {
            lines.push(format!(
                "{}: {}",
                unescape(name),
                value_lines.pop().unwrap_or_default()
            ));
        } else {
            lines.push(format!("{}:", unescape(name)));
            lines.extend(value_lines.into_iter().map(|l| format!("  {l}")));
        }
    }
    if let Some(footer) = embed.pointer("/footer/text").and_then(Value::as_str) {
        lines.push(unescape(footer));
    }
    lines
        .iter()
        .map(|line| format!("  {marker} {line}\n"))
        .collect()
}

/// The message's buttons, in order: (label, disabled).
pub fn buttons(body: &Value) -> Vec<(String, bool)> {
    body.get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|row| {
            row.get("components")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter(|c| c.get("custom_id").is_some())
        .map(|c| {
            (
                c.get("label")
                    .and_then(Value::as_str)
                    .unwrap_or("button")
                    .to_owned(),
                c.get("disabled").and_then(Value::as_bool).unwrap_or(false),
            )
        })
        .collect()
}

/// A voice channel renamed by the bot.
pub fn rename(old: &str, new: &str, style: Style) -> String {
    format!(
        "{}\n  channel renamed: {new}\n",
        style.bold(&format!("🔊 {old}"))
    )
}

/// Discord markdown as a reader sees it: backslash escapes (`GA\_Military`) resolved, and
/// a mention of a sandbox channel (`<#800…1001>`) shown as its name.
fn unescape(text: &str) -> String {
    let mut text = text.to_owned();
    for channel in super::CHANNELS {
        text = text.replace(&format!("<#{}>", channel.id), &format!("#{}", channel.name));
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(next)) if next.is_ascii_punctuation() => {
                out.push(*next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_embed_reads_as_a_user_sees_it() {
        let body = json!({
            "embeds": [{
                "title": "Alpha One killed Bravo",
                "description": "**GA\\_Military\\_02\\_mis1** ready",
                "color": 0xe7_4c_3c,
                "fields": [{ "name": "Weapon", "value": "AK-74", "inline": true }],
                "footer": { "text": "Sandbox Deadside" },
            }],
            "components": [{ "type": 1, "components": [
                { "type": 2, "label": "Overview", "custom_id": "a", "disabled": true },
                { "type": 2, "label": "Weapons", "custom_id": "b" },
            ]}],
        });
        let shown = message("#killfeed", &body, Style { colour: false });
        assert_eq!(
            shown,
            "#killfeed\n\
             \x20 [#e74c3c] Alpha One killed Bravo\n\
             \x20 [#e74c3c] **GA_Military_02_mis1** ready\n\
             \x20 [#e74c3c] Weapon: AK-74\n\
             \x20 [#e74c3c] Sandbox Deadside\n\
             \x20 [1: Overview (this page)] [2: Weapons]   (press N)\n"
        );
    }
}

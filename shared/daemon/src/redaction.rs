//! Secrets taken out of text that leaves a process or is stored for operators: telemetry
//! messages (here, before they are queued) and again by the collector before it stores
//! them. Secrets are meant never to reach such text — callers format them through
//! [`tower_store::secret::Redacted`] — so this is the second line: a message that quotes a
//! connection string, a `password=…`, an `Authorization` header or a Discord bot token
//! still stores none of it.

use std::borrow::Cow;

/// What stands in for a secret.
pub const HIDDEN: &str = "[redacted]";

/// Words whose value (`word=value`, `word: value`, `"word":"value"`) is a secret.
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
];

/// `text` with every secret it shows replaced by [`HIDDEN`]. One pass, no allocation when
/// there is nothing to hide (telemetry capture runs it on the caller's path).
pub fn redact(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let word_start = i == 0 || !is_word_byte(bytes[i - 1]);
        if let Some((kept, len)) = secret_at(&text[i..], word_start) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..i + kept]);
            o.push_str(HIDDEN);
            i += kept + len;
            copied = i;
            continue;
        }
        i += 1;
        while i < bytes.len() && !text.is_char_boundary(i) {
            i += 1;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A secret starting at the front of `text`: (bytes kept before it, bytes of the secret).
/// Each shape is looked for only where it can start, so ordinary text costs a byte check.
fn secret_at(text: &str, word_start: bool) -> Option<(usize, usize)> {
    match text.as_bytes().first()? {
        b':' => url_password(text),
        b'B' if word_start => scheme_credential(text).or_else(|| discord_token(text)),
        b'p' | b'P' | b's' | b'S' | b't' | b'T' | b'a' | b'A' if word_start => {
            named_value(text).or_else(|| discord_token(text))
        }
        &c if word_start && is_word_byte(c) => discord_token(text),
        _ => None,
    }
}

/// Redacts an event's message and attribute values in place.
pub fn redact_event(event: &mut tower_proto::v1::TelemetryEvent) {
    if let Cow::Owned(r) = redact(&event.message) {
        event.message = r;
    }
    for value in event.attributes.values_mut() {
        if let Cow::Owned(r) = redact(value) {
            *value = r;
        }
    }
}

/// `://user:password@`: the password.
fn url_password(text: &str) -> Option<(usize, usize)> {
    let after = text.strip_prefix("://")?;
    let end = after
        .find(|c: char| c == '/' || c == '@' || c.is_whitespace())
        .filter(|&i| after[i..].starts_with('@'))?;
    let colon = after[..end].find(':')?;
    let password = end - colon - 1;
    (password > 0).then_some((3 + colon + 1, password))
}

/// `password=…`, `token: …`, `"secret":"…"`: the value.
fn named_value(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let word = SECRET_WORDS.iter().find(|w| {
        bytes
            .get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w.as_bytes()))
    })?;
    let mut i = word.len();
    // The word may be quoted as a JSON key.
    if bytes.get(i) == Some(&b'"') {
        i += 1;
    }
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    if !matches!(bytes.get(i), Some(b'=' | b':')) {
        return None;
    }
    i += 1;
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    let quote = bytes.get(i).copied().filter(|b| matches!(b, b'"' | b'\''));
    if quote.is_some() {
        i += 1;
    }
    let value = &text[i..];
    let len = match quote {
        // A quoted value runs to its closing quote.
        Some(q) => value.find(char::from(q)).unwrap_or(value.len()),
        None => value
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '&' | ')' | '}' | ']'))
            .unwrap_or(value.len()),
    };
    (len > 0).then_some((i, len))
}

/// `Bearer …`, `Bot …` (an Authorization header's credential).
fn scheme_credential(text: &str) -> Option<(usize, usize)> {
    let prefix = ["Bearer ", "Bot "]
        .into_iter()
        .find(|p| text.starts_with(p))?;
    let value = &text[prefix.len()..];
    let len = value
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\''))
        .unwrap_or(value.len());
    // A credential is long; "Bot token" or "Bot 12" in a sentence is not one.
    (len >= 20).then_some((prefix.len(), len))
}

/// A Discord bot token: three base64url parts joined by dots (24+, 6+, 27+ characters),
/// at the start of a word.
fn discord_token(text: &str) -> Option<(usize, usize)> {
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let len = text
        .find(|c: char| !is_part(c) && c != '.')
        .unwrap_or(text.len());
    let parts: Vec<&str> = text[..len].split('.').collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    (a.len() >= 24 && b.len() >= 6 && c.len() >= 27).then_some((0, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_text_are_hidden_and_the_rest_is_kept() {
        let cases = [
            (
                "cannot connect to mongodb://tower:hunter2@db.example:27017/tower",
                "cannot connect to mongodb://tower:[redacted]@db.example:27017/tower",
            ),
            (
                "login failed: user=admin password=s3cr3t! host=1.2.3.4",
                "login failed: user=admin password=[redacted] host=1.2.3.4",
            ),
            (
                r#"body {"token":"abc.def","ok":1}"#,
                r#"body {"token":"[redacted]","ok":1}"#,
            ),
            ("Password: 'x y'", "Password: '[redacted]'"),
            (
                "header Authorization: Bot MTAxMjM0NTY3ODkwMTIzNDU2Nzg5MA.GaBcDe.abcdefghijklmnopqrstuvwxyz012",
                "header Authorization: [redacted] [redacted]",
            ),
            (
                "leaked MTAxMjM0NTY3ODkwMTIzNDU2Nzg5MA.GaBcDe.abcdefghijklmnopqrstuvwxyz012 here",
                "leaked [redacted] here",
            ),
            (
                "sent Bearer abcdefghijklmnopqrstuvwxyz",
                "sent Bearer [redacted]",
            ),
        ];
        for (given, wanted) in cases {
            assert_eq!(redact(given), wanted, "{given}");
        }
    }

    #[test]
    fn ordinary_messages_are_left_alone() {
        for text in [
            "the server refused the login for tt_ab12: check the user name and password (or key)",
            "connect timed out after 10s to 203.0.113.5:8822",
            "Bot restarted; token bucket refilled",
            "read failed: eof at deathlogs/world_0/2026.01.01-00.00.00.csv",
            "https://example.com/path@v1",
            "",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }
}

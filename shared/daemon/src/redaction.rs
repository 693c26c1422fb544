//! Secrets taken out of text that leaves a process or is stored for operators: telemetry
//! messages (by the reporter's task, before they leave the process) and again by the
//! collector before it stores them. Secrets are meant never to reach such text — callers format them through
//! [`tower_store::secret::Redacted`] — so this is the second line: a message that quotes a
//! connection string, a `password=…`, an `Authorization` header or a Discord bot token
//! still stores none of it.

use std::borrow::Cow;

/// What stands in for a secret.
pub const HIDDEN: &str = "[redacted]";

/// Names whose value (`name=value`, `name: value`, `"name":"value"`) is a secret, alone
/// or ending a longer name (`db_password`, `TOWER_AUTH_TOKEN`, `X-Auth-Token`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "secret_key",
    "private_key",
    "api_key",
    "apikey",
    "token",
    "authorization",
];

/// Schemes of an `Authorization` credential.
const SCHEMES: &[&str] = &["bearer", "basic", "bot", "token", "digest"];

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
        &c if word_start && is_word_byte(c) => named_value(text)
            .or_else(|| scheme_credential(text))
            .or_else(|| discord_token(text)),
        _ => None,
    }
}

/// Redacts an event's message and attribute values in place (an attribute named like a
/// secret is hidden whole).
pub fn redact_event(event: &mut tower_proto::v1::TelemetryEvent) {
    if let Cow::Owned(r) = redact(&event.message) {
        event.message = r;
    }
    for (name, value) in event.attributes.iter_mut() {
        if names_a_secret(name) {
            HIDDEN.clone_into(value);
        } else if let Cow::Owned(r) = redact(value) {
            *value = r;
        }
    }
}

/// Whether a name (`password`, `db_password`, `X-Auth-Token`) is a secret's.
fn names_a_secret(name: &str) -> bool {
    let name = name.as_bytes();
    SECRET_WORDS.iter().any(|w| {
        let w = w.as_bytes();
        name.len() >= w.len()
            && name[name.len() - w.len()..].eq_ignore_ascii_case(w)
            && (name.len() == w.len() || matches!(name[name.len() - w.len() - 1], b'_' | b'-'))
    })
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

/// `password=…`, `db_password: …`, `"secret":"…"`, `Authorization: Bearer …`: the value.
fn named_value(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let name_len = bytes.iter().take_while(|b| is_word_byte(**b)).count();
    // Cheap first: a name is followed by `=` or `:` (after a quote or spaces).
    let separator = bytes[name_len..]
        .iter()
        .find(|b| !matches!(b, b'"' | b' '))
        .is_some_and(|b| matches!(b, b'=' | b':'));
    if !separator || !names_a_secret(&text[..name_len]) {
        return None;
    }
    let mut i = name_len;
    // The name may be quoted as a JSON key.
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
        None => {
            let word = |v: &str| {
                v.find(|c: char| {
                    c.is_whitespace() || matches!(c, ',' | ';' | '&' | ')' | '}' | ']')
                })
                .unwrap_or(v.len())
            };
            let first = word(value);
            // `Authorization: Bearer <credential>`: the credential too.
            let scheme = SCHEMES
                .iter()
                .any(|s| value[..first].eq_ignore_ascii_case(s));
            match value[first..].strip_prefix(' ') {
                Some(rest) if scheme => first + 1 + word(rest),
                _ => first,
            }
        }
    };
    (len > 0).then_some((i, len))
}

/// `Bearer …`, `Bot …`, `Basic …` (an Authorization header's credential, in any case).
fn scheme_credential(text: &str) -> Option<(usize, usize)> {
    // The scheme is a short word: look no further than its length.
    let word = text.bytes().take(8).position(|b| b == b' ')?;
    if !SCHEMES.iter().any(|s| text[..word].eq_ignore_ascii_case(s)) {
        return None;
    }
    let value = &text[word + 1..];
    let len = value
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\''))
        .unwrap_or(value.len());
    // A credential is long; "Bot token" or "Bot 12" in a sentence is not one.
    (len >= 20).then_some((word + 1, len))
}

/// A Discord bot token: three base64url parts joined by dots (24+, 6+, 27+ characters),
/// at the start of a word. One pass over the word, no allocation.
fn discord_token(text: &str) -> Option<(usize, usize)> {
    let mut parts = [0usize; 3];
    let mut part = 0;
    let mut len = 0;
    for b in text.bytes() {
        match b {
            b'.' if part < 2 => part += 1,
            // A fourth part: not a token.
            b'.' => return None,
            b if is_word_byte(b) => parts[part] += 1,
            _ => break,
        }
        len += 1;
    }
    (part == 2 && parts[0] >= 24 && parts[1] >= 6 && parts[2] >= 27).then_some((0, len))
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
                "header Authorization: [redacted]",
            ),
            (
                "leaked MTAxMjM0NTY3ODkwMTIzNDU2Nzg5MA.GaBcDe.abcdefghijklmnopqrstuvwxyz012 here",
                "leaked [redacted] here",
            ),
            (
                "sent Bearer abcdefghijklmnopqrstuvwxyz",
                "sent Bearer [redacted]",
            ),
            (
                "Authorization: Bearer opaque-credential-1 next",
                "Authorization: [redacted] next",
            ),
            (
                "authorization=basic dXNlcjpwYXNzd29yZA==",
                "authorization=[redacted]",
            ),
            (
                "sent bearer abcdefghijklmnopqrstuvwxyz",
                "sent bearer [redacted]",
            ),
            (
                "env TOWER_AUTH_TOKEN=abc123 db_password: x X-Auth-Token: y client_secret=z",
                "env TOWER_AUTH_TOKEN=[redacted] db_password: [redacted] X-Auth-Token: [redacted] client_secret=[redacted]",
            ),
            ("é password=ü€ x", "é password=[redacted] x"),
        ];
        for (given, wanted) in cases {
            assert_eq!(redact(given), wanted, "{given}");
        }
    }

    #[test]
    fn an_attribute_named_like_a_secret_is_hidden_whole() {
        let mut event = tower_proto::v1::TelemetryEvent {
            message: "login failed".to_owned(),
            ..Default::default()
        };
        event
            .attributes
            .insert("sftp_password".to_owned(), "plain words".to_owned());
        event
            .attributes
            .insert("host".to_owned(), "203.0.113.5".to_owned());
        redact_event(&mut event);
        assert_eq!(event.attributes["sftp_password"], HIDDEN);
        assert_eq!(event.attributes["host"], "203.0.113.5");
    }

    #[test]
    fn ordinary_messages_are_left_alone() {
        for text in [
            "the server refused the login for tt_ab12: check the user name and password (or key)",
            "connect timed out after 10s to 203.0.113.5:8822",
            "Bot restarted; token bucket refilled",
            "read failed: eof at deathlogs/world_0/2026.01.01-00.00.00.csv",
            "https://example.com/path@v1",
            "tokens: 5, secrets=2, passwordless login",
            "",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }
}

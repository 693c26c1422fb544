//! Which category an error falls in, from its kind and message: what an operator filters
//! by (`towerctl errors top --category`) and what the detections speak of. The kinds are
//! the processes' own (`sftp.connect`, `poll.database`, `posting.refused`, …); a message
//! that says "timed out" or "429" wins over the kind's area.

/// One of discord_api, database, sftp, permission, validation, timeout, rate_limit,
/// internal (what is stored, and what `--category` takes).
pub fn category(kind: &str, message: &str) -> &'static str {
    let message = message.to_ascii_lowercase();
    // "429" as a status code, not inside a port, a size or an id.
    let status_429 = message
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|word| word == "429");
    if status_429 || message.contains("too many requests") || message.contains("rate limit") {
        return "rate_limit";
    }
    if message.contains("timed out") || message.contains("timeout") || kind.ends_with("timeout") {
        return "timeout";
    }
    let area = kind.split('.').next().unwrap_or_default();
    match (area, kind) {
        (_, "posting.refused" | "command.refused") => "permission",
        (_, "command.invalid") => "validation",
        (_, "poll.database") | ("database" | "store", _) => "database",
        ("sftp", _) | (_, "poll.killfeed" | "poll.log" | "poll.connection_slot" | "poll.pool") => {
            "sftp"
        }
        ("posting" | "discord" | "gateway", _) => "discord_api",
        _ => "internal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_fall_in_their_categories() {
        assert_eq!(category("sftp.auth", "authentication failed"), "sftp");
        assert_eq!(category("poll.killfeed", "read failed: eof"), "sftp");
        assert_eq!(
            category("sftp.connect", "connect timed out after 10s"),
            "timeout"
        );
        assert_eq!(
            category("posting.refused", "403 Missing Permissions"),
            "permission"
        );
        assert_eq!(
            category("posting.failed", "Discord answered 429"),
            "rate_limit"
        );
        assert_eq!(
            category("posting.failed", "500 Internal Server Error"),
            "discord_api"
        );
        assert_eq!(category("poll.database", "server selection"), "database");
        assert_eq!(category("command.invalid", "bad port"), "validation");
        assert_eq!(category("poll.panic", "index out of range"), "internal");
        assert_eq!(
            category("sftp.unreachable", "connection refused by 10.0.0.1:4290"),
            "sftp",
            "a 429 inside a number is no rate limit"
        );
    }
}

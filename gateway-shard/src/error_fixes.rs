//! What an admin does about an error, by the kind the processes report it under
//! (`sftp.authfailed`, `posting.refused`, …): one table, for `/debug` and the admin alerts,
//! so the two never give different advice.

/// The kinds only a guild's admin can fix (the bot retrying never will): their admins are
/// told of them ([`crate::admin_alerts`]).
pub const ADMIN_FIXABLE: &[&str] = &[
    "sftp.authfailed",
    "sftp.hostkeychanged",
    "sftp.sftp",
    "sftp.addressrefused",
    "sftp.nofolder",
];

/// What to do about an error of `kind`.
pub fn fix_for(kind: &str) -> &'static str {
    match kind {
        "sftp.authfailed" => {
            "The game server refused the user name or password: copy them again from your game \
             host's panel and add the server again (/setup removeserver, /setup addserver; \
             statistics are kept)."
        }
        "sftp.hostkeychanged" => {
            "The server's SSH host key changed since it was added: if your game host moved the \
             server to a new machine, remove and add the server again to trust the new key; if \
             not, ask your host why."
        }
        "sftp.sftp" => {
            "The login works but the host gives this user no SFTP: ask your game host to enable \
             SFTP for it."
        }
        "sftp.addressrefused" => {
            "The host is an address the bot may not connect to (a private or local network): \
             use the public host name from your game host's panel."
        }
        "sftp.unresolved" => {
            "The host name does not resolve: check its spelling in your game host's panel."
        }
        "sftp.unreachable" | "sftp.timeout" | "sftp.handshake" => {
            "Nothing answered at the server's SFTP host and port, or it did not speak SSH: check \
             them in your game host's panel (the SFTP port, not the game port); /test_sftp shows \
             the failing step. If the host is down, reading resumes by itself."
        }
        "sftp.nofolder" | "sftp.no_killfeed" | "sftp.discovery" => {
            "The SFTP login finds no killfeed folder (`deathlogs/world_*`) and no \
             `Deadside.log`: check that this login sees the game server's files and that the \
             server id is the number in its folder's name (`host_ID`); /list_sftp_files shows \
             what the login sees."
        }
        "sftp.connection_slot" | "sftp.pool" | "poll.connection_slot" | "poll.pool" => {
            "Every SFTP connection your tier allows was busy (a backfill, or many servers): it \
             passes by itself; a higher tier allows more connections (/premium)."
        }
        "posting.refused" => {
            "Discord refused a post in a feed channel: /setup check server_id names the \
             channel and the missing permission."
        }
        "command.invalid" => {
            "An option was not accepted: /error_guide command_usage explains the command."
        }
        "command.refused" => {
            "The command needs admin rights or a higher tier: /error_guide missing_permission."
        }
        kind if kind.starts_with("poll.") || kind.starts_with("command.") => {
            "This is on the bot's side and it retries by itself; if it repeats, give this error \
             id to the bot's operator."
        }
        _ => {
            "/setup check server_id shows what is wrong with a game server; if nothing is, give \
             this error id to the bot's operator."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_admins_are_told_of_has_its_own_fix() {
        let generic = fix_for("no.such.kind");
        for kind in ADMIN_FIXABLE {
            assert_ne!(fix_for(kind), generic, "{kind}");
        }
    }
}

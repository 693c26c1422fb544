//! The guild "Sandbox", set up the way its people would set it up, through the bot's own
//! commands: the bot owner makes it the home guild, its admin grants it the top tier, adds
//! the demo game server and points its four channels at the sandbox's channels, then turns
//! the killfeed and the events on. A sandbox that is already set up is left as it is.

use crate::discord_sim::DiscordSimulator;
use crate::discord_sim::interactions::{Member, Opt};

use super::demo_server::SftpAccount;
use super::{SERVER_ID, SERVER_NAME, channel_id};

/// How long one set-up command may take.
const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the set-up; returns what it did, a line per step. The server is added only when
/// `/setup list_servers` does not list it yet; every other step is run again each time
/// (each may be repeated), so a set-up cut short earlier is finished.
pub async fn set_up(
    sim: &DiscordSimulator,
    owner: &Member,
    admin: &Member,
    sftp: &SftpAccount,
) -> Result<Vec<String>, String> {
    let listed = run(sim, admin, "setup list_servers", &[], None)
        .await?
        .contains(SERVER_ID);
    let sid = || ("server_id", Opt::str(SERVER_ID));
    let channel = |name: &str| Opt::Channel(channel_id(name).unwrap_or(0));
    let mut done = Vec::new();
    if listed {
        done.push(format!("{SERVER_NAME} ({SERVER_ID}) is already added"));
    }
    let steps: Vec<Step> = vec![
        (owner, "admin sethomeguild", vec![], "Home server set"),
        (
            admin,
            "admin premium",
            vec![
                ("guild_id", Opt::str(admin.guild_id.to_string())),
                ("tier", Opt::Int(4)),
            ],
            "Premium granted",
        ),
        (
            admin,
            "setup addserver",
            vec![
                ("server_name", Opt::str(SERVER_NAME)),
                ("host", Opt::str("127.0.0.1")),
                ("port", Opt::Int(i64::from(sftp.port))),
                ("username", Opt::str(&sftp.user)),
                ("password", Opt::str(&sftp.password)),
                sid(),
            ],
            "Server added",
        ),
        (
            admin,
            "setup channels",
            vec![
                sid(),
                ("killfeed_channel", channel("killfeed")),
                ("events_channel", channel("events")),
                ("connections_channel", channel("connections")),
                ("voice_status_channel", channel("players")),
            ],
            "Channels saved",
        ),
        (admin, "killfeed start", vec![sid()], "Killfeed started"),
        (admin, "events start", vec![sid()], "Events started"),
    ];
    for (member, path, options, expected) in steps {
        if listed && path == "setup addserver" {
            continue;
        }
        run(sim, member, path, &options, Some(expected)).await?;
        done.push(format!("/{path}: {expected}"));
    }
    Ok(done)
}

/// One set-up command: who sends it, the command, its options, the answer's title.
type Step<'a> = (&'a Member, &'a str, Vec<(&'a str, Opt)>, &'a str);

/// Sends one command; its answer's text, or why it failed (including an answer whose
/// title is not `expected`).
async fn run(
    sim: &DiscordSimulator,
    member: &Member,
    path: &str,
    options: &[(&str, Opt)],
    expected: Option<&str>,
) -> Result<String, String> {
    let sent = sim.try_slash(0, member, path, options)?;
    let answer = sim
        .answer(&sent, ANSWER_WAIT)
        .await
        .map_err(|e| format!("/{path}: {e}"))?;
    match expected {
        Some(title) if answer.title() != title => Err(format!(
            "/{path} answered {:?}, not {title:?}: {}",
            answer.title(),
            answer.text()
        )),
        _ => Ok(answer.text()),
    }
}

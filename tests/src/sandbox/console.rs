//! The sandbox's console: one typed line at a time, as a user at the prompt or a line of
//! a `--script` file.
//!
//! ```text
//! /stats leaderboard server_id:7020 stat:kills   a slash command, sent as a real interaction
//! press 2                                        the 2nd button of the last answer
//! wait-post killfeed 60                          the next post in #killfeed (fails after 60 s)
//! sleep 5
//! as member | as admin                           who types the next commands
//! help
//! ```

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::discord_sim::interactions::{Answer, Member};
use crate::discord_sim::{DiscordSimulator, SimEvent};

use super::render::{self, Style};
use super::{CHANNELS, channel_id, command_line};

/// How long a command's answer may take.
const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// How long long work (`/historical_parse`, `/test_sftp`) may take after its "Working…".
const SLOW_ANSWER_WAIT: Duration = Duration::from_secs(120);
/// `wait-post`'s default patience.
const POST_WAIT: Duration = Duration::from_secs(60);

/// What the console keeps between lines.
pub struct Console<'a> {
    sim: &'a DiscordSimulator,
    admin: Member,
    member: Member,
    acting: Member,
    style: Style,
    /// How many posts of each channel `wait-post` has shown.
    shown: HashMap<u64, usize>,
    /// The last answer, whose buttons `press` presses.
    last: Option<Answer>,
}

/// The help text.
pub const HELP: &str = "\
Type a slash command as in Discord, options as name:value (quote values with spaces):
  /stats leaderboard server_id:7020 stat:kills
  /stats player server_id:7020 player_name:\"HallagerTheDane\"
  /setup channels server_id:7020 killfeed_channel:#killfeed
and:
  press N                  press the Nth button of the last answer
  wait-post CHANNEL [S]    show the next post in a channel (killfeed, events, connections)
  sleep S                  wait S seconds
  as admin | as member     who types the next commands
  commands                 every command the bot registered
  help, quit";

impl<'a> Console<'a> {
    /// A console typing as `admin` (or as a plain member once `as member` is typed).
    pub fn new(sim: &'a DiscordSimulator, admin: Member, member: Member, as_member: bool) -> Self {
        let acting = if as_member {
            member.clone()
        } else {
            admin.clone()
        };
        Self {
            sim,
            admin,
            member,
            acting,
            style: Style::for_stdout(),
            shown: HashMap::new(),
            last: None,
        }
    }

    /// Plain text whatever standard output is (`--script`).
    pub fn plain(mut self) -> Self {
        self.style = Style { colour: false };
        self
    }

    /// Runs one line; what to print, or why it failed.
    pub async fn run(&mut self, line: &str) -> Result<String, String> {
        let line = line.trim();
        let mut words = line.split_whitespace();
        match words.next() {
            None => Ok(String::new()),
            Some(w) if w.starts_with('#') => Ok(String::new()),
            Some(w) if w.starts_with('/') => self.slash(line).await,
            Some("press") => {
                let n = words.next().and_then(|n| n.parse::<usize>().ok());
                self.press(n.ok_or("press takes a button number: press 2")?)
                    .await
            }
            Some("wait-post") => {
                let channel = words
                    .next()
                    .ok_or("wait-post takes a channel: wait-post killfeed")?;
                let patience = match words.next() {
                    Some(s) => seconds(s)?,
                    None => POST_WAIT,
                };
                self.wait_post(channel, patience).await
            }
            Some("sleep") => {
                let s = words.next().ok_or("sleep takes seconds: sleep 5")?;
                tokio::time::sleep(seconds(s)?).await;
                Ok(String::new())
            }
            Some("as") => match words.next() {
                Some("admin") => {
                    self.acting = self.admin.clone();
                    Ok("now typing as the sandbox admin\n".to_owned())
                }
                Some("member") => {
                    self.acting = self.member.clone();
                    Ok("now typing as a plain member\n".to_owned())
                }
                _ => Err("as admin, or as member".to_owned()),
            },
            Some("help") => Ok(format!("{HELP}\n")),
            Some("quit" | "exit") => Ok(String::new()),
            Some("commands") => {
                let registered = self.sim.registered_commands().unwrap_or(Value::Null);
                let paths = command_line::command_paths(&registered);
                Ok(paths.iter().map(|p| format!("  /{p}\n")).collect())
            }
            Some(other) => Err(format!(
                "{other}: not something the sandbox knows (type help)"
            )),
        }
    }

    async fn slash(&mut self, line: &str) -> Result<String, String> {
        let registered = self.sim.registered_commands().unwrap_or(Value::Null);
        let typed = command_line::parse(line, &registered, &channel_id)?;
        let sent = self
            .sim
            .try_slash(0, &self.acting, &typed.path, &typed.option_refs())?;
        let answer = self
            .sim
            .answer(&sent, ANSWER_WAIT)
            .await
            .map_err(|e| format!("/{}: {e}", typed.path))?;
        // Long work answers "Working…" at once, then edits its answer in when done.
        if !answer.is_progress() {
            return Ok(self.show_answer(answer));
        }
        let working = self.show_answer(answer);
        let done = self
            .sim
            .edited_answer(&sent, SLOW_ANSWER_WAIT)
            .await
            .map_err(|e| format!("/{}: {e}", typed.path))?;
        Ok(working + &self.show_answer(done))
    }

    async fn press(&mut self, n: usize) -> Result<String, String> {
        let last = self.last.as_ref().ok_or("no answer with buttons yet")?;
        let buttons = render::buttons(&last.data);
        let ids = last.buttons();
        let (Some((label, disabled)), Some(id)) = (
            n.checked_sub(1).and_then(|i| buttons.get(i)),
            n.checked_sub(1).and_then(|i| ids.get(i)),
        ) else {
            return Err(format!("the last answer has {} buttons", ids.len()));
        };
        if *disabled {
            return Err(format!("button {n} ({label}) is disabled"));
        }
        let sent = self.sim.press(0, &self.acting, id);
        let answer = self
            .sim
            .answer(&sent, ANSWER_WAIT)
            .await
            .map_err(|e| format!("press {n} ({label}): {e}"))?;
        Ok(self.show_answer(answer))
    }

    fn show_answer(&mut self, answer: Answer) -> String {
        let shown = render::message("answer", &answer.data, self.style);
        if !answer.buttons().is_empty() {
            self.last = Some(answer);
        }
        shown
    }

    /// The next post in `channel` not shown yet, waiting up to `patience` for it.
    async fn wait_post(&mut self, channel: &str, patience: Duration) -> Result<String, String> {
        let name = channel.trim_start_matches('#');
        let id = channel_id(name).ok_or_else(|| {
            let names: Vec<&str> = CHANNELS.iter().map(|c| c.name).collect();
            format!("no channel {name} (the sandbox has {})", names.join(", "))
        })?;
        let seen = self.shown.get(&id).copied().unwrap_or(0);
        // Subscribed before looking, so a post between the two is not missed.
        let mut events = self.sim.subscribe();
        let found = tokio::time::timeout(patience, async {
            loop {
                if let Some(post) = self.sim.posted(id).get(seen) {
                    return Some(post.clone());
                }
                loop {
                    match events.recv().await {
                        Ok(SimEvent::Posted { channel, .. }) if channel == id => break,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })
        .await;
        match found {
            Ok(Some(post)) => {
                self.shown.insert(id, seen + 1);
                Ok(render::message(&format!("#{name}"), &post, self.style))
            }
            _ => Err(format!("no post in #{name} within {}s", patience.as_secs())),
        }
    }
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{text:?} is not a number of seconds (0 to 3600)"))
}

/// Prints every post and edit in a sandbox channel and every rename of its voice channel as
/// they happen (the prompt's live view), until the simulator stops.
pub async fn show_live(sim: &DiscordSimulator, style: Style, print: super::prompt::Print) {
    let mut events = sim.subscribe();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        match event {
            SimEvent::Posted { channel, body, .. } => {
                if let Some(c) = CHANNELS.iter().find(|c| c.id == channel) {
                    print(render::message(&format!("#{}", c.name), &body, style));
                }
            }
            // A message edited in place (a leaderboard's refresh, an event's fights).
            SimEvent::Edited { channel, body, .. } => {
                if let Some(c) = CHANNELS.iter().find(|c| c.id == channel) {
                    print(render::message(
                        &format!("#{} (edited)", c.name),
                        &body,
                        style,
                    ));
                }
            }
            SimEvent::Rest(call) if call.method == "PATCH" && !call.rate_limited => {
                let renamed = CHANNELS
                    .iter()
                    .find(|c| call.path == format!("/channels/{}", c.id));
                let name = call
                    .body
                    .as_ref()
                    .and_then(|b| b.get("name"))
                    .and_then(Value::as_str);
                if let (Some(c), Some(name)) = (renamed, name) {
                    print(render::rename(c.name, name, style));
                }
            }
            _ => {}
        }
    }
}

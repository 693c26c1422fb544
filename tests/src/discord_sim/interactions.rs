//! Acting as a Discord user: slash commands, autocomplete and button presses sent to the
//! bot as `INTERACTION_CREATE` dispatches, shaped as Discord sends them, and waiting for
//! what the bot answered (the interaction callback, then any edit of the original
//! response).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::rest::{self, RestCall};
use super::{APPLICATION_ID, BOT_USER_ID, DiscordSimulator, SimError, SimEvent};

/// Permission bits (as Discord sends them in `member.permissions`).
pub const ADMINISTRATOR: u64 = 1 << 3;
/// What an ordinary member has: view channels, send messages, use application commands.
pub const MEMBER: u64 = (1 << 10) | (1 << 11) | (1 << 31);

/// The member an interaction comes from.
#[derive(Debug, Clone)]
pub struct Member {
    pub guild_id: u64,
    pub user_id: u64,
    pub permissions: u64,
    pub roles: Vec<u64>,
}

impl Member {
    pub fn admin(guild_id: u64, user_id: u64) -> Self {
        Self {
            guild_id,
            user_id,
            permissions: ADMINISTRATOR | MEMBER,
            roles: Vec::new(),
        }
    }

    pub fn ordinary(guild_id: u64, user_id: u64) -> Self {
        Self {
            guild_id,
            user_id,
            permissions: MEMBER,
            roles: Vec::new(),
        }
    }
}

/// One option value of a slash command.
#[derive(Debug, Clone)]
pub enum Opt {
    Str(String),
    Int(i64),
    Bool(bool),
    Channel(u64),
    Role(u64),
    User(u64),
    /// The option being typed in (autocomplete).
    Focused(String),
}

impl Opt {
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    fn json(&self, name: &str) -> Value {
        match self {
            Self::Str(s) => json!({ "name": name, "type": 3, "value": s }),
            Self::Int(n) => json!({ "name": name, "type": 4, "value": n }),
            Self::Bool(b) => json!({ "name": name, "type": 5, "value": b }),
            Self::Channel(id) => json!({ "name": name, "type": 7, "value": id.to_string() }),
            Self::Role(id) => json!({ "name": name, "type": 8, "value": id.to_string() }),
            Self::User(id) => json!({ "name": name, "type": 6, "value": id.to_string() }),
            Self::Focused(s) => json!({ "name": name, "type": 3, "value": s, "focused": true }),
        }
    }
}

/// An interaction the simulator sent.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: u64,
    pub token: String,
    /// When it was handed to the gateway connection.
    pub at: std::time::Instant,
}

/// What the bot answered to an interaction.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The callback type (4 message, 5 deferred, 7 update message, 8 autocomplete result).
    pub kind: u64,
    /// The message data (callback `data`, or the edit's body).
    pub data: Value,
}

impl Answer {
    pub fn embeds(&self) -> Vec<Value> {
        self.data
            .get("embeds")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// A step of long work ("Working…"): its answer is edited in later.
    pub fn is_progress(&self) -> bool {
        shows_progress(&self.data)
    }

    /// The first embed's title.
    pub fn title(&self) -> String {
        self.embeds()
            .first()
            .and_then(|e| e.get("title"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// Every text of the message (content, titles, descriptions, fields, footers), joined.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some(c) = self.data.get("content").and_then(Value::as_str) {
            out.push_str(c);
            out.push('\n');
        }
        for e in self.embeds() {
            for k in ["title", "description"] {
                if let Some(t) = e.get(k).and_then(Value::as_str) {
                    out.push_str(t);
                    out.push('\n');
                }
            }
            for f in e
                .get("fields")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                for k in ["name", "value"] {
                    if let Some(t) = f.get(k).and_then(Value::as_str) {
                        out.push_str(t);
                        out.push('\n');
                    }
                }
            }
            if let Some(t) = e.pointer("/footer/text").and_then(Value::as_str) {
                out.push_str(t);
                out.push('\n');
            }
        }
        out
    }

    /// Only the caller sees it.
    pub fn is_ephemeral(&self) -> bool {
        self.data
            .get("flags")
            .and_then(Value::as_u64)
            .is_some_and(|f| f & 64 != 0)
    }

    /// `custom_id`s of the message's buttons.
    pub fn buttons(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in self
            .data
            .get("components")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            for c in row
                .get("components")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
            {
                if let Some(id) = c.get("custom_id").and_then(Value::as_str) {
                    out.push(id.to_owned());
                }
            }
        }
        out
    }

    /// Autocomplete suggestions: (name, value).
    pub fn choices(&self) -> Vec<(String, String)> {
        self.data
            .get("choices")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                let s = |k: &str| {
                    c.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (s("name"), s("value"))
            })
            .collect()
    }
}

static NEXT_INTERACTION: AtomicU64 = AtomicU64::new(1);

/// Interaction types (Discord's `type`): a slash command, and an option being typed.
const SLASH_COMMAND: u64 = 2;
const AUTOCOMPLETE: u64 = 4;

/// Discord's `data.options` for a command path and its options.
fn command_data(path: &str, options: &[(&str, Opt)]) -> Value {
    let mut names = path.split(' ');
    let name = names.next().unwrap_or_default();
    let mut opts: Vec<Value> = options.iter().map(|(n, o)| o.json(n)).collect();
    let subs: Vec<&str> = names.collect();
    for sub in subs.iter().rev() {
        opts = vec![json!({ "name": sub, "type": 1, "options": opts })];
    }
    // Like Discord, every member named in an option comes resolved: the bot's own user
    // as a bot.
    let users: serde_json::Map<String, Value> = options
        .iter()
        .filter_map(|(_, o)| match o {
            Opt::User(id) => Some((
                id.to_string(),
                rest::user(*id, &format!("user{}", id % 1000), *id == BOT_USER_ID),
            )),
            _ => None,
        })
        .collect();
    let mut data = json!({ "id": "400000000000000001", "name": name, "type": 1, "options": opts });
    if let (false, Some(map)) = (users.is_empty(), data.as_object_mut()) {
        map.insert("resolved".into(), json!({ "users": users }));
    }
    data
}

impl DiscordSimulator {
    fn interaction(
        &self,
        shard: u32,
        member: &Member,
        kind: u64,
        data: Value,
        message: Option<Value>,
    ) -> Sent {
        let n = NEXT_INTERACTION.fetch_add(1, Ordering::Relaxed);
        let id = 500_000_000_000_000_000 + n;
        let token = format!("sim-interaction-token-{n}");
        let mut body = json!({
            "id": id.to_string(),
            "application_id": APPLICATION_ID.to_string(),
            "type": kind,
            "data": data,
            "guild_id": member.guild_id.to_string(),
            "channel_id": "600000000000000001",
            "member": {
                "user": rest::user(member.user_id, &format!("user{}", member.user_id % 1000), false),
                "roles": member.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
                "permissions": member.permissions.to_string(),
                "joined_at": "2025-01-01T00:00:00.000000+00:00",
                "deaf": false, "mute": false, "flags": 0, "nick": null,
                "communication_disabled_until": null,
            },
            "token": token,
            "version": 1,
            "app_permissions": "2147483647",
            "locale": "en-GB",
            "guild_locale": "en-GB",
            "entitlements": [],
            "authorizing_integration_owners": { "0": member.guild_id.to_string() },
            "context": 0,
            "attachment_size_limit": 10_485_760,
        });
        if let (Some(m), Some(map)) = (message, body.as_object_mut()) {
            map.insert("message".into(), m);
        }
        let at = std::time::Instant::now();
        self.dispatch(shard, "INTERACTION_CREATE", body);
        Sent { id, token, at }
    }

    /// A slash command: `path` is the command and subcommand names (`"stats player"`).
    /// Like Discord, only what the bot registered can be sent: an unknown command or
    /// option, a wrong type, a value outside the choices, or a missing required option
    /// stops the test.
    pub fn slash(&self, shard: u32, member: &Member, path: &str, options: &[(&str, Opt)]) -> Sent {
        self.try_slash(shard, member, path, options)
            .unwrap_or_else(|refused| panic!("{refused}"))
    }

    /// A user context-menu command (`"View Rivalries"`) used on the member `target`: as
    /// Discord sends it (command type 2, `target_id`, the user resolved). Only a user
    /// command the bot registered can be sent.
    pub fn user_command(&self, shard: u32, member: &Member, name: &str, target: u64) -> Sent {
        let registered = self.registered_commands().is_some_and(|commands| {
            commands
                .as_array()
                .is_some_and(|all| all.iter().any(|c| c["name"] == name && c["type"] == 2))
        });
        assert!(registered, "{name}: no such user command registered");
        let user = rest::user(target, &format!("user{}", target % 1000), false);
        let data = json!({
            "id": "400000000000000002",
            "name": name,
            "type": 2,
            "target_id": target.to_string(),
            "resolved": { "users": { target.to_string(): user } },
        });
        self.interaction(shard, member, SLASH_COMMAND, data, None)
    }

    /// [`Self::slash`], with what Discord would refuse as an `Err` (the sandbox's prompt).
    pub fn try_slash(
        &self,
        shard: u32,
        member: &Member,
        path: &str,
        options: &[(&str, Opt)],
    ) -> Result<Sent, String> {
        self.checked_command(shard, member, path, options, SLASH_COMMAND)
    }

    /// [`Self::autocomplete`], with what Discord would refuse as an `Err`.
    pub fn try_autocomplete(
        &self,
        shard: u32,
        member: &Member,
        path: &str,
        options: &[(&str, Opt)],
    ) -> Result<Sent, String> {
        self.checked_command(shard, member, path, options, AUTOCOMPLETE)
    }

    /// A command interaction of `kind`, if Discord would send it: a slash command needs
    /// its required options; while typing (autocomplete) they may still be empty.
    fn checked_command(
        &self,
        shard: u32,
        member: &Member,
        path: &str,
        options: &[(&str, Opt)],
        kind: u64,
    ) -> Result<Sent, String> {
        self.check_against_registered(path, options, kind == SLASH_COMMAND)?;
        Ok(self.interaction(shard, member, kind, command_data(path, options), None))
    }

    /// Why Discord could not send this command (see [`Self::slash`]), if it could not.
    fn check_against_registered(
        &self,
        path: &str,
        options: &[(&str, Opt)],
        complete: bool,
    ) -> Result<(), String> {
        let Some(Value::Array(commands)) = self.registered_commands() else {
            return Err(format!("/{path}: the bot has registered no commands"));
        };
        let mut names = path.split(' ');
        let top = names.next().unwrap_or_default();
        let Some(mut node) = commands.iter().find(|c| c["name"] == top) else {
            return Err(format!("/{path}: no such command registered"));
        };
        for sub in names {
            let found = node["options"]
                .as_array()
                .and_then(|o| o.iter().find(|o| o["name"] == sub));
            let Some(found) = found else {
                return Err(format!("/{path}: no subcommand {sub} registered"));
            };
            node = found;
        }
        let schema = node["options"].as_array().cloned().unwrap_or_default();
        for (name, value) in options {
            let Some(option) = schema.iter().find(|o| o["name"] == *name) else {
                return Err(format!("/{path}: no option {name} registered"));
            };
            let sent = value.json(name);
            let focused = matches!(value, Opt::Focused(_));
            let kind = sent["type"].as_u64().unwrap_or(0);
            let registered = option["type"].as_u64().unwrap_or(0);
            if kind != registered && !focused {
                return Err(format!(
                    "/{path}: option {name} is type {registered}, sent as {kind}"
                ));
            }
            if let (Some(choices), false) = (
                option["choices"].as_array().filter(|c| !c.is_empty()),
                focused,
            ) && !choices.iter().any(|c| c["value"] == sent["value"])
            {
                let allowed: Vec<String> = choices.iter().map(|c| c["value"].to_string()).collect();
                return Err(format!(
                    "/{path}: {name}={} is not one of its choices ({})",
                    sent["value"],
                    allowed.join(", ")
                ));
            }
        }
        if complete {
            for option in &schema {
                let name = option["name"].as_str().unwrap_or_default();
                if option["required"] == Value::Bool(true)
                    && !options.iter().any(|(n, _)| *n == name)
                {
                    return Err(format!("/{path}: required option {name} missing"));
                }
            }
        }
        Ok(())
    }

    /// Typing in an option: exactly one option should be [`Opt::Focused`].
    pub fn autocomplete(
        &self,
        shard: u32,
        member: &Member,
        path: &str,
        options: &[(&str, Opt)],
    ) -> Sent {
        self.try_autocomplete(shard, member, path, options)
            .unwrap_or_else(|refused| panic!("{refused}"))
    }

    /// Pressing a button of a message the bot sent.
    pub fn press(&self, shard: u32, member: &Member, custom_id: &str) -> Sent {
        let message = rest::message(700_000_000_000_000_001, "600000000000000001", &json!({}));
        self.interaction(
            shard,
            member,
            3,
            json!({ "custom_id": custom_id, "component_type": 2 }),
            Some(message),
        )
    }

    /// `member` chooses `values` in the select menu `custom_id` of a bot message.
    pub fn select(&self, shard: u32, member: &Member, custom_id: &str, values: &[&str]) -> Sent {
        let message = rest::message(700_000_000_000_000_001, "600000000000000001", &json!({}));
        self.interaction(
            shard,
            member,
            3,
            json!({ "custom_id": custom_id, "component_type": 3, "values": values }),
            Some(message),
        )
    }

    /// Whether `c` is the bot's first response to `sent`.
    pub fn is_callback(sent: &Sent, c: &RestCall) -> bool {
        !c.rate_limited
            && c.method == "POST"
            && c.path == format!("/interactions/{}/{}/callback", sent.id, sent.token)
    }

    /// How the bot completes an acknowledged interaction: it edits the original response,
    /// or (for a private answer to a public acknowledgement) sends a follow-up.
    fn is_edit(sent: &Sent, c: &RestCall) -> bool {
        let webhook = format!("/webhooks/{APPLICATION_ID}/{}", sent.token);
        !c.rate_limited
            && ((c.method == "PATCH" && c.path == format!("{webhook}/messages/@original"))
                || (c.method == "POST" && c.path == webhook))
    }

    /// An edit showing a command's progress: its first embed's title ends with "…".
    fn is_progress(c: &RestCall) -> bool {
        c.body.as_ref().is_some_and(shows_progress)
    }

    /// The bot's first response (the interaction callback).
    pub async fn first_answer(&self, sent: &Sent, timeout: Duration) -> Result<Answer, SimError> {
        let event = self
            .wait_for(
                "the interaction callback",
                timeout,
                |e| matches!(e, SimEvent::Rest(c) if Self::is_callback(sent, c)),
            )
            .await?;
        let SimEvent::Rest(call) = event else {
            unreachable!("matched a REST call")
        };
        if let Some(reason) = call.rejected {
            return Err(SimError::Refused(reason));
        }
        let body = call.body.unwrap_or(Value::Null);
        Ok(Answer {
            kind: body.get("type").and_then(Value::as_u64).unwrap_or(0),
            data: body.get("data").cloned().unwrap_or(Value::Null),
        })
    }

    /// The bot's first edit of the original response that is not a progress step (a
    /// progress title ends with "…").
    pub async fn edited_answer(&self, sent: &Sent, timeout: Duration) -> Result<Answer, SimError> {
        let event = self
            .wait_for("an edit of the original response", timeout, |e| {
                matches!(e, SimEvent::Rest(c) if Self::is_edit(sent, c) && !Self::is_progress(c))
            })
            .await?;
        let SimEvent::Rest(call) = event else {
            unreachable!("matched a REST call")
        };
        if let Some(reason) = call.rejected {
            return Err(SimError::Refused(reason));
        }
        Ok(Answer {
            kind: 4,
            data: call.body.unwrap_or(Value::Null),
        })
    }

    /// Every message of the answer so far, in order: the callback's message (unless it was
    /// a defer), edits of it, and follow-ups; a message Discord would have refused is an
    /// `Err` with the reason. A long answer comes as several.
    pub fn messages(&self, sent: &Sent) -> Vec<Result<Answer, String>> {
        self.rest_calls()
            .into_iter()
            .filter(|c| Self::is_callback(sent, c) || Self::is_edit(sent, c))
            .filter_map(|c| {
                if let Some(reason) = c.rejected {
                    return Some(Err(reason));
                }
                let callback = Self::is_callback(sent, &c);
                let body = c.body.unwrap_or(Value::Null);
                if callback {
                    let kind = body.get("type").and_then(Value::as_u64).unwrap_or(0);
                    let data = body.get("data").cloned().unwrap_or(Value::Null);
                    return (kind == 4 || kind == 7).then_some(Ok(Answer { kind, data }));
                }
                Some(Ok(Answer {
                    kind: 4,
                    data: body,
                }))
            })
            .collect()
    }

    /// What the user ends up seeing: the callback, or after a defer (type 5, or 6 for a
    /// button's message) the edit or the private follow-up that replaced it.
    pub async fn answer(&self, sent: &Sent, timeout: Duration) -> Result<Answer, SimError> {
        let first = self.first_answer(sent, timeout).await?;
        // A deferred answer, or a deferred update of a message (a button's).
        if first.kind == 5 || first.kind == 6 {
            return self.edited_answer(sent, timeout).await;
        }
        Ok(first)
    }
}

/// A message whose first embed's title ends with "…": a command's progress, not its answer.
fn shows_progress(body: &Value) -> bool {
    body.pointer("/embeds/0/title")
        .and_then(Value::as_str)
        .is_some_and(|t| t.ends_with('…'))
}

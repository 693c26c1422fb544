//! The simulated REST API under `/api/v10`: records each call and answers what the bot
//! needs. Calls it does not know are recorded and answered 404, as Discord would.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{APPLICATION_ID, BOT_NAME, BOT_USER_ID, OWNER_USER_ID, SimEvent, SimState};

/// One REST call the bot made.
#[derive(Debug, Clone, PartialEq)]
pub struct RestCall {
    pub method: String,
    /// Path after `/api/v10`, e.g. `/channels/1/messages`.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
    /// Answered 429 (an injected rate limit).
    pub rate_limited: bool,
    /// Answered 400 "Invalid Form Body": what Discord would refuse in it (an embed over
    /// its limits, an autocomplete choice with an empty name, …).
    pub rejected: Option<String>,
    /// When the simulator received it.
    pub at: std::time::Instant,
}

/// A rate limit to inject (see `DiscordSimulator::rate_limit`).
#[derive(Debug, Clone)]
pub(crate) struct RateLimitRule {
    pub(crate) method: String,
    pub(crate) path_prefix: String,
    pub(crate) remaining: u32,
    pub(crate) retry_after: f64,
    pub(crate) global: bool,
}

/// What the REST side remembers.
/// How the simulator fails channel posts, when it does (`DiscordSimulator::fail_posts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostFailure {
    /// 500 Internal Server Error at once; nothing is posted.
    ServerError,
    /// No answer for 15 s (past the bot's request timeout), then a 500; nothing posted.
    Timeout,
    /// The message is posted, but its answer is lost: no answer for 15 s, then a 500.
    LostAnswer,
}

/// How long Discord remembers a message's nonce for `enforce_nonce`: "a few minutes".
pub const NONCE_MEMORY: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Default)]
pub(crate) struct RestState {
    pub(crate) rate_limits: Mutex<Vec<RateLimitRule>>,
    pub(crate) failing_posts: Mutex<Option<PostFailure>>,
    /// (channel, nonce) → message id and when it was posted, for `enforce_nonce`.
    nonces: Mutex<HashMap<(u64, String), (u64, std::time::Instant)>>,
    /// How long each channel post takes (see `DiscordSimulator::slow_posts`).
    pub(crate) post_delay: Mutex<Option<std::time::Duration>>,
    /// How long a nonce is remembered ([`NONCE_MEMORY`] unless a test shortens it).
    pub(crate) nonce_memory: Mutex<Option<std::time::Duration>>,
    next_id: AtomicU64,
    /// Channels whose posts are answered 403 (see `DiscordSimulator::refuse_posts`).
    pub(crate) refused_channels: Mutex<std::collections::HashSet<u64>>,
    /// Channels that are voice channels (see `DiscordSimulator::voice_channel`); every
    /// other channel id is a text channel.
    pub(crate) voice_channels: Mutex<std::collections::HashSet<u64>>,
    /// The command set Discord had before this simulator started (see
    /// `DiscordSimulator::commands_registered_before`).
    pub(crate) earlier_commands: Mutex<Option<Value>>,
    /// The channel messages there are now: id → (channel, body as last posted or
    /// edited). A deleted one is gone from here.
    pub(crate) messages: Mutex<HashMap<u64, (u64, Value)>>,
}

impl RestState {
    fn next_id(&self) -> u64 {
        300_000_000_000_000_000 + self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Takes one injected 429 for this call, if a rule matches.
    fn take_rate_limit(&self, method: &str, path: &str) -> Option<(f64, bool)> {
        let mut rules = self.rate_limits.lock().ok()?;
        let rule = rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.method == method && path.starts_with(&r.path_prefix))?;
        rule.remaining -= 1;
        Some((rule.retry_after, rule.global))
    }
}

pub(crate) async fn handle(
    State(state): State<Arc<SimState>>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/{path}");
    let limited = state.rest.take_rate_limit(method.as_str(), &path);
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let rejected = parsed
        .as_ref()
        .and_then(|b| form_body::check(method.as_str(), &path, b).err());
    let call = RestCall {
        method: method.to_string(),
        path: path.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: parsed,
        rate_limited: limited.is_some(),
        rejected: rejected.clone(),
        at: std::time::Instant::now(),
    };
    state.record(SimEvent::Rest(call.clone()));
    // Interaction callbacks and webhooks are authorised by the token in their path.
    let token_in_path = path.starts_with("/interactions/") || path.starts_with("/webhooks/");
    if !token_in_path
        && call
            .authorization
            .as_deref()
            .is_none_or(|a| !a.starts_with("Bot "))
    {
        return error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    if let Some((retry_after, global)) = limited {
        return too_many_requests(retry_after, global);
    }
    let post =
        method == Method::POST && path.starts_with("/channels/") && path.ends_with("/messages");
    let failing = state.rest.failing_posts.lock().ok().and_then(|f| *f);
    if let (true, Some(failure)) = (post, failing) {
        if failure == PostFailure::LostAnswer {
            let _ = answer(&state, &method, &path, call.body);
        }
        if matches!(failure, PostFailure::Timeout | PostFailure::LostAnswer) {
            tokio::time::sleep(std::time::Duration::from_secs(15)).await;
        }
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            0,
            "500: Internal Server Error",
        );
    }
    let delay = state.rest.post_delay.lock().ok().and_then(|d| *d);
    if let (true, Some(delay)) = (post, delay) {
        tokio::time::sleep(delay).await;
    }
    if let Some(reason) = rejected {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "message": "Invalid Form Body", "code": 50035, "errors": reason })),
        )
            .into_response();
    }
    answer(&state, &method, &path, call.body)
        .unwrap_or_else(|| error(StatusCode::NOT_FOUND, 0, "404: Not Found"))
}

fn answer(state: &SimState, method: &Method, path: &str, body: Option<Value>) -> Option<Response> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ok = |v: Value| Some((StatusCode::OK, axum::Json(v)).into_response());
    let app = APPLICATION_ID.to_string();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["users", "@me"]) => ok(current_user()),
        ("GET", ["gateway", "bot"]) => ok(json!({
            "url": format!("ws://{}", state.addr),
            "shards": 1,
            "session_start_limit": { "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1 },
        })),
        ("GET", ["gateway"]) => ok(json!({ "url": format!("ws://{}", state.addr) })),
        ("GET", ["applications", "@me"]) | ("GET", ["oauth2", "applications", "@me"]) => {
            ok(json!({
                "id": app, "name": BOT_NAME, "icon": null, "description": "",
                "bot_public": true, "bot_require_code_grant": false, "verify_key": "", "flags": 0,
                "owner": user(OWNER_USER_ID, "owner", false), "team": null,
            }))
        }
        ("PUT", ["applications", a, "commands"]) if *a == app => {
            let commands: Vec<Value> = body
                .and_then(|b| b.as_array().cloned())
                .unwrap_or_default()
                .into_iter()
                .map(|mut c| {
                    if let Some(map) = c.as_object_mut() {
                        map.insert("id".into(), json!(state.rest.next_id().to_string()));
                        map.insert("application_id".into(), json!(app));
                        map.insert("version".into(), json!("1"));
                    }
                    c
                })
                .collect();
            ok(Value::Array(commands))
        }
        ("POST", ["channels", channel, "messages"]) => {
            let channel_id: u64 = channel.parse().ok()?;
            if state
                .rest
                .refused_channels
                .lock()
                .is_ok_and(|r| r.contains(&channel_id))
            {
                return Some(error(StatusCode::FORBIDDEN, 50013, "Missing Permissions"));
            }
            let body = body.unwrap_or(Value::Null);
            let nonce = body.get("nonce").map(|n| match n {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let enforce = body.get("enforce_nonce").and_then(Value::as_bool) == Some(true);
            let memory = state
                .rest
                .nonce_memory
                .lock()
                .ok()
                .and_then(|m| *m)
                .unwrap_or(NONCE_MEMORY);
            let known = match (&nonce, enforce) {
                (Some(n), true) => state
                    .rest
                    .nonces
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&(channel_id, n.clone())).copied())
                    .filter(|(_, at)| at.elapsed() < memory)
                    .map(|(id, _)| id),
                _ => None,
            };
            let id = match known {
                Some(id) => id,
                None => {
                    let id = state.rest.next_id();
                    if let (Some(n), true) = (&nonce, enforce)
                        && let Ok(mut m) = state.rest.nonces.lock()
                    {
                        m.insert((channel_id, n.clone()), (id, std::time::Instant::now()));
                    }
                    if let Ok(mut m) = state.rest.messages.lock() {
                        m.insert(id, (channel_id, body.clone()));
                    }
                    state.record(SimEvent::Posted {
                        channel: channel_id,
                        message_id: id,
                        body: body.clone(),
                    });
                    id
                }
            };
            ok(message(id, channel, &body))
        }
        // The channel's latest 50 messages, newest first (what the bot posted, as edited;
        // deleted ones gone).
        ("GET", ["channels", channel, "messages"]) => {
            let channel_id: u64 = channel.parse().ok()?;
            let now = state.rest.messages.lock().ok()?.clone();
            let log = state.log.lock().ok()?;
            let messages: Vec<Value> = log
                .iter()
                .rev()
                .filter_map(|e| match e {
                    SimEvent::Posted {
                        channel: c,
                        message_id,
                        ..
                    } if *c == channel_id => now
                        .get(message_id)
                        .map(|(_, body)| message(*message_id, channel, body)),
                    _ => None,
                })
                .take(50)
                .collect();
            ok(Value::Array(messages))
        }
        // An edit replaces what the body names (content, embeds, components).
        ("PATCH", ["channels", channel, "messages", id]) => {
            let (channel_id, message_id): (u64, u64) = (channel.parse().ok()?, id.parse().ok()?);
            let mut messages = state.rest.messages.lock().ok()?;
            let Some((_, stored)) = messages
                .get_mut(&message_id)
                .filter(|(c, _)| *c == channel_id)
            else {
                return Some(error(StatusCode::NOT_FOUND, 10008, "Unknown Message"));
            };
            let body = body.unwrap_or(Value::Null);
            if let (Some(stored), Some(edit)) = (stored.as_object_mut(), body.as_object()) {
                for (k, v) in edit {
                    stored.insert(k.clone(), v.clone());
                }
            }
            let now = stored.clone();
            drop(messages);
            state.record(SimEvent::Edited {
                channel: channel_id,
                message_id,
                body: now.clone(),
            });
            ok(message(message_id, channel, &now))
        }
        ("DELETE", ["channels", channel, "messages", id]) => {
            let (channel_id, message_id): (u64, u64) = (channel.parse().ok()?, id.parse().ok()?);
            let removed = state
                .rest
                .messages
                .lock()
                .ok()?
                .remove(&message_id)
                .filter(|(c, _)| *c == channel_id);
            if removed.is_none() {
                return Some(error(StatusCode::NOT_FOUND, 10008, "Unknown Message"));
            }
            state.record(SimEvent::Deleted {
                channel: channel_id,
                message_id,
            });
            Some(StatusCode::NO_CONTENT.into_response())
        }
        // Every guild has the same two roles: @everyone (the guild's id) may view, send,
        // embed and read history; the bot's role adds Manage Channels.
        ("GET", ["guilds", guild, "roles"]) => ok(json!([
            role(guild, "@everyone", EVERYONE_PERMISSIONS, 0),
            role(&BOT_ROLE_ID.to_string(), BOT_NAME, BOT_ROLE_PERMISSIONS, 1),
        ])),
        ("GET", ["guilds", _guild, "members", member]) if *member == BOT_USER_ID.to_string() => {
            ok(json!({
                "user": bot_user(), "nick": null, "roles": [BOT_ROLE_ID.to_string()],
                "joined_at": "2026-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false,
                "flags": 0, "pending": false, "communication_disabled_until": null,
            }))
        }
        // A channel that refuses posts denies the bot Send Messages, as the guild's
        // change that makes Discord answer 403 would.
        ("GET", ["channels", channel]) => {
            let channel_id: u64 = channel.parse().ok()?;
            let voice = state
                .rest
                .voice_channels
                .lock()
                .is_ok_and(|v| v.contains(&channel_id));
            let refused = state
                .rest
                .refused_channels
                .lock()
                .is_ok_and(|r| r.contains(&channel_id));
            let overwrites = if refused {
                json!([{ "id": BOT_USER_ID.to_string(), "type": 1, "allow": "0", "deny": SEND_MESSAGES.to_string() }])
            } else {
                json!([])
            };
            ok(json!({
                "id": channel, "type": if voice { 2 } else { 0 }, "name": format!("channel-{channel}"),
                "position": 0, "permission_overwrites": overwrites,
            }))
        }
        ("PATCH", ["channels", channel]) => ok(json!({
            "id": channel, "type": 2, "guild_id": "1",
            "name": body.as_ref().and_then(|b| b.get("name")).cloned().unwrap_or(json!("voice")),
            "position": 0, "permission_overwrites": [], "bitrate": 64000, "user_limit": 0,
        })),
        ("POST", ["interactions", _, _, "callback"]) => {
            Some(StatusCode::NO_CONTENT.into_response())
        }
        ("DELETE", ["webhooks", a, _token, "messages", "@original"]) if *a == app => {
            Some(StatusCode::NO_CONTENT.into_response())
        }
        ("PATCH" | "GET", ["webhooks", a, _token, "messages", "@original"]) if *a == app => ok(
            message(state.rest.next_id(), "1", &body.unwrap_or(Value::Null)),
        ),
        ("POST", ["webhooks", a, _token]) if *a == app => ok(message(
            state.rest.next_id(),
            "1",
            &body.unwrap_or(Value::Null),
        )),
        _ => None,
    }
}

/// Discord's permission bits the simulated guilds use.
const VIEW_CHANNEL: u64 = 1 << 10;
const SEND_MESSAGES: u64 = 1 << 11;
const EMBED_LINKS: u64 = 1 << 14;
const READ_MESSAGE_HISTORY: u64 = 1 << 16;
const MANAGE_CHANNELS: u64 = 1 << 4;
/// What @everyone may do in every simulated guild.
pub const EVERYONE_PERMISSIONS: u64 =
    VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | READ_MESSAGE_HISTORY;
/// What the bot's own role adds.
pub const BOT_ROLE_PERMISSIONS: u64 = MANAGE_CHANNELS;
/// The bot's role in every simulated guild.
pub const BOT_ROLE_ID: u64 = 100_000_000_000_000_004;

fn role(id: &str, name: &str, permissions: u64, position: i64) -> Value {
    json!({
        "id": id, "name": name, "color": 0,
        "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
        "hoist": false, "managed": false, "mentionable": false,
        "permissions": permissions.to_string(), "position": position, "flags": 0,
    })
}

/// A message as Discord returns it.
pub(crate) fn message(id: u64, channel: &str, body: &Value) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel, "author": bot_user(),
        "content": body.get("content").cloned().unwrap_or(json!("")),
        "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": body.get("embeds").cloned().unwrap_or(json!([])),
        "components": body.get("components").cloned().unwrap_or(json!([])),
        "pinned": false, "type": 0,
    })
}

/// `GET /users/@me`: the bot's own account, with the fields only that endpoint has.
pub(crate) fn current_user() -> Value {
    let mut user = bot_user();
    if let Some(map) = user.as_object_mut() {
        map.insert("mfa_enabled".into(), json!(false));
        map.insert("verified".into(), json!(true));
        map.insert("flags".into(), json!(0));
        map.insert("public_flags".into(), json!(0));
        map.insert("global_name".into(), Value::Null);
        map.insert("banner".into(), Value::Null);
        map.insert("accent_color".into(), Value::Null);
    }
    user
}

pub(crate) fn user(id: u64, name: &str, bot: bool) -> Value {
    json!({ "id": id.to_string(), "username": name, "discriminator": "0", "avatar": null, "bot": bot })
}

fn bot_user() -> Value {
    user(BOT_USER_ID, BOT_NAME, true)
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "message": message, "code": code })),
    )
        .into_response()
}

fn too_many_requests(retry_after: f64, global: bool) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": global })),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&retry_after.ceil().to_string()) {
        headers.insert("retry-after", v);
    }
    headers.insert(
        "x-ratelimit-scope",
        HeaderValue::from_static(if global { "global" } else { "user" }),
    );
    if global {
        headers.insert("x-ratelimit-global", HeaderValue::from_static("true"));
    }
    response
}

/// Discord's checks of a request body, as documented for messages, embeds and interaction
/// responses: what the bot sends over a limit is refused with 400, never shown cut.
mod form_body {
    use serde_json::Value;

    fn chars(v: Option<&Value>) -> usize {
        v.and_then(Value::as_str).map_or(0, |s| s.chars().count())
    }

    fn at_most(what: &str, n: usize, max: usize) -> Result<(), String> {
        if n > max {
            return Err(format!("{what} has {n}, at most {max} allowed"));
        }
        Ok(())
    }

    /// A message body: content, up to 10 embeds within their limits and 6,000 characters
    /// together, up to 5 rows of components.
    pub(super) fn message(body: &Value) -> Result<(), String> {
        at_most("content", chars(body.get("content")), 2000)?;
        let embeds = body.get("embeds").and_then(Value::as_array);
        let embeds = embeds.map(Vec::as_slice).unwrap_or_default();
        at_most("embeds", embeds.len(), 10)?;
        let mut total = 0;
        for (i, e) in embeds.iter().enumerate() {
            let title = chars(e.get("title"));
            at_most(&format!("embeds[{i}].title"), title, 256)?;
            let description = chars(e.get("description"));
            at_most(&format!("embeds[{i}].description"), description, 4096)?;
            let footer = chars(e.pointer("/footer/text"));
            at_most(&format!("embeds[{i}].footer.text"), footer, 2048)?;
            let author = chars(e.pointer("/author/name"));
            at_most(&format!("embeds[{i}].author.name"), author, 256)?;
            total += title + description + footer + author;
            let fields = e.get("fields").and_then(Value::as_array);
            let fields = fields.map(Vec::as_slice).unwrap_or_default();
            at_most(&format!("embeds[{i}].fields"), fields.len(), 25)?;
            for (j, f) in fields.iter().enumerate() {
                let (name, value) = (chars(f.get("name")), chars(f.get("value")));
                if name == 0 || value == 0 {
                    return Err(format!(
                        "embeds[{i}].fields[{j}] has an empty name or value"
                    ));
                }
                at_most(&format!("embeds[{i}].fields[{j}].name"), name, 256)?;
                at_most(&format!("embeds[{i}].fields[{j}].value"), value, 1024)?;
                total += name + value;
            }
        }
        at_most("the embeds' text together", total, 6000)?;
        let rows = body.get("components").and_then(Value::as_array);
        at_most("component rows", rows.map_or(0, Vec::len), 5)
    }

    /// An autocomplete result: up to 25 choices, each name and value 1–100 characters.
    fn choices(data: &Value) -> Result<(), String> {
        let choices = data.get("choices").and_then(Value::as_array);
        let choices = choices.map(Vec::as_slice).unwrap_or_default();
        at_most("choices", choices.len(), 25)?;
        for (i, c) in choices.iter().enumerate() {
            let name = chars(c.get("name"));
            let value = match c.get("value") {
                Some(Value::String(s)) => s.chars().count(),
                Some(_) => 1,
                None => 0,
            };
            if !(1..=100).contains(&name) || !(1..=100).contains(&value) {
                return Err(format!(
                    "choices[{i}]: name and value must be 1 to 100 characters (name {name}, \
                     value {value})"
                ));
            }
        }
        Ok(())
    }

    pub(super) fn check(method: &str, path: &str, body: &Value) -> Result<(), String> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice()) {
            ("POST", ["interactions", _, _, "callback"]) => {
                let data = body.get("data").unwrap_or(&Value::Null);
                match body.get("type").and_then(Value::as_u64) {
                    Some(8) => choices(data),
                    Some(4 | 7) => message(data),
                    _ => Ok(()),
                }
            }
            ("POST", ["channels", _, "messages"])
            | ("PATCH", ["channels", _, "messages", _])
            | ("PATCH", ["webhooks", _, _, "messages", _])
            | ("POST", ["webhooks", _, _]) => message(body),
            _ => Ok(()),
        }
    }
}

//! The simulated REST API under `/api/v10`: records each call and answers what the bot
//! needs. Calls it does not know are recorded and answered 404, as Discord would.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{APPLICATION_ID, BOT_NAME, BOT_USER_ID, SimEvent, SimState};

/// One REST call the bot made.
#[derive(Debug, Clone, PartialEq)]
pub struct RestCall {
    pub method: String,
    /// Path after `/api/v10`, e.g. `/channels/1/messages`.
    pub path: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

pub(crate) async fn handle(
    State(state): State<Arc<SimState>>,
    method: Method,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/{path}");
    let call = RestCall {
        method: method.to_string(),
        path: path.clone(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&body).ok(),
    };
    state.record(SimEvent::Rest(call.clone()));
    if call
        .authorization
        .as_deref()
        .is_none_or(|a| !a.starts_with("Bot "))
    {
        return error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    answer(&state, &method, &path, call.body)
        .unwrap_or_else(|| error(StatusCode::NOT_FOUND, 0, "404: Not Found"))
}

fn answer(state: &SimState, method: &Method, path: &str, body: Option<Value>) -> Option<Response> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ok = |v: Value| Some((StatusCode::OK, axum::Json(v)).into_response());
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
                "id": APPLICATION_ID.to_string(), "name": BOT_NAME, "icon": null, "description": "",
                "bot_public": true, "bot_require_code_grant": false, "verify_key": "", "flags": 0,
                "owner": bot_user(), "team": null,
            }))
        }
        ("POST", ["channels", channel, "messages"]) => {
            let body = body.unwrap_or(Value::Null);
            ok(json!({
                "id": "200000000000000001", "channel_id": channel, "author": bot_user(),
                "content": body.get("content").cloned().unwrap_or(json!("")),
                "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
                "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
                "attachments": [], "embeds": body.get("embeds").cloned().unwrap_or(json!([])),
                "pinned": false, "type": 0,
            }))
        }
        ("POST", ["interactions", _, _, "callback"]) => {
            Some(StatusCode::NO_CONTENT.into_response())
        }
        _ => None,
    }
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

fn bot_user() -> Value {
    json!({ "id": BOT_USER_ID.to_string(), "username": BOT_NAME, "discriminator": "0", "avatar": null, "bot": true })
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "message": message, "code": code })),
    )
        .into_response()
}

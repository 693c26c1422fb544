//! A protocol-level Discord simulator: the gateway WebSocket and the REST API on one
//! loopback port, close enough to Discord that the real twilight clients talk to it
//! unchanged (`ConfigBuilder::proxy_url` for the gateway, `ClientBuilder::proxy` for REST).
//!
//! It records everything the bot does ([`SimEvent`]) so tests can await what a user would
//! see, and lets tests act as Discord: dispatch events to a shard, drop connections,
//! invalidate sessions.
//!
//! - [`gateway`]: HELLO, heartbeat ACKs, IDENTIFY → READY (with this simulator's own
//!   `resume_gateway_url`), RESUME → RESUMED or INVALID_SESSION, dispatches.
//! - [`rest`]: `/api/v10/...`, recorded, with the answers the bot needs: command
//!   registration, interaction callbacks and edits, channel messages posted (with
//!   Discord's `enforce_nonce` de-duplication, for a few minutes as Discord), edited,
//!   deleted and read back, channel renames; 429s, 5xx, lost answers and slow posts injected on demand.
//! - [`interactions`]: acting as a user: slash commands, autocomplete, buttons, and
//!   awaiting what the bot answered.

pub mod gateway;
pub mod interactions;
pub mod rest;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

/// The bot user the simulator logs the bot in as.
pub const BOT_USER_ID: u64 = 100_000_000_000_000_001;
pub const APPLICATION_ID: u64 = 100_000_000_000_000_002;
pub const BOT_NAME: &str = "Tower of Temptation (sandbox)";
/// The application's owner (the bot owner the gateway learns from `/oauth2/applications/@me`).
pub const OWNER_USER_ID: u64 = 100_000_000_000_000_003;

/// Something the bot did, as Discord saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum SimEvent {
    Connected {
        connection: u64,
    },
    Identified {
        connection: u64,
        shard: [u32; 2],
        session_id: String,
        token: String,
        /// When the simulator received the IDENTIFY.
        at: std::time::Instant,
    },
    Resumed {
        connection: u64,
        session_id: String,
        seq: u64,
    },
    ResumeRefused {
        connection: u64,
        session_id: String,
    },
    Heartbeat {
        connection: u64,
        /// When the simulator received it (and answered with an ACK).
        at: std::time::Instant,
    },
    Disconnected {
        connection: u64,
    },
    Rest(rest::RestCall),
    /// A new message in a channel (a repost with an already-used nonce is not one).
    Posted {
        channel: u64,
        message_id: u64,
        body: Value,
    },
    /// A channel message edited by the bot: its body as it is now.
    Edited {
        channel: u64,
        message_id: u64,
        body: Value,
    },
    /// A channel message deleted (by the bot, or by a user: [`DiscordSimulator::delete_message`]).
    Deleted {
        channel: u64,
        message_id: u64,
    },
}

/// Commands from tests to live gateway connections.
#[derive(Debug, Clone)]
pub(crate) enum Control {
    /// Send a dispatch to every connection on this shard.
    Dispatch {
        shard: u32,
        event: String,
        data: Value,
    },
    /// Drop every connection without a close frame (as a network failure would).
    DropAll,
    /// Ask every connection to reconnect (op 7).
    Reconnect,
    /// Close every connection with this close code and reason, as Discord does.
    CloseAll { code: u16, reason: String },
}

pub(crate) struct SimState {
    pub(crate) addr: SocketAddr,
    pub(crate) heartbeat_interval_ms: u64,
    pub(crate) log: Mutex<Vec<SimEvent>>,
    pub(crate) events: broadcast::Sender<SimEvent>,
    pub(crate) control: broadcast::Sender<Control>,
    pub(crate) sessions: Mutex<std::collections::HashMap<String, gateway::SessionRecord>>,
    pub(crate) next_connection: std::sync::atomic::AtomicU64,
    pub(crate) rest: rest::RestState,
}

impl SimState {
    pub(crate) fn record(&self, event: SimEvent) {
        if let Ok(mut log) = self.log.lock() {
            log.push(event.clone());
        }
        let _ = self.events.send(event);
    }
}

/// A running simulator. Stops when dropped.
pub struct DiscordSimulator {
    state: Arc<SimState>,
    server: tokio::task::JoinHandle<()>,
}

/// Why waiting on the simulator failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot bind the simulator: {0}")]
    Bind(std::io::Error),
    #[error("timed out after {0:?} waiting for: {1}")]
    Timeout(Duration, String),
    #[error("Discord would refuse the bot's answer (400 Invalid Form Body): {0}")]
    Refused(String),
}

impl DiscordSimulator {
    /// Starts on a free loopback port with Discord's heartbeat interval (41.25 s).
    pub async fn start() -> Result<Self, SimError> {
        Self::start_with_heartbeat(41_250).await
    }

    /// Starts with a chosen heartbeat interval (short ones make heartbeat tests quick).
    pub async fn start_with_heartbeat(heartbeat_interval_ms: u64) -> Result<Self, SimError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(SimError::Bind)?;
        let addr = listener.local_addr().map_err(SimError::Bind)?;
        let (events, _) = broadcast::channel(4096);
        let (control, _) = broadcast::channel(256);
        let state = Arc::new(SimState {
            addr,
            heartbeat_interval_ms,
            log: Mutex::new(Vec::new()),
            events,
            control,
            sessions: Mutex::new(Default::default()),
            next_connection: std::sync::atomic::AtomicU64::new(1),
            rest: rest::RestState::default(),
        });
        let app = axum::Router::new()
            .route("/", axum::routing::get(gateway::upgrade))
            .route("/api/v10/{*path}", axum::routing::any(rest::handle))
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "discord simulator stopped");
            }
        });
        tracing::info!(%addr, "discord simulator listening");
        Ok(Self { state, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.state.addr
    }

    /// For `TOWER_DISCORD_GATEWAY_URL` / twilight's `proxy_url` (no trailing slash).
    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.state.addr)
    }

    /// For `TOWER_DISCORD_API_PROXY` / twilight-http's `proxy(.., true)`.
    pub fn api_proxy(&self) -> String {
        self.state.addr.to_string()
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<SimEvent> {
        self.state.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// REST calls recorded so far.
    pub fn rest_calls(&self) -> Vec<rest::RestCall> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                SimEvent::Rest(call) => Some(call),
                _ => None,
            })
            .collect()
    }

    /// Everything the simulator records from now on, as it happens (the sandbox's view).
    pub fn subscribe(&self) -> broadcast::Receiver<SimEvent> {
        self.state.events.subscribe()
    }

    /// The first recorded event (past or future) that matches, within `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&SimEvent) -> bool,
    ) -> Result<SimEvent, SimError> {
        // Subscribe before reading the log, so nothing falls between the two.
        let mut rx = self.state.events.subscribe();
        if let Some(found) = self.events().into_iter().find(|e| matches(e)) {
            return Ok(found);
        }
        let found = tokio::time::timeout(timeout, async {
            loop {
                match rx.recv().await {
                    Ok(e) if matches(&e) => return Some(e),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .await;
        match found {
            Ok(Some(e)) => Ok(e),
            _ => Err(SimError::Timeout(timeout, what.to_owned())),
        }
    }

    /// Sends a dispatch event (`t` = `event`) to every connection of `shard`.
    pub fn dispatch(&self, shard: u32, event: &str, data: Value) {
        let _ = self.state.control.send(Control::Dispatch {
            shard,
            event: event.to_owned(),
            data,
        });
    }

    /// Drops every gateway connection without a close frame.
    pub fn drop_connections(&self) {
        let _ = self.state.control.send(Control::DropAll);
    }

    /// Closes every connection with a close frame, e.g. 4004 (authentication failed),
    /// after which a client must not reconnect.
    pub fn close_all(&self, code: u16, reason: &str) {
        let _ = self.state.control.send(Control::CloseAll {
            code,
            reason: reason.to_owned(),
        });
    }

    /// Sends op 7 RECONNECT to every connection.
    pub fn request_reconnect(&self) {
        let _ = self.state.control.send(Control::Reconnect);
    }

    /// Answers the next `times` calls whose method is `method` and whose path starts with
    /// `path_prefix` with 429 Too Many Requests (`retry_after` seconds; `global` for the
    /// global limit).
    pub fn rate_limit(
        &self,
        method: &str,
        path_prefix: &str,
        times: u32,
        retry_after: f64,
        global: bool,
    ) {
        if let Ok(mut rules) = self.state.rest.rate_limits.lock() {
            rules.push(rest::RateLimitRule {
                method: method.to_owned(),
                path_prefix: path_prefix.to_owned(),
                remaining: times,
                retry_after,
                global,
            });
        }
    }

    /// Fails every channel post as Discord does in an outage (`None` ends it).
    pub fn fail_posts(&self, how: Option<rest::PostFailure>) {
        if let Ok(mut failing) = self.state.rest.failing_posts.lock() {
            *failing = how;
        }
    }

    /// Makes every channel post take `delay` before the message exists and is answered
    /// (`None`: at once), as a busy Discord does.
    pub fn slow_posts(&self, delay: Option<std::time::Duration>) {
        if let Ok(mut d) = self.state.rest.post_delay.lock() {
            *d = delay;
        }
    }

    /// Forgets a message's nonce after `memory` instead of Discord's few minutes
    /// ([`rest::NONCE_MEMORY`]): a post repeated later with the same nonce is a new message.
    pub fn remember_nonces_for(&self, memory: std::time::Duration) {
        if let Ok(mut m) = self.state.rest.nonce_memory.lock() {
            *m = Some(memory);
        }
    }

    /// Refuses every post to `channel` with 403 Missing Permissions (code 50013), as
    /// Discord does once a guild takes the bot's Send Messages there; `false` lifts it.
    pub fn refuse_posts(&self, channel: u64, refused: bool) {
        if let Ok(mut channels) = self.state.rest.refused_channels.lock() {
            if refused {
                channels.insert(channel);
            } else {
                channels.remove(&channel);
            }
        }
    }

    /// Makes `channel` a voice channel (what `GET /channels/{id}` answers); every other
    /// channel is a text channel.
    pub fn voice_channel(&self, channel: u64) {
        if let Ok(mut channels) = self.state.rest.voice_channels.lock() {
            channels.insert(channel);
        }
    }

    /// The channel messages there are now, oldest first: (message id, body as last
    /// posted or edited); deleted ones are gone.
    pub fn channel_messages(&self, channel: u64) -> Vec<(u64, Value)> {
        let mut now: Vec<(u64, Value)> = self
            .state
            .rest
            .messages
            .lock()
            .map(|m| {
                m.iter()
                    .filter(|(_, (c, _))| *c == channel)
                    .map(|(id, (_, body))| (*id, body.clone()))
                    .collect()
            })
            .unwrap_or_default();
        // Ids grow with each message.
        now.sort_by_key(|(id, _)| *id);
        now
    }

    /// Deletes a channel message as a user with Manage Messages would.
    pub fn delete_message(&self, channel: u64, message_id: u64) -> bool {
        let removed = self
            .state
            .rest
            .messages
            .lock()
            .ok()
            .and_then(|mut m| m.remove(&message_id))
            .is_some();
        if removed {
            self.state.record(SimEvent::Deleted {
                channel,
                message_id,
            });
        }
        removed
    }

    /// How many times the bot edited messages of a channel.
    pub fn edits(&self, channel: u64) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, SimEvent::Edited { channel: c, .. } if *c == channel))
            .count()
    }

    /// Messages posted so far in a channel (reposts with a used nonce excluded).
    pub fn posted(&self, channel: u64) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                SimEvent::Posted {
                    channel: c, body, ..
                } if c == channel => Some(body),
                _ => None,
            })
            .collect()
    }

    /// Every embed posted so far in a channel, message after message.
    pub fn embeds_posted(&self, channel: u64) -> Vec<Value> {
        self.posted(channel)
            .iter()
            .flat_map(|m| m["embeds"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// The time of each embed posted in a channel, message after message: a killfeed embed
    /// carries its kill's time, so one per kill line.
    pub fn embed_times(&self, channel: u64) -> Vec<String> {
        self.embeds_posted(channel)
            .iter()
            .map(|e| e["timestamp"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Every post the bot tried in a channel, refused or failed ones included.
    pub fn post_attempts(&self, channel: u64) -> usize {
        let path = format!("/channels/{channel}/messages");
        self.rest_calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path == path)
            .count()
    }

    /// The command set the bot registered last (`PUT /applications/{id}/commands`), or
    /// the one Discord had before, if the bot has not registered since.
    pub fn registered_commands(&self) -> Option<Value> {
        self.rest_calls()
            .into_iter()
            .rev()
            .find(|c| {
                c.method == "PUT" && c.path == format!("/applications/{APPLICATION_ID}/commands")
            })
            .and_then(|c| c.body)
            .or_else(|| {
                self.state
                    .rest
                    .earlier_commands
                    .lock()
                    .ok()
                    .and_then(|c| c.clone())
            })
    }

    /// Discord keeps an application's commands between runs, and a bot registers only
    /// a changed set: a sandbox run on kept data starts with the set registered before.
    pub fn commands_registered_before(&self, commands: Value) {
        if let Ok(mut earlier) = self.state.rest.earlier_commands.lock() {
            *earlier = Some(commands);
        }
    }

    /// Forgets every session: the next RESUME gets INVALID_SESSION.
    pub fn invalidate_sessions(&self) {
        if let Ok(mut sessions) = self.state.sessions.lock() {
            sessions.clear();
        }
    }
}

impl Drop for DiscordSimulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

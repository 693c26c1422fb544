//! The simulated gateway: one task per WebSocket connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};

use super::{APPLICATION_ID, Control, SimEvent, SimState};

/// A session the simulator remembers, for RESUME.
#[derive(Debug, Clone)]
pub(crate) struct SessionRecord {
    pub(crate) shard: [u32; 2],
    pub(crate) seq: u64,
}

pub(crate) async fn upgrade(State(state): State<Arc<SimState>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| async move {
        let connection = state.next_connection.fetch_add(1, Ordering::Relaxed);
        state.record(SimEvent::Connected { connection });
        Connection {
            state: Arc::clone(&state),
            connection,
            session: None,
            seq: 0,
        }
        .run(socket)
        .await;
        state.record(SimEvent::Disconnected { connection });
    })
}

struct Connection {
    state: Arc<SimState>,
    connection: u64,
    /// (session id, shard) once identified or resumed.
    session: Option<(String, [u32; 2])>,
    seq: u64,
}

enum Next {
    Continue,
    Close,
}

impl Connection {
    async fn run(mut self, mut socket: WebSocket) {
        let mut control = self.state.control.subscribe();
        let hello =
            json!({ "op": 10, "d": { "heartbeat_interval": self.state.heartbeat_interval_ms } });
        if send(&mut socket, &hello).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                msg = socket.recv() => {
                    let Some(Ok(msg)) = msg else { return };
                    let text = match msg {
                        Message::Text(t) => t.to_string(),
                        // The WebSocket layer answers the close handshake; keep reading
                        // so that answer is flushed, until the stream ends.
                        Message::Close(_) => continue,
                        _ => continue,
                    };
                    match self.on_payload(&mut socket, &text).await {
                        Next::Continue => {}
                        Next::Close => return,
                    }
                }
                cmd = control.recv() => match cmd {
                    Ok(Control::Dispatch { shard, event, data }) => {
                        if self.session.as_ref().is_some_and(|(_, s)| s[0] == shard)
                            && self.dispatch(&mut socket, &event, data).await.is_err()
                        {
                            return;
                        }
                    }
                    // Dropping the socket without a close frame is what a network failure looks like.
                    Ok(Control::DropAll) => return,
                    Ok(Control::Reconnect) => {
                        let _ = send(&mut socket, &json!({ "op": 7, "d": null })).await;
                    }
                    Ok(Control::CloseAll { code, reason }) => {
                        let frame = axum::extract::ws::CloseFrame { code, reason: reason.into() };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                        return;
                    }
                    Err(_) => {}
                },
            }
        }
    }

    async fn on_payload(&mut self, socket: &mut WebSocket, text: &str) -> Next {
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            // Discord closes with 4002 (decode error) on a payload it cannot parse.
            let _ = socket
                .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                    code: 4002,
                    reason: "Error while decoding payload.".into(),
                })))
                .await;
            return Next::Close;
        };
        let op = payload
            .get("op")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        let d = payload.get("d").cloned().unwrap_or(Value::Null);
        match op {
            1 => {
                self.state.record(SimEvent::Heartbeat {
                    connection: self.connection,
                    at: std::time::Instant::now(),
                });
                if send(socket, &json!({ "op": 11 })).await.is_err() {
                    return Next::Close;
                }
            }
            2 => return self.identify(socket, &d).await,
            6 => return self.resume(socket, &d).await,
            _ => {}
        }
        Next::Continue
    }

    async fn identify(&mut self, socket: &mut WebSocket, d: &Value) -> Next {
        let token = d
            .get("token")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let shard = d
            .get("shard")
            .and_then(Value::as_array)
            .map(|a| {
                let n = |i: usize| a.get(i).and_then(Value::as_u64).unwrap_or(0) as u32;
                [n(0), n(1).max(1)]
            })
            .unwrap_or([0, 1]);
        let session_id = format!("sim-session-{}", self.connection);
        self.state.record(SimEvent::Identified {
            connection: self.connection,
            shard,
            session_id: session_id.clone(),
            token,
            at: std::time::Instant::now(),
        });
        self.session = Some((session_id.clone(), shard));
        let ready = json!({
            "v": 10,
            "user": super::rest::current_user(),
            "guilds": [],
            "session_id": session_id,
            "resume_gateway_url": format!("ws://{}", self.state.addr),
            "shard": shard,
            "application": { "id": APPLICATION_ID.to_string(), "flags": 0 },
        });
        if self.dispatch(socket, "READY", ready).await.is_err() {
            return Next::Close;
        }
        Next::Continue
    }

    async fn resume(&mut self, socket: &mut WebSocket, d: &Value) -> Next {
        let session_id = d
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let known = self
            .state
            .sessions
            .lock()
            .ok()
            .and_then(|s| s.get(&session_id).cloned());
        match known {
            Some(record) => {
                self.seq = record.seq.max(seq);
                self.session = Some((session_id.clone(), record.shard));
                self.state.record(SimEvent::Resumed {
                    connection: self.connection,
                    session_id,
                    seq,
                });
                if self.dispatch(socket, "RESUMED", Value::Null).await.is_err() {
                    return Next::Close;
                }
                Next::Continue
            }
            None => {
                self.state.record(SimEvent::ResumeRefused {
                    connection: self.connection,
                    session_id,
                });
                // Discord waits 1–5 s before INVALID_SESSION; the bot must cope with any delay.
                tokio::time::sleep(Duration::from_millis(100)).await;
                if send(socket, &json!({ "op": 9, "d": false })).await.is_err() {
                    return Next::Close;
                }
                Next::Continue
            }
        }
    }

    async fn dispatch(
        &mut self,
        socket: &mut WebSocket,
        event: &str,
        data: Value,
    ) -> Result<(), ()> {
        self.seq += 1;
        if let Some((session_id, shard)) = &self.session
            && let Ok(mut sessions) = self.state.sessions.lock()
        {
            sessions.insert(
                session_id.clone(),
                SessionRecord {
                    shard: *shard,
                    seq: self.seq,
                },
            );
        }
        send(
            socket,
            &json!({ "op": 0, "t": event, "s": self.seq, "d": data }),
        )
        .await
    }
}

async fn send(socket: &mut WebSocket, payload: &Value) -> Result<(), ()> {
    socket
        .send(Message::Text(payload.to_string().into()))
        .await
        .map_err(|_| ())
}

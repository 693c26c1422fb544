//! Reports to the telemetry-collector: batched, in the background, never blocking the
//! caller and never taking the process down when the collector is away.
//!
//! [`Telemetry::report`] queues an event; a task sends queued events in batches of up to
//! [`MAX_BATCH`], retrying with backoff while the collector is unreachable. When the queue
//! is full the newest events are dropped and counted (logged), because telemetry must
//! never slow ingest or Discord work. Messages must not hold secrets: callers format
//! secrets through [`tower_store::secret::Redacted`]; the sending task redacts what
//! slipped through anyway ([`crate::redaction`]) before anything leaves the process.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tower_proto::v1::{ErrorContext, Level, ReportRequest, TelemetryEvent};

use crate::grpc::ClientSecurity;
use crate::process::ProcessIdentity;
use crate::shutdown::Shutdown;

/// The most events in one report. A backlog (a burst, the collector back after a while)
/// drains in large batches: one round trip and two database commands per batch.
pub const MAX_BATCH: usize = 500;
/// Events held while the collector is away or slow (besides the batch in flight); more
/// are dropped and counted ([`Telemetry::dropped`]), never waited for.
pub const QUEUE: usize = 10_000;
const BATCH_WINDOW: Duration = Duration::from_millis(200);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A handle to queue telemetry events. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Telemetry {
    tx: mpsc::Sender<TelemetryEvent>,
    dropped: Arc<AtomicU64>,
}

impl Telemetry {
    /// Starts the reporter task for `collector_url`. The task flushes what it holds when
    /// `shutdown` fires (bounded by one call timeout), then ends.
    pub fn start(
        collector_url: &str,
        security: &ClientSecurity,
        me: &ProcessIdentity,
        shutdown: Shutdown,
    ) -> Result<(Telemetry, tokio::task::JoinHandle<()>), crate::grpc::GrpcError> {
        let client = crate::grpc::collector_client(collector_url, security)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(send_batches(
            client,
            me.to_proto(),
            rx,
            shutdown,
            Arc::clone(&dropped),
        ));
        Ok((Telemetry { tx, dropped }, task))
    }

    /// Queues an event; never waits.
    pub fn report(&self, mut event: TelemetryEvent) {
        if event.occurred_unix_ms == 0 {
            event.occurred_unix_ms = now_unix_ms();
        }
        // Every event gets its id here, so a batch sent again is recognised as the same.
        if event.error_id.is_empty() {
            event.error_id = new_error_id();
        }
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events dropped so far because the queue was full (the collector away or slow).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// An informational event, such as `process.started`.
    pub fn info(&self, kind: &str, message: impl Into<String>) {
        self.report(event(Level::Info, kind, message.into(), "", None));
    }

    /// An error with where it happened and for whom. Returns the error id to show the user
    /// (`/debug` finds it).
    pub fn error(
        &self,
        kind: &str,
        message: impl Into<String>,
        location: &str,
        context: Option<ErrorContext>,
    ) -> String {
        let mut e = event(Level::Error, kind, message.into(), location, context);
        e.error_id = new_error_id();
        let id = e.error_id.clone();
        self.report(e);
        id
    }
}

fn event(
    level: Level,
    kind: &str,
    message: String,
    location: &str,
    context: Option<ErrorContext>,
) -> TelemetryEvent {
    TelemetryEvent {
        level: level as i32,
        kind: kind.to_owned(),
        message,
        location: location.to_owned(),
        context,
        occurred_unix_ms: now_unix_ms(),
        error_id: String::new(),
        attributes: HashMap::new(),
    }
}

pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A short id a user can read out to an admin: `E-` and 10 characters of Crockford base32.
pub fn new_error_id() -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut bytes = [0u8; 10];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        // Fall back to the clock: ids need to be distinct, not secret.
        let t = now_unix_ms().to_le_bytes();
        bytes[..8].copy_from_slice(&t);
    }
    let id: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
        .collect();
    format!("E-{id}")
}

/// An event as it leaves the process: secrets taken out ([`crate::redaction`]) and
/// errors counted for metrics. Done here, off the caller's path, where reporting costs a
/// queue push.
fn leaving(mut event: TelemetryEvent) -> TelemetryEvent {
    crate::redaction::redact_event(&mut event);
    if event.level == Level::Error as i32 {
        crate::metrics::instruments().errors.add(
            1,
            &[opentelemetry::KeyValue::new("kind", event.kind.clone())],
        );
    }
    event
}

async fn send_batches(
    mut client: tower_proto::v1::telemetry_collector_client::TelemetryCollectorClient<
        crate::grpc::AuthedChannel,
    >,
    process: tower_proto::v1::ProcessInfo,
    mut rx: mpsc::Receiver<TelemetryEvent>,
    shutdown: Shutdown,
    dropped: Arc<AtomicU64>,
) {
    let mut pending: Vec<TelemetryEvent> = Vec::new();
    let mut backoff = Duration::from_millis(250);
    let mut reported_drops = 0;
    loop {
        if pending.is_empty() {
            tokio::select! {
                got = rx.recv() => match got {
                    Some(e) => pending.push(leaving(e)),
                    None => return,
                },
                () = shutdown.wait() => {}
            }
            // Gather what arrives within the window into the same batch.
            let window = tokio::time::sleep(BATCH_WINDOW);
            tokio::pin!(window);
            while pending.len() < MAX_BATCH && !shutdown.is_triggered() {
                tokio::select! {
                    got = rx.recv() => match got {
                        Some(e) => pending.push(leaving(e)),
                        None => break,
                    },
                    () = &mut window => break,
                }
            }
        }
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(e) => pending.push(leaving(e)),
                Err(_) => break,
            }
        }
        let drops = dropped.load(Ordering::Relaxed);
        if drops > reported_drops {
            tracing::warn!(
                dropped = drops - reported_drops,
                "telemetry queue full; events dropped"
            );
            reported_drops = drops;
        }
        if pending.is_empty() {
            if shutdown.is_triggered() {
                return;
            }
            continue;
        }
        let batch_len = pending.len().min(MAX_BATCH);
        let mut request = tonic::Request::new(ReportRequest {
            process: Some(process.clone()),
            events: pending[..batch_len].to_vec(),
        });
        request.set_timeout(CALL_TIMEOUT);
        match client.report(request).await {
            Ok(_) => {
                pending.drain(..batch_len);
                backoff = Duration::from_millis(250);
            }
            Err(status) => {
                if shutdown.is_triggered() {
                    tracing::warn!(lost = pending.len(), code = ?status.code(), "telemetry not delivered before shutdown");
                    return;
                }
                tracing::debug!(code = ?status.code(), message = status.message(), "telemetry collector unreachable; will retry");
                // Keep memory bounded while the collector is away: oldest go first.
                if pending.len() > QUEUE {
                    let excess = pending.len() - QUEUE;
                    pending.drain(..excess);
                    dropped.fetch_add(excess as u64, Ordering::Relaxed);
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.wait() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        if shutdown.is_triggered() && pending.is_empty() && rx.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_ids_are_short_and_distinct() {
        let a = new_error_id();
        let b = new_error_id();
        assert_eq!(a.len(), 12);
        assert!(a.starts_with("E-"));
        assert_ne!(a, b);
    }
}

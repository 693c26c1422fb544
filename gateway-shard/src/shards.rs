//! The Discord gateway shards this process runs, and their event loops.
//!
//! Each shard's loop only receives: every event is handed to [`crate::events`] on its own
//! task, so slow command work never delays a heartbeat (twilight heartbeats from inside
//! `next_event`, which must keep being polled).
//!
//! On shutdown a shard closes with the "resume" close code and its session is saved in
//! `gateway_state`; the next start of the same shard resumes it instead of identifying
//! again (Discord answers INVALID_SESSION when it no longer holds it, and twilight then
//! identifies). A close code that forbids reconnecting stops the shard with a clear log.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mongodb::bson::{DateTime, Document, doc};
use tokio::sync::mpsc;
use tower_store::db::collections;
use tower_store::schema::SCHEMA_VERSION;
use twilight_gateway::{
    CloseFrame, Config, ConfigBuilder, Event, EventTypeFlags, Intents, Session, Shard, ShardId,
    StreamExt,
};

use tower_daemon::shutdown::Shutdown;
use tower_store::ids::ShardRange;

use crate::bot::Bot;
use crate::identify_queue::IdentifyQueue;

/// How long a closing shard may take to say goodbye before we stop waiting.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The gateway events this bot needs; no privileged intents.
pub const INTENTS: Intents = Intents::GUILDS;

/// What the shard loops tell `main`.
#[derive(Debug)]
pub enum ShardNews {
    Ready { shard: u32 },
    Disconnected { shard: u32 },
}

/// A saved session is only tried this long after it was saved (Discord keeps sessions
/// resumable for a short while).
const SESSION_MAX_AGE_MS: i64 = 5 * 60 * 1000;

fn session_key(bot: &Bot, shard: u32, total: u32) -> String {
    format!("session:{}:{shard}/{total}", bot.application_id)
}

/// Builds the shards of `range`, pointed at `gateway_url` when a simulator stands in for
/// Discord, each resuming its saved session when there is a recent one.
pub async fn build(
    bot: &Bot,
    range: ShardRange,
    token: &str,
    gateway_url: Option<&str>,
    queue: IdentifyQueue,
) -> Vec<Shard<IdentifyQueue>> {
    let state = bot
        .db
        .raw()
        .collection::<Document>(collections::GATEWAY_STATE);
    let mut shards = Vec::new();
    for id in range.shards() {
        let mut builder = ConfigBuilder::new(token.to_owned(), INTENTS).queue(queue.clone());
        if let Some(url) = gateway_url {
            builder = builder.proxy_url(url.trim_end_matches('/').to_owned());
        }
        // A saved session is used once: taken out as it is read.
        let saved = state
            .find_one_and_delete(doc! { "_id": session_key(bot, id, range.total) })
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(shard = id, error = %e, "cannot read the saved session; identifying");
                None
            });
        if let Some(d) = saved
            && d.get_datetime("saved_at").is_ok_and(|t| {
                DateTime::now().timestamp_millis() - t.timestamp_millis() < SESSION_MAX_AGE_MS
            })
            && let (Ok(session_id), Ok(sequence), Ok(url)) = (
                d.get_str("session_id"),
                d.get_i64("sequence"),
                d.get_str("resume_url"),
            )
        {
            tracing::info!(shard = id, "resuming the saved session");
            builder = builder
                .session(Session::new(
                    u64::try_from(sequence).unwrap_or(0),
                    session_id.to_owned(),
                ))
                .resume_url(url.to_owned());
        }
        let config: Config<IdentifyQueue> = builder.build();
        shards.push(Shard::with_config(ShardId::new(id, range.total), config));
    }
    shards
}

/// Tracks which shards are READY, to report health.
#[derive(Debug, Default)]
pub struct ReadyShards(BTreeSet<u32>);

impl ReadyShards {
    /// Applies news; returns whether every shard of `expected` is ready now.
    pub fn apply(&mut self, news: &ShardNews, expected: usize) -> bool {
        match news {
            ShardNews::Ready { shard } => {
                self.0.insert(*shard);
            }
            ShardNews::Disconnected { shard } => {
                self.0.remove(shard);
            }
        }
        self.0.len() == expected
    }
}

/// Runs one shard until shutdown: receives, hands events off, closes cleanly.
pub async fn run(
    mut shard: Shard<IdentifyQueue>,
    bot: Arc<Bot>,
    news: mpsc::Sender<ShardNews>,
    shutdown: Shutdown,
) {
    let id = shard.id().number();
    let mut last_close: Option<String> = None;
    loop {
        let item = tokio::select! {
            item = shard.next_event(EventTypeFlags::all()) => item,
            () = shutdown.wait() => break,
        };
        match item {
            None => {
                tracing::error!(
                    shard = id,
                    close = last_close.as_deref().unwrap_or("none"),
                    "Discord closed the gateway with a code that forbids reconnecting; this shard stopped \
                     (4004: the token is wrong; 4013/4014: intents not allowed; 4010/4011: shard settings)"
                );
                let _ = news.send(ShardNews::Disconnected { shard: id }).await;
                return;
            }
            Some(Ok(Event::Ready(ready))) => {
                tracing::info!(
                    shard = id,
                    user = %ready.user.name,
                    guilds = ready.guilds.len(),
                    "READY"
                );
                let _ = news.send(ShardNews::Ready { shard: id }).await;
            }
            Some(Ok(Event::Resumed)) => {
                tracing::info!(shard = id, "RESUMED");
                let _ = news.send(ShardNews::Ready { shard: id }).await;
            }
            Some(Ok(Event::GatewayClose(frame))) => {
                last_close = frame.as_ref().map(|f| format!("{} {}", f.code, f.reason));
                tracing::warn!(
                    shard = id,
                    ?frame,
                    "gateway closed the connection; reconnecting"
                );
                let _ = news.send(ShardNews::Disconnected { shard: id }).await;
            }
            Some(Ok(event)) => {
                tokio::spawn(crate::events::handle(Arc::clone(&bot), id, event));
            }
            Some(Err(e)) => {
                tracing::warn!(shard = id, error = %e, "gateway message not understood; skipped");
            }
        }
    }
    close(&mut shard, id).await;
    let saved = shard
        .session()
        .cloned()
        .zip(shard.resume_url().map(str::to_owned));
    if let Some((session, url)) = saved {
        save_session(&bot, shard.id(), &session, &url).await;
    }
}

/// Saves the shard's session so the next start resumes it.
async fn save_session(bot: &Bot, id: ShardId, session: &Session, url: &str) {
    let saved = bot
        .db
        .raw()
        .collection::<Document>(collections::GATEWAY_STATE)
        .update_one(
            doc! { "_id": session_key(bot, id.number(), id.total()) },
            doc! { "$set": {
                "session_id": session.id(),
                "sequence": i64::try_from(session.sequence()).unwrap_or(0),
                "resume_url": url,
                "saved_at": DateTime::now(),
                "schema_version": SCHEMA_VERSION,
            } },
        )
        .upsert(true)
        .await;
    match saved {
        Ok(_) => tracing::info!(shard = id.number(), "session saved for resuming"),
        Err(e) => {
            tracing::warn!(shard = id.number(), error = %e, "could not save the session; the next start identifies")
        }
    }
}

async fn close(shard: &mut Shard<IdentifyQueue>, id: u32) {
    // RESUME keeps the session alive on Discord's side for the next start.
    shard.close(CloseFrame::RESUME);
    let drained = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(item) = shard.next_event(EventTypeFlags::empty()).await {
            if matches!(item, Ok(Event::GatewayClose(_))) {
                break;
            }
        }
    })
    .await;
    match drained {
        Ok(()) => tracing::info!(shard = id, "shard closed"),
        Err(_) => tracing::warn!(shard = id, "shard did not close within {CLOSE_GRACE:?}"),
    }
}

//! The Discord gateway shards this process runs, and their event loops.
//!
//! Each shard's loop only receives: every event is handed to [`crate::events`] on its own
//! task, so slow command work never delays a heartbeat (twilight heartbeats from inside
//! `next_event`, which must keep being polled).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use twilight_gateway::{
    CloseFrame, Config, ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt,
};

use tower_shared::ids::ShardRange;
use tower_shared::shutdown::Shutdown;

use crate::bot::Bot;

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

/// Builds the shards of `range`, pointed at `gateway_url` when a simulator stands in for
/// Discord.
pub fn build(range: ShardRange, token: &str, gateway_url: Option<&str>) -> Vec<Shard> {
    let mut builder = ConfigBuilder::new(token.to_owned(), INTENTS);
    if let Some(url) = gateway_url {
        builder = builder.proxy_url(url.trim_end_matches('/').to_owned());
    }
    let config: Config = builder.build();
    range
        .shards()
        .map(|id| Shard::with_config(ShardId::new(id, range.total), config.clone()))
        .collect()
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
    mut shard: Shard,
    bot: Arc<Bot>,
    news: mpsc::Sender<ShardNews>,
    shutdown: Shutdown,
) {
    let id = shard.id().number();
    loop {
        let item = tokio::select! {
            item = shard.next_event(EventTypeFlags::all()) => item,
            () = shutdown.wait() => break,
        };
        match item {
            None => {
                tracing::error!(
                    shard = id,
                    "gateway connection ended and will not be retried"
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
}

async fn close(shard: &mut Shard, id: u32) {
    shard.close(CloseFrame::NORMAL);
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

//! The voice channel that shows a server's player count. Discord lets a bot rename a
//! channel twice per 10 minutes; more renames are queued and only the latest count is
//! applied when the window allows, so the name is never more than one window stale.

use std::collections::{HashMap, VecDeque};
use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use twilight_model::id::Id;

use crate::bot::Bot;

/// Renames allowed per channel in [`WINDOW`].
pub const RENAMES_PER_WINDOW: usize = 2;
pub const WINDOW: Duration = Duration::from_secs(600);

#[derive(Default)]
struct ChannelState {
    /// When the renames inside the current window happened.
    recent: VecDeque<Instant>,
    /// The name to set when the window allows (only the latest is kept).
    pending: Option<String>,
    /// The name the channel has.
    current: Option<String>,
    /// Whether a task is waiting to apply `pending`.
    waiting: bool,
}

#[derive(Clone, Default)]
pub struct VoiceStatus {
    channels: Arc<Mutex<HashMap<u64, ChannelState>>>,
}

/// The channel name for a count.
pub fn channel_name(online: u32, queued: u32) -> String {
    if queued > 0 {
        format!("🟢 Online: {online} | Queue: {queued}")
    } else {
        format!("🟢 Online: {online}")
    }
}

impl VoiceStatus {
    /// Asks for `channel` to be named `name`: renamed now if the window allows, else once
    /// it does. One rename per channel is in flight or scheduled at a time.
    pub fn request(&self, bot: &Arc<Bot>, channel: u64, name: String) {
        let Ok(mut all) = self.channels.lock() else {
            return;
        };
        let state = all.entry(channel).or_default();
        if state.current.as_deref() == Some(name.as_str()) {
            state.pending = None;
            return;
        }
        state.pending = Some(name);
        if !state.waiting {
            state.waiting = true;
            self.schedule(bot, channel, state.next_allowed());
        }
    }

    fn schedule(&self, bot: &Arc<Bot>, channel: u64, at: Instant) {
        let this = self.clone();
        let bot = Arc::clone(bot);
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            this.apply(&bot, channel).await;
        });
    }

    /// Renames to the pending name; `waiting` stays set until the call returns, so no
    /// second rename starts meanwhile. A name asked for meanwhile is applied next.
    async fn apply(&self, bot: &Arc<Bot>, channel: u64) {
        let name = {
            let Ok(mut all) = self.channels.lock() else {
                return;
            };
            let state = all.entry(channel).or_default();
            let Some(name) = state.pending.take() else {
                state.waiting = false;
                return;
            };
            state.recent.push_back(Instant::now());
            name
        };
        let result = match Id::new_checked(channel) {
            Some(id) => bot
                .rate_limits
                .send(|| bot.http.update_channel(id).name(&name).into_future())
                .await
                .map(|_| ()),
            None => return,
        };
        let Ok(mut all) = self.channels.lock() else {
            return;
        };
        let state = all.entry(channel).or_default();
        match result {
            Ok(()) => state.current = Some(name),
            Err(e) => {
                tracing::warn!(channel, error = %e, "could not rename the player-count channel");
                // Tried again with the next count, unless a newer one is already waiting.
                state.pending.get_or_insert(name);
            }
        }
        if state.pending.is_some() {
            self.schedule(bot, channel, state.next_allowed());
        } else {
            state.waiting = false;
        }
    }
}

impl ChannelState {
    /// When the next rename is allowed: now, or when the oldest rename of the window ages
    /// out.
    fn next_allowed(&mut self) -> Instant {
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= WINDOW)
        {
            self.recent.pop_front();
        }
        match self.recent.front() {
            Some(oldest) if self.recent.len() >= RENAMES_PER_WINDOW => *oldest + WINDOW,
            _ => now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_show_online_and_queue() {
        assert_eq!(channel_name(12, 0), "🟢 Online: 12");
        assert_eq!(channel_name(50, 3), "🟢 Online: 50 | Queue: 3");
    }
}

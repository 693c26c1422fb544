//! Guild settings (tier, admin role, theme) as commands read them: through a cache kept a
//! few seconds, so that the access check every command starts with does not wait on a
//! database round trip — under a worker's backfill that can take a second.
//!
//! This process's own changes (`/admin setrole`, `/admin premium`) take effect at once;
//! a change made through another gateway process (a grant from the home guild on another
//! shard) within [`FRESH_FOR`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tower_shared::guilds::{GuildSettings, GuildStore};

/// How long a guild's settings are used before they are read again.
pub const FRESH_FOR: Duration = Duration::from_secs(10);

pub struct SettingsCache {
    store: GuildStore,
    entries: Mutex<HashMap<u64, (GuildSettings, Instant)>>,
}

impl SettingsCache {
    pub fn new(store: GuildStore) -> Self {
        Self {
            store,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The guild's settings, read from MongoDB when not read within [`FRESH_FOR`].
    pub async fn get(&self, guild_id: u64) -> Result<GuildSettings, mongodb::error::Error> {
        let cached = self.entries.lock().ok().and_then(|entries| {
            entries
                .get(&guild_id)
                .filter(|(_, read_at)| read_at.elapsed() < FRESH_FOR)
                .map(|(settings, _)| settings.clone())
        });
        if let Some(settings) = cached {
            return Ok(settings);
        }
        let settings = self.store.settings(guild_id).await?;
        if let Ok(mut entries) = self.entries.lock() {
            // Guilds not asked about for a while are dropped as others are read.
            if entries.len() >= 10_000 {
                entries.retain(|_, (_, read_at)| read_at.elapsed() < FRESH_FOR);
            }
            entries.insert(guild_id, (settings.clone(), Instant::now()));
        }
        Ok(settings)
    }

    /// Reads the guild's settings afresh next time (this process changed them).
    pub fn forget(&self, guild_id: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&guild_id);
        }
    }
}

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

use tower_store::guilds::{GuildSettings, GuildStore};

/// How long a guild's settings are used before they are read again.
pub const FRESH_FOR: Duration = Duration::from_secs(10);

pub struct SettingsCache {
    store: GuildStore,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    settings: HashMap<u64, (GuildSettings, Instant)>,
    /// Per guild, how many times it was forgotten: a read that started before a change
    /// must not store what it read after the change was made.
    changes: HashMap<u64, u64>,
}

impl SettingsCache {
    pub fn new(store: GuildStore) -> Self {
        Self {
            store,
            inner: Mutex::new(Entries::default()),
        }
    }

    /// The guild's settings, read from MongoDB when not read within [`FRESH_FOR`].
    pub async fn get(&self, guild_id: u64) -> Result<GuildSettings, mongodb::error::Error> {
        let (cached, changes_before) = match self.inner.lock() {
            Ok(inner) => (
                inner
                    .settings
                    .get(&guild_id)
                    .filter(|(_, read_at)| read_at.elapsed() < FRESH_FOR)
                    .map(|(settings, _)| settings.clone()),
                inner.changes.get(&guild_id).copied(),
            ),
            Err(_) => (None, None),
        };
        if let Some(settings) = cached {
            return Ok(settings);
        }
        let settings = self.store.settings(guild_id).await?;
        if let Ok(mut inner) = self.inner.lock()
            && inner.changes.get(&guild_id).copied() == changes_before
        {
            // Guilds not asked about for a while are dropped as others are read.
            if inner.settings.len() >= 10_000 {
                inner
                    .settings
                    .retain(|_, (_, read_at)| read_at.elapsed() < FRESH_FOR);
            }
            inner
                .settings
                .insert(guild_id, (settings.clone(), Instant::now()));
        }
        Ok(settings)
    }

    /// Reads the guild's settings afresh next time (this process changed them); a read
    /// already under way is not kept.
    pub fn forget(&self, guild_id: u64) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.settings.remove(&guild_id);
            *inner.changes.entry(guild_id).or_default() += 1;
        }
    }
}

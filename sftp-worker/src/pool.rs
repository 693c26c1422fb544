//! SFTP connections per guild, never shared across guilds.
//!
//! A guild may have at most its tier's connection quota open at once, kept or in use, and
//! the worker at most its global cap in use; both are fair (FIFO) semaphores, so a guild
//! with many busy servers waits its turn instead of starving the others. Across workers
//! the quota holds by slots ([`crate::slots`]): every open connection holds one of its
//! guild's. Open connections are kept per server between polls (steady state opens no new
//! SSH session), checked before reuse, closed when idle too long or wanted by another
//! worker, and the guild's least recently used one is closed first when a new one would
//! go over its quota.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::connection::SftpConnection;
use crate::slots::{Slot, SlotError, Slots};

/// A server, always with its guild.
pub type ServerKey = (u64, String);

/// A server's `_id` in `server_leases` and `server_status`: `guild:server`.
pub fn key_id((guild, server): &ServerKey) -> String {
    format!("{guild}:{server}")
}

struct GuildPool {
    limit: u32,
    permits: Arc<Semaphore>,
}

pub struct Pools {
    /// Turns to open a connection ([`crate::handshakes`]).
    pub handshakes: crate::handshakes::Handshakes,
    global: Arc<Semaphore>,
    max_connections: u32,
    guilds: Mutex<HashMap<u64, GuildPool>>,
    idle: Mutex<HashMap<ServerKey, Kept>>,
    slots: Slots,
}

/// A connection kept for its server's next poll, with the guild slot it holds.
struct Kept {
    conn: SftpConnection,
    slot: Slot,
    used: Instant,
}

impl Kept {
    async fn close(self) {
        // The slot goes back only once the session is gone.
        self.conn.close_releasing(self.slot).await;
    }
}

/// The right to use one connection for one guild; released when dropped.
pub struct Permits {
    _guild: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

/// One guild's use of its pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub open: u32,
    pub busy: u32,
    pub limit: u32,
}

impl Pools {
    pub fn new(max_connections: u32, slots: Slots) -> Self {
        Self {
            handshakes: crate::handshakes::Handshakes::default(),
            global: Arc::new(Semaphore::new(max_connections.max(1) as usize)),
            max_connections: max_connections.max(1),
            guilds: Mutex::new(HashMap::new()),
            idle: Mutex::new(HashMap::new()),
            slots,
        }
    }

    /// Room for a new connection of `guild`, by a caller holding one of its permits: its
    /// least recently used kept connections closed until this one fits the quota here
    /// ([`Self::make_room`]), then one of the guild's slots across workers, waiting up to
    /// [`crate::slots::SLOT_WAIT`] for another worker to give one back.
    pub async fn room_for_new(&self, guild: u64, quota: u32) -> Result<Slot, SlotError> {
        self.make_room(guild, quota).await;
        self.slots.take(guild, quota).await
    }

    /// Renews this worker's slots, and closes the kept connections of guilds another
    /// worker waits for, and of slots that ran out (see [`crate::slots`]).
    pub async fn renew_slots(&self) -> Result<(), mongodb::error::Error> {
        let wanted = self.slots.renew().await?;
        let closing: Vec<Kept> = match self.idle.lock() {
            Ok(mut idle) => {
                let keys: Vec<ServerKey> = idle
                    .iter()
                    .filter(|(k, kept)| wanted.contains(&k.0) || kept.slot.lost())
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.iter().filter_map(|k| idle.remove(k)).collect()
            }
            Err(_) => Vec::new(),
        };
        for kept in closing {
            kept.close().await;
        }
        Ok(())
    }

    /// Waits for a connection slot of `guild` (quota `limit`) and of the worker.
    pub async fn acquire(&self, guild: u64, limit: u32) -> Option<Permits> {
        let guild_sem = {
            let mut guilds = self.guilds.lock().ok()?;
            let pool = guilds.entry(guild).or_insert_with(|| GuildPool {
                limit,
                permits: Arc::new(Semaphore::new(limit as usize)),
            });
            if pool.limit != limit {
                // The tier changed: new permits from now on; running polls finish on the old.
                // After a downgrade the guild can so have more connections than its new
                // quota until those polls end (seconds), and make_room does not count them.
                *pool = GuildPool {
                    limit,
                    permits: Arc::new(Semaphore::new(limit as usize)),
                };
            }
            Arc::clone(&pool.permits)
        };
        let guild_permit = guild_sem.acquire_owned().await.ok()?;
        let global = Arc::clone(&self.global).acquire_owned().await.ok()?;
        Some(Permits {
            _guild: guild_permit,
            _global: global,
        })
    }

    /// The server's kept connection and its slot, if it is still up and still holds the
    /// slot (one that is not is closed).
    pub async fn take(&self, key: &ServerKey) -> Option<(SftpConnection, Slot)> {
        let kept = self.idle.lock().ok()?.remove(key)?;
        if kept.conn.is_open() && !kept.slot.lost() {
            return Some((kept.conn, kept.slot));
        }
        kept.close().await;
        None
    }

    /// Closes the server's kept connection, if any (its settings changed: a connection made
    /// with the old ones must not be used again).
    pub async fn close_server(&self, key: &ServerKey) {
        let kept = self.idle.lock().ok().and_then(|mut idle| idle.remove(key));
        if let Some(kept) = kept {
            kept.close().await;
        }
    }

    /// Keeps a connection for the server's next poll, called while the poll still holds
    /// its permit. A guild keeps at most `limit` connections open, kept and in use by its
    /// other polls together: past that, its least recently used kept one is closed.
    /// A connection whose slot is above the quota (a downgrade) is closed instead.
    pub async fn put(&self, key: ServerKey, conn: SftpConnection, slot: Slot, limit: u32) {
        let kept = Kept {
            conn,
            slot,
            used: Instant::now(),
        };
        if !kept.slot.within(limit) || kept.slot.lost() {
            kept.close().await;
            return;
        }
        // In use by other polls: every permit taken but this one's.
        let others_busy = self.usage(key.0).busy.saturating_sub(1) as usize;
        let keep = (limit as usize).saturating_sub(others_busy);
        let evicted = match self.idle.lock() {
            Ok(mut idle) => {
                let guild = key.0;
                let replaced = idle.insert(key, kept);
                let mut closing = oldest_over(&mut idle, guild, keep);
                closing.extend(replaced);
                closing
            }
            Err(_) => Vec::new(),
        };
        for kept in evicted {
            kept.close().await;
        }
    }

    /// Before opening a new connection for `guild` while holding one of its permits:
    /// closes its least recently used kept connections until kept + in use (this one
    /// included) fits `limit`. A kept connection is an SSH session on the game host as
    /// much as a busy one.
    pub async fn make_room(&self, guild: u64, limit: u32) {
        let busy = self.usage(guild).busy as usize;
        let allowed = (limit as usize).saturating_sub(busy);
        let evicted = match self.idle.lock() {
            Ok(mut idle) => oldest_over(&mut idle, guild, allowed),
            Err(_) => Vec::new(),
        };
        for kept in evicted {
            kept.close().await;
        }
    }

    /// Closes connections unused for `idle_for`, and any of servers no longer polled here.
    pub async fn close_idle(&self, idle_for: Duration, keep: impl Fn(&ServerKey) -> bool) {
        let stale: Vec<Kept> = match self.idle.lock() {
            Ok(mut idle) => {
                let keys: Vec<ServerKey> = idle
                    .iter()
                    .filter(|(k, kept)| kept.used.elapsed() >= idle_for || !keep(k))
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.iter().filter_map(|k| idle.remove(k)).collect()
            }
            Err(_) => Vec::new(),
        };
        // All at once: each close waits for the server's answer (bounded), and a worker
        // stopping with a thousand kept connections must not wait for them one by one.
        futures_util::future::join_all(stale.into_iter().map(Kept::close)).await;
    }

    pub fn usage(&self, guild: u64) -> Usage {
        let open = self
            .idle
            .lock()
            .map(|idle| idle.keys().filter(|(g, _)| *g == guild).count() as u32)
            .unwrap_or(0);
        let (limit, available) = self
            .guilds
            .lock()
            .ok()
            .and_then(|g| {
                g.get(&guild)
                    .map(|p| (p.limit, p.permits.available_permits() as u32))
            })
            .unwrap_or((0, 0));
        let busy = limit.saturating_sub(available);
        Usage {
            open: open + busy,
            busy,
            limit,
        }
    }

    /// This worker's connections, every guild's: (open, busy). Open counts the kept ones.
    pub fn totals(&self) -> (u64, u64) {
        let busy =
            u64::from(self.max_connections).saturating_sub(self.global.available_permits() as u64);
        let kept = self.idle.lock().map_or(0, |idle| idle.len() as u64);
        (kept + busy, busy)
    }

    /// Closes everything (shutdown).
    pub async fn close_all(&self) {
        self.close_idle(Duration::ZERO, |_| false).await;
    }
}

/// Takes out `guild`'s least recently used kept connections beyond the `keep` newest.
fn oldest_over(idle: &mut HashMap<ServerKey, Kept>, guild: u64, keep: usize) -> Vec<Kept> {
    let mut mine: Vec<(ServerKey, Instant)> = idle
        .iter()
        .filter(|((g, _), _)| *g == guild)
        .map(|(k, kept)| (k.clone(), kept.used))
        .collect();
    mine.sort_by_key(|(_, used)| *used);
    let excess = mine.len().saturating_sub(keep);
    mine.into_iter()
        .take(excess)
        .filter_map(|(k, _)| idle.remove(&k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pools whose slot store is never reached (these tests open no connection).
    fn pools(max_connections: u32) -> Pools {
        let options = mongodb::options::ClientOptions::builder()
            .hosts(vec![mongodb::options::ServerAddress::Tcp {
                host: "127.0.0.1".to_owned(),
                port: Some(1),
            }])
            .build();
        let unreachable = match mongodb::Client::with_options(options) {
            Ok(client) => client.database("unused"),
            Err(e) => panic!("client options: {e}"),
        };
        Pools::new(max_connections, Slots::new(&unreachable, "test"))
    }

    #[tokio::test]
    async fn a_guild_never_holds_more_than_its_quota() {
        let pools = Arc::new(pools(10));
        let a1 = pools.acquire(1, 2).await;
        let a2 = pools.acquire(1, 2).await;
        assert!(a1.is_some() && a2.is_some());
        assert_eq!(
            pools.usage(1),
            Usage {
                open: 2,
                busy: 2,
                limit: 2
            }
        );
        // A third for guild 1 waits; guild 2 is not held up by it.
        let p = Arc::clone(&pools);
        let waiting = tokio::spawn(async move { p.acquire(1, 2).await.is_some() });
        assert!(
            tokio::time::timeout(Duration::from_secs(5), pools.acquire(2, 2))
                .await
                .is_ok_and(|p| p.is_some())
        );
        assert!(!waiting.is_finished());
        drop(a1);
        assert!(
            tokio::time::timeout(Duration::from_secs(5), waiting)
                .await
                .is_ok_and(|r| r.unwrap_or(false))
        );
    }

    #[tokio::test]
    async fn the_worker_cap_holds_across_guilds() {
        let pools = pools(2);
        let _a = pools.acquire(1, 5).await;
        let _b = pools.acquire(2, 5).await;
        assert!(
            tokio::time::timeout(Duration::from_millis(100), pools.acquire(3, 5))
                .await
                .is_err()
        );
    }
}

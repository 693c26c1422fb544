//! The schedule: leases taken and renewed (a fair share of the servers), connection slots
//! renewed, and every held server's poll started when it is due.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use tower_daemon::shutdown::Shutdown;
use tower_store::tier::Tier;

use crate::breaker::Breaker;
use crate::lease::fair_share;
use crate::pool::{ServerKey, key_id};
use crate::slots::RENEW_EVERY;

use super::{IDLE_CLOSE, Poller, TICK};

/// The longest a step of stopping waits for MongoDB (giving leases back, the last status
/// reports): a Kubernetes pod gets 30 s between SIGTERM and SIGKILL.
const STOP_STEP: Duration = Duration::from_secs(3);

impl Poller {
    /// Schedules polls until shutdown, then gives its leases back.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) {
        // Leases on their own task: a round makes a MongoDB call per server, and must not
        // hold up polls that are due.
        let leasing = tokio::spawn(Arc::clone(&self).keep_leases(shutdown.clone()));
        let slots = tokio::spawn(Arc::clone(&self).keep_slots(shutdown.clone()));
        let reporting = {
            let poller = Arc::clone(&self);
            let shutdown = shutdown.clone();
            tokio::spawn(async move { poller.status.run(shutdown).await })
        };
        let mut last_reap = Instant::now();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.wait() => break,
            }
            self.start_due_polls();
            if last_reap.elapsed() >= Duration::from_secs(60) {
                let held: HashSet<ServerKey> = self.held();
                self.pools
                    .close_idle(IDLE_CLOSE, |k| held.contains(k))
                    .await;
                last_reap = Instant::now();
            }
        }
        let _ = leasing.await;
        let _ = slots.await;
        // Each step that needs MongoDB is bounded: a worker told to stop while MongoDB is
        // away must still stop within its grace period (its leases then run out instead).
        match tokio::time::timeout(STOP_STEP, self.leases.release_all()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "leases not given back; they run out instead");
            }
            Err(_) => tracing::warn!("leases not given back in time; they run out instead"),
        }
        self.pools.close_all().await;
        // A status flush under way when stopping began is waited for, bounded.
        let _ = tokio::time::timeout(STOP_STEP, reporting).await;
        // The last reports, of polls that ended after the writer stopped.
        if tokio::time::timeout(STOP_STEP, self.status.flush())
            .await
            .is_err()
        {
            tracing::warn!("last server status reports not written before stopping");
        }
    }

    /// A lease round every third of the lease time, until shutdown.
    /// Renews the guild connection slots this worker holds, and closes kept connections
    /// another worker waits for (see [`crate::slots`]).
    pub(super) async fn keep_slots(self: Arc<Self>, shutdown: Shutdown) {
        let mut every = tokio::time::interval(RENEW_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.wait() => return,
            }
            // A round still waiting on MongoDB is given up at shutdown.
            tokio::select! {
                renewed = self.pools.renew_slots() => if let Err(e) = renewed {
                    tracing::warn!(error = %e, "connection slots not renewed; retrying");
                },
                () = shutdown.wait() => return,
            }
        }
    }

    pub(super) async fn keep_leases(self: Arc<Self>, shutdown: Shutdown) {
        let mut every = tokio::time::interval((self.lease / 3).max(Duration::from_secs(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.wait() => return,
            }
            tokio::select! {
                round = self.lease_round() => if let Err(e) = round {
                    tracing::warn!(error = %e, "lease round failed; keeping current servers");
                },
                () = shutdown.wait() => return,
            }
        }
    }

    pub(super) fn held(&self) -> HashSet<ServerKey> {
        self.runtime
            .lock()
            .map(|r| {
                r.iter()
                    .filter(|(_, rt)| rt.held)
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Renews held leases, takes free ones up to a fair share, gives back the excess.
    pub(super) async fn lease_round(&self) -> Result<(), mongodb::error::Error> {
        self.leases.announce().await?;
        let servers: Vec<Document> = self
            .game_servers
            .find(doc! { "enabled": { "$ne": false } })
            .projection(doc! { "guild_id": 1, "server_id": 1, "created_at": 1 })
            .await?
            .try_collect()
            .await?;
        let tiers = self.guilds.tiers().await?;
        let all = self.within_slots(&servers, &tiers);
        let share = fair_share(all.len(), self.leases.live_workers().await?);
        let holders = self.leases.holders().await?;
        let held = self.held();
        let exists: HashSet<&ServerKey> = all.iter().collect();

        // Renew what is held (and still registered), in a stable order; keep up to the
        // fair share of what is still ours and give back the rest.
        let mut still: Vec<ServerKey> = held
            .iter()
            .filter(|k| exists.contains(k))
            .cloned()
            .collect();
        still.sort();
        let renewed = self.leases.renew(&still).await?;
        let mut kept: Vec<(ServerKey, i64)> = Vec::new();
        let mut over_share = Vec::new();
        for key in still {
            if kept.len() >= share {
                over_share.push(key);
                continue;
            }
            let token = match renewed.get(&key) {
                Some(token) => Some(*token),
                // Ran out (a paused worker) or lost: claimed afresh, with a new token.
                None => self.leases.claim(&key).await?,
            };
            if let Some(token) = token {
                kept.push((key, token));
            }
        }
        if let Err(e) = self.leases.release(&over_share).await {
            tracing::warn!(error = %e, servers = over_share.len(), "leases over the fair share not given back; they run out instead");
        }
        // Take free servers, each worker preferring different ones (rendezvous order).
        let mut free: Vec<&ServerKey> = all
            .iter()
            .filter(|k| !held.contains(*k) && !holders.contains_key(&key_id(k)))
            .collect();
        free.sort_by_key(|k| rendezvous(&self.me, k));
        for key in free {
            if kept.len() >= share {
                break;
            }
            if let Some(token) = self.leases.claim(key).await? {
                kept.push((key.clone(), token));
            }
        }
        let kept_keys: HashSet<ServerKey> = kept.iter().map(|(k, _)| k.clone()).collect();
        let added_at: HashMap<ServerKey, i64> = servers
            .iter()
            .filter_map(|d| {
                let guild = d.get_str("guild_id").ok()?.parse().ok()?;
                let server = d.get_str("server_id").ok()?.to_owned();
                let added = d.get_datetime("created_at").ok()?.timestamp_millis();
                Some(((guild, server), added))
            })
            .collect();
        let mut added_again = Vec::new();
        if let Ok(mut runtime) = self.runtime.lock() {
            // Given back: forget it, or once its running poll ends.
            runtime.retain(|k, rt| kept_keys.contains(k) || rt.in_flight);
            for (k, rt) in runtime.iter_mut() {
                rt.held = kept_keys.contains(k);
            }
            for (key, token) in kept {
                let rt = runtime.entry(key.clone()).or_default();
                rt.held = true;
                rt.token = token;
                rt.leased_at = Some(Instant::now());
                rt.tier = tiers.get(&key.0).copied().unwrap_or_default();
                let added = added_at.get(&key).copied();
                if rt.added_at.is_some() && rt.added_at != added {
                    // Added again since the last round: new settings, read at once.
                    rt.breaker = Breaker::default();
                    rt.layout = None;
                    rt.layout_at = None;
                    rt.next_due = None;
                    added_again.push(key.clone());
                }
                rt.added_at = added;
            }
        }
        for key in added_again {
            tracing::info!(guild = key.0, server = %key.1, "server added again: read afresh");
            self.pools.close_server(&key).await;
        }
        Ok(())
    }

    /// The servers to poll: per guild, the oldest up to its tier's slots. After a
    /// downgrade the others are paused (given back if held) until a slot frees up or the
    /// tier rises; `/setup list_servers` shows which.
    pub(super) fn within_slots(
        &self,
        servers: &[Document],
        tiers: &HashMap<u64, Tier>,
    ) -> Vec<ServerKey> {
        let mut by_guild: HashMap<u64, Vec<(i64, String)>> = HashMap::new();
        for d in servers {
            let (Some(guild), Ok(server)) = (
                d.get_str("guild_id").ok().and_then(|g| g.parse().ok()),
                d.get_str("server_id"),
            ) else {
                continue;
            };
            let added = d
                .get_datetime("created_at")
                .map_or(0, |t| t.timestamp_millis());
            by_guild
                .entry(guild)
                .or_default()
                .push((added, server.to_owned()));
        }
        let mut all = Vec::new();
        for (guild, mut list) in by_guild {
            let tier = tiers.get(&guild).copied().unwrap_or_default();
            let slots = usize::try_from(self.tiers.limits(tier).game_servers).unwrap_or(usize::MAX);
            if list.len() > slots {
                tracing::info!(
                    guild,
                    servers = list.len(),
                    slots,
                    "servers beyond the tier's slots paused"
                );
            }
            list.sort();
            all.extend(
                list.into_iter()
                    .take(slots)
                    .map(|(_, server)| (guild, server)),
            );
        }
        all
    }

    pub(super) fn interval(&self, tier: Tier) -> Duration {
        self.poll_override.unwrap_or_else(|| {
            Duration::from_secs(u64::from(self.tiers.limits(tier).killfeed_poll_secs))
        })
    }

    pub(super) fn start_due_polls(self: &Arc<Self>) {
        let now = Instant::now();
        let due: Vec<(ServerKey, i64, Tier, Instant)> = match self.runtime.lock() {
            Ok(mut runtime) => runtime
                .iter_mut()
                .filter(|(_, rt)| {
                    rt.held
                        && !rt.in_flight
                        // A backfill someone asked for tries now, whatever the breaker: they
                        // hear at once whether it works.
                        // So does a season close (it needs the database, not the server).
                        && (rt.breaker.allows(now)
                            || rt.backfill.is_some()
                            || rt.season_close.is_some())
                        && rt.next_due.is_none_or(|d| d <= now)
                })
                .map(|(k, rt)| {
                    rt.in_flight = true;
                    (k.clone(), rt.token, rt.tier, rt.next_due.unwrap_or(now))
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for (key, token, tier, due_at) in due {
            let poller = Arc::clone(self);
            tokio::spawn(async move { poller.poll(key, token, tier, due_at).await });
        }
    }
}

/// A stable per-worker order of servers, so workers reach for different ones first.
fn rendezvous(me: &str, key: &ServerKey) -> [u8; 8] {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{me}|{}|{}", key.0, key.1).as_bytes(),
    );
    let mut out = [0u8; 8];
    out.copy_from_slice(&d.as_ref()[..8]);
    out
}

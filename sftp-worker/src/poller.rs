//! Polling: every game server this worker holds a lease on is read at its tier's
//! interval — new killfeed lines into the statistics and the outbox, new server-log lines
//! into events, connections and player counts — over a kept SFTP connection.
//!
//! One loop schedules; each poll runs on its own task, within the guild's and the
//! worker's connection limits. A failing server backs off (circuit breaker) without
//! holding anyone else up. What each poll did is written to `server_status`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use tower_proto::v1::ErrorContext;
use tower_proto::v1::{BackfillProgress, BackfillState, ServerRef};
use tower_shared::config::{SftpConfig, WorkerConfig};
use tower_shared::cursor::{FileCursor, LogRestart};
use tower_shared::cursor_store::{
    CursorStore, LogState, OpenFoldersError, RecoverError, StoreSink,
};
use tower_shared::db::{Database, collections};
use tower_shared::game_servers::{GameServer, GameServerStore};
use tower_shared::guilds::GuildStore;
use tower_shared::ids::{GuildId, ServerId};
use tower_shared::outbox::{Notice, Outbox};
use tower_shared::reader::{KillfeedSink, LogSink, PollOutcome, poll_killfeed, poll_log};
use tower_shared::schema::SCHEMA_VERSION;
use tower_shared::secret::SecretKey;
use tower_shared::server_log::{LogEvent, LogRecord, PlayerCounts};
use tower_shared::shutdown::Shutdown;
use tower_shared::source::FileMeta;
use tower_shared::stats_store::StatsStore;
use tower_shared::telemetry::Telemetry;
use tower_shared::tier::{Tier, TierTable};

use crate::breaker::Breaker;
use crate::budget::{IngestBudget, Pause};
use crate::connection::{ConnectErrorKind, SftpConnection, Target, Timeouts};
use crate::discovery::{Layout, discover};
use crate::lease::{Leases, fair_share};
use crate::pool::{Pools, ServerKey, key_id};
use crate::sftp_source::SftpSource;
use crate::slots::{RENEW_EVERY, Slots};
use crate::status::{Counter, StatusWriter};

/// How often the scheduler looks for due polls.
const TICK: Duration = Duration::from_millis(50);
/// Connections unused this long are closed.
const IDLE_CLOSE: Duration = Duration::from_secs(300);
/// How long a poll waits for one of its guild's connection slots held on other workers.
const SLOT_WAIT: Duration = Duration::from_secs(20);

/// What the worker knows of one server it polls.
#[derive(Default)]
struct Runtime {
    token: i64,
    tier: Tier,
    next_due: Option<Instant>,
    in_flight: bool,
    breaker: Breaker,
    layout: Option<Layout>,
    /// When `layout` was found: it is searched for again after `rediscover`.
    layout_at: Option<Instant>,
    /// Whether this worker holds the lease (an entry stays while its poll finishes).
    held: bool,
    /// A backfill someone follows: progress of the next poll goes here.
    backfill: Option<tokio::sync::watch::Sender<BackfillProgress>>,
    /// The lease token the server's cursors were last fenced with by this worker: fencing
    /// again with the same token changes nothing, so it is done once per token.
    fenced: Option<i64>,
}

pub struct Poller {
    stats: StatsStore,
    cursors: CursorStore,
    outbox: Outbox,
    servers: GameServerStore,
    game_servers: mongodb::Collection<Document>,
    guilds: GuildStore,
    pub status: StatusWriter,
    tiers: TierTable,
    sftp: SftpConfig,
    poll_override: Option<Duration>,
    key: Option<Arc<SecretKey>>,
    telemetry: Telemetry,
    me: String,
    pub pools: Pools,
    budget: IngestBudget,
    leases: Leases,
    lease: Duration,
    /// Killfeed bytes per batch (`worker.batch_kib`).
    batch_bytes: usize,
    /// How long a server's layout is kept before its folders are searched again.
    rediscover: Duration,
    runtime: Mutex<HashMap<ServerKey, Runtime>>,
}

/// Why one poll failed.
struct PollFailure {
    kind: String,
    message: String,
    transient: bool,
}

/// A database failure of a poll; a write refused for a newer lease holder is the lease lost.
fn database(e: &mongodb::error::Error) -> PollFailure {
    if tower_shared::cursor_store::is_fenced(e) {
        lease_lost()
    } else {
        failure("poll.database", e.to_string(), true)
    }
}

fn lease_lost() -> PollFailure {
    failure(
        "poll.lease_lost",
        "another worker now holds this server",
        true,
    )
}

impl PollFailure {
    /// MongoDB failed, or the guild's connections were all in use: not the game server.
    fn is_workers(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "poll.database" | "poll.server_lookup" | "poll.connection_slot"
        )
    }
}

fn failure(kind: &str, message: impl Into<String>, transient: bool) -> PollFailure {
    PollFailure {
        kind: kind.to_owned(),
        message: message.into(),
        transient,
    }
}

impl Poller {
    pub fn new(
        db: &Database,
        worker: &WorkerConfig,
        sftp: SftpConfig,
        tiers: TierTable,
        key: Option<Arc<SecretKey>>,
        telemetry: Telemetry,
        me: &str,
    ) -> Self {
        let lease = Duration::from_secs(u64::from(worker.lease_secs.max(3)));
        Self {
            stats: StatsStore::new(db),
            cursors: CursorStore::new(db),
            outbox: Outbox::new(db),
            servers: GameServerStore::new(db),
            game_servers: db.raw().collection(collections::GAME_SERVERS),
            guilds: GuildStore::new(db),
            status: StatusWriter::new(db),
            tiers,
            sftp,
            poll_override: worker
                .poll_interval_secs
                .map(|s| Duration::from_secs(u64::from(s.max(1)))),
            key,
            telemetry,
            me: me.to_owned(),
            pools: Pools::new(worker.max_connections, Slots::new(db.raw(), me)),
            budget: IngestBudget::new(db.raw()),
            leases: Leases::new(db, me, lease),
            lease,
            batch_bytes: usize::try_from(worker.batch_kib)
                .unwrap_or(usize::MAX)
                .saturating_mul(1024),
            rediscover: Duration::from_secs(u64::from(worker.rediscover_secs.max(1))),
            runtime: Mutex::new(HashMap::new()),
        }
    }

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
        for key in self.held() {
            let _ = self.leases.release(&key).await;
        }
        self.pools.close_all().await;
        let _ = reporting.await;
        // The last reports, of polls that ended after the writer stopped.
        self.status.flush().await;
    }

    /// A lease round every third of the lease time, until shutdown.
    /// Renews the guild connection slots this worker holds, and closes kept connections
    /// another worker waits for (see [`crate::slots`]).
    async fn keep_slots(self: Arc<Self>, shutdown: Shutdown) {
        let mut every = tokio::time::interval(RENEW_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.wait() => return,
            }
            if let Err(e) = self.pools.renew_slots().await {
                tracing::warn!(error = %e, "connection slots not renewed; retrying");
            }
        }
    }

    async fn keep_leases(self: Arc<Self>, shutdown: Shutdown) {
        let mut every = tokio::time::interval((self.lease / 3).max(Duration::from_secs(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                () = shutdown.wait() => return,
            }
            if let Err(e) = self.lease_round().await {
                tracing::warn!(error = %e, "lease round failed; keeping current servers");
            }
        }
    }

    fn held(&self) -> HashSet<ServerKey> {
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
    async fn lease_round(&self) -> Result<(), mongodb::error::Error> {
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
        for key in still {
            if kept.len() >= share {
                let _ = self.leases.release(&key).await;
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
                rt.tier = tiers.get(&key.0).copied().unwrap_or_default();
            }
        }
        Ok(())
    }

    /// The servers to poll: per guild, the oldest up to its tier's slots. After a
    /// downgrade the others are paused (given back if held) until a slot frees up or the
    /// tier rises; `/setup list_servers` shows which.
    fn within_slots(&self, servers: &[Document], tiers: &HashMap<u64, Tier>) -> Vec<ServerKey> {
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

    fn interval(&self, tier: Tier) -> Duration {
        self.poll_override.unwrap_or_else(|| {
            Duration::from_secs(u64::from(self.tiers.limits(tier).killfeed_poll_secs))
        })
    }

    fn start_due_polls(self: &Arc<Self>) {
        let now = Instant::now();
        let due: Vec<(ServerKey, i64, Tier, Instant)> = match self.runtime.lock() {
            Ok(mut runtime) => runtime
                .iter_mut()
                .filter(|(_, rt)| {
                    rt.held
                        && !rt.in_flight
                        && rt.breaker.allows(now)
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

    async fn poll(&self, key: ServerKey, token: i64, tier: Tier, due_at: Instant) {
        let started = Instant::now();
        let lag = started.saturating_duration_since(due_at);
        if let Some(pause) = self.budget.paused(key.0) {
            self.hold(&key, &pause);
            return;
        }
        let (layout, backfill, fenced) = self
            .runtime
            .lock()
            .ok()
            .and_then(|r| {
                r.get(&key).map(|rt| {
                    // Searched again now and then, and for a backfill: folders appear.
                    let fresh = rt.layout_at.is_some_and(|t| t.elapsed() < self.rediscover);
                    (
                        rt.layout.clone().filter(|_| fresh && rt.backfill.is_none()),
                        rt.backfill.clone(),
                        rt.fenced == Some(token),
                    )
                })
            })
            .unwrap_or_default();
        let searched = layout.is_none();
        let result =
            guarded(self.poll_server(&key, token, !fenced, tier, layout, backfill.as_ref()))
                .await
                .and_then(|r| r);
        if let Some(tx) = &backfill {
            tx.send_modify(|p| match &result {
                Ok(_) => p.state = BackfillState::Done as i32,
                Err(f) => {
                    p.state = BackfillState::Failed as i32;
                    p.error = f.message.clone();
                }
            });
        }
        let jitter = f64::from(started.elapsed().subsec_nanos() % 1000) / 1000.0;
        let (status_error, outcome) = match &result {
            Ok((outcome, _)) => (None, Some(*outcome)),
            Err(f) => (Some(f.message.clone()), None),
        };
        // What was read counts against the guild's budget for the hour.
        let paused = match outcome {
            Some(o) => self
                .budget
                .spend(key.0, o.bytes, o.lines, self.tiers.limits(tier))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(guild = key.0, error = %e, "ingest budget not counted");
                    None
                }),
            None => None,
        };
        let breaker_state = match self.runtime.lock() {
            Ok(mut runtime) => runtime.get_mut(&key).map(|rt| {
                rt.in_flight = false;
                rt.next_due = Some(due_at.max(started) + self.interval(tier));
                // Clear the backfill this poll served; one asked for meanwhile runs next, now.
                let served = |b: &tokio::sync::watch::Sender<BackfillProgress>| {
                    backfill.as_ref().is_some_and(|t| t.same_channel(b))
                };
                if rt.backfill.as_ref().is_some_and(served) {
                    rt.backfill = None;
                } else if rt.backfill.is_some() {
                    rt.next_due = Some(Instant::now());
                }
                match &result {
                    Ok((_, layout)) => {
                        if searched {
                            rt.layout_at = Some(Instant::now());
                        }
                        rt.layout = Some(layout.clone());
                        rt.fenced = Some(token);
                        rt.breaker.succeeded();
                    }
                    Err(f) => {
                        if !f.transient {
                            rt.layout = None;
                        }
                        // The breaker is the game server's: a database outage is the
                        // worker's, and every server is read again at its next interval
                        // once MongoDB is back, not minutes of backoff later.
                        if !f.is_workers() {
                            rt.breaker.failed(
                                f.message.clone(),
                                f.transient,
                                Instant::now(),
                                jitter,
                            );
                        }
                    }
                }
                rt.breaker.state(Instant::now())
            }),
            Err(_) => None,
        };
        if let Ok(mut runtime) = self.runtime.lock()
            && runtime.get(&key).is_some_and(|rt| !rt.held)
        {
            runtime.remove(&key);
        }
        if let Err(f) = &result {
            let context = ErrorContext {
                guild_id: key.0,
                server_id: key.1.clone(),
                command: "poll".to_owned(),
                shard: None,
            };
            self.telemetry
                .error(&f.kind, &f.message, "sftp_worker::poller", Some(context));
            tracing::warn!(guild = key.0, server = %key.1, error = %f.message, "poll failed");
        }
        let mut set = doc! {
            "guild_id": key.0.to_string(),
            "server_id": &key.1,
            "worker": &self.me,
            "last_poll": DateTime::now(),
            "lag_ms": i64::try_from(lag.as_millis()).unwrap_or(i64::MAX),
            "duration_ms": i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            "breaker": breaker_state.map_or(0, |b| b as i32),
            "last_error": status_error.unwrap_or_default(),
            "schema_version": SCHEMA_VERSION,
        };
        if let Some(o) = outcome {
            set.insert("last_bytes", i64::try_from(o.bytes).unwrap_or(i64::MAX));
            set.insert("last_lines", i64::try_from(o.lines).unwrap_or(i64::MAX));
        }
        match paused {
            Some(p) => {
                set.insert("paused", p.message());
                set.insert("paused_until", DateTime::from_millis(p.until_ms));
            }
            None => {
                set.insert("paused", "");
            }
        }
        self.status.polled(key_id(&key), set);
    }

    /// A poll not made: the guild's ingest budget for the hour is used up. The server is
    /// due again when the hour ends (a backfill asked for waits too), and its status says
    /// why.
    fn hold(&self, key: &ServerKey, pause: &Pause) {
        let wait_ms = pause
            .until_ms
            .saturating_sub(DateTime::now().timestamp_millis());
        let resume = Instant::now() + Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
        if let Ok(mut runtime) = self.runtime.lock() {
            if let Some(rt) = runtime.get_mut(key) {
                rt.in_flight = false;
                rt.next_due = Some(resume);
            }
            if runtime.get(key).is_some_and(|rt| !rt.held) {
                runtime.remove(key);
            }
        }
        self.status.noted(
            key_id(key),
            doc! {
                "guild_id": key.0.to_string(),
                "server_id": &key.1,
                "worker": &self.me,
                "paused": pause.message(),
                "paused_until": DateTime::from_millis(pause.until_ms),
                "schema_version": SCHEMA_VERSION,
            },
        );
    }

    async fn poll_server(
        &self,
        key: &ServerKey,
        token: i64,
        fence: bool,
        tier: Tier,
        layout: Option<Layout>,
        backfill: Option<&tokio::sync::watch::Sender<BackfillProgress>>,
    ) -> Result<(PollOutcome, Layout), PollFailure> {
        let server_id =
            ServerId::parse(&key.1).map_err(|e| failure("poll.bad_server", e, false))?;
        let quota = self.tiers.limits(tier).sftp_connections;
        let _permits = self
            .pools
            .acquire(key.0, quota)
            .await
            .ok_or_else(|| failure("poll.pool", "connection pool closed", true))?;
        // The server's settings are read only to open a connection: a kept one needs none.
        let (conn, slot) = match self.pools.take(key).await {
            Some(kept) => kept,
            None => {
                let server = self
                    .servers
                    .get(GuildId(key.0), &server_id)
                    .await
                    .map_err(|e| failure("poll.server_lookup", e.to_string(), true))?;
                self.pools.make_room(key.0, quota).await;
                // Waiting on the guild's other connections is no fault of the game server.
                let slot = self
                    .pools
                    .slot(key.0, quota, SLOT_WAIT)
                    .await
                    .map_err(|e| failure("poll.connection_slot", e.to_string(), true))?;
                let conn = self.connect(&server).await?;
                // Counted so operators (and tests) can see steady state opens no sessions.
                self.status.connection_opened(key_id(key));
                (conn, slot)
            }
        };
        let result = self
            .read_server((key.0, &server_id), &conn, (token, fence), layout, backfill)
            .await;
        match &result {
            Ok(_) => self.pools.put(key.clone(), conn, slot, quota).await,
            Err(_) => {
                conn.close().await;
                drop(slot);
            }
        }
        result
    }

    async fn connect(&self, server: &GameServer) -> Result<SftpConnection, PollFailure> {
        let key = self.key.as_deref().ok_or_else(|| {
            failure(
                "config.no_secret_key",
                "no secret key to open stored credentials",
                false,
            )
        })?;
        let credential = server
            .credential(key)
            .map_err(|e| failure("secrets.open", e.to_string(), false))?;
        let target = Target {
            host: &server.host,
            port: server.port,
            username: &server.username,
            credential: &credential,
            pinned_host_key: server.host_key_sha256.as_deref(),
        };
        let timeouts = Timeouts {
            connect: Duration::from_secs(self.sftp.connect_timeout_secs.max(1)),
            operation: Duration::from_secs(self.sftp.operation_timeout_secs.max(1)),
            keepalive: Duration::from_secs(self.sftp.keepalive_secs.max(1)),
        };
        let mut steps = Vec::new();
        let conn = SftpConnection::open(&target, &self.sftp.addresses, timeouts, &mut steps)
            .await
            .map_err(|e| {
                let transient = matches!(
                    e.kind,
                    ConnectErrorKind::Unreachable
                        | ConnectErrorKind::Timeout
                        | ConnectErrorKind::Handshake
                        | ConnectErrorKind::Unresolved
                );
                failure(
                    &format!("sftp.{:?}", e.kind).to_ascii_lowercase(),
                    e.message,
                    transient,
                )
            })?;
        if server.host_key_sha256.is_none() && !conn.host_key.is_empty() {
            let _ = self
                .servers
                .pin_host_key(server.guild, &server.server, &conn.host_key)
                .await;
        }
        Ok(conn)
    }

    async fn read_server(
        &self,
        (guild, server_id): (u64, &ServerId),
        conn: &SftpConnection,
        (token, fence): (i64, bool),
        layout: Option<Layout>,
        backfill: Option<&tokio::sync::watch::Sender<BackfillProgress>>,
    ) -> Result<(PollOutcome, Layout), PollFailure> {
        let source = conn.source();
        let layout = match layout {
            Some(l) => l,
            None => discover(&source, server_id.as_str())
                .await
                .map_err(|e| failure("sftp.discovery", e.to_string(), true))?,
        };
        let sid = server_id.as_str();
        // Take the cursors from any earlier holder before reading them (once per lease
        // token: every cursor write is fenced with it as well).
        let fenced = if fence {
            self.cursors.fence(guild, sid, token).await
        } else {
            Ok(())
        };
        fenced.map_err(|e| {
            if tower_shared::cursor_store::is_fenced(&e) {
                failure(
                    "poll.lease_lost",
                    "another worker now holds this server",
                    true,
                )
            } else {
                failure("poll.database", e.to_string(), true)
            }
        })?;
        let mut outcome = PollOutcome::default();
        if !layout.killfeed_dirs.is_empty() {
            self.poll_killfeed_folders(
                (guild, sid),
                &source,
                &layout,
                token,
                backfill,
                &mut outcome,
            )
            .await?;
        }
        if let Some(log) = &layout.log_path {
            let state = self
                .cursors
                .load_log(guild, sid)
                .await
                .map_err(|e| failure("poll.database", e.to_string(), true))?;
            let mut sink = ServerLogSink {
                guild,
                server_id: sid,
                first_read: state.cursor.is_none(),
                quiet_until: state.quiet_until,
                counts: PlayerCounts::from_ids(state.online.clone(), state.queued.clone()),
                cursors: &self.cursors,
                outbox: &self.outbox,
                fence: token,
            };
            poll_log(&source, log, state.cursor.clone(), &mut sink, &mut outcome)
                .await
                .map_err(|e| failure("poll.log", e.to_string(), true))?;
        }
        Ok((outcome, layout))
    }
}

impl Poller {
    /// Reads every killfeed folder of a server (`deathlogs/world_*`), each from its own
    /// cursor, all batches numbered in one sequence: first every interrupted batch is
    /// finished, then each folder reads what is new.
    async fn poll_killfeed_folders(
        &self,
        (guild, sid): (u64, &str),
        source: &SftpSource<'_>,
        layout: &Layout,
        token: i64,
        backfill: Option<&tokio::sync::watch::Sender<BackfillProgress>>,
        outcome: &mut PollOutcome,
    ) -> Result<(), PollFailure> {
        let mut sinks = StoreSink::open_folders(
            guild,
            sid,
            &layout.killfeed_dirs,
            Some(token),
            &self.stats,
            &self.cursors,
        )
        .await
        .map_err(|e| match e {
            OpenFoldersError::Fenced => lease_lost(),
            OpenFoldersError::Db(e) => database(&e),
            other => failure("poll.killfeed", other.to_string(), true),
        })?;
        for sink in &mut sinks {
            sink.outbox = Some(&self.outbox);
            sink.fence = Some(token);
            sink.backfill = backfill.is_some();
            sink.recover(source).await.map_err(|e| match e {
                RecoverError::Db(e) => database(&e),
                other => failure("poll.killfeed", other.to_string(), true),
            })?;
        }
        let id = key_id(&(guild, sid.to_owned()));
        let mut progress = FoldersProgress::default();
        // Interrupted batches are finished: new ones are numbered after every folder's.
        let mut next_batch = StoreSink::next_batch_of(&sinks);
        let result = async {
            for (dir, sink) in layout.killfeed_dirs.iter().zip(&mut sinks) {
                // Batch numbers go on from the folder read before.
                sink.state.next_batch = sink.state.next_batch.max(next_batch);
                let cursor = sink.state.cursor.clone();
                let mut progress_sink = ProgressSink {
                    inner: &mut *sink,
                    backfill,
                    unread: Vec::new(),
                    unread_bytes: 0,
                    before: progress,
                };
                let polled = poll_killfeed(
                    source,
                    dir,
                    self.batch_bytes,
                    cursor,
                    &mut progress_sink,
                    outcome,
                )
                .await;
                progress = progress_sink.after();
                polled.map_err(|e| match e {
                    // The store failed, not the game server.
                    tower_shared::reader::PollError::Sink(e) => database(&e),
                    other => failure("poll.killfeed", other.to_string(), true),
                })?;
                sink.settle().await.map_err(|e| database(&e))?;
                next_batch = sink.state.next_batch;
            }
            Ok(())
        }
        .await;
        for sink in &sinks {
            for (counter, n) in [
                (Counter::QuietLines, sink.quiet_lines),
                (Counter::LostBytes, sink.lost_bytes),
            ] {
                if n > 0 {
                    self.status.add(id.clone(), counter, n);
                }
            }
        }
        result
    }

    /// Polls the server now and reports the progress of reading it; `None` when another
    /// worker holds it.
    pub fn start_backfill(
        &self,
        key: &ServerKey,
        backfill_id: String,
    ) -> Option<tokio::sync::watch::Receiver<BackfillProgress>> {
        let mut runtime = self.runtime.lock().ok()?;
        let rt = runtime.get_mut(key)?;
        if let Some(tx) = &rt.backfill {
            return Some(tx.subscribe());
        }
        let (tx, rx) = tokio::sync::watch::channel(BackfillProgress {
            backfill_id,
            server: Some(ServerRef {
                guild_id: key.0,
                server_id: key.1.clone(),
            }),
            state: BackfillState::Queued as i32,
            ..BackfillProgress::default()
        });
        rt.backfill = Some(tx);
        rt.next_due = Some(Instant::now());
        Some(rx)
    }

    /// Follows a backfill already started on this worker.
    pub fn watch_backfill(
        &self,
        key: &ServerKey,
    ) -> Option<tokio::sync::watch::Receiver<BackfillProgress>> {
        let runtime = self.runtime.lock().ok()?;
        runtime
            .get(key)?
            .backfill
            .as_ref()
            .map(tokio::sync::watch::Sender::subscribe)
    }
}

/// Passes batches to the store and, when a backfill is followed, counts them into its
/// progress.
struct ProgressSink<'a, 'b> {
    inner: &'a mut StoreSink<'b>,
    backfill: Option<&'a tokio::sync::watch::Sender<BackfillProgress>>,
    /// The files of this folder with bytes left to read when the backfill started.
    unread: Vec<FileMeta>,
    /// Their bytes left to read.
    unread_bytes: u64,
    /// What the folders read before this one added (all done by now).
    before: FoldersProgress,
}

/// A backfill's totals over the killfeed folders read so far.
#[derive(Debug, Default, Clone, Copy)]
struct FoldersProgress {
    files: u32,
    bytes: u64,
}

impl ProgressSink<'_, '_> {
    /// The totals once this folder is read too.
    fn after(&self) -> FoldersProgress {
        FoldersProgress {
            files: self
                .before
                .files
                .saturating_add(u32::try_from(self.unread.len()).unwrap_or(u32::MAX)),
            bytes: self.before.bytes.saturating_add(
                self.unread
                    .iter()
                    .map(|f| f.size)
                    .fold(0, u64::saturating_add),
            ),
        }
    }
}

impl KillfeedSink for ProgressSink<'_, '_> {
    type Error = mongodb::error::Error;

    fn history_end(&self) -> Option<&tower_shared::cursor::ReadPoint> {
        self.inner.history_end()
    }

    fn listed(&mut self, files: &[FileMeta], cursor: Option<&FileCursor>) {
        self.inner.listed(files, cursor);
        let Some(tx) = self.backfill else {
            return;
        };
        let unread = |f: &FileMeta| match cursor {
            Some(c) if f.name < c.file => 0,
            Some(c) if f.name == c.file => f.size.saturating_sub(c.offset),
            _ => f.size,
        };
        self.unread = files.iter().filter(|f| unread(f) > 0).cloned().collect();
        // Sizes are the SFTP server's word: a hostile one may claim u64::MAX per file.
        self.unread_bytes = files.iter().map(unread).fold(0, u64::saturating_add);
        let before = self.before;
        let unread_bytes = self.unread_bytes;
        tx.send_modify(|p| {
            p.state = BackfillState::Running as i32;
            p.files_total = before
                .files
                .saturating_add(u32::try_from(self.unread.len()).unwrap_or(u32::MAX));
            p.bytes_total = before.bytes.saturating_add(unread_bytes);
        });
    }

    async fn apply(
        &mut self,
        batch: &[tower_shared::ingest::Chunk<'_>],
        cursor: &FileCursor,
    ) -> Result<(), Self::Error> {
        self.inner.apply(batch, cursor).await?;
        let Some(tx) = self.backfill else {
            return Ok(());
        };
        let finished = self
            .unread
            .iter()
            .filter(|f| f.name < cursor.file || (f.name == cursor.file && cursor.offset >= f.size))
            .count();
        tx.send_modify(|p| {
            for chunk in batch {
                p.bytes_done = p.bytes_done.saturating_add(chunk.consumed as u64);
                p.lines = p.lines.saturating_add(chunk.lines);
                p.malformed_lines = p
                    .malformed_lines
                    .saturating_add(chunk.malformed.len() as u64);
            }
            p.files_done = self
                .before
                .files
                .saturating_add(u32::try_from(finished).unwrap_or(u32::MAX));
        });
        Ok(())
    }
}

/// Runs one poll so that a panic in it is a failed poll, not a lost task: the server is
/// released (`in_flight` cleared, the breaker told) and polled again, with no restart.
async fn guarded<T>(poll: impl Future<Output = T>) -> Result<T, PollFailure> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(poll)
        .catch_unwind()
        .await
        .map_err(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            failure(
                "poll.panic",
                format!("the poll stopped unexpectedly ({what}); it is retried"),
                true,
            )
        })
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

/// Server-log lines → connection, event and player-count notifications, then the cursor.
struct ServerLogSink<'a> {
    guild: u64,
    server_id: &'a str,
    /// No cursor yet: what the log holds now is history.
    first_read: bool,
    /// Where the log's history ends ([`LogState::quiet_until`]).
    quiet_until: Option<u64>,
    counts: PlayerCounts,
    cursors: &'a CursorStore,
    outbox: &'a Outbox,
    fence: i64,
}

impl LogSink for ServerLogSink<'_> {
    type Error = mongodb::error::Error;

    async fn apply(
        &mut self,
        restart: Option<LogRestart>,
        records: &[(u64, LogRecord<'_>)],
        cursor: &FileCursor,
    ) -> Result<(), Self::Error> {
        let (g, s) = (self.guild, self.server_id);
        // Keyed by the log's first line, not its head hash, which changes while a log
        // under HEAD_LEN bytes grows: a retried read gives the same keys.
        let log_id = format!("{g}:{s}:{}", cursor.log_id);
        let mut notices = Vec::new();
        let before = (self.counts.online(), self.counts.queued());
        match restart {
            Some(LogRestart::Truncated | LogRestart::Replaced) => {
                self.counts.apply(&LogEvent::Restart);
                // A new log after a restart is live from its first line.
                self.quiet_until = None;
            }
            // The first read: what is there is history, announced by nobody.
            Some(LogRestart::New) if self.first_read => self.quiet_until = Some(cursor.size),
            _ => {}
        }
        for (offset, record) in records {
            self.counts.apply(&record.event);
            let at_ms = record
                .at_ms
                .unwrap_or_else(|| DateTime::now().timestamp_millis());
            let notice = |kind: &'static str, data: Document| Notice {
                key: format!("l:{log_id}:{offset}"),
                guild_id: g,
                server_id: s.to_owned(),
                kind,
                at_ms,
                data,
            };
            if self.quiet_until.is_some_and(|end| *offset < end) {
                continue;
            }
            match &record.event {
                LogEvent::Joined { eos_id } => notices.push(notice(
                    "connection",
                    doc! { "player": { "id": eos_id }, "connection": "joined" },
                )),
                LogEvent::Left { eos_id } => notices.push(notice(
                    "connection",
                    doc! { "player": { "id": eos_id }, "connection": "left" },
                )),
                LogEvent::Queued { .. } => {}
                e if e.is_announced() => notices.push(notice("event", event_doc(e))),
                _ => {}
            }
        }
        let after = (self.counts.online(), self.counts.queued());
        if after != before {
            notices.push(Notice {
                key: format!("p:{log_id}:{}", cursor.offset),
                guild_id: g,
                server_id: s.to_owned(),
                kind: "player_count",
                at_ms: DateTime::now().timestamp_millis(),
                data: doc! { "online": after.0 as i64, "queued": after.1 as i64 },
            });
        }
        self.outbox.add(notices).await?;
        let (online, queued) = self.counts.ids();
        if self.quiet_until.is_some_and(|end| cursor.offset >= end) {
            self.quiet_until = None;
        }
        let state = LogState {
            cursor: Some(cursor.clone()),
            online,
            queued,
            quiet_until: self.quiet_until,
        };
        self.cursors
            .save_slot(g, s, "log", &state, Some(self.fence))
            .await
    }
}

fn event_doc(e: &LogEvent<'_>) -> Document {
    match e {
        LogEvent::Mission { name, state, level } => {
            doc! { "event": "mission", "name": *name, "state": *state, "level": i32::from(*level) }
        }
        LogEvent::Airdrop { state } => {
            doc! { "event": "airdrop", "name": "AirDrop", "state": *state }
        }
        LogEvent::WorldEvent { kind, name, state } => {
            doc! { "event": format!("{kind:?}").to_ascii_lowercase(), "name": *name, "state": *state }
        }
        LogEvent::Restart => doc! { "event": "server_restart" },
        _ => doc! {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_poll_is_a_failed_poll() {
        let panicked = guarded(async {
            let sizes: Vec<u64> = Vec::new();
            // An index out of range, as a bug on a request path would be.
            sizes[usize::from(sizes.is_empty())]
        })
        .await;
        let Err(f) = panicked else {
            panic!("a panic must come back as a failure")
        };
        assert_eq!(f.kind, "poll.panic");
        assert!(
            f.transient && f.message.contains("out of bounds"),
            "{}",
            f.message
        );
        assert!(matches!(guarded(async { 7 }).await, Ok(7)));
    }
}

//! Polling: every game server this worker holds a lease on is read at its tier's
//! interval — new killfeed lines into the statistics and the outbox, new server-log lines
//! into events, connections and player counts — over a kept SFTP connection.
//!
//! One loop schedules ([`schedule`]); each poll runs on its own task ([`poll`]), within the
//! guild's and the worker's connection limits and the guild's ingest budget. A failing
//! server backs off (circuit breaker) without holding anyone else up. The killfeed's
//! batches go to the statistics through [`killfeed_sink`], the log's records to
//! notifications through [`log_sink`]. What each poll did is written to `server_status`.
//! Kills recorded by hand are counted between polls by [`recorded_kills`].
//! This file holds the [`Poller`] itself, what it knows of each server, and the backfill
//! requests it takes.

mod killfeed_sink;
mod log_sink;
mod poll;
mod recorded_kills;
mod schedule;

pub use recorded_kills::{KillToRecord, Recorded};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mongodb::bson::Document;
use tower_daemon::config::{SftpConfig, WorkerConfig};
use tower_daemon::telemetry::Telemetry;
use tower_proto::v1::{BackfillProgress, BackfillState, ServerRef};
use tower_store::cursor_store::CursorStore;
use tower_store::db::{Database, collections};
use tower_store::game_servers::GameServerStore;
use tower_store::guilds::GuildStore;
use tower_store::outbox::Outbox;
use tower_store::seasons::{CloseOutcome, SeasonStore};
use tower_store::secret::SecretKey;
use tower_store::stats_store::StatsStore;
use tower_store::tier::{Tier, TierTable};

use crate::breaker::Breaker;
use crate::budget::IngestBudget;
use crate::discovery::Layout;
use crate::lease::Leases;
use crate::pool::{Pools, ServerKey};
use crate::slots::Slots;
use crate::status::StatusWriter;

/// Why a backfill was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BackfillRefused {
    #[error("this worker does not hold the server now")]
    NotHere,
    #[error("a backfill of this server is running{}: ask again when it ends", reading_again(*days))]
    Running { days: u32 },
}

fn reading_again(days: u32) -> String {
    match days {
        0 => " (reading only the files not read yet)".to_owned(),
        1 => " (reading again the last day)".to_owned(),
        n => format!(" (reading again the last {n} days)"),
    }
}

/// How often the scheduler looks for due polls.
const TICK: Duration = Duration::from_millis(50);
/// Connections unused this long are closed.
const IDLE_CLOSE: Duration = Duration::from_secs(300);

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
    /// The running poll serves `backfill`: what it reads is fixed.
    backfill_taken: bool,
    /// The lease token the server's cursors were last fenced with by this worker: fencing
    /// again with the same token changes nothing, so it is done once per token.
    fenced: Option<i64>,
    /// The server's cursors as the last poll left them.
    kept: Option<KeptCursors>,
    /// When this worker last renewed or took the lease: what it kept is used only while
    /// that is less than a lease period ago (a paused worker may have lost it meanwhile).
    leased_at: Option<Instant>,
    /// When the server was added (ms): removed and added again (new credentials, a new
    /// host) between two lease rounds, it is read afresh, not after the old breaker.
    added_at: Option<i64>,
    /// A season close asked for (`/reset_stats`): run after the next poll, before another.
    season_close: Option<SeasonClose>,
    /// Kills recorded by hand (`/rivalry record_kill`): counted after the next poll.
    recorded_kills: Vec<recorded_kills::AskedKill>,
}

/// A season close waiting for the end of the server's poll, and who waits for its outcome.
pub struct SeasonClose {
    pub label: Option<String>,
    pub closed_by: u64,
    pub reply: tokio::sync::oneshot::Sender<Result<CloseOutcome, Refused>>,
}

/// Why work asked of a server's lease holder between two polls (a season close, a kill
/// recorded by hand) was not done by this worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Another worker holds the server (or may, by now).
    NotHere,
    /// The same work of this server is already waiting (a season close), or too much of it
    /// (recorded kills).
    Busy,
    /// The database failed; a season close is finished before the server's next batch.
    Failed(String),
}

/// A server's reading state as this worker last loaded or wrote it, under one lease
/// token. A poll under the same token starts from it instead of reading MongoDB, so a poll
/// that finds nothing new makes no database round trip. It stays true because only the
/// lease holder writes these cursors, and every write is fenced by its token: a worker
/// that lost the lease has its next write refused, and the failed poll drops what it kept.
#[derive(Debug, Clone)]
pub(super) struct KeptCursors {
    token: i64,
    /// The killfeed slots (`None`: not loaded yet, the layout had no killfeed folder).
    killfeed: Option<tower_store::cursor_store::KillfeedSlots>,
    /// The server log's state (`None`: not loaded yet).
    log: Option<tower_store::cursor_store::LogState>,
}

pub struct Poller {
    stats: StatsStore,
    seasons: SeasonStore,
    rewards: tower_store::kill_rewards::KillRewards,
    cursors: CursorStore,
    outbox: Outbox,
    renames: tower_store::renames::Renames,
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
            seasons: SeasonStore::new(db),
            rewards: tower_store::kill_rewards::KillRewards::new(db),
            cursors: CursorStore::new(db),
            outbox: Outbox::new(db),
            renames: tower_store::renames::Renames::new(db),
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

    /// Polls the server now and reports the progress of reading it, with the files
    /// written in the last `days` read again (0: none). One asked for while another waits
    /// joins it (reading again the most days asked); while another runs, it joins it if
    /// that one reads again as many days.
    pub fn start_backfill(
        &self,
        key: &ServerKey,
        backfill_id: String,
        days: u32,
    ) -> Result<tokio::sync::watch::Receiver<BackfillProgress>, BackfillRefused> {
        let mut runtime = self.runtime.lock().map_err(|_| BackfillRefused::NotHere)?;
        let rt = runtime.get_mut(key).ok_or(BackfillRefused::NotHere)?;
        // One that has ended (its poll is still finishing) is not joined: a new one runs.
        if let Some(tx) = rt.backfill.as_ref().filter(|tx| !tx.borrow().has_ended()) {
            let running = tx.borrow().days;
            if days > running {
                if rt.backfill_taken {
                    return Err(BackfillRefused::Running { days: running });
                }
                tx.send_modify(|p| p.days = days);
            }
            return Ok(tx.subscribe());
        }
        let (tx, rx) = tokio::sync::watch::channel(BackfillProgress {
            backfill_id,
            server: Some(ServerRef {
                guild_id: key.0,
                server_id: key.1.clone(),
            }),
            state: BackfillState::Queued as i32,
            days,
            ..BackfillProgress::default()
        });
        rt.backfill = Some(tx);
        rt.backfill_taken = false;
        rt.next_due = Some(Instant::now());
        Ok(rx)
    }

    /// Asks for a season close of a server this worker holds: it runs at the end of the
    /// server's next poll (now), so no batch of its lines is split between two seasons.
    pub fn close_season(
        &self,
        key: &ServerKey,
        label: Option<String>,
        closed_by: u64,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<CloseOutcome, Refused>>, Refused> {
        let mut runtime = self.runtime.lock().map_err(|_| Refused::NotHere)?;
        let rt = runtime
            .get_mut(key)
            .filter(|rt| rt.held)
            .ok_or(Refused::NotHere)?;
        if rt.season_close.is_some() {
            return Err(Refused::Busy);
        }
        let (reply, rx) = tokio::sync::oneshot::channel();
        rt.season_close = Some(SeasonClose {
            label,
            closed_by,
            reply,
        });
        if !rt.in_flight {
            rt.next_due = Some(Instant::now());
        }
        Ok(rx)
    }

    /// Runs the season close asked for the server, if any: called by its poll under
    /// lease `token`, after its batches and before the next poll can start. It waits (the
    /// next poll is made due now) while a batch of the server is pending, so the close
    /// never splits one; it is refused when this worker may no longer hold the server.
    async fn close_asked_season(&self, key: &ServerKey, token: i64) {
        let asked = self.runtime.lock().ok().and_then(|mut r| {
            let rt = r.get_mut(key)?;
            let ours = rt.held
                && rt.token == token
                && rt.leased_at.is_some_and(|t| t.elapsed() < self.lease);
            rt.season_close.take().map(|c| (c, ours))
        });
        let Some((asked, ours)) = asked else {
            return;
        };
        if !ours {
            let _ = asked.reply.send(Err(Refused::NotHere));
            return;
        }
        let slots = match self.cursors.load_killfeed_slots(key.0, &key.1).await {
            Ok(slots) => slots,
            Err(e) => {
                let _ = asked.reply.send(Err(Refused::Failed(e.to_string())));
                return;
            }
        };
        // A newer lease holder fenced the cursors: it may be applying batches.
        if slots.lease_token.is_some_and(|t| t > token) {
            let _ = asked.reply.send(Err(Refused::NotHere));
            return;
        }
        if slots.states.values().any(|s| s.pending.is_some()) {
            // The next poll finishes the interrupted batch first; the close runs after it.
            if let Ok(mut r) = self.runtime.lock()
                && let Some(rt) = r.get_mut(key)
            {
                rt.season_close = Some(asked);
            }
            return;
        }
        // Every batch numbered below each folder's next one is applied.
        let after_batch = slots
            .states
            .values()
            .map(|s| s.next_batch - 1)
            .max()
            .unwrap_or(0)
            .max(0);
        let outcome = self
            .seasons
            .close(
                key.0,
                &key.1,
                asked.label.as_deref(),
                asked.closed_by,
                after_batch,
            )
            .await;
        if let Err(e) = &outcome {
            tracing::warn!(guild = key.0, server = %key.1, error = %e, "season close failed");
            // Read afresh next time: that poll finishes the close before any batch.
            if let Ok(mut r) = self.runtime.lock()
                && let Some(rt) = r.get_mut(key)
            {
                rt.fenced = None;
                rt.kept = None;
            }
        }
        // The caller may have given up waiting: the close stands all the same.
        let _ = asked
            .reply
            .send(outcome.map_err(|e| Refused::Failed(e.to_string())));
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

//! One poll of one server: within the guild's budget and connection limits, over a kept
//! or new SFTP connection, its killfeed folders and its log read; what went wrong is a
//! [`PollFailure`] for the breaker and the server's status.

use std::time::{Duration, Instant};

use mongodb::bson::{DateTime, doc};
use tower_ingest::reader::{PollOutcome, poll_log};
use tower_ingest::server_log::PlayerCounts;
use tower_proto::v1::ErrorContext;
use tower_proto::v1::{BackfillProgress, BackfillState};
use tower_store::game_servers::GameServer;
use tower_store::ids::{GuildId, ServerId};
use tower_store::schema::SCHEMA_VERSION;
use tower_store::tier::Tier;
use tracing::Instrument as _;

use crate::budget::Pause;
use crate::connection::{ConnectErrorKind, SftpConnection, Target, Timeouts};
use crate::discovery::{Layout, discover};
use crate::pool::{ServerKey, key_id};

use super::log_sink::ServerLogSink;
use super::{KeptCursors, Poller};

/// How a poll reads its server: under which lease token, whether to fence the cursors
/// with it first, the folders found earlier, the cursors kept from the last poll, and the
/// guild's tier (what the lines it reads pay).
pub(super) struct Reading {
    pub(super) tier: Tier,
    pub(super) token: i64,
    pub(super) fence: bool,
    pub(super) layout: Option<Layout>,
    pub(super) kept: Option<KeptCursors>,
}

/// What a poll read, the folders it read, and the cursors it left.
pub(super) struct Read {
    pub(super) outcome: PollOutcome,
    pub(super) layout: Layout,
    pub(super) kept: KeptCursors,
}

/// Why one poll failed.
pub(super) struct PollFailure {
    kind: String,
    message: String,
    transient: bool,
}

/// A database failure of a poll; a write refused for a newer lease holder is the lease lost.
pub(super) fn database(e: &mongodb::error::Error) -> PollFailure {
    if tower_store::cursor_store::is_fenced(e) {
        lease_lost()
    } else {
        failure("poll.database", e.to_string(), true)
    }
}

pub(super) fn lease_lost() -> PollFailure {
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

/// The status kind of a server whose SFTP login finds neither a killfeed folder nor a
/// server log: read, but with nothing to read.
const NO_FOLDER: &str = "sftp.nofolder";

pub(super) fn failure(kind: &str, message: impl Into<String>, transient: bool) -> PollFailure {
    PollFailure {
        kind: kind.to_owned(),
        message: message.into(),
        transient,
    }
}

impl Poller {
    pub(super) async fn poll(&self, key: ServerKey, token: i64, tier: Tier, due_at: Instant) {
        let started = Instant::now();
        let lag = started.saturating_duration_since(due_at);
        if let Some(pause) = self.budget.paused(key.0) {
            // A season close and a recorded kill need no reading: the budget holds neither up.
            self.close_asked_season(&key, token).await;
            self.record_asked_kills(&key, token).await;
            self.hold(&key, &pause);
            return;
        }
        let (layout, backfill, fenced, kept) = self
            .runtime
            .lock()
            .ok()
            .and_then(|mut r| {
                r.get_mut(&key).map(|rt| {
                    rt.backfill_taken = rt.backfill.is_some();
                    // Searched again now and then, and for a backfill: folders appear.
                    let fresh = rt.layout_at.is_some_and(|t| t.elapsed() < self.rediscover);
                    (
                        rt.layout.clone().filter(|_| fresh && rt.backfill.is_none()),
                        rt.backfill.clone(),
                        rt.fenced == Some(token),
                        rt.kept.clone().filter(|k| {
                            k.token == token
                                && rt.leased_at.is_some_and(|t| t.elapsed() < self.lease)
                        }),
                    )
                })
            })
            .unwrap_or_default();
        let searched = layout.is_none();
        let reading = Reading {
            tier,
            token,
            fence: !fenced,
            layout,
            kept,
        };
        // One trace per poll when OTLP export is on.
        let span = tracing::info_span!("poll", guild = key.0, server = %key.1, backfill = backfill.is_some());
        // The first poll under a lease finishes a season close that was cut short before
        // any batch is applied (the statistics may be half archived).
        let unfinished_close = if fenced {
            Ok(())
        } else {
            self.seasons
                .finish_unfinished(key.0, &key.1)
                .await
                .map(|_| ())
                .map_err(|e| database(&e))
        };
        let result = match unfinished_close {
            Ok(()) => guarded(
                self.poll_server(&key, tier, reading, backfill.as_ref())
                    .instrument(span),
            )
            .await
            .and_then(|r| r),
            Err(failure) => Err(failure),
        };
        let metrics = tower_daemon::metrics::instruments();
        metrics.poll_lag_ms.record(lag.as_secs_f64() * 1000.0, &[]);
        metrics.polls.add(
            1,
            &[tower_daemon::metrics::KeyValue::new(
                "outcome",
                if result.is_ok() { "ok" } else { "failed" },
            )],
        );
        if let Some(tx) = &backfill {
            tx.send_modify(|p| match &result {
                Ok(_) => p.state = BackfillState::Done as i32,
                Err(f) => {
                    p.state = BackfillState::Failed as i32;
                    p.error = f.message.clone();
                }
            });
        }
        // Between this poll's batches and the next poll's: a season close asked meanwhile,
        // then kills recorded by hand.
        self.close_asked_season(&key, token).await;
        let recorded = self.record_asked_kills(&key, token).await;
        let jitter = f64::from(started.elapsed().subsec_nanos() % 1000) / 1000.0;
        let (status_error, outcome) = match &result {
            Ok(read) => (None, Some(read.outcome)),
            Err(f) => (Some(f.message.clone()), None),
        };
        // The kind says an admin what to fix (`sftp.authfailed`, …): the gateway tells them.
        // A login that finds neither killfeed folder nor server log is one too.
        let error_kind = match &result {
            Err(f) => f.kind.clone(),
            Ok(read) if read.layout.killfeed_dirs.is_empty() && read.layout.log_path.is_none() => {
                NO_FOLDER.to_owned()
            }
            Ok(_) => String::new(),
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
                rt.backfill_taken = false;
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
                // A season close asked during this poll, or waiting for a pending batch
                // to be finished: the next poll is now.
                if rt.season_close.is_some() || !rt.recorded_kills.is_empty() {
                    rt.next_due = Some(Instant::now());
                }
                match &result {
                    Ok(read) => {
                        if searched {
                            rt.layout_at = Some(Instant::now());
                        }
                        rt.layout = Some(read.layout.clone());
                        rt.fenced = Some(token);
                        // Recorded kills moved the batch numbers on: read them afresh.
                        rt.kept = (!recorded).then(|| read.kept.clone());
                        rt.breaker.succeeded();
                    }
                    Err(f) => {
                        // Read again from MongoDB next time: a failed poll may have
                        // written part of what it read, or lost the lease.
                        rt.kept = None;
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
            "last_error_kind": error_kind,
            "schema_version": SCHEMA_VERSION,
        };
        // A failed backfill is told to the guild's admins (once per failure, by its time).
        match (&backfill, &result) {
            (Some(_), Err(f)) => {
                set.insert("backfill_failed_at", DateTime::now());
                set.insert("backfill_error", f.message.clone());
                set.insert("backfill_error_kind", f.kind.clone());
            }
            (Some(_), Ok(_)) => {
                set.insert("backfill_failed_at", mongodb::bson::Bson::Null);
                set.insert("backfill_error", "");
            }
            (None, _) => {}
        }
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
        // One line per poll, for benches and for an operator chasing a slow server.
        tracing::debug!(
            guild = key.0,
            server = %key.1,
            lag_ms = u64::try_from(lag.as_millis()).unwrap_or(u64::MAX),
            duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            lines = outcome.map_or(0, |o| o.lines),
            failed = result.is_err(),
            "polled"
        );
    }

    /// A poll not made: the guild's ingest budget for the hour is used up. The server is
    /// due again when the hour ends (a backfill asked for waits too), and its status says
    /// why.
    pub(super) fn hold(&self, key: &ServerKey, pause: &Pause) {
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

    pub(super) async fn poll_server(
        &self,
        key: &ServerKey,
        tier: Tier,
        reading: Reading,
        backfill: Option<&tokio::sync::watch::Sender<BackfillProgress>>,
    ) -> Result<Read, PollFailure> {
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
                let slot = self
                    .pools
                    .room_for_new(key.0, quota)
                    .await
                    .map_err(|e| failure("poll.connection_slot", e.to_string(), true))?;
                let conn = self.connect(&server).await?;
                // Counted so operators (and tests) can see steady state opens no sessions.
                self.status.connection_opened(key_id(key));
                (conn, slot)
            }
        };
        let result = self
            .read_server((key.0, &server_id), &conn, reading, backfill)
            .await;
        match &result {
            Ok(_) => self.pools.put(key.clone(), conn, slot, quota).await,
            Err(_) => conn.close_releasing(slot).await,
        }
        result
    }

    pub(super) async fn connect(&self, server: &GameServer) -> Result<SftpConnection, PollFailure> {
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
        let target = Target::of(server, &credential);
        let timeouts = Timeouts::from_config(&self.sftp);
        let mut steps = Vec::new();
        let _turn = self
            .pools
            .handshakes
            .turn(&server.host)
            .await
            .ok_or_else(|| failure("poll.pool", "connection pool closed", true))?;
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
                failure(e.kind.code(), e.message, transient)
            })?;
        if server.host_key_sha256.is_none() && !conn.host_key.is_empty() {
            let _ = self
                .servers
                .pin_host_key(server.guild, &server.server, &conn.host_key)
                .await;
        }
        Ok(conn)
    }

    pub(super) async fn read_server(
        &self,
        (guild, server_id): (u64, &ServerId),
        conn: &SftpConnection,
        reading: Reading,
        backfill: Option<&tokio::sync::watch::Sender<BackfillProgress>>,
    ) -> Result<Read, PollFailure> {
        let Reading {
            tier,
            token,
            fence,
            layout,
            kept,
        } = reading;
        let (kept_killfeed, kept_log) = kept.map_or((None, None), |k| (k.killfeed, k.log));
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
        if fence {
            self.cursors
                .fence(guild, sid, token)
                .await
                .map_err(|e| database(&e))?;
        }
        let mut outcome = PollOutcome::default();
        let mut killfeed = None;
        if !layout.killfeed_dirs.is_empty() {
            killfeed = Some(
                self.poll_killfeed_folders(
                    (guild, sid),
                    &source,
                    &layout,
                    (token, kept_killfeed),
                    (backfill, tier),
                    &mut outcome,
                )
                .await?,
            );
        }
        let mut log_state = None;
        if let Some(log) = &layout.log_path {
            let state = match kept_log {
                Some(state) => state,
                None => self
                    .cursors
                    .load_log(guild, sid)
                    .await
                    .map_err(|e| database(&e))?,
            };
            let mut sink = ServerLogSink {
                guild,
                server_id: sid,
                first_read: state.cursor.is_none(),
                quiet_until: state.quiet_until,
                counts: PlayerCounts::from_ids(state.online.clone(), state.queued.clone()),
                joining: state.joining.clone(),
                cursors: &self.cursors,
                outbox: &self.outbox,
                renames: &self.renames,
                fence: token,
                saved: None,
            };
            poll_log(&source, log, state.cursor.clone(), &mut sink, &mut outcome)
                .await
                .map_err(|e| failure("poll.log", e.to_string(), true))?;
            log_state = Some(sink.saved.unwrap_or(state));
        }
        Ok(Read {
            outcome,
            layout,
            kept: KeptCursors {
                token,
                killfeed,
                log: log_state,
            },
        })
    }
}

/// Runs one poll so that a panic in it is a failed poll, not a lost task: the server is
/// released (`in_flight` cleared, the breaker told) and polled again, with no restart.
pub(super) async fn guarded<T>(poll: impl Future<Output = T>) -> Result<T, PollFailure> {
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
